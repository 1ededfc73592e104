#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder and stateful target in fuzz/ (cargo-fuzz,
# libFuzzer). See docs/fuzzing.md for the targets and what each checks.
#
#   scripts/fuzz.sh                      every target for 1 minute each
#   scripts/fuzz.sh --minutes 30 block   one target for 30 minutes
#   scripts/fuzz.sh --seconds 20 --jobs 2    what CI runs (scripts/test.sh)
#
# Installs cargo-fuzz (crates.io) into target/tools if it is missing. Links RocksDB from the
# workspace's release build instead of compiling its C++ again: run
# `cargo build --release --workspace --locked` first (scripts/test.sh has by then).
# The corpus each target grows lives in target/fuzz-corpus/<target> (kept between runs on
# one machine); the committed seeds in fuzz/seeds/<target> are read, never written. A crash
# leaves its input in fuzz/artifacts/<target>/ and fails the run; make it a regression test
# (docs/fuzzing.md says how). Writes a summary (executions, exec/s, coverage) to
# target/fuzz-report.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=60
JOBS=1
TARGETS=()
while (($#)); do
  case "$1" in
    --minutes) SECONDS_EACH=$(($2 * 60)); shift 2 ;;
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done

CARGO_FUZZ_VERSION=0.13.2
TOOLS="$PWD/target/tools"
if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION into target/tools =="
  cargo install --locked --quiet --root "$TOOLS" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export PATH="$TOOLS/bin:$PATH"

# RocksDB from the release build (its C++ takes ~17 minutes on 2 cores)
lib=$(ls -t target/release/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null | head -1 || true)
if [ -z "$lib" ]; then
  echo "no release build of RocksDB: running cargo build --release --workspace --locked first" >&2
  cargo build --release --workspace --locked
  lib=$(ls -t target/release/build/librocksdb-sys-*/out/librocksdb.a | head -1)
fi
export ROCKSDB_LIB_DIR="$PWD/$(dirname "$lib")" ROCKSDB_STATIC=1

# no sanitizer: the fuzzed code is safe Rust (unsafe_code is forbidden in every crate
# fuzzed here), so ASan would only slow it down; debug assertions and overflow checks on
FLAGS=(--sanitizer none --debug-assertions)
if [ ${#TARGETS[@]} = 0 ]; then
  mapfile -t TARGETS < <(cargo fuzz list)
fi

echo "== building the fuzz targets (fuzz/target) =="
start=$(date +%s)
cargo fuzz build "${FLAGS[@]}"
echo "built in $(($(date +%s) - start)) s"

LOGS=target/fuzz-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
run_one() {
  local t=$1
  local corpus="$PWD/target/fuzz-corpus/$t"
  mkdir -p "$corpus"
  local seeds=()
  [ -d "fuzz/seeds/$t" ] && seeds=("$PWD/fuzz/seeds/$t")
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a memory blow-up fails
  # (cargo fuzz puts a failing input in fuzz/artifacts/<target>/)
  cargo fuzz run "${FLAGS[@]}" "$t" "$corpus" "${seeds[@]}" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$LOGS/$t.log" 2>&1
  local rc=$?
  echo "$rc" >"$LOGS/$t.rc"
  if [ $rc = 0 ]; then echo "  $t: ok"; else echo "  $t: FAILED (exit $rc, log $LOGS/$t.log)"; fi
  return $rc
}
export -f run_one
export SECONDS_EACH LOGS
export FLAGS_STR="${FLAGS[*]}"

echo "== running ${#TARGETS[@]} targets for ${SECONDS_EACH} s each, $JOBS at a time =="
failed=0
printf '%s\n' "${TARGETS[@]}" |
  xargs -P "$JOBS" -I{} bash -c 'FLAGS=($FLAGS_STR); run_one "$@"' _ {} || failed=1

report=target/fuzz-report.md
{
  echo "| target | seconds | runs | exec/s | coverage (edges) | features | corpus | result |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
  for t in "${TARGETS[@]}"; do
    log="$LOGS/$t.log"
    # (a crash before libFuzzer's first status line leaves these empty: `|| true`)
    runs=$( (grep -oE 'stat::number_of_executed_units: +[0-9]+' "$log" || true) | awk '{print $2}' | tail -1)
    eps=$( (grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$log" || true) | awk '{print $2}' | tail -1)
    last=$( (grep -E '^#[0-9]+' "$log" || true) | tail -1)
    cov=$( (grep -o 'cov: [0-9]*' <<<"$last" || true) | awk '{print $2}')
    ft=$( (grep -o 'ft: [0-9]*' <<<"$last" || true) | awk '{print $2}')
    corp=$( (grep -o 'corp: [0-9]*' <<<"$last" || true) | awk '{print $2}')
    if [ "$(cat "$LOGS/$t.rc" 2>/dev/null || echo missing)" = 0 ]; then result=ok; else result=FAILED; fi
    echo "| $t | $SECONDS_EACH | ${runs:-?} | ${eps:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $result |"
  done
} >"$report"
cat "$report"
if [ $failed != 0 ]; then
  echo "fuzzing found a failure: the inputs are in fuzz/artifacts/<target>/; reproduce with" >&2
  echo "  target/tools/bin/cargo-fuzz run --sanitizer none --debug-assertions <target> fuzz/artifacts/<target>/<file>" >&2
  for t in "${TARGETS[@]}"; do
    if [ "$(cat "$LOGS/$t.rc" 2>/dev/null || echo missing)" != 0 ]; then
      echo "---- $t ----" >&2
      (grep -E -A 12 'panicked at|ERROR: libFuzzer|^error' "$LOGS/$t.log" || tail -20 "$LOGS/$t.log") | head -40 >&2
    fi
  done
  exit 1
fi
