//! The validator node behind the `palisade` binary: the node core as a pure state machine,
//! the runtime that carries out its effects (libp2p networking with per-peer budgets,
//! RocksDB, the safety log, RPC, metrics), a deterministic simulator of whole networks of
//! node cores, and `palisade adversary` (an attacker built from this node, and the checker
//! that judges a run against it).
//!
//! Owns everything that runs a node as a process. Must not define ledger rules (the ledger
//! crate does), consensus rules (the consensus crate), or RPC types (the rpc crate); the
//! attacker (`adversary`) and the simulator (`sim`) must never be reachable from
//! `palisade run`.
//!
//! | module | owns |
//! |---|---|
//! | `core` | the node as `handle(time, event) -> effects`: engine driving, the block pool and proposal checks, block building, fetching, finality and commit, sync, epochs, inbound dispatch (one file each under `core/`) |
//! | `runtime` | the only code that touches tokio, libp2p, RocksDB, files and clocks on the core's behalf: start-up, the event loop, carrying out effects |
//! | `handles` | the small handles the core shares with admission, the peer server and RPC: chain view, mempool, included transactions, block cache, gossip targets |
//! | `shared` | what RPC reads and calls (`Shared`: the store, the handles, admission, network facts) |
//! | `mempool`, `admission` | pending transactions (the ledger's own rules, a nonce window) and the thread that verifies and admits them |
//! | `intake`, `pace` | pure rules for taking proposals and for sizing this node's blocks |
//! | `p2p`, `budget`, `serve`, `wire`, `peer` | libp2p transport and per-peer budgets, answering peers' requests, the wire format, peer identities |
//! | `committer`, `safety_log` | the commit thread (finalized blocks to RocksDB) and the fsynced vote log |
//! | `rpc_server`, `metrics`, `config`, `clock` | JSON-RPC, Prometheus metrics and readiness, `config.toml`, the real clocks |
//! | `sim` | the deterministic whole-node simulator (`palisade sim`) |
//! | `adversary` | `palisade adversary`: a byzantine node and its checker |

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod admission;
pub mod adversary;
pub mod budget;
pub mod clock;
pub mod committer;
pub mod config;
pub mod core;
pub mod handles;
pub mod intake;
pub mod light;
pub mod mempool;
pub mod metrics;
pub mod nemesis;
pub mod p2p;
pub mod pace;
pub mod peer;
pub mod pruner;
pub mod rpc_server;
pub mod runtime;
pub mod safety_log;
pub mod serve;
pub mod shared;
pub mod sim;
pub mod snapshots;
pub mod state_sync;
pub mod wire;
