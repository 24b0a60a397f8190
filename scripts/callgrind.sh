#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: deterministic where wall-clock
# figures on a shared 2-core machine move by ±10% between runs. Used for docs/benchmarks.md
# ("Instructions per request").
#
#   scripts/callgrind.sh [BINARY]      # default: target/release/lodestar (build it first)
#
# An nginx (`return 200`, the same ~300-byte chat.completion the load bench's upstream sends)
# is the upstream; Lodestar runs under callgrind with LODESTAR_WORKER_THREADS=1, once with the
# ledger off and once on. One keep-alive client sends 300 warm-up requests, the counters are
# zeroed, it sends 1000 more, and the total (all threads: the ledger's writer included) is
# divided by 1000. Then nginx itself, as a proxy_pass hop to the same upstream, the same way.
# Needs valgrind, nginx and python3 (apt: valgrind nginx-light python3).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/lodestar}
for tool in valgrind callgrind_control nginx python3; do
    command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is missing (apt install valgrind nginx-light python3)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "callgrind.sh: $BIN not found; run cargo build --release first" >&2; exit 1; }
DIR=$(mktemp -d /tmp/lodestar-callgrind-XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

UP=$(port)
COMPLETION='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}'
MODELS='{"object":"list","data":[{"id":"bench-model","object":"model","created":1700000000,"owned_by":"bench"}]}'
mkdir -p "$DIR/up"
cat >"$DIR/up.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $DIR/up.pid; error_log $DIR/up-error.log warn;
events { worker_connections 1024; }
http {
  access_log off; keepalive_requests 1000000;
  client_body_temp_path $DIR/up; proxy_temp_path $DIR/up; fastcgi_temp_path $DIR/up; uwsgi_temp_path $DIR/up; scgi_temp_path $DIR/up;
  server {
    listen 127.0.0.1:$UP; default_type application/json;
    location /v1/models { return 200 '$MODELS'; }
    location / { return 200 '$COMPLETION'; }
  }
}
EOF
nginx -c "$DIR/up.conf" -p "$DIR/up" &
PIDS+=($!)

cat >"$DIR/client.py" <<'EOF'
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
body = b'{"model":"bench","messages":[{"role":"user","content":"hi"}]}'
for _ in range(n):
    c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
EOF

wait_for() {
    for _ in $(seq 1 200); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "callgrind.sh: nothing listens on $1" >&2; exit 1
}

# measure NAME PORT -- COMMAND...: run COMMAND under callgrind, print Ir per request.
measure() {
    local name=$1 port=$2; shift 3
    local out="$DIR/cg-$name"
    valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$@" >"$DIR/$name.log" 2>&1 &
    local vp=$!
    wait_for "$port"
    python3 "$DIR/client.py" "$port" 300
    callgrind_control -z "$vp" >/dev/null 2>&1
    python3 "$DIR/client.py" "$port" 1000
    callgrind_control -d "$vp" >/dev/null 2>&1
    sleep 0.5
    kill "$vp" 2>/dev/null || true
    wait "$vp" 2>/dev/null || true
    local ir
    ir=$(grep -h -m1 '^summary:' "$out".*.1 | awk '{print $2}')
    awk -v name="$name" -v ir="$ir" 'BEGIN { printf "%-28s %6.1fk instructions per request\n", name, ir / 1e6 }'
}

wait_for "$UP"
for ledger in off on; do
    P=$(port)
    STORAGE="storage: { enabled: false }"
    [ "$ledger" = on ] && STORAGE="storage: { path: $DIR/ledger.db }"
    cat >"$DIR/lodestar-$ledger.yml" <<EOF
server: { listen: "127.0.0.1:$P" }
providers:
  up: { kind: openai-compatible, base_url: "http://127.0.0.1:$UP/v1" }
models:
  bench: { route: [up/bench-model] }
routing: { default: bench }
$STORAGE
EOF
    LODESTAR_WORKER_THREADS=1 measure "lodestar (ledger $ledger)" "$P" -- "$BIN" serve --config "$DIR/lodestar-$ledger.yml"
done

P=$(port)
mkdir -p "$DIR/px"
sed -e "s#{DIR}#$DIR/px#g; s#{PORT}#$P#; s#{UPPORT}#$UP#" benches/support/nginx.conf.template >"$DIR/px.conf"
measure "nginx (proxy_pass)" "$P" -- nginx -c "$DIR/px.conf" -p "$DIR/px"
