//! The validator: wires the consensus engine to the network, the mempool, execution and
//! the store. One task (the core) owns the engine and every piece of chain state; the
//! network, RPC and metrics run beside it and talk to it through channels and `Shared`.
//!
//! Flow of a block: the leader's engine asks for a payload → the core takes transactions
//! from the mempool, builds and executes the block on its parent's state, broadcasts it and
//! answers with its hash → other validators' engines ask to verify the proposal → the core
//! checks the header against the proposal and executes the block → votes → the engine
//! reports the block final → the core moves its chain forward in memory and the commit
//! thread writes the block with its finality proof (one synced RocksDB batch); RPC sees it
//! once it is on disk. Votes are appended to the safety log and fsynced before they leave.
//!
//! Sync: every node tells its peers its finalized height; a node that is behind fetches
//! finalized blocks with their finality proofs, checks the proof chain and certificates,
//! executes and commits them, then (re)starts its engine from the new head.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use consensus::{
    Action, Certificate, Certified, Digest, Ed25519Signer, Ed25519Verifier, Engine, Input, Message,
    Misbehavior, Proposal, TimerKind, ValidatorInfo, ValidatorSet, View,
};
use genesis::Genesis;
use ledger::{
    Block, BlockHeader, ChainParams, FastMap, Hash, Keypair, LedgerState, PublicKey, Receipt,
    Store, Validator,
};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::admission::Admission;
use crate::committer::{CommitJob, Committed, Committer};
use crate::config::Config;
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::p2p::{self, Command, Inbound, NetInfo};
use crate::pace::BlockPace;
use crate::safety_log::SafetyLog;
use crate::serve::{BlockCache, Server};
use crate::wire::{FinalityProof, FinalizedBlock, Request, Response};

/// The longest a timeout may grow to with backoff.
const MAX_TIMEOUT_MS: u64 = 30_000;
use crate::intake::{
    Intake, MAX_BLOCKS_AHEAD, MAX_PENDING_PER_PROPOSER, PROPOSAL_VIEWS_BEHIND, ProposalFacts,
};
/// Finalized blocks kept in memory to answer peers a little behind.
const RECENT_BLOCKS: u64 = 32;
/// Blocks asked for in one sync request.
const SYNC_BATCH: u32 = 128;
/// A block named by a proposal that has not arrived is asked for after this long: its
/// leader pushes it with the proposal, and the two may arrive in either order.
const FETCH_GRACE: Duration = Duration::from_millis(100);
/// An unanswered block request is sent again after this long…
const FETCH_RETRY: Duration = Duration::from_millis(1000);
/// …this many times at most.
const MAX_FETCH_ATTEMPTS: u32 = 30;
/// How long a block rebuilt from ids waits for admission to catch up before the leader is
/// asked for the transactions still missing.
const ADMISSION_WAIT: Duration = Duration::from_millis(50);
/// How long the height claims of a peer that did not deliver what it claimed are ignored.
const DEMOTION: Duration = Duration::from_secs(30);
/// How often the core retries block fetches that are due and updates the mempool gauge.
const HOUSEKEEPING: Duration = Duration::from_millis(20);

/// What RPC and metrics read: the last finalized state and a few live figures.
#[derive(Clone)]
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

/// State shared between the core, RPC and metrics.
pub struct Shared {
    /// The chain name from genesis.
    pub chain_name: String,
    /// Chain parameters (chain id, limits).
    pub params: ChainParams,
    /// The store (RocksDB is safe to read from any thread).
    pub store: Arc<Store>,
    /// The finalized view of the chain.
    pub chain: RwLock<ChainView>,
    /// The mempool.
    pub mempool: Mutex<Mempool>,
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
    pub included: Mutex<FastMap<Hash, Included>>,
    /// Hashrates miners reported (`mining_submitHashrate`): miner → (hashes/s, when).
    pub hashrates: Mutex<HashMap<ledger::PublicKey, (u64, std::time::Instant)>>,
    /// The way into the mempool for clients' and gossiped transactions.
    pub admission: Admission,
    /// The validators admitted client transactions are gossiped to (this epoch's and the
    /// next's, without this node); the core keeps it current.
    pub gossip_to: RwLock<Vec<PeerId>>,
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

/// Subscribers may fall this many events behind before they skip (they then re-read).
const EVENT_BUFFER: usize = 1024;

impl Shared {
    /// A snapshot of the chain view (cheap: the state tree is shared).
    pub fn chain(&self) -> ChainView {
        match self.chain.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The validators to gossip admitted client transactions to.
    pub fn gossip_targets(&self) -> Vec<PeerId> {
        match self.gossip_to.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Where a transaction sits in an executed, unfinalized block.
    pub fn included_at(&self, id: &Hash) -> Option<Included> {
        match self.included.lock() {
            Ok(m) => m.get(id).copied(),
            Err(p) => p.into_inner().get(id).copied(),
        }
    }

    /// Run `f` on the map of transactions in executed, unfinalized blocks.
    pub fn with_included<R>(&self, f: impl FnOnce(&mut FastMap<Hash, Included>) -> R) -> R {
        match self.included.lock() {
            Ok(mut m) => f(&mut m),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Lock the mempool (a poisoned lock is still usable: the pool has no invariants a
    /// panic mid-call could break beyond one entry).
    pub fn mempool(&self) -> std::sync::MutexGuard<'_, Mempool> {
        match self.mempool.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        }
    }
}

/// The current wall clock in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The consensus namespace of an epoch: binds votes to one chain and one epoch.
pub fn namespace(chain_id: &Hash, epoch: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("palisade/v1/consensus-namespace");
    h.update(chain_id.as_bytes());
    h.update(&epoch.to_le_bytes());
    *h.finalize().as_bytes()
}

fn digest(h: &Hash) -> Digest {
    Digest(h.0)
}

fn hash(d: &Digest) -> Hash {
    Hash(d.0)
}

/// The consensus validator set of ledger validators.
pub fn validator_set(validators: &[Validator]) -> Result<ValidatorSet> {
    ValidatorSet::new(
        validators
            .iter()
            .map(|v| ValidatorInfo {
                key: consensus::PublicKey(v.key.0),
                power: v.power,
            })
            .collect(),
    )
    .map_err(|e| anyhow!("validator set: {e}"))
}

/// A block executed on its parent's state.
struct Executed {
    block: Arc<Block>,
    state: LedgerState,
    receipts: Vec<Receipt>,
    changes: Vec<ledger::state::Change>,
}

impl Executed {
    fn new(block: Arc<Block>, outcome: ledger::BlockOutcome) -> Executed {
        Executed {
            block,
            state: outcome.state,
            receipts: outcome.receipts,
            changes: outcome.changes,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Engine {
        epoch: u64,
        view: View,
        kind: TimerKind,
    },
    Propose {
        epoch: u64,
        view: View,
    },
}

/// Results of background work, delivered to the core.
enum Event {
    Synced {
        peer: PeerId,
        result: Result<Vec<u8>, String>,
    },
    Fetched {
        hash: Hash,
        peer: PeerId,
        result: Result<Vec<u8>, String>,
    },
    /// The leader's answer to [`Request::GetTxs`] for a block being rebuilt from its ids.
    FetchedTxs {
        hash: Hash,
        result: Result<Vec<u8>, String>,
    },
    /// Admission has admitted every transaction queued when a block being rebuilt from its
    /// ids lacked some (see [`Core::on_block_ids`]).
    AdmissionCaughtUp { hash: Hash },
}

/// A proposed block being rebuilt from its transactions' leaves: the mempool had some of
/// them, the rest come from gossip still queued for admission or are asked of the leader.
struct Partial {
    header: BlockHeader,
    leaves: Vec<Hash>,
    txs: Vec<Option<ledger::SignedTransaction>>,
    /// Which slots were filled from the mempool (their signatures verified at admission).
    from_pool: Vec<bool>,
    /// The leader that sent the ids.
    leader: PeerId,
}

type NodeEngine = Engine<Ed25519Signer, Ed25519Verifier>;

struct Epoch {
    number: u64,
    engine: NodeEngine,
    set: ValidatorSet,
    validators: Vec<Validator>,
    peers: Vec<PeerId>,
    namespace: [u8; 32],
    log: SafetyLog,
}

/// Everything the core task owns.
struct Core {
    cfg: Config,
    genesis: Genesis,
    params: ChainParams,
    key: Keypair,
    my_peer: PeerId,
    data_dir: PathBuf,
    shared: Arc<Shared>,
    net: mpsc::Sender<Command>,
    events_tx: mpsc::Sender<Event>,
    // finalized chain (in memory; the store may be a few blocks behind)
    state: LedgerState,
    header: BlockHeader,
    proposal: Proposal,
    /// Writes finalized blocks to the store.
    committer: Committer,
    /// The finalized head on disk: what RPC and peers are shown.
    durable_state: LedgerState,
    durable_header: BlockHeader,
    // consensus
    epoch: Epoch,
    previous: Option<Epoch>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    pending_payload: Option<(u64, View, Proposal)>,
    pending_verify: Vec<Proposal>,
    finalize_queue: VecDeque<(Proposal, Certificate)>,
    pending_inputs: Vec<Input>,
    // blocks not yet final
    blocks: FastMap<Hash, Arc<Block>>,
    /// For blocks rebuilt from leaves: which transactions came from the mempool (verified
    /// at admission), so execution checks only the others' signatures.
    pool_known: FastMap<Hash, Vec<bool>>,
    /// What peers may ask for without a store read (served off this task): the blocks
    /// above and the last [`RECENT_BLOCKS`] finalized ones, so a validator a little behind
    /// still gets their transactions from memory (and before they reach the disk).
    cache: Arc<BlockCache>,
    /// The finalized height on disk, for the server.
    durable_height: Arc<std::sync::atomic::AtomicU64>,
    /// `palisade adversary` only (see [`Hooks::rewrite_proposal`]).
    rewrite_proposal: Option<ProposalHook>,
    executed: FastMap<Hash, Executed>,
    /// Blocks found to break the rules, with why. A header id names exactly one body (the
    /// tx root covers every signed byte, and bodies are checked against it on arrival), so
    /// this is a verdict on the block itself, never on someone's bad copy of it.
    invalid: FastMap<Hash, (u64, String)>,
    /// The proposal taken for each view of this epoch (one per view: a second, different
    /// one from the leader is equivocation evidence).
    proposed_in: std::collections::BTreeMap<View, Hash>,
    /// Blocks to ask peers for: when next, and how often asked so far.
    fetching: FastMap<Hash, (Instant, u32)>,
    partial: FastMap<Hash, Partial>,
    // sync
    /// Finalized heights peers claim, and when they said so. Claims only pick whom to ask
    /// for blocks (what is adopted is verified) and, from f+1 validators, say when this node
    /// is behind.
    peer_heights: HashMap<PeerId, (u64, Instant)>,
    /// Peers that claimed blocks and did not deliver them: their claims are ignored until
    /// then.
    demoted: HashMap<PeerId, Instant>,
    heard_status: bool,
    sync_inflight: Option<Instant>,
    head_height: u64,
    /// The highest block announced to subscribers.
    announced_head: u64,
    /// What consensus finalized lately: caps this node's proposals (see [`BlockPace`]).
    pace: BlockPace,
}

/// What `palisade adversary` changes in a node it runs as an attacker: the rest is the real
/// node, so honest peers see the real protocol.
#[derive(Default)]
pub struct Hooks {
    /// Given the network's command sender and the block cache, returns the sender the node
    /// uses instead (everything the node sends passes through it).
    #[allow(clippy::type_complexity)]
    pub wrap_net: Option<
        Box<dyn FnOnce(mpsc::Sender<Command>, Arc<BlockCache>) -> mpsc::Sender<Command> + Send>,
    >,
    /// The node stops when this turns true (besides SIGINT/SIGTERM).
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// Rewrites the transactions of this node's proposals, given the parent state; the
    /// block is built with every returned transaction taken as signed, so its header is
    /// consistent with whatever the hook put in.
    pub rewrite_proposal: Option<ProposalHook>,
}

/// See [`Hooks::rewrite_proposal`].
pub type ProposalHook = Box<
    dyn FnMut(&LedgerState, Vec<ledger::SignedTransaction>) -> Vec<ledger::SignedTransaction>
        + Send,
>;

/// Run a node from its home directory until SIGINT/SIGTERM.
pub async fn run(home: PathBuf, cfg: Config) -> Result<()> {
    run_with(home, cfg, Hooks::default()).await
}

/// [`run`], with an attacker's [`Hooks`].
pub async fn run_with(home: PathBuf, cfg: Config, hooks: Hooks) -> Result<()> {
    let genesis_path = Config::path(&home, &cfg.node.genesis_file);
    let genesis = Genesis::load(&genesis_path)
        .with_context(|| format!("loading genesis {}", genesis_path.display()))?;
    let key_path = Config::path(&home, &cfg.node.key_file);
    let key = genesis::read_key_file(&key_path)
        .with_context(|| format!("loading key {}", key_path.display()))?;
    let data_dir = Config::path(&home, &cfg.node.data_dir);
    let params = genesis.chain_params();
    let store = Arc::new(
        Store::open(&data_dir.join("db"), params.limits).with_context(|| {
            format!(
                "opening the store in {0} (if it is corrupt: stop the node, move {0}/db \
                     aside, and start it again to sync the chain from its peers)",
                data_dir.display()
            )
        })?,
    );
    match store.chain_id()? {
        None => {
            store.init_genesis(&genesis.genesis_block(), &genesis.initial_state())?;
            info!(chain_id = %params.chain_id, "store initialized from genesis");
        }
        Some(id) if id != params.chain_id => bail!(
            "the store in {} belongs to chain {id}, genesis says {}",
            data_dir.display(),
            params.chain_id
        ),
        Some(_) => {}
    }
    let (state, header) = store.load_state().context("loading the finalized state")?;
    let proposal = if header.height == 0 {
        Proposal::genesis(digest(&header.id()))
    } else {
        let raw = store
            .certificate(header.height)?
            .ok_or_else(|| anyhow!("no finality proof stored for height {}", header.height))?;
        FinalityProof::decode(&raw)
            .map_err(|e| anyhow!("finality proof at height {}: {e}", header.height))?
            .proposal
    };
    info!(height = header.height, state_root = %header.state_root, key = %key.public().to_hex(), "node starting");

    let metrics = Metrics::new();
    let net_info = Arc::new(NetInfo::default());
    let ready = Arc::new(AtomicBool::new(false));
    let my_peer =
        p2p::peer_id_of(&key.public()).ok_or_else(|| anyhow!("node key is not ed25519"))?;
    let listen: Multiaddr = cfg
        .p2p
        .listen
        .parse()
        .with_context(|| format!("p2p.listen {:?}", cfg.p2p.listen))?;
    let mut extra = Vec::new();
    for p in &cfg.p2p.peers {
        extra.push(
            p.parse::<Multiaddr>()
                .with_context(|| format!("p2p.peers entry {p:?}"))?,
        );
    }
    let (net, queues) = p2p::spawn(
        p2p::P2pConfig {
            secret: key.secret(),
            listen,
            peers: extra,
            allow_observers: cfg.p2p.allow_observers,
            max_observers: cfg.p2p.max_observers,
            max_observers_per_ip: cfg.p2p.max_observers_per_ip,
            ban_score: cfg.p2p.ban_score,
            ban: Duration::from_secs(cfg.p2p.ban_seconds),
            never_read: false,
        },
        metrics.clone(),
        net_info.clone(),
    )?;
    let cache = Arc::new(BlockCache::default());
    let net = match hooks.wrap_net {
        Some(wrap) => wrap(net, cache.clone()),
        None => net,
    };

    let (admission, admission_queue) = Admission::channel();
    let shared = Arc::new(Shared {
        chain_name: genesis.chain_name.clone(),
        params: params.clone(),
        store: store.clone(),
        chain: RwLock::new(ChainView {
            state: state.clone(),
            header: header.clone(),
            head_height: header.height,
            view: 0,
            epoch: 0,
            validators: state.system.validators.clone(),
            is_validator: false,
            best_peer_height: 0,
        }),
        mempool: Mutex::new(Mempool::new(
            cfg.mempool.max_txs,
            cfg.mempool.max_per_sender,
        )),
        ready: ready.clone(),
        net: net_info,
        metrics: metrics.clone(),
        genesis_hash: store
            .header_by_height(0)?
            .ok_or_else(|| anyhow!("no genesis block in the store"))?
            .id(),
        events: tokio::sync::broadcast::channel(EVENT_BUFFER).0,
        included: Mutex::new(FastMap::default()),
        hashrates: Mutex::new(HashMap::new()),
        admission,
        gossip_to: RwLock::new(Vec::new()),
    });
    Admission::start(admission_queue, &shared, net.clone())
        .context("starting the admission thread")?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let rpc_handle = crate::rpc_server::start(&cfg.rpc, shared.clone()).await?;
    let metrics_addr = cfg.metrics.listen;
    let mut stop_metrics = stop_rx.clone();
    let metrics_task = tokio::spawn(crate::metrics::serve(
        metrics_addr,
        metrics.clone(),
        ready.clone(),
        async move {
            let _ = stop_metrics.wait_for(|s| *s).await;
        },
    ));

    let durable_height = Arc::new(std::sync::atomic::AtomicU64::new(header.height));
    tokio::spawn(
        Server {
            store: store.clone(),
            cache: cache.clone(),
            limits: params.limits,
            net: net.clone(),
            metrics: metrics.clone(),
            durable_height: durable_height.clone(),
        }
        .run(queues.requests),
    );
    let (events_tx, events_rx) = mpsc::channel(1024);
    let (committer, committed) = Committer::start(store.clone(), metrics.clone())?;
    let epoch = open_epoch(&genesis, &params, &key, &data_dir, &state, proposal, None)?;
    let mut core = Core {
        cfg,
        genesis,
        params,
        key,
        my_peer,
        data_dir,
        shared: shared.clone(),
        net,
        events_tx,
        head_height: header.height,
        announced_head: header.height,
        pace: BlockPace::new(),
        committer,
        durable_state: state.clone(),
        durable_header: header.clone(),
        state,
        header,
        proposal,
        epoch,
        previous: None,
        timers: BinaryHeap::new(),
        pending_payload: None,
        pending_verify: Vec::new(),
        finalize_queue: VecDeque::new(),
        pending_inputs: Vec::new(),
        blocks: FastMap::default(),
        pool_known: FastMap::default(),
        cache,
        durable_height,
        rewrite_proposal: hooks.rewrite_proposal,
        executed: FastMap::default(),
        invalid: FastMap::default(),
        proposed_in: std::collections::BTreeMap::new(),
        fetching: FastMap::default(),
        partial: FastMap::default(),
        peer_heights: HashMap::new(),
        demoted: HashMap::new(),
        heard_status: false,
        sync_inflight: None,
    };
    let result = core
        .run(
            queues.priority,
            queues.bulk,
            events_rx,
            committed,
            hooks.stop,
        )
        .await;
    // the finalized blocks still queued reach the disk before the process ends
    if let Some(t) = core.committer.stop() {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    let _ = stop_tx.send(true);
    let _ = rpc_handle.stop();
    rpc_handle.stopped().await;
    match metrics_task.await {
        Ok(Err(e)) => warn!("metrics server: {e:#}"),
        Err(e) => warn!("metrics server task: {e}"),
        Ok(Ok(())) => {}
    }
    drop(core);
    drop(shared);
    match &result {
        Ok(()) => info!("node stopped cleanly"),
        Err(e) => error!("node stopped: {e:#}"),
    }
    result
}

/// The engine settings of epoch `number` (timeouts from genesis).
fn engine_config(genesis: &Genesis, namespace: [u8; 32], number: u64) -> consensus::Config {
    let c = &genesis.consensus;
    consensus::Config {
        namespace,
        leader_timeout_ms: c.leader_timeout_ms,
        notarization_timeout_ms: c.notarization_timeout_ms,
        nullify_retry_ms: c.nullify_retry_ms,
        timeout_backoff_percent: c.timeout_backoff_percent,
        max_timeout_ms: MAX_TIMEOUT_MS,
        last_height: (number + 1).saturating_mul(c.epoch_length.max(1)),
        disabled_rule: None,
    }
}

fn open_epoch(
    genesis: &Genesis,
    params: &ChainParams,
    key: &Keypair,
    data_dir: &std::path::Path,
    state: &LedgerState,
    finalized: Proposal,
    safety: Option<consensus::SafetyState>,
) -> Result<Epoch> {
    let e = genesis.consensus.epoch_length.max(1);
    let number = state.height / e;
    let validators = state.system.validators.clone();
    let set = validator_set(&validators)?;
    let ns = namespace(&params.chain_id, number);
    let (log, stored) = SafetyLog::open(&data_dir.join("safety"), number)?;
    let cfg = engine_config(genesis, ns, number);
    let engine = Engine::new(
        cfg,
        set.clone(),
        Ed25519Signer::from_secret(key.secret()),
        Ed25519Verifier,
        safety.unwrap_or(stored),
        finalized,
    );
    // positions must match the validator set's indices (votes and reports are by index):
    // a key that is no libp2p identity gets a placeholder no connection can match
    let peers = validators
        .iter()
        .map(|v| {
            p2p::peer_id_of(&v.key).unwrap_or_else(|| {
                warn!(key = %v.key, "validator key is not a libp2p identity: it cannot connect");
                PeerId::random()
            })
        })
        .collect();
    Ok(Epoch {
        number,
        engine,
        set,
        validators,
        peers,
        namespace: ns,
        log,
    })
}

impl Core {
    async fn run(
        &mut self,
        mut priority: mpsc::Receiver<Inbound>,
        mut bulk: mpsc::Receiver<Inbound>,
        mut events: mpsc::Receiver<Event>,
        mut committed: mpsc::UnboundedReceiver<Committed>,
        stop: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Result<()> {
        let (_never, no_stop) = tokio::sync::watch::channel(false);
        let mut stop = stop.unwrap_or(no_stop);
        self.announce_validators();
        self.drive(Some(Input::Start))?;
        self.publish();
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        let mut status = tokio::time::interval(Duration::from_millis(
            self.cfg.consensus.status_interval_ms.max(50),
        ));
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            let next_timer = self
                .timers
                .peek()
                .map(|Reverse((at, _))| *at)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            // validators' consensus messages and proposals first; observers' traffic last
            tokio::select! {
                biased;
                msg = priority.recv() => match msg {
                    Some(m) => self.on_inbound(m)?,
                    None => bail!("network task stopped"),
                },
                ev = events.recv() => if let Some(ev) = ev { self.on_event(ev)? },
                c = committed.recv() => match c {
                    Some(c) => self.on_committed(c)?,
                    None => bail!("the commit thread stopped"),
                },
                _ = tokio::time::sleep_until(next_timer.into()) => self.fire_timers()?,
                _ = housekeeping.tick() => {
                    let size = self.shared.mempool().len();
                    self.shared.metrics.mempool_size.set(size as i64);
                    self.send_fetches();
                }
                _ = status.tick() => self.status_tick()?,
                _ = tokio::signal::ctrl_c() => { info!("SIGINT: shutting down"); return Ok(()); }
                _ = sigterm.recv() => { info!("SIGTERM: shutting down"); return Ok(()); }
                Ok(_) = stop.wait_for(|s| *s) => { info!("stop requested: shutting down"); return Ok(()); }
                msg = bulk.recv() => match msg {
                    Some(m) => self.on_inbound(m)?,
                    None => bail!("network task stopped"),
                },
            }
        }
    }

    // ---------------------------------------------------------------- engine driving

    fn drive(&mut self, first: Option<Input>) -> Result<()> {
        let mut queue: VecDeque<Input> = first.into_iter().collect();
        loop {
            while let Some(input) = queue.pop_front() {
                let actions = self.epoch.engine.handle(input);
                for a in actions {
                    self.act(a, &mut queue)?;
                }
            }
            let more = self.progress()?;
            if more.is_empty() {
                break;
            }
            queue.extend(more);
        }
        let view = self.epoch.engine.view();
        self.shared.metrics.view.set(view as i64);
        Ok(())
    }

    fn act(&mut self, action: Action, queue: &mut VecDeque<Input>) -> Result<()> {
        let epoch = self.epoch.number;
        if matches!(
            action,
            Action::Broadcast(_) | Action::Send { .. } | Action::Fetch { .. }
        ) && !self.is_validator()
        {
            // an observer's engine has nothing to say: validators refuse its messages
            return Ok(());
        }
        match action {
            Action::Persist(vote) => {
                self.epoch.log.append(&vote)?;
                queue.push_back(Input::Persisted(vote));
            }
            Action::Broadcast(message) => {
                let bytes = Request::Consensus { epoch, message }.encode();
                let to: Vec<PeerId> = self.other_validators();
                self.send(Command::Broadcast { to, bytes });
            }
            Action::Send { to, message } => {
                if let Some(peer) = self.epoch.peers.get(to as usize).copied() {
                    let bytes = Request::Consensus { epoch, message }.encode();
                    self.send(Command::Send { to: peer, bytes });
                }
            }
            Action::SetTimer {
                view,
                kind,
                after_ms,
            } => self.timers.push(Reverse((
                Instant::now() + Duration::from_millis(after_ms),
                Timer::Engine { epoch, view, kind },
            ))),
            Action::RequestPayload { view, parent } => {
                debug!(view, parent_view = parent.view, "payload requested");
                self.pending_payload = Some((epoch, view, parent));
                let parent_ts = self
                    .block_header(&hash(&parent.payload))
                    .map_or(0, |h| h.timestamp_ms);
                let full = self.shared.mempool().len() >= self.cfg.consensus.max_block_txs;
                let at_ms = if full {
                    0
                } else {
                    parent_ts + self.cfg.consensus.min_block_interval_ms
                };
                // A parent stamped in the future (a byzantine leader may stamp up to the
                // 10 s tolerance ahead) must not stall this proposer: wait at most one
                // interval; the builder stamps the block after its parent anyway.
                let wait = at_ms
                    .saturating_sub(now_ms())
                    .min(self.cfg.consensus.min_block_interval_ms);
                self.timers.push(Reverse((
                    Instant::now() + Duration::from_millis(wait),
                    Timer::Propose { epoch, view },
                )));
            }
            Action::Verify(p) => self.pending_verify.push(p),
            Action::Finalized {
                proposal,
                certificate,
            } => self.finalize_queue.push_back((proposal, certificate)),
            Action::EpochEnded { last } => {
                debug!(
                    height = last.height,
                    "engine reports the epoch's last block final"
                );
            }
            Action::Misbehaved { from, what } => {
                if let Some(peer) = self.epoch.peers.get(from as usize).copied() {
                    self.misbehaved(peer, from, epoch, what);
                }
            }
            Action::Fetch { view } => {
                let bytes = Request::Consensus {
                    epoch,
                    message: Message::Request { view },
                }
                .encode();
                let to = self.epoch.peers.clone();
                self.send(Command::Broadcast { to, bytes });
            }
        }
        Ok(())
    }

    /// Work that may have become possible: verifications, commits, an epoch change.
    /// Returns inputs for the engine.
    fn progress(&mut self) -> Result<Vec<Input>> {
        let mut out = std::mem::take(&mut self.pending_inputs);
        let pending = std::mem::take(&mut self.pending_verify);
        for p in pending {
            match self.check_proposal(&p) {
                Some(valid) => out.push(Input::Verified { proposal: p, valid }),
                None => self.pending_verify.push(p),
            }
        }
        self.try_commit()?;
        out.append(&mut self.pending_inputs);
        Ok(out)
    }

    fn fire_timers(&mut self) -> Result<()> {
        let now = Instant::now();
        let mut inputs = Vec::new();
        while let Some(Reverse((at, t))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match t {
                Timer::Engine { epoch, view, kind } if epoch == self.epoch.number => {
                    if view == self.epoch.engine.view() {
                        // the engine votes to skip the view (or re-sends its votes)
                        let leader = self.epoch.set.leader(view);
                        info!(view, leader, ?kind, "view timed out");
                    }
                    inputs.push(Input::Timeout { view, kind });
                }
                Timer::Propose { epoch, view } if epoch == self.epoch.number => {
                    if let Some(input) = self.propose(view)? {
                        inputs.push(input);
                    }
                }
                _ => {}
            }
        }
        for i in inputs {
            self.drive(Some(i))?;
        }
        self.send_fetches();
        Ok(())
    }

    // ---------------------------------------------------------------- blocks

    fn block_header(&self, h: &Hash) -> Option<BlockHeader> {
        if *h == self.header.id() {
            return Some(self.header.clone());
        }
        self.blocks.get(h).map(|b| b.header.clone())
    }

    /// The state after block `h` and its header, executing it (and unexecuted ancestors)
    /// if needed; `None` if a block is missing (it is requested) or invalid.
    fn ensure_executed(&mut self, h: Hash) -> Option<(LedgerState, BlockHeader)> {
        if h == self.header.id() {
            return Some((self.state.clone(), self.header.clone()));
        }
        if let Some(e) = self.executed.get(&h) {
            return Some((e.state.clone(), e.block.header.clone()));
        }
        if self.invalid.contains_key(&h) {
            return None;
        }
        let Some(block) = self.blocks.get(&h).cloned() else {
            self.request_block(h);
            return None;
        };
        if block.header.height <= self.header.height {
            return None; // on a branch below the finalized head
        }
        let (prev, parent) = self.ensure_executed(block.header.parent)?;
        let t = Instant::now();
        let known = match self.pool_known.remove(&h) {
            Some(k) => {
                let unknown = k.iter().filter(|k| !**k).count();
                self.shared
                    .metrics
                    .block_signatures_verified
                    .inc_by(unknown as u64);
                k
            }
            None => self.known_signatures(&block.txs),
        };
        match ledger::verify_block_with(&self.params, &prev, &parent, &block, &known) {
            Ok(outcome) => {
                let took = t.elapsed();
                self.shared
                    .metrics
                    .verify_seconds
                    .observe(took.as_secs_f64());
                debug!(
                    height = block.header.height,
                    txs = block.txs.len(),
                    ms = took.as_millis() as u64,
                    "block executed"
                );
                let state = outcome.state.clone();
                self.executed
                    .insert(h, Executed::new(block.clone(), outcome));
                self.announce_head(&block);
                Some((state, block.header.clone()))
            }
            Err(e) => {
                // the body is the one the header commits to (checked on arrival): the
                // block itself breaks the rules
                warn!(block = %h, height = block.header.height, proposer = %block.header.proposer, "invalid block: {e}");
                self.invalid.insert(h, (block.header.height, e.to_string()));
                self.blocks.remove(&h);
                self.cache.remove(&h);
                None
            }
        }
    }

    /// For each transaction of a block, whether this node has verified its signature: the
    /// mempool admits only transactions whose signatures verified, so one held there with
    /// the same leaf (every signed byte) needs no second check. Counts the rest.
    fn known_signatures(&self, txs: &[ledger::SignedTransaction]) -> Vec<bool> {
        let known: Vec<bool> = {
            let mp = self.shared.mempool();
            txs.iter()
                .map(|t| mp.get_by_leaf(&t.leaf()).is_some())
                .collect()
        };
        let unknown = known.iter().filter(|k| !**k).count();
        self.shared
            .metrics
            .block_signatures_verified
            .inc_by(unknown as u64);
        known
    }

    /// `Some(valid)` once decidable, `None` while a block is missing. A proposal that does
    /// not fit its block (height, parent, proposer) or whose timestamp is ahead of this
    /// node's clock gets no vote, but only a block that breaks the rules is recorded as
    /// invalid: the same block may be proposed properly elsewhere, and a quorum may finalize
    /// it whatever this node's clock says.
    fn check_proposal(&mut self, p: &Proposal) -> Option<bool> {
        let h = hash(&p.payload);
        if self.invalid.contains_key(&h) {
            return Some(false);
        }
        let Some(block) = self.blocks.get(&h).cloned() else {
            self.request_block(h);
            return None;
        };
        let Some(parent) = self.epoch.engine.known_proposal(&p.parent) else {
            return Some(false);
        };
        let leader = self.epoch.set.leader(p.view);
        let leader_key = self.epoch.set.get(leader).map(|v| PublicKey(v.key.0));
        let hd = &block.header;
        let problem = if hd.height != p.height {
            Some("height differs from the proposal's")
        } else if hd.parent != hash(&parent.payload) {
            Some("parent differs from the proposal's parent")
        } else if Some(hd.proposer) != leader_key {
            Some("proposer is not the view's leader")
        } else if hd.timestamp_ms > now_ms() + 10_000 {
            Some("timestamp more than 10 s in the future")
        } else {
            None
        };
        if let Some(why) = problem {
            warn!(block = %h, view = p.view, "no vote for the proposal: {why}");
            return Some(false);
        }
        match self.ensure_executed(h) {
            Some(_) => Some(true),
            None if self.invalid.contains_key(&h) => {
                // the leader signed a proposal naming a block that breaks the rules: proof
                // of misbehaviour (its signature binds it to exactly this block)
                self.shared.metrics.invalid_proposals.inc();
                if let Some(peer) = self.epoch.peers.get(leader as usize).copied() {
                    self.penalize(peer, 50, "proposed a block that breaks the rules");
                }
                Some(false)
            }
            None => None,
        }
    }

    fn propose(&mut self, view: View) -> Result<Option<Input>> {
        let Some((epoch, v, parent)) = self.pending_payload else {
            return Ok(None);
        };
        if epoch != self.epoch.number || v != view || self.epoch.engine.view() != view {
            return Ok(None);
        }
        let parent_hash = hash(&parent.payload);
        let Some((prev, parent_header)) = self.ensure_executed(parent_hash) else {
            debug!(view, parent = %parent_hash, "proposal waits for its parent block");
            // missing parent: try again shortly
            self.timers.push(Reverse((
                Instant::now() + Duration::from_millis(100),
                Timer::Propose { epoch, view },
            )));
            return Ok(None);
        };
        self.pending_payload = None;
        // alone, nobody needs time to receive our clients' transactions
        let settle = if self.epoch.peers.len() > 1 {
            Duration::from_millis(self.cfg.consensus.settle_ms)
        } else {
            Duration::ZERO
        };
        let cap = self
            .pace
            .cap(self.block_interval(), self.cfg.consensus.max_block_txs);
        let mut txs = self.shared.mempool().select(&prev, cap, settle);
        if let Some(rewrite) = self.rewrite_proposal.as_mut() {
            txs = rewrite(&prev, txs);
        }
        let ts = now_ms().max(parent_header.timestamp_ms + 1);
        // the pool holds only transactions whose signatures verified at admission
        let known = vec![true; txs.len()];
        let (block, outcome) = ledger::build_block_with(
            &self.params,
            &prev,
            &parent_header,
            ts,
            self.key.public(),
            txs,
            &known,
        );
        let block = Arc::new(block);
        let id = block.id();
        debug!(
            height = block.header.height,
            view,
            txs = block.txs.len(),
            "proposing"
        );
        self.proposed_in.insert(view, id);
        self.head_height = self.head_height.max(block.header.height);
        self.blocks.insert(id, block.clone());
        self.cache.insert(block.clone());
        self.executed
            .insert(id, Executed::new(block.clone(), outcome));
        self.announce_head(&block);
        // The validators hold the transactions from gossip (admission sends a client's
        // transaction on before answering): send them the header and the leaves (32 bytes a
        // transaction instead of ~200); what a validator lacks it asks for
        // (`Request::GetTxs`).
        let bytes = Request::ProposedBlock {
            epoch,
            view,
            header: block.header.clone(),
            leaves: block
                .txs
                .iter()
                .map(ledger::SignedTransaction::leaf)
                .collect(),
        }
        .encode();
        let to: Vec<PeerId> = self.other_validators();
        self.send(Command::Broadcast { to, bytes });
        Ok(Some(Input::Payload {
            view,
            payload: digest(&id),
        }))
    }

    /// `consensus.min_block_interval_ms`.
    fn block_interval(&self) -> Duration {
        Duration::from_millis(self.cfg.consensus.min_block_interval_ms)
    }

    /// A block was executed: its transactions are now `included`, and a block above every
    /// earlier one is a new head for subscribers.
    fn announce_head(&mut self, block: &Arc<Block>) {
        let id = block.id();
        let height = block.header.height;
        self.shared.with_included(|m| {
            for (i, t) in block.txs.iter().enumerate() {
                m.insert(
                    t.id(),
                    Included {
                        height,
                        block: id,
                        index: i as u32,
                        leaf: t.leaf(),
                    },
                );
            }
        });
        if height > self.announced_head {
            self.announced_head = height;
            let _ = self.shared.events.send(ChainEvent::NewHead(block.clone()));
        }
    }

    /// Ask the other validators for block `h`, unless it is on its way: first after
    /// [`FETCH_GRACE`] (the leader's push may still arrive), then every [`FETCH_RETRY`].
    fn request_block(&mut self, h: Hash) {
        if self.fetching.contains_key(&h) || self.partial.contains_key(&h) {
            return;
        }
        self.fetching.insert(h, (Instant::now() + FETCH_GRACE, 0));
    }

    /// Send the block requests that are due.
    fn send_fetches(&mut self) {
        let now = Instant::now();
        let due: Vec<(Hash, u32)> = self
            .fetching
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(h, (_, n))| (*h, *n))
            .collect();
        for (h, asked) in due {
            // a block nobody serves (a branch that lost) is asked for again only when a
            // proposal or a child names it again
            if self.blocks.contains_key(&h) || asked >= MAX_FETCH_ATTEMPTS {
                self.fetching.remove(&h);
            } else if !self.partial.contains_key(&h) {
                self.fetching.insert(h, (now + FETCH_RETRY, asked + 1));
                self.fetch_now(h);
            }
        }
    }

    fn fetch_now(&mut self, h: Hash) {
        self.shared.metrics.blocks_fetched.inc();
        let bytes = Request::GetBlock { hash: h }.encode();
        let peers: Vec<PeerId> = self.other_validators();
        for peer in peers {
            self.ask(peer, bytes.clone(), move |result| Event::Fetched {
                hash: h,
                peer,
                result,
            });
        }
    }

    /// Send request `bytes` to `to`; the answer, or why there is none, comes back to the
    /// core as the event `on_answer` makes of it.
    fn ask(
        &self,
        to: PeerId,
        bytes: Vec<u8>,
        on_answer: impl FnOnce(Result<Vec<u8>, String>) -> Event + Send + 'static,
    ) {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Request {
            to,
            bytes,
            reply: tx,
        });
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let result = rx.await.unwrap_or_else(|_| Err("network stopped".into()));
            let _ = events.send(on_answer(result)).await;
        });
    }

    /// A proposal pushed by its leader: the header and its transactions' leaves. Taken only
    /// from the leader of `view` in this epoch, for a view near the engine's, one per view
    /// (a second, different one is equivocation evidence), within the proposer's share of
    /// the pool; rebuilt from the mempool, and what it lacks asked of the leader.
    fn on_proposed_block(
        &mut self,
        peer: PeerId,
        epoch: u64,
        view: View,
        header: BlockHeader,
        leaves: Vec<Hash>,
    ) -> Result<()> {
        let leader = self.epoch.set.leader(view);
        let leader_key = self.epoch.set.get(leader).map(|v| PublicKey(v.key.0));
        let h = header.id();
        let facts = ProposalFacts {
            this_epoch: epoch == self.epoch.number,
            sender_leads: self.epoch.peers.get(leader as usize) == Some(&peer),
            proposer_leads: Some(header.proposer) == leader_key,
            view,
            current_view: self.epoch.engine.view(),
            leaves_match: ledger::hash::list_root(&leaves) == header.tx_root,
            id: h,
            earlier: self.proposed_in.get(&view).copied(),
            height: header.height,
            finalized_height: self.header.height,
            known: self.blocks.contains_key(&h)
                || self.partial.contains_key(&h)
                || self.invalid.contains_key(&h),
            pending_of_proposer: self.pending_of(&header.proposer),
        };
        match crate::intake::judge(&facts) {
            Intake::Take => {}
            Intake::Ignore(why) => {
                debug!(%peer, view, "proposal ignored: {why}");
                return Ok(());
            }
            Intake::Refuse(why) => {
                self.refuse(peer, why);
                return Ok(());
            }
            Intake::Equivocation(first) => {
                self.equivocation(peer, view, first, h);
                return Ok(());
            }
        }
        self.proposed_in.insert(view, h);
        let txs: Vec<Option<ledger::SignedTransaction>> = {
            let mp = self.shared.mempool();
            leaves.iter().map(|l| mp.get_by_leaf(l).cloned()).collect()
        };
        let lacking = txs.iter().filter(|t| t.is_none()).count();
        debug!(
            height = header.height,
            view,
            txs = leaves.len(),
            lacking,
            "proposal from the leader"
        );
        let from_pool: Vec<bool> = txs.iter().map(Option::is_some).collect();
        if lacking == 0 {
            return self.add_rebuilt(peer, header, txs, from_pool);
        }
        // Gossip reaches a validator before the block that carries it (one connection, in
        // order) but may still wait in the admission queue: let admission catch up (at most
        // ADMISSION_WAIT), then ask the leader only for what is still missing.
        self.partial.insert(
            h,
            Partial {
                header,
                leaves,
                txs,
                from_pool,
                leader: peer,
            },
        );
        let admission = self.shared.admission.clone();
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            // a stopped admission thread means shutdown: the event is harmless then; an
            // admission queue far behind must not hold up the vote
            let _ = tokio::time::timeout(ADMISSION_WAIT, admission.barrier()).await;
            let _ = events.send(Event::AdmissionCaughtUp { hash: h }).await;
        });
        Ok(())
    }

    /// How many unfinalized blocks of `proposer` the pool holds (whole or being rebuilt).
    fn pending_of(&self, proposer: &PublicKey) -> usize {
        self.blocks
            .values()
            .filter(|b| b.header.proposer == *proposer)
            .count()
            + self
                .partial
                .values()
                .filter(|p| p.header.proposer == *proposer)
                .count()
    }

    /// A leader sent two different proposals for one view: evidence, logged once per view,
    /// counted, and the sender penalized. The first proposal stays the one taken.
    fn equivocation(&mut self, peer: PeerId, view: View, first: Hash, second: Hash) {
        self.shared.metrics.equivocations.inc();
        warn!(%peer, view, %first, %second, epoch = self.epoch.number, "equivocation: the leader proposed two different blocks for one view");
        self.penalize(
            peer,
            50,
            "equivocation: two different proposals for one view",
        );
    }

    /// Admission caught up for a block being rebuilt: take what gossip brought from the
    /// mempool, ask the leader for the rest.
    fn on_admission_caught_up(&mut self, h: Hash) -> Result<()> {
        let Some(part) = self.partial.get_mut(&h) else {
            return Ok(());
        };
        let missing: Vec<u32> = {
            let mp = self.shared.mempool();
            part.txs
                .iter_mut()
                .zip(&part.leaves)
                .zip(part.from_pool.iter_mut())
                .enumerate()
                .filter_map(|(i, ((slot, leaf), pooled))| {
                    if slot.is_none() {
                        *slot = mp.get_by_leaf(leaf).cloned();
                        *pooled = slot.is_some();
                    }
                    slot.is_none().then_some(i as u32)
                })
                .collect()
        };
        debug!(
            height = part.header.height,
            missing = missing.len(),
            "admission caught up"
        );
        if missing.is_empty() {
            let Some(part) = self.partial.remove(&h) else {
                return Ok(());
            };
            return self.add_rebuilt(part.leader, part.header, part.txs, part.from_pool);
        }
        self.shared
            .metrics
            .block_txs_fetched
            .inc_by(missing.len() as u64);
        let leader = part.leader;
        let bytes = Request::GetTxs {
            block: h,
            indices: missing,
        }
        .encode();
        self.ask(leader, bytes, move |result| Event::FetchedTxs {
            hash: h,
            result,
        });
        Ok(())
    }

    /// The leader's answer for a block being rebuilt: each transaction must be the one its
    /// leaf names; complete the block, or (a short or wrong answer) ask for it whole.
    fn on_fetched_txs(&mut self, h: Hash, result: Result<Vec<u8>, String>) -> Result<()> {
        let Some(mut part) = self.partial.remove(&h) else {
            return Ok(());
        };
        let got = match result.map(|b| Response::decode(&b, self.params.limits)) {
            Ok(Ok(Response::Txs(txs))) => txs,
            _ => Vec::new(),
        };
        let mut got = got.into_iter();
        let mut lied = false;
        for (slot, leaf) in part.txs.iter_mut().zip(&part.leaves) {
            if slot.is_none() {
                match got.next() {
                    Some(t) if t.leaf() == *leaf => *slot = Some(t),
                    Some(_) => {
                        lied = true;
                        break;
                    }
                    None => break,
                }
            }
        }
        if lied {
            self.shared.metrics.bodies_refused.inc();
            self.penalize(
                part.leader,
                25,
                "answered GetTxs with transactions its proposal does not name",
            );
        }
        if part.txs.iter().any(Option::is_none) {
            debug!(block = %h, "leader did not supply the block's transactions: fetching it whole");
            self.fetching.insert(h, (Instant::now() + FETCH_RETRY, 1));
            self.fetch_now(h);
            return Ok(());
        }
        self.add_rebuilt(part.leader, part.header, part.txs, part.from_pool)
    }

    /// A block rebuilt from leaves with every transaction found: add it and go on.
    /// `from_pool` says which transactions came from the mempool (already verified).
    fn add_rebuilt(
        &mut self,
        from: PeerId,
        header: BlockHeader,
        txs: Vec<Option<ledger::SignedTransaction>>,
        from_pool: Vec<bool>,
    ) -> Result<()> {
        let block = Block {
            header,
            txs: txs.into_iter().flatten().collect(),
        };
        let h = block.id();
        if self.add_block(from, block) {
            self.pool_known.insert(h, from_pool);
            self.drive(None)?;
        }
        Ok(())
    }

    /// Put a block `from` sent (or rebuilt from what it sent) into the pool. Its body must be
    /// the one its header commits to: another body is `from`'s lie or corruption, refused
    /// and penalized, and the header is not judged by it. A block this node asked for by
    /// hash (`fetching`) is taken whoever proposed it; an unasked one only within its
    /// proposer's share of the pool.
    fn add_block(&mut self, from: PeerId, block: Block) -> bool {
        let h = block.id();
        let height = block.header.height;
        if height <= self.header.height
            || height > self.header.height + MAX_BLOCKS_AHEAD
            || self.blocks.contains_key(&h)
            || self.invalid.contains_key(&h)
        {
            return false;
        }
        if !block.body_matches_header() {
            self.shared.metrics.bodies_refused.inc();
            self.penalize(from, 25, "a block body its header does not commit to");
            return false;
        }
        let asked = self.fetching.contains_key(&h);
        if !asked && self.pending_of(&block.header.proposer) >= MAX_PENDING_PER_PROPOSER {
            return false;
        }
        self.head_height = self.head_height.max(height);
        self.fetching.remove(&h);
        let block = Arc::new(block);
        self.cache.insert(block.clone());
        self.blocks.insert(h, block);
        true
    }

    // ---------------------------------------------------------------- commit

    fn try_commit(&mut self) -> Result<()> {
        while let Some((p, _)) = self.finalize_queue.front() {
            let p = *p;
            if p.height <= self.header.height {
                self.finalize_queue.pop_front();
                continue;
            }
            let h = hash(&p.payload);
            if self.ensure_executed(h).is_none() {
                if let Some((_, why)) = self.invalid.get(&h) {
                    // The body checked is the one the certified header commits to, so this is
                    // not a bad copy: the finalized block itself breaks this node's rules.
                    bail!(
                        "a quorum finalized block {h} at height {}, which breaks the rules: {why}. \
                         Either more than a third of the voting power is faulty, or this node runs \
                         other rules than the quorum (check the binary version and the genesis). \
                         Refusing to continue.",
                        p.height
                    );
                }
                break;
            }
            let Some(ex) = self.executed.remove(&h) else {
                break;
            };
            if ex.block.header.parent != self.header.id() {
                bail!(
                    "finalized block {h} at height {} does not extend the finalized head",
                    p.height
                );
            }
            let Some((p, cert)) = self.finalize_queue.pop_front() else {
                break;
            };
            // blocks finalized by consensus pace this node's proposals (synced ones, final
            // long ago, do not)
            self.pace.finalized(
                Instant::now(),
                ex.block.txs.len(),
                self.block_interval(),
                self.cfg.consensus.max_block_txs,
            );
            self.commit(
                ex,
                FinalityProof {
                    proposal: p,
                    certificate: cert,
                },
            )?;
        }
        Ok(())
    }

    /// Finalize a block in memory and queue it for the store (see [`Committer`]): the
    /// next views build on it at once; RPC and subscribers hear of it once it is on disk
    /// ([`Core::on_committed`]).
    fn commit(&mut self, ex: Executed, proof: FinalityProof) -> Result<()> {
        let height = ex.block.header.height;
        self.shared.mempool().finalized(&ex.block.txs, &ex.state);
        let governance = ex.state.system.pending_changes != self.state.system.pending_changes;
        self.state = ex.state.clone();
        self.header = ex.block.header.clone();
        self.proposal = proof.proposal;
        self.head_height = self.head_height.max(height);
        // the finalized block stays servable from memory for a while (it was cached when
        // it arrived; a synced one is added here)
        self.cache.insert(ex.block.clone());
        self.cache.keep_above(height.saturating_sub(RECENT_BLOCKS));
        self.committer.submit(CommitJob {
            block: ex.block,
            receipts: ex.receipts,
            changes: ex.changes,
            state: ex.state,
            proof: proof.encode(),
            view: proof.proposal.view,
        })?;
        self.blocks.retain(|_, b| b.header.height > height);
        self.executed.retain(|_, e| e.block.header.height > height);
        self.partial.retain(|_, p| p.header.height > height);
        let blocks = &self.blocks;
        self.pool_known.retain(|h, _| blocks.contains_key(h));
        let oldest = self.proposal.view.saturating_sub(PROPOSAL_VIEWS_BEHIND);
        self.proposed_in.retain(|v, _| *v >= oldest);
        // a block at or below the finalized height is never looked at again
        self.invalid.retain(|_, (h, _)| *h > height);
        let e = self.genesis.consensus.epoch_length.max(1);
        if height.is_multiple_of(e) {
            self.next_epoch()?;
        } else if governance {
            // connect to validators joining at the next boundary before they must vote
            self.announce_validators();
        }
        Ok(())
    }

    /// A finalized block is on disk: tell RPC readers and subscribers.
    fn on_committed(&mut self, c: Committed) -> Result<()> {
        let job = c.job;
        let height = job.block.header.height;
        c.result
            .with_context(|| format!("committing finalized block {height}"))?;
        let m = &self.shared.metrics;
        m.blocks_finalized.inc();
        m.txs_finalized.inc_by(job.block.txs.len() as u64);
        let ok = job.receipts.iter().filter(|r| r.outcome.is_ok()).count();
        info!(height, txs = job.block.txs.len(), ok, view = job.view, hash = %job.block.id(), "finalized");
        self.shared.with_included(|m| {
            for t in &job.block.txs {
                m.remove(&t.id());
            }
            m.retain(|_, i| i.height > height);
        });
        if height > self.announced_head {
            self.announced_head = height;
            let _ = self
                .shared
                .events
                .send(ChainEvent::NewHead(job.block.clone()));
        }
        let _ = self
            .shared
            .events
            .send(ChainEvent::Finalized(job.block.clone()));
        self.durable_state = job.state;
        self.durable_header = job.block.header.clone();
        self.durable_height
            .store(height, std::sync::atomic::Ordering::Relaxed);
        self.publish();
        Ok(())
    }

    fn next_epoch(&mut self) -> Result<()> {
        let epoch = open_epoch(
            &self.genesis,
            &self.params,
            &self.key,
            &self.data_dir,
            &self.state,
            self.proposal,
            None,
        )?;
        info!(
            epoch = epoch.number,
            validators = epoch.validators.len(),
            member = epoch
                .set
                .index_of(&consensus::PublicKey(self.key.public().0))
                .is_some(),
            "new epoch"
        );
        let old = std::mem::replace(&mut self.epoch, epoch);
        // the epoch before the previous one is over for everyone: drop its log
        if let Some(prev) = self.previous.replace(old) {
            let _ = std::fs::remove_file(
                self.data_dir
                    .join("safety")
                    .join(format!("epoch-{}.log", prev.number.saturating_sub(1))),
            );
        }
        self.pending_payload = None;
        self.pending_verify.clear();
        self.finalize_queue.clear();
        self.proposed_in.clear();
        self.announce_validators();
        // the drive loop starts it
        self.pending_inputs.push(Input::Start);
        Ok(())
    }

    /// Tell the network whom to stay connected to: this epoch's validators and those of
    /// the next (pending changes), with their addresses.
    fn announce_validators(&self) {
        let mut list: Vec<(PeerId, Option<Multiaddr>)> = Vec::new();
        let mut seen = HashSet::new();
        for v in self
            .epoch
            .validators
            .iter()
            .chain(self.state.system.validators_after_pending().iter())
        {
            if let Some(p) = p2p::peer_id_of(&v.key)
                && seen.insert(p)
            {
                list.push((p, v.address.parse().ok()));
            }
        }
        let gossip_to: Vec<PeerId> = list
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| *p != self.my_peer)
            .collect();
        match self.shared.gossip_to.write() {
            Ok(mut g) => *g = gossip_to,
            Err(p) => *p.into_inner() = gossip_to,
        }
        self.send(Command::SetValidators(list));
    }

    /// Update what RPC and metrics read.
    fn publish(&self) {
        let m = &self.shared.metrics;
        m.finalized_height.set(self.durable_header.height as i64);
        m.height.set(self.head_height as i64);
        m.epoch.set(self.epoch.number as i64);
        let best = self.vouched_height().unwrap_or(0);
        let view = ChainView {
            state: self.durable_state.clone(),
            header: self.durable_header.clone(),
            head_height: self.head_height,
            view: self.epoch.engine.view(),
            epoch: self.epoch.number,
            validators: self.epoch.validators.clone(),
            is_validator: self.is_validator(),
            best_peer_height: best,
        };
        match self.shared.chain.write() {
            Ok(mut c) => *c = view,
            Err(p) => *p.into_inner() = view,
        }
    }

    /// This epoch's validators but this node.
    fn other_validators(&self) -> Vec<PeerId> {
        self.epoch
            .peers
            .iter()
            .filter(|p| **p != self.my_peer)
            .copied()
            .collect()
    }

    fn is_validator(&self) -> bool {
        self.epoch
            .set
            .index_of(&consensus::PublicKey(self.key.public().0))
            .is_some()
    }

    fn send(&self, cmd: Command) {
        if self.net.try_send(cmd).is_err() {
            warn!("network command queue full: message dropped");
        }
    }

    fn penalize(&self, peer: PeerId, points: i64, reason: impl Into<String>) {
        self.send(Command::Penalize {
            peer,
            points,
            reason: reason.into(),
        });
    }

    // ---------------------------------------------------------------- inbound

    fn on_inbound(&mut self, m: Inbound) -> Result<()> {
        let req = match Request::decode(&m.bytes, self.params.limits) {
            Ok(r) => r,
            Err(e) => {
                self.penalize(m.peer, 20, format!("malformed message: {e}"));
                if let Some(id) = m.respond {
                    self.respond(id, Response::Refused(format!("malformed: {e}")));
                }
                return Ok(());
            }
        };
        match req {
            Request::Consensus { epoch, message } => self.on_consensus(m.peer, epoch, message)?,
            Request::ProposedBlock {
                epoch,
                view,
                header,
                leaves,
            } => self.on_proposed_block(m.peer, epoch, view, header, leaves)?,
            // answered by the server (`serve`), never here
            Request::GetTxs { .. } | Request::GetBlocks { .. } | Request::GetBlock { .. } => {}
            Request::Txs(txs) => {
                if !self.shared.admission.gossip(m.peer, txs) {
                    self.shared.metrics.gossip_dropped.inc();
                }
            }
            Request::Status { finalized_height } => {
                self.heard_status = true;
                self.peer_heights
                    .insert(m.peer, (finalized_height, Instant::now()));
                self.maybe_sync();
            }
        }
        Ok(())
    }

    /// Count and penalize what a validator did that no honest one does (an engine's
    /// [`Action::Misbehaved`], of this epoch or the previous one).
    fn misbehaved(&mut self, peer: PeerId, from: u32, epoch: u64, what: Misbehavior) {
        match what {
            Misbehavior::Equivocation(view) => {
                self.shared.metrics.equivocations.inc();
                warn!(%peer, validator = from, view, epoch, "equivocation: the validator signed two different votes of one kind in one view");
                self.penalize(peer, 50, "equivocation: two different votes in one view");
            }
            Misbehavior::ForeignVote => {
                self.penalize(peer, 25, "sent a vote signed by another validator")
            }
            Misbehavior::BadSignature => {
                self.penalize(peer, 25, "sent its own vote with a bad signature")
            }
            Misbehavior::InvalidCertificate => {
                self.penalize(peer, 25, "sent a certificate that does not verify")
            }
        }
    }

    fn refuse(&self, peer: PeerId, what: &str) {
        self.shared.metrics.p2p_refused.inc();
        warn!(%peer, "refused {what}");
        self.penalize(peer, 25, what.to_owned());
    }

    fn on_consensus(&mut self, peer: PeerId, epoch: u64, message: Message) -> Result<()> {
        if epoch == self.epoch.number {
            let Some(from) = self.epoch.peers.iter().position(|p| *p == peer) else {
                self.refuse(
                    peer,
                    "consensus message from a peer that is not a validator",
                );
                return Ok(());
            };
            self.drive(Some(Input::Message {
                from: from as u32,
                message,
            }))?;
        } else if let Some(prev) = self.previous.as_mut()
            && prev.number == epoch
        {
            let Some(from) = prev.peers.iter().position(|p| *p == peer) else {
                self.refuse(
                    peer,
                    "consensus message from a peer that is not a validator",
                );
                return Ok(());
            };
            // the previous epoch's engine only answers requests
            let actions = prev.engine.handle(Input::Message {
                from: from as u32,
                message,
            });
            let mut sends = Vec::new();
            let mut faults = Vec::new();
            for a in actions {
                match a {
                    Action::Send { to, message } => {
                        if let Some(p) = prev.peers.get(to as usize).copied() {
                            let bytes = Request::Consensus { epoch, message }.encode();
                            sends.push(Command::Send { to: p, bytes });
                        }
                    }
                    Action::Misbehaved { from, what } => {
                        if let Some(p) = prev.peers.get(from as usize).copied() {
                            faults.push((p, from, what));
                        }
                    }
                    _ => {}
                }
            }
            for c in sends {
                self.send(c);
            }
            for (p, from, what) in faults {
                self.misbehaved(p, from, epoch, what);
            }
        } else if epoch > self.epoch.number {
            debug!(%peer, epoch, "message from a later epoch: syncing");
            self.maybe_sync();
        }
        Ok(())
    }

    fn respond(&self, id: u64, r: Response) {
        self.send(Command::Respond {
            id,
            bytes: r.encode(),
        });
    }

    // ---------------------------------------------------------------- sync

    fn status_tick(&mut self) -> Result<()> {
        let bytes = Request::Status {
            finalized_height: self.durable_header.height,
        }
        .encode();
        self.send(Command::BroadcastConnected { bytes });
        // claims not repeated lately are forgotten (the peer left or fell silent)
        let stale = Duration::from_millis(self.cfg.consensus.status_interval_ms.max(50) * 10);
        self.peer_heights.retain(|_, (_, at)| at.elapsed() < stale);
        let now = Instant::now();
        self.demoted.retain(|_, until| *until > now);
        self.maybe_sync();
        let alone = self.epoch.validators.len() == 1 && self.is_validator();
        let ready = alone
            || (self.heard_status
                && self
                    .vouched_height()
                    .is_some_and(|best| best <= self.header.height + 2));
        self.shared.ready.store(ready, Ordering::Relaxed);
        self.shared.metrics.ready.set(i64::from(ready));
        self.publish();
        Ok(())
    }

    /// The highest finalized height that validators of this epoch with more than a third
    /// of its voting power claim (this node's own counting, if it is one): at least one of
    /// them is honest, so the chain really is that far. `None` while too few have spoken.
    fn vouched_height(&self) -> Option<u64> {
        let mut claims: Vec<(u64, u64)> = self
            .epoch
            .peers
            .iter()
            .enumerate()
            .filter(|(_, p)| **p != self.my_peer && !self.demoted.contains_key(*p))
            .filter_map(|(i, p)| {
                let (h, _) = self.peer_heights.get(p)?;
                let index = u32::try_from(i).ok()?;
                Some((*h, self.epoch.set.power(index)))
            })
            .collect();
        if let Some(me) = self
            .epoch
            .set
            .index_of(&consensus::PublicKey(self.key.public().0))
        {
            claims.push((self.header.height, self.epoch.set.power(me)));
        }
        claims.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        let total = u128::from(self.epoch.set.total_power());
        let mut power = 0u128;
        for (height, p) in claims {
            power += u128::from(p);
            if power * 3 > total {
                return Some(height);
            }
        }
        None
    }

    /// A peer claimed blocks it did not deliver: ignore its claims for a while.
    fn demote(&mut self, peer: PeerId, why: &str) {
        debug!(%peer, "demoted for {DEMOTION:?}: {why}");
        self.peer_heights.remove(&peer);
        self.demoted.insert(peer, Instant::now() + DEMOTION);
    }

    fn maybe_sync(&mut self) {
        if self.sync_inflight.is_some_and(|t| {
            t.elapsed() < Duration::from_millis(self.cfg.consensus.sync_timeout_ms)
        }) {
            return;
        }
        let me = self.header.height;
        // a gap the engine closes by itself is one or two blocks; more needs sync. Ask a
        // validator at random among those whose claim reaches the height validators with
        // over a third of the power vouch for (a liar's huge claim does not make it the one
        // always asked); without such a claim, the highest claim of any peer.
        let vouched = self.vouched_height();
        let claims: Vec<(PeerId, u64)> = self
            .peer_heights
            .iter()
            .filter(|(p, (h, _))| !self.demoted.contains_key(*p) && *h > me + 2)
            .map(|(p, (h, _))| (*p, *h))
            .collect();
        let trusted: Vec<(PeerId, u64)> = claims
            .iter()
            .filter(|(p, h)| self.epoch.peers.contains(p) && vouched.is_some_and(|v| *h >= v))
            .copied()
            .collect();
        let pick = if trusted.is_empty() {
            claims.iter().max_by_key(|(p, h)| (*h, *p)).copied()
        } else {
            let mut r = [0u8; 8];
            let _ = getrandom::fill(&mut r);
            Some(trusted[(u64::from_le_bytes(r) % trusted.len() as u64) as usize])
        };
        let Some((peer, best)) = pick else {
            return;
        };
        debug!(%peer, from = me + 1, claimed = best, "syncing");
        self.sync_inflight = Some(Instant::now());
        let bytes = Request::GetBlocks {
            from: me + 1,
            max: SYNC_BATCH,
        }
        .encode();
        self.ask(peer, bytes, move |result| Event::Synced { peer, result });
    }

    fn on_event(&mut self, ev: Event) -> Result<()> {
        match ev {
            Event::Fetched { hash, peer, result } => {
                let Ok(bytes) = result else { return Ok(()) };
                match Response::decode(&bytes, self.params.limits) {
                    Ok(Response::Block(Some(b))) if b.id() == hash => {
                        if self.add_block(peer, *b) {
                            self.drive(None)?;
                        }
                    }
                    Ok(Response::Block(Some(_))) => {
                        self.penalize(peer, 25, "answered GetBlock with another block")
                    }
                    Ok(Response::Block(None)) => {}
                    Ok(_) => self.penalize(peer, 20, "unexpected answer to GetBlock"),
                    Err(e) => self.penalize(peer, 20, format!("malformed GetBlock answer: {e}")),
                }
            }
            Event::FetchedTxs { hash, result } => self.on_fetched_txs(hash, result)?,
            Event::AdmissionCaughtUp { hash } => self.on_admission_caught_up(hash)?,
            Event::Synced { peer, result } => {
                self.sync_inflight = None;
                let bytes = match result {
                    Ok(b) => b,
                    Err(e) => {
                        self.demote(peer, &format!("sync request failed: {e}"));
                        return Ok(());
                    }
                };
                match Response::decode(&bytes, self.params.limits) {
                    Ok(Response::Blocks(blocks)) => {
                        let n = blocks.len();
                        let before = self.header.height;
                        if let Err(e) = self.apply_synced(blocks) {
                            self.penalize(peer, 50, format!("bad sync response: {e:#}"));
                            self.demote(peer, "bad sync response");
                        } else if self.header.height <= before {
                            // nothing, or blocks that never reach a certificate: a claim
                            // that did not move this node is not asked again for a while
                            self.demote(peer, "claimed blocks it did not deliver");
                        }
                        if self.header.height > before {
                            info!(
                                from = before + 1,
                                to = self.header.height,
                                received = n,
                                "synced blocks"
                            );
                            self.restart_engine()?;
                            self.drive(None)?;
                            self.maybe_sync();
                        }
                    }
                    Ok(Response::Refused(why)) => self.demote(peer, &format!("refused: {why}")),
                    Ok(_) => {
                        self.penalize(peer, 20, "unexpected sync response");
                        self.demote(peer, "unexpected sync response");
                    }
                    Err(e) => {
                        self.penalize(peer, 20, format!("malformed sync response: {e}"));
                        self.demote(peer, "malformed sync response");
                    }
                }
            }
        }
        Ok(())
    }

    /// Check and commit synced blocks: each must carry the proposal that links it to the
    /// previous one, and a run of them must end in a block whose certificate finalizes it
    /// (verified against its epoch's validators); the run is then executed and committed.
    fn apply_synced(&mut self, blocks: Vec<FinalizedBlock>) -> Result<()> {
        let mut run: Vec<(Block, FinalityProof)> = Vec::new();
        let mut parent = self.proposal;
        for fb in blocks {
            let proof = FinalityProof::decode(&fb.proof).map_err(|e| anyhow!("proof: {e}"))?;
            let h = fb.block.header.height;
            if h <= self.header.height && run.is_empty() {
                continue;
            }
            let expected = self.header.height + 1 + run.len() as u64;
            if h != expected
                || proof.proposal.height != h
                || proof.proposal.payload != digest(&fb.block.id())
                || proof.proposal.parent != parent.digest()
            {
                bail!("block at height {h} does not link to the chain");
            }
            parent = proof.proposal;
            let Certified::Finalization(q) = proof.certificate.certified else {
                bail!("certificate at height {h} is not a finalization");
            };
            let closes = q == proof.proposal;
            if !closes && q.height <= h {
                bail!("certificate at height {h} finalizes neither it nor a descendant");
            }
            run.push((fb.block, proof));
            if closes {
                let cert = &run[run.len() - 1].1.certificate;
                cert.verify(&self.epoch.set, &self.epoch.namespace, &Ed25519Verifier)
                    .map_err(|e| anyhow!("certificate at height {h}: {e}"))?;
                for (block, proof) in run.drain(..) {
                    let outcome =
                        ledger::verify_block(&self.params, &self.state, &self.header, &block)
                            .map_err(|e| anyhow!("synced block {}: {e}", block.header.height))?;
                    self.commit(Executed::new(Arc::new(block), outcome), proof)?;
                }
                parent = self.proposal;
            }
        }
        Ok(())
    }

    /// After sync moved the finalized head past the engine: a fresh engine from the new
    /// head, keeping every vote signed in this epoch.
    fn restart_engine(&mut self) -> Result<()> {
        if self.epoch.engine.finalized().height >= self.header.height {
            return Ok(());
        }
        let safety = self.epoch.engine.safety_state().clone();
        let cfg = engine_config(&self.genesis, self.epoch.namespace, self.epoch.number);
        self.epoch.engine = Engine::new(
            cfg,
            self.epoch.set.clone(),
            Ed25519Signer::from_secret(self.key.secret()),
            Ed25519Verifier,
            safety,
            self.proposal,
        );
        self.pending_payload = None;
        self.pending_verify.clear();
        self.finalize_queue.clear();
        self.drive(Some(Input::Start))?;
        self.publish();
        Ok(())
    }
}
