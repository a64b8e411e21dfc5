//! [`TokenManager`]: one user's tokens, kept fresh without racing itself.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::client::{Client, Transport};
use crate::error::Error;
use crate::flow::pkce::random_value;
use crate::flow::tokens::{AccessToken, RefreshToken, Tokens};
use crate::kind::ClientKind;
use crate::single_flight::Gate;
use crate::store::coordination::{
    Coordination, Fresh, NewSignIn, Session, Step, WriteStep, first_version, stored_sign_in,
};
use crate::store::{MemoryStore, TokenStore};
use crate::transport::Blocking;

/// Holds a user's [`Tokens`] and hands out an access token that is valid for
/// at least a margin, refreshing when needed.
///
/// Verys rotates refresh tokens, so two concurrent refreshes with the same
/// refresh token would revoke each other's result. When many threads (or
/// tasks) ask at once, exactly one refresh request goes out and the others
/// wait for its outcome. The rotated tokens are readable with
/// [`TokenManager::tokens`], to persist the newest refresh token.
///
/// A failed refresh is handed to every caller for the next five seconds
/// ([`retry_after`](Self::retry_after) sets the pause; measured on the clock's
/// [monotonic](crate::Clock::monotonic) time) instead of being retried by
/// each. One that
/// [requires a sign-in](Error::requires_sign_in) (Verys answered
/// `invalid_grant`: the refresh token is dead) is not retried: every later
/// call reads the store again, answers [`Error::SignedOut`] without a
/// request while it holds the ended sign-in, and takes up a new sign-in
/// written under the same key since.
///
/// The tokens live in a [store](crate::store): [`new`](Self::new) keeps
/// them in this process's memory, while [`with_store`](Self::with_store) and
/// [`from_store`](Self::from_store) (`with_store_async` and
/// `from_store_async` for the async client) share one sign-in with every
/// replica of a
/// service through a store such as Redis, so that one refresh goes out per
/// expiry however many processes ask. Either way a caller whose in-process
/// copy of the access token is fresh asks the store nothing.
///
/// [`on_refresh`](Self::on_refresh) runs after every refresh, to persist the
/// rotated refresh token; [`next_refresh_at`](Self::next_refresh_at) says
/// when the next one is due, for a task that refreshes ahead of the
/// requests:
///
/// ```no_run
/// # #[cfg(feature = "async")]
/// # async fn demo(
/// #     client: verys_client::AsyncClient<verys_client::Confidential>,
/// #     tokens: verys_client::Tokens,
/// # ) {
/// use std::sync::Arc;
/// use std::time::{Duration, SystemTime};
/// use verys_client::TokenManager;
///
/// let manager = Arc::new(TokenManager::new(client, tokens).on_refresh(|tokens| {
///     // Store `tokens.to_stored()` (the rotated refresh token) where the
///     // next process start will find it.
/// #   let _ = tokens;
/// }));
/// let background = Arc::clone(&manager);
/// tokio::spawn(async move {
///     loop {
///         let due = background.next_refresh_at().unwrap_or_else(SystemTime::now);
///         let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
///         tokio::time::sleep(wait).await;
///         match background.access_token().await {
///             Ok(_) => {}
///             // The user must sign in again: nothing left to keep fresh.
///             Err(error) if error.requires_sign_in() => break,
///             // Verys is unreachable for now; requests refresh on their own.
///             Err(_) => tokio::time::sleep(Duration::from_secs(10)).await,
///         }
///     }
/// });
/// // Requests take `manager.access_token().await`, fresh without a wait.
/// # }
/// ```
pub struct TokenManager<K: ClientKind, T: Transport = Blocking> {
    client: Client<K, T>,
    store: Arc<T::Store>,
    key: String,
    /// This manager's name in the store's leases.
    owner: String,
    lease: Duration,
    /// Set by [`TokenManager::wait`]; otherwise the lease and 5 s.
    wait: Option<Duration>,
    margin: Duration,
    retry_after: Duration,
    on_refresh: Option<OnRefresh>,
    /// Shared with the async manager's refresh task (see
    /// [`TokenManager::sharing`]).
    state: Arc<State>,
}

/// What a manager's callers share: the tokens, the last failure and the gate
/// one refresh at a time goes through.
struct State {
    /// The newest tokens this process knows, and their entry's version.
    current: RwLock<(Tokens, u64)>,
    /// What the ways through the store ended with.
    outcomes: Mutex<Outcomes>,
    gate: Gate,
}

impl State {
    /// The tokens held now, and their entry's version.
    fn held(&self) -> std::sync::RwLockReadGuard<'_, (Tokens, u64)> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn outcomes(&self) -> std::sync::MutexGuard<'_, Outcomes> {
        self.outcomes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the ways through the store ended with, for the callers after them.
#[derive(Default)]
struct Outcomes {
    /// The last failure, and when it happened on the clock's
    /// [monotonic](crate::Clock::monotonic) time.
    failure: Option<(Duration, Error)>,
    /// The version of the held tokens, once their sign-in ended (their
    /// refresh token refused for good): the store is not asked to refresh
    /// them again, even after another failure, until other tokens are held.
    ended: Option<u64>,
    /// How many ways through the store finished: a caller that waited at
    /// the gate while one finished takes its ended sign-in as it is, rather
    /// than each reading the store again.
    passes: u64,
}

/// The session key of a manager's own in-process store.
const MEMORY_KEY: &str = "tokens";

impl<K: ClientKind, T: Transport> TokenManager<K, T> {
    /// Holds `tokens` in this process's memory, refreshed through `client`
    /// when their access token expires within 30 seconds (see
    /// [`margin`](Self::margin)).
    pub fn new(client: Client<K, T>, tokens: Tokens) -> Self {
        let memory = MemoryStore::new();
        let value = Session::Tokens(tokens.to_stored()).to_value();
        // A new store of this manager's alone: the first write cannot lose.
        let _ = TokenStore::replace(&memory, MEMORY_KEY, 0, 1, &value);
        Self::holding(client, T::memory(Arc::new(memory)), MEMORY_KEY, tokens, 1)
    }

    fn holding(
        client: Client<K, T>,
        store: Arc<T::Store>,
        key: &str,
        tokens: Tokens,
        version: u64,
    ) -> Self {
        let owner = random_value(&*client.config.randomness, 16);
        // A lease outlives the longest refresh the client lets through:
        // restoring another replica's tokens, the token request and a JWKS
        // fetch for the new ID token, each up to the timeout.
        let lease = client
            .config
            .http
            .timeout
            .saturating_mul(3)
            .saturating_add(Duration::from_secs(5));
        Self {
            client,
            store,
            key: key.to_owned(),
            owner,
            lease,
            wait: None,
            margin: Duration::from_secs(30),
            retry_after: Duration::from_secs(5),
            on_refresh: None,
            state: Arc::new(State {
                current: RwLock::new((tokens, version)),
                outcomes: Mutex::new(Outcomes::default()),
                gate: Gate::default(),
            }),
        }
    }

    /// This manager as another handle on the same tokens, failure and gate:
    /// what the async manager's refresh task owns.
    #[cfg(feature = "async")]
    fn sharing(&self) -> Self {
        Self {
            client: self.client.clone(),
            store: Arc::clone(&self.store),
            key: self.key.clone(),
            owner: self.owner.clone(),
            lease: self.lease,
            wait: self.wait,
            margin: self.margin,
            retry_after: self.retry_after,
            on_refresh: self.on_refresh.clone(),
            state: Arc::clone(&self.state),
        }
    }

    /// How long a refresh lease lasts: longer than a refresh can take, or a
    /// second refresh may start while the first is under way (its
    /// `invalid_grant` then reads the first one's tokens back). Default:
    /// three times the client's timeout (a restore, the token request and a
    /// JWKS fetch) and 5 seconds.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a caller waits for a refresh another process holds the lease
    /// for, before an [`Error::Store`] of kind `Timeout`: longer than the
    /// lease, to take it over when its holder died. Default: the lease and 5
    /// seconds.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// How long a failed refresh that did not end the sign-in (Verys
    /// unavailable, the store down, a timeout, an invalid answer: any error
    /// but those that [require a sign-in](Error::requires_sign_in)) is handed
    /// to later callers instead of being tried again: each caller would
    /// otherwise wait for the same failure, and a fleet would retry a
    /// struggling Verys or store at the rate of its requests. A shorter pause
    /// recovers sooner after a short outage (callers see the failure for up
    /// to this long after it ends); `Duration::ZERO` tries again on every
    /// call, callers queued behind a failing refresh one after another. A
    /// very long pause means no refresh is tried again for as long (with
    /// `Duration::MAX`, never). Default: 5 seconds.
    pub fn retry_after(mut self, pause: Duration) -> Self {
        self.retry_after = pause;
        self
    }

    /// Refresh when the access token expires within `margin`, or within
    /// half the lifetime the server granted it (its `expires_in`) when that
    /// is shorter: a token granted for less than the margin is used for half
    /// its life rather than refreshed on every request. Default: 30 s.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Runs `callback` with the new tokens after every successful refresh,
    /// once per refresh, never two at a time and in their order, before the
    /// callers that waited for the refresh are handed its access token: the
    /// place to persist the rotated refresh token, without which the next
    /// refresh fails once the process is gone. It runs inside the refresh
    /// (for the async manager, also one whose caller was dropped: see its
    /// `access_token`), so it must not ask this manager for a token; an
    /// async store is best written from a task the callback signals.
    pub fn on_refresh(mut self, callback: impl Fn(&Tokens) + Send + Sync + 'static) -> Self {
        self.on_refresh = Some(Arc::new(callback));
        self
    }

    /// When the held access token enters the margin (see
    /// [`margin`](Self::margin)), so that the next
    /// request for a token refreshes it; `None` if its expiry is unknown (the
    /// server sent no `expires_in`).
    pub fn next_refresh_at(&self) -> Option<SystemTime> {
        let current = self.state.held();
        let access_token = current.0.access_token();
        let margin = access_token.refresh_margin(self.margin);
        let expires_at = access_token.expires_at()?;
        Some(expires_at.checked_sub(margin).unwrap_or(UNIX_EPOCH))
    }

    /// The tokens held now: after a refresh, the rotated ones.
    pub fn tokens(&self) -> Tokens {
        self.state.held().0.clone()
    }

    /// The newest refresh token, to persist.
    pub fn refresh_token(&self) -> Option<RefreshToken> {
        self.tokens().refresh_token().cloned()
    }

    /// The current access token if it stays valid beyond the margin.
    fn fresh(&self) -> Option<AccessToken> {
        let current = self.state.held();
        let access_token = current.0.access_token();
        let clock = &*self.client.config.clock;
        (!access_token.refresh_due(clock, self.margin)).then(|| access_token.clone())
    }

    /// How many ways through the store have finished: read by a caller
    /// before it waits at the gate, for [`settled`](Self::settled).
    fn passes(&self) -> u64 {
        self.state.outcomes().passes
    }

    /// Once at the gate: the token someone else refreshed meanwhile, a
    /// recent transient failure to share instead of retrying, or the end of
    /// the sign-in that the way through the store this caller waited for
    /// found. An ended sign-in is not shared with later callers: they read
    /// the store again, where a new sign-in may have been written since.
    fn settled(&self, passes_seen: u64) -> Option<Result<AccessToken, Error>> {
        if let Some(token) = self.fresh() {
            return Some(Ok(token));
        }
        let outcomes = self.state.outcomes();
        // Measured on the monotonic clock: a wall clock stepped back must
        // not stretch the pause into a long outage.
        let now = self.client.config.clock.monotonic();
        match &outcomes.failure {
            Some((_, error)) if error.requires_sign_in() && outcomes.passes != passes_seen => {
                Some(Err(error.clone()))
            }
            Some((at, error))
                if !error.requires_sign_in() && now < at.saturating_add(self.retry_after) =>
            {
                Some(Err(error.clone()))
            }
            _ => None,
        }
    }

    /// Where this caller starts through the store.
    fn coordination(&self) -> (Coordination, Step) {
        let ended = self.state.outcomes().ended;
        let (tokens, version) = self.state.held().clone();
        let dead = ended == Some(version);
        let clock = Arc::clone(&self.client.config.clock);
        Coordination::new(
            tokens,
            version,
            dead,
            clock,
            self.margin,
            crate::store::after(
                Instant::now(),
                self.wait
                    .unwrap_or(self.lease.saturating_add(Duration::from_secs(5))),
            ),
        )
    }

    /// Records the outcome of this caller's way through the store: tokens it
    /// refreshed, tokens another process refreshed, or a failure.
    fn record(&self, outcome: Result<Fresh, Error>) -> Result<AccessToken, Error> {
        let mut outcomes = self.state.outcomes();
        outcomes.passes = outcomes.passes.wrapping_add(1);
        match outcome {
            Ok(Fresh {
                tokens,
                version,
                ours,
            }) => {
                outcomes.failure = None;
                outcomes.ended = None;
                drop(outcomes);
                let access_token = tokens.access_token().clone();
                *self
                    .state
                    .current
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = (tokens.clone(), version);
                if ours {
                    crate::trace::refreshed::<()>(&Ok(()));
                    // Still inside the gate: callbacks run one refresh at a
                    // time, in order, and the tokens are held even if one
                    // panics.
                    if let Some(callback) = &self.on_refresh {
                        callback(&tokens);
                    }
                }
                Ok(access_token)
            }
            Err(error) => {
                crate::trace::refreshed::<()>(&Err(error.clone()));
                if error.requires_sign_in() {
                    outcomes.ended = Some(self.state.held().1);
                }
                outcomes.failure = Some((self.client.config.clock.monotonic(), error.clone()));
                Err(error)
            }
        }
    }
}

/// What [`TokenManager::on_refresh`] was given.
type OnRefresh = Arc<dyn Fn(&Tokens) + Send + Sync>;

impl<K: ClientKind> TokenManager<K, Blocking> {
    /// An access token valid beyond the margin, refreshed first if needed.
    ///
    /// # Errors
    ///
    /// Those of [`Client::refresh`] when a refresh was due, the same error for
    /// every caller that waited on it; a refresh that failed within
    /// [`retry_after`](Self::retry_after) is reported again without a request. Once the sign-in
    /// ended ([`Error::requires_sign_in`]), [`Error::SignedOut`] from the
    /// store, without a request, until a new sign-in is stored under the
    /// key; [`Error::Store`] when the store fails.
    pub fn access_token(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let passes = self.passes();
        let _gate = self.state.gate.enter();
        if let Some(settled) = self.settled(passes) {
            return settled;
        }
        let outcome = self.through_store();
        self.record(outcome)
    }

    /// Records a new sign-in in `store` under `key` (replacing whatever the
    /// key held, at a random version of its own: a manager still holding an
    /// earlier sign-in of the key reads this one back rather than writing
    /// over it) and holds it: every manager of every process on the same
    /// store and key shares it.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store cannot be written.
    pub fn with_store(
        client: Client<K>,
        store: Arc<dyn TokenStore>,
        key: &str,
        tokens: Tokens,
    ) -> Result<Self, Error> {
        let first = first_version(&*client.config.randomness);
        let (mut write, mut step) = NewSignIn::new(&tokens, first);
        let version = loop {
            step = match step {
                WriteStep::Load => write.loaded(store.load(key)),
                WriteStep::Replace { expected, version } => {
                    write.replaced(store.replace(key, expected, version, write.value()))
                }
                WriteStep::Done(version) => break version?,
            };
        };
        Ok(Self::holding(client, store, key, tokens, version))
    }

    /// Holds the sign-in `store` keeps under `key`, restored (its ID token
    /// verified again, as [`Client::restore_tokens`] does).
    ///
    /// # Errors
    ///
    /// [`Error::SignedOut`] when the key holds no sign-in or an ended one,
    /// [`Error::Store`] when the store cannot be read, and the errors of
    /// [`Client::restore_tokens`].
    pub fn from_store(
        client: Client<K>,
        store: Arc<dyn TokenStore>,
        key: &str,
    ) -> Result<Self, Error> {
        let entry = store.load(key).map_err(Error::Store)?;
        let (stored, version) = stored_sign_in(entry)?;
        let tokens = client.restore_tokens(stored)?;
        Ok(Self::holding(client, store, key, tokens, version))
    }

    fn through_store(&self) -> Result<Fresh, Error> {
        let store = &*self.store;
        let (mut coordination, mut step) = self.coordination();
        loop {
            step = match step {
                Step::Load => coordination.loaded(store.load(&self.key)),
                Step::TryLease => coordination.leased(
                    store.try_lease(&self.key, &self.owner, self.lease),
                    Instant::now(),
                ),
                Step::Sleep(pause) => {
                    std::thread::sleep(pause);
                    coordination.slept()
                }
                Step::Restore(stored) => coordination.restored(self.client.restore_tokens(stored)),
                Step::Refresh(tokens) => coordination.refreshed(self.client.refresh(&tokens)),
                Step::Replace {
                    expected,
                    version,
                    value,
                } => coordination.replaced(store.replace(&self.key, expected, version, &value)),
                Step::Release(outcome) => {
                    // A lease not given back runs out on its own.
                    let _ = store.release(&self.key, &self.owner);
                    return outcome;
                }
                Step::Done(outcome) => return outcome,
            };
        }
    }
}

#[cfg(feature = "async")]
impl<K: ClientKind> TokenManager<K, crate::transport::Async> {
    /// An access token valid beyond the margin, refreshed first if needed.
    /// When many tasks ask at once, one refreshes and the others await it.
    ///
    /// Dropping the future is safe: inside a tokio runtime the wait for a
    /// refresh, the refresh and its recording run as a task of its own, so
    /// a refresh already sent (Verys has rotated the refresh token by then)
    /// is stored, held and announced to
    /// [`on_refresh`](TokenManager::on_refresh) all the same, before the
    /// next caller goes through. Outside one (another executor, with your
    /// own HTTP client) they run in this future, and a refresh dropped
    /// midway may cost the sign-in.
    ///
    /// # Errors
    ///
    /// Those of [`Client::refresh`] when a refresh was due, the same error for
    /// every caller that waited on it; a refresh that failed within
    /// [`retry_after`](Self::retry_after) is reported again without a request. Once the sign-in
    /// ended ([`Error::requires_sign_in`]), [`Error::SignedOut`] from the
    /// store, without a request, until a new sign-in is stored under the
    /// key; [`Error::Store`] when the store fails.
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        use tokio::task::JoinError;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        // Verys rotates the refresh token as soon as a refresh is sent. Run
        // in the caller's future, a refresh dropped with it (a request
        // handler whose client hung up) would lose the new refresh token and
        // keep the lease until it runs out. As a task of its own, the gate,
        // the refresh and its recording go on whatever becomes of the caller.
        let manager = self.sharing();
        let passes = self.passes();
        let refresh = async move {
            let _gate = manager.state.gate.enter_async().await;
            match manager.settled(passes) {
                Some(settled) => settled,
                None => {
                    let outcome = manager.through_store().await;
                    manager.record(outcome)
                }
            }
        };
        // The task's spans nest under the caller's, as they would inline.
        #[cfg(feature = "tracing")]
        let refresh = tracing::Instrument::in_current_span(refresh);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return refresh.await;
        };
        match runtime
            .spawn(refresh)
            .await
            .map_err(JoinError::try_into_panic)
        {
            Ok(outcome) => outcome,
            Err(Ok(panic)) => std::panic::resume_unwind(panic),
            Err(Err(_cancelled)) => Err(Error::Transport(crate::error::TransportError::new(
                crate::error::TransportErrorKind::Other,
                "the refresh was cancelled: its runtime shut down",
            ))),
        }
    }

    /// As [`with_store`](TokenManager::with_store), on an async store.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store cannot be written.
    pub async fn with_store_async(
        client: Client<K, crate::transport::Async>,
        store: Arc<dyn crate::store::AsyncTokenStore>,
        key: &str,
        tokens: Tokens,
    ) -> Result<Self, Error> {
        let first = first_version(&*client.config.randomness);
        let (mut write, mut step) = NewSignIn::new(&tokens, first);
        let version = loop {
            step = match step {
                WriteStep::Load => write.loaded(store.load(key).await),
                WriteStep::Replace { expected, version } => {
                    let written = store.replace(key, expected, version, write.value()).await;
                    write.replaced(written)
                }
                WriteStep::Done(version) => break version?,
            };
        };
        Ok(Self::holding(client, store, key, tokens, version))
    }

    /// As [`from_store`](TokenManager::from_store), on an async store.
    ///
    /// # Errors
    ///
    /// As [`from_store`](TokenManager::from_store).
    pub async fn from_store_async(
        client: Client<K, crate::transport::Async>,
        store: Arc<dyn crate::store::AsyncTokenStore>,
        key: &str,
    ) -> Result<Self, Error> {
        let entry = store.load(key).await.map_err(Error::Store)?;
        let (stored, version) = stored_sign_in(entry)?;
        let tokens = client.restore_tokens(stored).await?;
        Ok(Self::holding(client, store, key, tokens, version))
    }

    async fn through_store(&self) -> Result<Fresh, Error> {
        let store = &*self.store;
        let (mut coordination, mut step) = self.coordination();
        loop {
            step = match step {
                Step::Load => coordination.loaded(store.load(&self.key).await),
                Step::TryLease => {
                    let taken = store.try_lease(&self.key, &self.owner, self.lease).await;
                    coordination.leased(taken, Instant::now())
                }
                Step::Sleep(pause) => {
                    tokio::time::sleep(pause).await;
                    coordination.slept()
                }
                Step::Restore(stored) => {
                    coordination.restored(self.client.restore_tokens(stored).await)
                }
                Step::Refresh(tokens) => coordination.refreshed(self.client.refresh(&tokens).await),
                Step::Replace {
                    expected,
                    version,
                    value,
                } => {
                    let written = store.replace(&self.key, expected, version, &value).await;
                    coordination.replaced(written)
                }
                Step::Release(outcome) => {
                    // A lease not given back runs out on its own.
                    let _ = store.release(&self.key, &self.owner).await;
                    return outcome;
                }
                Step::Done(outcome) => return outcome,
            };
        }
    }
}

impl<K: ClientKind, T: Transport> fmt::Debug for TokenManager<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("tokens", &self.state.held().0)
            .field("key", &self.key)
            .field("margin", &self.margin)
            .field("on_refresh", &self.on_refresh.is_some())
            .finish_non_exhaustive()
    }
}
