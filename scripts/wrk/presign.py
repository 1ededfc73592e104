#!/usr/bin/env python3
"""Pre-sign transfers for scripts/bench-rpc.sh: PER transfers from each of dev accounts
1..ACCOUNTS-1 of a running testnet (keys from its keys/ directory), one tx_submit JSON-RPC
body per line, nonces interleaved across senders.

    presign.py TESTNET_HOME RPC_URL ACCOUNTS PER OUT
"""
import json
import sys
import urllib.request

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/docs/examples")
from nacl.signing import SigningKey  # noqa: E402
from sign_tx import b32, sign  # noqa: E402


def call(url, method, *params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["result"]


def main():
    home, url, accounts, per, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    info = call(url, "chain_getInfo")
    senders = []
    for i in range(1, accounts):
        with open(f"{home}/keys/account-{i}.json") as f:
            secret = b32(json.load(f)["secret_key"])
        pub = "0x" + SigningKey(secret).verify_key.encode().hex()
        senders.append((secret, pub, call(url, "account_getNonce", pub)))
    sink = "0x" + "5a" * 32
    n = 0
    with open(out, "w") as f:
        for k in range(per):
            for secret, pub, nonce in senders:
                tx = {"chain_id": info["chainId"], "sender": pub, "nonce": nonce + k,
                      "expiry_height": 2**63, "kind": {"type": "transfer", "to": sink, "amount": "1"}}
                signed = "0x" + sign(secret, tx)["signed_tx"].hex()
                f.write(json.dumps({"jsonrpc": "2.0", "id": n, "method": "tx_submit", "params": [signed]}) + "\n")
                n += 1
    print(f"{n} signed transfers from {len(senders)} senders in {out}")


if __name__ == "__main__":
    main()
