//! The commit thread: writes finalized blocks to the store, in order, beside the core.
//!
//! At finalization the core moves its in-memory chain (state, head, mempool) forward at once
//! and hands the synced RocksDB write of the block, its receipts, index entries and account
//! changes to this thread; the next views do not wait for the disk. Each write comes back as
//! a [`Committed`], and only then do RPC readers and subscribers see the block: what they are
//! told is final is on disk. At most [`QUEUE`] blocks wait; the core then waits too.
//!
//! This thread writes and reports; it decides nothing. The first failed write stops it (the
//! blocks after it cannot be stored out of order), and the core stops on that report.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use ledger::Store;
use ledger::store::Commit;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::core::{CommitJob, Committed};
use crate::metrics::Metrics;
use crate::snapshots::Snapshotter;

/// Why a block could not be handed to the commit thread.
#[derive(Debug, thiserror::Error)]
pub enum CommitterError {
    /// The thread could not be started.
    #[error("starting the commit thread: {0}")]
    Start(#[source] std::io::Error),
    /// [`Committer::finish`] stopped it.
    #[error("the commit thread was stopped")]
    Stopped,
    /// A write failed before (reported as a [`Committed`]), and the thread with it.
    #[error("the commit thread stopped after a failed write")]
    Failed,
}

/// Finalized blocks waiting for the disk before the core waits.
pub const QUEUE: usize = 8;

/// The handle the core holds.
#[derive(Debug)]
pub struct Committer {
    jobs: Option<SyncSender<CommitJob>>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Start the thread; reports come back on the receiver, one per job, in order.
    pub fn start(
        store: Arc<Store>,
        metrics: Metrics,
        snapshots: Option<Snapshotter>,
    ) -> Result<(Committer, UnboundedReceiver<Committed>), CommitterError> {
        let (jobs, queue) = sync_channel(QUEUE);
        // Unbounded, so the thread never waits on the core (which may be waiting on it);
        // it holds at most one report per job, and jobs are bounded.
        let (done, reports) = unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("commit".into())
            .spawn(move || run(&store, &metrics, &queue, &done, snapshots.as_ref()))
            .map_err(CommitterError::Start)?;
        Ok((
            Committer {
                jobs: Some(jobs),
                thread: Some(thread),
            },
            reports,
        ))
    }

    /// Queue a block (after every block queued before it); waits while [`QUEUE`] blocks
    /// are waiting.
    pub fn submit(&self, job: CommitJob) -> Result<(), CommitterError> {
        let jobs = self.jobs.as_ref().ok_or(CommitterError::Stopped)?;
        jobs.send(job).map_err(|_| CommitterError::Failed)
    }

    /// Write what is queued, then stop the thread (waits for it).
    pub fn finish(&mut self) {
        if let Some(t) = self.stop() {
            let _ = t.join();
        }
    }

    /// Take no more jobs; the thread ends once it has written those queued (join the
    /// handle to wait for that, e.g. from `spawn_blocking`).
    pub fn stop(&mut self) -> Option<JoinHandle<()>> {
        self.jobs = None;
        self.thread.take()
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run(
    store: &Store,
    metrics: &Metrics,
    queue: &Receiver<CommitJob>,
    done: &UnboundedSender<Committed>,
    snapshots: Option<&Snapshotter>,
) {
    while let Ok(job) = queue.recv() {
        let t = Instant::now();
        let result = store.commit(&Commit {
            block: &job.block,
            receipts: &job.receipts,
            changes: &job.changes,
            system: &job.state.system,
            certificate: &job.proof,
        });
        metrics.commit_seconds.observe(t.elapsed().as_secs_f64());
        let failed = result.is_err();
        if let (Some(s), false) = (snapshots, failed) {
            // the state as committed: the snapshot is of a block that is on disk
            s.offer(&job.block.header, &job.state);
        }
        if done.send(Committed { job, result }).is_err() || failed {
            return;
        }
    }
}
