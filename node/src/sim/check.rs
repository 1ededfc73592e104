//! The invariants checked while a simulation runs and after it: honest nodes finalize one
//! chain (same block at every height), no honest validator signs two different votes of
//! one kind in one view (nor finalize and nullify in one view), and the finalized chain
//! is valid from genesis — every signature verifies (no debit its owner did not sign),
//! every block re-executes, and the supply is genesis + mints + rewards − burns, equal to
//! the sum of all balances.

use std::collections::{BTreeMap, HashMap};

use consensus::{Digest, Ed25519Verifier, Message, Proposal, VoteKind};
use genesis::Genesis;
use ledger::{Hash, TxKind};

use super::node::MemStore;
use crate::wire::{FinalityProof, Request};

/// What the checks saw.
#[derive(Default)]
pub(super) struct Checks {
    /// The block finalized at each height (by the first honest node to commit it).
    finalized: BTreeMap<u64, (Hash, usize)>,
    /// Each honest node's votes: (node, epoch, view, kind) → what it voted for.
    votes: HashMap<(usize, u64, u64, u8), VoteKind>,
    /// Violations, in the order found.
    pub(super) violations: Vec<String>,
    /// Votes each honest node sent.
    pub(super) votes_sent: BTreeMap<usize, u64>,
}

impl Checks {
    /// Honest `node` finalized block `id` at `height`.
    pub(super) fn finalized(&mut self, now: u64, node: usize, height: u64, id: Hash) {
        match self.finalized.get(&height) {
            Some((first, by)) if *first != id => self.violations.push(format!(
                "agreement: at {now} ms node {node} finalized {id} at height {height}, node {by} finalized {first}"
            )),
            Some(_) => {}
            None => {
                self.finalized.insert(height, (id, node));
            }
        }
    }

    /// Honest `node` sent `bytes`: record its votes, and report a second, different one.
    /// Returns the vote, if `bytes` are one.
    pub(super) fn sent(
        &mut self,
        now: u64,
        node: usize,
        bytes: &[u8],
        limits: ledger::Limits,
    ) -> Option<VoteKind> {
        let Ok(Request::Consensus {
            epoch,
            message: Message::Vote(v),
        }) = Request::decode(bytes, limits)
        else {
            return None;
        };
        *self.votes_sent.entry(node).or_default() += 1;
        let view = v.kind.view();
        let tag = match v.kind {
            VoteKind::Notarize(_) => 0,
            VoteKind::Nullify(_) => 1,
            VoteKind::Finalize(_) => 2,
        };
        if let Some(earlier) = self.votes.get(&(node, epoch, view, tag))
            && *earlier != v.kind
        {
            self.violations.push(format!(
                "double sign: at {now} ms node {node} signed {:?} after {earlier:?} (epoch {epoch}, view {view})",
                v.kind
            ));
        }
        // a finalize and a nullify in one view contradict each other
        let other = match tag {
            1 => Some(2),
            2 => Some(1),
            _ => None,
        };
        if let Some(o) = other
            && self.votes.contains_key(&(node, epoch, view, o))
        {
            self.violations.push(format!(
                "double sign: at {now} ms node {node} signed both finalize and nullify in epoch {epoch}, view {view}"
            ));
        }
        self.votes.insert((node, epoch, view, tag), v.kind);
        Some(v.kind)
    }

    /// Votes of views long past are forgotten (memory stays bounded in long runs).
    pub(super) fn prune(&mut self, keep_from_view: u64) {
        self.votes
            .retain(|(_, _, v, _), _| *v + 2_000 >= keep_from_view);
    }
}

/// Totals of the audit of one store.
#[derive(Debug, Default)]
pub(super) struct Audit {
    pub(super) txs: u64,
    pub(super) ok_txs: u64,
    /// Epochs' last blocks finalized by a re-proposal (see `consensus::Proposal::repeats`).
    pub(super) reproposed: u64,
}

/// Re-execute `store` from genesis: every block valid, every signature verifying, the
/// supply accounted for, and every block's stored finality proof linking it to its parent
/// and finalized by a certificate of its epoch's validators (what sync checks).
pub(super) fn audit(genesis: &Genesis, store: &MemStore) -> Result<Audit, String> {
    let params = genesis.chain_params();
    let mut state = genesis.initial_state();
    let mut parent = genesis.genesis_block().header;
    let genesis_supply = state.system.total_supply;
    let (mut minted, mut burned, mut rewards) = (0u128, 0u128, 0u128);
    let mut audit = Audit::default();
    let epoch_length = genesis.consensus.epoch_length.max(1);
    let mut proposal = Proposal::genesis(Digest(*parent.id().as_bytes()));
    let mut set = None;
    for (block, proof) in store.blocks.iter().skip(1) {
        let height = block.header.height;
        if state.height.is_multiple_of(epoch_length) || set.is_none() {
            let epoch = state.height / epoch_length;
            let validators = crate::core::validator_set(&state.system.validators)?;
            set = Some((validators, crate::core::namespace(&params.chain_id, epoch)));
        }
        let proof = FinalityProof::decode(proof)
            .map_err(|e| format!("stored proof of block {height}: {e}"))?;
        if proof.proposal.height != height
            || proof.proposal.payload != Digest(*block.id().as_bytes())
            || proof.proposal.parent != proposal.digest()
        {
            return Err(format!(
                "the proof of block {height} does not link it to its parent"
            ));
        }
        proposal = proof.proposal;
        if proof.closes() {
            if let Some((validators, namespace)) = &set {
                proof
                    .certificate
                    .verify(validators, namespace, &Ed25519Verifier)
                    .map_err(|e| format!("certificate of block {height}: {e}"))?;
            }
            if proof.by_re_proposal() {
                if !height.is_multiple_of(epoch_length) {
                    return Err(format!("block {height} is finalized by a re-proposal"));
                }
                audit.reproposed += 1;
            }
        }
        for tx in &block.txs {
            if !tx.verify_signature() {
                return Err(format!(
                    "unsigned debit: finalized block {height} carries transaction {} from {} whose signature does not verify",
                    tx.id(),
                    tx.tx().sender
                ));
            }
        }
        let outcome = ledger::verify_block(&params, &state, &parent, block)
            .map_err(|e| format!("finalized block {height} is invalid: {e}"))?;
        for (tx, r) in block.txs.iter().zip(&outcome.receipts) {
            audit.txs += 1;
            if r.outcome.is_err() {
                continue;
            }
            audit.ok_txs += 1;
            match tx.tx().kind {
                TxKind::Mint { amount, .. } => minted += amount,
                TxKind::Burn { amount } => burned += amount,
                TxKind::ClaimMiningReward { .. } => rewards += params.mining.reward,
                _ => {}
            }
        }
        state = outcome.state;
        parent = block.header.clone();
    }
    let mut balances = 0u128;
    state.accounts.for_each(|_, a| balances += a.balance);
    let expected = genesis_supply + minted + rewards - burned;
    if state.system.total_supply != expected || balances != expected {
        return Err(format!(
            "supply: recorded {}, genesis + mints + rewards − burns {expected}, sum of balances {balances}",
            state.system.total_supply
        ));
    }
    if state.root() != store.state.root() {
        return Err("the stored state differs from the re-executed one".into());
    }
    Ok(audit)
}
