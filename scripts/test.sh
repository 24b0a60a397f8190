#!/usr/bin/env bash
# The whole test suite: installs what the tests need (the official OpenAI and Anthropic Python
# SDKs, in a virtualenv outside the repo; the Claude Code and Codex CLIs from the npm registry,
# outside the repo; Chromium; WebKitGTK for the desktop app), builds the web UI (ui/build.sh),
# then runs every test: the UI's own unit tests, the workspace's (engine and desktop app), and
# the desktop app end to end under Xvfb.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${LODESTAR_VENV:-$HOME/.cache/lodestar-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
export LODESTAR_PYTHON="$venv/bin/python"

# Claude Code, pinned: its native binary ships inside the npm package (no Node.js at run time).
claude_version="2.1.332"
npm_dir="${LODESTAR_NPM_DIR:-$HOME/.cache/lodestar-npm}"
if ! command -v npm >/dev/null; then
  echo "npm is missing: installing Debian's nodejs and npm" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq nodejs npm >/dev/null
fi
installed=""
pkg="$npm_dir/node_modules/@anthropic-ai/claude-code/package.json"
if [ -f "$pkg" ]; then
  installed="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$pkg" | head -1)"
fi
if [ "$installed" != "$claude_version" ] || [ ! -x "$npm_dir/node_modules/.bin/claude" ]; then
  mkdir -p "$npm_dir"
  npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$claude_version" >/dev/null
fi
export LODESTAR_CLAUDE="$npm_dir/node_modules/.bin/claude"

# Codex CLI, pinned: its native binary ships in the platform package beside the JS launcher.
codex_version="0.169.0"
installed=""
pkg="$npm_dir/node_modules/@openai/codex/package.json"
if [ -f "$pkg" ]; then
  installed="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$pkg" | head -1)"
fi
if [ "$installed" != "$codex_version" ]; then
  npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
    "@openai/codex@$codex_version" >/dev/null
fi
codex_bin="$(ls "$npm_dir"/node_modules/@openai/codex-linux-*/vendor/*/bin/codex 2>/dev/null | head -1 || true)"
export LODESTAR_CODEX="${codex_bin:-$npm_dir/node_modules/.bin/codex}"

# The web UI: built for wasm32 into ui/dist (ui/build.sh takes rustup's wasm target where it
# exists, else Debian's Rust packages), its pure modules tested natively, and Chromium for the
# browser test (tests/ui_e2e.rs; playwright-core is installed into the npm dir by the test).
if ! command -v chromium >/dev/null; then
  echo "chromium is missing: installing Debian's chromium" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
ui/build.sh
(cd ui && cargo test --quiet)

# The desktop app (src-tauri, a workspace member) builds against WebKitGTK.
scripts/desktop-deps.sh

cargo test --workspace "$@"

# The desktop app end to end: the real tray app under Xvfb and a private session D-Bus (its
# tray read and clicked over D-Bus, notifications captured, the settings window opened and
# closed, memory measured). Artifacts: $LODESTAR_ARTIFACTS/desktop.
export E2E_ARTIFACTS="${LODESTAR_ARTIFACTS:-${CARGO_TARGET_DIR:-target}/artifacts}/desktop"
src-tauri/tests/e2e/run.sh --idle-seconds "${LODESTAR_DESKTOP_IDLE_SECONDS:-10}"
