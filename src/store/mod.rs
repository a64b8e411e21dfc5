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
//! uses one of its own. A store of your own implements [`TokenStore`] (and
//! `AsyncTokenStore` for the async client); with the `testing` feature,
//! `testing::check_token_store` checks in its tests that it keeps the
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
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

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
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Slot>>,
}

#[derive(Default)]
struct Slot {
    entry: Option<Entry>,
    lease: Option<(String, Instant)>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_slot<T>(&self, key: &str, f: impl FnOnce(&mut Slot) -> T) -> T {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        f(entries.entry(key.to_owned()).or_default())
    }
}

impl TokenStore for MemoryStore {
    fn load(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        Ok(self.with_slot(key, |slot| slot.entry.clone()))
    }

    fn replace(
        &self,
        key: &str,
        expected: u64,
        version: u64,
        value: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with_slot(key, |slot| {
            let current = slot.entry.as_ref().map_or(0, |entry| entry.version) == expected;
            if current {
                slot.entry = Some(Entry::new(version, value.to_owned()));
            }
            current
        }))
    }

    fn remove(&self, key: &str) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = entries.get_mut(key) {
            slot.entry = None;
            // A lease in flight stays until it is given back or runs out.
            if slot.lease.is_none() {
                entries.remove(key);
            }
        }
        Ok(())
    }

    fn try_lease(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self.with_slot(key, |slot| {
            let free = slot.lease.as_ref().is_none_or(|(_, until)| *until <= now);
            if free {
                slot.lease = Some((owner.to_owned(), after(now, lease)));
            }
            free
        }))
    }

    fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.with_slot(key, |slot| {
            if slot
                .lease
                .as_ref()
                .is_some_and(|(holder, _)| holder == owner)
            {
                slot.lease = None;
            }
        });
        Ok(())
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

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_keeps_the_promises_of_a_store() {
        crate::testing::check_token_store(&MemoryStore::new());
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
