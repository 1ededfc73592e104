//! Golden bytes of the peer protocol (`node/src/wire.rs`), the safety-log record and the stored
//! finality proof: a change to any of these formats shows up as a diff of
//! `docs/test-vectors/wire.json`, never silently.
//!
//! Each vector is checked both ways: the value encodes to the stored bytes, and the stored
//! bytes decode to the value. After a deliberate format change, regenerate with
//! `PALISADE_WRITE_VECTORS=1 cargo test --release --workspace --locked --test vectors`,
//! review the diff and update the docs.

use consensus::{
    Certificate, Certified, Digest, Ed25519Signer, Ed25519Verifier, Message, Proposal, Signer,
    ValidatorInfo, ValidatorSet, Vote, VoteKind,
};
use ledger::codec::Limits;
use ledger::{
    Block, BlockHeader, Hash, Keypair, PublicKey, SignedTransaction, Transaction, TxKind,
};
use node::wire::{FinalityProof, FinalizedBlock, Request, Response};
use serde_json::{Value, json};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/test-vectors/wire.json"
);

fn hex(b: &[u8]) -> String {
    format!("0x{}", ::hex::encode(b))
}

fn unhex(s: &str) -> Vec<u8> {
    ::hex::decode(s.trim_start_matches("0x")).expect("hex")
}

/// The namespace votes are signed in (any 32 bytes: the node derives it from the chain id
/// and the epoch, `core::namespace`).
const NAMESPACE: [u8; 32] = [0x4e; 32];

fn signer(i: u8) -> Ed25519Signer {
    Ed25519Signer::from_secret(*blake3::hash(&[b'v', i]).as_bytes())
}

fn validators() -> ValidatorSet {
    let infos = (0..4)
        .map(|i| ValidatorInfo {
            key: signer(i).public_key(),
            power: 1,
        })
        .collect();
    ValidatorSet::new(infos).expect("set")
}

fn digest(tag: &[u8]) -> Digest {
    Digest(*blake3::hash(tag).as_bytes())
}

fn proposal() -> Proposal {
    Proposal {
        view: 7,
        height: 5,
        parent_view: 6,
        parent: digest(b"parent"),
        payload: digest(b"block"),
    }
}

fn vote(kind: VoteKind, i: u8) -> Vote {
    Vote {
        kind,
        signer: u32::from(i),
        signature: signer(i).sign(&kind.signing_message(&NAMESPACE)),
    }
}

fn certificate(certified: Certified) -> Certificate {
    let kind = certified.vote_kind();
    Certificate {
        certified,
        signatures: (0..3)
            .map(|i| (u32::from(i), vote(kind, i).signature))
            .collect(),
    }
}

fn transactions() -> Vec<SignedTransaction> {
    let k = Keypair::from_secret(*blake3::hash(b"wallet").as_bytes());
    (0..2)
        .map(|nonce| {
            Transaction {
                chain_id: Hash([1; 32]),
                sender: k.public(),
                nonce,
                expiry_height: 10,
                kind: TxKind::Transfer {
                    to: PublicKey([9; 32]),
                    amount: 5 + u128::from(nonce),
                },
            }
            .sign(&k)
        })
        .collect()
}

fn block() -> Block {
    let txs = transactions();
    Block {
        header: BlockHeader {
            chain_id: Hash([1; 32]),
            height: 5,
            parent: Hash([2; 32]),
            timestamp_ms: 1_767_225_600_000,
            proposer: PublicKey(signer(0).public_key().0),
            tx_root: ledger::block::tx_root(&txs),
            receipts_root: Hash([3; 32]),
            state_root: Hash([4; 32]),
            validators_hash: Hash([5; 32]),
        },
        txs,
    }
}

fn proof() -> FinalityProof {
    let p = proposal();
    FinalityProof {
        proposal: p,
        certificate: certificate(Certified::Finalization(p)),
    }
}

/// The last block of an epoch, finalized by a re-proposal of it two views on (its own
/// view was cut: some validators finalized, the others nullified).
fn proof_by_re_proposal() -> FinalityProof {
    let p = proposal();
    let r = Proposal {
        view: p.view + 2,
        parent_view: p.view,
        parent: p.digest(),
        ..p
    };
    FinalityProof {
        proposal: p,
        certificate: certificate(Certified::Finalization(r)),
    }
}

fn requests() -> Vec<(&'static str, Request)> {
    let p = proposal();
    let b = block();
    let id = b.id();
    let consensus = |message| Request::Consensus { epoch: 2, message };
    vec![
        (
            "consensus_notarize",
            consensus(Message::Vote(vote(VoteKind::Notarize(p), 1))),
        ),
        (
            "consensus_nullify",
            consensus(Message::Vote(vote(VoteKind::Nullify(8), 2))),
        ),
        (
            "consensus_finalize",
            consensus(Message::Vote(vote(VoteKind::Finalize(p), 3))),
        ),
        (
            "consensus_notarization",
            consensus(Message::Certificate(certificate(Certified::Notarization(
                p,
            )))),
        ),
        (
            "consensus_nullification",
            consensus(Message::Certificate(certificate(Certified::Nullification(
                8,
            )))),
        ),
        (
            "consensus_finalization",
            consensus(Message::Certificate(certificate(Certified::Finalization(
                p,
            )))),
        ),
        ("consensus_request", consensus(Message::Request { view: 6 })),
        ("txs", Request::Txs(transactions())),
        (
            "status",
            Request::Status {
                finalized_height: 42,
            },
        ),
        ("get_blocks", Request::GetBlocks { from: 5, max: 256 }),
        ("get_block", Request::GetBlock { hash: id }),
        (
            "proposed_block",
            Request::ProposedBlock {
                epoch: 2,
                view: 7,
                leaves: b.txs.iter().map(SignedTransaction::leaf).collect(),
                header: b.header,
            },
        ),
        (
            "get_txs",
            Request::GetTxs {
                block: id,
                indices: vec![0, 1],
            },
        ),
        ("get_finality", Request::GetFinality { height: 100 }),
        ("get_snapshot_newest", Request::GetSnapshot { height: 0 }),
        (
            "get_snapshot_chunk",
            Request::GetSnapshotChunk {
                height: 1000,
                index: 3,
            },
        ),
    ]
}

fn responses() -> Vec<(&'static str, Response)> {
    vec![
        ("ack", Response::Ack),
        ("refused", Response::Refused("over budget".into())),
        (
            "blocks",
            Response::Blocks(vec![FinalizedBlock {
                block: block(),
                proof: proof().encode(),
            }]),
        ),
        ("block", Response::Block(Some(Box::new(block())))),
        ("no_block", Response::Block(None)),
        ("txs", Response::Txs(transactions())),
        ("data", Response::Data(Some(vec![1, 2, 3]))),
        ("no_data", Response::Data(None)),
    ]
}

fn records() -> Vec<(&'static str, Vote)> {
    let p = proposal();
    vec![
        ("notarize", vote(VoteKind::Notarize(p), 1)),
        ("nullify", vote(VoteKind::Nullify(8), 1)),
        ("finalize", vote(VoteKind::Finalize(p), 1)),
    ]
}

fn generate() -> Value {
    let list = |items: Vec<(&str, Vec<u8>)>| {
        items
            .into_iter()
            .map(|(name, bytes)| json!({ "name": name, "bytes": hex(&bytes) }))
            .collect::<Vec<_>>()
    };
    json!({
        "about": "Palisade peer-protocol frames (node/src/wire.rs), safety-log records and stored finality proofs, byte for byte. Keys are public test keys: never use them for anything else.",
        "namespace": hex(&NAMESPACE),
        "validators": (0..4u8).map(|i| hex(&signer(i).public_key().0)).collect::<Vec<_>>(),
        "requests": list(requests().into_iter().map(|(n, r)| (n, r.encode())).collect()),
        "responses": list(responses().into_iter().map(|(n, r)| (n, r.encode())).collect()),
        "safety_log_records": list(records().into_iter().map(|(n, v)| (n, node::safety_log::record(&v))).collect()),
        "finality_proofs": list(vec![("own_certificate", proof().encode()), ("re_proposal", proof_by_re_proposal().encode())]),
    })
}

fn stored(doc: &Value, section: &str) -> Vec<(String, Vec<u8>)> {
    doc[section]
        .as_array()
        .expect(section)
        .iter()
        .map(|v| {
            let name = v["name"].as_str().expect("name").to_owned();
            (name, unhex(v["bytes"].as_str().expect("bytes")))
        })
        .collect()
}

#[test]
fn wire_vectors_match_the_implementation() {
    let generated = generate();
    if std::env::var_os("PALISADE_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generated).expect("json") + "\n";
        std::fs::write(PATH, text).expect("write vectors");
    }
    let text = std::fs::read_to_string(PATH).expect("docs/test-vectors/wire.json exists");
    let doc: Value = serde_json::from_str(&text).expect("vectors are JSON");
    assert_eq!(
        doc, generated,
        "docs/test-vectors/wire.json is out of date with the encoding"
    );

    // And the stored bytes decode to the values, independently of `generate`.
    let limits = Limits::default();
    for ((name, bytes), (_, want)) in stored(&doc, "requests").into_iter().zip(requests()) {
        assert_eq!(
            Request::decode(&bytes, limits).expect(&name),
            want,
            "{name}"
        );
    }
    for ((name, bytes), (_, want)) in stored(&doc, "responses").into_iter().zip(responses()) {
        assert_eq!(
            Response::decode(&bytes, limits).expect(&name),
            want,
            "{name}"
        );
    }
    for ((name, bytes), (_, want)) in stored(&doc, "safety_log_records")
        .into_iter()
        .zip(records())
    {
        let (state, good) = node::safety_log::read_records(&bytes).expect(&name);
        assert_eq!(good, bytes.len(), "{name}: one whole record");
        let votes = &state.views[&want.kind.view()];
        let got = [votes.notarize, votes.nullify, votes.finalize];
        assert!(got.contains(&Some(want)), "{name}");
        assert!(
            want.verify(&validators(), &NAMESPACE, &Ed25519Verifier),
            "{name}: the signature verifies"
        );
    }
    let proofs = stored(&doc, "finality_proofs");
    for ((name, bytes), want) in proofs.iter().zip([proof(), proof_by_re_proposal()]) {
        let got = FinalityProof::decode(bytes).expect(name);
        assert!(got.closes(), "{name}: finalizes its block");
        let checked = got
            .certificate
            .verify(&validators(), &NAMESPACE, &Ed25519Verifier);
        assert_eq!(checked, Ok(()), "{name}: the certificate verifies");
        assert_eq!(got, want, "{name}");
    }
}
