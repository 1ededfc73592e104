//! The search: worker threads hash disjoint nonce ranges of the current work with the
//! widest SIMD backend, and send every full solution to the miner loop.
//!
//! New work (or "stop, this challenge is solved") bumps a generation counter; each thread
//! checks it after every chunk of [`CHUNK`] nonces (well under a millisecond with SIMD), so
//! a switch reaches every thread within about a chunk's time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use ledger::mining::{meets_target, pow_hash};
use tokio::sync::mpsc::UnboundedSender;

use crate::lanes::{Backend, Block};

/// Nonces a thread hashes between looks at the generation counter.
pub const CHUNK: u64 = 8192;

/// What to search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    /// The challenge's block height.
    pub height: u64,
    /// This miner's seed for it.
    pub seed: [u8; 32],
    /// The target (big-endian).
    pub target: [u8; 32],
}

/// A nonce whose inner hash meets the work's target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solution {
    /// The generation of the work it solves.
    pub generation: u64,
    /// The challenge's block height.
    pub height: u64,
    /// The nonce.
    pub nonce: u64,
    /// Its inner hash.
    pub hash: [u8; 32],
}

struct State {
    generation: u64,
    work: Option<Arc<Work>>,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    generation: AtomicU64,
    stop: AtomicBool,
    hashes: AtomicU64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }
}

/// The worker threads.
pub struct Pool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    backend: Backend,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    /// Start `threads` idle workers using `backend`; solutions go to `solutions`.
    pub fn start(threads: usize, backend: Backend, solutions: UnboundedSender<Solution>) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                generation: 0,
                work: None,
                stop: false,
            }),
            wake: Condvar::new(),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            hashes: AtomicU64::new(0),
        });
        let handles = (0..threads)
            .map(|t| {
                let shared = shared.clone();
                let tx = solutions.clone();
                std::thread::Builder::new()
                    .name(format!("miner-{t}"))
                    .spawn(move || worker(&shared, t as u64, threads as u64, backend, &tx))
                    .expect("spawning a miner thread")
            })
            .collect();
        Pool {
            shared,
            threads: handles,
            backend,
        }
    }

    /// Search `work` from now on (`None`: idle). Returns the new generation.
    pub fn set_work(&self, work: Option<Work>) -> u64 {
        let mut st = self.shared.lock();
        st.generation += 1;
        st.work = work.map(Arc::new);
        self.shared
            .generation
            .store(st.generation, Ordering::Release);
        self.shared.wake.notify_all();
        st.generation
    }

    /// The generation of the work being searched.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Nonces hashed so far, all threads.
    pub fn hashes(&self) -> u64 {
        self.shared.hashes.load(Ordering::Relaxed)
    }

    /// How many worker threads.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// The backend the workers use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Stop and join every worker.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        {
            let mut st = self.shared.lock();
            st.stop = true;
            self.shared.stop.store(true, Ordering::Release);
            self.shared.wake.notify_all();
        }
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Thread `t` of `n` starts at `t · ⌊2^64 / n⌋`, so threads never hash the same nonce.
pub fn start_nonce(t: u64, n: u64) -> u64 {
    (u64::MAX / n.max(1)).wrapping_mul(t) & !15
}

fn worker(shared: &Shared, t: u64, n: u64, backend: Backend, tx: &UnboundedSender<Solution>) {
    let mut seen = 0u64;
    let mut found = Vec::new();
    loop {
        let (generation, work) = {
            let mut st = shared.lock();
            while !st.stop && st.generation == seen {
                st = match shared.wake.wait(st) {
                    Ok(s) => s,
                    Err(p) => p.into_inner(),
                };
            }
            if st.stop {
                return;
            }
            (st.generation, st.work.clone())
        };
        seen = generation;
        let Some(work) = work else { continue };
        let block = Block::new(&work.seed);
        let prefix = u32::from_be_bytes([
            work.target[0],
            work.target[1],
            work.target[2],
            work.target[3],
        ]);
        let mut nonce = start_nonce(t, n);
        loop {
            let hashed = backend.scan(&block, nonce, CHUNK, prefix, &mut found);
            shared.hashes.fetch_add(hashed, Ordering::Relaxed);
            nonce = nonce.wrapping_add(hashed);
            for candidate in found.drain(..) {
                let hash = pow_hash(&work.seed, candidate);
                if meets_target(&hash, &work.target) {
                    let _ = tx.send(Solution {
                        generation,
                        height: work.height,
                        nonce: candidate,
                        hash,
                    });
                }
            }
            if shared.generation.load(Ordering::Acquire) != generation
                || shared.stop.load(Ordering::Acquire)
            {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn threads_find_valid_solutions_and_switch_work() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let pool = Pool::start(2, Backend::detect(), tx);
        let mut target = [0u8; 32];
        target[0] = 0x00;
        target[1] = 0x40; // 1 in 1024
        let seed = [3u8; 32];
        let g1 = pool.set_work(Some(Work {
            height: 7,
            seed,
            target,
        }));
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while got.len() < 5 && Instant::now() < deadline {
            if let Ok(s) = rx.try_recv() {
                got.push(s);
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(got.len() >= 5);
        for s in &got {
            assert_eq!(s.generation, g1);
            assert_eq!(s.height, 7);
            assert_eq!(s.hash, pow_hash(&seed, s.nonce));
            assert!(meets_target(&s.hash, &target));
        }
        // idle: the hash counter stops moving (after the chunk in flight)
        pool.set_work(None);
        std::thread::sleep(Duration::from_millis(50));
        let h = pool.hashes();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pool.hashes(), h);
        // new work: solutions carry the new generation
        let g2 = pool.set_work(Some(Work {
            height: 8,
            seed: [4u8; 32],
            target,
        }));
        while rx.try_recv().is_ok() {}
        let s = loop {
            if let Ok(s) = rx.try_recv()
                && s.generation == g2
            {
                break s;
            }
            assert!(Instant::now() < deadline + Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(s.height, 8);
        pool.stop();
    }

    #[test]
    fn start_nonces_are_disjoint_and_aligned() {
        for n in 1..=64u64 {
            let starts: Vec<u64> = (0..n).map(|t| start_nonce(t, n)).collect();
            assert!(starts.iter().all(|s| s % 16 == 0));
            assert!(starts.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
