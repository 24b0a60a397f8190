#!/usr/bin/env bash
# The whole test suite: installs what the tests need (the official OpenAI Python SDK, in a
# virtualenv outside the repo), then runs every test of the workspace.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${LODESTAR_VENV:-$HOME/.cache/lodestar-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
export LODESTAR_PYTHON="$venv/bin/python"

cargo test --workspace "$@"
