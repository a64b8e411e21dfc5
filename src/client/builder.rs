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
use crate::client::back_channel::back_channel_setters;
use crate::client::discovery::{Discovered, EndpointPolicy};
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::kind::{ClientAuthMethod, ClientKind, Confidential, Public};
use crate::protocol::Call;
use crate::protocol::config::{Config, Endpoints};
use crate::protocol::config::{parse_http_url, valid_scope};
use crate::protocol::jwks::{JwksCache, JwksPolicy};
use crate::protocol::wire::Limits;
use crate::randomness::{Randomness, SystemRandomness};
use crate::transport::Clients;

/// Configures a [`Client`] (or, with the `async` feature, an [`AsyncClient`](crate::AsyncClient)).
///
/// Every setting is checked by [`ClientBuilder::build`], so a misconfigured
/// client fails at start-up rather than at a user's first sign-in.
#[must_use = "call build() to create the client"]
pub struct ClientBuilder<K: ClientKind> {
    settings: Settings,
    _kind: PhantomData<fn() -> K>,
}

/// Every setting, whatever the kind: the kind only decides which setters
/// exist.
struct Settings {
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
    trusted_audiences: Vec<String>,
    require_issuer_parameter: bool,
    restored_max_age: Duration,
    endpoint_hosts: Vec<String>,
    http_to_any_host: bool,
    http: Limits,
    clients: Clients,
    jwks: JwksPolicy,
    clock: Arc<dyn Clock>,
    randomness: Arc<dyn Randomness>,
}

/// How old a restored ID token may be by default.
const RESTORED_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

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
            settings: Settings {
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
                trusted_audiences: Vec::new(),
                require_issuer_parameter: false,
                restored_max_age: RESTORED_MAX_AGE,
                endpoint_hosts: Vec::new(),
                http_to_any_host: false,
                http: Limits::default(),
                clients: Clients::default(),
                jwks: JwksPolicy::default(),
                clock: Arc::new(SystemClock),
                randomness: Arc::new(SystemRandomness),
            },
            _kind: PhantomData,
        }
    }
}

impl ClientBuilder<Public> {
    /// Makes the client confidential, authenticating with `secret`.
    pub fn client_secret(mut self, secret: impl Into<SecretString>) -> ClientBuilder<Confidential> {
        self.settings.client_secret = Some(secret.into());
        ClientBuilder {
            settings: self.settings,
            _kind: PhantomData,
        }
    }
}

impl ClientBuilder<Confidential> {
    /// How the secret is sent; `client_secret_post` by default.
    pub fn auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.settings.auth_method = method;
        self
    }

    /// Whether authorization requests carry a PKCE challenge. On by default,
    /// as RFC 9700 recommends for confidential clients too; turn it off only
    /// for a server that rejects PKCE from confidential clients.
    pub fn pkce(mut self, enabled: bool) -> Self {
        self.settings.pkce = enabled;
        self
    }
}

impl<K: ClientKind> ClientBuilder<K> {
    /// The redirect URI registered at Verys, used as given.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.settings.redirect_uri = Some(uri.into());
        self
    }

    /// The application's base URL; the redirect URI becomes
    /// `{host}/auth/callback`, as in the reference client, unless
    /// [`redirect_uri`](Self::redirect_uri) is set.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.settings.host = Some(host.into());
        self
    }

    /// The scopes to request. Must include `openid`. Default: `openid`.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.settings.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Audiences besides this client that an ID token may name. OpenID
    /// Connect Core 3.1.3.7 step 3 has a client refuse an ID token with an
    /// audience it does not trust; by default it trusts none but itself.
    pub fn trusted_audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.settings.trusted_audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Refuse a callback without an `iss` parameter ([RFC 9207]), the
    /// defence against mix-up attacks when a client talks to several
    /// providers. Off by default, as Verys does not send it; on whenever
    /// [`build_discovered`](Self::build_discovered) reads a document with
    /// `authorization_response_iss_parameter_supported`. A present `iss` is
    /// always checked.
    ///
    /// [RFC 9207]: https://www.rfc-editor.org/rfc/rfc9207
    pub fn require_issuer_parameter(mut self, required: bool) -> Self {
        self.settings.require_issuer_parameter = required;
        self
    }

    /// How old (by `iat`) the ID token of a restored sign-in
    /// ([`Client::restore_tokens`](crate::Client::restore_tokens)) may be.
    /// Every refresh brings a new ID token, so a sign-in that is refreshed
    /// and stored again restores; one left unused for longer has the user
    /// sign in again. Default: 24 hours.
    pub fn restored_id_token_max_age(mut self, max_age: Duration) -> Self {
        self.settings.restored_max_age = max_age;
        self
    }

    /// A host other than the issuer's that the discovery document may name
    /// endpoints on (`login.example.com`; any port). By default every
    /// discovered endpoint must be on the issuer's host: the client secret
    /// and codes go to the token endpoint.
    pub fn allow_endpoint_host(mut self, host: impl Into<String>) -> Self {
        self.settings.endpoint_hosts.push(host.into());
        self
    }

    /// Refuse ID tokens without `at_hash`. Off by default: OpenID Connect
    /// Core 3.1.3.8 makes it optional in the code flow (Verys always sends
    /// it, and a present `at_hash` is always checked).
    pub fn require_at_hash(mut self, required: bool) -> Self {
        self.settings.require_at_hash = required;
        self
    }

    /// Where `state`, `nonce` and PKCE verifiers come from. Default:
    /// [`SystemRandomness`]. See [`Randomness`]'s security warning: anything
    /// else must be a cryptographically secure generator, or a test's.
    pub fn randomness(mut self, randomness: Arc<dyn Randomness>) -> Self {
        self.settings.randomness = randomness;
        self
    }

    back_channel_setters!(settings);

    /// Checks the configuration and builds the blocking client.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a setting that cannot work: an issuer that is
    /// not an `http(s)` URL (or plain `http` to another host than this
    /// machine), an empty client id or secret, scopes without `openid`, a
    /// missing or malformed redirect URI, no
    /// [`http_client`](Self::http_client) without the `blocking` feature, or
    /// an async client given (`async_http_client`, `reqwest_client`), which
    /// a blocking client would not use.
    pub fn build(self) -> Result<Client<K>, Error> {
        let (config, clients) = self.into_config()?;
        let http = clients.blocking(config.http)?;
        Ok(Client::with_http(Arc::new(config), http))
    }

    /// Checks the configuration, reads the issuer's discovery document and
    /// builds the blocking client with the endpoints it names.
    /// [`build`](Self::build) uses the fixed Verys paths instead and sends
    /// no request.
    ///
    /// # Errors
    ///
    /// Those of [`build`](Self::build); [`Error::Discovery`] for a document
    /// that names another issuer, does not sign with EdDSA, or names an
    /// endpoint that is not `https` (for an `https` issuer) or is on another
    /// host than the issuer's and not [allowed](Self::allow_endpoint_host);
    /// the errors of the request itself ([`Error::Transport`],
    /// [`Error::Endpoint`], [`Error::InvalidResponse`]).
    pub fn build_discovered(self) -> Result<Client<K>, Error> {
        let (mut config, clients, policy) = self.into_discovery()?;
        let http = clients.blocking(config.http)?;
        let document = http.drive(
            &config.jwks,
            &*config.clock,
            Ok(discovered(&config, policy)),
        )?;
        config.adopt(document);
        Ok(Client::with_http(Arc::new(config), http))
    }

    /// Checks the configuration, reads the issuer's discovery document and
    /// builds the async client, as [`build_discovered`](Self::build_discovered).
    ///
    /// # Errors
    ///
    /// Those of [`build_discovered`](Self::build_discovered).
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub async fn build_discovered_async(self) -> Result<crate::AsyncClient<K>, Error> {
        let (mut config, clients, policy) = self.into_discovery()?;
        let http = clients.nonblocking(config.http)?;
        let document = http
            .drive(
                &config.jwks,
                &*config.clock,
                Ok(discovered(&config, policy)),
            )
            .await?;
        config.adopt(document);
        Ok(Client::with_http(Arc::new(config), http))
    }

    /// Checks the configuration and builds the async client.
    ///
    /// # Errors
    ///
    /// Those of [`build`](Self::build) but for the client given: here
    /// [`Error::Config`] for a blocking [`http_client`](Self::http_client),
    /// which an async client would not use, and when reqwest cannot build a
    /// client from the [`reqwest_client`](Self::reqwest_client) builder.
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn build_async(self) -> Result<crate::AsyncClient<K>, Error> {
        let (config, clients) = self.into_config()?;
        let http = clients.nonblocking(config.http)?;
        Ok(Client::with_http(Arc::new(config), http))
    }

    /// The configuration, the HTTP clients given, and what the discovered
    /// endpoints must satisfy.
    fn into_discovery(self) -> Result<(Config, Clients, EndpointPolicy), Error> {
        let policy = EndpointPolicy {
            issuer: parse_http_url(
                &self.settings.issuer,
                "issuer",
                self.settings.http_to_any_host,
            )?,
            hosts: self.settings.endpoint_hosts.clone(),
            http_to_any_host: self.settings.http_to_any_host,
        };
        let (config, clients) = self.into_config()?;
        Ok((config, clients, policy))
    }

    fn into_config(self) -> Result<(Config, Clients), Error> {
        let mut settings = self.settings;
        let clients = std::mem::take(&mut settings.clients);
        let issuer = parse_http_url(&settings.issuer, "issuer", settings.http_to_any_host)?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(Error::Config(
                "issuer must not have a query or fragment".into(),
            ));
        }
        let issuer_text = issuer.as_str().trim_end_matches('/').to_owned();
        if settings.client_id.trim().is_empty() || settings.client_id.chars().any(char::is_control)
        {
            return Err(Error::Config("client id must not be empty".into()));
        }
        if !settings.scopes.iter().any(|s| s == "openid") {
            return Err(Error::Config("scopes must include openid".into()));
        }
        if let Some(bad) = settings.scopes.iter().find(|s| !valid_scope(s)) {
            return Err(Error::Config(format!(
                "scope {bad:?} is not a valid scope token"
            )));
        }
        if settings
            .client_secret
            .as_ref()
            .is_some_and(|secret| secret.expose_secret().is_empty())
        {
            return Err(Error::Config("client secret must not be empty".into()));
        }
        let redirect_uri = match (settings.redirect_uri, settings.host) {
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
        if settings.http.max_response_bytes == 0 {
            return Err(Error::Config("max response size must be positive".into()));
        }
        let endpoints = Endpoints::verys(&issuer);
        let jwks = Arc::new(JwksCache::new(endpoints.jwks.clone(), settings.jwks));
        let config = Config {
            issuer: issuer_text,
            endpoints,
            client_id: settings.client_id,
            pkce: settings.pkce || settings.client_secret.is_none(),
            client_secret: settings.client_secret,
            auth_method: settings.auth_method,
            redirect_uri,
            scopes: settings.scopes,
            leeway: settings.leeway.as_secs(),
            require_at_hash: settings.require_at_hash,
            trusted_audiences: settings.trusted_audiences,
            require_issuer_parameter: settings.require_issuer_parameter,
            restored_max_age: settings.restored_max_age.as_secs(),
            http: settings.http,
            jwks_policy: settings.jwks,
            jwks,
            clock: settings.clock,
            randomness: settings.randomness,
        };
        Ok((config, clients))
    }
}

impl<K: ClientKind> fmt::Debug for ClientBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.settings;
        f.debug_struct("ClientBuilder")
            .field("kind", &K::NAME)
            .field("issuer", &settings.issuer)
            .field("client_id", &settings.client_id)
            .field("scopes", &settings.scopes)
            .field(
                "client_secret",
                &settings.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

/// The discovery request, answered with what the document says.
fn discovered(config: &Config, policy: EndpointPolicy) -> Call<Discovered> {
    let issuer_text = config.issuer.clone();
    Call::new(
        "discovery",
        crate::client::discovery::request(&policy.issuer),
        move |response, _| crate::client::discovery::decode(response, &policy, &issuer_text),
    )
}
