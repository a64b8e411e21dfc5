//! [`ClientBuilder`]: one builder for both client kinds. Setting a client
//! secret turns a `ClientBuilder<Public>` into a
//! `ClientBuilder<Confidential>`; nothing turns it back.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

use crate::client::Client;
use crate::client::config::{Config, Endpoints};
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::flow::kind::{ClientAuthMethod, ClientKind, Confidential, Public};
use crate::protocol::{Call, Started};
use crate::transport::{Blocking, HttpConfig};
use crate::verify::jwks::{JwksCache, JwksPolicy};

/// Configures a [`Client`] (or, with the `async` feature, an [`AsyncClient`](crate::AsyncClient)).
///
/// Every setting is checked by [`ClientBuilder::build`], so a misconfigured
/// client fails at start-up rather than at a user's first sign-in.
#[must_use = "call build() to create the client"]
pub struct ClientBuilder<K: ClientKind> {
    issuer: String,
    client_id: String,
    scopes: Vec<String>,
    redirect_uri: Option<String>,
    host: Option<String>,
    client_secret: Option<SecretString>,
    auth_method: ClientAuthMethod,
    pkce: bool,
    leeway: Duration,
    require_at_hash: bool,
    http: HttpConfig,
    jwks: JwksPolicy,
    clock: Arc<dyn Clock>,
    _kind: PhantomData<fn() -> K>,
}

impl Client<Public> {
    /// Starts configuring a client of the Verys instance at `issuer` (its base
    /// URL, such as `https://auth.verys.example.com`) with `client_id`.
    ///
    /// The builder makes a [`Public`] client until
    /// [`client_secret`](ClientBuilder::client_secret) is set.
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
    ) -> ClientBuilder<Public> {
        ClientBuilder {
            issuer: issuer.into(),
            client_id: client_id.into(),
            scopes: vec!["openid".to_owned()],
            redirect_uri: None,
            host: None,
            client_secret: None,
            auth_method: ClientAuthMethod::default(),
            pkce: true,
            leeway: Duration::from_secs(60),
            require_at_hash: false,
            http: HttpConfig::default(),
            jwks: JwksPolicy::default(),
            clock: Arc::new(SystemClock),
            _kind: PhantomData,
        }
    }
}

impl ClientBuilder<Public> {
    /// Makes the client confidential, authenticating with `secret`.
    pub fn client_secret(self, secret: impl Into<SecretString>) -> ClientBuilder<Confidential> {
        ClientBuilder {
            client_secret: Some(secret.into()),
            issuer: self.issuer,
            client_id: self.client_id,
            scopes: self.scopes,
            redirect_uri: self.redirect_uri,
            host: self.host,
            auth_method: self.auth_method,
            pkce: self.pkce,
            leeway: self.leeway,
            require_at_hash: self.require_at_hash,
            http: self.http,
            jwks: self.jwks,
            clock: self.clock,
            _kind: PhantomData,
        }
    }
}

impl ClientBuilder<Confidential> {
    /// How the secret is sent; `client_secret_post` by default.
    pub fn auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.auth_method = method;
        self
    }

    /// Whether authorization requests carry a PKCE challenge. On by default,
    /// as RFC 9700 recommends for confidential clients too; turn it off only
    /// for a server that rejects PKCE from confidential clients.
    pub fn pkce(mut self, enabled: bool) -> Self {
        self.pkce = enabled;
        self
    }
}

impl<K: ClientKind> ClientBuilder<K> {
    /// The redirect URI registered at Verys, used as given.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// The application's base URL; the redirect URI becomes
    /// `{host}/auth/callback`, as in the reference client, unless
    /// [`redirect_uri`](Self::redirect_uri) is set.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The scopes to request. Must include `openid`. Default: `openid`.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Clock skew tolerated on `exp`, `iat` and `auth_time`. Default: 60 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refuse ID tokens without `at_hash`. Off by default: OpenID Connect
    /// Core 3.1.3.8 makes it optional in the code flow (Verys always sends
    /// it, and a present `at_hash` is always checked).
    pub fn require_at_hash(mut self, required: bool) -> Self {
        self.require_at_hash = required;
        self
    }

    /// Time limit for a whole request, from connecting to reading the last
    /// byte of the body. Default: 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.timeout = timeout;
        self
    }

    /// Time limit for establishing a connection. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http.connect_timeout = timeout;
        self
    }

    /// Largest response body read; a larger one fails with
    /// [`TransportErrorKind::BodyTooLarge`](crate::TransportErrorKind::BodyTooLarge)
    /// after reading no more than the limit. Default: 1 MiB.
    pub fn max_response_bytes(mut self, limit: u64) -> Self {
        self.http.max_response_bytes = limit;
        self
    }

    /// Least time between two JWKS fetches, whatever key ids tokens name.
    /// Default: 30 s.
    pub fn jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks.cooldown = cooldown.as_secs();
        self
    }

    /// Age after which cached keys are fetched again. Default: 1 hour.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks.max_age = max_age.as_secs();
        self
    }

    /// The clock every time rule reads. Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration and builds the blocking client.
    pub fn build(self) -> Result<Client<K>, Error> {
        let config = self.into_config()?;
        let http = Blocking::new(config.http);
        Ok(Client::with_http(Arc::new(config), http))
    }

    /// Checks the configuration, reads the issuer's discovery document and
    /// builds the blocking client with the endpoints it names.
    ///
    /// The document must name exactly this issuer and list EdDSA among its
    /// signing algorithms ([`Error::Discovery`] otherwise). [`build`](Self::build)
    /// uses the fixed Verys paths instead and sends no request.
    pub fn build_discovered(self) -> Result<Client<K>, Error> {
        let (mut config, issuer, policy) = self.into_parts()?;
        let http = Blocking::new(config.http);
        let started = discovered(&config, issuer);
        let endpoints = http.drive(&config.jwks, &*config.clock, Ok(started))?;
        config.adopt(endpoints, policy);
        Ok(Client::with_http(Arc::new(config), http))
    }

    /// Checks the configuration, reads the issuer's discovery document and
    /// builds the async client, as [`build_discovered`](Self::build_discovered).
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub async fn build_discovered_async(self) -> Result<crate::AsyncClient<K>, Error> {
        let (mut config, issuer, policy) = self.into_parts()?;
        let http = crate::transport::Async::new(config.http)?;
        let started = discovered(&config, issuer);
        config.adopt(
            http.drive(&config.jwks, &*config.clock, Ok(started))
                .await?,
            policy,
        );
        Ok(Client::with_http(Arc::new(config), http))
    }

    /// Checks the configuration and builds the async client.
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn build_async(self) -> Result<crate::AsyncClient<K>, Error> {
        let config = self.into_config()?;
        let http = crate::transport::Async::new(config.http)?;
        Ok(Client::with_http(Arc::new(config), http))
    }

    fn into_parts(self) -> Result<(Config, Url, JwksPolicy), Error> {
        let issuer = parse_http_url(&self.issuer, "issuer")?;
        let policy = self.jwks;
        Ok((self.into_config()?, issuer, policy))
    }

    fn into_config(self) -> Result<Config, Error> {
        let issuer = parse_http_url(&self.issuer, "issuer")?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(Error::Config(
                "issuer must not have a query or fragment".into(),
            ));
        }
        let issuer_text = issuer.as_str().trim_end_matches('/').to_owned();
        if self.client_id.trim().is_empty() || self.client_id.chars().any(char::is_control) {
            return Err(Error::Config("client id must not be empty".into()));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(Error::Config("scopes must include openid".into()));
        }
        if let Some(bad) = self.scopes.iter().find(|s| !valid_scope(s)) {
            return Err(Error::Config(format!(
                "scope {bad:?} is not a valid scope token"
            )));
        }
        if self
            .client_secret
            .as_ref()
            .is_some_and(|secret| secret.expose_secret().is_empty())
        {
            return Err(Error::Config("client secret must not be empty".into()));
        }
        let redirect_uri = match (self.redirect_uri, self.host) {
            (Some(uri), _) => uri,
            (None, Some(host)) => format!("{}/auth/callback", host.trim_end_matches('/')),
            (None, None) => {
                return Err(Error::Config("set redirect_uri or host".into()));
            }
        };
        let parsed = Url::parse(&redirect_uri)
            .map_err(|error| Error::Config(format!("redirect uri is not a url: {error}")))?;
        if parsed.fragment().is_some() {
            return Err(Error::Config(
                "redirect uri must not have a fragment".into(),
            ));
        }
        if self.http.max_response_bytes == 0 {
            return Err(Error::Config("max response size must be positive".into()));
        }
        let endpoints = Endpoints::verys(&issuer);
        let jwks = Arc::new(JwksCache::new(endpoints.jwks.clone(), self.jwks));
        Ok(Config {
            issuer: issuer_text,
            endpoints,
            client_id: self.client_id,
            pkce: self.pkce || self.client_secret.is_none(),
            client_secret: self.client_secret,
            auth_method: self.auth_method,
            redirect_uri,
            scopes: self.scopes,
            leeway: self.leeway.as_secs(),
            require_at_hash: self.require_at_hash,
            http: self.http,
            jwks,
            clock: self.clock,
        })
    }
}

impl<K: ClientKind> fmt::Debug for ClientBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("kind", &K::NAME)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

/// The discovery request, answered with the endpoints it names.
fn discovered(config: &Config, issuer: Url) -> Started<Call<Endpoints>> {
    let issuer_text = config.issuer.clone();
    Call::start(
        crate::services::discovery::request(&issuer),
        move |response| crate::services::discovery::decode(response, &issuer, &issuer_text),
    )
}

/// A URL with an `http` or `https` scheme and a host.
pub(crate) fn parse_http_url(text: &str, what: &str) -> Result<Url, Error> {
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
    Ok(url)
}

/// RFC 6749 3.3 `scope-token`: printable ASCII without space, `"` or `\`.
pub(crate) fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}
