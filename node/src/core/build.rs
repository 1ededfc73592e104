//! Building this node's proposals: transactions from the mempool (paced by what consensus
//! finalized lately), executed on the parent's state, pushed to the validators as a header
//! and the transactions' leaves.

use std::cmp::Reverse;
use std::sync::Arc;

use consensus::{Input, View};
use ledger::Block;
use tracing::debug;

use super::{Effect, Executed, NodeCore, Timer, digest, hash};
use crate::handles::{ChainEvent, Included};
use crate::wire::Request;

/// A proposal whose parent block is missing is tried again after this long (ms).
const PARENT_RETRY_MS: u64 = 100;

impl NodeCore {
    /// Build and push this node's proposal for `view`, if the engine still wants it;
    /// returns the engine's input.
    pub(super) fn propose(&mut self, view: View) -> Option<Input> {
        let pending = self.pending_payload?;
        let (epoch, parent) = (pending.epoch, pending.parent);
        if epoch != self.epoch.number || pending.view != view || self.epoch.engine.view() != view {
            return None;
        }
        if self.silent() {
            // far behind (or just started): asked again until it may speak or the view ends
            self.timers.push(Reverse((
                self.now.mono_ms + PARENT_RETRY_MS,
                Timer::Propose { epoch, view },
            )));
            return None;
        }
        let parent_hash = hash(&parent.payload);
        let Some((prev, parent_header)) = self.ensure_executed(parent_hash) else {
            debug!(view, parent = %parent_hash, "proposal waits for its parent block");
            self.timers.push(Reverse((
                self.now.mono_ms + PARENT_RETRY_MS,
                Timer::Propose { epoch, view },
            )));
            return None;
        };
        // the interval after the parent, as usual; a full mempool may go before it with a
        // block's worth of transactions that can go in now. A mempool full of ones that
        // cannot (nonces after a gap, those of blocks not final yet) cut a storm of tiny
        // blocks under a backlog (BENCHMARKS.md, 2026-12-04, seventeenth session).
        let interval_out_ms = pending
            .due_ms
            .unwrap_or_else(|| self.interval_out(parent_header.timestamp_ms, pending.asked_ms));
        if let Some(p) = self.pending_payload.as_mut() {
            p.due_ms = Some(interval_out_ms);
        }
        let early = self.now.mono_ms < interval_out_ms;
        if early && !pending.full {
            // the parent came after the ask
            self.timers
                .push(Reverse((interval_out_ms, Timer::Propose { epoch, view })));
            return None;
        }
        // alone, nobody needs time to receive our clients' transactions
        let settle_ms = if self.epoch.peers.len() > 1 {
            self.cfg.settle_ms
        } else {
            0
        };
        let cap = self
            .pace
            .cap(self.cfg.min_block_interval_ms, self.cfg.max_block_txs);
        let ready = self
            .pace
            .ready(self.cfg.min_block_interval_ms, self.cfg.max_block_txs);
        let pool = self.h.pool.lock();
        if early && !pool.has_ready(&prev, ready, settle_ms, self.now.mono_ms) {
            drop(pool);
            debug!(
                view,
                ready,
                "a full mempool, but few transactions can go in: waiting out the block interval"
            );
            self.timers
                .push(Reverse((interval_out_ms, Timer::Propose { epoch, view })));
            return None;
        }
        let mut txs = pool.select(&prev, cap, settle_ms, self.now.mono_ms);
        drop(pool);
        self.pending_payload = None;
        if let Some(rewrite) = self.rewrite_proposal.as_mut() {
            txs = rewrite(&prev, txs);
        }
        let ts = self.now.wall_ms.max(parent_header.timestamp_ms + 1);
        // the pool holds only transactions whose signatures verified at admission
        let known = vec![true; txs.len()];
        let (block, outcome) = ledger::build_block_with(
            &self.params,
            &prev,
            &parent_header,
            ts,
            self.key.public(),
            txs,
            &known,
        );
        let block = Arc::new(block);
        let id = block.id();
        debug!(
            height = block.header.height,
            view,
            txs = block.txs.len(),
            "proposing"
        );
        self.proposed_in.insert(view, id);
        self.head_height = self.head_height.max(block.header.height);
        self.blocks.insert(id, block.clone());
        self.h.cache.insert(block.clone());
        self.executed
            .insert(id, Executed::new(block.clone(), outcome));
        self.announce_head(&block);
        // The validators hold the transactions from gossip (admission sends a client's
        // transaction on before answering): send them the header and the leaves (32 bytes a
        // transaction instead of ~200); what a validator lacks it asks for
        // (`Request::GetTxs`).
        let bytes = Request::ProposedBlock {
            epoch,
            view,
            header: block.header.clone(),
            leaves: block
                .txs
                .iter()
                .map(ledger::SignedTransaction::leaf)
                .collect(),
        }
        .encode();
        let to = self.other_validators();
        self.emit(Effect::Broadcast { to, bytes });
        Some(Input::Payload {
            view,
            payload: digest(&id),
        })
    }

    /// A block was executed: its transactions are now `included`, and a block above every
    /// earlier one is a new head for subscribers.
    pub(super) fn announce_head(&mut self, block: &Arc<Block>) {
        let id = block.id();
        let height = block.header.height;
        self.h.included.with(|m| {
            for (i, t) in block.txs.iter().enumerate() {
                m.insert(
                    t.id(),
                    Included {
                        height,
                        block: id,
                        index: i as u32,
                        leaf: t.leaf(),
                    },
                );
            }
        });
        if height > self.announced_head {
            self.announced_head = height;
            self.emit(Effect::Chain(ChainEvent::NewHead(block.clone())));
        }
    }
}
