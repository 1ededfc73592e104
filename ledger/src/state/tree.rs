//! The account tree: a compressed binary sparse Merkle tree over all accounts.
//!
//! The path of an account is its public key, most significant bit first. The root of a set
//! S of accounts at depth d is defined as
//!
//! * `ZERO` if S is empty,
//! * `H_account-leaf(key ‖ account bytes)` if S holds one account,
//! * `H_account-node(root(S₀, d+1) ‖ root(S₁, d+1))` otherwise, S_b being the accounts whose
//!   bit d is b.
//!
//! So the root is a function of the set alone, whatever order updates came in. Nodes are
//! immutable and shared (`Arc`): an update copies only the paths it touches, which makes a
//! speculative post-state as cheap as the update itself and leaves the previous version
//! intact. This module must not know about blocks, transactions or storage.

use std::sync::Arc;

use crate::account::{ACCOUNT_BYTES, Account};
use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::hash::{Domain, Hash};
use crate::keys::PublicKey;

/// A node: nothing, one account, or two subtrees.
#[derive(Clone, Debug, Default)]
enum Node {
    #[default]
    Empty,
    Leaf(Arc<Leaf>),
    Inner(Arc<Inner>),
}

#[derive(Debug)]
struct Leaf {
    key: PublicKey,
    account: Account,
    hash: Hash,
}

#[derive(Debug)]
struct Inner {
    hash: Hash,
    left: Node,
    right: Node,
}

/// The hash of a leaf holding `account` under `key`.
pub fn leaf_hash(key: &PublicKey, account: &Account) -> Hash {
    let mut buf = [0u8; 32 + ACCOUNT_BYTES];
    buf[..32].copy_from_slice(&key.0);
    buf[32..].copy_from_slice(&account.to_bytes());
    Domain::AccountLeaf.hash(&buf)
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Empty => Hash::ZERO,
            Node::Leaf(l) => l.hash,
            Node::Inner(i) => i.hash,
        }
    }

    fn leaf(key: PublicKey, account: Account) -> Node {
        Node::Leaf(Arc::new(Leaf {
            hash: leaf_hash(&key, &account),
            key,
            account,
        }))
    }

    /// Join two subtrees, keeping the tree canonical: a subtree with a single account is
    /// that account's leaf, lifted to where its path diverges from every other account.
    fn join(left: Node, right: Node) -> Node {
        match (&left, &right) {
            (Node::Empty, Node::Empty) => Node::Empty,
            (Node::Empty, Node::Leaf(_)) => right,
            (Node::Leaf(_), Node::Empty) => left,
            _ => Node::Inner(Arc::new(Inner {
                hash: Domain::AccountNode.hash_pair(&left.hash(), &right.hash()),
                left,
                right,
            })),
        }
    }
}

/// One change to the tree: set an account, or remove it (`None`).
pub type Change = (PublicKey, Option<Account>);

/// An immutable version of the account tree; cloning is O(1).
#[derive(Clone, Debug, Default)]
pub struct AccountTree {
    root: Node,
    len: usize,
}

impl AccountTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Build a tree from accounts sorted by key with no duplicates (as RocksDB iterates).
    pub fn from_sorted(accounts: &[(PublicKey, Account)]) -> Self {
        debug_assert!(accounts.windows(2).all(|w| w[0].0 < w[1].0));
        let items: Vec<(PublicKey, Account)> = accounts
            .iter()
            .filter(|(_, a)| !a.is_empty())
            .copied()
            .collect();
        AccountTree {
            root: build(&items, 0),
            len: items.len(),
        }
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        self.root.hash()
    }

    /// How many accounts exist.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no account exists.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The account under `key`, if it exists.
    pub fn get(&self, key: &PublicKey) -> Option<&Account> {
        let mut node = &self.root;
        let mut depth = 0;
        loop {
            match node {
                Node::Empty => return None,
                Node::Leaf(l) => return (l.key == *key).then_some(&l.account),
                Node::Inner(i) => {
                    node = if key.bit(depth) { &i.right } else { &i.left };
                    depth += 1;
                }
            }
        }
    }

    /// A new version with `changes` applied. `changes` must be sorted by key without
    /// duplicates, with `None` for removals (see [`normalize_changes`]).
    pub fn apply(&self, changes: &[Change]) -> AccountTree {
        debug_assert!(
            changes.windows(2).all(|w| w[0].0 < w[1].0),
            "changes not normalized"
        );
        let (root, delta) = update(&self.root, 0, changes);
        AccountTree {
            root,
            len: self.len.saturating_add_signed(delta),
        }
    }

    /// Call `f` on every account, in key order.
    pub fn for_each(&self, mut f: impl FnMut(&PublicKey, &Account)) {
        fn walk(node: &Node, f: &mut impl FnMut(&PublicKey, &Account)) {
            match node {
                Node::Empty => {}
                Node::Leaf(l) => f(&l.key, &l.account),
                Node::Inner(i) => {
                    walk(&i.left, f);
                    walk(&i.right, f);
                }
            }
        }
        walk(&self.root, &mut f);
    }

    /// A proof of `key`'s account, or of its absence, against this tree's root.
    pub fn prove(&self, key: &PublicKey) -> TreeProof {
        let mut siblings = Vec::new();
        let mut node = &self.root;
        let mut depth = 0;
        let terminal = loop {
            match node {
                Node::Empty => break ProofTerminal::Empty,
                Node::Leaf(l) => {
                    break ProofTerminal::Leaf {
                        key: l.key,
                        account: l.account,
                    };
                }
                Node::Inner(i) => {
                    let (next, sibling) = if key.bit(depth) {
                        (&i.right, &i.left)
                    } else {
                        (&i.left, &i.right)
                    };
                    siblings.push(sibling.hash());
                    node = next;
                    depth += 1;
                }
            }
        };
        TreeProof { siblings, terminal }
    }
}

/// Sort changes by key, keep the last change of each key, and turn empty accounts into
/// removals: the form [`AccountTree::apply`] takes.
pub fn normalize_changes(mut changes: Vec<Change>) -> Vec<Change> {
    // stable sort keeps the order of equal keys, so the last one is the latest change
    changes.sort_by_key(|c| c.0);
    let mut out: Vec<Change> = Vec::with_capacity(changes.len());
    for c in changes {
        let c = (c.0, c.1.filter(|a| !a.is_empty()));
        match out.last_mut() {
            Some(last) if last.0 == c.0 => *last = c,
            _ => out.push(c),
        }
    }
    out
}

/// Split sorted items at the first whose bit `depth` is set.
fn split_at_bit<T>(items: &[(PublicKey, T)], depth: usize) -> usize {
    items.partition_point(|(k, _)| !k.bit(depth))
}

/// The root of the accounts `items` (sorted by key, unique, none empty) as a subtree at
/// `depth`, i.e. whose keys share their first `depth` bits: what a snapshot chunk checks.
pub fn subtree_root(items: &[(PublicKey, Account)], depth: usize) -> Hash {
    build(items, depth).hash()
}

fn build(items: &[(PublicKey, Account)], depth: usize) -> Node {
    match items {
        [] => Node::Empty,
        [(k, a)] => Node::leaf(*k, *a),
        _ => {
            let mid = split_at_bit(items, depth);
            Node::join(
                build(&items[..mid], depth + 1),
                build(&items[mid..], depth + 1),
            )
        }
    }
}

/// Below this many changes a subtree is updated on the current thread; above, its two
/// halves are updated in parallel (rayon), which nearly halves a 10,000-transfer block's
/// state-root update on two cores.
const PARALLEL_CHANGES: usize = 1024;

/// Apply sorted, unique `changes` under `node` (at `depth`); returns the new subtree and
/// the change in the number of accounts.
fn update(node: &Node, depth: usize, changes: &[Change]) -> (Node, isize) {
    if changes.is_empty() {
        return (node.clone(), 0);
    }
    match node {
        Node::Empty => {
            let items: Vec<(PublicKey, Account)> = changes
                .iter()
                .filter_map(|(k, a)| a.map(|a| (*k, a)))
                .collect();
            let added = items.len() as isize;
            (build(&items, depth), added)
        }
        // The common case: one change to an existing account.
        Node::Leaf(l) if changes.len() == 1 && changes[0].0 == l.key => match changes[0].1 {
            Some(a) => (Node::leaf(l.key, a), 0),
            None => (Node::Empty, -1),
        },
        Node::Leaf(l) => {
            // Merge the existing account with the changes, then rebuild this small subtree.
            let mut items: Vec<(PublicKey, Account)> = Vec::with_capacity(changes.len() + 1);
            let mut existing_seen = false;
            for (k, a) in changes {
                if !existing_seen && l.key < *k {
                    items.push((l.key, l.account));
                    existing_seen = true;
                }
                if *k == l.key {
                    existing_seen = true;
                }
                if let Some(a) = a {
                    items.push((*k, *a));
                }
            }
            if !existing_seen {
                items.push((l.key, l.account));
            }
            let delta = items.len() as isize - 1;
            (build(&items, depth), delta)
        }
        Node::Inner(i) => {
            let mid = split_at_bit(changes, depth);
            let (left, right) = if changes.len() >= PARALLEL_CHANGES {
                rayon::join(
                    || update(&i.left, depth + 1, &changes[..mid]),
                    || update(&i.right, depth + 1, &changes[mid..]),
                )
            } else {
                (
                    update(&i.left, depth + 1, &changes[..mid]),
                    update(&i.right, depth + 1, &changes[mid..]),
                )
            };
            (Node::join(left.0, right.0), left.1 + right.1)
        }
    }
}

/// Where a proof's path ends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ProofTerminal {
    /// An empty subtree: the account does not exist.
    Empty,
    /// A leaf: the account itself, or another account that proves it absent.
    Leaf {
        /// The leaf's key.
        key: PublicKey,
        /// The leaf's account.
        account: Account,
    },
}

/// The path from the root to where `key` is, or would be.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TreeProof {
    /// Sibling hashes from the root down.
    pub siblings: Vec<Hash>,
    /// What the path ends in.
    pub terminal: ProofTerminal,
}

/// Why a proof does not prove anything about a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The recomputed root differs from the trusted one.
    #[error("proof does not match the state root")]
    RootMismatch,
    /// The proof ends in a leaf that is not on the key's path.
    #[error("proof leaf is not on the key's path")]
    WrongPath,
    /// More siblings than a 256-bit path can have.
    #[error("proof is longer than 256 levels")]
    TooDeep,
    /// The proof's bytes do not decode.
    #[error("proof does not decode: {0}")]
    Decode(#[from] DecodeError),
}

impl TreeProof {
    /// Check the proof against a trusted accounts root; `Ok(Some(account))` proves the
    /// account exists with that content, `Ok(None)` proves it does not exist.
    pub fn verify(&self, root: &Hash, key: &PublicKey) -> Result<Option<Account>, ProofError> {
        let (computed, found) = self.root_for(key)?;
        if computed == *root {
            Ok(found)
        } else {
            Err(ProofError::RootMismatch)
        }
    }

    /// The accounts root this proof leads to for `key`, and what it says about the key's
    /// account, after checking the path is well formed. Trust nothing until the root is
    /// compared with a trusted one.
    pub fn root_for(&self, key: &PublicKey) -> Result<(Hash, Option<Account>), ProofError> {
        let depth = self.siblings.len();
        if depth > 256 {
            return Err(ProofError::TooDeep);
        }
        let (mut h, found) = match &self.terminal {
            ProofTerminal::Empty => (Hash::ZERO, None),
            ProofTerminal::Leaf { key: k, account } => {
                if (0..depth).any(|i| k.bit(i) != key.bit(i)) {
                    return Err(ProofError::WrongPath);
                }
                (leaf_hash(k, account), (k == key).then_some(*account))
            }
        };
        for (i, sibling) in self.siblings.iter().enumerate().rev() {
            h = if key.bit(i) {
                Domain::AccountNode.hash_pair(sibling, &h)
            } else {
                Domain::AccountNode.hash_pair(&h, sibling)
            };
        }
        Ok((h, found))
    }
}

impl Encode for TreeProof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        crate::codec::put_list(out, &self.siblings);
        match &self.terminal {
            ProofTerminal::Empty => out.push(0),
            ProofTerminal::Leaf { key, account } => {
                out.push(1);
                key.encode_to(out);
                account.encode_to(out);
            }
        }
    }
}

impl Decode for TreeProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let siblings = r.list(256, "proof siblings")?;
        let terminal = match r.u8("proof terminal")? {
            0 => ProofTerminal::Empty,
            1 => ProofTerminal::Leaf {
                key: PublicKey::decode(r)?,
                account: Account::decode(r)?,
            },
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "proof terminal",
                    tag,
                });
            }
        };
        Ok(TreeProof { siblings, terminal })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn acct(balance: u128) -> Account {
        Account {
            balance,
            nonce: 0,
            roles: 0,
        }
    }

    fn reference_root(map: &BTreeMap<PublicKey, Account>) -> Hash {
        let items: Vec<_> = map.iter().map(|(k, a)| (*k, *a)).collect();
        AccountTree::from_sorted(&items).root()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Incremental updates give the same root as building the final set from scratch,
        /// and every key proves correctly against it.
        #[test]
        fn incremental_equals_rebuild(
            batches in prop::collection::vec(
                prop::collection::vec((any::<[u8; 2]>(), 0u128..4), 0..40), 1..6)
        ) {
            let mut tree = AccountTree::new();
            let mut model: BTreeMap<PublicKey, Account> = BTreeMap::new();
            for batch in batches {
                let mut changes = Vec::new();
                for (prefix, bal) in batch {
                    // short shared prefixes force deep, collapsing paths
                    let mut k = [0u8; 32];
                    k[..2].copy_from_slice(&prefix);
                    k[31] = prefix[0];
                    let key = PublicKey(k);
                    let value = (bal > 0).then(|| acct(bal));
                    match value {
                        Some(a) => { model.insert(key, a); }
                        None => { model.remove(&key); }
                    }
                    changes.push((key, value));
                }
                tree = tree.apply(&normalize_changes(changes));
                prop_assert_eq!(tree.root(), reference_root(&model));
                prop_assert_eq!(tree.len(), model.len());
            }
            for (k, a) in &model {
                prop_assert_eq!(tree.get(k), Some(a));
                prop_assert_eq!(tree.prove(k).verify(&tree.root(), k), Ok(Some(*a)));
            }
            let absent = PublicKey([0xab; 32]);
            if !model.contains_key(&absent) {
                prop_assert_eq!(tree.prove(&absent).verify(&tree.root(), &absent), Ok(None));
            }
        }
    }

    /// Large updates take the parallel path; they must give the rebuilt root too.
    #[test]
    fn large_parallel_update_equals_rebuild() {
        let key = |i: u32| PublicKey(*blake3::hash(&i.to_le_bytes()).as_bytes());
        let mut model: BTreeMap<PublicKey, Account> = (0..20_000)
            .map(|i| (key(i), acct(u128::from(i) + 1)))
            .collect();
        let items: Vec<_> = model.iter().map(|(k, a)| (*k, *a)).collect();
        let tree = AccountTree::from_sorted(&items);
        let mut changes = Vec::new();
        for i in 0..6_000u32 {
            let k = key(i * 7 % 30_000); // some existing, some new
            let v = if i % 5 == 0 {
                None
            } else {
                Some(acct(u128::from(i) * 3 + 1))
            };
            match v {
                Some(a) => {
                    model.insert(k, a);
                }
                None => {
                    model.remove(&k);
                }
            }
            changes.push((k, v));
        }
        assert!(changes.len() > PARALLEL_CHANGES);
        let updated = tree.apply(&normalize_changes(changes));
        assert_eq!(updated.root(), reference_root(&model));
        assert_eq!(updated.len(), model.len());
    }

    #[test]
    fn old_versions_are_untouched() {
        let t0 = AccountTree::new();
        let t1 = t0.apply(&[(PublicKey([1; 32]), Some(acct(5)))]);
        let t2 = t1.apply(&[(PublicKey([1; 32]), Some(acct(6)))]);
        assert_eq!(t0.root(), Hash::ZERO);
        assert_eq!(t1.get(&PublicKey([1; 32])), Some(&acct(5)));
        assert_eq!(t2.get(&PublicKey([1; 32])), Some(&acct(6)));
        assert_ne!(t1.root(), t2.root());
    }

    #[test]
    fn last_duplicate_change_wins() {
        let k = PublicKey([3; 32]);
        let t = AccountTree::new().apply(&normalize_changes(vec![
            (k, Some(acct(1))),
            (k, Some(acct(2))),
        ]));
        assert_eq!(t.get(&k), Some(&acct(2)));
        let t = t.apply(&normalize_changes(vec![(k, Some(acct(9))), (k, None)]));
        assert!(t.is_empty());
        assert_eq!(t.root(), Hash::ZERO);
    }
}
