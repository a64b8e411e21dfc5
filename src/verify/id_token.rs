//! ID tokens: their typed claims, and the rules that tie one to this client
//! and to one flow, beyond those every token kind shares
//! ([`crate::verify::claims`]). The steps are those of
//! [OpenID Connect Core 3.1.3.7].
//!
//! [OpenID Connect Core 3.1.3.7]: https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation

use ed25519_dalek::VerifyingKey;
use serde::de::MapAccess;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::clock::system_time;
use crate::error::{Error, TokenRule};
use crate::verify::claims::{Claims, CommonRules, Core};
use crate::verify::jwt::{self, Jws};
use crate::verify::names::{Keep, Kept, List, Lists, Names, read_list};
use crate::verify::object::{Member, Members, Text};

/// The claims of a verified ID token.
///
/// Only a token that passed every rule is ever turned into this type, so its
/// claims can be trusted as the identity provider's statement about the user.
/// The claims the rules check and `roles` are typed; the profile claims and
/// every other claim are kept as the JSON they were, all read by the same
/// parse: a profile accessor gives `None` for a claim of another type than
/// the protocol's, and [`get`](Self::get) gives it as it is.
///
/// `Serialize` writes the claims object ([`to_json`](Self::to_json)), for a
/// session or an API answer; there is no `Deserialize`, as claims come only
/// from verification.
///
/// Cheap to clone: the claims are shared.
#[derive(Clone)]
pub struct IdTokenClaims(Arc<Inner>);

impl serde::Serialize for IdTokenClaims {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

struct Inner {
    /// The issuer, subject, audiences, roles, nonce, `azp`, `at_hash` and
    /// the profile claims that are strings.
    names: Lists,
    iss: List,
    sub: List,
    aud: List,
    exp: u64,
    iat: u64,
    nbf: Option<u64>,
    auth_time: Option<u64>,
    nonce: Option<List>,
    azp: Option<List>,
    at_hash: Option<List>,
    roles: List,
    profile: Profile,
    other: Map<String, Value>,
}

/// The profile claims the protocol names, in the order of [`PROFILE`].
type Profile = [Option<Kept>; 6];

const PROFILE: [&str; 6] = [
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "origination",
];

/// The claims only ID tokens have, and every other claim but the access
/// token's.
#[derive(Default)]
pub(crate) struct IdMembers<'a> {
    auth_time: Option<u64>,
    nonce: Option<Cow<'a, str>>,
    azp: Option<Cow<'a, str>>,
    at_hash: Option<Cow<'a, str>>,
    /// Where `roles` is read to, and the claims' other names are added
    /// once the rules pass.
    names: Lists,
    roles: Option<List>,
    profile: Profile,
    /// What makes the token an access token: its `scopes`, or else its
    /// `scope`, whatever the order of its claims.
    scopes: bool,
    scope: bool,
    other: Map<String, Value>,
}

impl<'de> Members<'de> for IdMembers<'de> {
    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        value: Member<'_, 'de, A>,
    ) -> Result<Option<u32>, A::Error> {
        let text = |value: Option<Text<'de>>| value.map(|Text(text)| text);
        Ok(Some(match &*name {
            "auth_time" => {
                self.auth_time = value.read("auth_time")?;
                0
            }
            "nonce" => {
                self.nonce = text(value.read("nonce")?);
                1
            }
            "azp" => {
                self.azp = text(value.read("azp")?);
                2
            }
            "at_hash" => {
                self.at_hash = text(value.read("at_hash")?);
                3
            }
            "roles" => {
                self.roles = read_list(value, "roles", &mut self.names, true)?;
                4
            }
            "scopes" => {
                self.scopes = true;
                value.skip()?;
                5
            }
            "scope" => {
                self.scope = true;
                value.skip()?;
                6
            }
            other => match PROFILE.iter().position(|claim| *claim == other) {
                Some(at) => {
                    let lists = &mut self.names;
                    self.profile[at] = Some(value.read_seed(PROFILE[at], Keep(lists))?);
                    8 + at as u32
                }
                None => {
                    let kept = value.keep()?;
                    self.other.insert(name.into_owned(), kept);
                    return Ok(None);
                }
            },
        }))
    }
}

/// What an ID token must say to belong to this client and this flow.
pub(crate) struct IdTokenRules<'a> {
    pub common: CommonRules<'a>,
    pub client_id: &'a str,
    /// Audiences besides the client id the token may name.
    pub trusted_audiences: &'a [String],
    pub nonce: NonceRule<'a>,
    /// The access token issued with the ID token; `None` when verifying an
    /// ID token on its own, which leaves `at_hash` unchecked.
    pub access_token: Option<&'a str>,
    pub require_at_hash: bool,
    pub max_age: Option<u64>,
    /// When restoring a stored sign-in: how many seconds the token may have
    /// lived since `iat`.
    pub max_token_age: Option<u64>,
    /// On refresh: the claims of the ID token being replaced.
    pub previous: Option<&'a IdTokenClaims>,
}

#[cfg(any(test, fuzzing))]
impl<'a> IdTokenRules<'a> {
    /// Only what every ID token of `client_id` meets (no nonce, `at_hash`
    /// or age rule): for the parser properties, the fuzz targets and tests
    /// that need verified claims.
    pub(crate) fn basic(common: CommonRules<'a>, client_id: &'a str) -> Self {
        Self {
            common,
            client_id,
            trusted_audiences: &[],
            nonce: NonceRule::AbsentOrEquals(None),
            access_token: None,
            require_at_hash: false,
            max_age: None,
            max_token_age: None,
            previous: None,
        }
    }
}

/// How the `nonce` claim is checked.
pub(crate) enum NonceRule<'a> {
    /// Code flow: the claim must equal the nonce sent.
    Equals(&'a str),
    /// Refresh: absent (Verys) or equal to the original (other providers).
    AbsentOrEquals(Option<&'a str>),
}

impl IdTokenClaims {
    /// Verifies the signature, then reads the claims and applies `rules`.
    pub(crate) fn verify(
        jws: Jws<'_>,
        key: &VerifyingKey,
        rules: &IdTokenRules<'_>,
    ) -> Result<Self, Error> {
        let bytes = jws.verify(key).map_err(Error::InvalidIdToken)?;
        Self::check(&bytes, rules)
    }

    /// Reads the claims of a token whose signature holds and applies
    /// `rules`, in this order.
    pub(crate) fn check(bytes: &[u8], rules: &IdTokenRules<'_>) -> Result<Self, Error> {
        let invalid = Error::InvalidIdToken;
        let members = IdMembers {
            names: Lists::for_claims(bytes.len()),
            ..IdMembers::default()
        };
        let (core, own) = Claims::read(bytes, members)
            .and_then(Claims::split)
            .map_err(invalid)?;
        // An access token is not an ID token, whatever its audience
        // (RFC 8725 §3.12).
        if own.scopes || own.scope {
            let claim = if own.scopes {
                "it carries scopes"
            } else {
                "it carries scope"
            };
            return Err(invalid(TokenRule::OtherKind(claim)));
        }
        // Issuer (step 2), expiry (step 9) and issue time (step 10).
        rules.common.check(&core).map_err(invalid)?;
        let client_id = rules.client_id;
        // Step 3: the audience names this client, and no audience it does
        // not trust.
        if !core.aud.contains(client_id) {
            return Err(invalid(TokenRule::Audience));
        }
        let trusted = |audience: &str| {
            audience == client_id || rules.trusted_audiences.iter().any(|a| a == audience)
        };
        if !core.aud.iter().all(trusted) {
            return Err(invalid(TokenRule::UntrustedAudience));
        }
        // Steps 4 and 5: with several audiences an `azp` is required, and
        // when present it names this client.
        let azp_ok = match own.azp.as_deref() {
            Some(azp) => azp == client_id,
            None => core.aud.iter().nth(1).is_none(),
        };
        if !azp_ok {
            return Err(invalid(TokenRule::AuthorizedParty));
        }
        // Step 11: the nonce of this flow.
        if !rules.nonce.accepts(own.nonce.as_deref()) {
            return Err(Error::NonceMismatch);
        }
        // 3.1.3.8: `at_hash` binds the access token issued with it.
        match (own.at_hash.as_deref(), rules.access_token) {
            (Some(at_hash), Some(access_token))
                if !jwt::constant_time_eq(at_hash, &jwt::access_token_hash(access_token)) =>
            {
                return Err(invalid(TokenRule::AccessTokenHash));
            }
            (None, Some(_)) if rules.require_at_hash => {
                return Err(invalid(TokenRule::MissingAccessTokenHash));
            }
            _ => {}
        }
        // A stored sign-in's ID token is not replayed from long ago.
        if let Some(max_token_age) = rules.max_token_age {
            let recent = core
                .iat
                .saturating_add(max_token_age)
                .saturating_add(rules.common.leeway)
                > rules.common.now;
            if !recent {
                return Err(invalid(TokenRule::TooOld));
            }
        }
        // Step 13: a recent enough authentication when `max_age` was asked.
        if let Some(max_age) = rules.max_age {
            let recent = own.auth_time.is_some_and(|auth_time| {
                auth_time
                    .saturating_add(max_age)
                    .saturating_add(rules.common.leeway)
                    > rules.common.now
            });
            if !recent {
                return Err(invalid(TokenRule::AuthTime));
            }
        }
        let claims = Self::new(core, own);
        // 12.2: a refreshed ID token speaks of the same user to the same client.
        if let Some(previous) = rules.previous {
            let changed = |what| Err(invalid(TokenRule::Changed(what)));
            if claims.issuer() != previous.issuer() {
                return changed("issuer");
            }
            if claims.sub() != previous.sub() {
                return changed("subject");
            }
            if claims.audience() != previous.audience() {
                return changed("audience");
            }
        }
        Ok(claims)
    }

    fn new(core: Core<'_>, mut own: IdMembers<'_>) -> Self {
        let names = &mut own.names;
        let mut text = |text: Option<Cow<'_, str>>| text.map(|text| names.push(&text));
        let (nonce, azp, at_hash) = (text(own.nonce), text(own.azp), text(own.at_hash));
        Self(Arc::new(Inner {
            iss: names.push(&core.iss),
            sub: names.push(&core.sub),
            aud: names.extend(core.aud.iter()),
            names: {
                own.names.shrink();
                own.names
            },
            exp: core.exp,
            iat: core.iat,
            nbf: core.nbf,
            auth_time: own.auth_time,
            nonce,
            azp,
            at_hash,
            roles: own.roles.unwrap_or_default(),
            profile: own.profile,
            other: own.other,
        }))
    }
}

impl NonceRule<'_> {
    fn accepts(&self, nonce: Option<&str>) -> bool {
        match (self, nonce) {
            (NonceRule::Equals(sent), Some(nonce)) => jwt::constant_time_eq(nonce, sent),
            (NonceRule::Equals(_), None) => false,
            (NonceRule::AbsentOrEquals(_), None) => true,
            (NonceRule::AbsentOrEquals(Some(original)), Some(nonce)) => {
                jwt::constant_time_eq(nonce, original)
            }
            (NonceRule::AbsentOrEquals(None), Some(_)) => false,
        }
    }
}

impl IdTokenClaims {
    /// Issuer: the Verys base URL.
    pub fn issuer(&self) -> &str {
        self.0.names.one(self.0.iss)
    }

    /// Subject: the user's stable identifier (a UUID at Verys).
    pub fn sub(&self) -> &str {
        self.0.names.one(self.0.sub)
    }

    /// Audience: this client's id, and the audiences it trusts besides.
    pub fn audience(&self) -> Names<'_> {
        self.0.names.names(self.0.aud)
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

    /// When the user authenticated (`auth_time`; at the latest 9999-12-31).
    pub fn authenticated_at(&self) -> Option<SystemTime> {
        self.0.auth_time.map(system_time)
    }

    /// The nonce sent with the authorization request (absent after a refresh).
    pub fn nonce(&self) -> Option<&str> {
        self.0.nonce.map(|list| self.0.names.one(list))
    }

    /// Authorized party (`azp`), present when there are several audiences.
    pub fn authorized_party(&self) -> Option<&str> {
        self.0.azp.map(|list| self.0.names.one(list))
    }

    /// Hash of the access token issued with this ID token (`at_hash`).
    pub fn access_token_hash(&self) -> Option<&str> {
        self.0.at_hash.map(|list| self.0.names.one(list))
    }

    fn profile(&self, claim: &str) -> Option<&Kept> {
        let at = PROFILE.iter().position(|name| *name == claim)?;
        self.0.profile[at].as_ref()
    }

    fn text(&self, claim: &str) -> Option<&str> {
        match self.profile(claim)? {
            Kept::Text(list) => Some(self.0.names.one(*list)),
            Kept::Json(_) => None,
        }
    }

    /// E-mail address (scope `email`).
    pub fn email(&self) -> Option<&str> {
        self.text("email")
    }

    /// Whether Verys has verified the e-mail address (scope `email`).
    pub fn email_verified(&self) -> Option<bool> {
        match self.profile("email_verified")? {
            Kept::Json(value) => value.as_bool(),
            Kept::Text(_) => None,
        }
    }

    /// Full name (scope `profile`).
    pub fn name(&self) -> Option<&str> {
        self.text("name")
    }

    /// Given name (scope `profile`).
    pub fn given_name(&self) -> Option<&str> {
        self.text("given_name")
    }

    /// Family name (scope `profile`).
    pub fn family_name(&self) -> Option<&str> {
        self.text("family_name")
    }

    /// Where the identity came from, an ISO-8601 string (scope `profile`).
    pub fn origination(&self) -> Option<&str> {
        self.text("origination")
    }

    /// The user's roles.
    pub fn roles(&self) -> Names<'_> {
        self.0.names.names(self.0.roles)
    }

    /// Every claim of the token as JSON, including those without a method
    /// here.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut json = self.0.other.clone();
        let mut put = |name: &str, value: Value| {
            json.insert(name.to_owned(), value);
        };
        put("iss", self.issuer().into());
        put("sub", self.sub().into());
        put("aud", self.audience().to_audience_json());
        put("exp", self.0.exp.into());
        put("iat", self.0.iat.into());
        let optional = [
            ("nbf", self.0.nbf.map(Value::from)),
            ("auth_time", self.0.auth_time.map(Value::from)),
            ("nonce", self.nonce().map(Value::from)),
            ("azp", self.authorized_party().map(Value::from)),
            ("at_hash", self.access_token_hash().map(Value::from)),
            (
                "roles",
                (!self.roles().is_empty()).then(|| self.roles().to_vec().into()),
            ),
        ];
        let profile = (PROFILE.into_iter().zip(&self.0.profile))
            .map(|(name, kept)| (name, kept.as_ref().map(|kept| kept.to_json(&self.0.names))));
        for (name, value) in optional.into_iter().chain(profile) {
            if let Some(value) = value {
                put(name, value);
            }
        }
        json
    }

    /// One claim by name, typed ones and others alike.
    pub fn get(&self, name: &str) -> Option<Value> {
        if let Some(value) = self.0.other.get(name) {
            return Some(value.clone());
        }
        match self.profile(name) {
            Some(kept) => Some(kept.to_json(&self.0.names)),
            None => self.to_json().remove(name),
        }
    }
}

impl fmt::Debug for IdTokenClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdTokenClaims")
            .field("iss", &self.issuer())
            .field("sub", &self.sub())
            .field("aud", &self.audience())
            .field("exp", &self.0.exp)
            .field("iat", &self.0.iat)
            .field("auth_time", &self.0.auth_time)
            .field("email", &self.email())
            .field("name", &self.name())
            .field("roles", &self.roles())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://issuer";
    const CLIENT: &str = "client";

    fn rules() -> IdTokenRules<'static> {
        IdTokenRules {
            common: CommonRules {
                issuer: ISSUER,
                now: 1_000,
                leeway: 60,
                check_expiry: true,
            },
            client_id: CLIENT,
            trusted_audiences: &[],
            nonce: NonceRule::Equals("n"),
            access_token: None,
            require_at_hash: false,
            max_age: None,
            max_token_age: None,
            previous: None,
        }
    }

    fn good() -> Value {
        json!({"iss": ISSUER, "sub": "u", "aud": CLIENT, "exp": 1_300, "iat": 1_000, "nonce": "n"})
    }

    fn check(claims: &Value) -> Result<IdTokenClaims, Error> {
        IdTokenClaims::check(claims.to_string().as_bytes(), &rules())
    }

    #[test]
    fn the_profile_and_other_claims_come_from_the_same_parse() {
        let mut claims = good();
        claims["email"] = json!("ada@example.com");
        claims["email_verified"] = json!("yes");
        claims["roles"] = json!(["admin"]);
        claims["tenant"] = json!({"id": 7});
        let verified = check(&claims).unwrap();
        assert_eq!(verified.email(), Some("ada@example.com"));
        assert_eq!(verified.email_verified(), None, "a string is not a bool");
        assert_eq!(verified.get("email_verified"), Some(json!("yes")));
        assert_eq!(verified.roles(), ["admin"]);
        assert_eq!(verified.get("tenant"), Some(json!({"id": 7})));
        assert_eq!(verified.get("sub"), Some(json!("u")));
        assert_eq!(Value::Object(verified.to_json()), claims);
    }

    /// A number serde_json cannot hold, or nesting beyond its limit, is a
    /// malformed token: no accessor reads an emptied map instead.
    #[test]
    fn claims_serde_json_cannot_hold_refuse_the_token() {
        let text = good().to_string();
        let huge = text.replacen('{', r#"{"x":1e400,"#, 1);
        let deep = text.replacen(
            '{',
            &format!(r#"{{"x":{}{},"#, "[".repeat(128), "]".repeat(128)),
            1,
        );
        for text in [huge, deep] {
            let result = IdTokenClaims::check(text.as_bytes(), &rules());
            assert!(
                matches!(
                    result,
                    Err(Error::InvalidIdToken(TokenRule::MalformedJson {
                        part: "claims",
                        ..
                    }))
                ),
                "{result:?}"
            );
        }
    }

    #[test]
    fn an_access_token_is_not_an_id_token() {
        for (name, value, said) in [
            ("scopes", json!(["openid"]), "it carries scopes"),
            ("scope", json!("openid"), "it carries scope"),
        ] {
            let mut claims = good();
            claims[name] = value;
            assert_eq!(
                check(&claims).unwrap_err().to_string(),
                Error::InvalidIdToken(TokenRule::OtherKind(said)).to_string()
            );
        }
    }

    #[test]
    fn rules_name_the_broken_rule() {
        type Edit = fn(&mut Value);
        let cases: [(Edit, &str); 8] = [
            (
                |c| c["iss"] = json!("https://other"),
                "issuer does not match",
            ),
            (|c| c["aud"] = json!("other"), "audience does not match"),
            (|c| c["aud"] = json!([CLIENT, "other"]), "does not trust"),
            (|c| c["azp"] = json!("other"), "authorized party"),
            (|c| c["exp"] = json!(900), "expired"),
            (|c| c["iat"] = json!(1_061), "in the future"),
            (|c| c["nonce"] = json!("m"), "nonce does not match"),
            (
                |c| c["exp"] = json!("1300"),
                "the exp member has the wrong type",
            ),
        ];
        for (edit, expected) in cases {
            let mut claims = good();
            edit(&mut claims);
            let error = check(&claims).unwrap_err().to_string();
            assert!(error.contains(expected), "{claims}: {error}");
        }
        let mut with_azp = good();
        with_azp["aud"] = json!([CLIENT, "other"]);
        with_azp["azp"] = json!(CLIENT);
        let untrusted = check(&with_azp).unwrap_err().to_string();
        assert!(untrusted.contains("not trust"), "{untrusted}");
        let trusting = ["other".to_owned()];
        let rules = IdTokenRules {
            trusted_audiences: &trusting,
            ..rules()
        };
        assert!(IdTokenClaims::check(with_azp.to_string().as_bytes(), &rules).is_ok());
        // With a trusted second audience, `azp` is still required.
        with_azp.as_object_mut().unwrap().remove("azp");
        let error = IdTokenClaims::check(with_azp.to_string().as_bytes(), &rules).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid id token: authorized party does not match"
        );
    }

    #[test]
    fn every_accessor_reads_its_own_claim() {
        let claims = json!({
            "iss": ISSUER, "sub": "u", "aud": CLIENT, "exp": 1_300, "iat": 990, "nonce": "n",
            "auth_time": 950, "azp": CLIENT, "at_hash": "h", "email": "ada@example.com",
            "email_verified": true, "name": "Ada Lovelace", "given_name": "Ada",
            "family_name": "Lovelace", "origination": "2024-05-01T12:00:00+00:00",
            "roles": ["admin", "reader"],
        });
        let verified = check(&claims).unwrap();
        assert_eq!(verified.issuer(), ISSUER);
        assert_eq!(verified.sub(), "u");
        assert_eq!(verified.audience(), [CLIENT]);
        assert_eq!(verified.expires_at(), system_time(1_300));
        assert_eq!(verified.issued_at(), system_time(990));
        assert_eq!(verified.authenticated_at(), Some(system_time(950)));
        assert_eq!(verified.nonce(), Some("n"));
        assert_eq!(verified.authorized_party(), Some(CLIENT));
        assert_eq!(verified.access_token_hash(), Some("h"));
        assert_eq!(verified.email(), Some("ada@example.com"));
        assert_eq!(verified.email_verified(), Some(true));
        assert_eq!(verified.name(), Some("Ada Lovelace"));
        assert_eq!(verified.given_name(), Some("Ada"));
        assert_eq!(verified.family_name(), Some("Lovelace"));
        assert_eq!(verified.origination(), Some("2024-05-01T12:00:00+00:00"));
        assert_eq!(verified.roles(), ["admin", "reader"]);
        let debug = format!("{verified:?}");
        assert!(debug.starts_with("IdTokenClaims"), "{debug}");
        assert!(debug.contains("\"u\"") && debug.contains("1300"), "{debug}");
    }

    /// `max_token_age` and `max_age` at their edges: the leeway's last second
    /// is still in, the next one out.
    #[test]
    fn age_rules_hold_at_their_boundaries() {
        // now 1_000, leeway 60: iat + 100 + 60 > 1_000 while iat > 840.
        let aged = |iat: u64| {
            let mut claims = good();
            claims["iat"] = json!(iat);
            let rules = IdTokenRules {
                max_token_age: Some(100),
                ..rules()
            };
            IdTokenClaims::check(claims.to_string().as_bytes(), &rules)
        };
        assert!(aged(841).is_ok());
        assert!(matches!(
            aged(840),
            Err(Error::InvalidIdToken(TokenRule::TooOld))
        ));

        // auth_time + 100 + 60 > 1_000 while auth_time > 840.
        let authenticated = |auth_time: Option<u64>| {
            let mut claims = good();
            if let Some(auth_time) = auth_time {
                claims["auth_time"] = json!(auth_time);
            }
            let rules = IdTokenRules {
                max_age: Some(100),
                ..rules()
            };
            IdTokenClaims::check(claims.to_string().as_bytes(), &rules)
        };
        assert!(authenticated(Some(841)).is_ok());
        let too_old = Err::<(), _>(TokenRule::AuthTime);
        for auth_time in [Some(840), None] {
            let result = authenticated(auth_time).map(drop).map_err(|e| match e {
                Error::InvalidIdToken(rule) => rule,
                other => panic!("{other:?}"),
            });
            assert_eq!(result, too_old, "{auth_time:?}");
        }
    }

    #[test]
    fn at_hash_is_required_only_when_the_client_says_so() {
        let with_access_token = |require_at_hash| IdTokenRules {
            access_token: Some("the-access-token"),
            require_at_hash,
            ..rules()
        };
        let claims = good().to_string();
        assert!(IdTokenClaims::check(claims.as_bytes(), &with_access_token(false)).is_ok());
        assert!(matches!(
            IdTokenClaims::check(claims.as_bytes(), &with_access_token(true)),
            Err(Error::InvalidIdToken(TokenRule::MissingAccessTokenHash))
        ));
        let mut hashed = good();
        hashed["at_hash"] = json!(jwt::access_token_hash("the-access-token"));
        let hashed = hashed.to_string();
        assert!(IdTokenClaims::check(hashed.as_bytes(), &with_access_token(true)).is_ok());
        let other = IdTokenRules {
            access_token: Some("another-access-token"),
            ..rules()
        };
        assert!(matches!(
            IdTokenClaims::check(hashed.as_bytes(), &other),
            Err(Error::InvalidIdToken(TokenRule::AccessTokenHash))
        ));
    }
}
