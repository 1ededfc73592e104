//! Views, digests, proposals and validator sets: the nouns of the protocol.

use crate::scheme::PublicKey;

/// A view number. View 0 is the genesis view; consensus starts in view 1.
pub type View = u64;

/// A 32-byte digest (of a proposal, or of the payload the application put in a block).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Digest(pub [u8; 32]);

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What a leader proposes in a view: a payload (the application's block digest) extending
/// a parent proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Proposal {
    /// The view it is proposed in.
    pub view: View,
    /// Its height: the parent's height plus one, or the parent's height for a re-proposal
    /// (see [`Proposal::repeats`]).
    pub height: u64,
    /// The view of the parent proposal.
    pub parent_view: View,
    /// The parent proposal's digest.
    pub parent: Digest,
    /// The application payload's digest (e.g. a block id).
    pub payload: Digest,
}

impl Proposal {
    /// The genesis proposal: view 0, height 0, finalized by definition.
    pub fn genesis(payload: Digest) -> Proposal {
        Proposal {
            view: 0,
            height: 0,
            parent_view: 0,
            parent: Digest::default(),
            payload,
        }
    }

    /// Whether this is a *re-proposal* of `parent`: same height and payload, `parent` as
    /// its parent, in a later view. Only the block at an epoch's last height is re-proposed
    /// (by leaders after the view that notarized it, when no finalization covers it yet);
    /// finalizing a re-proposal finalizes the block it repeats.
    pub fn repeats(&self, parent: &Proposal) -> bool {
        self.parent == parent.digest()
            && self.parent_view == parent.view
            && self.view > parent.view
            && self.height == parent.height
            && self.payload == parent.payload
    }

    /// The canonical encoding (fixed 88 bytes).
    pub fn encode(&self) -> [u8; 88] {
        let mut out = [0u8; 88];
        out[..8].copy_from_slice(&self.view.to_le_bytes());
        out[8..16].copy_from_slice(&self.height.to_le_bytes());
        out[16..24].copy_from_slice(&self.parent_view.to_le_bytes());
        out[24..56].copy_from_slice(&self.parent.0);
        out[56..88].copy_from_slice(&self.payload.0);
        out
    }

    /// Decode the fixed 88-byte encoding.
    pub fn decode(b: &[u8; 88]) -> Proposal {
        let u = |r: std::ops::Range<usize>| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[r]);
            u64::from_le_bytes(x)
        };
        let d = |r: std::ops::Range<usize>| {
            let mut x = [0u8; 32];
            x.copy_from_slice(&b[r]);
            Digest(x)
        };
        Proposal {
            view: u(0..8),
            height: u(8..16),
            parent_view: u(16..24),
            parent: d(24..56),
            payload: d(56..88),
        }
    }

    /// The proposal's digest: BLAKE3 keyed with BLAKE3("palisade/v1/consensus-proposal").
    pub fn digest(&self) -> Digest {
        Digest(*blake3::keyed_hash(&domain_key(DOMAIN_PROPOSAL), &self.encode()).as_bytes())
    }
}

pub(crate) const DOMAIN_PROPOSAL: &str = "palisade/v1/consensus-proposal";
pub(crate) const DOMAIN_VOTE: &str = "palisade/v1/consensus-vote";

pub(crate) fn domain_key(domain: &str) -> [u8; 32] {
    *blake3::hash(domain.as_bytes()).as_bytes()
}

/// The index of a validator in its set.
pub type ValidatorIndex = u32;

/// One validator: key and voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorInfo {
    /// Its consensus key.
    pub key: PublicKey,
    /// Its voting power (> 0).
    pub power: u64,
}

/// The validators of an epoch, with their quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<ValidatorInfo>,
    total: u64,
    quorum: u64,
}

/// Why a validator set cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    /// No validators.
    #[error("a validator set needs at least one validator")]
    Empty,
    /// A validator with power 0.
    #[error("validator {0} has zero voting power")]
    ZeroPower(usize),
    /// Total power overflows u64.
    #[error("total voting power overflows")]
    Overflow,
    /// The same key twice.
    #[error("validator {0} appears twice")]
    Duplicate(usize),
}

impl ValidatorSet {
    /// A set from validators in order (the order defines indices and leader rotation).
    pub fn new(validators: Vec<ValidatorInfo>) -> Result<ValidatorSet, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        let mut total: u64 = 0;
        for (i, v) in validators.iter().enumerate() {
            if v.power == 0 {
                return Err(ValidatorSetError::ZeroPower(i));
            }
            if validators[..i].iter().any(|w| w.key == v.key) {
                return Err(ValidatorSetError::Duplicate(i));
            }
            total = total
                .checked_add(v.power)
                .ok_or(ValidatorSetError::Overflow)?;
        }
        // The smallest power strictly above two thirds: any two quorums share more than a
        // third of the power, so at least one honest validator if at most f is faulty.
        let quorum = (u128::from(total) * 2 / 3 + 1) as u64;
        Ok(ValidatorSet {
            validators,
            total,
            quorum,
        })
    }

    /// How many validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Whether the set is empty (never, once constructed).
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// The validator at `index`.
    pub fn get(&self, index: ValidatorIndex) -> Option<&ValidatorInfo> {
        self.validators.get(index as usize)
    }

    /// The index of `key`, if it is a validator.
    pub fn index_of(&self, key: &PublicKey) -> Option<ValidatorIndex> {
        self.validators
            .iter()
            .position(|v| v.key == *key)
            .map(|i| i as ValidatorIndex)
    }

    /// Sum of all voting power.
    pub fn total_power(&self) -> u64 {
        self.total
    }

    /// The power a certificate needs: the smallest amount above two thirds of the total.
    pub fn quorum(&self) -> u64 {
        self.quorum
    }

    /// The power of the validator at `index` (0 if none).
    pub fn power(&self, index: ValidatorIndex) -> u64 {
        self.get(index).map_or(0, |v| v.power)
    }

    /// The leader of `view`: round robin over the set, in order.
    pub fn leader(&self, view: View) -> ValidatorIndex {
        (view % self.validators.len() as u64) as ValidatorIndex
    }
}
