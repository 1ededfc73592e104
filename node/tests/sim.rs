//! The deterministic whole-node simulator on a fixed set of seeds: every invariant holds
//! under partitions, crashes, clock skew, loss and each byzantine behaviour, across
//! validator-set changes; and a seed replays to the same trace.

use node::sim::{Behaviour, SimConfig, replay_command, run};

fn check(cfg: &SimConfig, seed: u64) -> node::sim::SimReport {
    let r = run(cfg, seed);
    assert!(
        r.violations.is_empty(),
        "seed {seed} broke invariants:\n  {}\nreplay: {}",
        r.violations.join("\n  "),
        replay_command(cfg, seed)
    );
    r
}

#[test]
fn four_validators_keep_every_invariant_against_each_byzantine_behaviour() {
    for (i, (_, b)) in Behaviour::ALL.iter().enumerate() {
        let cfg = SimConfig::standard(4, Some(*b));
        let r = check(&cfg, 100 + i as u64);
        // the chain moved, through epochs, and the wallets' transfers landed
        assert!(r.blocks >= 50, "seed {}: only {} blocks", r.seed, r.blocks);
        assert!(r.epochs >= 2, "seed {}: {} epochs", r.seed, r.epochs);
        assert!(r.txs > 100, "seed {}: {} transactions", r.seed, r.txs);
        // the node outside genesis became a validator through governance and voted
        assert!(
            r.votes.last().is_some_and(|v| *v > 10),
            "seed {}: the joiner's votes {:?}",
            r.seed,
            r.votes
        );
    }
}

#[test]
fn seven_validators_keep_every_invariant() {
    let cfg = SimConfig::standard(7, Some(Behaviour::Mixed));
    let r = check(&cfg, 7);
    assert!(r.blocks >= 50, "only {} blocks", r.blocks);
}

#[test]
fn a_seed_replays_to_the_same_trace() {
    let cfg = SimConfig {
        chaos_ms: 15_000,
        quiet_ms: 5_000,
        ..SimConfig::standard(4, Some(Behaviour::Mixed))
    };
    let a = run(&cfg, 42);
    let b = run(&cfg, 42);
    assert_eq!(a.digest, b.digest, "same seed, different traces");
    assert_eq!(a.heights, b.heights);
    let c = run(&cfg, 43);
    assert_ne!(a.digest, c.digest, "different seeds, same trace");
}
