//! The error hierarchy.
//!
//! Every failure of the crate is an [`Error`]. Its variants map one to one onto
//! the exception table of the Python reference client, so code ported from it
//! can match the same cases:
//!
//! | reference exception        | variant                                                   |
//! |----------------------------|-----------------------------------------------------------|
//! | `CallbackError`            | [`Error::Callback`]                                       |
//! | `MissingCodeError`         | [`Error::MissingCode`]                                    |
//! | `MissingStateError`        | [`Error::MissingState`]                                   |
//! | (caller's own check)       | [`Error::StateMismatch`], [`Error::DuplicateParameter`], [`Error::IssuerMismatch`], [`Error::MissingIssuer`] |
//! | `TokenError`               | [`Error::TokenRequest`], [`Error::InvalidIdToken`]        |
//! | `NonceError`               | [`Error::NonceMismatch`]                                  |
//! | `ExternalReauthError`      | [`Error::ExternalReauth`]                                 |
//! | `JwksError`                | [`Error::JwksFetch`]                                      |
//! | `PublicKeyNotFoundError`   | [`Error::NoUsableKey`]                                    |
//!
//! No variant ever carries a token, a code, a PKCE verifier or the client
//! secret: the texts come from this crate, and from the server's (or a
//! callback's) OAuth error fields only when they are short, free of
//! anything that looks like a token, and quote none of the secrets the
//! request carried.

use std::fmt;

use http::StatusCode;

/// Every error this crate returns.
///
/// # What an application answers
///
/// Whose fault an error is decides the HTTP answer of the application whose
/// request failed: [`Error::status`] gives it, and with the `axum` feature
/// `Error` is an `IntoResponse` that answers it. The rows are read top to
/// bottom; the first that fits decides.
///
/// | variant | cause | status |
/// |---|---|---|
/// | any for which [`requires_sign_in`](Error::requires_sign_in) is true: [`TokenRequest`](Error::TokenRequest) refused with `invalid_grant`, [`NoRefreshToken`](Error::NoRefreshToken), [`SignedOut`](Error::SignedOut), [`InvalidIdToken`](Error::InvalidIdToken)`(`[`TooOld`](TokenRule::TooOld)`)`, [`Callback`](Error::Callback) with `login_required`, `consent_required` or `interaction_required` | the refresh token is dead or missing, the stored sign-in has ended or is too old, `prompt=none` found no session | 401: send the user to sign in again |
/// | [`ExternalReauth`](Error::ExternalReauth) | the external provider's token needs the user again | 401: send the user to [`Client::relink`](crate::Client::relink)'s URL |
/// | [`InvalidAccessToken`](Error::InvalidAccessToken) | a bearer token that does not verify | 401, `WWW-Authenticate: Bearer error="invalid_token"` |
/// | [`Callback`](Error::Callback) with `access_denied` | the user refused the sign-in | 403 |
/// | [`MissingScope`](Error::MissingScope) | a valid access token without the scope | 403, `WWW-Authenticate: Bearer error="insufficient_scope"` |
/// | [`MissingRole`](Error::MissingRole) | a valid access token whose user lacks the role | 403 |
/// | [`Callback`](Error::Callback) with `server_error` | Verys failed | 502 |
/// | [`Callback`](Error::Callback) with `temporarily_unavailable` | Verys is overloaded or down for maintenance | 503 |
/// | [`Callback`](Error::Callback) with any other code | Verys refused the sign-in request | 400 |
/// | [`MissingState`](Error::MissingState), [`StateMismatch`](Error::StateMismatch), [`MissingCode`](Error::MissingCode), [`DuplicateParameter`](Error::DuplicateParameter), [`IssuerMismatch`](Error::IssuerMismatch), [`MissingIssuer`](Error::MissingIssuer), [`MalformedCallback`](Error::MalformedCallback), [`ClientMismatch`](Error::ClientMismatch), [`MissingPkceVerifier`](Error::MissingPkceVerifier), [`InvalidTokenId`](Error::InvalidTokenId) | a forged, replayed or stale callback, a tampered session, bad input | 400 |
/// | [`TokenRequest`](Error::TokenRequest), [`Endpoint`](Error::Endpoint) answered with HTTP 503 or `temporarily_unavailable` | Verys is overloaded or down for maintenance | 503 |
/// | [`TokenRequest`](Error::TokenRequest), [`Endpoint`](Error::Endpoint) (any other refusal), [`InvalidResponse`](Error::InvalidResponse), [`InvalidIdToken`](Error::InvalidIdToken) (any other rule), [`NonceMismatch`](Error::NonceMismatch), [`UserinfoSubjectMismatch`](Error::UserinfoSubjectMismatch), [`FederationFailed`](Error::FederationFailed), [`JwksFetch`](Error::JwksFetch), [`NoUsableKey`](Error::NoUsableKey) | Verys refused, or answered something that does not verify | 502 |
/// | [`Transport`](Error::Transport) of kind [`Timeout`](TransportErrorKind::Timeout) | Verys did not answer in time | 504 |
/// | [`Transport`](Error::Transport) of kind [`Connect`](TransportErrorKind::Connect), [`Tls`](TransportErrorKind::Tls), [`BodyTooLarge`](TransportErrorKind::BodyTooLarge), [`Other`](TransportErrorKind::Other) | Verys cannot be reached, or its answer cannot be read | 502 |
/// | [`Store`](Error::Store) of any kind | the token store is unreachable, slow, or holds what no manager wrote | 503 |
/// | [`Config`](Error::Config), [`Discovery`](Error::Discovery) | the deployment: best found at start-up | 500 |
///
/// The body of the axum answer is a short text of this crate's
/// (`text/plain; charset=utf-8`), such as `bad answer from the identity
/// provider`: never the error's `Display`, which may repeat a server's
/// `error_description`. Log the error itself for the details.
///
/// The extractors of `verys_client::axum` answer a request without a valid
/// bearer token as RFC 6750 has it, and keys out of reach with 503 rather
/// than 502 or 504: the token itself may well be fine.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client configuration given to the builder is unusable.
    #[error("invalid client configuration: {0}")]
    Config(String),

    /// The authorization server redirected back with an `error` parameter.
    #[error("authorization failed: {}", describe(error, description.as_deref()))]
    Callback {
        /// The OAuth `error` code, such as `access_denied`.
        error: String,
        /// The optional human-readable `error_description`.
        description: Option<String>,
    },

    /// The callback carries no `code` parameter.
    #[error("callback is missing the code parameter")]
    MissingCode,

    /// The callback carries no `state` parameter.
    #[error("callback is missing the state parameter")]
    MissingState,

    /// The callback's `state` differs from the one this flow sent: a forged or
    /// mixed-up callback (CSRF).
    #[error("callback state does not match the state of this flow")]
    StateMismatch,

    /// A callback parameter appears more than once: its name if it is one
    /// the flows read, `another` otherwise.
    #[error("callback repeats a parameter ({0})")]
    DuplicateParameter(String),

    /// The callback's `iss` parameter (RFC 9207) names another issuer: a
    /// mix-up attack or a misrouted callback.
    #[error("callback comes from another issuer")]
    IssuerMismatch,

    /// The callback carries no `iss` parameter, which this client requires
    /// (RFC 9207 §2.4; set by the builder or by a discovery document that
    /// says the provider sends it).
    #[error("callback is missing the iss parameter")]
    MissingIssuer,

    /// The callback could not be parsed as a URL or query string.
    #[error("malformed callback: {0}")]
    MalformedCallback(String),

    /// The token endpoint refused a request.
    #[error("token request failed: {0}")]
    TokenRequest(ServerError),

    /// Another Verys endpoint (userinfo, federation, revocation, discovery)
    /// answered with an error.
    #[error("{endpoint} request failed: {error}")]
    Endpoint {
        /// Which endpoint answered.
        endpoint: &'static str,
        /// What it answered.
        error: ServerError,
    },

    /// A response arrived but does not say what the protocol says it must
    /// (not JSON, a missing field, a field of the wrong type).
    #[error("invalid response from the {endpoint} endpoint: {reason}")]
    InvalidResponse {
        /// Which endpoint answered.
        endpoint: &'static str,
        /// What was wrong with it.
        reason: String,
    },

    /// The ID token failed a verification rule.
    #[error("invalid id token: {0}")]
    InvalidIdToken(TokenRule),

    /// An access token given to a resource-server verifier failed a rule.
    #[error("invalid access token: {0}")]
    InvalidAccessToken(TokenRule),

    /// The ID token's `nonce` is missing or differs from the one this flow sent
    /// (a replayed or substituted ID token).
    #[error("id token nonce does not match the nonce of this flow")]
    NonceMismatch,

    /// The external provider's token expired upstream and could not be
    /// refreshed: send the user's browser through federation again.
    #[error("external provider {provider_id} requires re-authorization")]
    ExternalReauth {
        /// The provider to re-link, such as `github`.
        provider_id: String,
        /// The server's explanation, when it gave one.
        description: Option<String>,
    },

    /// The JWKS document could not be retrieved or read.
    #[error("jwks could not be fetched: {0}")]
    JwksFetch(String),

    /// The JWKS holds no key this client may use (`OKP`, `Ed25519`, for
    /// signatures, not a weak key).
    #[error("jwks has no usable ed25519 signing key")]
    NoUsableKey,

    /// A verified access token lacks a scope the resource requires (answer
    /// HTTP 403 with `error="insufficient_scope"`).
    #[error("access token lacks the {0} scope")]
    MissingScope(String),

    /// The user behind a verified access token lacks a required role.
    #[error("user lacks the {0} role")]
    MissingRole(String),

    /// The discovery document does not describe the issuer that was asked
    /// for, or describes one this client cannot use.
    #[error("discovery document refused: {0}")]
    Discovery(String),

    /// The userinfo answer names another subject than the ID token.
    #[error("userinfo describes another subject than the id token")]
    UserinfoSubjectMismatch,

    /// The federation link came back with `error=federation_failed`.
    #[error("linking {provider_id} failed: {}", description.as_deref().unwrap_or("no description"))]
    FederationFailed {
        /// The provider that could not be linked.
        provider_id: String,
        /// The server's explanation, when it gave one.
        description: Option<String>,
    },

    /// These tokens carry no refresh token to refresh with.
    #[error("no refresh token to refresh with")]
    NoRefreshToken,

    /// The flow state was created by another client (another client id or
    /// redirect URI).
    #[error("flow state belongs to another client")]
    ClientMismatch,

    /// The flow state has no PKCE verifier, though this client uses PKCE:
    /// a stored state that lost it, or one made by a client without PKCE.
    #[error("flow state lacks the pkce verifier this client requires")]
    MissingPkceVerifier,

    /// A federation token id that is not a UUID in its hyphenated form, as
    /// Verys gives them (`"..\t"`, say, would address another resource).
    #[error("external token id is not a token id")]
    InvalidTokenId,

    /// The HTTP exchange itself failed: connection, timeout, size limit.
    #[error("transport error: {0}")]
    Transport(TransportError),

    /// The token store of a [`TokenManager`](crate::TokenManager) failed:
    /// unreachable, too slow, or holding what no manager wrote.
    #[error("token store error: {0}")]
    Store(StoreError),

    /// The stored sign-in has ended: its refresh token was found dead (by
    /// this replica or another), or the session's entry is gone. The user
    /// must sign in again.
    #[error("the stored sign-in has ended")]
    SignedOut,
}

impl Error {
    /// Whether the user must sign in again: nothing the application retries
    /// can mend it. True for a token request refused with `invalid_grant`
    /// (the refresh token is revoked, expired or rotated away; a code is
    /// spent or expired), for tokens without a refresh token, for a stored
    /// sign-in whose ID token is too old to restore, and for a callback
    /// saying that `prompt=none` found no usable session
    /// (`login_required`, `consent_required`, `interaction_required`).
    ///
    /// ```
    /// # fn demo(manager: &verys_client::TokenManager<verys_client::Confidential>) {
    /// match manager.access_token() {
    ///     Ok(token) => { /* call the API */ }
    ///     Err(error) if error.requires_sign_in() => { /* redirect to /login */ }
    ///     Err(error) => { /* a passing failure: 502, try again later */ }
    /// }
    /// # }
    /// ```
    pub fn requires_sign_in(&self) -> bool {
        match self {
            Error::TokenRequest(refused) => refused.error() == Some("invalid_grant"),
            Error::NoRefreshToken | Error::SignedOut | Error::InvalidIdToken(TokenRule::TooOld) => {
                true
            }
            Error::Callback { error, .. } => matches!(
                error.as_str(),
                "login_required" | "consent_required" | "interaction_required"
            ),
            _ => false,
        }
    }

    /// The HTTP status an application answers when a request of its own
    /// fails with this error: the table of [`Error`]'s documentation, which
    /// the `axum` feature's `IntoResponse` for `Error` answers too.
    ///
    /// ```
    /// use http::StatusCode;
    /// use verys_client::Error;
    ///
    /// assert_eq!(Error::StateMismatch.status(), StatusCode::BAD_REQUEST);
    /// assert_eq!(Error::SignedOut.status(), StatusCode::UNAUTHORIZED);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.answer().0
    }

    /// The status of [`status`](Error::status) and the body that goes with
    /// it: a fixed text of this crate's, never a text the error carries,
    /// which may be a server's.
    pub(crate) fn answer(&self) -> (StatusCode, &'static str) {
        const SIGN_IN_AGAIN: &str = "sign-in required";
        const UPSTREAM: &str = "bad answer from the identity provider";
        const UPSTREAM_DOWN: &str = "identity provider unavailable: try again later";
        // A Verys that says so itself is down for a while, not broken.
        let down = |refused: &ServerError| {
            refused.status == 503 || refused.error() == Some("temporarily_unavailable")
        };
        if self.requires_sign_in() {
            return (StatusCode::UNAUTHORIZED, SIGN_IN_AGAIN);
        }
        // Every variant and every kind by name, no wildcard: a new one is
        // a decision to make here.
        match self {
            Error::NoRefreshToken | Error::SignedOut => (StatusCode::UNAUTHORIZED, SIGN_IN_AGAIN),
            Error::ExternalReauth { .. } => (
                StatusCode::UNAUTHORIZED,
                "the linked account must be authorized again",
            ),
            Error::InvalidAccessToken(_) => (StatusCode::UNAUTHORIZED, "invalid access token"),
            Error::Callback { error, .. } => match error.as_str() {
                "access_denied" => (StatusCode::FORBIDDEN, "sign-in refused"),
                "server_error" => (StatusCode::BAD_GATEWAY, UPSTREAM),
                "temporarily_unavailable" => (StatusCode::SERVICE_UNAVAILABLE, UPSTREAM_DOWN),
                _ => (
                    StatusCode::BAD_REQUEST,
                    "sign-in failed: the identity provider refused the request",
                ),
            },
            Error::MissingScope(_) => (
                StatusCode::FORBIDDEN,
                "the access token lacks a required scope",
            ),
            Error::MissingRole(_) => (StatusCode::FORBIDDEN, "a required role is missing"),
            Error::MissingState => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: the callback has no state",
            ),
            Error::StateMismatch => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: the callback's state is not this sign-in's",
            ),
            Error::MissingCode => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: the callback has no code",
            ),
            Error::DuplicateParameter(_) => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: the callback repeats a parameter",
            ),
            Error::IssuerMismatch => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: the callback comes from another issuer",
            ),
            Error::MissingIssuer => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: the callback does not name its issuer",
            ),
            Error::MalformedCallback(_) => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: malformed callback",
            ),
            Error::ClientMismatch => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: the sign-in belongs to another client",
            ),
            Error::MissingPkceVerifier => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: the sign-in lost its pkce verifier",
            ),
            Error::InvalidTokenId => (StatusCode::BAD_REQUEST, "invalid external token id"),
            Error::TokenRequest(refused) | Error::Endpoint { error: refused, .. }
                if down(refused) =>
            {
                (StatusCode::SERVICE_UNAVAILABLE, UPSTREAM_DOWN)
            }
            Error::TokenRequest(_)
            | Error::Endpoint { .. }
            | Error::InvalidResponse { .. }
            | Error::InvalidIdToken(_)
            | Error::NonceMismatch
            | Error::UserinfoSubjectMismatch
            | Error::JwksFetch(_)
            | Error::NoUsableKey => (StatusCode::BAD_GATEWAY, UPSTREAM),
            Error::FederationFailed { .. } => {
                (StatusCode::BAD_GATEWAY, "linking the account failed")
            }
            Error::Transport(failed) => match failed.kind {
                TransportErrorKind::Timeout => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "the identity provider did not answer in time",
                ),
                TransportErrorKind::Connect | TransportErrorKind::Tls => {
                    (StatusCode::BAD_GATEWAY, "identity provider unreachable")
                }
                TransportErrorKind::BodyTooLarge | TransportErrorKind::Other => {
                    (StatusCode::BAD_GATEWAY, UPSTREAM)
                }
            },
            Error::Store(failed) => match failed.kind {
                StoreErrorKind::Unavailable | StoreErrorKind::Timeout | StoreErrorKind::Corrupt => {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "service unavailable: try again later",
                    )
                }
            },
            Error::Config(_) | Error::Discovery(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
        }
    }

    /// This error with every text that quotes one of `secrets` left out: a
    /// server that echoes what it was sent (a secret, a code, a token)
    /// cannot put it into an error, nor so into a log.
    pub(crate) fn without(self, secrets: &[secrecy::SecretString]) -> Self {
        use secrecy::ExposeSecret as _;
        let quotes = |text: &str| {
            secrets.iter().any(|secret| {
                let secret = secret.expose_secret();
                !secret.is_empty() && text.contains(secret)
            })
        };
        let clean = |text: Option<String>| text.filter(|text| !quotes(text));
        let server = |error: ServerError| ServerError {
            error: clean(error.error),
            description: clean(error.description),
            content_type: clean(error.content_type),
            ..error
        };
        match self {
            Error::TokenRequest(error) => Error::TokenRequest(server(error)),
            Error::Endpoint { endpoint, error } => Error::Endpoint {
                endpoint,
                error: server(error),
            },
            Error::ExternalReauth { provider_id, .. } if quotes(&provider_id) => {
                Error::InvalidResponse {
                    endpoint: "federation",
                    reason: "provider_id is not a provider id".into(),
                }
            }
            Error::ExternalReauth {
                provider_id,
                description,
            } => Error::ExternalReauth {
                provider_id,
                description: clean(description),
            },
            Error::InvalidResponse { endpoint, reason } if quotes(&reason) => {
                Error::InvalidResponse {
                    endpoint,
                    reason: "the answer is not what the protocol says".into(),
                }
            }
            Error::Transport(error) if quotes(&error.message) => {
                Error::Transport(TransportError::new(error.kind, "details withheld"))
            }
            other => other,
        }
    }
}

fn describe(error: &str, description: Option<&str>) -> String {
    match description {
        Some(description) => format!("{error}: {description}"),
        None => error.to_owned(),
    }
}

/// What a Verys endpoint answered when it refused a request.
///
/// Its texts are the server's, kept only when short and free of anything
/// that looks like a token: a confused or hostile server cannot make an
/// error message (and so a log line) carry a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerError {
    /// The HTTP status code.
    pub status: u16,
    /// The OAuth `error` code (or the `error` text of non-OAuth endpoints),
    /// when the body was a JSON object that had one fit to repeat (at most
    /// 64 characters of RFC 6749 §5.2's set).
    pub error: Option<String>,
    /// The OAuth `error_description`, when present and fit to repeat (at
    /// most 256 characters).
    pub description: Option<String>,
    /// The response's media type (`text/html`), which explains a missing
    /// `error`: an HTML error page of a proxy, for example.
    pub content_type: Option<String>,
}

impl ServerError {
    /// The OAuth `error` code, if the server sent one.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http {}", self.status)?;
        match (&self.error, &self.description) {
            (Some(error), Some(description)) => write!(f, ": {error}: {description}"),
            (Some(error), None) => write!(f, ": {error}"),
            (None, _) => match &self.content_type {
                Some(content_type) => write!(f, " with a non-oauth body ({content_type})"),
                None => write!(f, " with a non-oauth body"),
            },
        }
    }
}

/// The verification rule a token broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRule {
    /// Not a JWS compact serialization: the reason says which part is wrong.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header or the claims are not the JSON the rules need.
    #[error("malformed {part}: {reason}")]
    MalformedJson {
        /// `header` or `claims`.
        part: &'static str,
        /// What the JSON reader found wrong, and where (never the token's text).
        reason: String,
    },
    /// The `alg` header is missing or is not `EdDSA` / `Ed25519`: the name
    /// it gave if it is one of the registered JWS algorithms, `unrecognized`
    /// otherwise (the header is anyone's to write).
    #[error("algorithm {0:?} is not allowed")]
    Algorithm(Option<String>),
    /// The `typ` header is present and is not `JWT`: the type if it is one
    /// in use (`at+jwt`, …), `unrecognized` otherwise.
    #[error("token type {0:?} is not allowed")]
    Type(String),
    /// The header lists `crit` extensions, none of which this client knows.
    #[error("critical header extensions are not supported")]
    CriticalHeader,
    /// The header names no `kid`.
    #[error("token names no key id")]
    MissingKeyId,
    /// No usable key in the JWKS has the token's `kid`, even after a refetch.
    #[error("no key with the token's key id")]
    UnknownKeyId,
    /// Several keys of the JWKS share the token's `kid`.
    #[error("the jwks has several keys with the token's key id")]
    AmbiguousKeyId,
    /// The signature does not verify with the key.
    #[error("signature does not verify")]
    Signature,
    /// `iss` is not the configured issuer.
    #[error("issuer does not match")]
    Issuer,
    /// `aud` is missing or does not contain the expected audience.
    #[error("audience does not match")]
    Audience,
    /// `aud` names an audience besides this client that the client does not
    /// trust (OpenID Connect Core 3.1.3.7 step 3).
    #[error("audience names a party this client does not trust")]
    UntrustedAudience,
    /// `azp` is missing while there are several audiences, or names another client.
    #[error("authorized party does not match")]
    AuthorizedParty,
    /// `exp` is past, beyond the leeway.
    #[error("token has expired")]
    Expired,
    /// `iat` is in the future, beyond the leeway.
    #[error("token is issued in the future")]
    IssuedInFuture,
    /// `nbf` is in the future, beyond the leeway.
    #[error("token is not valid yet")]
    NotYetValid,
    /// The token is of the other kind: an access token offered as an ID
    /// token (it carries `scopes` or `scope`), or an ID token offered to a
    /// resource server (it carries `nonce`, `at_hash` or `auth_time`, or
    /// lacks `scopes`). Says which claim told.
    #[error("token is of the other kind: {0}")]
    OtherKind(&'static str),
    /// `at_hash` does not match the access token.
    #[error("at_hash does not match the access token")]
    AccessTokenHash,
    /// `at_hash` is missing and this client requires it.
    #[error("at_hash is missing")]
    MissingAccessTokenHash,
    /// `auth_time` is missing or too old for the `max_age` that was requested.
    #[error("authentication is older than max_age")]
    AuthTime,
    /// A restored sign-in's ID token was issued longer ago than the client
    /// allows.
    #[error("id token is older than a restored sign-in may be")]
    TooOld,
    /// A refreshed ID token names another subject, issuer or audience than the
    /// original one.
    #[error("refreshed id token changed its {0}")]
    Changed(&'static str),
}

/// A name that is none of a small protocol enum's values, from its
/// `FromStr` ([`Prompt`](crate::Prompt),
/// [`ClientAuthMethod`](crate::ClientAuthMethod)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a known {what}")]
#[non_exhaustive]
pub struct UnknownName {
    /// What was being named, such as `prompt`.
    pub what: &'static str,
    /// The name given.
    pub value: String,
}

/// A failure of the HTTP exchange itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportErrorKind,
    /// The HTTP library's account of it.
    pub message: String,
}

impl TransportError {
    /// An error of `kind`, with the HTTP stack's account of it: for an
    /// [`SyncHttpClient`](crate::transport::SyncHttpClient) or
    /// [`AsyncHttpClient`](crate::transport::AsyncHttpClient) of the
    /// user's. Its message must not quote a secret of the request.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// A failure of a token store (see [`crate::store`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreError {
    /// What kind of failure.
    pub kind: StoreErrorKind,
    /// The store's account of it, which names no key's value.
    pub message: String,
}

impl StoreError {
    /// An error of `kind`, described by `message`.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// The kind of a [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store cannot be reached, or refused the command.
    Unavailable,
    /// The store did not answer within the configured timeout, or another
    /// replica held the refresh lease for longer than a caller waits.
    Timeout,
    /// An entry no manager wrote.
    Corrupt,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unavailable => "unavailable",
            Self::Timeout => "timed out",
            Self::Corrupt => "corrupt entry",
        })
    }
}

/// The kind of a [`TransportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be made.
    Connect,
    /// The server did not answer within the configured timeout.
    Timeout,
    /// The response body is larger than the configured limit.
    BodyTooLarge,
    /// The TLS handshake failed: a certificate the client does not trust
    /// (a private certificate authority it was not given, say), or another
    /// TLS failure.
    Tls,
    /// Any other I/O or protocol failure.
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connection failed",
            Self::Timeout => "timed out",
            Self::BodyTooLarge => "response body too large",
            Self::Tls => "tls failure",
            Self::Other => "http failure",
        })
    }
}

impl From<TransportError> for Error {
    fn from(error: TransportError) -> Self {
        Error::Transport(error)
    }
}

/// A server's (or a callback's) text fit to be repeated in an error: at
/// most `max` characters of what RFC 6749 §5.2 allows in `error` and
/// `error_description` (printable ASCII but `"` and `\`), without a run of
/// 24 or more characters of base64url and `.` that holds a capital or a
/// digit. Tokens, codes and JWTs look like such runs, as random base64url
/// does; words, OAuth error codes (`unsupported_response_type`) and host
/// names (`login.microsoftonline.com`) do not. `None` otherwise: the text
/// is not repeated.
pub(crate) fn server_text(text: &str, max: usize) -> Option<String> {
    let printable = text.bytes().all(|b| {
        b == 0x20 || b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
    });
    let token_like = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .any(|run| {
            run.len() >= 24
                && run
                    .bytes()
                    .any(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        });
    (text.len() <= max && printable && !token_like).then(|| text.to_owned())
}

/// The longest OAuth `error` code repeated.
pub(crate) const ERROR_CODE_LIMIT: usize = 64;

/// The longest `error_description` repeated.
pub(crate) const DESCRIPTION_LIMIT: usize = 256;

/// What serde_json found wrong with a document, in words that quote nothing
/// from it: serde_json's own messages quote the values they could not read
/// (`invalid type: string "eyJ…"`), and such a value may be a token.
pub(crate) fn json_reason(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {}, column {}", error.line(), error.column());
    match error.classify() {
        Category::Eof => format!("not json: it ends early ({at})"),
        Category::Syntax | Category::Io => format!("not json ({at})"),
        Category::Data => {
            let message = error.to_string();
            // The only messages kept name a field of this crate's own types,
            // never a value or a name the document chose.
            for prefix in ["missing field `", "duplicate field `"] {
                let field = message
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.split_once('`'))
                    .map(|(field, _)| field)
                    .filter(|field| field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
                if let Some(field) = field {
                    return format!("{prefix}{field}` ({at})");
                }
            }
            format!("a value has the wrong type or shape ({at})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, error: Option<&str>) -> ServerError {
        ServerError {
            status,
            error: error.map(str::to_owned),
            description: None,
            content_type: None,
        }
    }

    fn callback(error: &str) -> Error {
        Error::Callback {
            error: error.to_owned(),
            description: None,
        }
    }

    fn endpoint(error: ServerError) -> Error {
        Error::Endpoint {
            endpoint: "userinfo",
            error,
        }
    }

    fn transport(kind: TransportErrorKind) -> Error {
        Error::Transport(TransportError::new(kind, "details"))
    }

    fn store(kind: StoreErrorKind) -> Error {
        Error::Store(StoreError::new(kind, "details"))
    }

    /// The test of each row of the status table, by the variant (and the
    /// kind or code) of `error`: no wildcard, so that a new variant or kind
    /// does not compile until a test pins its status.
    fn test_of(error: &Error) -> fn() {
        match error {
            Error::Config(_) => config_is_500,
            Error::Callback { error, .. } => match error.as_str() {
                "login_required" | "consent_required" | "interaction_required" => {
                    callback_without_a_session_is_401
                }
                "access_denied" => callback_access_denied_is_403,
                "server_error" => callback_server_error_is_502,
                "temporarily_unavailable" => callback_temporarily_unavailable_is_503,
                _ => callback_of_another_code_is_400,
            },
            Error::MissingCode => missing_code_is_400,
            Error::MissingState => missing_state_is_400,
            Error::StateMismatch => state_mismatch_is_400,
            Error::DuplicateParameter(_) => duplicate_parameter_is_400,
            Error::IssuerMismatch => issuer_mismatch_is_400,
            Error::MissingIssuer => missing_issuer_is_400,
            Error::MalformedCallback(_) => malformed_callback_is_400,
            Error::TokenRequest(refused) => match (refused.error(), refused.status) {
                (Some("invalid_grant"), _) => token_request_invalid_grant_is_401,
                (Some("temporarily_unavailable"), _) | (_, 503) => token_request_unavailable_is_503,
                _ => token_request_refused_is_502,
            },
            Error::Endpoint { error, .. } => match (error.error(), error.status) {
                (Some("temporarily_unavailable"), _) | (_, 503) => endpoint_unavailable_is_503,
                _ => endpoint_refused_is_502,
            },
            Error::InvalidResponse { .. } => invalid_response_is_502,
            Error::InvalidIdToken(TokenRule::TooOld) => invalid_id_token_too_old_is_401,
            Error::InvalidIdToken(_) => invalid_id_token_is_502,
            Error::InvalidAccessToken(_) => invalid_access_token_is_401,
            Error::NonceMismatch => nonce_mismatch_is_502,
            Error::ExternalReauth { .. } => external_reauth_is_401,
            Error::JwksFetch(_) => jwks_fetch_is_502,
            Error::NoUsableKey => no_usable_key_is_502,
            Error::MissingScope(_) => missing_scope_is_403,
            Error::MissingRole(_) => missing_role_is_403,
            Error::Discovery(_) => discovery_is_500,
            Error::UserinfoSubjectMismatch => userinfo_subject_mismatch_is_502,
            Error::FederationFailed { .. } => federation_failed_is_502,
            Error::NoRefreshToken => no_refresh_token_is_401,
            Error::ClientMismatch => client_mismatch_is_400,
            Error::MissingPkceVerifier => missing_pkce_verifier_is_400,
            Error::InvalidTokenId => invalid_token_id_is_400,
            Error::Transport(failed) => match failed.kind {
                TransportErrorKind::Connect => transport_connect_is_502,
                TransportErrorKind::Timeout => transport_timeout_is_504,
                TransportErrorKind::BodyTooLarge => transport_body_too_large_is_502,
                TransportErrorKind::Tls => transport_tls_is_502,
                TransportErrorKind::Other => transport_other_is_502,
            },
            Error::Store(failed) => match failed.kind {
                StoreErrorKind::Unavailable => store_unavailable_is_503,
                StoreErrorKind::Timeout => store_timeout_is_503,
                StoreErrorKind::Corrupt => store_corrupt_is_503,
            },
            Error::SignedOut => signed_out_is_401,
        }
    }

    /// A test per row: each of its errors answers the status, and is one
    /// that `test_of` sends to this test.
    macro_rules! statuses {
        ($($test:ident: [$($error:expr),+ $(,)?] => $status:ident;)+) => {$(
            #[test]
            fn $test() {
                for error in [$($error),+] {
                    assert_eq!(error.status(), StatusCode::$status, "{error:?}");
                    assert!(
                        std::ptr::fn_addr_eq(test_of(&error), $test as fn()),
                        "{error:?} belongs to another row"
                    );
                }
            }
        )+};
    }

    statuses! {
        config_is_500: [Error::Config("no redirect uri".into())] => INTERNAL_SERVER_ERROR;
        callback_without_a_session_is_401: [
            callback("login_required"),
            callback("consent_required"),
            callback("interaction_required"),
        ] => UNAUTHORIZED;
        callback_access_denied_is_403: [callback("access_denied")] => FORBIDDEN;
        callback_server_error_is_502: [callback("server_error")] => BAD_GATEWAY;
        callback_temporarily_unavailable_is_503: [callback("temporarily_unavailable")]
            => SERVICE_UNAVAILABLE;
        callback_of_another_code_is_400: [
            callback("invalid_request"),
            callback("invalid_scope"),
            callback("unauthorized_client"),
            callback("something_new"),
        ] => BAD_REQUEST;
        missing_code_is_400: [Error::MissingCode] => BAD_REQUEST;
        missing_state_is_400: [Error::MissingState] => BAD_REQUEST;
        state_mismatch_is_400: [Error::StateMismatch] => BAD_REQUEST;
        duplicate_parameter_is_400: [Error::DuplicateParameter("state".into())] => BAD_REQUEST;
        issuer_mismatch_is_400: [Error::IssuerMismatch] => BAD_REQUEST;
        missing_issuer_is_400: [Error::MissingIssuer] => BAD_REQUEST;
        malformed_callback_is_400: [Error::MalformedCallback("empty code".into())] => BAD_REQUEST;
        token_request_invalid_grant_is_401: [
            Error::TokenRequest(refused(400, Some("invalid_grant"))),
            Error::TokenRequest(refused(503, Some("invalid_grant"))),
        ] => UNAUTHORIZED;
        token_request_unavailable_is_503: [
            Error::TokenRequest(refused(503, None)),
            Error::TokenRequest(refused(400, Some("temporarily_unavailable"))),
        ] => SERVICE_UNAVAILABLE;
        token_request_refused_is_502: [
            Error::TokenRequest(refused(401, Some("invalid_client"))),
            Error::TokenRequest(refused(500, Some("server_error"))),
            Error::TokenRequest(refused(502, None)),
        ] => BAD_GATEWAY;
        endpoint_unavailable_is_503: [
            endpoint(refused(503, None)),
            endpoint(refused(400, Some("temporarily_unavailable"))),
        ] => SERVICE_UNAVAILABLE;
        endpoint_refused_is_502: [
            endpoint(refused(401, Some("invalid_token"))),
            endpoint(refused(400, Some("invalid_grant"))),
            endpoint(refused(500, None)),
        ] => BAD_GATEWAY;
        invalid_response_is_502: [Error::InvalidResponse {
            endpoint: "token",
            reason: "missing field `access_token`".into(),
        }] => BAD_GATEWAY;
        invalid_id_token_too_old_is_401: [Error::InvalidIdToken(TokenRule::TooOld)] => UNAUTHORIZED;
        invalid_id_token_is_502: [
            Error::InvalidIdToken(TokenRule::Signature),
            Error::InvalidIdToken(TokenRule::Expired),
        ] => BAD_GATEWAY;
        invalid_access_token_is_401: [
            Error::InvalidAccessToken(TokenRule::Expired),
            Error::InvalidAccessToken(TokenRule::TooOld),
        ] => UNAUTHORIZED;
        nonce_mismatch_is_502: [Error::NonceMismatch] => BAD_GATEWAY;
        external_reauth_is_401: [Error::ExternalReauth {
            provider_id: "github".into(),
            description: None,
        }] => UNAUTHORIZED;
        jwks_fetch_is_502: [Error::JwksFetch("http 500".into())] => BAD_GATEWAY;
        no_usable_key_is_502: [Error::NoUsableKey] => BAD_GATEWAY;
        missing_scope_is_403: [Error::MissingScope("api.read".into())] => FORBIDDEN;
        missing_role_is_403: [Error::MissingRole("admin".into())] => FORBIDDEN;
        discovery_is_500: [Error::Discovery("issuer differs".into())] => INTERNAL_SERVER_ERROR;
        userinfo_subject_mismatch_is_502: [Error::UserinfoSubjectMismatch] => BAD_GATEWAY;
        federation_failed_is_502: [Error::FederationFailed {
            provider_id: "github".into(),
            description: None,
        }] => BAD_GATEWAY;
        no_refresh_token_is_401: [Error::NoRefreshToken] => UNAUTHORIZED;
        client_mismatch_is_400: [Error::ClientMismatch] => BAD_REQUEST;
        missing_pkce_verifier_is_400: [Error::MissingPkceVerifier] => BAD_REQUEST;
        invalid_token_id_is_400: [Error::InvalidTokenId] => BAD_REQUEST;
        transport_connect_is_502: [transport(TransportErrorKind::Connect)] => BAD_GATEWAY;
        transport_timeout_is_504: [transport(TransportErrorKind::Timeout)] => GATEWAY_TIMEOUT;
        transport_body_too_large_is_502: [transport(TransportErrorKind::BodyTooLarge)]
            => BAD_GATEWAY;
        transport_tls_is_502: [transport(TransportErrorKind::Tls)] => BAD_GATEWAY;
        transport_other_is_502: [transport(TransportErrorKind::Other)] => BAD_GATEWAY;
        store_unavailable_is_503: [store(StoreErrorKind::Unavailable)] => SERVICE_UNAVAILABLE;
        store_timeout_is_503: [store(StoreErrorKind::Timeout)] => SERVICE_UNAVAILABLE;
        store_corrupt_is_503: [store(StoreErrorKind::Corrupt)] => SERVICE_UNAVAILABLE;
        signed_out_is_401: [Error::SignedOut] => UNAUTHORIZED;
    }

    #[test]
    fn only_errors_no_retry_can_mend_require_a_sign_in() {
        let refused = |status, error: &str| {
            Error::TokenRequest(ServerError {
                status,
                error: Some(error.to_owned()),
                description: None,
                content_type: None,
            })
        };
        let callback = |error: &str| Error::Callback {
            error: error.to_owned(),
            description: None,
        };
        let sign_in_again = [
            refused(400, "invalid_grant"),
            Error::NoRefreshToken,
            Error::InvalidIdToken(TokenRule::TooOld),
            callback("login_required"),
            callback("consent_required"),
            callback("interaction_required"),
        ];
        for error in &sign_in_again {
            assert!(error.requires_sign_in(), "{error:?}");
        }
        let passing_or_other = [
            refused(400, "invalid_request"),
            refused(401, "invalid_client"),
            refused(503, "temporarily_unavailable"),
            callback("access_denied"),
            Error::InvalidIdToken(TokenRule::Expired),
            Error::StateMismatch,
            Error::Transport(TransportError::new(
                TransportErrorKind::Timeout,
                "timed out",
            )),
            Error::ExternalReauth {
                provider_id: "github".into(),
                description: None,
            },
        ];
        for error in &passing_or_other {
            assert!(!error.requires_sign_in(), "{error:?}");
        }
    }

    #[test]
    fn server_texts_that_look_like_tokens_are_not_repeated() {
        for kept in [
            "invalid_grant",
            "unsupported_response_type",
            "reauthorization_required",
            "Authorization header required.",
            "Redirect to login.microsoftonline.com failed",
            "The gitlab token expired and could not be refreshed; the user must authorize again.",
        ] {
            assert_eq!(server_text(kept, DESCRIPTION_LIMIT).as_deref(), Some(kept));
        }
        for dropped in [
            "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZGEifQ.c2ln",
            "refresh token Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg is revoked",
            "a \"quoted\" text",
            "line\nbreak",
            "é",
        ] {
            assert_eq!(server_text(dropped, DESCRIPTION_LIMIT), None, "{dropped}");
        }
        assert_eq!(server_text(&"x".repeat(65), ERROR_CODE_LIMIT), None);
    }
}
