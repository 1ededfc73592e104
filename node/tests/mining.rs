//! Mining end to end on a real 4-validator testnet with an easy target and short epochs:
//! hand-made claims are refused with their reasons (above target, wrong seed, duplicate,
//! stale, not yet finalized, no `mine` role), both by `mining_submitWork`'s pre-check and,
//! for claims sent around it with `tx_submit`, by execution on chain; then a real
//! `palisade miner` process earns rewards, reports its hashrate, switches work within
//! 100 ms, drives the target down across epochs (each retarget matches the formula), and
//! stops cleanly on SIGINT.
#![allow(clippy::unwrap_used)] // helpers of tests: a panic is a failed test

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use genesis::{DevKeyKind, dev_keypair};
use ledger::mining::{meets_target, pow_hash, retarget, seed};
use ledger::{Encode, Hash, Keypair, Role, Transaction, TxKind};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rpc::{AccountApiClient, ChainApiClient, MiningApiClient, TxApiClient};
use testnet::{Testnet, TestnetOptions};

mod common;

use common::{binary, wait_finalized};

const BASE_PORT: u16 = 23300;
const REWARD: u128 = 50_000;
/// Claims stay valid 8 blocks (800 ms at the default 100-ms interval: the valid claim below
/// goes in after a few RPC calls on a busy 2-core runner); epochs of 10 blocks aim at 1
/// solution each.
const EXPIRY: u64 = 8;
const EPOCH: u64 = 10;
const RATE: u64 = 1;

fn parse32(s: &str) -> [u8; 32] {
    ledger::keys::parse_hex::<32>(s).unwrap()
}

fn claim_hex(key: &Keypair, chain_id: Hash, nonce: u64, height: u64, pow_nonce: u64) -> String {
    let tx = Transaction {
        chain_id,
        sender: key.public(),
        nonce,
        expiry_height: u64::MAX,
        kind: TxKind::ClaimMiningReward {
            height,
            nonce: pow_nonce,
        },
    };
    format!("0x{}", hex::encode(tx.sign(key).encode()))
}

/// A nonce for `seed` whose hash meets `target` (`valid`) or misses it, and (if given)
/// with the opposite result under `other`.
fn find(seed: &[u8; 32], target: &[u8; 32], valid: bool, other: Option<&[u8; 32]>) -> u64 {
    (0u64..)
        .find(|n| {
            meets_target(&pow_hash(seed, *n), target) == valid
                && other.is_none_or(|o| meets_target(&pow_hash(o, *n), target) != valid)
        })
        .unwrap()
}

async fn wait_height(c: &jsonrpsee::http_client::HttpClient, height: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.chain_info().await.unwrap().finalized_height < height {
        assert!(Instant::now() < deadline, "height {height} not reached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn balance(c: &jsonrpsee::http_client::HttpClient, key: &Keypair) -> u128 {
    c.balance(key.public().to_hex())
        .await
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_earn_rewards_and_the_target_follows_the_rate_slow() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = TestnetOptions::new(binary(), dir.path().join("net"));
    opts.base_port = BASE_PORT;
    assert_eq!(testnet::launcher::ephemeral_overlap(BASE_PORT), None);
    // 2^244: one solution per 4,096 hashes
    let initial = format!("0x000{}", "f".repeat(61));
    opts.genesis = vec![
        format!("mining.initial_target={initial}"),
        format!("mining.retarget_epoch_length={EPOCH}"),
        format!("mining.target_solutions_per_epoch={RATE}"),
        format!("mining.claim_expiry={EXPIRY}"),
        format!("mining.reward={REWARD}"),
    ];
    let mut net = Testnet::prepare(opts).unwrap();
    net.start_all().unwrap();
    for i in 0..net.nodes.len() {
        net.wait_ready(i, Duration::from_secs(60)).await.unwrap();
    }
    let c = net.client(0).unwrap();
    let chain_id = Hash::from_hex(&c.chain_info().await.unwrap().chain_id).unwrap();
    let admin = dev_keypair(DevKeyKind::Account, 0);
    let (a2, a3, a4) = (
        dev_keypair(DevKeyKind::Account, 2),
        dev_keypair(DevKeyKind::Account, 3),
        dev_keypair(DevKeyKind::Account, 4),
    );

    // account 4 loses `mine` (admin's SetRole, finalized)
    let revoke = Transaction {
        chain_id,
        sender: admin.public(),
        nonce: 0,
        expiry_height: u64::MAX,
        kind: TxKind::SetRole {
            account: a4.public(),
            role: Role::Mine,
            granted: false,
        },
    }
    .sign(&admin);
    let h = c
        .submit(format!("0x{}", hex::encode(revoke.encode())))
        .await
        .unwrap();
    wait_finalized(&c, &h, Duration::from_secs(30)).await;

    // the work a miner gets: the last finalized block's id, our seed, the target
    let w = c.get_work(a2.public().to_hex()).await.unwrap();
    let challenge = Hash(parse32(&w.challenge));
    assert_eq!(
        c.get_block_by_height(w.height)
            .await
            .unwrap()
            .unwrap()
            .header
            .hash,
        w.challenge
    );
    assert_eq!(parse32(&w.seed), seed(&challenge, &a2.public()));
    assert_eq!(w.expiry_height, w.height + EXPIRY);
    assert_eq!(w.reward, REWARD.to_string());
    let target = parse32(&w.target);
    let (s2, s3, s4) = (
        seed(&challenge, &a2.public()),
        seed(&challenge, &a3.public()),
        seed(&challenge, &a4.public()),
    );
    let submit = |tx: String, seed: Option<[u8; 32]>| {
        let c = c.clone();
        async move {
            c.submit_work(tx, seed.map(|s| format!("0x{}", hex::encode(s))))
                .await
                .unwrap()
        }
    };
    let reason = |r: &rpc::SubmitWorkResult| r.reason.clone().unwrap_or_default();

    // above target
    let bad = find(&s2, &target, false, None);
    let r = submit(claim_hex(&a2, chain_id, 0, w.height, bad), Some(s2)).await;
    assert!(!r.accepted);
    assert_eq!(reason(&r), "above_target", "{r:?}");
    // wrong seed: a nonce found with account 3's seed, claimed by account 2
    let n3 = find(&s3, &target, true, Some(&s2));
    let r = submit(claim_hex(&a2, chain_id, 0, w.height, n3), Some(s3)).await;
    assert_eq!(reason(&r), "wrong_seed", "{r:?}");
    assert!(
        r.message.as_deref().unwrap().contains(&hex::encode(s2)),
        "{r:?}"
    );
    let r = submit(claim_hex(&a2, chain_id, 0, w.height, n3), None).await;
    assert_eq!(
        reason(&r),
        "above_target",
        "without the seed it is just a miss: {r:?}"
    );
    // no `mine` role
    let n4 = find(&s4, &target, true, None);
    let r = submit(claim_hex(&a4, chain_id, 0, w.height, n4), Some(s4)).await;
    assert_eq!(reason(&r), "missing_role", "{r:?}");
    // not finalized yet
    let r = submit(claim_hex(&a2, chain_id, 0, w.height + 50, 0), None).await;
    assert_eq!(reason(&r), "claim_not_finalized", "{r:?}");
    // a valid claim is accepted, finalized and paid
    let before = balance(&c, &a2).await;
    let n2 = find(&s2, &target, true, None);
    let r = submit(claim_hex(&a2, chain_id, 0, w.height, n2), Some(s2)).await;
    assert!(r.accepted, "{r:?}");
    let st = wait_finalized(&c, &r.hash, Duration::from_secs(30)).await;
    assert_eq!(st.success, Some(true), "{st:?}");
    assert_eq!(balance(&c, &a2).await, before + REWARD);
    // duplicate: the same challenge again, by account 3 with its own valid solution
    let dup = claim_hex(&a3, chain_id, 0, w.height, n3);
    let r = submit(dup.clone(), Some(s3)).await;
    assert_eq!(reason(&r), "already_claimed", "{r:?}");
    // around the pre-check, execution refuses it too (and uses the nonce)
    let h = c.submit(dup).await.unwrap();
    let st = wait_finalized(&c, &h, Duration::from_secs(30)).await;
    assert_eq!(
        (st.success, st.reason.as_deref()),
        (Some(false), Some("already_claimed"))
    );
    // stale: once the claim window has passed
    wait_height(&c, w.height + EXPIRY + 1).await;
    let late = find(&s3, &target, true, None);
    let stale = claim_hex(&a3, chain_id, 1, w.height, late);
    let r = submit(stale.clone(), None).await;
    assert_eq!(reason(&r), "claim_expired", "{r:?}");
    let h = c.submit(stale).await.unwrap();
    let st = wait_finalized(&c, &h, Duration::from_secs(30)).await;
    assert_eq!(st.reason.as_deref(), Some("claim_expired"));
    // a non-claim is an invalid value, not an answer
    let transfer = Transaction {
        chain_id,
        sender: a2.public(),
        nonce: 1,
        expiry_height: u64::MAX,
        kind: TxKind::Transfer {
            to: a3.public(),
            amount: 1,
        },
    }
    .sign(&a2);
    let e = c
        .submit_work(format!("0x{}", hex::encode(transfer.encode())), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a ClaimMiningReward"), "{e}");

    // one whole epoch without a claim (it eases the target ×4)
    let now = c.chain_info().await.unwrap().finalized_height;
    wait_height(&c, (now / EPOCH + 2) * EPOCH).await;

    // a real miner on node 1, one thread
    let a1 = dev_keypair(DevKeyKind::Account, 1);
    let log_path = dir.path().join("miner.log");
    let mut miner = KillOnDrop(
        Command::new(binary())
            .args(["miner", "--rpc", &net.nodes[1].rpc_url(), "--threads", "1"])
            .args(["--report-secs", "1", "--key"])
            .arg(net.opts.home.join("keys/account-1.json"))
            .stdout(std::fs::File::create(&log_path).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let miner = &mut miner.0;
    // the miner reports its hashrate to the node it mines on
    let c1 = net.client(1).unwrap();
    let start_height = c.chain_info().await.unwrap().finalized_height;
    let start_balance = balance(&c, &a1).await;
    // it earns at least 3 rewards; the target falls while it solves more than 1 per epoch
    let deadline = Instant::now() + Duration::from_secs(90);
    let stats = loop {
        let s = c1.stats().await.unwrap();
        let earned = balance(&c, &a1).await - start_balance;
        let closed: Vec<_> = s
            .epochs
            .iter()
            .filter(|e| e.end_height > start_height + EPOCH)
            .collect();
        if earned >= 3 * REWARD && closed.len() >= 2 && !s.hashrates.is_empty() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "miner earned {earned}, epochs {:?}, log:\n{}",
            s.epochs,
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        assert!(miner.try_wait().unwrap().is_none(), "the miner exited");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(balance(&c, &a1).await % REWARD, 0);
    assert!(
        stats
            .recent_claims
            .iter()
            .any(|cl| cl.miner == a1.public().to_hex())
    );
    let report = &stats.hashrates[0];
    assert_eq!(report.miner, a1.public().to_hex());
    // an average over the report interval, idle time included (the miner rests after each
    // block's solution), so only "some hashing was reported" is certain
    assert!(report.hashrate > 0, "{report:?}");
    // every retarget follows the formula; before the miner (≤ 1 solution) it eased, with
    // the miner solving nearly every block it tightened
    for e in &stats.epochs {
        let (t, next) = (parse32(&e.target), parse32(&e.next_target));
        assert_eq!(next, retarget(&t, e.solutions, RATE), "{e:?}");
        if e.solutions > RATE {
            assert!(next < t, "{e:?}");
        } else if e.solutions < RATE {
            assert!(next > t || t == [0xff; 32], "{e:?}");
        }
    }
    assert!(stats.epochs.iter().any(|e| e.solutions > RATE));
    assert!(stats.epochs.iter().any(|e| e.solutions < RATE));

    // Ctrl-C: a clean stop with a summary
    kill(Pid::from_raw(miner.id() as i32), Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = miner.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the miner did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    let summary = log
        .lines()
        .find(|l| l.starts_with("miner stopped:"))
        .unwrap_or_else(|| panic!("no summary:\n{log}"));
    assert!(
        log.contains("mining: ") && log.contains("accepted"),
        "{log}"
    );
    // "slowest 3.8 ms": new work reached the threads within 100 ms of each finalized head
    let slowest: f64 = summary
        .rsplit("slowest ")
        .next()
        .and_then(|s| s.trim_end_matches(" ms").parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(slowest < 100.0, "{summary}");
    let _ = net.stop_all(Duration::from_secs(10));
}
