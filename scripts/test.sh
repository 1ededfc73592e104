#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with rustup: installs what it needs,
# builds once (release profile, so process-level tests reuse the same binaries), runs
# every Rust test; the outside clients (a Python signer, the OpenRPC conformance check) are
# installed first, from PyPI into a venv, and run by node/tests/rpc.rs against a live testnet.
#
#   scripts/test.sh          everything (what CI runs)
#   scripts/test.sh --fast   unit, property, simulator and vector tests only: no test whose
#                            name ends in `_slow` (those start real `palisade` processes),
#                            no fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=0
for arg in "$@"; do
  case "$arg" in
    --fast) FAST=1 ;;
    *) echo "usage: scripts/test.sh [--fast]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh

echo "== outside clients: Python venv from scripts/requirements-test.txt (PyPI) =="
VENV=target/pyenv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export PALISADE_TEST_PYTHON="$PWD/$VENV/bin/python"

echo "== docs/tx-format.md with PyNaCl + blake3 (independent implementation) =="
"$VENV/bin/python" docs/examples/sign_tx.py docs/test-vectors/transactions.json

echo "== docs/light-client.md with PyNaCl + blake3: finality proofs from genesis (vectors) =="
"$VENV/bin/python" docs/examples/light_client.py --vectors docs/test-vectors/finality.json

echo "== cargo fmt --check (the workspace and fuzz/) =="
cargo fmt --all --check
(cd fuzz && cargo fmt --check)

echo "== cargo test (release): the fast suite =="
cargo test --release --workspace --locked -- --skip _slow

if [ "$FAST" = 0 ]; then
  echo "== fuzzing (docs/fuzzing.md): every target for 20 s, two at a time =="
  scripts/fuzz.sh --seconds 20 --jobs 2

  echo "== cargo test (release): process-level tests (*_slow: real palisade processes) =="
  cargo test --release --workspace --locked -- _slow
fi

echo "== cargo clippy (release profile: reuses the test build's dependencies) =="
cargo clippy --release --workspace --all-targets --locked -- -D warnings
