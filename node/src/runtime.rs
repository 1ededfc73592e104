//! The runtime of a real node: the only layer that touches tokio, libp2p, RocksDB, files
//! and the clocks on the node core's behalf. It opens the store and the safety log, starts
//! the network, admission, the peer server, the commit thread, RPC and metrics, and then
//! runs one loop: wait for something (a peer's frame, an answer, a finished commit, a timer,
//! a signal), give it to [`NodeCore::handle`] with the time, carry out the effects.
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

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consensus::Proposal;
use genesis::Genesis;
use ledger::Store;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::admission::Admission;
use crate::admission::AdmissionContext;
use crate::committer::Committer;
use crate::config::Config;
use crate::core::CoreError;
use crate::core::{Effect, Event, Handles, NodeCore, ProposalHook, Setup};
use crate::handles::{Chain, ChainView, GossipTargets, IncludedTxs, Pool};
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::p2p::{self, Command, Inbound, NetInfo};
use crate::safety_log::FileVotes;
use crate::serve::{BlockCache, Server};
use crate::shared::Shared;
use crate::snapshots::{SnapshotDir, Snapshotter};
use crate::wire::FinalityProof;

/// How often the core fires due fetches and updates the mempool gauge, besides its timers.
const HOUSEKEEPING: Duration = Duration::from_millis(20);
/// Subscribers may fall this many events behind before they skip (they then re-read).
const EVENT_BUFFER: usize = 1024;

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

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}

/// Results of background work, delivered to the loop.
enum Background {
    Answer {
        id: u64,
        result: std::result::Result<Vec<u8>, String>,
    },
    AdmissionCaughtUp {
        block: ledger::Hash,
    },
}

/// Why a node could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The genesis file does not load.
    #[error("loading genesis {}: {source}", path.display())]
    Genesis {
        /// The file.
        path: PathBuf,
        /// Why.
        source: genesis::GenesisError,
    },
    /// The key file does not load.
    #[error("loading key {}: {source}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: genesis::KeyFileError,
    },
    /// The store does not open.
    #[error(
        "opening the store in {0} (if it is corrupt: stop the node, move {0}/db aside, and \
         start it again to sync the chain from its peers): {source}",
        dir.display()
    )]
    OpenStore {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        source: ledger::StoreError,
    },
    /// A store read or write failed.
    #[error("store: {0}")]
    Store(#[from] ledger::StoreError),
    /// The store holds another chain.
    #[error("the store in {} belongs to chain {found}, genesis says {expected}", dir.display())]
    OtherChain {
        /// The data directory.
        dir: PathBuf,
        /// The chain in the store.
        found: ledger::Hash,
        /// The chain genesis names.
        expected: ledger::Hash,
    },
    /// The store lacks what a finalized head needs (its proof, the genesis block).
    #[error("the store is incomplete: {0}")]
    Incomplete(String),
    /// A config value does not parse.
    #[error("{key} {value:?}: {why}")]
    Config {
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
        /// Why.
        why: String,
    },
    /// The network did not start.
    #[error(transparent)]
    P2p(#[from] crate::p2p::P2pError),
    /// JSON-RPC did not start.
    #[error(transparent)]
    Rpc(#[from] crate::rpc_server::RpcStartError),
    /// The commit thread did not start, or stopped.
    #[error(transparent)]
    Committer(#[from] crate::committer::CommitterError),
    /// A thread, the signal handler or the random seed could not be had from the OS.
    #[error("{what}: {why}")]
    Os {
        /// What was asked for.
        what: &'static str,
        /// Why it failed.
        why: String,
    },
    /// The core stopped the node.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A task the node needs stopped.
    #[error("the {0} stopped")]
    Stopped(&'static str),
}

type Result<T> = std::result::Result<T, RunError>;

/// Run a node from its home directory until SIGINT/SIGTERM.
pub async fn run(home: PathBuf, cfg: Config) -> Result<()> {
    run_with(home, cfg, Hooks::default()).await
}

/// [`run`], with an attacker's [`Hooks`].
pub async fn run_with(home: PathBuf, cfg: Config, hooks: Hooks) -> Result<()> {
    let genesis_path = Config::path(&home, &cfg.node.genesis_file);
    let genesis = Genesis::load(&genesis_path).map_err(|source| RunError::Genesis {
        path: genesis_path.clone(),
        source,
    })?;
    let key_path = Config::path(&home, &cfg.node.key_file);
    let key = genesis::read_key_file(&key_path).map_err(|source| RunError::Key {
        path: key_path.clone(),
        source,
    })?;
    let data_dir = Config::path(&home, &cfg.node.data_dir);
    let params = genesis.chain_params();
    cfg.storage.check().map_err(|(key, why)| RunError::Config {
        key,
        value: String::new(),
        why,
    })?;
    let store = Arc::new(
        Store::open_chain(&data_dir.join("db"), &params).map_err(|source| RunError::OpenStore {
            dir: data_dir.clone(),
            source,
        })?,
    );
    match store.chain_id()? {
        None => {
            store.init_genesis(&genesis.genesis_block(), &genesis.initial_state())?;
            info!(chain_id = %params.chain_id, "store initialized from genesis");
        }
        Some(found) if found != params.chain_id => {
            return Err(RunError::OtherChain {
                dir: data_dir,
                found,
                expected: params.chain_id,
            });
        }
        Some(_) => {}
    }
    // snapshots must reach back no further than the blocks peers keep after them
    let snapshot_span = params
        .epoch_length
        .max(1)
        .saturating_mul(cfg.snapshots.interval_epochs);
    if cfg.storage.retain_blocks != 0
        && cfg.snapshots.interval_epochs != 0
        && cfg.storage.retain_blocks < snapshot_span.saturating_add(params.epoch_length)
    {
        return Err(RunError::Config {
            key: "storage.retain_blocks",
            value: cfg.storage.retain_blocks.to_string(),
            why: format!(
                "keep at least the blocks since the last snapshot and an epoch more ({}), or a node restored from this node's snapshot cannot sync the blocks after it; or set snapshots.interval_epochs lower",
                snapshot_span.saturating_add(params.epoch_length)
            ),
        });
    }
    // a new node restores a snapshot first if asked to (and must finish one it began)
    let restoring = store.restoring()?;
    if restoring.is_none() && store.finalized_height()? != Some(0) {
        // a restore that finished before a crash could remove its scratch directory
        let _ = std::fs::remove_dir_all(data_dir.join("state-sync"));
    }
    if restoring.is_some() && !cfg.state_sync.enabled {
        return Err(RunError::Incomplete(format!(
            "{}: a state-sync restore began and did not finish; set state_sync.enabled = true to finish it, or delete the data directory to start over",
            data_dir.display()
        )));
    }
    let state_sync =
        cfg.state_sync.enabled && (restoring.is_some() || store.finalized_height()? == Some(0));
    let (state, header) = if restoring.is_some() {
        // the account state is half written: serve genesis' until the restore is done
        (genesis.initial_state(), genesis.genesis_block().header)
    } else {
        store.load_state()?
    };
    info!(height = header.height, state_root = %header.state_root, key = %key.public().to_hex(), state_sync, "node starting");

    let metrics = Metrics::new();
    let net_info = Arc::new(NetInfo::default());
    let ready = Arc::new(AtomicBool::new(false));
    let listen: Multiaddr = cfg
        .p2p
        .listen
        .parse()
        .map_err(|e: libp2p::multiaddr::Error| RunError::Config {
            key: "p2p.listen",
            value: cfg.p2p.listen.clone(),
            why: e.to_string(),
        })?;
    let mut extra = Vec::new();
    for p in &cfg.p2p.peers {
        extra.push(p.parse::<Multiaddr>().map_err(|e| RunError::Config {
            key: "p2p.peers entry",
            value: p.clone(),
            why: e.to_string(),
        })?);
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
    let pool = Pool::new(Mempool::new(
        cfg.mempool.max_txs,
        cfg.mempool.max_per_sender,
    ));
    let included = IncludedTxs::default();
    let shared = Arc::new(Shared {
        chain_name: genesis.chain_name.clone(),
        params: params.clone(),
        store: store.clone(),
        chain: Chain::new(start_view(&state, &header)),
        pool: pool.clone(),
        ready: ready.clone(),
        net: net_info,
        metrics: metrics.clone(),
        genesis_hash: store
            .header_by_height(0)?
            .ok_or_else(|| RunError::Incomplete("no genesis block".into()))?
            .id(),
        events: tokio::sync::broadcast::channel(EVENT_BUFFER).0,
        included: included.clone(),
        hashrates: Mutex::new(HashMap::new()),
        admission,
        gossip_to: GossipTargets::default(),
        state_sync: Mutex::new(None),
    });
    let context = AdmissionContext {
        chain_id: params.chain_id,
        chain: shared.chain.clone(),
        pool: pool.clone(),
        included: included.clone(),
        metrics: metrics.clone(),
        gossip_to: shared.gossip_to.clone(),
    };
    Admission::start(admission_queue, context, net.clone()).map_err(|e| RunError::Os {
        what: "starting the admission thread",
        why: e.to_string(),
    })?;

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

    let durable_height = Arc::new(AtomicU64::new(header.height));
    let snapshot_dir = SnapshotDir::new(data_dir.join("snapshots"), cfg.snapshots.chunk_accounts);
    tokio::spawn(
        Server {
            store: store.clone(),
            cache: cache.clone(),
            limits: params.limits,
            net: net.clone(),
            metrics: metrics.clone(),
            durable_height: durable_height.clone(),
            snapshots: snapshot_dir.clone(),
            epoch_length: params.epoch_length,
        }
        .run(queues.requests),
    );
    let (mut priority, mut bulk) = (queues.priority, queues.bulk);
    let (state, header) = if state_sync {
        let restored = restore_snapshot(
            &cfg,
            &genesis,
            &store,
            &net,
            &shared,
            data_dir.join("state-sync"),
            (&mut priority, &mut bulk),
        )
        .await?;
        match restored {
            Some((state, header)) => {
                shared.chain.set(start_view(&state, &header));
                durable_height.store(header.height, std::sync::atomic::Ordering::Relaxed);
                (state, header)
            }
            None => (state, header),
        }
    } else {
        (state, header)
    };
    let proposal = if header.height == 0 {
        Proposal::genesis(consensus::Digest(header.id().0))
    } else {
        let raw = store.certificate(header.height)?.ok_or_else(|| {
            RunError::Incomplete(format!("no finality proof for height {}", header.height))
        })?;
        FinalityProof::decode(&raw)
            .map_err(|e| {
                RunError::Incomplete(format!("finality proof at height {}: {e}", header.height))
            })?
            .proposal
    };
    let snapshotter = if cfg.snapshots.interval_epochs > 0 {
        Some(
            Snapshotter::start(
                snapshot_dir,
                params
                    .epoch_length
                    .max(1)
                    .saturating_mul(cfg.snapshots.interval_epochs),
                cfg.snapshots.keep,
                metrics.clone(),
            )
            .map_err(|e| RunError::Os {
                what: "starting the snapshot thread",
                why: e.to_string(),
            })?,
        )
    } else {
        None
    };
    let (committer, committed) = Committer::start(store.clone(), metrics.clone(), snapshotter)?;
    let pruner = crate::pruner::Pruner::start(store.clone(), cfg.storage.clone(), metrics.clone())
        .map_err(|e| RunError::Os {
            what: "starting the pruning thread",
            why: e.to_string(),
        })?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| RunError::Os {
        what: "randomness for the core",
        why: e.to_string(),
    })?;
    let status_ms = cfg.consensus.status_interval_ms.max(50);
    let core = NodeCore::new(
        Setup {
            consensus: cfg.consensus.clone(),
            genesis,
            key,
            state,
            header,
            proposal,
            seed,
            rewrite_proposal: hooks.rewrite_proposal,
        },
        Handles {
            pool,
            included,
            cache,
            durable_height,
            metrics,
        },
        Box::new(FileVotes::new(data_dir.join("safety"))),
    )?;
    let (background_tx, background) = mpsc::channel(1024);
    let mut rt = Runtime {
        core,
        net,
        shared: shared.clone(),
        committer,
        background_tx,
    };
    let result = rt
        .run(
            priority,
            bulk,
            background,
            committed,
            hooks.stop,
            Duration::from_millis(status_ms),
        )
        .await;
    // the finalized blocks still queued reach the disk before the process ends
    if let Some(t) = rt.committer.stop() {
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
    drop(pruner);
    drop(rt);
    drop(shared);
    match &result {
        Ok(()) => info!("node stopped cleanly"),
        Err(e) => error!("node stopped: {e:#}"),
    }
    result
}

/// The chain view a node starts with (or has after a restore), before the core runs.
fn start_view(state: &ledger::LedgerState, header: &ledger::BlockHeader) -> ChainView {
    ChainView {
        state: state.clone(),
        header: header.clone(),
        head_height: header.height,
        view: 0,
        epoch: 0,
        validators: state.system.validators.clone(),
        is_validator: false,
        best_peer_height: 0,
    }
}

/// Restore the newest snapshot peers serve (`state_sync`), reading and dropping what
/// arrives for the consensus core meanwhile (it does not run yet). The restored state and
/// head, or `None` when no peer serves a snapshot (the node then syncs blocks from genesis).
async fn restore_snapshot(
    cfg: &Config,
    genesis: &Genesis,
    store: &Arc<Store>,
    net: &mpsc::Sender<Command>,
    shared: &Arc<Shared>,
    dir: PathBuf,
    (priority, bulk): (&mut mpsc::Receiver<Inbound>, &mut mpsc::Receiver<Inbound>),
) -> Result<Option<(ledger::LedgerState, ledger::BlockHeader)>> {
    let initial = genesis.initial_state();
    // connect to the genesis validators (the configured peers are dialed already)
    let targets = initial
        .system
        .validators
        .iter()
        .filter_map(|v| {
            let peer = crate::peer::peer_id_of(&v.key)?;
            Some((peer, v.address.parse::<Multiaddr>().ok()))
        })
        .collect();
    let _ = net.send(Command::SetValidators(targets)).await;
    let progress = Arc::new(Mutex::new(Some(rpc::StateSyncProgress {
        step: "finding-snapshot".into(),
        ..Default::default()
    })));
    if let Ok(mut s) = shared.state_sync.lock() {
        *s = Some(rpc::StateSyncProgress {
            step: "finding-snapshot".into(),
            ..Default::default()
        });
    }
    let sync = crate::state_sync::StateSync {
        net: net.clone(),
        net_info: shared.net.clone(),
        store: store.clone(),
        genesis: crate::light::FinalityEvidence {
            header: genesis.genesis_block().header,
            proposals: Vec::new(),
            certificate: None,
            signers: None,
            next: initial.system.validators.clone(),
        },
        epoch_length: genesis.consensus.epoch_length,
        cfg: cfg.state_sync.clone(),
        dir,
        progress: progress.clone(),
        metrics: shared.metrics.clone(),
        limits: shared.params.limits,
        pacer: Default::default(),
    };
    let run = sync.run();
    tokio::pin!(run);
    let mut publish = tokio::time::interval(Duration::from_millis(200));
    let outcome = loop {
        tokio::select! {
            out = &mut run => break out,
            m = priority.recv() => if m.is_none() { return Err(RunError::Stopped("network task")) },
            m = bulk.recv() => if m.is_none() { return Err(RunError::Stopped("network task")) },
            _ = publish.tick() => {
                let p = match progress.lock() { Ok(p) => p.clone(), Err(p) => p.into_inner().clone() };
                if let Ok(mut s) = shared.state_sync.lock() { *s = p; }
            }
            _ = tokio::signal::ctrl_c() => return Err(RunError::Stopped("state sync (SIGINT)")),
        }
    };
    if let Ok(mut s) = shared.state_sync.lock() {
        *s = None;
    }
    match outcome {
        Ok(crate::state_sync::Outcome::Restored { .. }) => {
            let (state, header) = store.load_state()?;
            Ok(Some((state, header)))
        }
        Ok(crate::state_sync::Outcome::NoSnapshot) if store.restoring()?.is_none() => Ok(None),
        Ok(crate::state_sync::Outcome::NoSnapshot) => Err(RunError::Incomplete(
            "a state-sync restore began and no peer serves a snapshot to finish it: retry later, or delete the data directory".into(),
        )),
        Err(why) => Err(RunError::Incomplete(format!("state sync: {why}"))),
    }
}

/// The core and what carries out its effects.
struct Runtime {
    core: NodeCore,
    net: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    committer: Committer,
    background_tx: mpsc::Sender<Background>,
}

impl Runtime {
    async fn run(
        &mut self,
        mut priority: mpsc::Receiver<Inbound>,
        mut bulk: mpsc::Receiver<Inbound>,
        mut background: mpsc::Receiver<Background>,
        mut committed: mpsc::UnboundedReceiver<crate::core::Committed>,
        stop: Option<tokio::sync::watch::Receiver<bool>>,
        status_every: Duration,
    ) -> Result<()> {
        let (_never, no_stop) = tokio::sync::watch::channel(false);
        let mut stop = stop.unwrap_or(no_stop);
        self.step(Event::Start)?;
        // ticks missed while the loop was busy are not made up in a burst (tokio's default):
        // a burst of status messages is over every peer's budget for them
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut status = tokio::time::interval(status_every);
        status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| RunError::Os {
                what: "the SIGTERM handler",
                why: e.to_string(),
            })?;
        loop {
            let next = self
                .core
                .next_deadline()
                .map(|at| Duration::from_millis(at.saturating_sub(crate::clock::mono_ms())))
                .unwrap_or(Duration::from_secs(3600));
            // validators' consensus messages and proposals first; observers' traffic last
            let event = tokio::select! {
                biased;
                msg = priority.recv() => match msg {
                    Some(m) => inbound(m),
                    None => return Err(RunError::Stopped("network task")),
                },
                b = background.recv() => match b {
                    Some(Background::Answer { id, result }) => Event::Answer { id, result },
                    Some(Background::AdmissionCaughtUp { block }) => {
                        Event::AdmissionCaughtUp { block }
                    }
                    None => continue,
                },
                c = committed.recv() => match c {
                    Some(c) => Event::Committed(Box::new(c)),
                    None => return Err(RunError::Stopped("commit thread")),
                },
                _ = tokio::time::sleep(next) => Event::Tick,
                _ = housekeeping.tick() => Event::Tick,
                _ = status.tick() => Event::Status,
                _ = tokio::signal::ctrl_c() => { info!("SIGINT: shutting down"); return Ok(()); }
                _ = sigterm.recv() => { info!("SIGTERM: shutting down"); return Ok(()); }
                Ok(_) = stop.wait_for(|s| *s) => { info!("stop requested: shutting down"); return Ok(()); }
                msg = bulk.recv() => match msg {
                    Some(m) => inbound(m),
                    None => return Err(RunError::Stopped("network task")),
                },
            };
            self.step(event)?;
        }
    }

    /// Give the core one event at the current time and carry out its effects, in order.
    fn step(&mut self, event: Event) -> Result<()> {
        let effects = self.core.handle(crate::clock::now(), event)?;
        for e in effects {
            self.carry_out(e)?;
        }
        Ok(())
    }

    fn carry_out(&mut self, effect: Effect) -> Result<()> {
        match effect {
            Effect::Send { to, bytes } => self.send(Command::Send { to, bytes }),
            Effect::Broadcast { to, bytes } => self.send(Command::Broadcast { to, bytes }),
            Effect::BroadcastConnected { bytes } => {
                self.send(Command::BroadcastConnected { bytes })
            }
            Effect::Respond { id, bytes } => self.send(Command::Respond { id, bytes }),
            Effect::Penalize {
                peer,
                points,
                reason,
            } => self.send(Command::Penalize {
                peer,
                points,
                reason,
            }),
            Effect::SetValidators(list) => {
                let list: Vec<(PeerId, Option<Multiaddr>)> = list
                    .into_iter()
                    .map(|(p, addr)| (p, addr.parse().ok()))
                    .collect();
                self.send(Command::SetValidators(list));
            }
            Effect::Request { id, to, bytes } => {
                let (reply, rx) = oneshot::channel();
                let sent = self
                    .net
                    .try_send(Command::Request { to, bytes, reply })
                    .is_ok();
                let back = self.background_tx.clone();
                tokio::spawn(async move {
                    let result = if sent {
                        rx.await.unwrap_or_else(|_| Err("network stopped".into()))
                    } else {
                        Err(format!(
                            "{} the network command queue is full",
                            crate::core::LOCAL_FAILURE
                        ))
                    };
                    let _ = back.send(Background::Answer { id, result }).await;
                });
            }
            Effect::Gossip { from, txs } => {
                if !self.shared.admission.gossip(from, txs) {
                    self.shared.metrics.gossip_dropped.inc();
                }
            }
            Effect::AwaitAdmission { block, within_ms } => {
                let admission = self.shared.admission.clone();
                let back = self.background_tx.clone();
                tokio::spawn(async move {
                    // a stopped admission thread means shutdown: the event is harmless then;
                    // an admission queue far behind must not hold up the vote
                    let _ =
                        tokio::time::timeout(Duration::from_millis(within_ms), admission.barrier())
                            .await;
                    let _ = back.send(Background::AdmissionCaughtUp { block }).await;
                });
            }
            // waits while the commit queue is full: the core then waits too
            Effect::Commit(job) => self.committer.submit(*job)?,
            Effect::Publish(view) => self.shared.chain.set(*view),
            Effect::Ready(ready) => self.shared.ready.store(ready, Ordering::Relaxed),
            Effect::GossipTargets(to) => self.shared.gossip_to.set(to),
            Effect::Chain(event) => {
                let _ = self.shared.events.send(event);
            }
        }
        Ok(())
    }

    fn send(&self, cmd: Command) {
        if self.net.try_send(cmd).is_err() {
            warn!("network command queue full: message dropped");
        }
    }
}

fn inbound(m: Inbound) -> Event {
    Event::Message {
        peer: m.peer,
        bytes: m.bytes,
        respond: m.respond,
    }
}
