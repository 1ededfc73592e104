#!/usr/bin/env bash
# The main job, from a fresh Debian machine with rustup. Until the validator node lands
# (issue "The validator node and the local testnet"), this runs the ledger end to end on a
# dev chain: genesis, blocks of signed transfers verified, executed and committed to
# RocksDB, recovery of the previous run's state, and an account proof.
# Extra arguments go to `palisade demo` (see `palisade demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release --locked -p node
exec target/release/palisade demo "$@"
