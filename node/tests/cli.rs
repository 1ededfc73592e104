//! The `palisade` binary as users run it: real processes, real files, real RocksDB.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn palisade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .output()
        .expect("run palisade")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn genesis_dev_writes_a_valid_genesis_and_private_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("devnet");
    let o = palisade(&[
        "genesis",
        "dev",
        "--out",
        out.to_str().expect("utf8"),
        "--validators",
        "4",
        "--accounts",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert_eq!(
        text.matches("INSECURE").count(),
        4,
        "the warning and each of 3 accounts: {text}"
    );
    for f in [
        "keys/validator-0.json",
        "keys/validator-3.json",
        "keys/account-2.json",
    ] {
        let mode = std::fs::metadata(out.join(f))
            .expect(f)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let genesis = out.join("genesis.json");
    let o = palisade(&["genesis", "validate", genesis.to_str().expect("utf8")]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("chain id:   0x"));
    // never overwrites
    let o = palisade(&["genesis", "dev", "--out", out.to_str().expect("utf8")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"));
    // a broken genesis gets an error naming the field, and a non-zero exit
    let bad = std::fs::read_to_string(&genesis)
        .expect("read")
        .replace("\"epoch_length\": 100", "\"epoch_length\": 0");
    std::fs::write(&genesis, bad).expect("write");
    let o = palisade(&["genesis", "validate", genesis.to_str().expect("utf8")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("consensus.epoch_length"));
}

#[test]
fn keys_generate_and_show() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k.json");
    let o = palisade(&["keys", "generate", "--out", key.to_str().expect("utf8")]);
    assert!(o.status.success());
    let public = stdout(&o).trim().to_owned();
    assert!(public.starts_with("0x") && public.len() == 66, "{public}");
    let o = palisade(&["keys", "show", key.to_str().expect("utf8")]);
    assert_eq!(stdout(&o).trim(), public);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let o = palisade(&["keys", "show", key.to_str().expect("utf8")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("chmod 600"));
}

#[test]
fn demo_commits_blocks_and_resumes_where_it_stopped_slow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("demo");
    let home = home.to_str().expect("utf8");
    let o = palisade(&["demo", "--home", home, "--blocks", "3", "--txs", "200"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = stdout(&o);
    assert!(first.contains("recovered height 0"));
    assert!(first.contains("block 3: 200 txs (200 ok)"), "{first}");
    assert!(first.contains("proof for account [1] against block 3 verifies"));
    let root3 = first
        .lines()
        .find(|l| l.starts_with("block 3:"))
        .and_then(|l| l.rsplit(' ').next())
        .expect("root")
        .to_owned();
    let o = palisade(&["demo", "--home", home, "--blocks", "1", "--txs", "10"]);
    let second = stdout(&o);
    assert!(
        second.contains(&format!("recovered height 3 (state root {root3})")),
        "{second}"
    );
    assert!(second.contains("block 4: 10 txs (10 ok)"));
    let o = palisade(&[
        "demo", "--home", home, "--blocks", "1", "--txs", "10", "--reset",
    ]);
    assert!(stdout(&o).contains("recovered height 0"));
}
