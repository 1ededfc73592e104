//! The safety log through crashes: a validator signs votes (only what its safety rules
//! allow), appends each (fsynced) before sending it, and crashes at any point, mid-append
//! (a torn record, zeros from a half-done allocation) or with an earlier record damaged on
//! disk. Reopening either refuses to start (damage) or yields every vote that was sent, so
//! the validator can never sign two different things in one view.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use consensus::{Decision, Digest, Proposal, Signature, Vote, VoteKind};
use libfuzzer_sys::fuzz_target;
use node::safety_log::{SafetyLog, record};

#[derive(Arbitrary, Debug)]
enum Op {
    /// Try to sign a vote in `view` (0..8) of kind `kind` on proposal `which`.
    Sign { kind: u8, view: u8, which: u8 },
    /// Crash while appending a vote: the first `keep` bytes of its record reached the
    /// disk (those from `zeros_from` on only as zeros), then zeros up to the record's
    /// length; or, with `keep` 0, only `pad` zero bytes (space allocated, nothing written).
    Crash {
        view: u8,
        keep: u8,
        zeros_from: u8,
        pad: u16,
    },
    /// Damage a byte of a record (fsynced, maybe sent), the last one too.
    Damage { at: u16, xor: u8 },
}

fn vote(kind: u8, view: u8, which: u8) -> Vote {
    let view = u64::from(view % 8);
    let p = Proposal {
        view,
        parent_view: view.saturating_sub(1),
        parent: Digest([which % 2; 32]),
        payload: Digest([which % 3; 32]),
        height: view + 1,
    };
    let kind = match kind % 3 {
        0 => VoteKind::Notarize(p),
        1 => VoteKind::Nullify(view),
        _ => VoteKind::Finalize(p),
    };
    Vote {
        kind,
        signer: 2,
        signature: Signature([which; 64]),
    }
}

/// What was signed per view, checked independently of `SafetyState`: at most one notarize
/// and one finalize (of one proposal each), and never a nullify with a finalize, nor a
/// notarize after a nullify.
fn conflicts(sent: &[Vote]) -> Option<String> {
    let mut by_view: BTreeMap<u64, Vec<&Vote>> = BTreeMap::new();
    for v in sent {
        by_view.entry(v.kind.view()).or_default().push(v);
    }
    for (view, votes) in by_view {
        let notarized: Vec<_> = votes
            .iter()
            .filter_map(|v| match v.kind {
                VoteKind::Notarize(p) => Some(p),
                _ => None,
            })
            .collect();
        let finalized: Vec<_> = votes
            .iter()
            .filter_map(|v| match v.kind {
                VoteKind::Finalize(p) => Some(p),
                _ => None,
            })
            .collect();
        let nullified = votes.iter().any(|v| matches!(v.kind, VoteKind::Nullify(_)));
        let first_nullify = votes
            .iter()
            .position(|v| matches!(v.kind, VoteKind::Nullify(_)));
        let last_notarize = votes
            .iter()
            .rposition(|v| matches!(v.kind, VoteKind::Notarize(_)));
        if let (Some(n), Some(m)) = (first_nullify, last_notarize)
            && m > n
        {
            return Some(format!("a notarize after a nullify in view {view}"));
        }
        if notarized.windows(2).any(|w| w[0] != w[1]) {
            return Some(format!("two notarizes in view {view}"));
        }
        if finalized.windows(2).any(|w| w[0] != w[1]) {
            return Some(format!("two finalizes in view {view}"));
        }
        if nullified && !finalized.is_empty() {
            return Some(format!("nullify and finalize in view {view}"));
        }
    }
    None
}

fuzz_target!(|ops: Vec<Op>| {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("epoch-1.log");
    let (mut log, mut state) = SafetyLog::open(dir.path(), 1).expect("a new log");
    // every vote whose append returned: it may have been sent
    let mut sent: Vec<Vote> = Vec::new();
    // byte offsets where each whole record starts
    let mut starts: Vec<usize> = Vec::new();
    let mut len = 0usize;
    for op in ops.into_iter().take(40) {
        match op {
            Op::Sign { kind, view, which } => {
                let v = vote(kind, view, which);
                match state.check(&v.kind, None) {
                    Decision::Allowed => {
                        log.append(&v).expect("append");
                        starts.push(len);
                        len += record(&v).len();
                        state.record(v);
                        sent.push(v);
                    }
                    Decision::AlreadySigned(w) => assert!(sent.contains(&w)),
                    Decision::Refused(_) => {}
                }
            }
            Op::Crash {
                view,
                keep,
                zeros_from,
                pad,
            } => {
                drop(log);
                let v = vote(0, view, 9);
                let rec = record(&v);
                // never the whole record, nor all but 1-3 of its last bytes (an append torn there
                // is refused by design: `safety_log::is_torn_append`)
                let keep = usize::from(keep) % (rec.len() - 3);
                let torn = if keep == 0 {
                    // the file grew (allocation) but none of the record landed
                    vec![0u8; usize::from(pad % 4096)]
                } else {
                    // a prefix landed, part of it (from `zeros_from`) and maybe the rest
                    // of the record's length only as zeros
                    let mut t = rec[..keep].to_vec();
                    for b in t.iter_mut().skip(usize::from(zeros_from)) {
                        *b = 0;
                    }
                    t.resize(keep + usize::from(pad) % (rec.len() - keep + 1), 0);
                    if t.len() == rec.len() {
                        // all of its length landed: then at least its last 4 bytes did not
                        // (a record that is all there with its checksum is damage)
                        t[rec.len() - 4..].fill(0);
                    }
                    // and the filesystem may add zeros past it
                    t.resize(t.len() + usize::from(pad >> 8) * 16, 0);
                    t
                };
                let mut raw = std::fs::read(&path).expect("the log");
                raw.extend_from_slice(&torn);
                std::fs::write(&path, &raw).expect("write");
                let (l, st) = SafetyLog::open(dir.path(), 1).expect("a torn append reopens");
                assert_eq!(st, state, "reopening after a crash lost or invented votes");
                assert_eq!(
                    std::fs::metadata(&path).expect("the log").len() as usize,
                    len
                );
                log = l;
            }
            Op::Damage { at, xor } => {
                if starts.is_empty() || xor == 0 {
                    continue;
                }
                let at = usize::from(at) % len; // in any record, the last one too
                drop(log);
                let good = std::fs::read(&path).expect("the log");
                let mut bad = good.clone();
                bad[at] ^= xor;
                std::fs::write(&path, &bad).expect("write");
                assert!(
                    SafetyLog::open(dir.path(), 1).is_err(),
                    "a damaged record at byte {at} was read as good or cut off"
                );
                // the operator restores the file
                std::fs::write(&path, &good).expect("write");
                let (l, st) = SafetyLog::open(dir.path(), 1).expect("the restored log");
                assert_eq!(st, state);
                log = l;
            }
        }
        if let Some(c) = conflicts(&sent) {
            panic!("the validator signed conflicting votes: {c}");
        }
    }
    let (_, reopened) = SafetyLog::open(dir.path(), 1).expect("reopens");
    assert_eq!(reopened, state);
});
