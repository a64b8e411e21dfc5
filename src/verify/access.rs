//! Verys access tokens as a resource server sees them: typed claims and the
//! rules a bearer token must pass.

use ed25519_dalek::VerifyingKey;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, TokenRule};
use crate::verify::claims::Audience;
use crate::verify::json::{self, FromObject, Object};
use crate::verify::jwt;

struct Wire {
    iss: String,
    sub: String,
    aud: Audience,
    exp: u64,
    iat: u64,
    roles: Vec<String>,
    /// A JSON list at Verys, never a space-separated string.
    scopes: Vec<String>,
}

impl FromObject for Wire {
    fn from_object(mut object: Object<'_>) -> Result<Self, json::Error> {
        let (mut iss, mut sub, mut aud, mut exp, mut iat) = (None, None, None, None, None);
        let (mut roles, mut scopes) = (Vec::new(), None);
        while let Some(name) = object.next_name()? {
            match &*name {
                "iss" => iss = Some(object.string()?.into_owned()),
                "sub" => sub = Some(object.string()?.into_owned()),
                "aud" => aud = Some(Audience::read(&mut object)?),
                "exp" => exp = Some(object.unsigned()?),
                "iat" => iat = Some(object.unsigned()?),
                "roles" => roles = object.strings()?,
                "scopes" => scopes = Some(object.strings()?),
                _ => {}
            }
        }
        let missing = json::Error::missing;
        Ok(Self {
            iss: iss.ok_or_else(|| missing("iss"))?,
            sub: sub.ok_or_else(|| missing("sub"))?,
            aud: aud.ok_or_else(|| missing("aud"))?,
            exp: exp.ok_or_else(|| missing("exp"))?,
            iat: iat.ok_or_else(|| missing("iat"))?,
            roles,
            scopes: scopes.ok_or_else(|| missing("scopes"))?,
        })
    }
}

/// The claims of a verified Verys access token.
///
/// Cheap to clone (the claims are shared), so a verifier can hand the same
/// claims to every request that presents the same token.
#[derive(Clone)]
pub struct AccessClaims(Arc<Wire>);

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

    /// When the token expires.
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.exp)
    }

    /// When the token was issued.
    pub fn issued_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.iat)
    }

    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.iter().any(|s| s == scope)
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|r| r == role)
    }

    /// `Ok` if the token grants `scope`, else [`Error::MissingScope`] (an HTTP
    /// 403 `insufficient_scope` for the caller).
    pub fn require_scope(&self, scope: &str) -> Result<&Self, Error> {
        if self.has_scope(scope) {
            Ok(self)
        } else {
            Err(Error::MissingScope(scope.to_owned()))
        }
    }

    /// `Ok` if the user has `role`, else [`Error::MissingRole`].
    pub fn require_role(&self, role: &str) -> Result<&Self, Error> {
        if self.has_role(role) {
            Ok(self)
        } else {
            Err(Error::MissingRole(role.to_owned()))
        }
    }

    /// The time rules alone, for a token whose signature and other claims
    /// were verified earlier.
    pub(crate) fn check_times(&self, now: u64, leeway: u64) -> Result<(), Error> {
        jwt::check_times(self.0.exp, self.0.iat, now, leeway).map_err(Error::InvalidAccessToken)
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
    pub issuer: &'a str,
    pub audience: &'a str,
    pub now: u64,
    pub leeway: u64,
}

/// Verifies the signature, then `iss`, `aud`, `exp` and `iat`.
pub(crate) fn verify(
    jws: jwt::Jws<'_>,
    key: &VerifyingKey,
    rules: &AccessRules<'_>,
) -> Result<AccessClaims, Error> {
    let (wire, _): (Wire, _) = jws.verify(key).map_err(Error::InvalidAccessToken)?;
    let rule = |ok: bool, rule: TokenRule| {
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidAccessToken(rule))
        }
    };
    rule(wire.iss == rules.issuer, TokenRule::Issuer)?;
    rule(wire.aud.contains(rules.audience), TokenRule::Audience)?;
    let claims = AccessClaims(Arc::new(wire));
    claims.check_times(rules.now, rules.leeway)?;
    Ok(claims)
}
