//! The ledger state: the account tree plus the small system state, and the state root
//! that commits to both. This module owns what "the state" is; execution rules live in
//! `execute`, persistence in `store`.

pub mod tree;

use crate::account::Account;
use crate::codec::{Decode, DecodeError, Encode, Reader, put_list, put_string};
use crate::hash::{Domain, Hash};
use crate::keys::PublicKey;
use crate::mining::MiningState;

pub use tree::{AccountTree, Change, ProofError, ProofTerminal, TreeProof, normalize_changes};

/// A validator: its key, voting power and network address.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Validator {
    /// Consensus signing key, also its libp2p identity.
    pub key: PublicKey,
    /// Voting power (> 0).
    pub power: u64,
    /// Where peers reach it (a libp2p multiaddr).
    pub address: String,
}

impl Encode for Validator {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.key.encode_to(out);
        out.extend_from_slice(&self.power.to_le_bytes());
        put_string(out, &self.address);
    }
}

impl Decode for Validator {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Validator {
            key: PublicKey::decode(r)?,
            power: r.u64("voting power")?,
            address: r.string("validator address")?,
        })
    }
}

/// The hash of a validator set, as committed in block headers.
pub fn validator_set_hash(validators: &[Validator]) -> Hash {
    let mut out = Vec::new();
    put_list(&mut out, validators);
    Domain::ValidatorSet.hash(&out)
}

/// A validator-set change waiting for the next epoch boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ValidatorChange {
    /// Add this validator.
    Add(Validator),
    /// Remove the validator with this key.
    Remove(PublicKey),
}

impl Encode for ValidatorChange {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            ValidatorChange::Add(v) => {
                out.push(0);
                v.encode_to(out);
            }
            ValidatorChange::Remove(k) => {
                out.push(1);
                k.encode_to(out);
            }
        }
    }
}

impl Decode for ValidatorChange {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("validator change")? {
            0 => Ok(ValidatorChange::Add(Validator::decode(r)?)),
            1 => Ok(ValidatorChange::Remove(PublicKey::decode(r)?)),
            tag => Err(DecodeError::InvalidTag {
                what: "validator change",
                tag,
            }),
        }
    }
}

/// Chain-wide state that is not an account: the validator set and its pending changes,
/// the coin supply and the mining state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SystemState {
    /// The validators of the current epoch, in order.
    pub validators: Vec<Validator>,
    /// Changes recorded by finalized admin transactions, applied at the next epoch boundary.
    pub pending_changes: Vec<ValidatorChange>,
    /// All coins in existence (sum of balances).
    pub total_supply: u128,
    /// Target, claimable challenges, retarget epochs.
    pub mining: MiningState,
}

impl SystemState {
    /// The hash committed into the state root.
    pub fn hash(&self) -> Hash {
        Domain::SystemState.hash(&self.encode())
    }

    /// The validator set as it will be after the pending changes (what a new
    /// AddValidator/RemoveValidator must be checked against).
    pub fn validators_after_pending(&self) -> Vec<Validator> {
        let mut set = self.validators.clone();
        for change in &self.pending_changes {
            apply_change(&mut set, change);
        }
        set
    }

    /// Apply the pending changes (at an epoch boundary).
    pub fn apply_pending(&mut self) {
        for change in std::mem::take(&mut self.pending_changes) {
            apply_change(&mut self.validators, &change);
        }
    }
}

fn apply_change(set: &mut Vec<Validator>, change: &ValidatorChange) {
    match change {
        ValidatorChange::Add(v) => {
            if !set.iter().any(|x| x.key == v.key) {
                set.push(v.clone());
            }
        }
        ValidatorChange::Remove(k) => set.retain(|x| x.key != *k),
    }
}

impl Encode for SystemState {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_list(out, &self.validators);
        put_list(out, &self.pending_changes);
        out.extend_from_slice(&self.total_supply.to_le_bytes());
        self.mining.encode_to(out);
    }
}

impl Decode for SystemState {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let max = r.limits.max_list_len;
        Ok(SystemState {
            validators: r.list(max, "validators")?,
            pending_changes: r.list(max, "pending validator changes")?,
            total_supply: r.u128("total supply")?,
            mining: MiningState::decode(r)?,
        })
    }
}

/// The state root: `H_state-root(accounts root ‖ system state hash)`.
pub fn state_root(accounts_root: &Hash, system_hash: &Hash) -> Hash {
    Domain::StateRoot.hash_pair(accounts_root, system_hash)
}

/// One version of the whole ledger state. Cloning is cheap (the tree is shared).
#[derive(Clone, Debug, Default)]
pub struct LedgerState {
    /// Every account.
    pub accounts: AccountTree,
    /// Validators, pending changes, supply.
    pub system: SystemState,
    /// The height of the last block applied (0 for genesis).
    pub height: u64,
}

impl LedgerState {
    /// The state root committed in the header of the block that produced this state.
    pub fn root(&self) -> Hash {
        state_root(&self.accounts.root(), &self.system.hash())
    }

    /// The account under `key` (an absent account reads as all zeros).
    pub fn account(&self, key: &PublicKey) -> Account {
        self.accounts.get(key).copied().unwrap_or_default()
    }

    /// A proof of `key`'s account (or absence) against [`LedgerState::root`].
    pub fn prove(&self, key: &PublicKey) -> AccountProof {
        AccountProof {
            tree: self.accounts.prove(key),
            system_hash: self.system.hash(),
        }
    }
}

/// A proof that an account has some content, or does not exist, under a state root.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AccountProof {
    /// The path in the account tree.
    pub tree: TreeProof,
    /// The system state hash, the other half of the state root.
    pub system_hash: Hash,
}

impl AccountProof {
    /// Check against a trusted state root (e.g. from a finalized header).
    pub fn verify(
        &self,
        state_root_trusted: &Hash,
        key: &PublicKey,
    ) -> Result<Option<Account>, ProofError> {
        let (accounts_root, found) = self.tree.root_for(key)?;
        if state_root(&accounts_root, &self.system_hash) == *state_root_trusted {
            Ok(found)
        } else {
            Err(ProofError::RootMismatch)
        }
    }
}

impl Encode for AccountProof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.tree.encode_to(out);
        self.system_hash.encode_to(out);
    }
}

impl Decode for AccountProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AccountProof {
            tree: TreeProof::decode(r)?,
            system_hash: Hash::decode(r)?,
        })
    }
}
