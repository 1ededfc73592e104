//! Server error codes (JSON-RPC 2.0 reserves −32000..−32099 for servers). Every error
//! carries a machine-readable `reason` in `data`, plus details where they help.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{Value, json};

/// The server error codes. jsonrpsee itself answers −32005..−32011 for transport limits
/// (oversized request −32007, too many subscriptions −32006, batch too large −32010, …), so
/// Palisade's own codes start at −32020.
pub mod error_codes {
    /// The transaction was refused (`data.reason` says why, see `docs/rpc.md`).
    pub const TX_REJECTED: i32 = -32020;
    /// The mempool is full; retry later.
    pub const MEMPOOL_FULL: i32 = -32021;
    /// A parameter parsed as JSON but is not a valid value (bad hex, wrong length, too many).
    pub const INVALID_VALUE: i32 = -32022;
    /// This client sent more requests than the per-IP rate limit allows.
    pub const RATE_LIMITED: i32 = -32023;
    /// The node is not ready (still syncing).
    pub const NOT_READY: i32 = -32024;
    /// The node failed internally (storage); try another node.
    pub const INTERNAL: i32 = -32025;
    /// This node does not hold what was asked (not recorded, pruned, or not committed yet);
    /// `data.retry` says whether asking again later can help.
    pub const UNAVAILABLE: i32 = -32026;

    /// Every code with its name, for documentation and tests.
    pub const ALL: [(i32, &str); 7] = [
        (TX_REJECTED, "tx_rejected"),
        (MEMPOOL_FULL, "mempool_full"),
        (INVALID_VALUE, "invalid_value"),
        (RATE_LIMITED, "rate_limited"),
        (NOT_READY, "not_ready"),
        (INTERNAL, "internal"),
        (UNAVAILABLE, "unavailable"),
    ];

    /// Every `data.reason` a [`TX_REJECTED`] error carries: `malformed` (the bytes do not
    /// decode), the ledger rules the mempool checks on admission, and the mempool's own.
    pub const TX_REJECTED_REASONS: [&str; 12] = [
        "malformed",
        "bad_signature",
        "wrong_chain",
        "expired",
        "nonce_too_low",
        "nonce_too_high",
        "unknown_sender",
        "missing_role",
        "insufficient_balance",
        "already_known",
        "nonce_taken",
        "already_finalized",
    ];
}

/// A server error: code, message and `data` with a `reason`.
#[derive(Clone, Debug)]
pub struct ServerError {
    /// The code (see [`error_codes`]).
    pub code: i32,
    /// Human-readable message.
    pub message: String,
    /// `{"reason": ..., ...}`.
    pub data: Value,
}

impl ServerError {
    /// An error with `reason` and extra fields merged into `data`.
    pub fn new(code: i32, reason: &str, message: impl Into<String>, extra: Value) -> Self {
        let mut data = json!({ "reason": reason });
        if let (Some(d), Value::Object(more)) = (data.as_object_mut(), extra) {
            d.extend(more);
        }
        ServerError {
            code,
            message: message.into(),
            data,
        }
    }

    /// A bad parameter value.
    pub fn invalid_value(what: &str, why: impl std::fmt::Display) -> Self {
        ServerError::new(
            error_codes::INVALID_VALUE,
            "invalid_value",
            format!("invalid {what}: {why}"),
            json!({ "field": what }),
        )
    }

    /// A refusal by the per-IP rate limit.
    pub fn rate_limited() -> Self {
        ServerError::new(
            error_codes::RATE_LIMITED,
            "rate_limited",
            "too many requests from this address; slow down",
            Value::Null,
        )
    }

    /// Data this node does not hold; `retry`: whether it may later.
    pub fn unavailable(why: impl std::fmt::Display, retry: bool) -> Self {
        ServerError::new(
            error_codes::UNAVAILABLE,
            "unavailable",
            why.to_string(),
            json!({ "retry": retry }),
        )
    }

    /// Data this node deleted by its retention settings; `oldest`: the oldest height it
    /// still holds (besides genesis and epoch ends).
    pub fn pruned(what: impl std::fmt::Display, oldest: u64) -> Self {
        ServerError::new(
            error_codes::UNAVAILABLE,
            "pruned",
            format!(
                "{what} is pruned on this node: it holds heights from {oldest} on (ask an archive node)"
            ),
            json!({ "retry": false, "oldestHeight": oldest }),
        )
    }

    /// An internal failure.
    pub fn internal(why: impl std::fmt::Display) -> Self {
        ServerError::new(
            error_codes::INTERNAL,
            "internal",
            format!("internal error: {why}"),
            Value::Null,
        )
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ServerError> for ErrorObjectOwned {
    fn from(e: ServerError) -> Self {
        ErrorObjectOwned::owned(e.code, e.message, Some(e.data))
    }
}
