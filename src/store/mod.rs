//! Where a [`TokenManager`](crate::TokenManager) keeps a user's tokens, and
//! how the managers of several processes agree on who refreshes them.
//!
//! Verys rotates refresh tokens: of two refreshes with the same refresh
//! token, one fails with `invalid_grant`. A store shared by every replica of
//! a service ([`RedisStore`](redis::RedisStore), feature `redis`, or one of
//! your own) holds, per session key, the tokens with a version number and a
//! refresh lease:
//!
//! 0. each sign-in written to the store starts at a random version and each
//!    write of it names the next one, so a version does not come back for
//!    another sign-in, even after the entry was deleted or expired;
//! 1. a manager whose in-process copy of the access token is fresh asks the
//!    store nothing;
//! 2. otherwise it reads the entry; any other version than its own (another
//!    replica's refresh, another sign-in under the key) is restored (its ID
//!    token verified again) and used, never written over; no entry is
//!    [`Error::SignedOut`];
//! 3. otherwise it takes the lease (set if absent, with an expiry), reads the
//!    entry again, refreshes, and writes the new tokens only if the entry is
//!    still at the version it read (compare and set), so a writer whose
//!    lease ran out cannot overwrite newer tokens;
//! 4. a manager that finds the lease taken waits for the new version, and
//!    takes the lease over once it expires (its holder died);
//! 5. a refresh refused with `invalid_grant` reads the entry again: newer
//!    tokens are another replica's rotation, used as they are; otherwise the
//!    refresh token is dead and the entry says so: the caller that was
//!    refused gets the `invalid_grant`, and every other caller of every
//!    replica [`Error::SignedOut`], without another request;
//! 6. a write of refreshed tokens that lost to a `SignedOut` (written by a
//!    replica whose refresh with the same refresh token was refused, this
//!    caller's lease having run out, so at the version after the one both
//!    read) replaces it, and a `SignedOut` that lost to a rotation reads the
//!    rotation back;
//! 7. a manager told the sign-in ended reads the entry again on its next
//!    call: the same version is still ended (no request to Verys), another
//!    is a new sign-in, which it takes up.
//!
//! [`MemoryStore`] does the same within one process: [`TokenManager::new`]
//! uses one of its own, which never expires its entry; one holding a web
//! app's sessions takes [limits](MemoryStore#expiry) that let the sign-ins
//! of ended and abandoned sessions go. A store of your own implements [`TokenStore`] (and
//! `AsyncTokenStore` for the async client); the
//! [`verys-testing`](https://docs.rs/verys-testing) crate's `check_token_store` checks in its tests that it keeps the
//! promises of steps 0, 3 and 4, and [`TokenStore::remove`]'s.
//!
//! [`TokenManager::new`]: crate::TokenManager::new
//! [`Error::SignedOut`]: crate::Error::SignedOut
//!
//! # Security warning
//!
//! An entry holds the user's access and refresh tokens in clear (the JSON of
//! [`StoredTokens`](crate::StoredTokens)): whoever reads the store can call
//! Verys as the user. Protect it as the session store: TLS to it, access
//! for this service alone. Whoever can write it can hand a manager another
//! whole sign-in, which restoring checks (signature, issuer, audience,
//! `at_hash`, age) but cannot tell from the user's own.

pub(crate) mod coordination;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
#[cfg(feature = "async")]
use crate::transport::BoxFuture;

/// One session key's entry: the manager's JSON and its version, which every
/// successful [`replace`](TokenStore::replace) sets.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The version the last write named: never 0. A manager starts each
    /// sign-in at a random version and counts its refreshes from there, so
    /// a version does not come back for another sign-in, even after the
    /// entry was deleted or expired.
    pub version: u64,
    /// What the manager wrote, opaque to the store. It holds tokens: never
    /// log it.
    pub value: String,
}

impl Entry {
    /// An entry read back from a store.
    pub fn new(version: u64, value: String) -> Self {
        Self { version, value }
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A store the blocking [`TokenManager`](crate::TokenManager) keeps tokens
/// in; see the [module documentation](self) for how it is used. Every
/// method is one atomic step of the store.
pub trait TokenStore: Send + Sync {
    /// The entry under `key`, if there is one.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot be read.
    fn load(&self, key: &str) -> Result<Option<Entry>, StoreError>;

    /// Writes `value` as version `version` if the entry is at version
    /// `expected` (0: there is none), as one atomic compare-and-set; whether
    /// it was written. The store keeps `version` as it is given.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot be written.
    fn replace(
        &self,
        key: &str,
        expected: u64,
        version: u64,
        value: &str,
    ) -> Result<bool, StoreError>;

    /// Deletes the entry under `key`, if there is one, whatever its
    /// version: at sign-out, so that the store keeps no tokens of it. Every
    /// manager holding the sign-in answers
    /// [`Error::SignedOut`](crate::Error::SignedOut) at its next read of the
    /// store (when its access token is due: a fresh one held in a process
    /// is still handed out until then, so revoke the refresh token with
    /// `Client::revoke` too), and tokens a manager refreshed meanwhile end
    /// with the sign-in; a sign-in written under the key later is a new
    /// one, which none of them writes over.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot be written.
    fn remove(&self, key: &str) -> Result<(), StoreError>;

    /// Takes the refresh lease of `key` for `owner`, for `lease`, if nobody
    /// holds it; whether it was taken.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot be reached.
    fn try_lease(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError>;

    /// Gives the lease of `key` back, if `owner` still holds it.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot be reached (the lease then
    /// runs out on its own).
    fn release(&self, key: &str, owner: &str) -> Result<(), StoreError>;
}

/// [`TokenStore`] for the async [`TokenManager`](crate::TokenManager): the
/// same four steps, as futures.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub trait AsyncTokenStore: Send + Sync {
    /// As [`TokenStore::load`].
    ///
    /// # Errors
    ///
    /// As [`TokenStore::load`].
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Entry>, StoreError>>;

    /// As [`TokenStore::replace`].
    ///
    /// # Errors
    ///
    /// As [`TokenStore::replace`].
    fn replace<'a>(
        &'a self,
        key: &'a str,
        expected: u64,
        version: u64,
        value: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// As [`TokenStore::remove`].
    ///
    /// # Errors
    ///
    /// As [`TokenStore::remove`].
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// As [`TokenStore::try_lease`].
    ///
    /// # Errors
    ///
    /// As [`TokenStore::try_lease`].
    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// As [`TokenStore::release`].
    ///
    /// # Errors
    ///
    /// As [`TokenStore::release`].
    fn release<'a>(&'a self, key: &'a str, owner: &'a str)
    -> BoxFuture<'a, Result<(), StoreError>>;
}

/// `wait` after `now`, or as far as an `Instant` reaches: a lease or a wait
/// set from a configured timeout may be any length.
pub(crate) fn after(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(u32::MAX.into()))
}

/// A store in this process's memory: for one process, or for tests. It is
/// both a [`TokenStore`] and (feature `async`) an `AsyncTokenStore`.
///
/// # Expiry
///
/// [`MemoryStore::new`] keeps every entry until it is
/// [removed](TokenStore::remove): [`TokenManager::new`] holds its tokens in
/// a store of its own made so, which never expires them. A store that
/// holds the sign-ins of a web app's sessions lets those of signed-out and
/// abandoned sessions go with two limits, each off unless set:
///
/// - [`idle_timeout`](Self::idle_timeout): an entry not read
///   ([`load`](TokenStore::load)) or written ([`replace`](TokenStore::replace))
///   for that long is gone;
/// - [`max_lifetime`](Self::max_lifetime): an entry is gone that long after
///   its sign-in was written (a write from no entry, `expected` 0), however
///   often it was read or refreshed since.
///
/// A gone entry is as a removed one: `load` answers `None`, a `replace`
/// expecting its version fails, one expecting 0 writes a new sign-in, and
/// a [`TokenManager`] holding it answers
/// [`Error::SignedOut`](crate::Error::SignedOut) when it next reads the
/// store (the user signs in again).
///
/// Choose the limits of the app's session layer: its inactivity expiry as
/// the idle timeout, its absolute one (if any) as the lifetime, so that a
/// sign-in goes with its session and not before it. A manager reads the
/// store when [`TokenManager::from_store`] builds it (in a web app, at each
/// request) and when its access token is due, not at every call: a manager
/// kept across requests reads it at least once per access-token lifetime,
/// which the idle timeout must then exceed.
///
/// Memory stays bounded by the entries alive: at most once a minute, a
/// call sweeps out the expired entries (and the leases that ran out, of
/// removed entries) whose keys nobody asks for again, and the map gives its
/// memory back once mostly empty. An entry costs its key and its value
/// plus 150 to 300 bytes (its share of the map, between 7/16 and 7/8 full,
/// and the allocator's headers): a sign-in of Verys's (the JSON of
/// [`StoredTokens`](crate::StoredTokens), about 1.4 KB), about 1.6 KB in
/// all. 100,000 sign-ins then signed out leave an empty map of a few dozen
/// slots; the process's allocator keeps the freed memory for its next
/// allocations.
///
/// ```
/// use std::time::Duration;
/// use verys_client::store::MemoryStore;
///
/// // As a session layer whose sessions end after 30 minutes of
/// // inactivity, and 12 hours after sign-in at the latest.
/// let store = MemoryStore::new()
///     .idle_timeout(Duration::from_secs(30 * 60))
///     .max_lifetime(Duration::from_secs(12 * 60 * 60));
/// # let _ = store;
/// ```
///
/// [`TokenManager`]: crate::TokenManager
/// [`TokenManager::new`]: crate::TokenManager::new
/// [`TokenManager::from_store`]: crate::TokenManager::from_store
#[derive(Debug)]
pub struct MemoryStore {
    slots: Mutex<Slots>,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    /// Its [monotonic](Clock::monotonic) time is the store's.
    clock: Arc<dyn Clock>,
}

/// How often at most a call sweeps the whole map for expired entries.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A map of at most this capacity is not shrunk: too small to matter.
const SHRINK_ABOVE: usize = 32;

#[derive(Debug, Default)]
struct Slots {
    map: HashMap<String, Slot>,
    /// When the next sweep is due.
    next_sweep: Duration,
}

struct Slot {
    entry: Option<Stored>,
    /// Its owner, and until when it is held.
    lease: Option<(String, Duration)>,
}

struct Stored {
    entry: Entry,
    /// When the sign-in was written (from no entry).
    created: Duration,
    /// When it was last read or written.
    touched: Duration,
}

impl Slot {
    fn leased(&self, now: Duration) -> bool {
        self.lease.as_ref().is_some_and(|(_, until)| *until > now)
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("entry", &self.entry.as_ref().map(|stored| &stored.entry))
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store that keeps its entries until they are removed, as
    /// [`TokenManager::new`](crate::TokenManager::new)'s own; see
    /// [Expiry](Self#expiry) for the limits a shared one takes.
    pub fn new() -> Self {
        Self {
            slots: Mutex::default(),
            idle_timeout: None,
            max_lifetime: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Entries not read or written for `timeout` expire: choose the
    /// inactivity expiry of the app's sessions, longer than an access
    /// token's lifetime (see [Expiry](Self#expiry)).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Entries expire `lifetime` after their sign-in was written, whatever
    /// reads and refreshes came since: choose the absolute expiry of the
    /// app's sessions (see [Expiry](Self#expiry)).
    #[must_use]
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime);
        self
    }

    /// The store on `clock`'s monotonic time instead of [`Instant`]'s: the
    /// tests move it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The map, swept if a sweep is due, and the time now.
    fn lock(&self) -> (MutexGuard<'_, Slots>, Duration) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.monotonic();
        if now >= slots.next_sweep {
            slots.next_sweep = now.saturating_add(SWEEP_EVERY);
            self.sweep(&mut slots.map, now);
        }
        (slots, now)
    }

    fn expired(&self, stored: &Stored, now: Duration) -> bool {
        let past = |since: Duration, limit: Option<Duration>| {
            limit.is_some_and(|limit| now.saturating_sub(since) >= limit)
        };
        past(stored.touched, self.idle_timeout) || past(stored.created, self.max_lifetime)
    }

    /// Drops every expired entry, and every slot with neither an entry nor
    /// a lease held.
    fn sweep(&self, map: &mut HashMap<String, Slot>, now: Duration) {
        map.retain(|_, slot| {
            if slot
                .entry
                .as_ref()
                .is_some_and(|stored| self.expired(stored, now))
            {
                slot.entry = None;
            }
            slot.entry.is_some() || slot.leased(now)
        });
        shrink(map);
    }

    /// Drops the entry under `key` if it expired, and its slot with it
    /// unless a lease is held.
    fn expire(&self, map: &mut HashMap<String, Slot>, key: &str, now: Duration) {
        if let Some(slot) = map.get_mut(key)
            && slot
                .entry
                .as_ref()
                .is_some_and(|stored| self.expired(stored, now))
        {
            slot.entry = None;
            drop_if_empty(map, key, now);
        }
    }
}

/// Drops the slot of `key` if it has neither an entry nor a lease held.
fn drop_if_empty(map: &mut HashMap<String, Slot>, key: &str, now: Duration) {
    if map
        .get(key)
        .is_some_and(|slot| slot.entry.is_none() && !slot.leased(now))
    {
        map.remove(key);
        shrink(map);
    }
}

/// Gives memory back once the map is less than a quarter full, keeping
/// room for twice what it holds: the capacity at least halves between two
/// shrinks, so their cost is amortized over the removals.
fn shrink(map: &mut HashMap<String, Slot>) {
    if map.capacity() > SHRINK_ABOVE && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

impl TokenStore for MemoryStore {
    fn load(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        let (mut slots, now) = self.lock();
        self.expire(&mut slots.map, key, now);
        Ok(slots
            .map
            .get_mut(key)
            .and_then(|slot| slot.entry.as_mut())
            .map(|stored| {
                stored.touched = now;
                stored.entry.clone()
            }))
    }

    fn replace(
        &self,
        key: &str,
        expected: u64,
        version: u64,
        value: &str,
    ) -> Result<bool, StoreError> {
        let (mut slots, now) = self.lock();
        let map = &mut slots.map;
        self.expire(map, key, now);
        let slot = map.get_mut(key);
        let stored = slot.as_ref().and_then(|slot| slot.entry.as_ref());
        if stored.map_or(0, |stored| stored.entry.version) != expected {
            return Ok(false);
        }
        let entry = Entry::new(version, value.to_owned());
        match slot {
            Some(Slot {
                entry: Some(stored),
                ..
            }) => {
                stored.entry = entry;
                stored.touched = now;
            }
            Some(slot) => slot.entry = Some(Stored::new(entry, now)),
            None => {
                let slot = Slot {
                    entry: Some(Stored::new(entry, now)),
                    lease: None,
                };
                map.insert(key.to_owned(), slot);
            }
        }
        Ok(true)
    }

    fn remove(&self, key: &str) -> Result<(), StoreError> {
        let (mut slots, now) = self.lock();
        if let Some(slot) = slots.map.get_mut(key) {
            slot.entry = None;
            // A lease in flight stays until it is given back or runs out.
            drop_if_empty(&mut slots.map, key, now);
        }
        Ok(())
    }

    fn try_lease(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let (mut slots, now) = self.lock();
        let until = now.saturating_add(lease);
        match slots.map.get_mut(key) {
            Some(slot) if slot.leased(now) => Ok(false),
            Some(slot) => {
                slot.lease = Some((owner.to_owned(), until));
                Ok(true)
            }
            None => {
                let slot = Slot {
                    entry: None,
                    lease: Some((owner.to_owned(), until)),
                };
                slots.map.insert(key.to_owned(), slot);
                Ok(true)
            }
        }
    }

    fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let (mut slots, now) = self.lock();
        if let Some(slot) = slots.map.get_mut(key)
            && slot
                .lease
                .as_ref()
                .is_some_and(|(holder, _)| holder == owner)
        {
            slot.lease = None;
            drop_if_empty(&mut slots.map, key, now);
        }
        Ok(())
    }
}

impl Stored {
    fn new(entry: Entry, now: Duration) -> Self {
        Self {
            entry,
            created: now,
            touched: now,
        }
    }
}

#[cfg(feature = "async")]
impl AsyncTokenStore for MemoryStore {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(std::future::ready(TokenStore::load(self, key)))
    }

    fn replace<'a>(
        &'a self,
        key: &'a str,
        expected: u64,
        version: u64,
        value: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(TokenStore::replace(
            self, key, expected, version, value,
        )))
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(TokenStore::remove(self, key)))
    }

    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(TokenStore::try_lease(
            self, key, owner, lease,
        )))
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(TokenStore::release(self, key, owner)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;

    /// A store with these limits (in seconds) on a clock the test moves.
    fn store(idle: Option<u64>, lifetime: Option<u64>) -> (MemoryStore, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_714_564_800));
        let mut store = MemoryStore::new().with_clock(clock.clone());
        if let Some(idle) = idle {
            store = store.idle_timeout(Duration::from_secs(idle));
        }
        if let Some(lifetime) = lifetime {
            store = store.max_lifetime(Duration::from_secs(lifetime));
        }
        (store, clock)
    }

    fn load(store: &MemoryStore, key: &str) -> Option<u64> {
        TokenStore::load(store, key)
            .unwrap()
            .map(|entry| entry.version)
    }

    fn write(store: &MemoryStore, key: &str, expected: u64, version: u64) -> bool {
        TokenStore::replace(store, key, expected, version, "tokens").unwrap()
    }

    /// Slots in the map, and its capacity.
    fn footprint(store: &MemoryStore) -> (usize, usize) {
        let slots = store.slots.lock().unwrap();
        (slots.map.len(), slots.map.capacity())
    }

    #[test]
    fn an_entry_not_read_or_written_for_the_idle_timeout_is_gone() {
        let (store, clock) = store(Some(30 * MINUTE), None);
        assert!(write(&store, "s", 0, 7));
        clock.advance(30 * MINUTE - 1);
        assert_eq!(load(&store, "s"), Some(7), "gone before the idle timeout");
        // The read kept it: another idle timeout from there, less a second.
        clock.advance(30 * MINUTE - 1);
        assert!(write(&store, "s", 7, 8), "gone though it was read");
        clock.advance(30 * MINUTE - 1);
        assert_eq!(load(&store, "s"), Some(8), "gone though it was written");
        // A call for another key sweeps a second before the limit: the
        // entry itself is found expired at it, with no sweep due.
        clock.advance(30 * MINUTE - 1);
        assert_eq!(load(&store, "other"), None);
        assert_eq!(footprint(&store).0, 1);
        clock.advance(1);
        assert_eq!(load(&store, "s"), None, "kept at the idle timeout");
        assert_eq!(footprint(&store).0, 0, "the expired entry kept its slot");
        assert!(
            !write(&store, "s", 8, 9),
            "an expired entry was written over"
        );
    }

    #[test]
    fn an_entry_is_gone_at_its_lifetime_however_often_it_was_used() {
        let (store, clock) = store(Some(30 * MINUTE), Some(12 * HOUR));
        assert!(write(&store, "s", 0, 1));
        let mut version = 1;
        // Read and refreshed every 20 minutes, for 12 hours less a second.
        for _ in 0..(12 * 3 - 1) {
            clock.advance(20 * MINUTE);
            assert_eq!(load(&store, "s"), Some(version));
            assert!(write(&store, "s", version, version + 1));
            version += 1;
        }
        clock.advance(20 * MINUTE - 1);
        assert_eq!(load(&store, "s"), Some(version), "gone before its lifetime");
        clock.advance(1);
        assert_eq!(load(&store, "s"), None, "kept past its lifetime");
    }

    #[test]
    fn a_write_expecting_an_expired_entry_fails_and_a_new_sign_in_is_written() {
        let (store, clock) = store(None, Some(HOUR));
        assert!(write(&store, "s", 0, 41));
        // A sweep a second before the lifetime; at it, no read first: the
        // write itself finds the entry expired.
        clock.advance(HOUR - 1);
        assert_eq!(load(&store, "other"), None);
        clock.advance(1);
        assert!(
            !write(&store, "s", 41, 42),
            "an expired entry was refreshed"
        );
        assert!(write(&store, "s", 0, 900), "a new sign-in was refused");
        // The new sign-in has a lifetime of its own, from its write.
        clock.advance(HOUR - 1);
        assert_eq!(load(&store, "s"), Some(900));
        clock.advance(1);
        assert_eq!(load(&store, "s"), None);
    }

    #[test]
    fn a_store_without_limits_never_expires() {
        let (store, clock) = store(None, None);
        assert!(write(&store, "tokens", 0, 1));
        TokenStore::try_lease(&store, "other", "a", Duration::from_secs(1)).unwrap();
        for _ in 0..100 {
            clock.advance(365 * 24 * HOUR);
            // Sweeps run: each call after a minute.
            TokenStore::remove(&store, "none").unwrap();
        }
        assert_eq!(load(&store, "tokens"), Some(1));
        assert!(write(&store, "tokens", 1, 2));
        assert_eq!(footprint(&store).0, 1, "the run-out lease kept its slot");
    }

    #[test]
    fn a_sweep_drops_the_expired_entries_of_keys_never_asked_for_again() {
        let (store, clock) = store(Some(30 * MINUTE), None);
        for key in 0..1_000 {
            assert!(write(&store, &format!("abandoned-{key}"), 0, 1));
        }
        // Leases of removed entries, never given back.
        for key in 0..10 {
            let key = format!("leased-{key}");
            assert!(write(&store, &key, 0, 1));
            assert!(TokenStore::try_lease(&store, &key, "gone", Duration::from_secs(30)).unwrap());
            TokenStore::remove(&store, &key).unwrap();
        }
        assert_eq!(footprint(&store).0, 1_010);
        clock.advance(30 * MINUTE);
        // A minute has passed since the last sweep: this write sweeps.
        assert!(write(&store, "kept", 0, 1));
        let (len, capacity) = footprint(&store);
        assert_eq!(len, 1, "the abandoned entries and leases are still there");
        assert!(
            capacity <= SHRINK_ABOVE,
            "capacity {capacity} after the sweep"
        );

        // At most once a minute: an entry expired since is dropped by the
        // next sweep, not by every call.
        clock.advance(30 * MINUTE - 1);
        assert!(write(&store, "newer", 0, 1));
        clock.advance(1);
        assert_eq!(footprint(&store).0, 2);
        assert_eq!(load(&store, "newer"), Some(1));
        assert_eq!(
            footprint(&store).0,
            2,
            "a sweep ran within a minute of the last"
        );
        clock.advance(30 * MINUTE);
        assert_eq!(load(&store, "newer"), None);
        assert_eq!(footprint(&store).0, 0);
    }

    /// What a manager stores for one sign-in, shaped as Verys's tokens are
    /// (EdDSA-signed ID and access tokens with every claim of
    /// `openid profile email` and roles, a 256-bit opaque refresh token):
    /// `n` makes each one's subject, nonce and tokens its own.
    fn stored_sign_in(n: u64) -> String {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use serde_json::json;

        let encode = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let jwt = |claims: serde_json::Value| {
            let header = r#"{"alg":"EdDSA","typ":"JWT","kid":"2024-05-01-k7Qm"}"#;
            let signature = [n.to_le_bytes(); 8].concat();
            format!(
                "{}.{}.{}",
                encode(header.as_bytes()),
                encode(claims.to_string().as_bytes()),
                encode(&signature)
            )
        };
        let issuer = "https://id.verys.example";
        let sub = format!("6f1c2a9e-0b3d-4e7f-9a21-{n:012x}");
        let nonce = encode(&[n.to_be_bytes(); 4].concat());
        let now = 1_714_564_800_u64 + n;
        let roles = ["customer", "beta-tester"];
        let access_token = jwt(json!({
            "iss": issuer, "sub": sub, "aud": "https://api.shop.example",
            "roles": roles, "iat": now, "exp": now + 300,
            "scopes": ["openid", "profile", "email"],
        }));
        let id_token = jwt(json!({
            "iss": issuer, "sub": sub, "aud": "shop-web", "exp": now + 300,
            "iat": now, "auth_time": now - 12, "nonce": nonce,
            "at_hash": encode(&n.to_be_bytes().repeat(2)),
            "email": "ada.lovelace@example.com", "email_verified": true,
            "given_name": "Ada", "family_name": "Lovelace", "name": "Ada Lovelace",
            "origination": "verys", "roles": roles,
        }));
        json!({"tokens": {
            "id_token": id_token, "access_token": access_token,
            "expires_at": now + 300, "lifetime": 300,
            "refresh_token": encode(&[n.to_le_bytes(); 4].concat()),
            "scopes": ["openid", "profile", "email"], "nonce": nonce,
        }})
        .to_string()
    }

    /// A session key of the length a session layer's makes (22 characters:
    /// 128 bits in base64).
    fn session_key(n: u64) -> String {
        format!("{n:022}")
    }

    /// The bytes one stored sign-in costs, from the layout: its key's and
    /// value's heap bytes, and its share of the map, at the map's fullest
    /// (7/8) and emptiest (7/16, just after it grew) load.
    #[test]
    fn a_stored_sign_in_costs_its_key_value_and_a_slot() {
        let value = stored_sign_in(1);
        let key = session_key(1);
        let session: coordination::Session = serde_json::from_str(&value).unwrap();
        assert!(matches!(session, coordination::Session::Tokens(_)));
        // A bucket: the key's and slot's inline parts, and a control byte.
        let bucket = std::mem::size_of::<(String, Slot)>() + 1;
        let (full, emptiest) = (bucket * 8 / 7, bucket * 16 / 7);
        let heap = key.len() + value.len();
        println!(
            "one stored sign-in: value {} B, key {} B, bucket {bucket} B: \
             {} to {} B",
            value.len(),
            key.len(),
            heap + full,
            heap + emptiest
        );
        assert!((1_000..=2_000).contains(&value.len()), "{}", value.len());
        // The figure the documentation gives: about 150 bytes besides key
        // and value.
        assert!(full <= 160, "{full}");
    }

    #[test]
    fn a_hundred_thousand_sign_ins_and_sign_outs_give_the_memory_back() {
        const SIGN_INS: u64 = 100_000;
        let (store, clock) = store(Some(30 * MINUTE), Some(12 * HOUR));
        // The store copies the value: one serves every sign-in.
        let value = stored_sign_in(1);
        // Signed out.
        for n in 0..SIGN_INS {
            assert!(TokenStore::replace(&store, &session_key(n), 0, n + 1, &value).unwrap());
        }
        let (len, peak) = footprint(&store);
        assert_eq!(len, 100_000);
        for n in 0..SIGN_INS {
            TokenStore::remove(&store, &session_key(n)).unwrap();
        }
        let (len, capacity) = footprint(&store);
        println!(
            "100,000 sign-ins: capacity {peak}; signed out: {len} entries, capacity {capacity}"
        );
        assert_eq!(len, 0);
        assert!(
            capacity <= SHRINK_ABOVE,
            "capacity {capacity} after the sign-outs"
        );

        // Abandoned: their sessions expire, their keys are never used again.
        for n in SIGN_INS..2 * SIGN_INS {
            assert!(TokenStore::replace(&store, &session_key(n), 0, n + 1, &value).unwrap());
        }
        clock.advance(30 * MINUTE);
        assert!(write(&store, "another", 0, 1));
        let (len, capacity) = footprint(&store);
        println!("100,000 abandoned, then a write: {len} entries, capacity {capacity}");
        assert_eq!(len, 1);
        assert!(
            capacity <= SHRINK_ABOVE,
            "capacity {capacity} after the sweep"
        );
    }

    /// The process's resident memory, in bytes.
    fn resident() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    /// By hand, alone: `cargo test --all-features --lib resident_memory --
    /// --ignored --nocapture`.
    #[test]
    #[ignore = "measures the process's memory: run alone, by hand"]
    fn resident_memory_of_a_hundred_thousand_sign_ins() {
        let store = MemoryStore::new().idle_timeout(Duration::from_secs(1800));
        let values: Vec<String> = (0..100_000).map(stored_sign_in).collect();
        let keys: Vec<String> = (0..100_000).map(session_key).collect();
        let before = resident();
        let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
        // Twice: the allocator keeps what the first round freed, and the
        // second reuses it.
        for round in 1..=2 {
            for (n, (key, value)) in (1..).zip(keys.iter().zip(&values)) {
                TokenStore::replace(&store, key, 0, n, value).unwrap();
            }
            let peak = resident();
            for key in &keys {
                TokenStore::remove(&store, key).unwrap();
            }
            let after = resident();
            println!(
                "round {round}: resident before {:.1} MiB, 100,000 sign-ins {:.1} MiB \
                 (+{:.0} B each), signed out {:.1} MiB; capacity {}",
                mib(before),
                mib(peak),
                (peak - before) as f64 / 100_000.0,
                mib(after),
                footprint(&store).1
            );
        }
    }

    /// A lease of any length, the longest included, is held until it is
    /// given back.
    #[test]
    fn a_lease_of_any_length_is_held() {
        let store = MemoryStore::new();
        for (key, lease) in [("a", Duration::from_secs(60)), ("b", Duration::MAX)] {
            assert_eq!(TokenStore::try_lease(&store, key, "first", lease), Ok(true));
            assert_eq!(
                TokenStore::try_lease(&store, key, "second", lease),
                Ok(false)
            );
            TokenStore::release(&store, key, "first").unwrap();
            assert_eq!(
                TokenStore::try_lease(&store, key, "second", lease),
                Ok(true)
            );
        }
        let now = Instant::now();
        assert!(after(now, Duration::MAX) > now + Duration::from_secs(86_400 * 365));
    }
}
