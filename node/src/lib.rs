//! The validator node behind the `palisade` binary: config, libp2p networking with per-peer
//! budgets, proposal intake, mempool, serving peers, block sync, the wiring of consensus
//! engine ↔ network ↔ store ↔ RPC, and metrics.
//!
//! Owns everything that runs a node as a process. Must not define ledger rules (the ledger
//! crate does), consensus rules (the consensus crate), or RPC types (the rpc crate).

pub mod admission;
pub mod budget;
pub mod committer;
pub mod config;
pub mod intake;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod p2p;
pub mod rpc_server;
pub mod safety_log;
pub mod serve;
pub mod wire;
