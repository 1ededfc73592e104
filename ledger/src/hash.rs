//! Hashes and domain separation.
//!
//! Every hash in Palisade is BLAKE3 in keyed mode, the key being `BLAKE3(domain string)`.
//! Different domains give unrelated functions, so a tx id, a block id and a signing message
//! can never collide, and a 64-byte input (a Merkle node) costs one compression.
//! This module owns the list of domains; nothing else may invent one.

use std::fmt;
use std::sync::LazyLock;

/// A hash map for the hot paths (ids, account keys): foldhash, several times faster than
/// std's SipHash on 32-byte keys and still seeded at random per process, so keys chosen by
/// clients cannot be aimed at one bucket.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// The set counterpart of [`FastMap`].
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// A 32-byte BLAKE3 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash: the parent of the genesis block and the root of an empty tree.
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex with a `0x` prefix, the form used in JSON and logs.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Parse `0x`-prefixed (or bare) hex of exactly 32 bytes.
    pub fn from_hex(s: &str) -> Result<Self, crate::HexError> {
        crate::keys::parse_hex_32(s).map(Hash)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

/// A hashing domain: its ASCII name is public (documented in `docs/tx-format.md`), its key
/// is `BLAKE3(name)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// The message an account signs: `H(tx bytes)`.
    TxSigning,
    /// A transaction's id: `H(tx bytes)` (the signature is not part of the id).
    TxId,
    /// A leaf of a block's tx root: `H(tx bytes ‖ signature)`, every byte of the signed
    /// transaction, so a header commits to the signatures too.
    TxLeaf,
    /// A block's id: `H(header bytes)`.
    Block,
    /// A leaf of a transaction or receipt Merkle root.
    ListNode,
    /// A receipt's hash, the leaves of the receipts root.
    Receipt,
    /// A leaf of the account tree: `H(public key ‖ account bytes)`.
    AccountLeaf,
    /// An inner node of the account tree: `H(left ‖ right)`.
    AccountNode,
    /// The system state (validator set, pending changes, supply).
    SystemState,
    /// The state root: `H(accounts root ‖ system state hash)`.
    StateRoot,
    /// A validator set.
    ValidatorSet,
    /// A genesis document; its hash is the chain id.
    Genesis,
    /// A miner's seed: `H(challenge ‖ miner public key)`.
    MiningSeed,
}

impl Domain {
    /// The ASCII name hashed into this domain's key.
    pub const fn name(self) -> &'static str {
        match self {
            Domain::TxSigning => "palisade/v1/tx-signing",
            Domain::TxId => "palisade/v1/tx-id",
            Domain::TxLeaf => "palisade/v1/tx-leaf",
            Domain::Block => "palisade/v1/block",
            Domain::ListNode => "palisade/v1/list-node",
            Domain::Receipt => "palisade/v1/receipt",
            Domain::AccountLeaf => "palisade/v1/account-leaf",
            Domain::AccountNode => "palisade/v1/account-node",
            Domain::SystemState => "palisade/v1/system-state",
            Domain::StateRoot => "palisade/v1/state-root",
            Domain::ValidatorSet => "palisade/v1/validator-set",
            Domain::Genesis => "palisade/v1/genesis",
            Domain::MiningSeed => "palisade/v1/mining-seed",
        }
    }

    const ALL: [Domain; 13] = [
        Domain::TxSigning,
        Domain::TxId,
        Domain::TxLeaf,
        Domain::Block,
        Domain::ListNode,
        Domain::Receipt,
        Domain::AccountLeaf,
        Domain::AccountNode,
        Domain::SystemState,
        Domain::StateRoot,
        Domain::ValidatorSet,
        Domain::Genesis,
        Domain::MiningSeed,
    ];

    /// The 32-byte BLAKE3 key of this domain.
    pub fn key(self) -> &'static [u8; 32] {
        static KEYS: LazyLock<Vec<[u8; 32]>> = LazyLock::new(|| {
            Domain::ALL
                .iter()
                .map(|d| *blake3::hash(d.name().as_bytes()).as_bytes())
                .collect()
        });
        &KEYS[self as usize]
    }

    /// Hash `data` in this domain.
    pub fn hash(self, data: &[u8]) -> Hash {
        Hash(*blake3::keyed_hash(self.key(), data).as_bytes())
    }

    /// Hash the concatenation of two 32-byte values in this domain (one compression).
    pub fn hash_pair(self, left: &Hash, right: &Hash) -> Hash {
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&left.0);
        buf[32..].copy_from_slice(&right.0);
        self.hash(&buf)
    }

    /// A streaming hasher in this domain, for inputs assembled piece by piece.
    pub fn hasher(self) -> blake3::Hasher {
        blake3::Hasher::new_keyed(self.key())
    }
}

/// The Merkle root of an ordered list of hashes (RFC 6962 shape: split at the largest power
/// of two below the length). The empty list's root is `H_list-node("")`.
pub fn list_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Domain::ListNode.hash(&[]),
        1 => leaves[0],
        n => {
            let split = largest_power_of_two_below(n);
            Domain::ListNode.hash_pair(&list_root(&leaves[..split]), &list_root(&leaves[split..]))
        }
    }
}

fn largest_power_of_two_below(n: usize) -> usize {
    debug_assert!(n > 1);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_have_distinct_keys() {
        let mut keys: Vec<_> = Domain::ALL.iter().map(|d| *d.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), Domain::ALL.len());
        for (i, d) in Domain::ALL.iter().enumerate() {
            assert_eq!(*d as usize, i, "ALL must list domains in declaration order");
        }
    }

    #[test]
    fn same_bytes_in_different_domains_differ() {
        let data = [7u8; 40];
        assert_ne!(Domain::TxId.hash(&data), Domain::TxSigning.hash(&data));
        assert_ne!(Domain::TxId.hash(&data), Domain::Block.hash(&data));
    }

    #[test]
    fn list_root_shapes() {
        let h = |i: u8| Hash([i; 32]);
        assert_eq!(list_root(&[h(1)]), h(1));
        let two = Domain::ListNode.hash_pair(&h(1), &h(2));
        assert_eq!(list_root(&[h(1), h(2)]), two);
        let three = Domain::ListNode.hash_pair(&two, &h(3));
        assert_eq!(list_root(&[h(1), h(2), h(3)]), three);
        assert_ne!(list_root(&[]), Hash::ZERO);
    }
}
