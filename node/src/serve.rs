//! Answering peers' requests for blocks and transactions (`GetBlock`, `GetBlocks`,
//! `GetTxs`), finality evidence and state snapshots (`GetFinality`, `GetSnapshot`,
//! `GetSnapshotChunk`) off the consensus task.
//!
//! The network task queues requests here with whether the sender is a validator.
//! Validators' requests are answered first; observers' wait in a short queue and are
//! refused when it is full. Every answer is charged to the asker's answer budget in bytes
//! (`budget::Class::answer_limit`): an observer cannot make this node read and send
//! gigabytes a second, and one over budget is refused and loses score. Answers come from
//! the [`BlockCache`] (proposed blocks and the last finalized ones, which the consensus task
//! keeps current) or the store, read on the blocking pool. This task never touches the
//! consensus engine or the chain state.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ledger::{Block, Hash, Limits, Store};
use libp2p::PeerId;
use tokio::sync::mpsc;
use tracing::debug;

use crate::budget::{Class, Over, PeerBudget};
pub use crate::handles::BlockCache;
use crate::metrics::Metrics;
use crate::p2p::{Command, Inbound};
use crate::wire::{
    FinalityProof, FinalizedBlock, MAX_SYNC_BLOCKS, Request, Response, SYNC_RESPONSE_HARD_BYTES,
    SYNC_RESPONSE_SOFT_BYTES,
};

/// Observers' requests waiting at most; more are refused at once.
const OBSERVER_QUEUE: usize = 256;
/// Validators' requests waiting at most, per queue (a byzantine validator's flood is
/// refused past it, not held in memory).
const VALIDATOR_QUEUE: usize = 4096;
/// Peers whose answer budgets are remembered before idle ones are forgotten.
const MAX_BUDGETS: usize = 4096;
/// How long an idle peer's answer budget is remembered past [`MAX_BUDGETS`].
const BUDGET_MEMORY: std::time::Duration = std::time::Duration::from_secs(60);

/// What the server reads.
#[derive(Debug)]
pub struct Server {
    /// The store (finalized blocks and their proofs).
    pub store: Arc<Store>,
    /// Proposed and recently finalized blocks.
    pub cache: Arc<BlockCache>,
    /// Decoding limits.
    pub limits: Limits,
    /// The network, for answers and penalties.
    pub net: mpsc::Sender<Command>,
    /// Metrics.
    pub metrics: Metrics,
    /// The highest finalized height on disk (the consensus task keeps it current).
    pub durable_height: Arc<std::sync::atomic::AtomicU64>,
    /// The state snapshots this node serves.
    pub snapshots: crate::snapshots::SnapshotDir,
    /// Blocks per epoch (finality evidence names its signers by epoch).
    pub epoch_length: u64,
}

impl Server {
    /// Serve `requests` until the network task stops.
    pub async fn run(self, mut requests: mpsc::Receiver<(Inbound, bool)>) {
        let mut queues = Queues::default();
        let mut budgets: HashMap<PeerId, (PeerBudget, Instant)> = HashMap::new();
        loop {
            if queues.is_empty() {
                match requests.recv().await {
                    Some(r) => self.queue(r, &mut queues).await,
                    None => return,
                }
            }
            while let Ok(r) = requests.try_recv() {
                self.queue(r, &mut queues).await;
            }
            let Some((next, validator)) = queues.next() else {
                continue;
            };
            let now = Instant::now();
            if budgets.len() >= MAX_BUDGETS && !budgets.contains_key(&next.peer) {
                // forget the peers that have not asked for a minute (their buckets are
                // full again by then); a peer asking now keeps its debt
                budgets.retain(|_, (_, last)| now.duration_since(*last) < BUDGET_MEMORY);
            }
            let (budget, last) = budgets
                .entry(next.peer)
                .or_insert_with(|| (PeerBudget::answers(validator), now));
            *last = now;
            budget.set_validator(validator);
            self.answer(next, budget).await;
        }
    }

    async fn queue(&self, (req, validator): (Inbound, bool), queues: &mut Queues) {
        let (queue, max) = match (validator, Class::of(&req.bytes)) {
            // a proposal waits for these: before any sync or block request
            (true, Class::GetTxs) => (&mut queues.proposal_txs, VALIDATOR_QUEUE),
            (true, _) => (&mut queues.validators, VALIDATOR_QUEUE),
            (false, _) => (&mut queues.observers, OBSERVER_QUEUE),
        };
        if queue.len() < max {
            queue.push_back(req);
        } else {
            self.respond(&req, Response::Refused("busy".into())).await;
        }
    }

    /// Send an answer. It waits for room in the network's queue rather than dropping the
    /// answer: a dropped answer would leave the request open until it times out.
    async fn respond(&self, req: &Inbound, r: Response) {
        if let Some(id) = req.respond {
            let _ = self
                .net
                .send(Command::Respond {
                    id,
                    bytes: r.encode(),
                })
                .await;
        }
    }

    fn penalize(&self, peer: PeerId, points: i64, reason: String) {
        let _ = self.net.try_send(Command::Penalize {
            peer,
            points,
            reason,
        });
    }

    /// Answer one request, within the asker's answer budget.
    async fn answer(&self, req: Inbound, budget: &mut PeerBudget) {
        let request = match Request::decode(&req.bytes, self.limits) {
            Ok(r) => r,
            Err(e) => {
                self.penalize(req.peer, 20, format!("malformed request: {e}"));
                self.respond(&req, Response::Refused(format!("malformed: {e}")))
                    .await;
                return;
            }
        };
        let class = Class::of(&req.bytes);
        // before any work: a peer in debt waits (its last answers were large)
        if let Err(Over::Wait(_)) = budget.has_room(class, Instant::now()) {
            self.metrics.p2p_throttled.inc();
            self.penalize(
                req.peer,
                if budget.is_validator() { 2 } else { 10 },
                format!("over its budget of {} answers", class.name()),
            );
            self.respond(
                &req,
                Response::Refused(crate::wire::OVER_ANSWER_BUDGET.into()),
            )
            .await;
            return;
        }
        let response = match request {
            Request::GetTxs { block, indices } => txs_of(&self.cache, &block, &indices),
            Request::GetBlock { hash } => {
                let block = match self.cache.get(&hash) {
                    Some(b) => Some(Box::new((*b).clone())),
                    None => {
                        let store = self.store.clone();
                        match tokio::task::spawn_blocking(move || store.block_by_hash(&hash)).await
                        {
                            Ok(Ok(b)) => b.map(Box::new),
                            Ok(Err(e)) => {
                                debug!("serving a block: {e}");
                                None
                            }
                            Err(_) => None,
                        }
                    }
                };
                Response::Block(block)
            }
            Request::GetFinality { height } => {
                let store = self.store.clone();
                let e = self.epoch_length;
                let last = self
                    .durable_height
                    .load(std::sync::atomic::Ordering::Relaxed);
                let ev = tokio::task::spawn_blocking(move || {
                    (height <= last)
                        .then(|| crate::light::evidence_at(&store, height, e).ok())
                        .flatten()
                })
                .await
                .ok()
                .flatten();
                Response::Data(ev.map(|ev| ev.encode()))
            }
            Request::GetSnapshot { height } => {
                let dir = self.snapshots.clone();
                let m = tokio::task::spawn_blocking(move || dir.manifest(height))
                    .await
                    .ok()
                    .and_then(|r| {
                        r.inspect_err(|e| debug!("serving a snapshot manifest: {e}"))
                            .ok()
                    })
                    .flatten();
                Response::Data(m.map(|(_, bytes)| bytes))
            }
            Request::GetSnapshotChunk { height, index } => {
                let dir = self.snapshots.clone();
                let c = tokio::task::spawn_blocking(move || dir.chunk(height, index))
                    .await
                    .ok()
                    .and_then(|r| {
                        r.inspect_err(|e| debug!("serving a snapshot chunk: {e}"))
                            .ok()
                    })
                    .flatten();
                if c.is_some() {
                    self.metrics.snapshot_chunks_served.inc();
                }
                Response::Data(c)
            }
            Request::GetBlocks { from, max } => {
                let store = self.store.clone();
                let last = self
                    .durable_height
                    .load(std::sync::atomic::Ordering::Relaxed);
                let blocks =
                    tokio::task::spawn_blocking(move || finalized_blocks(&*store, from, max, last))
                        .await
                        .unwrap_or_default();
                Response::Blocks(blocks)
            }
            _ => {
                self.penalize(
                    req.peer,
                    20,
                    "a message that wants no answer, as a request".into(),
                );
                Response::Refused("not a request".into())
            }
        };
        let bytes = response.encode();
        budget.charge(class, bytes.len(), Instant::now());
        if let Some(id) = req.respond {
            let _ = self.net.send(Command::Respond { id, bytes }).await;
        }
    }
}

/// Requests waiting, by who asked.
#[derive(Default)]
struct Queues {
    /// Validators' `GetTxs`: a proposal waits for them.
    proposal_txs: VecDeque<Inbound>,
    /// Validators' other requests.
    validators: VecDeque<Inbound>,
    /// Observers' requests.
    observers: VecDeque<Inbound>,
}

impl Queues {
    fn is_empty(&self) -> bool {
        self.proposal_txs.is_empty() && self.validators.is_empty() && self.observers.is_empty()
    }

    /// The next request to answer and whether a validator asked.
    fn next(&mut self) -> Option<(Inbound, bool)> {
        if let Some(r) = self.proposal_txs.pop_front() {
            return Some((r, true));
        }
        if let Some(r) = self.validators.pop_front() {
            return Some((r, true));
        }
        self.observers.pop_front().map(|r| (r, false))
    }
}

/// The answer to `GetTxs`: the transactions at `indices` of a block held in memory (none
/// for a block not held), at most the block's size whatever the indices repeat.
pub fn txs_of(cache: &BlockCache, block: &Hash, indices: &[u32]) -> Response {
    let txs = cache.get(block).map_or_else(Vec::new, |b| {
        indices
            .iter()
            .take(b.txs.len())
            .map_while(|i| b.txs.get(*i as usize).cloned())
            .collect()
    });
    Response::Txs(txs)
}

/// Where finalized blocks and their proofs are read from (the store; the simulator's
/// memory).
pub trait FinalizedBlocks {
    /// The finalized block at `height`.
    fn block_at(&self, height: u64) -> Option<Block>;
    /// The encoded finality proof of the block at `height`.
    fn proof_at(&self, height: u64) -> Option<Vec<u8>>;
}

impl FinalizedBlocks for Store {
    fn block_at(&self, height: u64) -> Option<Block> {
        self.block_by_height(height)
            .inspect_err(|e| debug!("serving block {height}: {e}"))
            .ok()
            .flatten()
    }

    fn proof_at(&self, height: u64) -> Option<Vec<u8>> {
        self.certificate(height)
            .inspect_err(|e| debug!("serving the proof of block {height}: {e}"))
            .ok()
            .flatten()
    }
}

/// Finalized blocks with their proofs from height `from` (at most `max`, at most up to
/// `last`), stopping past [`SYNC_RESPONSE_SOFT_BYTES`]. A read that fails ends the answer
/// early: the asker asks again, and this node goes on.
pub fn finalized_blocks(
    store: &impl FinalizedBlocks,
    from: u64,
    max: u32,
    last: u64,
) -> Vec<FinalizedBlock> {
    let mut out = Vec::new();
    let mut size = 0usize;
    let end = last.min(
        from.saturating_add(u64::from(max.clamp(1, MAX_SYNC_BLOCKS)))
            .saturating_sub(1),
    );
    for h in from.max(1)..=end {
        let (Some(block), Some(proof)) = (store.block_at(h), store.proof_at(h)) else {
            break;
        };
        let bytes = block.txs.iter().map(|t| t.encoded_len()).sum::<usize>() + proof.len();
        // never past the hard size (under the asker's frame limit), whatever the size of
        // the block that would cross it; the first block always goes (one block is at most
        // `max_block_bytes`)
        if !out.is_empty() && size + bytes > SYNC_RESPONSE_HARD_BYTES {
            break;
        }
        size += bytes;
        let closes = FinalityProof::decode(&proof).map_or(true, |p| p.closes());
        out.push(FinalizedBlock { block, proof });
        // past the soft size, stop where the asker can commit: at a block finalized by its
        // own certificate (a run finalized by a descendant's certificate is committed
        // whole or not at all)
        if size > SYNC_RESPONSE_SOFT_BYTES && closes {
            break;
        }
    }
    out
}
