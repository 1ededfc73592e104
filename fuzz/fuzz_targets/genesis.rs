//! `genesis.json` from an operator (or a stranger's download): any text either fails with
//! an error or validates to a genesis whose state, block and hash compute, and which
//! writes back to JSON that validates to the same chain id.
#![no_main]

use genesis::GenesisDoc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = GenesisDoc::from_json(text) else {
        return;
    };
    let Ok(genesis) = doc.validate() else {
        return;
    };
    let state = genesis.initial_state();
    let block = genesis.genesis_block();
    assert_eq!(block.header.state_root, state.root());
    assert_eq!(
        state.system.total_supply,
        genesis
            .accounts
            .iter()
            .map(|(_, a)| a.balance)
            .sum::<u128>()
    );
    let json = genesis.to_doc().to_json();
    let again = GenesisDoc::from_json(&json)
        .and_then(|d| d.validate())
        .expect("a written genesis reads back");
    assert_eq!(
        again.hash(),
        genesis.hash(),
        "the chain id changed through JSON"
    );
});
