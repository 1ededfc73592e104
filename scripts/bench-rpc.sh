#!/usr/bin/env bash
# JSON-RPC benchmark with a standard HTTP load tool (wrk, from Debian) against node 0 of a
# fresh local 4-validator testnet on this machine:
#   1. account_getBalance requests/s and latency;
#   2. tx_submit of pre-signed transfers (PyNaCl, from docs/tx-format.md): accepted/s.
# Settings (environment): DURATION (s, default 10), CONNS (default 64), THREADS (wrk
# threads, default 2), ACCOUNTS (senders + 1, default 201), PER (transfers per sender,
# default 1000; the mempool's per-sender bound), VALIDATORS (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}; CONNS=${CONNS:-64}; THREADS=${THREADS:-2}
ACCOUNTS=${ACCOUNTS:-201}; PER=${PER:-1000}; VALIDATORS=${VALIDATORS:-4}
BASE=28656; URL="http://127.0.0.1:$((BASE + 100))"; HOME_DIR=.palisade-bench-rpc
OUT=target/bench-rpc; mkdir -p "$OUT"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
VENV=target/pyenv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check pynacl blake3
cargo build --release -p node --locked

target/release/palisade testnet --home "$HOME_DIR" --reset --base-port $BASE \
  --validators "$VALIDATORS" --accounts "$ACCOUNTS" --set mempool.max_txs=400000 > "$OUT/testnet.log" 2>&1 &
TESTNET=$!
trap 'kill -INT $TESTNET 2>/dev/null; wait $TESTNET 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "$URL" -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"node_health","params":[]}' | grep -q '"ready":true' && break
  sleep 0.5
done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "== account_getBalance: wrk -t$THREADS -c$CONNS -d${DURATION}s against $URL"
KEY=$("$VENV/bin/python" -c "import json;from nacl.signing import SigningKey;from sys import path;path.insert(0,'docs/examples');from sign_tx import b32;print('0x'+SigningKey(b32(json.load(open('$HOME_DIR/keys/account-1.json'))['secret_key'])).verify_key.encode().hex())")
BODY="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"account_getBalance\",\"params\":[\"$KEY\"]}" \
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s scripts/wrk/post.lua "$URL"

echo "== tx_submit: pre-signing $(( (ACCOUNTS - 1) * PER )) transfers"
"$VENV/bin/python" scripts/wrk/presign.py "$HOME_DIR" "$URL" "$ACCOUNTS" "$PER" "$OUT/bodies.jsonl"
echo "== tx_submit: wrk -t$THREADS -c$CONNS -d${DURATION}s against $URL"
THREADS=$THREADS BODIES="$OUT/bodies.jsonl" \
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s scripts/wrk/submit.lua "$URL"
