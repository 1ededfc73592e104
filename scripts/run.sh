#!/usr/bin/env bash
# The main job, from a fresh Debian machine with rustup: a local testnet of 4 validators,
# each its own `palisade` process on 127.0.0.1. Prints every validator's p2p, JSON-RPC and
# metrics addresses and the prefunded dev accounts, then a live status line; Ctrl-C stops
# them all cleanly and the next run resumes the chain.
# Extra arguments go to `palisade testnet` (e.g. --reset, --validators 7; see --help).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release --locked -p node
exec target/release/palisade testnet "$@"
