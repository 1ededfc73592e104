//! The OpenRPC document `rpc.discover` returns.
//!
//! Param and result schemas are generated (schemars) from the same Rust types the `#[rpc]`
//! traits use, so a changed type changes the document. The method list is written out
//! here once; [`check_served`] compares it with the names the server really registers (the
//! node refuses to start on a difference, and a test checks it too). Each method lists the
//! error codes it can answer with. `scripts/openrpc_check.py` (run by the test suite)
//! validates the live document against the OpenRPC models and the JSON Schema meta-schema,
//! then calls every method with schema-generated params and checks every result against its
//! schema and every error against the method's codes.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Value, json};

use crate::error_codes::*;
use crate::types::*;

/// JSON-RPC 2.0's code for params that are not the method's JSON types (jsonrpsee answers it).
pub const INVALID_PARAMS: i32 = jsonrpsee::types::error::INVALID_PARAMS_CODE;

/// One method of the document.
#[derive(Debug)]
pub struct MethodDoc {
    /// Full name, e.g. `chain_getInfo`.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Parameters, in positional order.
    pub params: Vec<ParamDoc>,
    /// Result name and schema.
    pub result: (&'static str, Value),
    /// For subscriptions: the notification method and its unsubscribe method.
    pub subscription: Option<(&'static str, &'static str)>,
    /// The error codes it answers with, besides those of the transport that any call can
    /// get (−32700 parse error, −32600 invalid request, −32601 method not found, −32007
    /// request too big, −32010 batch too large, −32006 too many subscriptions).
    pub errors: Vec<i32>,
    /// OpenRPC `paramStructure`: jsonrpsee takes params by position or by name (the
    /// documented name or its snake_case form), except in unsubscribe calls (by position).
    pub param_structure: &'static str,
}

impl MethodDoc {
    /// Also answers with `codes`.
    fn errors(mut self, codes: &[i32]) -> Self {
        self.errors.extend_from_slice(codes);
        self
    }
}

/// One parameter of a method.
#[derive(Debug)]
pub struct ParamDoc {
    /// Its name; a by-name call uses it (or its snake_case form) as the key.
    pub name: &'static str,
    /// One line on what it is.
    pub description: &'static str,
    /// Its JSON schema.
    pub schema: Value,
    /// False for a trailing `Option` parameter, which may be left out.
    pub required: bool,
}

fn p(name: &'static str, description: &'static str, schema: Value) -> ParamDoc {
    ParamDoc {
        name,
        description,
        schema,
        required: true,
    }
}

fn optional(name: &'static str, description: &'static str, schema: Value) -> ParamDoc {
    ParamDoc {
        required: false,
        ..p(name, description, schema)
    }
}

/// The JSON schema of `T` (draft-07, inlined, without keywords generic tools reject).
pub fn schema<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft07()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let root: Schema = generator.into_root_schema_for::<T>();
    let mut v = root.to_value();
    clean(&mut v);
    v
}

/// Drop `format` (schemars writes Rust formats like `uint64` that JSON Schema validators
/// do not know, turning the integer ones into the `minimum`/`maximum` they stand for, so a
/// schema-valid number is one the server can parse) and `title` noise, keeping property
/// names intact.
fn clean(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some((min, max)) = map
                .remove("format")
                .and_then(|f| f.as_str().and_then(integer_bounds))
            {
                map.entry("minimum").or_insert(min);
                map.entry("maximum").or_insert(max);
            }
            map.remove("title");
            for (k, child) in map.iter_mut() {
                if k == "properties" {
                    if let Value::Object(props) = child {
                        props.values_mut().for_each(clean);
                    }
                } else {
                    clean(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean),
        _ => {}
    }
}

/// The range of a schemars integer format (`uint64`, …); `None` for any other format.
fn integer_bounds(format: &str) -> Option<(Value, Value)> {
    Some(match format {
        "uint8" => (json!(0), json!(u8::MAX)),
        "uint16" => (json!(0), json!(u16::MAX)),
        "uint32" => (json!(0), json!(u32::MAX)),
        "uint64" | "uint" => (json!(0), json!(u64::MAX)),
        "int8" => (json!(i8::MIN), json!(i8::MAX)),
        "int16" => (json!(i16::MIN), json!(i16::MAX)),
        "int32" => (json!(i32::MIN), json!(i32::MAX)),
        "int64" | "int" => (json!(i64::MIN), json!(i64::MAX)),
        _ => return None,
    })
}

fn hex_schema(len: usize, what: &str) -> Value {
    json!({
        "type": "string",
        "pattern": format!("^0x[0-9a-fA-F]{{{}}}$", len * 2),
        "description": what,
    })
}

fn tx_hex() -> Value {
    json!({
        "type": "string",
        "pattern": "^0x([0-9a-fA-F]{2})+$",
        "description": "a signed transaction, canonical bytes (docs/tx-format.md) as 0x hex",
    })
}

fn m(
    name: &'static str,
    summary: &'static str,
    params: Vec<ParamDoc>,
    result: (&'static str, Value),
) -> MethodDoc {
    // every call can be rate limited or fail inside the node; params can fail to parse
    let mut errors = vec![RATE_LIMITED, INTERNAL];
    if !params.is_empty() {
        errors.insert(0, INVALID_PARAMS);
    }
    MethodDoc {
        name,
        summary,
        params,
        result,
        subscription: None,
        errors,
        param_structure: "either",
    }
}

fn sub(
    name: &'static str,
    summary: &'static str,
    params: Vec<ParamDoc>,
    item: Value,
    notification: &'static str,
    unsubscribe: &'static str,
) -> MethodDoc {
    MethodDoc {
        subscription: Some((notification, unsubscribe)),
        ..m(name, summary, params, ("item", item))
    }
}

/// Every method served, in the order of `docs/rpc.md`.
pub fn methods() -> Vec<MethodDoc> {
    let key = || hex_schema(32, "an ed25519 public key, 0x hex");
    let hash = || hex_schema(32, "a 32-byte blake3 hash, 0x hex");
    let mut all = vec![
        m(
            "rpc.discover",
            "This OpenRPC document.",
            vec![],
            ("document", json!({"type": "object"})),
        ),
        m(
            "rpc_methods",
            "Names of every method served.",
            vec![],
            ("methods", schema::<RpcMethods>()),
        ),
        m(
            "node_health",
            "Readiness, heights, peers, mempool size.",
            vec![],
            ("health", schema::<NodeHealth>()),
        ),
        m(
            "node_syncing",
            "Whether the node is catching up, and how far.",
            vec![],
            ("sync", schema::<SyncState>()),
        ),
        m(
            "node_peers",
            "Connected peers.",
            vec![],
            ("peers", schema::<Vec<PeerInfo>>()),
        ),
        m(
            "node_version",
            "Software and format versions, chain served.",
            vec![],
            ("version", schema::<NodeVersion>()),
        ),
        m(
            "chain_getInfo",
            "Chain id, genesis hash, head and finalized heights, view, epoch, validators.",
            vec![],
            ("info", schema::<ChainInfo>()),
        ),
        m(
            "chain_getBlockByHeight",
            "A finalized block by height, or null.",
            vec![p("height", "block height", schema::<u64>())],
            ("block", schema::<Option<BlockInfo>>()),
        )
        .errors(&[UNAVAILABLE]),
        m(
            "chain_getBlockByHash",
            "A finalized block by hash, or null.",
            vec![p("hash", "block hash", hash())],
            ("block", schema::<Option<BlockInfo>>()),
        )
        .errors(&[INVALID_VALUE]),
        m(
            "chain_getValidators",
            "The current validators, their power and the quorum.",
            vec![],
            ("validators", schema::<ValidatorsInfo>()),
        ),
        m(
            "chain_getFinalityProof",
            "What proves a finalized block final to a client trusting only genesis: header, proposals, certificate, validator sets; null above the head.",
            vec![p("height", "block height", schema::<u64>())],
            ("proof", schema::<Option<FinalityProofInfo>>()),
        )
        .errors(&[UNAVAILABLE]),
        m(
            "account_getInfo",
            "Balance, next nonce and roles of an account.",
            vec![p("publicKey", "the account", key())],
            ("account", schema::<AccountInfo>()),
        )
        .errors(&[INVALID_VALUE]),
        m(
            "account_getBalance",
            "An account's balance as a decimal string.",
            vec![p("publicKey", "the account", key())],
            ("balance", json!({"type": "string", "pattern": "^[0-9]+$"})),
        )
        .errors(&[INVALID_VALUE]),
        m(
            "account_getNonce",
            "The nonce an account's next transaction must carry.",
            vec![p("publicKey", "the account", key())],
            ("nonce", schema::<u64>()),
        )
        .errors(&[INVALID_VALUE]),
        m(
            "state_getProof",
            "A Merkle proof of an account (or its absence) against the last finalized header.",
            vec![p("publicKey", "the account", key())],
            ("proof", schema::<AccountProofInfo>()),
        )
        .errors(&[INVALID_VALUE]),
        m(
            "tx_submit",
            "Submit a signed transaction; returns its hash once admitted to the mempool.",
            vec![p("tx", "the signed transaction", tx_hex())],
            ("hash", hash()),
        )
        .errors(&[INVALID_VALUE, TX_REJECTED, MEMPOOL_FULL, NOT_READY]),
        m(
            "tx_submitMany",
            "Submit up to 1,000 signed transactions; per transaction its hash once admitted, or the error tx_submit would give.",
            vec![p(
                "txs",
                "signed transactions",
                json!({"type": "array", "items": tx_hex(), "maxItems": crate::MAX_SUBMIT_TXS}),
            )],
            (
                "outcomes",
                json!({"type": "array", "items": schema::<SubmitOutcome>()}),
            ),
        )
        .errors(&[INVALID_VALUE, TX_REJECTED, MEMPOOL_FULL, NOT_READY]),
        m(
            "tx_getStatus",
            "Status of up to 1,000 transactions.",
            vec![p(
                "hashes",
                "transaction hashes",
                json!({"type": "array", "items": hash(), "maxItems": crate::MAX_STATUS_HASHES}),
            )],
            ("statuses", schema::<Vec<TxStatus>>()),
        )
        .errors(&[INVALID_VALUE]),
        m(
            "tx_get",
            "A transaction with its status and receipt, or null.",
            vec![p("hash", "transaction hash", hash())],
            ("tx", schema::<Option<TxInfo>>()),
        )
        .errors(&[INVALID_VALUE]),
        m(
            "tx_simulate",
            "Execute a signed transaction on the latest finalized state without committing.",
            vec![p("tx", "the signed transaction", tx_hex())],
            ("simulation", schema::<SimulateResult>()),
        )
        .errors(&[INVALID_VALUE, TX_REJECTED]),
        m(
            "mining_getWork",
            "The newest challenge, its target, the miner's seed and the claim expiry.",
            vec![p("publicKey", "the miner", key())],
            ("work", schema::<MiningWork>()),
        )
        .errors(&[INVALID_VALUE]),
        m(
            "mining_submitWork",
            "Check a signed ClaimMiningReward and admit it; accepted, or the reason.",
            vec![
                p("tx", "the signed claim", tx_hex()),
                optional(
                    "seed",
                    "the seed the miner searched with, or null (may be left out)",
                    json!({"anyOf": [hex_schema(32, "a 32-byte seed, 0x hex"), {"type": "null"}]}),
                ),
            ],
            ("result", schema::<SubmitWorkResult>()),
        )
        .errors(&[INVALID_VALUE, TX_REJECTED]),
        m(
            "mining_submitHashrate",
            "Report a miner's hashrate (hashes/s; self-reported, kept 5 minutes).",
            vec![
                p("publicKey", "the miner", key()),
                p("hashrate", "hashes per second", schema::<u64>()),
            ],
            ("recorded", json!({"type": "boolean"})),
        )
        .errors(&[INVALID_VALUE]),
        m(
            "mining_getStats",
            "Target, solutions per epoch, recent claims, reported hashrates.",
            vec![],
            ("stats", schema::<MiningStats>()),
        ),
        sub(
            "chain_subscribeNewHeads",
            "WebSocket: a header for every new block executed (before finality).",
            vec![],
            schema::<HeaderInfo>(),
            "chain_newHead",
            "chain_unsubscribeNewHeads",
        ),
        sub(
            "chain_subscribeFinalizedHeads",
            "WebSocket: a header for every finalized block, in order.",
            vec![],
            schema::<HeaderInfo>(),
            "chain_finalizedHead",
            "chain_unsubscribeFinalizedHeads",
        ),
        sub(
            "tx_submitAndWatch",
            "WebSocket: submit and follow a transaction to finalized or rejected.",
            vec![p("tx", "the signed transaction", tx_hex())],
            schema::<TxStatus>(),
            "tx_status",
            "tx_unwatch",
        )
        .errors(&[INVALID_VALUE, TX_REJECTED, MEMPOOL_FULL, NOT_READY]),
    ];
    let unsubscribes: Vec<MethodDoc> = all
        .iter()
        .filter_map(|d| d.subscription)
        .map(|(_, unsub)| {
            let doc = m(
                unsub,
                "WebSocket: end a subscription; true if it existed.",
                vec![p(
                    "subscription",
                    "the subscription id",
                    json!({"type": "string"}),
                )],
                ("closed", json!({"type": "boolean"})),
            );
            // a param that is not a live id of this connection is answered `false`
            MethodDoc {
                errors: vec![RATE_LIMITED],
                param_structure: "by-position",
                ..doc
            }
        })
        .collect();
    all.extend(unsubscribes);
    all
}

/// The OpenRPC error object of `code`: its stable reason as the message and as
/// `data.reason` (every server error carries `data.reason`), or for [`TX_REJECTED`] the list
/// of reasons it can carry.
fn error_object(code: i32) -> Value {
    if code == INVALID_PARAMS {
        return json!({"code": code, "message": "Invalid params"});
    }
    let reason = ALL
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("unknown", |(_, r)| *r);
    if code == TX_REJECTED {
        json!({"code": code, "message": reason, "data": {"reasons": TX_REJECTED_REASONS}})
    } else {
        json!({"code": code, "message": reason, "data": {"reason": reason}})
    }
}

/// The document; `server_url` (e.g. `http://127.0.0.1:8545`) goes into `servers`.
pub fn document(server_url: Option<&str>) -> Value {
    let methods: Vec<Value> = methods()
        .into_iter()
        .map(|d| {
            let params: Vec<Value> = d
                .params
                .into_iter()
                .map(|p| {
                    json!({"name": p.name, "description": p.description, "required": p.required, "schema": p.schema})
                })
                .collect();
            let errors: Vec<Value> = d.errors.iter().map(|&c| error_object(c)).collect();
            let mut doc = json!({
                "name": d.name,
                "summary": d.summary,
                "paramStructure": d.param_structure,
                "params": params,
                "result": {"name": d.result.0, "schema": d.result.1},
                "errors": errors,
            });
            if let (Some((notification, unsubscribe)), Some(obj)) =
                (d.subscription, doc.as_object_mut())
            {
                // OpenRPC has no subscription object: the subscribe call returns a
                // subscription id; items arrive as `notification` with {subscription, result}.
                obj.insert(
                    "result".into(),
                    json!({"name": "subscription", "schema": {"type": "string"}}),
                );
                obj.insert(
                    "x-subscription".into(),
                    json!({
                        "notification": notification,
                        "unsubscribe": unsubscribe,
                        "item": {"name": d.result.0, "schema": d.result.1},
                    }),
                );
            }
            doc
        })
        .collect();
    let errors: Vec<Value> = ALL
        .iter()
        .map(|(code, reason)| json!({"code": code, "message": reason}))
        .collect();
    let mut doc = json!({
        "openrpc": "1.2.6",
        "info": {
            "title": "Palisade JSON-RPC",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Wallet and operator API of a Palisade node. Keys and hashes are 0x hex, \
                amounts decimal strings. Server errors carry data.reason; see docs/rpc.md.",
        },
        "methods": methods,
        "x-server-errors": errors,
    });
    if let (Some(url), Some(obj)) = (server_url, doc.as_object_mut()) {
        obj.insert("servers".into(), json!([{"name": "this node", "url": url}]));
    }
    doc
}

/// Compare the documented method names with the names a server registers; `Err` lists
/// what is served but undocumented and documented but not served.
pub fn check_served<'a>(served: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let served: std::collections::BTreeSet<&str> = served.into_iter().collect();
    let documented: std::collections::BTreeSet<&str> = methods().iter().map(|d| d.name).collect();
    let undocumented: Vec<&&str> = served.difference(&documented).collect();
    let unserved: Vec<&&str> = documented.difference(&served).collect();
    if undocumented.is_empty() && unserved.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "OpenRPC document and server disagree: served but undocumented {undocumented:?}, \
             documented but not served {unserved:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention_and_are_unique() {
        let docs = methods();
        let mut seen = std::collections::HashSet::new();
        for d in &docs {
            assert!(seen.insert(d.name), "{} twice", d.name);
            let ok = d.name == "rpc.discover"
                || d.name.split_once('_').is_some_and(|(ns, rest)| {
                    ns.chars().all(|c| c.is_ascii_lowercase())
                        && rest.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                        && rest.chars().all(|c| c.is_ascii_alphanumeric())
                });
            assert!(ok, "{} is not namespace_camelCase", d.name);
        }
    }

    #[test]
    fn schemas_have_no_rust_formats_and_name_fields_in_camel_case() {
        let s = schema::<TxInfo>();
        let text = s.to_string();
        assert!(!text.contains("\"format\""), "{text}");
        assert!(!text.contains("$schema"), "{text}");
        let props = s["properties"].as_object().expect("properties");
        for k in ["hash", "status", "expiryHeight", "blockHash", "kind", "raw"] {
            assert!(props.contains_key(k), "{k} missing in {text}");
        }
        assert_eq!(s["required"].as_array().map(|r| r.len()), Some(7), "{text}");
    }

    #[test]
    fn check_served_reports_both_directions() {
        let names: Vec<&str> = methods().iter().map(|d| d.name).collect();
        assert!(check_served(names.iter().copied()).is_ok());
        let mut fewer = names.clone();
        fewer.retain(|n| *n != "tx_get");
        fewer.push("tx_secret");
        let e = check_served(fewer).expect_err("must differ");
        assert!(e.contains("tx_secret") && e.contains("tx_get"), "{e}");
    }

    #[test]
    fn document_lists_every_method_with_schemas() {
        let doc = document(Some("http://127.0.0.1:8545"));
        assert_eq!(doc["openrpc"], "1.2.6");
        let ms = doc["methods"].as_array().expect("methods");
        assert_eq!(ms.len(), methods().len());
        for method in ms {
            assert!(method["result"]["schema"].is_object(), "{method}");
        }
        assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:8545");
    }

    #[test]
    fn integers_carry_the_range_of_their_rust_type() {
        let s = schema::<u64>();
        assert_eq!(s["minimum"], 0, "{s}");
        assert_eq!(s["maximum"], u64::MAX, "{s}");
        let s = schema::<TxStatus>();
        assert_eq!(s["properties"]["index"]["maximum"], u32::MAX, "{s}");
        assert_eq!(
            integer_bounds("int64"),
            Some((json!(i64::MIN), json!(i64::MAX)))
        );
        assert_eq!(integer_bounds("double"), None);
    }

    #[test]
    fn every_method_documents_its_errors() {
        let doc = document(None);
        for method in doc["methods"].as_array().expect("methods") {
            let codes: Vec<i64> = method["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .map(|e| e["code"].as_i64().expect("code"))
                .collect();
            let name = method["name"].as_str().expect("name");
            assert!(
                codes.contains(&i64::from(RATE_LIMITED)),
                "{name}: {codes:?}"
            );
            let takes_params = !method["params"].as_array().expect("params").is_empty();
            let by_position = method["paramStructure"] == "by-position";
            // unsubscribe answers `false` to a param it cannot read
            assert_eq!(
                codes.contains(&i64::from(INVALID_PARAMS)),
                takes_params && !by_position,
                "{name}: {codes:?}"
            );
            for e in method["errors"].as_array().expect("errors") {
                if e["code"] == TX_REJECTED {
                    assert_eq!(e["data"]["reasons"][0], "malformed", "{e}");
                } else if e["code"] != INVALID_PARAMS {
                    assert_eq!(e["data"]["reason"], e["message"], "{e}");
                    assert_ne!(e["message"], "unknown", "{e}");
                }
            }
        }
        let submit = &doc["methods"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["name"] == "tx_submit"))
            .expect("tx_submit");
        let codes: Vec<&Value> = submit["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| &e["code"])
            .collect();
        for c in [INVALID_VALUE, TX_REJECTED, MEMPOOL_FULL] {
            assert!(codes.contains(&&json!(c)), "{codes:?}");
        }
    }

    #[test]
    fn only_a_trailing_option_param_is_optional() {
        for d in methods() {
            let first_optional = d.params.iter().position(|p| !p.required);
            if let Some(i) = first_optional {
                assert!(d.params[i..].iter().all(|p| !p.required), "{}", d.name);
            }
        }
        let work = methods()
            .into_iter()
            .find(|d| d.name == "mining_submitWork")
            .expect("mining_submitWork");
        assert_eq!(
            work.params.iter().map(|p| p.required).collect::<Vec<_>>(),
            [true, false]
        );
    }
}
