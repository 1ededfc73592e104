//! Validators on separate container hosts, as operators run them: the image built from the
//! Dockerfile (base image from debootstrap where no registry answers), the compose network
//! brought up by `scripts/docker-testnet.sh`, a wallet transfer through it, `--down`
//! leaving nothing behind; then `palisade nemesis` with a short schedule of every fault,
//! judged by its checker. One test, in order: both use the same image.
//!
//! Needs a Docker Engine and root (the machines CI runs on have both). Without them the test
//! fails and says so; `PALISADE_SKIP_DOCKER=1` skips it on purpose.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sh(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_faults_are_listed() {
    let out = Command::new(common::binary())
        .args(["nemesis", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "partition-halves",
        "isolate-leader",
        "one-way",
        "netem",
        "kill",
        "pause",
        "clock-skew",
        "disk-full",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    let out = Command::new(common::binary())
        .args(["nemesis", "--faults", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no fault \"nope\""));
}

#[test]
fn docker_network_and_nemesis_slow() {
    if std::env::var("PALISADE_SKIP_DOCKER").as_deref() == Ok("1") {
        eprintln!("PALISADE_SKIP_DOCKER=1: skipped");
        return;
    }
    let root = repo_root();
    assert!(
        sh(Command::new("docker").arg("info")).0,
        "no Docker Engine answers: the container tests need one (PALISADE_SKIP_DOCKER=1 skips them)"
    );
    // the image is built from the binary under test
    let bin = common::binary();
    assert_eq!(
        bin.canonicalize().unwrap(),
        root.join("target/release/palisade").canonicalize().unwrap(),
        "the Dockerfile copies target/release/palisade: run the tests in release"
    );

    // 1. the compose network, as scripts/docker-testnet.sh gives it to a user
    let project = format!("palisade-test-{}", std::process::id());
    let envs = [
        ("PALISADE_COMPOSE_PROJECT", project.as_str()),
        ("PALISADE_SUBNET", "10.215.0"),
        ("PALISADE_RPC_PORT_0", "24700"),
        ("PALISADE_RPC_PORT_1", "24701"),
        ("PALISADE_RPC_PORT_2", "24702"),
        ("PALISADE_RPC_PORT_3", "24703"),
        ("PALISADE_METRICS_PORT_0", "24710"),
        ("PALISADE_METRICS_PORT_1", "24711"),
        ("PALISADE_METRICS_PORT_2", "24712"),
        ("PALISADE_METRICS_PORT_3", "24713"),
    ];
    let started = Instant::now();
    let (ok, out) = sh(Command::new(root.join("scripts/docker-testnet.sh"))
        .arg("--no-build")
        .envs(envs)
        .current_dir(&root));
    eprintln!(
        "docker-testnet.sh ({:.0} s):\n{out}",
        started.elapsed().as_secs_f64()
    );
    let down = || {
        sh(Command::new(root.join("scripts/docker-testnet.sh"))
            .arg("--down")
            .envs(envs)
            .current_dir(&root))
    };
    if !ok {
        down();
        panic!("scripts/docker-testnet.sh failed");
    }
    for want in [
        "4 validators ready",
        "http://127.0.0.1:24700",
        "/ip4/10.215.0.13/tcp/26656",
        "account",
    ] {
        assert!(out.contains(want), "{want:?} missing from its output");
    }
    // a wallet sends through validator 1 and reads the balance from validator 3
    let keys = tempfile::tempdir().unwrap();
    let (ok, gen_out) = sh(Command::new(&bin)
        .args(["genesis", "dev", "--accounts", "2", "--out"])
        .arg(keys.path()));
    assert!(ok, "{gen_out}");
    let to = "0x".to_owned() + &"5a".repeat(32);
    let (ok, sent) = sh(Command::new(&bin)
        .args(["wallet", "--rpc", "http://127.0.0.1:24701", "--key"])
        .arg(keys.path().join("keys/account-1.json"))
        .args(["transfer", "--to", &to, "--amount", "7", "--wait"]));
    let (_, balance) =
        sh(Command::new(&bin).args(["wallet", "--rpc", "http://127.0.0.1:24703", "balance", &to]));
    if !ok || !balance.contains('7') {
        let (_, id) = sh(Command::new("docker").args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            "label=com.docker.compose.service=node1",
        ]));
        let (_, logs) = sh(Command::new("docker").args(["logs", "--tail", "30", id.trim()]));
        down();
        panic!("transfer through the containers failed:\n{sent}\nbalance: {balance}\n{logs}");
    }
    let (ok, out) = down();
    assert!(ok, "--down failed: {out}");
    let (_, left) = sh(Command::new("docker").args([
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "-q",
    ]));
    assert!(left.trim().is_empty(), "containers left: {left}");
    let (_, vols) = sh(Command::new("docker").args([
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]));
    assert!(vols.trim().is_empty(), "volumes left: {vols}");

    // 2. the nemesis: every fault once, short holds, judged by its checker
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(&bin)
        .args([
            "nemesis",
            "--seed",
            "1",
            "--duration",
            "30",
            "--hold",
            "6",
            "--rate",
            "100",
            "--subnet",
            "10.216.0",
            "--port-base",
            "24800",
            "--json",
            "--work",
        ])
        .arg(work.path().join("run"))
        .arg("--compose-file")
        .arg(root.join("compose.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "nemesis ({:.0} s): {stdout}\n{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("nemesis --json prints JSON");
    let faults: Vec<&str> = report["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fault"].as_str().unwrap())
        .collect();
    // the first round runs every fault once, whatever the (short) budget
    let mut kinds = faults.clone();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), 8, "every fault: {faults:?}");
    for v in report["verdicts"].as_array().unwrap() {
        assert!(v["ok"].as_bool().unwrap(), "verdict failed: {v}");
    }
    assert!(report["ok"].as_bool().unwrap());
    assert!(out.status.success());
    assert!(report["acknowledged"].as_u64().unwrap() > 0);
}
