//! `genesis.json`: the document, its validation and its canonical hash.

use std::path::Path;

use ledger::codec::{Encode, put_list, put_string};
use ledger::mining::{MiningRules, MiningState};
use ledger::state::AccountTree;
use ledger::{
    Account, Block, ChainParams, Domain, Hash, LedgerState, Limits, PublicKey, Role, SystemState,
    Validator,
};
use serde::{Deserialize, Serialize};

/// `genesis.json` as written by people: keys as 0x-hex, amounts as decimal strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisDoc {
    /// A short human name for the chain (letters, digits, `-`, `_`, `.`).
    pub chain_name: String,
    /// Genesis time, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// The first validator set.
    pub validators: Vec<GenesisValidator>,
    /// Prefunded accounts and their roles.
    pub accounts: Vec<GenesisAccount>,
    /// Keys that get the `admin` role (added to `accounts` if absent there).
    pub admins: Vec<String>,
    /// Consensus timing and epochs.
    pub consensus: ConsensusParamsDoc,
    /// Proof-of-work mining.
    pub mining: MiningParamsDoc,
}

/// A validator in `genesis.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Its ed25519 public key (0x-hex).
    pub public_key: String,
    /// Its voting power (> 0).
    pub power: u64,
    /// Its libp2p listen address, e.g. `/ip4/127.0.0.1/tcp/26656`.
    pub address: String,
}

/// An account in `genesis.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// Its ed25519 public key (0x-hex).
    pub public_key: String,
    /// Its balance, a decimal string.
    pub balance: String,
    /// Its roles: any of `admin`, `transact`, `mine`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Consensus parameters in `genesis.json` (all durations in milliseconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusParamsDoc {
    /// How long a validator waits for the leader's proposal before nullifying the view.
    pub leader_timeout_ms: u64,
    /// How long a validator waits for a view's notarization before nullifying it.
    pub notarization_timeout_ms: u64,
    /// How often a validator re-broadcasts its nullify vote while a view is stuck.
    pub nullify_retry_ms: u64,
    /// Growth of the timeouts per consecutive failed view, in percent (100 = no growth).
    pub timeout_backoff_percent: u32,
    /// Validator-set changes take effect after each block whose height is a multiple of this.
    pub epoch_length: u64,
}

/// The longest claim expiry genesis accepts: the system state holds one entry per
/// claimable challenge.
pub const MAX_CLAIM_EXPIRY: u64 = 10_000;

/// Mining parameters in `genesis.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiningParamsDoc {
    /// The initial target: a 32-byte big-endian number (0x-hex); a solution's hash must be ≤ it.
    pub initial_target: String,
    /// Coins minted per accepted claim, a decimal string.
    pub reward: String,
    /// Blocks between difficulty retargets.
    pub retarget_epoch_length: u64,
    /// Solutions per retarget epoch the difficulty aims for.
    pub target_solutions_per_epoch: u64,
    /// How many blocks after its challenge block a claim stays valid.
    pub claim_expiry: u64,
}

/// Consensus parameters, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusParams {
    /// See [`ConsensusParamsDoc::leader_timeout_ms`].
    pub leader_timeout_ms: u64,
    /// See [`ConsensusParamsDoc::notarization_timeout_ms`].
    pub notarization_timeout_ms: u64,
    /// See [`ConsensusParamsDoc::nullify_retry_ms`].
    pub nullify_retry_ms: u64,
    /// See [`ConsensusParamsDoc::timeout_backoff_percent`].
    pub timeout_backoff_percent: u32,
    /// See [`ConsensusParamsDoc::epoch_length`].
    pub epoch_length: u64,
}

/// Mining parameters, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiningParams {
    /// The initial target (big-endian).
    pub initial_target: [u8; 32],
    /// Coins per accepted claim.
    pub reward: u128,
    /// Blocks between retargets.
    pub retarget_epoch_length: u64,
    /// Solutions per retarget epoch aimed for.
    pub target_solutions_per_epoch: u64,
    /// Claim lifetime in blocks.
    pub claim_expiry: u64,
}

/// A validated genesis: typed, checked, with a stable hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// The chain's human name.
    pub chain_name: String,
    /// Genesis time (ms since the Unix epoch).
    pub genesis_time_ms: u64,
    /// The first validator set, in document order.
    pub validators: Vec<Validator>,
    /// Every genesis account (admins merged in), sorted by key.
    pub accounts: Vec<(PublicKey, Account)>,
    /// Consensus parameters.
    pub consensus: ConsensusParams,
    /// Mining parameters.
    pub mining: MiningParams,
}

/// A genesis document that is not acceptable, naming the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// A field's value is wrong.
    #[error("{field}: {problem}")]
    Field {
        /// The JSON path of the field, e.g. `validators[2].public_key`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The JSON does not parse or has the wrong shape.
    #[error("genesis JSON: {0}")]
    Json(String),
    /// The file could not be read.
    #[error("reading {path}: {problem}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        problem: String,
    },
}

fn field_err(field: impl Into<String>, problem: impl Into<String>) -> GenesisError {
    GenesisError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

fn parse_key(field: &str, s: &str) -> Result<PublicKey, GenesisError> {
    let key = PublicKey::from_hex(s).map_err(|e| field_err(field, e.to_string()))?;
    if !key.is_valid_point() {
        return Err(field_err(field, "not a valid ed25519 public key"));
    }
    Ok(key)
}

fn parse_amount(field: &str, s: &str) -> Result<u128, GenesisError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(field_err(field, format!("{s:?} is not a decimal amount")));
    }
    s.parse::<u128>()
        .map_err(|_| field_err(field, format!("{s} does not fit in 128 bits")))
}

fn positive(field: &str, v: u64) -> Result<u64, GenesisError> {
    if v == 0 {
        Err(field_err(field, "must be greater than 0"))
    } else {
        Ok(v)
    }
}

impl GenesisDoc {
    /// Parse JSON text (structure only; see [`GenesisDoc::validate`]).
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))
    }

    /// Pretty JSON, as written to `genesis.json`.
    pub fn to_json(&self) -> String {
        // serialising these plain structs cannot fail
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Check every field and build the typed genesis.
    pub fn validate(&self) -> Result<Genesis, GenesisError> {
        let name = &self.chain_name;
        if name.is_empty() || name.len() > 64 {
            return Err(field_err("chain_name", "must be 1 to 64 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(field_err(
                "chain_name",
                "may only hold letters, digits, '-', '_' and '.'",
            ));
        }
        if self.validators.is_empty() {
            return Err(field_err(
                "validators",
                "at least one validator is required",
            ));
        }
        let mut validators = Vec::with_capacity(self.validators.len());
        let mut total_power: u64 = 0;
        for (i, v) in self.validators.iter().enumerate() {
            let key = parse_key(&format!("validators[{i}].public_key"), &v.public_key)?;
            if validators.iter().any(|x: &Validator| x.key == key) {
                return Err(field_err(
                    format!("validators[{i}].public_key"),
                    "duplicate validator",
                ));
            }
            let power = positive(&format!("validators[{i}].power"), v.power)?;
            total_power = total_power.checked_add(power).ok_or_else(|| {
                field_err(
                    format!("validators[{i}].power"),
                    "total voting power overflows u64",
                )
            })?;
            let address = v.address.trim();
            if address.is_empty() || address.len() > Limits::default().max_string_bytes {
                return Err(field_err(
                    format!("validators[{i}].address"),
                    "must be 1 to 256 bytes",
                ));
            }
            validators.push(Validator {
                key,
                power,
                address: address.to_owned(),
            });
        }
        let mut accounts: Vec<(PublicKey, Account)> = Vec::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let key = parse_key(&format!("accounts[{i}].public_key"), &a.public_key)?;
            if accounts.iter().any(|(k, _)| *k == key) {
                return Err(field_err(
                    format!("accounts[{i}].public_key"),
                    "duplicate account",
                ));
            }
            let mut account = Account {
                balance: parse_amount(&format!("accounts[{i}].balance"), &a.balance)?,
                nonce: 0,
                roles: 0,
            };
            for (j, r) in a.roles.iter().enumerate() {
                let role = Role::from_name(r).ok_or_else(|| {
                    field_err(
                        format!("accounts[{i}].roles[{j}]"),
                        format!("unknown role {r:?} (admin, transact, mine)"),
                    )
                })?;
                account.set_role(role, true);
            }
            accounts.push((key, account));
        }
        // an admin is a key in `admins` or an account with the `admin` role
        let admin_account = accounts.iter().any(|(_, a)| a.has_role(Role::Admin));
        if self.admins.is_empty() && !admin_account {
            return Err(field_err(
                "admins",
                "at least one admin key is required, in `admins` or as an account with the admin role (no one could grant roles or change validators)",
            ));
        }
        for (i, s) in self.admins.iter().enumerate() {
            let key = parse_key(&format!("admins[{i}]"), s)?;
            match accounts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, a)) => a.set_role(Role::Admin, true),
                None => {
                    let mut a = Account::default();
                    a.set_role(Role::Admin, true);
                    accounts.push((key, a));
                }
            }
        }
        let mut supply: u128 = 0;
        for (i, (_, a)) in accounts.iter().enumerate() {
            supply = supply.checked_add(a.balance).ok_or_else(|| {
                field_err(
                    format!("accounts[{i}].balance"),
                    "total supply overflows 128 bits",
                )
            })?;
        }
        accounts.sort_by_key(|a| a.0);

        let c = &self.consensus;
        let consensus = ConsensusParams {
            leader_timeout_ms: positive("consensus.leader_timeout_ms", c.leader_timeout_ms)?,
            notarization_timeout_ms: positive(
                "consensus.notarization_timeout_ms",
                c.notarization_timeout_ms,
            )?,
            nullify_retry_ms: positive("consensus.nullify_retry_ms", c.nullify_retry_ms)?,
            timeout_backoff_percent: if c.timeout_backoff_percent < 100 {
                return Err(field_err(
                    "consensus.timeout_backoff_percent",
                    "must be at least 100",
                ));
            } else {
                c.timeout_backoff_percent
            },
            epoch_length: positive("consensus.epoch_length", c.epoch_length)?,
        };
        let m = &self.mining;
        let initial_target = ledger::keys::parse_hex::<32>(&m.initial_target)
            .map_err(|e| field_err("mining.initial_target", e.to_string()))?;
        if initial_target == [0u8; 32] {
            return Err(field_err(
                "mining.initial_target",
                "must not be zero (no hash could meet it)",
            ));
        }
        let mining = MiningParams {
            initial_target,
            reward: parse_amount("mining.reward", &m.reward)?,
            retarget_epoch_length: positive(
                "mining.retarget_epoch_length",
                m.retarget_epoch_length,
            )?,
            target_solutions_per_epoch: positive(
                "mining.target_solutions_per_epoch",
                m.target_solutions_per_epoch,
            )?,
            claim_expiry: positive("mining.claim_expiry", m.claim_expiry)?,
        };
        if mining.claim_expiry > MAX_CLAIM_EXPIRY {
            return Err(field_err(
                "mining.claim_expiry",
                format!(
                    "at most {MAX_CLAIM_EXPIRY} blocks (the state keeps every claimable challenge)"
                ),
            ));
        }
        Ok(Genesis {
            chain_name: name.clone(),
            genesis_time_ms: self.genesis_time_ms,
            validators,
            accounts,
            consensus,
            mining,
        })
    }
}

impl Genesis {
    /// Read and validate a `genesis.json` file.
    pub fn load(path: &Path) -> Result<Genesis, GenesisError> {
        let text = std::fs::read_to_string(path).map_err(|e| GenesisError::Io {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
        GenesisDoc::from_json(&text)?.validate()
    }

    /// The document form (for writing `genesis.json`). Admins are listed from the roles.
    pub fn to_doc(&self) -> GenesisDoc {
        GenesisDoc {
            chain_name: self.chain_name.clone(),
            genesis_time_ms: self.genesis_time_ms,
            validators: self
                .validators
                .iter()
                .map(|v| GenesisValidator {
                    public_key: v.key.to_hex(),
                    power: v.power,
                    address: v.address.clone(),
                })
                .collect(),
            accounts: self
                .accounts
                .iter()
                .map(|(k, a)| GenesisAccount {
                    public_key: k.to_hex(),
                    balance: a.balance.to_string(),
                    roles: a.role_list().iter().map(|r| r.name().to_owned()).collect(),
                })
                .collect(),
            admins: self
                .accounts
                .iter()
                .filter(|(_, a)| a.has_role(Role::Admin))
                .map(|(k, _)| k.to_hex())
                .collect(),
            consensus: ConsensusParamsDoc {
                leader_timeout_ms: self.consensus.leader_timeout_ms,
                notarization_timeout_ms: self.consensus.notarization_timeout_ms,
                nullify_retry_ms: self.consensus.nullify_retry_ms,
                timeout_backoff_percent: self.consensus.timeout_backoff_percent,
                epoch_length: self.consensus.epoch_length,
            },
            mining: MiningParamsDoc {
                initial_target: format!("0x{}", hex::encode(self.mining.initial_target)),
                reward: self.mining.reward.to_string(),
                retarget_epoch_length: self.mining.retarget_epoch_length,
                target_solutions_per_epoch: self.mining.target_solutions_per_epoch,
                claim_expiry: self.mining.claim_expiry,
            },
        }
    }

    /// The genesis hash, which is the chain id: `H_genesis(canonical encoding)`. The JSON's
    /// formatting and key order do not affect it; its content does.
    pub fn hash(&self) -> Hash {
        Domain::Genesis.hash(&self.encode())
    }

    /// The constants execution needs.
    pub fn chain_params(&self) -> ChainParams {
        ChainParams {
            chain_id: self.hash(),
            epoch_length: self.consensus.epoch_length,
            limits: Limits::default(),
            mining: MiningRules {
                reward: self.mining.reward,
                retarget_epoch_length: self.mining.retarget_epoch_length,
                target_solutions_per_epoch: self.mining.target_solutions_per_epoch,
                claim_expiry: self.mining.claim_expiry,
            },
        }
    }

    /// The state at height 0.
    pub fn initial_state(&self) -> LedgerState {
        LedgerState {
            accounts: AccountTree::from_sorted(&self.accounts),
            system: SystemState {
                validators: self.validators.clone(),
                pending_changes: Vec::new(),
                total_supply: self.accounts.iter().map(|(_, a)| a.balance).sum(),
                mining: MiningState::new(self.mining.initial_target),
            },
            height: 0,
        }
    }

    /// The genesis block (height 0, no transactions) committing to the initial state.
    pub fn genesis_block(&self) -> Block {
        ledger::genesis_block(self.hash(), self.genesis_time_ms, &self.initial_state())
    }
}

impl Encode for Genesis {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(1); // genesis encoding version
        put_string(out, &self.chain_name);
        out.extend_from_slice(&self.genesis_time_ms.to_le_bytes());
        put_list(out, &self.validators);
        ledger::codec::put_len(out, self.accounts.len());
        for (k, a) in &self.accounts {
            k.encode_to(out);
            a.encode_to(out);
        }
        let c = &self.consensus;
        for v in [
            c.leader_timeout_ms,
            c.notarization_timeout_ms,
            c.nullify_retry_ms,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&c.timeout_backoff_percent.to_le_bytes());
        out.extend_from_slice(&c.epoch_length.to_le_bytes());
        let m = &self.mining;
        out.extend_from_slice(&m.initial_target);
        out.extend_from_slice(&m.reward.to_le_bytes());
        for v in [
            m.retarget_epoch_length,
            m.target_solutions_per_epoch,
            m.claim_expiry,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}
