//! [`Client`]: the flow methods every client has, and the blocking client;
//! its builder, its construction from a discovery document, and the async
//! client's methods.

pub(crate) mod back_channel;
pub(crate) mod builder;
pub(crate) mod discovery;
#[cfg(feature = "async")]
pub(crate) mod nonblocking;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::Error;
use crate::flow::tokens::{AccessToken, ExchangedToken, RefreshToken, StoredTokens, Tokens};
use crate::flow::{AuthorizationRequest, CallbackReceived, PendingAuth, grant, id_tokens};
use crate::kind::ClientKind;
use crate::protocol::Operation;
use crate::protocol::config::Config;
use crate::services::federation::{self, ExternalToken, PendingLink};
use crate::services::logout::PendingLogout;
use crate::services::revocation;
use crate::services::userinfo::{self, UserInfo};
use crate::transport::Blocking;
use crate::verify::id_token::IdTokenClaims;

pub(crate) mod sealed {
    use std::sync::Arc;

    use crate::store::MemoryStore;

    pub trait Sealed {
        /// The token store a `TokenManager` of this transport works with.
        type Store: ?Sized + Send + Sync;
        /// An in-process store, as that.
        fn memory(store: Arc<MemoryStore>) -> Arc<Self::Store>;
    }
}

/// How a client performs I/O: [`Blocking`], or [`Async`](crate::Async) with
/// the `async` feature. Sealed.
pub trait Transport: sealed::Sealed + Clone + Send + Sync + 'static {}

impl sealed::Sealed for Blocking {
    type Store = dyn crate::store::TokenStore;
    fn memory(store: Arc<crate::store::MemoryStore>) -> Arc<Self::Store> {
        store
    }
}
impl Transport for Blocking {}

#[cfg(feature = "async")]
impl sealed::Sealed for crate::transport::Async {
    type Store = dyn crate::store::AsyncTokenStore;
    fn memory(store: Arc<crate::store::MemoryStore>) -> Arc<Self::Store> {
        store
    }
}
#[cfg(feature = "async")]
impl Transport for crate::transport::Async {}

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

    /// Starts an RP-initiated logout of the user of `tokens`: the URL sends
    /// the browser to Verys's end-session endpoint with the ID token as hint,
    /// and back to `post_logout_redirect_uri` (a registered redirect URI).
    pub fn end_session(&self, tokens: &Tokens, post_logout_redirect_uri: &str) -> PendingLogout {
        PendingLogout::new(&self.config, tokens.id_token(), post_logout_redirect_uri)
    }

    /// Starts linking an external provider (`github`, …) to the user's Verys
    /// identity, returning to this client's redirect URI.
    pub fn link_provider(&self, provider_id: &str) -> PendingLink {
        PendingLink::new(&self.config, provider_id)
    }

    /// The link that an [`Error::ExternalReauth`] asks for, in one call;
    /// `None` for any other error.
    pub fn relink(&self, error: &Error) -> Option<PendingLink> {
        match error {
            Error::ExternalReauth { provider_id, .. } => Some(self.link_provider(provider_id)),
            _ => None,
        }
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
    ///
    /// # Errors
    ///
    /// [`Error::ClientMismatch`], [`Error::MissingIssuer`] or
    /// [`Error::MissingPkceVerifier`] for a flow state this client did not
    /// start as it is configured; [`Error::TokenRequest`] when Verys refuses
    /// the code (spent or expired: [`Error::requires_sign_in`]);
    /// [`Error::InvalidIdToken`] (naming the rule) or [`Error::NonceMismatch`]
    /// for an ID token that fails a check; [`Error::JwksFetch`] or
    /// [`Error::NoUsableKey`] when its key cannot be had; and
    /// the request's own errors ([`Error::Transport`], and [`Error::InvalidResponse`] for an answer that is not what the protocol says).
    pub fn exchange_code(&self, received: CallbackReceived<K>) -> Result<Tokens, Error> {
        self.run(grant::code_grant(&self.config, received))
    }

    /// Refreshes `tokens`. Verys rotates refresh tokens: the returned
    /// `Tokens` holds the new one (or the old one if the server sent none),
    /// and the old one stops working. The new ID token must name the same
    /// issuer, subject and audience.
    ///
    /// # Errors
    ///
    /// [`Error::NoRefreshToken`] for tokens without one;
    /// [`Error::TokenRequest`] when Verys refuses it (`invalid_grant`: revoked,
    /// rotated away or expired, see [`Error::requires_sign_in`]);
    /// [`Error::InvalidIdToken`] for a new ID token that fails a check or
    /// names another issuer, subject or audience
    /// ([`TokenRule::Changed`](crate::TokenRule::Changed)); the key errors and
    /// the request's own errors ([`Error::Transport`], and [`Error::InvalidResponse`] for an answer that is not what the protocol says), as for `exchange_code`.
    pub fn refresh(&self, tokens: &Tokens) -> Result<Tokens, Error> {
        self.run(grant::refresh_grant(&self.config, tokens))
    }

    /// Exchanges an access token for one whose audience is the client
    /// `audience` (RFC 8693).
    ///
    /// # Errors
    ///
    /// [`Error::TokenRequest`] when Verys refuses the exchange
    /// (`invalid_target`, `insufficient_scope`, `access_denied`...), and
    /// the request's own errors ([`Error::Transport`], and [`Error::InvalidResponse`] for an answer that is not what the protocol says).
    pub fn exchange_token(
        &self,
        access_token: &AccessToken,
        audience: &str,
    ) -> Result<ExchangedToken, Error> {
        self.run(Ok(grant::token_exchange(
            &self.config,
            access_token,
            audience,
        )))
    }

    /// Verifies an ID token obtained outside this client's flows (a token
    /// handed over by a front end, an `id_token_hint`): signature, `iss`,
    /// `aud`/`azp`, `exp`, `iat`, and `nonce` equal to `nonce` (or absent
    /// when `nonce` is `None`). `at_hash` is not checked, for want of the
    /// access token. Fetches the JWKS only if the key is not cached.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidIdToken`] naming the broken rule,
    /// [`Error::NonceMismatch`], and the key errors ([`Error::JwksFetch`],
    /// [`Error::NoUsableKey`], [`Error::Transport`]).
    pub fn verify_id_token(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<IdTokenClaims, Error> {
        self.run(Ok(id_tokens::IdTokenCheck::new(
            &self.config,
            id_token,
            nonce,
        )))
    }

    /// The user's claims from `/userinfo`, read with the access token of
    /// `tokens`; fails with [`Error::UserinfoSubjectMismatch`] if they
    /// describe another subject than the ID token.
    ///
    /// # Errors
    ///
    /// [`Error::UserinfoSubjectMismatch`]; [`Error::Endpoint`]
    /// when Verys refuses the access token; and the request's own errors ([`Error::Transport`], and [`Error::InvalidResponse`] for an answer that is not what the protocol says).
    pub fn userinfo(&self, tokens: &Tokens) -> Result<UserInfo, Error> {
        self.run(Ok(userinfo::call(&self.config, tokens)))
    }

    /// Revokes a refresh token (RFC 7009), for example at logout.
    ///
    /// # Errors
    ///
    /// [`Error::Endpoint`] for an answer other than 200, and
    /// the request's own errors ([`Error::Transport`], and [`Error::InvalidResponse`] for an answer that is not what the protocol says).
    pub fn revoke(&self, refresh_token: &RefreshToken) -> Result<(), Error> {
        self.run(Ok(revocation::revoke(&self.config, refresh_token)))
    }

    /// Unlinks one external token.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTokenId`] for an id that is
    /// not a hyphenated UUID, before any request; [`Error::Endpoint`] when Verys refuses (404 for an
    /// unknown token); and the request's own errors ([`Error::Transport`], and [`Error::InvalidResponse`] for an answer that is not what the protocol says).
    pub fn delete_external_token(
        &self,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<(), Error> {
        let started = federation::delete_external_token(&self.config, access_token, token_id);
        self.run(started)
    }

    /// Restores stored tokens ([`Tokens::to_stored`]), verifying their ID
    /// token again against this client (signature, `iss`, `aud`, `iat`,
    /// `nonce`), except its expiry: a stored sign-in outlives its ID token,
    /// and its refresh token says whether the session still holds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidIdToken`] for a stored ID token that
    /// fails a check, is older than
    /// [`restored_id_token_max_age`](crate::ClientBuilder::restored_id_token_max_age)
    /// ([`TokenRule::TooOld`](crate::TokenRule::TooOld)) or does not name the
    /// stored access token by `at_hash`; [`Error::NonceMismatch`]; and the key
    /// errors, as for `verify_id_token`.
    pub fn restore_tokens(&self, stored: StoredTokens) -> Result<Tokens, Error> {
        self.run(Ok(id_tokens::Restore::new(&self.config, stored)))
    }

    /// Lists the user's federated external tokens that the access token's
    /// scopes cover.
    ///
    /// # Errors
    ///
    /// [`Error::Endpoint`] when Verys refuses the access
    /// token, and the request's own errors ([`Error::Transport`], and [`Error::InvalidResponse`] for an answer that is not what the protocol says).
    pub fn external_tokens(&self, access_token: &AccessToken) -> Result<Vec<ExternalToken>, Error> {
        self.run(Ok(federation::external_tokens(&self.config, access_token)))
    }

    /// Retrieves one external token. When the provider's token expired and
    /// Verys could not refresh it, fails with
    /// [`Error::ExternalReauth`](crate::Error::ExternalReauth).
    ///
    /// # Errors
    ///
    /// [`Error::ExternalReauth`] as above;
    /// [`Error::InvalidTokenId`] for an id that is not a hyphenated UUID,
    /// before any request;
    /// [`Error::Endpoint`] when Verys refuses (404 for an unknown token, 403
    /// for one the access token's scopes do not cover); and the request's own errors ([`Error::Transport`], and [`Error::InvalidResponse`] for an answer that is not what the protocol says).
    pub fn external_token(
        &self,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<ExternalToken, Error> {
        self.run(federation::external_token(
            &self.config,
            access_token,
            token_id,
        ))
    }

    /// Runs an operation of the I/O-free core with this client's keys and
    /// clock.
    fn run<O: Operation>(&self, op: Result<O, Error>) -> Result<O::Output, Error> {
        self.http.drive(&self.config.jwks, &*self.config.clock, op)
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
