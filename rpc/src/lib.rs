//! The JSON-RPC API: jsonrpsee `#[rpc]` traits (server and client from one definition),
//! error codes and the OpenRPC document.
//!
//! Owns method names, parameter and result types and their JSON forms. Must not hold node
//! state or talk to the network itself: the node implements the traits.
//!
//! Empty until the node and wallet API issues land.
