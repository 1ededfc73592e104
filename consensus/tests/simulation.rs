//! The engine under the deterministic simulator: safety at every step, liveness after
//! faults heal, determinism, and proof that the checks find a broken rule.

use consensus::Rule;
use consensus::sim::{SimConfig, SimReport, run};

fn replay_command(cfg: &SimConfig) -> String {
    format!(
        "cargo run -p consensus --release --example soak -- --seed {} --validators {}",
        cfg.seed, cfg.validators
    )
}

fn check(cfg: SimConfig) -> SimReport {
    let report = run(cfg.clone());
    if let Some(v) = &report.violation {
        panic!(
            "seed {} (n = {}): {v}\nconfig: {cfg:?}\nreplay: {}",
            cfg.seed,
            cfg.validators,
            replay_command(&cfg)
        );
    }
    report
}

fn no_faults(seed: u64, validators: usize) -> SimConfig {
    SimConfig {
        seed,
        validators,
        powers: vec![],
        byzantine: vec![],
        loss_percent: 0,
        duplicate_percent: 0,
        latency_ms: (10, 10),
        partitions: false,
        crashes: false,
        crash_all_at: vec![],
        clock_skew_percent: 0,
        fault_ms: 0,
        liveness_blocks: 150,
        liveness_ms: 5_000,
        disabled_rule: None,
    }
}

#[test]
fn without_faults_every_view_finalizes_a_block() {
    for n in [4, 7, 10] {
        // 10 ms hops and a view every 2 hops (propose, notarize): about 250 blocks in 5 s;
        // the run fails with a liveness violation unless every node finalizes 150.
        let r = check(no_faults(1, n));
        assert!(
            r.min_finalized >= 150,
            "n = {n}: only {} blocks finalized",
            r.min_finalized
        );
    }
}

/// Finality takes 3 hops from the leader sending its proposal: proposal, notarize votes,
/// finalize votes (plus the host's local steps: payload, verification, persisting, each a
/// few simulated ms here).
#[test]
fn finality_takes_three_hops() {
    for n in [4, 10] {
        let mut cfg = no_faults(2, n);
        cfg.latency_ms = (100, 100);
        cfg.liveness_blocks = 20;
        cfg.liveness_ms = 20_000;
        let r = check(cfg);
        assert!(
            (300..=320).contains(&r.median_finality_ms),
            "n = {n}: median finality {} ms with 100 ms hops",
            r.median_finality_ms
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let a = run(SimConfig::mixed(42, 7));
    let b = run(SimConfig::mixed(42, 7));
    assert_eq!(a, b);
    let c = run(SimConfig::mixed(43, 7));
    assert_ne!(a.trace_digest, c.trace_digest);
}

fn seeds(validators: usize, count: u64) {
    let mut views = 0;
    let mut faults = 0;
    for seed in 0..count {
        let r = check(SimConfig::mixed(seed, validators));
        views += r.views;
        faults += r.faults;
    }
    println!("n = {validators}: {count} seeds, {views} views, {faults} faults, no violation");
}

#[test]
fn mixed_fault_seeds_n4() {
    seeds(4, 250);
}

#[test]
fn mixed_fault_seeds_n7() {
    seeds(7, 150);
}

#[test]
fn mixed_fault_seeds_n10() {
    seeds(10, 100);
}

/// An operator restarts the whole network: every validator stops at once and comes back
/// 300 to 800 ms later, thirty times, at instants spread over views (so some stop with a
/// block notarized but not final, or with its finalize votes in flight). Everything the
/// engines held in memory (tallies, certificates) is gone each time; only the votes they
/// signed remain (and a node that fell behind block-syncs before it starts). After the
/// last restart, every node must finalize again. Seed 3 of n = 4 stalled for good before
/// restarted engines sent again (and counted) every vote they signed above the finalized
/// view: all four held notarize and finalize votes for a notarized block that none of them
/// would ever send again.
#[test]
fn the_chain_goes_on_after_every_validator_restarts_at_once() {
    for (n, seeds) in [(4, 0..6), (7, 0..2)] {
        for seed in seeds {
            let mut cfg = no_faults(seed, n);
            cfg.latency_ms = (5, 40);
            cfg.crash_all_at = (0..30).map(|k| 500 + k * 1_150 + k * k % 97).collect();
            cfg.fault_ms = 500 + 30 * 1_150 + 1_000;
            cfg.liveness_blocks = 20;
            cfg.liveness_ms = 15_000;
            check(cfg);
        }
    }
}

/// With "no finalize after nullify" switched off, the simulator must find two different
/// blocks finalized at one height; with it on, the same seeds are safe.
#[test]
fn disabling_a_safety_rule_is_caught() {
    let mut found = None;
    for seed in 0..400 {
        let mut cfg = SimConfig::mixed(seed, 4);
        cfg.byzantine.clear();
        // latencies spread well past the timeouts, so views are often both notarized and
        // nullified: the interleaving this rule exists for
        cfg.latency_ms = (1, 1500);
        cfg.loss_percent = 0;
        cfg.disabled_rule = Some(Rule::FinalizeExcludesNullify);
        let r = run(cfg.clone());
        if r.violation
            .as_deref()
            .is_some_and(|v| v.starts_with("safety"))
        {
            found = Some(cfg);
            break;
        }
    }
    let mut cfg = found.expect("the simulator did not catch the disabled rule in 400 seeds");
    cfg.disabled_rule = None;
    assert_eq!(run(cfg).violation.filter(|v| v.starts_with("safety")), None);
}
