#!/usr/bin/env bash
# Build the desktop app's installers with the Tauri bundler (config: src-tauri/tauri.conf.json).
#
#   installers/desktop/bundle.sh            the .deb (Linux; what is built and checked here)
#   installers/desktop/bundle.sh appimage   AppImage (Linux)
#   installers/desktop/bundle.sh msi        Windows (WiX; run on Windows)
#   installers/desktop/bundle.sh dmg        macOS (run on macOS)
#
# The tauri CLI comes from the npm registry at a pinned version, prebuilt inside the package
# (seconds; `cargo install tauri-cli` takes about 11 minutes), into $LODESTAR_TAURI_CLI_DIR
# (default ~/.cache/lodestar-tauri-cli). The bundler rebuilds the app in release mode with the
# custom-protocol feature, then packages it under $CARGO_TARGET_DIR/release/bundle/.
# Build ui/dist first (ui/build.sh) for the window to carry the web UI.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TAURI_CLI_VERSION=2.12.5
NPM_DIR=${LODESTAR_TAURI_CLI_DIR:-$HOME/.cache/lodestar-tauri-cli}
bundle=${1:-deb}

TAURI=$NPM_DIR/node_modules/.bin/tauri
if [[ ! -x $TAURI ]] || [[ $("$TAURI" --version 2>/dev/null) != "tauri-cli $TAURI_CLI_VERSION" ]]; then
  command -v npm >/dev/null || { echo "npm is needed for the tauri CLI (apt-get install npm)" >&2; exit 1; }
  echo "== npm install @tauri-apps/cli@$TAURI_CLI_VERSION into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-save --no-audit --no-fund "@tauri-apps/cli@$TAURI_CLI_VERSION" >/dev/null
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/desktop}
# Symbols out of the shipped binary (the workspace's release profile keeps them).
export CARGO_PROFILE_RELEASE_STRIP=${CARGO_PROFILE_RELEASE_STRIP:-symbols}
cd "$ROOT/src-tauri"
echo "== tauri build --bundles $bundle (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
"$TAURI" build --bundles "$bundle"
ls -l "$CARGO_TARGET_DIR"/release/bundle/*/ 2>/dev/null || true
