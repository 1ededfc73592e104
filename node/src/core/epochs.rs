//! Epochs: each has its own validator set, consensus namespace, engine and votes. At an
//! epoch's last block the next one opens (with the validator set the state then names);
//! the previous engine stays to answer peers still finishing it. Sync that moves the head
//! past the engine restarts it from the new head, keeping every vote signed.

use std::collections::HashSet;

use consensus::{
    Ed25519Signer, Ed25519Verifier, Engine, Input, Proposal, SafetyState, ValidatorInfo,
    ValidatorSet,
};
use genesis::Genesis;
use ledger::{ChainParams, Hash, Keypair, LedgerState, Validator};
use libp2p::PeerId;
use tracing::{info, warn};

use super::{CoreError, Effect, KEPT_COMPACT_AT, MAX_TIMEOUT_MS, NodeCore, VoteStore};

type NodeEngine = Engine<Ed25519Signer, Ed25519Verifier>;

/// One epoch's consensus.
pub(super) struct Epoch {
    pub(super) number: u64,
    pub(super) engine: NodeEngine,
    pub(super) set: ValidatorSet,
    pub(super) validators: Vec<Validator>,
    /// The validators' peer ids, in the set's order.
    pub(super) peers: Vec<PeerId>,
    pub(super) namespace: [u8; 32],
}

/// The consensus namespace of an epoch: binds votes to one chain and one epoch.
pub fn namespace(chain_id: &Hash, epoch: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("palisade/v1/consensus-namespace");
    h.update(chain_id.as_bytes());
    h.update(&epoch.to_le_bytes());
    *h.finalize().as_bytes()
}

/// The consensus validator set of ledger validators.
pub fn validator_set(validators: &[Validator]) -> Result<ValidatorSet, String> {
    ValidatorSet::new(
        validators
            .iter()
            .map(|v| ValidatorInfo {
                key: consensus::PublicKey(v.key.0),
                power: v.power,
            })
            .collect(),
    )
    .map_err(|e| format!("validator set: {e}"))
}

/// The engine settings of epoch `number` (timeouts from genesis).
fn engine_config(genesis: &Genesis, namespace: [u8; 32], number: u64) -> consensus::Config {
    let c = &genesis.consensus;
    consensus::Config {
        namespace,
        leader_timeout_ms: c.leader_timeout_ms,
        notarization_timeout_ms: c.notarization_timeout_ms,
        nullify_retry_ms: c.nullify_retry_ms,
        timeout_backoff_percent: c.timeout_backoff_percent,
        max_timeout_ms: MAX_TIMEOUT_MS,
        last_height: (number + 1).saturating_mul(c.epoch_length.max(1)),
        disabled_rule: None,
    }
}

/// Open the epoch `state` is in, its engine starting at `finalized` with the votes
/// `votes` holds for it (or `safety`, when restarting an engine of the same epoch).
pub(super) fn open(
    genesis: &Genesis,
    params: &ChainParams,
    key: &Keypair,
    votes: &mut dyn VoteStore,
    state: &LedgerState,
    finalized: Proposal,
    safety: Option<SafetyState>,
) -> Result<Epoch, CoreError> {
    let e = genesis.consensus.epoch_length.max(1);
    let number = state.height / e;
    let validators = state.system.validators.clone();
    let set =
        validator_set(&validators).map_err(|why| CoreError::ValidatorSet { epoch: number, why })?;
    let ns = namespace(&params.chain_id, number);
    let stored = votes.open(number).map_err(CoreError::SafetyLog)?;
    let cfg = engine_config(genesis, ns, number);
    let engine = Engine::new(
        cfg,
        set.clone(),
        Ed25519Signer::from_secret(key.secret()),
        Ed25519Verifier,
        safety.unwrap_or(stored),
        finalized,
    );
    // positions must match the validator set's indices (votes and reports are by index):
    // a key that is no libp2p identity gets a placeholder no connection can match
    let peers = validators
        .iter()
        .map(|v| {
            crate::peer::peer_id_of(&v.key).unwrap_or_else(|| {
                warn!(key = %v.key, "validator key is not a libp2p identity: it cannot connect");
                PeerId::random()
            })
        })
        .collect();
    Ok(Epoch {
        number,
        engine,
        set,
        validators,
        peers,
        namespace: ns,
    })
}

impl NodeCore {
    /// The epoch's last block is final: open the next epoch at the finalized head.
    pub(super) fn next_epoch(&mut self) -> Result<(), CoreError> {
        let epoch = open(
            &self.genesis,
            &self.params,
            &self.key,
            self.votes.as_mut(),
            &self.state,
            self.proposal,
            None,
        )?;
        info!(
            epoch = epoch.number,
            validators = epoch.validators.len(),
            member = epoch
                .set
                .index_of(&consensus::PublicKey(self.key.public().0))
                .is_some(),
            "new epoch"
        );
        let old = std::mem::replace(&mut self.epoch, epoch);
        // the epochs before the previous one are over for everyone (and a restart, at most
        // a few blocks behind, never goes back there): the older one's votes may go
        if let Some(prev) = self.previous.replace(old) {
            self.votes.forget(prev.number.saturating_sub(1));
        }
        self.pending_payload = None;
        self.pending_verify.clear();
        self.finalize_queue.clear();
        self.proposed_in.clear();
        self.kept.clear();
        self.kept_compact_at = KEPT_COMPACT_AT;
        // blocks of this epoch restored at the start: still in its block log
        if let Some((e, kept)) = self.kept_next.take()
            && e == self.epoch.number
        {
            self.kept = kept;
        }
        self.announce_validators();
        // the drive loop starts it
        self.pending_inputs.push(Input::Start);
        Ok(())
    }

    /// After sync moved the finalized head past the engine: a fresh engine from the new
    /// head, keeping every vote signed in this epoch.
    pub(super) fn restart_engine(&mut self) -> Result<(), CoreError> {
        if self.epoch.engine.finalized().height >= self.header.height {
            return Ok(());
        }
        let safety = self.epoch.engine.safety_state().clone();
        let cfg = engine_config(&self.genesis, self.epoch.namespace, self.epoch.number);
        self.epoch.engine = Engine::new(
            cfg,
            self.epoch.set.clone(),
            Ed25519Signer::from_secret(self.key.secret()),
            Ed25519Verifier,
            safety,
            self.proposal,
        );
        self.pending_payload = None;
        self.pending_verify.clear();
        self.finalize_queue.clear();
        self.resend_when_heard = true;
        self.drive(Some(Input::Start))?;
        self.publish();
        Ok(())
    }

    /// Tell the network whom to stay connected to (this epoch's validators and those of
    /// the next, with their addresses) and admission whom to gossip to.
    pub(super) fn announce_validators(&mut self) {
        let mut list: Vec<(PeerId, String)> = Vec::new();
        let mut seen = HashSet::new();
        for v in self
            .epoch
            .validators
            .iter()
            .chain(self.state.system.validators_after_pending().iter())
        {
            if let Some(p) = crate::peer::peer_id_of(&v.key)
                && seen.insert(p)
            {
                list.push((p, v.address.clone()));
            }
        }
        let gossip_to: Vec<PeerId> = list
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| *p != self.my_peer)
            .collect();
        self.emit(Effect::GossipTargets(gossip_to));
        self.emit(Effect::SetValidators(list));
    }
}
