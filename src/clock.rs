//! The one place that reads the wall clock.
//!
//! Every time rule (`exp`, `iat`, `auth_time`, JWKS age and cooldown, access
//! token expiry) asks a [`Clock`], so tests can move time instead of sleeping.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch, and
/// of the time elapsed for pauses that must not depend on the wall clock.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> u64;

    /// The time elapsed since a fixed point of this clock's choosing, on a
    /// clock that never goes back: what measures a pause, such as the one
    /// after a failed refresh, so that a wall clock stepped back does not
    /// stretch it. Default: [`Instant`], from the first call in this
    /// process.
    fn monotonic(&self) -> Duration {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
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
/// Its [monotonic](Clock::monotonic) time moves with
/// [`advance`](Self::advance) and with a [`set`](Self::set) forward; a
/// `set` back steps the wall clock alone, as an administrator or a time
/// daemon would.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use verys_client::{Clock, ManualClock};
///
/// let clock = Arc::new(ManualClock::new(1_000));
/// clock.advance(60);
/// assert_eq!(clock.now(), 1_060);
/// clock.set(100);
/// assert_eq!(clock.now(), 100);
/// assert_eq!(clock.monotonic(), Duration::from_secs(60));
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
    elapsed: AtomicU64,
}

impl ManualClock {
    /// A clock showing `now` seconds since the Unix epoch.
    pub fn new(now: u64) -> Self {
        Self {
            now: AtomicU64::new(now),
            elapsed: AtomicU64::new(0),
        }
    }

    /// A clock showing the system's current time.
    pub fn at_system_time() -> Self {
        Self::new(SystemClock.now())
    }

    /// Sets the time: forward, time passes; back, the wall clock alone is
    /// stepped back.
    pub fn set(&self, now: u64) {
        let before = self.now.swap(now, Ordering::SeqCst);
        self.pass(now.saturating_sub(before));
    }

    /// Moves the time forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        // Saturating, as `set` is: a test may start the clock anywhere.
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(seconds))
            });
        self.pass(seconds);
    }

    fn pass(&self, seconds: u64) {
        let _ = self
            .elapsed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |elapsed| {
                Some(elapsed.saturating_add(seconds))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn monotonic(&self) -> Duration {
        Duration::from_secs(self.elapsed.load(Ordering::SeqCst))
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

    fn monotonic(&self) -> Duration {
        (**self).monotonic()
    }
}
