//! Proof-of-work mining: the multi-threaded, SIMD-lane nonce search and the miner's RPC
//! loop (get work, submit claims, report hashrate).
//!
//! Must not decide what a valid solution is: that rule lives in the ledger, which
//! validators run.
//!
//! Empty until the mining issue lands.
