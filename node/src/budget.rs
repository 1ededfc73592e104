//! Per-peer budgets: how many messages and bytes of each kind a peer may send per second.
//!
//! Every message from a peer is classed by its type tag and charged to that peer's bucket
//! for the class (messages and bytes, refilled continuously up to a burst). Validators get
//! budgets far above what an honest validator sends at full load; observers (any other
//! peer) get small ones, and classes only validators may send (consensus messages,
//! proposals, transaction requests for a proposal) get none. What a peer does over its
//! budget is the caller's to decide: the frames reader waits (the peer's stream stops
//! being read, so TCP slows the sender down), request handling refuses; both report it,
//! and sustained excess ends in a ban (see `p2p`).
//!
//! Pure: time comes in as an argument. Owns no sockets and no clock.

use std::time::{Duration, Instant};

use crate::wire;

/// A kind of message, for budgeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Votes, certificates and their requests.
    Consensus,
    /// A leader's proposal (header and leaves).
    Proposal,
    /// Transaction gossip.
    Txs,
    /// "My finalized height is …".
    Status,
    /// Finalized blocks from a height (sync).
    GetBlocks,
    /// One block by hash.
    GetBlock,
    /// Transactions of a proposal, by position.
    GetTxs,
    /// Finality evidence, snapshot manifests and chunks (state sync).
    StateSync,
    /// Anything else: not a message this node reads.
    Unknown,
}

impl Class {
    /// Every class, in a fixed order (`Class as usize` indexes it).
    pub const ALL: [Class; 9] = [
        Class::Consensus,
        Class::Proposal,
        Class::Txs,
        Class::Status,
        Class::GetBlocks,
        Class::GetBlock,
        Class::GetTxs,
        Class::StateSync,
        Class::Unknown,
    ];

    /// The class of a request frame, by its type tag.
    pub fn of(frame: &[u8]) -> Class {
        match frame.first().copied() {
            Some(wire::T_CONSENSUS) => Class::Consensus,
            Some(wire::T_PROPOSED_BLOCK) => Class::Proposal,
            Some(wire::T_TXS) => Class::Txs,
            Some(wire::T_STATUS) => Class::Status,
            Some(wire::T_GET_BLOCKS) => Class::GetBlocks,
            Some(wire::T_GET_BLOCK) => Class::GetBlock,
            Some(wire::T_GET_TXS) => Class::GetTxs,
            Some(wire::T_GET_FINALITY | wire::T_GET_SNAPSHOT | wire::T_GET_SNAPSHOT_CHUNK) => {
                Class::StateSync
            }
            _ => Class::Unknown,
        }
    }

    /// A name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Class::Consensus => "consensus",
            Class::Proposal => "proposal",
            Class::Txs => "transactions",
            Class::Status => "status",
            Class::GetBlocks => "get_blocks",
            Class::GetBlock => "get_block",
            Class::GetTxs => "get_txs",
            Class::StateSync => "state_sync",
            Class::Unknown => "unknown",
        }
    }

    /// The budget of this class for a validator or an observer; `None`: such a peer may
    /// not send it at all.
    pub fn limit(self, validator: bool) -> Option<Limit> {
        const MB: f64 = 1024.0 * 1024.0;
        let l = |msgs, msgs_burst, bytes, bytes_burst| {
            Some(Limit {
                msgs_per_s: msgs,
                msgs_burst,
                bytes_per_s: bytes,
                bytes_burst,
            })
        };
        match (self, validator) {
            // an honest validator at 25,000 tx/s sends a few hundred of each per second
            (Class::Consensus, true) => l(5_000.0, 10_000.0, 20.0 * MB, 20.0 * MB),
            (Class::Proposal, true) => l(50.0, 100.0, 32.0 * MB, 32.0 * MB),
            // 25,000 tx/s of a validator's own clients is about 4 MB/s; each transaction
            // costs every other validator a signature check
            // (one frame per admission round: many small rounds under light load)
            (Class::Txs, true) => l(5_000.0, 10_000.0, 16.0 * MB, 32.0 * MB),
            (Class::Status, true) => l(20.0, 40.0, 4096.0, 4096.0),
            (Class::GetBlocks, true) => l(20.0, 40.0, 4096.0, 4096.0),
            (Class::GetBlock, true) => l(500.0, 1_000.0, 64.0 * 1024.0, 64.0 * 1024.0),
            (Class::GetTxs, true) => l(200.0, 400.0, 8.0 * MB, 8.0 * MB),
            // a joining node walks one proof per epoch, then asks for chunks a few at a time
            (Class::StateSync, true) => l(200.0, 400.0, 4096.0, 8192.0),
            (Class::StateSync, false) => l(50.0, 100.0, 2048.0, 4096.0),
            // observers: a wallet's node forwarding clients' transactions, and sync
            // (each transaction costs a signature check: ~1,300 a second at most)
            (Class::Txs, false) => l(10.0, 20.0, MB / 4.0, MB / 2.0),
            (Class::Status, false) => l(4.0, 8.0, 1024.0, 1024.0),
            (Class::GetBlocks, false) => l(2.0, 4.0, 1024.0, 1024.0),
            (Class::GetBlock, false) => l(20.0, 40.0, 4096.0, 4096.0),
            (Class::Consensus | Class::Proposal | Class::GetTxs | Class::Unknown, false)
            | (Class::Unknown, true) => None,
        }
    }

    /// The gap (ms) a well-behaved sender leaves between two messages of this class to a
    /// peer that grants it `validator`'s budget: three quarters of the message rate, so
    /// timer jitter and a busy loop never push it over. 0 when the class has no budget for
    /// such a peer, which then must not be sent it at all: callers check that first.
    pub fn polite_spacing_ms(self, validator: bool) -> u64 {
        self.limit(validator)
            .map_or(0, |l| (1000.0 / (l.msgs_per_s * 0.75)).ceil() as u64)
    }

    /// Bytes of answers per second a peer may be served for this class (answers to sync
    /// requests are large), or `None` for no answer budget beyond the request's.
    pub fn answer_limit(self, validator: bool) -> Option<Limit> {
        const MB: f64 = 1024.0 * 1024.0;
        let bytes = match (self, validator) {
            // a lagging validator syncs at up to 32 MiB/s; what a peer asks for and does not
            // read waits in memory until the request times out (20 s), so this bounds it
            (Class::GetBlocks | Class::GetBlock | Class::GetTxs, true) => 32.0 * MB,
            (Class::GetBlocks | Class::GetBlock, false) => 4.0 * MB,
            // a chunk is at most ~233 KB: 8 MiB/s restores a million accounts in ~7 s
            (Class::StateSync, true) => 32.0 * MB,
            (Class::StateSync, false) => 8.0 * MB,
            _ => return None,
        };
        // the largest answer fits (a state-sync answer is at most a manifest of a few MB,
        // so a fresh key does not get 64 MiB of chunks for free)
        let burst = match self {
            Class::StateSync => bytes,
            _ => bytes.max(wire::MAX_FRAME_BYTES as f64),
        };
        Some(Limit {
            msgs_per_s: f64::INFINITY,
            msgs_burst: f64::INFINITY,
            bytes_per_s: bytes,
            bytes_burst: burst,
        })
    }
}

/// A rate and a burst, in messages and in bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// Messages per second.
    pub msgs_per_s: f64,
    /// Messages that may come at once.
    pub msgs_burst: f64,
    /// Bytes per second.
    pub bytes_per_s: f64,
    /// Bytes that may come at once.
    pub bytes_burst: f64,
}

/// A token bucket for one class of one peer.
#[derive(Clone, Debug)]
struct Bucket {
    limit: Limit,
    msgs: f64,
    bytes: f64,
    at: Instant,
}

impl Bucket {
    fn new(limit: Limit, now: Instant) -> Bucket {
        Bucket {
            limit,
            msgs: limit.msgs_burst,
            bytes: limit.bytes_burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.msgs = (self.msgs + dt * self.limit.msgs_per_s).min(self.limit.msgs_burst);
        self.bytes = (self.bytes + dt * self.limit.bytes_per_s).min(self.limit.bytes_burst);
    }

    /// Take one message of `len` bytes now, or say how long until it would fit (a message
    /// larger than the burst never fits: `Duration::MAX`).
    fn take(&mut self, len: usize, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let len = len as f64;
        if len > self.limit.bytes_burst {
            return Err(Duration::MAX);
        }
        if self.msgs >= 1.0 && self.bytes >= len {
            self.msgs -= 1.0;
            self.bytes -= len;
            return Ok(());
        }
        let wait_msgs = (1.0 - self.msgs).max(0.0) / self.limit.msgs_per_s;
        let wait_bytes = (len - self.bytes).max(0.0) / self.limit.bytes_per_s;
        Err(Duration::from_secs_f64(
            wait_msgs.max(wait_bytes).min(3600.0),
        ))
    }
}

/// Why a message was not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// This kind of peer may not send this class at all.
    Refused,
    /// Over budget: it would fit after this long (`Duration::MAX`: never, too large).
    Wait(Duration),
}

/// One peer's buckets, made on first use of each class.
#[derive(Clone, Debug)]
pub struct PeerBudget {
    validator: bool,
    answers: bool,
    buckets: [Option<Bucket>; Class::ALL.len()],
}

impl PeerBudget {
    /// The budget of requests a validator (or an observer) may send.
    pub fn new(validator: bool) -> PeerBudget {
        PeerBudget {
            validator,
            answers: false,
            buckets: Default::default(),
        }
    }

    /// The budget of answer bytes a validator (or an observer) may be served.
    pub fn answers(validator: bool) -> PeerBudget {
        PeerBudget {
            answers: true,
            ..PeerBudget::new(validator)
        }
    }

    /// Whether the peer is budgeted as a validator.
    pub fn is_validator(&self) -> bool {
        self.validator
    }

    /// Re-class the peer (it joined or left the validator set); its buckets start over.
    pub fn set_validator(&mut self, validator: bool) {
        if validator != self.validator {
            *self = if self.answers {
                PeerBudget::answers(validator)
            } else {
                PeerBudget::new(validator)
            };
        }
    }

    /// Whether an answer of `class` may be built now: the class is allowed and its bucket
    /// is not in debt (checked before any work is done for the asker).
    pub fn has_room(&mut self, class: Class, now: Instant) -> Result<(), Over> {
        let bucket = self.bucket(class, now)?;
        bucket.refill(now);
        if bucket.bytes > 0.0 && bucket.msgs >= 1.0 {
            Ok(())
        } else {
            let wait = (-bucket.bytes).max(0.0) / bucket.limit.bytes_per_s;
            Err(Over::Wait(Duration::from_secs_f64(wait.min(3600.0))))
        }
    }

    /// Charge an answer of `len` bytes already built, even past the bucket: the debt
    /// holds back this peer's next answers (see [`PeerBudget::has_room`]).
    pub fn charge(&mut self, class: Class, len: usize, now: Instant) {
        if let Some(bucket) = self.buckets[class as usize].as_mut() {
            bucket.refill(now);
            bucket.msgs -= 1.0;
            bucket.bytes -= len as f64;
        }
    }

    /// Charge one message of `class` and `len` bytes at `now`.
    pub fn take(&mut self, class: Class, len: usize, now: Instant) -> Result<(), Over> {
        self.bucket(class, now)?.take(len, now).map_err(Over::Wait)
    }

    /// The bucket of `class` (made full at `now` on first use), or `Over::Refused` if this
    /// kind of peer may not send (or be answered) it at all.
    fn bucket(&mut self, class: Class, now: Instant) -> Result<&mut Bucket, Over> {
        let limit = if self.answers {
            class.answer_limit(self.validator)
        } else {
            class.limit(self.validator)
        };
        let limit = limit.ok_or(Over::Refused)?;
        Ok(self.buckets[class as usize].get_or_insert_with(|| Bucket::new(limit, now)))
    }
}

/// This node's copy of the answer budget a peer keeps for it, so that it asks only when
/// the peer will answer: the peer checks its budget before it builds an answer, charges
/// the answer's bytes as it sends it, and refuses while the budget is in debt (see
/// [`PeerBudget::has_room`]). The copy is charged each answer's bytes when it arrives
/// (later than the peer charged it) and refills at [`MIRROR_SHARE`] of the peer's rate, so
/// it stays at or below the peer's own; while requests are out, each counts as a largest
/// answer ([`wire::SYNC_RESPONSE_HARD_BYTES`]) it may still cost, without refilling. On a
/// millisecond clock, for the node core.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnswerMirror {
    /// Bytes left after the answers that arrived (negative: debt), as of `at_ms`.
    bytes: f64,
    at_ms: u64,
    /// Requests out, not answered yet.
    out: u32,
}

/// The share of a peer's answer rate this node counts on.
pub const MIRROR_SHARE: f64 = 0.9;

impl AnswerMirror {
    /// A full budget at `now_ms`: a peer not asked before (or idle long enough) starts so.
    pub fn full(limit: &Limit, now_ms: u64) -> AnswerMirror {
        AnswerMirror {
            bytes: limit.bytes_burst,
            at_ms: now_ms,
            out: 0,
        }
    }

    /// The budget's bytes at `now_ms` after the answers that arrived, refilled at
    /// [`MIRROR_SHARE`] of `limit`'s rate (a limit without a finite rate is always full).
    fn level(&self, limit: &Limit, now_ms: u64) -> f64 {
        if !limit.bytes_per_s.is_finite() || !self.bytes.is_finite() {
            return limit.bytes_burst;
        }
        let dt = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        (self.bytes + dt * limit.bytes_per_s * MIRROR_SHARE).min(limit.bytes_burst)
    }

    /// A request went out.
    pub fn asked(&mut self) {
        self.out = self.out.saturating_add(1);
    }

    /// A request's answer arrived at `now_ms`, costing `bytes` (`None`: the request never
    /// left this node, and costs nothing).
    pub fn answered(&mut self, limit: &Limit, bytes: Option<f64>, now_ms: u64) {
        self.out = self.out.saturating_sub(1);
        if let Some(b) = bytes {
            self.bytes = self.level(limit, now_ms) - b;
            self.at_ms = now_ms;
        }
    }

    /// The peer refused for answer debt although this copy had room: it is behind (the
    /// peer counts this node in another class, or remembers answers from before this node
    /// restarted). It owes at least `bytes` from `now_ms`.
    pub fn owe(&mut self, limit: &Limit, bytes: f64, now_ms: u64) {
        self.bytes = self.level(limit, now_ms).min(-bytes);
        self.at_ms = now_ms;
    }

    /// Whether the peer would answer another request now: its budget is out of debt even
    /// if every request out costs a largest answer.
    pub fn has_room(&self, limit: &Limit, now_ms: u64) -> bool {
        let out = f64::from(self.out) * wire::SYNC_RESPONSE_HARD_BYTES as f64;
        self.level(limit, now_ms) - out > 0.0
    }

    /// Whether the budget is full again with nothing out: the copy says no more than none
    /// would.
    pub fn is_full(&self, limit: &Limit, now_ms: u64) -> bool {
        self.out == 0 && self.level(limit, now_ms) >= limit.bytes_burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_before_the_work_and_their_debt_holds_back_the_next() {
        let now = Instant::now();
        let mut b = PeerBudget::answers(false);
        // an observer may not be answered GetTxs at all
        assert_eq!(b.has_room(Class::GetTxs, now), Err(Over::Refused));
        assert_eq!(b.has_room(Class::GetBlocks, now), Ok(()));
        // a 16 MiB answer puts an observer (4 MiB/s, burst 64 MiB) 16 MiB … into debt after
        // five of them
        for _ in 0..5 {
            b.charge(Class::GetBlocks, 16 << 20, now);
        }
        let Err(Over::Wait(wait)) = b.has_room(Class::GetBlocks, now) else {
            panic!("in debt");
        };
        assert!(wait >= Duration::from_secs(3), "{wait:?}");
        assert_eq!(
            b.has_room(Class::GetBlocks, now + wait + Duration::from_millis(10)),
            Ok(())
        );
    }

    #[test]
    fn classes_follow_the_wire_tags() {
        for (req, class) in [
            (
                wire::Request::Status {
                    finalized_height: 1,
                },
                Class::Status,
            ),
            (
                wire::Request::GetBlocks { from: 1, max: 2 },
                Class::GetBlocks,
            ),
            (
                wire::Request::GetBlock {
                    hash: ledger::Hash([1; 32]),
                },
                Class::GetBlock,
            ),
            (
                wire::Request::GetTxs {
                    block: ledger::Hash([1; 32]),
                    indices: vec![0],
                },
                Class::GetTxs,
            ),
            (wire::Request::Txs(vec![]), Class::Txs),
        ] {
            assert_eq!(Class::of(&req.encode()), class);
        }
        assert_eq!(Class::of(&[]), Class::Unknown);
        assert_eq!(Class::of(&[2]), Class::Unknown);
        for (i, c) in Class::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut b = PeerBudget::new(false);
        // an observer's status: burst 8, then 4 a second
        for _ in 0..8 {
            assert_eq!(b.take(Class::Status, 9, t0), Ok(()));
        }
        let Err(Over::Wait(wait)) = b.take(Class::Status, 9, t0) else {
            panic!("the ninth at once must wait");
        };
        assert!(wait > Duration::from_millis(200) && wait <= Duration::from_millis(250));
        assert_eq!(b.take(Class::Status, 9, t0 + wait), Ok(()));
        // a second later: four more, not five
        let t1 = t0 + wait + Duration::from_secs(1);
        for _ in 0..4 {
            assert_eq!(b.take(Class::Status, 9, t1), Ok(()));
        }
        assert!(b.take(Class::Status, 9, t1).is_err());
    }

    #[test]
    fn observers_may_not_send_what_only_validators_send() {
        let t = Instant::now();
        let mut obs = PeerBudget::new(false);
        let mut val = PeerBudget::new(true);
        for c in [Class::Consensus, Class::Proposal, Class::GetTxs] {
            assert_eq!(obs.take(c, 100, t), Err(Over::Refused), "{c:?}");
            assert_eq!(val.take(c, 100, t), Ok(()), "{c:?}");
        }
        assert_eq!(val.take(Class::Unknown, 1, t), Err(Over::Refused));
        // re-classed when it joins the validator set
        obs.set_validator(true);
        assert_eq!(obs.take(Class::Consensus, 100, t), Ok(()));
    }

    #[test]
    fn bytes_count_as_well_as_messages() {
        let t = Instant::now();
        let mut b = PeerBudget::new(false);
        // observer gossip: 512 KiB burst, 256 KiB/s
        assert_eq!(b.take(Class::Txs, 512 << 10, t), Ok(()));
        let Err(Over::Wait(w)) = b.take(Class::Txs, 256 << 10, t) else {
            panic!("no bytes left");
        };
        assert!(
            w >= Duration::from_millis(990) && w <= Duration::from_millis(1010),
            "{w:?}"
        );
        // larger than any burst: never
        assert_eq!(
            b.take(Class::Txs, 1 << 20, t + Duration::from_secs(100)),
            Err(Over::Wait(Duration::MAX))
        );
    }

    #[test]
    fn answers_are_budgeted_in_bytes_for_observers() {
        let t = Instant::now();
        let mut a = PeerBudget::answers(false);
        // the largest answer fits once, then the rate holds
        let big = wire::MAX_FRAME_BYTES;
        assert_eq!(a.take(Class::GetBlocks, big, t), Ok(()));
        assert!(matches!(
            a.take(Class::GetBlocks, big, t),
            Err(Over::Wait(_))
        ));
        assert_eq!(a.take(Class::GetTxs, 10, t), Err(Over::Refused));
    }

    #[test]
    fn a_node_that_asks_within_its_copy_of_the_answer_budget_is_never_refused() {
        for validator in [false, true] {
            let limit = Class::GetBlocks.answer_limit(validator).unwrap();
            let t0 = Instant::now();
            let at = |ms: u64| t0 + Duration::from_millis(ms);
            let mut server = PeerBudget::answers(validator);
            let mut mirror = AnswerMirror::full(&limit, 0);
            // the node asks every 10 ms while its copy has room (and, one time in five, a
            // second request while the first is out, as after a sync timeout); the peer
            // checks its budget 0–50 ms after the request went out, charges the answer
            // 0–3 s later (its queue and the reads), and the answer arrives 1–2,000 ms
            // after that: 0.1 MiB, 8–18 MiB (a batch stops past 16 MiB) or 48 MiB (a run
            // finished)
            let mut seed = 7u64;
            let mut next = || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                seed >> 33
            };
            // the peer's charges to come (when, size) and the answers on their way to the
            // node (size, when it arrives)
            let mut charges: Vec<(u64, usize)> = Vec::new();
            let mut pending: Vec<(usize, u64)> = Vec::new();
            let (mut now, mut served, mut asked, mut last_check) = (0u64, 0u64, 0u32, 0u64);
            while now < 600_000 {
                pending.sort_by_key(|p| p.1);
                while pending.first().is_some_and(|p| p.1 <= now) {
                    let (len, arrived) = pending.remove(0);
                    mirror.answered(&limit, Some(len as f64), arrived);
                    served += len as u64;
                }
                let may = pending.is_empty() || next() % 5 == 0;
                if may && mirror.has_room(&limit, now) {
                    asked += 1;
                    mirror.asked();
                    // (the peer's clock only goes forward)
                    let checked = (now + next() % 50).max(last_check);
                    last_check = checked;
                    // every answer the peer charged by then counts
                    charges.sort_by_key(|c| c.0);
                    while charges.first().is_some_and(|c| c.0 <= checked) {
                        let (t, len) = charges.remove(0);
                        server.charge(Class::GetBlocks, len, at(t));
                    }
                    assert_eq!(
                        server.has_room(Class::GetBlocks, at(checked)),
                        Ok(()),
                        "validator {validator}: refused at {checked} ms, request {asked}"
                    );
                    let len = match next() % 8 {
                        0 => wire::SYNC_RESPONSE_HARD_BYTES,
                        1 => 100_000,
                        _ => (8 << 20) + (next() as usize % (10 << 20)),
                    };
                    let charged = checked + next() % 3_000;
                    charges.push((charged, len));
                    pending.push((len, charged + 1 + next() % 2_000));
                }
                now += 10;
            }
            // and an observer is not held back much below its rate: over 10 minutes, at
            // least 70% of it (its copy refills at 90%, and counts answers from when they
            // arrive). A validator's 32 MiB/s is more than one request out at a time,
            // seconds apart, fetches here
            let floor = 0.7 * limit.bytes_per_s * 600.0;
            assert!(
                validator || served as f64 >= floor,
                "{served} bytes in 10 min, under {floor}"
            );
            // idle long enough with nothing out, the copy is full again (and may be
            // forgotten)
            for (len, arrived) in pending.drain(..) {
                mirror.answered(&limit, Some(len as f64), arrived.max(now));
            }
            assert!(!mirror.is_full(&limit, now));
            assert!(mirror.is_full(&limit, now + 120_000));
        }
    }

    #[test]
    fn a_request_out_counts_as_a_largest_answer_until_it_is_answered() {
        let limit = Class::GetBlocks.answer_limit(false).unwrap();
        let mut m = AnswerMirror::full(&limit, 0);
        // a full budget (64 MiB) has room for one request out, not for two
        m.asked();
        assert!(m.has_room(&limit, 0));
        m.asked();
        assert!(!m.has_room(&limit, 0));
        assert!(!m.has_room(&limit, 3_600_000), "requests out never refill");
        assert!(!m.is_full(&limit, 3_600_000));
        // one never left the node: it costs nothing
        m.answered(&limit, None, 0);
        assert!(m.has_room(&limit, 0));
        // the other's answer is 60 MiB: in debt until it refills
        m.answered(&limit, Some(60.0 * 1024.0 * 1024.0), 0);
        assert!(m.has_room(&limit, 10));
        m.asked();
        assert!(!m.has_room(&limit, 10));
    }

    #[test]
    fn a_copy_behind_the_peer_waits_out_the_debt_it_is_told_of() {
        let limit = Class::GetBlocks.answer_limit(false).unwrap();
        // the copy thinks the budget full; the peer refused: it owes a whole largest answer
        let mut m = AnswerMirror::full(&limit, 1_000);
        m.owe(&limit, wire::SYNC_RESPONSE_HARD_BYTES as f64, 1_000);
        let wait_ms = (wire::SYNC_RESPONSE_HARD_BYTES as f64 / (limit.bytes_per_s * MIRROR_SHARE)
            * 1000.0) as u64;
        assert!(wait_ms > 10_000, "{wait_ms}");
        assert!(!m.has_room(&limit, 1_000 + wait_ms - 1));
        assert!(m.has_room(&limit, 1_000 + wait_ms + 1));
        // a deeper debt the copy already knew is kept
        let mut deep = AnswerMirror::full(&limit, 0);
        deep.answered(&limit, Some(limit.bytes_burst + 100.0 * 1024.0 * 1024.0), 0);
        let before = deep;
        deep.owe(&limit, 1.0, 0);
        assert_eq!(deep, before);
    }
}
