#!/usr/bin/env python3
"""Send a transfer to a running Palisade node and follow it to finality.

An outside client: PyNaCl and blake3 (through sign_tx.py, written from docs/tx-format.md)
and Python's own urllib for JSON-RPC over HTTP. Nothing from the Palisade code base.

    python3 docs/examples/submit_transfer.py --rpc http://127.0.0.1:26756 \
        --secret 0x<sender secret key> --to 0x<recipient public key> --amount 25

Exits 0 once the transfer is finalized and both balances moved by the amount.
"""
import argparse
import json
import sys
import time
import urllib.request

from nacl.signing import SigningKey

from sign_tx import b32, sign

_next_id = 0


def call(url: str, method: str, *params):
    """One JSON-RPC 2.0 call; raises on an error response."""
    global _next_id
    _next_id += 1
    body = json.dumps({"jsonrpc": "2.0", "id": _next_id, "method": method, "params": list(params)})
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer = json.load(resp)
    if "error" in answer:
        raise RuntimeError(f"{method} failed: {answer['error']}")
    return answer["result"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rpc", required=True)
    ap.add_argument("--secret", required=True, help="sender's 32-byte ed25519 secret key, 0x hex")
    ap.add_argument("--to", required=True, help="recipient's public key, 0x hex")
    ap.add_argument("--amount", type=int, default=25)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    secret = b32(args.secret)
    sender = "0x" + SigningKey(secret).verify_key.encode().hex()
    info = call(args.rpc, "chain_getInfo")
    before_from = int(call(args.rpc, "account_getBalance", sender))
    before_to = int(call(args.rpc, "account_getBalance", args.to))
    nonce = call(args.rpc, "account_getNonce", sender)
    tx = {
        "chain_id": info["chainId"],
        "sender": sender,
        "nonce": nonce,
        "expiry_height": info["finalizedHeight"] + 100,
        "kind": {"type": "transfer", "to": args.to, "amount": str(args.amount)},
    }
    signed = sign(secret, tx)
    tx_hash = call(args.rpc, "tx_submit", "0x" + signed["signed_tx"].hex())
    if tx_hash != "0x" + signed["tx_id"].hex():
        print(f"FAIL: node says the hash is {tx_hash}, the spec gives 0x{signed['tx_id'].hex()}")
        return 1
    print(f"submitted {tx_hash} (nonce {nonce})")

    deadline = time.monotonic() + args.timeout
    while True:
        status = call(args.rpc, "tx_getStatus", [tx_hash])[0]
        if status["status"] == "finalized":
            break
        if status["status"] == "rejected" or time.monotonic() > deadline:
            print(f"FAIL: transaction {status}")
            return 1
        time.sleep(0.1)
    if not status.get("success"):
        print(f"FAIL: finalized without effect: {status}")
        return 1
    after_from = int(call(args.rpc, "account_getBalance", sender))
    after_to = int(call(args.rpc, "account_getBalance", args.to))
    if before_from - after_from != args.amount or after_to - before_to != args.amount:
        print(f"FAIL: balances moved {before_from}->{after_from} and {before_to}->{after_to}")
        return 1
    print(f"finalized in block {status['height']} at index {status['index']}; "
          f"sender {before_from} -> {after_from}, recipient {before_to} -> {after_to}")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
