//! The settings every layer reads: what a client was built with, shared by
//! the blocking and async clients and by every operation they start, and
//! the rules its URLs and scopes follow.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use url::{Host, Url, form_urlencoded};

use super::jwks::{JwksCache, JwksPolicy};
use super::wire::{HttpRequest, Limits, Method};
use crate::clock::Clock;
use crate::error::Error;
use crate::kind::ClientAuthMethod;
use crate::randomness::Randomness;
use crate::verify::claims::CommonRules;
use crate::verify::id_token::{IdTokenRules, NonceRule};

/// The Verys endpoints, all hanging off the issuer.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub authorization: Url,
    pub token: String,
    pub userinfo: String,
    pub jwks: String,
    pub revocation: String,
    pub end_session: Url,
    pub federation: Url,
}

impl Endpoints {
    /// The fixed paths of the Verys protocol under `issuer`.
    pub(crate) fn verys(issuer: &Url) -> Self {
        Self {
            authorization: endpoint(issuer, &["authorize"]),
            token: endpoint(issuer, &["token"]).into(),
            userinfo: endpoint(issuer, &["userinfo"]).into(),
            jwks: endpoint(issuer, &[".well-known", "jwks.json"]).into(),
            revocation: endpoint(issuer, &["token", "revoke"]).into(),
            end_session: endpoint(issuer, &["end-session"]),
            federation: endpoint(issuer, &["federation"]),
        }
    }
}

/// `base` with `segments` appended to its path, each percent-encoded.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The form parameters whose values are secrets.
const SECRET_PARAMETERS: [&str; 5] = [
    "code",
    "code_verifier",
    "refresh_token",
    "subject_token",
    "token",
];

pub(crate) struct Config {
    /// The base URL, exactly as `iss` must read.
    pub issuer: String,
    pub endpoints: Endpoints,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub auth_method: ClientAuthMethod,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// Whether authorization requests carry a PKCE challenge (always for
    /// public clients).
    pub pkce: bool,
    pub leeway: u64,
    pub require_at_hash: bool,
    /// Audiences besides the client id an ID token may name.
    pub trusted_audiences: Vec<String>,
    /// Whether a callback must carry `iss` (RFC 9207).
    pub require_issuer_parameter: bool,
    /// Seconds a restored ID token may have lived since `iat`.
    pub restored_max_age: u64,
    pub http: Limits,
    pub jwks_policy: JwksPolicy,
    pub jwks: Arc<JwksCache>,
    pub clock: Arc<dyn Clock>,
    pub randomness: Arc<dyn Randomness>,
}

impl Config {
    /// The rules an ID token for this client must pass at `now`, with the
    /// nonce rule of its flow; an operation adds what it knows beyond that
    /// (the access token, `max_age`, the tokens being refreshed).
    pub(crate) fn id_token_rules<'a>(&'a self, now: u64, nonce: NonceRule<'a>) -> IdTokenRules<'a> {
        IdTokenRules {
            common: CommonRules {
                issuer: &self.issuer,
                now,
                leeway: self.leeway,
                check_expiry: true,
            },
            client_id: &self.client_id,
            trusted_audiences: &self.trusted_audiences,
            nonce,
            access_token: None,
            require_at_hash: self.require_at_hash,
            max_age: None,
            max_token_age: None,
            previous: None,
        }
    }

    /// `POST /token/revoke` for a refresh token (RFC 7009).
    pub(crate) fn revocation_request(&self, refresh_token: &str) -> HttpRequest {
        self.form_request(
            &self.endpoints.revocation,
            &[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
            ],
        )
    }

    /// A request to `url` authenticated with `access_token`, of `method`.
    pub(crate) fn bearer_request(
        &self,
        method: Method,
        url: &str,
        access_token: &str,
    ) -> HttpRequest {
        let mut request = HttpRequest::get(url).with_bearer(access_token);
        request.method = method;
        request.secrets.extend(self.client_secret.clone());
        request
    }

    /// A form POST to the token endpoint with this client's authentication.
    pub(crate) fn token_request(&self, params: &[(&str, &str)]) -> HttpRequest {
        self.form_request(&self.endpoints.token, params)
    }

    /// A form POST to `url` with this client's authentication.
    fn form_request(&self, url: &str, params: &[(&str, &str)]) -> HttpRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(params);
        let client_secret = self.client_secret.as_ref().map(ExposeSecret::expose_secret);
        let secrets = params
            .iter()
            .filter(|(name, _)| SECRET_PARAMETERS.contains(name))
            .map(|(_, value)| *value)
            .chain(client_secret)
            .flat_map(|secret| {
                // The body carries it percent-encoded: an error quoting the
                // body quotes that spelling.
                let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
                let spellings = [
                    Some(secret.to_owned()),
                    (encoded != secret).then_some(encoded),
                ];
                spellings.into_iter().flatten().map(SecretString::from)
            });
        let mut secrets: Vec<SecretString> = secrets.collect();
        let mut authorization = None;
        match (&self.client_secret, self.auth_method) {
            (None, _) => {
                form.append_pair("client_id", &self.client_id);
            }
            (Some(secret), ClientAuthMethod::ClientSecretPost) => {
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_secret", secret.expose_secret());
            }
            (Some(secret), ClientAuthMethod::ClientSecretBasic) => {
                let credentials = format!("{}:{}", self.client_id, secret.expose_secret());
                let encoded = STANDARD.encode(credentials);
                // An error that echoes the header quotes the secret encoded.
                authorization = Some(SecretString::from(format!("Basic {encoded}")));
                secrets.push(SecretString::from(encoded));
            }
        }
        HttpRequest {
            method: Method::Post,
            url: url.to_owned(),
            authorization,
            form: Some(SecretString::from(form.finish())),
            secrets,
        }
    }
}

/// A URL with an `http` or `https` scheme and a host, without credentials;
/// `http` only to this machine unless `http_to_any_host`.
pub(crate) fn parse_http_url(text: &str, what: &str, http_to_any_host: bool) -> Result<Url, Error> {
    let url =
        Url::parse(text).map_err(|error| Error::Config(format!("{what} is not a url: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::Config(format!(
            "{what} must be an http or https url"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(format!("{what} must not hold credentials")));
    }
    if url.scheme() == "http" && !http_to_any_host && !is_loopback(&url) {
        return Err(Error::Config(format!(
            "{what} uses plain http to another host than this machine, where secrets and codes \
             would travel in clear: use https (or danger_allow_http_to_any_host)"
        )));
    }
    Ok(url)
}

/// Whether `url` names this machine: `localhost`, `127.0.0.0/8` or `[::1]`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// RFC 6749 3.3 `scope-token`: printable ASCII without space, `"` or `\`.
pub(crate) fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}
