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
    /// The validator about to lead cut off from the rest.
    IsolateLeader,
    /// One validator hears nobody, while everybody still hears it.
    OneWay,
    /// Two validators' outgoing links slow and lossy: `tc netem` (150 ms ± 50 ms, 5%
    /// loss) where the kernel has it, else a token bucket at about twice the load's need
    /// and 5% random loss.
    Netem,
    /// `docker kill` (SIGKILL), then `docker start`.
    Kill,
    /// `docker pause` (frozen), then `docker unpause`.
    Pause,
    /// One validator's wall clock 12 s ahead or behind (past the 10 s a proposal's time
    /// may be ahead), then back.
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
                "the validator that leads the next view is cut off from every other validator, both ways (leaders rotate: it then leads every fourth view, which must time out)"
            }
            Fault::OneWay => "one validator drops everything it receives; what it sends arrives",
            Fault::Netem => {
                "two validators' outgoing links slow and lossy: tc netem 150±50 ms and 5% loss (without netem in the kernel: tc tbf at 10 kbit/s per offered tx/s, at least 1 Mbit/s, and 5% random drops)"
            }
            Fault::Kill => "docker kill (SIGKILL) of one validator, docker start after the hold",
            Fault::Pause => {
                "docker pause of one validator (frozen, sockets open), unpause after the hold"
            }
            Fault::ClockSkew => {
                "one validator's wall clock 12 s ahead or behind (libfaketime; proposals more than 10 s ahead are refused), then right again"
            }
            Fault::DiskFull => {
                "validator 3's home (a 512 MiB tmpfs) filled by ballast files, then freed"
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
    /// For a validator cut off (isolate-leader, one-way): the blocks it finalized while cut
    /// off (`u64::MAX`: it did not answer).
    pub cut_off_finalized: Option<u64>,
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
                "cut_off_finalized": f.cut_off_finalized,
                "recovered_s": f.recovered_s,
                "note": f.note,
            })).collect::<Vec<_>>(),
            "timeline_tps": self.timeline,
            "accepted": self.accepted,
            "acknowledged": self.acknowledged,
            "chain": self.chain.as_ref().map(checker::ChainCheck::to_json),
            "verdicts": self.verdicts.iter().map(Verdict::to_json).collect::<Vec<_>>(),
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
            s.push_str(&v.line());
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

/// The validator that leads the next view. Leaders rotate every view, round robin over the
/// epoch's set in order (`chain_getInfo`'s `validators`), so the one cut off as it is about
/// to lead then leads every n-th view, each of which the others must time out.
async fn next_leader(clients: &[HttpClient]) -> Option<usize> {
    for c in clients {
        let Ok(info) = c.chain_info().await else {
            continue;
        };
        if info.validators.is_empty() {
            continue;
        }
        let key = &info.validators[((info.view + 1) % info.validators.len() as u64) as usize];
        let key = ledger::PublicKey::from_hex(key).ok()?;
        return (0..clients.len())
            .find(|&i| dev_keypair(DevKeyKind::Validator, i as u32).public() == key);
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

/// The file that marks a directory as a nemesis run's (only such a directory is wiped).
const MARKER: &str = ".palisade-nemesis";

/// Sets its flag when dropped.
#[derive(Debug)]
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Prepare the run's directory: homes (validator 3's on a small tmpfs), clocks at +0. An
/// existing directory is wiped only if an earlier run made it (or it is empty).
fn prepare(opts: &Options) -> Result<()> {
    let small = opts.work.join("node3");
    if opts.work.exists() {
        let ours = opts.work.join(MARKER).exists();
        let empty = std::fs::read_dir(&opts.work)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !ours && !empty {
            bail!(
                "{} exists and is not a nemesis run's directory (no {MARKER}): refusing to wipe it; pass another --work",
                opts.work.display()
            );
        }
        docker::unmount(&small);
        std::fs::remove_dir_all(&opts.work)
            .with_context(|| format!("removing {}", opts.work.display()))?;
    }
    for d in ["net", "node0", "node1", "node2", "node3", "logs"] {
        std::fs::create_dir_all(opts.work.join(d))
            .with_context(|| format!("creating {}", opts.work.join(d).display()))?;
    }
    std::fs::write(
        opts.work.join(MARKER),
        "a palisade nemesis run; wiped by the next\n",
    )?;
    docker::mount_small_disk(&small, SMALL_DISK_MB)
        .context("mounting a tmpfs for validator 3's home (the nemesis runs as root)")?;
    Ok(())
}

/// Leave nothing running: the containers and network, the tmpfs (its content copied to
/// `node3.saved` when the directory is kept).
fn clean_up(cluster: &Cluster, keep: bool) {
    let _ = cluster.down();
    let _ = docker::free_disk(&cluster.home(3));
    if keep {
        docker::save_copy(&cluster.home(3), &cluster.work.join("node3.saved"));
    }
    docker::unmount(&cluster.home(3));
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
    // one project per network: a run that was killed before it cleaned up is removed by
    // the next run on the same network
    let project = format!("palisade-nemesis-{}", opts.subnet.replace('.', "-"));
    let cluster = Arc::new(Cluster::new(
        &opts.compose_file,
        &opts.work,
        &project,
        &opts.subnet,
        &opts.image,
        opts.port_base,
    )?);
    // what a killed run on this network left (its containers still write into the homes)
    let _ = cluster.down();
    prepare(&opts)?;
    for i in 0..cluster.n {
        if let Err(e) = cluster.skew(i, "+0") {
            clean_up(&cluster, true);
            return Err(e);
        }
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing a SIGTERM handler")?;
    let result = tokio::select! {
        r = schedule(&cluster, &opts) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted (SIGINT)")),
        _ = term.recv() => Err(anyhow::anyhow!("interrupted (SIGTERM)")),
    };
    let stopped = cluster.stop();
    cluster.save_logs();
    let (mut report, acknowledged, seen_blocks) = match result {
        Ok(r) => r,
        Err(e) => {
            clean_up(&cluster, true);
            return Err(e.context(format!(
                "the nemesis failed; logs and homes in {}",
                opts.work.display()
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
    judge_acknowledged(&cluster, &acknowledged, &seen_blocks, &mut report);
    let keep = opts.keep || !report.ok();
    clean_up(&cluster, keep);
    if !keep {
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
            let top = chain.heights.iter().copied().max().unwrap_or(0);
            report.verdicts.push(Verdict {
                name: "every validator holds one chain, valid from genesis (every state root re-executed)".into(),
                ok: chain.common_height > 0,
                detail: format!(
                    "heights {:?}; blocks 1..={} compared across all and re-executed, {} transactions",
                    chain.heights, chain.common_height, chain.txs
                ),
            });
            // all caught up before the stop, so the common part is (nearly) all of it
            report.verdicts.push(Verdict {
                name: "every validator had caught up at the end (heights within 3 blocks)".into(),
                ok: top - chain.common_height <= 3,
                detail: format!("heights {:?}", chain.heights),
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

/// Every acknowledged transaction is in every validator's finalized chain exactly once, no
/// transaction is in any chain twice, and every block the clients saw finalized is the
/// block every validator holds at that height (nothing final was ever taken back).
fn judge_acknowledged(
    cluster: &Cluster,
    acknowledged: &[Hash],
    seen_blocks: &HashMap<u64, Hash>,
    report: &mut Report,
) {
    let genesis_path = cluster.home(0).join("genesis.json");
    let mut problems = Vec::new();
    let mut counted = 0usize;
    let mut rewritten = Vec::new();
    for i in 0..cluster.n {
        match read_chain(&genesis_path, &cluster.home(i)) {
            Ok((seen, ids)) => {
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
                for (&h, id) in seen_blocks {
                    match ids.get(h as usize - 1) {
                        Some(b) if b == id => {}
                        Some(b) => rewritten.push(format!(
                            "node{i} holds {b} at height {h}, where a client saw {id} finalized"
                        )),
                        None => {}
                    }
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
    report.verdicts.push(Verdict {
        name: "every block a client saw finalized is the block every validator holds there".into(),
        ok: rewritten.is_empty() && !seen_blocks.is_empty(),
        detail: if rewritten.is_empty() {
            format!(
                "{} finalized blocks seen by the clients, all in every chain",
                seen_blocks.len()
            )
        } else {
            rewritten.into_iter().take(5).collect::<Vec<_>>().join("; ")
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

/// The finalized chain of the store at `home`: how often each transaction appears, and the
/// block ids by height (index 0 = height 1).
fn read_chain(
    genesis_path: &std::path::Path,
    home: &std::path::Path,
) -> Result<(HashMap<Hash, u32>, Vec<Hash>)> {
    let genesis = Genesis::load(genesis_path)?;
    let store = Store::open(&home.join("data").join("db"), genesis.chain_params().limits)
        .with_context(|| format!("opening the store in {}", home.display()))?;
    let top = store.finalized_height()?.unwrap_or(0);
    let mut out: HashMap<Hash, u32> = HashMap::new();
    let mut ids = Vec::new();
    for h in 1..=top {
        let b = store
            .block_by_height(h)?
            .with_context(|| format!("{}: no block {h}", home.display()))?;
        for tx in &b.txs {
            *out.entry(tx.id()).or_default() += 1;
        }
        ids.push(b.id());
    }
    Ok((out, ids))
}

/// The finalized height in the store at `home` (read while its validator is stopped).
fn store_height(genesis_path: &std::path::Path, home: &std::path::Path) -> Result<u64> {
    let genesis = Genesis::load(genesis_path)?;
    let store = Store::open(&home.join("data").join("db"), genesis.chain_params().limits)
        .with_context(|| format!("opening the store in {}", home.display()))?;
    Ok(store.finalized_height()?.unwrap_or(0))
}

/// The faults under load, with the verdicts that need the live network.
async fn schedule(
    cluster: &Arc<Cluster>,
    opts: &Options,
) -> Result<(Report, Vec<Hash>, HashMap<u64, Hash>)> {
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
    // the clock-skew fault works through libfaketime: it must be loaded everywhere
    for i in 0..cluster.n {
        if !on(cluster, move |c| c.faketime_loaded(i)).await? {
            bail!(
                "libfaketime is not loaded into validator {i} ({}): a clock skew would do nothing; is the image current (scripts/docker-image.sh)?",
                docker::FAKETIME_LIB
            );
        }
    }
    let watch = Arc::new(Mutex::new(Watch::default()));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watcher = start_watch(cluster.clone(), watch.clone(), stop_watch.clone());
    // the watcher stops however this function ends
    let _stop_guard = StopOnDrop(stop_watch.clone());

    let urls: Vec<String> = (0..cluster.n).map(|i| cluster.rpc_url(i)).collect();
    let senders: Vec<u32> = (1..=SENDERS).collect();
    let load =
        load::Load::start_with(&urls, &senders, opts.rate, Duration::from_secs(3), true).await?;
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
            // the first round runs every fault whatever the budget
            if runs.len() >= kinds.len() && faults_start.elapsed() + hold > budget {
                break 'rounds;
            }
            let r = inject(cluster, &clients, &watch, fault, opts, &mut rng, start).await?;
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
    let leaky: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            r.cut_off_finalized
                .filter(|&b| b > 1)
                .map(|b| format!("{} {:?}: {b}", r.fault.name(), r.nodes))
        })
        .collect();
    if runs.iter().any(|r| r.cut_off_finalized.is_some()) {
        verdicts.push(Verdict {
            name: "the faults bit: a validator cut off finalized (almost) nothing while cut off"
                .into(),
            ok: leaky.is_empty(),
            detail: if leaky.is_empty() {
                format!(
                    "blocks each cut-off validator finalized: {:?} (at most 1 allowed)",
                    runs.iter()
                        .filter_map(|r| r.cut_off_finalized)
                        .collect::<Vec<_>>()
                )
            } else {
                format!("finalized while cut off: {}", leaky.join(", "))
            },
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
    let disks: Vec<&FaultRun> = runs.iter().filter(|r| r.fault == Fault::DiskFull).collect();
    if !disks.is_empty() {
        let bad: Vec<String> = disks
            .iter()
            .filter(|d| {
                !(d.recovered_s.is_some()
                    && (d.note.starts_with("kept running")
                        || (d.note.starts_with("stopped") && d.note.contains("its store kept")))
                    && !d.note.contains("LOST")
                    && !d.note.contains("UNCLEAR"))
            })
            .map(|d| format!("at {:.0} s: {}", d.at_s, d.note))
            .collect();
        verdicts.push(Verdict {
            name: "the validator whose disk filled kept running, or stopped with a clear message and lost nothing finalized".into(),
            ok: bad.is_empty(),
            detail: if bad.is_empty() {
                format!(
                    "{} times; {}",
                    disks.len(),
                    disks.iter().map(|d| d.note.as_str()).collect::<Vec<_>>().join(" | ")
                )
            } else {
                bad.join(" | ")
            },
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
    Ok((report, acknowledged, seen.blocks))
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
    opts: &Options,
    rng: &mut Junk,
    start: Instant,
) -> Result<FaultRun> {
    let (hold, rate) = (Duration::from_secs(opts.hold_s), opts.rate);
    let n = cluster.n;
    let at_s = start.elapsed().as_secs_f64();
    let one = (rng.next_u64() % n as u64) as usize;
    let mut note = String::new();
    let pre: Vec<Option<u64>> = heights(clients).await;
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
            let l = next_leader(clients).await.unwrap_or(one);
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
            // well above what the load's gossip needs (each transaction goes to three peers,
            // ~200 bytes each: ~5 kbit/s per tx/s): slow, not cut
            let kbit = (rate * 10).max(1000);
            let how = on(cluster, move |c| {
                c.slow_link(one, kbit)?;
                c.slow_link(other, kbit)
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
                "+12s"
            } else {
                "-12s"
            };
            on(cluster, move |c| c.skew(one, offset)).await?;
            // libfaketime re-reads the file each second: then the container's clock is off
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let off = on(cluster, move |c| c.clock_offset(one)).await?;
            let want: i64 = if offset.starts_with('+') { 12 } else { -12 };
            if (off - want).abs() > 2 {
                bail!(
                    "clock-skew: validator {one}'s clock is {off:+} s off, not {want:+} s: libfaketime did not take the offset"
                );
            }
            note = format!("clock {offset} (measured {off:+} s)");
            vec![one]
        }
        Fault::DiskFull => {
            lock(watch).expected.insert(3);
            on(cluster, |c| docker::fill_disk(&c.home(3))).await?;
            vec![3]
        }
    };
    // blocks already final when the fault began may still be on their way to the disk
    // (a few are queued for the commit thread): measure from 2 s into the hold
    let settle = Duration::from_secs(2).min(hold / 2);
    tokio::time::sleep(settle).await;
    let before: Vec<Option<u64>> = heights(clients).await;
    let at_fault = before.iter().flatten().copied().max().unwrap_or(0);
    // the full-disk validator's height is followed until it stops answering: the last one
    // it reported is what its store must still hold
    let mut last3 = pre[3];
    let until = Instant::now() + hold.saturating_sub(settle);
    while Instant::now() < until {
        if fault == Fault::DiskFull
            && let Ok(info) = clients[3].chain_info().await
        {
            last3 = last3.max(Some(info.finalized_height));
        }
        tokio::time::sleep(Duration::from_millis(250).min(until - Instant::now().min(until))).await;
    }
    let held: Vec<Option<u64>> = heights(clients).await;
    let at_heal = held.iter().flatten().copied().max().unwrap_or(0);
    let healing = Instant::now();
    // a validator that hears nobody finalizes nothing (one block in flight may land); a
    // height it did not report is not counted
    let cut_off = if matches!(fault, Fault::IsolateLeader | Fault::OneWay) {
        let t = nodes[0];
        match (before[t], held[t]) {
            (Some(b), Some(h)) => Some(h.saturating_sub(b)),
            _ => {
                note = format!("validator {t} did not report its height");
                None
            }
        }
    } else {
        None
    };
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
            // stopped or not, read twice a second apart (it may be exiting right now)
            on(cluster, |c| c.state(3)).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (running, _, code, _) = on(cluster, |c| c.state(3)).await?;
            let full = on(cluster, |c| docker::free_bytes(&c.home(3))).await?;
            on(cluster, |c| docker::free_disk(&c.home(3))).await?;
            if running {
                // allowed: it wrote nothing that failed while its disk was full
                note = format!(
                    "kept running through the hold with {full} bytes free (nothing it wrote failed)"
                );
            } else {
                let log = on(cluster, |c| Ok(c.logs(3, 20))).await?;
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
                // nothing it had finalized is gone: a copy of its store (the store itself
                // is left for the validator to recover on its own) holds at least the last
                // height it reported
                match last3 {
                    None => note.push_str("; UNCLEAR: it never reported a height"),
                    Some(had) => {
                        let kept = on(cluster, move |c| {
                            let home = c.home(3);
                            let copy = c.work.join("node3-store-check");
                            let _ = std::fs::remove_dir_all(&copy);
                            std::fs::create_dir_all(copy.join("data"))?;
                            let st = std::process::Command::new("cp")
                                .arg("-a")
                                .arg(home.join("data").join("db"))
                                .arg(copy.join("data").join("db"))
                                .status()?;
                            if !st.success() {
                                bail!("copying validator 3's store failed");
                            }
                            let h = store_height(&home.join("genesis.json"), &copy);
                            if h.as_ref().is_ok_and(|&h| h >= had) {
                                let _ = std::fs::remove_dir_all(&copy);
                            }
                            h
                        })
                        .await;
                        match kept {
                            Ok(h) if h >= had => note.push_str(&format!(
                                "; its store kept height {h} (it last reported {had})"
                            )),
                            Ok(h) => note.push_str(&format!(
                                "; LOST finalized blocks: it reported {had}, its store holds {h} (copy kept in node3-store-check)"
                            )),
                            Err(e) => note.push_str(&format!(
                                "; LOST: its store does not open: {e:#}"
                            )),
                        }
                    }
                }
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
        lock(watch).expected.remove(&3);
    }
    Ok(FaultRun {
        fault,
        nodes,
        at_s,
        finalized_during: at_heal.saturating_sub(at_fault),
        cut_off_finalized: cut_off,
        recovered_s,
        note,
    })
}
