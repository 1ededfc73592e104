//! How many transactions an honest leader puts in its block: a few block intervals' worth
//! of what the chain has been finalizing, not whatever the mempool holds.
//!
//! Without a cap below `consensus.max_block_txs`, a backlog (a second of CPU taken by
//! flushes on four validators sharing two cores, say) made the next leaders propose
//! everything pending, up to 20,000 transactions: blocks several times the usual size took
//! the validators longer to admit, rebuild and vote on than a view lasts, views timed out,
//! and the backlog grew instead of draining (BENCHMARKS.md, 2026-12-02, third session).
//!
//! The rate is measured over the last [`BLOCKS`] blocks this node finalized through
//! consensus (never over a wall-clock window, which a timed-out view would empty): each
//! block's rate is its transactions over the time since the block before it, that time
//! counted **at least one interval** (blocks committed together do not look infinitely
//! fast) and **at most [`HEADROOM`] intervals** (a view that timed out, a silent or crashed
//! validator's turn, looks like a slow block, not like no progress). The cap follows the
//! **lower median** of those rates: a byzantine leader, one turn in four (two blocks of
//! eight), can move it only within the range of the honest blocks' rates — late empty
//! blocks do not pull it below them, oversized ones do not lift it above — and an idle
//! chain's empty blocks bring it to the floor. A block counts at most the cap in force
//! when it was finalized. With at least five of the eight blocks full to this node's cap
//! `c` and finalized at most `HEADROOM` intervals apart, the next cap is at least `c`; it
//! grows while blocks finalize faster than that, so in a backlog blocks settle where they
//! take about `HEADROOM` intervals instead of growing to the limit. Blocks adopted by sync
//! are not counted (they finalized long ago). From idle, full blocks 200 ms apart lift the
//! cap from [`FLOOR`] to 6,000 after five blocks and 18,000 after ten.
//!
//! Pure: time comes in as an argument. It binds only this node's proposals.

use std::collections::VecDeque;

/// How many finalized blocks the rate is measured over.
pub const BLOCKS: usize = 8;
/// A block may hold this many block intervals' worth of the measured rate; the gap before a
/// block counts at most this many intervals.
pub const HEADROOM: u32 = 3;
/// The cap never goes below this (or the configured limit, if smaller): an idle chain takes
/// a burst in blocks of this size while the rate catches up.
pub const FLOOR: usize = 2_000;
/// Intervals shorter than this (ms) count as this long (tests run with 0).
const MIN_INTERVAL_MS: u64 = 100;

/// The last [`BLOCKS`] finalized blocks: (the gap before each in ms, counted at most
/// `HEADROOM` intervals; its transactions, at most the cap of its time).
#[derive(Debug, Default)]
pub struct BlockPace {
    recent: VecDeque<(u64, usize)>,
    /// When (monotonic ms) the last one was finalized.
    last: Option<u64>,
}

impl BlockPace {
    /// No block finalized yet.
    pub fn new() -> BlockPace {
        BlockPace::default()
    }

    /// A block of `txs` transactions was finalized through consensus at `now_ms` (a
    /// monotonic clock), with blocks `interval_ms` apart and `max` the configured limit.
    pub fn finalized(&mut self, now_ms: u64, txs: usize, interval_ms: u64, max: usize) {
        let cap = self.cap(interval_ms, max);
        let interval = interval_ms.max(MIN_INTERVAL_MS);
        // the first block counts one interval; later ones the time since the one before,
        // between one and HEADROOM intervals
        let gap = self.last.map_or(interval, |t| {
            now_ms
                .saturating_sub(t)
                .clamp(interval, interval * u64::from(HEADROOM))
        });
        self.last = Some(now_ms);
        self.recent.push_back((gap, txs.min(cap)));
        while self.recent.len() > BLOCKS {
            self.recent.pop_front();
        }
    }

    /// Most transactions for this node's next block, with blocks `interval_ms` apart and
    /// `max` the configured limit.
    pub fn cap(&self, interval_ms: u64, max: usize) -> usize {
        let floor = FLOOR.min(max);
        if self.recent.is_empty() {
            return floor;
        }
        let mut rates: Vec<f64> = self
            .recent
            .iter()
            .map(|(gap_ms, n)| *n as f64 * 1000.0 / (*gap_ms).max(1) as f64)
            .collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[(rates.len() - 1) / 2];
        let per_interval = median * interval_ms.max(MIN_INTERVAL_MS) as f64 / 1000.0;
        let cap = (per_interval * f64::from(HEADROOM)).ceil() as usize;
        cap.clamp(floor, max)
    }

    /// How many proposable transactions make it worth proposing before the block interval
    /// is out: one interval's worth of the measured rate (the cap over [`HEADROOM`]; a
    /// third of the floor on an idle chain). A mempool holding `max_block_txs` may hold
    /// mostly transactions that cannot go in yet (those of notarized blocks not final,
    /// nonces after a gap); a leader that proposed at once whatever few could go in cut a
    /// storm of tiny blocks under a backlog (BENCHMARKS.md, 2026-12-04, seventeenth
    /// session), so it waits out the interval unless its selection reaches this.
    pub fn ready(&self, interval_ms: u64, max: usize) -> usize {
        self.cap(interval_ms, max).div_ceil(HEADROOM as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1;
    const INTERVAL: u64 = 200;
    const MAX: usize = 20_000;

    /// Finalize `sizes` at the given gaps (ms) after `start`; returns the time of the last.
    fn run(p: &mut BlockPace, start: u64, blocks: &[(u64, usize)]) -> u64 {
        let mut now = start;
        for &(gap, txs) in blocks {
            now += gap;
            p.finalized(now, txs, INTERVAL, MAX);
        }
        now
    }

    #[test]
    fn the_cap_starts_at_the_floor_and_follows_the_finalized_rate() {
        let t0 = 1_000_000u64;
        let mut p = BlockPace::new();
        assert_eq!(p.cap(INTERVAL, MAX), FLOOR);
        // never above the configured limit, even the floor
        assert_eq!(p.cap(INTERVAL, 500), 500);
        // an idle chain's empty blocks keep it at the floor
        run(&mut p, t0, &[(200, 0); 8]);
        assert_eq!(p.cap(INTERVAL, MAX), FLOOR);
        // 15,000 tx/s in blocks of 3,000 every 200 ms: a block may hold 3 × 3,000 (the
        // first blocks count only up to the cap of their time, the floor)
        let mut p = BlockPace::new();
        run(&mut p, t0, &[(200, 3_000); 16]);
        assert_eq!(p.cap(INTERVAL, MAX), 9_000);
        assert_eq!(p.cap(INTERVAL, 5_000), 5_000);
    }

    #[test]
    fn a_block_is_ready_early_with_one_interval_of_the_finalized_rate() {
        let t0 = 1_000_000u64;
        let mut p = BlockPace::new();
        // idle: a third of the floor
        assert_eq!(p.ready(INTERVAL, MAX), FLOOR.div_ceil(3));
        assert_eq!(p.ready(INTERVAL, 300), 100);
        // 15,000 tx/s in blocks of 3,000 every 200 ms: one block's worth, a third of the cap
        run(&mut p, t0, &[(200, 3_000); 16]);
        assert_eq!(p.ready(INTERVAL, MAX), 3_000);
        // never above the cap, so a full block is always ready
        for max in [1, 2, 500, 2_999, 9_000] {
            assert!(p.ready(INTERVAL, max) <= p.cap(INTERVAL, max));
            assert!(p.ready(INTERVAL, max) >= 1);
        }
    }

    #[test]
    fn timed_out_views_never_empty_the_measure() {
        // one validator of four is silent: every fourth turn times out (1 s and more), the
        // three honest blocks in between carry the load
        let t0 = 1_000_000u64;
        let mut p = BlockPace::new();
        let cycle = [(1_250, 3_000), (250, 3_000), (250, 3_000)];
        let mut now = t0;
        for _ in 0..6 {
            now = run(&mut p, now, &cycle);
        }
        // most blocks came 250 ms after the one before: the median rate is 12,000 tx/s, a
        // cap of 7,200, well above the 3,000 the blocks need
        let cap = p.cap(INTERVAL, MAX);
        assert_eq!(cap, 7_200);
        // and however long the chain waits, no time passes in the measure until a block
        assert_eq!(p.cap(INTERVAL, MAX), cap);
    }

    #[test]
    fn full_blocks_never_shrink_the_cap_and_fast_ones_grow_it_to_the_limit() {
        let t0 = 1_000_000u64;
        // every block full, every gap a timeout: the cap holds
        let mut p = BlockPace::new();
        let mut now = t0;
        let mut caps = Vec::new();
        for _ in 0..20 {
            let cap = p.cap(INTERVAL, MAX);
            caps.push(cap);
            now += 5_000 * MS;
            p.finalized(now, cap, INTERVAL, MAX);
        }
        assert!(caps.windows(2).all(|w| w[1] >= w[0]), "{caps:?}");
        // a burst from idle: full blocks 200 ms apart grow the cap block by block
        let mut p = BlockPace::new();
        run(&mut p, t0, &[(200, 0); 8]);
        let mut now = t0 + 1_600 * MS;
        let mut caps = Vec::new();
        for _ in 0..30 {
            let cap = p.cap(INTERVAL, MAX);
            caps.push(cap);
            now += INTERVAL;
            p.finalized(now, cap, INTERVAL, MAX);
        }
        assert_eq!(caps[0], FLOOR);
        assert!(caps.windows(2).all(|w| w[1] >= w[0]), "{caps:?}");
        assert_eq!(*caps.last().unwrap(), MAX, "{caps:?}");
    }

    #[test]
    fn an_oversized_block_counts_only_up_to_the_cap() {
        let t0 = 1_000_000u64;
        // a byzantine leader's 50,000-transaction block counts as a block of the cap then
        let mut q = BlockPace::new();
        let now = run(&mut q, t0, &[(200, 3_000); 7]);
        let cap_then = q.cap(INTERVAL, MAX);
        q.finalized(now + INTERVAL, 50_000, INTERVAL, MAX);
        let mut r = BlockPace::new();
        let now = run(&mut r, t0, &[(200, 3_000); 7]);
        r.finalized(now + INTERVAL, cap_then, INTERVAL, MAX);
        assert_eq!(q.cap(INTERVAL, MAX), r.cap(INTERVAL, MAX));
        assert!(q.cap(INTERVAL, MAX) < MAX);
    }

    #[test]
    fn a_byzantine_leaders_late_empty_blocks_do_not_lower_the_cap() {
        // every fourth block is the attacker's: empty, proposed just before the timeout
        let t0 = 1_000_000u64;
        let mut clean = BlockPace::new();
        let mut attacked = BlockPace::new();
        let honest = [(250, 3_000); 3];
        let mut now = (t0, t0);
        for _ in 0..6 {
            now.0 = run(
                &mut clean,
                now.0,
                &[honest[0], honest[1], honest[2], (250, 3_000)],
            );
            now.1 = run(
                &mut attacked,
                now.1,
                &[honest[0], honest[1], honest[2], (1_000, 0)],
            );
        }
        assert_eq!(attacked.cap(INTERVAL, MAX), clean.cap(INTERVAL, MAX));
    }

    #[test]
    fn blocks_committed_together_do_not_look_infinitely_fast() {
        let t0 = 1_000_000u64;
        let mut p = BlockPace::new();
        run(&mut p, t0, &[(200, 3_000); 16]);
        let steady = p.cap(INTERVAL, MAX);
        // eight blocks of 3,000 committed in one pass after a stall
        let now = t0 + 20_000 * MS;
        for _ in 0..8 {
            p.finalized(now, 3_000, INTERVAL, MAX);
        }
        // each counted over one interval at least: no faster than the steady 200 ms blocks
        assert!(
            p.cap(INTERVAL, MAX) <= steady,
            "{} > {steady}",
            p.cap(INTERVAL, MAX)
        );
    }

    #[test]
    fn a_zero_interval_counts_as_the_minimum() {
        let t0 = 1_000_000u64;
        let mut p = BlockPace::new();
        let mut now = t0;
        for _ in 0..8 {
            now += 100 * MS;
            p.finalized(now, 1_000, 0, 50_000);
        }
        // 1,000 a block, 100 ms apart: 3 × 1,000
        assert_eq!(p.cap(0, 50_000), 3_000);
    }
}
