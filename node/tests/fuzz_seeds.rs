//! The fuzz targets' seed corpora (`fuzz/seeds/<target>/`): real encodings of every kind of
//! input each decoder target reads, built here from the golden vectors and the node's own
//! encoders, so the fuzzer starts from valid inputs and mutates from there.
//!
//! The test checks that the committed seeds are exactly what the code makes now (a format
//! change that leaves them stale fails here, like the vectors). Regenerate with
//! `PALISADE_WRITE_SEEDS=1 cargo test --release --workspace --locked --test fuzz_seeds`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use consensus::{Proposal, Signature, Vote, VoteKind};
use ledger::codec::Encode;
use ledger::{Block, Receipt, RejectReason};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).expect("hex")
}

fn vectors(file: &str, section: &str) -> Vec<(String, Vec<u8>, Value)> {
    let text =
        std::fs::read_to_string(repo().join("docs/test-vectors").join(file)).expect("vectors");
    let doc: Value = serde_json::from_str(&text).expect("json");
    doc[section]
        .as_array()
        .expect("section")
        .iter()
        .map(|v| {
            let name = v["name"].as_str().expect("name").replace([' ', '/'], "_");
            let bytes = v
                .get("bytes")
                .and_then(Value::as_str)
                .map(unhex)
                .unwrap_or_default();
            (name, bytes, v.clone())
        })
        .collect()
}

/// Deterministic bytes for the targets that read structured input (`arbitrary`): long
/// enough for a sequence of dozens of operations.
fn entropy(tag: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(tag.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

type Seeds = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

fn seeds() -> Seeds {
    let mut s: Seeds = BTreeMap::new();
    let mut add = |target: &str, name: &str, bytes: Vec<u8>| {
        s.entry(target.to_owned())
            .or_default()
            .insert(name.to_owned(), bytes);
    };
    // transactions: every kind in docs/test-vectors/transactions.json
    let mut txs = Vec::new();
    for (name, _, v) in vectors("transactions.json", "vectors") {
        let signed = unhex(v["signed_tx"].as_str().expect("signed_tx"));
        txs.push(
            ledger::SignedTransaction::decode_bytes(&signed, Default::default()).expect("a vector"),
        );
        add("tx", &name, signed);
    }
    // wire requests and responses, whole and as frames on a stream
    let mut stream = Vec::new();
    for (name, bytes, _) in vectors("wire.json", "requests") {
        stream.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        stream.extend_from_slice(&bytes);
        let mut frame = vec![0xff]; // the frames target's first byte picks the limit
        frame.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        frame.extend_from_slice(&bytes);
        add("frames", &name, frame);
        add("wire_request", &name, bytes);
    }
    let mut all = vec![0xff];
    all.extend_from_slice(&stream);
    add("frames", "all_requests", all);
    for (name, bytes, _) in vectors("wire.json", "responses") {
        add("wire_response", &name, bytes);
    }
    for (name, bytes, _) in vectors("wire.json", "finality_proofs") {
        add("finality_proof", &name, bytes);
    }
    // finality evidence as peers send it: every proof of docs/test-vectors/finality.json
    let finality: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/test-vectors/finality.json"))
            .expect("finality.json"),
    )
    .expect("JSON");
    for p in finality["proofs"].as_array().expect("proofs") {
        let info: rpc::FinalityProofInfo = serde_json::from_value(p.clone()).expect("a proof");
        let ev = node::light::FinalityEvidence::from_info(&info).expect("decodes");
        add(
            "finality_evidence",
            &format!("height_{}", info.height),
            ev.encode(),
        );
    }
    // snapshots: the model on a few accounts, and a real manifest with its first chunk
    add(
        "snapshot",
        "model",
        (0u8..64).map(|i| i.wrapping_mul(37)).collect(),
    );
    {
        use ledger::snapshot::{Manifest, encode_chunk};
        let accounts: Vec<(ledger::PublicKey, ledger::Account)> = {
            let mut v: Vec<_> = (0u8..12)
                .map(|i| {
                    (
                        ledger::PublicKey(*blake3::hash(&[i]).as_bytes()),
                        ledger::Account {
                            balance: u128::from(i) + 1,
                            nonce: 0,
                            roles: 0,
                        },
                    )
                })
                .collect();
            v.sort_by_key(|a| a.0);
            v
        };
        let tree = ledger::state::AccountTree::from_sorted(&accounts);
        let system = ledger::SystemState::default();
        let header = ledger::BlockHeader {
            chain_id: ledger::Hash([1; 32]),
            height: 7,
            parent: ledger::Hash([2; 32]),
            timestamp_ms: 0,
            proposer: ledger::PublicKey([0; 32]),
            tx_root: ledger::Hash::ZERO,
            receipts_root: ledger::Hash::ZERO,
            state_root: ledger::state::state_root(&tree.root(), &system.hash()),
            validators_hash: ledger::Hash::ZERO,
        };
        let (m, bodies) = Manifest::of(&header, &tree, &system, 4);
        let mbytes = ledger::Encode::encode(&m);
        let mut seed = vec![1u8];
        seed.extend_from_slice(&(mbytes.len() as u16).to_le_bytes());
        seed.extend_from_slice(&mbytes);
        seed.extend_from_slice(&encode_chunk(&bodies[0]));
        add("snapshot", "manifest_and_chunk", seed);
    }
    // safety log: each record, and a whole log of them with a torn tail
    let mut log = Vec::new();
    for (name, bytes, _) in vectors("wire.json", "safety_log_records") {
        log.extend_from_slice(&bytes);
        add("safety_log", &name, bytes);
    }
    let mut torn = log.clone();
    torn.extend_from_slice(&log[..log.len() / 3]);
    add("safety_log", "whole_log", log);
    add("safety_log", "torn_tail", torn);
    // blocks: the dev chain's genesis block and one carrying the vector transactions
    let genesis = genesis::dev_genesis("seed", 4, 4, 20_600, 1_767_225_600_000);
    let g = genesis.genesis_block();
    add("block", "genesis_block", g.encode());
    add("block", "genesis_header", g.header.encode());
    let mut header = g.header.clone();
    header.height = 1;
    header.parent = g.id();
    header.tx_root = ledger::block::tx_root(&txs);
    add(
        "block",
        "block_with_txs",
        Block {
            header,
            txs: txs.clone(),
        }
        .encode(),
    );
    // receipts: success and a few rejections with data
    let receipt = |outcome| {
        Receipt {
            tx_id: txs[0].id(),
            outcome,
        }
        .encode()
    };
    add("receipt", "ok", receipt(Ok(())));
    add(
        "receipt",
        "nonce_too_low",
        receipt(Err(RejectReason::NonceTooLow {
            expected: 4,
            got: 2,
        })),
    );
    add(
        "receipt",
        "insufficient",
        receipt(Err(RejectReason::InsufficientBalance { have: 1, need: 2 })),
    );
    add(
        "receipt",
        "wrong_chain",
        receipt(Err(RejectReason::WrongChain {
            expected: ledger::Hash([1; 32]),
        })),
    );
    // stored state: an account, the system state, proofs (first byte: which decoder)
    let state = genesis.initial_state();
    let with = |which: u8, bytes: Vec<u8>| [vec![which], bytes].concat();
    let (key, account) = genesis.accounts[0];
    add("state", "account", with(0, account.encode()));
    add("state", "system_state", with(1, state.system.encode()));
    add(
        "state",
        "mining_state",
        with(2, state.system.mining.encode()),
    );
    add(
        "state",
        "validator",
        with(3, state.system.validators[0].encode()),
    );
    let tree_proof = state.accounts.prove(&key);
    add(
        "state",
        "tree_proof",
        with(
            4,
            [
                state.accounts.root().0.to_vec(),
                key.0.to_vec(),
                tree_proof.encode(),
            ]
            .concat(),
        ),
    );
    add(
        "state",
        "account_proof",
        with(5, [key.0.to_vec(), state.prove(&key).encode()].concat()),
    );
    // genesis.json and config.toml as written by `palisade genesis` / `palisade init`
    add(
        "genesis",
        "dev_genesis",
        genesis.to_doc().to_json().into_bytes(),
    );
    add(
        "config",
        "default",
        node::config::Config::default()
            .to_toml()
            .expect("toml")
            .into_bytes(),
    );
    // the structured targets
    for t in ["roundtrip", "mempool", "execute", "smt", "safety_log_crash"] {
        for len in [64, 512, 4096] {
            add(t, &format!("entropy_{len}"), entropy(t, len));
        }
    }
    // a vote sequence the crash target can mutate from
    let p = Proposal {
        view: 1,
        height: 1,
        parent_view: 0,
        parent: consensus::Digest([0; 32]),
        payload: consensus::Digest([1; 32]),
    };
    let mut votes = Vec::new();
    for kind in [
        VoteKind::Notarize(p),
        VoteKind::Finalize(p),
        VoteKind::Nullify(2),
    ] {
        votes.extend(node::safety_log::record(&Vote {
            kind,
            signer: 0,
            signature: Signature([0; 64]),
        }));
    }
    add("safety_log", "three_votes", votes);
    s
}

#[test]
fn fuzz_seeds_are_current() {
    let dir = repo().join("fuzz/seeds");
    let want = seeds();
    if std::env::var_os("PALISADE_WRITE_SEEDS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        for (target, files) in &want {
            std::fs::create_dir_all(dir.join(target)).expect("mkdir");
            for (name, bytes) in files {
                std::fs::write(dir.join(target).join(name), bytes).expect("write seed");
            }
        }
        return;
    }
    for (target, files) in &want {
        let mut have: Vec<String> = std::fs::read_dir(dir.join(target))
            .unwrap_or_else(|e| {
                panic!("fuzz/seeds/{target}: {e} (PALISADE_WRITE_SEEDS=1 writes them)")
            })
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        have.sort();
        let names: Vec<String> = files.keys().cloned().collect();
        assert_eq!(
            have, names,
            "fuzz/seeds/{target} (PALISADE_WRITE_SEEDS=1 rewrites them)"
        );
        for (name, bytes) in files {
            let got = std::fs::read(dir.join(target).join(name)).expect("seed");
            assert!(
                &got == bytes,
                "fuzz/seeds/{target}/{name} is stale (PALISADE_WRITE_SEEDS=1 rewrites it)"
            );
        }
    }
}

/// Inputs the fuzzers found that once broke a rule, kept as regression tests of the fixes
/// (docs/fuzzing.md lists each with its fix).
mod regressions {}
