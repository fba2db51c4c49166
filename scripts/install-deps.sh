#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that building, running and testing ABS Tray need.
# Idempotent: when everything is present it only runs one dpkg query and exits.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config curl ca-certificates file
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev libdbus-1-dev librsvg2-bin
  # end-to-end tests: a private desktop session
  xvfb xauth dbus dbus-x11 gnome-keyring libsecret-tools dunst libnotify-bin webkit2gtk-driver
  # conformance client (socket.io-client)
  nodejs npm
  # network faults in a namespace (make bench, tests/machine_netns.rs), signals to frozen processes
  iproute2 iptables procps
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

# The machine may carry its own Node outside dpkg; accept it if it is new enough (>= 18).
if command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)'; then
  missing=("${missing[@]/nodejs}")
  command -v npm >/dev/null && missing=("${missing[@]/npm}")
fi
read -ra missing <<<"${missing[*]}"

if ((${#missing[@]} == 0)); then
  echo "install-deps: all system packages present"
  "$(dirname "$0")/cargo-install-pinned.sh" tauri-driver 2.1.0 tauri-driver
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: about to install with apt-get: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
"$(dirname "$0")/cargo-install-pinned.sh" tauri-driver 2.1.0 tauri-driver
