//! The operator's kit in `deploy/` stays true: every metric the Grafana dashboard and the
//! Prometheus config name is one the node exports, and the systemd unit passes
//! `systemd-analyze verify` with the binary under test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `palisade_…` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("palisade_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

/// The metric names the node exports (as Prometheus sees them: `_total` on counters,
/// `_bucket`/`_sum`/`_count` on histograms).
fn exported() -> BTreeSet<String> {
    let text = node::metrics::Metrics::new().render();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

#[test]
fn every_metric_the_dashboard_and_scrape_config_name_is_exported() {
    let exported = exported();
    assert!(
        exported.contains("palisade_finalized_height"),
        "{exported:?}"
    );
    let dashboard =
        std::fs::read_to_string(repo_root().join("deploy/grafana-dashboard.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let panels = doc["panels"].as_array().unwrap();
    let mut exprs = String::new();
    for p in panels {
        for t in p["targets"].as_array().unwrap() {
            exprs.push_str(t["expr"].as_str().unwrap());
            exprs.push('\n');
        }
    }
    let scrape = std::fs::read_to_string(repo_root().join("deploy/prometheus.yml")).unwrap();
    let named: BTreeSet<String> = names_in(&exprs)
        .into_iter()
        .chain(names_in(&scrape))
        .collect();
    let unknown: Vec<&String> = named.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        unknown.is_empty(),
        "named in deploy/ but not exported: {unknown:?}"
    );
    // the dashboard shows what operators asked for
    for must in [
        "palisade_finalized_height",
        "palisade_height",
        "palisade_view",
        "palisade_txs_finalized_total",
        "palisade_mempool_size",
        "palisade_commit_latency_seconds_bucket",
        "palisade_peers",
        "palisade_peers_banned_total",
        "palisade_admission_queue",
    ] {
        assert!(named.contains(must), "the dashboard lacks {must}");
    }
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(repo_root().join("deploy/palisade.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/palisade run --home "));
    assert!(unit.contains("Restart=on-failure"));
    assert!(unit.contains("LimitNOFILE="));
    // the unit as installed, pointing at the binary under test
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("palisade.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/palisade",
            &common::binary().display().to_string(),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package) is needed to check the unit");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{text}"
    );
    assert!(
        !text.contains("palisade.service:"),
        "systemd-analyze warned about the unit:\n{text}"
    );
}

/// A `palisade run` in the background, stopped (SIGTERM, then SIGKILL) when dropped.
struct Node {
    child: std::process::Child,
    log: PathBuf,
}

impl Node {
    fn start(home: &Path) -> Node {
        let log = home.with_extension("log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(common::binary())
            .args(["run", "--home"])
            .arg(home)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Node { child, log }
    }

    /// SIGTERM, and the exit status (a clean stop exits 0).
    fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit 30 s after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `palisade ARGS`; its stdout, or a panic with everything it printed.
fn palisade(args: &[&str]) -> String {
    let out = Command::new(common::binary()).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "palisade {}: {}\n{}",
        args.join(" "),
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The 0x public key `palisade keys show FILE` prints.
fn public_key(file: &Path) -> String {
    let out = palisade(&["keys", "show", file.to_str().unwrap()]);
    out.split_whitespace()
        .find(|w| w.starts_with("0x") && w.len() == 66)
        .unwrap_or_else(|| panic!("no key in {out:?}"))
        .to_owned()
}

fn http_status(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/')?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.get(9..12)?.parse().ok()?;
    Some((code, text))
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// `chain_getValidators` from the node at `rpc`: (current keys, next keys).
fn validators(rpc: &str) -> (Vec<String>, Vec<String>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use rpc::ChainApiClient;
        let c = jsonrpsee::http_client::HttpClientBuilder::default()
            .build(rpc)
            .unwrap();
        match c.get_validators().await {
            Ok(v) => (
                v.validators.iter().map(|x| x.public_key.clone()).collect(),
                v.next
                    .unwrap_or_default()
                    .iter()
                    .map(|x| x.public_key.clone())
                    .collect(),
            ),
            Err(_) => (Vec::new(), Vec::new()),
        }
    })
}

const P2P: u16 = 22850;
const RPC: u16 = 22860;
const METRICS: u16 = 22870;

/// docs/deploy.md, step by step: four hosts (homes on 127.0.0.1), a fifth validator added
/// by governance, a key rotated, a validator backed up and restored.
#[test]
fn four_hosts_by_the_guide_slow() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let host = |i: usize| d.join(format!("host{i}"));
    let home = |i: usize| host(i).join("node");
    let addr = |i: usize| format!("/ip4/127.0.0.1/tcp/{}", P2P + i as u16);
    let rpc_url = |i: usize| format!("http://127.0.0.1:{}", RPC + i as u16);
    let ready_url = |i: usize| format!("http://127.0.0.1:{}/ready", METRICS + i as u16);

    // 1. keys, on each host; the admin's elsewhere
    let mut keys = Vec::new();
    for i in 0..5 {
        std::fs::create_dir_all(host(i)).unwrap();
        let k = host(i).join("validator.key.json");
        palisade(&["keys", "generate", "--out", &s(&k)]);
        keys.push(public_key(&k));
    }
    let admin = d.join("admin.key.json");
    palisade(&["keys", "generate", "--out", &s(&admin)]);
    let admin_pk = public_key(&admin);

    // 2. the genesis (short epochs, so governance takes seconds here)
    let g = d.join("genesis.json");
    palisade(&["genesis", "new", "--out", &s(&g), "--chain-name", "mychain"]);
    palisade(&[
        "genesis",
        "set",
        "--genesis",
        &s(&g),
        "consensus.epoch_length=20",
    ]);
    for (i, key) in keys.iter().enumerate().take(4) {
        palisade(&[
            "genesis",
            "add-validator",
            "--genesis",
            &s(&g),
            "--key",
            key,
            "--power",
            "1",
            "--address",
            &addr(i),
        ]);
    }
    palisade(&[
        "genesis",
        "add-account",
        "--genesis",
        &s(&g),
        "--key",
        &admin_pk,
        "--balance",
        "1000000000",
        "--roles",
        "admin,transact",
    ]);
    let validated = palisade(&["genesis", "validate", &s(&g)]);
    assert!(validated.contains("0x"), "{validated}");

    // 3. homes; 4. start and check
    let init = |i: usize| {
        palisade(&[
            "init",
            "--home",
            &s(&home(i)),
            "--genesis",
            &s(&g),
            "--key",
            &s(&host(i).join("validator.key.json")),
            "--set",
            &format!("p2p.listen={}", addr(i)),
            "--set",
            &format!("rpc.listen=127.0.0.1:{}", RPC + i as u16),
            "--set",
            &format!("metrics.listen=127.0.0.1:{}", METRICS + i as u16),
        ]);
    };
    let mut nodes: Vec<Option<Node>> = Vec::new();
    for i in 0..4 {
        init(i);
        nodes.push(Some(Node::start(&home(i))));
    }
    for i in 0..4 {
        wait_until(&format!("validator {i} ready"), 60, || {
            http_status(&ready_url(i)).is_some_and(|(c, _)| c == 200)
        });
    }
    let (_, metrics) = http_status(&format!("http://127.0.0.1:{METRICS}/metrics")).unwrap();
    assert!(metrics.contains("palisade_finalized_height"));

    // 5. a fifth validator by governance
    init(4);
    nodes.push(Some(Node::start(&home(4))));
    palisade(&[
        "wallet",
        "--rpc",
        &rpc_url(0),
        "--key",
        &s(&admin),
        "add-validator",
        "--validator",
        &keys[4],
        "--power",
        "1",
        "--address",
        &addr(4),
        "--wait",
    ]);
    wait_until("the fifth validator in the set", 90, || {
        validators(&rpc_url(0)).0.contains(&keys[4])
    });
    wait_until("the fifth validator ready", 60, || {
        http_status(&ready_url(4)).is_some_and(|(c, _)| c == 200)
    });

    // 6. rotate validator 1's key
    let new_key = host(1).join("validator-2.key.json");
    palisade(&["keys", "generate", "--out", &s(&new_key)]);
    let new_pk = public_key(&new_key);
    palisade(&[
        "wallet",
        "--rpc",
        &rpc_url(0),
        "--key",
        &s(&admin),
        "add-validator",
        "--validator",
        &new_pk,
        "--power",
        "1",
        "--address",
        &addr(1),
        "--wait",
    ]);
    palisade(&[
        "wallet",
        "--rpc",
        &rpc_url(0),
        "--key",
        &s(&admin),
        "remove-validator",
        "--validator",
        &keys[1],
        "--wait",
    ]);
    wait_until("the rotation final", 90, || {
        let (now, _) = validators(&rpc_url(0));
        now.contains(&new_pk) && !now.contains(&keys[1])
    });
    let st = nodes[1].take().unwrap().stop();
    assert!(st.success(), "validator 1 stopped with {st}");
    std::fs::rename(
        home(1).join("node.key.json"),
        host(1).join("old-validator.key.json"),
    )
    .unwrap();
    let status = Command::new("install")
        .args([
            "-m",
            "0600",
            &s(&new_key),
            &s(&home(1).join("node.key.json")),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    nodes[1] = Some(Node::start(&home(1)));
    wait_until("validator 1 ready under its new key", 60, || {
        http_status(&ready_url(1)).is_some_and(|(c, _)| c == 200)
    });

    // 7. back up validator 2, lose its store, restore (keeping the current safety log)
    let st = nodes[2].take().unwrap().stop();
    assert!(st.success(), "validator 2 stopped with {st}");
    let backup = d.join("palisade-backup.tgz");
    let tar = |args: &[&str]| {
        let st = Command::new("tar").args(args).status().unwrap();
        assert!(st.success(), "tar {args:?}");
    };
    tar(&["-C", &s(&host(2)), "-czf", &s(&backup), "node"]);
    nodes[2] = Some(Node::start(&home(2)));
    wait_until("validator 2 ready after the backup", 60, || {
        http_status(&ready_url(2)).is_some_and(|(c, _)| c == 200)
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    let st = nodes[2].take().unwrap().stop();
    assert!(st.success());
    std::fs::rename(home(2), host(2).join("node.broken")).unwrap();
    tar(&[
        "-C",
        &s(&host(2)),
        "-xzf",
        &s(&backup),
        "--exclude=node/data/safety",
    ]);
    std::fs::create_dir_all(home(2).join("data")).unwrap();
    let st = Command::new("cp")
        .args([
            "-a",
            &s(&host(2).join("node.broken/data/safety")),
            &s(&home(2).join("data/safety")),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let node2 = Node::start(&home(2));
    wait_until("validator 2 ready after the restore", 60, || {
        http_status(&ready_url(2)).is_some_and(|(c, _)| c == 200)
    });
    // the network still finalizes with everybody, and every node stops cleanly
    let before = validators(&rpc_url(0)).0.len();
    assert_eq!(before, 5, "five validators after the rotation");
    let log2 = node2.log_tail();
    let st = node2.stop();
    assert!(st.success(), "validator 2: {st}\n{log2}");
    for n in nodes.iter_mut() {
        if let Some(n) = n.take() {
            let tail = n.log_tail();
            let st = n.stop();
            assert!(st.success(), "a validator stopped with {st}:\n{tail}");
        }
    }
}
