//! [`TokenManager`]: one user's tokens, kept fresh without racing itself.

use std::fmt;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::{Client, Transport};
use crate::error::Error;
use crate::flow::kind::ClientKind;
use crate::flow::tokens::{AccessToken, RefreshToken, Tokens};
use crate::single_flight::Gate;
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
/// A failed refresh is handed to every caller for the next few seconds
/// instead of being retried by each, and for good when it
/// [requires a sign-in](Error::requires_sign_in) (Verys answered
/// `invalid_grant`: the refresh token is dead).
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
    current: RwLock<Tokens>,
    margin: Duration,
    /// The last refresh failure and when it happened.
    last_failure: Mutex<Option<(u64, Error)>>,
    on_refresh: Option<OnRefresh>,
    gate: Gate,
}

impl<K: ClientKind, T: Transport> TokenManager<K, T> {
    /// Holds `tokens`, refreshed through `client` when their access token
    /// expires within 30 seconds (see [`with_margin`](Self::with_margin)).
    pub fn new(client: Client<K, T>, tokens: Tokens) -> Self {
        Self {
            client,
            current: RwLock::new(tokens),
            margin: Duration::from_secs(30),
            last_failure: Mutex::new(None),
            on_refresh: None,
            gate: Gate::default(),
        }
    }

    /// Refresh when the access token expires within `margin`.
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Runs `callback` with the new tokens after every successful refresh,
    /// once per refresh, never two at a time and in their order, before the
    /// callers that waited for the refresh are handed its access token: the
    /// place to persist the rotated refresh token, without which the next
    /// refresh fails once the process is gone. It runs inside the refresh,
    /// so it must not ask this manager for a token; an async store is best
    /// written from a task the callback signals.
    pub fn on_refresh(mut self, callback: impl Fn(&Tokens) + Send + Sync + 'static) -> Self {
        self.on_refresh = Some(Box::new(callback));
        self
    }

    /// When the held access token enters the margin, so that the next
    /// request for a token refreshes it; `None` if its expiry is unknown (the
    /// server sent no `expires_in`).
    pub fn next_refresh_at(&self) -> Option<SystemTime> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let expires_at = current.access_token().expires_at()?;
        Some(expires_at.checked_sub(self.margin).unwrap_or(UNIX_EPOCH))
    }

    /// The tokens held now: after a refresh, the rotated ones.
    pub fn tokens(&self) -> Tokens {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The newest refresh token, to persist.
    pub fn refresh_token(&self) -> Option<RefreshToken> {
        self.tokens().refresh_token().cloned()
    }

    /// The current access token if it stays valid beyond the margin.
    fn fresh(&self) -> Option<AccessToken> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let access_token = current.access_token();
        let clock = &*self.client.config.clock;
        (!access_token.expires_within(clock, self.margin)).then(|| access_token.clone())
    }

    /// Once at the gate: the token someone else refreshed meanwhile, or a
    /// recent (or permanent) failure to share instead of retrying.
    fn settled(&self) -> Option<Result<AccessToken, Error>> {
        if let Some(token) = self.fresh() {
            return Some(Ok(token));
        }
        let failure = self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = self.client.config.clock.now();
        match &*failure {
            Some((at, error))
                if error.requires_sign_in() || now < at.saturating_add(RETRY_AFTER) =>
            {
                Some(Err(error.clone()))
            }
            _ => None,
        }
    }

    /// Records the outcome of a refresh this caller made.
    fn record(&self, outcome: Result<Tokens, Error>) -> Result<AccessToken, Error> {
        crate::trace::refreshed(&outcome);
        let mut failure = self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(tokens) => {
                *failure = None;
                drop(failure);
                let access_token = tokens.access_token().clone();
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = tokens.clone();
                // Still inside the gate: callbacks run one refresh at a time,
                // in order, and the tokens are held even if one panics.
                if let Some(callback) = &self.on_refresh {
                    callback(&tokens);
                }
                Ok(access_token)
            }
            Err(error) => {
                *failure = Some((self.client.config.clock.now(), error.clone()));
                Err(error)
            }
        }
    }
}

/// What [`TokenManager::on_refresh`] was given.
type OnRefresh = Box<dyn Fn(&Tokens) + Send + Sync>;

/// Seconds during which a transient refresh failure is shared rather than
/// retried.
const RETRY_AFTER: u64 = 5;

impl<K: ClientKind> TokenManager<K, Blocking> {
    /// An access token valid beyond the margin, refreshed first if needed.
    ///
    /// # Errors
    ///
    /// Those of [`Client::refresh`] when a refresh was due, the same error for
    /// every caller that waited on it; a refresh that failed less than five
    /// seconds ago, or for good ([`Error::requires_sign_in`]), is reported
    /// again without a request.
    pub fn access_token(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _gate = self.gate.enter();
        if let Some(settled) = self.settled() {
            return settled;
        }
        let outcome = self.client.refresh(&self.tokens());
        self.record(outcome)
    }
}

#[cfg(feature = "async")]
impl<K: ClientKind> TokenManager<K, crate::transport::Async> {
    /// An access token valid beyond the margin, refreshed first if needed.
    /// When many tasks ask at once, one refreshes and the others await it.
    ///
    /// # Errors
    ///
    /// Those of [`Client::refresh`] when a refresh was due, the same error for
    /// every caller that waited on it; a refresh that failed less than five
    /// seconds ago, or for good ([`Error::requires_sign_in`]), is reported
    /// again without a request.
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        match self.fresh() {
            Some(token) => Ok(token),
            None => {
                let _gate = self.gate.enter_async().await;
                match self.settled() {
                    Some(settled) => settled,
                    None => {
                        let tokens = self.tokens();
                        self.record(self.client.refresh(&tokens).await)
                    }
                }
            }
        }
    }
}

impl<K: ClientKind, T: Transport> fmt::Debug for TokenManager<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field(
                "tokens",
                &*self.current.read().unwrap_or_else(PoisonError::into_inner),
            )
            .field("margin", &self.margin)
            .field("on_refresh", &self.on_refresh.is_some())
            .finish_non_exhaustive()
    }
}
