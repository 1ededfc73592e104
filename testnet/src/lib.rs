//! The local testnet: launches and drives real `palisade` processes on loopback, the load
//! generator and benchmark, and process-level fault tests.
//!
//! Must not reach into a node's internals: it talks to nodes the way users do (CLI,
//! JSON-RPC, signals).
//!
//! Empty until the node and testnet issue lands.
