#!/usr/bin/env python3
"""Build and sign Palisade transactions from docs/tx-format.md alone.

Uses only PyNaCl (ed25519) and blake3. Run with a vectors file to check every vector:

    python3 docs/examples/sign_tx.py docs/test-vectors/transactions.json

Import it to build your own: `signed = sign(secret_key_bytes, tx_dict)`.
"""
import json
import struct
import sys

import blake3
from nacl.signing import SigningKey

ROLES = {"admin": 0, "transact": 1, "mine": 2}


def domain_hash(domain: str, data: bytes) -> bytes:
    key = blake3.blake3(domain.encode("ascii")).digest()
    return blake3.blake3(data, key=key).digest()


def b32(hex_str: str) -> bytes:
    raw = bytes.fromhex(hex_str[2:] if hex_str.startswith("0x") else hex_str)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


def u64(v) -> bytes:
    return struct.pack("<Q", int(v))


def u128(v) -> bytes:
    v = int(v)
    return struct.pack("<QQ", v & (2**64 - 1), v >> 64)


def string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<I", len(raw)) + raw


def encode_kind(kind: dict) -> bytes:
    t = kind["type"]
    if t == "transfer":
        return b"\x01" + b32(kind["to"]) + u128(kind["amount"])
    if t == "mint":
        return b"\x02" + b32(kind["to"]) + u128(kind["amount"])
    if t == "burn":
        return b"\x03" + u128(kind["amount"])
    if t == "set_role":
        return b"\x04" + b32(kind["account"]) + bytes([ROLES[kind["role"]], 1 if kind["granted"] else 0])
    if t == "add_validator":
        return b"\x05" + b32(kind["key"]) + u64(kind["power"]) + string(kind["address"])
    if t == "remove_validator":
        return b"\x06" + b32(kind["key"])
    if t == "claim_mining_reward":
        return b"\x07" + u64(kind["height"]) + u64(kind["nonce"])
    raise ValueError(f"unknown kind {t}")


def encode_tx(tx: dict) -> bytes:
    return (
        bytes([1])
        + b32(tx["chain_id"])
        + b32(tx["sender"])
        + u64(tx["nonce"])
        + u64(tx["expiry_height"])
        + encode_kind(tx["kind"])
    )


def sign(secret_key: bytes, tx: dict) -> dict:
    """Return the tx bytes, signing message, id, signature, signed tx and the signed tx's
    leaf in a block's tx root (all bytes)."""
    tx_bytes = encode_tx(tx)
    message = domain_hash("palisade/v1/tx-signing", tx_bytes)
    signature = SigningKey(secret_key).sign(message).signature
    return {
        "tx_bytes": tx_bytes,
        "signing_message": message,
        "tx_id": domain_hash("palisade/v1/tx-id", tx_bytes),
        "signature": signature,
        "signed_tx": tx_bytes + signature,
        "tx_leaf": domain_hash("palisade/v1/tx-leaf", tx_bytes + signature),
    }


def main(path: str) -> int:
    with open(path) as f:
        doc = json.load(f)
    failed = 0
    for v in doc["vectors"]:
        secret = b32(v["secret_key"])
        if "0x" + SigningKey(secret).verify_key.encode().hex() != v["public_key"]:
            print(f"FAIL {v['name']}: public key")
            failed += 1
            continue
        got = sign(secret, v["tx"])
        bad = [k for k in ("tx_bytes", "signing_message", "tx_id", "signature", "signed_tx", "tx_leaf") if "0x" + got[k].hex() != v[k]]
        if bad:
            print(f"FAIL {v['name']}: {', '.join(bad)} differ")
            failed += 1
        else:
            print(f"ok   {v['name']}")
    passed = len(doc["vectors"]) - failed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/test-vectors/transactions.json"))
