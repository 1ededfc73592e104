//! The local testnet: launches and drives real `palisade` processes on loopback (the
//! `palisade testnet` command and the process-level tests both use it).
//!
//! Must not reach into a node's internals: it talks to nodes the way users do (the CLI,
//! JSON-RPC, signals, log files).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod bench;
pub mod launcher;
pub mod status;

pub use launcher::{NodeSpec, Testnet, TestnetOptions};
