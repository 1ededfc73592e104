//! `palisade bench`: start a local testnet, drive an open-loop load of pre-signed transfers
//! at a fixed rate over every validator's JSON-RPC, and measure what finalizes.
//!
//! Finalized tx/s counts transactions in blocks finalized during the load window (read back
//! block by block from node 0), not submissions. Latency is submit → the moment the block
//! holding the transaction is first seen finalized by the poller (polled every 20 ms, so
//! latencies are up to 20 ms pessimistic). Peak RSS is each node's `VmHWM`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use genesis::{DevKeyKind, dev_keypair};
use ledger::{Encode, Hash, PublicKey, Transaction, TxKind};
use rpc::{ChainApiClient, TxApiClient};
use serde_json::json;

use crate::launcher::{Testnet, TestnetOptions};

/// Most submissions in flight at once.
const MAX_IN_FLIGHT: usize = 256;

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Testnet layout (home, validators, ports, config).
    pub testnet: TestnetOptions,
    /// Offered load, transactions per second.
    pub rate: u64,
    /// Load duration in seconds.
    pub duration_s: u64,
    /// Sending accounts (dev accounts 1..=senders).
    pub senders: u32,
}

/// The measured result.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Validators.
    pub validators: usize,
    /// Offered rate.
    pub rate: u64,
    /// Load duration.
    pub duration_s: f64,
    /// Transactions sent.
    pub submitted: usize,
    /// Accepted by a mempool.
    pub accepted: usize,
    /// Of those, finalized by the end of the drain period.
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
    /// Mean time between finalized blocks during the window, ms.
    pub block_time_ms: f64,
    /// Peak RSS per node, MiB.
    pub rss_mib: Vec<f64>,
}

impl BenchReport {
    /// One JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "validators": self.validators,
            "rate": self.rate,
            "duration_s": self.duration_s,
            "submitted": self.submitted,
            "accepted": self.accepted,
            "finalized": self.finalized,
            "lost": self.lost,
            "finalized_tps": self.finalized_tps,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "block_time_ms": self.block_time_ms,
            "max_rss_mib": self.rss_mib.iter().copied().fold(0.0, f64::max),
            "rss_mib": self.rss_mib,
        })
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        format!(
            "validators        {}\noffered rate      {} tx/s for {:.0} s\nsubmitted         {}\naccepted          {}\nfinalized         {}\nlost              {}\nfinalized tx/s    {:.0}\nlatency p50/p90/p99  {:.0} / {:.0} / {:.0} ms\nblock time        {:.0} ms\npeak RSS (MiB)    {}",
            self.validators,
            self.rate,
            self.duration_s,
            self.submitted,
            self.accepted,
            self.finalized,
            self.lost,
            self.finalized_tps,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.block_time_ms,
            self.rss_mib
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(" / ")
        )
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Run the benchmark; the testnet is stopped at the end, failed or not.
pub async fn run(opts: BenchOptions) -> Result<BenchReport> {
    if opts.rate == 0 || opts.duration_s == 0 {
        bail!("--rate and --duration must be positive");
    }
    let mut topts = opts.testnet.clone();
    topts.accounts = topts.accounts.max(opts.senders + 1);
    let mut net = Testnet::prepare(topts)?;
    net.start_all()?;
    for i in 0..net.nodes.len() {
        net.wait_ready(i, Duration::from_secs(120)).await?;
    }
    let result = drive(&mut net, &opts).await;
    net.stop_all(Duration::from_secs(15));
    result
}

async fn drive(net: &mut Testnet, opts: &BenchOptions) -> Result<BenchReport> {
    let n = net.nodes.len();
    let clients: Vec<_> = (0..n).map(|i| net.client(i)).collect::<Result<_>>()?;
    let info = clients[0].chain_info().await?;
    let chain_id = Hash::from_hex(&info.chain_id)?;
    // pre-sign everything
    let total = (opts.rate * opts.duration_s) as usize;
    let senders: Vec<_> = (1..=opts.senders)
        .map(|i| dev_keypair(DevKeyKind::Account, i))
        .collect();
    let mut nonces = vec![0u64; senders.len()];
    for (k, s) in senders.iter().enumerate() {
        nonces[k] = rpc::AccountApiClient::account_info(&clients[0], s.public().to_hex())
            .await?
            .nonce;
    }
    let sink = PublicKey([0xb5; 32]);
    let mut txs = Vec::with_capacity(total);
    for k in 0..total {
        let s = k % senders.len();
        let tx = Transaction {
            chain_id,
            sender: senders[s].public(),
            nonce: nonces[s],
            expiry_height: u64::MAX,
            kind: TxKind::Transfer {
                to: sink,
                amount: 1,
            },
        }
        .sign(&senders[s]);
        nonces[s] += 1;
        txs.push((tx.id(), format!("0x{}", hex::encode(tx.encode()))));
    }
    let start_height = clients[0].chain_info().await?.finalized_height;

    // the poller: finalized blocks from node 0, with the time each was first seen
    let poll_client = clients[0].clone();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(async move {
        let mut seen: Vec<(u64, Instant, u64, Vec<String>)> = Vec::new();
        let mut next = start_height + 1;
        loop {
            let fin = poll_client
                .chain_info()
                .await
                .map(|i| i.finalized_height)
                .unwrap_or(0);
            while next <= fin {
                match poll_client.get_block_by_height(next).await {
                    Ok(Some(b)) => {
                        seen.push((next, Instant::now(), b.header.timestamp_ms, b.txs));
                        next += 1;
                    }
                    _ => break,
                }
            }
            if *stop_rx.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = stop_rx.changed() => {}
            }
        }
        seen
    });

    // open-loop submission: every 10 ms, the transactions due by then, spread over nodes
    let t0 = Instant::now();
    let mut submit_at: HashMap<Hash, Instant> = HashMap::with_capacity(total);
    let mut accepted = 0usize;
    let mut sent = 0usize;
    let tick = Duration::from_millis(10);
    let mut interval = tokio::time::interval(tick);
    while sent < total {
        interval.tick().await;
        let due = ((t0.elapsed().as_secs_f64() * opts.rate as f64) as usize).min(total);
        let batch: Vec<_> = (sent..due).collect();
        sent = due;
        let futs = batch.iter().map(|&k| {
            let c = &clients[k % n];
            let (id, hex) = &txs[k];
            async move { (*id, c.submit(hex.clone()).await.is_ok(), Instant::now()) }
        });
        // bounded concurrency: the client must not run out of sockets (an fd limit of 1024)
        let results: Vec<_> = futures::stream::iter(futs)
            .buffer_unordered(MAX_IN_FLIGHT)
            .collect()
            .await;
        for (id, ok, at) in results {
            if ok {
                accepted += 1;
                submit_at.insert(id, at);
            }
        }
    }
    let load_end = Instant::now();
    // drain: wait until everything accepted is finalized, at most 20 s
    let drain_deadline = Instant::now() + Duration::from_secs(20);
    let last = txs.last().map(|(h, _)| h.to_hex()).unwrap_or_default();
    while Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let st = clients[0].get_status(vec![last.clone()]).await?;
        if st
            .first()
            .is_some_and(|s| s.status == rpc::TxState::Finalized)
        {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(true);
    let seen = poller.await.context("block poller")?;
    let rss_mib: Vec<f64> = net
        .nodes
        .iter()
        .map(|nd| nd.pid().map_or(0.0, peak_rss_mib))
        .collect();

    let mut lat = Vec::new();
    let mut finalized = 0usize;
    let mut in_window = 0usize;
    let mut window_blocks = Vec::new();
    for (_, at, ts, hashes) in &seen {
        if *at <= load_end {
            in_window += hashes.len();
            window_blocks.push(*ts);
        }
        for h in hashes {
            if let Ok(id) = Hash::from_hex(h)
                && let Some(s) = submit_at.get(&id)
            {
                finalized += 1;
                lat.push(at.saturating_duration_since(*s).as_secs_f64() * 1000.0);
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    let window = load_end.duration_since(t0).as_secs_f64();
    let block_time_ms = if window_blocks.len() > 1 {
        (window_blocks[window_blocks.len() - 1] - window_blocks[0]) as f64
            / (window_blocks.len() - 1) as f64
    } else {
        0.0
    };
    Ok(BenchReport {
        validators: n,
        rate: opts.rate,
        duration_s: window,
        submitted: total,
        accepted,
        finalized,
        lost: accepted.saturating_sub(finalized),
        finalized_tps: in_window as f64 / window,
        p50_ms: percentile(&lat, 0.5),
        p90_ms: percentile(&lat, 0.9),
        p99_ms: percentile(&lat, 0.99),
        block_time_ms,
        rss_mib,
    })
}
