//! `config.toml`: any text either fails to parse with an error or gives a configuration
//! that writes back to TOML and reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use node::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = toml::from_str::<Config>(text) else {
        return;
    };
    let written = config.to_toml().expect("a configuration writes");
    let back: Config = toml::from_str(&written).expect("a written configuration reads back");
    assert_eq!(back, config);
});
