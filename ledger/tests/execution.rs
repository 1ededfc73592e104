//! Execution rules: one test per rejection reason, the effects of each kind, determinism.

mod common;

use common::*;
use ledger::*;
use proptest::prelude::*;

#[test]
fn transfer_moves_coins_and_consumes_nonce() {
    let mut c = Chain::new();
    assert_eq!(c.run(c.tx(ALICE, transfer(BOB, 300))), Ok(()));
    assert_eq!(c.balance(ALICE), 700);
    assert_eq!(c.balance(BOB), 800);
    assert_eq!(c.nonce(ALICE), 1);
    // to a brand new account
    assert_eq!(c.run(c.tx(ALICE, transfer(50, 7))), Ok(()));
    assert_eq!(c.balance(50), 7);
    assert_eq!(c.state.system.total_supply, 2_600);
}

#[test]
fn reject_bad_signature() {
    let c = Chain::new();
    let good = c.tx(ALICE, transfer(BOB, 1));
    let mut sig = *good.signature();
    sig.0[5] ^= 0x40;
    let bad = SignedTransaction::new(good.tx().clone(), sig);
    // signed by someone else
    let forged = good.tx().clone().sign(&key(BOB));
    for tx in [bad, forged] {
        // what tx_simulate shows: the receipt, and nothing changed
        let out = execute_block(&c.params, &c.state, c.head.id(), &[tx], &[false]);
        assert_eq!(out.receipts[0].outcome, Err(RejectReason::BadSignature));
        assert!(out.changes.is_empty(), "a bad signature changes nothing");
    }
}

#[test]
fn a_block_never_carries_a_transaction_whose_signature_fails() {
    let mut c = Chain::new();
    let good = c.tx(ALICE, transfer(BOB, 1));
    let mut sig = *good.signature();
    sig.0[9] ^= 0x01;
    let forged = SignedTransaction::new(c.tx(BOB, transfer(ALICE, 7)).tx().clone(), sig);
    // a proposer leaves it out
    let (block, out) = build_block(
        &c.params,
        &c.state,
        &c.head,
        c.head.timestamp_ms + 1,
        key(VALIDATOR).public(),
        vec![forged.clone(), good.clone()],
    );
    assert_eq!(block.txs, vec![good.clone()]);
    assert_eq!(out.receipts.len(), 1);
    // a block that carries it anyway is invalid as a whole, with a consistent header
    let mut bad = block.clone();
    bad.txs.insert(0, forged.clone());
    bad.header.tx_root = ledger::block::tx_root(&bad.txs);
    assert!(bad.body_matches_header());
    assert_eq!(
        verify_block(&c.params, &c.state, &c.head, &bad).err(),
        Some(BlockError::BadSignature {
            index: 0,
            id: forged.id()
        })
    );
    // ... even when the caller claims to know the signature: `known` may only vouch for
    // exactly the bytes a node verified, so a lie here is the caller's bug, not a bypass
    // the header allows (the leaf differs from the honest transaction's)
    assert_ne!(forged.leaf(), good.leaf());
    c.block(vec![good]);
}

#[test]
fn the_header_commits_to_signatures() {
    let c = Chain::new();
    let tx = c.tx(ALICE, transfer(BOB, 1));
    let (block, _) = build_block(
        &c.params,
        &c.state,
        &c.head,
        c.head.timestamp_ms + 1,
        key(VALIDATOR).public(),
        vec![tx.clone()],
    );
    assert!(block.body_matches_header());
    // the same transaction with other signature bytes: same id, another body
    let mut sig = *tx.signature();
    sig.0[63] ^= 0x20;
    let mut other = block.clone();
    other.txs[0] = SignedTransaction::new(tx.tx().clone(), sig);
    assert_eq!(other.txs[0].id(), tx.id());
    assert!(!other.body_matches_header());
    assert!(matches!(
        verify_block(&c.params, &c.state, &c.head, &other),
        Err(BlockError::Mismatch {
            field: "tx_root",
            ..
        })
    ));
}

#[test]
fn a_timestamp_not_after_the_parents_is_invalid() {
    let c = Chain::new();
    let (mut block, _) = build_block(
        &c.params,
        &c.state,
        &c.head,
        0, // raised to the parent's + 1 by the builder
        key(VALIDATOR).public(),
        vec![],
    );
    assert_eq!(block.header.timestamp_ms, c.head.timestamp_ms + 1);
    assert!(verify_block(&c.params, &c.state, &c.head, &block).is_ok());
    block.header.timestamp_ms = c.head.timestamp_ms;
    assert_eq!(
        verify_block(&c.params, &c.state, &c.head, &block).err(),
        Some(BlockError::TimestampNotAfterParent {
            parent: c.head.timestamp_ms,
            got: c.head.timestamp_ms
        })
    );
}

#[test]
fn reject_wrong_chain() {
    let mut c = Chain::new();
    let tx = Transaction {
        chain_id: Hash([7; 32]),
        sender: key(ALICE).public(),
        nonce: 0,
        expiry_height: 100,
        kind: transfer(BOB, 1),
    }
    .sign(&key(ALICE));
    assert_eq!(
        c.run(tx),
        Err(RejectReason::WrongChain {
            expected: c.params.chain_id
        })
    );
    assert_eq!(c.nonce(ALICE), 0);
}

#[test]
fn reject_expired() {
    let mut c = Chain::new();
    c.block(vec![]); // height 1
    let tx = c.tx_with(ALICE, 0, 1, transfer(BOB, 1));
    assert_eq!(
        c.run(tx),
        Err(RejectReason::Expired {
            expiry_height: 1,
            height: 2
        })
    );
    // expiry equal to the height is still valid
    let tx = c.tx_with(ALICE, 0, 3, transfer(BOB, 1));
    assert_eq!(c.run(tx), Ok(()));
}

#[test]
fn reject_nonce_too_low_and_too_high() {
    let mut c = Chain::new();
    let first = c.tx(ALICE, transfer(BOB, 1));
    assert_eq!(c.run(first.clone()), Ok(()));
    assert_eq!(
        c.run(first),
        Err(RejectReason::NonceTooLow {
            expected: 1,
            got: 0
        }),
        "replay"
    );
    let ahead = c.tx_with(ALICE, 5, 1000, transfer(BOB, 1));
    assert_eq!(
        c.run(ahead),
        Err(RejectReason::NonceTooHigh {
            expected: 1,
            got: 5
        })
    );
    assert_eq!(c.nonce(ALICE), 1);
}

#[test]
fn reject_unknown_sender() {
    let mut c = Chain::new();
    let tx = c.tx(77, transfer(BOB, 0));
    assert_eq!(c.run(tx), Err(RejectReason::UnknownSender));
    assert_eq!(
        c.state.accounts.get(&key(77).public()),
        None,
        "no account is created"
    );
}

#[test]
fn reject_insufficient_balance_consumes_nonce() {
    let mut c = Chain::new();
    assert_eq!(
        c.run(c.tx(BOB, transfer(ALICE, 501))),
        Err(RejectReason::InsufficientBalance {
            have: 500,
            need: 501
        })
    );
    assert_eq!(c.balance(BOB), 500);
    assert_eq!(c.nonce(BOB), 1, "authenticated failures consume the nonce");
    assert_eq!(
        c.run(c.tx(BOB, TxKind::Burn { amount: 501 })),
        Err(RejectReason::InsufficientBalance {
            have: 500,
            need: 501
        })
    );
}

#[test]
fn reject_missing_role_for_every_kind() {
    let mut c = Chain::new();
    let cases = [
        (NOBODY, transfer(BOB, 1), Role::Transact),
        (
            ALICE,
            TxKind::Mint {
                to: key(ALICE).public(),
                amount: 1,
            },
            Role::Admin,
        ),
        (NOBODY, TxKind::Burn { amount: 1 }, Role::Transact),
        (
            ALICE,
            TxKind::SetRole {
                account: key(ALICE).public(),
                role: Role::Admin,
                granted: true,
            },
            Role::Admin,
        ),
        (
            ALICE,
            TxKind::AddValidator {
                key: key(11).public(),
                power: 1,
                address: "/ip4/127.0.0.1/tcp/2".into(),
            },
            Role::Admin,
        ),
        (
            ALICE,
            TxKind::RemoveValidator {
                key: key(VALIDATOR).public(),
            },
            Role::Admin,
        ),
        (
            ALICE,
            TxKind::ClaimMiningReward {
                height: 0,
                nonce: 0,
            },
            Role::Mine,
        ),
    ];
    for (who, kind, role) in cases {
        let before = c.state.root();
        let nonce = c.nonce(who);
        assert_eq!(
            c.run(c.tx(who, kind.clone())),
            Err(RejectReason::MissingRole { role }),
            "{kind:?}"
        );
        assert_eq!(c.nonce(who), nonce + 1);
        assert_ne!(c.state.root(), before, "only the nonce changed");
    }
    assert_eq!(c.balance(NOBODY), 100);
}

#[test]
fn reject_overflow() {
    let mut c = Chain::new();
    let near_max = u128::MAX - c.state.system.total_supply;
    assert_eq!(
        c.run(c.tx(
            ADMIN,
            TxKind::Mint {
                to: key(BOB).public(),
                amount: near_max
            }
        )),
        Ok(())
    );
    assert_eq!(c.state.system.total_supply, u128::MAX);
    assert_eq!(
        c.run(c.tx(
            ADMIN,
            TxKind::Mint {
                to: key(ALICE).public(),
                amount: 1
            }
        )),
        Err(RejectReason::Overflow)
    );
    // (a transfer cannot overflow: every balance is at most the supply, itself a u128)
    assert_eq!(c.nonce(ADMIN), 2, "the rejected mint consumed its nonce");
}

#[test]
fn mint_burn_and_roles() {
    let mut c = Chain::new();
    assert_eq!(
        c.run(c.tx(
            ADMIN,
            TxKind::Mint {
                to: key(MINER).public(),
                amount: 40
            }
        )),
        Ok(())
    );
    assert_eq!(c.balance(MINER), 40);
    assert_eq!(c.state.system.total_supply, 2_640);
    assert_eq!(c.run(c.tx(ALICE, TxKind::Burn { amount: 100 })), Ok(()));
    assert_eq!(c.state.system.total_supply, 2_540);
    let grant = TxKind::SetRole {
        account: key(NOBODY).public(),
        role: Role::Transact,
        granted: true,
    };
    assert_eq!(c.run(c.tx(ADMIN, grant)), Ok(()));
    assert_eq!(c.run(c.tx(NOBODY, transfer(BOB, 10))), Ok(()));
    let revoke = TxKind::SetRole {
        account: key(NOBODY).public(),
        role: Role::Transact,
        granted: false,
    };
    assert_eq!(c.run(c.tx(ADMIN, revoke)), Ok(()));
    assert_eq!(
        c.run(c.tx(NOBODY, transfer(BOB, 10))),
        Err(RejectReason::MissingRole {
            role: Role::Transact
        })
    );
}

#[test]
fn validator_changes_wait_for_the_epoch_boundary() {
    let mut c = Chain::new();
    let add = TxKind::AddValidator {
        key: key(11).public(),
        power: 3,
        address: "/ip4/127.0.0.1/tcp/2".into(),
    };
    assert_eq!(c.run(c.tx(ADMIN, add.clone())), Ok(()));
    assert_eq!(c.run(c.tx(ADMIN, add)), Err(RejectReason::ValidatorExists));
    assert_eq!(
        c.state.system.validators.len(),
        1,
        "not before the epoch ends"
    );
    assert_eq!(c.state.system.pending_changes.len(), 1);
    while c.state.height < 9 {
        c.block(vec![]);
    }
    assert_eq!(c.state.system.validators.len(), 1);
    let (block, _) = c.block(vec![]); // height 10: epoch boundary
    assert_eq!(c.state.system.validators.len(), 2);
    assert!(c.state.system.pending_changes.is_empty());
    assert_eq!(
        block.header.validators_hash,
        ledger::state::validator_set_hash(&c.state.system.validators)
    );

    let remove = |k: u8| TxKind::RemoveValidator {
        key: key(k).public(),
    };
    assert_eq!(
        c.run(c.tx(ADMIN, remove(12))),
        Err(RejectReason::ValidatorUnknown)
    );
    assert_eq!(c.run(c.tx(ADMIN, remove(VALIDATOR))), Ok(()));
    assert_eq!(
        c.run(c.tx(ADMIN, remove(11))),
        Err(RejectReason::LastValidator)
    );
    assert_eq!(
        c.run(c.tx(ADMIN, remove(VALIDATOR))),
        Err(RejectReason::ValidatorUnknown),
        "already pending removal"
    );
}

#[test]
fn reject_bad_validator_additions() {
    let mut c = Chain::new();
    let add = |k: PublicKey, power: u64, address: &str| TxKind::AddValidator {
        key: k,
        power,
        address: address.into(),
    };
    assert_eq!(
        c.run(c.tx(ADMIN, add(key(11).public(), 0, "/a"))),
        Err(RejectReason::ZeroVotingPower)
    );
    assert_eq!(
        c.run(c.tx(ADMIN, add(key(11).public(), 1, " "))),
        Err(RejectReason::EmptyValidatorAddress)
    );
    let weak = PublicKey([0; 32]);
    assert_eq!(
        c.run(c.tx(ADMIN, add(weak, 1, "/a"))),
        Err(RejectReason::InvalidValidatorKey)
    );
    assert_eq!(
        c.run(c.tx(ADMIN, add(key(11).public(), u64::MAX, "/a"))),
        Err(RejectReason::Overflow)
    );
}

/// A nonce for `who` on the challenge of the block at `height` (the chain's head or an
/// ancestor still in the claim window) that meets (`valid`) or misses the target.
fn solve(c: &Chain, who: u8, height: u64, valid: bool) -> u64 {
    let m = &c.state.system.mining;
    // the head's challenge opens in the next block; older ones are in the state
    let (challenge, target) = match m.challenges.iter().find(|ch| ch.height == height) {
        Some(ch) => (ch.challenge, ch.target),
        None => {
            assert_eq!(height, c.head.height);
            (c.head.id(), m.target)
        }
    };
    let seed = mining::seed(&challenge, &key(who).public());
    (0u64..)
        .find(|n| mining::meets_target(&mining::pow_hash(&seed, *n), &target) == valid)
        .expect("some nonce solves it")
}

fn claim(height: u64, nonce: u64) -> TxKind {
    TxKind::ClaimMiningReward { height, nonce }
}

#[test]
fn mining_claims_pay_once_per_challenge_and_expire() {
    let mut c = Chain::new();
    c.block(vec![]);
    c.block(vec![]);
    let supply = c.state.system.total_supply;
    // a valid solution for the head (height 2) lands in block 3 and mints the reward
    let n = solve(&c, MINER, 2, true);
    assert_eq!(c.run(c.tx(MINER, claim(2, n))), Ok(()));
    assert_eq!(c.balance(MINER), 50);
    assert_eq!(c.state.system.total_supply, supply + 50);
    // duplicate: same challenge again, by anyone
    let n2 = solve(&c, MINER, 2, true);
    assert_eq!(
        c.run(c.tx(MINER, claim(2, n2))),
        Err(RejectReason::AlreadyClaimed { height: 2 })
    );
    // above target; and a nonce found under another miner's seed
    let bad = solve(&c, MINER, 4, false);
    assert_eq!(
        c.run(c.tx(MINER, claim(4, bad))),
        Err(RejectReason::AboveTarget { height: 4 })
    );
    // wrong seed: a nonce that solves ALICE's seed but not the sender's
    let h = c.head.height;
    let target = c.state.system.mining.target;
    let (alice, miner) = (
        mining::seed(&c.head.id(), &key(ALICE).public()),
        mining::seed(&c.head.id(), &key(MINER).public()),
    );
    let n = (0u64..)
        .find(|n| {
            mining::meets_target(&mining::pow_hash(&alice, *n), &target)
                && !mining::meets_target(&mining::pow_hash(&miner, *n), &target)
        })
        .expect("some nonce solves one seed only");
    assert_eq!(
        c.run(c.tx(MINER, claim(h, n))),
        Err(RejectReason::AboveTarget { height: h })
    );
    // not yet finalized: the including block itself or later
    let h = c.head.height;
    assert_eq!(
        c.run(c.tx(MINER, claim(h + 1, 0))),
        Err(RejectReason::ClaimNotFinalized {
            height: h + 1,
            block_height: h + 1
        })
    );
    // stale: older than the 3-block claim expiry
    assert_eq!(
        c.run(c.tx(MINER, claim(1, 0))),
        Err(RejectReason::ClaimExpired {
            height: 1,
            expiry_height: 4
        })
    );
    // every rejection used the nonce: the same signed claim can never come back
    assert_eq!(c.balance(MINER), 50);
    assert_eq!(c.nonce(MINER), 6);
    // an account without `mine`
    let n = solve(&c, ALICE, c.head.height, true);
    assert_eq!(
        c.run(c.tx(ALICE, claim(c.head.height, n))),
        Err(RejectReason::MissingRole { role: Role::Mine })
    );
}

#[test]
fn two_claims_for_one_challenge_in_one_block_pay_the_first() {
    let mut c = Chain::new();
    c.block(vec![]);
    assert_eq!(
        c.run(c.tx(
            ADMIN,
            TxKind::SetRole {
                account: key(ALICE).public(),
                role: Role::Mine,
                granted: true
            }
        )),
        Ok(())
    );
    let h = c.head.height;
    let a = c.tx(ALICE, claim(h, solve(&c, ALICE, h, true)));
    let m = c.tx(MINER, claim(h, solve(&c, MINER, h, true)));
    let (_, out) = c.block(vec![m, a]);
    assert_eq!(out.receipts[0].outcome, Ok(()));
    assert_eq!(
        out.receipts[1].outcome,
        Err(RejectReason::AlreadyClaimed { height: h })
    );
    assert_eq!(c.balance(MINER), 50);
    assert_eq!(
        c.state
            .system
            .mining
            .challenges
            .iter()
            .filter(|ch| ch.winner.is_some())
            .count(),
        1
    );
}

#[test]
fn difficulty_retargets_each_epoch_toward_the_rate() {
    // E = 5 blocks, S = 1 solution per epoch, K = 3
    let mut c = Chain::new();
    let t0 = c.state.system.mining.target;
    // epoch 1 (blocks 1..=5): three solutions, 3× the rate → target ÷ 3
    for _ in 0..3 {
        let h = c.head.height;
        let n = solve(&c, MINER, h, true);
        assert_eq!(c.run(c.tx(MINER, claim(h, n))), Ok(()));
    }
    c.block(vec![]);
    c.block(vec![]);
    assert_eq!(c.head.height, 5);
    let m = &c.state.system.mining;
    assert_eq!(m.history.len(), 1);
    assert_eq!(m.history[0].solutions, 3);
    assert_eq!(m.target, mining::retarget(&t0, 3, 1));
    assert!(m.target < t0);
    let t1 = m.target;
    // epoch 2: no solution → eases ×4
    for _ in 0..5 {
        c.block(vec![]);
    }
    let m = &c.state.system.mining;
    assert_eq!(m.history[1].solutions, 0);
    assert_eq!(m.target, mining::retarget(&t1, 0, 1));
    // a challenge made in epoch 1 keeps epoch 1's target while it is claimable
    assert!(m.challenges.iter().all(|ch| ch.height > 6));
}

#[test]
fn a_tx_twice_in_one_block_runs_once() {
    let mut c = Chain::new();
    let tx = c.tx(ALICE, transfer(BOB, 10));
    let (_, out) = c.block(vec![tx.clone(), tx]);
    assert_eq!(out.receipts[0].outcome, Ok(()));
    assert_eq!(
        out.receipts[1].outcome,
        Err(RejectReason::NonceTooLow {
            expected: 1,
            got: 0
        })
    );
    assert_eq!(c.balance(BOB), 510);
}

#[test]
fn verify_block_catches_every_tampered_header_field() {
    let mut c = Chain::new();
    let tx = c.tx(ALICE, transfer(BOB, 10));
    let (block, _) = build_block(
        &c.params,
        &c.state,
        &c.head,
        5,
        key(VALIDATOR).public(),
        vec![tx],
    );
    assert!(verify_block(&c.params, &c.state, &c.head, &block).is_ok());
    let tamper: Vec<fn(&mut Block)> = vec![
        |b| b.header.state_root.0[0] ^= 1,
        |b| b.header.receipts_root.0[0] ^= 1,
        |b| b.header.tx_root.0[0] ^= 1,
        |b| b.header.validators_hash.0[0] ^= 1,
        |b| b.header.parent.0[0] ^= 1,
        |b| b.header.height += 1,
        |b| b.header.chain_id.0[0] ^= 1,
        |b| b.txs.clear(),
    ];
    for (i, t) in tamper.iter().enumerate() {
        let mut bad = block.clone();
        t(&mut bad);
        assert!(
            verify_block(&c.params, &c.state, &c.head, &bad).is_err(),
            "tamper {i} went unnoticed"
        );
    }
    c.block(vec![]);
}

#[test]
fn signatures_vouched_for_are_not_checked_again_and_the_rest_are() {
    let c = Chain::new();
    // 600 transactions: more than two batches of 256, so several run in parallel
    let mut txs: Vec<SignedTransaction> = (0..600)
        .map(|n| c.tx_with(ALICE, n, 1000, transfer(BOB, 1)))
        .collect();
    let bad = [3usize, 300, 599];
    for &i in &bad {
        let mut sig = *txs[i].signature();
        sig.0[7] ^= 0x10;
        txs[i] = SignedTransaction::new(txs[i].tx().clone(), sig);
    }
    let all = tx::verify_signatures(&txs);
    for (i, ok) in all.iter().enumerate() {
        assert_eq!(*ok, !bad.contains(&i), "transaction {i}");
    }
    // known entries are trusted as given; missing entries count as unknown
    let mut known = vec![false; 400];
    known[3] = true;
    known[10] = true;
    let some = tx::verify_signatures_unless(&txs, &known);
    for (i, ok) in some.iter().enumerate() {
        assert_eq!(*ok, i == 3 || !bad.contains(&i), "transaction {i}");
    }

    // a block: verification with nothing vouched for catches the bad signature (its
    // receipt differs from the proposer's), and vouching for it is exactly what a node must
    // only do for signatures it checked
    let good = c.tx(ALICE, transfer(BOB, 1));
    let (block, _) = build_block_with(
        &c.params,
        &c.state,
        &c.head,
        5,
        key(VALIDATOR).public(),
        vec![good.clone()],
        &[true],
    );
    assert!(verify_block(&c.params, &c.state, &c.head, &block).is_ok());
    assert!(verify_block_with(&c.params, &c.state, &c.head, &block, &[true]).is_ok());
    let mut sig = *good.signature();
    sig.0[9] ^= 0x01;
    let forged = SignedTransaction::new(good.tx().clone(), sig);
    // a proposer that vouches for a bad signature builds a block honest nodes refuse
    let (lying, _) = build_block_with(
        &c.params,
        &c.state,
        &c.head,
        5,
        key(VALIDATOR).public(),
        vec![forged],
        &[true],
    );
    assert!(verify_block(&c.params, &c.state, &c.head, &lying).is_err());
    assert!(verify_block_with(&c.params, &c.state, &c.head, &lying, &[false]).is_err());
}

#[test]
fn supply_equals_sum_of_balances() {
    let mut c = Chain::new();
    let txs = vec![
        c.tx(
            ADMIN,
            TxKind::Mint {
                to: key(60).public(),
                amount: 77,
            },
        ),
        c.tx(ALICE, transfer(61, 5)),
        c.tx(BOB, TxKind::Burn { amount: 9 }),
    ];
    c.block(txs);
    let mut sum = 0u128;
    c.state.accounts.for_each(|_, a| sum += a.balance);
    assert_eq!(sum, c.state.system.total_supply);
}

fn arb_kind() -> impl Strategy<Value = TxKind> {
    let who = 0u8..8;
    prop_oneof![
        (who.clone(), any::<u128>()).prop_map(|(t, amount)| TxKind::Transfer {
            to: key(t).public(),
            amount
        }),
        (who.clone(), 0u128..2000).prop_map(|(t, amount)| TxKind::Transfer {
            to: key(t).public(),
            amount
        }),
        (who.clone(), any::<u128>()).prop_map(|(t, amount)| TxKind::Mint {
            to: key(t).public(),
            amount
        }),
        any::<u128>().prop_map(|amount| TxKind::Burn { amount }),
        (who.clone(), 0u8..3, any::<bool>()).prop_map(|(t, r, granted)| TxKind::SetRole {
            account: key(t).public(),
            role: Role::from_tag(r).expect("role"),
            granted
        }),
        (8u8..12, any::<u64>(), "[ a-z/0-9]{0,12}").prop_map(|(k, power, address)| {
            TxKind::AddValidator {
                key: key(k).public(),
                power,
                address,
            }
        }),
        (8u8..12).prop_map(|k| TxKind::RemoveValidator {
            key: key(k).public()
        }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(height, nonce)| TxKind::ClaimMiningReward { height, nonce }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any decodable transactions, signed or not, with any nonce: execution never panics,
    /// the supply invariant holds, and a second run of the same blocks gives the same roots.
    #[test]
    fn execution_never_panics_and_is_deterministic(
        blocks in prop::collection::vec(
            prop::collection::vec((0u8..6, 0u64..4, 0u64..30, arb_kind(), any::<bool>()), 0..12), 1..5)
    ) {
        let run = || {
            let mut c = Chain::new();
            let mut roots = Vec::new();
            for txs in &blocks {
                let txs: Vec<SignedTransaction> = txs
                    .iter()
                    .map(|(who, nonce_delta, expiry, kind, corrupt)| {
                        let nonce = c.nonce(*who).saturating_add(*nonce_delta).saturating_sub(1);
                        let tx = c.tx_with(*who, nonce, *expiry, kind.clone());
                        if *corrupt {
                            let mut sig = *tx.signature();
                            sig.0[63] ^= 0x10;
                            SignedTransaction::new(tx.tx().clone(), sig)
                        } else {
                            tx
                        }
                    })
                    .collect();
                let (block, _) = c.block(txs);
                roots.push(block.header.state_root);
                let mut sum = 0u128;
                let mut overflow = false;
                c.state.accounts.for_each(|_, a| {
                    match sum.checked_add(a.balance) { Some(s) => sum = s, None => overflow = true }
                });
                assert!(!overflow);
                assert_eq!(sum, c.state.system.total_supply);
            }
            roots
        };
        prop_assert_eq!(run(), run());
    }
}
