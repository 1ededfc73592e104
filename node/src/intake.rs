//! The rules a pushed proposal must pass before this node spends anything on it (looking
//! up its transactions, asking for the missing ones, executing it). Pure: the consensus
//! task gathers the facts and acts on the verdict.
//!
//! Only the leader of the view proposes, for a view near this node's, once per view (a
//! second, different proposal is equivocation evidence), with leaves that match its header's
//! tx root, within its share of the pool.

use ledger::Hash;

/// Unfinalized blocks one proposer may have in the pool without being asked for them (its
/// pushed proposals): a byzantine validator cannot crowd out the others' proposals, nor
/// hold more than this many blocks' worth of this node's memory. An honest leader leads
/// one view in n and its blocks are finalized or pruned within a few views.
pub const MAX_PENDING_PER_PROPOSER: usize = 16;
/// A pushed proposal is taken for a view at most this far ahead of the engine's view (a
/// node that lags further catches up by certificates, which name the blocks to fetch)…
pub const PROPOSAL_VIEWS_AHEAD: u64 = 8;
/// …or this far behind it (a late proposal may still be notarized by the others).
pub const PROPOSAL_VIEWS_BEHIND: u64 = 16;
/// Proposed blocks kept at most this far above the finalized height.
pub const MAX_BLOCKS_AHEAD: u64 = 512;

/// What the consensus task knows about a pushed proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalFacts {
    /// Its epoch is this node's current epoch.
    pub this_epoch: bool,
    /// The sender is the leader of the proposal's view.
    pub sender_leads: bool,
    /// The header's proposer is the leader of the view.
    pub proposer_leads: bool,
    /// The proposal's view.
    pub view: u64,
    /// The engine's view.
    pub current_view: u64,
    /// The leaves' Merkle root equals the header's tx root.
    pub leaves_match: bool,
    /// The header's id.
    pub id: Hash,
    /// The proposal already taken for this view, if any.
    pub earlier: Option<Hash>,
    /// The header's height.
    pub height: u64,
    /// This node's finalized height.
    pub finalized_height: u64,
    /// The block is already in the pool, being rebuilt, or known to be invalid.
    pub known: bool,
    /// Unfinalized blocks of this proposer in the pool.
    pub pending_of_proposer: usize,
}

/// What to do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intake {
    /// Rebuild it and put it in the pool.
    Take,
    /// Nothing (no fault: a repeat, another epoch, a view or height out of reach).
    Ignore(&'static str),
    /// Refuse it and penalize the sender.
    Refuse(&'static str),
    /// The leader proposed this and, earlier, another block for the view: evidence.
    Equivocation(Hash),
}

/// The verdict on a pushed proposal.
pub fn judge(f: &ProposalFacts) -> Intake {
    if !f.this_epoch {
        // if it matters, a certificate names it and it is fetched by hash
        return Intake::Ignore("another epoch");
    }
    if !f.sender_leads {
        return Intake::Refuse("a proposal for a view it does not lead");
    }
    if !f.proposer_leads {
        return Intake::Refuse("a proposal whose header names another proposer");
    }
    if f.view.saturating_add(PROPOSAL_VIEWS_BEHIND) < f.current_view
        || f.view > f.current_view.saturating_add(PROPOSAL_VIEWS_AHEAD)
    {
        return Intake::Ignore("a view too far from this node's");
    }
    // leaves that do not match the header say nothing about the block (its real body may
    // still arrive): the header is not judged, the sender is
    if !f.leaves_match {
        return Intake::Refuse("proposal leaves do not match the header's tx root");
    }
    match f.earlier {
        Some(first) if first == f.id => return Intake::Ignore("a repeat"),
        Some(first) => return Intake::Equivocation(first),
        None => {}
    }
    if f.height <= f.finalized_height || f.height > f.finalized_height + MAX_BLOCKS_AHEAD {
        return Intake::Ignore("a height out of reach");
    }
    if f.known {
        return Intake::Ignore("already known");
    }
    if f.pending_of_proposer >= MAX_PENDING_PER_PROPOSER {
        // an honest leader whose earlier blocks wait for a slow finalization gets here too:
        // no penalty, and a certificate naming the block still has it fetched
        return Intake::Ignore("too many pending proposals of this proposer");
    }
    Intake::Take
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ProposalFacts {
        ProposalFacts {
            this_epoch: true,
            sender_leads: true,
            proposer_leads: true,
            view: 10,
            current_view: 10,
            leaves_match: true,
            id: Hash([1; 32]),
            earlier: None,
            height: 5,
            finalized_height: 4,
            known: false,
            pending_of_proposer: 0,
        }
    }

    #[test]
    fn the_leaders_fresh_proposal_is_taken() {
        assert_eq!(judge(&good()), Intake::Take);
    }

    #[test]
    fn only_the_leader_of_the_view_proposes() {
        let f = ProposalFacts {
            sender_leads: false,
            ..good()
        };
        assert!(matches!(judge(&f), Intake::Refuse(_)));
        let f = ProposalFacts {
            proposer_leads: false,
            ..good()
        };
        assert!(matches!(judge(&f), Intake::Refuse(_)));
    }

    #[test]
    fn a_second_different_proposal_for_a_view_is_equivocation() {
        let first = Hash([9; 32]);
        let f = ProposalFacts {
            earlier: Some(first),
            ..good()
        };
        assert_eq!(judge(&f), Intake::Equivocation(first));
        // the same one again is a repeat
        let f = ProposalFacts {
            earlier: Some(good().id),
            ..good()
        };
        assert!(matches!(judge(&f), Intake::Ignore(_)));
    }

    #[test]
    fn views_heights_and_the_pool_are_bounded() {
        for (view, current) in [
            (10 + PROPOSAL_VIEWS_AHEAD + 1, 10),
            (1, 1 + PROPOSAL_VIEWS_BEHIND + 1),
        ] {
            let f = ProposalFacts {
                view,
                current_view: current,
                ..good()
            };
            assert!(
                matches!(judge(&f), Intake::Ignore(_)),
                "{view} at {current}"
            );
        }
        for height in [4, 4 + MAX_BLOCKS_AHEAD + 1] {
            let f = ProposalFacts { height, ..good() };
            assert!(matches!(judge(&f), Intake::Ignore(_)), "{height}");
        }
        let f = ProposalFacts {
            pending_of_proposer: MAX_PENDING_PER_PROPOSER,
            ..good()
        };
        assert!(matches!(judge(&f), Intake::Ignore(_)));
        let f = ProposalFacts {
            leaves_match: false,
            ..good()
        };
        assert!(matches!(judge(&f), Intake::Refuse(_)));
        let f = ProposalFacts {
            this_epoch: false,
            ..good()
        };
        assert!(matches!(judge(&f), Intake::Ignore(_)));
    }
}
