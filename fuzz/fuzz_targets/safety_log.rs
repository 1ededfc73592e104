//! The safety log read back from disk: any file either opens with exactly the votes of its
//! whole records (a torn tail of one interrupted append cut off, and nothing else), or is
//! refused as corrupt and left as it was. (The record rules themselves are checked against
//! a model of crashes in `safety_log_crash`.)
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use node::safety_log::{SafetyLog, read_records};

/// The largest record (length, notarize or finalize vote, checksum): a torn append leaves
/// less than this before its zeros.
const MAX_RECORD: usize = 2 + 1 + 88 + 4 + 64 + 8;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"))
}

fuzz_target!(|data: &[u8]| {
    let path = dir().path().join("epoch-0.log");
    std::fs::write(&path, data).expect("write the log");
    let opened = SafetyLog::open(dir().path(), 0);
    match read_records(data) {
        Ok((state, good)) => {
            assert!(good <= data.len());
            // what was cut off is one torn append: at most a record's bytes, then zeros
            let tail = &data[good..];
            let written = tail.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
            assert!(
                written < MAX_RECORD,
                "more than one torn append was cut off"
            );
            let (again, whole) = read_records(&data[..good]).expect("whole records read back");
            assert_eq!((again, whole), (state.clone(), good));
            let (_, st) = opened.expect("a log whose records read back opens");
            assert_eq!(st, state);
            assert_eq!(
                std::fs::metadata(&path).expect("the log").len(),
                good as u64
            );
        }
        Err(_) => {
            assert!(opened.is_err(), "a corrupt log opened");
            assert_eq!(
                std::fs::read(&path).expect("the log"),
                data,
                "a refused log was changed"
            );
        }
    }
});
