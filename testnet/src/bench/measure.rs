//! What `palisade bench` measures besides transactions: per-second medians, percentiles,
//! and each node's CPU time and peak memory from `/proc`.

use std::collections::HashMap;

/// The median latency of each second: `samples` are (seconds since the load began when
/// sent, latency in ms); seconds without samples get 0, samples past `seconds` are left out.
pub(super) fn p50_by_second(samples: &[(f64, f64)], seconds: usize) -> Vec<u64> {
    let mut by_second: Vec<Vec<f64>> = vec![Vec::new(); seconds];
    for &(at, ms) in samples {
        if let Some(slot) = by_second.get_mut(at as usize) {
            slot.push(ms);
        }
    }
    by_second
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            percentile(&v, 0.5).round() as u64
        })
        .collect()
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(super) fn peak_rss_mib(pid: u32) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|kb| kb / 1024.0)
}

/// User + system CPU time of a process, in clock ticks.
pub(super) fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name may hold spaces: fields are counted after its closing parenthesis
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // after the name: state is field 3, utime 14 and stime 15 (1-based, in proc(5))
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

pub(super) fn clock_ticks_per_s() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

/// Per-node CPU and memory, sampled while the load runs; a restarted node is a new pid.
#[derive(Default)]
pub(super) struct Usage {
    /// node → pid → (ticks at its first sample, ticks at its last, peak RSS)
    nodes: Vec<HashMap<u32, (u64, u64, f64)>>,
}

impl Usage {
    pub(super) fn sample(&mut self, pids: &[Option<u32>], first_pass: bool) {
        self.nodes.resize_with(pids.len(), HashMap::new);
        for (i, pid) in pids.iter().enumerate() {
            let Some(pid) = *pid else { continue };
            let (Some(t), rss) = (cpu_ticks(&pid.to_string()), peak_rss_mib(pid)) else {
                continue;
            };
            let e = self.nodes[i]
                .entry(pid)
                // a process born during the load: all its time counts
                .or_insert((if first_pass { t } else { 0 }, t, 0.0));
            e.1 = t;
            e.2 = e.2.max(rss.unwrap_or(0.0));
        }
    }

    pub(super) fn cpu_pct(&self, window_s: f64) -> Vec<f64> {
        let hz = clock_ticks_per_s();
        self.nodes
            .iter()
            .map(|pids| {
                let ticks: u64 = pids.values().map(|(a, b, _)| b.saturating_sub(*a)).sum();
                100.0 * ticks as f64 / hz / window_s.max(1e-9)
            })
            .collect()
    }

    pub(super) fn rss_mib(&self) -> Vec<f64> {
        self.nodes
            .iter()
            .map(|pids| pids.values().map(|p| p.2).fold(0.0, f64::max))
            .collect()
    }
}
