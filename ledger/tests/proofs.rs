//! Account proofs against a header: valid proofs verify, any flipped byte is rejected.

mod common;

use common::*;
use ledger::codec::{Encode, Limits, decode_exact};
use ledger::light::verify_account_proof;
use ledger::*;

fn chain_with_history() -> Chain {
    let mut c = Chain::new();
    for round in 0..5u8 {
        let txs = (0..20u8)
            .map(|i| {
                let to = 100u8.wrapping_add(round * 20 + i);
                c.tx_with(
                    ALICE,
                    u64::from(round) * 20 + u64::from(i),
                    1000,
                    transfer(to, 1),
                )
            })
            .collect();
        c.block(txs);
    }
    c
}

#[test]
fn proofs_of_present_and_absent_accounts_verify_against_the_header() {
    let c = chain_with_history();
    for who in [ADMIN, ALICE, BOB, 100, 150, 199] {
        let k = key(who).public();
        let proof = c.state.prove(&k);
        assert_eq!(
            verify_account_proof(&c.head, &k, &proof),
            Ok(Some(c.state.account(&k))),
            "account {who}"
        );
    }
    for who in [5u8, 99, 220] {
        let k = key(who).public();
        let proof = c.state.prove(&k);
        assert_eq!(
            verify_account_proof(&c.head, &k, &proof),
            Ok(None),
            "absent {who}"
        );
    }
}

#[test]
fn a_proof_for_one_key_does_not_prove_another() {
    let c = chain_with_history();
    let alice = key(ALICE).public();
    let proof = c.state.prove(&alice);
    let bob = key(BOB).public();
    assert!(verify_account_proof(&c.head, &bob, &proof).is_err());
}

#[test]
fn every_flipped_byte_of_a_proof_is_rejected() {
    let c = chain_with_history();
    for who in [ALICE, 150, 7] {
        let k = key(who).public();
        let bytes = c.state.prove(&k).encode();
        let honest = decode_exact::<AccountProof>(&bytes, Limits::default()).expect("decodes");
        let expected = verify_account_proof(&c.head, &k, &honest).expect("honest proof verifies");
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                if let Ok(proof) = decode_exact::<AccountProof>(&bad, Limits::default()) {
                    let got = verify_account_proof(&c.head, &k, &proof);
                    assert!(
                        got.is_err(),
                        "flipping byte {i} bit {bit:#x} still verified: {got:?} (honest: {expected:?})"
                    );
                }
            }
        }
    }
}

#[test]
fn a_proof_against_an_old_header_fails_after_the_account_changed() {
    let mut c = chain_with_history();
    let old_head = c.head.clone();
    c.run(c.tx(BOB, transfer(ALICE, 1))).expect("transfer");
    let bob = key(BOB).public();
    let proof = c.state.prove(&bob);
    assert!(verify_account_proof(&old_head, &bob, &proof).is_err());
    assert!(verify_account_proof(&c.head, &bob, &proof).is_ok());
}
