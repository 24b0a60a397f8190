#!/usr/bin/env bash
# Runs the proxy_load benchmark (benches/proxy_load.rs): Lodestar next to nginx and
# the bare upstream, in one run. Installs Debian's wrk and nginx-light if missing.
# Usage: scripts/bench.sh            (BENCH_SECONDS=10 scripts/bench.sh for longer cells)
# The report is printed and written to target/bench-report.md (or $CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench.sh: installing ${missing[*]}" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

cargo build --release
cargo bench --bench proxy_load
