//! `palisade nemesis`: a fault schedule against validators on separate container hosts
//! (`compose.yaml`, each validator a container with its own address) under steady wallet
//! load, and the checker that judges it.
//!
//! Faults: halves that cannot reach each other; the leader isolated; a one-way cut; latency
//! and loss (`tc netem`); `docker kill` then start; `docker pause` then unpause; a clock
//! several seconds off (libfaketime); a full disk (validator 3's home is a small tmpfs that
//! a ballast file fills). Each fault is held, healed, and the seconds until every validator
//! finalizes past the height at the heal are its recovery time. Verdicts: every
//! acknowledged transaction (accepted by a validator and seen finalized by the client) is
//! in every validator's final chain exactly once; the validators' stores hold one chain,
//! valid from genesis when re-executed, with the supply conserved; finalization resumed
//! within the bound after every heal; no container exited except those the nemesis killed
//! (and the full-disk validator, which must then have said why and lost nothing finalized).
//!
//! Owns the schedule and the verdicts; the container mechanics live in `docker`. Must not
//! reach anything but the containers and host paths of its own run.

pub mod docker;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use genesis::{DevKeyKind, Genesis, dev_keypair};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use ledger::{Hash, Store};
use rpc::ChainApiClient;
use serde_json::{Value, json};

use crate::adversary::attack::Junk;
use crate::adversary::{Verdict, checker, load};
use docker::Cluster;

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Two halves of two validators that cannot reach each other (no quorum anywhere).
    PartitionHalves,
    /// The proposer of the newest finalized block cut off from the rest.
    IsolateLeader,
    /// One validator hears nobody, while everybody still hears it.
    OneWay,
    /// Two validators' outgoing links slow and lossy: `tc netem` (150 ms ± 50 ms, 5%
    /// loss) where the kernel has it, else a 2 Mbit/s token bucket and 5% random loss.
    Netem,
    /// `docker kill` (SIGKILL), then `docker start`.
    Kill,
    /// `docker pause` (frozen), then `docker unpause`.
    Pause,
    /// One validator's wall clock 5 s ahead or behind, then back.
    ClockSkew,
    /// Validator 3's disk full, then space again.
    DiskFull,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 8] = [
        Fault::PartitionHalves,
        Fault::IsolateLeader,
        Fault::OneWay,
        Fault::Netem,
        Fault::Kill,
        Fault::Pause,
        Fault::ClockSkew,
        Fault::DiskFull,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Fault::PartitionHalves => "partition-halves",
            Fault::IsolateLeader => "isolate-leader",
            Fault::OneWay => "one-way",
            Fault::Netem => "netem",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::ClockSkew => "clock-skew",
            Fault::DiskFull => "disk-full",
        }
    }

    /// What it does.
    pub fn about(self) -> &'static str {
        match self {
            Fault::PartitionHalves => {
                "validators {0,1} and {2,3} cannot reach each other (iptables in each namespace): no side has a quorum"
            }
            Fault::IsolateLeader => {
                "the proposer of the newest finalized block is cut off from every other validator"
            }
            Fault::OneWay => "one validator drops everything it receives; what it sends arrives",
            Fault::Netem => {
                "two validators' outgoing links slow and lossy: tc netem 150±50 ms and 5% loss (without netem in the kernel: tc tbf 2 Mbit/s and 5% random drops)"
            }
            Fault::Kill => "docker kill (SIGKILL) of one validator, docker start after the hold",
            Fault::Pause => {
                "docker pause of one validator (frozen, sockets open), unpause after the hold"
            }
            Fault::ClockSkew => {
                "one validator's wall clock 5 s ahead or behind (libfaketime), then right again"
            }
            Fault::DiskFull => {
                "validator 3's home (a 512 MiB tmpfs) filled by a ballast file, then freed"
            }
        }
    }

    /// The fault named `name`.
    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seeds the schedule (order of faults, targets, skew signs).
    pub seed: u64,
    /// Seconds of faults (each fault's hold, heal and recovery included); the schedule goes
    /// through every fault once in a seeded order, then again, until this is spent.
    pub duration_s: u64,
    /// Seconds each fault is held.
    pub hold_s: u64,
    /// Offered load, transfers per second.
    pub rate: u64,
    /// Only these faults (empty = all).
    pub faults: Vec<Fault>,
    /// The run's directory (homes, logs); wiped first.
    pub work: PathBuf,
    /// compose.yaml.
    pub compose_file: PathBuf,
    /// The image.
    pub image: String,
    /// First three octets of the run's /24 (a network the run creates).
    pub subnet: String,
    /// Host ports: JSON-RPC BASE+i, metrics BASE+100+i (127.0.0.1 only).
    pub port_base: u16,
    /// Keep the directory and containers' logs after a passed run.
    pub keep: bool,
}

/// Seconds within which finalization must resume after a heal.
pub const RECOVERY_BOUND_S: f64 = 30.0;
/// Sending accounts (dev accounts 1..=SENDERS; compose.yaml funds 8).
const SENDERS: u32 = 6;
/// MiB of validator 3's home.
const SMALL_DISK_MB: u64 = 512;

/// One fault as it happened.
#[derive(Clone, Debug)]
pub struct FaultRun {
    /// The fault.
    pub fault: Fault,
    /// Validators it hit.
    pub nodes: Vec<usize>,
    /// Seconds from the start of the load to the fault.
    pub at_s: f64,
    /// Blocks the network finalized while the fault was held (the highest finalized
    /// height any validator reported, at the heal minus at the fault).
    pub finalized_during: u64,
    /// Seconds from the start of the heal until every validator finalized past the height
    /// at the heal.
    pub recovered_s: Option<f64>,
    /// What else happened (a skew's sign, a disk-full validator's last words).
    pub note: String,
}

/// The outcome.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Offered rate.
    pub rate: u64,
    /// The faults, in order.
    pub faults: Vec<FaultRun>,
    /// Finalized transactions of the load per second from the start of the load.
    pub timeline: Vec<u64>,
    /// Accepted by a validator.
    pub accepted: usize,
    /// Accepted and seen finalized by the client.
    pub acknowledged: usize,
    /// What the stores showed.
    pub chain: Option<checker::ChainCheck>,
    /// The verdicts.
    pub verdicts: Vec<Verdict>,
}

impl Report {
    /// Whether every verdict held.
    pub fn ok(&self) -> bool {
        !self.verdicts.is_empty() && self.verdicts.iter().all(|v| v.ok)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "ok": self.ok(),
            "seed": self.seed,
            "rate": self.rate,
            "recovery_bound_s": RECOVERY_BOUND_S,
            "faults": self.faults.iter().map(|f| json!({
                "fault": f.fault.name(),
                "nodes": f.nodes,
                "at_s": f.at_s,
                "finalized_during": f.finalized_during,
                "recovered_s": f.recovered_s,
                "note": f.note,
            })).collect::<Vec<_>>(),
            "timeline_tps": self.timeline,
            "accepted": self.accepted,
            "acknowledged": self.acknowledged,
            "chain": self.chain.as_ref().map(|c| json!({
                "common_height": c.common_height,
                "heights": c.heights,
                "txs_reexecuted": c.txs,
                "supply": c.supply.to_string(),
                "expected_supply": c.expected_supply.to_string(),
                "balances": c.balances.to_string(),
            })),
            "verdicts": self.verdicts.iter().map(|v| json!({"name": v.name, "ok": v.ok, "detail": v.detail})).collect::<Vec<_>>(),
        })
    }

    /// A human-readable summary.
    pub fn table(&self) -> String {
        let mut s = format!(
            "nemesis seed {}: {}\n  {} accepted, {} acknowledged (seen finalized)\n",
            self.seed,
            if self.ok() { "PASSED" } else { "FAILED" },
            self.accepted,
            self.acknowledged
        );
        for f in &self.faults {
            s.push_str(&format!(
                "  {:>6.1} s  {:<17} nodes {:?}: {} blocks finalized during it, recovered {}{}\n",
                f.at_s,
                f.fault.name(),
                f.nodes,
                f.finalized_during,
                f.recovered_s
                    .map_or("NOT within the bound".to_owned(), |r| format!(
                        "in {r:.1} s"
                    )),
                if f.note.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", f.note)
                }
            ));
        }
        for v in &self.verdicts {
            s.push_str(&format!(
                "  [{}] {}: {}\n",
                if v.ok { "ok" } else { "FAIL" },
                v.name,
                v.detail
            ));
        }
        s
    }
}

fn client(url: &str) -> Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(2))
        .build(url)
        .with_context(|| format!("RPC client for {url}"))
}

/// Every validator's finalized height (None: did not answer).
async fn heights(clients: &[HttpClient]) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    for c in clients {
        out.push(c.chain_info().await.ok().map(|i| i.finalized_height));
    }
    out
}

/// Wait until every validator answers with a finalized height above `above`; the seconds
/// it took, or None after `bound`.
async fn wait_past(clients: &[HttpClient], above: u64, bound: Duration) -> Option<f64> {
    let start = Instant::now();
    while start.elapsed() < bound {
        let h = heights(clients).await;
        if h.iter().all(|x| x.is_some_and(|x| x > above)) {
            return Some(start.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// The highest finalized height any validator reports.
async fn top(clients: &[HttpClient]) -> u64 {
    heights(clients)
        .await
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
}

/// The validator that proposed the newest finalized block.
async fn leader(clients: &[HttpClient]) -> Option<usize> {
    for c in clients {
        let Ok(info) = c.chain_info().await else {
            continue;
        };
        let Ok(Some(b)) = c.get_block_by_height(info.finalized_height).await else {
            continue;
        };
        let proposer = ledger::PublicKey::from_hex(&b.header.proposer).ok()?;
        return (0..clients.len())
            .find(|&i| dev_keypair(DevKeyKind::Validator, i as u32).public() == proposer);
    }
    None
}

/// Watches the containers: an exit that the nemesis did not cause is recorded.
#[derive(Debug, Default)]
struct Watch {
    /// Validators the nemesis is holding down (killed) or expects may stop (full disk).
    expected: HashSet<usize>,
    /// Unexpected exits: (validator, exit code, finished at).
    exits: Vec<(usize, i64, String)>,
    /// Exits while expected: (validator, exit code).
    expected_exits: Vec<(usize, i64)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn start_watch(
    cluster: Arc<Cluster>,
    watch: Arc<Mutex<Watch>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen_down: HashSet<usize> = HashSet::new();
        while !stop.load(Ordering::Relaxed) {
            for i in 0..cluster.n {
                let Ok((running, _, code, at)) = cluster.state(i) else {
                    continue;
                };
                if running {
                    seen_down.remove(&i);
                    continue;
                }
                if !seen_down.insert(i) {
                    continue;
                }
                let mut w = lock(&watch);
                if w.expected.contains(&i) {
                    w.expected_exits.push((i, code));
                } else {
                    w.exits.push((i, code, at));
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

/// Prepare the run's directory: homes (validator 3's on a small tmpfs), clocks at +0.
fn prepare(opts: &Options) -> Result<()> {
    let small = opts.work.join("node3");
    docker::unmount(&small);
    if opts.work.exists() {
        std::fs::remove_dir_all(&opts.work)
            .with_context(|| format!("removing {}", opts.work.display()))?;
    }
    for d in ["net", "node0", "node1", "node2", "node3", "logs"] {
        std::fs::create_dir_all(opts.work.join(d))
            .with_context(|| format!("creating {}", opts.work.join(d).display()))?;
    }
    docker::mount_small_disk(&small, SMALL_DISK_MB)
        .context("mounting a tmpfs for validator 3's home (the nemesis runs as root)")?;
    Ok(())
}

/// Run the schedule; the network is removed at the end, whatever happened.
pub async fn run(opts: Options) -> Result<Report> {
    if opts.duration_s == 0 || opts.rate == 0 || opts.hold_s == 0 {
        bail!("--duration, --hold and --rate must be positive");
    }
    if !opts.compose_file.exists() {
        bail!(
            "{} not found (run from the repository, or pass --compose-file)",
            opts.compose_file.display()
        );
    }
    let project = format!("palisade-nemesis-{}", std::process::id());
    let cluster = Arc::new(Cluster::new(
        &opts.compose_file,
        &opts.work,
        &project,
        &opts.subnet,
        &opts.image,
        opts.port_base,
    )?);
    prepare(&opts)?;
    for i in 0..cluster.n {
        cluster.skew(i, "+0")?;
    }
    let result = schedule(&cluster, &opts).await;
    cluster.save_logs();
    let stopped = cluster.stop();
    let (mut report, acknowledged) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = cluster.down();
            docker::unmount(&cluster.home(3));
            return Err(e.context(format!(
                "the nemesis failed; logs in {}",
                opts.work.join("logs").display()
            )));
        }
    };
    // every validator stopped by SIGTERM exits 0
    let mut unclean = Vec::new();
    if let Err(e) = &stopped {
        unclean.push(format!("{e:#}"));
    }
    for i in 0..cluster.n {
        match cluster.state(i) {
            Ok((false, _, 0, _)) => {}
            Ok((running, _, code, _)) => {
                unclean.push(format!("node{i}: running {running}, exit code {code}"))
            }
            Err(e) => unclean.push(format!("node{i}: {e:#}")),
        }
    }
    report.verdicts.push(Verdict {
        name: "every validator stopped cleanly at the end (SIGTERM, exit 0)".into(),
        ok: unclean.is_empty(),
        detail: if unclean.is_empty() {
            format!("{} containers exited 0", cluster.n)
        } else {
            unclean.join("; ")
        },
    });
    judge_stores(&cluster, &mut report);
    judge_acknowledged(&cluster, &acknowledged, &mut report);
    let _ = cluster.down();
    docker::unmount(&cluster.home(3));
    if report.ok() && !opts.keep {
        let _ = std::fs::remove_dir_all(&opts.work);
    }
    Ok(report)
}

/// The verdicts read from the validators' stores after they stopped.
fn judge_stores(cluster: &Cluster, report: &mut Report) {
    let genesis_path = cluster.home(0).join("genesis.json");
    let homes: Vec<PathBuf> = (0..cluster.n).map(|i| cluster.home(i)).collect();
    let home_refs: Vec<&std::path::Path> = homes.iter().map(PathBuf::as_path).collect();
    match checker::check_chains(&genesis_path, &home_refs) {
        Ok(chain) => {
            let same = chain.heights.iter().all(|&h| h == chain.common_height);
            report.verdicts.push(Verdict {
                name: "every validator holds one chain, valid from genesis (every state root re-executed)".into(),
                ok: chain.common_height > 0,
                detail: format!(
                    "heights {:?}{}; {} blocks compared and re-executed, {} transactions",
                    chain.heights,
                    if same { "" } else { " (the common part compared)" },
                    chain.common_height,
                    chain.txs
                ),
            });
            report.verdicts.push(Verdict {
                name: "supply conserved: genesis + mints + rewards − burns = sum of balances"
                    .into(),
                ok: chain.supply == chain.expected_supply && chain.supply == chain.balances,
                detail: format!(
                    "supply {}, expected {}, balances {}",
                    chain.supply, chain.expected_supply, chain.balances
                ),
            });
            report.chain = Some(chain);
        }
        Err(e) => report.verdicts.push(Verdict {
            name:
                "every validator holds one chain, valid from genesis (every state root re-executed)"
                    .into(),
            ok: false,
            detail: format!("{e:#}"),
        }),
    }
}

/// Every acknowledged transaction is in every validator's finalized chain exactly once,
/// and no transaction is in any chain twice.
fn judge_acknowledged(cluster: &Cluster, acknowledged: &[Hash], report: &mut Report) {
    let genesis_path = cluster.home(0).join("genesis.json");
    let mut problems = Vec::new();
    let mut counted = 0usize;
    for i in 0..cluster.n {
        match occurrences(&genesis_path, &cluster.home(i)) {
            Ok(seen) => {
                counted += seen.len();
                let missing = acknowledged
                    .iter()
                    .filter(|id| !seen.contains_key(id))
                    .count();
                let twice = seen.values().filter(|&&c| c > 1).count();
                if missing > 0 {
                    problems.push(format!("node{i} lacks {missing} acknowledged transactions"));
                }
                if twice > 0 {
                    problems.push(format!("node{i} holds {twice} transactions more than once"));
                }
            }
            Err(e) => problems.push(format!("node{i}: {e:#}")),
        }
    }
    report.verdicts.push(Verdict {
        name: "every acknowledged transaction is in every validator's final chain exactly once"
            .into(),
        ok: problems.is_empty() && !acknowledged.is_empty(),
        detail: if problems.is_empty() {
            format!(
                "{} acknowledged; {} chain entries read over {} validators, none twice",
                acknowledged.len(),
                counted,
                cluster.n
            )
        } else {
            problems.join("; ")
        },
    });
}

/// `GET url` answered 200.
fn probe(url: &str) -> bool {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let Ok(addr) = host.parse::<std::net::SocketAddr>() else {
        return false;
    };
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    buf[..n].starts_with(b"HTTP/1.1 200")
}

/// How often each transaction appears in the finalized chain of the store at `home`.
fn occurrences(
    genesis_path: &std::path::Path,
    home: &std::path::Path,
) -> Result<HashMap<Hash, u32>> {
    let genesis = Genesis::load(genesis_path)?;
    let store = Store::open(&home.join("data").join("db"), genesis.chain_params().limits)
        .with_context(|| format!("opening the store in {}", home.display()))?;
    let top = store.finalized_height()?.unwrap_or(0);
    let mut out: HashMap<Hash, u32> = HashMap::new();
    for h in 1..=top {
        let b = store
            .block_by_height(h)?
            .with_context(|| format!("{}: no block {h}", home.display()))?;
        for tx in &b.txs {
            *out.entry(tx.id()).or_default() += 1;
        }
    }
    Ok(out)
}

/// The faults under load, with the verdicts that need the live network.
async fn schedule(cluster: &Arc<Cluster>, opts: &Options) -> Result<(Report, Vec<Hash>)> {
    cluster.down().ok();
    cluster.up()?;
    let clients: Vec<HttpClient> = (0..cluster.n)
        .map(|i| client(&cluster.rpc_url(i)))
        .collect::<Result<_>>()?;
    // every validator ready (its /ready probe: in step with f+1 validators)
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..cluster.n {
        let url = format!("{}/ready", cluster.metrics_url(i));
        loop {
            let u = url.clone();
            let ok = tokio::task::spawn_blocking(move || probe(&u))
                .await
                .unwrap_or(false);
            if ok {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "validator {i} not ready after 120 s; its log:\n{}",
                    cluster.logs(i, 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let watch = Arc::new(Mutex::new(Watch::default()));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watcher = start_watch(cluster.clone(), watch.clone(), stop_watch.clone());

    let urls: Vec<String> = (0..cluster.n).map(|i| cluster.rpc_url(i)).collect();
    let senders: Vec<u32> = (1..=SENDERS).collect();
    let load = load::Load::start_with(&urls, &senders, opts.rate, Duration::from_secs(3)).await?;
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;

    let mut rng = Junk::new(opts.seed);
    let kinds: Vec<Fault> = if opts.faults.is_empty() {
        Fault::ALL.to_vec()
    } else {
        opts.faults.clone()
    };
    let budget = Duration::from_secs(opts.duration_s);
    let hold = Duration::from_secs(opts.hold_s);
    let mut runs = Vec::new();
    let faults_start = Instant::now();
    'rounds: loop {
        // a seeded permutation of the faults
        let mut order = kinds.clone();
        for k in (1..order.len()).rev() {
            let j = (rng.next_u64() % (k as u64 + 1)) as usize;
            order.swap(k, j);
        }
        for fault in order {
            if faults_start.elapsed() + hold > budget && !runs.is_empty() {
                break 'rounds;
            }
            let r = inject(cluster, &clients, &watch, fault, hold, &mut rng, start).await?;
            runs.push(r);
            // a breath between faults
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    // everybody finalizes past where the fastest is now
    let h = top(&clients).await;
    let settled = wait_past(&clients, h, Duration::from_secs_f64(RECOVERY_BOUND_S)).await;
    let seen = load.finish(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_watch.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let total_s = start.elapsed().as_secs_f64().ceil() as usize;
    let timeline = load::timeline(&seen, start, total_s);
    let acknowledged: Vec<Hash> = seen
        .accepted
        .keys()
        .filter(|id| seen.finalized.contains_key(id))
        .copied()
        .collect();

    let mut verdicts = Vec::new();
    let late: Vec<String> = runs
        .iter()
        .filter(|r| r.recovered_s.is_none_or(|s| s > RECOVERY_BOUND_S))
        .map(|r| format!("{} {:?}", r.fault.name(), r.nodes))
        .collect();
    verdicts.push(Verdict {
        name: format!(
            "finalization resumed on every validator within {RECOVERY_BOUND_S} s of every heal"
        ),
        ok: late.is_empty() && settled.is_some(),
        detail: format!(
            "{} faults; recovery s: {}{}{}",
            runs.len(),
            runs.iter()
                .map(|r| format!(
                    "{} {}",
                    r.fault.name(),
                    r.recovered_s
                        .map_or("never".to_owned(), |s| format!("{s:.1}"))
                ))
                .collect::<Vec<_>>()
                .join(", "),
            if late.is_empty() {
                String::new()
            } else {
                format!("; late: {}", late.join(", "))
            },
            if settled.is_none() {
                "; the validators did not all finalize together at the end"
            } else {
                ""
            }
        ),
    });
    // the faults were real: with no quorum on either side nothing is finalized (a block
    // whose last votes were in flight may still be)
    let halves: Vec<u64> = runs
        .iter()
        .filter(|r| r.fault == Fault::PartitionHalves)
        .map(|r| r.finalized_during)
        .collect();
    if !halves.is_empty() {
        verdicts.push(Verdict {
            name: "the faults bit: split in halves, the validators finalized (almost) nothing"
                .into(),
            ok: halves.iter().all(|&b| b <= 1),
            detail: format!(
                "blocks finalized while split: {halves:?} (at most 1 allowed: one in flight)"
            ),
        });
    }
    let stalled: Vec<String> = runs
        .iter()
        .filter(|r| r.fault != Fault::PartitionHalves && r.finalized_during == 0)
        .map(|r| format!("{} {:?}", r.fault.name(), r.nodes))
        .collect();
    verdicts.push(Verdict {
        name: "with one validator killed, paused, cut off, skewed or full (or two slow), the rest kept finalizing".into(),
        ok: stalled.is_empty(),
        detail: if stalled.is_empty() {
            format!(
                "blocks finalized during each: {}",
                runs.iter()
                    .filter(|r| r.fault != Fault::PartitionHalves)
                    .map(|r| format!("{} {}", r.fault.name(), r.finalized_during))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("nothing finalized during: {}", stalled.join(", "))
        },
    });
    let w = lock(&watch);
    verdicts.push(Verdict {
        name: "no container exited except those the nemesis killed".into(),
        ok: w.exits.is_empty(),
        detail: if w.exits.is_empty() {
            format!(
                "{} validators ran throughout; exits the nemesis caused or allowed: {:?}",
                cluster.n, w.expected_exits
            )
        } else {
            w.exits
                .iter()
                .map(|(i, code, at)| format!("node{i} exited {code} at {at}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    });
    drop(w);
    if let Some(disk) = runs.iter().find(|r| r.fault == Fault::DiskFull) {
        verdicts.push(Verdict {
            name: "the validator whose disk filled kept running or stopped with a clear message, and lost nothing finalized".into(),
            ok: disk.recovered_s.is_some()
                && !disk.note.contains("LOST")
                && !disk.note.contains("UNCLEAR"),
            detail: disk.note.clone(),
        });
    }
    verdicts.push(Verdict {
        name: "the load ran: transactions were acknowledged".into(),
        ok: !acknowledged.is_empty(),
        detail: format!(
            "{} accepted, {} acknowledged; refusals {:?}",
            seen.accepted.len(),
            acknowledged.len(),
            seen.refused
        ),
    });
    let report = Report {
        seed: opts.seed,
        rate: opts.rate,
        faults: runs,
        timeline,
        accepted: seen.accepted.len(),
        acknowledged: acknowledged.len(),
        chain: None,
        verdicts,
    };
    Ok((report, acknowledged))
}

/// Run `f` on the cluster off the async workers (docker commands block).
async fn on<T, F>(cluster: &Arc<Cluster>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Cluster) -> Result<T> + Send + 'static,
{
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || f(&c))
        .await
        .context("a docker command panicked")?
}

/// Inject one fault, hold it, heal it and time the recovery.
async fn inject(
    cluster: &Arc<Cluster>,
    clients: &[HttpClient],
    watch: &Arc<Mutex<Watch>>,
    fault: Fault,
    hold: Duration,
    rng: &mut Junk,
    start: Instant,
) -> Result<FaultRun> {
    let n = cluster.n;
    let at_s = start.elapsed().as_secs_f64();
    let one = (rng.next_u64() % n as u64) as usize;
    let mut note = String::new();
    let nodes: Vec<usize> = match fault {
        Fault::PartitionHalves => {
            on(cluster, |c| {
                for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
                    c.drop_from(a, b)?;
                    c.drop_from(b, a)?;
                }
                Ok(())
            })
            .await?;
            vec![0, 1, 2, 3]
        }
        Fault::IsolateLeader => {
            let l = leader(clients).await.unwrap_or(one);
            on(cluster, move |c| {
                for j in (0..c.n).filter(|&j| j != l) {
                    c.drop_from(l, j)?;
                    c.drop_from(j, l)?;
                }
                Ok(())
            })
            .await?;
            vec![l]
        }
        Fault::OneWay => {
            on(cluster, move |c| {
                for j in (0..c.n).filter(|&j| j != one) {
                    c.drop_from(one, j)?;
                }
                Ok(())
            })
            .await?;
            vec![one]
        }
        Fault::Netem => {
            let other = (one + 1 + (rng.next_u64() % (n as u64 - 1)) as usize) % n;
            let how = on(cluster, move |c| {
                c.slow_link(one)?;
                c.slow_link(other)
            })
            .await?;
            note = how;
            vec![one, other]
        }
        Fault::Kill => {
            lock(watch).expected.insert(one);
            on(cluster, move |c| c.docker("kill", one)).await?;
            vec![one]
        }
        Fault::Pause => {
            on(cluster, move |c| c.docker("pause", one)).await?;
            vec![one]
        }
        Fault::ClockSkew => {
            let offset = if rng.next_u64().is_multiple_of(2) {
                "+5s"
            } else {
                "-5s"
            };
            on(cluster, move |c| c.skew(one, offset)).await?;
            note = format!("clock {offset}");
            vec![one]
        }
        Fault::DiskFull => {
            lock(watch).expected.insert(3);
            on(cluster, |c| docker::fill_disk(&c.home(3))).await?;
            vec![3]
        }
    };
    let before: Vec<Option<u64>> = heights(clients).await;
    let at_fault = before.iter().flatten().copied().max().unwrap_or(0);
    tokio::time::sleep(hold).await;
    let at_heal = top(clients).await;
    let healing = Instant::now();
    match fault {
        Fault::PartitionHalves | Fault::IsolateLeader | Fault::OneWay | Fault::Netem => {
            on(cluster, |c| {
                for i in 0..c.n {
                    c.heal(i)?;
                }
                Ok(())
            })
            .await?
        }
        Fault::Kill => {
            on(cluster, move |c| c.docker("start", one)).await?;
            lock(watch).expected.remove(&one);
        }
        Fault::Pause => on(cluster, move |c| c.docker("unpause", one)).await?,
        Fault::ClockSkew => on(cluster, move |c| c.skew(one, "+0")).await?,
        Fault::DiskFull => {
            on(cluster, |c| docker::free_disk(&c.home(3))).await?;
            let (running, _, code, _) = on(cluster, |c| c.state(3)).await?;
            if running {
                note = "kept running".into();
            } else {
                let log = on(cluster, |c| Ok(c.logs(3, 5))).await?;
                let last = log
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                let clear = log.to_lowercase().contains("no space left")
                    || log.to_lowercase().contains("disk full");
                note = format!(
                    "stopped (exit {code}){}: {}",
                    if clear { "" } else { " UNCLEAR message" },
                    last.trim()
                );
                on(cluster, |c| c.docker("start", 3)).await?;
            }
        }
    }
    // timed from the moment healing began (undoing a fault takes a moment of its own)
    let recovered_s = wait_past(
        clients,
        at_heal,
        Duration::from_secs_f64(RECOVERY_BOUND_S + 5.0),
    )
    .await
    .map(|_| healing.elapsed().as_secs_f64());
    if fault == Fault::DiskFull {
        // nothing it had finalized is gone
        let after = heights(clients).await;
        if let (Some(b), Some(a)) = (before[3], after[3])
            && a < b
        {
            note.push_str(&format!(
                "; LOST finalized blocks: height {b} before, {a} after"
            ));
        }
        lock(watch).expected.remove(&3);
    }
    Ok(FaultRun {
        fault,
        nodes,
        at_s,
        finalized_during: at_heal.saturating_sub(at_fault),
        recovered_s,
        note,
    })
}
