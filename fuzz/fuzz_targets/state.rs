//! Stored state read back from RocksDB or a peer: accounts, the system state (validators,
//! pending changes, supply, mining), account and tree proofs. Each decodes only from its
//! canonical encoding; a decoded proof checks against any root without panicking.
#![no_main]

use ledger::state::tree::TreeProof;
use ledger::{Account, AccountProof, Hash, Limits, PublicKey, SystemState, Validator};
use libfuzzer_sys::fuzz_target;
use palisade_fuzz::canonical;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_string_bytes: 64,
        max_list_len: 64,
        ..Limits::default()
    };
    match which % 6 {
        0 => {
            if let Some(a) = canonical::<Account>(rest, limits) {
                assert_eq!(a.to_bytes().as_slice(), rest);
                let _ = a.role_list();
            }
        }
        1 => {
            if let Some(s) = canonical::<SystemState>(rest, limits) {
                let _ = s.hash();
                let _ = s.validators_after_pending();
                let mut applied = s.clone();
                applied.apply_pending();
            }
        }
        2 => {
            let _ = canonical::<ledger::mining::MiningState>(rest, limits);
        }
        3 => {
            let _ = canonical::<Validator>(rest, limits);
        }
        4 => {
            if rest.len() >= 64
                && let Some(p) = canonical::<TreeProof>(&rest[64..], limits)
            {
                let root = Hash(rest[..32].try_into().expect("32 bytes"));
                let key = PublicKey(rest[32..64].try_into().expect("32 bytes"));
                if let Ok((computed, found)) = p.root_for(&key) {
                    // whatever a proof claims, it claims it for the root it leads to
                    assert_eq!(p.verify(&computed, &key).expect("own root"), found);
                    if computed != root {
                        assert!(p.verify(&root, &key).is_err());
                    }
                }
            }
        }
        _ => {
            if rest.len() >= 32
                && let Some(p) = canonical::<AccountProof>(&rest[32..], limits)
            {
                let key = PublicKey(rest[..32].try_into().expect("32 bytes"));
                let _ = p.verify(&Hash::ZERO, &key);
            }
        }
    }
});
