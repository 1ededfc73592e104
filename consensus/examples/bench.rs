//! Consensus benchmarks: simulated views per second of wall time (the engines' own cost,
//! ed25519 included, with a 1 ms network and no faults) and time to finality in hops.
//!
//! cargo run -p consensus --release --example bench

use std::time::Instant;

use consensus::sim::{SimConfig, run};

fn no_faults(validators: usize, latency: u64, blocks: u64) -> SimConfig {
    SimConfig {
        seed: 1,
        validators,
        powers: vec![],
        byzantine: vec![],
        loss_percent: 0,
        duplicate_percent: 0,
        latency_ms: (latency, latency),
        partitions: false,
        crashes: false,
        crash_all_at: vec![],
        clock_skew_percent: 0,
        fault_ms: 0,
        liveness_blocks: blocks,
        liveness_ms: 10_000_000,
        disabled_rule: None,
    }
}

fn main() {
    for n in [4usize, 10] {
        let mut rates = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let r = run(no_faults(n, 1, 2_000));
            assert!(r.violation.is_none(), "{:?}", r.violation);
            rates.push(r.views as f64 / t.elapsed().as_secs_f64());
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        println!(
            "n = {n:2}: {:.0} views/s (median of 5 runs of 2,000 views; min {:.0}, max {:.0})",
            rates[2], rates[0], rates[4]
        );
    }
    for n in [4usize, 10] {
        let r = run(no_faults(n, 100, 50));
        println!(
            "n = {n:2}: median proposal-sent → finalized {} ms with 100 ms hops = {:.2} hops",
            r.median_finality_ms,
            r.median_finality_ms as f64 / 100.0
        );
    }
}
