//! `palisade testnet`: start the nodes, wait until all are ready, print where everything
//! is, keep a live status line, and stop everything cleanly on Ctrl-C.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rpc::{ChainApiClient, NodeApiClient};

use crate::launcher::{Testnet, TestnetOptions};

/// How long a node may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Grace period for SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Run a testnet in the foreground until Ctrl-C (or SIGTERM).
pub async fn run_interactive(opts: TestnetOptions) -> Result<()> {
    let resumed = opts.home.join("genesis.json").exists() && !opts.reset;
    let mut net = Testnet::prepare(opts)?;
    println!(
        "{} testnet of {} validators in {}",
        if resumed { "resuming the" } else { "new" },
        net.nodes.len(),
        net.opts.home.display()
    );
    net.start_all()?;
    for i in 0..net.nodes.len() {
        if let Err(e) = net.wait_ready(i, READY_TIMEOUT).await {
            eprintln!("error: {e:#}");
            net.stop_all(STOP_GRACE);
            bail!("validator {i} did not become ready; the testnet was stopped");
        }
    }
    print_table(&net);
    println!();
    println!("{}", genesis::dev::dev_accounts_table(net.opts.accounts));
    println!(
        "Ctrl-C stops every validator; the next run resumes this chain (--reset starts over)."
    );
    println!();
    let result = status_loop(&mut net).await;
    println!();
    println!("stopping...");
    for (i, st) in net.stop_all(STOP_GRACE) {
        match st {
            Some(st) if st.success() => println!("  validator {i}: stopped cleanly"),
            Some(st) => println!(
                "  validator {i}: exited with {st}; see {}",
                net.nodes[i].log.display()
            ),
            None => {}
        }
    }
    println!("state kept in {}", net.opts.home.display());
    result
}

fn print_table(net: &Testnet) {
    println!();
    println!(
        "{:<10} {:<28} {:<50} {:<36} log",
        "validator", "p2p", "rpc (http, ws)", "metrics"
    );
    for n in &net.nodes {
        println!(
            "{:<10} {:<28} {:<50} {:<36} {}",
            n.index,
            n.p2p,
            format!("{} {}", n.rpc_url(), n.ws_url()),
            n.metrics_url(),
            n.log.display()
        );
    }
}

async fn status_loop(net: &mut Testnet) -> Result<()> {
    let tty = std::io::stdout().is_terminal();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last: Option<(Instant, u64)> = None;
    let mut last_line = Instant::now() - Duration::from_secs(60);
    let mut down: Vec<usize> = Vec::new();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = sigterm.recv() => return Ok(()),
            _ = tick.tick() => {}
        }
        for (i, st) in net.exited() {
            println!();
            println!(
                "validator {i} EXITED ({st}); last log lines:\n{}",
                net.log_tail(i, 10)
            );
            down.push(i);
        }
        let mut height = 0;
        let mut finalized = 0;
        let mut view = 0;
        let mut txs = None;
        let mut ready = 0;
        for (i, n) in net.nodes.iter().enumerate() {
            if !n.is_running() {
                continue;
            }
            let Ok(c) = net.client(i) else { continue };
            if let Ok(info) = c.chain_info().await {
                height = height.max(info.head_height);
                finalized = finalized.max(info.finalized_height);
                view = view.max(info.view);
            }
            if let Ok(h) = c.health().await {
                ready += usize::from(h.ready);
                if txs.is_none() {
                    txs = Some(h.txs_finalized);
                }
            }
        }
        let now = Instant::now();
        let rate = match (last, txs) {
            (Some((t, before)), Some(after)) => {
                after.saturating_sub(before) as f64 / now.duration_since(t).as_secs_f64()
            }
            _ => 0.0,
        };
        if let Some(t) = txs {
            last = Some((now, t));
        }
        let line = format!(
            "height {height} | finalized {finalized} | view {view} | {rate:.0} tx/s | ready {ready}/{}{}",
            net.nodes.len(),
            if down.is_empty() {
                String::new()
            } else {
                format!(" | DOWN: {down:?}")
            }
        );
        if tty {
            print!("\r\x1b[K{line}");
            let _ = std::io::stdout().flush();
        } else if last_line.elapsed() >= Duration::from_secs(5) {
            println!("{line}");
            last_line = Instant::now();
        }
    }
}
