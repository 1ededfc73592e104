//! `palisade bench` as users run it: it starts a real 4-validator testnet, drives load in
//! JSON-RPC batches, reads what finalized back, and reports; once plainly and once with a
//! validator SIGKILLed and restarted mid-run.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use serde_json::Value;

fn bench(base_port: u16, home: &std::path::Path, extra: &[&str]) -> Value {
    assert_eq!(testnet::launcher::ephemeral_overlap(base_port), None);
    let mut args = vec![
        "bench".to_owned(),
        "--validators".into(),
        "4".into(),
        "--rate".into(),
        "400".into(),
        "--duration".into(),
        "5".into(),
        "--senders".into(),
        "16".into(),
        "--batch".into(),
        "20".into(),
        "--base-port".into(),
        base_port.to_string(),
        "--home".into(),
        home.to_str().unwrap().into(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = Command::new(common::binary()).args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn bench_reports_what_finalized_and_survives_a_killed_validator_slow() {
    let dir = tempfile::tempdir().unwrap();

    let r = bench(23600, &dir.path().join("plain"), &[]);
    for field in [
        "finalized_tps",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "submitted",
        "finalized",
        "lost",
        "max_rss_mib",
        "validators",
        "duration_s",
    ] {
        assert!(!r[field].is_null(), "missing {field}: {r}");
    }
    assert_eq!(r["validators"], 4);
    assert_eq!(r["submitted"], 2000);
    assert_eq!(r["accepted"], 2000, "{r}");
    assert_eq!(r["finalized"], 2000, "{r}");
    assert_eq!(r["lost"], 0);
    assert_eq!(
        r["resubmitted"], 0,
        "nothing to resend without a fault: {r}"
    );
    let tps = r["finalized_tps"].as_f64().unwrap();
    assert!((300.0..=440.0).contains(&tps), "finalized tx/s {tps}");
    let (p50, p99) = (r["p50_ms"].as_f64().unwrap(), r["p99_ms"].as_f64().unwrap());
    assert!(
        0.0 < p50 && p50 <= p99 && p99 < 5000.0,
        "p50 {p50} p99 {p99}"
    );
    let rss = r["max_rss_mib"].as_f64().unwrap();
    assert!((5.0..1024.0).contains(&rss), "peak RSS {rss} MiB");
    let cpu: Vec<f64> = r["cpu_pct"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap())
        .collect();
    assert_eq!(cpu.len(), 4);
    assert!(cpu.iter().all(|c| *c > 0.0), "CPU per node {cpu:?}");
    // the bench cleaned up: nothing listens on the testnet's RPC port any more
    assert!(std::net::TcpStream::connect(("127.0.0.1", 23600 + 100)).is_err());

    // SIGKILL validator 3 after 1.5 s, start it again at 3 s: the other three keep
    // finalizing (3 of 4 is a quorum) and the restarted node catches up
    let k = bench(
        23900,
        &dir.path().join("kill"),
        &["--kill-at", "1.5", "--restart-at", "3"],
    );
    assert!(k["killed_at_s"].as_f64().unwrap() >= 1.5, "{k}");
    assert!(k["restarted_at_s"].as_f64().unwrap() >= 3.0, "{k}");
    let timeline: Vec<u64> = k["timeline_tps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(
        timeline[2..].iter().sum::<u64>() > 0,
        "nothing finalized after the kill: {timeline:?}"
    );
    let accepted = k["accepted"].as_u64().unwrap();
    let finalized = k["finalized"].as_u64().unwrap();
    // what the killed node admitted and had not yet passed on is sent again by the bench
    assert_eq!(finalized, accepted, "{k}");
    assert_eq!(k["lost"], 0, "{k}");
}
