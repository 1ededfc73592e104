#!/usr/bin/env python3
"""The OpenRPC conformance check can fail: against a live node, each of these documents,
broken on purpose, must be caught with the failure it names, and the node's own document
must be caught with none of them.

Usage: openrpc_check_selftest.py --url http://127.0.0.1:26756
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openrpc_check import run  # noqa: E402


def method(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in doc["methods"] if m["name"] == name)


def unknown_key(doc: dict[str, Any]) -> None:
    method(doc, "chain_getInfo")["returns"] = {"name": "info"}


def not_one_x(doc: dict[str, Any]) -> None:
    doc["openrpc"] = "2.0.0"


def bad_json_schema(doc: dict[str, Any]) -> None:
    # a well-formed OpenRPC Schema object, but no JSON Schema type is called this
    method(doc, "tx_get")["params"][0]["schema"] = {"type": "strng"}


def undocumented_error(doc: dict[str, Any]) -> None:
    m = method(doc, "tx_submit")
    m["errors"] = [e for e in m["errors"] if e["code"] != -32020]


def wrong_reason(doc: dict[str, Any]) -> None:
    for e in method(doc, "tx_submit")["errors"]:
        if e["code"] == -32020:
            e["data"]["reasons"] = ["bad_signature"]


def result_schema_too_strict(doc: dict[str, Any]) -> None:
    s = method(doc, "chain_getInfo")["result"]["schema"]
    s["properties"]["shardId"] = {"type": "integer"}
    s["required"] = [*s["required"], "shardId"]


def result_schema_wrong_pattern(doc: dict[str, Any]) -> None:
    method(doc, "account_getBalance")["result"]["schema"]["pattern"] = "^[a-f]+$"


def param_schema_the_server_refuses(doc: dict[str, Any]) -> None:
    method(doc, "chain_getBlockByHeight")["params"][0]["schema"] = {"type": "string"}


def integer_without_bounds(doc: dict[str, Any]) -> None:
    # u64 params without their maximum: generated numbers beyond u64 are refused
    s = method(doc, "mining_submitHashrate")["params"][1]["schema"]
    s.pop("maximum", None)
    s["minimum"] = 2**64


def item_schema_wrong(doc: dict[str, Any]) -> None:
    item = method(doc, "chain_subscribeFinalizedHeads")["x-subscription"]["item"]["schema"]
    item["properties"]["height"] = {"type": "string"}


def optional_param_first(doc: dict[str, Any]) -> None:
    m = method(doc, "mining_submitWork")
    m["params"] = list(reversed(m["params"]))


CASES: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (unknown_key, "`returns` is not a field of an OpenRPC Method object"),
    (not_one_x, "is not a 1.x version"),
    (bad_json_schema, "param hash schema is not a valid JSON Schema"),
    (undocumented_error, "tx_submit (generated"),
    (wrong_reason, "with reason 'malformed', not among ['bad_signature']"),
    (result_schema_too_strict, "chain_getInfo (params []): result does not match its schema"),
    (result_schema_wrong_pattern, "account_getBalance (generated"),
    (param_schema_the_server_refuses, "refused as invalid params"),
    (integer_without_bounds, "mining_submitHashrate (generated"),
    (item_schema_wrong, "notification item does not match its schema"),
    (optional_param_first, "a required param after an optional one"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    rng_seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"openrpc_check_selftest: seed {rng_seed}")
    wanted = [w for _, w in CASES]
    problems = []
    # the node's own document: none of the planted failures (no signed examples here, so
    # methods that only succeed on a signed transaction are reported, and ignored)
    clean = run(args.url, None, 8, rng_seed, None)
    for w in wanted:
        hits = [f for f in clean if w in f]
        if hits:
            problems.append(f"the node's own document already fails with {w!r}: {hits[:2]}")
    for mutate, want in CASES:
        failures = run(args.url, None, 8, rng_seed, None, mutate)
        if any(want in f for f in failures):
            print(f"  caught {mutate.__name__}")
        else:
            problems.append(f"{mutate.__name__} was not caught with {want!r}; failures: {failures[:5]}")
    if problems:
        print("FAILED:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"Success: all {len(CASES)} broken documents caught (seed {rng_seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
