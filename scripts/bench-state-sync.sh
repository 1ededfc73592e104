#!/usr/bin/env bash
# Measure a long-lived chain: a local 4-validator testnet gets --accounts transfers to new
# accounts (one new account each), runs on to height --blocks, takes --duration seconds of
# transfers at --rate, takes a snapshot, and then nodes start and are timed until /ready:
#   1. a new node with `palisade init --state-sync` (restores the snapshot, then syncs blocks),
#   2. a new node without it (block sync from genesis: every block replayed),
#   3. the state-synced node again after SIGTERM (a restart with the whole state on disk),
#   4. validator 0 after SIGTERM and 10 s down, while the others run.
# With --fast-interval MS, blocks come at least MS apart until the load, and the testnet
# then restarts with --min-interval: a long chain built quickly, loaded at a normal pace.
# With --block-sync-timeout 0, step 2 is skipped.
# With --prune-blocks N, validators 2 and 3 keep only the last N blocks (receipts and index
# alike) while 0 and 1 stay archive nodes; the disk of node 0 and node 2 is sampled every
# 60 s either way. The load is pre-signed before it is sent, --segment seconds at a time,
# so a long load pauses between segments while the next one is signed.
# Prints one line per figure and a JSON summary; everything runs on 127.0.0.1 ports
# 26300-26520 and is removed at the end (--keep keeps the directory).
#
#   scripts/bench-state-sync.sh [--rate 20000] [--accounts 200000] [--accounts-rate RATE] [--duration 60]
#       [--segment 300] [--blocks 0] [--min-interval 20] [--fast-interval MS] [--snapshot-epochs 2]
#       [--prune-blocks 0] [--block-sync-timeout 1800] [--dir DIR] [--keep]
set -euo pipefail

RATE=20000
ACCOUNTS_WANTED=200000
ACCOUNTS_RATE=0
DURATION=60
SEGMENT=300
BLOCKS=0
MIN_INTERVAL=20
FAST_INTERVAL=0
SNAP_EPOCHS=2
PRUNE=0
BS_TIMEOUT=1800
DIR=/tmp/palisade-bench-state-sync
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --accounts) ACCOUNTS_WANTED=$2; shift 2 ;;
    --accounts-rate) ACCOUNTS_RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --segment) SEGMENT=$2; shift 2 ;;
    --blocks) BLOCKS=$2; shift 2 ;;
    --min-interval) MIN_INTERVAL=$2; shift 2 ;;
    --fast-interval) FAST_INTERVAL=$2; shift 2 ;;
    --snapshot-epochs) SNAP_EPOCHS=$2; shift 2 ;;
    --prune-blocks) PRUNE=$2; shift 2 ;;
    --block-sync-timeout) BS_TIMEOUT=$2; shift 2 ;;
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
db_bytes() { du -sb "$1" 2>/dev/null | cut -f1; }
log_bytes() { find "$1" -name '*.log' -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

EPOCH=100 # the dev genesis's epoch length
SNAP_EVERY=$((SNAP_EPOCHS * EPOCH))
[ "$FAST_INTERVAL" -gt 0 ] || FAST_INTERVAL=$MIN_INTERVAL
COMMON=(--set p2p.allow_observers=true --set "snapshots.interval_epochs=$SNAP_EPOCHS")
echo "== testnet: 4 validators, a snapshot every $SNAP_EPOCHS epochs ($SNAP_EVERY blocks), blocks at least $FAST_INTERVAL ms apart =="
"$BIN" testnet --validators 4 --accounts 257 --home "$DIR/net" --reset --base-port 26300 \
  "${COMMON[@]}" --set "consensus.min_block_interval_ms=$FAST_INTERVAL" >"$DIR/testnet.log" 2>&1 &
TN=$!
PIDS+=($TN)
for i in 0 1 2 3; do wait_ready $((26500 + i)) 120 >/dev/null; done
if [ "$PRUNE" != 0 ]; then
  # the launcher writes a node's config.toml only where it is missing: restart with the
  # configs of 2 and 3 written again, with retention
  echo "== validators 2 and 3 keep the last $PRUNE blocks; 0 and 1 keep everything =="
  kill -TERM "$TN"
  wait "$TN" 2>/dev/null || true
  rm "$DIR/net/node-2/config.toml" "$DIR/net/node-3/config.toml"
  "$BIN" testnet --validators 4 --accounts 257 --home "$DIR/net" --base-port 26300 \
    "${COMMON[@]}" --set "consensus.min_block_interval_ms=$FAST_INTERVAL" \
    --set "storage.retain_blocks=$PRUNE" >>"$DIR/testnet.log" 2>&1 &
  TN=$!
  PIDS+=($TN)
  for i in 0 1 2 3; do wait_ready $((26500 + i)) 120 >/dev/null; done
  grep -q "retain_blocks = $PRUNE" "$DIR/net/node-2/config.toml" || { echo "node-2 has no retention" >&2; exit 1; }
  if grep -q "retain_blocks = $PRUNE" "$DIR/net/node-0/config.toml"; then echo "node-0 prunes" >&2; exit 1; fi
fi

# the disk of an archive validator and of validator 2 (and their write-ahead logs), every 60 s
(
  t0=$(date +%s)
  while sleep 60; do
    echo "$(($(date +%s) - t0)) $(height 26400 2>/dev/null || echo 0) $(db_bytes "$DIR/net/node-0/data/db") $(db_bytes "$DIR/net/node-2/data/db") $(log_bytes "$DIR/net/node-0/data/db") $(log_bytes "$DIR/net/node-2/data/db")"
  done
) >"$DIR/disk.txt" 2>/dev/null &
PIDS+=($!)

URLS=()
for i in 0 1 2 3; do URLS+=(--rpc "http://127.0.0.1:$((26400 + i))"); done
FINALIZED=0
load() { # load RATE SECONDS EXTRA... -> one bench run; its finalized count is added up
  "$BIN" bench "${URLS[@]}" --senders 256 --rate "$1" --duration "$2" --json "${@:3}" \
    >"$DIR/load.json" 2>>"$DIR/load.log"
  cat "$DIR/load.json" >>"$DIR/loads.jsonl"
  local line
  line=$(python3 -c "import json; r=json.load(open('$DIR/load.json')); print(r['finalized'], f\"{r['finalized_tps']:.0f} tx/s, p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, lost {r['lost']}\")")
  echo "  $2 s at $1 tx/s: ${line#* }"
  FINALIZED=$((FINALIZED + ${line%% *}))
}
LOAD_START=$(date +%s)
if [ "$ACCOUNTS_WANTED" -gt 0 ]; then
  AR=$((ACCOUNTS_RATE > 0 ? ACCOUNTS_RATE : RATE))
  echo "== $ACCOUNTS_WANTED transfers to new accounts at $AR tx/s =="
  load "$AR" $(((ACCOUNTS_WANTED + AR - 1) / AR)) --fresh-recipients
fi
if [ "$BLOCKS" -gt 0 ]; then
  echo "== running on to height $BLOCKS =="
  while [ "$(height 26400)" -lt "$BLOCKS" ]; do sleep 2; done
fi
READY_V=""
if [ "$FAST_INTERVAL" != "$MIN_INTERVAL" ]; then
  echo "== the testnet restarts with blocks at least $MIN_INTERVAL ms apart =="
  kill -TERM "$TN"
  wait "$TN" 2>/dev/null || true
  sed -i "s/^min_block_interval_ms = .*/min_block_interval_ms = $MIN_INTERVAL/" "$DIR"/net/node-*/config.toml
  "$BIN" testnet --validators 4 --accounts 257 --home "$DIR/net" --base-port 26300 \
    "${COMMON[@]}" >>"$DIR/testnet.log" 2>&1 &
  TN=$!
  PIDS+=($TN)
  READY_V=$(wait_ready 26500 300)
  for i in 1 2 3; do wait_ready $((26500 + i)) 120 >/dev/null; done
  echo "validator 0 ready $READY_V s after the restart, at height $(height 26400)"
fi
echo "== load: $RATE tx/s for $DURATION s, in segments of at most $SEGMENT s =="
LEFT=$DURATION
while [ "$LEFT" -gt 0 ]; do
  S=$((LEFT < SEGMENT ? LEFT : SEGMENT))
  load "$RATE" "$S"
  LEFT=$((LEFT - S))
done
LOAD_SECS=$(($(date +%s) - LOAD_START))
echo "finalized $FINALIZED transactions in $LOAD_SECS s (pre-signing pauses included)"

TARGET=$(height 26400)
echo "== at height $TARGET; waiting for the snapshot after it =="
SNAP=$(((TARGET / SNAP_EVERY + 1) * SNAP_EVERY))
until [ -f "$DIR/net/node-0/data/snapshots/$SNAP/manifest" ]; do sleep 0.5; done
SNAP_BYTES=$(du -sb "$DIR/net/node-0/data/snapshots/$SNAP" | cut -f1)
CHUNKS=$(ls "$DIR/net/node-0/data/snapshots/$SNAP" | grep -c '^chunk-')
SNAP_SECS=$(curl -s http://127.0.0.1:26500/metrics | awk '/^palisade_snapshot_seconds_sum/ {s=$2} /^palisade_snapshot_seconds_count/ {c=$2} END {if (c>0) printf "%.2f", s/c}')
echo "snapshot at $SNAP: $SNAP_BYTES bytes, $CHUNKS chunks, written in $SNAP_SECS s on average"
DB=$(db_bytes "$DIR/net/node-0/data/db")
DB2=$(db_bytes "$DIR/net/node-2/data/db")
WAL=$(log_bytes "$DIR/net/node-0/data/db")
WAL2=$(log_bytes "$DIR/net/node-2/data/db")
echo "disk: node-0 (archive) $DB bytes ($WAL of write-ahead log), node-2 $DB2 bytes ($WAL2 of write-ahead log)"

join() { # join NAME INDEX EXTRA... -> a node home on ports 26310+i, 26410+i, 26510+i
  local name=$1 i=$2
  shift 2
  "$BIN" keys generate --out "$DIR/$name.key.json" >/dev/null
  "$BIN" init --home "$DIR/$name" --genesis "$DIR/net/genesis.json" --key "$DIR/$name.key.json" \
    --set "p2p.listen=/ip4/127.0.0.1/tcp/$((26310 + i))" --set "rpc.listen=127.0.0.1:$((26410 + i))" \
    --set "metrics.listen=127.0.0.1:$((26510 + i))" --set snapshots.interval_epochs=0 "$@" >/dev/null
}

echo "== a new node joins by state sync =="
join statesync 0 --state-sync
"$BIN" run --home "$DIR/statesync" >"$DIR/statesync.log" 2>&1 &
SS_PID=$!
PIDS+=($SS_PID)
READY_SS=$(wait_ready 26510 600)
echo "ready by state sync in $READY_SS s"

READY_BS=skipped
BS_HEIGHT=0
BS_REFUSED=0
if [ "$BS_TIMEOUT" -gt 0 ]; then
  echo "== a new node joins by block sync from genesis (at most $BS_TIMEOUT s) =="
  over() { cat "$DIR/testnet.log" "$DIR"/net/node-*/node.log 2>/dev/null | grep -ac "over its budget of get_blocks" || true; }
  OVER0=$(over)
  join blocksync 1
  "$BIN" run --home "$DIR/blocksync" >"$DIR/blocksync.log" 2>&1 &
  BS_PID=$!
  PIDS+=($BS_PID)
  READY_BS=$(wait_ready 26511 "$BS_TIMEOUT" || true)
  BS_HEIGHT=$(height 26411 2>/dev/null || echo 0)
  # validators' refusals of block requests (count or answer bytes over budget) during this
  # step: the joining node's, and any of the state-synced node still following the chain
  BS_REFUSED=$(($(over) - OVER0))
  echo "ready by block sync in $READY_BS s (its height then: $BS_HEIGHT); refused $BS_REFUSED times as over budget"
  kill -TERM "$BS_PID" 2>/dev/null || true
  wait "$BS_PID" 2>/dev/null || true
fi

echo "== the state-synced node restarts =="
kill -TERM "$SS_PID"
wait "$SS_PID" 2>/dev/null || true
"$BIN" run --home "$DIR/statesync" >>"$DIR/statesync.log" 2>&1 &
PIDS+=($!)
READY_RS=$(wait_ready 26510 300)
echo "restarted and ready in $READY_RS s"

echo "== validator 0 restarts (SIGTERM, down 10 s, started again) while the others run =="
V0=$(pgrep -f -- " run --home $DIR/net/node-0\$" | head -1)
kill -TERM "$V0"
while kill -0 "$V0" 2>/dev/null; do sleep 0.1; done
sleep 10
"$BIN" run --home "$DIR/net/node-0" >>"$DIR/net/node-0/node.log" 2>&1 &
PIDS+=($!)
READY_V2=$(wait_ready 26500 300)
echo "validator 0 ready $READY_V2 s after its start"

ACCOUNTS=$(grep -a "state sync: snapshot restored" "$DIR/statesync.log" | grep -oE 'accounts=[0-9]+' | head -1 | cut -d= -f2)
echo "disk samples (seconds, height, node-0 archive bytes, node-2 bytes, node-0 log bytes, node-2 log bytes):"
cat "$DIR/disk.txt"
cat <<EOF
{"height": $TARGET, "snapshotHeight": $SNAP, "accounts": ${ACCOUNTS:-0}, "finalizedLoad": $FINALIZED, "loadSeconds": $LOAD_SECS, "snapshotBytes": $SNAP_BYTES, "snapshotChunks": $CHUNKS, "snapshotWriteSeconds": ${SNAP_SECS:-0}, "archiveDbBytes": $DB, "node2DbBytes": $DB2, "archiveWalBytes": $WAL, "node2WalBytes": $WAL2, "retainBlocks": $PRUNE, "readyByStateSyncSeconds": "$READY_SS", "readyByBlockSyncSeconds": "$READY_BS", "blockSyncHeight": $BS_HEIGHT, "blockSyncRefusals": $BS_REFUSED, "restartReadySeconds": "$READY_RS", "validatorRestartBeforeLoadSeconds": "$READY_V", "validatorRestartReadySeconds": "$READY_V2"}
EOF
