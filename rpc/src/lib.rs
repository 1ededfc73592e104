//! The JSON-RPC API: jsonrpsee `#[rpc]` traits (server and client from one definition),
//! their parameter and result types, the server error codes, and the OpenRPC document.
//!
//! Owns method names, parameter and result types and their JSON forms. Must not hold node
//! state or talk to the network itself: the node implements the server traits, the wallet,
//! testnet and miner use the generated clients.
//!
//! Conventions: `namespace_camelCase` method names; hashes and keys as `0x` hex; amounts as
//! decimal strings (u128 does not fit a JSON number).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod errors;
pub mod openrpc;
pub mod types;

use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;

pub use errors::{ServerError, error_codes};
pub use types::{
    AccountInfo, AccountProofInfo, AccountState, BlockInfo, ChainInfo, FinalityProofInfo,
    HeaderInfo, MiningClaimInfo, MiningEpochInfo, MiningStats, MiningWork, NodeHealth, NodeVersion,
    PeerInfo, ReportedHashrate, RpcMethods, SimulateResult, StateSyncProgress, SubmitError,
    SubmitOutcome, SubmitWorkResult, SyncState, TxInfo, TxKindInfo, TxState, TxStatus,
    ValidatorInfo, ValidatorsInfo,
};

/// The WebSocket URL of a node given by its HTTP URL (`http://…` → `ws://…`, `https://…` →
/// `wss://…`; anything else is kept): subscriptions need WebSocket, users know one URL.
pub fn ws_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url.to_owned()
    }
}

/// Most hashes in one `tx_getStatus` call.
pub const MAX_STATUS_HASHES: usize = 1000;

/// Most transactions in one `tx_submitMany` call.
pub const MAX_SUBMIT_TXS: usize = 1000;

/// Discovery: what this server serves.
#[rpc(server, client)]
pub trait DiscoverApi {
    /// The OpenRPC document of this server (generated from these definitions).
    #[method(name = "rpc.discover")]
    async fn discover(&self) -> RpcResult<serde_json::Value>;

    /// The names of every method served.
    #[method(name = "rpc_methods")]
    async fn methods(&self) -> RpcResult<RpcMethods>;
}

/// Node operations.
#[rpc(server, client, namespace = "node")]
pub trait NodeApi {
    /// Whether the node is ready (synced and connected), with its heights and peer count.
    #[method(name = "health")]
    async fn health(&self) -> RpcResult<NodeHealth>;

    /// Whether the node is catching up, and how far.
    #[method(name = "syncing")]
    async fn syncing(&self) -> RpcResult<SyncState>;

    /// The connected peers.
    #[method(name = "peers")]
    async fn peers(&self) -> RpcResult<Vec<PeerInfo>>;

    /// The software and format versions, and the chain served.
    #[method(name = "version")]
    async fn version(&self) -> RpcResult<NodeVersion>;
}

/// Chain-level queries and head subscriptions.
#[rpc(server, client, namespace = "chain")]
pub trait ChainApi {
    /// Chain id, genesis hash, head and finalized heights, current view and epoch.
    #[method(name = "getInfo")]
    async fn chain_info(&self) -> RpcResult<ChainInfo>;

    /// The finalized block at `height` (header fields and transaction hashes), or null.
    #[method(name = "getBlockByHeight")]
    async fn get_block_by_height(&self, height: u64) -> RpcResult<Option<BlockInfo>>;

    /// The finalized block with this hash, or null.
    #[method(name = "getBlockByHash")]
    async fn get_block_by_hash(&self, hash: String) -> RpcResult<Option<BlockInfo>>;

    /// The current epoch's validators, their power and the quorum.
    #[method(name = "getValidators")]
    async fn get_validators(&self) -> RpcResult<ValidatorsInfo>;

    /// What proves the finalized block at `height` final to a client that trusts only the
    /// genesis hash (or a checkpoint): its header, the proposals linking it to a
    /// finalization certificate, and the validator sets (`docs/light-client.md`); null
    /// above the finalized head.
    #[method(name = "getFinalityProof")]
    async fn get_finality_proof(&self, height: u64) -> RpcResult<Option<FinalityProofInfo>>;

    /// Every new block this node executes (before finality), as a header.
    #[subscription(name = "subscribeNewHeads" => "newHead", unsubscribe = "unsubscribeNewHeads", item = HeaderInfo)]
    async fn subscribe_new_heads(&self) -> SubscriptionResult;

    /// Every finalized block, as a header, in height order.
    #[subscription(name = "subscribeFinalizedHeads" => "finalizedHead", unsubscribe = "unsubscribeFinalizedHeads", item = HeaderInfo)]
    async fn subscribe_finalized_heads(&self) -> SubscriptionResult;
}

/// Account state at the last finalized block.
#[rpc(server, client, namespace = "account")]
pub trait AccountApi {
    /// Balance, next nonce and roles of an account (an account never seen has balance 0,
    /// nonce 0 and no roles).
    #[method(name = "getInfo")]
    async fn account_info(&self, public_key: String) -> RpcResult<AccountInfo>;

    /// The balance, as a decimal string.
    #[method(name = "getBalance")]
    async fn balance(&self, public_key: String) -> RpcResult<String>;

    /// The nonce the account's next transaction must carry.
    #[method(name = "getNonce")]
    async fn nonce(&self, public_key: String) -> RpcResult<u64>;
}

/// Authenticated state.
#[rpc(server, client, namespace = "state")]
pub trait StateApi {
    /// A Merkle proof of the account (or of its absence) against the last finalized header.
    #[method(name = "getProof")]
    async fn get_proof(&self, public_key: String) -> RpcResult<AccountProofInfo>;
}

/// Transactions.
#[rpc(server, client, namespace = "tx")]
pub trait TxApi {
    /// Submit a signed transaction (canonical bytes as 0x hex). Returns its hash once the
    /// mempool has admitted it; a refused transaction gets a server error with the reason.
    #[method(name = "submit")]
    async fn submit(&self, tx: String) -> RpcResult<String>;

    /// Submit up to [`MAX_SUBMIT_TXS`] signed transactions in one call; one outcome per
    /// transaction, in order: its hash once admitted, or the error `tx_submit` would give.
    /// Their signatures are checked together; the per-IP rate limit counts each one.
    #[method(name = "submitMany")]
    async fn submit_many(&self, txs: Vec<String>) -> RpcResult<Vec<SubmitOutcome>>;

    /// The status of each hash (at most 1,000): pending, included, finalized (with height,
    /// index and outcome), rejected (with the reason) or unknown.
    #[method(name = "getStatus")]
    async fn get_status(&self, hashes: Vec<String>) -> RpcResult<Vec<TxStatus>>;

    /// A transaction this node knows (finalized, included or pending) with its status and,
    /// once finalized, its outcome; null if unknown.
    #[method(name = "get")]
    async fn get(&self, hash: String) -> RpcResult<Option<TxInfo>>;

    /// Execute a signed transaction against the last finalized state without committing
    /// anything: its outcome and the accounts it would change.
    #[method(name = "simulate")]
    async fn simulate(&self, tx: String) -> RpcResult<SimulateResult>;

    /// Submit a signed transaction and follow it: `pending`, then `included` (in an
    /// executed block), then `finalized` or `rejected` with the reason; the subscription
    /// ends after a final status. A refused submission is an error, as for `tx_submit`.
    #[subscription(name = "submitAndWatch" => "status", unsubscribe = "unwatch", item = TxStatus)]
    async fn submit_and_watch(&self, tx: String) -> SubscriptionResult;
}

/// Proof-of-work mining (see `docs/mining.md`).
#[rpc(server, client, namespace = "mining")]
pub trait MiningApi {
    /// The newest challenge (the last finalized block), its target, the asking miner's
    /// seed, and until when a claim for it can be included.
    #[method(name = "getWork")]
    async fn get_work(&self, public_key: String) -> RpcResult<MiningWork>;

    /// Check a signed ClaimMiningReward against the mining rules and, if it passes, admit
    /// it to the mempool. A rule failure is an answer (`accepted: false` with the reason),
    /// not an error. `seed`, if given, is the seed the miner searched with: a mismatch is
    /// reported as `wrong_seed`.
    #[method(name = "submitWork")]
    async fn submit_work(&self, tx: String, seed: Option<String>) -> RpcResult<SubmitWorkResult>;

    /// Report a miner's hashrate (hashes per second). Self-reported and unverified: shown
    /// by `mining_getStats` for 5 minutes.
    #[method(name = "submitHashrate")]
    async fn submit_hashrate(&self, public_key: String, hashrate: u64) -> RpcResult<bool>;

    /// Current target, solutions per epoch, recent claims and reported hashrates.
    #[method(name = "getStats")]
    async fn stats(&self) -> RpcResult<MiningStats>;
}
