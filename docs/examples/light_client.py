#!/usr/bin/env python3
"""A light client written from docs/light-client.md alone: verify a balance without
trusting the node that serves it.

Trusts only the genesis block's hash and the epoch length (both fixed by the genesis
document; `chain_getInfo` shows them, but take them from somewhere you trust). Walks the
validator set from genesis epoch by epoch (each epoch's last block is certified by the set
before it and names the next), checks the finality certificate of the block a state proof
is against, then the account proof against that block's state root.

    python3 docs/examples/light_client.py --rpc http://127.0.0.1:20600 \
        --genesis-hash 0x<hash of block 0> --epoch-length 100 --account 0x<public key>

    python3 docs/examples/light_client.py --vectors docs/test-vectors/finality.json

Uses PyNaCl (ed25519) and blake3, and Python's urllib. Nothing from the Palisade code base.
Exits 0 with the verified balance; 1 (and why) if anything fails to verify.
"""
import argparse
import json
import struct
import sys
import time
import urllib.request

import blake3
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

HEADER_BYTES = 241


class Invalid(Exception):
    """The evidence does not prove what it claims."""


def domain_key(domain: str) -> bytes:
    return blake3.blake3(domain.encode("ascii")).digest()


def domain_hash(domain: str, data: bytes) -> bytes:
    return blake3.blake3(data, key=domain_key(domain)).digest()


def unhex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


class Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise Invalid("truncated bytes")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def finish(self):
        if self.at != len(self.data):
            raise Invalid("trailing bytes")


def decode_header(raw: bytes) -> dict:
    if len(raw) != HEADER_BYTES or raw[0] != 1:
        raise Invalid("not a version-1 header")
    r = Reader(raw[1:])
    h = {
        "chain_id": r.take(32),
        "height": r.u64(),
        "parent": r.take(32),
        "timestamp_ms": r.u64(),
        "proposer": r.take(32),
        "tx_root": r.take(32),
        "receipts_root": r.take(32),
        "state_root": r.take(32),
        "validators_hash": r.take(32),
    }
    r.finish()
    h["id"] = domain_hash("palisade/v1/block", raw)
    return h


def decode_validators(raw: bytes) -> list:
    r = Reader(raw)
    out = []
    for _ in range(r.u32()):
        key, power = r.take(32), r.u64()
        address = r.take(r.u32()).decode("utf-8")
        out.append({"key": key, "power": power, "address": address})
    r.finish()
    return out


def decode_proposal(raw: bytes) -> dict:
    if len(raw) != 88:
        raise Invalid("a proposal is 88 bytes")
    view, height, parent_view = struct.unpack("<QQQ", raw[:24])
    return {
        "raw": raw,
        "view": view,
        "height": height,
        "parent_view": parent_view,
        "parent": raw[24:56],
        "payload": raw[56:88],
        "digest": blake3.blake3(raw, key=domain_key("palisade/v1/consensus-proposal")).digest(),
    }


def decode_certificate(raw: bytes) -> dict:
    r = Reader(raw)
    kind = r.u8()
    if kind != 3:
        raise Invalid("the certificate is not a finalization")
    proposal = decode_proposal(r.take(88))
    signatures = [(r.u32(), r.take(64)) for _ in range(r.u32())]
    r.finish()
    return {"proposal": proposal, "signatures": signatures}


def namespace(chain_id: bytes, epoch: int) -> bytes:
    return blake3.blake3(
        chain_id + struct.pack("<Q", epoch), derive_key_context="palisade/v1/consensus-namespace"
    ).digest()


def repeats(q: dict, p: dict) -> bool:
    """Whether proposal q re-proposes p (same height and payload, p as parent, later view)."""
    return (
        q["parent"] == p["digest"]
        and q["parent_view"] == p["view"]
        and q["view"] > p["view"]
        and q["height"] == p["height"]
        and q["payload"] == p["payload"]
    )


class LightClient:
    """The validators of one epoch, trusted."""

    def __init__(self, anchor: dict, trusted_hash: bytes, epoch_length: int):
        header = decode_header(unhex(anchor["header"]))
        if header["id"] != trusted_hash:
            raise Invalid("the anchor header is not the trusted block")
        if header["height"] % epoch_length:
            raise Invalid("an anchor is genesis or an epoch's last block")
        self.epoch_length = epoch_length
        self.chain_id = header["chain_id"]
        self.epoch = header["height"] // epoch_length
        self.validators = self._next_set(anchor, header)

    @staticmethod
    def _next_set(evidence: dict, header: dict) -> list:
        raw = unhex(evidence["nextValidators"])
        if domain_hash("palisade/v1/validator-set", raw) != header["validators_hash"]:
            raise Invalid("the next validator set is not the one the header names")
        return decode_validators(raw)

    def epoch_end(self) -> int:
        return (self.epoch + 1) * self.epoch_length

    def verify(self, evidence: dict) -> dict:
        """Check that `evidence` (a chain_getFinalityProof answer) proves its block final;
        return the header."""
        header = decode_header(unhex(evidence["header"]))
        if header["chain_id"] != self.chain_id:
            raise Invalid("another chain's header")
        first, last = self.epoch * self.epoch_length + 1, self.epoch_end()
        if not first <= header["height"] <= last:
            raise Invalid(f"block {header['height']} is not in epoch {self.epoch}")
        proposals = [decode_proposal(unhex(p)) for p in evidence["proposals"]]
        if not proposals:
            raise Invalid("no proposal")
        if proposals[0]["height"] != header["height"] or proposals[0]["payload"] != header["id"]:
            raise Invalid("the first proposal is not the header's")
        for before, after in zip(proposals, proposals[1:]):
            if after["parent"] != before["digest"] or after["height"] != before["height"] + 1:
                raise Invalid("the proposals do not link")
        tip = proposals[-1]
        if tip["height"] > last:
            raise Invalid("the proposals leave the epoch")
        if evidence.get("certificate") is None:
            raise Invalid("no certificate")
        cert = decode_certificate(unhex(evidence["certificate"]))
        q = cert["proposal"]
        if q["raw"] != tip["raw"] and not (repeats(q, tip) and tip["height"] == last):
            raise Invalid("the certificate finalizes another proposal")
        message = blake3.blake3(
            namespace(self.chain_id, self.epoch) + b"\x03" + q["raw"],
            key=domain_key("palisade/v1/consensus-vote"),
        ).digest()
        total = sum(v["power"] for v in self.validators)
        quorum = total * 2 // 3 + 1
        power, previous = 0, -1
        for signer, signature in cert["signatures"]:
            if signer <= previous:
                raise Invalid("signers are not strictly increasing")
            previous = signer
            if signer >= len(self.validators):
                raise Invalid(f"signer {signer} is not a validator")
            try:
                VerifyKey(self.validators[signer]["key"]).verify(message, signature)
            except BadSignatureError:
                raise Invalid(f"the signature of validator {signer} does not verify") from None
            power += self.validators[signer]["power"]
        if power < quorum:
            raise Invalid(f"signers hold {power} power, the quorum is {quorum}")
        return header

    def advance(self, evidence: dict):
        """Trust the next epoch's validators, named by this epoch's last block."""
        header = self.verify(evidence)
        if header["height"] != self.epoch_end():
            raise Invalid("not the epoch's last block")
        self.validators = self._next_set(evidence, header)
        self.epoch += 1


def account_from_proof(proof_raw: bytes, key: bytes, state_root: bytes):
    """Check an account proof (docs/ledger.md) against a trusted state root; return the
    account (None if the proof shows it does not exist)."""
    r = Reader(proof_raw)
    siblings = [r.take(32) for _ in range(r.u32())]
    if len(siblings) > 256:
        raise Invalid("a proof is at most 256 levels deep")
    terminal = r.u8()
    found = None
    if terminal == 0:
        node = bytes(32)
    elif terminal == 1:
        leaf_key, account = r.take(32), r.take(25)
        for i in range(len(siblings)):
            if bit(leaf_key, i) != bit(key, i):
                raise Invalid("the proof's leaf is not on the key's path")
        node = domain_hash("palisade/v1/account-leaf", leaf_key + account)
        if leaf_key == key:
            balance = int.from_bytes(account[:16], "little")
            nonce = int.from_bytes(account[16:24], "little")
            found = {"balance": balance, "nonce": nonce, "roles": account[24]}
    else:
        raise Invalid("unknown proof terminal")
    system_hash = r.take(32)
    r.finish()
    for i in reversed(range(len(siblings))):
        pair = siblings[i] + node if bit(key, i) else node + siblings[i]
        node = domain_hash("palisade/v1/account-node", pair)
    if domain_hash("palisade/v1/state-root", node + system_hash) != state_root:
        raise Invalid("the account proof does not match the state root")
    return found


def bit(key: bytes, i: int) -> bool:
    return (key[i // 8] >> (7 - i % 8)) & 1 == 1


_next_id = 0


class RpcError(RuntimeError):
    def __init__(self, method: str, error: dict):
        super().__init__(f"{method} failed: {error}")
        self.error = error


def call(url: str, method: str, *params):
    global _next_id
    _next_id += 1
    body = json.dumps({"jsonrpc": "2.0", "id": _next_id, "method": method, "params": list(params)})
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer = json.load(resp)
    if "error" in answer:
        raise RpcError(method, answer["error"])
    return answer["result"]


def finality_proof(url: str, height: int) -> dict:
    """chain_getFinalityProof, waiting while the certificate covering it is not yet stored."""
    for _ in range(50):
        try:
            proof = call(url, "chain_getFinalityProof", height)
        except RpcError as e:
            if (e.error.get("data") or {}).get("retry"):
                time.sleep(0.2)
                continue
            raise
        if proof is None:
            raise Invalid(f"the node has no block {height}")
        return proof
    raise RuntimeError(f"no finality proof of block {height}")


def verify_balance(url: str, genesis_hash: bytes, epoch_length: int, account: bytes) -> dict:
    client = LightClient(finality_proof(url, 0), genesis_hash, epoch_length)
    state = call(url, "state_getProof", "0x" + account.hex())
    height = state["height"]
    walked = 0
    while client.epoch_end() < height:
        client.advance(finality_proof(url, client.epoch_end()))
        walked += 1
    evidence = finality_proof(url, height)
    header = client.verify(evidence)
    if unhex(state["header"]) != unhex(evidence["header"]):
        raise Invalid("the state proof is against another header")
    found = account_from_proof(unhex(state["proof"]), account, header["state_root"])
    return {"height": height, "epochsWalked": walked, "account": found}


def check_vectors(path: str) -> int:
    with open(path) as f:
        v = json.load(f)
    e = v["epochLength"]
    proofs = v["proofs"]
    client = LightClient(proofs[0], unhex(v["genesisHash"]), e)
    for p in proofs[1:]:
        while client.epoch_end() < p["height"]:
            client.advance(proofs[client.epoch_end()])
        client.verify(p)
    print(f"{len(proofs) - 1} finality proofs verify, {client.epoch} epochs walked")
    bad = 0
    for t in v["tampered"]:
        c = LightClient(proofs[0], unhex(v["genesisHash"]), e)
        try:
            while c.epoch_end() < t["proof"]["height"]:
                c.advance(proofs[c.epoch_end()])
            if t.get("advance"):
                c.advance(t["proof"])
            else:
                c.verify(t["proof"])
            print(f"ACCEPTED tampered vector: {t['name']}")
            bad += 1
        except Invalid as why:
            print(f"refused as it should: {t['name']} ({why})")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", help="check docs/test-vectors/finality.json instead")
    ap.add_argument("--rpc")
    ap.add_argument("--genesis-hash", help="the trusted hash of block 0, 0x hex")
    ap.add_argument("--epoch-length", type=int, help="blocks per epoch, from the genesis document")
    ap.add_argument("--account", help="the account's public key, 0x hex")
    args = ap.parse_args()
    if args.vectors:
        return check_vectors(args.vectors)
    if not (args.rpc and args.genesis_hash and args.epoch_length and args.account):
        ap.error("--rpc, --genesis-hash, --epoch-length and --account are needed")
    try:
        out = verify_balance(args.rpc, unhex(args.genesis_hash), args.epoch_length, unhex(args.account))
    except Invalid as why:
        print(f"NOT VERIFIED: {why}")
        return 1
    acct = out["account"]
    balance = acct["balance"] if acct else 0
    print(
        f"verified balance {balance} (nonce {acct['nonce'] if acct else 0}) at height {out['height']}, "
        f"{out['epochsWalked']} epochs walked from genesis"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
