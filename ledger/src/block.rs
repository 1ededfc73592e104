//! Blocks, headers and receipts.
//!
//! A header commits to its parent, every byte of the transactions, signatures included
//! (tx root), their outcomes (receipts root), the post-state (state root) and the validator
//! set that signs the next height. So a header id names exactly one body.

use crate::codec::{Decode, DecodeError, Encode, Limits, Reader, put_list};
use crate::hash::{Domain, Hash, list_root};
use crate::keys::PublicKey;
use crate::tx::{Role, SignedTransaction};

/// The only block header version this software reads and writes.
pub const BLOCK_VERSION: u8 = 1;

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct BlockHeader {
    /// The chain (genesis hash).
    pub chain_id: Hash,
    /// Height: 0 for genesis.
    pub height: u64,
    /// The parent block's id (ZERO for genesis).
    pub parent: Hash,
    /// Proposer's clock, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Who proposed it (ZERO key for genesis).
    pub proposer: PublicKey,
    /// Merkle root of the transactions' leaves ([`SignedTransaction::leaf`]: every byte of
    /// each signed transaction).
    pub tx_root: Hash,
    /// Merkle root of the receipt hashes.
    pub receipts_root: Hash,
    /// The state root after executing the block.
    pub state_root: Hash,
    /// Hash of the validator set for height + 1.
    pub validators_hash: Hash,
}

impl BlockHeader {
    /// The block id: `H_block(header bytes)`.
    pub fn id(&self) -> Hash {
        Domain::Block.hash(&self.encode())
    }
}

impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(BLOCK_VERSION);
        self.chain_id.encode_to(out);
        out.extend_from_slice(&self.height.to_le_bytes());
        self.parent.encode_to(out);
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        self.proposer.encode_to(out);
        self.tx_root.encode_to(out);
        self.receipts_root.encode_to(out);
        self.state_root.encode_to(out);
        self.validators_hash.encode_to(out);
    }
}

impl Decode for BlockHeader {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("block version")?;
        if version != BLOCK_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "block header",
                version,
            });
        }
        Ok(BlockHeader {
            chain_id: Hash::decode(r)?,
            height: r.u64("height")?,
            parent: Hash::decode(r)?,
            timestamp_ms: r.u64("timestamp")?,
            proposer: PublicKey::decode(r)?,
            tx_root: Hash::decode(r)?,
            receipts_root: Hash::decode(r)?,
            state_root: Hash::decode(r)?,
            validators_hash: Hash::decode(r)?,
        })
    }
}

/// A header and its transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order.
    pub txs: Vec<SignedTransaction>,
}

impl Block {
    /// The block id (the header's).
    pub fn id(&self) -> Hash {
        self.header.id()
    }

    /// Whether the transactions are the ones the header commits to (its tx root). A body
    /// that is not says nothing about the header: it is someone else's bytes, not a reason
    /// to call the header invalid.
    pub fn body_matches_header(&self) -> bool {
        tx_root(&self.txs) == self.header.tx_root
    }

    /// Decode a block that fills `bytes` exactly, within the limits.
    pub fn decode_bytes(bytes: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        if bytes.len() > limits.max_block_bytes {
            return Err(DecodeError::TooLong {
                what: "block",
                len: bytes.len(),
                max: limits.max_block_bytes,
            });
        }
        crate::codec::decode_exact(bytes, limits)
    }
}

/// The Merkle root of the transactions' leaves (signed bytes, not just ids).
pub fn tx_root(txs: &[SignedTransaction]) -> Hash {
    let leaves: Vec<Hash> = txs.iter().map(SignedTransaction::leaf).collect();
    list_root(&leaves)
}

/// The Merkle root of the receipts' hashes.
pub fn receipts_root(receipts: &[Receipt]) -> Hash {
    let hashes: Vec<Hash> = receipts.iter().map(Receipt::hash).collect();
    list_root(&hashes)
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        put_list(out, &self.txs);
    }
}

impl Decode for Block {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Block {
            header: BlockHeader::decode(r)?,
            txs: r.list(r.limits.max_block_txs, "block transactions")?,
        })
    }
}

/// Why a transaction in a block was rejected. Each has a stable numeric code (its tag).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RejectReason {
    /// The signature does not verify against the sender's key.
    #[error("bad signature")]
    BadSignature,
    /// The chain id is not this chain's genesis hash.
    #[error("wrong chain: expected {expected}")]
    WrongChain {
        /// This chain's id.
        expected: Hash,
    },
    /// Included after its expiry height.
    #[error("expired at height {expiry_height}, block height is {height}")]
    Expired {
        /// The tx's last valid height.
        expiry_height: u64,
        /// The including block's height.
        height: u64,
    },
    /// The nonce was already used.
    #[error("nonce too low: expected {expected}, got {got}")]
    NonceTooLow {
        /// The sender's next nonce.
        expected: u64,
        /// The tx's nonce.
        got: u64,
    },
    /// The nonce skips ahead of the sender's next nonce.
    #[error("nonce too high: expected {expected}, got {got}")]
    NonceTooHigh {
        /// The sender's next nonce.
        expected: u64,
        /// The tx's nonce.
        got: u64,
    },
    /// The sender does not exist (no balance, no nonce, no role).
    #[error("unknown sender")]
    UnknownSender,
    /// Not enough coins.
    #[error("insufficient balance: have {have}, need {need}")]
    InsufficientBalance {
        /// Balance.
        have: u128,
        /// Amount required.
        need: u128,
    },
    /// The sender lacks the role this kind needs.
    #[error("missing role: {role}")]
    MissingRole {
        /// The role required.
        role: Role,
    },
    /// A balance, the supply or the total voting power would overflow.
    #[error("arithmetic overflow")]
    Overflow,
    /// AddValidator for a key that is (or will be) a validator already.
    #[error("already a validator")]
    ValidatorExists,
    /// RemoveValidator for a key that is not (or will not be) a validator.
    #[error("not a validator")]
    ValidatorUnknown,
    /// RemoveValidator would leave no validator.
    #[error("removing the last validator")]
    LastValidator,
    /// AddValidator with voting power 0.
    #[error("voting power must be positive")]
    ZeroVotingPower,
    /// AddValidator whose key is not a usable ed25519 key.
    #[error("validator key is not a valid ed25519 public key")]
    InvalidValidatorKey,
    /// AddValidator with an empty network address.
    #[error("validator address is empty")]
    EmptyValidatorAddress,
    /// A mining claim for a block that is not an ancestor of the including block.
    #[error(
        "claim for block {height} cannot be included at height {block_height}: the challenge block must be finalized first"
    )]
    ClaimNotFinalized {
        /// The claimed challenge's block.
        height: u64,
        /// The including block's height.
        block_height: u64,
    },
    /// A mining claim older than the claim expiry (or for a challenge never opened).
    #[error("claim for block {height} expired at height {expiry_height}")]
    ClaimExpired {
        /// The claimed challenge's block.
        height: u64,
        /// The last height that could include it.
        expiry_height: u64,
    },
    /// The challenge's reward was paid already.
    #[error("the reward for block {height} was already claimed")]
    AlreadyClaimed {
        /// The claimed challenge's block.
        height: u64,
    },
    /// The solution's hash is above the target (or the nonce was found for another seed).
    #[error("the solution for block {height} is above the target")]
    AboveTarget {
        /// The claimed challenge's block.
        height: u64,
    },
}

impl RejectReason {
    /// The stable numeric code.
    pub fn code(&self) -> u8 {
        match self {
            RejectReason::BadSignature => 1,
            RejectReason::WrongChain { .. } => 2,
            RejectReason::Expired { .. } => 3,
            RejectReason::NonceTooLow { .. } => 4,
            RejectReason::NonceTooHigh { .. } => 5,
            RejectReason::UnknownSender => 6,
            RejectReason::InsufficientBalance { .. } => 7,
            RejectReason::MissingRole { .. } => 8,
            RejectReason::Overflow => 9,
            RejectReason::ValidatorExists => 10,
            RejectReason::ValidatorUnknown => 11,
            RejectReason::LastValidator => 12,
            RejectReason::ZeroVotingPower => 13,
            RejectReason::InvalidValidatorKey => 14,
            RejectReason::EmptyValidatorAddress => 15,
            RejectReason::ClaimNotFinalized { .. } => 16,
            RejectReason::ClaimExpired { .. } => 17,
            RejectReason::AlreadyClaimed { .. } => 18,
            RejectReason::AboveTarget { .. } => 19,
        }
    }

    /// A machine-readable snake_case name (used by the RPC `reason` field).
    pub fn name(&self) -> &'static str {
        match self {
            RejectReason::BadSignature => "bad_signature",
            RejectReason::WrongChain { .. } => "wrong_chain",
            RejectReason::Expired { .. } => "expired",
            RejectReason::NonceTooLow { .. } => "nonce_too_low",
            RejectReason::NonceTooHigh { .. } => "nonce_too_high",
            RejectReason::UnknownSender => "unknown_sender",
            RejectReason::InsufficientBalance { .. } => "insufficient_balance",
            RejectReason::MissingRole { .. } => "missing_role",
            RejectReason::Overflow => "overflow",
            RejectReason::ValidatorExists => "validator_exists",
            RejectReason::ValidatorUnknown => "validator_unknown",
            RejectReason::LastValidator => "last_validator",
            RejectReason::ZeroVotingPower => "zero_voting_power",
            RejectReason::InvalidValidatorKey => "invalid_validator_key",
            RejectReason::EmptyValidatorAddress => "empty_validator_address",
            RejectReason::ClaimNotFinalized { .. } => "claim_not_finalized",
            RejectReason::ClaimExpired { .. } => "claim_expired",
            RejectReason::AlreadyClaimed { .. } => "already_claimed",
            RejectReason::AboveTarget { .. } => "above_target",
        }
    }

    /// Whether the sender's nonce is used up by this rejection: true for failures after the
    /// transaction was authenticated (signature, chain, expiry, nonce all fine), so the
    /// same signed transaction can never be replayed.
    pub fn consumes_nonce(&self) -> bool {
        self.code() >= 7
    }
}

impl Encode for RejectReason {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(self.code());
        match self {
            RejectReason::WrongChain { expected } => expected.encode_to(out),
            RejectReason::Expired {
                expiry_height,
                height,
            } => {
                out.extend_from_slice(&expiry_height.to_le_bytes());
                out.extend_from_slice(&height.to_le_bytes());
            }
            RejectReason::NonceTooLow { expected, got }
            | RejectReason::NonceTooHigh { expected, got } => {
                out.extend_from_slice(&expected.to_le_bytes());
                out.extend_from_slice(&got.to_le_bytes());
            }
            RejectReason::InsufficientBalance { have, need } => {
                out.extend_from_slice(&have.to_le_bytes());
                out.extend_from_slice(&need.to_le_bytes());
            }
            RejectReason::MissingRole { role } => out.push(role.tag()),
            RejectReason::ClaimNotFinalized {
                height,
                block_height: second,
            }
            | RejectReason::ClaimExpired {
                height,
                expiry_height: second,
            } => {
                out.extend_from_slice(&height.to_le_bytes());
                out.extend_from_slice(&second.to_le_bytes());
            }
            RejectReason::AlreadyClaimed { height } | RejectReason::AboveTarget { height } => {
                out.extend_from_slice(&height.to_le_bytes());
            }
            _ => {}
        }
    }
}

impl Decode for RejectReason {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("reject reason")? {
            1 => RejectReason::BadSignature,
            2 => RejectReason::WrongChain {
                expected: Hash::decode(r)?,
            },
            3 => RejectReason::Expired {
                expiry_height: r.u64("expiry height")?,
                height: r.u64("height")?,
            },
            4 => RejectReason::NonceTooLow {
                expected: r.u64("nonce")?,
                got: r.u64("nonce")?,
            },
            5 => RejectReason::NonceTooHigh {
                expected: r.u64("nonce")?,
                got: r.u64("nonce")?,
            },
            6 => RejectReason::UnknownSender,
            7 => RejectReason::InsufficientBalance {
                have: r.u128("balance")?,
                need: r.u128("amount")?,
            },
            8 => {
                let tag = r.u8("role")?;
                RejectReason::MissingRole {
                    role: Role::from_tag(tag)
                        .ok_or(DecodeError::InvalidTag { what: "role", tag })?,
                }
            }
            9 => RejectReason::Overflow,
            10 => RejectReason::ValidatorExists,
            11 => RejectReason::ValidatorUnknown,
            12 => RejectReason::LastValidator,
            13 => RejectReason::ZeroVotingPower,
            14 => RejectReason::InvalidValidatorKey,
            15 => RejectReason::EmptyValidatorAddress,
            16 => RejectReason::ClaimNotFinalized {
                height: r.u64("claim height")?,
                block_height: r.u64("height")?,
            },
            17 => RejectReason::ClaimExpired {
                height: r.u64("claim height")?,
                expiry_height: r.u64("expiry height")?,
            },
            18 => RejectReason::AlreadyClaimed {
                height: r.u64("claim height")?,
            },
            19 => RejectReason::AboveTarget {
                height: r.u64("claim height")?,
            },
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "reject reason",
                    tag,
                });
            }
        })
    }
}

/// What happened to one transaction of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Receipt {
    /// The transaction's id.
    pub tx_id: Hash,
    /// `Ok` if it took effect, else why not.
    pub outcome: Result<(), RejectReason>,
}

impl Receipt {
    /// `H_receipt(receipt bytes)`, the leaves of the receipts root.
    pub fn hash(&self) -> Hash {
        Domain::Receipt.hash(&self.encode())
    }

    /// Whether the transaction used up its sender's nonce (took effect, or failed after
    /// authentication).
    pub fn consumed_nonce(&self) -> bool {
        match &self.outcome {
            Ok(()) => true,
            Err(r) => r.consumes_nonce(),
        }
    }
}

impl Encode for Receipt {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.tx_id.encode_to(out);
        match &self.outcome {
            Ok(()) => out.push(0),
            Err(reason) => reason.encode_to(out),
        }
    }
}

impl Decode for Receipt {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tx_id = Hash::decode(r)?;
        let outcome = if r.peek_u8() == Some(0) {
            r.u8("receipt outcome")?;
            Ok(())
        } else {
            Err(RejectReason::decode(r)?)
        };
        Ok(Receipt { tx_id, outcome })
    }
}
