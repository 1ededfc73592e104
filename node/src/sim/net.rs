//! The simulated world's clock, event queue, randomness and links: every delivery is an
//! event at a time drawn from the link's latency range, may be lost or duplicated, and
//! never crosses a partition. Same seed, same draws, same order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use ledger::Hash;

use crate::core::CommitJob;

/// A seeded generator (SplitMix64: small, fast, and plenty for choosing faults and delays).
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next_u64() % 1000 < per_mille
    }

    /// 32 random bytes.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for c in out.chunks_mut(8) {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }
}

/// Something that happens at a simulated time.
pub(super) enum Item {
    /// A frame reaches `to` (`request`: the sender's request id, for requests).
    Frame {
        from: usize,
        to: usize,
        bytes: Vec<u8>,
        request: Option<u64>,
    },
    /// The answer to `to`'s request `id` (or the error a timeout gives).
    Answer {
        to: usize,
        incarnation: u64,
        id: u64,
        result: Result<Vec<u8>, String>,
    },
    /// Due timers of `node`.
    Tick { node: usize, incarnation: u64 },
    /// `node`'s 20 ms housekeeping.
    Housekeeping { node: usize, incarnation: u64 },
    /// `node`'s status interval.
    Status { node: usize, incarnation: u64 },
    /// Admission of `node` caught up for `block`.
    Admitted {
        node: usize,
        incarnation: u64,
        block: Hash,
    },
    /// `node`'s store finished writing `job`.
    Committed {
        node: usize,
        incarnation: u64,
        job: Box<CommitJob>,
    },
    /// A wallet sends a transaction.
    Client,
    /// The scheduled fault `index` starts or ends.
    Fault { index: usize, start: bool },
}

impl Item {
    /// A small tag for the trace digest.
    pub(super) fn tag(&self) -> (u8, usize) {
        match self {
            Item::Frame { to, .. } => (1, *to),
            Item::Answer { to, .. } => (2, *to),
            Item::Tick { node, .. } => (3, *node),
            Item::Housekeeping { node, .. } => (4, *node),
            Item::Status { node, .. } => (5, *node),
            Item::Admitted { node, .. } => (6, *node),
            Item::Committed { node, .. } => (7, *node),
            Item::Client => (8, 0),
            Item::Fault { index, .. } => (9, *index),
        }
    }
}

struct Entry {
    at: u64,
    seq: u64,
    item: Item,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Events by time, ties in the order they were scheduled.
#[derive(Default)]
pub(super) struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl Queue {
    pub(super) fn push(&mut self, at: u64, item: Item) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            item,
        }));
    }

    pub(super) fn pop(&mut self) -> Option<(u64, Item)> {
        self.heap.pop().map(|Reverse(e)| (e.at, e.item))
    }
}

/// How links behave now.
#[derive(Clone, Debug)]
pub(super) struct Links {
    /// One-way latency range, ms.
    pub(super) latency: (u64, u64),
    /// Loss, per mille.
    pub(super) loss: u64,
    /// Duplication, per mille.
    pub(super) duplicate: u64,
    /// Each node's side of the current partition (all 0: none).
    pub(super) side: Vec<u8>,
}

impl Links {
    pub(super) fn new(nodes: usize) -> Links {
        Links {
            latency: (2, 40),
            loss: 5,
            duplicate: 5,
            side: vec![0; nodes],
        }
    }

    /// Whether `a` and `b` can talk.
    pub(super) fn connected(&self, a: usize, b: usize) -> bool {
        self.side[a] == self.side[b]
    }
}
