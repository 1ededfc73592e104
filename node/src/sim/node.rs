//! One simulated node: the real [`NodeCore`] with in-memory stand-ins for what the runtime
//! gives a real node — a store that keeps what was durably committed, a vote store that
//! keeps every appended vote (an append is durable before it returns, as the real fsync
//! is), the mempool and admission (signatures checked, then the mempool's own rules) —
//! and the peer server's answers, from the same functions the real server uses.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use consensus::{Proposal, SafetyState, Vote};
use genesis::Genesis;
use ledger::{Block, BlockHeader, FastMap, Hash, Keypair, LedgerState, SignedTransaction};
use libp2p::PeerId;

use crate::config::ConsensusSection;
use crate::core::{CommitJob, Handles, NodeCore, ProposalHook, Setup, Time, VoteStore};
use crate::handles::{IncludedTxs, Pool};
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::serve::{self, BlockCache, FinalizedBlocks};
use crate::wire::{FinalityProof, Request, Response};

/// The votes of one validator, kept across its crashes (each append is durable).
#[derive(Clone, Default)]
pub(super) struct MemVotes(Arc<Mutex<BTreeMap<u64, Vec<Vote>>>>, pub(super) KeptBlocks);

/// The blocks a validator kept for its votes, per epoch.
type KeptBlocks = Arc<Mutex<BTreeMap<u64, Vec<Vec<u8>>>>>;

impl VoteStore for MemVotes {
    fn open(&mut self, epoch: u64) -> Result<SafetyState, String> {
        let mut state = SafetyState::default();
        let m = self.0.lock().map_err(|_| "poisoned".to_owned())?;
        for v in m.get(&epoch).into_iter().flatten() {
            state.record(*v);
        }
        Ok(state)
    }

    fn append(&mut self, epoch: u64, vote: &Vote) -> Result<(), String> {
        let mut m = self.0.lock().map_err(|_| "poisoned".to_owned())?;
        m.entry(epoch).or_default().push(*vote);
        Ok(())
    }

    fn keep_block(&mut self, epoch: u64, block: &[u8]) -> Result<(), String> {
        let mut m = self.1.lock().map_err(|_| "poisoned".to_owned())?;
        m.entry(epoch).or_default().push(block.to_vec());
        Ok(())
    }

    fn kept_blocks(&mut self, epoch: u64) -> Result<Vec<Vec<u8>>, String> {
        let m = self.1.lock().map_err(|_| "poisoned".to_owned())?;
        Ok(m.get(&epoch).cloned().unwrap_or_default())
    }

    fn rewrite_blocks(&mut self, epoch: u64, blocks: &[Vec<u8>]) -> Result<(), String> {
        let mut m = self.1.lock().map_err(|_| "poisoned".to_owned())?;
        m.insert(epoch, blocks.to_vec());
        Ok(())
    }

    fn forget(&mut self, epoch: u64) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&epoch);
        }
        if let Ok(mut m) = self.1.lock() {
            m.remove(&epoch);
        }
    }

    fn forget_before(&mut self, epoch: u64) {
        if let Ok(mut m) = self.0.lock() {
            m.retain(|e, _| *e >= epoch);
        }
        if let Ok(mut m) = self.1.lock() {
            m.retain(|e, _| *e >= epoch);
        }
    }
}

/// What a node wrote durably: finalized blocks with their proofs, and the state after the
/// last one. A commit is durable when its [`crate::core::Event::Committed`] is delivered;
/// a crash before that loses it, as a crash before RocksDB's synced write does.
#[derive(Clone)]
pub(super) struct MemStore {
    pub(super) blocks: Vec<(Arc<Block>, Vec<u8>)>,
    by_hash: FastMap<Hash, u64>,
    pub(super) state: LedgerState,
    pub(super) header: BlockHeader,
}

impl MemStore {
    pub(super) fn new(genesis: &Genesis) -> MemStore {
        let block = genesis.genesis_block();
        let mut by_hash = FastMap::default();
        by_hash.insert(block.id(), 0);
        MemStore {
            header: block.header.clone(),
            blocks: vec![(Arc::new(block), Vec::new())],
            by_hash,
            state: genesis.initial_state(),
        }
    }

    pub(super) fn height(&self) -> u64 {
        self.header.height
    }

    /// Write a finalized block; `Err` if it does not extend what is stored.
    pub(super) fn commit(&mut self, job: &CommitJob) -> Result<(), String> {
        let h = job.block.header.height;
        if h != self.height() + 1 || job.block.header.parent != self.header.id() {
            return Err(format!(
                "commit of block {h} on a store at {}",
                self.height()
            ));
        }
        self.by_hash.insert(job.block.id(), h);
        self.blocks.push((job.block.clone(), job.proof.clone()));
        self.state = job.state.clone();
        self.header = job.block.header.clone();
        Ok(())
    }

    fn block_by_hash(&self, h: &Hash) -> Option<Block> {
        let height = *self.by_hash.get(h)?;
        self.block_at(height)
    }

    /// The proposal that finalized the stored head.
    pub(super) fn head_proposal(&self) -> Result<Proposal, String> {
        if self.height() == 0 {
            return Ok(Proposal::genesis(consensus::Digest(self.header.id().0)));
        }
        let (_, proof) = &self.blocks[self.height() as usize];
        FinalityProof::decode(proof)
            .map(|p| p.proposal)
            .map_err(|e| format!("stored proof: {e}"))
    }
}

impl FinalizedBlocks for MemStore {
    fn block_at(&self, height: u64) -> Option<Block> {
        self.blocks
            .get(usize::try_from(height).ok()?)
            .map(|(b, _)| (**b).clone())
    }

    fn proof_at(&self, height: u64) -> Option<Vec<u8>> {
        if height == 0 {
            return None;
        }
        self.blocks
            .get(usize::try_from(height).ok()?)
            .map(|(_, p)| p.clone())
    }
}

/// A running incarnation of a node (dropped at a crash).
pub(super) struct Live {
    pub(super) core: NodeCore,
    pub(super) pool: Pool,
    pub(super) cache: Arc<BlockCache>,
    /// Whom admitted client transactions go to ([`crate::core::Effect::GossipTargets`]).
    pub(super) gossip_to: Vec<PeerId>,
    /// The earliest tick scheduled for this incarnation.
    pub(super) tick_at: u64,
}

/// A node of the simulation, live or crashed.
pub(super) struct SimNode {
    pub(super) key: Keypair,
    pub(super) peer: PeerId,
    pub(super) store: MemStore,
    pub(super) votes: MemVotes,
    pub(super) live: Option<Live>,
    /// Bumped at every crash: events for an earlier incarnation are dropped.
    pub(super) incarnation: u64,
    /// This node's clock minus the true time, in ms.
    pub(super) skew_ms: i64,
    /// When its last store write completes.
    pub(super) commits_at: u64,
}

/// The genesis wall time of simulated chains.
pub(super) const GENESIS_MS: u64 = 1_800_000_000_000;

impl SimNode {
    pub(super) fn time(&self, now: u64) -> Time {
        Time {
            mono_ms: now,
            wall_ms: (GENESIS_MS + now).saturating_add_signed(self.skew_ms),
        }
    }

    /// Start (or restart) from what is durable.
    pub(super) fn start(
        &mut self,
        genesis: &Genesis,
        consensus: &ConsensusSection,
        seed: [u8; 32],
        rewrite: Option<ProposalHook>,
    ) -> Result<(), String> {
        let pool = Pool::new(Mempool::new(100_000, 64).ordered());
        let cache = Arc::new(BlockCache::default());
        let core = NodeCore::new(
            Setup {
                consensus: consensus.clone(),
                genesis: genesis.clone(),
                key: Keypair::from_secret(self.key.secret()),
                state: self.store.state.clone(),
                header: self.store.header.clone(),
                proposal: self.store.head_proposal()?,
                seed,
                rewrite_proposal: rewrite,
            },
            Handles {
                pool: pool.clone(),
                included: IncludedTxs::default(),
                cache: cache.clone(),
                durable_height: Arc::new(AtomicU64::new(self.store.height())),
                metrics: Metrics::new(),
            },
            Box::new(self.votes.clone()),
        )
        .map_err(|e| e.to_string())?;
        self.live = Some(Live {
            core,
            pool,
            cache,
            gossip_to: Vec::new(),
            tick_at: u64::MAX,
        });
        Ok(())
    }

    /// The answer this node's peer server gives to request `bytes` (`None`: not a
    /// request the server answers).
    pub(super) fn serve(&self, bytes: &[u8], limits: ledger::Limits) -> Option<Response> {
        let live = self.live.as_ref()?;
        let request = Request::decode(bytes, limits).ok()?;
        Some(match request {
            Request::GetTxs { block, indices } => serve::txs_of(&live.cache, &block, &indices),
            Request::GetBlock { hash } => Response::Block(
                live.cache
                    .get(&hash)
                    .map(|b| (*b).clone())
                    .or_else(|| self.store.block_by_hash(&hash))
                    .map(Box::new),
            ),
            Request::GetBlocks { from, max } => Response::Blocks(serve::finalized_blocks(
                &self.store,
                from,
                max,
                self.store.height(),
            )),
            _ => Response::Refused("not a request".into()),
        })
    }

    /// Admission: transactions whose signatures verify and that pass the mempool's rules
    /// go into the pool at `now`; a client's (`client`) are queued for gossip. Returns
    /// the client's transactions to gossip.
    pub(super) fn admit(
        &mut self,
        txs: Vec<SignedTransaction>,
        client: bool,
        chain_id: &Hash,
        now: u64,
    ) -> Vec<SignedTransaction> {
        let Some(live) = self.live.as_mut() else {
            return Vec::new();
        };
        let state = self.store.state.clone();
        let mut pool = live.pool.lock();
        for tx in txs {
            if !pool.worth_verifying(&tx, chain_id, &state) || !tx.verify_signature() {
                continue;
            }
            let _ = pool.admit_at(tx, true, chain_id, &state, client, now);
        }
        pool.take_outbox()
    }
}
