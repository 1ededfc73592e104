//! The Simplex engine: `Engine::handle(Input) -> Vec<Action>`.
//!
//! Per view, the leader proposes a payload extending a notarized parent (every view between
//! them nullified); validators notarize it; a quorum of notarize votes is a notarization,
//! which moves everyone to the next view, where each validator that did not nullify the
//! view sends finalize; a quorum of finalize votes finalizes the proposal and its ancestors.
//! A view that times out is nullified; a quorum of nullify votes moves everyone on.
//!
//! Persist before broadcast: a vote is recorded in the safety state and handed to the host
//! as [`Action::Persist`]; it leaves the node only after the host answers
//! [`Input::Persisted`] (the host confirms it is on disk). Everything here is a function of
//! the inputs: no clock, no IO, no randomness.

use std::collections::{BTreeMap, BTreeSet, HashMap};

mod votes;

pub use crate::io::{Action, Config, Input, Misbehavior, TimerKind};
use crate::messages::{Certificate, Certified, Message, Vote, VoteKind};
use crate::safety::{Decision, SafetyState};
use crate::scheme::{Signature, Signer, Verifier};
use crate::types::{Digest, Proposal, ValidatorIndex, ValidatorSet, View};

#[derive(Debug, Default)]
struct ViewState {
    /// The leader's proposal, as first seen (from the leader's notarize vote).
    proposal: Option<Proposal>,
    verify_requested: bool,
    payload_requested: bool,
    notarize: HashMap<Digest, (Proposal, BTreeMap<ValidatorIndex, Signature>)>,
    nullify: BTreeMap<ValidatorIndex, Signature>,
    finalize: HashMap<Digest, (Proposal, BTreeMap<ValidatorIndex, Signature>)>,
    notarization: Option<Certificate>,
    nullification: Option<Certificate>,
    finalization: Option<Certificate>,
    /// Signers that equivocated in this view (their further votes are dropped unchecked).
    equivocators: std::collections::BTreeSet<ValidatorIndex>,
}

/// How a proposal relates to the parent it names (see [`Engine::parent_check`]).
enum ParentCheck {
    /// It can never be valid: wrong parent, height or view order.
    Invalid,
    /// A certificate it depends on is missing (asked for).
    Missing,
    /// It extends its notarized parent by one block: the application verifies the payload.
    Extends,
    /// It re-proposes its parent, the epoch's last block: nothing to verify.
    Repeats,
}

/// Votes further ahead than this many views are dropped (certificates are not: they are
/// checked and let a lagging validator jump ahead).
const MAX_VIEWS_AHEAD: View = 256;
/// While a view is stuck, the notarize and finalize votes of the last this many earlier
/// views above the finalized one in which this validator signed either are sent again with
/// its retries.
const RESEND_VIEWS: usize = 8;
/// Finalized views whose certificates are kept to answer peers' requests.
const KEEP_FINALIZED_VIEWS: usize = 1024;

/// One validator's (or observer's) consensus state machine.
#[derive(Debug)]
pub struct Engine<S: Signer, V: Verifier> {
    cfg: Config,
    set: ValidatorSet,
    me: Option<ValidatorIndex>,
    signer: S,
    verifier: V,
    view: View,
    views: BTreeMap<View, ViewState>,
    safety: SafetyState,
    /// Every proposal known to be notarized (or finalized), by digest.
    notarized: HashMap<Digest, Proposal>,
    finalized: Proposal,
    finalized_digest: Digest,
    /// The highest finalization waiting for missing ancestors.
    pending_finalization: Option<(Proposal, Certificate)>,
    /// Certificates of finalized views, to answer requests.
    history: BTreeMap<View, Vec<Certificate>>,
    consecutive_nullified: u32,
    fetched: BTreeSet<View>,
    /// The epoch's last height is final: only requests are answered.
    ended: bool,
}

impl<S: Signer, V: Verifier> Engine<S, V> {
    /// An engine for the validator holding `signer` (an observer if it is not in `set`),
    /// resuming from `safety` (every vote it ever persisted) and the last finalized
    /// `finalized` proposal (the genesis proposal on a new chain).
    pub fn new(
        cfg: Config,
        set: ValidatorSet,
        signer: S,
        verifier: V,
        safety: SafetyState,
        finalized: Proposal,
    ) -> Self {
        let me = set.index_of(&signer.public_key());
        let ended = finalized.height >= cfg.last_height;
        let view = safety
            .highest_view()
            .unwrap_or(0)
            .max(finalized.view + 1)
            .max(1);
        Engine {
            cfg,
            set,
            me,
            signer,
            verifier,
            view,
            views: BTreeMap::new(),
            safety,
            notarized: HashMap::from([(finalized.digest(), finalized)]),
            finalized_digest: finalized.digest(),
            finalized,
            pending_finalization: None,
            history: BTreeMap::new(),
            consecutive_nullified: 0,
            fetched: BTreeSet::new(),
            ended,
        }
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.view
    }

    /// The last finalized proposal.
    pub fn finalized(&self) -> &Proposal {
        &self.finalized
    }

    /// A proposal known to be notarized or finalized here, by digest (the host maps a
    /// proposal's parent digest to the parent's payload with it).
    pub fn known_proposal(&self, digest: &Digest) -> Option<Proposal> {
        self.notarized.get(digest).copied()
    }

    /// Whether this engine's epoch is over (it only answers requests now).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The validator set of this engine's epoch.
    pub fn validators(&self) -> &ValidatorSet {
        &self.set
    }

    /// The votes this validator has signed (what the host persisted).
    pub fn safety_state(&self) -> &SafetyState {
        &self.safety
    }

    /// Handle one input; the returned actions are to be carried out in order.
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        if self.ended {
            if let Input::Message {
                from,
                message: message @ Message::Request { .. },
            } = input
            {
                self.on_message(from, message, &mut out);
            }
            return out;
        }
        match input {
            Input::Start => {
                self.enter_view(self.view, false, &mut out);
                self.resume_signed(&mut out);
            }
            Input::Resend => {
                for vote in self.signed_above_final() {
                    out.push(Action::Broadcast(Message::Vote(vote)));
                }
            }
            Input::Message { from, message } => self.on_message(from, message, &mut out),
            Input::Timeout { view, kind } => self.on_timeout(view, kind, &mut out),
            Input::Payload { view, payload } => self.on_payload(view, payload, &mut out),
            Input::Verified { proposal, valid } => self.on_verified(proposal, valid, &mut out),
            Input::Persisted(vote) => self.on_persisted(vote, &mut out),
        }
        out
    }

    fn timeout(&self, base: u64) -> u64 {
        let mut t = base;
        for _ in 0..self.consecutive_nullified.min(32) {
            t = t.saturating_mul(u64::from(self.cfg.timeout_backoff_percent)) / 100;
            if t >= self.cfg.max_timeout_ms {
                break;
            }
        }
        t.min(self.cfg.max_timeout_ms)
    }

    fn enter_view(&mut self, view: View, via_nullification: bool, out: &mut Vec<Action>) {
        if view < self.view {
            return;
        }
        if view > self.view || via_nullification {
            self.consecutive_nullified = if via_nullification {
                self.consecutive_nullified + 1
            } else {
                0
            };
        }
        self.view = view;
        out.push(Action::SetTimer {
            view,
            kind: TimerKind::Leader,
            after_ms: self.timeout(self.cfg.leader_timeout_ms),
        });
        out.push(Action::SetTimer {
            view,
            kind: TimerKind::Notarization,
            after_ms: self.timeout(self.cfg.notarization_timeout_ms),
        });
        // After a restart: send again what was signed in this view.
        if let Some(votes) = self.safety.views.get(&view) {
            for v in [votes.notarize, votes.nullify, votes.finalize]
                .into_iter()
                .flatten()
            {
                out.push(Action::Broadcast(Message::Vote(v)));
            }
        }
        // Fetches lost on the way are asked again, at most once per view.
        self.fetched.clear();
        if let Some((p, c)) = self.pending_finalization.take() {
            self.finalize(p, c, out);
        }
        self.try_propose(view, out);
        self.try_verify(view, out);
    }

    fn state(&mut self, view: View) -> &mut ViewState {
        self.views.entry(view).or_default()
    }

    /// The proposal a leader of `view` must extend: the highest notarized proposal whose
    /// view is followed only by nullified views; `Err(u)` if the certificate of view `u` is
    /// missing (`u` at or below the finalized view: there is nothing to extend).
    fn parent_for(&self, view: View) -> Result<Proposal, View> {
        let mut u = view - 1;
        loop {
            if u <= self.finalized.view {
                return if u == self.finalized.view {
                    Ok(self.finalized)
                } else {
                    Err(u)
                };
            }
            let st = self.views.get(&u).ok_or(u)?;
            if let Some(c) = st.notarization.as_ref().or(st.finalization.as_ref())
                && let Certified::Notarization(p) | Certified::Finalization(p) = c.certified
            {
                return Ok(p);
            }
            st.nullification.as_ref().ok_or(u)?;
            u -= 1;
        }
    }

    /// Every vote this validator signed above the finalized view (and not too far ahead
    /// to be counted), in view order.
    fn signed_above_final(&self) -> Vec<Vote> {
        let Some(me) = self.me else {
            return Vec::new();
        };
        self.safety
            .views
            .range(self.finalized.view + 1..=self.view + MAX_VIEWS_AHEAD)
            .flat_map(|(_, v)| [v.notarize, v.nullify, v.finalize].into_iter().flatten())
            .filter(|v| v.signer == me)
            .collect()
    }

    /// After a restart: every vote this validator signed above the finalized view is sent
    /// again and counted here. Peers that restarted too lost their tallies; a finalize vote
    /// of an older view (below the last notarize) is what finalizes the notarized block the
    /// next proposal must extend, and it was sent again by no one; and a quorum that needs
    /// this validator's own vote never formed here while only peers' votes counted.
    fn resume_signed(&mut self, out: &mut Vec<Action>) {
        let current = self.view;
        for vote in self.signed_above_final() {
            let view = vote.kind.view();
            if view <= self.finalized.view {
                continue; // finalized by a vote counted before it
            }
            if view != current {
                // the current view's were sent on entering it
                out.push(Action::Broadcast(Message::Vote(vote)));
            }
            if !self.has_vote(&vote) {
                self.add_vote(vote, out);
            }
        }
    }

    fn try_propose(&mut self, view: View, out: &mut Vec<Action>) {
        if self.me != Some(self.set.leader(view)) || view != self.view {
            return;
        }
        if self.safety.notarized(view).is_some() || self.safety.nullified(view) {
            return;
        }
        let parent = match self.parent_for(view) {
            Ok(p) => p,
            Err(u) => {
                // every validator may have restarted since that certificate formed: ask
                if u > self.finalized.view {
                    self.fetch(u, out);
                }
                return;
            }
        };
        if parent.height > self.cfg.last_height {
            return;
        }
        let repeat = parent.height == self.cfg.last_height;
        if repeat && parent.view + 1 == view {
            // the last block's finalization normally follows its notarization at once: it
            // is re-proposed only after a view that ended without it
            return;
        }
        // a re-proposal repeats the original block, never another re-proposal (so a
        // finalization is always one link from the block it finalizes)
        let parent = if repeat {
            match self.original(parent) {
                Some(p) => p,
                None => {
                    self.fetch(parent.parent_view, out);
                    return;
                }
            }
        } else {
            parent
        };
        let st = self.state(view);
        if st.payload_requested || st.proposal.is_some() {
            return;
        }
        st.payload_requested = true;
        if repeat {
            // The epoch's last block is notarized but not finalized: propose it again, so
            // that a finalization of this view finalizes it. No new payload is built.
            let proposal = Proposal {
                view,
                height: parent.height,
                parent_view: parent.view,
                parent: parent.digest(),
                payload: parent.payload,
            };
            st.proposal = Some(proposal);
            st.verify_requested = true;
            self.sign(VoteKind::Notarize(proposal), out);
            return;
        }
        out.push(Action::RequestPayload { view, parent });
    }

    /// The block a notarized proposal at the epoch's last height carries: itself, or the
    /// original proposal it re-proposes; `None` if that cannot be told yet (the parent's
    /// certificate is missing here).
    fn original(&self, q: Proposal) -> Option<Proposal> {
        if q.height != self.cfg.last_height || q.view == self.finalized.view {
            return Some(q);
        }
        let parent = self.notarized.get(&q.parent)?;
        Some(if q.repeats(parent) { *parent } else { q })
    }

    fn on_payload(&mut self, view: View, payload: Digest, out: &mut Vec<Action>) {
        if view != self.view || self.me != Some(self.set.leader(view)) {
            return;
        }
        let Ok(parent) = self.parent_for(view) else {
            return;
        };
        let proposal = Proposal {
            view,
            height: parent.height + 1,
            parent_view: parent.view,
            parent: parent.digest(),
            payload,
        };
        let st = self.state(view);
        if st.proposal.is_some() {
            return;
        }
        st.proposal = Some(proposal);
        st.verify_requested = true;
        self.sign(VoteKind::Notarize(proposal), out);
    }

    /// Whether `p` extends a notarized parent (with every view between nullified) by one
    /// block, or re-proposes it at the epoch's last height.
    fn parent_check(&mut self, p: &Proposal, out: &mut Vec<Action>) -> ParentCheck {
        if p.parent_view >= p.view
            || p.parent_view < self.finalized.view
            || p.height > self.cfg.last_height
        {
            return ParentCheck::Invalid;
        }
        let parent = if p.parent_view == self.finalized.view {
            self.finalized
        } else {
            let st = self.views.get(&p.parent_view);
            let cert = st.and_then(|s| s.notarization.as_ref().or(s.finalization.as_ref()));
            match cert.map(|c| c.certified) {
                Some(Certified::Notarization(q) | Certified::Finalization(q)) => q,
                _ => {
                    self.fetch(p.parent_view, out);
                    return ParentCheck::Missing;
                }
            }
        };
        if parent.digest() != p.parent {
            return ParentCheck::Invalid;
        }
        let found = if parent.height + 1 == p.height {
            ParentCheck::Extends
        } else if p.repeats(&parent) && p.height == self.cfg.last_height {
            // only the original block is re-proposed, never a re-proposal of it
            match self.original(parent) {
                Some(o) if o == parent => ParentCheck::Repeats,
                Some(_) => return ParentCheck::Invalid,
                None => {
                    self.fetch(parent.parent_view, out);
                    return ParentCheck::Missing;
                }
            }
        } else {
            return ParentCheck::Invalid;
        };
        // every view in between is nullified; for a re-proposal, a view in between may
        // instead have notarized an earlier re-proposal of the same block (finalizing that
        // one would have finalized this very block)
        let mut missing = false;
        for u in p.parent_view + 1..p.view {
            let st = self.views.get(&u);
            let passed = st.is_some_and(|s| {
                s.nullification.is_some()
                    || (matches!(found, ParentCheck::Repeats)
                        && s.notarization.as_ref().is_some_and(|c| {
                            matches!(c.certified, Certified::Notarization(q) if q.repeats(&parent))
                        }))
            });
            if !passed {
                self.fetch(u, out);
                missing = true;
            }
        }
        if missing { ParentCheck::Missing } else { found }
    }

    fn fetch(&mut self, view: View, out: &mut Vec<Action>) {
        if self.fetched.insert(view) {
            out.push(Action::Fetch { view });
        }
    }

    fn try_verify(&mut self, view: View, out: &mut Vec<Action>) {
        if view != self.view {
            return;
        }
        let Some(st) = self.views.get(&view) else {
            return;
        };
        let Some(p) = st.proposal else { return };
        if st.verify_requested {
            return;
        }
        match self.parent_check(&p, out) {
            ParentCheck::Extends => {
                self.state(view).verify_requested = true;
                out.push(Action::Verify(p));
            }
            ParentCheck::Repeats => {
                // the payload is the notarized parent's: already valid
                self.state(view).verify_requested = true;
                self.sign(VoteKind::Notarize(p), out);
            }
            ParentCheck::Invalid => self.state(view).verify_requested = true, // never vote
            ParentCheck::Missing => {} // wait for certificates
        }
    }

    fn on_verified(&mut self, proposal: Proposal, valid: bool, out: &mut Vec<Action>) {
        if !valid || proposal.view != self.view {
            return;
        }
        if self.views.get(&proposal.view).and_then(|s| s.proposal) != Some(proposal) {
            return;
        }
        self.sign(VoteKind::Notarize(proposal), out);
    }

    /// Sign a vote if the safety rules allow it, record it, and ask the host to persist it.
    fn sign(&mut self, kind: VoteKind, out: &mut Vec<Action>) {
        let Some(me) = self.me else { return };
        match self.safety.check(&kind, self.cfg.disabled_rule) {
            Decision::Refused(_) => {}
            Decision::AlreadySigned(vote) => out.push(Action::Broadcast(Message::Vote(vote))),
            Decision::Allowed => {
                let signature = self.signer.sign(&kind.signing_message(&self.cfg.namespace));
                let vote = Vote {
                    kind,
                    signer: me,
                    signature,
                };
                self.safety.record(vote);
                out.push(Action::Persist(vote));
            }
        }
    }

    /// The host stored `vote`: send it, and count it.
    fn on_persisted(&mut self, vote: Vote, out: &mut Vec<Action>) {
        let recorded = self
            .safety
            .views
            .get(&vote.kind.view())
            .is_some_and(|v| [v.notarize, v.nullify, v.finalize].contains(&Some(vote)));
        if !recorded || Some(vote.signer) != self.me {
            return;
        }
        out.push(Action::Broadcast(Message::Vote(vote)));
        self.add_vote(vote, out);
    }

    fn on_timeout(&mut self, view: View, kind: TimerKind, out: &mut Vec<Action>) {
        if view != self.view {
            return;
        }
        let st = self.state(view);
        let decided =
            st.notarization.is_some() || st.nullification.is_some() || st.finalization.is_some();
        match kind {
            TimerKind::Leader | TimerKind::Notarization => {
                if decided {
                    return;
                }
                if kind == TimerKind::Leader && self.safety.notarized(view).is_some() {
                    return; // voted for the proposal; wait for the notarization timer
                }
                self.sign(VoteKind::Nullify(view), out);
                out.push(Action::SetTimer {
                    view,
                    kind: TimerKind::Retry,
                    after_ms: self.cfg.nullify_retry_ms,
                });
            }
            TimerKind::Retry => {
                if let Some(votes) = self.safety.views.get(&view) {
                    for v in [votes.notarize, votes.nullify, votes.finalize]
                        .into_iter()
                        .flatten()
                    {
                        out.push(Action::Broadcast(Message::Vote(v)));
                    }
                }
                // and the notarize and finalize votes of the last few views not final yet:
                // after validators restarted, they may be all that can still finalize the
                // block this view must extend (nullify votes of older views are not: a
                // nullification of the current view does not need them)
                let older: Vec<Vote> = self
                    .safety
                    .views
                    .range(self.finalized.view + 1..view)
                    .rev()
                    .filter(|(_, v)| v.notarize.is_some() || v.finalize.is_some())
                    .take(RESEND_VIEWS)
                    .flat_map(|(_, v)| [v.notarize, v.finalize].into_iter().flatten())
                    .collect();
                for v in older {
                    out.push(Action::Broadcast(Message::Vote(v)));
                }
                // help validators stuck in the previous view
                if let Some(prev) = self.views.get(&(view - 1)) {
                    for c in [&prev.notarization, &prev.nullification]
                        .into_iter()
                        .flatten()
                    {
                        out.push(Action::Broadcast(Message::Certificate(c.clone())));
                    }
                }
                self.fetched.clear();
                self.try_propose(view, out);
                self.try_verify(view, out);
                out.push(Action::SetTimer {
                    view,
                    kind: TimerKind::Retry,
                    after_ms: self.cfg.nullify_retry_ms,
                });
            }
        }
    }

    /// Finalize `p` and every unfinalized ancestor, in height order.
    fn finalize(&mut self, p: Proposal, cert: Certificate, out: &mut Vec<Action>) {
        if p.height <= self.finalized.height || p.height > self.cfg.last_height {
            return;
        }
        // walk down to the finalized proposal: one block per height, except re-proposals
        // of the epoch's last block, which repeat their parent's height and payload
        let mut chain = vec![p];
        let mut cur = p;
        while !(cur.parent == self.finalized_digest && cur.height == self.finalized.height + 1) {
            let may_repeat = cur.height == self.cfg.last_height;
            if cur.height <= self.finalized.height
                || (cur.height == self.finalized.height + 1 && !may_repeat)
            {
                // Conflicts with what is final here: only possible with more than f faulty.
                // Never finalize it; the simulator reports this as a safety violation.
                return;
            }
            match self.notarized.get(&cur.parent).copied() {
                Some(parent) => {
                    if parent.height + 1 != cur.height && !(may_repeat && cur.repeats(&parent)) {
                        return; // not a chain (more than f faulty)
                    }
                    cur = parent;
                    chain.push(cur);
                }
                None => {
                    self.fetch(cur.parent_view, out);
                    // keep the highest waiting finalization: it finalizes every lower one
                    // too (a lower one replacing it could leave an epoch's last block,
                    // whose finalization is not sent again, to block sync)
                    if self
                        .pending_finalization
                        .as_ref()
                        .is_none_or(|(q, _)| q.height <= p.height)
                    {
                        self.pending_finalization = Some((p, cert));
                    }
                    return;
                }
            }
        }
        // one block per height: a re-proposal finalizes the block it repeats
        let mut blocks: Vec<Proposal> = Vec::new();
        for q in chain.into_iter().rev() {
            if blocks.last().is_none_or(|b| b.height != q.height) {
                blocks.push(q);
            }
        }
        let Some(last) = blocks.last().copied() else {
            return;
        };
        for q in blocks {
            out.push(Action::Finalized {
                proposal: q,
                certificate: cert.clone(),
            });
        }
        self.finalized = last;
        self.finalized_digest = last.digest();
        self.prune();
        if last.height >= self.cfg.last_height {
            self.ended = true;
            out.push(Action::EpochEnded { last });
        }
    }

    fn prune(&mut self) {
        let fv = self.finalized.view;
        let old: Vec<View> = self.views.range(..fv).map(|(v, _)| *v).collect();
        for v in old {
            if let Some(st) = self.views.remove(&v) {
                let certs: Vec<Certificate> = [st.notarization, st.nullification, st.finalization]
                    .into_iter()
                    .flatten()
                    .collect();
                if !certs.is_empty() {
                    self.history.insert(v, certs);
                }
            }
        }
        while self.history.len() > KEEP_FINALIZED_VIEWS {
            self.history.pop_first();
        }
        let fh = self.finalized.height;
        self.notarized.retain(|_, p| p.height + 1 >= fh);
        self.safety.prune_below(fv);
        self.fetched.retain(|v| *v > fv);
    }
}
