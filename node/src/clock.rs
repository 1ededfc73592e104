//! The real clocks, read only by the runtime layer (`crate::runtime`, admission, RPC): the
//! node core gets the time as an argument ([`crate::core::Time`]).

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::core::Time;

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Milliseconds since the first call in this process (never goes back).
pub fn mono_ms() -> u64 {
    start().elapsed().as_millis() as u64
}

/// The current wall clock in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Both clocks now.
pub fn now() -> Time {
    Time {
        mono_ms: mono_ms(),
        wall_ms: now_ms(),
    }
}
