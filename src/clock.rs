//! The one place that reads the wall clock.
//!
//! Every time rule (`exp`, `iat`, `auth_time`, JWKS age and cooldown, access
//! token expiry) asks a [`Clock`], so tests can move time instead of sleeping.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system's wall clock, the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A clock before 1970 is a broken host; reading it as the epoch makes
        // every token look expired rather than valid.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}

/// A clock that stands still until told to move, for tests.
///
/// ```
/// use std::sync::Arc;
/// use verys_client::{Clock, ManualClock};
///
/// let clock = Arc::new(ManualClock::new(1_000));
/// clock.advance(60);
/// assert_eq!(clock.now(), 1_060);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    /// A clock showing `now` seconds since the Unix epoch.
    pub fn new(now: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(now))
    }

    /// A clock showing the system's current time.
    pub fn at_system_time() -> Self {
        Self::new(SystemClock.now())
    }

    /// Sets the time.
    pub fn set(&self, now: u64) {
        self.0.store(now, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the time forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.0
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// 9999-12-31T23:59:59Z, in seconds since the Unix epoch: the latest time
/// this crate hands out, which every platform's `SystemTime` can hold.
const LATEST: u64 = 253_402_300_799;

/// The time `seconds` after the Unix epoch, at the latest [`LATEST`]: a
/// number from a token or a server (`exp`, `expires_in`) is not trusted to
/// fit in a `SystemTime`, whose arithmetic panics on overflow.
pub(crate) fn system_time(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds.min(LATEST))
}

/// As [`system_time`] for a signed number of seconds: a time before 1970
/// that the platform cannot hold reads as the Unix epoch (long past, for
/// every expiry).
pub(crate) fn system_time_signed(seconds: i64) -> SystemTime {
    match u64::try_from(seconds) {
        Ok(after) => system_time(after),
        Err(_) => UNIX_EPOCH
            .checked_sub(Duration::from_secs(seconds.unsigned_abs()))
            .unwrap_or(UNIX_EPOCH),
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}
