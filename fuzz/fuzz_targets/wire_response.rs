//! Every answer a peer can give (sync blocks with their proofs, a block, transactions, a
//! refusal): decodes only from its canonical encoding, and the finality proofs inside a
//! sync answer decode on their own.
#![no_main]

use ledger::Limits;
use libfuzzer_sys::fuzz_target;
use node::wire::{FinalityProof, Response};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_block_txs: 64,
        max_list_len: 64,
        ..Limits::default()
    };
    if let Ok(resp) = Response::decode(data, limits) {
        let bytes = resp.encode();
        assert_eq!(
            bytes, data,
            "a response decoded from bytes that are not its encoding"
        );
        assert_eq!(
            Response::decode(&bytes, limits).expect("an encoding decodes"),
            resp
        );
        if let Response::Blocks(blocks) = &resp {
            for b in blocks {
                if let Ok(p) = FinalityProof::decode(&b.proof) {
                    assert_eq!(p.encode(), b.proof);
                }
            }
        }
    }
});
