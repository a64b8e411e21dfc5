//! [`RedisStore`]: the token store shared by every replica of a service, on
//! Redis (feature `redis`, the maintained `redis` crate).
//!
//! Per session key it keeps a hash `{prefix}:entry:{key}` with the entry's
//! `version` and `value` (the stored sign-in: tokens in clear), and the
//! refresh lease `{prefix}:lease:{key}`, whose value names its holder and
//! which Redis expires by itself. A write is a Lua script that compares the
//! version and writes in one step, a read one that reads no value longer
//! than a sign-in can be; a lease is `SET … NX PX`, and giving it back is a
//! script that deletes it only for its holder.
//!
//! # Operating it
//!
//! - **Protect it as the session store**: the values are bearer tokens.
//!   Connect with TLS (`rediss://…`, with the public roots or the system's),
//!   give the service a Redis user of its own (`redis://user:password@…`,
//!   ACLs allowing `EVAL`/`EVALSHA` and, inside the scripts or directly,
//!   `HGET`, `HMGET`, `HSTRLEN`, `HSET`, `PEXPIRE`, `SET`, `GET`,
//!   `DEL` on the prefix), and never log the values. A value longer than
//!   64 KiB is not read (a `Corrupt` store error): a stored sign-in is a few
//!   KiB.
//! - **The lease** must outlast a refresh (a restore, the token request and
//!   a JWKS fetch: the default is three times the client's HTTP timeout and
//!   5 s); a shorter one lets a second replica refresh while the first is
//!   under way, and the rotation that succeeded is then kept whichever write
//!   lands first. Longer leases only delay the takeover after a replica died
//!   holding one.
//! - **A failover** that loses recent writes (Redis replication is
//!   asynchronous) can bring back tokens whose refresh token was already
//!   rotated: their refresh then fails with `invalid_grant`, and the sign-in
//!   ends. A lost lease only lets two replicas refresh at once, the second
//!   then reading the first one's tokens back. Entries kept across a restart
//!   need persistence (`appendonly yes`).
//! - **Expiry**: entries live until replaced, unless
//!   [`entry_ttl`](RedisStore::entry_ttl) gives them the session's
//!   lifetime.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::{Connection, RedisError, Script};

use super::{Entry, TokenStore};
use crate::error::{Error, StoreError, StoreErrorKind};

/// Writes ARGV[3] as version ARGV[2] if the entry is at version ARGV[1]
/// (0: absent), with an expiry of ARGV[4] ms (0: none). The versions stay
/// the strings they came as: Lua's numbers are doubles, which would write a
/// version past 10^14 as `1e+14` and lose the last digits past 2^53.
const REPLACE: &str = r"
local current = redis.call('HGET', KEYS[1], 'version')
if (current == false and ARGV[1] == '0') or current == ARGV[1] then
  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'value', ARGV[3])
  if ARGV[4] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
  return 1
end
return 0
";

/// Reads the version and the value of KEYS[1], but not a value longer than
/// ARGV[1] bytes: then the version, nothing, and 1.
const LOAD: &str = r"
if redis.call('HSTRLEN', KEYS[1], 'value') > tonumber(ARGV[1]) then
  return {redis.call('HGET', KEYS[1], 'version'), false, 1}
end
local read = redis.call('HMGET', KEYS[1], 'version', 'value')
return {read[1], read[2], 0}
";

/// The longest value a load reads: a stored sign-in is a few KiB, and
/// whoever can write the store must not make every replica read megabytes.
const MAX_VALUE: usize = 64 * 1024;

/// The longest expiry sent to Redis, in milliseconds (about 285,000
/// years): Redis refuses one whose deadline, added to its clock, would pass
/// 2^63 ms, and a lease or entry lifetime set from a configured timeout may
/// be any length, `Duration::MAX` included.
const LONGEST_EXPIRY_MS: u128 = 1 << 53;

/// `duration` in whole milliseconds as Redis takes an expiry: at least 1
/// (0 is refused) and at most [`LONGEST_EXPIRY_MS`].
fn expiry_ms(duration: Duration) -> String {
    duration.as_millis().clamp(1, LONGEST_EXPIRY_MS).to_string()
}

/// Deletes the lease KEYS[1] if ARGV[1] holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// A [`TokenStore`] (and, with the `async` feature, an
/// [`AsyncTokenStore`](super::AsyncTokenStore)) on Redis. See the
/// [module documentation](self) for what it keeps and how to run it.
///
/// ```no_run
/// # fn demo(client: verys_client::Client<verys_client::Confidential>, tokens: verys_client::Tokens)
/// # -> Result<(), verys_client::Error> {
/// use std::sync::Arc;
/// use verys_client::TokenManager;
/// use verys_client::store::redis::RedisStore;
///
/// let store = Arc::new(RedisStore::open("rediss://app:secret@redis.internal:6380/0")?);
/// // After the sign-in, on the replica that received the callback:
/// let manager = TokenManager::with_store(client.clone(), store.clone(), "session-42", tokens)?;
/// // On any replica, for a later request of that session:
/// let manager = TokenManager::from_store(client, store, "session-42")?;
/// let access_token = manager.access_token()?;
/// # let _ = access_token; Ok(()) }
/// ```
pub struct RedisStore {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    entry_ttl: Option<Duration>,
    load: Script,
    replace: Script,
    release: Script,
    connection: Mutex<Option<Connection>>,
    #[cfg(feature = "async")]
    manager: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
}

impl RedisStore {
    /// A store on the Redis at `url`: `redis://[user:password@]host[:port][/db]`,
    /// or `rediss://` for TLS. Nothing is sent before the first use.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL the `redis` crate cannot read (the message
    /// does not repeat it: it may hold a password).
    pub fn open(url: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url).map_err(|_| {
            Error::Config("the redis url is not a redis:// or rediss:// url".into())
        })?;
        Ok(Self {
            client,
            prefix: "verys".to_owned(),
            timeout: Duration::from_secs(2),
            entry_ttl: None,
            load: Script::new(LOAD),
            replace: Script::new(REPLACE),
            release: Script::new(RELEASE),
            connection: Mutex::new(None),
            #[cfg(feature = "async")]
            manager: tokio::sync::OnceCell::new(),
        })
    }

    /// The prefix of every key the store writes. Default: `verys`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long connecting, and each command, may take before the caller
    /// gets an [`Error::Store`] of kind `Timeout`. Default: 2 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Entries expire this long after their last write; default: never.
    pub fn entry_ttl(mut self, ttl: Duration) -> Self {
        self.entry_ttl = Some(ttl);
        self
    }

    fn entry_key(&self, key: &str) -> String {
        format!("{}:entry:{key}", self.prefix)
    }

    fn lease_key(&self, key: &str) -> String {
        // Entries and leases in namespaces of their own: no session key's
        // entry can be another's lease, whatever the keys hold.
        format!("{}:lease:{key}", self.prefix)
    }

    /// The entries' lifetime as [`REPLACE`] takes it: 0 for none.
    fn ttl_ms(&self) -> String {
        self.entry_ttl.map_or_else(|| "0".to_owned(), expiry_ms)
    }

    /// Runs `command` on the blocking connection, connecting first if there
    /// is none; a connection that failed is dropped, to connect again next
    /// time.
    fn with_connection<T>(
        &self,
        command: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            let connection = self
                .client
                .get_connection_with_timeout(self.timeout)
                .map_err(store_error)?;
            connection
                .set_read_timeout(Some(self.timeout))
                .and_then(|()| connection.set_write_timeout(Some(self.timeout)))
                .map_err(store_error)?;
            *slot = Some(connection);
        }
        let Some(connection) = slot.as_mut() else {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "no connection",
            ));
        };
        command(connection).map_err(|error| {
            if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() {
                *slot = None;
            }
            store_error(error)
        })
    }
}

/// The store error of a Redis error. Redis's messages name the command's
/// failure, never its arguments.
fn store_error(error: RedisError) -> StoreError {
    let kind = if error.is_timeout() {
        StoreErrorKind::Timeout
    } else {
        StoreErrorKind::Unavailable
    };
    StoreError::new(kind, error.to_string())
}

/// What [`LOAD`] answers: the version, the value, and whether the value was
/// too long to read.
type Read = (Option<String>, Option<String>, i64);

/// An entry from what [`LOAD`] answered.
fn entry((version, value, too_long): Read) -> Result<Option<Entry>, StoreError> {
    let corrupt = |message| Err(StoreError::new(StoreErrorKind::Corrupt, message));
    if too_long != 0 {
        return corrupt("the entry's value is longer than a stored sign-in");
    }
    match (version, value) {
        // Only the spelling the store writes: `07` or `+7` would read as 7
        // while the compare-and-set, which compares the text, never matches
        // it, and every write would fail.
        (Some(version), Some(value)) => match version.parse::<u64>() {
            Ok(number) if number.to_string() == version => Ok(Some(Entry::new(number, value))),
            _ => corrupt("the entry's version is not a number as the store writes it"),
        },
        (None, None) => Ok(None),
        _ => corrupt("the entry lacks its version or its value"),
    }
}

impl TokenStore for RedisStore {
    fn load(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        let read = self.with_connection(|connection| {
            self.load
                .key(self.entry_key(key))
                .arg(MAX_VALUE)
                .invoke(connection)
        })?;
        entry(read)
    }

    fn replace(
        &self,
        key: &str,
        expected: u64,
        version: u64,
        value: &str,
    ) -> Result<bool, StoreError> {
        self.with_connection(|connection| {
            self.replace
                .key(self.entry_key(key))
                .arg(expected)
                .arg(version)
                .arg(value)
                .arg(self.ttl_ms())
                .invoke::<i64>(connection)
        })
        .map(|written| written == 1)
    }

    fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.with_connection(|connection| {
            redis::cmd("DEL")
                .arg(self.entry_key(key))
                .query::<i64>(connection)
        })
        .map(drop)
    }

    fn try_lease(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let set: Option<String> = self.with_connection(|connection| {
            redis::cmd("SET")
                .arg(self.lease_key(key))
                .arg(owner)
                .arg("NX")
                .arg("PX")
                .arg(expiry_ms(lease))
                .query(connection)
        })?;
        Ok(set.is_some())
    }

    fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.with_connection(|connection| {
            self.release
                .key(self.lease_key(key))
                .arg(owner)
                .invoke::<i64>(connection)
        })
        .map(drop)
    }
}

#[cfg(feature = "async")]
mod nonblocking {
    use std::time::Duration;

    use redis::aio::{ConnectionManager, ConnectionManagerConfig};

    use super::{MAX_VALUE, RedisStore, entry, expiry_ms, store_error};
    use crate::error::StoreError;
    use crate::store::{AsyncTokenStore, Entry};
    use crate::transport::BoxFuture;

    impl RedisStore {
        /// The async connection: one multiplexed connection that reconnects
        /// by itself, made at first use.
        async fn manager(&self) -> Result<ConnectionManager, StoreError> {
            self.manager
                .get_or_try_init(|| async {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(self.timeout))
                        .set_response_timeout(Some(self.timeout))
                        .set_number_of_retries(1);
                    ConnectionManager::new_with_config(self.client.clone(), config).await
                })
                .await
                .cloned()
                .map_err(store_error)
        }
    }

    impl AsyncTokenStore for RedisStore {
        fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
            Box::pin(async move {
                let mut connection = self.manager().await?;
                let read = self
                    .load
                    .key(self.entry_key(key))
                    .arg(MAX_VALUE)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(store_error)?;
                entry(read)
            })
        }

        fn replace<'a>(
            &'a self,
            key: &'a str,
            expected: u64,
            version: u64,
            value: &'a str,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                let mut connection = self.manager().await?;
                let written: i64 = self
                    .replace
                    .key(self.entry_key(key))
                    .arg(expected)
                    .arg(version)
                    .arg(value)
                    .arg(self.ttl_ms())
                    .invoke_async(&mut connection)
                    .await
                    .map_err(store_error)?;
                Ok(written == 1)
            })
        }

        fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async move {
                let mut connection = self.manager().await?;
                redis::cmd("DEL")
                    .arg(self.entry_key(key))
                    .query_async::<i64>(&mut connection)
                    .await
                    .map(drop)
                    .map_err(store_error)
            })
        }

        fn try_lease<'a>(
            &'a self,
            key: &'a str,
            owner: &'a str,
            lease: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                let mut connection = self.manager().await?;
                let set: Option<String> = redis::cmd("SET")
                    .arg(self.lease_key(key))
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(expiry_ms(lease))
                    .query_async(&mut connection)
                    .await
                    .map_err(store_error)?;
                Ok(set.is_some())
            })
        }

        fn release<'a>(
            &'a self,
            key: &'a str,
            owner: &'a str,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async move {
                let mut connection = self.manager().await?;
                self.release
                    .key(self.lease_key(key))
                    .arg(owner)
                    .invoke_async::<i64>(&mut connection)
                    .await
                    .map(drop)
                    .map_err(store_error)
            })
        }
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection info may hold a password.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
