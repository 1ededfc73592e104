//! The pool of proposed, unfinalized blocks: taking a block in, checking a proposal against
//! its block, executing blocks on their parents' states, and the verdicts on blocks that
//! break the rules.

use std::sync::Arc;

use consensus::Proposal;
use ledger::{Block, BlockHeader, Hash, LedgerState};
use libp2p::PeerId;
use tracing::{debug, warn};

use super::{Executed, NodeCore, hash, leader_key};
use crate::intake::{MAX_BLOCKS_AHEAD, MAX_PENDING_PER_PROPOSER};

/// How far ahead of this node's clock a proposal's timestamp may be before it gets no vote.
const FUTURE_TOLERANCE_MS: u64 = 10_000;

impl NodeCore {
    pub(super) fn block_header(&self, h: &Hash) -> Option<BlockHeader> {
        if *h == self.header.id() {
            return Some(self.header.clone());
        }
        self.blocks.get(h).map(|b| b.header.clone())
    }

    /// The state after block `h` and its header, executing it (and unexecuted ancestors)
    /// if needed; `None` if a block is missing (it is requested) or invalid.
    pub(super) fn ensure_executed(&mut self, h: Hash) -> Option<(LedgerState, BlockHeader)> {
        if h == self.header.id() {
            return Some((self.state.clone(), self.header.clone()));
        }
        if let Some(e) = self.executed.get(&h) {
            return Some((e.state.clone(), e.block.header.clone()));
        }
        if self.invalid.contains_key(&h) {
            return None;
        }
        let Some(block) = self.blocks.get(&h).cloned() else {
            self.request_block(h);
            return None;
        };
        if block.header.height <= self.header.height {
            return None; // on a branch below the finalized head
        }
        let (prev, parent) = self.ensure_executed(block.header.parent)?;
        // measured for the metric only: nothing is decided by it
        let t = std::time::Instant::now();
        let known = match self.pool_known.remove(&h) {
            Some(k) => {
                let unknown = k.iter().filter(|k| !**k).count();
                self.h
                    .metrics
                    .block_signatures_verified
                    .inc_by(unknown as u64);
                k
            }
            None => self.known_signatures(&block.txs),
        };
        match ledger::verify_block_with(&self.params, &prev, &parent, &block, &known) {
            Ok(outcome) => {
                let took = t.elapsed();
                self.h.metrics.verify_seconds.observe(took.as_secs_f64());
                debug!(
                    height = block.header.height,
                    txs = block.txs.len(),
                    ms = took.as_millis() as u64,
                    "block executed"
                );
                let state = outcome.state.clone();
                self.executed
                    .insert(h, Executed::new(block.clone(), outcome));
                self.announce_head(&block);
                Some((state, block.header.clone()))
            }
            Err(e) => {
                // the body is the one the header commits to (checked on arrival): the
                // block itself breaks the rules
                warn!(block = %h, height = block.header.height, proposer = %block.header.proposer, "invalid block: {e}");
                self.invalid.insert(h, (block.header.height, e.to_string()));
                self.blocks.remove(&h);
                self.h.cache.remove(&h);
                None
            }
        }
    }

    /// For each transaction of a block, whether this node has verified its signature: the
    /// mempool admits only transactions whose signatures verified, so one held there with
    /// the same leaf (every signed byte) needs no second check. Counts the rest.
    fn known_signatures(&self, txs: &[ledger::SignedTransaction]) -> Vec<bool> {
        let known: Vec<bool> = {
            let mp = self.h.pool.lock();
            txs.iter()
                .map(|t| mp.get_by_leaf(&t.leaf()).is_some())
                .collect()
        };
        let unknown = known.iter().filter(|k| !**k).count();
        self.h
            .metrics
            .block_signatures_verified
            .inc_by(unknown as u64);
        known
    }

    /// `Some(valid)` once decidable, `None` while a block is missing. A proposal that does
    /// not fit its block (height, parent, proposer) or whose timestamp is ahead of this
    /// node's clock gets no vote, but only a block that breaks the rules is recorded as
    /// invalid: the same block may be proposed properly elsewhere, and a quorum may finalize
    /// it whatever this node's clock says.
    pub(super) fn check_proposal(&mut self, p: &Proposal) -> Option<bool> {
        let h = hash(&p.payload);
        if self.invalid.contains_key(&h) {
            return Some(false);
        }
        let Some(block) = self.blocks.get(&h).cloned() else {
            self.request_block(h);
            return None;
        };
        let Some(parent) = self.epoch.engine.known_proposal(&p.parent) else {
            return Some(false);
        };
        let leader = self.epoch.set.leader(p.view);
        let hd = &block.header;
        let problem = if hd.height != p.height {
            Some("height differs from the proposal's")
        } else if hd.parent != hash(&parent.payload) {
            Some("parent differs from the proposal's parent")
        } else if Some(hd.proposer) != leader_key(&self.epoch.set, p.view) {
            Some("proposer is not the view's leader")
        } else if hd.timestamp_ms > self.now.wall_ms + FUTURE_TOLERANCE_MS {
            Some("timestamp more than 10 s in the future")
        } else {
            None
        };
        if let Some(why) = problem {
            warn!(block = %h, view = p.view, "no vote for the proposal: {why}");
            return Some(false);
        }
        match self.ensure_executed(h) {
            Some(_) => Some(true),
            None if self.invalid.contains_key(&h) => {
                // the leader signed a proposal naming a block that breaks the rules: proof
                // of misbehaviour (its signature binds it to exactly this block)
                self.h.metrics.invalid_proposals.inc();
                if let Some(peer) = self.epoch.peers.get(leader as usize).copied() {
                    self.penalize(peer, 50, "proposed a block that breaks the rules");
                }
                Some(false)
            }
            None => None,
        }
    }

    /// Put a block `from` sent (or rebuilt from what it sent) into the pool. Its body must be
    /// the one its header commits to: another body is `from`'s lie or corruption, refused
    /// and penalized, and the header is not judged by it. A block this node asked for by
    /// hash (`fetching`) is taken whoever proposed it; an unasked one only within its
    /// proposer's share of the pool.
    pub(super) fn add_block(&mut self, from: PeerId, block: Block) -> bool {
        let h = block.id();
        let height = block.header.height;
        if height <= self.header.height
            || height > self.header.height + MAX_BLOCKS_AHEAD
            || self.blocks.contains_key(&h)
            || self.invalid.contains_key(&h)
        {
            return false;
        }
        if !block.body_matches_header() {
            self.h.metrics.bodies_refused.inc();
            self.penalize(from, 25, "a block body its header does not commit to");
            return false;
        }
        let asked = self.fetching.contains_key(&h);
        if !asked && self.pending_of(&block.header.proposer) >= MAX_PENDING_PER_PROPOSER {
            return false;
        }
        self.head_height = self.head_height.max(height);
        self.fetching.remove(&h);
        let block = Arc::new(block);
        self.h.cache.insert(block.clone());
        self.blocks.insert(h, block);
        true
    }

    /// How many unfinalized blocks of `proposer` the pool holds (whole or being rebuilt).
    pub(super) fn pending_of(&self, proposer: &ledger::PublicKey) -> usize {
        self.blocks
            .values()
            .filter(|b| b.header.proposer == *proposer)
            .count()
            + self
                .partial
                .values()
                .filter(|p| p.header.proposer == *proposer)
                .count()
    }
}
