//! The token endpoint's grants: `authorization_code` and `refresh_token`,
//! whose ID token is verified before `Tokens` exist, and RFC 8693 token
//! exchange.

use ed25519_dalek::VerifyingKey;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::sync::Arc;

use crate::error::Error;
use crate::flow::CallbackReceived;
use crate::flow::tokens::{AccessToken, ExchangedToken, RefreshToken, Tokens};
use crate::kind::ClientKind;
use crate::protocol::config::Config;
use crate::protocol::jwks::KeyError;
use crate::protocol::wire::HttpResponse;
use crate::protocol::{Call, Operation, Step, read_answer, server_error, unexpected};
use crate::verify::id_token::{IdTokenClaims, IdTokenRules, NonceRule};
use crate::verify::jwt;

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

/// Reads a token endpoint answer. A 200 whose object has an `error` member
/// is treated as the refusal it is (see [`read_answer`]).
pub(crate) fn decode_token_response(response: HttpResponse) -> Result<TokenResponse, Error> {
    if response.status != 200 {
        return Err(Error::TokenRequest(server_error(&response)));
    }
    let decoded: TokenResponse = read_answer(&response, "token")?.map_err(Error::TokenRequest)?;
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

/// What a grant's ID token must satisfy beyond the fixed rules.
pub(crate) enum GrantKind {
    /// `authorization_code`: the nonce sent, and `max_age` when requested.
    Code { nonce: String, max_age: Option<u64> },
    /// `refresh_token`: same subject, nonce absent or the original.
    Refresh { previous: Box<Tokens> },
}

/// The `authorization_code` and `refresh_token` grants: post, then verify the
/// ID token with the key its `kid` names.
pub(crate) struct Grant {
    config: Arc<Config>,
    request: Option<crate::protocol::wire::HttpRequest>,
    kind: GrantKind,
    response: Option<TokenResponse>,
}

impl Grant {
    fn new(
        config: Arc<Config>,
        request: crate::protocol::wire::HttpRequest,
        kind: GrantKind,
    ) -> Self {
        Self {
            config,
            request: Some(request),
            kind,
            response: None,
        }
    }

    /// The ID token's key, once the answer is read: a refresh answer without
    /// an ID token keeps the identity already verified (OpenID Connect Core
    /// 12.2).
    fn key_of_the_id_token(&mut self, now: u64) -> Result<Step<Tokens>, Error> {
        let Some(response) = self.response.as_ref() else {
            return Err(unexpected("an id token"));
        };
        match (&response.id_token, &self.kind) {
            (Some(id_token), _) => {
                let mut jws = jwt::parse(id_token).map_err(Error::InvalidIdToken)?;
                Ok(Step::Key(jws.take_kid()))
            }
            (None, GrantKind::Refresh { previous }) => {
                let (id_token, claims) =
                    (previous.id_token().to_owned(), previous.claims().clone());
                self.finish(id_token, claims, now)
            }
            (None, GrantKind::Code { .. }) => Err(Error::InvalidResponse {
                endpoint: "token",
                reason: "missing field `id_token`".into(),
            }),
        }
    }

    fn verify(&mut self, key: &VerifyingKey, now: u64) -> Result<Step<Tokens>, Error> {
        let Some(response) = self.response.as_ref() else {
            return Err(unexpected("a key"));
        };
        let Some(id_token) = response.id_token.clone() else {
            return Err(unexpected("a key"));
        };
        let (nonce, max_age, previous) = match &self.kind {
            GrantKind::Code { nonce, max_age } => (NonceRule::Equals(nonce), *max_age, None),
            GrantKind::Refresh { previous } => (
                NonceRule::AbsentOrEquals(previous.original_nonce()),
                None,
                Some(previous.claims()),
            ),
        };
        let rules = IdTokenRules {
            access_token: Some(response.access_token.expose_secret()),
            max_age,
            previous,
            ..self.config.id_token_rules(now, nonce)
        };
        let jws = jwt::parse(&id_token).map_err(Error::InvalidIdToken)?;
        let claims = IdTokenClaims::verify(jws, key, &rules)?;
        self.finish(id_token, claims, now)
    }

    fn finish(
        &mut self,
        id_token: String,
        claims: IdTokenClaims,
        now: u64,
    ) -> Result<Step<Tokens>, Error> {
        let response = self
            .response
            .take()
            .ok_or_else(|| unexpected("a response"))?;
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
        Ok(Step::Done(Tokens {
            id_token,
            claims,
            access_token: AccessToken::issued(response.access_token, now, response.expires_in),
            refresh_token: response
                .refresh_token
                .map(RefreshToken::new)
                .or(previous_refresh),
            scopes,
            nonce: original_nonce,
        }))
    }
}

impl Operation for Grant {
    type Output = Tokens;
    fn name(&self) -> &'static str {
        match self.kind {
            GrantKind::Code { .. } => "authorization_code",
            GrantKind::Refresh { .. } => "refresh",
        }
    }
    fn start(&mut self, _: u64) -> Result<Step<Tokens>, Error> {
        self.request
            .take()
            .map(Step::Send)
            .ok_or_else(|| unexpected("a second start"))
    }
    fn on_response(&mut self, response: HttpResponse, now: u64) -> Result<Step<Tokens>, Error> {
        self.response = Some(decode_token_response(response)?);
        self.key_of_the_id_token(now)
    }
    fn on_key(
        &mut self,
        key: Result<VerifyingKey, KeyError>,
        now: u64,
    ) -> Result<Step<Tokens>, Error> {
        self.verify(&key.map_err(|e| e.of(Error::InvalidIdToken))?, now)
    }
}

/// Reads an RFC 8693 token exchange answer that arrived at `now`.
fn decode_exchange(response: HttpResponse, now: u64) -> Result<ExchangedToken, Error> {
    let decoded = decode_token_response(response)?;
    let issued_token_type = decoded
        .issued_token_type
        .ok_or_else(|| Error::InvalidResponse {
            endpoint: "token",
            reason: "missing field `issued_token_type`".into(),
        })?;
    // What was asked for, and what `ExchangedToken` holds: anything else
    // (an ID token, a refresh token) is no bearer token to call an API with.
    // The value is not quoted: it is the server's text.
    if issued_token_type != ACCESS_TOKEN_TYPE {
        return Err(Error::InvalidResponse {
            endpoint: "token",
            reason: "issued_token_type is not an access token".into(),
        });
    }
    Ok(ExchangedToken::new(
        AccessToken::issued(decoded.access_token, now, decoded.expires_in),
        issued_token_type,
    ))
}

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The `authorization_code` grant for a callback whose state matched.
pub(crate) fn code_grant<K: ClientKind>(
    config: &Arc<Config>,
    received: CallbackReceived<K>,
) -> Result<Grant, Error> {
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
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code.expose_secret()),
        ("redirect_uri", pending.redirect_uri()),
    ];
    if let Some(verifier) = pending.verifier() {
        params.push(("code_verifier", verifier.expose()));
    }
    let request = config.token_request(&params);
    let (nonce, max_age) = pending.into_nonce();
    Ok(Grant::new(
        Arc::clone(config),
        request,
        GrantKind::Code { nonce, max_age },
    ))
}

/// The `refresh_token` grant.
pub(crate) fn refresh_grant(config: &Arc<Config>, tokens: &Tokens) -> Result<Grant, Error> {
    let refresh_token = tokens.refresh_token().ok_or(Error::NoRefreshToken)?;
    let request = config.token_request(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose_secret()),
    ]);
    let previous = Box::new(tokens.clone());
    Ok(Grant::new(
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
) -> Call<ExchangedToken> {
    let request = config.token_request(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject.expose_secret()),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("audience", audience),
    ]);
    Call::new("token_exchange", request, decode_exchange)
}
