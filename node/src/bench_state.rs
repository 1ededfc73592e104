//! `palisade bench-state`: what a large state costs a node, measured on real RocksDB and
//! real files in a scratch directory: building the account tree, the start-up rebuild
//! (open the store, read every account, check the root), writing a snapshot (its size),
//! and restoring it as a joining node does (check the manifest and every chunk, write the
//! accounts, load). Not the network: `a_node_joins_by_state_sync_and_refuses_corrupt_chunks_slow`
//! and BENCHMARKS.md cover that part.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use ledger::snapshot::Manifest;
use ledger::state::{AccountTree, SystemState, Validator};
use ledger::{Account, BlockHeader, ChainParams, Hash, LedgerState, PublicKey, Store};
use serde::Serialize;

use node::snapshots::SnapshotDir;

/// One run's figures (seconds and bytes).
#[derive(Debug, Serialize)]
pub(crate) struct StateBench {
    /// Accounts in the state.
    pub accounts: u64,
    /// Building the account tree from sorted accounts (in memory).
    pub tree_build_s: f64,
    /// Writing every account to a new store (one batch).
    pub store_write_s: f64,
    /// Start-up: open the store and rebuild the tree from it, checking the root (median
    /// of `restarts`).
    pub startup_s: f64,
    /// Start-up runs.
    pub restarts: usize,
    /// Writing a snapshot (manifest and chunk files, fsynced).
    pub snapshot_write_s: f64,
    /// Its size on disk.
    pub snapshot_bytes: u64,
    /// Its chunks.
    pub snapshot_chunks: usize,
    /// Restoring it into a new store as a joining node does: the manifest and every chunk
    /// checked, the accounts written, the store loaded and its root checked.
    pub restore_s: f64,
}

fn account_key(i: u64) -> PublicKey {
    PublicKey(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

/// Measure a state of `accounts` accounts under `dir` (emptied first, removed after).
pub(crate) fn run(
    accounts: u64,
    dir: &Path,
    chunk_accounts: usize,
    restarts: usize,
) -> Result<StateBench> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    let mut list: Vec<(PublicKey, Account)> = (0..accounts)
        .map(|i| {
            (
                account_key(i),
                Account {
                    balance: u128::from(i) + 1,
                    nonce: i % 7,
                    roles: 2,
                },
            )
        })
        .collect();
    list.sort_unstable_by_key(|a| a.0);
    let t = Instant::now();
    let tree = AccountTree::from_sorted(&list);
    let tree_build_s = t.elapsed().as_secs_f64();
    drop(list);
    let system = SystemState {
        validators: vec![Validator {
            key: account_key(u64::MAX),
            power: 1,
            address: "/ip4/127.0.0.1/tcp/1".into(),
        }],
        ..SystemState::default()
    };
    let state = LedgerState {
        accounts: tree,
        system,
        height: 0,
    };
    let params = ChainParams {
        chain_id: Hash([9; 32]),
        epoch_length: 100,
        limits: ledger::Limits::default(),
        mining: ledger::mining::MiningRules {
            reward: 1,
            retarget_epoch_length: 100,
            target_solutions_per_epoch: 1,
            claim_expiry: 10,
        },
    };
    let genesis = ledger::genesis_block(params.chain_id, 0, &state);
    let db = dir.join("db");
    let t = Instant::now();
    {
        let store = Store::open_chain(&db, &params)?;
        store.init_genesis(&genesis, &state)?;
    }
    let store_write_s = t.elapsed().as_secs_f64();
    let mut starts = Vec::new();
    for _ in 0..restarts.max(1) {
        let t = Instant::now();
        let store = Store::open_chain(&db, &params)?;
        let (loaded, _) = store.load_state()?;
        starts.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(loaded.root() == state.root(), "the reloaded state differs");
    }
    starts.sort_by(f64::total_cmp);
    let startup_s = starts[starts.len() / 2];

    // the snapshot of this state as the last block of epoch 1 (height 100)
    let header = BlockHeader {
        height: 100,
        parent: Hash([1; 32]),
        ..genesis.header.clone()
    };
    let snaps = SnapshotDir::new(dir.join("snapshots"), chunk_accounts);
    let t = Instant::now();
    let manifest = snaps.write(&header, &state)?;
    let snapshot_write_s = t.elapsed().as_secs_f64();
    let snapshot_bytes = dir_size(&dir.join("snapshots").join("100"))?;

    // a joining node: a new store holding a small genesis, then the restore
    let small = LedgerState {
        accounts: AccountTree::new(),
        system: state.system.clone(),
        height: 0,
    };
    let small_genesis = ledger::genesis_block(params.chain_id, 0, &small);
    let db2 = dir.join("db-joined");
    let store2 = Store::open_chain(&db2, &params)?;
    store2.init_genesis(&small_genesis, &small)?;
    let t = Instant::now();
    let (_, bytes) = snaps.manifest(100)?.context("the snapshot's manifest")?;
    let m: Manifest = ledger::codec::decode_exact(&bytes, params.limits)?;
    m.verify(&header)
        .map_err(|e| anyhow::anyhow!("manifest: {e}"))?;
    store2.begin_restore(100)?;
    for i in 0..m.chunks.len() {
        let chunk = snaps.chunk(100, i as u32)?.context("a chunk")?;
        let accts = m
            .verify_chunk(i, &chunk)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        store2.restore_accounts(&accts)?;
    }
    store2.finish_restore(
        &header,
        &[],
        &m.system,
        std::slice::from_ref(&m.system.validators),
    )?;
    let (restored, _) = store2.load_state()?;
    let restore_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        restored.root() == state.root(),
        "the restored state differs"
    );
    drop(store2);
    std::fs::remove_dir_all(dir)?;
    Ok(StateBench {
        accounts,
        tree_build_s,
        store_write_s,
        startup_s,
        restarts: starts.len(),
        snapshot_write_s,
        snapshot_bytes,
        snapshot_chunks: manifest.chunks.len(),
        restore_s,
    })
}

fn dir_size(dir: &PathBuf) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        total += e?.metadata()?.len();
    }
    Ok(total)
}
