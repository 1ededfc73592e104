//! Finality evidence as peers exchange it for state sync (`node::light::FinalityEvidence`):
//! decodes only from its canonical encoding, and a light client anchored at genesis checks
//! anything that decodes without panicking (and accepts none of it: the fuzzer cannot
//! forge signatures of the sample chain's validators).
#![no_main]

use libfuzzer_sys::fuzz_target;
use node::light::{FinalityEvidence, LightClient, sample_chain};
use std::sync::LazyLock;

static CHAIN: LazyLock<Vec<FinalityEvidence>> = LazyLock::new(|| sample_chain(4, 4, 4));

fuzz_target!(|data: &[u8]| {
    let Ok(ev) = FinalityEvidence::decode(data) else {
        return;
    };
    assert_eq!(
        ev.encode(),
        data,
        "evidence decoded from non-canonical bytes"
    );
    let genesis = &CHAIN[0];
    let mut client = LightClient::anchored(genesis.header.id(), 4, genesis).expect("anchor");
    if client.verify(&ev).is_ok() || client.advance(&ev).is_ok() {
        // only the real chain's evidence can pass
        assert!(
            CHAIN.iter().any(|c| c.header == ev.header),
            "forged evidence accepted"
        );
    }
});
