//! The tokens a client holds after a successful flow.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::clock::{Clock, SystemClock, system_time};
use crate::verify::id_token::IdTokenClaims;

/// A bearer access token. `Debug` and `Display` never show it; read it with
/// [`AccessToken::expose_secret`] where it is sent.
#[derive(Clone)]
pub struct AccessToken {
    value: SecretString,
    expires_at: Option<u64>,
    /// The `expires_in` the server granted it, in seconds.
    lifetime: Option<u64>,
}

impl AccessToken {
    /// A token the server issued at `now`, for `expires_in` seconds when it
    /// said.
    pub(crate) fn issued(value: SecretString, now: u64, expires_in: Option<u64>) -> Self {
        Self {
            value,
            expires_at: expires_in.map(|lifetime| now.saturating_add(lifetime)),
            lifetime: expires_in,
        }
    }

    /// The token itself, to put in an `Authorization: Bearer` header.
    pub fn expose_secret(&self) -> &str {
        self.value.expose_secret()
    }

    /// When the token expires, as computed from `expires_in` when it was
    /// received; `None` if the server did not say.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at.map(system_time)
    }

    /// Whether the token has expired by the system clock. A token without a
    /// known expiry is taken as valid: the server will say otherwise.
    pub fn is_expired(&self) -> bool {
        self.expires_within(&SystemClock, Duration::ZERO)
    }

    /// Whether the token will have expired `margin` from now by `clock`, the
    /// check a holder makes to refresh ahead of time.
    pub fn expires_within(&self, clock: &dyn Clock, margin: Duration) -> bool {
        self.expires_at
            .is_some_and(|at| clock.now().saturating_add(margin.as_secs()) >= at)
    }

    /// How long before its expiry a holder refreshes the token: `margin`,
    /// or half the token's lifetime when that is shorter. A server that
    /// grants tokens for less than the margin would otherwise have every
    /// request for a token refresh it again.
    pub(crate) fn refresh_margin(&self, margin: Duration) -> Duration {
        match self.lifetime {
            Some(lifetime) => margin.min(Duration::from_secs(lifetime / 2)),
            None => margin,
        }
    }

    /// Whether a holder refreshing `margin` ahead (see
    /// [`refresh_margin`](Self::refresh_margin)) refreshes it now.
    pub(crate) fn refresh_due(&self, clock: &dyn Clock, margin: Duration) -> bool {
        self.expires_within(clock, self.refresh_margin(margin))
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED access token]")
    }
}

/// A refresh token. Verys rotates them: each refresh returns a new one and
/// revokes the old one, so persist the newest.
#[derive(Clone)]
pub struct RefreshToken(SecretString);

impl RefreshToken {
    pub(crate) fn new(value: SecretString) -> Self {
        Self(value)
    }

    /// The token itself, to persist.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

impl fmt::Display for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED refresh token]")
    }
}

/// The outcome of a successful sign-in or refresh: a verified ID token with
/// its claims, and the access and refresh tokens issued with it.
///
/// There is no public constructor: a `Tokens` exists only after its ID token
/// passed every verification rule.
#[derive(Clone)]
pub struct Tokens {
    pub(crate) id_token: String,
    pub(crate) claims: IdTokenClaims,
    pub(crate) access_token: AccessToken,
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) scopes: Vec<String>,
    /// The nonce of the original sign-in, which a refreshed ID token may repeat.
    pub(crate) nonce: Option<String>,
}

impl Tokens {
    /// The verified ID token's claims.
    pub fn claims(&self) -> &IdTokenClaims {
        &self.claims
    }

    /// The user's subject identifier, the stable key for a user account.
    pub fn sub(&self) -> &str {
        self.claims.sub()
    }

    /// The raw ID token, for `id_token_hint` at logout.
    pub fn id_token(&self) -> &str {
        &self.id_token
    }

    /// The access token for calls to Verys (userinfo, federation) and to
    /// resource servers.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// The refresh token, if the server issued one.
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    /// When the access token expires, if the server said.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.access_token.expires_at()
    }

    /// The scopes granted (as the server reported them, or as requested when
    /// it did not say).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    pub(crate) fn original_nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    pub(crate) fn take_refresh_token(&mut self) -> Option<RefreshToken> {
        self.refresh_token.take()
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("claims", &self.claims)
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// An access token obtained by token exchange (RFC 8693) for another audience.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExchangedToken {
    /// The new access token, scoped to the requested audience.
    pub access_token: AccessToken,
    /// The `issued_token_type`: `urn:ietf:params:oauth:token-type:access_token`,
    /// as asked for; an answer of another type is refused.
    pub issued_token_type: String,
}

impl ExchangedToken {
    pub(crate) fn new(access_token: AccessToken, issued_token_type: String) -> Self {
        Self {
            access_token,
            issued_token_type,
        }
    }
}

/// [`Tokens`] in a form that can be stored (a session store, a database)
/// and restored with [`Client::restore_tokens`](crate::Client::restore_tokens),
/// which checks it again before handing `Tokens` back.
///
/// # What a stored value does and does not protect
///
/// Restoring verifies the ID token again (signature, issuer, audience,
/// nonce), checks that its `at_hash` names the stored access token, and that
/// it was issued no longer ago than
/// [`restored_id_token_max_age`](crate::ClientBuilder::restored_id_token_max_age)
/// (24 hours by default). So whoever can write to the store cannot make up
/// an identity Verys did not sign, pair one user's access token with another
/// user's ID token, or bring back an ID token from long ago.
///
/// It does not keep the tokens secret: the serialized form holds the access
/// and refresh tokens in clear, and whoever reads the store can call Verys
/// as the user. Nor can it stop a writer of the store from putting another
/// whole, recent sign-in in place of this one, or tie the refresh token to
/// the ID token (OpenID Connect has no hash for it; a refresh with another
/// user's refresh token fails the refresh rules, its ID token naming another
/// subject). Keep stored sign-ins where the application alone reads and
/// writes them, such as a server-side session store; where the store is
/// beyond that (a cookie, a cache other services share), wrap them in
/// authenticated encryption, such as a private cookie jar
/// (`axum_extra::extract::cookie::PrivateCookieJar`): this crate does not
/// encrypt.
///
/// A sign-in refreshed by a provider that sends no new ID token (OpenID
/// Connect Core 12.2; Verys always sends one) holds an access token its ID
/// token does not name, and does not restore
/// ([`TokenRule::AccessTokenHash`](crate::TokenRule::AccessTokenHash)).
///
/// `Debug` shows neither token.
#[derive(Serialize, Deserialize)]
pub struct StoredTokens {
    id_token: String,
    access_token: String,
    expires_at: Option<u64>,
    /// Absent from a value stored before it was kept: the margin then
    /// applies whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lifetime: Option<u64>,
    refresh_token: Option<String>,
    scopes: Vec<String>,
    nonce: Option<String>,
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// The storable form of these tokens.
    pub fn to_stored(&self) -> StoredTokens {
        StoredTokens {
            id_token: self.id_token.clone(),
            access_token: self.access_token.expose_secret().to_owned(),
            expires_at: self.access_token.expires_at,
            lifetime: self.access_token.lifetime,
            refresh_token: self
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            scopes: self.scopes.clone(),
            nonce: self.nonce.clone(),
        }
    }
}

impl StoredTokens {
    pub(crate) fn id_token(&self) -> &str {
        &self.id_token
    }

    pub(crate) fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    pub(crate) fn access_token(&self) -> &str {
        &self.access_token
    }

    /// The tokens, once `claims` were verified from the stored ID token.
    pub(crate) fn into_tokens(self, claims: IdTokenClaims) -> Tokens {
        Tokens {
            id_token: self.id_token,
            claims,
            access_token: AccessToken {
                value: SecretString::from(self.access_token),
                expires_at: self.expires_at,
                lifetime: self.lifetime,
            },
            refresh_token: self
                .refresh_token
                .map(|t| RefreshToken::new(SecretString::from(t))),
            scopes: self.scopes,
            nonce: self.nonce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct At(u64);

    impl Clock for At {
        fn now(&self) -> u64 {
            self.0
        }
    }

    fn token(expires_at: Option<u64>) -> AccessToken {
        AccessToken::issued(SecretString::from("access-token-value"), 0, expires_at)
    }

    #[test]
    fn expiry_counts_the_margin_and_the_expiry_second_itself() {
        let expiring = token(Some(1_000));
        let within = |now, margin| expiring.expires_within(&At(now), Duration::from_secs(margin));
        assert!(!within(989, 10), "11 s left, 10 s of margin");
        assert!(within(990, 10), "10 s left, 10 s of margin");
        assert!(!within(999, 0));
        assert!(within(1_000, 0), "expired at its expiry second");
        assert!(within(u64::MAX, u64::MAX), "saturates");
        assert!(!token(None).expires_within(&At(u64::MAX), Duration::MAX));
    }

    #[test]
    fn is_expired_reads_the_system_clock() {
        let now = SystemClock.now();
        assert!(token(Some(now - 60)).is_expired());
        assert!(!token(Some(now + 3_600)).is_expired());
        assert!(!token(None).is_expired(), "the server did not say");
    }

    #[test]
    fn stored_tokens_show_their_expiry_and_scopes_and_no_token() {
        let stored: StoredTokens = serde_json::from_value(serde_json::json!({
            "id_token": "id-token-value",
            "access_token": "access-token-value",
            "expires_at": 1_000,
            "refresh_token": "refresh-token-value",
            "scopes": ["openid", "email"],
            "nonce": "nonce-value",
        }))
        .unwrap();
        let debug = format!("{stored:?}");
        assert!(debug.starts_with("StoredTokens {"), "{debug}");
        assert!(
            debug.contains("1000") && debug.contains("\"email\""),
            "{debug}"
        );
        for secret in ["id-token", "access-token", "refresh-token", "nonce-value"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    /// Half the lifetime when it is shorter than the margin; the margin
    /// whole for a token whose lifetime is unknown (a value stored before
    /// the lifetime was kept reads as such).
    #[test]
    fn the_refresh_margin_is_at_most_half_the_lifetime() {
        let at = |now| At(now);
        let short = AccessToken::issued(SecretString::from("a"), 1_000, Some(20));
        assert_eq!(
            short.refresh_margin(Duration::from_secs(30)),
            Duration::from_secs(10)
        );
        assert_eq!(
            short.refresh_margin(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert!(!short.refresh_due(&at(1_009), Duration::from_secs(30)));
        assert!(short.refresh_due(&at(1_010), Duration::from_secs(30)));

        let stored = |lifetime: serde_json::Value| -> StoredTokens {
            let mut value = serde_json::json!({
                "id_token": "a.b.c", "access_token": "a", "expires_at": 1_020,
                "refresh_token": null, "scopes": [], "nonce": null,
            });
            if !lifetime.is_null() {
                value["lifetime"] = lifetime;
            }
            serde_json::from_value(value).unwrap()
        };
        assert_eq!(stored(serde_json::Value::Null).lifetime, None);
        assert_eq!(stored(serde_json::json!(20)).lifetime, Some(20));
        let unknown = AccessToken {
            lifetime: None,
            ..short.clone()
        };
        assert_eq!(
            unknown.refresh_margin(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
    }
}
