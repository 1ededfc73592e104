//! Genesis: the document that starts a chain, key files, and deterministic dev accounts.
//!
//! Owns `genesis.json` (parsing, validation with errors that name the bad field, the
//! canonical genesis hash that becomes the chain id), turning it into the ledger's initial
//! state and genesis block, key files for validators and wallets, and the insecure dev keys
//! testnets use, and writing such files durably. Must not start anything: no networking,
//! no consensus, no storage.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod dev;
pub mod doc;
pub mod durable;
pub mod keyfile;

pub use dev::{DevKeyKind, INSECURE_WARNING, dev_genesis, dev_keypair};
pub use doc::{ConsensusParams, Genesis, GenesisDoc, GenesisError, MiningParams};
pub use keyfile::{KeyFile, KeyFileError, read_key_file, write_key_file};
