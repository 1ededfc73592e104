//! Helpers the process-level tests share.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)] // helpers, not an API

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonrpsee::http_client::HttpClient;
use rpc::{TxApiClient, TxState, TxStatus};

/// The `palisade` binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_palisade"))
}

/// Poll `tx_getStatus` until `hash` is finalized; panics if it is rejected or `timeout`
/// passes.
pub async fn wait_finalized(c: &HttpClient, hash: &str, timeout: Duration) -> TxStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let st = c.get_status(vec![hash.to_owned()]).await.unwrap().remove(0);
        if st.status == TxState::Finalized {
            return st;
        }
        assert!(
            Instant::now() < deadline && st.status != TxState::Rejected,
            "tx {hash} not finalized: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
