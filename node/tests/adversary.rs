//! `palisade adversary` as users run it: every campaign against a fresh 4-validator
//! testnet of real processes under wallet load, judged by its checker. Short durations
//! here (CI); `palisade adversary --campaign NAME --duration 60` runs them long.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use serde_json::Value;

/// Seconds of baseline, then of attack, per campaign in CI.
const DURATION_S: &str = "6";

#[test]
fn the_campaigns_are_listed() {
    let out = Command::new(common::binary())
        .args(["adversary", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "forged-signature",
        "tampered-bodies",
        "equivocation",
        "block-flood",
        "withholding",
        "vote-spam",
        "observer-flood",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    let out = Command::new(common::binary())
        .args(["adversary", "--campaign", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no campaign \"nope\""));
}

#[test]
fn no_campaign_breaks_the_honest_nodes_slow() {
    let dir = tempfile::tempdir().unwrap();
    let campaigns = [
        "forged-signature",
        "tampered-bodies",
        "equivocation",
        "block-flood",
        "withholding",
        "vote-spam",
        "observer-flood",
    ];
    let mut failed = Vec::new();
    for (k, name) in campaigns.iter().enumerate() {
        let base_port = 24000 + 400 * k as u16;
        assert_eq!(testnet::launcher::ephemeral_overlap(base_port), None);
        let home = dir.path().join(name);
        let out = Command::new(common::binary())
            .args(["adversary", "--campaign", name, "--duration", DURATION_S])
            .args(["--rate", "300", "--senders", "6", "--json"])
            .args(["--base-port", &base_port.to_string()])
            .arg("--home")
            .arg(&home)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{name}: {stdout}");
        let report: Value = match serde_json::from_str(stdout.trim()) {
            Ok(v) => v,
            Err(e) => {
                failed.push(format!("{name}: no report ({e}): {stderr}"));
                continue;
            }
        };
        assert_eq!(report["campaign"], *name);
        let verdicts = report["verdicts"].as_array().unwrap();
        assert!(verdicts.len() >= 7, "{report}");
        if !out.status.success() || report["ok"] != true {
            let bad: Vec<&Value> = verdicts.iter().filter(|v| v["ok"] != true).collect();
            failed.push(format!("{name}: {bad:?}"));
        }
    }
    assert!(
        failed.is_empty(),
        "campaigns failed:\n{}",
        failed.join("\n")
    );
}
