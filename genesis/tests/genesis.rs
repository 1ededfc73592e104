//! Genesis documents, key files and dev keys.

use std::os::unix::fs::PermissionsExt;

use genesis::*;
use ledger::{Limits, Role, Store};

fn dev() -> Genesis {
    dev_genesis("palisade-devnet", 4, 8, 26656, 1_767_225_600_000)
}

#[test]
fn json_round_trip_keeps_the_hash() {
    let g = dev();
    let json = g.to_doc().to_json();
    let back = GenesisDoc::from_json(&json)
        .expect("parses")
        .validate()
        .expect("valid");
    assert_eq!(back, g);
    assert_eq!(back.hash(), g.hash());
    // formatting does not matter, content does
    let compact =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&json).expect("json"))
            .expect("json");
    assert_eq!(
        GenesisDoc::from_json(&compact)
            .expect("parses")
            .validate()
            .expect("valid")
            .hash(),
        g.hash()
    );
    let mut changed = g.clone();
    changed.genesis_time_ms += 1;
    assert_ne!(changed.hash(), g.hash());
}

#[test]
fn genesis_hash_is_stable() {
    // A change here changes every dev chain id: only on purpose, with the docs updated.
    assert_eq!(dev().hash().to_string(), GOLDEN_DEV_GENESIS_HASH);
}

const GOLDEN_DEV_GENESIS_HASH: &str =
    "0x96e3f9ebb5e53d97ff3c963793f373a98f96d0ac6c9ea8d142b15c9d26e17f66";

#[test]
fn dev_keys_are_deterministic_and_distinct() {
    let a = dev_keypair(DevKeyKind::Account, 0).public();
    assert_eq!(a, dev_keypair(DevKeyKind::Account, 0).public());
    assert_ne!(a, dev_keypair(DevKeyKind::Account, 1).public());
    assert_ne!(a, dev_keypair(DevKeyKind::Validator, 0).public());
    assert!(INSECURE_WARNING.contains("INSECURE"));
    let g = dev();
    let admin = g
        .accounts
        .iter()
        .find(|(k, _)| *k == a)
        .expect("dev account 0");
    assert!(admin.1.has_role(Role::Admin) && admin.1.has_role(Role::Transact));
}

/// Each bad document gives an error naming the field at fault.
#[test]
fn validation_errors_name_the_field() {
    type Edit = fn(&mut GenesisDoc);
    let cases: Vec<(&str, Edit)> = vec![
        ("chain_name", |d| d.chain_name = String::new()),
        ("chain_name", |d| d.chain_name = "has space".into()),
        ("validators", |d| d.validators.clear()),
        ("validators[1].public_key", |d| {
            d.validators[1].public_key = "0x1234".into()
        }),
        ("validators[1].public_key", |d| {
            d.validators[1].public_key = format!("0x{}", "00".repeat(32))
        }),
        ("validators[2].public_key", |d| {
            d.validators[2].public_key = d.validators[0].public_key.clone()
        }),
        ("validators[0].power", |d| d.validators[0].power = 0),
        ("validators[1].power", |d| {
            d.validators[0].power = u64::MAX;
            d.validators[1].power = 1
        }),
        ("validators[3].address", |d| {
            d.validators[3].address = " ".into()
        }),
        ("accounts[0].balance", |d| {
            d.accounts[0].balance = "12a".into()
        }),
        ("accounts[0].balance", |d| {
            d.accounts[0].balance = "-5".into()
        }),
        ("accounts[0].balance", |d| {
            d.accounts[0].balance = "340282366920938463463374607431768211456".into()
        }),
        ("accounts[1].balance", |d| {
            d.accounts[0].balance = u128::MAX.to_string();
            d.accounts[1].balance = "1".into()
        }),
        ("accounts[2].roles[0]", |d| {
            d.accounts[2].roles = vec!["root".into()]
        }),
        ("accounts[3].public_key", |d| {
            d.accounts[3].public_key = "zz".into()
        }),
        ("accounts[4].public_key", |d| {
            d.accounts[4].public_key = d.accounts[0].public_key.clone()
        }),
        ("admins", |d| {
            d.admins.clear();
            for a in &mut d.accounts {
                a.roles.retain(|r| r != "admin");
            }
        }),
        ("admins[0]", |d| d.admins[0] = "0x00".into()),
        ("consensus.leader_timeout_ms", |d| {
            d.consensus.leader_timeout_ms = 0
        }),
        ("consensus.notarization_timeout_ms", |d| {
            d.consensus.notarization_timeout_ms = 0
        }),
        ("consensus.nullify_retry_ms", |d| {
            d.consensus.nullify_retry_ms = 0
        }),
        ("consensus.timeout_backoff_percent", |d| {
            d.consensus.timeout_backoff_percent = 99
        }),
        ("consensus.epoch_length", |d| d.consensus.epoch_length = 0),
        ("mining.initial_target", |d| {
            d.mining.initial_target = format!("0x{}", "00".repeat(32))
        }),
        ("mining.initial_target", |d| {
            d.mining.initial_target = "0x01".into()
        }),
        ("mining.reward", |d| d.mining.reward = "lots".into()),
        ("mining.retarget_epoch_length", |d| {
            d.mining.retarget_epoch_length = 0
        }),
        ("mining.target_solutions_per_epoch", |d| {
            d.mining.target_solutions_per_epoch = 0
        }),
        ("mining.claim_expiry", |d| d.mining.claim_expiry = 0),
    ];
    for (field, edit) in cases {
        let mut doc = dev().to_doc();
        edit(&mut doc);
        match doc.validate() {
            Err(GenesisError::Field {
                field: got,
                problem,
            }) => {
                assert_eq!(got, field, "problem was: {problem}");
                assert!(!problem.is_empty());
            }
            other => panic!("{field}: expected a field error, got {other:?}"),
        }
    }
}

#[test]
fn malformed_json_and_unknown_fields_are_errors() {
    assert!(matches!(
        GenesisDoc::from_json("{"),
        Err(GenesisError::Json(_))
    ));
    let mut v: serde_json::Value = serde_json::from_str(&dev().to_doc().to_json()).expect("json");
    v["surprise"] = serde_json::json!(1);
    let err = GenesisDoc::from_json(&v.to_string()).expect_err("unknown field");
    assert!(err.to_string().contains("surprise"), "{err}");
    let missing =
        Genesis::load(std::path::Path::new("/nonexistent/genesis.json")).expect_err("missing");
    assert!(missing.to_string().contains("/nonexistent/genesis.json"));
}

/// `genesis add-account --roles admin,…` alone makes an admin (docs/deploy.md).
#[test]
fn an_account_with_the_admin_role_is_an_admin() {
    let mut doc = dev().to_doc();
    let admin = doc.admins[0].clone();
    doc.admins.clear();
    for a in &mut doc.accounts {
        a.roles.retain(|r| r != "admin");
        if a.public_key == admin {
            a.roles.push("admin".into());
        }
    }
    let g = doc
        .validate()
        .expect("an account with the admin role is enough");
    let (_, a) = g
        .accounts
        .iter()
        .find(|(k, _)| k.to_hex() == admin)
        .expect("the admin's account");
    assert!(a.has_role(Role::Admin));
}

#[test]
fn admins_are_merged_into_accounts() {
    let mut doc = dev().to_doc();
    let outsider = dev_keypair(DevKeyKind::Account, 99).public().to_hex();
    doc.admins.push(outsider.clone());
    let g = doc.validate().expect("valid");
    let (_, a) = g
        .accounts
        .iter()
        .find(|(k, _)| k.to_hex() == outsider)
        .expect("merged");
    assert!(a.has_role(Role::Admin));
    assert_eq!(a.balance, 0);
}

#[test]
fn genesis_block_commits_to_the_initial_state_and_opens_a_store() {
    let g = dev();
    let block = g.genesis_block();
    let state = g.initial_state();
    assert_eq!(block.header.state_root, state.root());
    assert_eq!(block.header.chain_id, g.hash());
    assert_eq!(g.chain_params().chain_id, g.hash());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), Limits::default()).expect("open");
    store.init_genesis(&block, &state).expect("init");
    let (loaded, head) = store.load_state().expect("load");
    assert_eq!(head, block.header);
    assert_eq!(loaded.root(), state.root());
    assert_eq!(
        loaded.system.total_supply,
        8 * genesis::dev::DEV_ACCOUNT_BALANCE
    );
}

#[test]
fn key_files_are_private_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key.json");
    let key = dev_keypair(DevKeyKind::Validator, 3);
    write_key_file(&path, &key, true).expect("write");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains("\"insecure\": true"), "{text}");
    assert_eq!(read_key_file(&path).expect("read").public(), key.public());
    assert!(matches!(
        write_key_file(&path, &key, false),
        Err(KeyFileError::Exists(_))
    ));

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(matches!(
        read_key_file(&path),
        Err(KeyFileError::TooOpen { mode: 0o644, .. })
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let other = dev_keypair(DevKeyKind::Validator, 4).public().to_hex();
    std::fs::write(&path, text.replace(&key.public().to_hex(), &other)).expect("write");
    assert!(matches!(
        read_key_file(&path),
        Err(KeyFileError::Invalid { .. })
    ));
    std::fs::write(&path, "not json").expect("write");
    assert!(matches!(
        read_key_file(&path),
        Err(KeyFileError::Invalid { .. })
    ));
}
