#!/usr/bin/env bash
# The desktop app's end-to-end test, as CI runs it:
#   src-tauri/tests/e2e/run.sh [--idle-seconds N]
# Installs what is missing (Debian packages when run as root; a Python venv with dbus-next and
# Pillow next to this script), builds the debug app and the `lodestar` CLI (unless
# LODESTAR_DESKTOP_BIN and LODESTAR_BIN name binaries), then runs e2e.py under Xvfb and a
# private session D-Bus. Artifacts (screenshot,
# tray icon, app log, D-Bus log, measure.txt) go to $E2E_ARTIFACTS, default
# src-tauri/tests/e2e/artifacts/. Exit status: 0 when every check passed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
cd "$ROOT"
ARTIFACTS=${E2E_ARTIFACTS:-$HERE/artifacts}

# Build and run dependencies (Debian bookworm). `xvfb-run` must wrap `dbus-run-session` (not
# the reverse) or bus-activated services get no display.
PKGS=(libwebkit2gtk-4.1-dev libjavascriptcoregtk-4.1-dev libsoup-3.0-dev
      libayatana-appindicator3-dev librsvg2-dev libssl-dev build-essential pkg-config
      xvfb xauth dbus-daemon imagemagick xclip python3-venv)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "== apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
fi

VENV=$HERE/.venv
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c "import dbus_next, PIL" 2>/dev/null; then
  echo "== python venv ($VENV): dbus-next, Pillow"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check dbus-next==0.2.3 Pillow==13.0.0
fi

BIN=${LODESTAR_DESKTOP_BIN:-}
SERVE=${LODESTAR_BIN:-}
if [[ -z $BIN || -z $SERVE ]]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/desktop}
  echo "== cargo build -p lodestar-desktop -p lodestar (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  cargo build -p lodestar-desktop -p lodestar
  BIN=${BIN:-$CARGO_TARGET_DIR/debug/lodestar-desktop}
  SERVE=${SERVE:-$CARGO_TARGET_DIR/debug/lodestar}
fi

echo "== e2e: $BIN (artifacts: $ARTIFACTS)"
mkdir -p "$ARTIFACTS"
exec xvfb-run -a -s "-screen 0 1280x800x24" \
  dbus-run-session -- "$VENV/bin/python" "$HERE/e2e.py" "$BIN" "$ARTIFACTS" --serve "$SERVE" "$@"
