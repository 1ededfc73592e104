//! The honest load of a campaign: wallets that sign transfers, submit them over JSON-RPC
//! to the honest validators and read back what finalized.
//!
//! Each sender (a dev account) talks to one validator, sends a batch of transfers in nonce
//! order every 100 ms (`tx_submitMany`), and starts again from the chain's nonce when one
//! is refused. A poller reads the finalized blocks, so every accepted transaction gets the
//! time it was first seen finalized; a second-by-second timeline of finalized transactions
//! comes out of it, and the hash of every block seen finalized is kept.
//!
//! `resilient` (the nemesis, where validators are killed, paused and cut off): a sender
//! whose validator does not answer moves to the next one; a sender whose chain nonce has
//! not moved for two seconds while it has sent past it starts again from the chain's nonce
//! (a pending transaction lost with a killed node's mempool leaves a gap nothing else would
//! fill; a resent transaction is the same bytes, so it is never two); the poller reads from
//! each validator in turn. Off (the adversary, whose verdict is that nothing accepted is
//! ever dropped), a sender stays with its validator and a gap stays a gap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use genesis::{DevKeyKind, dev_keypair};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use ledger::{Encode, Hash, PublicKey, Transaction, TxKind};
use rpc::{AccountApiClient, ChainApiClient, TxApiClient};
use tokio::task::JoinHandle;

/// What the load saw.
#[derive(Default, Debug)]
pub struct Seen {
    /// Transaction → when it was accepted by a mempool.
    pub accepted: HashMap<Hash, Instant>,
    /// Transaction → when its block was first seen finalized.
    pub finalized: HashMap<Hash, Instant>,
    /// Height → hash of the block seen finalized there.
    pub blocks: HashMap<u64, Hash>,
    /// Submissions refused (the reason's count).
    pub refused: HashMap<String, u64>,
}

/// A running load.
#[derive(Debug)]
pub struct Load {
    /// What it saw so far.
    pub seen: Arc<Mutex<Seen>>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    poller: JoinHandle<()>,
    poll_stop: tokio::sync::watch::Sender<bool>,
}

fn client(url: &str, timeout: Duration) -> Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(timeout)
        .build(url)
        .with_context(|| format!("RPC client for {url}"))
}

impl Load {
    /// Start `rate` transfers a second from the dev accounts `senders`, sender `s` to
    /// `urls[s mod len]`; finalized blocks are read from `urls[0]`.
    pub async fn start(urls: &[String], senders: &[u32], rate: u64) -> Result<Load> {
        Load::start_with(urls, senders, rate, Duration::from_secs(10), false).await
    }

    /// [`Load::start`] with each RPC call given up after `timeout`, and `resilient` as the
    /// module documentation says.
    pub async fn start_with(
        urls: &[String],
        senders: &[u32],
        rate: u64,
        timeout: Duration,
        resilient: bool,
    ) -> Result<Load> {
        let clients: Vec<HttpClient> = urls
            .iter()
            .map(|u| client(u, timeout))
            .collect::<Result<_>>()?;
        let info = clients[0].chain_info().await?;
        let chain_id = Hash::from_hex(&info.chain_id)?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let per_tick = (rate as f64 / 10.0 / senders.len().max(1) as f64).max(0.0);
        let mut tasks = Vec::new();
        for &s in senders {
            let clients = clients.clone();
            let mut at = s as usize % clients.len();
            let seen = seen.clone();
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let key = dev_keypair(DevKeyKind::Account, s);
                let mut nonce: Option<u64> = None;
                let mut owed = 0.0f64;
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                // the chain's nonce at the last check, and the ticks since
                let mut chain_nonce: Option<u64> = None;
                let mut ticks = 0u32;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.changed() => return,
                    }
                    let c = &clients[at];
                    ticks += 1;
                    if resilient && ticks >= 20 {
                        ticks = 0;
                        if let Ok(now) = c.nonce(key.public().to_hex()).await {
                            if chain_nonce == Some(now) && nonce.is_some_and(|n| n > now) {
                                nonce = Some(now);
                            }
                            chain_nonce = Some(now);
                        }
                    }
                    owed += per_tick;
                    let n = owed.floor() as usize;
                    if n == 0 {
                        continue;
                    }
                    owed -= n as f64;
                    let first = match nonce {
                        Some(x) => x,
                        None => match c.nonce(key.public().to_hex()).await {
                            Ok(x) => x,
                            Err(_) => {
                                if resilient {
                                    at = (at + 1) % clients.len();
                                }
                                continue;
                            }
                        },
                    };
                    let batch: Vec<(Hash, String)> = (0..n as u64)
                        .map(|k| {
                            let tx = Transaction {
                                chain_id,
                                sender: key.public(),
                                nonce: first + k,
                                expiry_height: u64::MAX,
                                kind: TxKind::Transfer {
                                    to: PublicKey([0xc7; 32]),
                                    amount: 1,
                                },
                            }
                            .sign(&key);
                            (tx.id(), format!("0x{}", hex::encode(tx.encode())))
                        })
                        .collect();
                    let sent = Instant::now();
                    let answers = c
                        .submit_many(batch.iter().map(|(_, h)| h.clone()).collect())
                        .await;
                    let mut next = Some(first);
                    let mut g = match seen.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    match answers {
                        Ok(outcomes) => {
                            for ((id, _), o) in batch.iter().zip(outcomes) {
                                match (o.hash, o.error) {
                                    (Some(_), _) => {
                                        g.accepted.entry(*id).or_insert(sent);
                                        next = next.map(|x| x + 1);
                                    }
                                    (None, e) => {
                                        let why = e
                                            .and_then(|e| {
                                                e.data["reason"].as_str().map(str::to_owned)
                                            })
                                            .unwrap_or_else(|| "unknown".into());
                                        // already in the pool from an earlier send counts
                                        if why == "already_known" {
                                            next = next.map(|x| x + 1);
                                            continue;
                                        }
                                        *g.refused.entry(why).or_default() += 1;
                                        // start again from the chain's nonce next time
                                        next = None;
                                        break;
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            *g.refused.entry(format!("rpc: {e}")).or_default() += 1;
                            next = None;
                            if resilient {
                                at = (at + 1) % clients.len();
                            }
                        }
                    }
                    nonce = next;
                }
            }));
        }
        let (poll_stop, mut poll_rx) = tokio::sync::watch::channel(false);
        let poller = tokio::spawn({
            let clients = clients.clone();
            let seen = seen.clone();
            let mut next = info.finalized_height + 1;
            let mut at = 0;
            async move {
                loop {
                    loop {
                        let b = match clients[at].get_block_by_height(next).await {
                            Ok(Some(b)) => b,
                            Ok(None) => {
                                // caught up with this one: the next poll asks another
                                if resilient {
                                    at = (at + 1) % clients.len();
                                }
                                break;
                            }
                            Err(_) => {
                                if resilient {
                                    at = (at + 1) % clients.len();
                                }
                                break;
                            }
                        };
                        let now = Instant::now();
                        let mut g = match seen.lock() {
                            Ok(g) => g,
                            Err(p) => p.into_inner(),
                        };
                        for t in &b.txs {
                            if let Ok(h) = Hash::from_hex(t) {
                                g.finalized.entry(h).or_insert(now);
                            }
                        }
                        if let Ok(h) = Hash::from_hex(&b.header.hash) {
                            g.blocks.insert(next, h);
                        }
                        next += 1;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = poll_rx.changed() => return,
                    }
                }
            }
        });
        Ok(Load {
            seen,
            stop,
            tasks,
            poller,
            poll_stop,
        })
    }

    /// Stop sending; keep reading finalized blocks until every accepted transaction is
    /// final or `drain` passes. Returns what was seen.
    pub async fn finish(self, drain: Duration) -> Seen {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let deadline = Instant::now() + drain;
        loop {
            let done = {
                let g = match self.seen.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                g.accepted.keys().all(|id| g.finalized.contains_key(id))
            };
            if done || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = self.poll_stop.send(true);
        let _ = self.poller.await;
        match Arc::try_unwrap(self.seen) {
            Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
            Err(arc) => {
                let g = match arc.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                Seen {
                    accepted: g.accepted.clone(),
                    finalized: g.finalized.clone(),
                    blocks: g.blocks.clone(),
                    refused: g.refused.clone(),
                }
            }
        }
    }
}

/// Finalized transactions of the load per second from `start`, for `seconds` seconds.
pub fn timeline(seen: &Seen, start: Instant, seconds: usize) -> Vec<u64> {
    let mut out = vec![0u64; seconds];
    for (id, at) in &seen.finalized {
        if !seen.accepted.contains_key(id) {
            continue;
        }
        let s = at.saturating_duration_since(start).as_secs_f64();
        if at >= &start && (s as usize) < seconds {
            out[s as usize] += 1;
        }
    }
    out
}

/// Submit → finalized latency percentiles (p50, p99, ms) of the transactions accepted in
/// `[from, to)`.
pub fn latency(seen: &Seen, from: Instant, to: Instant) -> (f64, f64) {
    let mut ms: Vec<f64> = seen
        .accepted
        .iter()
        .filter(|(_, at)| **at >= from && **at < to)
        .filter_map(|(id, at)| {
            seen.finalized
                .get(id)
                .map(|f| f.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        if ms.is_empty() {
            0.0
        } else {
            ms[((ms.len() - 1) as f64 * p).round() as usize]
        }
    };
    (pick(0.5), pick(0.99))
}
