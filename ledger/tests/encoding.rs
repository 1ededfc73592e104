//! The canonical encoding: round trips, bounded decoding of hostile bytes, golden vectors.

mod common;

use common::*;
use ledger::codec::{Decode, Encode, Limits, Reader, decode_exact};
use ledger::*;
use proptest::prelude::*;

fn arb_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

fn arb_kind() -> impl Strategy<Value = TxKind> {
    prop_oneof![
        (arb_key(), any::<u128>()).prop_map(|(to, amount)| TxKind::Transfer { to, amount }),
        (arb_key(), any::<u128>()).prop_map(|(to, amount)| TxKind::Mint { to, amount }),
        any::<u128>().prop_map(|amount| TxKind::Burn { amount }),
        (arb_key(), 0u8..3, any::<bool>()).prop_map(|(account, r, granted)| TxKind::SetRole {
            account,
            role: Role::from_tag(r).expect("role"),
            granted
        }),
        (arb_key(), any::<u64>(), ".{0,40}").prop_map(|(key, power, address)| {
            TxKind::AddValidator {
                key,
                power,
                address,
            }
        }),
        arb_key().prop_map(|key| TxKind::RemoveValidator { key }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(height, nonce)| TxKind::ClaimMiningReward { height, nonce }),
    ]
}

fn arb_tx() -> impl Strategy<Value = SignedTransaction> {
    (
        any::<[u8; 32]>(),
        arb_key(),
        any::<u64>(),
        any::<u64>(),
        arb_kind(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(chain, sender, nonce, expiry_height, kind, s1, s2)| {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&s1);
            sig[32..].copy_from_slice(&s2);
            SignedTransaction::new(
                Transaction {
                    chain_id: Hash(chain),
                    sender,
                    nonce,
                    expiry_height,
                    kind,
                },
                Signature(sig),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tx_round_trips(tx in arb_tx()) {
        let bytes = tx.encode();
        prop_assert_eq!(bytes.len(), tx.encoded_len());
        let back = SignedTransaction::decode_bytes(&bytes, Limits::default()).expect("decodes");
        prop_assert_eq!(back.id(), tx.id());
        prop_assert_eq!(&back, &tx);
        // any strict prefix fails, any extra byte fails
        prop_assert!(SignedTransaction::decode_bytes(&bytes[..bytes.len() - 1], Limits::default()).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(SignedTransaction::decode_bytes(&longer, Limits::default()).is_err());
    }

    #[test]
    fn block_and_receipts_round_trip(txs in prop::collection::vec(arb_tx(), 0..8), ts in any::<u64>()) {
        let header = BlockHeader {
            chain_id: Hash([1; 32]), height: 9, parent: Hash([2; 32]), timestamp_ms: ts,
            proposer: PublicKey([3; 32]), tx_root: ledger::block::tx_root(&txs),
            receipts_root: Hash([4; 32]), state_root: Hash([5; 32]), validators_hash: Hash([6; 32]),
        };
        let block = Block { header, txs };
        let bytes = block.encode();
        prop_assert_eq!(Block::decode_bytes(&bytes, Limits::default()).expect("decodes"), block.clone());
        let receipts: Vec<Receipt> = block.txs.iter().enumerate().map(|(i, t)| Receipt {
            tx_id: t.id(),
            outcome: if i % 2 == 0 { Ok(()) } else { Err(RejectReason::InsufficientBalance { have: i as u128, need: 99 }) },
        }).collect();
        for r in receipts {
            prop_assert_eq!(decode_exact::<Receipt>(&r.encode(), Limits::default()).expect("receipt"), r);
        }
    }

    /// Random bytes never panic a decoder, and whatever decodes re-encodes to the same bytes.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let limits = Limits::default();
        if let Ok(tx) = SignedTransaction::decode_bytes(&bytes, limits) {
            prop_assert_eq!(tx.encode(), bytes.clone());
        }
        if let Ok(b) = Block::decode_bytes(&bytes, limits) {
            prop_assert_eq!(b.encode(), bytes.clone());
        }
        if let Ok(r) = decode_exact::<Receipt>(&bytes, limits) {
            prop_assert_eq!(r.encode(), bytes.clone());
        }
        let _ = decode_exact::<AccountProof>(&bytes, limits);
        let _ = decode_exact::<SystemState>(&bytes, limits);
        let _ = decode_exact::<Account>(&bytes, limits);
    }

    /// Mutating one byte of a valid transaction never panics the decoder.
    #[test]
    fn mutated_tx_bytes_never_panic(tx in arb_tx(), pos in any::<prop::sample::Index>(), val in any::<u8>()) {
        let mut bytes = tx.encode();
        let i = pos.index(bytes.len());
        bytes[i] = val;
        let _ = SignedTransaction::decode_bytes(&bytes, Limits::default());
    }
}

#[test]
fn every_reject_reason_round_trips() {
    let reasons = vec![
        RejectReason::BadSignature,
        RejectReason::WrongChain {
            expected: Hash([9; 32]),
        },
        RejectReason::Expired {
            expiry_height: 3,
            height: 4,
        },
        RejectReason::NonceTooLow {
            expected: 5,
            got: 1,
        },
        RejectReason::NonceTooHigh {
            expected: 5,
            got: 9,
        },
        RejectReason::UnknownSender,
        RejectReason::InsufficientBalance { have: 1, need: 2 },
        RejectReason::MissingRole { role: Role::Mine },
        RejectReason::Overflow,
        RejectReason::ValidatorExists,
        RejectReason::ValidatorUnknown,
        RejectReason::LastValidator,
        RejectReason::ZeroVotingPower,
        RejectReason::InvalidValidatorKey,
        RejectReason::EmptyValidatorAddress,
        RejectReason::ClaimNotFinalized {
            height: 3,
            block_height: 3,
        },
        RejectReason::ClaimExpired {
            height: 1,
            expiry_height: 4,
        },
        RejectReason::AlreadyClaimed { height: 2 },
        RejectReason::AboveTarget { height: 2 },
    ];
    let mut codes: Vec<u8> = reasons.iter().map(RejectReason::code).collect();
    codes.dedup();
    assert_eq!(codes.len(), reasons.len());
    for r in reasons {
        let receipt = Receipt {
            tx_id: Hash([1; 32]),
            outcome: Err(r),
        };
        assert_eq!(
            decode_exact::<Receipt>(&receipt.encode(), Limits::default()),
            Ok(receipt)
        );
    }
}

#[test]
fn oversized_inputs_are_refused_before_decoding() {
    let limits = Limits {
        max_tx_bytes: 100,
        ..Limits::default()
    };
    let c = Chain::new();
    let tx = c.tx(ALICE, transfer(BOB, 1));
    assert!(matches!(
        SignedTransaction::decode_bytes(&tx.encode(), limits),
        Err(DecodeError::TooLong { .. })
    ));
    // a block claiming more transactions than allowed fails on the count, not after reading
    let limits = Limits {
        max_block_txs: 2,
        ..Limits::default()
    };
    let block = Block {
        header: c.head.clone(),
        txs: vec![tx.clone(), tx.clone(), tx],
    };
    assert!(matches!(
        Block::decode_bytes(&block.encode(), limits),
        Err(DecodeError::TooLong { .. })
    ));
    // a huge declared list length with no bytes behind it allocates nothing and fails
    let mut bytes = c.head.encode();
    bytes.extend_from_slice(&40_000u32.to_le_bytes());
    let mut r = Reader::new(&bytes, Limits::default());
    assert!(Block::decode(&mut r).is_err());
}

#[test]
fn unknown_versions_and_tags_are_rejected() {
    let c = Chain::new();
    let mut bytes = c.tx(ALICE, transfer(BOB, 1)).encode();
    bytes[0] = 2;
    assert_eq!(
        SignedTransaction::decode_bytes(&bytes, Limits::default()),
        Err(DecodeError::UnsupportedVersion {
            what: "transaction",
            version: 2
        })
    );
    bytes[0] = 1;
    bytes[1 + 32 + 32 + 8 + 8] = 99; // kind tag
    assert!(matches!(
        SignedTransaction::decode_bytes(&bytes, Limits::default()),
        Err(DecodeError::InvalidTag {
            what: "tx kind",
            tag: 99
        })
    ));
}

#[test]
fn tx_id_signing_message_and_block_id_are_domain_separated() {
    let c = Chain::new();
    let tx = c.tx(ALICE, transfer(BOB, 1));
    let bytes = tx.tx().encode();
    assert_ne!(tx.id(), *tx.signing_message());
    assert_eq!(tx.id(), Domain::TxId.hash(&bytes));
    assert_eq!(*tx.signing_message(), Domain::TxSigning.hash(&bytes));
    assert_ne!(Domain::Block.hash(&bytes), tx.id());
    assert_ne!(blake3::hash(&bytes).as_bytes(), &tx.id().0);
}
