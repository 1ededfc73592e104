//! The ledger: Palisade's replicated state machine.
//!
//! Owns the transaction and block types and their canonical encoding, signatures, the
//! execution rules, the authenticated account state (a sparse Merkle tree with proofs a
//! light client can check against a header) and the RocksDB store of finalized blocks.
//!
//! Must not know about consensus, networking, RPC or clocks: everything here is a function
//! of its inputs, so every validator computes the same state root from the same blocks.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod account;
pub mod block;
pub mod codec;
pub mod execute;
pub mod hash;
pub mod keys;
pub mod light;
pub mod mining;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod tx;

pub use account::Account;
pub use block::{Block, BlockHeader, Receipt, RejectReason};
pub use codec::{Decode, DecodeError, Encode, Limits};
pub use execute::{
    BlockError, BlockOutcome, ChainParams, authenticate, authorize, build_block, build_block_with,
    execute_block, genesis_block, required_roles, verify_block, verify_block_with,
};
pub use hash::{Domain, FastMap, FastSet, Hash};
pub use keys::{HexError, Keypair, PublicKey, Signature};
pub use state::{AccountProof, LedgerState, SystemState, Validator};
pub use store::{Oldest, Pruned, Store, StoreError};
pub use tx::{Role, SignedTransaction, Transaction, TxKind};
