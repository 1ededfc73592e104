#!/usr/bin/env python3
"""OpenRPC conformance of a live Palisade node, with tools from PyPI only.

1. The document.  `rpc.discover` must be an OpenRPC 1.x document: it is parsed into the
   `openrpc` package's models of every OpenRPC object, and any key that is not a field of
   the object it sits in (other than an `x-` extension) is refused, as the specification's
   meta-schema refuses it.  Every param, result and subscription-item schema must be a
   valid JSON Schema (draft-07 meta-schema, from `jsonschema`).  The rules the
   specification states in prose are checked too: unique method names, unique param names,
   required params before optional ones, unique error codes, examples that name real
   params and satisfy their schemas, and a `servers` entry that is this node.
2. Every method is called.  Examples go first: transactions of a funded account (--secret)
   signed here with docs/examples/sign_tx.py (PyNaCl + blake3, written from
   docs/tx-format.md), added to the document as OpenRPC example pairings; then params
   generated from each method's own param schemas by hypothesis-jsonschema, sent by
   position or by name as `paramStructure` allows.  Every result must validate against
   the method's result schema, and every error must carry a code the method documents in
   `errors` (with the documented `data.reason`).  Params that satisfy the schemas must
   never be refused as "Invalid params" (-32602): the schemas describe what the server
   parses.  Params outside the schemas must be refused with a documented code.  Every
   method must succeed at least once.  Subscriptions run over WebSocket: the subscription
   id, every notification item and the unsubscribe answers are checked the same way.
3. openrpcclientgenerator generates a Python client from the live document, which is
   imported and used to call every HTTP method again.

Usage: openrpc_check.py --url http://127.0.0.1:26756 --secret 0x<funded account's secret>
       [--generated N] [--seed S] [--client-dir DIR]
(`palisade testnet` prints dev accounts with their secrets.)
Prints a line per method and exits 1 with the list of failures if anything does not conform.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import random
import re
import sys
import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import jsonschema
import openrpc
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from pydantic import BaseModel, ValidationError
from websockets.sync.client import connect as ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "examples"))
from sign_tx import b32, sign  # noqa: E402  (docs/examples/sign_tx.py)
from nacl.signing import SigningKey  # noqa: E402

INVALID_PARAMS = -32602
# JSON-RPC 2.0 reserves -32000..-32099 for implementation-defined server errors
SERVER_ERRORS = range(-32099, -32000 + 1)
PREDEFINED = {-32700, -32600, -32601, -32602, -32603}
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
# first of these that a param's schema refuses is sent as a wrongly typed param
NOT_OF_SCHEMA = [{"not": "expected"}, 3.5, True, "zz", ["zz"], -1, None]
MISSING = object()


@dataclass
class Stats:
    results: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    # (by-name params, outcome) of the first successful generated call, else the first one
    replay: tuple[dict[str, Any], str] | None = None


class Check:
    def __init__(self, url: str) -> None:
        self.url = url
        self.ws_url = re.sub(r"^http", "ws", url)
        self.http = httpx.Client(timeout=30)
        self.failures: list[str] = []
        self.stats: dict[str, Stats] = {}
        self.next_id = 0

    def fail(self, msg: str) -> None:
        self.failures.append(msg)

    # -- transport -------------------------------------------------------------------

    def request(self, method: str, params: Any) -> dict[str, Any]:
        self.next_id += 1
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not MISSING:
            body["params"] = params
        r = self.http.post(self.url, json=body)
        try:
            resp = r.json()
        except ValueError:
            raise AssertionError(f"{method}: HTTP {r.status_code}, not JSON: {r.text[:200]!r}")
        self.check_envelope(method, resp, self.next_id)
        return resp

    def check_envelope(self, method: str, resp: Any, want_id: int) -> None:
        """A JSON-RPC 2.0 response object: version, matching id, result xor error."""
        ok = (
            isinstance(resp, dict)
            and resp.get("jsonrpc") == "2.0"
            and resp.get("id") == want_id
            and (("result" in resp) != ("error" in resp))
        )
        if ok and "error" in resp:
            e = resp["error"]
            ok = (
                isinstance(e, dict)
                and isinstance(e.get("code"), int)
                and not isinstance(e.get("code"), bool)
                and isinstance(e.get("message"), str)
            )
        if not ok:
            raise AssertionError(f"{method}: not a JSON-RPC 2.0 response: {str(resp)[:300]}")

    # -- schemas and errors ----------------------------------------------------------

    @staticmethod
    def schema_errors(schema: Any, value: Any) -> list[str]:
        v = jsonschema.Draft7Validator(schema)
        return [f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in v.iter_errors(value)]

    def check_result(self, m: dict[str, Any], result: Any, how: str) -> bool:
        errs = self.schema_errors(m["result"]["schema"], result)
        if errs:
            self.fail(f"{m['name']} ({how}): result does not match its schema: {errs[:3]}; result {str(result)[:300]}")
            return False
        if m["name"] == "tx_submitMany":
            # each refused transaction carries an error object of tx_submit's codes
            for o in result:
                if o.get("error") is not None:
                    self.check_error(m, o["error"], how + ", an outcome")
        return True

    def check_error(self, m: dict[str, Any], err: dict[str, Any], how: str) -> int:
        code = err.get("code")
        documented = {e["code"]: e for e in m.get("errors") or []}
        doc = documented.get(code)
        if doc is None:
            self.fail(f"{m['name']} ({how}): error code {code} is not among the documented {sorted(documented)}: {err}")
            return code
        if code in SERVER_ERRORS:
            data = err.get("data")
            reason = data.get("reason") if isinstance(data, dict) else None
            want = doc.get("data") or {}
            if not isinstance(reason, str) or not SNAKE.match(reason):
                self.fail(f"{m['name']} ({how}): server error without a snake_case data.reason: {err}")
            elif "reason" in want and reason != want["reason"]:
                self.fail(f"{m['name']} ({how}): code {code} with reason {reason!r}, documented {want['reason']!r}")
            elif "reasons" in want and reason not in want["reasons"]:
                self.fail(f"{m['name']} ({how}): code {code} with reason {reason!r}, not among {want['reasons']}")
        return code

    def record(self, m: dict[str, Any], resp: dict[str, Any], how: str, schema_valid: bool) -> str:
        """Check one answer; 'result' or 'error'."""
        s = self.stats.setdefault(m["name"], Stats())
        if "result" in resp:
            if self.check_result(m, resp["result"], how):
                s.results += 1
            return "result"
        code = self.check_error(m, resp["error"], how)
        s.errors[code] = s.errors.get(code, 0) + 1
        if schema_valid and code == INVALID_PARAMS:
            self.fail(f"{m['name']} ({how}): params that satisfy the schemas refused as invalid params: {resp['error']}")
        return "error"

    # -- 1. the document -------------------------------------------------------------

    def check_document(self, doc: dict[str, Any]) -> None:
        try:
            openrpc.OpenRPC.model_validate(doc)
        except ValidationError as e:
            self.fail(f"document: not an OpenRPC document: {e}")
            return
        self.unknown_keys(doc, openrpc.OpenRPC, "$")
        if not re.fullmatch(r"1\.\d+\.\d+", str(doc.get("openrpc"))):
            self.fail(f"document: openrpc {doc.get('openrpc')!r} is not a 1.x version")
        servers = doc.get("servers")
        if not (isinstance(servers, list) and any(s.get("url") == self.url for s in servers)):
            self.fail(f"document: servers {servers} do not name this node ({self.url})")
        names = [m["name"] for m in doc["methods"]]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            self.fail(f"document: method names twice: {sorted(dupes)}")
        for m in doc["methods"]:
            self.check_method_doc(m)

    def unknown_keys(self, raw: Any, model: type[BaseModel], path: str) -> None:
        """Refuse keys the OpenRPC object does not define (x- extensions aside), as the
        specification's meta-schema does; JSON Schemas are checked by their meta-schema."""
        if not isinstance(raw, dict) or model is openrpc.Schema:
            return
        fields = {(f.alias or n): f for n, f in model.model_fields.items()}
        for key, value in raw.items():
            if key.startswith("x-"):
                continue
            f = fields.get(key)
            if f is None:
                self.fail(f"document: {path}: `{key}` is not a field of an OpenRPC {model.__name__} object")
                continue
            self.walk(value, f.annotation, f"{path}.{key}")

    def walk(self, value: Any, annotation: Any, path: str) -> None:
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
            self.unknown_keys(value, annotation, path)
            return
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is list and isinstance(value, list):
            for i, item in enumerate(value):
                self.walk(item, args[0], f"{path}[{i}]")
        elif origin is dict and isinstance(value, dict):
            for k, item in value.items():
                self.walk(item, args[1], f"{path}.{k}")
        elif args:  # Optional / Union: the alternative that fits the shape
            for alt in args:
                alt_origin = typing.get_origin(alt)
                if (alt_origin is list and isinstance(value, list)) or (
                    inspect.isclass(alt) and issubclass(alt, BaseModel) and isinstance(value, dict)
                ):
                    self.walk(value, alt, path)
                    return

    def check_method_doc(self, m: dict[str, Any]) -> None:
        name = m["name"]
        params = m["params"]
        pnames = [p["name"] for p in params]
        if len(set(pnames)) != len(pnames):
            self.fail(f"{name}: param names twice: {pnames}")
        required = [p.get("required", False) for p in params]
        if required != sorted(required, reverse=True):
            self.fail(f"{name}: a required param after an optional one: {pnames} {required}")
        codes = [e["code"] for e in m.get("errors") or []]
        if len(set(codes)) != len(codes):
            self.fail(f"{name}: error codes twice: {codes}")
        for c in codes:
            # JSON-RPC 2.0 reserves -32768..-32000: its own codes and server errors only
            if -32768 <= c <= -32000 and c not in SERVER_ERRORS and c not in PREDEFINED:
                self.fail(f"{name}: error code {c} is reserved by JSON-RPC 2.0")
        schemas = [(f"param {p['name']}", p["schema"]) for p in params]
        schemas.append(("result", m["result"]["schema"]))
        sub = m.get("x-subscription")
        if sub is not None:
            schemas.append(("subscription item", sub["item"]["schema"]))
        for what, schema in schemas:
            try:
                jsonschema.Draft7Validator.check_schema(schema)
            except jsonschema.SchemaError as e:
                self.fail(f"{name}: {what} schema is not a valid JSON Schema: {e.message}")
        for ex in m.get("examples") or []:
            given_names = [p["name"] for p in ex["params"]]
            missing = [p["name"] for p in params if p.get("required") and p["name"] not in given_names]
            extra = [n for n in given_names if n not in pnames]
            if missing or extra:
                self.fail(f"{name}: example {ex['name']!r} misses {missing} or names unknown {extra}")
            for p in ex["params"]:
                if p["name"] in pnames:
                    schema = params[pnames.index(p["name"])]["schema"]
                    errs = self.schema_errors(schema, p.get("value"))
                    if errs:
                        self.fail(f"{name}: example {ex['name']!r} param {p['name']}: {errs[:3]}")
            res = ex.get("result")
            if res is not None and res.get("value") is not None:
                errs = self.schema_errors(m["result"]["schema"], res["value"])
                if errs:
                    self.fail(f"{name}: example {ex['name']!r} result: {errs[:3]}")

    # -- 2. calls over HTTP ----------------------------------------------------------

    def signed_examples(self, secret: bytes) -> dict[str, list[dict[str, Any]]]:
        """Example pairings with transactions of `secret`'s account at its next nonces:
        n submitted (its hash is the expected result), n simulated, n+1 followed to finality
        over WebSocket, n+2 in a tx_submitMany beside bytes that do not decode, and a mining
        claim for block 1 (answered, accepted or not)."""
        def call(method: str, *params: Any) -> Any:
            resp = self.request(method, list(params))
            if "result" not in resp:
                raise SystemExit(f"{method} failed: {resp['error']}")
            return resp["result"]

        sender = "0x" + SigningKey(secret).verify_key.encode().hex()
        info = call("chain_getInfo")
        n = call("account_getNonce", sender)
        sink = "0x" + "5d" * 32

        def signed(nonce: int, kind: dict[str, Any]) -> tuple[str, str]:
            tx = {"chain_id": info["chainId"], "sender": sender, "nonce": nonce,
                  "expiry_height": info["finalizedHeight"] + 1000, "kind": kind}
            s = sign(secret, tx)
            return "0x" + s["signed_tx"].hex(), "0x" + s["tx_id"].hex()

        def transfer(nonce: int, amount: int) -> tuple[str, str]:
            return signed(nonce, {"type": "transfer", "to": sink, "amount": str(amount)})

        def pairing(what: str, params: dict[str, Any], result: Any = None) -> list[dict[str, Any]]:
            return [{"name": what, "params": [{"name": k, "value": v} for k, v in params.items()],
                     "result": {"name": "result", "value": result}}]

        submit, submit_hash = transfer(n, 1)
        claim, _ = signed(n, {"type": "claim_mining_reward", "height": 1, "nonce": 7})
        return {
            "tx_submit": pairing("a transfer", {"tx": submit}, submit_hash),
            "tx_simulate": pairing("a transfer", {"tx": transfer(n, 2)[0]}),
            "tx_submitAndWatch": pairing("a transfer", {"tx": transfer(n + 1, 3)[0]}),
            "tx_submitMany": pairing("junk and a transfer", {"txs": ["0x0102", transfer(n + 2, 4)[0]]}),
            "mining_submitWork": pairing("a claim for block 1", {"tx": claim, "seed": None}),
        }

    @staticmethod
    def shaped(m: dict[str, Any], values: list[Any], by_name: bool) -> Any:
        """Params as the method takes them: a list (trailing missing ones dropped) or an
        object keyed by the documented names."""
        if by_name:
            return {p["name"]: v for p, v in zip(m["params"], values) if v is not MISSING}
        out = list(values)
        while out and out[-1] is MISSING:
            out.pop()
        return out

    def run_examples(self, m: dict[str, Any]) -> None:
        for ex in m.get("examples") or []:
            by_name = {p["name"]: p.get("value") for p in ex["params"]}
            values = [by_name.get(p["name"], MISSING) for p in m["params"]]
            resp = self.request(m["name"], self.shaped(m, values, by_name=False))
            how = f"example {ex['name']!r}"
            if self.record(m, resp, how, schema_valid=True) != "result":
                self.fail(f"{m['name']} ({how}): answered an error: {resp['error']}")
                continue
            want = (ex.get("result") or {}).get("value")
            if want is not None and resp["result"] != want:
                self.fail(f"{m['name']} ({how}): result {resp['result']!r}, the example says {want!r}")

    def params_strategy(self, m: dict[str, Any]) -> st.SearchStrategy:
        parts = []
        for p in m["params"]:
            s = from_schema(p["schema"])
            parts.append(s if p.get("required") else st.one_of(st.just(MISSING), s))
        return st.tuples(*parts)

    def run_generated(self, m: dict[str, Any], n: int, rng_seed: int) -> None:
        by_name_ok = m.get("paramStructure", "either") != "by-position"
        stats = self.stats.setdefault(m["name"], Stats())

        @seed(rng_seed)
        @settings(
            max_examples=n,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(self.params_strategy(m), st.booleans())
        def one(values: tuple[Any, ...], by_name: bool) -> None:
            by_name = by_name and by_name_ok
            params = self.shaped(m, list(values), by_name)
            resp = self.request(m["name"], params)
            how = f"generated, by {'name' if by_name else 'position'}: {str(params)[:200]}"
            outcome = self.record(m, resp, how, schema_valid=True)
            named = self.shaped(m, list(values), True)
            if stats.replay is None or (outcome == "result" and stats.replay[1] != "result"):
                stats.replay = (named, outcome)

        if m["params"]:
            one()
        else:
            for params in ([], MISSING) + (({},) if by_name_ok else ()):
                resp = self.request(m["name"], params)
                outcome = self.record(m, resp, f"params {params if params is not MISSING else 'left out'}", True)
                if stats.replay is None:
                    stats.replay = ({}, outcome)

    def run_outside_schema(self, m: dict[str, Any]) -> None:
        """Params the schemas refuse are refused with a documented code."""
        params = m["params"]
        required = [p for p in params if p.get("required")]
        if not required or m.get("paramStructure") == "by-position":
            return
        cases: list[tuple[str, Any]] = [("no params", []), ("an unknown name only", {"bogus": 1})]
        first = params[0]
        wrong = next((v for v in NOT_OF_SCHEMA if self.schema_errors(first["schema"], v)), None)
        if wrong is not None:
            rest = [p for p in params[1:] if p.get("required")]
            # the other params from their examples, else anything their schema takes
            fill = [self.any_valid(p["schema"]) for p in rest]
            cases.append((f"{first['name']} = {wrong!r}", [wrong, *fill]))
            cases.append((f"{first['name']} = {wrong!r}, by name", {first["name"]: wrong, **{p["name"]: v for p, v in zip(rest, fill)}}))
        for what, ps in cases:
            resp = self.request(m["name"], ps)
            if "result" in resp:
                self.fail(f"{m['name']} ({what}): params outside the schemas were answered {str(resp['result'])[:200]}")
            else:
                self.record(m, resp, what, schema_valid=False)

    @staticmethod
    def any_valid(schema: Any) -> Any:
        found: list[Any] = []

        @settings(max_examples=1, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(from_schema(schema))
        def take(v: Any) -> None:
            if not found:
                found.append(v)

        take()
        return found[0]

    # -- subscriptions over WebSocket ------------------------------------------------

    def ws_call(self, ws: Any, method: str, params: Any, pending: list[dict[str, Any]]) -> dict[str, Any]:
        self.next_id += 1
        want = self.next_id
        ws.send(json.dumps({"jsonrpc": "2.0", "id": want, "method": method, "params": params}))
        deadline = time.monotonic() + 30
        while True:
            msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "id" in msg and msg.get("method") is None:
                self.check_envelope(method, msg, want)
                return msg
            pending.append(msg)

    def ws_items(self, ws: Any, m: dict[str, Any], sub_id: Any, pending: list[dict[str, Any]],
                 want: int, until_final: bool, timeout: float) -> list[Any]:
        """Notifications of subscription `sub_id`, each checked against the item schema."""
        sub = m["x-subscription"]
        items: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pending:
                msg = pending.pop(0)
            else:
                try:
                    msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                except TimeoutError:
                    break
            p = msg.get("params") or {}
            if msg.get("method") != sub["notification"] or p.get("subscription") != sub_id:
                continue
            errs = self.schema_errors(sub["item"]["schema"], p.get("result"))
            if errs:
                self.fail(f"{m['name']}: notification item does not match its schema: {errs[:3]}; {str(p.get('result'))[:300]}")
            items.append(p.get("result"))
            if until_final and p.get("result", {}).get("status") in ("finalized", "rejected"):
                break
            if not until_final and len(items) >= want:
                break
        return items

    def run_subscription(self, m: dict[str, Any], by_name: dict[str, dict[str, Any]], n: int, rng_seed: int) -> None:
        sub = m["x-subscription"]
        unsub = by_name[sub["unsubscribe"]]
        watch = bool(m["params"])  # tx_submitAndWatch follows one transaction to its end
        stats = self.stats.setdefault(m["name"], Stats())
        with ws_connect(self.ws_url, open_timeout=10, max_size=2**24) as ws:
            pending: list[dict[str, Any]] = []
            runs = [(f"example {ex['name']!r}", [p.get("value") for p in ex["params"]]) for ex in m.get("examples") or []]
            if not watch:
                runs = [("no params", [])]
            if watch and not runs:
                self.fail(f"{m['name']}: needs an example (a transaction to follow)")
            for how, params in runs:
                resp = self.ws_call(ws, m["name"], params, pending)
                if self.record(m, resp, how, schema_valid=True) != "result":
                    self.fail(f"{m['name']} ({how}): answered an error: {resp['error']}")
                    continue
                sub_id = resp["result"]
                items = self.ws_items(ws, m, sub_id, pending, want=2, until_final=watch, timeout=60)
                if (watch and not items) or (not watch and len(items) < 2):
                    self.fail(f"{m['name']} ({how}): {len(items)} notifications of {sub['notification']} within 60 s")
                if watch and items and items[-1].get("status") != "finalized":
                    self.fail(f"{m['name']} ({how}): the example ended {items[-1]}, not finalized")
                stats.replay = ({}, "result")
                # unsubscribe: true while it lives, false after (a watch ends by itself)
                for expect in ([False] if watch else [True, False]):
                    resp = self.ws_call(ws, unsub["name"], [sub_id], pending)
                    if self.record(unsub, resp, "a subscription of this test", True) == "result" and resp["result"] is not expect:
                        self.fail(f"{unsub['name']}: answered {resp['result']}, expected {expect}")

            # generated params: for the watch, transactions that do not decode
            if watch:
                @seed(rng_seed)
                @settings(max_examples=max(3, n // 5), deadline=None, database=None,
                          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
                @given(self.params_strategy(m), st.booleans())
                def one(values: tuple[Any, ...], named: bool) -> None:
                    params = self.shaped(m, list(values), named)
                    resp = self.ws_call(ws, m["name"], params, pending)
                    if self.record(m, resp, f"generated: {str(params)[:200]}", True) == "result":
                        self.ws_call(ws, unsub["name"], [resp["result"]], pending)

                one()
                self.run_outside_schema_ws(ws, m, pending)

            # unsubscribe with ids that are not this connection's
            @seed(rng_seed)
            @settings(max_examples=max(3, n // 5), deadline=None, database=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(self.params_strategy(unsub))
            def gone(values: tuple[Any, ...]) -> None:
                resp = self.ws_call(ws, unsub["name"], list(values), pending)
                if self.record(unsub, resp, f"generated: {str(values)[:100]}", True) == "result" and resp["result"] is not False:
                    self.fail(f"{unsub['name']}: a subscription id never issued ({values}) was closed")

            gone()

    def run_outside_schema_ws(self, ws: Any, m: dict[str, Any], pending: list[dict[str, Any]]) -> None:
        for what, ps in [("no params", []), ("tx = 3.5", [3.5]), ("tx = 'zz', by name", {"tx": "zz"})]:
            resp = self.ws_call(ws, m["name"], ps, pending)
            if "result" in resp:
                self.fail(f"{m['name']} ({what}): params outside the schemas were answered {resp['result']!r}")
            else:
                self.record(m, resp, what, schema_valid=False)

    # -- 3. a client generated from the document -------------------------------------

    def generated_client(self, doc: dict[str, Any], out: Path, http_methods: list[dict[str, Any]]) -> None:
        from openrpcclientgenerator import Language, generate

        name = generate(openrpc.OpenRPC.model_validate(doc), Language.PYTHON, self.url, out)
        pkg = name.replace("-", "_")
        sys.path.insert(0, str(out / "python" / name))
        module = importlib.import_module(f"{pkg}.client")
        roots = [c for _, c in inspect.getmembers(module, inspect.isclass)
                 if c.__module__ == module.__name__ and "headers" in inspect.signature(c.__init__).parameters]
        if len(roots) != 1:
            self.fail(f"generated client: expected one client class in {module.__file__}, found {roots}")
            return
        client = roots[0](headers={})

        async def call_all() -> int:
            calls = 0
            for m in http_methods:
                s = self.stats.get(m["name"])
                if s is None or s.replay is None:
                    continue
                params, outcome = s.replay
                target: Any = client
                *groups, last = m["name"].split(".")
                for g in groups:
                    target = getattr(target, g)
                fn = getattr(target, re.sub(r"(?<!^)(?=[A-Z])", "_", last).lower())
                kwargs = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in params.items()}
                how = f"generated client, {fn.__name__}({str(kwargs)[:150]})"
                calls += 1
                try:
                    result = await fn(**kwargs)
                except Exception as e:  # the client raises JSON-RPC errors
                    err = getattr(e, "rpc_error", None)
                    if outcome == "result" or err is None:
                        self.fail(f"{m['name']} ({how}): {type(e).__name__}: {e}")
                    else:
                        self.check_error(m, err.model_dump(), how)
                    continue
                if isinstance(result, BaseModel):
                    result = result.model_dump(by_alias=True)
                self.check_result(m, result, how)
            return calls

        n = asyncio.run(call_all())
        print(f"generated client {name}: {n} methods called through it")


def run(url: str, secret: bytes | None, generated: int, rng_seed: int, client_dir: Path | None,
        mutate: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
    """The whole check; the failures.  `secret` None: no signed examples (some methods then
    never answer a result); `client_dir` None: no generated client; `mutate` edits the live
    document before it is checked (scripts/openrpc_check_selftest.py breaks it on purpose)."""
    c = Check(url)
    resp = c.request("rpc.discover", [])
    if "result" not in resp:
        return [f"rpc.discover failed: {resp}"]
    doc = resp["result"]
    if mutate is not None:
        mutate(doc)
    c.check_document(doc)
    methods = {m["name"]: m for m in doc.get("methods", [])}
    if secret is not None:
        for name, pairings in c.signed_examples(secret).items():
            if name not in methods:
                c.fail(f"examples: {name} is not a method of the document")
                continue
            methods[name]["examples"] = pairings
        c.check_document(doc)  # the examples are OpenRPC example pairings of the right params
    if c.failures:
        return ["(document) " + f for f in c.failures]
    print(f"document: OpenRPC {doc['openrpc']}, {len(methods)} methods, valid")

    served = c.request("rpc_methods", [])
    if set((served.get("result") or {}).get("methods", [])) != set(methods):
        c.fail(f"rpc_methods {served} differs from the document's methods {sorted(methods)}")

    subs = [m for m in methods.values() if "x-subscription" in m]
    ws_only = {m["x-subscription"]["unsubscribe"] for m in subs} | {m["name"] for m in subs}
    http_methods = [m for m in methods.values() if m["name"] not in ws_only]
    for m in http_methods:
        c.run_examples(m)
    for m in http_methods:
        c.run_generated(m, generated, rng_seed)
        c.run_outside_schema(m)
    for m in subs:
        c.run_subscription(m, methods, generated, rng_seed)

    for name in methods:
        s = c.stats.get(name, Stats())
        errs = ", ".join(f"{code}×{k}" for code, k in sorted(s.errors.items())) or "none"
        print(f"  {name:34} results {s.results:4}  errors {errs}")
        if s.results == 0:
            c.fail(f"{name}: never answered a result, so its result schema was never checked")

    if client_dir is not None:
        c.generated_client(doc, client_dir, http_methods)
    return c.failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="the node's JSON-RPC URL (http://…)")
    ap.add_argument("--secret", required=True,
                    help="32-byte ed25519 secret of an account with coins and the transact role, 0x hex")
    ap.add_argument("--generated", type=int, default=40, help="generated calls per method (default 40)")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random, printed)")
    ap.add_argument("--client-dir", type=Path, default=None, help="where the generated client goes")
    args = ap.parse_args()
    rng_seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"openrpc_check: {args.url}, {args.generated} generated calls per method, seed {rng_seed}")
    client_dir = args.client_dir or Path(tempfile.mkdtemp(prefix="palisade-openrpc-client-"))
    failures = run(args.url, b32(args.secret), args.generated, rng_seed, client_dir)
    if failures:
        print(f"FAILED: {len(failures)} problems (seed {rng_seed})")
        for f in failures[:60]:
            print(f"  - {f}")
        return 1
    print(f"Success: every method conforms to the document (seed {rng_seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
