//! The results of `palisade bench`: one run ([`BenchReport`]) and a sweep of runs
//! ([`SweepReport`]), with their targets and their text and JSON forms.

use super::*;

/// The measured result of one run.
#[derive(Clone, Debug, Default)]
pub struct BenchReport {
    /// Validators.
    pub validators: usize,
    /// Offered rate.
    pub rate: u64,
    /// Load duration.
    pub duration_s: f64,
    /// Transactions sent (the open loop may fall behind: see `sent_tps`).
    pub submitted: usize,
    /// Rate at which they were actually sent.
    pub sent_tps: f64,
    /// Accepted by a mempool.
    pub accepted: usize,
    /// Refused by a mempool or not answered (e.g. sent to a killed node).
    pub refused: usize,
    /// The most common refusal, if any.
    pub top_refusal: Option<String>,
    /// Accepted and finalized by the end of the drain.
    pub finalized: usize,
    /// Accepted, never finalized.
    pub lost: usize,
    /// Finalized transactions per second during the load window.
    pub finalized_tps: f64,
    /// Latency percentiles, ms.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Median time from sending a transaction to the timestamp of the block that holds it
    /// (the leader's wall clock when it proposed): the RPC call, admission, gossip and the
    /// wait for a leader to propose it.
    pub p50_to_proposal_ms: f64,
    /// Median time from that timestamp to the block first seen finalized: the consensus
    /// rounds, execution and the commit, and the poller's wait (a 10-ms poll, then the
    /// block read over RPC). The two medians need not add up to `p50_ms`.
    pub p50_proposal_to_final_ms: f64,
    /// Mean time between finalized blocks during the window, ms.
    pub block_time_ms: f64,
    /// Peak RSS per node, MiB (local testnet only).
    pub rss_mib: Vec<f64>,
    /// CPU per node during the window, percent of one core (local testnet only).
    pub cpu_pct: Vec<f64>,
    /// The benchmark process's own CPU during the window, percent of one core.
    pub bench_cpu_pct: f64,
    /// Finalized transactions per second of load, second by second.
    pub timeline: Vec<u64>,
    /// Median submit→finalized latency (ms) of the transactions sent in each second of
    /// load (0 for a second with none finalized): a queue that builds up and drains shows
    /// here, and so does a kill's dip.
    pub timeline_p50_ms: Vec<u64>,
    /// The kill, if any: second of the load it happened.
    pub killed_at_s: Option<f64>,
    /// The restart, if any.
    pub restarted_at_s: Option<f64>,
    /// Accepted transactions sent again because finalization stalled (see the drain).
    pub resubmitted: usize,
}

impl BenchReport {
    /// Whether the run passes the sweep's limits.
    pub fn holds(&self) -> bool {
        self.lost == 0
            && self.p99_ms <= SWEEP_MAX_P99_MS
            && self.finalized_tps >= SWEEP_MIN_FRACTION * self.rate as f64
    }

    /// One JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "validators": self.validators,
            "rate": self.rate,
            "duration_s": self.duration_s,
            "submitted": self.submitted,
            "sent_tps": self.sent_tps,
            "accepted": self.accepted,
            "refused": self.refused,
            "top_refusal": self.top_refusal,
            "finalized": self.finalized,
            "lost": self.lost,
            "finalized_tps": self.finalized_tps,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "p50_to_proposal_ms": self.p50_to_proposal_ms,
            "p50_proposal_to_final_ms": self.p50_proposal_to_final_ms,
            "block_time_ms": self.block_time_ms,
            "max_rss_mib": self.rss_mib.iter().copied().fold(0.0, f64::max),
            "rss_mib": self.rss_mib,
            "cpu_pct": self.cpu_pct,
            "bench_cpu_pct": self.bench_cpu_pct,
            "timeline_tps": self.timeline,
            "timeline_p50_ms": self.timeline_p50_ms,
            "killed_at_s": self.killed_at_s,
            "restarted_at_s": self.restarted_at_s,
            "resubmitted": self.resubmitted,
        })
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let list = |v: &[f64]| {
            v.iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let mut out = format!(
            "validators           {}\n\
             offered rate         {} tx/s for {:.1} s (sent at {:.0} tx/s)\n\
             submitted            {}\n\
             accepted             {}\n\
             refused              {}{}\n\
             finalized            {}\n\
             lost                 {}{}\n\
             finalized tx/s       {:.0}\n\
             latency p50/p90/p99  {:.0} / {:.0} / {:.0} ms\n\
             p50 of each part     {:.0} ms to the proposal, {:.0} ms from it to finalized\n\
             block time           {:.0} ms\n\
             peak RSS (MiB)       {}\n\
             CPU per node (%)     {}\n\
             CPU of the bench (%) {:.0}\n\
             finalized tx/s by second of load\n  {}\n\
             p50 latency (ms) by second of submission\n  {}",
            self.validators,
            self.rate,
            self.duration_s,
            self.sent_tps,
            self.submitted,
            self.accepted,
            self.refused,
            self.top_refusal
                .as_ref()
                .map(|r| format!(" (mostly {r})"))
                .unwrap_or_default(),
            self.finalized,
            self.lost,
            if self.resubmitted > 0 {
                format!(
                    " ({} sent again after finalization stalled)",
                    self.resubmitted
                )
            } else {
                String::new()
            },
            self.finalized_tps,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p50_to_proposal_ms,
            self.p50_proposal_to_final_ms,
            self.block_time_ms,
            list(&self.rss_mib),
            list(&self.cpu_pct),
            self.bench_cpu_pct,
            self.timeline
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            self.timeline_p50_ms
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        );
        if let Some(k) = self.killed_at_s {
            out.push_str(&format!("\nlast validator SIGKILLed at {k:.1} s"));
            if let Some(r) = self.restarted_at_s {
                out.push_str(&format!(", restarted at {r:.1} s"));
            }
            if let Some((dip, back)) = self.dip_and_recovery() {
                out.push_str(&format!(
                    "\nlowest second after the kill: {dip} tx/s; back to 90% of the rate after {}",
                    back.map_or("— (not within the run)".into(), |s| format!("{s:.0} s"))
                ));
            }
        }
        out
    }

    /// After a kill: the lowest finalized tx/s of a whole second, and how many seconds
    /// after the kill a second reached 90% of the offered rate again.
    pub fn dip_and_recovery(&self) -> Option<(u64, Option<f64>)> {
        let k = self.killed_at_s?;
        let first = k.floor() as usize;
        let after = self.timeline.get(first..)?;
        let dip = after.iter().copied().min()?;
        let dip_at = first + after.iter().position(|&v| v == dip)?;
        let target = (0.9 * self.rate as f64) as u64;
        let back = self
            .timeline
            .iter()
            .enumerate()
            .skip(dip_at)
            .find(|(_, v)| **v >= target)
            .map(|(s, _)| s as f64 + 1.0 - k);
        Some((dip, back))
    }
}

/// A sweep: each run and the saturation point.
#[derive(Clone, Debug)]
pub struct SweepReport {
    /// Every run, in order of rate.
    pub runs: Vec<BenchReport>,
}

impl SweepReport {
    /// The last run that held, before the first that broke.
    pub fn saturation(&self) -> Option<&BenchReport> {
        self.runs.iter().take_while(|r| r.holds()).last()
    }

    /// One JSON object: the saturation run's fields at the top, and every run.
    pub fn to_json(&self) -> serde_json::Value {
        let mut top = self
            .saturation()
            .map(BenchReport::to_json)
            .unwrap_or_else(|| json!({}));
        top["saturation_rate"] = json!(self.saturation().map(|r| r.rate));
        top["runs"] = json!(
            self.runs
                .iter()
                .map(BenchReport::to_json)
                .collect::<Vec<_>>()
        );
        top
    }

    /// A table, one line per run.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "offered tx/s  finalized tx/s  p50 / p90 / p99 ms      lost  max RSS MiB  CPU % per node       holds\n",
        );
        for r in &self.runs {
            out.push_str(&format!(
                "{:>12}  {:>14.0}  {:>6.0} / {:>5.0} / {:>5.0}  {:>6}  {:>11.0}  {:<20} {}\n",
                r.rate,
                r.finalized_tps,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.lost,
                r.rss_mib.iter().copied().fold(0.0, f64::max),
                r.cpu_pct
                    .iter()
                    .map(|c| format!("{c:.0}"))
                    .collect::<Vec<_>>()
                    .join("/"),
                if r.holds() { "yes" } else { "no" }
            ));
        }
        match self.saturation() {
            Some(r) => out.push_str(&format!(
                "saturation: {} tx/s offered, {:.0} finalized tx/s (limits: 0 lost, p99 ≤ {SWEEP_MAX_P99_MS} ms, ≥ {:.0}% of the rate finalized)",
                r.rate,
                r.finalized_tps,
                SWEEP_MIN_FRACTION * 100.0
            )),
            None => out.push_str("saturation: below the first rate"),
        }
        out
    }
}
