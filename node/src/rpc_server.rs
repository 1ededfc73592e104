//! The JSON-RPC server: the `rpc` crate's traits implemented over `Shared`, served over
//! HTTP and WebSocket on one port. Reads come from the last finalized state and the store;
//! `tx_submit` goes through mempool admission; subscriptions follow the core's events.
//!
//! Limits (all in `[rpc]`): request body size, batch size, connections, subscriptions per
//! connection, a per-IP call rate (token bucket, `governor`), and CORS origins.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{Quota, RateLimiter};
use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::core::{RpcResult, SubscriptionResult, async_trait, to_json_raw_value};
use jsonrpsee::server::{
    BatchRequestConfig, PendingSubscriptionSink, RandomStringIdProvider, Server, ServerConfig,
    ServerHandle, SubscriptionSink, serve_with_graceful_shutdown, stop_channel,
};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{MethodCallback, Methods, RpcModule};
use ledger::{Encode, Hash, PublicKey, RejectReason, SignedTransaction};
use rpc::{
    AccountApiServer, AccountInfo, AccountProofInfo, AccountState, BlockInfo, ChainApiServer,
    ChainInfo, DiscoverApiServer, FinalityProofInfo, HeaderInfo, MAX_STATUS_HASHES, NodeApiServer,
    NodeHealth, NodeVersion, PeerInfo, RpcMethods, ServerError, SimulateResult, StateApiServer,
    SubmitError, SubmitOutcome, SyncState, TxApiServer, TxInfo, TxKindInfo, TxState, TxStatus,
    ValidatorInfo, ValidatorsInfo, error_codes,
};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tower::Service;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

mod limit;
mod mining;

use crate::config::RpcSection;
use crate::mempool::AdmitError;
use crate::shared::{ChainEvent, Shared};
use limit::{RateLimit, RemoteIp, WebSocket};

/// The largest response body, single or batch.
const MAX_RESPONSE_BYTES: u32 = 64 << 20;

#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Discover {
    document: Arc<serde_json::Value>,
    methods: Arc<Vec<String>>,
}

/// Why the JSON-RPC server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcStartError {
    /// Two API traits register one method name (a programming error).
    #[error("registering the methods: {0}")]
    Register(#[from] jsonrpsee::core::RegisterMethodError),
    /// The OpenRPC document and the methods served disagree (a programming error).
    #[error("the OpenRPC document and the server disagree: {0}")]
    Document(String),
    /// An `rpc.cors_origins` entry is not a valid header value.
    #[error("rpc.cors_origins entry {entry:?}: {why}")]
    Cors {
        /// The entry.
        entry: String,
        /// What is wrong with it.
        why: String,
    },
    /// `rpc.max_batch` is 0.
    #[error("rpc.max_batch must be at least 1")]
    NoBatch,
    /// The address could not be bound.
    #[error("binding the RPC server to {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Every method served, in one module; fails if the OpenRPC document and the module
/// disagree on the method names.
pub fn module(shared: Arc<Shared>, url: Option<&str>) -> Result<RpcModule<()>, RpcStartError> {
    let api = Api { shared };
    let mut module = RpcModule::new(());
    module.merge(NodeApiServer::into_rpc(api.clone()))?;
    module.merge(ChainApiServer::into_rpc(api.clone()))?;
    module.merge(AccountApiServer::into_rpc(api.clone()))?;
    module.merge(StateApiServer::into_rpc(api.clone()))?;
    module.merge(TxApiServer::into_rpc(api.clone()))?;
    module.merge(rpc::MiningApiServer::into_rpc(api))?;
    let mut names: Vec<String> = module.method_names().map(str::to_owned).collect();
    names.extend(["rpc.discover".to_owned(), "rpc_methods".to_owned()]);
    names.sort();
    rpc::openrpc::check_served(names.iter().map(String::as_str))
        .map_err(RpcStartError::Document)?;
    module.merge(DiscoverApiServer::into_rpc(Discover {
        document: Arc::new(rpc::openrpc::document(url)),
        methods: Arc::new(names),
    }))?;
    Ok(module)
}

fn cors(origins: &[String]) -> Result<Option<CorsLayer>, RpcStartError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let layer = CorsLayer::new()
        .allow_methods([http::Method::POST, http::Method::GET, http::Method::OPTIONS])
        .allow_headers([http::header::CONTENT_TYPE]);
    if origins.iter().any(|o| o == "*") {
        return Ok(Some(layer.allow_origin(Any)));
    }
    let mut list = Vec::new();
    for o in origins {
        list.push(
            http::HeaderValue::from_str(o).map_err(|e| RpcStartError::Cors {
                entry: o.clone(),
                why: e.to_string(),
            })?,
        );
    }
    Ok(Some(layer.allow_origin(AllowOrigin::list(list))))
}

/// Start serving on `cfg.listen`.
pub async fn start(cfg: &RpcSection, shared: Arc<Shared>) -> Result<ServerHandle, RpcStartError> {
    if cfg.max_batch == 0 {
        return Err(RpcStartError::NoBatch);
    }
    let bind = |source| RpcStartError::Bind {
        addr: cfg.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    let methods: Methods = module(shared, Some(&format!("http://{local}")))?.into();
    let config = ServerConfig::builder()
        .max_request_body_size(cfg.max_request_bytes)
        .max_response_body_size(MAX_RESPONSE_BYTES)
        .max_connections(cfg.max_connections)
        .max_subscriptions_per_connection(cfg.max_subscriptions_per_connection)
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.max_batch))
        .set_id_provider(RandomStringIdProvider::new(16))
        .build();
    let limiter = NonZeroU32::new(cfg.rate_limit_per_ip).map(|rate| {
        let burst = NonZeroU32::new(cfg.rate_limit_burst).unwrap_or(rate);
        Arc::new(RateLimiter::keyed(
            Quota::per_second(rate).allow_burst(burst),
        ))
    });
    let websocket_only: Arc<HashSet<&'static str>> = Arc::new(
        methods
            .method_names()
            .filter(|m| {
                matches!(
                    methods.method(m),
                    Some(MethodCallback::Subscription(_) | MethodCallback::Unsubscription(_))
                )
            })
            .collect(),
    );
    let rpc_middleware = RpcServiceBuilder::new().layer_fn(move |inner| RateLimit {
        inner,
        limiter: limiter.clone(),
        websocket_only: websocket_only.clone(),
    });
    let http_middleware = tower::ServiceBuilder::new().option_layer(cors(&cfg.cors_origins)?);
    let builder = Server::builder()
        .set_config(config)
        .set_http_middleware(http_middleware)
        .set_rpc_middleware(rpc_middleware)
        .to_service_builder();
    let (stop, handle) = stop_channel();
    tokio::spawn(async move {
        loop {
            let (sock, remote) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("RPC accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.clone().shutdown() => break,
            };
            let ip = RemoteIp(remote.ip());
            let methods = methods.clone();
            let stop2 = stop.clone();
            let builder = builder.clone();
            let svc = tower::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                // jsonrpsee's own test for serving the request as a WebSocket (an `Upgrade`
                // header alone is served as HTTP)
                let ws = jsonrpsee::server::ws::is_upgrade_request(&req);
                req.extensions_mut().insert(ip);
                req.extensions_mut().insert(WebSocket(ws));
                let mut svc = builder.clone().build(methods.clone(), stop2.clone());
                async move { svc.call(req).await }
            });
            tokio::spawn(serve_with_graceful_shutdown(
                sock,
                svc,
                stop.clone().shutdown(),
            ));
        }
    });
    tracing::info!(addr = %local, "JSON-RPC listening (HTTP and WebSocket)");
    Ok(handle)
}

fn parse_key(s: &str) -> Result<PublicKey, ServerError> {
    PublicKey::from_hex(s).map_err(|e| ServerError::invalid_value("public key", e))
}

fn parse_hash(s: &str) -> Result<Hash, ServerError> {
    Hash::from_hex(s).map_err(|e| ServerError::invalid_value("hash", e))
}

/// The JSON error of a mempool refusal: reason plus the numbers a wallet needs.
pub fn admit_error(e: &AdmitError) -> ServerError {
    let extra = match e {
        AdmitError::Rule(RejectReason::NonceTooLow { expected, got })
        | AdmitError::Rule(RejectReason::NonceTooHigh { expected, got }) => {
            json!({ "expected": expected, "got": got })
        }
        AdmitError::Rule(RejectReason::InsufficientBalance { have, need }) => {
            json!({ "have": have.to_string(), "need": need.to_string() })
        }
        AdmitError::Rule(RejectReason::Expired {
            expiry_height,
            height,
        }) => json!({ "expiryHeight": expiry_height, "height": height }),
        AdmitError::Rule(RejectReason::WrongChain { expected }) => {
            json!({ "expected": expected.to_hex() })
        }
        AdmitError::Rule(RejectReason::MissingRole { role }) => json!({ "role": role.name() }),
        AdmitError::NonceTaken(n) => json!({ "nonce": n }),
        AdmitError::Full(max) => json!({ "max": max }),
        _ => serde_json::Value::Null,
    };
    let code = match e {
        AdmitError::Full(_) => error_codes::MEMPOOL_FULL,
        _ => error_codes::TX_REJECTED,
    };
    ServerError::new(
        code,
        e.reason(),
        format!("transaction rejected: {e}"),
        extra,
    )
}

impl Api {
    fn decode_tx(&self, hex_tx: &str) -> Result<SignedTransaction, ServerError> {
        let raw = hex::decode(hex_tx.strip_prefix("0x").unwrap_or(hex_tx))
            .map_err(|e| ServerError::invalid_value("transaction hex", e))?;
        SignedTransaction::decode_bytes(&raw, self.shared.params.limits).map_err(|e| {
            ServerError::new(
                error_codes::TX_REJECTED,
                "malformed",
                format!("transaction does not decode: {e}"),
                serde_json::Value::Null,
            )
        })
    }

    /// Admit `stx` to the mempool (and gossip it), counting the outcome.
    /// (Through the admission thread, which batches signature checks under load.)
    async fn admit(&self, stx: SignedTransaction) -> Result<Hash, ServerError> {
        self.not_restoring()?;
        let id = stx.id();
        match self.shared.admission.submit(stx).await {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => Err(self.rejection(&id, &e)),
            Err(stopped) => Err(ServerError::internal(stopped)),
        }
    }

    /// Refuse what needs the chain's state while a snapshot is being restored (the state
    /// here is still genesis').
    fn not_restoring(&self) -> Result<(), ServerError> {
        match self.shared.state_sync() {
            None => Ok(()),
            Some(p) => Err(ServerError::new(
                error_codes::NOT_READY,
                "not_ready",
                format!(
                    "restoring a state snapshot ({}, {}/{} chunks): retry when node_syncing says block-sync or synced",
                    p.step, p.chunks_done, p.chunks_total
                ),
                json!({ "retry": true }),
            )),
        }
    }

    /// The answer to a refused transaction: a replay of a finalized one (its nonce is
    /// spent, and the tx index holds it) is `already_finalized` with where it is, so a
    /// wallet that resubmits after a timeout learns its transaction went through.
    fn rejection(&self, id: &Hash, e: &AdmitError) -> ServerError {
        if let AdmitError::Rule(RejectReason::NonceTooLow { expected, got }) = e
            && let Ok(Some(loc)) = self.shared.store.tx_location(id)
        {
            return ServerError::new(
                error_codes::TX_REJECTED,
                "already_finalized",
                format!(
                    "transaction rejected: already finalized in block {}",
                    loc.height
                ),
                json!({ "height": loc.height, "index": loc.index, "expected": expected, "got": got }),
            );
        }
        admit_error(e)
    }

    /// Where `id` is: finalized (store), included (executed block), pending or rejected
    /// (mempool), or unknown.
    fn status_of(&self, id: &Hash) -> Result<TxStatus, ServerError> {
        let mut st = TxStatus::new(id.to_hex(), TxState::Unknown);
        let store = &self.shared.store;
        let found = match store.tx_location(id).map_err(ServerError::internal)? {
            Some(loc) => match store
                .header_by_height(loc.height)
                .map_err(ServerError::internal)?
            {
                Some(h) => Some((loc, h)),
                // pruned between the lookup and this read: as if the index had not held it
                None if loc.height < store.oldest().map_err(ServerError::internal)?.block => None,
                None => {
                    return Err(ServerError::internal(format!(
                        "the tx index points at block {}, which is missing",
                        loc.height
                    )));
                }
            },
            None => None,
        };
        if let Some((loc, h)) = found {
            st.status = TxState::Finalized;
            st.height = Some(loc.height);
            st.index = Some(loc.index);
            st.block_hash = Some(h.id().to_hex());
            let receipt = store
                .receipts(loc.height)
                .map_err(ServerError::internal)?
                .and_then(|r| r.get(loc.index as usize).cloned());
            if let Some(r) = receipt {
                let (ok, reason) = rpc::types::outcome(&r);
                st.success = Some(ok);
                st.reason = reason;
            }
            return Ok(st);
        }
        if let Some(inc) = self.shared.included_at(id) {
            st.status = TxState::Included;
            st.height = Some(inc.height);
            st.block_hash = Some(inc.block.to_hex());
            st.index = Some(inc.index);
            return Ok(st);
        }
        let mp = self.shared.mempool();
        if mp.contains(id) {
            st.status = TxState::Pending;
        } else if let Some(r) = mp.rejection(id) {
            st.status = TxState::Rejected;
            st.reason = Some(r.to_owned());
        }
        Ok(st)
    }

    fn block_info(&self, b: Option<ledger::Block>) -> Option<BlockInfo> {
        b.as_ref().map(BlockInfo::from)
    }
}

#[async_trait]
impl DiscoverApiServer for Discover {
    async fn discover(&self) -> RpcResult<serde_json::Value> {
        Ok((*self.document).clone())
    }

    async fn methods(&self) -> RpcResult<RpcMethods> {
        Ok(RpcMethods {
            methods: (*self.methods).clone(),
        })
    }
}

#[async_trait]
impl NodeApiServer for Api {
    async fn health(&self) -> RpcResult<NodeHealth> {
        let c = self.shared.chain();
        Ok(NodeHealth {
            ready: self.shared.ready.load(std::sync::atomic::Ordering::Relaxed),
            validator: c.is_validator,
            finalized_height: c.header.height,
            best_peer_height: c.best_peer_height,
            peers: self
                .shared
                .net
                .peers
                .load(std::sync::atomic::Ordering::Relaxed) as u64,
            mempool_size: self.shared.mempool().len() as u64,
            txs_finalized: self.shared.metrics.txs_finalized.get(),
        })
    }

    async fn syncing(&self) -> RpcResult<SyncState> {
        let c = self.shared.chain();
        let ready = self.shared.ready.load(std::sync::atomic::Ordering::Relaxed);
        let state_sync = self.shared.state_sync();
        let syncing = !ready || c.best_peer_height > c.header.height + 2;
        let phase = match (&state_sync, syncing) {
            (Some(_), _) => "state-sync",
            (None, true) => "block-sync",
            (None, false) => "synced",
        };
        Ok(SyncState {
            syncing: syncing || state_sync.is_some(),
            finalized_height: c.header.height,
            best_peer_height: c.best_peer_height,
            head_height: c.head_height,
            phase: phase.into(),
            state_sync,
        })
    }

    async fn peers(&self) -> RpcResult<Vec<PeerInfo>> {
        let list = match self.shared.net.list.lock() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        };
        Ok(list
            .into_iter()
            .map(|p| PeerInfo {
                peer_id: p.peer.to_string(),
                public_key: crate::p2p::public_key_of(&p.peer).map(|k| k.to_hex()),
                address: p.address.to_string(),
                validator: p.validator,
            })
            .collect())
    }

    async fn version(&self) -> RpcResult<NodeVersion> {
        Ok(NodeVersion {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            tx_version: ledger::tx::TX_VERSION,
            block_version: ledger::block::BLOCK_VERSION,
            chain_name: self.shared.chain_name.clone(),
            chain_id: self.shared.params.chain_id.to_hex(),
        })
    }
}

/// Send `item` on `sink`; `false` once the subscriber is gone.
async fn send<T: serde::Serialize>(sink: &SubscriptionSink, item: &T) -> bool {
    match to_json_raw_value(item) {
        Ok(v) => sink.send(v).await.is_ok(),
        Err(_) => false,
    }
}

#[async_trait]
impl ChainApiServer for Api {
    async fn chain_info(&self) -> RpcResult<ChainInfo> {
        let c = self.shared.chain();
        Ok(ChainInfo {
            chain_name: self.shared.chain_name.clone(),
            chain_id: self.shared.params.chain_id.to_hex(),
            genesis_hash: self.shared.genesis_hash.to_hex(),
            head_height: c.head_height,
            finalized_height: c.header.height,
            finalized_hash: c.header.id().to_hex(),
            state_root: c.header.state_root.to_hex(),
            view: c.view,
            epoch: c.epoch,
            epoch_length: self.shared.params.epoch_length,
            validators: c.validators.iter().map(|v| v.key.to_hex()).collect(),
        })
    }

    async fn get_block_by_height(&self, height: u64) -> RpcResult<Option<BlockInfo>> {
        let store = &self.shared.store;
        let b = store
            .block_by_height(height)
            .map_err(ServerError::internal)?;
        if b.is_none() && height > 0 && height <= self.shared.chain().header.height {
            let oldest = store.oldest().map_err(ServerError::internal)?.block;
            if height < oldest {
                return Err(ServerError::pruned(format!("block {height}"), oldest).into());
            }
        }
        Ok(self.block_info(b))
    }

    async fn get_block_by_hash(&self, hash: String) -> RpcResult<Option<BlockInfo>> {
        let h = parse_hash(&hash)?;
        let b = self
            .shared
            .store
            .block_by_hash(&h)
            .map_err(ServerError::internal)?;
        Ok(self.block_info(b))
    }

    async fn get_validators(&self) -> RpcResult<ValidatorsInfo> {
        let c = self.shared.chain();
        let set = crate::core::validator_set(&c.validators).map_err(ServerError::internal)?;
        let pending = !c.state.system.pending_changes.is_empty();
        Ok(ValidatorsInfo {
            epoch: c.epoch,
            validators: c.validators.iter().map(ValidatorInfo::from).collect(),
            total_power: set.total_power(),
            quorum_power: set.quorum(),
            next: pending.then(|| {
                c.state
                    .system
                    .validators_after_pending()
                    .iter()
                    .map(ValidatorInfo::from)
                    .collect()
            }),
        })
    }

    async fn get_finality_proof(&self, height: u64) -> RpcResult<Option<FinalityProofInfo>> {
        use crate::light::EvidenceError;
        let ev = match crate::light::evidence_at(
            &self.shared.store,
            height,
            self.shared.params.epoch_length,
        ) {
            Ok(ev) => ev,
            Err(EvidenceError::Missing(_)) => return Ok(None),
            Err(e @ EvidenceError::Incomplete { .. }) => {
                return Err(ServerError::unavailable(e, true).into());
            }
            Err(e @ EvidenceError::Unavailable(_)) => {
                return Err(ServerError::unavailable(e, false).into());
            }
            Err(EvidenceError::Pruned { oldest, .. }) => {
                return Err(ServerError::pruned(format!("block {height}"), oldest).into());
            }
            Err(EvidenceError::Store(e)) => return Err(ServerError::internal(e).into()),
        };
        Ok(Some(ev.to_info(self.shared.params.epoch_length)))
    }

    async fn subscribe_new_heads(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut rx = self.shared.events.subscribe();
        let sink = pending.accept().await?;
        loop {
            tokio::select! {
                _ = sink.closed() => break,
                ev = rx.recv() => match ev {
                    Ok(ChainEvent::NewHead(b)) => {
                        if !send(&sink, &HeaderInfo::new(&b.header, b.txs.len())).await {
                            break;
                        }
                    }
                    Ok(ChainEvent::Finalized(_)) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                },
            }
        }
        Ok(())
    }

    async fn subscribe_finalized_heads(
        &self,
        pending: PendingSubscriptionSink,
    ) -> SubscriptionResult {
        let mut rx = self.shared.events.subscribe();
        let mut last = self.shared.chain().header.height;
        let sink = pending.accept().await?;
        loop {
            let ev = tokio::select! {
                _ = sink.closed() => break,
                ev = rx.recv() => ev,
            };
            let upto = match ev {
                Ok(ChainEvent::Finalized(b)) => b.header.height,
                Ok(ChainEvent::NewHead(_)) => continue,
                // fell behind: catch up from the store below
                Err(RecvError::Lagged(_)) => self.shared.chain().header.height,
                Err(RecvError::Closed) => break,
            };
            // every height in order, even if events were skipped
            while last < upto {
                let Ok(Some(b)) = self.shared.store.block_by_height(last + 1) else {
                    break;
                };
                if !send(&sink, &HeaderInfo::new(&b.header, b.txs.len())).await {
                    return Ok(());
                }
                last += 1;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl AccountApiServer for Api {
    async fn account_info(&self, public_key: String) -> RpcResult<AccountInfo> {
        let key = parse_key(&public_key)?;
        let c = self.shared.chain();
        Ok(AccountInfo::new(
            &key,
            &c.state.account(&key),
            c.header.height,
        ))
    }

    async fn balance(&self, public_key: String) -> RpcResult<String> {
        let key = parse_key(&public_key)?;
        Ok(self.shared.chain().state.account(&key).balance.to_string())
    }

    async fn nonce(&self, public_key: String) -> RpcResult<u64> {
        let key = parse_key(&public_key)?;
        Ok(self.shared.chain().state.account(&key).nonce)
    }
}

#[async_trait]
impl StateApiServer for Api {
    async fn get_proof(&self, public_key: String) -> RpcResult<AccountProofInfo> {
        let key = parse_key(&public_key)?;
        let c = self.shared.chain();
        let proof = c.state.prove(&key);
        // never hand out a proof that does not verify
        let account = ledger::light::verify_account_proof(&c.header, &key, &proof)
            .map_err(ServerError::internal)?;
        Ok(AccountProofInfo {
            public_key: key.to_hex(),
            height: c.header.height,
            block_hash: c.header.id().to_hex(),
            state_root: c.header.state_root.to_hex(),
            header: format!("0x{}", hex::encode(c.header.encode())),
            account: account.map(|a| AccountState::new(&key, &a)),
            proof: format!("0x{}", hex::encode(proof.encode())),
        })
    }
}

#[async_trait]
impl TxApiServer for Api {
    async fn submit(&self, tx: String) -> RpcResult<String> {
        let stx = self.decode_tx(&tx)?;
        Ok(self.admit(stx).await?.to_hex())
    }

    async fn submit_many(&self, txs: Vec<String>) -> RpcResult<Vec<SubmitOutcome>> {
        self.not_restoring()?;
        if txs.len() > rpc::MAX_SUBMIT_TXS {
            return Err(ServerError::invalid_value(
                "txs",
                format!("at most {} per call", rpc::MAX_SUBMIT_TXS),
            )
            .into());
        }
        let refused = |e: ServerError| SubmitOutcome {
            hash: None,
            error: Some(SubmitError {
                code: e.code,
                message: e.message,
                data: e.data,
            }),
        };
        // what does not decode is answered here; the rest goes to admission together
        let mut out: Vec<Option<SubmitOutcome>> = Vec::with_capacity(txs.len());
        let mut decoded = Vec::with_capacity(txs.len());
        for tx in &txs {
            match self.decode_tx(tx) {
                Ok(stx) => {
                    decoded.push(stx);
                    out.push(None);
                }
                Err(e) => out.push(Some(refused(e))),
            }
        }
        let ids: Vec<Hash> = decoded.iter().map(SignedTransaction::id).collect();
        let results = if decoded.is_empty() {
            Vec::new()
        } else {
            self.shared
                .admission
                .submit_many(decoded)
                .await
                .map_err(ServerError::internal)?
        };
        let mut results = results.into_iter().zip(ids);
        Ok(out
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| match results.next() {
                    Some((Ok(id), _)) => SubmitOutcome {
                        hash: Some(id.to_hex()),
                        error: None,
                    },
                    Some((Err(e), id)) => refused(self.rejection(&id, &e)),
                    None => refused(ServerError::internal("admission gave fewer answers")),
                })
            })
            .collect())
    }

    async fn get_status(&self, hashes: Vec<String>) -> RpcResult<Vec<TxStatus>> {
        if hashes.len() > MAX_STATUS_HASHES {
            return Err(ServerError::invalid_value(
                "hashes",
                format!("at most {MAX_STATUS_HASHES} per call"),
            )
            .into());
        }
        let mut out = Vec::with_capacity(hashes.len());
        for h in hashes {
            out.push(self.status_of(&parse_hash(&h)?)?);
        }
        Ok(out)
    }

    async fn get(&self, hash: String) -> RpcResult<Option<TxInfo>> {
        let id = parse_hash(&hash)?;
        let status = self.status_of(&id)?;
        let stx = match status.status {
            TxState::Finalized => self
                .shared
                .store
                .tx(&id)
                .map_err(ServerError::internal)?
                .map(|t| t.tx),
            TxState::Included | TxState::Pending => self.shared.mempool().get(&id).cloned(),
            TxState::Rejected | TxState::Unknown => None,
        };
        Ok(stx.map(|stx| {
            let t = stx.tx();
            TxInfo {
                status,
                sender: t.sender.to_hex(),
                nonce: t.nonce,
                expiry_height: t.expiry_height,
                kind: TxKindInfo::from(&t.kind),
                raw: format!("0x{}", hex::encode(stx.encode())),
            }
        }))
    }

    async fn simulate(&self, tx: String) -> RpcResult<SimulateResult> {
        let stx = self.decode_tx(&tx)?;
        let sig_ok = stx.verify_signature();
        let c = self.shared.chain();
        let id = stx.id();
        let out = ledger::execute_block(
            &self.shared.params,
            &c.state,
            c.header.id(),
            &[stx],
            &[sig_ok],
        );
        let (success, reason) = out
            .receipts
            .first()
            .map(rpc::types::outcome)
            .unwrap_or((false, Some("internal".into())));
        Ok(SimulateResult {
            hash: id.to_hex(),
            success,
            reason,
            height: out.state.height,
            changes: out
                .changes
                .iter()
                .map(|(k, a)| AccountState::new(k, &a.unwrap_or_default()))
                .collect(),
        })
    }

    async fn submit_and_watch(
        &self,
        pending: PendingSubscriptionSink,
        tx: String,
    ) -> SubscriptionResult {
        let stx = match self.decode_tx(&tx) {
            Ok(t) => t,
            Err(e) => {
                pending.reject(ErrorObjectOwned::from(e)).await;
                return Ok(());
            }
        };
        // subscribe before admission so no event about it can be missed
        let mut rx = self.shared.events.subscribe();
        let id = match self.admit(stx).await {
            Ok(id) => id,
            Err(e) => {
                pending.reject(ErrorObjectOwned::from(e)).await;
                return Ok(());
            }
        };
        let sink = pending.accept().await?;
        let mut last: Option<TxStatus> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            let mut st = self.status_of(&id)?;
            if st.status == TxState::Unknown {
                // it left the pool without a refusal on record
                st.status = TxState::Rejected;
                st.reason = Some("dropped".into());
            }
            if last.as_ref() != Some(&st) {
                if !send(&sink, &st).await {
                    return Ok(());
                }
                if st.is_final() {
                    return Ok(());
                }
                last = Some(st);
            }
            tokio::select! {
                _ = sink.closed() => return Ok(()),
                ev = rx.recv() => if matches!(ev, Err(RecvError::Closed)) { return Ok(()); },
                _ = tick.tick() => {}
            }
        }
    }
}
