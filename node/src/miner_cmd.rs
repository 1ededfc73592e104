//! `palisade miner`: parse the options, load the key, and run the `miner` crate's loop (or
//! its benchmark) until Ctrl-C / SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use genesis::read_key_file;
use miner::{Backend, MinerConfig};

/// Options of `palisade miner`.
#[derive(Args)]
pub(crate) struct MinerArgs {
    /// The node's JSON-RPC URL (HTTP or WebSocket; WebSocket is used).
    #[arg(long, default_value = "http://127.0.0.1:26756", env = "PALISADE_RPC")]
    rpc: String,
    /// The miner's key file (its account needs the `mine` role). Not needed with --bench.
    #[arg(long, env = "PALISADE_KEY")]
    key: Option<PathBuf>,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Hashing backend: auto (the widest this CPU runs), avx512, avx2, portable, scalar.
    #[arg(long, default_value = "auto")]
    backend: String,
    /// Seconds between progress lines (and hashrate reports to the node).
    #[arg(long, default_value_t = 5.0)]
    report_secs: f64,
    /// Measure hashes/s (plain blake3 loop, scalar path, SIMD path, all threads) and exit.
    #[arg(long)]
    bench: bool,
    /// With --bench: timed rounds per figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// With --bench: length of one round in ms.
    #[arg(long, default_value_t = 1000)]
    round_ms: u64,
    /// With --bench: print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn backend(name: &str) -> Result<Backend> {
    let b = match name {
        "auto" => return Ok(Backend::detect()),
        "avx512" => Backend::Avx512,
        "avx2" => Backend::Avx2,
        "portable" => Backend::Portable,
        "scalar" => Backend::Scalar,
        other => bail!("unknown backend {other:?} (auto, avx512, avx2, portable, scalar)"),
    };
    if !Backend::available().contains(&b) {
        bail!("this CPU cannot run the {name} backend");
    }
    Ok(b)
}

/// Run `palisade miner`.
pub(crate) fn run(args: MinerArgs) -> Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    if args.bench {
        let report = miner::bench::run(
            backend(&args.backend)?,
            threads,
            args.rounds,
            Duration::from_millis(args.round_ms),
        );
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!("{}", report.table());
        }
        return Ok(());
    }
    if args.json {
        bail!("--json goes with --bench");
    }
    let Some(key) = &args.key else {
        bail!("pass --key FILE (or set PALISADE_KEY): the miner signs its reward claims");
    };
    let key = read_key_file(key).with_context(|| format!("reading {}", key.display()))?;
    if !args.report_secs.is_finite() || args.report_secs <= 0.0 {
        bail!("--report-secs must be positive");
    }
    let cfg = MinerConfig {
        rpc: args.rpc,
        key,
        threads,
        backend: backend(&args.backend)?,
        report_every: Duration::from_secs_f64(args.report_secs),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let summary = miner::run(cfg, shutdown_signal()).await?;
        println!("{}", summary.line());
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
