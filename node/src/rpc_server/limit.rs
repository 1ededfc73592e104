//! The per-IP call rate limit (a `governor` token bucket keyed by the client's address),
//! as a JSON-RPC middleware so it covers HTTP and WebSocket alike, and concurrent batches.
//! The same middleware refuses subscription methods called over plain HTTP with a clear
//! "Method not found" (jsonrpsee answers them with -32603 "Internal error", which the docs
//! reserve for bugs: found by `scripts/rpc_fuzz.py`).

use std::collections::HashSet;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::DefaultKeyedRateLimiter;
use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, RpcServiceT};
use jsonrpsee::server::{BatchResponseBuilder, MethodResponse};
use jsonrpsee::types::{ErrorObjectOwned, Id, Request};
use rpc::ServerError;

use super::MAX_RESPONSE_BYTES;

/// The client's IP, put into each request's extensions by the accept loop.
#[derive(Clone, Copy, Debug)]
pub(super) struct RemoteIp(pub(super) IpAddr);

/// Whether a connection is a WebSocket, put into each request's extensions by the accept
/// loop (the upgrade request's extensions reach every call on the socket).
#[derive(Clone, Copy, Debug)]
pub(super) struct WebSocket(pub(super) bool);

/// Per-IP call rate limit, as an RPC middleware so it covers HTTP and WebSocket alike; and
/// the refusal of subscription methods over HTTP.
#[derive(Clone)]
pub(super) struct RateLimit<S> {
    pub(super) inner: S,
    pub(super) limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    /// Subscription and unsubscription methods: WebSocket only.
    pub(super) websocket_only: Arc<HashSet<&'static str>>,
}

impl<S> RateLimit<S> {
    /// The refusal of `req`, if it is a subscription method called over plain HTTP.
    fn needs_websocket(&self, req: &Request<'_>) -> Option<MethodResponse> {
        let over_ws = req.extensions().get::<WebSocket>().is_some_and(|w| w.0);
        let name = req.method_name();
        (!over_ws && self.websocket_only.contains(name)).then(|| {
            MethodResponse::error(
                req.id.clone(),
                ErrorObjectOwned::owned(
                    jsonrpsee::types::error::METHOD_NOT_FOUND_CODE,
                    format!("Method not found: {name} is a subscription method, available over WebSocket only"),
                    None::<()>,
                ),
            )
        })
    }

    fn allow(&self, ext: &http::Extensions, calls: usize) -> bool {
        let (Some(limiter), Some(RemoteIp(ip))) = (&self.limiter, ext.get::<RemoteIp>()) else {
            return true;
        };
        let n = NonZeroU32::new(u32::try_from(calls.max(1)).unwrap_or(u32::MAX))
            .unwrap_or(NonZeroU32::MIN);
        matches!(limiter.check_key_n(ip, n), Ok(Ok(())))
    }
}

/// Rate-limit tokens a call costs: one, or one per transaction for `tx_submitMany` (its
/// params are an array of hex strings, so the commas count them).
fn call_cost(req: &Request<'_>) -> usize {
    if req.method_name() != "tx_submitMany" {
        return 1;
    }
    req.params()
        .as_str()
        .map_or(1, |p| p.bytes().filter(|b| *b == b',').count() + 1)
}

fn rate_limited(id: Id<'_>) -> MethodResponse {
    MethodResponse::error(id, ErrorObjectOwned::from(ServerError::rate_limited()))
}

impl<S> RpcServiceT for RateLimit<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type BatchResponse = MethodResponse;
    type NotificationResponse = MethodResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let allowed = self.allow(req.extensions(), call_cost(&req));
        let refused = self.needs_websocket(&req);
        let inner = self.inner.clone();
        async move {
            if let Some(refused) = refused {
                refused
            } else if allowed {
                inner.call(req).await
            } else {
                rate_limited(req.id)
            }
        }
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let calls = batch.len();
        let allowed = self.allow(batch.extensions(), calls);
        let inner = self.inner.clone();
        let limit = self.clone();
        async move {
            if allowed {
                run_batch(&inner, batch, |req| {
                    if let Some(refused) = limit.needs_websocket(req) {
                        return Some(refused);
                    }
                    // the batch paid one token per call: a tx_submitMany pays the rest
                    let extra = call_cost(req) - 1;
                    (extra > 0 && !limit.allow(req.extensions(), extra))
                        .then(|| rate_limited(req.id.clone()))
                })
                .await
            } else {
                rate_limited(Id::Null)
            }
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        let allowed = self.allow(n.extensions(), 1);
        let inner = self.inner.clone();
        async move {
            if allowed {
                inner.notification(n).await
            } else {
                MethodResponse::notification()
            }
        }
    }
}

/// Run a batch's calls concurrently (JSON-RPC 2.0 lets a server process them in any order
/// and with any parallelism; jsonrpsee's own batch runs them one after another), answering
/// in request order. Concurrent `tx_submit`s reach the admission thread together and share
/// batch signature checks.
async fn run_batch<S>(
    inner: &S,
    batch: Batch<'_>,
    refuse: impl Fn(&Request<'_>) -> Option<MethodResponse>,
) -> MethodResponse
where
    S: RpcServiceT<MethodResponse = MethodResponse, NotificationResponse = MethodResponse>,
{
    let mut calls = Vec::new();
    let mut got_notification = false;
    for entry in batch {
        match entry {
            Ok(BatchEntry::Call(req)) => match refuse(&req) {
                Some(refused) => calls.push(futures::future::Either::Right(
                    futures::future::ready(refused),
                )),
                None => calls.push(futures::future::Either::Left(inner.call(req))),
            },
            Ok(BatchEntry::Notification(n)) => {
                got_notification = true;
                inner.notification(n).await;
            }
            Err(err) => {
                let (err, id) = err.into_parts();
                calls.push(futures::future::Either::Right(futures::future::ready(
                    MethodResponse::error(id, err),
                )));
            }
        }
    }
    let mut answer = BatchResponseBuilder::new_with_limit(MAX_RESPONSE_BYTES as usize);
    for response in futures::future::join_all(calls).await {
        if let Err(too_big) = answer.append(response) {
            return too_big;
        }
    }
    if answer.is_empty() && got_notification {
        MethodResponse::notification()
    } else {
        MethodResponse::from_batch(answer.finish())
    }
}
