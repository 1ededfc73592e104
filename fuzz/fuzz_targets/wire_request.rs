//! Every request a peer can send (consensus messages and certificates, transaction
//! batches, proposals, sync and block requests): a frame decodes only from its canonical
//! encoding and within its type's size limit.
#![no_main]

use ledger::Limits;
use libfuzzer_sys::fuzz_target;
use node::wire::Request;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_block_txs: 64,
        ..Limits::default()
    };
    if let Ok(req) = Request::decode(data, limits) {
        let bytes = req.encode();
        assert_eq!(
            bytes, data,
            "a request decoded from bytes that are not its encoding"
        );
        let back = Request::decode(&bytes, limits).expect("an encoding decodes");
        assert_eq!(back, req);
        let _ = node::wire::expects_answer(data);
    }
});
