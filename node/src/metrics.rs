//! Prometheus metrics and the HTTP endpoints `/metrics`, `/ready` (200 once synced, 503
//! before) and `/health` (200 while the process serves).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Every metric the node exports (cheap to clone: shared handles).
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Highest block height seen (proposed or finalized).
    pub height: Gauge,
    /// Current consensus view.
    pub view: Gauge,
    /// Last finalized height.
    pub finalized_height: Gauge,
    /// Current epoch.
    pub epoch: Gauge,
    /// Connected peers.
    pub peers: Gauge,
    /// Transactions in the mempool.
    pub mempool_size: Gauge,
    /// Transactions in finalized blocks.
    pub txs_finalized: Counter,
    /// Finalized blocks committed.
    pub blocks_finalized: Counter,
    /// Seconds to commit one finalized block to RocksDB.
    pub commit_seconds: Histogram,
    /// Seconds to verify (execute) a proposed block.
    pub verify_seconds: Histogram,
    /// Connections and messages refused from peers that are not validators.
    pub p2p_refused: Counter,
    /// Peers banned for misbehaving.
    pub peers_banned: Counter,
    /// Transactions admitted to the mempool.
    pub mempool_admitted: Counter,
    /// Transactions the mempool refused.
    pub mempool_rejected: Counter,
    /// Gossiped transaction batches dropped because the admission queue was full.
    pub gossip_dropped: Counter,
    /// Signatures of block transactions verified at block building or verification (the
    /// others were verified at admission).
    pub block_signatures_verified: Counter,
    /// Signatures verified at mempool admission (clients' and gossiped transactions).
    pub admission_signatures_verified: Counter,
    /// Transactions waiting for the admission thread (after it took its latest round).
    pub admission_queue: Gauge,
    /// Signatures checked together in one admission round (larger rounds make cheaper
    /// batches).
    pub admission_round_signatures: Histogram,
    /// Transactions of proposed blocks asked of the leader because the mempool lacked them.
    pub block_txs_fetched: Counter,
    /// Whole blocks asked of peers (not pushed by their leader in time, or sync of a gap).
    pub blocks_fetched: Counter,
    /// 1 when synced and ready.
    pub ready: Gauge,
    /// Equivocation evidence: a validator's second, different proposal for one view.
    pub equivocations: Counter,
    /// Proposals naming a block that breaks the rules (its leader is penalized).
    pub invalid_proposals: Counter,
    /// Penalties given to peers for misbehaviour (each lowers the peer's score).
    pub peer_penalties: Counter,
    /// Block bodies refused because they are not what their header commits to.
    pub bodies_refused: Counter,
    /// Messages from peers dropped because the peer was over its budget.
    pub p2p_throttled: Counter,
    /// The oldest block this node still holds (0 on an archive node).
    pub oldest_block: Gauge,
    /// Blocks deleted by pruning.
    pub blocks_pruned: Counter,
    /// The height of the newest snapshot this node serves (0: none).
    pub snapshot_height: Gauge,
    /// Seconds to write one snapshot.
    pub snapshot_seconds: Histogram,
    /// Snapshot chunks served to peers.
    pub snapshot_chunks_served: Counter,
    /// State-sync chunks refused because they did not verify (their sender is penalized).
    pub state_sync_chunks_refused: Counter,
    registry: Arc<Registry>,
}

impl Metrics {
    /// All metrics, registered.
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            height: Gauge::default(),
            view: Gauge::default(),
            finalized_height: Gauge::default(),
            epoch: Gauge::default(),
            peers: Gauge::default(),
            mempool_size: Gauge::default(),
            txs_finalized: Counter::default(),
            blocks_finalized: Counter::default(),
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            verify_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            p2p_refused: Counter::default(),
            peers_banned: Counter::default(),
            mempool_admitted: Counter::default(),
            mempool_rejected: Counter::default(),
            gossip_dropped: Counter::default(),
            block_signatures_verified: Counter::default(),
            admission_signatures_verified: Counter::default(),
            admission_queue: Gauge::default(),
            admission_round_signatures: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            block_txs_fetched: Counter::default(),
            blocks_fetched: Counter::default(),
            ready: Gauge::default(),
            equivocations: Counter::default(),
            invalid_proposals: Counter::default(),
            peer_penalties: Counter::default(),
            bodies_refused: Counter::default(),
            p2p_throttled: Counter::default(),
            oldest_block: Gauge::default(),
            blocks_pruned: Counter::default(),
            snapshot_height: Gauge::default(),
            snapshot_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            snapshot_chunks_served: Counter::default(),
            state_sync_chunks_refused: Counter::default(),
            registry: Arc::new(Registry::default()),
        };
        r.register(
            "palisade_height",
            "Highest block height seen",
            m.height.clone(),
        );
        r.register("palisade_view", "Current consensus view", m.view.clone());
        r.register(
            "palisade_oldest_block",
            "The oldest block this node still holds (0 on an archive node)",
            m.oldest_block.clone(),
        );
        r.register(
            "palisade_blocks_pruned",
            "Blocks deleted by pruning",
            m.blocks_pruned.clone(),
        );
        r.register(
            "palisade_snapshot_height",
            "Height of the newest state snapshot this node serves (0: none)",
            m.snapshot_height.clone(),
        );
        r.register(
            "palisade_snapshot_seconds",
            "Time to write one state snapshot",
            m.snapshot_seconds.clone(),
        );
        r.register(
            "palisade_snapshot_chunks_served",
            "State snapshot chunks served to peers",
            m.snapshot_chunks_served.clone(),
        );
        r.register(
            "palisade_state_sync_chunks_refused",
            "State-sync chunks refused because they did not verify",
            m.state_sync_chunks_refused.clone(),
        );
        r.register(
            "palisade_finalized_height",
            "Last finalized height",
            m.finalized_height.clone(),
        );
        r.register("palisade_epoch", "Current epoch", m.epoch.clone());
        r.register("palisade_peers", "Connected peers", m.peers.clone());
        r.register(
            "palisade_mempool_size",
            "Transactions in the mempool",
            m.mempool_size.clone(),
        );
        r.register(
            "palisade_txs_finalized",
            "Transactions in finalized blocks",
            m.txs_finalized.clone(),
        );
        r.register(
            "palisade_blocks_finalized",
            "Finalized blocks committed",
            m.blocks_finalized.clone(),
        );
        r.register(
            "palisade_commit_latency_seconds",
            "Time to commit a finalized block to RocksDB",
            m.commit_seconds.clone(),
        );
        r.register(
            "palisade_verify_latency_seconds",
            "Time to verify (execute) a proposed block",
            m.verify_seconds.clone(),
        );
        r.register(
            "palisade_p2p_refused",
            "Connections and consensus messages refused from non-validators",
            m.p2p_refused.clone(),
        );
        r.register(
            "palisade_peers_banned",
            "Peers banned for misbehaving",
            m.peers_banned.clone(),
        );
        r.register(
            "palisade_mempool_admitted",
            "Transactions admitted to the mempool",
            m.mempool_admitted.clone(),
        );
        r.register(
            "palisade_mempool_rejected",
            "Transactions the mempool refused",
            m.mempool_rejected.clone(),
        );
        r.register(
            "palisade_gossip_dropped",
            "Gossiped transaction batches dropped because the admission queue was full",
            m.gossip_dropped.clone(),
        );
        r.register(
            "palisade_block_signatures_verified",
            "Block transactions whose signatures were verified at block time (not at admission)",
            m.block_signatures_verified.clone(),
        );
        r.register(
            "palisade_admission_signatures_verified",
            "Signatures verified at mempool admission (clients' and gossiped transactions)",
            m.admission_signatures_verified.clone(),
        );
        r.register(
            "palisade_admission_queue",
            "Transactions waiting for the admission thread",
            m.admission_queue.clone(),
        );
        r.register(
            "palisade_admission_round_signatures",
            "Signatures checked together in one admission round",
            m.admission_round_signatures.clone(),
        );
        r.register(
            "palisade_block_txs_fetched",
            "Transactions of proposed blocks asked of the leader because the mempool lacked them",
            m.block_txs_fetched.clone(),
        );
        r.register(
            "palisade_blocks_fetched",
            "Whole blocks asked of peers (not pushed by their leader in time)",
            m.blocks_fetched.clone(),
        );
        r.register("palisade_ready", "1 when synced and ready", m.ready.clone());
        r.register(
            "palisade_equivocations",
            "Equivocation evidence: a validator's second, different proposal for one view",
            m.equivocations.clone(),
        );
        r.register(
            "palisade_invalid_proposals",
            "Proposals naming a block that breaks the rules (its leader is penalized)",
            m.invalid_proposals.clone(),
        );
        r.register(
            "palisade_peer_penalties",
            "Penalties given to peers for misbehaviour",
            m.peer_penalties.clone(),
        );
        r.register(
            "palisade_bodies_refused",
            "Block bodies refused because they are not what their header commits to",
            m.bodies_refused.clone(),
        );
        r.register(
            "palisade_p2p_throttled",
            "Messages from peers dropped because the peer was over its budget",
            m.p2p_throttled.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            ..m
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[derive(Clone)]
struct HttpState {
    metrics: Metrics,
    ready: Arc<AtomicBool>,
}

/// Serve `/metrics`, `/ready`, `/health` until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    ready: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), MetricsError> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(s): State<HttpState>| async move { s.metrics.render() }),
        )
        .route(
            "/ready",
            get(|State(s): State<HttpState>| async move {
                if s.ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ready\n")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "syncing\n")
                }
            }),
        )
        .route("/health", get(|| async { "ok\n" }))
        .with_state(HttpState { metrics, ready });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(MetricsError::Serve)
}

/// Why the metrics server stopped.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Its address could not be bound.
    #[error("metrics listener on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The server failed.
    #[error("metrics server: {0}")]
    Serve(#[source] std::io::Error),
}
