//! What the fuzz targets share: the canonical-encoding check every decoder target makes,
//! and the small fixed keys and chain the stateful targets run on.
//!
//! Owns no rules of its own: each target checks the node's code against itself (decode,
//! encode, decode again) or against a model written in the target. Must never be linked
//! into the node.

use std::fmt::Debug;

use ledger::codec::{Decode, Encode, Limits, decode_exact};
use ledger::{Hash, PublicKey};

/// Decode `bytes` as a `T` filling them exactly. If they decode, encoding the value must
/// give back exactly `bytes` (every value has one encoding, so two byte strings never
/// decode to the same value), and that encoding must decode to the same value.
pub fn canonical<T: Decode + Encode + PartialEq + Debug>(
    bytes: &[u8],
    limits: Limits,
) -> Option<T> {
    let value = decode_exact::<T>(bytes, limits).ok()?;
    let again = value.encode();
    assert_eq!(
        again,
        bytes,
        "a {} decoded from bytes that are not its encoding",
        std::any::type_name::<T>()
    );
    let back = decode_exact::<T>(&again, limits).expect("an encoding decodes");
    assert_eq!(back, value);
    Some(value)
}

/// `encode(value)` must decode to `value` (when within the limits, which `ok_err` judges
/// for an error) and encode again to the same bytes.
pub fn round_trip<T: Decode + Encode + PartialEq + Debug>(
    value: &T,
    limits: Limits,
    ok_err: impl FnOnce(&ledger::DecodeError) -> bool,
) {
    let bytes = value.encode();
    match decode_exact::<T>(&bytes, limits) {
        Ok(back) => {
            assert_eq!(&back, value, "decode(encode(v)) != v");
            assert_eq!(back.encode(), bytes);
        }
        Err(e) => assert!(
            ok_err(&e),
            "{value:?} encodes to bytes that fail to decode: {e}"
        ),
    }
}

/// The chain the stateful targets run on.
pub const CHAIN: Hash = Hash([7; 32]);

/// `n` distinct account keys, derived from their index (not real ed25519 points: the
/// stateful targets pass signature results in, they never verify).
pub fn key(i: u8) -> PublicKey {
    PublicKey(*blake3::hash(&[b'k', i]).as_bytes())
}

use ledger::state::tree::AccountTree;
use ledger::{Account, ChainParams, LedgerState, Role, SystemState};

/// The chain parameters of the stateful targets: epochs of 4 blocks, the dev chain's mining
/// rules.
pub fn params() -> ChainParams {
    ChainParams {
        chain_id: CHAIN,
        epoch_length: 4,
        limits: Limits::default(),
        mining: ledger::mining::MiningRules::default(),
    }
}

/// Accounts `key(0..5)`: 0 admin (and transact), 1 and 2 transact, 3 mine, 4 transact with
/// a balance near `u128::MAX`; `key(5..)` do not exist.
pub fn initial_state(validators: Vec<ledger::Validator>) -> LedgerState {
    let roles = |rs: &[Role]| rs.iter().fold(0u8, |acc, r| acc | r.bit());
    let mut accounts: Vec<(PublicKey, Account)> = vec![
        (
            key(0),
            Account {
                balance: 1_000,
                nonce: 0,
                roles: roles(&[Role::Admin, Role::Transact]),
            },
        ),
        (
            key(1),
            Account {
                balance: 500,
                nonce: 0,
                roles: roles(&[Role::Transact]),
            },
        ),
        (
            key(2),
            Account {
                balance: 20,
                nonce: 3,
                roles: roles(&[Role::Transact]),
            },
        ),
        (
            key(3),
            Account {
                balance: 0,
                nonce: 0,
                roles: roles(&[Role::Mine]),
            },
        ),
        (
            key(4),
            Account {
                balance: u128::MAX - 1_000_000,
                nonce: 0,
                roles: roles(&[Role::Transact]),
            },
        ),
    ];
    accounts.sort_by_key(|(k, _)| *k);
    let total_supply = accounts.iter().map(|(_, a)| a.balance).sum();
    LedgerState {
        accounts: AccountTree::from_sorted(&accounts),
        system: SystemState {
            validators,
            pending_changes: Vec::new(),
            total_supply,
            mining: ledger::mining::MiningState::new([0xff; 32]),
        },
        height: 0,
    }
}
