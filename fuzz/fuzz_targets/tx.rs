//! Transactions from untrusted bytes: `Transaction` and `SignedTransaction` decode only
//! from their canonical encoding, and whatever decodes can be hashed and verified.
#![no_main]

use ledger::{Limits, SignedTransaction, Transaction};
use libfuzzer_sys::fuzz_target;
use palisade_fuzz::canonical;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = canonical::<Transaction>(data, limits);
    if let Some(stx) = canonical::<SignedTransaction>(data, limits) {
        let same = SignedTransaction::decode_bytes(data, limits).expect("decode_bytes agrees");
        assert_eq!(same, stx);
        assert_eq!(stx.id(), stx.tx().id());
        assert_eq!(stx.encoded_len(), data.len());
        // a junk signature fails, it never panics
        let _ = stx.verify_signature();
        let _ = ledger::required_roles(&stx.tx().kind);
    } else {
        assert!(SignedTransaction::decode_bytes(data, limits).is_err());
    }
});
