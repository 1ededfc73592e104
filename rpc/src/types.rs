//! Parameter and result types, with their JSON forms and JSON schemas (the OpenRPC document
//! is generated from these), and the conversions from ledger types.

use ledger::{Account, Block, BlockHeader, Receipt, TxKind, Validator};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `chain_getInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainInfo {
    /// The chain name from genesis.
    pub chain_name: String,
    /// The chain id (the hash of the genesis document), 0x hex: every transaction names it.
    pub chain_id: String,
    /// The hash of block 0.
    pub genesis_hash: String,
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
    /// Blocks per epoch (from genesis): a light client's trust anchor is the genesis hash
    /// and this, both fixed by the genesis document.
    pub epoch_length: u64,
    /// Public keys of the current epoch's validators, 0x hex.
    pub validators: Vec<String>,
}

/// `account_getInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

impl AccountInfo {
    /// The JSON form of `account` under `key`, read at `height`.
    pub fn new(key: &ledger::PublicKey, account: &Account, height: u64) -> Self {
        AccountInfo {
            public_key: key.to_hex(),
            balance: account.balance.to_string(),
            nonce: account.nonce,
            roles: role_names(account),
            height,
        }
    }
}

fn role_names(a: &Account) -> Vec<String> {
    a.role_list().iter().map(|r| r.name().to_owned()).collect()
}

/// Where a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TxState {
    /// In the mempool, not yet in a block.
    Pending,
    /// In a block this node executed that is not finalized yet.
    Included,
    /// In a finalized block (its outcome may still be a failure: see `success`, `reason`).
    Finalized,
    /// Refused by the mempool or dropped from it (see `reason`).
    Rejected,
    /// Never seen by this node (or forgotten).
    Unknown,
}

/// `tx_getStatus` (one per hash) and the events of `tx_submitAndWatch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TxStatus {
    /// The transaction hash.
    pub hash: String,
    /// Where it is.
    pub status: TxState,
    /// Included or finalized: the block height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Included or finalized: the block hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    /// Included or finalized: the position in the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Finalized: whether it took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Rejected, or finalized without effect: the machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl TxStatus {
    /// A status with no details yet.
    pub fn new(hash: String, status: TxState) -> Self {
        TxStatus {
            hash,
            status,
            height: None,
            block_hash: None,
            index: None,
            success: None,
            reason: None,
        }
    }

    /// Whether nothing more will happen to the transaction.
    pub fn is_final(&self) -> bool {
        matches!(self.status, TxState::Finalized | TxState::Rejected)
    }
}

/// `node_health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    pub peers: u64,
    /// Transactions waiting in the mempool.
    pub mempool_size: u64,
    /// Transactions finalized since this node started (for rates).
    pub txs_finalized: u64,
}

/// `node_syncing`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// Whether the node is catching up (not ready, or peers are ahead of it).
    pub syncing: bool,
    /// The last finalized height here.
    pub finalized_height: u64,
    /// The highest finalized height any peer reported.
    pub best_peer_height: u64,
    /// The highest block seen (proposed or finalized).
    pub head_height: u64,
    /// `state-sync` (restoring a snapshot; nothing else runs yet), `block-sync` (fetching
    /// and executing finalized blocks), or `synced`.
    pub phase: String,
    /// While restoring a snapshot: how far.
    pub state_sync: Option<StateSyncProgress>,
}

/// How far a state sync is (`node_syncing`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateSyncProgress {
    /// `finding-snapshot`, `verifying` (walking validator sets to the snapshot's block),
    /// `fetching-chunks` or `restoring` (writing the state).
    pub step: String,
    /// The snapshot's block height (0 until one is chosen).
    pub snapshot_height: u64,
    /// Epochs whose last block's certificate has been verified.
    pub epochs_verified: u64,
    /// Chunks verified and saved.
    pub chunks_done: u64,
    /// Chunks in the snapshot.
    pub chunks_total: u64,
}

/// One entry of `node_peers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    /// The libp2p peer id.
    pub peer_id: String,
    /// The peer's ed25519 key, 0x hex (= its validator key if it is one).
    pub public_key: Option<String>,
    /// The remote address of the connection.
    pub address: String,
    /// Whether the peer is a validator of the current or next epoch.
    pub validator: bool,
}

/// `node_version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeVersion {
    /// The `palisade` release.
    pub version: String,
    /// The transaction format version this node accepts.
    pub tx_version: u8,
    /// The block format version this node writes.
    pub block_version: u8,
    /// The chain name from genesis.
    pub chain_name: String,
    /// The chain id, 0x hex.
    pub chain_id: String,
}

/// `rpc_methods`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RpcMethods {
    /// Every method name this server answers, sorted.
    pub methods: Vec<String>,
}

/// A block header, as `chain_subscribeNewHeads` / `chain_subscribeFinalizedHeads` send it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderInfo {
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
    /// Number of transactions in the block.
    pub tx_count: u64,
}

impl HeaderInfo {
    /// The JSON form of `h`, for a block holding `tx_count` transactions.
    pub fn new(h: &BlockHeader, tx_count: usize) -> Self {
        HeaderInfo {
            height: h.height,
            hash: h.id().to_hex(),
            parent: h.parent.to_hex(),
            timestamp_ms: h.timestamp_ms,
            proposer: h.proposer.to_hex(),
            tx_root: h.tx_root.to_hex(),
            receipts_root: h.receipts_root.to_hex(),
            state_root: h.state_root.to_hex(),
            validators_hash: h.validators_hash.to_hex(),
            tx_count: tx_count as u64,
        }
    }
}

/// `chain_getBlockByHeight` / `chain_getBlockByHash`: a finalized block's header and its
/// transaction hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockInfo {
    /// The header.
    #[serde(flatten)]
    pub header: HeaderInfo,
    /// Transaction hashes, in order.
    pub txs: Vec<String>,
}

impl From<&Block> for BlockInfo {
    fn from(b: &Block) -> Self {
        BlockInfo {
            header: HeaderInfo::new(&b.header, b.txs.len()),
            txs: b.txs.iter().map(|t| t.id().to_hex()).collect(),
        }
    }
}

/// One validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorInfo {
    /// Its consensus key, 0x hex (also its libp2p identity).
    pub public_key: String,
    /// Voting power.
    pub power: u64,
    /// Where peers reach it (a libp2p multiaddr).
    pub address: String,
}

impl From<&Validator> for ValidatorInfo {
    fn from(v: &Validator) -> Self {
        ValidatorInfo {
            public_key: v.key.to_hex(),
            power: v.power,
            address: v.address.clone(),
        }
    }
}

/// `chain_getValidators`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorsInfo {
    /// The current epoch.
    pub epoch: u64,
    /// The validators signing this epoch's blocks.
    pub validators: Vec<ValidatorInfo>,
    /// Sum of their voting power.
    pub total_power: u64,
    /// Voting power a certificate needs (2f+1 of the total).
    pub quorum_power: u64,
    /// Validators that take over at the next epoch boundary, if governance changed the set.
    pub next: Option<Vec<ValidatorInfo>>,
}

/// `chain_getFinalityProof`: the evidence that a block is final, for a client that checks
/// it itself (`docs/light-client.md` gives every byte and every check).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FinalityProofInfo {
    /// The block's height.
    pub height: u64,
    /// The block's hash (the header's id), 0x hex.
    pub block_hash: String,
    /// The epoch whose validators signed the certificate: (height − 1) ÷ epoch length, 0
    /// for genesis.
    pub epoch: u64,
    /// The encoded header, 0x hex.
    pub header: String,
    /// The 88-byte proposals, 0x hex: the block's own, then each descendant's up to the one
    /// the certificate finalizes (or repeats); empty for genesis.
    pub proposals: Vec<String>,
    /// The encoded finalization certificate, 0x hex; null for genesis.
    pub certificate: Option<String>,
    /// The encoded validator list that signs the block's epoch (the parent header's
    /// `validators_hash` is its hash), 0x hex; null for genesis.
    pub signers: Option<String>,
    /// The encoded validator list this header's `validators_hash` names (the next epoch's
    /// after an epoch's last block), 0x hex.
    pub next_validators: String,
}

/// An account's content, in a proof or a simulation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountState {
    /// The account's public key, 0x hex.
    pub public_key: String,
    /// Balance, decimal string.
    pub balance: String,
    /// Next nonce.
    pub nonce: u64,
    /// Role names.
    pub roles: Vec<String>,
}

impl AccountState {
    /// The JSON form of `account` under `key`.
    pub fn new(key: &ledger::PublicKey, account: &Account) -> Self {
        AccountState {
            public_key: key.to_hex(),
            balance: account.balance.to_string(),
            nonce: account.nonce,
            roles: role_names(account),
        }
    }
}

/// `state_getProof`: an account (or its absence) proven against a finalized header.
///
/// To check it: decode `header` (canonical header bytes), check that its hash is a finalized
/// block hash you trust (e.g. from a finality certificate or `chain_getBlockByHeight`), decode
/// `proof` (canonical `AccountProof` bytes) and verify it against the header's state root
/// (`ledger::light::verify_account_proof` does all of it in Rust; `docs/rpc.md` in words).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountProofInfo {
    /// The account asked about.
    pub public_key: String,
    /// The finalized height the proof is for.
    pub height: u64,
    /// That block's hash.
    pub block_hash: String,
    /// That block's state root.
    pub state_root: String,
    /// That block's header, canonical bytes as 0x hex.
    pub header: String,
    /// The account, or null if the proof shows it does not exist.
    pub account: Option<AccountState>,
    /// The proof, canonical bytes as 0x hex.
    pub proof: String,
}

/// What a transaction does, as JSON (the same form as the vectors in `docs/tx-format.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum TxKindInfo {
    /// Move coins.
    Transfer {
        /// Recipient.
        to: String,
        /// Amount, decimal string.
        amount: String,
    },
    /// Create coins (admin).
    Mint {
        /// Recipient.
        to: String,
        /// Amount, decimal string.
        amount: String,
    },
    /// Destroy the sender's coins.
    Burn {
        /// Amount, decimal string.
        amount: String,
    },
    /// Grant or revoke a role (admin).
    SetRole {
        /// The account.
        account: String,
        /// `admin`, `transact` or `mine`.
        role: String,
        /// Granted (true) or revoked (false).
        granted: bool,
    },
    /// Add a validator at the next epoch (admin).
    AddValidator {
        /// Its key.
        key: String,
        /// Voting power.
        power: u64,
        /// Its libp2p address.
        address: String,
    },
    /// Remove a validator at the next epoch (admin).
    RemoveValidator {
        /// Its key.
        key: String,
    },
    /// Claim a proof-of-work reward.
    ClaimMiningReward {
        /// The finalized height whose challenge was solved.
        height: u64,
        /// The solution nonce.
        nonce: u64,
    },
}

impl From<&TxKind> for TxKindInfo {
    fn from(k: &TxKind) -> Self {
        match k {
            TxKind::Transfer { to, amount } => TxKindInfo::Transfer {
                to: to.to_hex(),
                amount: amount.to_string(),
            },
            TxKind::Mint { to, amount } => TxKindInfo::Mint {
                to: to.to_hex(),
                amount: amount.to_string(),
            },
            TxKind::Burn { amount } => TxKindInfo::Burn {
                amount: amount.to_string(),
            },
            TxKind::SetRole {
                account,
                role,
                granted,
            } => TxKindInfo::SetRole {
                account: account.to_hex(),
                role: role.name().to_owned(),
                granted: *granted,
            },
            TxKind::AddValidator {
                key,
                power,
                address,
            } => TxKindInfo::AddValidator {
                key: key.to_hex(),
                power: *power,
                address: address.clone(),
            },
            TxKind::RemoveValidator { key } => TxKindInfo::RemoveValidator { key: key.to_hex() },
            TxKind::ClaimMiningReward { height, nonce } => TxKindInfo::ClaimMiningReward {
                height: *height,
                nonce: *nonce,
            },
        }
    }
}

/// `tx_get`: a transaction, where it is, and its receipt once finalized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TxInfo {
    /// Status, block position and outcome (as `tx_getStatus` gives them).
    #[serde(flatten)]
    pub status: TxStatus,
    /// The sender's public key.
    pub sender: String,
    /// The sender's nonce it uses.
    pub nonce: u64,
    /// The last height it may be included at.
    pub expiry_height: u64,
    /// What it does.
    pub kind: TxKindInfo,
    /// The signed transaction, canonical bytes as 0x hex.
    pub raw: String,
}

/// `tx_simulate`: what the transaction would do if it were the next block's only one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulateResult {
    /// The transaction hash.
    pub hash: String,
    /// Whether it would take effect.
    pub success: bool,
    /// Why not (the same reasons receipts and `tx_submit` give).
    pub reason: Option<String>,
    /// The height it was executed at (the last finalized height + 1).
    pub height: u64,
    /// Every account it would change, after the change.
    pub changes: Vec<AccountState>,
}

/// A receipt's outcome as `(success, reason)`.
pub fn outcome(r: &Receipt) -> (bool, Option<String>) {
    match &r.outcome {
        Ok(()) => (true, None),
        Err(e) => (false, Some(e.name().to_owned())),
    }
}

/// `mining_getWork`: what a miner needs to search for a solution to the newest challenge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MiningWork {
    /// The last finalized block: its id is the challenge.
    pub height: u64,
    /// The challenge (that block's id), 0x hex.
    pub challenge: String,
    /// The target in force for it: a solution's inner hash, read as a 256-bit big-endian
    /// number, must be ≤ this (0x hex, 32 bytes).
    pub target: String,
    /// The asking miner's seed for this challenge, 0x hex.
    pub seed: String,
    /// How the seed is derived (so a miner can check it).
    pub seed_derivation: String,
    /// The 64-byte block the inner hash compresses.
    pub pow_input: String,
    /// The 24 fixed padding bytes of that block, 0x hex.
    pub padding: String,
    /// The last height a claim for this challenge can be included at.
    pub expiry_height: u64,
    /// Coins minted per accepted claim, decimal.
    pub reward: String,
    /// Hashes one solution takes on average: 2^256 / (target + 1).
    pub expected_hashes: f64,
}

/// One transaction's outcome in `tx_submitMany`: `hash` once admitted, else `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitOutcome {
    /// Admitted: the transaction hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Refused: the error `tx_submit` would answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SubmitError>,
}

/// A refusal in `tx_submitMany`: the JSON-RPC error `tx_submit` would answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitError {
    /// The error code (`-32020` refused, `-32021` mempool full, `-32022` invalid value).
    pub code: i32,
    /// In words.
    pub message: String,
    /// `{"reason": ..., ...}` as in the error of `tx_submit`.
    pub data: serde_json::Value,
}

/// `mining_submitWork`: whether the claim was admitted, or why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitWorkResult {
    /// Admitted to the mempool (it still has to be included: first claim executed wins).
    pub accepted: bool,
    /// The claim transaction's hash.
    pub hash: String,
    /// Why not: a receipt reason (`above_target`, `already_claimed`, `claim_expired`,
    /// `claim_not_finalized`, `missing_role`, …), a mempool reason (`nonce_taken`, …) or
    /// `wrong_seed`.
    pub reason: Option<String>,
    /// The reason in words.
    pub message: Option<String>,
}

/// A closed retarget epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MiningEpochInfo {
    /// Its last block.
    pub end_height: u64,
    /// Claims accepted in its blocks.
    pub solutions: u64,
    /// The target during it, 0x hex.
    pub target: String,
    /// The target it set for the next epoch, 0x hex.
    pub next_target: String,
}

/// A paid challenge still in the claim window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MiningClaimInfo {
    /// The challenge's block.
    pub height: u64,
    /// Who was paid.
    pub miner: String,
}

/// A hashrate a miner reported with `mining_submitHashrate` (self-reported, unverified).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportedHashrate {
    /// The miner's public key.
    pub miner: String,
    /// Hashes per second.
    pub hashrate: u64,
    /// How long ago it was reported, ms.
    pub age_ms: u64,
}

/// `mining_getStats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MiningStats {
    /// The last finalized height the figures are from.
    pub height: u64,
    /// The current target, 0x hex.
    pub target: String,
    /// Hashes per solution at the current target.
    pub expected_hashes: f64,
    /// Coins per accepted claim, decimal.
    pub reward: String,
    /// Blocks per retarget epoch.
    pub epoch_length: u64,
    /// Accepted claims per epoch the target aims for.
    pub target_solutions_per_epoch: u64,
    /// Blocks a challenge stays claimable.
    pub claim_expiry: u64,
    /// Claims accepted so far in the current epoch.
    pub epoch_solutions: u64,
    /// The height whose block closes the current epoch.
    pub next_retarget_height: u64,
    /// The last closed epochs, oldest first (at most 16).
    pub epochs: Vec<MiningEpochInfo>,
    /// Paid challenges in the claim window, oldest first.
    pub recent_claims: Vec<MiningClaimInfo>,
    /// Challenges in the claim window nobody was paid for yet.
    pub open_challenges: u64,
    /// Hashrates reported in the last 5 minutes, newest first.
    pub hashrates: Vec<ReportedHashrate>,
    /// Their sum, hashes per second.
    pub total_hashrate: u64,
}
