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
use crate::verify::claims::{Claims, CommonRules, Times};
use crate::verify::jwt::Jws;
use crate::verify::names::{List, Lists, Names, read_list};
use crate::verify::object::{Member, Members};

struct Inner {
    /// The issuer, subject, audiences, roles and scopes.
    names: Lists,
    iss: List,
    sub: List,
    aud: List,
    roles: List,
    /// A JSON list at Verys, never a space-separated string.
    scopes: List,
    exp: u64,
    iat: u64,
    /// Kept, with `exp` and `iat`, for the time rules of a cache hit.
    nbf: Option<u64>,
}

/// The claims only access tokens have.
#[derive(Default)]
pub(crate) struct AccessMembers {
    /// Where `roles` and `scopes` are read to, and the claims' other names
    /// are added once the rules pass.
    names: Lists,
    roles: Option<List>,
    scopes: Option<List>,
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
                self.roles = read_list(value, "roles", &mut self.names, true)?;
                0
            }
            "scopes" => {
                self.scopes = read_list(value, "scopes", &mut self.names, false)?;
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
        let mut object = serializer.serialize_struct("AccessClaims", 7)?;
        object.serialize_field("iss", self.issuer())?;
        object.serialize_field("sub", self.sub())?;
        object.serialize_field("aud", &self.audience().to_audience_json())?;
        object.serialize_field("exp", &self.0.exp)?;
        object.serialize_field("iat", &self.0.iat)?;
        object.serialize_field("roles", &self.roles())?;
        object.serialize_field("scopes", &self.scopes())?;
        object.end()
    }
}

impl AccessClaims {
    /// The user's subject identifier.
    pub fn sub(&self) -> &str {
        self.0.names.one(self.0.sub)
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        self.0.names.one(self.0.iss)
    }

    /// The audience: the issuer for ordinary tokens, a client id for tokens
    /// obtained by token exchange.
    pub fn audience(&self) -> Names<'_> {
        self.0.names.names(self.0.aud)
    }

    /// The user's roles.
    pub fn roles(&self) -> Names<'_> {
        self.0.names.names(self.0.roles)
    }

    /// The scopes granted to the token.
    pub fn scopes(&self) -> Names<'_> {
        self.0.names.names(self.0.scopes)
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
        self.scopes().contains(scope)
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().contains(role)
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
            .field("iss", &self.issuer())
            .field("sub", &self.sub())
            .field("aud", &self.audience())
            .field("exp", &self.0.exp)
            .field("iat", &self.0.iat)
            .field("roles", &self.roles())
            .field("scopes", &self.scopes())
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
    let members = AccessMembers {
        names: Lists::for_claims(bytes.len()),
        ..AccessMembers::default()
    };
    let (core, mut own) = Claims::read(bytes, members).and_then(Claims::split)?;
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
    let names = &mut own.names;
    Ok(AccessClaims(Arc::new(Inner {
        iss: names.push(&core.iss),
        sub: names.push(&core.sub),
        aud: names.extend(core.aud.iter()),
        roles: own.roles.unwrap_or_default(),
        scopes,
        names: {
            own.names.shrink();
            own.names
        },
        exp: core.exp,
        iat: core.iat,
        nbf: core.nbf,
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
        for wrong in [
            json!(null),
            json!(["api.read", 3]),
            json!({"api.read": true}),
        ] {
            let mut claims = good();
            claims["scopes"] = wrong;
            assert!(matches!(
                check(claims.to_string().as_bytes(), &rules()),
                Err(TokenRule::MalformedJson { reason, .. }) if reason == "the scopes member has the wrong type"
            ));
        }
        let bytes = good().to_string();
        let verified = check(bytes.as_bytes(), &rules()).unwrap();
        assert_eq!(verified.scopes(), ["api.read"]);
        assert_eq!(verified.roles(), ["reader"]);
        // No roles, said with null or an empty list or not at all.
        for roles in [Some(json!(null)), Some(json!([])), None] {
            let mut claims = good();
            match roles {
                Some(roles) => claims["roles"] = roles,
                None => drop(claims.as_object_mut().unwrap().remove("roles")),
            }
            let verified = check(claims.to_string().as_bytes(), &rules()).unwrap();
            assert!(verified.roles().is_empty());
            assert_eq!(verified.scopes(), ["api.read"]);
        }
    }

    /// Claims the crate does not read take no room in the verified claims,
    /// which a verifier's cache may hold by the thousand.
    #[test]
    fn unread_claims_are_not_kept() {
        let mut claims = good();
        claims["x"] = "p".repeat(4000).into();
        let verified = check(claims.to_string().as_bytes(), &rules()).unwrap();
        assert!(
            verified.0.names.room() < 1000,
            "{}",
            verified.0.names.room()
        );
        assert_eq!(verified.scopes(), ["api.read"]);
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
        assert_eq!(verified.issuer(), "https://issuer");
        assert_eq!(verified.sub(), "u");
        assert_eq!(verified.audience(), ["https://issuer", "api-b"]);
        assert_eq!(
            serde_json::to_value(&verified).unwrap(),
            json!({"iss": "https://issuer", "sub": "u", "aud": ["https://issuer", "api-b"],
                   "exp": 1_300, "iat": 1_000, "roles": ["reader", "auditor"],
                   "scopes": ["api.read"]})
        );
        let one = check(good().to_string().as_bytes(), &rules()).unwrap();
        assert_eq!(
            serde_json::to_value(&one).unwrap()["aud"],
            json!("https://issuer")
        );
        let debug = format!("{verified:?}");
        assert!(debug.starts_with("AccessClaims"), "{debug}");
        assert!(
            debug.contains("auditor") && debug.contains("api-b"),
            "{debug}"
        );
    }
}
