//! The JSON-RPC API: jsonrpsee `#[rpc]` traits (server and client from one definition),
//! their parameter and result types, and the server error codes.
//!
//! Owns method names, parameter and result types and their JSON forms. Must not hold node
//! state or talk to the network itself: the node implements the server traits, the wallet,
//! testnet and miner use the generated clients.
//!
//! Conventions: `namespace_camelCase` method names; hashes and keys as `0x` hex; amounts as
//! decimal strings (u128 does not fit a JSON number).

pub mod errors;
pub mod types;

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

pub use errors::{ServerError, error_codes};
pub use types::{AccountInfo, BlockInfo, ChainInfo, NodeHealth, TxState, TxStatus};

/// Chain-level queries.
#[rpc(server, client, namespace = "chain")]
pub trait ChainApi {
    /// Chain id, genesis hash, head and finalized heights, current view and epoch.
    #[method(name = "getInfo")]
    async fn chain_info(&self) -> RpcResult<ChainInfo>;

    /// The finalized block at `height` (header fields and transaction hashes), or null.
    #[method(name = "getBlockByHeight")]
    async fn get_block_by_height(&self, height: u64) -> RpcResult<Option<BlockInfo>>;
}

/// Account state.
#[rpc(server, client, namespace = "account")]
pub trait AccountApi {
    /// Balance, next nonce and roles of an account at the last finalized block (an account
    /// never seen has balance 0, nonce 0 and no roles).
    #[method(name = "getInfo")]
    async fn account_info(&self, public_key: String) -> RpcResult<AccountInfo>;
}

/// Transactions.
#[rpc(server, client, namespace = "tx")]
pub trait TxApi {
    /// Submit a signed transaction (canonical bytes as 0x hex). Returns its hash once the
    /// mempool has admitted it; a rejected transaction gets a server error with the reason.
    #[method(name = "submit")]
    async fn submit(&self, tx: String) -> RpcResult<String>;

    /// The status of each hash: pending, finalized (with height, index and outcome),
    /// rejected (with the reason) or unknown.
    #[method(name = "getStatus")]
    async fn get_status(&self, hashes: Vec<String>) -> RpcResult<Vec<TxStatus>>;
}

/// Node operations.
#[rpc(server, client, namespace = "node")]
pub trait NodeApi {
    /// Whether the node is ready (synced and connected), with its heights and peer count.
    #[method(name = "health")]
    async fn health(&self) -> RpcResult<NodeHealth>;
}
