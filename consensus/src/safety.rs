//! The safety state: every vote this validator has signed, which must be on disk before the
//! vote leaves, and the rules that refuse a conflicting vote.
//!
//! Rules, per view: at most one notarize (one proposal); no notarize after nullify; no
//! finalize after nullify; no nullify after finalize; at most one finalize. A request for a
//! vote already signed returns the stored vote, byte for byte.

use std::collections::BTreeMap;

use crate::messages::{Vote, VoteKind};
use crate::types::{Digest, View};

/// The votes signed in one view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewVotes {
    /// The notarize vote, if any.
    pub notarize: Option<Vote>,
    /// The nullify vote, if any.
    pub nullify: Option<Vote>,
    /// The finalize vote, if any.
    pub finalize: Option<Vote>,
}

/// Every vote signed, by view (the host persists each new vote before it is sent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SafetyState {
    /// Votes by view.
    pub views: BTreeMap<View, ViewVotes>,
}

/// What the safety rules say about a vote this validator is about to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Signed before: send this stored vote again.
    AlreadySigned(Vote),
    /// Allowed: sign, persist, then send.
    Allowed,
    /// Would conflict with a signed vote: never sign it.
    Refused(&'static str),
}

/// Which rule a test may switch off to show the simulator catches its absence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// At most one notarize per view.
    OneNotarizePerView,
    /// No finalize after nullify (and no nullify after finalize) in a view.
    FinalizeExcludesNullify,
}

impl SafetyState {
    /// Judge a vote before signing it. `disabled` switches a rule off (test-only, used to
    /// prove the simulator finds the resulting violations).
    pub fn check(&self, kind: &VoteKind, disabled: Option<Rule>) -> Decision {
        let view = kind.view();
        let Some(votes) = self.views.get(&view) else {
            return Decision::Allowed;
        };
        let same = |v: &Option<Vote>| v.filter(|v| v.kind == *kind);
        let on = |r: Rule| disabled != Some(r);
        match kind {
            VoteKind::Notarize(p) => {
                if let Some(v) = same(&votes.notarize) {
                    return Decision::AlreadySigned(v);
                }
                if votes.notarize.is_some() && on(Rule::OneNotarizePerView) {
                    return Decision::Refused("already notarized another proposal in this view");
                }
                if votes.nullify.is_some() {
                    return Decision::Refused("already nullified this view");
                }
                let _ = p;
                Decision::Allowed
            }
            VoteKind::Nullify(_) => {
                if let Some(v) = same(&votes.nullify) {
                    return Decision::AlreadySigned(v);
                }
                if votes.finalize.is_some() && on(Rule::FinalizeExcludesNullify) {
                    return Decision::Refused("already finalized in this view");
                }
                Decision::Allowed
            }
            VoteKind::Finalize(_) => {
                if let Some(v) = same(&votes.finalize) {
                    return Decision::AlreadySigned(v);
                }
                if votes.finalize.is_some() {
                    return Decision::Refused("already finalized another proposal in this view");
                }
                if votes.nullify.is_some() && on(Rule::FinalizeExcludesNullify) {
                    return Decision::Refused("already nullified this view");
                }
                Decision::Allowed
            }
        }
    }

    /// Record a signed vote.
    pub fn record(&mut self, vote: Vote) {
        let votes = self.views.entry(vote.kind.view()).or_default();
        match vote.kind {
            VoteKind::Notarize(_) => votes.notarize = Some(vote),
            VoteKind::Nullify(_) => votes.nullify = Some(vote),
            VoteKind::Finalize(_) => votes.finalize = Some(vote),
        }
    }

    /// The highest view with a signed vote.
    pub fn highest_view(&self) -> Option<View> {
        self.views.keys().next_back().copied()
    }

    /// Forget views below `view` (they are finalized over; no vote there can matter).
    pub fn prune_below(&mut self, view: View) {
        self.views = self.views.split_off(&view);
    }

    /// Whether this validator nullified `view`.
    pub fn nullified(&self, view: View) -> bool {
        self.views.get(&view).is_some_and(|v| v.nullify.is_some())
    }

    /// The proposal digest this validator notarized in `view`, if any.
    pub fn notarized(&self, view: View) -> Option<Digest> {
        self.views
            .get(&view)
            .and_then(|v| match v.notarize.map(|n| n.kind) {
                Some(VoteKind::Notarize(p)) => Some(p.digest()),
                _ => None,
            })
    }
}
