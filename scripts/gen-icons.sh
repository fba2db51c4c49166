#!/usr/bin/env bash
# Regenerates every PNG in icons/ from the two SVG sources in icons/src (needs rsvg-convert, librsvg2-bin).
# The PNGs are committed so building never needs this tool; run it after editing an SVG.
set -euo pipefail
cd "$(dirname "$0")/../icons"

for size in 32 128 256 512; do
  rsvg-convert -w "$size" -h "$size" src/app.svg -o "${size}x${size}.png"
done
mv 512x512.png icon.png
mv 256x256.png "128x128@2x.png"

# One tray icon per connection state; a mid-grey glyph reads on light and dark panels alike.
declare -A badges=(
  [connected]="#2ecc71:1"
  [connecting]="#f1c40f:1"
  [offline]="#7f8c8d:1"
  [signin]="#e74c3c:1"
  [paused]="#3498db:1"
)
for state in "${!badges[@]}"; do
  IFS=: read -r color opacity <<<"${badges[$state]}"
  sed -e "s/BADGE_COLOR/$color/" -e "s/BADGE_OPACITY/$opacity/" src/tray.svg >"/tmp/tray-$state.svg"
  rsvg-convert -w 32 -h 32 "/tmp/tray-$state.svg" -o "tray-$state.png"
  rm -f "/tmp/tray-$state.svg"
done
echo "icons regenerated in $(pwd)"
