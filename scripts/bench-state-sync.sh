#!/usr/bin/env bash
# Measure joining a large chain: a local 4-validator testnet is loaded with transfers to
# fresh accounts (one new account per transaction), runs on to --blocks, takes a snapshot,
# and then three nodes start and are timed until /ready:
#   1. a new node with `palisade init --state-sync` (restores the snapshot, then syncs blocks),
#   2. a new node without it (block sync from genesis: every block replayed),
#   3. the state-synced node again after SIGTERM (a restart with the whole state on disk).
# Prints one line per figure and a JSON summary; everything runs on 127.0.0.1 ports
# 26300-26520 and is removed at the end (--keep keeps the directory).
#
#   scripts/bench-state-sync.sh [--rate 20000] [--duration 60] [--blocks 5000] [--dir DIR] [--keep]
set -euo pipefail

RATE=20000
DURATION=60
BLOCKS=0
DIR=/tmp/palisade-bench-state-sync
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --blocks) BLOCKS=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

BIN=${PALISADE_BIN:-$PWD/target/release/palisade}
[ -x "$BIN" ] || { echo "build first: cargo build --release --workspace --locked" >&2; exit 1; }
rm -rf "$DIR"
mkdir -p "$DIR"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$KEEP" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

rpc() { # rpc PORT METHOD PARAMS
  curl -sf "http://127.0.0.1:$1" -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":$3}"
}
height() { rpc "$1" chain_getInfo '[]' | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["finalizedHeight"])'; }
wait_ready() { # wait_ready METRICS_PORT TIMEOUT_S -> seconds
  local start end
  start=$(date +%s.%N)
  for _ in $(seq 1 $(($2 * 10))); do
    if curl -sf "http://127.0.0.1:$1/ready" >/dev/null 2>&1; then
      end=$(date +%s.%N)
      python3 -c "print(f'{$end - $start:.1f}')"
      return 0
    fi
    sleep 0.1
  done
  echo "timeout"
  return 1
}

echo "== testnet: 4 validators, a snapshot every 2 epochs (200 blocks), observers allowed =="
"$BIN" testnet --validators 4 --accounts 257 --home "$DIR/net" --reset --base-port 26300 \
  --set p2p.allow_observers=true --set snapshots.interval_epochs=2 \
  --set consensus.min_block_interval_ms=20 >"$DIR/testnet.log" 2>&1 &
PIDS+=($!)
for i in 0 1 2 3; do wait_ready $((26500 + i)) 120 >/dev/null; done

echo "== load: $RATE tx/s for $DURATION s, every transfer to a new account =="
URLS=()
for i in 0 1 2 3; do URLS+=(--rpc "http://127.0.0.1:$((26400 + i))"); done
"$BIN" bench "${URLS[@]}" --senders 256 --rate "$RATE" --duration "$DURATION" --fresh-recipients --json \
  >"$DIR/load.json" 2>"$DIR/load.log"
python3 -c "import json; r=json.load(open('$DIR/load.json')); print(f\"finalized {r.get('finalized', r.get('finalizedTxs', '?'))} transactions\")" 2>/dev/null || true

H=$(height 26400)
TARGET=$(( (H > BLOCKS ? H : BLOCKS) ))
echo "== waiting for height $TARGET and the snapshot after it =="
while [ "$(height 26400)" -lt "$TARGET" ]; do sleep 1; done
SNAP=$(( (TARGET / 200 + 1) * 200 ))
until [ -f "$DIR/net/node-0/data/snapshots/$SNAP/manifest" ]; do sleep 0.5; done
SNAP_BYTES=$(du -sb "$DIR/net/node-0/data/snapshots/$SNAP" | cut -f1)
CHUNKS=$(ls "$DIR/net/node-0/data/snapshots/$SNAP" | grep -c '^chunk-')
SNAP_SECS=$(curl -s http://127.0.0.1:26500/metrics | awk '/^palisade_snapshot_seconds_sum/ {s=$2} /^palisade_snapshot_seconds_count/ {c=$2} END {if (c>0) printf "%.2f", s/c}')
echo "snapshot at $SNAP: $SNAP_BYTES bytes, $CHUNKS chunks, written in ${SNAP_SECS} s on average"

join() { # join NAME INDEX EXTRA... -> starts it, prints seconds to ready
  local name=$1 i=$2; shift 2
  "$BIN" keys generate --out "$DIR/$name.key.json" >/dev/null
  "$BIN" init --home "$DIR/$name" --genesis "$DIR/net/genesis.json" --key "$DIR/$name.key.json" \
    --set "p2p.listen=/ip4/127.0.0.1/tcp/$((26310 + i))" --set "rpc.listen=127.0.0.1:$((26410 + i))" \
    --set "metrics.listen=127.0.0.1:$((26510 + i))" --set snapshots.interval_epochs=0 "$@" >/dev/null
}

echo "== a new node joins by state sync =="
join statesync 0 --state-sync
"$BIN" run --home "$DIR/statesync" >"$DIR/statesync.log" 2>&1 &
PIDS+=($!)
SS_PID=$!
READY_SS=$(wait_ready 26510 600)
echo "ready by state sync in $READY_SS s"

echo "== a new node joins by block sync from genesis =="
join blocksync 1
"$BIN" run --home "$DIR/blocksync" >"$DIR/blocksync.log" 2>&1 &
PIDS+=($!)
READY_BS=$(wait_ready 26511 1800 || true)
echo "ready by block sync in $READY_BS s"

echo "== the state-synced node restarts =="
kill -TERM "$SS_PID"
wait "$SS_PID" 2>/dev/null || true
"$BIN" run --home "$DIR/statesync" >>"$DIR/statesync.log" 2>&1 &
PIDS+=($!)
READY_RS=$(wait_ready 26510 300)
echo "restarted and ready in $READY_RS s"

ACCOUNTS=$(grep -a "state sync: snapshot restored" "$DIR/statesync.log" | grep -oE 'accounts=[0-9]+' | head -1 | cut -d= -f2)
DB=$(du -sb "$DIR/net/node-0/data/db" | cut -f1)
cat <<EOF
{"height": $TARGET, "snapshotHeight": $SNAP, "accounts": ${ACCOUNTS:-0}, "snapshotBytes": $SNAP_BYTES, "snapshotChunks": $CHUNKS, "snapshotWriteSeconds": ${SNAP_SECS:-0}, "validatorDbBytes": $DB, "readyByStateSyncSeconds": "$READY_SS", "readyByBlockSyncSeconds": "$READY_BS", "restartReadySeconds": "$READY_RS"}
EOF
