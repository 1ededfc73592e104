//! State snapshots: the whole ledger state after one block, cut into chunks that can each
//! be checked on their own against the block's state root.
//!
//! A chunk is every account under one key prefix (a subtree of the account tree), at most
//! a configured number of accounts (4,096 by default). The
//! manifest lists the chunks' prefixes with each subtree's account count and root, and
//! carries the system state. Checking the manifest: its chunks' prefixes do not overlap,
//! folding their roots up the tree (a subtree with no chunk is empty) gives an accounts
//! root that, with the system state's hash, is the header's state root. Checking a chunk:
//! its accounts are sorted, unique, non-empty, all under its prefix, and their subtree
//! root and count are the manifest's. So a peer cannot slip in, leave out or alter one
//! account without its chunk failing, and a chunk is refused on its own, before any other
//! arrives. This module must not know about files, the network or consensus.

use crate::account::{ACCOUNT_BYTES, Account};
use crate::block::BlockHeader;
use crate::codec::{Decode, DecodeError, Encode, Limits, Reader, decode_exact, put_len};
use crate::hash::{Domain, Hash};
use crate::keys::PublicKey;
use crate::state::tree::subtree_root;
use crate::state::{AccountTree, SystemState, state_root};

/// The accounts a chunk holds at most by default (a subtree with more is split), about
/// 233 KB.
pub const DEFAULT_CHUNK_ACCOUNTS: usize = 4096;
/// The most accounts a chunk may hold (a decoder refuses more): 3.7 MB.
pub const MAX_CHUNK_ACCOUNTS: usize = 65_536;
/// The most chunks a manifest lists.
pub const MAX_CHUNKS: usize = 1 << 16;
/// Bytes of one account in a chunk: key and account.
pub const ENTRY_BYTES: usize = 32 + ACCOUNT_BYTES;
/// The manifest format version.
pub const MANIFEST_VERSION: u8 = 1;

/// The keys whose first `len` bits are those of `bits` (the rest of `bits` is zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    /// The bits, most significant first.
    pub bits: [u8; 32],
    /// How many leading bits count (0..=256).
    pub len: u16,
}

impl Prefix {
    fn bit(&self, i: usize) -> bool {
        (self.bits[i / 8] >> (7 - (i % 8))) & 1 == 1
    }

    fn with(&self, bit: bool) -> Prefix {
        let mut p = *self;
        if bit {
            let i = usize::from(self.len);
            p.bits[i / 8] |= 1 << (7 - (i % 8));
        }
        p.len += 1;
        p
    }

    /// Whether `key` is under this prefix.
    pub fn covers(&self, key: &PublicKey) -> bool {
        (0..usize::from(self.len)).all(|i| key.bit(i) == self.bit(i))
    }

    /// Only the first `len` bits are set, and `len` ≤ 256.
    fn canonical(&self) -> bool {
        let len = usize::from(self.len);
        len <= 256 && (len..256).all(|i| !self.bit(i))
    }
}

/// One chunk as the manifest describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkInfo {
    /// The accounts it holds are those under this prefix.
    pub prefix: Prefix,
    /// How many.
    pub count: u32,
    /// Their subtree's root (the account tree's node at the prefix).
    pub root: Hash,
}

/// What a snapshot holds, and how to check each chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The block after which the state is taken.
    pub height: u64,
    /// That block's hash.
    pub block: Hash,
    /// The account tree's root.
    pub accounts_root: Hash,
    /// The system state (validators, pending changes, supply, mining).
    pub system: SystemState,
    /// The chunks, in key order.
    pub chunks: Vec<ChunkInfo>,
}

/// Why a manifest or chunk is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes do not decode.
    #[error("does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// The manifest is of another block.
    #[error("the manifest is of block {got} at height {height}, not the trusted one")]
    OtherBlock {
        /// Its height.
        height: u64,
        /// Its block hash.
        got: Hash,
    },
    /// The manifest's roots do not make the header's state root.
    #[error("the manifest does not add up to the header's state root")]
    RootMismatch,
    /// The chunk list is not a valid partition.
    #[error("chunk list: {0}")]
    BadPartition(String),
    /// A chunk is not what the manifest says.
    #[error("chunk {index}: {why}")]
    BadChunk {
        /// Its index.
        index: usize,
        /// What is wrong.
        why: String,
    },
}

impl Encode for ChunkInfo {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix.bits);
        out.extend_from_slice(&self.prefix.len.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        self.root.encode_to(out);
    }
}

impl Decode for ChunkInfo {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bits = r.array::<32>("chunk prefix")?;
        let len = r.u16("chunk prefix length")?;
        Ok(ChunkInfo {
            prefix: Prefix { bits, len },
            count: r.u32("chunk account count")?,
            root: Hash::decode(r)?,
        })
    }
}

impl Encode for Manifest {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(MANIFEST_VERSION);
        out.extend_from_slice(&self.height.to_le_bytes());
        self.block.encode_to(out);
        self.accounts_root.encode_to(out);
        let system = self.system.encode();
        put_len(out, system.len());
        out.extend_from_slice(&system);
        crate::codec::put_list(out, &self.chunks);
    }
}

impl Decode for Manifest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("manifest version")?;
        if version != MANIFEST_VERSION {
            return Err(DecodeError::InvalidTag {
                what: "manifest version",
                tag: version,
            });
        }
        let height = r.u64("height")?;
        let block = Hash::decode(r)?;
        let accounts_root = Hash::decode(r)?;
        let n = r.len(usize::MAX, "system state length")?;
        let system_bytes = r.bytes(n, "system state")?;
        let system = decode_exact(system_bytes, r.limits)?;
        let chunks = r.list(MAX_CHUNKS, "chunks")?;
        Ok(Manifest {
            height,
            block,
            accounts_root,
            system,
            chunks,
        })
    }
}

impl Manifest {
    /// The manifest of `tree` and `system` after the block `header`, in chunks of at most
    /// `chunk_accounts` accounts (clamped to 1..=[`MAX_CHUNK_ACCOUNTS`]), and the chunks.
    pub fn of(
        header: &BlockHeader,
        tree: &AccountTree,
        system: &SystemState,
        chunk_accounts: usize,
    ) -> (Manifest, Vec<Vec<(PublicKey, Account)>>) {
        let mut max = chunk_accounts.clamp(1, MAX_CHUNK_ACCOUNTS);
        let mut accounts = Vec::with_capacity(tree.len());
        tree.for_each(|k, a| accounts.push((*k, *a)));
        let root = Prefix {
            bits: [0; 32],
            len: 0,
        };
        let (chunks, bodies) = loop {
            let mut chunks = Vec::new();
            let mut bodies = Vec::new();
            cut(&accounts, root, max, &mut chunks, &mut bodies);
            // keys crafted to split into many tiny chunks: larger chunks, fewer splits
            if chunks.len() <= MAX_CHUNKS || max >= MAX_CHUNK_ACCOUNTS {
                break (chunks, bodies);
            }
            max = (max * 2).min(MAX_CHUNK_ACCOUNTS);
        };
        (
            Manifest {
                height: header.height,
                block: header.id(),
                accounts_root: tree.root(),
                system: system.clone(),
                chunks,
            },
            bodies,
        )
    }

    /// The manifest's BLAKE3 hash (peers serving the same snapshot serve the same
    /// manifest); it identifies, it proves nothing ([`Manifest::verify`] does).
    pub fn id(&self) -> Hash {
        Hash(*blake3::hash(&self.encode()).as_bytes())
    }

    /// Check the manifest against a trusted header: same block, and its roots fold to the
    /// header's state root through a partition of the key space.
    pub fn verify(&self, header: &BlockHeader) -> Result<(), SnapshotError> {
        if self.height != header.height || self.block != header.id() {
            return Err(SnapshotError::OtherBlock {
                height: self.height,
                got: self.block,
            });
        }
        for (i, c) in self.chunks.iter().enumerate() {
            if !c.prefix.canonical() {
                return Err(SnapshotError::BadPartition(format!(
                    "chunk {i}: prefix has bits past its length"
                )));
            }
            if c.count == 0 {
                return Err(SnapshotError::BadPartition(format!("chunk {i} is empty")));
            }
        }
        if self
            .chunks
            .windows(2)
            .any(|w| w[0].prefix.bits >= w[1].prefix.bits)
        {
            return Err(SnapshotError::BadPartition(
                "prefixes are not in strictly increasing key order".into(),
            ));
        }
        let (root, _) = fold(
            &self.chunks,
            Prefix {
                bits: [0; 32],
                len: 0,
            },
        )?;
        if root != self.accounts_root
            || state_root(&self.accounts_root, &self.system.hash()) != header.state_root
        {
            return Err(SnapshotError::RootMismatch);
        }
        Ok(())
    }

    /// Check chunk `index`'s bytes against this (verified) manifest; its accounts, in key
    /// order.
    pub fn verify_chunk(
        &self,
        index: usize,
        bytes: &[u8],
    ) -> Result<Vec<(PublicKey, Account)>, SnapshotError> {
        let bad = |why: String| SnapshotError::BadChunk { index, why };
        let info = self
            .chunks
            .get(index)
            .ok_or_else(|| bad("no such chunk".into()))?;
        let accounts = decode_chunk(bytes).map_err(|e| bad(e.to_string()))?;
        if accounts.len() != info.count as usize {
            return Err(bad(format!(
                "{} accounts, the manifest says {}",
                accounts.len(),
                info.count
            )));
        }
        if accounts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(bad(
                "accounts are not in strictly increasing key order".into()
            ));
        }
        if let Some((k, _)) = accounts.iter().find(|(k, _)| !info.prefix.covers(k)) {
            return Err(bad(format!("account {k} is outside the chunk's prefix")));
        }
        if accounts.iter().any(|(_, a)| a.is_empty()) {
            return Err(bad("an empty account (empty accounts do not exist)".into()));
        }
        if subtree_root(&accounts, usize::from(info.prefix.len)) != info.root {
            return Err(bad("its accounts do not make the manifest's root".into()));
        }
        Ok(accounts)
    }
}

/// A chunk's bytes: a u32 count, then per account its key (32) and account (25).
pub fn encode_chunk(accounts: &[(PublicKey, Account)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + accounts.len() * ENTRY_BYTES);
    put_len(&mut out, accounts.len());
    for (k, a) in accounts {
        out.extend_from_slice(&k.0);
        out.extend_from_slice(&a.to_bytes());
    }
    out
}

/// Decode a chunk's bytes (the whole input).
pub fn decode_chunk(bytes: &[u8]) -> Result<Vec<(PublicKey, Account)>, DecodeError> {
    let mut r = Reader::new(bytes, Limits::default());
    let n = r.len(MAX_CHUNK_ACCOUNTS, "chunk accounts")?;
    let mut out = Vec::with_capacity(n.min(r.remaining() / ENTRY_BYTES + 1));
    for _ in 0..n {
        let key = PublicKey::decode(&mut r)?;
        out.push((key, Account::decode(&mut r)?));
    }
    r.finish()?;
    Ok(out)
}

/// Cut sorted `accounts` (all under `prefix`) into chunks of at most `max`, each a whole
/// subtree.
fn cut(
    accounts: &[(PublicKey, Account)],
    prefix: Prefix,
    max: usize,
    chunks: &mut Vec<ChunkInfo>,
    bodies: &mut Vec<Vec<(PublicKey, Account)>>,
) {
    if accounts.is_empty() {
        return;
    }
    // past 240 bits no honest key set is this dense: keep the (oversized) chunk whole
    if accounts.len() <= max || prefix.len >= 240 {
        chunks.push(ChunkInfo {
            prefix,
            count: accounts.len() as u32,
            root: subtree_root(accounts, usize::from(prefix.len)),
        });
        bodies.push(accounts.to_vec());
        return;
    }
    let d = usize::from(prefix.len);
    let mid = accounts.partition_point(|(k, _)| !k.bit(d));
    cut(&accounts[..mid], prefix.with(false), max, chunks, bodies);
    cut(&accounts[mid..], prefix.with(true), max, chunks, bodies);
}

/// The root and account count of the subtree at `prefix` from the chunks under it
/// (sorted, non-overlapping; none: empty).
fn fold(chunks: &[ChunkInfo], prefix: Prefix) -> Result<(Hash, u64), SnapshotError> {
    match chunks {
        [] => return Ok((Hash::ZERO, 0)),
        [only] if only.prefix == prefix => return Ok((only.root, u64::from(only.count))),
        _ => {}
    }
    let d = usize::from(prefix.len);
    if d >= 256
        || chunks
            .iter()
            .any(|c| c.prefix.len <= prefix.len || !prefix_covers(&prefix, &c.prefix))
    {
        return Err(SnapshotError::BadPartition(format!(
            "chunks overlap at a prefix of {d} bits"
        )));
    }
    let mid = chunks.partition_point(|c| !c.prefix.bit(d));
    let (left, lc) = fold(&chunks[..mid], prefix.with(false))?;
    let (right, rc) = fold(&chunks[mid..], prefix.with(true))?;
    let count = lc + rc;
    Ok(match (lc, rc) {
        (0, 0) => (Hash::ZERO, 0),
        // a subtree of one account is that account's leaf, lifted
        (1, 0) => (left, 1),
        (0, 1) => (right, 1),
        _ => (Domain::AccountNode.hash_pair(&left, &right), count),
    })
}

fn prefix_covers(outer: &Prefix, inner: &Prefix) -> bool {
    inner.len >= outer.len && (0..usize::from(outer.len)).all(|i| inner.bit(i) == outer.bit(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(n: usize, seed: u8) -> Vec<(PublicKey, Account)> {
        let mut v: Vec<(PublicKey, Account)> = (0..n)
            .map(|i| {
                let k =
                    *blake3::hash(&[&[seed][..], &(i as u64).to_le_bytes()].concat()).as_bytes();
                (
                    PublicKey(k),
                    Account {
                        balance: i as u128 + 1,
                        nonce: 0,
                        roles: 0,
                    },
                )
            })
            .collect();
        v.sort_by_key(|a| a.0);
        v
    }

    fn header_for(tree: &AccountTree, system: &SystemState) -> BlockHeader {
        BlockHeader {
            chain_id: Hash([1; 32]),
            height: 100,
            parent: Hash([2; 32]),
            timestamp_ms: 0,
            proposer: PublicKey([0; 32]),
            tx_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            state_root: state_root(&tree.root(), &system.hash()),
            validators_hash: Hash::ZERO,
        }
    }

    #[test]
    fn every_size_round_trips_and_verifies() {
        for n in [0, 1, 2, 3, 4096, 4097, 20_000] {
            let accts = accounts(n, 1);
            let tree = AccountTree::from_sorted(&accts);
            let system = SystemState::default();
            let header = header_for(&tree, &system);
            let (m, bodies) = Manifest::of(&header, &tree, &system, DEFAULT_CHUNK_ACCOUNTS);
            assert!(
                m.chunks
                    .iter()
                    .all(|c| c.count as usize <= MAX_CHUNK_ACCOUNTS)
            );
            let m2: Manifest = decode_exact(&m.encode(), Limits::default()).expect("decode");
            assert_eq!(m2, m);
            m.verify(&header).unwrap_or_else(|e| panic!("{n}: {e}"));
            let mut all = Vec::new();
            for (i, b) in bodies.iter().enumerate() {
                all.extend(m.verify_chunk(i, &encode_chunk(b)).expect("chunk"));
            }
            assert_eq!(all, accts, "{n}");
        }
    }

    #[test]
    fn a_changed_manifest_or_chunk_is_refused() {
        let accts = accounts(10_000, 2);
        let tree = AccountTree::from_sorted(&accts);
        let system = SystemState::default();
        let header = header_for(&tree, &system);
        let (m, bodies) = Manifest::of(&header, &tree, &system, DEFAULT_CHUNK_ACCOUNTS);
        assert!(m.chunks.len() >= 3);
        // manifests
        let mut bad = m.clone();
        bad.chunks.remove(1);
        assert!(bad.verify(&header).is_err(), "a chunk left out");
        let mut bad = m.clone();
        bad.chunks[0].count += 1;
        assert!(
            bad.verify(&header).is_err() || bad.verify_chunk(0, &encode_chunk(&bodies[0])).is_err()
        );
        let mut bad = m.clone();
        bad.chunks[1].root.0[0] ^= 1;
        assert_eq!(bad.verify(&header), Err(SnapshotError::RootMismatch));
        let mut bad = m.clone();
        bad.system.total_supply += 1;
        assert_eq!(bad.verify(&header), Err(SnapshotError::RootMismatch));
        let mut bad = m.clone();
        bad.height += 1;
        assert!(matches!(
            bad.verify(&header),
            Err(SnapshotError::OtherBlock { .. })
        ));
        let mut bad = m.clone();
        let first = bad.chunks[0];
        bad.chunks.insert(0, first);
        assert!(bad.verify(&header).is_err(), "a chunk twice");
        // chunks
        let body = &bodies[1];
        let mut changed = body.clone();
        changed[3].1.balance += 1;
        assert!(
            m.verify_chunk(1, &encode_chunk(&changed)).is_err(),
            "a balance"
        );
        let mut dropped = body.clone();
        dropped.remove(0);
        assert!(
            m.verify_chunk(1, &encode_chunk(&dropped)).is_err(),
            "an account left out"
        );
        let mut swapped = body.clone();
        swapped.swap(0, 1);
        assert!(m.verify_chunk(1, &encode_chunk(&swapped)).is_err(), "order");
        assert!(
            m.verify_chunk(0, &encode_chunk(body)).is_err(),
            "another chunk's accounts"
        );
        let mut bytes = encode_chunk(body);
        bytes.push(0);
        assert!(m.verify_chunk(1, &bytes).is_err(), "a trailing byte");
        assert!(
            m.verify_chunk(1, &bytes[..bytes.len() - 2]).is_err(),
            "truncated"
        );
        assert!(m.verify_chunk(99_999, &encode_chunk(body)).is_err());
    }
}
