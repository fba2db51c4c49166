#!/usr/bin/env bash
# Installs the pinned tauri-driver (the WebDriver front for Tauri apps, in front of WebKitWebDriver
# from the webkit2gtk-driver package) when it is missing or another version; the window's
# end-to-end test (tests/tests/window.rs) drives the app through it. tauri-driver has no
# --version flag, so cargo's own list of installed binaries says which version is there.
# Idempotent: once installed it only runs `cargo install --list`.
set -euo pipefail
VERSION=2.1.0
bin_dir="${CARGO_HOME:-$HOME/.cargo}/bin"
if cargo install --list | grep -qx "tauri-driver v$VERSION:" && [[ -x "$bin_dir/tauri-driver" ]]; then
    exit 0
fi
echo "install-tauri-driver: building tauri-driver $VERSION with cargo install (about a minute, once)"
cargo install tauri-driver --version "$VERSION" --locked
