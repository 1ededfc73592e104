//! `palisade miner --bench`: hashes per second of (a) a plain `blake3::hash` loop on one
//! thread, (b) the miner's scalar path on one thread, (c) its SIMD path on one thread and
//! (d) the SIMD path on every thread at once. Each figure is the median of several timed
//! rounds taken in the same run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ledger::mining::pow_input;
use serde::Serialize;

use crate::lanes::{Backend, Block};

/// The figures `--bench --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Threads used for (d).
    pub threads: usize,
    /// (a) `blake3::hash` of the 64-byte block, one thread.
    pub blake3_plain_hps: f64,
    /// (b) the miner's one-lane path, one thread.
    pub scalar_hps: f64,
    /// (c) the miner's SIMD path, one thread.
    pub simd_hps: f64,
    /// (d) the SIMD path on every thread.
    pub all_threads_hps: f64,
    /// Nonces per SIMD step.
    pub simd_lanes: usize,
    /// The SIMD backend (`avx512`, `avx2`, `portable`).
    pub simd_backend: String,
    /// (c) / (a).
    pub simd_vs_plain: f64,
    /// (d) / (threads × c).
    pub thread_scaling: f64,
    /// Timed rounds per figure (the median is reported).
    pub rounds: usize,
    /// Length of one round, ms.
    pub round_ms: u64,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Hashes/s of one round of `f`, which hashes a batch and returns how many it hashed.
fn rate(round: Duration, mut f: impl FnMut() -> u64) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < round {
        n += f();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn plain_round(round: Duration) -> f64 {
    let seed = *blake3::hash(b"bench seed").as_bytes();
    let mut input = pow_input(&seed, 0);
    let mut nonce = 0u64;
    rate(round, || {
        for _ in 0..4096 {
            input[32..40].copy_from_slice(&nonce.to_le_bytes());
            black_box(blake3::hash(black_box(&input)));
            nonce += 1;
        }
        4096
    })
}

fn scan_round(backend: Backend, round: Duration, start: u64) -> f64 {
    let block = Block::new(blake3::hash(b"bench seed").as_bytes());
    let mut found = Vec::new();
    let mut nonce = start;
    rate(round, || {
        // prefix 0: only hashes starting with four zero bytes are candidates
        let n = backend.scan(&block, nonce, 16_384, 0, &mut found);
        found.clear();
        nonce = nonce.wrapping_add(n);
        n
    })
}

fn all_threads_round(backend: Backend, threads: usize, round: Duration) -> f64 {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    scan_round(
                        backend,
                        round,
                        crate::search::start_nonce(t as u64, threads as u64),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    })
}

/// Run the four measurements with `simd` as the SIMD path, `rounds` rounds of `round`
/// each, interleaved so a slow moment of the machine hits every figure alike.
pub fn run(simd: Backend, threads: usize, rounds: usize, round: Duration) -> BenchReport {
    let threads = threads.max(1);
    let rounds = rounds.max(1);
    let (mut a, mut b, mut c, mut d) = (vec![], vec![], vec![], vec![]);
    // warm up caches, clocks and the page of code each path uses
    plain_round(round / 4);
    scan_round(simd, round / 4, 0);
    for _ in 0..rounds {
        a.push(plain_round(round));
        b.push(scan_round(Backend::Scalar, round, 0));
        c.push(scan_round(simd, round, 0));
        d.push(all_threads_round(simd, threads, round));
    }
    let (a, b, c, d) = (median(a), median(b), median(c), median(d));
    BenchReport {
        threads,
        blake3_plain_hps: a,
        scalar_hps: b,
        simd_hps: c,
        all_threads_hps: d,
        simd_lanes: simd.lanes(),
        simd_backend: simd.name().to_owned(),
        simd_vs_plain: c / a,
        thread_scaling: d / (threads as f64 * c),
        rounds,
        round_ms: round.as_millis() as u64,
    }
}

/// Hashes/s in a human unit.
pub fn human_rate(hps: f64) -> String {
    if hps >= 1e9 {
        format!("{:.2} GH/s", hps / 1e9)
    } else if hps >= 1e6 {
        format!("{:.2} MH/s", hps / 1e6)
    } else if hps >= 1e3 {
        format!("{:.2} kH/s", hps / 1e3)
    } else {
        format!("{hps:.0} H/s")
    }
}

impl BenchReport {
    /// The table `--bench` prints.
    pub fn table(&self) -> String {
        format!(
            "miner benchmark (median of {} rounds of {} ms)\n\
             (a) blake3::hash loop, 1 thread        {:>14}\n\
             (b) miner scalar path, 1 thread        {:>14}\n\
             (c) miner SIMD path ({}, {} lanes), 1 thread {:>14}   (c)/(a) = {:.2}\n\
             (d) SIMD path, {} threads               {:>14}   (d)/({}×c) = {:.2}",
            self.rounds,
            self.round_ms,
            human_rate(self.blake3_plain_hps),
            human_rate(self.scalar_hps),
            self.simd_backend,
            self.simd_lanes,
            human_rate(self.simd_hps),
            self.simd_vs_plain,
            self.threads,
            human_rate(self.all_threads_hps),
            self.threads,
            self.thread_scaling,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_reports_every_figure() {
        let r = run(Backend::detect(), 2, 1, Duration::from_millis(30));
        for v in [
            r.blake3_plain_hps,
            r.scalar_hps,
            r.simd_hps,
            r.all_threads_hps,
        ] {
            assert!(v > 0.0, "{r:?}");
        }
        assert_eq!(r.threads, 2);
        assert!(r.table().contains("(c)/(a)"));
        let json = serde_json::to_value(&r).unwrap();
        for k in [
            "threads",
            "blake3_plain_hps",
            "scalar_hps",
            "simd_hps",
            "all_threads_hps",
            "simd_lanes",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
        assert_eq!(human_rate(2.5e6), "2.50 MH/s");
    }
}
