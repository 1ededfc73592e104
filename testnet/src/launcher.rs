//! Start, stop, kill, pause and restart `palisade` processes of a local testnet.
//!
//! Layout of the testnet home: `genesis.json` and `keys/` (from `palisade genesis dev`),
//! then one home per node, `node-<i>/` (from `palisade init`), each with its `node.log`.
//! Ports of node `i` from the base port `P`: p2p `P+i`, JSON-RPC `P+100+i`, metrics
//! `P+200+i`, all on 127.0.0.1.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rpc::NodeApiClient;

/// How to lay out and start a testnet.
#[derive(Clone, Debug)]
pub struct TestnetOptions {
    /// The `palisade` binary.
    pub binary: PathBuf,
    /// The testnet home directory.
    pub home: PathBuf,
    /// Validators in genesis.
    pub validators: u32,
    /// Prefunded dev accounts.
    pub accounts: u32,
    /// First port (see the module docs).
    pub base_port: u16,
    /// Delete the home first.
    pub reset: bool,
    /// `section.key=value` settings for every node's config.toml.
    pub config: Vec<String>,
    /// `section.key=value` overrides of the dev genesis (a new testnet only).
    pub genesis: Vec<String>,
}

impl TestnetOptions {
    /// Defaults: 4 validators, 8 accounts, base port 26656.
    pub fn new(binary: PathBuf, home: PathBuf) -> Self {
        TestnetOptions {
            binary,
            home,
            validators: 4,
            accounts: 8,
            base_port: 26656,
            reset: false,
            config: Vec::new(),
            genesis: Vec::new(),
        }
    }
}

/// One node of the testnet.
#[derive(Debug)]
pub struct NodeSpec {
    /// Its index (validators first, in genesis order).
    pub index: u32,
    /// Its home directory.
    pub home: PathBuf,
    /// Its libp2p listen address.
    pub p2p: String,
    /// JSON-RPC (HTTP and WebSocket).
    pub rpc: SocketAddr,
    /// `/metrics`, `/ready`, `/health`.
    pub metrics: SocketAddr,
    /// Its log file.
    pub log: PathBuf,
    /// Its public key (0x hex).
    pub public_key: String,
    child: Option<Child>,
    paused: bool,
}

impl NodeSpec {
    /// The JSON-RPC HTTP URL.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc)
    }

    /// The JSON-RPC WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.rpc)
    }

    /// The metrics URL.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics)
    }

    /// The process id, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether a process was started and has not been reaped.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A local testnet of `palisade` processes. Dropping it kills every process it started.
#[derive(Debug)]
pub struct Testnet {
    /// The options it was made with.
    pub opts: TestnetOptions,
    /// Its nodes.
    pub nodes: Vec<NodeSpec>,
}

/// The kernel's ephemeral port range (Linux) if the testnet's ports `base..base+300`
/// (p2p, RPC, metrics) overlap it: the kernel hands those ports to outgoing connections, so
/// a listener there fails now and then with "address already in use".
pub fn ephemeral_overlap(base: u16) -> Option<(u32, u32)> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = range.split_whitespace().map(|p| p.parse::<u32>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    let (a, b) = (u32::from(base), u32::from(base) + 300);
    (a <= hi && lo <= b).then_some((lo, hi))
}

fn run_cmd(binary: &Path, args: &[String]) -> Result<String> {
    let out = Command::new(binary)
        .args(args)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !out.status.success() {
        bail!(
            "`palisade {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Testnet {
    /// Write genesis, keys and node homes (unless they exist: a testnet resumes).
    pub fn prepare(opts: TestnetOptions) -> Result<Testnet> {
        if opts.validators == 0 {
            bail!("a testnet needs at least one validator");
        }
        if opts.reset && opts.home.exists() {
            std::fs::remove_dir_all(&opts.home)
                .with_context(|| format!("removing {}", opts.home.display()))?;
        }
        std::fs::create_dir_all(&opts.home)
            .with_context(|| format!("creating {}", opts.home.display()))?;
        if let Some((lo, hi)) = ephemeral_overlap(opts.base_port) {
            eprintln!(
                "warning: ports {}..{} overlap the kernel's ephemeral range {lo}..={hi}: an \
                 outgoing connection may hold one of them; pick a --base-port below {lo}",
                opts.base_port,
                u32::from(opts.base_port) + 300
            );
        }
        if !opts.home.join("genesis.json").exists() {
            let mut overrides = Vec::new();
            for s in &opts.genesis {
                overrides.push("--set".to_owned());
                overrides.push(s.clone());
            }
            run_cmd(
                &opts.binary,
                &[
                    "genesis".into(),
                    "dev".into(),
                    "--out".into(),
                    opts.home.display().to_string(),
                    "--validators".into(),
                    opts.validators.to_string(),
                    "--accounts".into(),
                    opts.accounts.to_string(),
                    "--base-port".into(),
                    opts.base_port.to_string(),
                ]
                .into_iter()
                .chain(overrides)
                .collect::<Vec<String>>(),
            )?;
        }
        let mut net = Testnet {
            opts,
            nodes: Vec::new(),
        };
        for i in 0..net.opts.validators {
            let key = net.opts.home.join(format!("keys/validator-{i}.json"));
            net.add_node(&key, &[])?;
        }
        Ok(net)
    }

    /// Add (init, not start) one more node with the given key file (an observer, or a
    /// validator-to-be). Extra `section.key=value` settings apply to it only.
    pub fn add_node(&mut self, key_file: &Path, extra_config: &[String]) -> Result<usize> {
        let i = self.nodes.len() as u32;
        let base = u32::from(self.opts.base_port);
        let home = self.opts.home.join(format!("node-{i}"));
        let p2p = format!("/ip4/127.0.0.1/tcp/{}", base + i);
        let rpc: SocketAddr = format!("127.0.0.1:{}", base + 100 + i).parse()?;
        let metrics: SocketAddr = format!("127.0.0.1:{}", base + 200 + i).parse()?;
        if !home.join("config.toml").exists() {
            let mut args: Vec<String> = vec![
                "init".into(),
                "--home".into(),
                home.display().to_string(),
                "--genesis".into(),
                self.opts.home.join("genesis.json").display().to_string(),
                "--key".into(),
                key_file.display().to_string(),
                "--set".into(),
                format!("p2p.listen={p2p}"),
                "--set".into(),
                format!("rpc.listen={rpc}"),
                "--set".into(),
                format!("metrics.listen={metrics}"),
                // a local testnet is for development: let browser wallets call it
                "--set".into(),
                r#"rpc.cors_origins=["*"]"#.into(),
            ];
            for s in self.opts.config.iter().chain(extra_config) {
                args.push("--set".into());
                args.push(s.clone());
            }
            run_cmd(&self.opts.binary, &args)?;
        }
        let public_key = genesis::read_key_file(&home.join("node.key.json"))
            .with_context(|| format!("key of node {i}"))?
            .public()
            .to_hex();
        self.nodes.push(NodeSpec {
            index: i,
            log: home.join("node.log"),
            home,
            p2p,
            rpc,
            metrics,
            public_key,
            child: None,
            paused: false,
        });
        Ok(i as usize)
    }

    /// Start node `i` (its log is appended to `node.log`).
    pub fn start(&mut self, i: usize) -> Result<()> {
        let binary = self.opts.binary.clone();
        let n = &mut self.nodes[i];
        if n.child.is_some() {
            bail!("node {i} is already running");
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .with_context(|| format!("opening {}", n.log.display()))?;
        let child = Command::new(&binary)
            .arg("run")
            .arg("--home")
            .arg(&n.home)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {i}"))?;
        n.child = Some(child);
        n.paused = false;
        Ok(())
    }

    /// Start every node not running.
    pub fn start_all(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_none() {
                self.start(i)?;
            }
        }
        Ok(())
    }

    fn signal(&self, i: usize, sig: Signal) -> Result<()> {
        let pid = self.nodes[i]
            .pid()
            .with_context(|| format!("node {i} is not running"))?;
        kill(Pid::from_raw(pid as i32), sig).with_context(|| format!("{sig} to node {i}"))
    }

    /// SIGKILL node `i` and reap it.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.nodes[i].paused = false;
        Ok(())
    }

    /// SIGSTOP node `i`.
    pub fn pause(&mut self, i: usize) -> Result<()> {
        self.signal(i, Signal::SIGSTOP)?;
        self.nodes[i].paused = true;
        Ok(())
    }

    /// SIGCONT node `i`.
    pub fn resume(&mut self, i: usize) -> Result<()> {
        self.signal(i, Signal::SIGCONT)?;
        self.nodes[i].paused = false;
        Ok(())
    }

    /// SIGTERM node `i` and wait up to `grace` for it to exit (then SIGKILL). Returns
    /// its exit status.
    pub fn stop(&mut self, i: usize, grace: Duration) -> Result<Option<ExitStatus>> {
        if self.nodes[i].paused {
            let _ = self.resume(i);
        }
        let Some(mut c) = self.nodes[i].child.take() else {
            return Ok(None);
        };
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        loop {
            if let Some(st) = c.try_wait()? {
                return Ok(Some(st));
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return Ok(c.wait().ok());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM every node; wait for all.
    pub fn stop_all(&mut self, grace: Duration) -> Vec<(usize, Option<ExitStatus>)> {
        for n in &self.nodes {
            if let Some(pid) = n.pid() {
                if n.paused {
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
                }
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            }
        }
        (0..self.nodes.len())
            .map(|i| (i, self.stop(i, grace).ok().flatten()))
            .collect()
    }

    /// Nodes that exited on their own since the last check, with their status.
    pub fn exited(&mut self) -> Vec<(usize, ExitStatus)> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if let Some(c) = n.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                n.child = None;
                out.push((i, st));
            }
        }
        out
    }

    /// A JSON-RPC client for node `i`.
    pub fn client(&self, i: usize) -> Result<HttpClient> {
        HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(self.nodes[i].rpc_url())
            .context("RPC client")
    }

    /// Wait until node `i` reports ready, failing early if its process exits.
    pub async fn wait_ready(&mut self, i: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let client = self.client(i)?;
        loop {
            if let Some((_, st)) = self.exited().into_iter().find(|(j, _)| *j == i) {
                bail!(
                    "node {i} exited ({st}) before it was ready; last log lines:\n{}",
                    self.log_tail(i, 20)
                );
            }
            if let Ok(h) = client.health().await
                && h.ready
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "node {i} not ready after {timeout:?}; last log lines:\n{}",
                    self.log_tail(i, 20)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The last `n` lines of node `i`'s log.
    pub fn log_tail(&self, i: usize, n: usize) -> String {
        let text = std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
