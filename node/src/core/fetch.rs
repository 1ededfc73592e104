//! Getting proposed blocks: the header and transaction ids a leader pushes, rebuilt from
//! the mempool (waiting briefly for admission, then asking the leader for what is still
//! missing), and whole blocks fetched by hash from the validators when that fails or a
//! proposal names a block never pushed.

use consensus::View;
use ledger::{Block, BlockHeader, Hash, SignedTransaction};
use libp2p::PeerId;
use tracing::debug;

use super::{
    ADMISSION_WAIT_MS, Asked, CoreError, Effect, FETCH_GRACE_MS, FETCH_RETRY_MS,
    MAX_FETCH_ATTEMPTS, NodeCore, Partial, leader_key,
};
use crate::intake::{Intake, ProposalFacts};
use crate::wire::{Request, Response};

impl NodeCore {
    /// Ask the other validators for block `h`, unless it is on its way: first after
    /// [`FETCH_GRACE_MS`] (the leader's push may still arrive), then every
    /// [`FETCH_RETRY_MS`].
    pub(super) fn request_block(&mut self, h: Hash) {
        if self.fetching.contains_key(&h) || self.partial.contains_key(&h) {
            return;
        }
        self.fetching
            .insert(h, (self.now.mono_ms + FETCH_GRACE_MS, 0));
    }

    /// Send the block requests that are due.
    pub(super) fn send_fetches(&mut self) {
        let now = self.now.mono_ms;
        let mut due: Vec<(Hash, u32)> = self
            .fetching
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(h, (_, n))| (*h, *n))
            .collect();
        due.sort_unstable();
        for (h, asked) in due {
            // a block nobody serves (a branch that lost) is asked for again only when a
            // proposal or a child names it again
            if self.blocks.contains_key(&h) || asked >= MAX_FETCH_ATTEMPTS {
                self.fetching.remove(&h);
            } else if self.partial.contains_key(&h) {
                // being rebuilt from its leader's ids: look again later (a deadline left
                // in the past would wake the core at once, again and again)
                self.fetching.insert(h, (now + FETCH_RETRY_MS, asked));
            } else {
                self.fetching.insert(h, (now + FETCH_RETRY_MS, asked + 1));
                self.fetch_now(h);
            }
        }
    }

    fn fetch_now(&mut self, h: Hash) {
        self.h.metrics.blocks_fetched.inc();
        let bytes = Request::GetBlock { hash: h }.encode();
        for peer in self.other_validators() {
            let _ = self.ask(peer, bytes.clone(), Asked::Block { hash: h, peer });
        }
    }

    /// A validator's answer to `GetBlock` for `hash`.
    pub(super) fn on_fetched(
        &mut self,
        hash: Hash,
        peer: PeerId,
        result: Result<Vec<u8>, String>,
    ) -> Result<(), CoreError> {
        let Ok(bytes) = result else { return Ok(()) };
        match Response::decode(&bytes, self.params.limits) {
            Ok(Response::Block(Some(b))) if b.id() == hash => {
                if self.add_block(peer, *b) {
                    self.drive(None)?;
                }
            }
            Ok(Response::Block(Some(_))) => {
                self.penalize(peer, 25, "answered GetBlock with another block")
            }
            Ok(Response::Block(None)) => {}
            Ok(_) => self.penalize(peer, 20, "unexpected answer to GetBlock"),
            Err(e) => self.penalize(peer, 20, format!("malformed GetBlock answer: {e}")),
        }
        Ok(())
    }

    /// A proposal pushed by its leader: the header and its transactions' leaves. Taken only
    /// from the leader of `view` in this epoch, for a view near the engine's, one per view
    /// (a second, different one is equivocation evidence), within the proposer's share of
    /// the pool; rebuilt from the mempool, and what it lacks asked of the leader.
    pub(super) fn on_proposed_block(
        &mut self,
        peer: PeerId,
        epoch: u64,
        view: View,
        header: BlockHeader,
        leaves: Vec<Hash>,
    ) -> Result<(), CoreError> {
        let leader = self.epoch.set.leader(view);
        let h = header.id();
        let facts = ProposalFacts {
            this_epoch: epoch == self.epoch.number,
            sender_leads: self.epoch.peers.get(leader as usize) == Some(&peer),
            proposer_leads: Some(header.proposer) == leader_key(&self.epoch.set, view),
            view,
            current_view: self.epoch.engine.view(),
            leaves_match: ledger::hash::list_root(&leaves) == header.tx_root,
            id: h,
            earlier: self.proposed_in.get(&view).copied(),
            height: header.height,
            finalized_height: self.header.height,
            known: self.blocks.contains_key(&h)
                || self.partial.contains_key(&h)
                || self.invalid.contains_key(&h),
            pending_of_proposer: self.pending_of(&header.proposer),
        };
        match crate::intake::judge(&facts) {
            Intake::Take => {}
            Intake::Ignore(why) => {
                debug!(%peer, view, "proposal ignored: {why}");
                return Ok(());
            }
            Intake::Refuse(why) => {
                self.refuse(peer, why);
                return Ok(());
            }
            Intake::Equivocation(first) => {
                self.equivocation(peer, view, first, h);
                return Ok(());
            }
        }
        self.proposed_in.insert(view, h);
        let txs: Vec<Option<SignedTransaction>> = {
            let mp = self.h.pool.lock();
            leaves.iter().map(|l| mp.get_by_leaf(l).cloned()).collect()
        };
        let lacking = txs.iter().filter(|t| t.is_none()).count();
        debug!(
            height = header.height,
            view,
            txs = leaves.len(),
            lacking,
            "proposal from the leader"
        );
        let from_pool: Vec<bool> = txs.iter().map(Option::is_some).collect();
        if lacking == 0 {
            return self.add_rebuilt(peer, header, txs, from_pool);
        }
        // Gossip reaches a validator before the block that carries it (one connection, in
        // order) but may still wait in the admission queue: let admission catch up (at most
        // ADMISSION_WAIT_MS), then ask the leader only for what is still missing.
        self.partial.insert(
            h,
            Partial {
                header,
                leaves,
                txs,
                from_pool,
                leader: peer,
            },
        );
        self.emit(Effect::AwaitAdmission {
            block: h,
            within_ms: ADMISSION_WAIT_MS,
        });
        Ok(())
    }

    /// A leader sent two different proposals for one view: evidence, logged once per view,
    /// counted, and the sender penalized. The first proposal stays the one taken.
    fn equivocation(&mut self, peer: PeerId, view: View, first: Hash, second: Hash) {
        self.h.metrics.equivocations.inc();
        tracing::warn!(%peer, view, %first, %second, epoch = self.epoch.number, "equivocation: the leader proposed two different blocks for one view");
        self.penalize(
            peer,
            50,
            "equivocation: two different proposals for one view",
        );
    }

    /// Admission caught up for a block being rebuilt: take what gossip brought from the
    /// mempool, ask the leader for the rest.
    pub(super) fn on_admission_caught_up(&mut self, h: Hash) -> Result<(), CoreError> {
        let Some(part) = self.partial.get_mut(&h) else {
            return Ok(());
        };
        let missing: Vec<u32> = {
            let mp = self.h.pool.lock();
            part.txs
                .iter_mut()
                .zip(&part.leaves)
                .zip(part.from_pool.iter_mut())
                .enumerate()
                .filter_map(|(i, ((slot, leaf), pooled))| {
                    if slot.is_none() {
                        *slot = mp.get_by_leaf(leaf).cloned();
                        *pooled = slot.is_some();
                    }
                    slot.is_none().then_some(i as u32)
                })
                .collect()
        };
        debug!(
            height = part.header.height,
            missing = missing.len(),
            "admission caught up"
        );
        if missing.is_empty() {
            let Some(part) = self.partial.remove(&h) else {
                return Ok(());
            };
            return self.add_rebuilt(part.leader, part.header, part.txs, part.from_pool);
        }
        self.h
            .metrics
            .block_txs_fetched
            .inc_by(missing.len() as u64);
        let leader = part.leader;
        let bytes = Request::GetTxs {
            block: h,
            indices: missing,
        }
        .encode();
        let _ = self.ask(leader, bytes, Asked::Txs { hash: h });
        Ok(())
    }

    /// The leader's answer for a block being rebuilt: each transaction must be the one its
    /// leaf names; complete the block, or (a short or wrong answer) ask for it whole.
    pub(super) fn on_fetched_txs(
        &mut self,
        h: Hash,
        result: Result<Vec<u8>, String>,
    ) -> Result<(), CoreError> {
        let Some(mut part) = self.partial.remove(&h) else {
            return Ok(());
        };
        let got = match result.map(|b| Response::decode(&b, self.params.limits)) {
            Ok(Ok(Response::Txs(txs))) => txs,
            _ => Vec::new(),
        };
        let mut got = got.into_iter();
        let mut lied = false;
        for (slot, leaf) in part.txs.iter_mut().zip(&part.leaves) {
            if slot.is_none() {
                match got.next() {
                    Some(t) if t.leaf() == *leaf => *slot = Some(t),
                    Some(_) => {
                        lied = true;
                        break;
                    }
                    None => break,
                }
            }
        }
        if lied {
            self.h.metrics.bodies_refused.inc();
            self.penalize(
                part.leader,
                25,
                "answered GetTxs with transactions its proposal does not name",
            );
        }
        if part.txs.iter().any(Option::is_none) {
            debug!(block = %h, "leader did not supply the block's transactions: fetching it whole");
            self.fetching
                .insert(h, (self.now.mono_ms + FETCH_RETRY_MS, 1));
            self.fetch_now(h);
            return Ok(());
        }
        self.add_rebuilt(part.leader, part.header, part.txs, part.from_pool)
    }

    /// A block rebuilt from leaves with every transaction found: add it and go on.
    /// `from_pool` says which transactions came from the mempool (already verified).
    fn add_rebuilt(
        &mut self,
        from: PeerId,
        header: BlockHeader,
        txs: Vec<Option<SignedTransaction>>,
        from_pool: Vec<bool>,
    ) -> Result<(), CoreError> {
        let block = Block {
            header,
            txs: txs.into_iter().flatten().collect(),
        };
        let h = block.id();
        if self.add_block(from, block) {
            self.pool_known.insert(h, from_pool);
            self.drive(None)?;
        }
        Ok(())
    }
}
