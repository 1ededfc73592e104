//! What a byzantine node of the simulation does: the real core runs inside it (so it
//! speaks the protocol), and its frames and answers are changed on the way out, the way
//! `palisade adversary` changes a real node's: forged signatures in its blocks, tampered
//! bodies in its answers, two different proposals in one view, proposals and answers
//! withheld, floods of junk, and lies about its height.

use ledger::{Signature, SignedTransaction, Transaction, TxKind};

use super::net::SimRng;
use crate::wire::{Request, Response};

/// A byzantine node's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Its blocks carry a transfer out of another account with a forged signature.
    Forge,
    /// Its answers to `GetTxs` and `GetBlock` carry a transaction with a changed signature.
    Tamper,
    /// Half the validators get a different proposal (another timestamp) for its views.
    Equivocate,
    /// It never pushes its proposals and refuses every request.
    Withhold,
    /// Junk frames and transactions with bad signatures, every 20 ms.
    Flood,
    /// It claims a finalized height a million blocks ahead.
    Lie,
    /// Each of the above on a random share of its frames.
    Mixed,
}

impl Behaviour {
    /// Every behaviour, by name.
    pub const ALL: [(&'static str, Behaviour); 7] = [
        ("forge", Behaviour::Forge),
        ("tamper", Behaviour::Tamper),
        ("equivocate", Behaviour::Equivocate),
        ("withhold", Behaviour::Withhold),
        ("flood", Behaviour::Flood),
        ("lie", Behaviour::Lie),
        ("mixed", Behaviour::Mixed),
    ];

    /// The behaviour called `name`.
    pub fn parse(name: &str) -> Option<Behaviour> {
        Behaviour::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Behaviour::ALL
            .iter()
            .find(|(_, b)| *b == self)
            .map_or("?", |(n, _)| n)
    }

    fn does(self, b: Behaviour, rng: &mut SimRng) -> bool {
        self == b || (self == Behaviour::Mixed && rng.chance(300))
    }

    /// The frames that leave for peer number `to_rank` (its rank among the receivers)
    /// instead of `bytes`.
    pub(super) fn outgoing(
        self,
        bytes: Vec<u8>,
        to_rank: usize,
        limits: ledger::Limits,
        rng: &mut SimRng,
    ) -> Option<Vec<u8>> {
        let Ok(req) = Request::decode(&bytes, limits) else {
            return Some(bytes);
        };
        match req {
            Request::ProposedBlock { .. } if self.does(Behaviour::Withhold, rng) => None,
            Request::ProposedBlock {
                epoch,
                view,
                mut header,
                leaves,
            } if to_rank % 2 == 1 && self.does(Behaviour::Equivocate, rng) => {
                header.timestamp_ms += 1;
                Some(
                    Request::ProposedBlock {
                        epoch,
                        view,
                        header,
                        leaves,
                    }
                    .encode(),
                )
            }
            Request::Status { finalized_height } if self.does(Behaviour::Lie, rng) => Some(
                Request::Status {
                    finalized_height: finalized_height + 1_000_000,
                }
                .encode(),
            ),
            _ => Some(bytes),
        }
    }

    /// The answer it gives instead of `response`.
    pub(super) fn answer(self, response: Response, rng: &mut SimRng) -> Response {
        if self.does(Behaviour::Withhold, rng) {
            return Response::Refused("busy".into());
        }
        if !self.does(Behaviour::Tamper, rng) {
            return response;
        }
        match response {
            Response::Txs(mut txs) if !txs.is_empty() => {
                let i = rng.below(txs.len());
                txs[i] = tampered(&txs[i]);
                Response::Txs(txs)
            }
            Response::Block(Some(mut b)) if !b.txs.is_empty() => {
                let i = rng.below(b.txs.len());
                b.txs[i] = tampered(&b.txs[i]);
                Response::Block(Some(b))
            }
            other => other,
        }
    }

    /// What it floods its peers with at a housekeeping tick.
    pub(super) fn flood(
        self,
        chain_id: ledger::Hash,
        victims: &[ledger::PublicKey],
        rng: &mut SimRng,
    ) -> Vec<Vec<u8>> {
        if !self.does(Behaviour::Flood, rng) || victims.is_empty() {
            return Vec::new();
        }
        let junk: Vec<u8> = (0..rng.range(1, 64))
            .map(|_| rng.next_u64() as u8)
            .collect();
        let txs: Vec<SignedTransaction> = (0..32)
            .map(|i| {
                let victim = victims[rng.below(victims.len())];
                SignedTransaction::new(
                    Transaction {
                        chain_id,
                        sender: victim,
                        nonce: i,
                        expiry_height: u64::MAX,
                        kind: TxKind::Burn { amount: 1 },
                    },
                    Signature([7; 64]),
                )
            })
            .collect();
        vec![junk, Request::Txs(txs).encode()]
    }
}

/// `tx` with one bit of its signature flipped.
fn tampered(tx: &SignedTransaction) -> SignedTransaction {
    let mut sig = *tx.signature();
    sig.0[5] ^= 1;
    SignedTransaction::new(tx.tx().clone(), sig)
}
