//! The small handles the node core, admission, the peer server and RPC share: the chain
//! view, the mempool, the map of transactions in executed but unfinalized blocks, the
//! block cache and the gossip targets. Each is memory behind a lock; none of it does IO,
//! and none of it knows the core, admission, the peer server or RPC (so no module cycle
//! runs through here).

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use consensus::View;
use ledger::{Block, BlockHeader, FastMap, Hash, LedgerState, Validator};
use libp2p::PeerId;

use crate::mempool::Mempool;

/// What RPC and metrics read: the last finalized state and a few live figures.
#[derive(Clone, Debug)]
pub struct ChainView {
    /// State after the last finalized block.
    pub state: LedgerState,
    /// The last finalized header.
    pub header: BlockHeader,
    /// Highest block seen (proposed or finalized).
    pub head_height: u64,
    /// The engine's view.
    pub view: View,
    /// The current epoch.
    pub epoch: u64,
    /// The current epoch's validators.
    pub validators: Vec<Validator>,
    /// Whether this node votes in the current epoch.
    pub is_validator: bool,
    /// Highest finalized height a peer reported.
    pub best_peer_height: u64,
}

/// Where a transaction sits in an executed, unfinalized block.
#[derive(Clone, Copy, Debug)]
pub struct Included {
    /// The block's height.
    pub height: u64,
    /// The block's id.
    pub block: Hash,
    /// The transaction's index in the block.
    pub index: u32,
    /// Its leaf (every signed byte): the block it is in was valid, so its signature
    /// verified on this node.
    pub leaf: Hash,
}

/// What the core tells RPC subscribers.
#[derive(Clone, Debug)]
pub enum ChainEvent {
    /// A block was executed for the first time at a height above every earlier one.
    NewHead(Arc<Block>),
    /// A block was finalized (in height order).
    Finalized(Arc<Block>),
}

/// The mempool, shared by the core (which proposes from it and rebuilds blocks with it),
/// admission (which fills it) and RPC (which reads it).
#[derive(Clone)]
pub struct Pool(Arc<Mutex<Mempool>>);

impl Pool {
    /// Share `pool`.
    pub fn new(pool: Mempool) -> Pool {
        Pool(Arc::new(Mutex::new(pool)))
    }

    /// Lock the pool (a poisoned lock is still usable: the pool has no invariants a panic
    /// mid-call could break beyond one entry).
    pub fn lock(&self) -> MutexGuard<'_, Mempool> {
        match self.0.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("len", &self.lock().len())
            .finish()
    }
}

/// Transactions in executed, unfinalized blocks (the core writes, admission and RPC read).
#[derive(Clone, Default, Debug)]
pub struct IncludedTxs(Arc<Mutex<FastMap<Hash, Included>>>);

impl IncludedTxs {
    /// Where a transaction sits in an executed, unfinalized block.
    pub fn get(&self, id: &Hash) -> Option<Included> {
        self.with(|m| m.get(id).copied())
    }

    /// Run `f` on the map.
    pub fn with<R>(&self, f: impl FnOnce(&mut FastMap<Hash, Included>) -> R) -> R {
        match self.0.lock() {
            Ok(mut m) => f(&mut m),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// Blocks peers may ask for by hash without a store read: the proposed (unfinalized) ones
/// and the last finalized ones. The core writes it; the peer server reads it.
#[derive(Default, Debug)]
pub struct BlockCache(RwLock<FastMap<Hash, Arc<Block>>>);

impl BlockCache {
    /// Keep `block`.
    pub fn insert(&self, block: Arc<Block>) {
        let id = block.id();
        match self.0.write() {
            Ok(mut m) => m.insert(id, block),
            Err(p) => p.into_inner().insert(id, block),
        };
    }

    /// Forget block `id`.
    pub fn remove(&self, id: &Hash) {
        match self.0.write() {
            Ok(mut m) => m.remove(id),
            Err(p) => p.into_inner().remove(id),
        };
    }

    /// Forget every block at or below `height`.
    pub fn keep_above(&self, height: u64) {
        match self.0.write() {
            Ok(mut m) => m.retain(|_, b| b.header.height > height),
            Err(p) => p.into_inner().retain(|_, b| b.header.height > height),
        }
    }

    /// Block `id`, if kept.
    pub fn get(&self, id: &Hash) -> Option<Arc<Block>> {
        match self.0.read() {
            Ok(m) => m.get(id).cloned(),
            Err(p) => p.into_inner().get(id).cloned(),
        }
    }

    /// How many blocks are kept.
    pub fn len(&self) -> usize {
        match self.0.read() {
            Ok(m) => m.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The last finalized chain view, as the core publishes it ([`super::core::Effect::Publish`]).
#[derive(Clone, Debug)]
pub struct Chain(Arc<RwLock<ChainView>>);

impl Chain {
    /// A handle holding `view`.
    pub fn new(view: ChainView) -> Chain {
        Chain(Arc::new(RwLock::new(view)))
    }

    /// A snapshot (cheap: the state tree is shared).
    pub fn get(&self) -> ChainView {
        match self.0.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replace the view.
    pub fn set(&self, view: ChainView) {
        match self.0.write() {
            Ok(mut c) => *c = view,
            Err(p) => *p.into_inner() = view,
        }
    }
}

/// The validators admitted client transactions are gossiped to (this epoch's and the
/// next's, without this node); the core keeps it current ([`super::core::Effect::GossipTargets`]).
#[derive(Clone, Default, Debug)]
pub struct GossipTargets(Arc<RwLock<Vec<PeerId>>>);

impl GossipTargets {
    /// The current targets.
    pub fn get(&self) -> Vec<PeerId> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replace them.
    pub fn set(&self, to: Vec<PeerId>) {
        match self.0.write() {
            Ok(mut g) => *g = to,
            Err(p) => *p.into_inner() = to,
        }
    }
}
