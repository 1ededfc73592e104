//! The durable safety state: every vote this validator signed in an epoch, appended to
//! `data/safety/epoch-N.log` and fsynced before the vote may leave the node.
//!
//! Record: u16 length, the vote's wire bytes, the first 8 bytes of their BLAKE3. A torn
//! last record (crash mid-write) is cut off on open: that vote was never sent, because
//! sending waits for the fsync.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use consensus::{SafetyState, Vote};
use ledger::codec::{Limits, Reader};

/// One epoch's log.
pub struct SafetyLog {
    file: File,
    path: PathBuf,
}

impl SafetyLog {
    /// Open (or create) the log of `epoch` under `dir` and read back every vote in it.
    pub fn open(dir: &Path, epoch: u64) -> Result<(SafetyLog, SafetyState)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("epoch-{epoch}.log"));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut state = SafetyState::default();
        let mut pos = 0usize;
        while pos + 2 <= raw.len() {
            let len = u16::from_le_bytes([raw[pos], raw[pos + 1]]) as usize;
            let end = pos + 2 + len + 8;
            if end > raw.len() {
                break;
            }
            let body = &raw[pos + 2..pos + 2 + len];
            if blake3::hash(body).as_bytes()[..8] != raw[pos + 2 + len..end] {
                break;
            }
            let mut r = Reader::new(body, Limits::default());
            let vote = crate::wire::decode_vote(&mut r)
                .with_context(|| format!("corrupt vote record in {}", path.display()))?;
            if r.finish().is_err() {
                bail!("corrupt vote record in {}", path.display());
            }
            state.record(vote);
            pos = end;
        }
        if pos < raw.len() {
            tracing::warn!(path = %path.display(), good = pos, total = raw.len(), "cutting off a torn safety-log record (it was never sent)");
            file.set_len(pos as u64)?;
            file.seek(SeekFrom::End(0))?;
            file.sync_all()?;
        }
        Ok((SafetyLog { file, path }, state))
    }

    /// Append `vote` and fsync.
    pub fn append(&mut self, vote: &Vote) -> Result<()> {
        let mut body = Vec::with_capacity(160);
        crate::wire::encode_vote(vote, &mut body);
        let mut rec = Vec::with_capacity(body.len() + 10);
        rec.extend_from_slice(&(body.len() as u16).to_le_bytes());
        rec.extend_from_slice(&body);
        rec.extend_from_slice(&blake3::hash(&body).as_bytes()[..8]);
        self.file
            .write_all(&rec)
            .and_then(|_| self.file.sync_data())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use consensus::{Signature, VoteKind};

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
        raw.extend_from_slice(&[40, 0, 1, 2, 3]); // torn record
        std::fs::write(&path, &raw).unwrap();
        let (mut log, st) = SafetyLog::open(dir.path(), 3).unwrap();
        assert_eq!(st.views.len(), 2);
        assert!(st.nullified(2));
        log.append(&v(3)).unwrap();
        drop(log);
        let (_, st) = SafetyLog::open(dir.path(), 3).unwrap();
        assert_eq!(st.views.len(), 3);
    }
}
