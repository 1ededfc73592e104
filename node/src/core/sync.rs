//! Catching up: peers' height claims (used only to pick whom to ask and to say when this
//! node is behind), readiness, and finalized blocks fetched from a peer, checked against
//! their proofs and certificates before they are executed and committed.

use std::sync::Arc;

use consensus::{Certified, Ed25519Verifier};
use ledger::Block;
use libp2p::PeerId;
use tracing::{debug, info};

use super::{
    Asked, CoreError, DEMOTION_MS, Effect, Executed, NodeCore, PACED_AS_OBSERVER_MS, SYNC_BATCH,
    digest,
};
use crate::budget::{AnswerMirror, Class, Limit};
use crate::wire::{FinalityProof, FinalizedBlock, Request, Response};

/// Validators remembered as having refused a request for blocks as over budget.
const MAX_PACED_AS_OBSERVER: usize = 1024;

/// Why synced blocks were not taken.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    /// The peer's answer is wrong: penalize it.
    #[error("{0}")]
    Peer(String),
    /// This node failed: nobody else's fault.
    #[error(transparent)]
    Local(#[from] CoreError),
}

impl NodeCore {
    /// Tell peers this node's height, forget stale claims, maybe sync, recompute readiness.
    pub(super) fn status_tick(&mut self) -> Result<(), CoreError> {
        self.status_ticks = self.status_ticks.saturating_add(1);
        let now = self.now.mono_ms;
        // at most one status per half interval, however the ticks arrive: ticks delayed
        // behind a long stretch of work (block sync replaying large blocks) came in a burst,
        // and validators banned the syncing observer for its status rate
        if self
            .status_sent_ms
            .is_none_or(|at| now.saturating_sub(at) >= self.status_spacing_ms())
        {
            self.status_sent_ms = Some(now);
            let bytes = Request::Status {
                finalized_height: self.durable_header.height,
            }
            .encode();
            self.emit(Effect::BroadcastConnected { bytes });
        }
        // claims not repeated lately are forgotten (the peer left or fell silent)
        let stale = self.cfg.status_interval_ms.max(50) * 10;
        self.peer_heights
            .retain(|_, (_, at)| now.saturating_sub(*at) < stale);
        self.demoted.retain(|_, until| *until > now);
        // the longest spacing any peer may need
        let spacing = Self::sync_spacing_ms(false);
        self.sync_sent
            .retain(|_, at| now.saturating_sub(*at) < spacing);
        self.sync_paced_as_observer.retain(|_, until| *until > now);
        // a copy of a peer's answer budget that is full again says what no copy says
        let is_validator = self.is_validator();
        let paced = &self.sync_paced_as_observer;
        self.sync_answers.retain(|p, m| {
            Class::GetBlocks
                .answer_limit(is_validator && !paced.contains_key(p))
                .is_some_and(|l| !m.is_full(&l, now))
        });
        self.maybe_sync();
        let alone = self.epoch.validators.len() == 1 && self.is_validator();
        let ready = alone
            || (self.heard_status
                && self
                    .vouched_height()
                    .is_some_and(|best| best <= self.header.height + 2));
        self.h.metrics.ready.set(i64::from(ready));
        self.emit(Effect::Ready(ready));
        self.publish();
        Ok(())
    }

    /// A peer says how far its chain is final.
    pub(super) fn on_status(&mut self, peer: PeerId, finalized_height: u64) {
        self.heard_status = true;
        self.peer_heights
            .insert(peer, (finalized_height, self.now.mono_ms));
        if self.next_epoch_heard == Some(self.epoch.number) {
            // the claim that lets that message count may come after it
            self.sync_to_epoch_end();
        }
        self.maybe_sync();
    }

    /// The highest finalized height that validators of this epoch with more than a third
    /// of its voting power claim (this node's own counting, if it is one): at least one of
    /// them is honest, so the chain really is that far. `None` while too few have spoken.
    pub(super) fn vouched_height(&self) -> Option<u64> {
        self.vouched(true)
    }

    /// [`NodeCore::vouched_height`], counting this node's own height (`count_self`) or
    /// only what the other validators claim.
    pub(super) fn vouched(&self, count_self: bool) -> Option<u64> {
        let mut claims: Vec<(u64, u64)> = self
            .epoch
            .peers
            .iter()
            .enumerate()
            .filter(|(_, p)| **p != self.my_peer && !self.demoted.contains_key(*p))
            .filter_map(|(i, p)| {
                let (h, _) = self.peer_heights.get(p)?;
                let index = u32::try_from(i).ok()?;
                Some((*h, self.epoch.set.power(index)))
            })
            .collect();
        if let Some(me) = self
            .epoch
            .set
            .index_of(&consensus::PublicKey(self.key.public().0))
            .filter(|_| count_self)
        {
            claims.push((self.header.height, self.epoch.set.power(me)));
        }
        claims.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        let total = u128::from(self.epoch.set.total_power());
        let mut power = 0u128;
        for (height, p) in claims {
            power += u128::from(p);
            if power * 3 > total {
                return Some(height);
            }
        }
        None
    }

    /// A peer claimed blocks it did not deliver: ignore its claims for a while.
    fn demote(&mut self, peer: PeerId, why: &str) {
        debug!(%peer, "demoted for {DEMOTION_MS} ms: {why}");
        self.peer_heights.remove(&peer);
        self.demoted.insert(peer, self.now.mono_ms + DEMOTION_MS);
    }

    /// Ask a peer for the next finalized blocks if this node is more than two blocks
    /// behind (less, the engine closes by itself) and no request is out; at any gap once
    /// its finalized head has not moved for two status intervals. After every validator
    /// restarted at once, two at height h and two at h + 1, the engine did not close the
    /// gap of one (the certificate that finalized h + 1 lived only in memory), no block
    /// could get a quorum without the two behind, and the chain stalled for good. "Not
    /// moved" means for longer than a block normally takes with a leader timing out
    /// (`min_block_interval_ms` + `leader_timeout_ms` + one status interval, at least two
    /// status intervals), so a slow but live chain does not sync at every block.
    pub(super) fn maybe_sync(&mut self) {
        let now = self.now.mono_ms;
        if self.stuck_since.0 != self.header.height {
            self.stuck_since = (self.header.height, now);
        }
        let status = self.cfg.status_interval_ms.max(50);
        let patience = (2 * status).max(
            self.cfg
                .min_block_interval_ms
                .saturating_add(self.genesis.consensus.leader_timeout_ms)
                .saturating_add(status),
        );
        let still = now.saturating_sub(self.stuck_since.1) >= patience;
        self.sync_if_behind(if still { 0 } else { 2 });
    }

    /// A validator of this epoch spoke in the next one: the others finished this node's
    /// epoch, and its engine cannot finish it alone. Sync at any gap, if a claim reaches
    /// the epoch's last block (a claim is needed: the message alone proves nothing).
    pub(super) fn sync_to_epoch_end(&mut self) {
        self.next_epoch_heard = Some(self.epoch.number);
        let e = self.genesis.consensus.epoch_length.max(1);
        let last = (self.epoch.number + 1).saturating_mul(e);
        let reached = self
            .peer_heights
            .iter()
            .any(|(p, (h, _))| *h >= last && !self.demoted.contains_key(p));
        if self.header.height < last && reached {
            self.sync_if_behind(0);
        }
    }

    /// The least time between two status broadcasts: half the configured interval, and
    /// never faster than three quarters of the status rate a peer grants an observer.
    fn status_spacing_ms(&self) -> u64 {
        (self.cfg.status_interval_ms.max(50) / 2).max(Class::Status.polite_spacing_ms(false))
    }

    /// How long (ms) to leave between two requests for blocks to one peer: three quarters
    /// of the `get_blocks` message rate a peer grants this node (an observer's is 2 a
    /// second). Asking faster got an observer that block-synced a long chain throttled and
    /// demoted by every validator in turn, ~33 blocks a second (BENCHMARKS.md, 2026-12-04).
    pub(super) fn sync_spacing_ms(as_validator: bool) -> u64 {
        Class::GetBlocks.polite_spacing_ms(as_validator)
    }

    /// Whether `peer` budgets this node's requests for blocks (and their answers) as a
    /// validator's: yes, unless this node is none in its epoch or `peer` refused it as
    /// over budget lately (it may count this node as an observer: removed at a boundary
    /// this node has not reached).
    fn sync_as_validator(&self, peer: &PeerId) -> bool {
        self.is_validator() && !self.sync_paced_as_observer.contains_key(peer)
    }

    /// Whether `peer` was asked for blocks too recently for the `get_blocks` message
    /// budget it grants this node.
    fn sync_too_soon(&self, peer: &PeerId, now: u64) -> bool {
        let spacing = Self::sync_spacing_ms(self.sync_as_validator(peer));
        self.sync_sent
            .get(peer)
            .is_some_and(|at| now.saturating_sub(*at) < spacing)
    }

    /// Whether `peer`'s budget for answers to this node is in debt, by this node's copy
    /// (see [`AnswerMirror`]). Paced by request count only, an observer asking for ~16 MB
    /// answers twice a second (eight times an observer's 4 MiB/s) was refused by each
    /// archive validator 5–6 times in a 19-minute block sync, and demoted each for 30 s
    /// every time (BENCHMARKS.md, 2026-12-04, thirteenth session).
    fn sync_in_debt(&self, peer: &PeerId, now: u64) -> bool {
        match (
            self.sync_answers.get(peer),
            Class::GetBlocks.answer_limit(self.sync_as_validator(peer)),
        ) {
            (Some(m), Some(limit)) => !m.has_room(&limit, now),
            _ => false,
        }
    }

    /// This node's copy of `peer`'s answer budget (made full on first use), with the limit
    /// it follows now.
    fn sync_copy(&mut self, peer: PeerId) -> Option<(&mut AnswerMirror, Limit)> {
        let now = self.now.mono_ms;
        let limit = Class::GetBlocks.answer_limit(self.sync_as_validator(&peer))?;
        let m = self
            .sync_answers
            .entry(peer)
            .or_insert_with(|| AnswerMirror::full(&limit, now));
        Some((m, limit))
    }

    /// A request for blocks to `peer` was answered, costing `bytes` of its answer budget
    /// (`None`: it never left this node).
    fn sync_answered(&mut self, peer: PeerId, bytes: Option<f64>) {
        let now = self.now.mono_ms;
        if let Some((m, limit)) = self.sync_copy(peer) {
            m.answered(&limit, bytes, now);
        }
    }

    /// Ask a peer for the next finalized blocks if a claim is more than `gap` blocks
    /// ahead and no request is out. The peer is drawn at random among the trusted ones
    /// whose answer budget (by this node's copy) is out of debt: debt comes from bytes
    /// delivered, so skipping those never favours a peer that delivers little. One drawn
    /// that was asked within [`NodeCore::sync_spacing_ms`] is waited for (skipping it would
    /// leave a slow byzantine one drawn whenever the honest ones answered fast), and so is
    /// the first of them while all are in debt: asked at the first tick it may be
    /// (`sync_next`).
    pub(super) fn sync_if_behind(&mut self, gap: u64) {
        if self
            .sync_inflight
            .is_some_and(|(t, _)| self.now.mono_ms.saturating_sub(t) < self.cfg.sync_timeout_ms)
        {
            return;
        }
        let me = self.header.height;
        // Ask a validator at random among those whose claim reaches the height validators with
        // over a third of the power vouch for (a liar's huge claim does not make it the one
        // always asked); without such a claim, the highest claim of any peer.
        let vouched = self.vouched_height();
        let now = self.now.mono_ms;
        let mut claims: Vec<(PeerId, u64)> = self
            .peer_heights
            .iter()
            .filter(|(p, (h, _))| !self.demoted.contains_key(*p) && *h > me + gap)
            .map(|(p, (h, _))| (*p, *h))
            .collect();
        claims.sort_unstable();
        let trusted: Vec<(PeerId, u64)> = claims
            .iter()
            .filter(|(p, h)| self.epoch.peers.contains(p) && vouched.is_some_and(|v| *h >= v))
            .copied()
            .collect();
        let askable: Vec<(PeerId, u64)> = trusted
            .iter()
            .filter(|(p, _)| !self.sync_in_debt(p, now))
            .copied()
            .collect();
        let pick = if trusted.is_empty() {
            claims.iter().max_by_key(|(p, h)| (*h, *p)).copied()
        } else if let Some(next) = self
            .sync_next
            .and_then(|(n, _)| askable.iter().find(|(p, _)| *p == n).copied())
        {
            // drawn before and waiting for its slot
            Some(next)
        } else if askable.is_empty() {
            // every one in debt: tried again at each tick (a mark only: the draw is
            // redone among those out of debt then)
            self.sync_next = Some((trusted[0].0, gap));
            return;
        } else {
            let i = self.draw(askable.len());
            Some(askable[i])
        };
        let Some((peer, best)) = pick else {
            self.sync_next = None;
            return;
        };
        if self.sync_too_soon(&peer, now) || self.sync_in_debt(&peer, now) {
            // asked just now (or, not a trusted one, in debt): asked at the first tick it
            // may be
            self.sync_next = Some((peer, gap));
            return;
        }
        self.sync_next = None;
        debug!(%peer, from = me + 1, claimed = best, "syncing");
        let bytes = Request::GetBlocks {
            from: me + 1,
            max: SYNC_BATCH,
        }
        .encode();
        let id = self.ask(peer, bytes, Asked::Sync { peer, from: me + 1 });
        self.sync_inflight = Some((now, id));
        self.sync_sent.insert(peer, now);
        // until it is answered, the request counts as a largest answer
        if let Some((m, _)) = self.sync_copy(peer) {
            m.asked();
        }
    }

    /// A peer's answer to `GetBlocks` request `id` for blocks from height `from`.
    pub(super) fn on_synced(
        &mut self,
        id: u64,
        peer: PeerId,
        from: u64,
        result: Result<Vec<u8>, String>,
    ) -> Result<(), CoreError> {
        let current = self.sync_inflight.is_some_and(|(_, i)| i == id);
        if current {
            self.sync_inflight = None;
        }
        let bytes = match result {
            Ok(b) => b,
            // it never left this node: nobody to blame, nothing spent; ask again
            Err(e) if e.starts_with(super::LOCAL_FAILURE) => {
                self.sync_answered(peer, None);
                if current {
                    self.maybe_sync();
                }
                return Ok(());
            }
            Err(e) => {
                // it may still have been answered (and charged) over there
                self.sync_answered(peer, Some(crate::wire::SYNC_RESPONSE_HARD_BYTES as f64));
                self.demote(peer, &format!("sync request failed: {e}"));
                // the request out failed: ask another peer now, not at the next status
                if current {
                    self.maybe_sync();
                }
                return Ok(());
            }
        };
        let response = Response::decode(&bytes, self.params.limits);
        // what the answer cost the peer's budget for this node: its bytes. A short one
        // (fewer blocks than asked, under the size a batch stops at, ending below the
        // peer's own claim) counts as a full batch, so a peer that trickles blocks is in
        // debt as soon as those that deliver, and is not drawn more often than they are
        let claim = self.peer_heights.get(&peer).map(|(h, _)| *h);
        let short = match &response {
            Ok(Response::Blocks(b)) => {
                let last = b.iter().map(|fb| fb.block.header.height).max();
                b.len() < SYNC_BATCH as usize
                    && bytes.len() < crate::wire::SYNC_RESPONSE_SOFT_BYTES
                    && claim.is_some_and(|c| last.unwrap_or(from.saturating_sub(1)) < c)
            }
            _ => false,
        };
        let cost = if short {
            crate::wire::SYNC_RESPONSE_SOFT_BYTES
        } else {
            bytes.len()
        };
        self.sync_answered(peer, Some(cost as f64));
        match response {
            Ok(Response::Blocks(blocks)) => {
                let n = blocks.len();
                let before = self.header.height;
                match self.apply_synced(blocks) {
                    Err(SyncError::Local(e)) => return Err(e),
                    Err(SyncError::Peer(e)) => {
                        self.penalize(peer, 50, format!("bad sync response: {e}"));
                        self.demote(peer, "bad sync response");
                    }
                    Ok(()) if self.header.height <= before && before < from => {
                        // nothing, or blocks that never reach a certificate: a claim that
                        // did not move this node is not asked again for a while (unless
                        // consensus moved it past what was asked meanwhile)
                        self.demote(peer, "claimed blocks it did not deliver");
                    }
                    Ok(()) => {}
                }
                if self.header.height > before {
                    info!(
                        from = before + 1,
                        to = self.header.height,
                        received = n,
                        "synced blocks"
                    );
                    self.restart_engine()?;
                    self.drive(None)?;
                    self.maybe_sync();
                }
            }
            Ok(Response::Refused(why)) => {
                let now = self.now.mono_ms;
                let over =
                    why == crate::wire::OVER_BUDGET || why == crate::wire::OVER_ANSWER_BUDGET;
                if over
                    && self.epoch.peers.contains(&peer)
                    && !self.sync_paced_as_observer.contains_key(&peer)
                    && self.sync_paced_as_observer.len() < MAX_PACED_AS_OBSERVER
                {
                    // a validator of this node's epoch (keys strangers cannot make), and
                    // this node's copies of its budgets were behind: it counts this node
                    // as an observer (removed at a boundary this node has not reached), or
                    // remembers answers from before this node restarted. It is asked at an
                    // observer's pace, once a largest answer's debt is paid, and not
                    // demoted (refused again within 10 minutes, it is)
                    info!(%peer, "{why}: asked for blocks at an observer's pace from now on");
                    self.sync_paced_as_observer
                        .insert(peer, now + PACED_AS_OBSERVER_MS);
                    self.sync_sent.insert(peer, now);
                    if let (Some(limit), Some(m)) = (
                        Class::GetBlocks.answer_limit(false),
                        self.sync_answers.get_mut(&peer),
                    ) {
                        m.owe(&limit, crate::wire::SYNC_RESPONSE_HARD_BYTES as f64, now);
                    }
                } else {
                    self.demote(peer, &format!("refused: {why}"));
                }
                if current {
                    self.maybe_sync();
                }
            }
            Ok(_) => {
                self.penalize(peer, 20, "unexpected sync response");
                self.demote(peer, "unexpected sync response");
            }
            Err(e) => {
                self.penalize(peer, 20, format!("malformed sync response: {e}"));
                self.demote(peer, "malformed sync response");
            }
        }
        Ok(())
    }

    /// Check and commit synced blocks: each must carry the proposal that links it to the
    /// previous one, and a run of them must end in a block whose certificate finalizes it
    /// (verified against its epoch's validators); the run is then executed and committed.
    fn apply_synced(&mut self, blocks: Vec<FinalizedBlock>) -> Result<(), SyncError> {
        let mut run: Vec<(Block, FinalityProof)> = Vec::new();
        let mut parent = self.proposal;
        for fb in blocks {
            let proof = FinalityProof::decode(&fb.proof)
                .map_err(|e| SyncError::Peer(format!("proof: {e}")))?;
            let h = fb.block.header.height;
            if h <= self.header.height && run.is_empty() {
                continue;
            }
            let expected = self.header.height + 1 + run.len() as u64;
            if h != expected
                || proof.proposal.height != h
                || proof.proposal.payload != digest(&fb.block.id())
                || proof.proposal.parent != parent.digest()
            {
                return Err(SyncError::Peer(format!(
                    "block at height {h} does not link to the chain"
                )));
            }
            parent = proof.proposal;
            let Certified::Finalization(q) = proof.certificate.certified else {
                return Err(SyncError::Peer(format!(
                    "certificate at height {h} is not a finalization"
                )));
            };
            let closes = proof.closes();
            let epoch_length = self.genesis.consensus.epoch_length.max(1);
            if proof.by_re_proposal() && !h.is_multiple_of(epoch_length) {
                return Err(SyncError::Peer(format!(
                    "block {h} is finalized by a re-proposal, but is no epoch's last block"
                )));
            }
            if !closes && q.height <= h {
                return Err(SyncError::Peer(format!(
                    "certificate at height {h} finalizes neither it nor a descendant"
                )));
            }
            run.push((fb.block, proof));
            if closes {
                let cert = &run[run.len() - 1].1.certificate;
                cert.verify(&self.epoch.set, &self.epoch.namespace, &Ed25519Verifier)
                    .map_err(|e| SyncError::Peer(format!("certificate at height {h}: {e}")))?;
                for (block, proof) in run.drain(..) {
                    let outcome =
                        ledger::verify_block(&self.params, &self.state, &self.header, &block)
                            .map_err(|e| {
                                SyncError::Peer(format!(
                                    "synced block {}: {e}",
                                    block.header.height
                                ))
                            })?;
                    self.commit(Executed::new(Arc::new(block), outcome), proof)?;
                }
                parent = self.proposal;
            }
        }
        Ok(())
    }
}
