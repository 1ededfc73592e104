//! Blocks and headers from untrusted bytes (proposals, sync answers, the store): decode
//! only from their canonical encoding, under the limits; a decoded block's roots compute.
#![no_main]

use ledger::{Block, BlockHeader, Limits};
use libfuzzer_sys::fuzz_target;
use palisade_fuzz::canonical;

fuzz_target!(|data: &[u8]| {
    // small limits, so the fuzzer reaches them
    let limits = Limits {
        max_tx_bytes: 512,
        max_block_txs: 16,
        max_block_bytes: 8 * 1024,
        max_string_bytes: 64,
        max_list_len: 64,
    };
    let _ = canonical::<BlockHeader>(data, limits);
    match canonical::<Block>(data, limits) {
        Some(block) => {
            let same = Block::decode_bytes(data, limits).expect("decode_bytes agrees");
            assert_eq!(same, block);
            assert!(block.txs.len() <= limits.max_block_txs);
            let _ = block.id();
            let _ = block.body_matches_header();
            let _ = ledger::block::tx_root(&block.txs);
        }
        None => assert!(Block::decode_bytes(data, limits).is_err()),
    }
});
