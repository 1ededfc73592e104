//! Transactions: what an account asks the chain to do, and its signed form.
//!
//! Byte layout (documented for other languages in `docs/tx-format.md`):
//! `version u8 = 1 ‖ chain_id [32] ‖ sender [32] ‖ nonce u64 ‖ expiry_height u64 ‖ kind`,
//! and a signed transaction is `tx ‖ signature [64]`. The signature covers the signing
//! message `H_tx-signing(tx bytes)`; the id is `H_tx-id(tx bytes)`.

use crate::codec::{Decode, DecodeError, Encode, Limits, Reader, put_string};
use crate::hash::{Domain, Hash};
use crate::keys::{Keypair, PublicKey, Signature};

/// The only transaction format version this software reads and writes.
pub const TX_VERSION: u8 = 1;

/// A permission an account can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Role {
    /// May mint, grant and revoke roles and change the validator set.
    Admin,
    /// May send transfers and burn its own coins.
    Transact,
    /// May claim mining rewards.
    Mine,
}

impl Role {
    /// Every role, in tag order.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Transact, Role::Mine];

    /// The role's one-byte tag.
    pub fn tag(self) -> u8 {
        match self {
            Role::Admin => 0,
            Role::Transact => 1,
            Role::Mine => 2,
        }
    }

    /// The role for a tag.
    pub fn from_tag(tag: u8) -> Option<Role> {
        Role::ALL.get(tag as usize).copied()
    }

    /// The bit this role occupies in an account's role set.
    pub fn bit(self) -> u8 {
        1 << self.tag()
    }

    /// The role's lowercase name, as used in JSON and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Transact => "transact",
            Role::Mine => "mine",
        }
    }

    /// The role with this lowercase name.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TxKind {
    /// Move coins from the sender to `to` (sender needs `transact`).
    Transfer {
        /// The recipient.
        to: PublicKey,
        /// How many coins.
        amount: u128,
    },
    /// Create coins in `to`'s balance (sender needs `admin`).
    Mint {
        /// The recipient.
        to: PublicKey,
        /// How many coins.
        amount: u128,
    },
    /// Destroy coins from the sender's own balance (sender needs `transact` or `admin`).
    Burn {
        /// How many coins.
        amount: u128,
    },
    /// Grant or revoke a role (sender needs `admin`).
    SetRole {
        /// The account whose roles change.
        account: PublicKey,
        /// The role.
        role: Role,
        /// `true` grants, `false` revokes.
        granted: bool,
    },
    /// Add a validator from the next epoch on (sender needs `admin`).
    AddValidator {
        /// The validator's consensus and network key.
        key: PublicKey,
        /// Its voting power (> 0).
        power: u64,
        /// Where peers reach it (a libp2p multiaddr).
        address: String,
    },
    /// Remove a validator from the next epoch on (sender needs `admin`).
    RemoveValidator {
        /// The validator's key.
        key: PublicKey,
    },
    /// Claim the mining reward for the challenge of block `height` (sender needs `mine`).
    ClaimMiningReward {
        /// The finalized block whose challenge was solved.
        height: u64,
        /// The proof-of-work nonce.
        nonce: u64,
    },
}

impl TxKind {
    /// The kind's one-byte tag.
    pub fn tag(&self) -> u8 {
        match self {
            TxKind::Transfer { .. } => 1,
            TxKind::Mint { .. } => 2,
            TxKind::Burn { .. } => 3,
            TxKind::SetRole { .. } => 4,
            TxKind::AddValidator { .. } => 5,
            TxKind::RemoveValidator { .. } => 6,
            TxKind::ClaimMiningReward { .. } => 7,
        }
    }

    /// The kind's name, as used in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            TxKind::Transfer { .. } => "transfer",
            TxKind::Mint { .. } => "mint",
            TxKind::Burn { .. } => "burn",
            TxKind::SetRole { .. } => "set_role",
            TxKind::AddValidator { .. } => "add_validator",
            TxKind::RemoveValidator { .. } => "remove_validator",
            TxKind::ClaimMiningReward { .. } => "claim_mining_reward",
        }
    }
}

impl Encode for TxKind {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            TxKind::Transfer { to, amount } | TxKind::Mint { to, amount } => {
                to.encode_to(out);
                out.extend_from_slice(&amount.to_le_bytes());
            }
            TxKind::Burn { amount } => out.extend_from_slice(&amount.to_le_bytes()),
            TxKind::SetRole {
                account,
                role,
                granted,
            } => {
                account.encode_to(out);
                out.push(role.tag());
                out.push(u8::from(*granted));
            }
            TxKind::AddValidator {
                key,
                power,
                address,
            } => {
                key.encode_to(out);
                out.extend_from_slice(&power.to_le_bytes());
                put_string(out, address);
            }
            TxKind::RemoveValidator { key } => key.encode_to(out),
            TxKind::ClaimMiningReward { height, nonce } => {
                out.extend_from_slice(&height.to_le_bytes());
                out.extend_from_slice(&nonce.to_le_bytes());
            }
        }
    }
}

impl Decode for TxKind {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("tx kind")? {
            1 => TxKind::Transfer {
                to: PublicKey::decode(r)?,
                amount: r.u128("amount")?,
            },
            2 => TxKind::Mint {
                to: PublicKey::decode(r)?,
                amount: r.u128("amount")?,
            },
            3 => TxKind::Burn {
                amount: r.u128("amount")?,
            },
            4 => TxKind::SetRole {
                account: PublicKey::decode(r)?,
                role: {
                    let tag = r.u8("role")?;
                    Role::from_tag(tag).ok_or(DecodeError::InvalidTag { what: "role", tag })?
                },
                granted: r.bool("granted")?,
            },
            5 => TxKind::AddValidator {
                key: PublicKey::decode(r)?,
                power: r.u64("voting power")?,
                address: r.string("validator address")?,
            },
            6 => TxKind::RemoveValidator {
                key: PublicKey::decode(r)?,
            },
            7 => TxKind::ClaimMiningReward {
                height: r.u64("claim height")?,
                nonce: r.u64("claim nonce")?,
            },
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "tx kind",
                    tag,
                });
            }
        })
    }
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Transaction {
    /// The chain this transaction is for: the genesis hash.
    pub chain_id: Hash,
    /// The account that pays and signs.
    pub sender: PublicKey,
    /// The sender's next nonce (0 for its first transaction).
    pub nonce: u64,
    /// The last block height at which this transaction may be included.
    pub expiry_height: u64,
    /// What it does.
    pub kind: TxKind,
}

impl Transaction {
    /// The transaction's id: `H_tx-id(tx bytes)`.
    pub fn id(&self) -> Hash {
        Domain::TxId.hash(&self.encode())
    }

    /// The 32-byte message the sender signs: `H_tx-signing(tx bytes)`.
    pub fn signing_message(&self) -> Hash {
        Domain::TxSigning.hash(&self.encode())
    }

    /// Sign with `key` (which should be the sender's key; nothing checks that here).
    pub fn sign(self, key: &Keypair) -> SignedTransaction {
        let signature = key.sign(self.signing_message().as_bytes());
        SignedTransaction::new(self, signature)
    }
}

impl Encode for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(TX_VERSION);
        self.chain_id.encode_to(out);
        self.sender.encode_to(out);
        out.extend_from_slice(&self.nonce.to_le_bytes());
        out.extend_from_slice(&self.expiry_height.to_le_bytes());
        self.kind.encode_to(out);
    }
}

impl Decode for Transaction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("tx version")?;
        if version != TX_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "transaction",
                version,
            });
        }
        Ok(Transaction {
            chain_id: Hash::decode(r)?,
            sender: PublicKey::decode(r)?,
            nonce: r.u64("nonce")?,
            expiry_height: r.u64("expiry height")?,
            kind: TxKind::decode(r)?,
        })
    }
}

/// A transaction with its signature, and the hashes every consumer needs, computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    tx: Transaction,
    signature: Signature,
    id: Hash,
    signing_message: Hash,
    leaf: Hash,
    encoded_len: usize,
}

/// Any transaction with any signature (its hashes computed as [`SignedTransaction::new`]
/// does), for the fuzz targets.
#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for SignedTransaction {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(SignedTransaction::new(u.arbitrary()?, u.arbitrary()?))
    }
}

impl SignedTransaction {
    /// Attach a signature (not checked here).
    pub fn new(tx: Transaction, signature: Signature) -> Self {
        let bytes = tx.encode();
        Self::from_parts(tx, signature, &bytes)
    }

    fn from_parts(tx: Transaction, signature: Signature, tx_bytes: &[u8]) -> Self {
        let mut leaf = Domain::TxLeaf.hasher();
        leaf.update(tx_bytes);
        leaf.update(&signature.0);
        SignedTransaction {
            id: Domain::TxId.hash(tx_bytes),
            signing_message: Domain::TxSigning.hash(tx_bytes),
            leaf: Hash(*leaf.finalize().as_bytes()),
            encoded_len: tx_bytes.len() + 64,
            tx,
            signature,
        }
    }

    /// Decode a signed transaction that fills `bytes` exactly, within `limits.max_tx_bytes`.
    pub fn decode_bytes(bytes: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        if bytes.len() > limits.max_tx_bytes {
            return Err(DecodeError::TooLong {
                what: "signed transaction",
                len: bytes.len(),
                max: limits.max_tx_bytes,
            });
        }
        crate::codec::decode_exact(bytes, limits)
    }

    /// The unsigned transaction.
    pub fn tx(&self) -> &Transaction {
        &self.tx
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The transaction id.
    pub fn id(&self) -> Hash {
        self.id
    }

    /// Its leaf in a block's tx root: `H_tx-leaf(tx bytes ‖ signature)`. Unlike the id it
    /// covers the signature: two copies with the same leaf are the same bytes.
    pub fn leaf(&self) -> Hash {
        self.leaf
    }

    /// The message the signature covers.
    pub fn signing_message(&self) -> &Hash {
        &self.signing_message
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// Check the signature with the on-chain rule.
    pub fn verify_signature(&self) -> bool {
        crate::keys::verify(
            &self.tx.sender,
            self.signing_message.as_bytes(),
            &self.signature,
        )
    }

    /// The signature check for [`crate::keys::verify_batch`].
    pub fn signature_check(&self) -> crate::keys::SignatureCheck<'_> {
        crate::keys::SignatureCheck {
            key: &self.tx.sender,
            message: self.signing_message.as_bytes(),
            signature: &self.signature,
        }
    }
}

impl Encode for SignedTransaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.tx.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for SignedTransaction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.position();
        let tx = Transaction::decode(r)?;
        let end = r.position();
        let signature = Signature::decode(r)?;
        if end - start + 64 > r.limits.max_tx_bytes {
            return Err(DecodeError::TooLong {
                what: "signed transaction",
                len: end - start + 64,
                max: r.limits.max_tx_bytes,
            });
        }
        // The encoding is canonical, so the bytes just read are the tx's encoding.
        let bytes = r.consumed(start, end);
        debug_assert_eq!(bytes, tx.encode().as_slice());
        Ok(Self::from_parts(tx, signature, bytes))
    }
}

/// Fewest signatures per batch when there are enough to split a round between threads: a
/// batch of 1,024 costs ~8% less per signature than two of 512 (`ed25519_batch_size` in
/// BENCHMARKS.md), and a validator's throughput is its CPU, not the few milliseconds a
/// batch takes. So up to 1,024 signatures are one batch (checked on the calling thread),
/// and more are split evenly into batches of at most 1,024 that run in parallel.
pub const MIN_SIGNATURE_BATCH: usize = 1024;

/// Most signatures per batch: batches of 1,024 verify ~9% faster per signature than batches
/// of 256, and batches of 2,048 or 4,096 no faster than 1,024 (BENCHMARKS.md); each batch
/// is one unit of parallel work.
pub const MAX_SIGNATURE_BATCH: usize = 1024;

/// How many signatures each batch gets when `n` are verified on `threads` threads: as few
/// batches as [`MAX_SIGNATURE_BATCH`] allows, but one per thread while each still gets at
/// least [`MIN_SIGNATURE_BATCH`], split evenly (no small remainder batch).
pub fn signature_batch_size(n: usize, threads: usize) -> usize {
    let fewest = n.div_ceil(MAX_SIGNATURE_BATCH);
    let batches = fewest.max(threads.min(n / MIN_SIGNATURE_BATCH)).max(1);
    n.div_ceil(batches).max(1)
}

/// Verify the signatures of many transactions at once; `result[i]` is transaction `i`'s.
/// Batches (see [`signature_batch_size`]) run in parallel on rayon's pool.
pub fn verify_signatures(txs: &[SignedTransaction]) -> Vec<bool> {
    verify_signatures_unless(txs, &[])
}

/// [`verify_signatures`] for the transactions `known` does not vouch for (`known[i]` for
/// transaction `i`, missing entries count as `false`); the others get `true` unchecked.
pub fn verify_signatures_unless(txs: &[SignedTransaction], known: &[bool]) -> Vec<bool> {
    use rayon::prelude::*;
    let mut result: Vec<bool> = (0..txs.len())
        .map(|i| known.get(i).copied().unwrap_or(false))
        .collect();
    let todo: Vec<usize> = (0..txs.len()).filter(|&i| !result[i]).collect();
    let size = signature_batch_size(todo.len(), rayon::current_num_threads());
    let checked: Vec<Vec<bool>> = todo
        .par_chunks(size)
        .map(|chunk| {
            let checks: Vec<_> = chunk.iter().map(|&i| txs[i].signature_check()).collect();
            crate::keys::verify_batch(&checks, size)
        })
        .collect();
    for (&i, ok) in todo.iter().zip(checked.into_iter().flatten()) {
        result[i] = ok;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::signature_batch_size;

    #[test]
    fn batches_are_even_up_to_1024_and_split_between_threads_only_when_full() {
        // (signatures, threads) → signatures per batch
        for (n, threads, want) in [
            (0, 2, 1),
            (100, 2, 100),     // too few to split
            (600, 2, 600),     // one batch: two of 300 cost more per signature
            (1024, 8, 1024),   // one full batch, whatever the threads
            (1500, 2, 750),    // two even batches, no small remainder
            (2048, 2, 1024),   // two full batches, one per thread
            (4500, 2, 900),    // five even batches, no small remainder
            (20_000, 2, 1000), // twenty
        ] {
            assert_eq!(signature_batch_size(n, threads), want, "{n} on {threads}");
        }
    }
}
