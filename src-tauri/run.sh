#!/usr/bin/env bash
# From a checkout: install the desktop app's build dependencies, build it, and start it.
#
#   src-tauri/run.sh            release build (embeds the web UI when ui/dist exists), then run
#   src-tauri/run.sh --debug    debug build (faster to build; reads ui/dist from disk)
#   src-tauri/run.sh --ui       build the web UI first (ui/build.sh), so the window shows it
#
# Debian/Ubuntu packages are installed with apt-get (through sudo when not root). Elsewhere,
# install the equivalents of WebKitGTK 4.1, libsoup 3, libayatana-appindicator3 and librsvg2
# development packages yourself. Rust comes from rustup (https://rustup.rs), 1.90 or newer.
# The app uses the same config and data as `lodestar serve`: $LODESTAR_CONFIG, else
# ~/.config/lodestar/config.yml, else the embedded default (one local Ollama).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
build_ui=0
for a in "$@"; do
  case $a in
    --debug) profile=debug ;;
    --ui) build_ui=1 ;;
    *) echo "usage: src-tauri/run.sh [--debug] [--ui]" >&2; exit 2 ;;
  esac
done

PKGS=(libwebkit2gtk-4.1-dev libjavascriptcoregtk-4.1-dev libsoup-3.0-dev
      libayatana-appindicator3-dev librsvg2-dev libssl-dev build-essential pkg-config)
if command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) == 0 ]] || sudo=sudo
    echo "== installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }

if ((build_ui)); then
  echo "== building the web UI (ui/build.sh)"
  ui/build.sh
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/desktop}
# As installers/desktop/bundle.sh builds it, so the two share one release build.
export CARGO_PROFILE_RELEASE_STRIP=${CARGO_PROFILE_RELEASE_STRIP:-symbols}
if [[ $profile == release ]]; then
  cargo build --release -p lodestar-desktop
else
  cargo build -p lodestar-desktop
fi
echo "== starting the Lodestar tray app (Quit from its tray menu)"
exec "$CARGO_TARGET_DIR/$profile/lodestar-desktop"
