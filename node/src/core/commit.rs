//! Finality: a block the engine reports final (or sync proves final) becomes the finalized
//! head in memory at once, and goes to the store as an [`Effect::Commit`]; once it is on
//! disk ([`super::Event::Committed`]) RPC and subscribers hear of it.

use tracing::info;

use super::{CommitJob, Committed, CoreError, Effect, Executed, NodeCore, RECENT_BLOCKS, hash};
use crate::handles::ChainEvent;
use crate::intake::PROPOSAL_VIEWS_BEHIND;
use crate::wire::FinalityProof;

impl NodeCore {
    /// Commit the blocks the engine reported final, in order, as far as they are executed.
    pub(super) fn try_commit(&mut self) -> Result<(), CoreError> {
        while let Some(proof) = self.finalize_queue.front() {
            let p = proof.proposal;
            if p.height <= self.header.height {
                self.finalize_queue.pop_front();
                continue;
            }
            let h = hash(&p.payload);
            if self.ensure_executed(h).is_none() {
                if let Some((_, why)) = self.invalid.get(&h) {
                    // The body checked is the one the certified header commits to, so this is
                    // not a bad copy: the finalized block itself breaks this node's rules.
                    return Err(CoreError::FinalizedInvalid {
                        hash: h,
                        height: p.height,
                        why: why.clone(),
                    });
                }
                break;
            }
            let Some(ex) = self.executed.remove(&h) else {
                break;
            };
            if ex.block.header.parent != self.header.id() {
                return Err(CoreError::FinalizedOffChain {
                    hash: h,
                    height: p.height,
                });
            }
            let Some(proof) = self.finalize_queue.pop_front() else {
                break;
            };
            // blocks finalized by consensus pace this node's proposals (synced ones, final
            // long ago, do not)
            self.pace.finalized(
                self.now.mono_ms,
                ex.block.txs.len(),
                self.cfg.min_block_interval_ms,
                self.cfg.max_block_txs,
            );
            self.commit(ex, proof)?;
        }
        Ok(())
    }

    /// Finalize a block in memory and hand it to the store ([`Effect::Commit`]): the next
    /// views build on it at once; RPC and subscribers hear of it once it is on disk
    /// ([`NodeCore::on_committed`]).
    pub(super) fn commit(&mut self, ex: Executed, proof: FinalityProof) -> Result<(), CoreError> {
        let height = ex.block.header.height;
        self.h.pool.lock().finalized(&ex.block.txs, &ex.state);
        let governance = ex.state.system.pending_changes != self.state.system.pending_changes;
        self.state = ex.state.clone();
        self.header = ex.block.header.clone();
        self.proposal = proof.proposal;
        self.head_height = self.head_height.max(height);
        // the finalized block stays servable from memory for a while (it was cached when
        // it arrived; a synced one is added here)
        self.h.cache.insert(ex.block.clone());
        self.h
            .cache
            .keep_above(height.saturating_sub(RECENT_BLOCKS));
        self.emit(Effect::Commit(Box::new(CommitJob {
            block: ex.block,
            receipts: ex.receipts,
            changes: ex.changes,
            state: ex.state,
            proof: proof.encode(),
            view: proof.proposal.view,
        })));
        self.blocks.retain(|_, b| b.header.height > height);
        self.executed.retain(|_, e| e.block.header.height > height);
        self.partial.retain(|_, p| p.header.height > height);
        let blocks = &self.blocks;
        self.pool_known.retain(|h, _| blocks.contains_key(h));
        let oldest = self.proposal.view.saturating_sub(PROPOSAL_VIEWS_BEHIND);
        self.proposed_in.retain(|v, _| *v >= oldest);
        // a block at or below the finalized height is never looked at again
        self.invalid.retain(|_, (h, _)| *h > height);
        let e = self.genesis.consensus.epoch_length.max(1);
        if height.is_multiple_of(e) {
            self.next_epoch()?;
        } else if governance {
            // connect to validators joining at the next boundary before they must vote
            self.announce_validators();
        }
        Ok(())
    }

    /// A finalized block is on disk: tell RPC readers and subscribers.
    pub(super) fn on_committed(&mut self, c: Committed) -> Result<(), CoreError> {
        let job = c.job;
        let height = job.block.header.height;
        c.result
            .map_err(|source| CoreError::Commit { height, source })?;
        let m = &self.h.metrics;
        m.blocks_finalized.inc();
        m.txs_finalized.inc_by(job.block.txs.len() as u64);
        let ok = job.receipts.iter().filter(|r| r.outcome.is_ok()).count();
        info!(height, txs = job.block.txs.len(), ok, view = job.view, hash = %job.block.id(), "finalized");
        self.h.included.with(|m| {
            for t in &job.block.txs {
                m.remove(&t.id());
            }
            m.retain(|_, i| i.height > height);
        });
        if height > self.announced_head {
            self.announced_head = height;
            self.emit(Effect::Chain(ChainEvent::NewHead(job.block.clone())));
        }
        self.emit(Effect::Chain(ChainEvent::Finalized(job.block.clone())));
        self.durable_state = job.state;
        self.durable_header = job.block.header.clone();
        self.h
            .durable_height
            .store(height, std::sync::atomic::Ordering::Relaxed);
        self.publish();
        Ok(())
    }
}
