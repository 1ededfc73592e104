#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with rustup: installs what it needs,
# builds once (release profile, so process-level tests reuse the same binaries), runs
# every Rust test, then checks docs/tx-format.md with an independent Python signer.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== cargo test (release) =="
cargo test --release --workspace --locked

echo "== docs/tx-format.md with PyNaCl + blake3 (independent implementation) =="
VENV=target/pyenv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check pynacl blake3
"$VENV/bin/python" docs/examples/sign_tx.py docs/test-vectors/transactions.json
