//! The pruning thread: deletes blocks, receipts and tx index entries older than the
//! `[storage]` retention, a few heights per RocksDB batch, beside the commit thread (its
//! small unsynced batches never hold a commit's synced write for long; the tx index is
//! pruned by moving its floor, which compaction acts on). It decides nothing about the
//! chain and reads only the store's finalized height.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ledger::{Pruned, Store};
use tracing::{info, warn};

use crate::config::StorageSection;
use crate::metrics::Metrics;

/// Heights deleted per batch.
const STEP_HEIGHTS: u64 = 32;
/// Pause between batches while behind (the commit thread and the cores come first).
const STEP_PAUSE: Duration = Duration::from_millis(5);
/// Pause when caught up.
const IDLE: Duration = Duration::from_secs(1);
/// Heights pruned between two passes that give their disk space back
/// (`Store::reclaim_pruned`), done when caught up.
const RECLAIM_EVERY: u64 = 1_000;

/// The running pruner; stops (and waits) when dropped.
#[derive(Debug)]
pub struct Pruner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pruner {
    /// Start pruning `store` by `cfg` (nothing starts if `cfg` keeps everything).
    pub fn start(
        store: Arc<Store>,
        cfg: StorageSection,
        metrics: Metrics,
    ) -> std::io::Result<Option<Pruner>> {
        if !cfg.prunes() {
            return Ok(None);
        }
        if let Ok(oldest) = store.oldest() {
            metrics
                .oldest_block
                .set(i64::try_from(oldest.block).unwrap_or(i64::MAX));
        }
        info!(
            retain_blocks = cfg.retain_blocks,
            retain_receipts = cfg.retain_receipts,
            retain_tx_index = cfg.retain_tx_index,
            "pruning old data"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pruner".into())
            .spawn(move || run(&store, &cfg, &metrics, &flag))?;
        Ok(Some(Pruner {
            stop,
            thread: Some(thread),
        }))
    }
}

impl Drop for Pruner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(store: &Store, cfg: &StorageSection, metrics: &Metrics, stop: &AtomicBool) {
    // the oldest receipts when space was last given back (0: not yet in this run)
    let mut reclaimed = 0;
    while !stop.load(Ordering::Relaxed) {
        let step = store
            .finalized_height()
            .and_then(|head| store.prune_step(cfg.keep_from(head.unwrap_or(0)), STEP_HEIGHTS));
        match step {
            Ok(p) if p == Pruned::default() => {
                if let Ok(oldest) = store.oldest()
                    && oldest.receipts > 1
                    && (reclaimed == 0 || oldest.receipts >= reclaimed + RECLAIM_EVERY)
                {
                    // receipts go no later than blocks: their height leads
                    match store.reclaim_pruned() {
                        Ok(()) => reclaimed = oldest.receipts,
                        Err(e) => warn!("pruning: giving disk space back: {e}"),
                    }
                }
                std::thread::sleep(IDLE)
            }
            Ok(p) => {
                metrics.blocks_pruned.inc_by(p.blocks);
                if let Ok(oldest) = store.oldest() {
                    metrics
                        .oldest_block
                        .set(i64::try_from(oldest.block).unwrap_or(i64::MAX));
                }
                std::thread::sleep(STEP_PAUSE);
            }
            Err(e) => {
                warn!("pruning: {e}");
                std::thread::sleep(IDLE * 10);
            }
        }
    }
}
