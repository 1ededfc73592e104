#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with rustup: installs what it needs,
# builds once (release profile, so process-level tests reuse the same binaries), runs
# every Rust test; the outside clients (a Python signer, the OpenRPC conformance check) are
# installed first, from PyPI into a venv, and run by node/tests/rpc.rs against a live testnet.
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo "== cargo fmt --check =="
cargo fmt --all --check

echo "== cargo test (release) =="
cargo test --release --workspace --locked

echo "== cargo clippy (release profile: reuses the test build's dependencies) =="
cargo clippy --release --workspace --all-targets --locked -- -D warnings
