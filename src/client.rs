//! [`Client`]: the flow methods every client has, and the blocking client.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError};

use crate::config::Config;
use crate::error::Error;
use crate::federation::ExternalToken;
use crate::flow::{AuthorizationRequest, CallbackReceived, PendingAuth};
use crate::jwks::FetchTicket;
use crate::kind::ClientKind;
use crate::protocol::{self, Operation, Started, Step};
use crate::tokens::{AccessToken, ExchangedToken, Tokens};
use crate::transport::Blocking;

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// How a client performs I/O: [`Blocking`], or [`Async`](crate::Async) with
/// the `async` feature. Sealed.
pub trait Transport: sealed::Sealed + Clone + Send + Sync + 'static {}

/// A Verys client of kind `K` ([`Public`](crate::Public) or
/// [`Confidential`](crate::Confidential)), built with [`Client::builder`].
///
/// `Client<K>` is the blocking client; [`AsyncClient<K>`](crate::AsyncClient)
/// (feature `async`) is the same type with the async transport, and has the
/// same methods as `async fn`s. Flow states work with both.
///
/// Cheap to clone; clones share one connection pool and one JWKS cache, so
/// build one client per service and share it.
pub struct Client<K: ClientKind, T: Transport = Blocking> {
    pub(crate) config: Arc<Config>,
    pub(crate) http: T,
    _kind: PhantomData<fn() -> K>,
}

impl<K: ClientKind, T: Transport> Client<K, T> {
    pub(crate) fn with_http(config: Arc<Config>, http: T) -> Self {
        Self {
            config,
            http,
            _kind: PhantomData,
        }
    }

    /// Starts an authorization with the client's settings: the returned flow
    /// state holds the URL to redirect the user to.
    pub fn authorize(&self) -> PendingAuth<K> {
        self.authorization().start()
    }

    /// Starts an authorization with extra parameters (`prompt`, `max_age`,
    /// `login_hint`, more scopes).
    pub fn authorization(&self) -> AuthorizationRequest<'_, K> {
        AuthorizationRequest::new(&self.config)
    }

    /// The issuer this client trusts.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// This client's id.
    pub fn client_id(&self) -> &str {
        &self.config.client_id
    }

    /// The redirect URI sent with authorization requests.
    pub fn redirect_uri(&self) -> &str {
        &self.config.redirect_uri
    }
}

impl<K: ClientKind> Client<K, Blocking> {
    /// Exchanges the code of a checked callback for tokens, sending the PKCE
    /// verifier kept in the flow state, and verifies the ID token (signature,
    /// `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `at_hash`, `auth_time`).
    pub fn exchange_code(&self, received: CallbackReceived<K>) -> Result<Tokens, Error> {
        self.run(protocol::code_grant(&self.config, received))
    }

    /// Refreshes `tokens`. Verys rotates refresh tokens: the returned
    /// `Tokens` holds the new one (or the old one if the server sent none),
    /// and the old one stops working. The new ID token must name the same
    /// issuer, subject and audience.
    pub fn refresh(&self, tokens: &Tokens) -> Result<Tokens, Error> {
        self.run(protocol::refresh_grant(&self.config, tokens))
    }

    /// Exchanges an access token for one whose audience is the client
    /// `audience` (RFC 8693).
    pub fn exchange_token(
        &self,
        access_token: &AccessToken,
        audience: &str,
    ) -> Result<ExchangedToken, Error> {
        self.run(Ok(protocol::token_exchange(
            &self.config,
            access_token,
            audience,
        )))
    }

    /// Lists the user's federated external tokens that the access token's
    /// scopes cover.
    pub fn external_tokens(&self, access_token: &AccessToken) -> Result<Vec<ExternalToken>, Error> {
        self.run(Ok(protocol::external_tokens(&self.config, access_token)))
    }

    /// Retrieves one external token. When the provider's token expired and
    /// Verys could not refresh it, fails with
    /// [`Error::ExternalReauth`](crate::Error::ExternalReauth).
    pub fn external_token(
        &self,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<ExternalToken, Error> {
        self.run(Ok(protocol::external_token(
            &self.config,
            access_token,
            token_id,
        )))
    }

    /// Drives an operation of the I/O-free core with the blocking stack.
    fn run<O: Operation>(&self, started: Result<Started<O>, Error>) -> Result<O::Output, Error> {
        let Started { mut step, mut op } = started?;
        loop {
            step = match step {
                Step::Done(output) => return Ok(output),
                Step::Send(request) => op.on_response(self.http.send(&request)?)?,
                Step::FetchKeys(ticket) => {
                    self.fetch_keys(ticket);
                    op.on_keys()?
                }
            };
        }
    }

    /// Fetches the JWKS unless another thread did while this one waited at
    /// the gate: many threads missing the same `kid` cause one fetch.
    fn fetch_keys(&self, ticket: FetchTicket) {
        let jwks = &self.config.jwks;
        let _gate = jwks
            .blocking_gate()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(request) = jwks.fetch_request(ticket) {
            let response = self.http.send(&request);
            jwks.store(response, self.config.clock.now());
        }
    }
}

impl<K: ClientKind, T: Transport> Clone for Client<K, T> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            http: self.http.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K: ClientKind, T: Transport> fmt::Debug for Client<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("kind", &K::NAME)
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .field("redirect_uri", &self.config.redirect_uri)
            .finish_non_exhaustive()
    }
}
