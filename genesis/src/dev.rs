//! Deterministic dev keys and a dev genesis for local testnets.
//!
//! INSECURE: the keys are derived from a public, fixed seed. Anyone can recompute them.
//! Everything that prints them must say so ([`INSECURE_WARNING`]).

use ledger::{Account, Keypair, PublicKey, Role, Validator};

use crate::doc::{ConsensusParams, Genesis, MiningParams};

/// The warning printed next to every dev key.
pub const INSECURE_WARNING: &str = "INSECURE dev key derived from a public seed: anyone can spend with it; never use it outside a local testnet";

/// Which family of dev keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevKeyKind {
    /// Validator consensus/network keys.
    Validator,
    /// Prefunded wallet accounts.
    Account,
}

/// The `index`-th dev key of a family: secret = BLAKE3-derive-key(context, index as u64 LE).
pub fn dev_keypair(kind: DevKeyKind, index: u32) -> Keypair {
    let context = match kind {
        DevKeyKind::Validator => "palisade 2026-11 insecure dev validator key v1",
        DevKeyKind::Account => "palisade 2026-11 insecure dev account key v1",
    };
    Keypair::from_secret(blake3::derive_key(context, &u64::from(index).to_le_bytes()))
}

/// Balance of each dev account.
pub const DEV_ACCOUNT_BALANCE: u128 = 1_000_000_000_000;

/// A dev genesis: `validators` validators listening on 127.0.0.1 from `base_port` up, and
/// `accounts` prefunded accounts. Account 0 is admin; every account may transact and mine.
pub fn dev_genesis(
    chain_name: &str,
    validators: u32,
    accounts: u32,
    base_port: u16,
    genesis_time_ms: u64,
) -> Genesis {
    let validators: Vec<Validator> = (0..validators)
        .map(|i| Validator {
            key: dev_keypair(DevKeyKind::Validator, i).public(),
            power: 1,
            address: format!("/ip4/127.0.0.1/tcp/{}", u32::from(base_port) + i),
        })
        .collect();
    let mut accts: Vec<(PublicKey, Account)> = (0..accounts)
        .map(|i| {
            let mut a = Account {
                balance: DEV_ACCOUNT_BALANCE,
                nonce: 0,
                roles: 0,
            };
            a.set_role(Role::Transact, true);
            a.set_role(Role::Mine, true);
            if i == 0 {
                a.set_role(Role::Admin, true);
            }
            (dev_keypair(DevKeyKind::Account, i).public(), a)
        })
        .collect();
    accts.sort_by_key(|a| a.0);
    Genesis {
        chain_name: chain_name.to_owned(),
        genesis_time_ms,
        validators,
        accounts: accts,
        consensus: ConsensusParams {
            leader_timeout_ms: 1000,
            notarization_timeout_ms: 2000,
            nullify_retry_ms: 1000,
            timeout_backoff_percent: 150,
            epoch_length: 100,
        },
        mining: MiningParams {
            // 2^240: one solution per ~65k hashes on average.
            initial_target: {
                let mut t = [0u8; 32];
                t[1] = 1;
                t
            },
            reward: 50_000,
            retarget_epoch_length: 100,
            target_solutions_per_epoch: 20,
            claim_expiry: 50,
        },
    }
}

/// The dev accounts with their secrets, one per line, under the insecure warning.
pub fn dev_accounts_table(accounts: u32) -> String {
    let mut out = format!("dev accounts ({INSECURE_WARNING}):");
    for i in 0..accounts {
        let k = dev_keypair(DevKeyKind::Account, i);
        let role = if i == 0 {
            "admin, transact, mine"
        } else {
            "transact, mine"
        };
        out.push_str(&format!(
            "\n  [{i}] {}  secret 0x{}  ({role})  INSECURE",
            k.public(),
            hex::encode(k.secret())
        ));
    }
    out
}
