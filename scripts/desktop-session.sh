#!/usr/bin/env bash
# Runs a command inside a private, throw-away desktop session: its own D-Bus session bus, an Xvfb
# display, an unlocked gnome-keyring (Secret Service) and a dunst notification daemon, with HOME and
# the XDG directories in a temp dir so tests never touch the user's real keyring, config or desktop.
#   scripts/desktop-session.sh cargo test --workspace
set -euo pipefail

if [[ "${ABS_TRAY_DESKTOP_SESSION:-}" == 1 ]]; then exec "$@"; fi

root=$(mktemp -d -t abs-tray-session.XXXXXX)
export HOME="$root/home" XDG_CONFIG_HOME="$root/home/.config" XDG_DATA_HOME="$root/home/.local/share" \
  XDG_CACHE_HOME="$root/home/.cache" XDG_RUNTIME_DIR="$root/run"
mkdir -p "$XDG_CONFIG_HOME/dunst" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
# Keep cargo and rustup where they are: only the desktop is private.
export CARGO_HOME="${CARGO_HOME:-$(dirname "$(dirname "$(command -v cargo)")")}"
export RUSTUP_HOME="${RUSTUP_HOME:-/root/.rustup}"
[[ -d "$RUSTUP_HOME" ]] || unset RUSTUP_HOME

# dunst: keep every popup on screen long enough to be inspected, and no markup surprises.
cat >"$XDG_CONFIG_HOME/dunst/dunstrc" <<'CONF'
[global]
    timeout = 0
    markup = full
    # Looks like a desktop's popups in the README's screenshot (tests read D-Bus, not pixels).
    width = 360
    font = DejaVu Sans 10
    format = "<b>%s</b>\n%b"
    show_indicators = no
    padding = 10
    horizontal_padding = 10
    frame_width = 1
    corner_radius = 6
    icon_position = left
    min_icon_size = 48
    max_icon_size = 48
    background = "#fbfbfb"
    foreground = "#202020"
    frame_color = "#c8c8c8"
    separator_color = frame
CONF

cleanup() {
  local code=$?
  [[ -n "${pids:-}" ]] && kill $pids 2>/dev/null || true
  [[ -n "${DBUS_SESSION_BUS_PID:-}" ]] && kill "$DBUS_SESSION_BUS_PID" 2>/dev/null || true
  rm -rf "$root"
  exit $code
}
trap cleanup EXIT INT TERM

eval "$(dbus-launch --sh-syntax)"
export DBUS_SESSION_BUS_ADDRESS DBUS_SESSION_BUS_PID

exec 3<> <(:)
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$root/xvfb.log" 2>&1 &
pids="$!"
read -r -t 10 display <&3 || { echo "desktop-session: Xvfb did not start"; cat "$root/xvfb.log"; exit 1; }
export DISPLAY=":$display"

# --unlock reads the login password from stdin and creates the default (login) collection unlocked.
eval "$(printf 'test-session' | gnome-keyring-daemon --unlock --components=secrets --daemonize)"
export GNOME_KEYRING_CONTROL

dunst >"$root/dunst.log" 2>&1 &
pids="$pids $!"
# Wait until dunst owns the notification name rather than sleeping a fixed time.
for _ in $(seq 1 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null | grep -q 'boolean true'; then
    break
  fi
  sleep 0.05
done

export ABS_TRAY_DESKTOP_SESSION=1 ABS_TRAY_SESSION_ROOT="$root"
"$@"
