//! The transaction test vectors of `docs/tx-format.md`, checked byte for byte.
//!
//! The vectors live in `docs/test-vectors/transactions.json`. To regenerate them after a
//! deliberate format change: `PALISADE_WRITE_VECTORS=1 cargo test -p ledger --test vectors`,
//! then review the diff and update the doc.

use ledger::codec::{Encode, Limits};
use ledger::*;
use serde_json::{Value, json};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/test-vectors/transactions.json"
);

fn hex(b: &[u8]) -> String {
    format!("0x{}", ::hex::encode(b))
}

fn chain_id() -> Hash {
    Hash(*blake3::hash(b"palisade test-vector chain").as_bytes())
}

fn vector_key(i: u8) -> Keypair {
    Keypair::from_secret(*blake3::hash(&[b'k', i]).as_bytes())
}

fn cases() -> Vec<(&'static str, u8, u64, u64, TxKind)> {
    let k = |i: u8| vector_key(i).public();
    vec![
        (
            "transfer",
            1,
            0,
            100,
            TxKind::Transfer {
                to: k(2),
                amount: 1_000,
            },
        ),
        (
            "transfer_large_amount",
            1,
            7,
            u64::MAX,
            TxKind::Transfer {
                to: k(2),
                amount: u128::MAX - 1,
            },
        ),
        (
            "mint",
            0,
            3,
            5_000,
            TxKind::Mint {
                to: k(1),
                amount: 50_000_000,
            },
        ),
        ("burn", 1, 8, 42, TxKind::Burn { amount: 12 }),
        (
            "set_role_grant_transact",
            0,
            4,
            900,
            TxKind::SetRole {
                account: k(3),
                role: Role::Transact,
                granted: true,
            },
        ),
        (
            "set_role_revoke_mine",
            0,
            5,
            900,
            TxKind::SetRole {
                account: k(3),
                role: Role::Mine,
                granted: false,
            },
        ),
        (
            "add_validator",
            0,
            6,
            1_000,
            TxKind::AddValidator {
                key: k(9),
                power: 10,
                address: "/ip4/127.0.0.1/tcp/26660".into(),
            },
        ),
        (
            "remove_validator",
            0,
            7,
            1_000,
            TxKind::RemoveValidator { key: k(9) },
        ),
        (
            "claim_mining_reward",
            3,
            0,
            77,
            TxKind::ClaimMiningReward {
                height: 64,
                nonce: 0x0123_4567_89ab_cdef,
            },
        ),
    ]
}

fn kind_json(kind: &TxKind) -> Value {
    match kind {
        TxKind::Transfer { to, amount } => {
            json!({"type": "transfer", "to": to.to_hex(), "amount": amount.to_string()})
        }
        TxKind::Mint { to, amount } => {
            json!({"type": "mint", "to": to.to_hex(), "amount": amount.to_string()})
        }
        TxKind::Burn { amount } => json!({"type": "burn", "amount": amount.to_string()}),
        TxKind::SetRole {
            account,
            role,
            granted,
        } => {
            json!({"type": "set_role", "account": account.to_hex(), "role": role.name(), "granted": granted})
        }
        TxKind::AddValidator {
            key,
            power,
            address,
        } => {
            json!({"type": "add_validator", "key": key.to_hex(), "power": power, "address": address})
        }
        TxKind::RemoveValidator { key } => json!({"type": "remove_validator", "key": key.to_hex()}),
        TxKind::ClaimMiningReward { height, nonce } => {
            json!({"type": "claim_mining_reward", "height": height, "nonce": nonce})
        }
    }
}

fn generate() -> Value {
    let domains: serde_json::Map<String, Value> = [Domain::TxSigning, Domain::TxId, Domain::TxLeaf]
        .iter()
        .map(|d| (d.name().to_owned(), json!(hex(d.key()))))
        .collect();
    let vectors: Vec<Value> = cases()
        .into_iter()
        .map(|(name, signer, nonce, expiry_height, kind)| {
            let key = vector_key(signer);
            let tx = Transaction {
                chain_id: chain_id(),
                sender: key.public(),
                nonce,
                expiry_height,
                kind,
            };
            let stx = tx.clone().sign(&key);
            json!({
                "name": name,
                "secret_key": hex(&key.secret()),
                "public_key": key.public().to_hex(),
                "tx": {
                    "version": 1,
                    "chain_id": tx.chain_id.to_hex(),
                    "sender": tx.sender.to_hex(),
                    "nonce": tx.nonce,
                    "expiry_height": tx.expiry_height,
                    "kind": kind_json(&tx.kind),
                },
                "tx_bytes": hex(&tx.encode()),
                "signing_message": stx.signing_message().to_hex(),
                "tx_id": stx.id().to_hex(),
                "signature": stx.signature().to_hex(),
                "signed_tx": hex(&stx.encode()),
                "tx_leaf": stx.leaf().to_hex(),
            })
        })
        .collect();
    json!({
        "about": "Palisade transaction test vectors; see docs/tx-format.md. Keys here are public test keys: never use them for anything else.",
        "domain_keys": domains,
        "vectors": vectors,
    })
}

#[test]
fn vectors_match_the_implementation() {
    let generated = generate();
    if std::env::var_os("PALISADE_WRITE_VECTORS").is_some() {
        std::fs::write(
            PATH,
            serde_json::to_string_pretty(&generated).expect("json") + "\n",
        )
        .expect("write vectors");
    }
    let text = std::fs::read_to_string(PATH).expect("docs/test-vectors/transactions.json exists");
    let stored: Value = serde_json::from_str(&text).expect("vectors are JSON");
    assert_eq!(
        stored, generated,
        "docs/test-vectors/transactions.json is out of date with the encoding"
    );

    // And check the stored vectors independently of `generate`: decode the bytes, verify.
    for v in stored["vectors"].as_array().expect("vectors") {
        let name = v["name"].as_str().expect("name");
        let bytes = ::hex::decode(&v["signed_tx"].as_str().expect("signed_tx")[2..]).expect("hex");
        let stx = SignedTransaction::decode_bytes(&bytes, Limits::default()).expect(name);
        assert!(stx.verify_signature(), "{name}: signature verifies");
        assert_eq!(
            stx.id().to_hex(),
            v["tx_id"].as_str().expect("tx_id"),
            "{name}"
        );
        assert_eq!(
            stx.signing_message().to_hex(),
            v["signing_message"].as_str().expect("msg"),
            "{name}"
        );
        assert_eq!(
            hex(&stx.tx().encode()),
            v["tx_bytes"].as_str().expect("tx_bytes"),
            "{name}"
        );
        assert_eq!(
            stx.tx().sender.to_hex(),
            v["public_key"].as_str().expect("pk"),
            "{name}"
        );
        assert_eq!(
            stx.leaf().to_hex(),
            v["tx_leaf"].as_str().expect("tx_leaf"),
            "{name}"
        );
        // the tx root's leaf covers every signed byte: BLAKE3 keyed with
        // BLAKE3("palisade/v1/tx-leaf") of the signed transaction
        let leaf_key = blake3::hash(b"palisade/v1/tx-leaf");
        assert_eq!(
            hex(blake3::keyed_hash(leaf_key.as_bytes(), &bytes).as_bytes()),
            v["tx_leaf"].as_str().expect("tx_leaf")
        );
        // the signing message is BLAKE3 keyed with BLAKE3("palisade/v1/tx-signing")
        let key = blake3::hash(b"palisade/v1/tx-signing");
        assert_eq!(
            hex(blake3::keyed_hash(key.as_bytes(), &stx.tx().encode()).as_bytes()),
            v["signing_message"].as_str().expect("msg")
        );
    }
}
