#!/usr/bin/env bash
# Renders every icon Lodestar ships from the one source, icons/lodestar.svg:
#   icons/32x32.png 128x128.png 128x128@2x.png icon.png (512) and icons/app/NxN.png (16-512):
#     the app icon (window, .deb, AppImage), as drawn in the SVG;
#   icons/icon.ico (Windows, 16-256) and icons/icon.icns (macOS, 16-1024);
#   icons/tray/{light,dark}/NxN.png (16-512): the monochrome star for light and dark panels
#     (the desktop app draws its live tray icon at run time; these are the static glyphs for
#     packaging, docs and platforms that want a template image).
# Needs: rsvg-convert (Debian: librsvg2-bin), ImageMagick (convert), png2icns (icnsutils).
# Every PNG is 32-bit RGBA (`PNG32:`): Tauri's generate_context!() rejects anything else.
set -euo pipefail
cd "$(dirname "$0")"
SRC=lodestar.svg
for tool in rsvg-convert convert png2icns; do
  command -v "$tool" >/dev/null || {
    echo "icons/build.sh needs $tool: apt-get install -y librsvg2-bin imagemagick icnsutils" >&2
    exit 1
  }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

render() { # svg size out.png
  rsvg-convert -w "$2" -h "$2" "$1" -o "$tmp/r.png"
  convert "$tmp/r.png" "PNG32:$3"
}

mkdir -p app tray/light tray/dark
SIZES="16 22 24 32 48 64 128 256 512"
for s in $SIZES; do render "$SRC" "$s" "app/${s}x${s}.png"; done
render "$SRC" 32 32x32.png
render "$SRC" 128 128x128.png
render "$SRC" 256 128x128@2x.png
render "$SRC" 512 icon.png

# Tray glyphs: no background, one colour (dark glyph on light panels, light glyph on dark ones).
glyph() { # colour out.svg
  sed -e 's/<rect id="bg"[^>]*\/>//' \
      -e "s/class=\"star\" fill=\"[^\"]*\"/class=\"star\" fill=\"$1\"/" \
      -e "s/class=\"star2\" fill=\"[^\"]*\"/class=\"star2\" fill=\"$1\" fill-opacity=\"0.55\"/" \
      "$SRC" > "$2"
}
glyph "#1e1e1e" "$tmp/light.svg"
glyph "#f2f2f2" "$tmp/dark.svg"
for s in $SIZES; do
  render "$tmp/light.svg" "$s" "tray/light/${s}x${s}.png"
  render "$tmp/dark.svg" "$s" "tray/dark/${s}x${s}.png"
done

# Windows: one .ico holding 16-256.
convert app/16x16.png app/24x24.png app/32x32.png app/48x48.png app/64x64.png \
  app/256x256.png icon.ico
# macOS: .icns from 16, 32, 48, 128, 256, 512 and 1024.
render "$SRC" 1024 "$tmp/1024.png"
png2icns icon.icns app/16x16.png app/32x32.png app/48x48.png app/128x128.png \
  app/256x256.png app/512x512.png "$tmp/1024.png" >/dev/null
echo "icons rendered from $SRC"
