#!/usr/bin/env bash
# Installs the pinned tauri-cli (`cargo tauri`) when it is missing or another version; used by
# `make package` only, since it takes minutes to build and the tests do not need it.
set -euo pipefail
VERSION=2.12.4
if cargo tauri --version 2>/dev/null | grep -q " $VERSION\$"; then
    exit 0
fi
echo "install-tauri-cli: building tauri-cli $VERSION with cargo install (a few minutes, once)"
cargo install tauri-cli --version "$VERSION" --locked
