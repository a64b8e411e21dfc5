//! Verys access tokens as a resource server sees them: typed claims and the
//! rules a bearer token must pass beyond those every token kind shares
//! ([`crate::verify::claims`]), after [RFC 9068 §4].
//!
//! [RFC 9068 §4]: https://www.rfc-editor.org/rfc/rfc9068#section-4

use ed25519_dalek::VerifyingKey;
use serde::de::MapAccess;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::clock::system_time;
use crate::error::{Error, TokenRule};
use crate::verify::claims::{Audience, Claims, CommonRules, Times};
use crate::verify::jwt::Jws;
use crate::verify::object::{Member, Members};

struct Inner {
    iss: String,
    sub: String,
    aud: Audience,
    exp: u64,
    iat: u64,
    /// Kept, with `exp` and `iat`, for the time rules of a cache hit.
    nbf: Option<u64>,
    roles: Vec<String>,
    /// A JSON list at Verys, never a space-separated string.
    scopes: Vec<String>,
}

/// The claims only access tokens have.
#[derive(Default)]
pub(crate) struct AccessMembers {
    roles: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    /// The ID-token-only claims the token carries: `nonce`, `at_hash`,
    /// `auth_time`.
    id_token_claims: [bool; 3],
}

impl AccessMembers {
    /// What makes the token an ID token, whatever the order of its claims.
    fn id_token_claim(&self) -> Option<&'static str> {
        let said = [
            "it carries nonce",
            "it carries at_hash",
            "it carries auth_time",
        ];
        said.into_iter()
            .zip(self.id_token_claims)
            .find_map(|(said, carried)| carried.then_some(said))
    }
}

impl<'de> Members<'de> for AccessMembers {
    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        value: Member<'_, 'de, A>,
    ) -> Result<Option<u32>, A::Error> {
        Ok(Some(match &*name {
            "roles" => {
                self.roles = value.read("roles")?;
                0
            }
            "scopes" => {
                self.scopes = Some(value.read("scopes")?);
                1
            }
            id_token_claim @ ("nonce" | "at_hash" | "auth_time") => {
                let at = ["nonce", "at_hash", "auth_time"]
                    .iter()
                    .position(|claim| *claim == id_token_claim)
                    .unwrap_or_default();
                self.id_token_claims[at] = true;
                value.skip()?;
                2 + at as u32
            }
            _ => return value.skip().map(|()| None),
        }))
    }
}

/// The claims of a verified Verys access token.
///
/// Cheap to clone (the claims are shared), so a verifier can hand the same
/// claims to every request that presents the same token.
///
/// `Serialize` writes the claims under their JWT names (`iss`, `sub`, `aud`,
/// `exp`, `iat`, `roles`, `scopes`); there is no `Deserialize`, as claims
/// come only from verification.
#[derive(Clone)]
pub struct AccessClaims(Arc<Inner>);

impl serde::Serialize for AccessClaims {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let claims = &self.0;
        let mut object = serializer.serialize_struct("AccessClaims", 7)?;
        object.serialize_field("iss", &claims.iss)?;
        object.serialize_field("sub", &claims.sub)?;
        object.serialize_field("aud", &claims.aud)?;
        object.serialize_field("exp", &claims.exp)?;
        object.serialize_field("iat", &claims.iat)?;
        object.serialize_field("roles", &claims.roles)?;
        object.serialize_field("scopes", &claims.scopes)?;
        object.end()
    }
}

impl AccessClaims {
    /// The user's subject identifier.
    pub fn sub(&self) -> &str {
        &self.0.sub
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.0.iss
    }

    /// The audience: the issuer for ordinary tokens, a client id for tokens
    /// obtained by token exchange.
    pub fn audience(&self) -> &Audience {
        &self.0.aud
    }

    /// The user's roles.
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }

    /// The scopes granted to the token.
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// When the token expires (at the latest 9999-12-31, whatever the token
    /// says).
    pub fn expires_at(&self) -> SystemTime {
        system_time(self.0.exp)
    }

    /// When the token was issued (at the latest 9999-12-31).
    pub fn issued_at(&self) -> SystemTime {
        system_time(self.0.iat)
    }

    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.iter().any(|s| s == scope)
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|r| r == role)
    }

    /// `Ok` if the token grants `scope`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingScope`] otherwise (an HTTP 403 `insufficient_scope`
    /// for the caller).
    pub fn require_scope(&self, scope: &str) -> Result<&Self, Error> {
        if self.has_scope(scope) {
            Ok(self)
        } else {
            Err(Error::MissingScope(scope.to_owned()))
        }
    }

    /// `Ok` if the user has `role`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingRole`] otherwise.
    pub fn require_role(&self, role: &str) -> Result<&Self, Error> {
        if self.has_role(role) {
            Ok(self)
        } else {
            Err(Error::MissingRole(role.to_owned()))
        }
    }

    /// The time rules again, all of them, for a token whose signature and
    /// claims were verified earlier: a clock set back refuses what a fresh
    /// verification would.
    pub(crate) fn still_valid(&self, now: u64, leeway: u64) -> Result<(), Error> {
        let times = Times {
            exp: self.0.exp,
            iat: self.0.iat,
            nbf: self.0.nbf,
        };
        times
            .check(now, leeway, true)
            .map_err(Error::InvalidAccessToken)
    }
}

impl fmt::Debug for AccessClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessClaims")
            .field("iss", &self.0.iss)
            .field("sub", &self.0.sub)
            .field("aud", &self.0.aud)
            .field("exp", &self.0.exp)
            .field("iat", &self.0.iat)
            .field("roles", &self.0.roles)
            .field("scopes", &self.0.scopes)
            .finish()
    }
}

/// What an access token must say to be accepted by one resource server.
pub(crate) struct AccessRules<'a> {
    pub common: CommonRules<'a>,
    pub audience: &'a str,
}

/// Verifies the signature, then reads the claims and applies `rules`.
pub(crate) fn verify(
    jws: Jws<'_>,
    key: &VerifyingKey,
    rules: &AccessRules<'_>,
) -> Result<AccessClaims, Error> {
    let bytes = jws.verify(key).map_err(Error::InvalidAccessToken)?;
    check(&bytes, rules).map_err(Error::InvalidAccessToken)
}

/// Reads the claims of a token whose signature holds and applies `rules`,
/// in this order.
pub(crate) fn check(bytes: &[u8], rules: &AccessRules<'_>) -> Result<AccessClaims, TokenRule> {
    let (core, own) = Claims::<AccessMembers>::read(bytes).and_then(Claims::split)?;
    // An ID token is not an access token, whatever its audience
    // (RFC 8725 §3.12): it carries its own claims, and no `scopes`.
    if let Some(claim) = own.id_token_claim() {
        return Err(TokenRule::OtherKind(claim));
    }
    let Some(scopes) = own.scopes else {
        return Err(TokenRule::OtherKind("it lacks scopes"));
    };
    // Issuer, expiry and issue time (RFC 9068 §4 steps 3 and 7).
    rules.common.check(&core)?;
    // RFC 9068 §4 step 4: the audience is this resource server.
    if !core.aud.contains(rules.audience) {
        return Err(TokenRule::Audience);
    }
    Ok(AccessClaims(Arc::new(Inner {
        iss: core.iss.into_owned(),
        sub: core.sub.into_owned(),
        aud: core.aud.to_audience(),
        exp: core.exp,
        iat: core.iat,
        nbf: core.nbf,
        roles: own.roles.unwrap_or_default(),
        scopes,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn rules() -> AccessRules<'static> {
        AccessRules {
            common: CommonRules {
                issuer: "https://issuer",
                now: 1_000,
                leeway: 60,
                check_expiry: true,
            },
            audience: "https://issuer",
        }
    }

    fn good() -> Value {
        json!({"iss": "https://issuer", "sub": "u", "aud": "https://issuer", "exp": 1_300,
               "iat": 1_000, "scopes": ["api.read"], "roles": ["reader"]})
    }

    #[test]
    fn an_id_token_is_not_an_access_token() {
        for (edit, said) in [
            (("nonce", json!("n")), "it carries nonce"),
            (("at_hash", json!("h")), "it carries at_hash"),
            (("auth_time", json!(900)), "it carries auth_time"),
        ] {
            let mut claims = good();
            claims[edit.0] = edit.1;
            let bytes = claims.to_string();
            assert_eq!(
                check(bytes.as_bytes(), &rules()).err(),
                Some(TokenRule::OtherKind(said))
            );
        }
        let mut claims = good();
        claims.as_object_mut().unwrap().remove("scopes");
        let bytes = claims.to_string();
        assert_eq!(
            check(bytes.as_bytes(), &rules()).err(),
            Some(TokenRule::OtherKind("it lacks scopes"))
        );
    }

    #[test]
    fn scopes_are_a_list_of_strings() {
        let mut claims = good();
        claims["scopes"] = json!("api.read openid");
        let bytes = claims.to_string();
        assert!(matches!(
            check(bytes.as_bytes(), &rules()),
            Err(TokenRule::MalformedJson { reason, .. }) if reason == "the scopes member has the wrong type"
        ));
        let bytes = good().to_string();
        let verified = check(bytes.as_bytes(), &rules()).unwrap();
        assert_eq!(verified.scopes(), ["api.read"]);
        assert_eq!(verified.roles(), ["reader"]);
    }

    #[test]
    fn roles_scopes_and_audience_are_asked_by_name() {
        let mut claims = good();
        claims["aud"] = json!(["https://issuer", "api-b"]);
        claims["roles"] = json!(["reader", "auditor"]);
        let verified = check(claims.to_string().as_bytes(), &rules()).unwrap();
        assert!(verified.has_role("auditor") && !verified.has_role("admin"));
        assert!(verified.require_role("reader").is_ok());
        assert!(matches!(
            verified.require_role("admin"),
            Err(Error::MissingRole(role)) if role == "admin"
        ));
        assert!(verified.has_scope("api.read") && !verified.has_scope("api.write"));
        assert!(verified.audience().contains("api-b"));
        assert!(!verified.audience().contains("api-c"));
        let debug = format!("{verified:?}");
        assert!(debug.starts_with("AccessClaims"), "{debug}");
        assert!(
            debug.contains("auditor") && debug.contains("api-b"),
            "{debug}"
        );
    }
}
