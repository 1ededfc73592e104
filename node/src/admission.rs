//! Mempool admission off the consensus task, with batched signature checks.
//!
//! Transactions from JSON-RPC (`tx_submit`, `tx_submitAndWatch`, `mining_submitWork`) and
//! from other validators' gossip queue here. One thread takes whatever has queued (up to
//! [`MAX_BATCH`] transactions), answers those already pending without checking them again,
//! verifies the rest's signatures in batches of up to 1,024 (see
//! `ledger::tx::verify_signatures_unless`: a round of up to 1,024 is one batch on this
//! thread, a larger one is split evenly over rayon's pool), and admits them under one
//! mempool lock.
//!
//! Under light load a round is one transaction and costs one single verification. Under
//! load (16,000 signatures verified a second or more, [`LOADED_IN_WINDOW`]) a round that
//! finds fewer than [`ROUND_TARGET`] transactions waits up to [`ROUND_MAX_WAIT`] for more:
//! one batch of 1,024 signatures costs ~20% less per signature than batches of ~128, the
//! size of one client call or gossip frame.
//!
//! Signatures are checked once per node: block building and block verification trust what
//! the mempool holds (same leaf, every signed byte, see `NodeCore::known_signatures`), and
//! admission trusts what is in a valid block this node executed (same leaf,
//! `AdmissionContext::included`): a block whose signatures do not all verify is invalid, so
//! nothing unverified is ever recorded there.
//!
//! A client's transaction is handed to the network (gossip to this epoch's and the next
//! epoch's validators, `AdmissionContext::gossip_to`) before the client hears "accepted": a node
//! killed right after answering does not take an accepted transaction with it, which would
//! leave its sender's later nonces waiting behind a gap. Gossip whose nonce the finalized
//! chain has spent is dropped before its signature is checked (much gossip arrives after
//! its transaction is final on a busy chain, and each copy would cost a verification).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ledger::{Account, Hash, LedgerState, PublicKey, SignedTransaction};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};
use tracing::{trace, warn};

use crate::handles::{Chain, GossipTargets, IncludedTxs, Pool};
use crate::mempool::{AdmitError, Checked};
use crate::metrics::Metrics;
use crate::p2p::Command;
use crate::wire::{MAX_TX_BATCH, Request};

/// Most transactions admitted per round.
pub const MAX_BATCH: usize = 4096;

/// Queued jobs (RPC submissions and gossip batches) before senders wait or gossip is
/// dropped.
const QUEUE: usize = 16_384;
/// Most transactions waiting for admission before gossip is dropped (about 40 MB; the
/// admission thread verifies a few tens of thousands a second).
const MAX_QUEUED_GOSSIP_TXS: usize = 200_000;

enum Job {
    /// From a client: the answer goes back; admitted transactions are gossiped.
    Submit {
        tx: Box<SignedTransaction>,
        reply: oneshot::Sender<Result<Hash, AdmitError>>,
    },
    /// Many from a client (`tx_submitMany`): one answer per transaction, in order.
    SubmitMany {
        txs: Vec<SignedTransaction>,
        reply: oneshot::Sender<Vec<Result<Hash, AdmitError>>>,
    },
    /// From a peer: not gossiped again. A peer that gossips a transaction whose signature
    /// does not verify lied (nodes pass on only what they admitted) and loses score.
    Gossip {
        from: PeerId,
        txs: Vec<SignedTransaction>,
    },
    /// Answered once everything queued before it is admitted.
    Barrier(oneshot::Sender<()>),
}

/// The handle: cheap to clone.
#[derive(Clone, Debug)]
pub struct Admission {
    queue: mpsc::Sender<Job>,
    /// Transactions queued and not yet taken by the admission thread.
    queued: Arc<AtomicUsize>,
}

/// The receiving end, until [`Admission::start`] gets its context.
#[derive(Debug)]
pub struct AdmissionQueue(mpsc::Receiver<Job>, Arc<AtomicUsize>);

/// Why a submission got no answer.
#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct Stopped;

impl Admission {
    /// A handle and its queue; nothing runs until [`Admission::start`].
    pub fn channel() -> (Admission, AdmissionQueue) {
        let (queue, rx) = mpsc::channel(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Admission {
                queue,
                queued: queued.clone(),
            },
            AdmissionQueue(rx, queued),
        )
    }

    /// Run the admission thread; admitted client transactions go to `net`. It stops when
    /// every [`Admission`] handle is gone.
    pub fn start(
        queue: AdmissionQueue,
        context: AdmissionContext,
        net: mpsc::Sender<Command>,
    ) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("admission".into())
            .spawn(move || run(queue.0, &queue.1, &context, &net))
            .map(|_| ())
    }

    /// Check and admit one transaction from a client; if admitted, it is handed to the
    /// network for the other validators before the answer comes back.
    pub async fn submit(&self, tx: SignedTransaction) -> Result<Result<Hash, AdmitError>, Stopped> {
        self.ask(|reply| Job::Submit {
            tx: Box::new(tx),
            reply,
        })
        .await
    }

    /// Check and admit many transactions from a client together: one answer per
    /// transaction, in order; the admitted ones are handed to the network first.
    pub async fn submit_many(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> Result<Vec<Result<Hash, AdmitError>>, Stopped> {
        self.ask(|reply| Job::SubmitMany { txs, reply }).await
    }

    /// Resolves once every job queued before this call has been handled (transactions
    /// gossiped before a block's ids are in the mempool, or refused).
    pub async fn barrier(&self) -> Result<(), Stopped> {
        self.ask(Job::Barrier).await
    }

    /// Queue the job `job(reply)` builds and wait for its answer.
    async fn ask<T>(&self, job: impl FnOnce(oneshot::Sender<T>) -> Job) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        let job = job(reply);
        let n = job_len(&job);
        self.queued.fetch_add(n, Ordering::Relaxed);
        if self.queue.send(job).await.is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            return Err(Stopped);
        }
        answer.await.map_err(|_| Stopped)
    }

    /// Queue transactions gossiped by another validator. `false` if the queue is full: they
    /// are dropped (the validator that admitted them still holds them, and a block that
    /// carries them is verified in full).
    pub fn gossip(&self, from: PeerId, txs: Vec<SignedTransaction>) -> bool {
        let n = txs.len();
        // jobs are bounded by QUEUE, but one gossip job may hold 16,384 transactions:
        // gossip is also bounded by the transactions waiting (clients' submissions wait
        // for room instead)
        if self.queued.load(Ordering::Relaxed) + n > MAX_QUEUED_GOSSIP_TXS {
            return false;
        }
        self.queued.fetch_add(n, Ordering::Relaxed);
        let sent = self.queue.try_send(Job::Gossip { from, txs }).is_ok();
        if !sent {
            self.queued.fetch_sub(n, Ordering::Relaxed);
        }
        sent
    }
}

/// What admission reads and fills: the handles it shares with the core and RPC.
#[derive(Debug)]
pub struct AdmissionContext {
    /// This chain's id (a transaction for another chain is refused).
    pub chain_id: Hash,
    /// The last finalized state, which transactions are checked against.
    pub chain: Chain,
    /// The mempool it fills.
    pub pool: Pool,
    /// Transactions in executed, unfinalized blocks (their signatures verified there).
    pub included: IncludedTxs,
    /// Metrics.
    pub metrics: Metrics,
    /// The validators admitted client transactions go to.
    pub gossip_to: GossipTargets,
}

fn run(
    mut rx: mpsc::Receiver<Job>,
    queued: &AtomicUsize,
    cx: &AdmissionContext,
    net: &mpsc::Sender<Command>,
) {
    let mut jobs = Vec::new();
    let mut recent = Recent::default();
    while let Some(first) = rx.blocking_recv() {
        let started = Instant::now();
        let verified = recent.within(started);
        let mut count = job_len(&first);
        let mut barrier = matches!(first, Job::Barrier(_));
        jobs.push(first);
        loop {
            while count < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => {
                        count += job_len(&job);
                        barrier |= matches!(job, Job::Barrier(_));
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            if !should_wait(count, verified, barrier, started.elapsed()) {
                break;
            }
            std::thread::sleep(ROUND_POLL);
        }
        let left = queued
            .fetch_sub(count, Ordering::Relaxed)
            .saturating_sub(count);
        cx.metrics.admission_queue.set(left as i64);
        trace!(round = count, left, "admission round");
        let checked = admit_all(cx, std::mem::take(&mut jobs), net);
        recent.add(started, checked);
    }
}

/// A round of fewer transactions than this waits (up to [`ROUND_MAX_WAIT`]) for more while
/// the node is under load: one batch of 1,024 signatures costs ~20% less per signature than
/// batches of ~128 (`ed25519_batch_size` in BENCHMARKS.md), which is what rounds were
/// without waiting (clients' `tx_submitMany` calls and gossip frames of ~100
/// transactions, each taken alone by an idle thread).
const ROUND_TARGET: usize = 1024;
/// Signatures verified by the rounds of the last [`RATE_WINDOW`] from which a node counts as
/// loaded (16,000 a second): below it, nothing waits, since verification then takes well
/// under a core whatever the batch size, and waiting would only add latency. Only
/// verified signatures count: junk a peer can send for free (other chains, spent nonces,
/// duplicates) is dropped before any check and must not make honest rounds wait.
const LOADED_IN_WINDOW: usize = 1600;
/// See [`LOADED_IN_WINDOW`].
const RATE_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);
/// Longest a round waits to fill, from its first job: added to a transaction's latency at
/// most once per node it passes, against blocks ~100 ms apart.
const ROUND_MAX_WAIT: std::time::Duration = std::time::Duration::from_millis(20);
/// How often a waiting round looks for more jobs.
const ROUND_POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// Whether a round of `count` transactions, `waited` since its first job, should wait for
/// more, when the rounds of the [`RATE_WINDOW`] before it verified `verified` signatures.
/// A barrier never waits: the core is waiting on it.
fn should_wait(count: usize, verified: usize, barrier: bool, waited: std::time::Duration) -> bool {
    !barrier && count < ROUND_TARGET && verified >= LOADED_IN_WINDOW && waited < ROUND_MAX_WAIT
}

/// The signatures verified by each round started in the last [`RATE_WINDOW`] (at most
/// 4,096 rounds kept).
#[derive(Default)]
struct Recent(std::collections::VecDeque<(Instant, usize)>);

impl Recent {
    /// Signatures verified by rounds that started within [`RATE_WINDOW`] before `now`.
    fn within(&mut self, now: Instant) -> usize {
        while self
            .0
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            self.0.pop_front();
        }
        self.0.iter().map(|(_, n)| n).sum()
    }

    fn add(&mut self, started: Instant, count: usize) {
        if self.0.len() >= 4096 {
            self.0.pop_front();
        }
        self.0.push_back((started, count));
    }
}

fn job_len(job: &Job) -> usize {
    match job {
        Job::Submit { .. } => 1,
        Job::Gossip { txs, .. } | Job::SubmitMany { txs, .. } => txs.len(),
        Job::Barrier(_) => 0,
    }
}

/// Most bytes of one gossip frame: within an observer's burst (`budget::Class::limit`), so
/// a full node forwarding its clients' transactions is never over budget by one frame.
const GOSSIP_FRAME_BYTES: usize = 256 << 10;

/// `txs` cut into runs of at most [`MAX_TX_BATCH`] transactions and about
/// [`GOSSIP_FRAME_BYTES`] bytes (a run holds at least one transaction).
fn gossip_chunks(txs: &[SignedTransaction]) -> Vec<&[SignedTransaction]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, tx) in txs.iter().enumerate() {
        let len = tx.encoded_len();
        if i > start && (bytes + len > GOSSIP_FRAME_BYTES || i - start == MAX_TX_BATCH) {
            out.push(&txs[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += len;
    }
    if start < txs.len() {
        out.push(&txs[start..]);
    }
    out
}

/// Senders' accounts in the round's finalized state, each looked up in the account tree
/// once per round (a round holds several transactions of most senders, and each is checked
/// twice: before its signature and at admission).
#[derive(Default)]
struct Accounts(ledger::FastMap<PublicKey, Account>);

impl Accounts {
    /// What a transaction of `key` is checked against in `state`.
    fn at(&mut self, state: &LedgerState, key: &PublicKey) -> Checked<'_> {
        Checked {
            height: state.height,
            sender: self.0.entry(*key).or_insert_with(|| state.account(key)),
        }
    }
}

/// Where a transaction's answer goes.
enum Reply {
    /// Gossip from this peer: nobody waits.
    None(PeerId),
    /// `tx_submit`.
    One(oneshot::Sender<Result<Hash, AdmitError>>),
    /// Slot of a `tx_submitMany` call (index into the round's many-calls).
    Many(usize),
}

/// A `tx_submitMany` call of a round: where its answers go, and the answers so far.
type ManyCall = (
    oneshot::Sender<Vec<Result<Hash, AdmitError>>>,
    Vec<Result<Hash, AdmitError>>,
);

/// Admit one round's jobs; returns how many signatures it verified.
fn admit_all(cx: &AdmissionContext, jobs: Vec<Job>, net: &mpsc::Sender<Command>) -> usize {
    let chain = cx.chain.get();
    // the round's transactions and where each answer goes, side by side (the transactions
    // stay one slice: verified in place, not copied)
    let total: usize = jobs.iter().map(job_len).sum();
    let mut txs: Vec<SignedTransaction> = Vec::with_capacity(total);
    let mut replies: Vec<Reply> = Vec::with_capacity(total);
    let mut barriers = Vec::new();
    let mut many: Vec<ManyCall> = Vec::new();
    let mut accounts = Accounts::default();
    for job in jobs {
        match job {
            Job::Submit { tx, reply } => {
                txs.push(*tx);
                replies.push(Reply::One(reply));
            }
            Job::SubmitMany { txs: batch, reply } => {
                let call = many.len();
                many.push((reply, Vec::with_capacity(batch.len())));
                replies.extend((0..batch.len()).map(|_| Reply::Many(call)));
                txs.extend(batch);
            }
            // gossip this node would refuse whatever its signature (spent nonces, unknown
            // senders, another chain, …) is dropped before any signature check
            Job::Gossip { from, txs: batch } => {
                let mp = cx.pool.lock();
                let before = txs.len();
                txs.extend(batch.into_iter().filter(|tx| {
                    let at = accounts.at(&chain.state, &tx.tx().sender);
                    mp.worth_verifying_with(tx, &cx.chain_id, at)
                }));
                replies.extend((before..txs.len()).map(|_| Reply::None(from)));
            }
            Job::Barrier(reply) => barriers.push(reply),
        }
    }
    // what the pool holds byte for byte needs no signature check (same leaf: those exact
    // bytes verified when they were admitted), nor what is in a block this node executed
    // and found valid, byte for byte (a valid block's signatures all verified; a validator
    // that fetched a block's transactions before their gossip got here). Never by id
    // alone: a copy with the same id and another signature, judged "known" here, would be
    // admitted as verified if the original left the pool before this round admits it
    // (docs/security.md, rule 1).
    let mut known: Vec<bool> = {
        let mp = cx.pool.lock();
        txs.iter().map(|tx| mp.holds_exactly(tx)).collect()
    };
    cx.included.with(|inc| {
        if inc.is_empty() {
            return;
        }
        for (tx, k) in txs.iter().zip(known.iter_mut()) {
            if !*k {
                *k = inc.get(&tx.id()).is_some_and(|i| i.leaf == tx.leaf());
            }
        }
    });
    let checked = known.iter().filter(|k| !**k).count();
    let sig_ok = ledger::tx::verify_signatures_unless(&txs, &known);
    let metrics = &cx.metrics;
    metrics.admission_signatures_verified.inc_by(checked as u64);
    if checked > 0 {
        metrics.admission_round_signatures.observe(checked as f64);
    }
    let mut answers = Vec::new();
    let mut liars: Vec<PeerId> = Vec::new();
    let mut mp = cx.pool.lock();
    for ((tx, reply), ok) in txs.into_iter().zip(replies).zip(sig_ok) {
        if let (false, Reply::None(from)) = (ok, &reply)
            && !liars.contains(from)
        {
            liars.push(*from);
        }
        // a client's transaction is passed on to the other validators; gossip is not
        let from_client = !matches!(reply, Reply::None(_));
        let at = accounts.at(&chain.state, &tx.tx().sender);
        let result = mp.admit_with(
            tx,
            ok,
            &cx.chain_id,
            at,
            from_client,
            crate::clock::mono_ms(),
        );
        match &result {
            Ok(_) => {
                metrics.mempool_admitted.inc();
            }
            Err(AdmitError::AlreadyKnown) if !from_client => {}
            Err(_) => {
                metrics.mempool_rejected.inc();
            }
        }
        match reply {
            Reply::None(_) => {}
            Reply::One(reply) => answers.push((reply, result)),
            Reply::Many(call) => many[call].1.push(result),
        }
    }
    metrics.mempool_size.set(mp.len() as i64);
    let outbox = mp.take_outbox();
    drop(mp);
    // accepted means handed to the network: gossip first, then answer
    if !outbox.is_empty() {
        let to = cx.gossip_to.get();
        if !to.is_empty() {
            for chunk in gossip_chunks(&outbox) {
                let bytes = Request::Txs(chunk.to_vec()).encode();
                let cmd = Command::Broadcast {
                    to: to.clone(),
                    bytes,
                };
                if net.blocking_send(cmd).is_err() {
                    warn!("admission: the network task stopped; transactions not gossiped");
                }
            }
        }
    }
    for peer in liars {
        let cmd = Command::Penalize {
            peer,
            points: 50,
            reason: "gossiped a transaction whose signature does not verify".into(),
        };
        if net.blocking_send(cmd).is_err() {
            warn!("admission: the network task stopped");
        }
    }
    for (reply, result) in answers {
        // a client that went away leaves its transaction admitted
        let _ = reply.send(result);
    }
    for (reply, results) in many {
        let _ = reply.send(results);
    }
    for b in barriers {
        let _ = b.send(());
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_a_loaded_round_waits_and_never_past_its_limit_or_for_a_barrier() {
        let now = Duration::ZERO;
        // a lone client's transaction, or a light load's calls, are admitted at once
        assert!(!should_wait(1, 0, false, now));
        assert!(!should_wait(100, LOADED_IN_WINDOW - 1, false, now));
        // however many transactions this round took: only what was verified counts
        assert!(!should_wait(
            ROUND_TARGET - 1,
            LOADED_IN_WINDOW - 1,
            false,
            now
        ));
        // under load, a small round waits for more
        assert!(should_wait(100, LOADED_IN_WINDOW, false, now));
        assert!(should_wait(1, 4096, false, now));
        assert!(should_wait(ROUND_TARGET - 1, 4096, false, now));
        // but not once full, not past the limit, and never when the core waits on it
        assert!(!should_wait(ROUND_TARGET, 4096, false, now));
        assert!(!should_wait(500, 4096, false, ROUND_MAX_WAIT));
        assert!(!should_wait(500, 4096, true, now));
    }

    #[test]
    fn the_load_is_what_rounds_took_in_the_last_window() {
        let t0 = Instant::now();
        let mut recent = Recent::default();
        recent.add(t0, 1000);
        recent.add(t0 + RATE_WINDOW / 2, 500);
        assert_eq!(recent.within(t0 + RATE_WINDOW / 2), 1500);
        // the first round is out of the window, and gone for good
        assert_eq!(
            recent.within(t0 + RATE_WINDOW + Duration::from_millis(1)),
            500
        );
        assert_eq!(recent.0.len(), 1);
        for _ in 0..5000 {
            recent.add(t0 + RATE_WINDOW, 1);
        }
        assert_eq!(recent.0.len(), 4096);
    }

    #[test]
    fn gossip_frames_stay_within_an_observers_burst() {
        let key = ledger::Keypair::from_secret([3; 32]);
        let txs: Vec<SignedTransaction> = (0..5_000u64)
            .map(|nonce| {
                ledger::Transaction {
                    chain_id: Hash([1; 32]),
                    sender: key.public(),
                    nonce,
                    expiry_height: 10,
                    kind: ledger::TxKind::Transfer {
                        to: key.public(),
                        amount: 1,
                    },
                }
                .sign(&key)
            })
            .collect();
        let chunks = gossip_chunks(&txs);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), txs.len());
        for c in &chunks {
            let frame = Request::Txs(c.to_vec()).encode();
            assert!(frame.len() <= GOSSIP_FRAME_BYTES + 64, "{}", frame.len());
        }
        assert!(gossip_chunks(&[]).is_empty());
    }
}
