//! Running the engine: feeding it inputs, carrying out its actions, firing timers, and the
//! progress loop that turns newly possible work (verifications, commits) into inputs.

use std::cmp::Reverse;
use std::collections::VecDeque;

use consensus::{Action, Input, Message};
use tracing::{debug, info};

use super::{CoreError, Effect, KEPT_COMPACT_AT, NodeCore, PendingPayload, Timer, hash};
use crate::wire::{FinalityProof, Request};

impl NodeCore {
    /// Keep the block `vote` is for (a notarize or finalize vote) durably before the vote:
    /// once the vote is out the block may be notarized, and the next proposal must extend
    /// it. Held only in memory, it was gone from every validator after they all stopped at
    /// once, and the chain stalled for good (BENCHMARKS.md, 2026-12-04, sixteenth session).
    /// Each block once per epoch; nothing for a nullify vote or a finalized block.
    fn keep_voted_block(&mut self, epoch: u64, vote: &consensus::Vote) -> Result<(), CoreError> {
        let p = match &vote.kind {
            consensus::VoteKind::Notarize(p) | consensus::VoteKind::Finalize(p) => p,
            consensus::VoteKind::Nullify(_) => return Ok(()),
        };
        let id = hash(&p.payload);
        if p.height <= self.header.height || self.kept.contains_key(&id) {
            return Ok(());
        }
        // the engine votes only for a block this node executed, so it is here
        let Some(block) = self.blocks.get(&id).cloned() else {
            return Ok(());
        };
        if self.kept.len() >= self.kept_compact_at {
            self.compact_kept_blocks(epoch)?;
        }
        self.votes
            .keep_block(epoch, &ledger::codec::Encode::encode(block.as_ref()))
            .map_err(CoreError::SafetyLog)?;
        self.kept.insert(id, (p.height, block));
        Ok(())
    }

    /// Rewrite the epoch's block log with only the kept blocks above the stored head: the
    /// others are final and in the store. Without it the log grew by every block of the
    /// epoch (hundreds of MB at the reference rate), all read back at each start. When
    /// most kept blocks are still needed (commits lag), the next rewrite waits until the
    /// log has doubled, so a rewrite never follows every vote.
    fn compact_kept_blocks(&mut self, epoch: u64) -> Result<(), CoreError> {
        // a block final in memory is out of the pool but not stored yet: it stays (if
        // every validator crashed now, its finalize votes would need it again)
        let stored = self.durable_header.height;
        self.kept.retain(|_, (height, _)| *height > stored);
        let bytes: Vec<Vec<u8>> = self
            .kept
            .values()
            .map(|(_, b)| ledger::codec::Encode::encode(b.as_ref()))
            .collect();
        self.votes
            .rewrite_blocks(epoch, &bytes)
            .map_err(CoreError::SafetyLog)?;
        self.kept_compact_at = KEPT_COMPACT_AT.max(2 * self.kept.len());
        Ok(())
    }

    /// Feed `first` (if any) to the engine and everything that follows from it, until
    /// nothing more is possible.
    pub(super) fn drive(&mut self, first: Option<Input>) -> Result<(), CoreError> {
        let mut queue: VecDeque<Input> = first.into_iter().collect();
        loop {
            while let Some(input) = queue.pop_front() {
                let actions = self.epoch.engine.handle(input);
                for a in actions {
                    self.act(a, &mut queue)?;
                }
            }
            let more = self.progress()?;
            if more.is_empty() {
                break;
            }
            queue.extend(more);
        }
        let view = self.epoch.engine.view();
        self.h.metrics.view.set(view as i64);
        Ok(())
    }

    /// Carry out one engine action.
    ///
    /// Persist before broadcast: a vote the engine asks to persist is appended to the
    /// [`super::VoteStore`] here, durably, *before* the engine hears `Persisted` — and the
    /// engine sends a vote only after that. Every effect of this event leaves the core only
    /// when `handle` returns, after the append, so no vote reaches a peer that is not on
    /// disk (a crash can never make this validator forget a vote it sent and sign another in
    /// the same view).
    fn act(&mut self, action: Action, queue: &mut VecDeque<Input>) -> Result<(), CoreError> {
        let epoch = self.epoch.number;
        if matches!(
            action,
            Action::Broadcast(_) | Action::Send { .. } | Action::Fetch { .. }
        ) && (!self.is_validator() || self.silent())
        {
            // an observer's engine has nothing to say: validators refuse its messages (nor
            // has a validator's far behind: see `silent`)
            return Ok(());
        }
        match action {
            Action::Persist(vote) => {
                self.keep_voted_block(epoch, &vote)?;
                self.votes
                    .append(epoch, &vote)
                    .map_err(CoreError::SafetyLog)?;
                queue.push_back(Input::Persisted(vote));
            }
            Action::Broadcast(message) => {
                let bytes = Request::Consensus { epoch, message }.encode();
                let to = self.other_validators();
                self.emit(Effect::Broadcast { to, bytes });
            }
            Action::Send { to, message } => {
                if let Some(peer) = self.epoch.peers.get(to as usize).copied() {
                    let bytes = Request::Consensus { epoch, message }.encode();
                    self.emit(Effect::Send { to: peer, bytes });
                }
            }
            Action::SetTimer {
                view,
                kind,
                after_ms,
            } => self.timers.push(Reverse((
                self.now.mono_ms + after_ms,
                Timer::Engine { epoch, view, kind },
            ))),
            Action::RequestPayload { view, parent } => {
                debug!(view, parent_view = parent.view, "payload requested");
                let parent_ts = self
                    .block_header(&hash(&parent.payload))
                    .map(|h| h.timestamp_ms);
                let asked_ms = self.now.mono_ms;
                // a full mempool, or a parent not here yet, is looked at now: `propose`
                // waits out the interval after all if what can go in is not worth a block
                // yet (and for the parent, if it is missing)
                let full = self.h.pool.lock().len() >= self.cfg.max_block_txs;
                let due_ms = parent_ts.map(|ts| self.interval_out(ts, asked_ms));
                self.pending_payload = Some(PendingPayload {
                    epoch,
                    view,
                    parent,
                    asked_ms,
                    due_ms,
                    full,
                });
                let at = match due_ms {
                    Some(due) if !full => due,
                    _ => self.now.mono_ms,
                };
                self.timers
                    .push(Reverse((at, Timer::Propose { epoch, view })));
            }
            Action::Verify(p) => self.pending_verify.push(p),
            Action::Finalized {
                proposal,
                certificate,
            } => self.finalize_queue.push_back(FinalityProof {
                proposal,
                certificate,
            }),
            Action::EpochEnded { last } => {
                debug!(
                    height = last.height,
                    "engine reports the epoch's last block final"
                );
            }
            Action::Misbehaved { from, what } => {
                if let Some(peer) = self.epoch.peers.get(from as usize).copied() {
                    self.misbehaved(peer, from, epoch, what);
                }
            }
            Action::Fetch { view } => {
                let bytes = Request::Consensus {
                    epoch,
                    message: Message::Request { view },
                }
                .encode();
                let to = self.epoch.peers.clone();
                self.emit(Effect::Broadcast { to, bytes });
            }
        }
        Ok(())
    }

    /// Work that may have become possible: verifications, commits, an epoch change.
    /// Returns inputs for the engine.
    fn progress(&mut self) -> Result<Vec<Input>, CoreError> {
        let mut out = std::mem::take(&mut self.pending_inputs);
        let pending = std::mem::take(&mut self.pending_verify);
        for p in pending {
            match self.check_proposal(&p) {
                Some(valid) => out.push(Input::Verified { proposal: p, valid }),
                None => self.pending_verify.push(p),
            }
        }
        self.try_commit()?;
        out.append(&mut self.pending_inputs);
        Ok(out)
    }

    /// Fire the timers that are due, then send the block requests that are due.
    pub(super) fn fire_timers(&mut self) -> Result<(), CoreError> {
        let now = self.now.mono_ms;
        let mut inputs = Vec::new();
        while let Some(Reverse((at, t))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match t {
                Timer::Engine { epoch, view, kind } if epoch == self.epoch.number => {
                    if view == self.epoch.engine.view() {
                        // the engine votes to skip the view (or re-sends its votes)
                        let leader = self.epoch.set.leader(view);
                        info!(view, leader, ?kind, "view timed out");
                    }
                    inputs.push(Input::Timeout { view, kind });
                }
                Timer::Propose { epoch, view } if epoch == self.epoch.number => {
                    if let Some(input) = self.propose(view) {
                        inputs.push(input);
                    }
                }
                _ => {}
            }
        }
        for i in inputs {
            self.drive(Some(i))?;
        }
        self.send_fetches();
        Ok(())
    }
}
