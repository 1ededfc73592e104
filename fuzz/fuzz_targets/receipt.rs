//! Receipts (stored, and answered by RPC) decode only from their canonical encoding, and
//! a decoded rejection reason has a stable name and code.
#![no_main]

use ledger::{Limits, Receipt, RejectReason};
use libfuzzer_sys::fuzz_target;
use palisade_fuzz::canonical;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Some(r) = canonical::<Receipt>(data, limits)
        && let Err(reason) = &r.outcome
    {
        assert!(!reason.name().is_empty());
        let _ = (reason.code(), reason.consumes_nonce(), reason.to_string());
    }
    if let Some(reason) = canonical::<RejectReason>(data, limits) {
        assert!(!reason.name().is_empty());
    }
});
