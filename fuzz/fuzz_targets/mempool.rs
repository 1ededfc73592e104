//! The mempool under any sequence of admissions (clients and gossip, good and bad), blocks
//! finalized from its selection or from another proposer's transactions that take the
//! same nonces, and selections: its bookkeeping stays consistent, it stays within its
//! bound, nothing is both pending and finalized, every pending transaction can still
//! execute, and what it selects never fails the ledger's authentication.
#![no_main]

use std::collections::HashSet;

use arbitrary::Arbitrary;
use ledger::{Hash, RejectReason, Signature, SignedTransaction, Transaction, TxKind};
use libfuzzer_sys::fuzz_target;
use node::mempool::{AdmitError, Mempool};
use palisade_fuzz::{CHAIN, initial_state, key, params};

const MAX_TXS: usize = 12;
const WINDOW: u64 = 4;

#[derive(Arbitrary, Debug)]
struct TxSpec {
    sender: u8,
    nonce_ahead: i8,
    expiry_ahead: u8,
    kind: u8,
    amount: u16,
    to: u8,
    other_chain: u8,
    salt: u8,
}

impl TxSpec {
    fn build(&self, state: &ledger::LedgerState) -> SignedTransaction {
        let sender = key(self.sender % 7);
        let base = state.account(&sender).nonce;
        let nonce = base.saturating_add_signed(i64::from(self.nonce_ahead % 6));
        // mostly good transactions, so the pool fills and evicts; now and then expired,
        // for another chain or with a bad signature (`Op::Admit`)
        let expiry = match self.expiry_ahead {
            0 => state.height,
            x => state.height + 1 + u64::from(x % 16),
        };
        let to = key(self.to % 7);
        let amount = u128::from(self.amount);
        let kind = match self.kind % 4 {
            0 | 1 => TxKind::Transfer { to, amount },
            2 => TxKind::Burn { amount },
            _ => TxKind::Mint { to, amount },
        };
        let tx = Transaction {
            chain_id: if self.other_chain == 0 {
                Hash([1; 32])
            } else {
                CHAIN
            },
            sender,
            nonce,
            expiry_height: expiry,
            kind,
        };
        SignedTransaction::new(tx, Signature([self.salt; 64]))
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Admit {
        tx: TxSpec,
        bad_sig: u8,
        gossip: bool,
    },
    /// Finalize a block of up to `take` selected transactions, with `foreign` ones from
    /// another proposer put first.
    Finalize {
        take: u8,
        foreign: Vec<TxSpec>,
        settle: bool,
    },
    Select {
        max: u8,
        settle: bool,
    },
    Wait {
        ms: u16,
    },
}

/// Whether `r` is one of the ledger's authentication rules (what admission guarantees a
/// selected transaction passes).
fn authentication(r: &RejectReason) -> bool {
    matches!(
        r,
        RejectReason::BadSignature
            | RejectReason::WrongChain { .. }
            | RejectReason::Expired { .. }
            | RejectReason::UnknownSender
            | RejectReason::NonceTooLow { .. }
            | RejectReason::NonceTooHigh { .. }
    )
}

fuzz_target!(|ops: Vec<Op>| {
    let params = params();
    let mut state = initial_state(Vec::new());
    let mut parent = Hash::ZERO;
    let mut pool = Mempool::new(MAX_TXS, WINDOW).ordered();
    let mut finalized: HashSet<Hash> = HashSet::new();
    let mut now: u64 = 1_000;
    for op in ops.into_iter().take(200) {
        match op {
            Op::Admit {
                tx,
                bad_sig,
                gossip,
            } => {
                let sig_ok = bad_sig != 0;
                let stx = tx.build(&state);
                let id = stx.id();
                let t = stx.tx().clone();
                let held_before = pool.contains(&id);
                let before = pool.len();
                match pool.admit_at(stx.clone(), sig_ok, &CHAIN, &state, gossip, now) {
                    Ok(got) => {
                        assert_eq!(got, id);
                        assert!(!held_before && !finalized.contains(&id));
                        assert!(sig_ok && t.chain_id == CHAIN);
                        let acct = state.account(&t.sender);
                        assert!(!acct.is_empty());
                        assert!(t.nonce >= acct.nonce && t.nonce < acct.nonce + WINDOW);
                        assert!(t.expiry_height > state.height);
                        assert!(pool.holds_exactly(&stx));
                        assert!(pool.len() <= before + 1);
                    }
                    Err(AdmitError::AlreadyKnown) => assert!(held_before),
                    Err(AdmitError::NonceTaken(n)) => assert_eq!(n, t.nonce),
                    Err(AdmitError::Full(n)) => assert_eq!(n, MAX_TXS),
                    Err(AdmitError::AlreadyFinalized) => {}
                    Err(AdmitError::Rule(r)) => {
                        assert!(!held_before);
                        if !sig_ok {
                            assert_eq!(r, RejectReason::BadSignature);
                        }
                        assert!(pool.rejection(&id).is_some());
                    }
                }
            }
            Op::Finalize {
                take,
                foreign,
                settle,
            } => {
                let mut txs: Vec<SignedTransaction> =
                    foreign.iter().take(4).map(|s| s.build(&state)).collect();
                let settle_ms = if settle { 500 } else { 0 };
                txs.extend(pool.select(&state, usize::from(take % 16), settle_ms, now));
                let ok = vec![true; txs.len()];
                let outcome = ledger::execute_block(&params, &state, parent, &txs, &ok);
                parent = Hash(*blake3::hash(&parent.0).as_bytes());
                for (t, r) in txs.iter().zip(&outcome.receipts) {
                    if r.outcome.as_ref().is_ok()
                        || r.outcome.as_ref().is_err_and(|e| e.consumes_nonce())
                    {
                        finalized.insert(t.id());
                    }
                }
                state = outcome.state;
                pool.finalized(&txs, &state);
            }
            Op::Select { max, settle } => {
                let settle_ms = if settle { 500 } else { 0 };
                let picked = pool.select(&state, usize::from(max), settle_ms, now);
                assert!(picked.len() <= usize::from(max));
                let ok = vec![true; picked.len()];
                let outcome = ledger::execute_block(&params, &state, parent, &picked, &ok);
                for (t, r) in picked.iter().zip(&outcome.receipts) {
                    assert!(pool.holds_exactly(t));
                    if let Err(e) = &r.outcome {
                        assert!(!authentication(e), "selected {} fails {e}", t.id());
                    }
                }
            }
            Op::Wait { ms } => now += u64::from(ms),
        }
        pool.check_invariants(&state)
            .unwrap_or_else(|e| panic!("mempool bookkeeping: {e}"));
        for id in &finalized {
            assert!(!pool.contains(id), "{id} is both finalized and pending");
        }
    }
});
