//! Proof-of-work mining: the SIMD-lane inner hash ([`lanes`]), the multi-threaded nonce
//! search ([`search`]), the miner's RPC loop ([`client`]: get work, submit claims, report
//! hashrate) and its benchmark ([`bench`]).
//!
//! Must not decide what a valid solution is: that rule lives in `ledger::mining`, which
//! validators run; every candidate found here is checked with it before it is claimed.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod bench;
pub mod client;
pub mod lanes;
pub mod search;

pub use client::{MinerConfig, Summary, run};
pub use lanes::Backend;
