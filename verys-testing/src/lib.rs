//! An embedded Verys: a real OAuth 2.0 / OpenID Connect server on `127.0.0.1`, for tests.
//!
//! [`VerysServer::start`] binds a free port and serves the Verys wire protocol: discovery, JWKS,
//! `/authorize`, `/token` (authorization code with PKCE, refresh with rotation, RFC 8693 token
//! exchange), `/userinfo`, revocation, RP-initiated logout and the `/federation` routes. It signs
//! with its own Ed25519 key, knows the clients and users of [`seed`], and logs a user in without
//! a browser ([`VerysServer::login`]). Fault switches make it misbehave in every way a client must
//! survive: broken tokens ([`IdTokenFault`]), key rotation, a failing or hostile JWKS, error
//! redirects, canned responses, slow answers and a skewed clock.
//!
//! ```
//! use verys_testing::{VerysServer, seed};
//!
//! let server = VerysServer::start();
//! let authorize_url = format!(
//!     "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20email&state=xyz",
//!     server.issuer(),
//!     seed::CONFIDENTIAL_CLIENT_ID,
//!     seed::REDIRECT_URI,
//! );
//! // What the browser would come back with: `REDIRECT_URI?code=...&state=xyz`.
//! let callback = server.login(&authorize_url);
//! assert!(callback.starts_with(seed::REDIRECT_URI));
//! assert!(callback.contains("code=") && callback.ends_with("state=xyz"));
//! ```
//!
//! # Testing your own application
//!
//! A test registers its application with the address it really listens on
//! ([`register_client`](VerysServer::register_client)), and a [`Browser`] walks the sign-in the
//! way a user's browser does, cookies and redirects included:
//!
//! ```
//! use axum::{Router, extract::State, http::Uri, response::Redirect, routing::get};
//! use tower_sessions::{MemoryStore, Session, SessionManagerLayer, cookie::SameSite};
//! use verys_testing::{Browser, ClientRegistration, VerysServer};
//! use verys_client::{AsyncClient, Client, Confidential, PendingAuth};
//!
//! // The application under test, with its own sign-in routes.
//! type App = State<AsyncClient<Confidential>>;
//!
//! async fn login(State(client): App, session: Session) -> Redirect {
//!     let pending = client.authorize();
//!     let url = pending.url().to_owned();
//!     session.insert("pending", pending).await.unwrap();
//!     Redirect::to(&url)
//! }
//!
//! async fn callback(State(client): App, session: Session, uri: Uri) -> Redirect {
//!     let pending: PendingAuth<Confidential> = session.remove("pending").await.unwrap().unwrap();
//!     let tokens = client.exchange_code(pending.receive(&uri).unwrap()).await.unwrap();
//!     session.cycle_id().await.unwrap();
//!     session.insert("name", tokens.claims().name()).await.unwrap();
//!     Redirect::to("/me")
//! }
//!
//! async fn me(session: Session) -> String {
//!     let name: Option<String> = session.get("name").await.unwrap();
//!     format!("Hello, {}", name.unwrap_or_default())
//! }
//!
//! // The test: the app on a free port, registered at the embedded Verys.
//! let verys = VerysServer::start();
//! let runtime = tokio::runtime::Runtime::new().unwrap();
//! let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
//! let callback_url = format!("http://{}/auth/callback", listener.local_addr().unwrap());
//! verys.register_client(
//!     ClientRegistration::confidential("my-app", "my-secret").redirect_uri(&callback_url),
//! );
//! let client = Client::builder(verys.issuer(), "my-app")
//!     .redirect_uri(&callback_url)
//!     .scopes(["openid", "profile"])
//!     .client_secret("my-secret")
//!     .build_async()
//!     .unwrap();
//! let sessions = SessionManagerLayer::new(MemoryStore::default())
//!     .with_same_site(SameSite::Lax)
//!     .with_secure(false);
//! let app = Router::new()
//!     .route("/login", get(login))
//!     .route("/auth/callback", get(callback))
//!     .route("/me", get(me))
//!     .layer(sessions)
//!     .with_state(client);
//! runtime.spawn(async move { axum::serve(listener, app).await });
//!
//! // /login → Verys → /auth/callback → /me, in one navigation.
//! let login = callback_url.replace("/auth/callback", "/login");
//! let page = Browser::new(&verys).get(&login);
//! assert_eq!(page.body(), "Hello, Ada Lovelace");
//! assert_eq!(page.visited().len(), 4);
//! ```
//!
//! # Behaviour worth knowing
//!
//! - **Login.** `/authorize` acts as if the browser had a session: the user is the one whose email
//!   is in `login_hint`, otherwise Ada ([`seed::USER_EMAIL`]); an unknown `login_hint` redirects
//!   with `error=access_denied`. Consent is automatic; `prompt` and `max_age` are validated but
//!   every login counts as fresh (`auth_time` is the time of the request).
//! - **Redirect URIs.** Every seeded client has [`seed::REDIRECT_URI`] registered, a registered
//!   client the URIs of its [`ClientRegistration`]; a public client also accepts any RFC 8252
//!   loopback URI `http://127.0.0.1:{any port}/{any path}` (native apps choose their port at run
//!   time). Post-logout redirect URIs follow the same rule.
//! - **Client authentication.** HTTP Basic is checked first, with the credentials taken verbatim
//!   after base64 decoding (no form-decoding of `client_id:client_secret`), split at the first
//!   `:`; otherwise `client_id` and `client_secret` form fields. Sending a secret both ways is an
//!   `invalid_request`.
//! - **Guessed rules.** Where the protocol is silent this server guesses, and says so here: a
//!   federation token is visible to a caller when the access token's `scopes` contain the
//!   provider's id (`github`, `gitlab`); exchanged tokens keep the subject token's scopes; refresh
//!   tokens never expire by time (only by rotation, revocation, code replay or logout);
//!   `/userinfo`, `/federation` and token exchange accept any unexpired access token this server
//!   signed with a key its JWKS publishes, whatever its `aud`; `/federation/initiate` has no
//!   upstream, so it (re)links the provider for the session's user at once (this clears the
//!   `gitlab` token's need for re-authorization) and redirects straight back with `provider_id`
//!   (and `state` if one was sent).
//! - **Verification by the server itself.** Token exchange, `/userinfo`, `/federation` and
//!   `id_token_hint` check tokens against the keys the JWKS currently publishes, so after
//!   [`rotate_key`](VerysServer::rotate_key) tokens signed with the old key are refused, and
//!   tokens broken by [`set_access_token_fault`](VerysServer::set_access_token_fault) usually are.
//! - **Malformed requests** get the protocol's JSON errors, never a dropped connection: wrong
//!   methods 405, unknown paths 404, non-form bodies `invalid_request`, and a bug in the server
//!   500 `{"error": "Internal Server Error"}`.
//! - **HTTPS.** [`VerysServer::start_tls`] serves the same routes over TLS only, with a
//!   certificate for the IP address `127.0.0.1` signed by a certificate authority generated at
//!   start-up for that server alone ([`ca_certificate_pem`](VerysServer::ca_certificate_pem)).
//!   A client that does not trust it fails the handshake and no request reaches a route.
//! - **Concurrency.** The server speaks HTTP/1.1 with keep-alive (hyper, on a two-thread tokio
//!   runtime of its own, independent of any runtime the test uses). Every connection is served
//!   as soon as it is accepted, however many arrive at once and however long clients keep them
//!   open, and the endpoints run on tokio's blocking pool, so concurrent clients (and slow
//!   responses from [`set_response_delay`](VerysServer::set_response_delay)) do not serialise.
//! - **Shutdown.** Dropping the [`VerysServer`] stops accepting connections and closes idle
//!   keep-alive connections at once. It waits for requests in progress to be answered, for at
//!   most five seconds (a longer [`set_response_delay`](VerysServer::set_response_delay) is cut
//!   short and its connection closed without an answer). It never panics, and may happen inside
//!   an async runtime.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authorize;
mod browser;
mod claims;
mod clock;
mod directory;
mod faults;
mod federation;
mod ids;
mod registration;
mod routes;
pub mod seed;
mod server;
mod session;
mod signer;
mod state;
mod store;
mod tls;
mod token;
mod userinfo;
mod wire;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use browser::{Browser, Page};
pub use faults::{IdTokenFault, RawResponse, TokenEdit};
pub use registration::ClientRegistration;
pub use store::check_token_store;

/// A `POST /token` as the embedded Verys received it; see
/// [`VerysServer::received_token_requests`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedTokenRequest {
    /// The `grant_type` form parameter, if there was one.
    pub grant_type: Option<String>,
    /// How the request presented a client secret: an `Authorization` header
    /// ([`ClientAuthMethod::ClientSecretBasic`](verys_client::ClientAuthMethod::ClientSecretBasic),
    /// whatever its form), a `client_secret` form field
    /// ([`ClientSecretPost`](verys_client::ClientAuthMethod::ClientSecretPost)), or neither (`None`,
    /// a public client).
    pub authentication: Option<verys_client::ClientAuthMethod>,
    /// Every form parameter, in order, decoded.
    pub form: Vec<(String, String)>,
}

impl ReceivedTokenRequest {
    /// The first value of the form parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
use signer::Key;
use state::Shared;

/// A running embedded Verys. See the [module documentation](self).
///
/// It is `Send` and `Sync`, so one server can be shared by the threads of a test. Dropping it
/// shuts the server down.
pub struct VerysServer {
    shared: Arc<Shared>,
    /// The CA certificate of an HTTPS server, PEM and DER.
    ca: Option<(String, Vec<u8>)>,
    /// Shuts the HTTP layer down when dropped.
    _http: server::Server,
}

impl std::fmt::Debug for VerysServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerysServer")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl VerysServer {
    /// Starts a server on `127.0.0.1` with a port chosen by the operating system.
    ///
    /// # Panics
    ///
    /// If no port can be bound on `127.0.0.1`, or the server's runtime cannot be started: a test
    /// cannot go on without its server.
    pub fn start() -> VerysServer {
        Self::serve(None, "127.0.0.1")
    }

    /// Starts a server like [`start`](Self::start), on `127.0.0.1`, whose issuer names it
    /// `http://localhost:PORT`: every endpoint, redirect and token `iss` uses that name. A browser
    /// sees `localhost` and `127.0.0.1` as two sites, so an application on `127.0.0.1` returning
    /// from this Verys gets a cross-site navigation, as it would from a real provider, and
    /// `SameSite` rules apply (`tests/browser.rs`). The name must resolve to `127.0.0.1` on the
    /// machine (it does wherever `localhost` is the loopback, tried after `::1` if need be).
    ///
    /// ```
    /// use verys_testing::VerysServer;
    ///
    /// let server = VerysServer::start_localhost();
    /// assert!(server.issuer().starts_with("http://localhost:"));
    /// ```
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_localhost() -> VerysServer {
        Self::serve(None, "localhost")
    }

    /// Starts a server that speaks only HTTPS, on `127.0.0.1` with a port chosen by the operating
    /// system, its issuer `https://127.0.0.1:PORT`. Its certificate, for the IP address
    /// `127.0.0.1`, is signed by a certificate authority generated for this server alone: a
    /// client trusts the server once given [`ca_certificate_pem`](Self::ca_certificate_pem) (or
    /// the DER form), and no client trusts it otherwise.
    ///
    /// ```
    /// use verys_testing::{VerysServer, seed};
    ///
    /// let server = VerysServer::start_tls();
    /// let ca = ureq::tls::Certificate::from_der(server.ca_certificate_der().unwrap()).to_owned();
    /// let agent: ureq::Agent = ureq::Agent::config_builder()
    ///     .tls_config(
    ///         ureq::tls::TlsConfig::builder()
    ///             .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
    ///             .build(),
    ///     )
    ///     .build()
    ///     .into();
    /// let client = verys_client::Client::builder(server.issuer(), seed::PUBLIC_CLIENT_ID)
    ///     .redirect_uri(seed::REDIRECT_URI)
    ///     .http_client(agent)
    ///     .build()
    ///     .unwrap();
    /// let pending = client.authorize();
    /// let callback = server.login(pending.url());
    /// let tokens = client.exchange_code(pending.receive(&callback).unwrap()).unwrap();
    /// assert_eq!(tokens.sub(), seed::USER_SUB);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_tls() -> VerysServer {
        Self::serve(Some(tls::Tls::generate()), "127.0.0.1")
    }

    /// Serves on `127.0.0.1`, the issuer naming the server `host`.
    fn serve(tls: Option<tls::Tls>, host: &str) -> VerysServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("VerysServer: cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("VerysServer: the listener has no address: {e}"))
            .port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared::new(format!("{scheme}://{host}:{port}")));
        let (acceptor, ca) = match tls {
            Some(tls) => (Some(tls.acceptor), Some((tls.ca_pem, tls.ca_der))),
            None => (None, None),
        };
        let http = server::Server::start(listener, shared.clone(), acceptor);
        VerysServer {
            shared,
            ca,
            _http: http,
        }
    }

    /// The certificate of the authority that signed this server's certificate, PEM-encoded, for
    /// a client to trust (`reqwest::Certificate::from_pem`); `None` for a plain-HTTP server.
    pub fn ca_certificate_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(|(pem, _)| pem.as_str())
    }

    /// [`ca_certificate_pem`](Self::ca_certificate_pem) in DER
    /// (`ureq::tls::Certificate::from_der`); `None` for a plain-HTTP server.
    pub fn ca_certificate_der(&self) -> Option<&[u8]> {
        self.ca.as_ref().map(|(_, der)| der.as_slice())
    }

    /// The issuer, `http://127.0.0.1:PORT` (`https://` for [`start_tls`](Self::start_tls),
    /// `http://localhost:PORT` for [`start_localhost`](Self::start_localhost))
    /// without a trailing slash: the base URL of every endpoint and the `iss` of every token.
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// Logs the default user (Ada, or the one named by the URL's `login_hint`) in, the way a
    /// browser would: sends a real `GET` to `authorize_url` (a URL of this server's `/authorize`,
    /// as a client built it) and returns the redirect's `Location` — the callback URL with `code`
    /// and `state`, or with `error` and `error_description`.
    ///
    /// This opens a connection of its own, which [`connections`](Self::connections) and
    /// [`requests`](Self::requests) count.
    ///
    /// # Panics
    ///
    /// If the request fails or the answer is not a `302` with a `Location` (a 400 or 422 from
    /// `/authorize`, for example); the message has the status and body.
    pub fn login(&self, authorize_url: &str) -> String {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(der) = self.ca_certificate_der() {
            let ca = ureq::tls::Certificate::from_der(der).to_owned();
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .max_redirects(0)
            .http_status_as_error(false)
            // A test environment's HTTP_PROXY must not capture a loopback request.
            .proxy(None)
            .build()
            .into();
        let mut response = agent
            .get(authorize_url)
            .call()
            .unwrap_or_else(|e| panic!("VerysServer::login: GET {authorize_url} failed: {e}"));
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match location {
            Some(location) if status == 302 => location,
            _ => {
                let body = response.body_mut().read_to_string().unwrap_or_default();
                panic!(
                    "VerysServer::login: expected a 302 from {authorize_url}, got {status}: {body}"
                )
            }
        }
    }

    /// Like [`login`](Self::login), logging in the user with this email (it replaces any
    /// `login_hint` of the URL).
    ///
    /// # Panics
    ///
    /// As [`login`](Self::login), and if `authorize_url` is not a URL.
    pub fn login_as(&self, authorize_url: &str, email: &str) -> String {
        let mut url = url::Url::parse(authorize_url)
            .unwrap_or_else(|e| panic!("VerysServer::login_as: bad URL {authorize_url}: {e}"));
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "login_hint")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair("login_hint", email);
        self.login(url.as_str())
    }

    /// Registers a client, replacing any client (seeded or registered) with its id: the
    /// application a test drives, with its own id, secret, redirect URIs and scopes. Every user
    /// consents to it, so token exchange towards it is allowed.
    pub fn register_client(&self, registration: ClientRegistration) {
        self.shared.register(registration.into_client());
    }

    /// Breaks the ID token of every later `/token` response (code and refresh grants) this way;
    /// `None` repairs them.
    pub fn set_id_token_fault(&self, fault: Option<IdTokenFault>) {
        self.shared.lock().faults.id_token = fault;
    }

    /// Breaks the access token of every later `/token` response (all grants) this way; `None`
    /// repairs them. The nonce and `at_hash` faults do not apply to access tokens and leave them
    /// intact.
    pub fn set_access_token_fault(&self, fault: Option<IdTokenFault>) {
        self.shared.lock().faults.access_token = fault;
    }

    /// Signs with a new key (hence a new `kid`) from now on; the JWKS publishes only the new key.
    pub fn rotate_key(&self) {
        self.shared.lock().keys.rotate(false);
    }

    /// Signs with a new key from now on, while the JWKS keeps publishing the previous key(s) too,
    /// new key first: the overlap of a graceful rotation.
    pub fn rotate_key_keep_old(&self) {
        self.shared.lock().keys.rotate(true);
    }

    /// While `true`, the JWKS answers 500 `{"error": "Internal Server Error"}`.
    pub fn set_jwks_failure(&self, fail: bool) {
        self.shared.lock().faults.jwks_failure = fail;
    }

    /// Serves this exact body (200, `application/json`) as the JWKS instead of the real one;
    /// `None` restores the real one. The server's own checks keep using its real keys.
    pub fn set_jwks_body(&self, body: Option<String>) {
        self.shared.lock().faults.jwks_body = body;
    }

    /// Makes `/authorize` redirect with `error`, `error_description` (and `state`, if sent)
    /// instead of a code, once the client and redirect URI are known to be valid; `None` restores
    /// normal logins.
    pub fn set_authorize_error(&self, error: Option<(String, String)>) {
        self.shared.lock().faults.authorize_error = error;
    }

    /// Answers every request to `path` (without query, e.g. `/token`) with this canned response,
    /// whatever its method; `None` restores the real endpoint. Counters still count.
    ///
    /// # Panics
    ///
    /// If the status (not `100..=999`), a header name or value (not visible ASCII, spaces and
    /// tabs), or the content type cannot be sent in HTTP/1.1.
    pub fn override_response(&self, path: &str, response: Option<RawResponse>) {
        if let Some(response) = &response {
            assert!(
                server::valid_status(response.status),
                "VerysServer::override_response: invalid status {}",
                response.status
            );
            let content_type = response
                .content_type
                .as_ref()
                .map(|ct| ("Content-Type", ct.as_str()));
            let headers = response
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()));
            for (name, value) in content_type.into_iter().chain(headers) {
                assert!(
                    server::header(name, value).is_some(),
                    "VerysServer::override_response: invalid header {name:?}: {value:?}"
                );
            }
        }
        let mut state = self.shared.lock();
        match response {
            Some(response) => state.faults.overrides.insert(path.to_owned(), response),
            None => state.faults.overrides.remove(path),
        };
    }

    /// Waits this long before answering each request to `path` (without query); `None` answers
    /// at once again.
    pub fn set_response_delay(&self, path: &str, delay: Option<Duration>) {
        let mut state = self.shared.lock();
        match delay {
            Some(delay) => state.faults.delays.insert(path.to_owned(), delay),
            None => state.faults.delays.remove(path),
        };
    }

    /// While `true`, `GET /authorize` answers a valid request with a login page, as a real Verys
    /// does for a browser without a session there: an HTML form with the request's parameters
    /// and the user's email (`login_hint`'s, else Ada's; any seeded user's may be typed in),
    /// whose button ("Sign in") posts them back to `/authorize`, which logs that user in and
    /// redirects as usual. The return to the application is then a navigation started by
    /// Verys's page, from Verys's site: a browser does not send the application's
    /// `SameSite=Strict` cookies with it (`tests/browser.rs`). Invalid requests are answered as
    /// without the page. [`login`](Self::login) and [`Browser`], which fill in no form, get the
    /// page too (`login` panics on it): this is for a real browser.
    pub fn set_login_page(&self, show: bool) {
        self.shared.lock().login_page = show;
    }

    /// Shifts the server's "now" by `seconds` (replacing any earlier shift): the `iat`, `exp` and
    /// `auth_time` of the tokens it issues, and its own expiry checks (authorization codes,
    /// access tokens presented to it, federation `expires_at`).
    pub fn set_clock_offset(&self, seconds: i64) {
        self.shared.lock().clock_offset = seconds;
    }

    /// Stops (or resumes) issuing refresh tokens: token responses then carry
    /// none, and a refresh does not rotate, so the refresh token a client
    /// already holds stays valid (as with providers that do not rotate).
    pub fn withhold_refresh_tokens(&self, withhold: bool) {
        self.shared.lock().faults.withhold_refresh_tokens = withhold;
    }

    /// Grants the access tokens of later code and refresh grants for `seconds` (their `exp`
    /// and the answer's `expires_in`) instead of the default 300; `None` restores the default.
    /// ID tokens and exchanged tokens keep the default lifetime.
    pub fn set_token_lifetime(&self, seconds: Option<i64>) {
        self.shared.lock().faults.token_lifetime = seconds;
    }

    /// Pads the body of every later answer to `path` (without query, e.g. `/token`) with
    /// trailing spaces to exactly `length` bytes, whatever its status, canned answers included;
    /// a longer body is sent as it is. Trailing whitespace leaves a JSON document what it was,
    /// so an answer can be brought to a client's size limit exactly. `None` sends bodies
    /// unpadded again.
    ///
    /// ```
    /// use verys_testing::VerysServer;
    ///
    /// let server = VerysServer::start();
    /// server.pad_responses("/.well-known/openid-configuration", Some(4096));
    /// let url = format!("{}/.well-known/openid-configuration", server.issuer());
    /// let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    /// let body = agent.get(&url).call().unwrap().body_mut().read_to_vec().unwrap();
    /// assert_eq!(body.len(), 4096);
    /// assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
    /// ```
    pub fn pad_responses(&self, path: &str, length: Option<usize>) {
        let mut state = self.shared.lock();
        match length {
            Some(length) => state.faults.padding.insert(path.to_owned(), length),
            None => state.faults.padding.remove(path),
        };
    }

    /// Revokes every refresh token issued so far.
    pub fn revoke_all_refresh_tokens(&self) {
        for grant in self.shared.lock().refresh_tokens.values_mut() {
            grant.revoked = true;
        }
    }

    /// The `kid` of the current signing key (its RFC 7638 thumbprint).
    pub fn key_id(&self) -> String {
        self.shared.lock().keys.current().kid().to_owned()
    }

    /// Signs `claims` with the current key, with `header` used verbatim as the JOSE header (so
    /// it may lie about `alg` or `kid`).
    pub fn sign_jwt(&self, header: &Value, claims: &Value) -> String {
        signer::sign_jwt(self.shared.lock().keys.current(), header, claims)
    }

    /// Like [`sign_jwt`](Self::sign_jwt) but with a fresh key that is in no JWKS: a valid
    /// Ed25519 signature no client should accept.
    pub fn sign_jwt_with_random_key(&self, header: &Value, claims: &Value) -> String {
        signer::sign_jwt(&Key::generate(), header, claims)
    }

    /// A correctly signed access token, as `/token` would issue it: `iss` the issuer, this `sub`
    /// and `aud`, `scopes`, `roles` of the user if `sub` is a seeded user (else none), `iat` now
    /// and `exp` `lifetime_secs` later (negative for an expired token). Fault switches do not
    /// apply. For resource-server tests.
    ///
    /// ```
    /// use verys_testing::{VerysServer, seed};
    ///
    /// let server = VerysServer::start();
    /// let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
    /// assert_eq!(token.split('.').count(), 3);
    /// ```
    pub fn issue_access_token(
        &self,
        sub: &str,
        audience: &str,
        scopes: &[&str],
        lifetime_secs: i64,
    ) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let state = self.shared.lock();
        claims::access_token(
            &state,
            &self.shared.issuer,
            sub,
            audience,
            &scopes,
            lifetime_secs,
            None,
        )
    }

    /// How many `GET /.well-known/jwks.json` the server answered, whatever the status.
    pub fn jwks_fetches(&self) -> usize {
        self.shared.lock().counters.jwks_fetches
    }

    /// Every `POST /token` so far, in order, as the server received it (before any check): how
    /// the client presented itself and the form it sent, secrets included, for tests that look
    /// at what a client sends.
    ///
    /// ```
    /// use verys_client::ClientAuthMethod;
    /// use verys_testing::{VerysServer, seed};
    ///
    /// let server = VerysServer::start();
    /// let client = verys_client::Client::builder(server.issuer(), seed::CONFIDENTIAL_CLIENT_ID)
    ///     .redirect_uri(seed::REDIRECT_URI)
    ///     .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET)
    ///     .auth_method(ClientAuthMethod::ClientSecretBasic)
    ///     .build()
    ///     .unwrap();
    /// let pending = client.authorize();
    /// let callback = server.login(pending.url());
    /// client.exchange_code(pending.receive(&callback).unwrap()).unwrap();
    /// let seen = server.received_token_requests();
    /// assert_eq!(seen[0].authentication, Some(ClientAuthMethod::ClientSecretBasic));
    /// assert!(seen[0].form.iter().all(|(name, _)| name != "client_secret"));
    /// ```
    pub fn received_token_requests(&self) -> Vec<ReceivedTokenRequest> {
        self.shared.lock().counters.token_requests_received.clone()
    }

    /// How many `POST /token` carried this `grant_type` (counted before any check; `""` counts
    /// those without one).
    pub fn token_requests(&self, grant_type: &str) -> usize {
        let state = self.shared.lock();
        state
            .counters
            .token_requests
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// How many requests, of any method, went to `path` (without query).
    pub fn requests(&self, path: &str) -> usize {
        let state = self.shared.lock();
        state.counters.requests.get(path).copied().unwrap_or(0)
    }

    /// How many TCP connections the server has accepted, counted exactly as it accepts them,
    /// whether or not they then send a (valid) request. A client that reuses connections
    /// (keep-alive) keeps this low. A connection is counted before its first request is
    /// answered, so after a client has had an answer its connection is in the count.
    pub fn connections(&self) -> usize {
        self.shared.lock().counters.connections
    }
}
