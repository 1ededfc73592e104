//! What RPC reads and calls, in one place ([`Shared`]): the store, the small handles of
//! [`crate::handles`], admission, network facts and metrics. RPC is its only user besides
//! the runtime that builds it; the core, admission and the peer server take only the
//! handles they need.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use ledger::{ChainParams, FastMap, Hash, Store};
use libp2p::PeerId;

use crate::admission::Admission;
pub use crate::handles::{
    BlockCache, Chain, ChainEvent, ChainView, GossipTargets, Included, IncludedTxs, Pool,
};
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::p2p::NetInfo;

/// State shared between the runtime, admission, RPC and metrics.
#[derive(Debug)]
pub struct Shared {
    /// The chain name from genesis.
    pub chain_name: String,
    /// Chain parameters (chain id, limits).
    pub params: ChainParams,
    /// The store (RocksDB is safe to read from any thread).
    pub store: Arc<Store>,
    /// The finalized view of the chain.
    pub chain: Chain,
    /// The mempool.
    pub pool: Pool,
    /// Synced and serving.
    pub ready: Arc<AtomicBool>,
    /// Network facts.
    pub net: Arc<NetInfo>,
    /// Metrics.
    pub metrics: Metrics,
    /// The hash of block 0.
    pub genesis_hash: Hash,
    /// New and finalized blocks, for RPC subscriptions.
    pub events: tokio::sync::broadcast::Sender<ChainEvent>,
    /// Transactions in executed blocks that are not finalized yet.
    pub included: IncludedTxs,
    /// Hashrates miners reported (`mining_submitHashrate`): miner → (hashes/s, when).
    pub hashrates: Mutex<HashMap<ledger::PublicKey, (u64, std::time::Instant)>>,
    /// The way into the mempool for clients' and gossiped transactions.
    pub admission: Admission,
    /// The validators admitted client transactions are gossiped to (this epoch's and the
    /// next's, without this node); the core keeps it current.
    pub gossip_to: GossipTargets,
    /// While a snapshot is being restored (nothing else runs): how far it is.
    pub state_sync: Mutex<Option<rpc::StateSyncProgress>>,
}

impl Shared {
    /// How far a state sync is, if one is under way.
    pub fn state_sync(&self) -> Option<rpc::StateSyncProgress> {
        match self.state_sync.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// A snapshot of the chain view (cheap: the state tree is shared).
    pub fn chain(&self) -> ChainView {
        self.chain.get()
    }

    /// The validators to gossip admitted client transactions to.
    pub fn gossip_targets(&self) -> Vec<PeerId> {
        self.gossip_to.get()
    }

    /// Where a transaction sits in an executed, unfinalized block.
    pub fn included_at(&self, id: &Hash) -> Option<Included> {
        self.included.get(id)
    }

    /// Run `f` on the map of transactions in executed, unfinalized blocks.
    pub fn with_included<R>(&self, f: impl FnOnce(&mut FastMap<Hash, Included>) -> R) -> R {
        self.included.with(f)
    }

    /// Lock the mempool.
    pub fn mempool(&self) -> MutexGuard<'_, Mempool> {
        self.pool.lock()
    }
}
