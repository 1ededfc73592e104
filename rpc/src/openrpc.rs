//! The OpenRPC document `rpc.discover` returns.
//!
//! Param and result schemas are generated (schemars) from the same Rust types the `#[rpc]`
//! traits use, so a changed type changes the document. The method list is written out
//! here once; [`check_served`] compares it with the names the server really registers (the
//! node refuses to start on a difference, and a test checks it too), and the external
//! `@open-rpc/test-coverage` run checks every result against its schema on a live node.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Value, json};

use crate::types::*;

/// One method of the document.
pub struct MethodDoc {
    /// Full name, e.g. `chain_getInfo`.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Positional parameters: name, description, schema.
    pub params: Vec<(&'static str, &'static str, Value)>,
    /// Result name and schema.
    pub result: (&'static str, Value),
    /// For subscriptions: the notification method and its unsubscribe method.
    pub subscription: Option<(&'static str, &'static str)>,
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
/// do not know) and `title` noise, keeping property names intact.
fn clean(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("format");
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
    params: Vec<(&'static str, &'static str, Value)>,
    result: (&'static str, Value),
) -> MethodDoc {
    MethodDoc {
        name,
        summary,
        params,
        result,
        subscription: None,
    }
}

fn sub(
    name: &'static str,
    summary: &'static str,
    params: Vec<(&'static str, &'static str, Value)>,
    item: Value,
    notification: &'static str,
    unsubscribe: &'static str,
) -> MethodDoc {
    MethodDoc {
        name,
        summary,
        params,
        result: ("item", item),
        subscription: Some((notification, unsubscribe)),
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
            vec![("height", "block height", schema::<u64>())],
            ("block", schema::<Option<BlockInfo>>()),
        ),
        m(
            "chain_getBlockByHash",
            "A finalized block by hash, or null.",
            vec![("hash", "block hash", hash())],
            ("block", schema::<Option<BlockInfo>>()),
        ),
        m(
            "chain_getValidators",
            "The current validators, their power and the quorum.",
            vec![],
            ("validators", schema::<ValidatorsInfo>()),
        ),
        m(
            "account_getInfo",
            "Balance, next nonce and roles of an account.",
            vec![("publicKey", "the account", key())],
            ("account", schema::<AccountInfo>()),
        ),
        m(
            "account_getBalance",
            "An account's balance as a decimal string.",
            vec![("publicKey", "the account", key())],
            ("balance", json!({"type": "string", "pattern": "^[0-9]+$"})),
        ),
        m(
            "account_getNonce",
            "The nonce an account's next transaction must carry.",
            vec![("publicKey", "the account", key())],
            ("nonce", schema::<u64>()),
        ),
        m(
            "state_getProof",
            "A Merkle proof of an account (or its absence) against the last finalized header.",
            vec![("publicKey", "the account", key())],
            ("proof", schema::<AccountProofInfo>()),
        ),
        m(
            "tx_submit",
            "Submit a signed transaction; returns its hash once admitted to the mempool.",
            vec![("tx", "the signed transaction", tx_hex())],
            ("hash", hash()),
        ),
        m(
            "tx_submitMany",
            "Submit up to 1,000 signed transactions; per transaction its hash once admitted, or the error tx_submit would give.",
            vec![(
                "txs",
                "signed transactions",
                json!({"type": "array", "items": tx_hex(), "maxItems": crate::MAX_SUBMIT_TXS}),
            )],
            (
                "outcomes",
                json!({"type": "array", "items": schema::<SubmitOutcome>()}),
            ),
        ),
        m(
            "tx_getStatus",
            "Status of up to 1,000 transactions.",
            vec![(
                "hashes",
                "transaction hashes",
                json!({"type": "array", "items": hash(), "maxItems": crate::MAX_STATUS_HASHES}),
            )],
            ("statuses", schema::<Vec<TxStatus>>()),
        ),
        m(
            "tx_get",
            "A transaction with its status and receipt, or null.",
            vec![("hash", "transaction hash", hash())],
            ("tx", schema::<Option<TxInfo>>()),
        ),
        m(
            "tx_simulate",
            "Execute a signed transaction on the latest finalized state without committing.",
            vec![("tx", "the signed transaction", tx_hex())],
            ("simulation", schema::<SimulateResult>()),
        ),
        m(
            "mining_getWork",
            "The newest challenge, its target, the miner's seed and the claim expiry.",
            vec![("publicKey", "the miner", key())],
            ("work", schema::<MiningWork>()),
        ),
        m(
            "mining_submitWork",
            "Check a signed ClaimMiningReward and admit it; accepted, or the reason.",
            vec![
                ("tx", "the signed claim", tx_hex()),
                (
                    "seed",
                    "the seed the miner searched with, or null",
                    json!({"anyOf": [hex_schema(32, "a 32-byte seed, 0x hex"), {"type": "null"}]}),
                ),
            ],
            ("result", schema::<SubmitWorkResult>()),
        ),
        m(
            "mining_submitHashrate",
            "Report a miner's hashrate (hashes/s; self-reported, kept 5 minutes).",
            vec![
                ("publicKey", "the miner", key()),
                ("hashrate", "hashes per second", schema::<u64>()),
            ],
            ("recorded", json!({"type": "boolean"})),
        ),
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
            vec![("tx", "the signed transaction", tx_hex())],
            schema::<TxStatus>(),
            "tx_status",
            "tx_unwatch",
        ),
    ];
    let unsubscribes: Vec<MethodDoc> = all
        .iter()
        .filter_map(|d| d.subscription)
        .map(|(_, unsub)| {
            m(
                unsub,
                "WebSocket: end a subscription; true if it existed.",
                vec![(
                    "subscription",
                    "the subscription id",
                    json!({"type": "string"}),
                )],
                ("closed", json!({"type": "boolean"})),
            )
        })
        .collect();
    all.extend(unsubscribes);
    all
}

/// The document; `server_url` (e.g. `http://127.0.0.1:8545`) goes into `servers`.
pub fn document(server_url: Option<&str>) -> Value {
    let methods: Vec<Value> = methods()
        .into_iter()
        .map(|d| {
            let params: Vec<Value> = d
                .params
                .into_iter()
                .map(|(name, description, schema)| {
                    json!({"name": name, "description": description, "required": true, "schema": schema})
                })
                .collect();
            let mut doc = json!({
                "name": d.name,
                "summary": d.summary,
                "paramStructure": "by-position",
                "params": params,
                "result": {"name": d.result.0, "schema": d.result.1},
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
    let errors: Vec<Value> = crate::error_codes::ALL
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
}
