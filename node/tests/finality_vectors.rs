//! `docs/test-vectors/finality.json`: a small chain's finality proofs, exactly as
//! `chain_getFinalityProof` answers, with tampered copies a light client must refuse.
//! `docs/examples/light_client.py` (written from `docs/light-client.md` alone) checks the
//! same file in the test suite, so the doc, the Rust checker and an outside client agree.
//!
//! After a deliberate format change, regenerate with
//! `PALISADE_WRITE_VECTORS=1 cargo test --release --workspace --locked --test finality_vectors`.

use consensus::{Certified, Ed25519Signer, Signer};
use genesis::dev::{DevKeyKind, dev_keypair};
use node::core::epochs::namespace;
use node::light::{FinalityEvidence, LightClient, sample_chain};
use serde_json::{Value, json};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/test-vectors/finality.json"
);
const EPOCH_LENGTH: u64 = 4;
const BLOCKS: u64 = 10;

/// Tampered copies: (name, height of the evidence it starts from, whether it is used to
/// advance an epoch, the change).
fn tampered(chain: &[FinalityEvidence]) -> Vec<(&'static str, FinalityEvidence, bool)> {
    let mut out = Vec::new();
    let mut e = chain[1].clone();
    e.header.state_root.0[0] ^= 1;
    out.push(("header state root changed", e, false));
    let mut e = chain[1].clone();
    e.proposals.pop();
    out.push(("the descendant proposal left out", e, false));
    let mut e = chain[2].clone();
    if let Some(c) = e.certificate.as_mut() {
        c.signatures[1].1.0[0] ^= 0x80;
    }
    out.push(("a signature bit flipped", e, false));
    let mut e = chain[2].clone();
    if let Some(c) = e.certificate.as_mut() {
        c.signatures.truncate(2);
    }
    out.push(("two signatures of four validators", e, false));
    let mut e = chain[2].clone();
    if let Some(c) = e.certificate.as_mut() {
        let first = c.signatures[0];
        c.signatures[1] = first;
    }
    out.push(("one validator's signature counted twice", e, false));
    let mut e = chain[2].clone();
    if let Some(c) = e.certificate.as_mut()
        && let Certified::Finalization(q) = c.certified
    {
        let mut q = q;
        q.view += 1;
        c.certified = Certified::Finalization(q);
    }
    out.push(("the certificate finalizes another proposal", e, false));
    let mut e = chain[EPOCH_LENGTH as usize].clone();
    e.next.truncate(1);
    out.push((
        "an epoch end naming a validator set other than its header's",
        e,
        true,
    ));
    // block 6 (epoch 1) finalized by three validators, signing in epoch 0's namespace
    let mut e = chain[6].clone();
    if let Some(c) = e.certificate.as_mut() {
        let message = c
            .certified
            .vote_kind()
            .signing_message(&namespace(&e.header.chain_id, 0));
        for (i, sig) in c.signatures.iter_mut() {
            let key = dev_keypair(DevKeyKind::Validator, *i);
            *sig = Ed25519Signer::from_secret(key.secret()).sign(&message);
        }
    }
    out.push(("a block of epoch 1 signed in epoch 0's namespace", e, false));
    out
}

fn generate() -> Value {
    let chain = sample_chain(4, EPOCH_LENGTH, BLOCKS);
    json!({
        "description": "Finality proofs of a 10-block chain with 4-block epochs (a validator joins at block 4), as chain_getFinalityProof answers; every proof verifies from the genesis hash. `tampered` must be refused (`advance`: used to move to the next epoch). docs/light-client.md.",
        "epochLength": EPOCH_LENGTH,
        "genesisHash": chain[0].header.id().to_hex(),
        "proofs": chain.iter().map(|e| e.to_info(EPOCH_LENGTH)).collect::<Vec<_>>(),
        "tampered": tampered(&chain).into_iter().map(|(name, e, advance)| json!({
            "name": name,
            "advance": advance,
            "proof": e.to_info(EPOCH_LENGTH),
        })).collect::<Vec<_>>(),
    })
}

fn walk(chain: &[FinalityEvidence], to: u64) -> LightClient {
    let mut client =
        LightClient::anchored(chain[0].header.id(), EPOCH_LENGTH, &chain[0]).expect("anchor");
    while client.epoch_end() < to {
        let end = client.epoch_end() as usize;
        client.advance(&chain[end]).expect("advance");
    }
    client
}

#[test]
fn finality_vectors_match_and_verify() {
    let generated = generate();
    if std::env::var_os("PALISADE_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generated).expect("json") + "\n";
        std::fs::write(PATH, text).expect("write vectors");
    }
    let text = std::fs::read_to_string(PATH).expect("docs/test-vectors/finality.json exists");
    let doc: Value = serde_json::from_str(&text).expect("vectors are JSON");
    assert_eq!(
        doc, generated,
        "docs/test-vectors/finality.json is out of date with the implementation"
    );
    // the stored proofs, decoded, verify; the tampered ones do not
    let proofs: Vec<FinalityEvidence> = doc["proofs"]
        .as_array()
        .expect("proofs")
        .iter()
        .map(|p| {
            FinalityEvidence::from_info(&serde_json::from_value(p.clone()).expect("proof json"))
                .expect("decode")
        })
        .collect();
    for p in &proofs[1..] {
        walk(&proofs, p.header.height).verify(p).expect("verifies");
    }
    for t in doc["tampered"].as_array().expect("tampered") {
        let e = FinalityEvidence::from_info(&serde_json::from_value(t["proof"].clone()).unwrap())
            .expect("decode");
        let mut client = walk(&proofs, e.header.height);
        let result = if t["advance"].as_bool() == Some(true) {
            client.advance(&e).map(|_| ())
        } else {
            client.verify(&e).map(|_| ())
        };
        assert!(result.is_err(), "accepted: {}", t["name"]);
    }
}
