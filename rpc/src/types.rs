//! Parameter and result types, with their JSON forms.

use serde::{Deserialize, Serialize};

/// `chain_getInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainInfo {
    /// The chain name from genesis.
    pub chain_name: String,
    /// The chain id (= genesis hash), 0x hex.
    pub chain_id: String,
    /// The highest block this node has seen proposed or finalized.
    pub head_height: u64,
    /// The last finalized height.
    pub finalized_height: u64,
    /// The last finalized block's hash.
    pub finalized_hash: String,
    /// The state root after the last finalized block.
    pub state_root: String,
    /// The consensus view this node is in.
    pub view: u64,
    /// The current epoch number.
    pub epoch: u64,
    /// Public keys of the current epoch's validators, 0x hex.
    pub validators: Vec<String>,
}

/// `account_getInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// The account's public key, 0x hex.
    pub public_key: String,
    /// Balance, decimal string.
    pub balance: String,
    /// The next nonce the account must use.
    pub nonce: u64,
    /// Role names: `admin`, `transact`, `mine`.
    pub roles: Vec<String>,
    /// The finalized height this answer is read at.
    pub height: u64,
}

/// Where a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxState {
    /// In the mempool, not yet finalized.
    Pending,
    /// In a finalized block (its outcome may still be a rejection: see `reason`).
    Finalized,
    /// Refused by the mempool or dropped from it.
    Rejected,
    /// Never seen by this node (or forgotten).
    Unknown,
}

/// `tx_getStatus`, one per hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxStatus {
    /// The hash asked about.
    pub hash: String,
    /// Where it is.
    pub status: TxState,
    /// Finalized: the block height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Finalized: the position in the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Finalized: whether it took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Rejected, or finalized without effect: the machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `node_health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeHealth {
    /// Synced with its peers and serving: the readiness probe's answer.
    pub ready: bool,
    /// Whether this node votes in the current epoch.
    pub validator: bool,
    /// The last finalized height.
    pub finalized_height: u64,
    /// The highest finalized height any peer reported.
    pub best_peer_height: u64,
    /// Connected peers.
    pub peers: usize,
    /// Transactions waiting in the mempool.
    pub mempool_size: usize,
    /// Transactions finalized since this node started (for rates).
    pub txs_finalized: u64,
}

/// `chain_getBlockByHeight`: a finalized block's header and transaction hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockInfo {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub hash: String,
    /// Parent block hash.
    pub parent: String,
    /// Proposer's timestamp, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Proposer's public key.
    pub proposer: String,
    /// Merkle root of the transactions.
    pub tx_root: String,
    /// Merkle root of the receipts.
    pub receipts_root: String,
    /// State root after the block.
    pub state_root: String,
    /// Hash of the validator set for the next height.
    pub validators_hash: String,
    /// Transaction hashes, in order.
    pub txs: Vec<String>,
}
