//! The I/O-free core of every back-channel operation: which request to send,
//! how to read the answer, when the JWKS is needed, and what to check.
//!
//! An operation is a small state machine. It starts with a first [`Step`]
//! (usually a request to send) and is fed what the driver obtained
//! ([`Operation::on_response`], [`Operation::on_keys`]) until it is done. The
//! blocking and the async client each own one driver, a loop of a few lines
//! that performs the steps with its HTTP stack; nothing else differs between
//! them.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use crate::client::config::Config;
use crate::error::{
    DESCRIPTION_LIMIT, ERROR_CODE_LIMIT, Error, ServerError, json_reason, server_text,
};
use crate::flow::tokens::{AccessToken, ExchangedToken, RefreshToken, StoredTokens, Tokens};
use crate::transport::{HttpRequest, HttpResponse};
use crate::verify::id_token::{IdTokenClaims, IdTokenRules, NonceRule};
use crate::verify::jwks::{FetchTicket, Lookup};
use crate::verify::jwt;

/// What an operation needs next.
pub(crate) enum Step<T> {
    /// Send this request and pass the response to [`Operation::on_response`].
    Send(HttpRequest),
    /// Fetch the JWKS with this ticket (under the single-flight gate), then
    /// call [`Operation::on_keys`].
    FetchKeys(FetchTicket),
    /// Finished.
    Done(T),
}

/// A back-channel operation as a state machine.
pub(crate) trait Operation {
    type Output;
    fn on_response(&mut self, response: HttpResponse) -> Result<Step<Self::Output>, Error>;
    /// Called after a JWKS fetch was done or waited for; the cache now holds
    /// everything it will get before the cooldown ends.
    fn on_keys(&mut self) -> Result<Step<Self::Output>, Error>;
}

/// Feeds `op` the answer to `request`: the one way a driver hands a
/// response to the core, so that no error it yields quotes a secret the
/// request carried.
pub(crate) fn respond<O: Operation>(
    op: &mut O,
    request: &HttpRequest,
    response: Result<HttpResponse, Error>,
) -> Result<Step<O::Output>, Error> {
    response
        .and_then(|response| op.on_response(response))
        .map_err(|error| error.without(&request.secrets))
}

/// An operation and its first step.
pub(crate) struct Started<O: Operation> {
    pub step: Step<O::Output>,
    pub op: O,
}

impl<O: Operation> Started<O> {
    pub(crate) fn send(request: HttpRequest, op: O) -> Self {
        Self {
            step: Step::Send(request),
            op,
        }
    }
}

/// How a [`Call`] reads its answer.
pub(crate) type Decode<T> = Box<dyn FnOnce(HttpResponse) -> Result<T, Error> + Send + Sync>;

/// The simplest operation: one request, one decoded answer.
pub(crate) struct Call<T> {
    decode: Option<Decode<T>>,
}

impl<T> Call<T> {
    pub(crate) fn start(
        request: HttpRequest,
        decode: impl FnOnce(HttpResponse) -> Result<T, Error> + Send + Sync + 'static,
    ) -> Started<Self> {
        Started::send(
            request,
            Self {
                decode: Some(Box::new(decode)),
            },
        )
    }
}

impl<T> Operation for Call<T> {
    type Output = T;
    fn on_response(&mut self, response: HttpResponse) -> Result<Step<T>, Error> {
        let decode = self
            .decode
            .take()
            .ok_or_else(|| unexpected("a second response"))?;
        decode(response).map(Step::Done)
    }
    fn on_keys(&mut self) -> Result<Step<T>, Error> {
        Err(unexpected("keys"))
    }
}

fn unexpected(what: &str) -> Error {
    Error::InvalidResponse {
        endpoint: "client",
        reason: format!("operation was not waiting for {what}"),
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<serde_json::Value>,
    error_description: Option<serde_json::Value>,
}

/// Reads an error answer: the OAuth `error`/`error_description` of a JSON
/// body when there is one, and only the status otherwise (an HTML page of a
/// proxy, an empty body).
pub(crate) fn server_error(response: &HttpResponse) -> ServerError {
    let body: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
    let text = |value: Option<serde_json::Value>, max| match value {
        Some(serde_json::Value::String(text)) => server_text(&text, max),
        _ => None,
    };
    let (error, description) = body.map_or((None, None), |b| {
        (
            text(b.error, ERROR_CODE_LIMIT),
            text(b.error_description, DESCRIPTION_LIMIT),
        )
    });
    let media_type = response.content_type.as_deref().and_then(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim();
        server_text(essence, ERROR_CODE_LIMIT)
    });
    ServerError {
        status: response.status,
        error,
        description,
        content_type: media_type,
    }
}

/// Decodes a successful JSON answer of a non-token endpoint.
pub(crate) fn decode_success<T: DeserializeOwned>(
    response: &HttpResponse,
    endpoint: &'static str,
) -> Result<T, Error> {
    if !(200..300).contains(&response.status) {
        return Err(Error::Endpoint {
            endpoint,
            error: server_error(response),
        });
    }
    serde_json::from_slice(&response.body).map_err(|error| Error::InvalidResponse {
        endpoint,
        reason: json_reason(&error),
    })
}

/// A successful token endpoint answer (all grants).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: secrecy::SecretString,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub id_token: Option<String>,
    pub refresh_token: Option<secrecy::SecretString>,
    pub scope: Option<String>,
    pub issued_token_type: Option<String>,
}

/// Reads a token endpoint answer. A 200 that carries an `error` field is
/// treated as the refusal it is.
pub(crate) fn decode_token_response(response: HttpResponse) -> Result<TokenResponse, Error> {
    let refused = server_error(&response);
    if response.status != 200 || refused.error.is_some() {
        return Err(Error::TokenRequest(refused));
    }
    let decoded: TokenResponse =
        serde_json::from_slice(&response.body).map_err(|error| Error::InvalidResponse {
            endpoint: "token",
            reason: json_reason(&error),
        })?;
    if !decoded.token_type.eq_ignore_ascii_case("bearer") {
        return Err(Error::InvalidResponse {
            endpoint: "token",
            // The value itself is not quoted: it is the server's text, and a
            // confused server may put a token there.
            reason: "token_type is not bearer".into(),
        });
    }
    Ok(decoded)
}

/// The outcome of a check that may need the JWKS first.
pub(crate) enum Keyed<T> {
    Done(T),
    Fetch(FetchTicket),
}

/// Parses an ID token, finds its key (or asks for a fetch when it is not
/// cached, or old, and `may_fetch`) and verifies it under `rules`.
pub(crate) fn check_id_token(
    config: &Config,
    token: &str,
    rules: &IdTokenRules<'_>,
    may_fetch: bool,
) -> Result<Keyed<IdTokenClaims>, Error> {
    let jws = jwt::parse(token).map_err(Error::InvalidIdToken)?;
    match config.jwks.key(jws.kid(), rules.common.now, may_fetch)? {
        Lookup::Found(key) => IdTokenClaims::verify(jws, &key, rules).map(Keyed::Done),
        Lookup::Fetch(ticket) | Lookup::Refresh(ticket) => Ok(Keyed::Fetch(ticket)),
    }
}

/// Verification of an ID token obtained outside this client's flows. It
/// borrows everything: on the hot path (key cached) nothing is copied.
pub(crate) struct IdTokenCheck<'a> {
    config: &'a Config,
    token: &'a str,
    nonce: Option<&'a str>,
}

impl<'a> IdTokenCheck<'a> {
    /// Starts with the cached keys; a fetch only if the key is not cached.
    pub(crate) fn start(
        config: &'a Config,
        token: &'a str,
        nonce: Option<&'a str>,
    ) -> Result<Started<Self>, Error> {
        let mut op = Self {
            config,
            token,
            nonce,
        };
        let step = op.check(true)?;
        Ok(Started { step, op })
    }

    fn check(&mut self, may_fetch: bool) -> Result<Step<IdTokenClaims>, Error> {
        let nonce = match self.nonce {
            Some(nonce) => NonceRule::Equals(nonce),
            None => NonceRule::AbsentOrEquals(None),
        };
        let rules = self.config.id_token_rules(self.config.clock.now(), nonce);
        Ok(
            match check_id_token(self.config, self.token, &rules, may_fetch)? {
                Keyed::Done(claims) => Step::Done(claims),
                Keyed::Fetch(ticket) => Step::FetchKeys(ticket),
            },
        )
    }
}

impl Operation for IdTokenCheck<'_> {
    type Output = IdTokenClaims;
    fn on_response(&mut self, _: HttpResponse) -> Result<Step<IdTokenClaims>, Error> {
        Err(unexpected("a response"))
    }
    fn on_keys(&mut self) -> Result<Step<IdTokenClaims>, Error> {
        self.check(false)
    }
}

/// Restoration of stored tokens: their ID token verified again (signature,
/// `iss`, `aud`/`azp`, `iat`, `nonce`), bound to the stored access token by
/// its `at_hash` when it has one, and no older than the client allows; but
/// not its expiry, which a stored sign-in outlives.
pub(crate) struct Restore<'a> {
    config: &'a Config,
    stored: Option<StoredTokens>,
}

impl<'a> Restore<'a> {
    pub(crate) fn start(config: &'a Config, stored: StoredTokens) -> Result<Started<Self>, Error> {
        let mut op = Self {
            config,
            stored: Some(stored),
        };
        let step = op.check(true)?;
        Ok(Started { step, op })
    }

    fn check(&mut self, may_fetch: bool) -> Result<Step<Tokens>, Error> {
        let stored = self.stored.as_ref().ok_or_else(|| unexpected("keys"))?;
        let mut rules = IdTokenRules {
            access_token: Some(stored.access_token()),
            max_token_age: Some(self.config.restored_max_age),
            ..self.config.id_token_rules(
                self.config.clock.now(),
                NonceRule::AbsentOrEquals(stored.nonce()),
            )
        };
        rules.common.check_expiry = false;
        match check_id_token(self.config, stored.id_token(), &rules, may_fetch)? {
            Keyed::Fetch(ticket) => Ok(Step::FetchKeys(ticket)),
            Keyed::Done(claims) => {
                let stored = self.stored.take().ok_or_else(|| unexpected("keys"))?;
                Ok(Step::Done(stored.into_tokens(claims)))
            }
        }
    }
}

impl Operation for Restore<'_> {
    type Output = Tokens;
    fn on_response(&mut self, _: HttpResponse) -> Result<Step<Tokens>, Error> {
        Err(unexpected("a response"))
    }
    fn on_keys(&mut self) -> Result<Step<Tokens>, Error> {
        self.check(false)
    }
}

/// What a grant's ID token must satisfy beyond the fixed rules.
pub(crate) enum GrantKind {
    /// `authorization_code`: the nonce sent, and `max_age` when requested.
    Code { nonce: String, max_age: Option<u64> },
    /// `refresh_token`: same subject, nonce absent or the original.
    Refresh { previous: Box<Tokens> },
}

/// The `authorization_code` and `refresh_token` grants: post, then verify the
/// ID token, fetching the JWKS first if its key is not cached.
pub(crate) struct Grant {
    config: Arc<Config>,
    kind: GrantKind,
    response: Option<TokenResponse>,
}

impl Grant {
    pub(crate) fn start(
        config: Arc<Config>,
        request: HttpRequest,
        kind: GrantKind,
    ) -> Started<Self> {
        Started::send(
            request,
            Self {
                config,
                kind,
                response: None,
            },
        )
    }

    fn verify(&mut self, may_fetch: bool) -> Result<Step<Tokens>, Error> {
        let Some(response) = self.response.as_ref() else {
            return Err(unexpected("keys"));
        };
        let id_token = match (&response.id_token, &self.kind) {
            (Some(id_token), _) => id_token,
            (None, GrantKind::Refresh { .. }) => return self.finish_without_id_token(),
            (None, GrantKind::Code { .. }) => {
                return Err(Error::InvalidResponse {
                    endpoint: "token",
                    reason: "missing field `id_token`".into(),
                });
            }
        };
        let now = self.config.clock.now();
        let access_token = secrecy::ExposeSecret::expose_secret(&response.access_token);
        let (nonce, max_age, previous) = match &self.kind {
            GrantKind::Code { nonce, max_age } => (NonceRule::Equals(nonce), *max_age, None),
            GrantKind::Refresh { previous } => (
                NonceRule::AbsentOrEquals(previous.original_nonce()),
                None,
                Some(previous.claims()),
            ),
        };
        let rules = IdTokenRules {
            access_token: Some(access_token),
            max_age,
            previous,
            ..self.config.id_token_rules(now, nonce)
        };
        match check_id_token(&self.config, id_token, &rules, may_fetch)? {
            Keyed::Done(claims) => {
                let id_token = id_token.clone();
                self.finish(id_token, claims)
            }
            Keyed::Fetch(ticket) => Ok(Step::FetchKeys(ticket)),
        }
    }

    fn finish(&mut self, id_token: String, claims: IdTokenClaims) -> Result<Step<Tokens>, Error> {
        let response = self
            .response
            .take()
            .ok_or_else(|| unexpected("a response"))?;
        let now = self.config.clock.now();
        let (original_nonce, previous_refresh) = match &mut self.kind {
            GrantKind::Code { nonce, .. } => (Some(std::mem::take(nonce)), None),
            GrantKind::Refresh { previous } => (
                previous.original_nonce().map(str::to_owned),
                previous.take_refresh_token(),
            ),
        };
        let scopes = match &response.scope {
            Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
            None => self.config.scopes.clone(),
        };
        let expires_at = response.expires_in.map(|e| now.saturating_add(e));
        Ok(Step::Done(Tokens {
            id_token,
            claims,
            access_token: AccessToken::new(response.access_token, expires_at),
            refresh_token: response
                .refresh_token
                .map(RefreshToken::new)
                .or(previous_refresh),
            scopes,
            nonce: original_nonce,
        }))
    }

    /// OpenID Connect Core 12.2 lets a refresh answer omit the ID token; the
    /// identity is then the one already verified.
    fn finish_without_id_token(&mut self) -> Result<Step<Tokens>, Error> {
        let GrantKind::Refresh { previous } = &self.kind else {
            return Err(unexpected("a refresh"));
        };
        let (id_token, claims) = (previous.id_token().to_owned(), previous.claims().clone());
        self.finish(id_token, claims)
    }
}

impl Operation for Grant {
    type Output = Tokens;
    fn on_response(&mut self, response: HttpResponse) -> Result<Step<Tokens>, Error> {
        self.response = Some(decode_token_response(response)?);
        self.verify(true)
    }
    fn on_keys(&mut self) -> Result<Step<Tokens>, Error> {
        self.verify(false)
    }
}

/// Reads an RFC 8693 token exchange answer to a request sent at `sent_at`.
pub(crate) fn decode_exchange(
    response: HttpResponse,
    sent_at: u64,
) -> Result<ExchangedToken, Error> {
    let decoded = decode_token_response(response)?;
    let issued_token_type = decoded
        .issued_token_type
        .ok_or_else(|| Error::InvalidResponse {
            endpoint: "token",
            reason: "missing field `issued_token_type`".into(),
        })?;
    let expires_at = decoded.expires_in.map(|e| sent_at.saturating_add(e));
    Ok(ExchangedToken::new(
        AccessToken::new(decoded.access_token, expires_at),
        issued_token_type,
    ))
}

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The `authorization_code` grant for a callback whose state matched.
pub(crate) fn code_grant<K: crate::flow::kind::ClientKind>(
    config: &Arc<Config>,
    received: crate::flow::CallbackReceived<K>,
) -> Result<Started<Grant>, Error> {
    let (code, pending, issuer_parameter) = received.into_parts();
    if pending.client_id() != config.client_id
        || pending.issuer() != config.issuer
        || pending.redirect_uri() != config.redirect_uri
    {
        return Err(Error::ClientMismatch);
    }
    // The client's setting, not only the stored flow state's: a store that
    // dropped the requirement does not turn off the mix-up check.
    if config.require_issuer_parameter && !issuer_parameter {
        return Err(Error::MissingIssuer);
    }
    // A flow state that lost its verifier (a tampered store, a state made
    // without PKCE) would send the code unbound: RFC 9700 §2.1.1.
    if config.pkce && pending.verifier().is_none() {
        return Err(Error::MissingPkceVerifier);
    }
    let code = secrecy::ExposeSecret::expose_secret(&code);
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", pending.redirect_uri()),
    ];
    if let Some(verifier) = pending.verifier() {
        params.push(("code_verifier", verifier.expose()));
    }
    let request = config.token_request(&params);
    let (nonce, max_age) = pending.into_nonce();
    Ok(Grant::start(
        Arc::clone(config),
        request,
        GrantKind::Code { nonce, max_age },
    ))
}

/// The `refresh_token` grant.
pub(crate) fn refresh_grant(
    config: &Arc<Config>,
    tokens: &Tokens,
) -> Result<Started<Grant>, Error> {
    let refresh_token = tokens.refresh_token().ok_or(Error::NoRefreshToken)?;
    let request = config.token_request(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose_secret()),
    ]);
    let previous = Box::new(tokens.clone());
    Ok(Grant::start(
        Arc::clone(config),
        request,
        GrantKind::Refresh { previous },
    ))
}

/// RFC 8693 token exchange of `subject` for a token whose audience is the
/// client `audience`.
pub(crate) fn token_exchange(
    config: &Config,
    subject: &AccessToken,
    audience: &str,
) -> Started<Call<ExchangedToken>> {
    let request = config.token_request(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject.expose_secret()),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("audience", audience),
    ]);
    let sent_at = config.clock.now();
    Call::start(request, move |response| decode_exchange(response, sent_at))
}
