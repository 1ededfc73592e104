//! How many transactions an honest leader puts in its block: what the chain has been
//! finalizing, not whatever the mempool holds.
//!
//! Without this, a backlog (a second of CPU taken by flushes on four validators sharing two
//! cores, say) made the next leader propose everything pending, up to
//! `consensus.max_block_txs`: blocks several times the usual size take the validators longer
//! to admit, rebuild and vote on than a view lasts, views time out, the backlog grows and
//! never drains (BENCHMARKS.md, 2026-12-02). Capping a block at [`HEADROOM`] times the
//! transactions finalized per block interval over the last [`WINDOW`] bounds how far a
//! block can outgrow what the validators have just shown they process, while still letting
//! a backlog drain at up to [`HEADROOM`] times the recent rate. From idle the cap starts at
//! [`FLOOR`] and grows with every finalized block.
//!
//! Pure: time comes in as an argument. It binds only this node's proposals; a byzantine
//! leader may propose up to the protocol's limit, which the block rules bound.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back finalized blocks count.
pub const WINDOW: Duration = Duration::from_secs(1);
/// A block may hold this many block intervals' worth of the recent finalized rate.
pub const HEADROOM: u32 = 3;
/// The cap never goes below this (or `max`, if smaller): an idle chain takes a burst in
/// blocks of this size while the rate catches up.
pub const FLOOR: usize = 2_000;
/// Intervals shorter than this count as this long (tests run with 0).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Transactions finalized over the last [`WINDOW`].
#[derive(Debug, Default)]
pub struct BlockPace {
    recent: VecDeque<(Instant, usize)>,
    total: usize,
}

impl BlockPace {
    /// No block finalized yet.
    pub fn new() -> BlockPace {
        BlockPace::default()
    }

    /// A block of `txs` transactions was finalized at `now`.
    pub fn finalized(&mut self, now: Instant, txs: usize) {
        self.forget_before(now);
        self.recent.push_back((now, txs));
        self.total += txs;
    }

    /// Most transactions for a block proposed at `now`, with blocks `interval` apart and
    /// `max` the configured limit.
    pub fn cap(&mut self, now: Instant, interval: Duration, max: usize) -> usize {
        self.forget_before(now);
        let per_interval =
            self.total as f64 * interval.max(MIN_INTERVAL).as_secs_f64() / WINDOW.as_secs_f64();
        let cap = (per_interval * f64::from(HEADROOM)).ceil() as usize;
        cap.clamp(FLOOR.min(max), max)
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some(&(t, n)) = self.recent.front() {
            if now.saturating_duration_since(t) <= WINDOW {
                break;
            }
            self.recent.pop_front();
            self.total -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn an_idle_chain_starts_at_the_floor_and_the_cap_follows_the_finalized_rate() {
        let t0 = Instant::now();
        let mut p = BlockPace::new();
        let interval = 200 * MS;
        assert_eq!(p.cap(t0, interval, 20_000), FLOOR);
        // never above the configured limit, even the floor
        assert_eq!(p.cap(t0, interval, 500), 500);
        // 15,000 tx/s in blocks of 3,000 every 200 ms: a block may hold 3 × 3,000
        for i in 0..5 {
            p.finalized(t0 + i * interval, 3_000);
        }
        assert_eq!(p.cap(t0 + 5 * interval, interval, 20_000), 9_000);
        assert_eq!(p.cap(t0 + 5 * interval, interval, 5_000), 5_000);
        // a second later without blocks, those are forgotten
        assert_eq!(
            p.cap(t0 + 5 * interval + WINDOW + MS, interval, 20_000),
            FLOOR
        );
    }

    #[test]
    fn a_burst_from_idle_grows_the_cap_block_by_block_and_a_backlog_cannot_double_it() {
        let t0 = Instant::now();
        let mut p = BlockPace::new();
        let interval = 200 * MS;
        let mut now = t0;
        let mut caps = Vec::new();
        // a full mempool: every block is as large as the cap allows
        for _ in 0..10 {
            let cap = p.cap(now, interval, 20_000);
            caps.push(cap);
            p.finalized(now, cap);
            now += interval;
        }
        assert_eq!(caps[0], FLOOR);
        assert!(caps.windows(2).all(|w| w[1] >= w[0]), "{caps:?}");
        assert_eq!(*caps.last().unwrap(), 20_000, "{caps:?}");
        // steady 3,000-transaction blocks, then a backlog: the next block is at most 3×
        let mut p = BlockPace::new();
        for i in 0..5 {
            p.finalized(t0 + i * interval, 3_000);
        }
        let cap = p.cap(t0 + 5 * interval, interval, 20_000);
        assert!(cap <= 9_000, "{cap}");
    }

    #[test]
    fn a_zero_interval_counts_as_the_minimum() {
        let t0 = Instant::now();
        let mut p = BlockPace::new();
        p.finalized(t0, 10_000);
        // 10,000 in the last second, 100 ms intervals: 3 × 1,000
        assert_eq!(p.cap(t0, Duration::ZERO, 50_000), 3_000);
    }
}
