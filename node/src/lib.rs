//! The validator node behind the `palisade` binary: config, libp2p networking with per-peer
//! budgets, proposal intake, mempool, serving peers, block sync, the wiring of consensus
//! engine ↔ network ↔ store ↔ RPC, metrics, and `palisade adversary` (an attacker built
//! from this node, and the checker that judges a run against it).
//!
//! Owns everything that runs a node as a process. Must not define ledger rules (the ledger
//! crate does), consensus rules (the consensus crate), or RPC types (the rpc crate); the
//! attacker (`adversary`) must never be reachable from `palisade run`.

pub mod admission;
pub mod adversary;
pub mod budget;
pub mod committer;
pub mod config;
pub mod intake;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod p2p;
pub mod pace;
pub mod rpc_server;
pub mod safety_log;
pub mod serve;
pub mod wire;
