//! The durable safety state: every vote this validator signed in an epoch, appended to
//! `data/safety/epoch-N.log` and fsynced before the vote may leave the node.
//!
//! Record: u16 length, the vote's wire bytes, the first 8 bytes of their BLAKE3. A torn
//! last record (crash mid-write) is cut off on open: that vote was never sent, because
//! sending waits for the fsync.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use consensus::{SafetyState, Vote};
use ledger::codec::{Limits, Reader};

use crate::core::VoteStore;

/// Why a safety log could not be opened or appended to.
#[derive(Debug, thiserror::Error)]
pub enum SafetyLogError {
    /// The file system failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The log holds bytes that are not the votes it wrote (beyond one torn append).
    #[error(
        "{} is corrupt: {why}. This file holds every vote this validator signed in epoch \
         {epoch}; starting without them could make it sign two different things in one \
         view. Restore the file from a backup if you have one; otherwise keep this \
         validator stopped until the epoch is over (or ask the operators to replace its \
         key), and move the file aside only then.",
        path.display()
    )]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Its epoch.
        epoch: u64,
        /// What does not read back.
        why: String,
    },
}

type Result<T> = std::result::Result<T, SafetyLogError>;

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SafetyLogError {
    let path = path.to_path_buf();
    move |source| SafetyLogError::Io { what, path, source }
}

/// Open (or create, fsyncing its directory) the log file `path` under `dir` for appending,
/// and read all of it.
fn open_log(dir: &Path, path: &Path) -> Result<(File, Vec<u8>)> {
    std::fs::create_dir_all(dir).map_err(io_error("creating", dir))?;
    let existed = path.exists();
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io_error("opening", path))?;
    if !existed {
        genesis::durable::sync_parent(path).map_err(io_error("syncing the directory of", path))?;
    }
    let mut raw = Vec::new();
    file.read_to_end(&mut raw)
        .map_err(io_error("reading", path))?;
    Ok((file, raw))
}

/// One epoch's log.
#[derive(Debug)]
pub struct SafetyLog {
    file: File,
    path: PathBuf,
}

impl SafetyLog {
    /// Open (or create) the log of `epoch` under `dir` and read back every vote in it.
    ///
    /// A torn last record (a crash mid-append: zeros, or a record cut short or ending in
    /// zeros, see `is_torn_append`) is cut off, since that vote was never sent. Anything else
    /// that does not read back (a bad record followed by more records, a whole last record
    /// whose checksum fails, a record that checks out but does not decode) is corruption:
    /// the node refuses to start rather than forget votes it signed, which could make it
    /// sign twice in one view.
    pub fn open(dir: &Path, epoch: u64) -> Result<(SafetyLog, SafetyState)> {
        let path = dir.join(format!("epoch-{epoch}.log"));
        let (mut file, raw) = open_log(dir, &path)?;
        let (state, good) = read_records(&raw).map_err(|why| SafetyLogError::Corrupt {
            path: path.clone(),
            epoch,
            why,
        })?;
        if good < raw.len() {
            tracing::warn!(path = %path.display(), good, total = raw.len(), "cutting off a torn safety-log record (it was never sent)");
            file.set_len(good as u64)
                .and_then(|()| file.seek(SeekFrom::End(0)))
                .and_then(|_| file.sync_all())
                .map_err(io_error("cutting the torn record off", &path))?;
        }
        Ok((SafetyLog { file, path }, state))
    }

    /// Append `vote` and fsync.
    pub fn append(&mut self, vote: &Vote) -> Result<()> {
        let rec = record(vote);
        self.file
            .write_all(&rec)
            .and_then(|_| self.file.sync_data())
            .map_err(io_error("writing", &self.path))
    }
}

/// A vote's record in the log: u16 little-endian length, the vote's wire bytes
/// (`wire::encode_vote`), the first 8 bytes of their BLAKE3.
pub fn record(vote: &Vote) -> Vec<u8> {
    let mut body = Vec::with_capacity(160);
    crate::wire::encode_vote(vote, &mut body);
    let mut rec = Vec::with_capacity(body.len() + 10);
    // a vote is at most 157 bytes (PROPOSAL_VOTE_BYTES)
    rec.extend_from_slice(&(body.len() as u16).to_le_bytes());
    rec.extend_from_slice(&body);
    rec.extend_from_slice(&blake3::hash(&body).as_bytes()[..8]);
    rec
}

/// The blocks a validator voted for in an epoch, `blocks-epoch-N.log` beside its votes:
/// each appended and fsynced before the vote. Record: u32 little-endian length, the block's
/// bytes, the first 8 bytes of their BLAKE3.
///
/// Only liveness rests on it: a block notarized but not yet finalized is the next
/// proposal's parent, and if every validator stopped at that moment (an operator
/// restarting the network) no one held it any more and the chain stalled for good. A
/// record that does not read back ends the file there (what follows is dropped, with a
/// warning): losing a kept block is what happened before this file existed.
#[derive(Debug)]
struct BlockLog {
    file: File,
    path: PathBuf,
}

fn block_log_path(dir: &Path, epoch: u64) -> PathBuf {
    dir.join(format!("blocks-epoch-{epoch}.log"))
}

impl BlockLog {
    /// Open (or create) the block log of `epoch` and read back the blocks in it.
    fn open(dir: &Path, epoch: u64) -> Result<(BlockLog, Vec<Vec<u8>>)> {
        let path = block_log_path(dir, epoch);
        let (mut file, raw) = open_log(dir, &path)?;
        let mut blocks = Vec::new();
        let mut at = 0;
        while let Some(len) = raw.get(at..at + 4) {
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let Some(body) = raw.get(at + 4..at + 4 + len) else {
                break;
            };
            let Some(sum) = raw.get(at + 4 + len..at + 12 + len) else {
                break;
            };
            if sum != &blake3::hash(body).as_bytes()[..8] {
                break;
            }
            blocks.push(body.to_vec());
            at += 12 + len;
        }
        if at < raw.len() {
            tracing::warn!(path = %path.display(), good = at, total = raw.len(), "dropping the end of a block log that does not read back");
            file.set_len(at as u64)
                .and_then(|()| file.seek(SeekFrom::End(0)))
                .and_then(|_| file.sync_all())
                .map_err(io_error("cutting off the end of", &path))?;
        }
        Ok((BlockLog { file, path }, blocks))
    }

    /// Append `block` (its bytes) and fsync.
    fn append(&mut self, block: &[u8]) -> Result<()> {
        let mut rec = Vec::with_capacity(block.len() + 12);
        block_record(block, &mut rec);
        self.file
            .write_all(&rec)
            .and_then(|_| self.file.sync_data())
            .map_err(io_error("writing", &self.path))
    }
}

/// A kept block's record: u32 little-endian length, the bytes, the first 8 bytes of their
/// BLAKE3.
fn block_record(block: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(block.len() as u32).to_le_bytes());
    out.extend_from_slice(block);
    out.extend_from_slice(&blake3::hash(block).as_bytes()[..8]);
}

/// The epoch of a file this store writes (`epoch-N.log`, `blocks-epoch-N.log`).
fn epoch_of_file(name: &str) -> Option<u64> {
    name.strip_prefix("blocks-")
        .unwrap_or(name)
        .strip_prefix("epoch-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// The votes of a validator, one log file per epoch under `dir`: the [`VoteStore`] of a
/// real node. Only the current epoch's log is open (only its engine signs).
#[derive(Debug)]
pub struct FileVotes {
    dir: PathBuf,
    open: Option<(u64, SafetyLog)>,
    blocks: Option<(u64, BlockLog)>,
}

impl FileVotes {
    /// Logs under `dir` (created when the first is opened).
    pub fn new(dir: PathBuf) -> FileVotes {
        FileVotes {
            dir,
            open: None,
            blocks: None,
        }
    }
}

impl VoteStore for FileVotes {
    fn open(&mut self, epoch: u64) -> std::result::Result<SafetyState, String> {
        let (log, state) = SafetyLog::open(&self.dir, epoch).map_err(|e| e.to_string())?;
        self.open = Some((epoch, log));
        Ok(state)
    }

    fn append(&mut self, epoch: u64, vote: &Vote) -> std::result::Result<(), String> {
        if self.open.as_ref().is_none_or(|(e, _)| *e != epoch) {
            // an epoch's votes are read back before its engine signs; reopening keeps them
            let (log, _) = SafetyLog::open(&self.dir, epoch).map_err(|e| e.to_string())?;
            self.open = Some((epoch, log));
        }
        match self.open.as_mut() {
            Some((_, log)) => log.append(vote).map_err(|e| e.to_string()),
            None => Err("no safety log open".into()),
        }
    }

    fn keep_block(&mut self, epoch: u64, block: &[u8]) -> std::result::Result<(), String> {
        if self.blocks.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let (log, _) = BlockLog::open(&self.dir, epoch).map_err(|e| e.to_string())?;
            self.blocks = Some((epoch, log));
        }
        match self.blocks.as_mut() {
            Some((_, log)) => log.append(block).map_err(|e| e.to_string()),
            None => Err("no block log open".into()),
        }
    }

    fn kept_blocks(&mut self, epoch: u64) -> std::result::Result<Vec<Vec<u8>>, String> {
        if !block_log_path(&self.dir, epoch).exists() {
            return Ok(Vec::new());
        }
        let (log, blocks) = BlockLog::open(&self.dir, epoch).map_err(|e| e.to_string())?;
        self.blocks = Some((epoch, log));
        Ok(blocks)
    }

    fn rewrite_blocks(
        &mut self,
        epoch: u64,
        blocks: &[Vec<u8>],
    ) -> std::result::Result<(), String> {
        let path = block_log_path(&self.dir, epoch);
        let mut bytes = Vec::with_capacity(blocks.iter().map(|b| b.len() + 12).sum());
        for b in blocks {
            block_record(b, &mut bytes);
        }
        if self.blocks.as_ref().is_some_and(|(e, _)| *e == epoch) {
            self.blocks = None;
        }
        std::fs::create_dir_all(&self.dir)
            .and_then(|()| genesis::durable::replace(&path, &bytes, 0o600))
            .map_err(|e| format!("rewriting {}: {e}", path.display()))
    }

    fn forget_before(&mut self, epoch: u64) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if let Some(e) = name.to_str().and_then(epoch_of_file)
                && e < epoch
            {
                self.forget(e);
            }
        }
    }

    fn forget(&mut self, epoch: u64) {
        if self.open.as_ref().is_some_and(|(e, _)| *e == epoch) {
            self.open = None;
        }
        if self.blocks.as_ref().is_some_and(|(e, _)| *e == epoch) {
            self.blocks = None;
        }
        let _ = std::fs::remove_file(self.dir.join(format!("epoch-{epoch}.log")));
        let _ = std::fs::remove_file(block_log_path(&self.dir, epoch));
    }
}

/// The encoded length of a nullify vote and of a notarize or finalize vote (kind tag, view
/// or proposal, signer, signature).
const NULLIFY_BYTES: usize = 1 + 8 + 4 + 64;
const PROPOSAL_VOTE_BYTES: usize = 1 + 88 + 4 + 64;

/// Whether `rest`, the end of a log whose first record does not check out, is what one
/// interrupted append leaves: zeros; or the start of a record (a vote's length, and a kind
/// tag that fits it) whose end never landed: the file ends inside the record, or the
/// record's last 4 bytes (of its checksum) are zeros, with only zeros after it (space
/// allocated, bytes not written).
///
/// A record that is all there with a checksum that fails is damage, not a torn append:
/// that vote was fsynced and may have been sent, and forgetting it could make the validator
/// sign twice in its view. (A flipped bit in the last record used to be cut off as torn:
/// found by the review of the `safety_log_crash` fuzz target.) The price: an append torn
/// so that only its last 1–3 checksum bytes, or only its start, are missing is refused
/// too, and needs the operator (rare: the record must straddle a disk sector).
fn is_torn_append(rest: &[u8]) -> bool {
    let zeros = |b: &[u8]| b.iter().all(|x| *x == 0);
    if zeros(rest) {
        return true;
    }
    let Some(len) = rest
        .get(..2)
        .map(|l| u16::from_le_bytes([l[0], l[1]]) as usize)
    else {
        return true;
    };
    let tag_fits = match rest.get(2) {
        None | Some(0) => true,
        Some(2) => len == NULLIFY_BYTES,
        Some(1 | 3) => len == PROPOSAL_VOTE_BYTES,
        Some(_) => false,
    };
    if !(len == NULLIFY_BYTES || len == PROPOSAL_VOTE_BYTES) || !tag_fits {
        return false;
    }
    let end = 2 + len + 8;
    end > rest.len() || zeros(&rest[end - 4..])
}

/// The votes in a log's bytes and how many bytes hold whole records; `Err` if anything but
/// the torn tail of one interrupted append fails to read back.
pub fn read_records(raw: &[u8]) -> std::result::Result<(SafetyState, usize), String> {
    let mut state = SafetyState::default();
    let mut pos = 0usize;
    while pos < raw.len() {
        let rest = &raw[pos..];
        let torn_tail = is_torn_append(rest);
        let whole = rest.len() >= 2 && {
            let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
            2 + len + 8 <= rest.len()
                && blake3::hash(&rest[2..2 + len]).as_bytes()[..8] == rest[2 + len..2 + len + 8]
        };
        if !whole {
            if torn_tail {
                break;
            }
            return Err(format!(
                "the record at byte {pos} does not check out and {} bytes follow it",
                rest.len()
            ));
        }
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let mut r = Reader::new(&rest[2..2 + len], Limits::default());
        let vote = crate::wire::decode_vote(&mut r)
            .map_err(|e| format!("the record at byte {pos} does not decode: {e}"))?;
        if r.finish().is_err() {
            return Err(format!("the record at byte {pos} has trailing bytes"));
        }
        state.record(vote);
        pos += 2 + len + 8;
    }
    Ok((state, pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use consensus::{Signature, VoteKind};

    /// Kept blocks come back after a reopen; a damaged end is dropped (and cut, so later
    /// appends read back); forgetting the epoch removes the file.
    #[test]
    fn kept_blocks_survive_reopen_and_a_damaged_end_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut votes = FileVotes::new(dir.path().to_path_buf());
        assert!(votes.kept_blocks(3).unwrap().is_empty());
        votes.keep_block(3, b"first block").unwrap();
        votes.keep_block(3, &[7u8; 70_000]).unwrap();
        let mut again = FileVotes::new(dir.path().to_path_buf());
        assert_eq!(
            again.kept_blocks(3).unwrap(),
            vec![b"first block".to_vec(), vec![7u8; 70_000]]
        );
        // a torn append, then a flipped byte in a whole record
        let path = block_log_path(dir.path(), 3);
        let mut raw = std::fs::read(&path).unwrap();
        let whole = raw.len();
        raw.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&path, &raw).unwrap();
        assert_eq!(
            FileVotes::new(dir.path().to_path_buf())
                .kept_blocks(3)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            whole,
            "cut"
        );
        let mut v = FileVotes::new(dir.path().to_path_buf());
        v.kept_blocks(3).unwrap();
        v.keep_block(3, b"third").unwrap();
        raw = std::fs::read(&path).unwrap();
        raw[40] ^= 1; // inside the second record (the first is 23 bytes)
        std::fs::write(&path, &raw).unwrap();
        assert_eq!(
            FileVotes::new(dir.path().to_path_buf())
                .kept_blocks(3)
                .unwrap(),
            vec![b"first block".to_vec()]
        );
        votes.forget(3);
        assert!(!path.exists());
    }

    #[test]
    fn a_rewritten_block_log_holds_only_what_was_kept_and_old_epochs_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut votes = FileVotes::new(dir.path().to_path_buf());
        for i in 0..5u8 {
            votes.keep_block(4, &[i; 1000]).unwrap();
        }
        votes
            .rewrite_blocks(4, &[vec![3; 1000], vec![4; 1000]])
            .unwrap();
        // appends after the rewrite go to the new file
        votes.keep_block(4, b"next").unwrap();
        let mut again = FileVotes::new(dir.path().to_path_buf());
        assert_eq!(
            again.kept_blocks(4).unwrap(),
            vec![vec![3; 1000], vec![4; 1000], b"next".to_vec()]
        );
        // reading an epoch never written creates nothing
        assert!(again.kept_blocks(5).unwrap().is_empty());
        assert!(!block_log_path(dir.path(), 5).exists());
        for e in [1, 2, 3] {
            again.keep_block(e, b"old").unwrap();
            let nullify = Vote {
                kind: VoteKind::Nullify(e * 10),
                signer: 1,
                signature: Signature([1; 64]),
            };
            again.append(e, &nullify).unwrap();
        }
        again.forget_before(3);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["blocks-epoch-3.log", "blocks-epoch-4.log", "epoch-3.log"]
        );
        assert_eq!(epoch_of_file("blocks-epoch-12.log"), Some(12));
        assert_eq!(epoch_of_file("epoch-7.log"), Some(7));
        assert_eq!(epoch_of_file(".blocks-epoch-4.log.tmp"), None);
    }

    #[test]
    fn votes_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let v = |view| Vote {
            kind: VoteKind::Nullify(view),
            signer: 1,
            signature: Signature([view as u8; 64]),
        };
        {
            let (mut log, st) = SafetyLog::open(dir.path(), 3).unwrap();
            assert!(st.views.is_empty());
            log.append(&v(1)).unwrap();
            log.append(&v(2)).unwrap();
        }
        let path = dir.path().join("epoch-3.log");
        let mut raw = std::fs::read(&path).unwrap();
        raw.extend_from_slice(&record(&v(9))[..5]); // torn record
        std::fs::write(&path, &raw).unwrap();
        let (mut log, st) = SafetyLog::open(dir.path(), 3).unwrap();
        assert_eq!(st.views.len(), 2);
        assert!(st.nullified(2));
        log.append(&v(3)).unwrap();
        drop(log);
        let (_, st) = SafetyLog::open(dir.path(), 3).unwrap();
        assert_eq!(st.views.len(), 3);
        // zeros at the end (space allocated for an append that never landed) are torn too
        let mut raw = std::fs::read(&path).unwrap();
        let len = raw.len();
        raw.extend_from_slice(&[0u8; 4096]);
        std::fs::write(&path, &raw).unwrap();
        let (_, st) = SafetyLog::open(dir.path(), 3).unwrap();
        assert_eq!(st.views.len(), 3);
        assert_eq!(std::fs::read(&path).unwrap().len(), len);
    }

    /// Fuzz review regression: a bit flipped anywhere in the last record (fsynced, maybe
    /// sent) refuses to open; it used to be cut off as a torn append, forgetting the vote.
    #[test]
    fn damage_in_the_last_record_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = consensus::Proposal {
            view: 1,
            height: 1,
            parent_view: 0,
            parent: consensus::Digest([1; 32]),
            payload: consensus::Digest([2; 32]),
        };
        let votes = [VoteKind::Nullify(1), VoteKind::Notarize(p)];
        for kind in votes {
            let v = Vote {
                kind,
                signer: 1,
                signature: Signature([9; 64]),
            };
            let rec = record(&v);
            for at in 0..rec.len() {
                let mut bad = rec.clone();
                bad[at] ^= 0x10;
                std::fs::write(dir.path().join("epoch-5.log"), &bad).unwrap();
                assert!(
                    SafetyLog::open(dir.path(), 5).is_err(),
                    "a flip at byte {at} of a {kind:?} record was not refused"
                );
            }
            // while a cut-short or zero-filled end of the same record is a torn append
            for keep in [1, 2, 3, 40, rec.len() - 8, rec.len() - 4, rec.len() - 1] {
                let mut torn = rec[..keep].to_vec();
                std::fs::write(dir.path().join("epoch-5.log"), &torn).unwrap();
                let (_, st) = SafetyLog::open(dir.path(), 5).unwrap();
                assert!(st.views.is_empty());
                torn.resize(rec.len(), 0);
                std::fs::write(dir.path().join("epoch-5.log"), &torn).unwrap();
                assert_eq!(
                    SafetyLog::open(dir.path(), 5).is_ok(),
                    keep <= rec.len() - 4,
                    "{keep} bytes of a {kind:?} record, then zeros"
                );
                // filesystem zeros past the record change nothing
                torn.resize(4096, 0);
                std::fs::write(dir.path().join("epoch-5.log"), &torn).unwrap();
                assert_eq!(
                    SafetyLog::open(dir.path(), 5).is_ok(),
                    keep <= rec.len() - 4
                );
            }
        }
    }

    #[test]
    fn a_corrupt_record_before_the_end_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let v = |view| Vote {
            kind: VoteKind::Nullify(view),
            signer: 1,
            signature: Signature([view as u8; 64]),
        };
        {
            let (mut log, _) = SafetyLog::open(dir.path(), 0).unwrap();
            for view in 1..=5 {
                log.append(&v(view)).unwrap();
            }
        }
        let path = dir.path().join("epoch-0.log");
        let good = std::fs::read(&path).unwrap();
        // a flipped byte in the second record, a length running past the end with records
        // after it, a checksummed record that is not a vote
        let mut flipped = good.clone();
        flipped[good.len() / 5 + 20] ^= 0x01;
        let mut long = good.clone();
        long[0] = 0xff;
        long[1] = 0x7f;
        let mut junk = Vec::new();
        let body = [9u8; 20];
        junk.extend_from_slice(&(body.len() as u16).to_le_bytes());
        junk.extend_from_slice(&body);
        junk.extend_from_slice(&blake3::hash(&body).as_bytes()[..8]);
        junk.extend_from_slice(&good);
        for (what, bytes) in [("flipped", flipped), ("long", long), ("junk", junk)] {
            std::fs::write(&path, &bytes).unwrap();
            let err = SafetyLog::open(dir.path(), 0).expect_err(what).to_string();
            assert!(err.contains("epoch-0.log is corrupt"), "{what}: {err}");
            assert!(err.contains("sign two different things"), "{what}: {err}");
            // and the file was left as it was, for the operator
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}");
        }
    }
}
