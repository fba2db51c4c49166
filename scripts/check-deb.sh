#!/usr/bin/env bash
# Proves the .deb works on a clean machine: debootstraps a minimal Debian bookworm (cached in
# target/deb-check/clean, copied afresh for every run), installs the package there with
# `apt install ./abs-tray_*.deb` (which must pull in every library it needs), checks what it
# installed, then starts the installed app in demo mode under Xvfb inside that root and waits
# until its tray reports Connected.
#   scripts/check-deb.sh [path/to/abs-tray_VERSION_amd64.deb]     (needs root: debootstrap, chroot)
set -euo pipefail
cd "$(dirname "$0")/.."

deb=${1:-$(ls -t target/release/bundle/deb/*.deb 2>/dev/null | head -n1)}
[[ -f "$deb" ]] || { echo "check-deb: no .deb given and none built (run make package)"; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "check-deb: needs root (debootstrap and chroot)"; exit 1; }
command -v debootstrap >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
}

work=target/deb-check
clean="$work/clean"
root="$work/root"
if [[ ! -f "$clean/.bootstrapped" ]]; then
  echo "check-deb: debootstrap bookworm (minbase) into $clean, once"
  rm -rf "$clean"
  mkdir -p "$work"
  debootstrap --variant=minbase bookworm "$clean" http://deb.debian.org/debian >"$work/debootstrap.log"
  touch "$clean/.bootstrapped"
fi
# Every run starts from a copy of the pristine root: a clean machine, not the last run's.
rm -rf "$root"
cp -a "$clean" "$root"

mounts=()
cleanup() {
  local m
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for fs in proc sys dev dev/pts; do
  mount --bind "/$fs" "$root/$fs"
  mounts+=("$root/$fs")
done
cp /etc/resolv.conf "$root/etc/resolv.conf"

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

echo "check-deb: apt install ./$(basename "$deb") on a clean bookworm"
cp "$deb" "$root/tmp/abs-tray.deb"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./tmp/abs-tray.deb >"$work/apt.log"

fail() { echo "check-deb: FAIL: $*"; exit 1; }
files=$(in_root dpkg -L abs-tray)
for path in /usr/bin/abs-tray /usr/share/applications/abs-tray.desktop \
  /usr/share/icons/hicolor/128x128/apps/abs-tray.png; do
  grep -qx "$path" <<<"$files" || fail "the package does not install $path"
done
grep -qx "Name=ABS Tray" "$root/usr/share/applications/abs-tray.desktop" || fail "desktop entry Name"
missing=$(in_root ldd /usr/bin/abs-tray | grep 'not found' || true)
[[ -z "$missing" ]] || fail "libraries the package does not depend on: $missing"

echo "check-deb: starting the installed app (demo mode, Xvfb) inside the clean root"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  xvfb xauth dbus-x11 >>"$work/apt.log"
log="$root/tmp/abs-tray.log"
plain() { sed 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null; }
rm -f "$log"
in_root sh -c 'export HOME=/tmp/home XDG_RUNTIME_DIR=/tmp/run ABS_TRAY_LOG=info;
  mkdir -p $HOME $XDG_RUNTIME_DIR; chmod 700 $XDG_RUNTIME_DIR;
  exec timeout 90 xvfb-run -a dbus-launch --exit-with-session abs-tray --demo --hidden' \
  >"$log" 2>&1 &
app=$!
for _ in $(seq 1 180); do
  if plain "$log" | grep -q 'tray state=Connected'; then
    echo "check-deb: OK: installed with apt, desktop entry and icons in place, the app connected:"
    plain "$log" | grep 'tray state=' | sed 's/^/  /'
    in_root pkill -f 'abs-tray --demo' || true
    wait "$app" 2>/dev/null || true
    exit 0
  fi
  kill -0 "$app" 2>/dev/null || break
  sleep 0.5
done
cat "$log"
fail "the installed app did not report Connected"
