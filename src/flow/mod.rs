//! The authorization code flow as a chain of types:
//! [`PendingAuth`] → [`CallbackReceived`] → [`Tokens`](crate::Tokens).
//!
//! Each step consumes the previous one, so a flow state cannot be used twice,
//! and the only way to a `CallbackReceived` is a callback whose `state`
//! matched. The PKCE verifier and the nonce stay inside the states from the
//! authorization request to the token request: the caller never handles
//! them, so cannot lose or mix them up.
//!
//! Beside the states: callback parsing, the random values of a request and
//! PKCE, the grants that end a flow (code, refresh, token exchange), the ID
//! token checks outside a grant, and the tokens a flow ends with.

pub(crate) mod callback;
pub(crate) mod grant;
pub(crate) mod id_tokens;
pub(crate) mod pkce;
pub(crate) mod tokens;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::error::Error;
use crate::flow::callback::{CallbackParams, CallbackUrl};
use crate::flow::pkce::{PkceVerifier, random_value};
use crate::kind::{ClientKind, Confidential, Public};
use crate::protocol::config::Config;

/// The `prompt` parameter of an authorization request
/// ([OpenID Connect Core 3.1.2.1](https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest)),
/// named `none`, `login` and `consent` by `as_str`, `Display`, `FromStr` and
/// serde.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Prompt {
    /// Do not show any page; fail with `login_required` or
    /// `consent_required` if the user would have to act.
    None,
    /// Ask the user to log in again.
    Login,
    /// Ask the user for consent again.
    Consent,
}

impl Prompt {
    /// The parameter's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Prompt::None => "none",
            Prompt::Login => "login",
            Prompt::Consent => "consent",
        }
    }
}

impl fmt::Display for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Prompt {
    type Err = crate::error::UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Prompt::None, Prompt::Login, Prompt::Consent]
            .into_iter()
            .find(|prompt| prompt.as_str() == name)
            .ok_or_else(|| crate::error::UnknownName {
                what: "prompt",
                value: name.to_owned(),
            })
    }
}

/// Optional parameters of an authorization request, from
/// [`Client::authorization`](crate::Client::authorization).
///
/// ```no_run
/// # fn demo(client: &verys_client::Client<verys_client::Public>) {
/// use std::time::Duration;
/// use verys_client::Prompt;
///
/// let pending = client
///     .authorization()
///     .prompt(Prompt::Login)
///     .max_age(Duration::from_secs(300))
///     .login_hint("ada@example.com")
///     .scope("email")
///     .start();
/// # }
/// ```
#[must_use = "call start() to create the flow state"]
pub struct AuthorizationRequest<'a, K: ClientKind> {
    config: &'a Config,
    prompt: Option<Prompt>,
    max_age: Option<u64>,
    login_hint: Option<String>,
    extra_scopes: Vec<String>,
    _kind: PhantomData<fn() -> K>,
}

impl<'a, K: ClientKind> AuthorizationRequest<'a, K> {
    pub(crate) fn new(config: &'a Config) -> Self {
        Self {
            config,
            prompt: None,
            max_age: None,
            login_hint: None,
            extra_scopes: Vec::new(),
            _kind: PhantomData,
        }
    }

    /// Sets `prompt`.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Sets `max_age`: the user must have authenticated within this time. The
    /// ID token's `auth_time` is then checked against it.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age.as_secs());
        self
    }

    /// Sets `login_hint`, typically the user's e-mail address.
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.login_hint = Some(hint.into());
        self
    }

    /// Asks for one more scope than the client's configured ones. A scope
    /// that is empty or holds white space is ignored: it would change the
    /// meaning of the space-separated `scope` parameter.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        let scope = scope.into();
        let new = !self.config.scopes.contains(&scope) && !self.extra_scopes.contains(&scope);
        if crate::protocol::config::valid_scope(&scope) && new {
            self.extra_scopes.push(scope);
        }
        self
    }

    /// Generates `state`, `nonce` and the PKCE verifier and returns the flow
    /// state holding them with the authorization URL.
    pub fn start(self) -> PendingAuth<K> {
        let randomness = &*self.config.randomness;
        let state = random_value(randomness, 32);
        let nonce = random_value(randomness, 32);
        let verifier = self.config.pkce.then(|| PkceVerifier::generate(randomness));
        let scope = self
            .config
            .scopes
            .iter()
            .chain(&self.extra_scopes)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let mut url = self.config.endpoints.authorization.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", &self.config.redirect_uri)
                .append_pair("scope", &scope)
                .append_pair("state", &state)
                .append_pair("nonce", &nonce);
            if let Some(verifier) = &verifier {
                query
                    .append_pair("code_challenge", &verifier.challenge())
                    .append_pair("code_challenge_method", "S256");
            }
            if let Some(prompt) = self.prompt {
                query.append_pair("prompt", prompt.as_str());
            }
            if let Some(max_age) = self.max_age {
                query.append_pair("max_age", &max_age.to_string());
            }
            if let Some(hint) = &self.login_hint {
                query.append_pair("login_hint", hint);
            }
        }
        PendingAuth {
            flow: FlowValues {
                url: url.into(),
                issuer: self.config.issuer.clone(),
                client_id: self.config.client_id.clone(),
                redirect_uri: self.config.redirect_uri.clone(),
                state,
                nonce,
                max_age: self.max_age,
                require_issuer_parameter: self.config.require_issuer_parameter,
            },
            verifier,
            _kind: PhantomData,
        }
    }
}

/// A started authorization: the URL to send the user to, and what the
/// callback and the token request will need.
///
/// Keep it between the redirect and the callback, for example in the user's
/// server-side session: it is `Serialize + Deserialize`. Its serialized form
/// holds the PKCE verifier, so it belongs in a server-side store, not in a
/// cookie the browser can read. Deserializing checks that the state was made
/// by a client of the same kind.
pub struct PendingAuth<K: ClientKind> {
    flow: FlowValues,
    verifier: Option<PkceVerifier>,
    _kind: PhantomData<fn() -> K>,
}

/// What a flow remembers besides its PKCE verifier, stored as it is.
///
/// Every field must be present when read back, `null` ones included
/// (`deserialize_with` turns serde's "absent `Option` is `None`" off): a
/// session store that dropped a field (a schema that kept only some, a
/// migration) must not drop the check that field carries, such as
/// `max_age`'s `auth_time` check.
#[derive(Serialize, Deserialize)]
struct FlowValues {
    url: String,
    issuer: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: String,
    #[serde(deserialize_with = "Option::deserialize")]
    max_age: Option<u64>,
    /// Whether the callback must carry `iss` (RFC 9207).
    require_issuer_parameter: bool,
}

impl<K: ClientKind> PendingAuth<K> {
    /// The authorization URL to redirect the user's browser to.
    pub fn url(&self) -> &str {
        &self.flow.url
    }

    /// Checks the authorization server's redirect back to the application.
    ///
    /// `callback` is the callback URL as the browser requested it, its path
    /// and query (an `http::Uri` of the request), or just its query string
    /// (with or without the leading `?`); see [`CallbackUrl`]. A callback is
    /// believed only once it shows it belongs to this flow, so the checks
    /// come in this order: a missing `state` ([`Error::MissingState`]), a
    /// `state` other than this flow's ([`Error::StateMismatch`], compared in
    /// constant time), an `iss` naming another issuer
    /// ([`Error::IssuerMismatch`], RFC 9207) or missing where the client
    /// requires it ([`Error::MissingIssuer`]), repeated parameters
    /// ([`Error::DuplicateParameter`]); then an `error` parameter
    /// ([`Error::Callback`]) and a missing `code` ([`Error::MissingCode`]).
    ///
    /// # Errors
    ///
    /// The errors above, and [`Error::MalformedCallback`] for a callback that
    /// is empty or none of the forms above.
    pub fn receive(
        self,
        callback: &(impl CallbackUrl + ?Sized),
    ) -> Result<CallbackReceived<K>, Error> {
        let params = CallbackParams::parse(callback)?;
        // RFC 6749 §10.12 and RFC 9207 §2.4: an error response of another
        // flow, or of another issuer, is a forgery like any other.
        params.check_state(&self.flow.state)?;
        params.check_issuer(&self.flow.issuer, self.flow.require_issuer_parameter)?;
        params.check_no_repeats()?;
        if let Some(error) = params.oauth_error() {
            return Err(error);
        }
        let code = params.non_empty("code").ok_or(Error::MissingCode)?;
        Ok(CallbackReceived {
            code: SecretString::from(code.to_owned()),
            issuer_parameter: params.first("iss").is_some(),
            pending: self,
        })
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.flow.client_id
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.flow.issuer
    }

    pub(crate) fn redirect_uri(&self) -> &str {
        &self.flow.redirect_uri
    }

    pub(crate) fn verifier(&self) -> Option<&PkceVerifier> {
        self.verifier.as_ref()
    }

    pub(crate) fn into_nonce(self) -> (String, Option<u64>) {
        (self.flow.nonce, self.flow.max_age)
    }
}

impl<K: ClientKind> fmt::Debug for PendingAuth<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuth")
            .field("kind", &K::NAME)
            .field("url", &self.flow.url)
            .field("client_id", &self.flow.client_id)
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

/// The stored form of a [`PendingAuth`]: its kind, its values, whether it
/// uses PKCE, and the verifier.
#[derive(Serialize)]
struct StoredRef<'a> {
    kind: &'static str,
    #[serde(flatten)]
    flow: &'a FlowValues,
    pkce: bool,
    code_verifier: Option<&'a str>,
}

/// As [`FlowValues`], every field must be present.
#[derive(Deserialize)]
struct Stored {
    kind: String,
    #[serde(flatten)]
    flow: FlowValues,
    pkce: bool,
    #[serde(deserialize_with = "Option::deserialize")]
    code_verifier: Option<String>,
}

impl<K: ClientKind> Serialize for PendingAuth<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredRef {
            kind: K::NAME,
            flow: &self.flow,
            pkce: self.verifier.is_some(),
            code_verifier: self.verifier.as_ref().map(PkceVerifier::expose),
        }
        .serialize(serializer)
    }
}

impl<'de, K: ClientKind> Deserialize<'de> for PendingAuth<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let stored = Stored::deserialize(deserializer)?;
        if stored.kind != K::NAME {
            // The stored kind is the store's text: only a kind's own name is
            // repeated.
            let kind = [Public::NAME, Confidential::NAME]
                .into_iter()
                .find(|name| *name == stored.kind)
                .unwrap_or("unknown");
            return Err(D::Error::custom(format!(
                "flow state of a {kind} client cannot be finished by a {} client",
                K::NAME
            )));
        }
        let verifier = match stored.code_verifier {
            Some(value) => Some(
                PkceVerifier::from_stored(value)
                    .ok_or_else(|| D::Error::custom("stored pkce verifier is malformed"))?,
            ),
            None if K::NAME == Public::NAME => {
                return Err(D::Error::custom(
                    "flow state of a public client lacks its pkce verifier",
                ));
            }
            None if stored.pkce => {
                return Err(D::Error::custom(
                    "flow state of a pkce flow lacks its pkce verifier",
                ));
            }
            None => None,
        };
        if verifier.is_some() && !stored.pkce {
            return Err(D::Error::custom(
                "flow state without pkce holds a pkce verifier",
            ));
        }
        if stored.flow.state.is_empty() || stored.flow.nonce.is_empty() {
            return Err(D::Error::custom(
                "stored flow state lacks its state or nonce",
            ));
        }
        Ok(PendingAuth {
            flow: stored.flow,
            verifier,
            _kind: PhantomData,
        })
    }
}

/// A callback whose `state` matched: the authorization code, ready for
/// [`Client::exchange_code`](crate::Client::exchange_code).
pub struct CallbackReceived<K: ClientKind> {
    code: SecretString,
    /// Whether the callback carried `iss` (checked equal to the issuer).
    issuer_parameter: bool,
    pending: PendingAuth<K>,
}

impl<K: ClientKind> CallbackReceived<K> {
    pub(crate) fn into_parts(self) -> (SecretString, PendingAuth<K>, bool) {
        (self.code, self.pending, self.issuer_parameter)
    }
}

impl<K: ClientKind> fmt::Debug for CallbackReceived<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackReceived")
            .field("code", &"[REDACTED]")
            .field("pending", &self.pending)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_have_their_parameter_values_in_every_form() {
        for (prompt, name) in [
            (Prompt::None, "none"),
            (Prompt::Login, "login"),
            (Prompt::Consent, "consent"),
        ] {
            assert_eq!(prompt.as_str(), name);
            assert_eq!(prompt.to_string(), name);
            assert_eq!(name.parse::<Prompt>(), Ok(prompt));
            let json = serde_json::to_string(&prompt).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Prompt>(&json).unwrap(), prompt);
        }
        assert_eq!(
            "select_account".parse::<Prompt>().unwrap_err().what,
            "prompt"
        );
    }
}
