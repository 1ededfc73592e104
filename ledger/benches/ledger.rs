//! Ledger benchmarks: transfer execution with the state-root update, ed25519 single vs
//! batch verification, the state-root update of a 10,000-transfer block over 1,000,000
//! accounts, and the synced RocksDB commit of a 10,000-transaction block.
//!
//! Run: `cargo bench -p ledger --bench ledger` (results go in BENCHMARKS.md).

use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ledger::keys::{SignatureCheck, clear_key_cache, verify, verify_batch};
use ledger::state::{AccountTree, Change, normalize_changes};
use ledger::store::Commit;
use ledger::*;

fn key(i: u32) -> PublicKey {
    PublicKey(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

fn funded(n: u32) -> Vec<(PublicKey, Account)> {
    let mut v: Vec<_> = (0..n)
        .map(|i| {
            let mut a = Account {
                balance: 1_000_000_000,
                nonce: 0,
                roles: 0,
            };
            a.set_role(Role::Transact, true);
            (key(i), a)
        })
        .collect();
    v.sort_by_key(|a| a.0);
    v
}

fn params() -> ChainParams {
    ChainParams {
        chain_id: Hash([1; 32]),
        epoch_length: 1_000_000,
        limits: Limits::default(),
        mining: Default::default(),
    }
}

/// `n` transfers between random funded accounts (unsigned: signatures are excluded, so
/// every signature is marked valid).
fn transfers(accounts: u32, n: u32) -> Vec<SignedTransaction> {
    let mut nonces = std::collections::HashMap::new();
    (0..n)
        .map(|i| {
            let from = key(i.wrapping_mul(2_654_435_761) % accounts);
            let to = key(i.wrapping_mul(40_503).wrapping_add(17) % accounts);
            let nonce = nonces.entry(from).or_insert(0u64);
            let tx = Transaction {
                chain_id: Hash([1; 32]),
                sender: from,
                nonce: *nonce,
                expiry_height: u64::MAX,
                kind: TxKind::Transfer { to, amount: 1 },
            };
            *nonce += 1;
            SignedTransaction::new(tx, Signature([0; 64]))
        })
        .collect()
}

fn state(accounts: &[(PublicKey, Account)]) -> LedgerState {
    LedgerState {
        accounts: AccountTree::from_sorted(accounts),
        system: SystemState::default(),
        height: 0,
    }
}

fn one_thread() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
}

/// Transfers on one core: execution and the state-root update run in a one-thread pool.
fn bench_execution(c: &mut Criterion) {
    let pool = one_thread();
    let mut g = c.benchmark_group("execute_one_core");
    g.sample_size(20);
    for accounts in [100_000u32, 1_000_000] {
        let st = state(&funded(accounts));
        let txs = transfers(accounts, 10_000);
        let ok = vec![true; txs.len()];
        g.throughput(Throughput::Elements(txs.len() as u64));
        g.bench_function(
            format!("10k_transfers_with_state_root/{accounts}_accounts"),
            |b| {
                b.iter(|| {
                    pool.install(|| {
                        let out = execute_block(&params(), &st, Hash::ZERO, &txs, &ok);
                        assert_eq!(out.succeeded(), txs.len());
                        out.state.root()
                    })
                })
            },
        );
    }
    g.finish();
}

fn bench_signatures(c: &mut Criterion) {
    let mut g = c.benchmark_group("ed25519");
    let keys: Vec<Keypair> = (0..256u32)
        .map(|i| Keypair::from_secret(key(i).0))
        .collect();
    let msgs: Vec<[u8; 32]> = (0..256u32)
        .map(|i| *blake3::hash(&i.to_be_bytes()).as_bytes())
        .collect();
    let pubs: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
    let sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let checks: Vec<SignatureCheck<'_>> = (0..256)
        .map(|i| SignatureCheck {
            key: &pubs[i],
            message: &msgs[i],
            signature: &sigs[i],
        })
        .collect();
    g.throughput(Throughput::Elements(256));
    // warm: the senders' keys are already decompressed (a node's steady state)
    g.bench_function("warm_keys/verify_single_x256", |b| {
        b.iter(|| checks.iter().all(|c| verify(c.key, c.message, c.signature)))
    });
    for size in [64usize, 256] {
        g.bench_function(format!("warm_keys/verify_batch_{size}_x256"), |b| {
            b.iter(|| verify_batch(&checks, size).into_iter().all(|ok| ok))
        });
    }
    // baseline: ed25519-dalek's own batch call on pre-decompressed keys, no Palisade code
    let dalek_keys: Vec<ed25519_dalek::VerifyingKey> = pubs
        .iter()
        .map(|p| ed25519_dalek::VerifyingKey::from_bytes(&p.0).expect("key"))
        .collect();
    let dalek_sigs: Vec<ed25519_dalek::Signature> = sigs
        .iter()
        .map(|s| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    let dalek_msgs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
    g.bench_function("dalek_raw/verify_batch_256_x256", |b| {
        b.iter(|| ed25519_dalek::verify_batch(&dalek_msgs, &dalek_sigs, &dalek_keys).is_ok())
    });
    // cold: every key decompressed again (256 senders never seen before)
    g.bench_function("cold_keys/verify_single_x256", |b| {
        b.iter(|| {
            clear_key_cache();
            checks.iter().all(|c| verify(c.key, c.message, c.signature))
        })
    });
    for size in [64usize, 256] {
        g.bench_function(format!("cold_keys/verify_batch_{size}_x256"), |b| {
            b.iter(|| {
                clear_key_cache();
                verify_batch(&checks, size).into_iter().all(|ok| ok)
            })
        });
    }
    g.finish();
}

/// Batch size against cost per signature, over 1,024 signatures from 256 warm keys (four
/// from each): is a batch larger than the ledger's 256 worth it?
fn bench_batch_sizes(c: &mut Criterion) {
    let mut g = c.benchmark_group("ed25519_batch_size");
    let keys: Vec<Keypair> = (0..256u32)
        .map(|i| Keypair::from_secret(key(i).0))
        .collect();
    let pubs: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
    let msgs: Vec<[u8; 32]> = (0..4096u32)
        .map(|i| *blake3::hash(&i.to_be_bytes()).as_bytes())
        .collect();
    let sigs: Vec<Signature> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % 256].sign(m))
        .collect();
    let checks: Vec<SignatureCheck<'_>> = (0..4096)
        .map(|i| SignatureCheck {
            key: &pubs[i % 256],
            message: &msgs[i],
            signature: &sigs[i],
        })
        .collect();
    g.throughput(Throughput::Elements(4096));
    for size in [64usize, 128, 256, 512, 1024, 2048, 4096] {
        g.bench_function(format!("warm_keys/verify_batch_{size}_x4096"), |b| {
            b.iter(|| verify_batch(&checks, size).into_iter().all(|ok| ok))
        });
    }
    // the earlier rule's batch, ed25519-dalek's cofactorless equation (decompressed keys, as
    // the warm cache has them), for the ratio within one run
    let dalek_keys: Vec<ed25519_dalek::VerifyingKey> = checks
        .iter()
        .map(|c| ed25519_dalek::VerifyingKey::from_bytes(&c.key.0).expect("key"))
        .collect();
    let dalek_sigs: Vec<ed25519_dalek::Signature> = checks
        .iter()
        .map(|c| ed25519_dalek::Signature::from_bytes(&c.signature.0))
        .collect();
    let dalek_msgs: Vec<&[u8]> = checks.iter().map(|c| c.message).collect();
    g.bench_function("dalek_cofactorless/verify_batch_1024_x4096", |b| {
        b.iter(|| {
            dalek_msgs
                .chunks(1024)
                .zip(dalek_sigs.chunks(1024))
                .zip(dalek_keys.chunks(1024))
                .all(|((m, s), k)| ed25519_dalek::verify_batch(m, s, k).is_ok())
        })
    });
    g.finish();
}

fn bench_state_root(c: &mut Criterion) {
    let mut g = c.benchmark_group("state_root");
    g.sample_size(20);
    let accounts = funded(1_000_000);
    let tree = AccountTree::from_sorted(&accounts);
    // a 10,000-transfer block touches up to 20,000 accounts
    let changes: Vec<Change> = (0..20_000u32)
        .map(|i| {
            let (k, mut a) = accounts[(i as usize * 48_271) % accounts.len()];
            a.balance += 1;
            a.nonce += 1;
            (k, Some(a))
        })
        .collect();
    let changes = normalize_changes(changes);
    // A node keeps the new version and frees an old one later (off the commit path), so the
    // headline numbers exclude freeing the result; the last variant includes it.
    let pool = one_thread();
    g.bench_function("update_10k_transfer_block/1m_accounts/1_thread", |b| {
        b.iter_with_large_drop(|| pool.install(|| tree.apply(&changes)))
    });
    g.bench_function("update_10k_transfer_block/1m_accounts/2_threads", |b| {
        b.iter_with_large_drop(|| tree.apply(&changes))
    });
    g.bench_function(
        "update_10k_transfer_block/1m_accounts/2_threads_including_free",
        |b| b.iter(|| tree.apply(&changes).root()),
    );
    g.finish();
}

/// Synced RocksDB commits of 10,000-transaction blocks: criterion reports means, so this
/// times each commit itself and prints the median and p99 (set `COMMIT_BLOCKS` for more).
fn bench_commit(_: &mut Criterion) {
    const NAME: &str = "rocksdb/commit_10k_tx_block_sync";
    // honour criterion's name filter (the first argument that is not a flag)
    if let Some(filter) = std::env::args().skip(1).find(|a| !a.starts_with('-'))
        && !NAME.contains(filter.as_str())
    {
        return;
    }
    let blocks: usize = std::env::var("COMMIT_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), Limits::default()).expect("open");
    let n_accounts = 100_000u32;
    let accounts = funded(n_accounts);
    let mut st = state(&accounts);
    let genesis = genesis_block(Hash([1; 32]), 0, &st);
    store.init_genesis(&genesis, &st).expect("genesis");
    let mut head = genesis.header;
    let mut times = Vec::with_capacity(blocks);
    let mut bytes = 0usize;
    for round in 0..blocks as u32 {
        let mut nonces = std::collections::HashMap::new();
        let txs: Vec<SignedTransaction> = (0..10_000u32)
            .map(|i| {
                let from = key(i.wrapping_mul(2_654_435_761).wrapping_add(round) % n_accounts);
                let n = nonces.entry(from).or_insert(0u64);
                let tx = Transaction {
                    chain_id: Hash([1; 32]),
                    sender: from,
                    nonce: st.account(&from).nonce + *n,
                    expiry_height: u64::MAX,
                    kind: TxKind::Transfer {
                        to: key(i.wrapping_mul(40_503).wrapping_add(round) % n_accounts),
                        amount: 1,
                    },
                };
                *n += 1;
                SignedTransaction::new(tx, Signature([0; 64]))
            })
            .collect();
        let ok = vec![true; txs.len()];
        let out = execute_block(&params(), &st, Hash::ZERO, &txs, &ok);
        let header = BlockHeader {
            chain_id: Hash([1; 32]),
            height: st.height + 1,
            parent: head.id(),
            timestamp_ms: 0,
            proposer: PublicKey::default(),
            tx_root: ledger::block::tx_root(&txs),
            receipts_root: ledger::block::receipts_root(&out.receipts),
            state_root: out.state.root(),
            validators_hash: ledger::state::validator_set_hash(&[]),
        };
        let block = Block { header, txs };
        bytes += block.encode().len();
        let start = Instant::now();
        store
            .commit(&Commit {
                block: &block,
                receipts: &out.receipts,
                changes: &out.changes,
                system: &out.state.system,
                certificate: &[0u8; 200],
            })
            .expect("commit");
        times.push(start.elapsed());
        st = out.state;
        head = block.header;
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{NAME}: {} blocks ({} KiB each), median {:.2?}, p99 {:.2?}, min {:.2?}, max {:.2?}",
        times.len(),
        bytes / times.len() / 1024,
        pct(0.5),
        pct(0.99),
        times[0],
        times[times.len() - 1]
    );
}

criterion_group!(
    benches,
    bench_execution,
    bench_signatures,
    bench_batch_sizes,
    bench_state_root,
    bench_commit
);
criterion_main!(benches);
