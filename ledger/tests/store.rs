//! The RocksDB store: atomic commits, reads, reopening, and recovery after SIGKILL.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ledger::store::Commit;
use ledger::*;

/// A store for `c`'s chain at `path`, holding its genesis.
fn open_at_genesis(path: &std::path::Path, c: &Chain) -> Store {
    let store = Store::open_chain(path, &c.params).expect("open");
    store
        .init_genesis(&c.genesis_block(), &c.state.clone())
        .expect("genesis");
    store
}

fn commit(store: &Store, block: &Block, out: &BlockOutcome) {
    store
        .commit(&Commit {
            block,
            receipts: &out.receipts,
            changes: &out.changes,
            system: &out.state.system,
            certificate: b"cert",
        })
        .expect("commit");
}

#[test]
fn commit_read_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Chain::new();
    let genesis_state = c.state.clone();
    let ids;
    {
        let store = Store::open(dir.path(), Limits::default()).expect("open");
        store
            .init_genesis(&c.genesis_block(), &genesis_state)
            .expect("genesis");
        let t1 = c.tx(ALICE, transfer(BOB, 5));
        let t2 = c.tx_with(BOB, 7, 1000, transfer(ALICE, 1)); // rejected: nonce too high
        ids = (t1.id(), t2.id());
        let (b1, o1) = c.block(vec![t1, t2]);
        commit(&store, &b1, &o1);
        assert_eq!(store.finalized_height().expect("height"), Some(1));
        assert_eq!(store.block_by_height(1).expect("read"), Some(b1.clone()));
        assert_eq!(
            store.block_by_hash(&b1.id()).expect("read"),
            Some(b1.clone())
        );
        assert_eq!(store.certificate(1).expect("read"), Some(b"cert".to_vec()));
        let found = store.tx(&ids.0).expect("read").expect("indexed");
        assert_eq!(found.location.height, 1);
        assert_eq!(found.location.index, 0);
        assert_eq!(found.receipt.as_ref().expect("receipt").outcome, Ok(()));
        let rejected = store.tx(&ids.1).expect("read").expect("indexed");
        assert_eq!(
            rejected.receipt.as_ref().expect("receipt").outcome,
            Err(RejectReason::NonceTooHigh {
                expected: 0,
                got: 7
            })
        );
        assert_eq!(
            store.account(&key(BOB).public()).expect("read").balance,
            505
        );
        assert_eq!(store.tx(&Hash([9; 32])).expect("read"), None);
        // committing a block that is not next is refused
        assert!(matches!(
            store.commit(&Commit {
                block: &b1,
                receipts: &o1.receipts,
                changes: &o1.changes,
                system: &o1.state.system,
                certificate: b""
            }),
            Err(StoreError::NotNext {
                expected: 2,
                got: 1
            })
        ));
    }
    let store = Store::open(dir.path(), Limits::default()).expect("reopen");
    let (state, head) = store.load_state().expect("load");
    assert_eq!(head, c.head);
    assert_eq!(state.root(), c.state.root());
    assert_eq!(state.system, c.state.system);
    // the same genesis is accepted again, another one is refused
    store
        .init_genesis(&c.genesis_block(), &genesis_state)
        .expect("same genesis");
    let mut other = c.genesis_block();
    other.header.chain_id = Hash([1; 32]);
    assert!(matches!(
        store.init_genesis(&other, &genesis_state),
        Err(StoreError::WrongChain { .. })
    ));
}

#[test]
fn a_replayed_tx_keeps_its_original_index_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Chain::new();
    let store = Store::open(dir.path(), Limits::default()).expect("open");
    store
        .init_genesis(&c.genesis_block(), &c.state.clone())
        .expect("genesis");
    let tx = c.tx(ALICE, transfer(BOB, 5));
    let (b1, o1) = c.block(vec![tx.clone()]);
    commit(&store, &b1, &o1);
    let (b2, o2) = c.block(vec![tx.clone(), tx.clone()]);
    assert!(o2.receipts.iter().all(|r| r.outcome.is_err()));
    commit(&store, &b2, &o2);
    let found = store.tx(&tx.id()).expect("read").expect("indexed");
    assert_eq!(found.location.height, 1);
    assert_eq!(found.receipt.as_ref().expect("receipt").outcome, Ok(()));
}

#[test]
fn two_stores_fed_the_same_blocks_agree_on_every_root() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let mut c = Chain::new();
    let sa = Store::open(a.path(), Limits::default()).expect("open");
    let sb = Store::open(b.path(), Limits::default()).expect("open");
    sa.init_genesis(&c.genesis_block(), &c.state.clone())
        .expect("genesis");
    sb.init_genesis(&c.genesis_block(), &c.state.clone())
        .expect("genesis");
    let mut blocks = Vec::new();
    for i in 0..30u64 {
        let txs = vec![
            c.tx(ALICE, transfer((i % 7) as u8 + 20, i as u128)),
            c.tx(BOB, transfer(ALICE, 1)),
            c.tx(
                ADMIN,
                TxKind::Mint {
                    to: key((i % 5) as u8 + 30).public(),
                    amount: 3,
                },
            ),
        ];
        blocks.push(c.block(txs));
    }
    for (block, _) in &blocks {
        for s in [&sa, &sb] {
            let (state, head) = s.load_state().expect("load");
            let out = verify_block(&c.params, &state, &head, block).expect("valid");
            commit(s, block, &out);
        }
    }
    let (ra, _) = sa.load_state().expect("load");
    let (rb, _) = sb.load_state().expect("load");
    assert_eq!(ra.root(), rb.root());
    assert_eq!(ra.root(), c.state.root());
}

#[test]
fn corrupt_state_is_detected_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Chain::new();
    {
        let store = Store::open(dir.path(), Limits::default()).expect("open");
        store
            .init_genesis(&c.genesis_block(), &c.state.clone())
            .expect("genesis");
        let (b1, mut o1) = c.block(vec![c.tx(ALICE, transfer(BOB, 5))]);
        // write a wrong balance for Bob: the stored state no longer matches the header
        for (k, a) in o1.changes.iter_mut() {
            if *k == key(BOB).public() {
                a.as_mut().expect("bob").balance += 1;
            }
        }
        commit(&store, &b1, &o1);
    }
    let store = Store::open(dir.path(), Limits::default()).expect("reopen");
    assert!(matches!(store.load_state(), Err(StoreError::Corrupt(_))));
}

const CHILD_ENV: &str = "PALISADE_CRASH_CHILD_DIR";

/// Run by the crash test in a child process: commit big blocks forever, printing each
/// height after its commit returned.
#[test]
#[ignore = "run only as the child of sigkill_during_commits_loses_nothing_committed"]
fn crash_child_commit_loop() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut c = Chain::with_accounts(
        (0..200u8)
            .map(|i| (key(i).public(), account(1_000_000, &[Role::Transact])))
            .collect(),
    );
    let store = Store::open(std::path::Path::new(&dir), Limits::default()).expect("open");
    store
        .init_genesis(&c.genesis_block(), &c.state.clone())
        .expect("genesis");
    for round in 0u64.. {
        let txs: Vec<_> = (0..2000u64)
            .map(|i| {
                let from = (i % 200) as u8;
                let to = ((i * 7 + round) % 200) as u8;
                c.tx_with(
                    from,
                    round * 10 + i / 200,
                    u64::MAX,
                    transfer(to, 1 + i as u128 % 3),
                )
            })
            .collect();
        let (b, o) = c.block(txs);
        commit(&store, &b, &o);
        println!("committed {} {}", b.header.height, b.header.state_root);
    }
}

#[test]
fn sigkill_during_commits_loses_nothing_committed() {
    let exe = std::env::current_exe().expect("test binary");
    for attempt in 0..3u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_commit_loop",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut last: Option<(u64, String)> = None;
        let start = Instant::now();
        // let it commit a few blocks, then kill it at a varying moment mid-loop
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line.strip_prefix("committed ") {
                let mut parts = rest.split(' ');
                let h: u64 = parts.next().expect("height").parse().expect("number");
                last = Some((h, parts.next().expect("root").to_owned()));
                if h >= 3 + attempt * 2 {
                    break;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(120), "child too slow");
        }
        std::thread::sleep(Duration::from_millis(7 * attempt + 3));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let (acked, acked_root) = last.expect("child committed something");

        let store = Store::open(dir.path(), Limits::default()).expect("reopen after crash");
        let (state, head) = store.load_state().expect("state consistent after crash");
        assert!(
            head.height >= acked,
            "lost committed block {acked} (store at {})",
            head.height
        );
        assert!(
            head.height <= acked + 2,
            "store ahead of what the child could have written"
        );
        if head.height == acked {
            assert_eq!(head.state_root.to_string(), acked_root);
        }
        assert_eq!(state.root(), head.state_root);
        // every block up to the head is present with its receipts and tx index entries
        for h in 1..=head.height {
            let block = store
                .block_by_height(h)
                .expect("read")
                .expect("block present");
            let receipts = store.receipts(h).expect("read").expect("receipts present");
            assert_eq!(receipts.len(), block.txs.len());
            let first = &block.txs[0];
            assert_eq!(
                store
                    .tx(&first.id())
                    .expect("read")
                    .expect("indexed")
                    .location
                    .height,
                h
            );
        }
        assert_eq!(
            store.block_by_height(head.height + 1).expect("read"),
            None,
            "nothing half-written"
        );
    }
}

/// Every validator set a committed header names is recorded under its hash, so a light
/// client or a joining node can follow the set from epoch to epoch.
#[test]
fn every_validator_set_a_header_names_is_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Chain::new();
    let store = Store::open(dir.path(), Limits::default()).expect("open");
    store
        .init_genesis(&c.genesis_block(), &c.state.clone())
        .expect("genesis");
    let first = c.state.system.validators.clone();
    let first_hash = c.head.validators_hash;
    assert_eq!(
        store.validator_set(&first_hash).expect("read"),
        Some(first.clone())
    );
    let add = c.tx(
        ADMIN,
        TxKind::AddValidator {
            key: key(11).public(),
            power: 3,
            address: "/ip4/127.0.0.1/tcp/1".into(),
        },
    );
    let (b, o) = c.block(vec![add]);
    commit(&store, &b, &o);
    // the epoch (10 blocks) ends: the header of its last block names the new set
    while c.head.height < 10 {
        let (b, o) = c.block(vec![]);
        commit(&store, &b, &o);
    }
    let second = c.state.system.validators.clone();
    assert_eq!(second.len(), first.len() + 1);
    assert_ne!(c.head.validators_hash, first_hash);
    assert_eq!(
        store.validator_set(&c.head.validators_hash).expect("read"),
        Some(second)
    );
    assert_eq!(store.validator_set(&first_hash).expect("read"), Some(first));
    assert_eq!(store.validator_set(&Hash([7; 32])).expect("read"), None);
}

/// Pruning deletes old blocks, receipts and index entries in bounded steps, keeps genesis
/// and every epoch's last header and proof, and the store goes on committing and reopening.
#[test]
fn pruning_keeps_genesis_epoch_ends_and_the_recent_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Chain::new();
    let store = open_at_genesis(dir.path(), &c);
    let mut ids = Vec::new(); // (height, tx id)
    for _ in 0..35 {
        let tx = c.tx(ALICE, transfer(BOB, 1));
        let (b, o) = c.block(vec![tx.clone()]);
        ids.push((b.header.height, tx.id()));
        commit(&store, &b, &o);
    }
    let keep = ledger::Oldest {
        block: 25,
        receipts: 30,
        tx_index: 28,
    };
    let mut steps = 0;
    loop {
        let p = store.prune_step(keep, 4).expect("prune");
        if p == ledger::Pruned::default() {
            break;
        }
        steps += 1;
        assert!(p.blocks <= 4 && p.receipts <= 4, "{p:?}");
    }
    assert!(steps >= 7, "bounded steps: {steps}");
    assert_eq!(store.oldest().expect("oldest"), keep);
    assert!(
        store.block_by_height(0).expect("read").is_some(),
        "genesis kept"
    );
    assert!(store.block_by_height(24).expect("read").is_none());
    assert!(store.block_by_height(25).expect("read").is_some());
    // epoch ends: the header and the proof stay
    for h in [10, 20] {
        assert_eq!(
            store.header_by_height(h).expect("read").map(|h| h.height),
            Some(h)
        );
        assert_eq!(store.certificate(h).expect("read"), Some(b"cert".to_vec()));
        assert!(store.block_by_height(h).expect("read").is_none());
    }
    assert!(store.header_by_height(11).expect("read").is_none());
    assert!(store.receipts(29).expect("read").is_none());
    assert!(store.receipts(30).expect("read").is_some());
    for (h, id) in &ids {
        assert_eq!(
            store.tx_location(id).expect("read").is_some(),
            *h >= 28,
            "tx of block {h}"
        );
        // a transaction still indexed whose receipts are gone is found, without them
        let found = store.tx(id).expect("read");
        assert_eq!(found.as_ref().map(|t| t.tx.id()), (*h >= 28).then_some(*id));
        assert_eq!(
            found.is_some_and(|t| t.receipt.is_some()),
            *h >= 30,
            "receipt of the tx of block {h}"
        );
    }
    // a step with nothing left to do deletes nothing
    assert_eq!(
        store.prune_step(keep, 100).expect("prune"),
        ledger::Pruned::default()
    );
    drop(store);
    let store = Store::open_chain(dir.path(), &c.params).expect("reopen");
    let (state, head) = store.load_state().expect("load");
    assert_eq!(head, c.head);
    assert_eq!(state.root(), c.state.root());
    store
        .init_genesis(&c.genesis_block(), &c.genesis.clone())
        .expect("same genesis");
    let (b, o) = c.block(vec![]);
    commit(&store, &b, &o);
    // keeping more than is left changes nothing; the head itself is never pruned
    let all = ledger::Oldest {
        block: 1_000,
        receipts: 1_000,
        tx_index: 1_000,
    };
    while store.prune_step(all, 100).expect("prune") != ledger::Pruned::default() {}
    assert_eq!(store.oldest().expect("oldest").block, 36);
    assert!(store.block_by_height(36).expect("read").is_some());
}

/// Pruned heights give their disk space back: files that hold only pruned heights go, and
/// nothing still held is touched.
#[test]
fn reclaiming_pruned_space_shrinks_the_files_and_keeps_everything_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Chain::new();
    let store = open_at_genesis(dir.path(), &c);
    for i in 0..60 {
        let txs = (0..20).map(|_| c.tx(ALICE, transfer(BOB, 1))).collect();
        let (b, o) = c.block(txs);
        commit(&store, &b, &o);
        if i % 5 == 4 {
            store.flush().expect("flush"); // a file per five blocks
        }
    }
    let sst_bytes = || -> u64 {
        std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "sst"))
            .map(|e| e.metadata().expect("stat").len())
            .sum()
    };
    let before = sst_bytes();
    let keep = ledger::Oldest {
        block: 50,
        receipts: 50,
        tx_index: 50,
    };
    while store.prune_step(keep, 16).expect("prune") != ledger::Pruned::default() {}
    store.reclaim_pruned().expect("reclaim");
    let after = sst_bytes();
    assert!(
        after * 3 < before * 2,
        "files: {before} bytes before, {after} after"
    );
    let check = |store: &Store| {
        assert!(store.block_by_height(0).expect("read").is_some(), "genesis");
        assert!(store.block_by_height(49).expect("read").is_none());
        for h in 50..=60 {
            assert!(
                store.block_by_height(h).expect("read").is_some(),
                "block {h}"
            );
            assert!(store.receipts(h).expect("read").is_some(), "receipts {h}");
            assert!(store.certificate(h).expect("read").is_some(), "proof {h}");
        }
        for h in [10, 20, 30, 40] {
            assert_eq!(
                store.header_by_height(h).expect("read").map(|h| h.height),
                Some(h),
                "epoch end {h}"
            );
            assert!(store.certificate(h).expect("read").is_some());
        }
    };
    check(&store);
    // a second pass with nothing new to give back changes nothing
    store.reclaim_pruned().expect("reclaim again");
    check(&store);
    drop(store);
    let store = Store::open_chain(dir.path(), &c.params).expect("reopen");
    check(&store);
    let (state, head) = store.load_state().expect("load");
    assert_eq!(head, c.head);
    assert_eq!(state.root(), c.state.root());
}

/// A store written before epoch-end records were kept gets them when pruning reaches its
/// epoch ends, so they stay provable after their blocks are gone.
#[test]
fn pruning_an_older_store_keeps_its_epoch_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Chain::new();
    {
        // opened without the epoch length: no records written
        let store = Store::open(dir.path(), Limits::default()).expect("open");
        store
            .init_genesis(&c.genesis_block(), &c.state.clone())
            .expect("genesis");
        for _ in 0..25 {
            let (b, o) = c.block(vec![]);
            commit(&store, &b, &o);
        }
        assert!(store.epoch_end(10).expect("read").is_none());
    }
    let store = Store::open_chain(dir.path(), &c.params).expect("reopen");
    let keep = ledger::Oldest {
        block: 22,
        receipts: 22,
        tx_index: 22,
    };
    while store.prune_step(keep, 8).expect("prune") != ledger::Pruned::default() {}
    for h in [10, 20] {
        assert!(store.block_by_height(h).expect("read").is_none());
        let (header, proof) = store.epoch_end(h).expect("read").expect("recorded");
        assert_eq!(header.height, h);
        assert_eq!(proof, b"cert".to_vec());
    }
}

/// A snapshot restore: marked before the state is touched, accounts replaced, then the
/// snapshot's block, epoch ends and sets in one batch; the store loads the restored state.
#[test]
fn a_restore_replaces_the_state_and_sets_the_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Chain::new();
    let genesis_block = c.genesis_block();
    let genesis_state = c.state.clone();
    for _ in 0..10 {
        let tx = c.tx(ALICE, transfer(BOB, 3));
        c.block(vec![tx]);
    }
    let head = c.head.clone();
    let store = Store::open_chain(dir.path(), &c.params).expect("open");
    store
        .init_genesis(&genesis_block, &genesis_state)
        .expect("genesis");
    assert_eq!(store.restoring().expect("read"), None);
    store.begin_restore(head.height).expect("begin");
    assert_eq!(store.restoring().expect("read"), Some(head.height));
    // the half-written state does not pass for the genesis state
    let mut accounts = Vec::new();
    c.state.accounts.for_each(|k, a| accounts.push((*k, *a)));
    store.restore_accounts(&accounts[..1]).expect("some");
    assert!(store.load_state().is_err());
    store.restore_accounts(&accounts[1..]).expect("the rest");
    store
        .finish_restore(
            &head,
            &[(head.clone(), b"proof".to_vec())],
            &c.state.system,
            std::slice::from_ref(&c.state.system.validators),
        )
        .expect("finish");
    assert_eq!(store.restoring().expect("read"), None);
    let (state, loaded) = store.load_state().expect("load");
    assert_eq!(loaded, head);
    assert_eq!(state.root(), c.state.root());
    assert_eq!(
        store.certificate(head.height).expect("read"),
        Some(b"proof".to_vec())
    );
    assert_eq!(store.oldest().expect("read").block, head.height + 1);
    assert!(store.block_by_height(5).expect("read").is_none());
    // a store that holds blocks is not restored over
    assert!(store.begin_restore(20).is_err());
    let (b, o) = c.block(vec![]);
    commit(&store, &b, &o);
}
