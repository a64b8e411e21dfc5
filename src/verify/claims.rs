//! Typed ID token claims and the rules that tie them to one flow.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, TokenRule};
use crate::verify::json::{self, FromObject, Object};
use crate::verify::jwt;

/// The `aud` claim: one audience or several.
#[derive(Debug, Clone)]
pub struct Audience(Audiences);

/// One audience, the usual case, needs no list of its own.
#[derive(Debug, Clone)]
enum Audiences {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// Every audience the token names.
    pub fn as_slice(&self) -> &[String] {
        match &self.0 {
            Audiences::One(one) => std::slice::from_ref(one),
            Audiences::Many(many) => many,
        }
    }

    /// No audience at all: a missing `aud` claim, refused by the audience
    /// rule ([`TokenRule::Audience`]) rather than as malformed claims.
    fn missing() -> Self {
        Audience(Audiences::Many(Vec::new()))
    }

    /// Whether `audience` is among them.
    pub fn contains(&self, audience: &str) -> bool {
        self.as_slice().iter().any(|a| a == audience)
    }

    /// Reads `aud`: one string or an array of strings.
    pub(crate) fn read(object: &mut Object<'_>) -> Result<Self, json::Error> {
        Ok(Audience(match object.string_or_strings()? {
            json::OneOrMany::One(one) => Audiences::One(one.into_owned()),
            json::OneOrMany::Many(many) => Audiences::Many(many),
        }))
    }
}

/// Equal when they name the same audiences in the same order, however the
/// token wrote them.
impl PartialEq for Audience {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Audience {}

/// The claims of a verified ID token.
///
/// Only a token that passed every rule is ever turned into this type, so its
/// claims can be trusted as the identity provider's statement about the user.
/// The claims keep the token's JSON text; the ones the rules check are read
/// during verification and point into it, the profile claims (`email`,
/// `name`, `roles`, …) are read from it on first use. That keeps
/// verification close to the cost of its signature check.
#[derive(Clone)]
pub struct IdTokenClaims {
    /// The verified claims' JSON text.
    text: String,
    checked: Checked,
    /// Boxed: verification results move through a few frames, and the
    /// profile is most often never read.
    profile: OnceLock<Box<Profile>>,
}

/// The claims the rules check, their strings placed in the claims' text.
#[derive(Clone)]
pub(crate) struct Checked {
    iss: Text,
    sub: Text,
    aud: Audience,
    exp: u64,
    iat: u64,
    auth_time: Option<u64>,
    nonce: Option<Text>,
    azp: Option<Text>,
    at_hash: Option<Text>,
}

/// A string claim: where it sits in the claims' text, or its value when the
/// token wrote it with escapes.
#[derive(Clone)]
enum Text {
    At(usize, usize),
    Decoded(Box<str>),
}

impl Text {
    /// `value`, read from `text`.
    fn new(text: &str, value: Cow<'_, str>) -> Self {
        let within = |part: &str| {
            let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
            (start + part.len() <= text.len()).then_some(Text::At(start, start + part.len()))
        };
        match value {
            Cow::Borrowed(part) => within(part).unwrap_or_else(|| Text::Decoded(part.into())),
            Cow::Owned(value) => Text::Decoded(value.into_boxed_str()),
        }
    }

    fn get<'t>(&'t self, text: &'t str) -> &'t str {
        match self {
            Text::At(start, end) => &text[*start..*end],
            Text::Decoded(value) => value,
        }
    }
}

impl FromObject for Checked {
    fn from_object(mut object: Object<'_>) -> Result<Self, json::Error> {
        let text = object.text();
        let place = |value| Text::new(text, value);
        let (mut iss, mut sub, mut aud, mut exp, mut iat) = (None, None, None, None, None);
        let (mut auth_time, mut nonce, mut azp, mut at_hash) = (None, None, None, None);
        while let Some(name) = object.next_name()? {
            match &*name {
                "iss" => iss = Some(place(object.string()?)),
                "sub" => sub = Some(place(object.string()?)),
                "aud" => aud = Some(Audience::read(&mut object)?),
                "exp" => exp = Some(object.unsigned()?),
                "iat" => iat = Some(object.unsigned()?),
                "auth_time" => auth_time = object.optional_unsigned()?,
                "nonce" => nonce = object.optional_string()?.map(place),
                "azp" => azp = object.optional_string()?.map(place),
                "at_hash" => at_hash = object.optional_string()?.map(place),
                _ => {}
            }
        }
        Ok(Self {
            iss: iss.ok_or_else(|| json::Error::missing("iss"))?,
            sub: sub.ok_or_else(|| json::Error::missing("sub"))?,
            aud: aud.unwrap_or_else(Audience::missing),
            exp: exp.ok_or_else(|| json::Error::missing("exp"))?,
            iat: iat.ok_or_else(|| json::Error::missing("iat"))?,
            auth_time,
            nonce,
            azp,
            at_hash,
        })
    }
}

/// The profile claims, each `None` (or empty) when absent or not of the
/// type the protocol gives it.
#[derive(Clone, Default)]
struct Profile {
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    origination: Option<String>,
    roles: Vec<String>,
}

impl Profile {
    fn read(claims: &serde_json::Map<String, serde_json::Value>) -> Self {
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        Self {
            email: text("email"),
            email_verified: claims
                .get("email_verified")
                .and_then(serde_json::Value::as_bool),
            name: text("name"),
            given_name: text("given_name"),
            family_name: text("family_name"),
            origination: text("origination"),
            roles: claims
                .get("roles")
                .and_then(serde_json::Value::as_array)
                .map(|roles| {
                    roles
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

impl IdTokenClaims {
    /// The claims read from `text`, with that text.
    pub(crate) fn new(checked: Checked, text: String) -> Self {
        Self {
            text,
            checked,
            profile: OnceLock::new(),
        }
    }

    /// Issuer: the Verys base URL.
    pub fn iss(&self) -> &str {
        self.checked.iss.get(&self.text)
    }

    /// Subject: the user's stable identifier (a UUID at Verys).
    pub fn sub(&self) -> &str {
        self.checked.sub.get(&self.text)
    }

    /// Audience: this client's id.
    pub fn aud(&self) -> &Audience {
        &self.checked.aud
    }

    /// Expiry, in seconds since the Unix epoch.
    pub fn exp(&self) -> u64 {
        self.checked.exp
    }

    /// Issue time, in seconds since the Unix epoch.
    pub fn iat(&self) -> u64 {
        self.checked.iat
    }

    /// When the user authenticated, in seconds since the Unix epoch.
    pub fn auth_time(&self) -> Option<u64> {
        self.checked.auth_time
    }

    /// The nonce sent with the authorization request (absent after a refresh).
    pub fn nonce(&self) -> Option<&str> {
        self.checked
            .nonce
            .as_ref()
            .map(|nonce| nonce.get(&self.text))
    }

    /// Authorized party, present when there are several audiences.
    pub fn azp(&self) -> Option<&str> {
        self.checked.azp.as_ref().map(|azp| azp.get(&self.text))
    }

    /// Hash of the access token issued with this ID token.
    pub fn at_hash(&self) -> Option<&str> {
        self.checked
            .at_hash
            .as_ref()
            .map(|at_hash| at_hash.get(&self.text))
    }

    fn profile(&self) -> &Profile {
        self.profile
            .get_or_init(|| Box::new(Profile::read(&self.to_json())))
    }

    /// E-mail address (scope `email`).
    pub fn email(&self) -> Option<&str> {
        self.profile().email.as_deref()
    }

    /// Whether Verys has verified the e-mail address (scope `email`).
    pub fn email_verified(&self) -> Option<bool> {
        self.profile().email_verified
    }

    /// Full name (scope `profile`).
    pub fn name(&self) -> Option<&str> {
        self.profile().name.as_deref()
    }

    /// Given name (scope `profile`).
    pub fn given_name(&self) -> Option<&str> {
        self.profile().given_name.as_deref()
    }

    /// Family name (scope `profile`).
    pub fn family_name(&self) -> Option<&str> {
        self.profile().family_name.as_deref()
    }

    /// Where the identity came from, an ISO-8601 string (scope `profile`).
    pub fn origination(&self) -> Option<&str> {
        self.profile().origination.as_deref()
    }

    /// The user's roles.
    pub fn roles(&self) -> &[String] {
        &self.profile().roles
    }

    /// Every claim of the token as JSON, including those without a field here.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        jwt::claims_map(&self.text)
    }

    /// One claim by name, typed fields and others alike.
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        self.to_json().remove(name)
    }
}

impl fmt::Debug for IdTokenClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdTokenClaims")
            .field("iss", &self.iss())
            .field("sub", &self.sub())
            .field("aud", self.aud())
            .field("exp", &self.exp())
            .field("iat", &self.iat())
            .field("auth_time", &self.auth_time())
            .field("email", &self.email())
            .field("name", &self.name())
            .field("roles", &self.roles())
            .finish_non_exhaustive()
    }
}

/// What an ID token must say to belong to this flow.
pub(crate) struct IdTokenRules<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub now: u64,
    pub leeway: u64,
    pub nonce: NonceRule<'a>,
    /// The access token issued with the ID token; `None` when verifying an
    /// ID token on its own, which leaves `at_hash` unchecked.
    pub access_token: Option<&'a str>,
    pub require_at_hash: bool,
    pub max_age: Option<u64>,
    /// Whether `exp` is checked: not when restoring stored tokens, whose ID
    /// token has long served its purpose of proving the sign-in.
    pub check_expiry: bool,
    /// On refresh: the claims of the ID token being replaced.
    pub previous: Option<&'a IdTokenClaims>,
}

/// How the `nonce` claim is checked.
pub(crate) enum NonceRule<'a> {
    /// Code flow: the claim must equal the nonce sent.
    Equals(&'a str),
    /// Refresh: absent (Verys) or equal to the original (other providers).
    AbsentOrEquals(Option<&'a str>),
}

impl IdTokenClaims {
    /// Decodes and checks a token whose signature has just been verified.
    pub(crate) fn verify(
        jws: jwt::Jws<'_>,
        key: &ed25519_dalek::VerifyingKey,
        rules: &IdTokenRules<'_>,
    ) -> Result<Self, Error> {
        let (checked, text) = jws.verify(key).map_err(Error::InvalidIdToken)?;
        let claims = IdTokenClaims::new(checked, text);
        claims.check(rules)?;
        Ok(claims)
    }

    pub(crate) fn check(&self, rules: &IdTokenRules<'_>) -> Result<(), Error> {
        let rule = |ok: bool, rule: TokenRule| {
            if ok {
                Ok(())
            } else {
                Err(Error::InvalidIdToken(rule))
            }
        };
        rule(self.iss() == rules.issuer, TokenRule::Issuer)?;
        rule(self.aud().contains(rules.client_id), TokenRule::Audience)?;
        let azp_needed = self.aud().as_slice().len() > 1;
        rule(
            match self.azp() {
                Some(azp) => azp == rules.client_id,
                None => !azp_needed,
            },
            TokenRule::AuthorizedParty,
        )?;
        let exp = if rules.check_expiry {
            self.exp()
        } else {
            u64::MAX
        };
        jwt::check_times(exp, self.iat(), rules.now, rules.leeway)
            .map_err(Error::InvalidIdToken)?;
        let nonce_ok = match rules.nonce {
            NonceRule::Equals(sent) => self
                .nonce()
                .is_some_and(|nonce| jwt::constant_time_eq(nonce, sent)),
            NonceRule::AbsentOrEquals(original) => match (self.nonce(), original) {
                (None, _) => true,
                (Some(nonce), Some(original)) => jwt::constant_time_eq(nonce, original),
                (Some(_), None) => false,
            },
        };
        if !nonce_ok {
            return Err(Error::NonceMismatch);
        }
        match (self.at_hash(), rules.access_token) {
            (Some(at_hash), Some(access_token)) => rule(
                jwt::constant_time_eq(at_hash, &jwt::access_token_hash(access_token)),
                TokenRule::AccessTokenHash,
            )?,
            (None, Some(_)) => rule(!rules.require_at_hash, TokenRule::MissingAccessTokenHash)?,
            (_, None) => {}
        }
        if let Some(max_age) = rules.max_age {
            let recent = self.auth_time().is_some_and(|auth_time| {
                auth_time
                    .saturating_add(max_age)
                    .saturating_add(rules.leeway)
                    > rules.now
            });
            rule(recent, TokenRule::AuthTime)?;
        }
        if let Some(previous) = rules.previous {
            rule(self.iss() == previous.iss(), TokenRule::Changed("issuer"))?;
            rule(self.sub() == previous.sub(), TokenRule::Changed("subject"))?;
            rule(self.aud() == previous.aud(), TokenRule::Changed("audience"))?;
        }
        Ok(())
    }
}
