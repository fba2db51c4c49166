#!/usr/bin/env bash
# Installs the pinned cargo-fuzz (`cargo fuzz`) when it is missing or another version; used by
# `make fuzz` and the bounded fuzz run in `make test` (scripts/fuzz.sh).
set -euo pipefail
VERSION=0.13.2
if cargo fuzz --version 2>/dev/null | grep -q " $VERSION\$"; then
    exit 0
fi
echo "install-cargo-fuzz: building cargo-fuzz $VERSION with cargo install (a minute or two, once)"
cargo install cargo-fuzz --version "$VERSION" --locked
