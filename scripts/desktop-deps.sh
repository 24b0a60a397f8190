#!/usr/bin/env bash
# The Debian packages the desktop app (src-tauri) needs to build and to be tested headless:
# WebKitGTK 4.1 and friends, the appindicator tray, Xvfb and a session D-Bus. Installs what is
# missing (as root, or through sudo); elsewhere says what to install.
set -euo pipefail
PKGS=(libwebkit2gtk-4.1-dev libjavascriptcoregtk-4.1-dev libsoup-3.0-dev
      libayatana-appindicator3-dev librsvg2-dev libssl-dev build-essential pkg-config
      xvfb xauth dbus-daemon imagemagick xclip python3-venv)
command -v dpkg-query >/dev/null || { echo "not a Debian system: install the WebKitGTK 4.1, libsoup 3, ayatana-appindicator3 and librsvg2 development packages yourself" >&2; exit 1; }
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing the desktop app's build and test packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
