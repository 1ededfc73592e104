//! Soak the engine under the simulator: as many seeds as asked, mixed faults, n = 4, 7, 10.
//!
//! cargo run -p consensus --release --example soak -- --seeds 100000
//! cargo run -p consensus --release --example soak -- --seed 17 --validators 7   (replay one)

use consensus::sim::{SimConfig, run};

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    if let Some(seed) = arg("--seed") {
        let n = arg("--validators").unwrap_or(4) as usize;
        let cfg = SimConfig::mixed(seed, n);
        println!("{cfg:?}");
        let r = run(cfg);
        println!("{r:?}");
        std::process::exit(i32::from(r.violation.is_some()));
    }
    let seeds = arg("--seeds").unwrap_or(1000);
    let start = arg("--start").unwrap_or(0);
    let t = std::time::Instant::now();
    let (mut views, mut faults, mut violations) = (0u64, 0u64, 0u64);
    for (i, seed) in (start..start + seeds).enumerate() {
        let n = [4, 7, 10][i % 3];
        let cfg = SimConfig::mixed(seed, n);
        let r = run(cfg);
        views += r.views;
        faults += r.faults;
        if let Some(v) = r.violation {
            violations += 1;
            println!("VIOLATION seed {seed} n {n}: {v}");
            println!(
                "  replay: cargo run -p consensus --release --example soak -- --seed {seed} --validators {n}"
            );
        }
        if (i + 1) % 100 == 0 {
            println!(
                "{} seeds, {views} views, {faults} faults, {violations} violations, {:.0?}",
                i + 1,
                t.elapsed()
            );
        }
    }
    println!(
        "done: {seeds} seeds, {views} views simulated, {faults} faults injected, {violations} violations found, {:.1?}",
        t.elapsed()
    );
    std::process::exit(i32::from(violations > 0));
}
