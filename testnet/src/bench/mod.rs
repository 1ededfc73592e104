//! `palisade bench`: drive an open-loop load of pre-signed transfers at a fixed rate over
//! every validator's JSON-RPC (a local testnet it starts, or given endpoints), and measure
//! what finalizes.
//!
//! - Senders: dev accounts `1..=senders`, funded by the dev genesis; each sender talks to
//!   one validator (sender `s` → validator `s mod n`), as a wallet would, and its
//!   transactions are sent in nonce order, `batch` per `tx_submitMany` call.
//! - Finalized tx/s counts transactions in blocks first seen finalized during the load
//!   window (read back block by block from node 0), not submissions.
//! - Latency is from sending a transaction's batch to the moment the block holding it is
//!   first seen finalized by the poller (finalized height polled every 10 ms, so up to
//!   ~10 ms pessimistic).
//! - CPU is each node's user + system time during the load window (`/proc/PID/stat`), in
//!   percent of one core; peak RSS is each node's `VmHWM`.
//! - Lost = accepted by a mempool and not finalized by the end of the drain (≤ 20 s). If
//!   finalization stalls for 3 s with accepted transactions missing, they are sent again,
//!   as a wallet would (at most twice; counted as `resubmitted`): a SIGKILLed node takes
//!   the transactions it had admitted but not yet gossiped with it, and its senders' later
//!   nonces wait behind them.
//! - `--kill-at S` SIGKILLs the last validator S seconds into the load (and `--restart-at`
//!   starts it again); the per-second timeline shows the dip and the recovery.
//! - Two timelines, one value per second of load: finalized tx/s (`timeline_tps`) and the
//!   median latency of the transactions sent in that second (`timeline_p50_ms`), which
//!   shows when a queue builds up and how long it takes to drain.
//! - `--sweep` repeats the run on a fresh testnet at rising rates until latency or loss
//!   breaks, and reports the saturation point.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use genesis::{DevKeyKind, dev_keypair};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use ledger::{Encode, Hash, PublicKey, Transaction, TxKind};
use rayon::prelude::*;
use rpc::ChainApiClient;
use serde_json::json;

use crate::launcher::{Testnet, TestnetOptions};

mod measure;
mod report;

use measure::{Usage, clock_ticks_per_s, cpu_ticks, p50_by_second, percentile};
pub use report::{BenchReport, SweepReport};

/// JSON-RPC batches in flight at once, over all validators (the client must not run out of
/// sockets with an fd limit of 1024).
const MAX_IN_FLIGHT: usize = 128;

/// How long to wait for accepted transactions to finalize after the load.
const DRAIN: Duration = Duration::from_secs(20);

/// Resubmission rounds when finalization stalls with accepted transactions missing.
const MAX_RESUBMIT_ROUNDS: usize = 2;

/// Most runs of a sweep.
const MAX_SWEEP_STEPS: usize = 12;

/// Where the load goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// A fresh local testnet with these options.
    Local(TestnetOptions),
    /// Running nodes' JSON-RPC URLs (a dev-genesis chain: the senders are its dev accounts).
    Endpoints(Vec<String>),
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Testnet or endpoints.
    pub target: Target,
    /// Offered load, transactions per second (the first rate of a sweep).
    pub rate: u64,
    /// Load duration in seconds.
    pub duration_s: u64,
    /// Sending accounts (dev accounts 1..=senders).
    pub senders: u32,
    /// Transactions per `tx_submitMany` call (1: single `tx_submit` calls).
    pub batch: usize,
    /// SIGKILL the last validator this many seconds into the load (local testnet only).
    pub kill_at_s: Option<f64>,
    /// Start it again this many seconds into the load.
    pub restart_at_s: Option<f64>,
    /// Send each transfer to a new account (key `BLAKE3(run seed ‖ k)`) instead of one
    /// sink: the state grows by one account per transaction (state-sync and start-up
    /// measurements).
    pub fresh_recipients: bool,
}

/// A run is broken when it loses transactions, its p99 exceeds this, or it finalizes less
/// than [`SWEEP_MIN_FRACTION`] of the offered rate.
pub const SWEEP_MAX_P99_MS: f64 = 1000.0;
/// See [`SWEEP_MAX_P99_MS`].
pub const SWEEP_MIN_FRACTION: f64 = 0.95;

/// The next rate of a sweep: a quarter more, rounded to 500.
pub fn next_sweep_rate(rate: u64) -> u64 {
    ((rate + rate / 4).div_ceil(500) * 500).max(rate + 500)
}

/// Run rising rates from `opts.rate` until a run breaks (at most [`MAX_SWEEP_STEPS`]).
pub async fn sweep(opts: BenchOptions) -> Result<SweepReport> {
    let mut runs = Vec::new();
    let mut rate = opts.rate;
    for _ in 0..MAX_SWEEP_STEPS {
        let mut o = opts.clone();
        o.rate = rate;
        let r = run(o).await?;
        eprintln!(
            "sweep: {} tx/s offered → {:.0} finalized, p99 {:.0} ms, lost {}",
            r.rate, r.finalized_tps, r.p99_ms, r.lost
        );
        let holds = r.holds();
        runs.push(r);
        if !holds {
            break;
        }
        rate = next_sweep_rate(rate);
    }
    Ok(SweepReport { runs })
}

/// Run one benchmark; a testnet it started is stopped at the end, failed or not.
pub async fn run(opts: BenchOptions) -> Result<BenchReport> {
    if opts.rate == 0 || opts.duration_s == 0 {
        bail!("--rate and --duration must be positive");
    }
    if opts.senders == 0 || opts.batch == 0 {
        bail!("--senders and --batch must be positive");
    }
    if opts.batch > rpc::MAX_SUBMIT_TXS {
        bail!("--batch is at most {} (tx_submitMany)", rpc::MAX_SUBMIT_TXS);
    }
    match &opts.target {
        Target::Local(t) => {
            let mut topts = t.clone();
            topts.accounts = topts.accounts.max(opts.senders + 1);
            let mut net = Testnet::prepare(topts)?;
            net.start_all()?;
            let mut ready = Ok(());
            for i in 0..net.nodes.len() {
                ready = net.wait_ready(i, Duration::from_secs(120)).await;
                if ready.is_err() {
                    break;
                }
            }
            let result = match ready {
                Ok(()) => {
                    let urls = net.nodes.iter().map(|n| n.rpc_url()).collect();
                    drive(Some(&mut net), urls, &opts).await
                }
                Err(e) => Err(e),
            };
            net.stop_all(Duration::from_secs(15));
            result
        }
        Target::Endpoints(urls) => {
            if opts.kill_at_s.is_some() {
                bail!("--kill-at needs a local testnet (it SIGKILLs one of its processes)");
            }
            drive(None, urls.clone(), &opts).await
        }
    }
}

fn http_client(url: &str) -> Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .max_request_size(64 << 20)
        .max_response_size(64 << 20)
        .build(url)
        .with_context(|| format!("RPC client for {url}"))
}

/// Pre-sign `total` transfers round-robin over `senders` (in parallel), as
/// `(sender index, id, hex)`; transaction `k` is from sender `k mod senders` with that
/// sender's next nonce.
fn presign(
    chain_id: Hash,
    senders: &[ledger::Keypair],
    nonces: &[u64],
    total: usize,
    fresh: bool,
) -> Vec<(u32, Hash, String)> {
    let sink = PublicKey([0xb5; 32]);
    // a fresh recipient per transaction, distinct across runs (the senders' nonces differ)
    let seed = nonces
        .iter()
        .fold(0u64, |a, n| a.wrapping_mul(31).wrapping_add(*n));
    let s = senders.len();
    (0..total)
        .into_par_iter()
        .map(|k| {
            let i = k % s;
            let tx = Transaction {
                chain_id,
                sender: senders[i].public(),
                nonce: nonces[i] + (k / s) as u64,
                expiry_height: u64::MAX,
                kind: TxKind::Transfer {
                    to: if fresh {
                        let mut input = seed.to_le_bytes().to_vec();
                        input.extend_from_slice(&(k as u64).to_le_bytes());
                        PublicKey(*blake3::hash(&input).as_bytes())
                    } else {
                        sink
                    },
                    amount: 1,
                },
            }
            .sign(&senders[i]);
            (i as u32, tx.id(), format!("0x{}", hex::encode(tx.encode())))
        })
        .collect()
}

/// A finalized block as the poller saw it.
struct Seen {
    at: Instant,
    timestamp_ms: u64,
    txs: usize,
}

#[derive(Default)]
struct PollState {
    blocks: Vec<Seen>,
    /// transaction → when its block was first seen finalized, and the block's timestamp
    /// (the leader's wall clock when it proposed, ms since the Unix epoch)
    finalized_at: HashMap<Hash, (Instant, u64)>,
}

async fn drive(
    mut net: Option<&mut Testnet>,
    urls: Vec<String>,
    opts: &BenchOptions,
) -> Result<BenchReport> {
    let n = urls.len();
    if n == 0 {
        bail!("no RPC endpoint to send to");
    }
    let clients: Arc<Vec<HttpClient>> =
        Arc::new(urls.iter().map(|u| http_client(u)).collect::<Result<_>>()?);
    let info = clients[0].chain_info().await?;
    let chain_id = Hash::from_hex(&info.chain_id)?;
    let total = usize::try_from(opts.rate * opts.duration_s).context("too many transactions")?;
    let senders: Vec<_> = (1..=opts.senders)
        .map(|i| dev_keypair(DevKeyKind::Account, i))
        .collect();
    let mut nonces = vec![0u64; senders.len()];
    for (k, s) in senders.iter().enumerate() {
        let acct = rpc::AccountApiClient::account_info(&clients[0], s.public().to_hex()).await?;
        if acct.balance == "0" {
            bail!(
                "sender {} (dev account {}) has no funds: the chain needs a dev genesis with at least {} accounts",
                s.public().to_hex(),
                k + 1,
                opts.senders + 1
            );
        }
        nonces[k] = acct.nonce;
    }
    let signing = Instant::now();
    let txs = tokio::task::spawn_blocking({
        let senders = senders.clone();
        let fresh = opts.fresh_recipients;
        move || presign(chain_id, &senders, &nonces, total, fresh)
    })
    .await
    .context("pre-signing")?;
    eprintln!(
        "bench: {} transfers from {} senders pre-signed in {:.1} s; load for {} s at {} tx/s over {n} validator(s)",
        txs.len(),
        senders.len(),
        signing.elapsed().as_secs_f64(),
        opts.duration_s,
        opts.rate
    );
    let start_height = clients[0].chain_info().await?.finalized_height;

    // the poller: finalized blocks from node 0, with the time each was first seen
    let poll = Arc::new(Mutex::new(PollState::default()));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn({
        let client = clients[0].clone();
        let poll = poll.clone();
        async move {
            let mut next = start_height + 1;
            loop {
                let fin = client
                    .chain_info()
                    .await
                    .map(|i| i.finalized_height)
                    .unwrap_or(0);
                while next <= fin {
                    let Ok(Some(b)) = client.get_block_by_height(next).await else {
                        break;
                    };
                    let at = Instant::now();
                    let mut p = poll.lock().unwrap_or_else(|e| e.into_inner());
                    for h in &b.txs {
                        if let Ok(id) = Hash::from_hex(h) {
                            p.finalized_at
                                .entry(id)
                                .or_insert((at, b.header.timestamp_ms));
                        }
                    }
                    p.blocks.push(Seen {
                        at,
                        timestamp_ms: b.header.timestamp_ms,
                        txs: b.txs.len(),
                    });
                    next += 1;
                }
                if *stop_rx.borrow() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                    _ = stop_rx.changed() => {}
                }
            }
        }
    });

    // open loop: every 10 ms, the transactions due by then, per validator in batches
    let pids = |net: &Option<&mut Testnet>| -> Vec<Option<u32>> {
        net.as_ref()
            .map(|t| t.nodes.iter().map(|nd| nd.pid()).collect())
            .unwrap_or_default()
    };
    let mut usage = Usage::default();
    usage.sample(&pids(&net), true);
    let bench_ticks0 = cpu_ticks("self").unwrap_or(0);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let (done_tx, mut done_rx) =
        tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<(Hash, Result<(), String>)>)>();
    let t0 = Instant::now();
    // the wall clock at t0, to set send times beside block timestamps (one machine, or
    // clocks in sync: the split below is only as good as that)
    let t0_wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0);
    let mut sent = 0usize;
    let mut killed_at = None;
    let mut restarted_at = None;
    let mut last_sample = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_millis(10));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); n];
    while sent < total {
        interval.tick().await;
        let elapsed = t0.elapsed().as_secs_f64();
        if let Some(net) = net.as_deref_mut() {
            let victim = net.nodes.len() - 1;
            if killed_at.is_none() && opts.kill_at_s.is_some_and(|k| elapsed >= k) {
                net.kill(victim)?;
                killed_at = Some(elapsed);
                eprintln!("bench: SIGKILLed validator {victim} at {elapsed:.1} s");
            }
            if killed_at.is_some()
                && restarted_at.is_none()
                && opts.restart_at_s.is_some_and(|r| elapsed >= r)
            {
                net.start(victim)?;
                restarted_at = Some(elapsed);
                eprintln!("bench: restarted validator {victim} at {elapsed:.1} s");
            }
        }
        if last_sample.elapsed() >= Duration::from_millis(500) {
            usage.sample(&pids(&net), false);
            last_sample = Instant::now();
        }
        let due = ((elapsed * opts.rate as f64) as usize).min(total);
        for k in sent..due {
            queues[txs[k].0 as usize % n].push(k);
        }
        sent = due;
        let last_round = sent == total;
        for (node, queue) in queues.iter_mut().enumerate() {
            // full batches now; the remainder waits for the next tick unless this is the end
            let keep = if last_round {
                0
            } else {
                queue.len() % opts.batch
            };
            let ready: Vec<usize> = queue.drain(..queue.len() - keep).collect();
            for chunk in ready.chunks(opts.batch) {
                let permit = slots.clone().acquire_owned().await?;
                let clients = clients.clone();
                let items: Vec<(Hash, String)> = chunk
                    .iter()
                    .map(|&k| (txs[k].1, txs[k].2.clone()))
                    .collect();
                let done = done_tx.clone();
                tokio::spawn(async move {
                    let at = Instant::now();
                    // a node that does not answer: the batch goes to the next one, as a
                    // wallet fails over (a refused batch would leave a nonce gap that
                    // blocks the sender's later transactions)
                    let mut answers = Err(String::new());
                    for attempt in 0..clients.len() {
                        let c = &clients[(node + attempt) % clients.len()];
                        answers = submit(c, &items).await;
                        if answers.is_ok() {
                            break;
                        }
                    }
                    drop(permit);
                    let answers = answers.unwrap_or_else(|why| {
                        items
                            .iter()
                            .map(|(id, _)| (*id, Err(why.clone())))
                            .collect()
                    });
                    let _ = done.send((at, answers));
                });
            }
        }
    }
    drop(done_tx);
    let load_end = Instant::now();
    let window = load_end.duration_since(t0).as_secs_f64();
    usage.sample(&pids(&net), false);
    let cpu_pct = usage.cpu_pct(window);
    let bench_cpu_pct = 100.0
        * (cpu_ticks("self").unwrap_or(0).saturating_sub(bench_ticks0)) as f64
        / clock_ticks_per_s()
        / window;

    // collect every answer (the last batches are still in flight)
    let mut submitted_at: HashMap<Hash, Instant> = HashMap::with_capacity(total);
    let mut refusals: HashMap<String, usize> = HashMap::new();
    let mut refused = 0usize;
    while let Some((at, answers)) = done_rx.recv().await {
        for (id, r) in answers {
            match r {
                Ok(()) => {
                    submitted_at.insert(id, at);
                }
                Err(reason) => {
                    refused += 1;
                    *refusals.entry(reason).or_default() += 1;
                }
            }
        }
    }
    let accepted = submitted_at.len();

    // drain: until everything accepted is finalized or nothing more finalizes for 3 s
    let drain_end = Instant::now() + DRAIN;
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    let mut resubmit_rounds = 0;
    let mut resubmitted = 0usize;
    while Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let count = {
            let p = poll.lock().unwrap_or_else(|e| e.into_inner());
            submitted_at
                .keys()
                .filter(|id| p.finalized_at.contains_key(id))
                .count()
        };
        if count == accepted {
            break;
        }
        if count > last_count {
            last_count = count;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(3) {
            if resubmit_rounds >= MAX_RESUBMIT_ROUNDS {
                break;
            }
            // stalled: as a wallet would, send what is not finalized again (a node that
            // crashed took the transactions it had not yet passed on with it, and the
            // senders' later nonces wait behind them)
            resubmit_rounds += 1;
            let missing: Vec<(Hash, String)> = {
                let p = poll.lock().unwrap_or_else(|e| e.into_inner());
                txs.iter()
                    .filter(|(_, id, _)| {
                        submitted_at.contains_key(id) && !p.finalized_at.contains_key(id)
                    })
                    .map(|(_, id, hex)| (*id, hex.clone()))
                    .collect()
            };
            resubmitted += missing.len();
            eprintln!(
                "bench: nothing finalized for 3 s; resubmitting {} unfinalized transactions",
                missing.len()
            );
            for chunk in missing.chunks(opts.batch) {
                for attempt in 0..clients.len() {
                    // answers do not matter: already pending is fine
                    if submit(&clients[attempt], chunk).await.is_ok() {
                        break;
                    }
                }
            }
            last_progress = Instant::now();
        }
    }
    let _ = stop_tx.send(true);
    poller.await.context("block poller")?;
    usage.sample(&pids(&net), false);
    let poll = Arc::try_unwrap(poll)
        .ok()
        .context("poller still running")?
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());

    let mut lat = Vec::with_capacity(accepted);
    let mut sent_lat = Vec::with_capacity(accepted);
    let mut to_proposal = Vec::with_capacity(accepted);
    let mut proposal_to_final = Vec::with_capacity(accepted);
    for (id, at) in &submitted_at {
        if let Some((f, proposed_ms)) = poll.finalized_at.get(id) {
            let ms = f.saturating_duration_since(*at).as_secs_f64() * 1000.0;
            lat.push(ms);
            let sent_s = at.saturating_duration_since(t0).as_secs_f64();
            sent_lat.push((sent_s, ms));
            let proposed = *proposed_ms as f64 - (t0_wall_ms + sent_s * 1000.0);
            to_proposal.push(proposed);
            proposal_to_final.push(ms - proposed);
        }
    }
    to_proposal.sort_by(f64::total_cmp);
    proposal_to_final.sort_by(f64::total_cmp);
    let timeline_p50_ms = p50_by_second(&sent_lat, window.ceil() as usize);
    lat.sort_by(f64::total_cmp);
    let finalized = lat.len();
    let mut in_window = 0usize;
    let mut window_ts = Vec::new();
    let mut timeline = vec![0u64; window.ceil() as usize];
    for b in &poll.blocks {
        if b.at <= load_end {
            in_window += b.txs;
            window_ts.push(b.timestamp_ms);
            let s = b.at.duration_since(t0).as_secs_f64() as usize;
            if let Some(slot) = timeline.get_mut(s) {
                *slot += b.txs as u64;
            }
        }
    }
    let block_time_ms = if window_ts.len() > 1 {
        (window_ts[window_ts.len() - 1] - window_ts[0]) as f64 / (window_ts.len() - 1) as f64
    } else {
        0.0
    };
    let top_refusal = refusals
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .map(|(r, c)| format!("{r} ×{c}"));
    Ok(BenchReport {
        validators: n,
        rate: opts.rate,
        duration_s: window,
        submitted: total,
        sent_tps: total as f64 / window,
        accepted,
        refused,
        top_refusal,
        finalized,
        lost: accepted - finalized,
        finalized_tps: in_window as f64 / window,
        p50_ms: percentile(&lat, 0.5),
        p90_ms: percentile(&lat, 0.9),
        p99_ms: percentile(&lat, 0.99),
        p50_to_proposal_ms: percentile(&to_proposal, 0.5),
        p50_proposal_to_final_ms: percentile(&proposal_to_final, 0.5),
        block_time_ms,
        rss_mib: usage.rss_mib(),
        cpu_pct,
        bench_cpu_pct,
        timeline,
        timeline_p50_ms,
        killed_at_s: killed_at,
        restarted_at_s: restarted_at,
        resubmitted,
    })
}

/// Send one batch; each transaction's answer: accepted, or the refusal's reason. `Err`: the
/// node did not answer at all.
async fn submit(
    client: &HttpClient,
    items: &[(Hash, String)],
) -> Result<Vec<(Hash, Result<(), String>)>, String> {
    use jsonrpsee::core::ClientError;
    if items.len() == 1 {
        let (id, hex) = &items[0];
        return match rpc::TxApiClient::submit(client, hex.clone()).await {
            Ok(_) => Ok(vec![(*id, Ok(()))]),
            Err(ClientError::Call(e)) => Ok(vec![(*id, Err(reason_of(&e.to_string())))]),
            Err(e) => Err(reason_of(&e.to_string())),
        };
    }
    let hexes: Vec<String> = items.iter().map(|(_, hex)| hex.clone()).collect();
    match rpc::TxApiClient::submit_many(client, hexes).await {
        Ok(outcomes) if outcomes.len() == items.len() => Ok(items
            .iter()
            .zip(outcomes)
            .map(|((id, _), o)| {
                let r = match (o.hash, o.error) {
                    (Some(_), _) => Ok(()),
                    (None, Some(e)) => Err(e.data["reason"]
                        .as_str()
                        .map_or_else(|| e.message.clone(), str::to_owned)),
                    (None, None) => Err("no outcome".to_owned()),
                };
                (*id, r)
            })
            .collect()),
        Ok(outcomes) => Err(format!(
            "{} outcomes for {} transactions",
            outcomes.len(),
            items.len()
        )),
        Err(e) => Err(reason_of(&e.to_string())),
    }
}

fn reason_of(text: &str) -> String {
    if let Some(i) = text.find("\"reason\":\"") {
        let rest = &text[i + 10..];
        if let Some(j) = rest.find('"') {
            return rest[..j].to_owned();
        }
    }
    if text.contains("onnect") {
        return "connection failed".into();
    }
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_rates_rise_by_a_quarter_in_steps_of_500() {
        assert_eq!(next_sweep_rate(1000), 1500);
        assert_eq!(next_sweep_rate(8000), 10_000);
        assert_eq!(next_sweep_rate(10_000), 12_500);
        assert_eq!(next_sweep_rate(12_500), 16_000);
    }

    #[test]
    fn dip_and_recovery_from_the_timeline() {
        let r = BenchReport {
            rate: 1000,
            timeline: vec![1000, 1000, 990, 300, 100, 600, 950, 1000],
            killed_at_s: Some(2.5),
            ..BenchReport::default()
        };
        // lowest whole second after the kill: 100 (second 4); back ≥ 900 in second 6,
        // which ends 7 − 2.5 = 4.5 s after the kill
        assert_eq!(r.dip_and_recovery(), Some((100, Some(4.5))));
        let never = BenchReport {
            timeline: vec![1000, 1000, 990, 300, 100, 600],
            ..r.clone()
        };
        assert_eq!(never.dip_and_recovery(), Some((100, None)));
    }

    #[test]
    fn median_latency_per_second_of_submission() {
        // second 0: 10, 30, 20 → 20; second 1: none → 0; second 2: 100, 300 → the upper
        // middle (index rounds half up); second 3 is past the window
        let samples = [
            (0.1, 10.0),
            (0.5, 30.0),
            (0.99, 20.0),
            (2.0, 100.0),
            (2.7, 300.0),
            (3.2, 5.0),
        ];
        assert_eq!(p50_by_second(&samples, 3), vec![20, 0, 300]);
        assert!(p50_by_second(&[], 2).iter().all(|&v| v == 0));
    }

    #[test]
    fn a_run_holds_only_without_loss_within_latency_and_rate() {
        let ok = BenchReport {
            rate: 1000,
            finalized_tps: 990.0,
            p99_ms: 400.0,
            ..BenchReport::default()
        };
        assert!(ok.holds());
        assert!(
            !BenchReport {
                lost: 1,
                ..ok.clone()
            }
            .holds()
        );
        assert!(
            !BenchReport {
                p99_ms: 1200.0,
                ..ok.clone()
            }
            .holds()
        );
        assert!(
            !BenchReport {
                finalized_tps: 900.0,
                ..ok.clone()
            }
            .holds()
        );
    }

    #[test]
    fn cpu_ticks_of_this_process() {
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        assert!(cpu_ticks("self").is_some());
        assert!(cpu_ticks(&std::process::id().to_string()).is_some());
        assert!(cpu_ticks("0").is_none());
    }
}
