//! The sparse Merkle tree of accounts against a map: after any sequence of updates the
//! root is the root of the map's contents (whatever the order of updates), every proof
//! verifies to exactly the map's value, and no altered proof verifies a wrong value.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use ledger::codec::{Encode, Limits, decode_exact};
use ledger::state::tree::{AccountTree, ProofTerminal, TreeProof, normalize_changes};
use ledger::{Account, Hash, PublicKey};
use libfuzzer_sys::fuzz_target;

/// A key: half of them random-looking, half sharing 248 leading bits (deep paths).
fn key(sel: u8) -> PublicKey {
    if sel < 128 {
        PublicKey(*blake3::hash(&[sel]).as_bytes())
    } else {
        let mut k = [0u8; 32];
        k[31] = sel;
        PublicKey(k)
    }
}

#[derive(Arbitrary, Debug)]
struct Acct {
    balance: u16,
    nonce: u8,
    roles: u8,
}

impl Acct {
    fn account(&self) -> Account {
        Account {
            balance: u128::from(self.balance),
            nonce: u64::from(self.nonce),
            roles: self.roles & ledger::account::ROLE_BITS,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// One block's changes (`None`: the account is removed).
    Apply(Vec<(u8, Option<Acct>)>),
    /// Prove a key and check the proof, and altered copies of it.
    Prove { key: u8, alter: u8, value: Acct },
}

fuzz_target!(|ops: Vec<Op>| {
    let mut tree = AccountTree::new();
    let mut model: BTreeMap<PublicKey, Account> = BTreeMap::new();
    for op in ops.into_iter().take(64) {
        match op {
            Op::Apply(changes) => {
                let changes: Vec<_> = changes
                    .into_iter()
                    .take(32)
                    .map(|(k, a)| (key(k), a.map(|a| a.account())))
                    .collect();
                for (k, a) in &changes {
                    match a.filter(|a| !a.is_empty()) {
                        Some(a) => model.insert(*k, a),
                        None => model.remove(k),
                    };
                }
                let old_root = tree.root();
                tree = tree.apply(&normalize_changes(changes));
                let sorted: Vec<(PublicKey, Account)> =
                    model.iter().map(|(k, a)| (*k, *a)).collect();
                let fresh = AccountTree::from_sorted(&sorted);
                assert_eq!(
                    tree.root(),
                    fresh.root(),
                    "the root depends on update order"
                );
                assert_eq!(tree.len(), model.len());
                if model.is_empty() {
                    assert_eq!(tree.root(), Hash::ZERO);
                }
                let mut seen = 0;
                tree.for_each(|k, a| {
                    assert_eq!(model.get(k), Some(a));
                    seen += 1;
                });
                assert_eq!(seen, model.len());
                let _ = old_root;
            }
            Op::Prove {
                key: sel,
                alter,
                value,
            } => {
                let k = key(sel);
                let root = tree.root();
                let proof = tree.prove(&k);
                assert_eq!(tree.get(&k), model.get(&k));
                assert_eq!(
                    proof.verify(&root, &k).expect("an honest proof verifies"),
                    model.get(&k).copied()
                );
                let bytes = proof.encode();
                let back: TreeProof = decode_exact(&bytes, Limits::default()).expect("decodes");
                assert_eq!(back, proof);
                // altered proofs: they fail, or still say exactly what the map says
                let mut bad = proof.clone();
                match alter % 4 {
                    0 => {
                        bad.terminal = ProofTerminal::Leaf {
                            key: k,
                            account: value.account(),
                        }
                    }
                    1 => bad.terminal = ProofTerminal::Empty,
                    2 => {
                        if let Some(s) = bad
                            .siblings
                            .get_mut(usize::from(alter) % (proof.siblings.len() + 1))
                        {
                            s.0[0] ^= 1;
                        }
                    }
                    _ => {
                        bad.siblings.pop();
                    }
                }
                if let Ok(found) = bad.verify(&root, &k) {
                    assert_eq!(
                        found,
                        model.get(&k).copied(),
                        "an altered proof verified a wrong value"
                    );
                }
                // a proof for one key says nothing false about another
                let other = key(sel.wrapping_add(alter | 1));
                if let Ok(found) = proof.verify(&root, &other) {
                    assert_eq!(
                        found,
                        model.get(&other).copied(),
                        "a proof verified another key wrongly"
                    );
                }
            }
        }
    }
});
