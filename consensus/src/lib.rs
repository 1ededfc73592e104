//! The BFT consensus engine (Simplex) as a pure, deterministic state machine, and its
//! simulator: `Engine::handle(Input) -> Vec<Action>`.
//!
//! Owns views, votes, certificates, leader rotation, timeouts as requested timers, and the
//! safety state that must be persisted before any vote leaves the node. Must not depend on
//! tokio, libp2p, rocksdb, a clock, or randomness it is not handed.
//!
//! Empty until the consensus issue lands.
