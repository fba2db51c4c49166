#!/usr/bin/env bash
# Installs a pinned cargo tool when it is missing or another version; cargo's own list of installed
# binaries says which version is there (tauri-driver has no --version flag). Idempotent: once
# installed it only runs `cargo install --list`.
#   scripts/cargo-install-pinned.sh CRATE VERSION BINARY
# Used for tauri-driver (the window test, via install-deps.sh), cargo-fuzz (scripts/fuzz.sh) and
# tauri-cli (make package).
set -euo pipefail
crate=$1 version=$2 binary=$3
bin_dir="${CARGO_HOME:-$HOME/.cargo}/bin"
if cargo install --list | grep -qx "$crate v$version:" && [[ -x "$bin_dir/$binary" ]]; then
    exit 0
fi
echo "cargo-install-pinned: building $crate $version with cargo install (a few minutes, once)"
cargo install "$crate" --version "$version" --locked
