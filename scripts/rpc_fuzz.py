#!/usr/bin/env python3
"""Fuzz a live Palisade node's JSON-RPC server from its own OpenRPC document.

Every method gets params generated from its param schemas (hypothesis-jsonschema), then
the same calls with params replaced by hostile values: wrong JSON types, huge and negative
numbers, floats, deeply nested arrays, long strings, missing and extra params.  Around the
calls: envelopes that are not JSON-RPC 2.0 (odd ids, missing fields, wrong versions),
bodies that are not JSON (random bytes, truncated requests, invalid UTF-8, 100,000 nested
brackets, numbers of 10,000 digits), batches (empty, mixed, over `rpc.max_batch`), a body
over `rpc.max_request_bytes`, and a connection that sends half a request and stops.

Every answer must arrive within --timeout seconds and be JSON-RPC 2.0 with a code the
documentation allows for that call: the protocol codes (-32700, -32600, -32601, -32602,
-32010, -32023), -32007 with HTTP 413 for an oversized body, and for a method only the
codes its own `errors` list names.  -32603 (internal error: "a bug, please report") and
any HTTP 5xx fail.  A half-sent request must not keep other clients waiting.  At the end
the node must still answer `chain_getInfo`.

Usage: rpc_fuzz.py --url http://127.0.0.1:26756 [--examples N] [--seed S] [--timeout T]
Prints a summary per kind of input and exits 1 with the failures (each with the request
that caused it, cut to 300 bytes) if anything broke a rule.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import time
from urllib.parse import urlparse

import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

PROTOCOL_CODES = {-32700, -32600, -32601, -32602, -32010, -32023}
# the defaults of `rpc.max_request_bytes` and `rpc.max_batch` (docs/rpc.md), which the
# testnets this runs against keep
MAX_REQUEST_BYTES = 1 << 20
MAX_BATCH = 100

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=10), inner, max_size=5),
    ),
    max_leaves=20,
)
# values chosen to break parsers: limits of u64/i64/u128, floats where integers go, text
# where hex goes, deep nesting, long strings
HOSTILE = st.one_of(
    JSON_VALUES,
    st.sampled_from(
        [
            2**64,
            2**64 - 1,
            -1,
            -(2**63) - 1,
            2**128,
            2**200,
            1e308,
            -0.0,
            0.5,
            "0x",
            "0x" + "f" * 64,
            "0x" + "g" * 64,
            "0x" + "00" * 100_000,
            "",
            "\u0000",
            "\ud7ff" * 1000,
            "latest",
            "-1",
            "18446744073709551616",
            {"__proto__": 1},
            [],
            {},
        ]
    ),
    st.integers(min_value=1, max_value=200).map(lambda d: json.loads("[" * d + "]" * d)),
    st.text(min_size=1000, max_size=5000),
)


def valid_id(request: dict) -> bool:
    """Whether `request` has an id the server answers: a string, null, or an integer
    0 ≤ id < 2**64 (docs/rpc.md)."""
    if "id" not in request:
        return False
    i = request["id"]
    return i is None or isinstance(i, str) or (type(i) is int and 0 <= i < 2**64)


class Fuzzer:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.http = httpx.Client(timeout=timeout)
        self.timeout = timeout
        self.failures: list[str] = []
        self.counts: dict[str, int] = {}
        doc = self.call_ok("rpc.discover", [])
        self.methods = {m["name"]: m for m in doc["methods"]}
        self.method_codes = {
            name: {e["code"] for e in m.get("errors", [])} for name, m in self.methods.items()
        }

    def call_ok(self, method: str, params: list) -> dict:
        r = self.http.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        body = r.json()
        if "result" not in body:
            raise SystemExit(f"{method} failed: {body}")
        return body["result"]

    def fail(self, kind: str, body: bytes, why: str) -> None:
        shown = body[:300].decode("utf-8", "replace")
        self.failures.append(f"[{kind}] {why}\n    request: {shown}")

    def allowed(self, request: object) -> set[int]:
        """The codes the documentation allows in answer to one call."""
        codes = set(PROTOCOL_CODES)
        if isinstance(request, dict) and isinstance(request.get("method"), str):
            codes |= self.method_codes.get(request["method"], set())
        return codes

    def send(self, kind: str, body: bytes, parsed: object | None) -> None:
        """POST raw `body` (`parsed`: what it is as JSON, if it is) and judge the answer."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        started = time.monotonic()
        try:
            r = self.http.post(self.url, content=body, headers={"content-type": "application/json"})
        except httpx.TimeoutException:
            self.fail(kind, body, f"no answer within {self.timeout} s")
            return
        except httpx.HTTPError as e:
            self.fail(kind, body, f"connection failed: {e!r}")
            return
        took = time.monotonic() - started
        if took > self.timeout:
            self.fail(kind, body, f"answered after {took:.1f} s")
        if len(body) > MAX_REQUEST_BYTES and r.status_code != 413:
            self.fail(kind, body, f"a body of {len(body)} bytes got HTTP {r.status_code}, not 413")
            return
        if r.status_code == 413:
            if len(body) <= MAX_REQUEST_BYTES:
                self.fail(kind, body, f"HTTP 413 for a body of {len(body)} bytes")
            elif b'"code":-32007' not in r.content:
                self.fail(kind, body, f"HTTP 413 without -32007: {r.text[:200]}")
            return
        if r.status_code == 400:
            # documented: a body that is not a JSON object or array
            if isinstance(parsed, (dict, list)) or not r.content.startswith(
                b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700'
            ):
                self.fail(kind, body, f"HTTP 400 without a parse error: {r.text[:200]}")
            return
        if r.status_code != 200:
            self.fail(kind, body, f"HTTP {r.status_code}: {r.text[:200]}")
            return
        try:
            answer = r.json()
        except ValueError:
            self.fail(kind, body, f"answer is not JSON: {r.content[:200]!r}")
            return
        if answer is None:
            # documented: a notification, or a call whose id is not a JSON-RPC id the
            # server takes, is not run and is answered `null`
            if not (isinstance(parsed, dict) and not valid_id(parsed)) and not (
                isinstance(parsed, list) and parsed and not any(isinstance(p, dict) and valid_id(p) for p in parsed)
            ):
                self.fail(kind, body, "answered null to a call with an id")
            return
        if isinstance(parsed, list) and len(parsed) > MAX_BATCH:
            if not (isinstance(answer, dict) and answer.get("error", {}).get("code") == -32010):
                self.fail(kind, body, f"a batch of {len(parsed)} calls was not refused with -32010")
            return
        if isinstance(parsed, dict) and isinstance(answer, dict):
            if not valid_id(parsed) and "result" in answer:
                self.fail(kind, body, "a request the docs say is not a call was run")
            elif valid_id(parsed) and "method" in parsed and answer.get("id") != parsed["id"]:
                self.fail(kind, body, f"answered with id {answer.get('id')!r}, not {parsed['id']!r}")
        if isinstance(answer, list):
            if parsed is None and body.lstrip().startswith(b"["):
                parsed = []  # a batch too deep for Python's parser
            if not isinstance(parsed, list):
                self.fail(kind, body, "a batch answer to a single call")
                return
            requests = [p for p in parsed if not (isinstance(p, dict) and "id" not in p and "method" in p)]
            if parsed and len(answer) > len(parsed):
                self.fail(kind, body, f"{len(answer)} answers to a batch of {len(parsed)}")
            codes = set(PROTOCOL_CODES)
            for p in parsed:
                codes |= self.allowed(p)
            for a in answer:
                self.judge(kind, body, a, codes)
            if not answer and requests:
                self.fail(kind, body, "an empty answer to a batch with calls")
        else:
            self.judge(kind, body, answer, self.allowed(parsed) if not isinstance(parsed, list) else set(PROTOCOL_CODES))

    def judge(self, kind: str, body: bytes, answer: object, codes: set[int]) -> None:
        if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0":
            self.fail(kind, body, f"not a JSON-RPC 2.0 answer: {str(answer)[:200]}")
            return
        if "result" in answer:
            return
        err = answer.get("error")
        if not isinstance(err, dict) or not isinstance(err.get("code"), int):
            self.fail(kind, body, f"neither result nor error: {str(answer)[:200]}")
            return
        if err["code"] == -32603:
            self.fail(kind, body, f"internal error (a bug): {err}")
        elif err["code"] not in codes:
            self.fail(kind, body, f"undocumented code {err['code']}: {str(err)[:200]}")

    # ---- the kinds of input -------------------------------------------------------------

    def params_strategy(self, method: dict) -> st.SearchStrategy:
        params = method.get("params", [])
        fixed = [from_schema(p["schema"]) for p in params]
        valid = st.tuples(*fixed).map(list) if fixed else st.just([])
        # one param replaced by a hostile value, params cut short, an extra param
        def hostile(ps: list) -> st.SearchStrategy:
            if not ps:
                return st.lists(HOSTILE, min_size=1, max_size=3)
            return st.one_of(
                st.tuples(st.integers(0, len(ps) - 1), HOSTILE).map(
                    lambda iv: ps[: iv[0]] + [iv[1]] + ps[iv[0] + 1 :]
                ),
                st.just(ps[:-1]),
                HOSTILE.map(lambda extra: ps + [extra]),
            )

        by_name = st.builds(
            lambda vals: {p["name"]: v for p, v in zip(params, vals)}, valid
        ) if params else st.just({})
        return st.one_of(valid, valid.flatmap(hostile), by_name, HOSTILE)

    def run_methods(self, examples: int, rng_seed: int) -> None:
        for name, method in sorted(self.methods.items()):
            strategy = self.params_strategy(method)

            @seed(rng_seed)
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(params=strategy, ident=st.one_of(st.integers(0, 2**53), st.text(max_size=8)))
            def one(params: object, ident: object) -> None:
                req = {"jsonrpc": "2.0", "id": ident, "method": name, "params": params}
                self.send("method", json.dumps(req).encode(), req)

            one()

    def run_envelopes(self, examples: int, rng_seed: int) -> None:
        names = sorted(self.methods) + ["no_such_method", "", "rpc.", "chain_getInfo "]
        envelope = st.fixed_dictionaries(
            {},
            optional={
                "jsonrpc": st.sampled_from(["2.0", "1.0", "2", 2.0, None]),
                "id": st.one_of(JSON_VALUES, st.just(2**64), st.just(-1)),
                "method": st.one_of(st.sampled_from(names), JSON_VALUES),
                "params": JSON_VALUES,
                "extra": JSON_VALUES,
            },
        )

        @seed(rng_seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(req=st.one_of(envelope, JSON_VALUES))
        def one(req: object) -> None:
            self.send("envelope", json.dumps(req).encode(), req)

        one()

    def run_raw(self, examples: int, rng_seed: int) -> None:
        good = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "chain_getInfo", "params": []}).encode()
        # (body, what the server must take it for: None for not JSON); a call that repeats
        # a member, or whose id is out of range, is not a call the server runs (docs/rpc.md)
        not_a_call = {"jsonrpc": "2.0", "method": "chain_getInfo"}
        fixed = [
            (b"", None),
            (b"{", None),
            (b"[", None),
            (b"null", None),
            (b"\xff\xfe\xfd", None),
            (b'{"jsonrpc":"2.0","id":1,"method":"chain_getInfo","params":[]', None),
            (b"[" * 100_000 + b"]" * 100_000, []),
            (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, None),
            (b'{"jsonrpc":"2.0","id":' + b"9" * 10_000 + b',"method":"chain_getInfo","params":[]}', not_a_call),
            (b'{"jsonrpc":"2.0","id":1,"method":"chain_getBlockByHeight","params":[1e999999]}', None),
            (b'{"jsonrpc":"2.0","id":1,"method":"chain_getInfo","params":[],"id":2}', not_a_call),
            (b'{"jsonrpc":"2.0","id":1,"method":"chain_getInfo","params":["\\ud800"]}', None),
            (good.replace(b"2.0", b"2.0\x00"), None),
        ]
        for body, parsed in fixed:
            self.send("raw", body, parsed)

        @seed(rng_seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(data=st.one_of(
            st.binary(max_size=400),
            st.integers(0, len(good)).map(lambda n: good[:n]),
            st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)).map(
                lambda iv: good[: iv[0]] + bytes([iv[1]]) + good[iv[0] + 1 :]
            ),
        ))
        def one(data: bytes) -> None:
            try:
                parsed = json.loads(data)
            except (ValueError, RecursionError):
                parsed = None
            self.send("raw", data, parsed)

        one()

    def run_batches(self, examples: int, rng_seed: int) -> None:
        call = st.fixed_dictionaries({
            "jsonrpc": st.just("2.0"),
            "id": st.integers(0, 1000),
            "method": st.sampled_from(sorted(self.methods)),
            "params": st.just([]),
        })
        item = st.one_of(call, JSON_VALUES, st.just({"jsonrpc": "2.0", "method": "chain_getInfo"}))

        @seed(rng_seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(batch=st.one_of(st.lists(item, max_size=8), st.lists(call, min_size=101, max_size=130)))
        def one(batch: list) -> None:
            self.send("batch", json.dumps(batch).encode(), batch)

        one()
        self.send("batch", b"[]", [])
        self.send("batch", b"[[]]", [[]])

    def run_limits(self) -> None:
        big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tx_submit",
                          "params": ["0x" + "00" * (600 * 1024)]}).encode()
        self.send("limit", big, None)

    def half_request(self) -> None:
        """A client that sends half a request and stops must not hold up anyone else."""
        u = urlparse(self.url)
        s = socket.create_connection((u.hostname, u.port), timeout=5)
        try:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"jsonrpc\":")
            started = time.monotonic()
            self.call_ok("chain_getInfo", [])
            took = time.monotonic() - started
            self.counts["half request"] = 1
            if took > 2:
                self.fail("half request", b"(half-sent request open)", f"another client waited {took:.1f} s")
        finally:
            s.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--examples", type=int, default=30, help="generated inputs per method and per kind")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random, printed)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds an answer may take")
    args = ap.parse_args()
    rng_seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"rpc_fuzz: {args.url} seed {rng_seed}, {args.examples} examples per method and kind")
    f = Fuzzer(args.url, args.timeout)
    started = time.monotonic()
    f.half_request()
    f.run_methods(args.examples, rng_seed)
    f.run_envelopes(args.examples * 4, rng_seed)
    f.run_raw(args.examples * 4, rng_seed)
    f.run_batches(args.examples, rng_seed)
    f.run_limits()
    try:
        f.call_ok("chain_getInfo", [])
        alive = True
    except Exception as e:  # noqa: BLE001 (any failure here is the verdict)
        f.failures.append(f"the node no longer answers chain_getInfo: {e!r}")
        alive = False
    total = sum(f.counts.values())
    took = time.monotonic() - started
    for kind, n in sorted(f.counts.items()):
        print(f"  {kind:<13} {n:>6} requests")
    print(f"  {total} requests in {took:.1f} s ({total / took:.0f}/s), node alive: {alive}")
    if f.failures:
        print(f"{len(f.failures)} failures (seed {rng_seed}):")
        for line in f.failures[: int(__import__("os").environ.get("RPC_FUZZ_SHOW", "30"))]:
            print("  " + line)
        return 1
    print("rpc_fuzz: every answer documented, none internal, none late")
    return 0


if __name__ == "__main__":
    sys.exit(main())
