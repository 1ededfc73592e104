//! State snapshots on disk, and the thread that takes them.
//!
//! A snapshot of the state after block H lives in `data/snapshots/H/`: `manifest` (the
//! encoded `ledger::snapshot::Manifest`) and `chunk-<i>` (each chunk's bytes). It is written
//! into a hidden temporary directory, every file and the directory fsynced, then renamed
//! into place (and the parent fsynced): a snapshot directory that exists is complete. The
//! newest `snapshots.keep` are kept. The thread works on an immutable copy of the state
//! (the account tree is shared, so the copy is free) beside the commit thread; a snapshot
//! still being written when the next is due makes that one skipped, never a wait. Serving
//! reads files only; nothing here touches consensus or the store.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use ledger::snapshot::{Manifest, encode_chunk};
use ledger::{BlockHeader, Encode, LedgerState};
use tracing::{info, warn};

use crate::metrics::Metrics;

/// Where snapshots are kept.
#[derive(Clone, Debug)]
pub struct SnapshotDir {
    root: PathBuf,
    chunk_accounts: usize,
}

fn sync_dir(path: &Path) -> io::Result<()> {
    fs::File::open(path)?.sync_all()
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl SnapshotDir {
    /// Snapshots under `root` (created when the first is written), cut into chunks of at
    /// most `chunk_accounts` accounts.
    pub fn new(root: PathBuf, chunk_accounts: usize) -> SnapshotDir {
        SnapshotDir {
            root,
            chunk_accounts,
        }
    }

    /// The heights of the complete snapshots held, ascending.
    pub fn heights(&self) -> Vec<u64> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out: Vec<u64> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
            .filter(|h| self.root.join(h.to_string()).join("manifest").is_file())
            .collect();
        out.sort_unstable();
        out
    }

    /// The newest complete snapshot's height.
    pub fn newest(&self) -> Option<u64> {
        self.heights().last().copied()
    }

    fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The manifest bytes of the snapshot at `height` (0: the newest).
    pub fn manifest(&self, height: u64) -> io::Result<Option<(u64, Vec<u8>)>> {
        let h = if height == 0 {
            match self.newest() {
                Some(h) => h,
                None => return Ok(None),
            }
        } else {
            height
        };
        Ok(Self::read(&self.root.join(h.to_string()).join("manifest"))?.map(|b| (h, b)))
    }

    /// Chunk `index` of the snapshot at `height`.
    pub fn chunk(&self, height: u64, index: u32) -> io::Result<Option<Vec<u8>>> {
        Self::read(
            &self
                .root
                .join(height.to_string())
                .join(format!("chunk-{index}")),
        )
    }

    /// Write the snapshot of `state` after `header`; returns its manifest.
    pub fn write(&self, header: &BlockHeader, state: &LedgerState) -> io::Result<Manifest> {
        fs::create_dir_all(&self.root)?;
        let dir = self.root.join(header.height.to_string());
        let (manifest, bodies) =
            Manifest::of(header, &state.accounts, &state.system, self.chunk_accounts);
        if dir.join("manifest").is_file() {
            return Ok(manifest);
        }
        let tmp = self.root.join(format!(".partial-{}", header.height));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir(&tmp)?;
        for (i, body) in bodies.iter().enumerate() {
            write_synced(&tmp.join(format!("chunk-{i}")), &encode_chunk(body))?;
        }
        write_synced(&tmp.join("manifest"), &manifest.encode())?;
        sync_dir(&tmp)?;
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::rename(&tmp, &dir)?;
        sync_dir(&self.root)?;
        Ok(manifest)
    }

    /// Delete all but the newest `keep` snapshots, and any partial one.
    pub fn prune(&self, keep: usize) -> io::Result<()> {
        let heights = self.heights();
        for h in &heights[..heights.len().saturating_sub(keep)] {
            fs::remove_dir_all(self.root.join(h.to_string()))?;
        }
        if let Ok(entries) = fs::read_dir(&self.root) {
            for e in entries.filter_map(|e| e.ok()) {
                if e.file_name().to_string_lossy().starts_with(".partial-") {
                    fs::remove_dir_all(e.path())?;
                }
            }
        }
        Ok(())
    }
}

/// The snapshot thread's handle: offers states at snapshot heights.
#[derive(Debug)]
pub struct Snapshotter {
    every: u64,
    jobs: Option<SyncSender<(LedgerState, BlockHeader)>>,
    thread: Option<JoinHandle<()>>,
}

impl Snapshotter {
    /// Start the thread: a snapshot after every `every`-th block (a multiple of the epoch
    /// length), keeping `keep`.
    pub fn start(
        dir: SnapshotDir,
        every: u64,
        keep: usize,
        metrics: Metrics,
    ) -> io::Result<Snapshotter> {
        if let Err(e) = dir.prune(keep.max(1)) {
            warn!("cleaning old snapshots: {e}");
        }
        metrics
            .snapshot_height
            .set(i64::try_from(dir.newest().unwrap_or(0)).unwrap_or(i64::MAX));
        let (jobs, queue) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("snapshots".into())
            .spawn(move || run(&dir, keep.max(1), &metrics, &queue))?;
        Ok(Snapshotter {
            every: every.max(1),
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// After committing `header` with `state`: snapshot it if it is due (never waits; a
    /// snapshot still being written makes this one skipped).
    pub fn offer(&self, header: &BlockHeader, state: &LedgerState) {
        if header.height == 0 || !header.height.is_multiple_of(self.every) {
            return;
        }
        if let Some(jobs) = &self.jobs {
            match jobs.try_send((state.clone(), header.clone())) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => {
                    warn!(
                        height = header.height,
                        "snapshot skipped: the last one is still being written"
                    );
                }
            }
        }
    }
}

impl Drop for Snapshotter {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    dir: &SnapshotDir,
    keep: usize,
    metrics: &Metrics,
    queue: &Receiver<(LedgerState, BlockHeader)>,
) {
    while let Ok((state, header)) = queue.recv() {
        let t = Instant::now();
        match dir.write(&header, &state) {
            Ok(m) => {
                let secs = t.elapsed().as_secs_f64();
                metrics.snapshot_seconds.observe(secs);
                metrics
                    .snapshot_height
                    .set(i64::try_from(header.height).unwrap_or(i64::MAX));
                info!(
                    height = header.height,
                    accounts = state.accounts.len(),
                    chunks = m.chunks.len(),
                    seconds = format!("{secs:.2}"),
                    "state snapshot written"
                );
                if let Err(e) = dir.prune(keep) {
                    warn!("deleting old snapshots: {e}");
                }
            }
            Err(e) => warn!(height = header.height, "writing a state snapshot: {e}"),
        }
    }
}
