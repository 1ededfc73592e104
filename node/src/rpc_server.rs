//! The JSON-RPC server: the `rpc` crate's traits implemented over `Shared`. Reads come
//! from the last finalized state and the store; `tx_submit` goes through mempool admission.

use std::sync::Arc;

use anyhow::{Context, Result};
use jsonrpsee::RpcModule;
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};
use ledger::{Hash, PublicKey, RejectReason, SignedTransaction};
use rpc::{
    AccountApiServer, AccountInfo, BlockInfo, ChainApiServer, ChainInfo, NodeApiServer, NodeHealth,
    ServerError, TxApiServer, TxState, TxStatus, error_codes,
};
use serde_json::json;

use crate::config::RpcSection;
use crate::mempool::AdmitError;
use crate::node::Shared;

/// Most hashes in one `tx_getStatus` call.
const MAX_STATUS_HASHES: usize = 1000;

#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
}

/// Start serving on `cfg.listen`.
pub async fn start(cfg: &RpcSection, shared: Arc<Shared>) -> Result<ServerHandle> {
    let config = ServerConfig::builder()
        .max_request_body_size(cfg.max_request_bytes)
        .max_response_body_size(64 << 20)
        .max_connections(cfg.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.max_batch))
        .build();
    let server = Server::builder()
        .set_config(config)
        .build(cfg.listen)
        .await
        .with_context(|| format!("binding the RPC server to {}", cfg.listen))?;
    let api = Api { shared };
    let mut module = RpcModule::new(());
    module.merge(ChainApiServer::into_rpc(api.clone()))?;
    module.merge(AccountApiServer::into_rpc(api.clone()))?;
    module.merge(TxApiServer::into_rpc(api.clone()))?;
    module.merge(NodeApiServer::into_rpc(api))?;
    tracing::info!(addr = %cfg.listen, "JSON-RPC listening (HTTP and WebSocket)");
    Ok(server.start(module))
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

#[async_trait]
impl ChainApiServer for Api {
    async fn chain_info(&self) -> RpcResult<ChainInfo> {
        let c = self.shared.chain();
        Ok(ChainInfo {
            chain_name: self.shared.chain_name.clone(),
            chain_id: self.shared.params.chain_id.to_hex(),
            head_height: c.head_height,
            finalized_height: c.header.height,
            finalized_hash: c.header.id().to_hex(),
            state_root: c.header.state_root.to_hex(),
            view: c.view,
            epoch: c.epoch,
            validators: c.validators.iter().map(|v| v.key.to_hex()).collect(),
        })
    }

    async fn get_block_by_height(&self, height: u64) -> RpcResult<Option<BlockInfo>> {
        let Some(b) = self
            .shared
            .store
            .block_by_height(height)
            .map_err(ServerError::internal)?
        else {
            return Ok(None);
        };
        let h = &b.header;
        Ok(Some(BlockInfo {
            height: h.height,
            hash: h.id().to_hex(),
            parent: h.parent.to_hex(),
            timestamp_ms: h.timestamp_ms,
            proposer: h.proposer.to_hex(),
            tx_root: h.tx_root.to_hex(),
            receipts_root: h.receipts_root.to_hex(),
            state_root: h.state_root.to_hex(),
            validators_hash: h.validators_hash.to_hex(),
            txs: b.txs.iter().map(|t| t.id().to_hex()).collect(),
        }))
    }
}

#[async_trait]
impl AccountApiServer for Api {
    async fn account_info(&self, public_key: String) -> RpcResult<AccountInfo> {
        let key = parse_key(&public_key)?;
        let c = self.shared.chain();
        let a = c.state.account(&key);
        Ok(AccountInfo {
            public_key: key.to_hex(),
            balance: a.balance.to_string(),
            nonce: a.nonce,
            roles: a.role_list().iter().map(|r| r.name().to_owned()).collect(),
            height: c.header.height,
        })
    }
}

#[async_trait]
impl TxApiServer for Api {
    async fn submit(&self, tx: String) -> RpcResult<String> {
        let raw = hex::decode(tx.strip_prefix("0x").unwrap_or(&tx))
            .map_err(|e| ServerError::invalid_value("transaction hex", e))?;
        let stx =
            SignedTransaction::decode_bytes(&raw, self.shared.params.limits).map_err(|e| {
                ServerError::new(
                    error_codes::TX_REJECTED,
                    "malformed",
                    format!("transaction does not decode: {e}"),
                    serde_json::Value::Null,
                )
            })?;
        let sig_ok = stx.verify_signature();
        let state = self.shared.chain().state;
        let result =
            self.shared
                .mempool()
                .admit(stx, sig_ok, &self.shared.params.chain_id, &state, true);
        match result {
            Ok(id) => {
                self.shared.metrics.mempool_admitted.inc();
                Ok(id.to_hex())
            }
            Err(e) => {
                self.shared.metrics.mempool_rejected.inc();
                Err(admit_error(&e).into())
            }
        }
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
            let id = parse_hash(&h)?;
            let mut st = TxStatus {
                hash: id.to_hex(),
                status: TxState::Unknown,
                height: None,
                index: None,
                success: None,
                reason: None,
            };
            let store = &self.shared.store;
            if let Some(loc) = store.tx_location(&id).map_err(ServerError::internal)? {
                let receipt = store
                    .receipts(loc.height)
                    .map_err(ServerError::internal)?
                    .and_then(|r| r.get(loc.index as usize).cloned());
                st.status = TxState::Finalized;
                st.height = Some(loc.height);
                st.index = Some(loc.index);
                if let Some(r) = receipt {
                    st.success = Some(r.outcome.is_ok());
                    st.reason = r.outcome.err().map(|e| e.name().to_owned());
                }
            } else {
                let mp = self.shared.mempool();
                if mp.contains(&id) {
                    st.status = TxState::Pending;
                } else if let Some(r) = mp.rejection(&id) {
                    st.status = TxState::Rejected;
                    st.reason = Some(r.to_owned());
                }
            }
            out.push(st);
        }
        Ok(out)
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
                .load(std::sync::atomic::Ordering::Relaxed),
            mempool_size: self.shared.mempool().len(),
            txs_finalized: self.shared.metrics.txs_finalized.get(),
        })
    }
}
