//! Server error codes (JSON-RPC 2.0 reserves −32000..−32099 for servers). Every error
//! carries a machine-readable `reason` in `data`, plus details where they help.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{Value, json};

/// The server error codes.
pub mod error_codes {
    /// The transaction was refused by the mempool (`data.reason` says why).
    pub const TX_REJECTED: i32 = -32001;
    /// A parameter parsed as JSON but is not a valid value (bad hex, wrong length).
    pub const INVALID_VALUE: i32 = -32002;
    /// The mempool is full.
    pub const MEMPOOL_FULL: i32 = -32003;
    /// The node failed internally (storage); try another node.
    pub const INTERNAL: i32 = -32010;
    /// The node is not ready (still syncing).
    pub const NOT_READY: i32 = -32011;
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

impl From<ServerError> for ErrorObjectOwned {
    fn from(e: ServerError) -> Self {
        ErrorObjectOwned::owned(e.code, e.message, Some(e.data))
    }
}
