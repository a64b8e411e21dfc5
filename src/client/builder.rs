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
#[cfg(feature = "async")]
use crate::transport::AsyncHttpClient;
use crate::transport::{Clients, SyncHttpClient};

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

    /// Clock skew tolerated on `exp`, `iat` and `auth_time`. Default: 60 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.settings.leeway = leeway;
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

    /// **Danger:** allows plain `http` to hosts other than this machine, for
    /// the issuer and the endpoints. The client secret, codes and tokens then
    /// travel in clear, and anyone on the network path can read them or
    /// serve keys of their own. By default `http` is allowed only to
    /// `localhost`, `127.0.0.0/8` and `[::1]`.
    pub fn danger_allow_http_to_any_host(mut self) -> Self {
        self.settings.http_to_any_host = true;
        self
    }

    /// Refuse ID tokens without `at_hash`. Off by default: OpenID Connect
    /// Core 3.1.3.8 makes it optional in the code flow (Verys always sends
    /// it, and a present `at_hash` is always checked).
    pub fn require_at_hash(mut self, required: bool) -> Self {
        self.settings.require_at_hash = required;
        self
    }

    /// Time limit for a whole request, from connecting to reading the last
    /// byte of the body. Default: 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.http.timeout = timeout;
        self
    }

    /// Time limit for establishing a connection. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.http.connect_timeout = timeout;
        self
    }

    /// Largest response body read; a larger one fails with
    /// [`TransportErrorKind::BodyTooLarge`](crate::TransportErrorKind::BodyTooLarge)
    /// after reading no more than the limit. Default: 1 MiB.
    pub fn max_response_bytes(mut self, limit: u64) -> Self {
        self.settings.http.max_response_bytes = limit;
        self
    }

    /// The pace of JWKS fetches, whatever key ids tokens name: one fetch
    /// per `cooldown` on average, after a burst of
    /// [`jwks_burst`](Self::jwks_burst); at least a second. Default: 30 s.
    pub fn jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.settings.jwks.cooldown = cooldown.as_secs().max(1);
        self
    }

    /// How many JWKS fetches may follow each other before the
    /// [cooldown](Self::jwks_cooldown) paces them, so that a key rotated just
    /// after a fetch is fetched at once. Default: 3.
    pub fn jwks_burst(mut self, burst: u32) -> Self {
        self.settings.jwks.burst = burst.max(1);
        self
    }

    /// Age after which cached keys are fetched again. Default: 1 hour.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.settings.jwks.max_age = max_age.as_secs();
        self
    }

    /// The clock every time rule reads. Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings.clock = clock;
        self
    }

    /// Where `state`, `nonce` and PKCE verifiers come from. Default:
    /// [`SystemRandomness`]. See [`Randomness`]'s security warning: anything
    /// else must be a cryptographically secure generator, or a test's.
    pub fn randomness(mut self, randomness: Arc<dyn Randomness>) -> Self {
        self.settings.randomness = randomness;
        self
    }

    /// The HTTP client of the blocking client ([`build`](Self::build),
    /// [`build_discovered`](Self::build_discovered)): a `ureq::Agent` of
    /// yours (its proxy, private certificate authorities, client
    /// certificate, pool), a closure, or any [`SyncHttpClient`]. Default: an
    /// agent of the crate's own (feature `blocking`). The async builds
    /// refuse it rather than leave it unused.
    ///
    /// # Security warning
    ///
    /// The client holds the secret, codes and tokens of every request. With
    /// a `ureq::Agent` the crate sets redirects, timeouts and the size limit
    /// on every request; another client must keep them itself, as the
    /// [`transport`](crate::transport) module says.
    pub fn http_client(mut self, http: impl SyncHttpClient + 'static) -> Self {
        self.settings.clients.sync = Some(Arc::new(http));
        self
    }

    /// The HTTP client of the async client ([`build_async`](Self::build_async),
    /// [`build_discovered_async`](Self::build_discovered_async)): a closure
    /// returning a future, or any [`AsyncHttpClient`]. For reqwest, give its
    /// builder to [`reqwest_client`](Self::reqwest_client) instead. The
    /// blocking builds refuse it rather than leave it unused.
    ///
    /// # Security warning
    ///
    /// As for [`http_client`](Self::http_client): the client must not follow
    /// redirects and must keep the [`Limits`] of each request.
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn async_http_client(mut self, http: impl AsyncHttpClient + 'static) -> Self {
        self.settings.clients.nonblocking = Some(Arc::new(http));
        self
    }

    /// reqwest for the async client, built from your `reqwest::ClientBuilder`
    /// (proxies, root certificates, a client certificate, pools) with
    /// redirects turned off and this builder's connect timeout. Default: a
    /// client of the crate's own.
    ///
    /// # TLS and the rustls crypto provider
    ///
    /// The crate enables reqwest's `rustls-no-provider` feature only, and
    /// installs no process-wide rustls provider. Its own client (no builder
    /// given) has a rustls config of its own, on ring with the webpki roots,
    /// so it needs no provider from you. Your builder's TLS is left as you
    /// configured it (`add_root_certificate`, `identity`,
    /// `danger_accept_invalid_certs`, `tls_backend_preconfigured`…): the
    /// crate never sets a TLS config on it, which would make reqwest
    /// silently drop those settings. reqwest builds it with
    ///
    /// - the provider of reqwest's `rustls` feature (aws-lc-rs), on when
    ///   your own reqwest dependency keeps its default features, or
    /// - the process default you installed before the build, such as
    ///   `rustls::crypto::ring::default_provider().install_default()`, or
    /// - a `rustls::ClientConfig` of yours given with
    ///   `tls_backend_preconfigured` (which then replaces the builder's
    ///   other TLS settings, as reqwest documents).
    ///
    /// Without any of them reqwest cannot build it, and building this client
    /// is [`Error::Config`](crate::Error::Config) (reqwest panics, and the
    /// crate catches the panic unless your application aborts on panic).
    ///
    /// # Another major of reqwest
    ///
    /// The builder is of the reqwest this crate depends on, 0.13. With
    /// another major of reqwest (0.12, say, or a later one), give your client
    /// to [`async_http_client`](Self::async_http_client) as a closure
    /// instead: it takes an [`http::Request<Vec<u8>>`](http::Request)
    /// (reqwest 0.12 and 0.13 both speak `http` 1, re-exported as
    /// `verys_client::http`) and returns an `http::Response<Vec<u8>>`, and
    /// must keep what [`Reqwest`](crate::transport::Reqwest) keeps for you:
    /// no redirect followed (set on your client), the request's
    /// [`Limits`](crate::transport::Limits) (the overall timeout per
    /// request, the connect timeout on your client, the body read no further
    /// than `max_response_bytes`). The closure below is compiled against the
    /// crate's reqwest 0.13; each reqwest call in it is the same in 0.12
    /// (`Request::try_from` an `http::Request`, `timeout_mut`, `execute`,
    /// `chunk`, `Error::without_url`), so on 0.12 it is this closure over
    /// your own client:
    ///
    /// ```
    /// use std::time::Duration;
    /// use verys_client::transport::Limits;
    /// use verys_client::{Client, TransportError, TransportErrorKind, http};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # // reqwest without a provider of its own here: the user's, installed.
    /// # let _ = rustls::crypto::ring::default_provider().install_default();
    /// let own = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .connect_timeout(Duration::from_secs(10))
    ///     .build()?;
    /// let send = move |request: http::Request<Vec<u8>>| {
    ///     let own = own.clone();
    ///     async move {
    ///         let limits = request.extensions().get::<Limits>().copied().unwrap_or_default();
    ///         // reqwest's message without the URL, which may carry a token id.
    ///         let failed = |error: reqwest::Error| {
    ///             let kind = if error.is_timeout() {
    ///                 TransportErrorKind::Timeout
    ///             } else if error.is_connect() {
    ///                 TransportErrorKind::Connect
    ///             } else {
    ///                 TransportErrorKind::Other
    ///             };
    ///             TransportError::new(kind, error.without_url().to_string())
    ///         };
    ///         let mut request = reqwest::Request::try_from(request).map_err(failed)?;
    ///         *request.timeout_mut() = Some(limits.timeout);
    ///         let mut response = own.execute(request).await.map_err(failed)?;
    ///         let mut body = Vec::new();
    ///         while let Some(chunk) = response.chunk().await.map_err(failed)? {
    ///             if (body.len() + chunk.len()) as u64 > limits.max_response_bytes {
    ///                 return Err(TransportError::new(
    ///                     TransportErrorKind::BodyTooLarge,
    ///                     format!("over {} bytes", limits.max_response_bytes),
    ///                 ));
    ///             }
    ///             body.extend_from_slice(&chunk);
    ///         }
    ///         let mut answer = http::Response::new(body);
    ///         *answer.status_mut() = response.status();
    ///         *answer.headers_mut() = std::mem::take(response.headers_mut());
    ///         Ok(answer)
    ///     }
    /// };
    /// let client = Client::builder("https://auth.verys.example.com", "your-client-id")
    ///     .host("https://app.example.com")
    ///     .client_secret("your-client-secret")
    ///     .async_http_client(send)
    ///     .build_async()?;
    /// # let _ = client; Ok(()) }
    /// ```
    ///
    /// # Security warning
    ///
    /// reqwest's redirect policy belongs to a built client and cannot be
    /// changed for one request, so the crate takes the builder, never a
    /// built `reqwest::Client`: one configured to follow redirects would
    /// re-send a token request, secret included, wherever a redirect
    /// pointed. A client of yours given to
    /// [`async_http_client`](Self::async_http_client) must be built with
    /// redirects off, as above.
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn reqwest_client(mut self, builder: reqwest::ClientBuilder) -> Self {
        self.settings.clients.reqwest = Some(builder);
        self
    }

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
