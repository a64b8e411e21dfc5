//! The harness every integration scenario runs on: one scenario, written
//! once against [`Flavor`], runs against the blocking client and (with the
//! `async` feature) the async client, both talking to an embedded Verys.

#![allow(dead_code)]

pub(crate) mod proxy;
pub(crate) mod redis;

use std::sync::{Arc, Mutex};

use verys_client::store::TokenStore;
use verys_client::{
    AccessClaims, AccessToken, CallbackReceived, Client, ClientBuilder, ClientKind, Clock,
    Confidential, Error, ExchangedToken, ExternalToken, IdTokenClaims, Public, RefreshToken,
    StoredTokens, TokenManager, Tokens, Transport, TransportError, TransportErrorKind, UserInfo,
    Verifier, VerifierBuilder,
};
use verys_testing::{VerysServer, seed};

/// A token store both managers can use: the blocking one's, and with the
/// `async` feature the async one's too.
#[cfg(feature = "async")]
pub(crate) trait Store: TokenStore + verys_client::store::AsyncTokenStore + 'static {}
#[cfg(feature = "async")]
impl<S: TokenStore + verys_client::store::AsyncTokenStore + 'static> Store for S {}
/// A token store both managers can use: the blocking one's, and with the
/// `async` feature the async one's too.
#[cfg(not(feature = "async"))]
pub trait Store: TokenStore + 'static {}
#[cfg(not(feature = "async"))]
impl<S: TokenStore + 'static> Store for S {}

/// The I/O methods of a client, in one calling convention for both
/// transports. The async flavor blocks on a shared multi-threaded runtime.
pub(crate) trait Flavor {
    type T: Transport;
    fn build<K: ClientKind>(builder: ClientBuilder<K>) -> Result<Client<K, Self::T>, Error>;
    fn exchange_code<K: ClientKind>(
        client: &Client<K, Self::T>,
        received: CallbackReceived<K>,
    ) -> Result<Tokens, Error>;
    fn refresh<K: ClientKind>(
        client: &Client<K, Self::T>,
        tokens: &Tokens,
    ) -> Result<Tokens, Error>;
    fn exchange_token<K: ClientKind>(
        client: &Client<K, Self::T>,
        access_token: &AccessToken,
        audience: &str,
    ) -> Result<ExchangedToken, Error>;
    fn external_tokens<K: ClientKind>(
        client: &Client<K, Self::T>,
        access_token: &AccessToken,
    ) -> Result<Vec<ExternalToken>, Error>;
    fn external_token<K: ClientKind>(
        client: &Client<K, Self::T>,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<ExternalToken, Error>;
    fn verify_id_token<K: ClientKind>(
        client: &Client<K, Self::T>,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<IdTokenClaims, Error>;
    fn build_verifier(builder: VerifierBuilder) -> Result<Verifier<Self::T>, Error>;
    fn restore_tokens<K: ClientKind>(
        client: &Client<K, Self::T>,
        stored: StoredTokens,
    ) -> Result<Tokens, Error>;
    fn build_discovered<K: ClientKind>(
        builder: ClientBuilder<K>,
    ) -> Result<Client<K, Self::T>, Error>;
    fn userinfo<K: ClientKind>(
        client: &Client<K, Self::T>,
        tokens: &Tokens,
    ) -> Result<UserInfo, Error>;
    fn revoke<K: ClientKind>(
        client: &Client<K, Self::T>,
        refresh_token: &RefreshToken,
    ) -> Result<(), Error>;
    fn delete_external_token<K: ClientKind>(
        client: &Client<K, Self::T>,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<(), Error>;
    fn managed_access_token<K: ClientKind>(
        manager: &TokenManager<K, Self::T>,
    ) -> Result<AccessToken, Error>;
    /// `TokenManager::with_store` (`with_store_async`) on `store`.
    fn managed_with_store<K: ClientKind, S: Store>(
        client: Client<K, Self::T>,
        store: Arc<S>,
        key: &str,
        tokens: Tokens,
    ) -> Result<TokenManager<K, Self::T>, Error>;
    /// `TokenManager::from_store` (`from_store_async`) on `store`.
    fn managed_from_store<K: ClientKind, S: Store>(
        client: Client<K, Self::T>,
        store: Arc<S>,
        key: &str,
    ) -> Result<TokenManager<K, Self::T>, Error>;
    fn verify(verifier: &Verifier<Self::T>, token: &str) -> Result<AccessClaims, Error>;
    /// Gives the builder `http` as its HTTP client, through this flavor's
    /// seam (`SyncHttpClient` or `AsyncHttpClient`).
    fn canned<K: ClientKind>(builder: ClientBuilder<K>, http: Canned) -> ClientBuilder<K>;
    fn canned_verifier(builder: VerifierBuilder, http: Canned) -> VerifierBuilder;
    /// Gives the builder this flavor's HTTP stack (a `ureq::Agent`, a
    /// `reqwest::ClientBuilder`) configured by the user as `http` says.
    fn user_client<K: ClientKind>(builder: ClientBuilder<K>, http: &UserHttp) -> ClientBuilder<K>;
    fn user_verifier(builder: VerifierBuilder, http: &UserHttp) -> VerifierBuilder;
}

/// How a user configured their own HTTP client.
#[derive(Default)]
pub(crate) struct UserHttp {
    /// The certificate authority to trust besides none (ureq) or the
    /// built-in roots (reqwest), DER and PEM.
    pub ca: Option<(Vec<u8>, String)>,
    /// The proxy to send every request through.
    pub proxy: Option<String>,
    /// Follow up to ten redirects, as both stacks would by default.
    pub follow_redirects: bool,
    /// An hour for every exchange, far beyond what the crate allows.
    pub lax_timeouts: bool,
}

impl UserHttp {
    /// Trusting the embedded server's CA.
    pub(crate) fn trusting(server: &VerysServer) -> Self {
        Self {
            ca: Some((
                server.ca_certificate_der().unwrap().to_vec(),
                server.ca_certificate_pem().unwrap().to_owned(),
            )),
            ..Self::default()
        }
    }

    /// The user's agent. It is a `SyncHttpClient` only with the `blocking`
    /// feature, which every scenario using it runs with.
    #[cfg(feature = "blocking")]
    fn agent(&self) -> ureq::Agent {
        self.ureq_agent()
    }

    #[cfg(not(feature = "blocking"))]
    fn agent(
        &self,
    ) -> fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, TransportError> {
        panic!("a user's ureq agent needs the blocking feature")
    }

    fn ureq_agent(&self) -> ureq::Agent {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some((der, _)) = &self.ca {
            let ca = ureq::tls::Certificate::from_der(der).to_owned();
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]));
        }
        let proxy = self
            .proxy
            .as_deref()
            .map(|url| ureq::Proxy::new(url).expect("proxy url"));
        ureq::Agent::config_builder()
            .tls_config(tls.build())
            .proxy(proxy)
            .max_redirects(if self.follow_redirects { 10 } else { 0 })
            .timeout_global(
                self.lax_timeouts
                    .then_some(std::time::Duration::from_secs(3600)),
            )
            .build()
            .into()
    }

    #[cfg(feature = "async")]
    fn reqwest(&self) -> reqwest::ClientBuilder {
        // A user's reqwest builder is built by reqwest as configured, with
        // a provider that is the user's to choose: here reqwest has none of
        // its own (the crate enables `rustls-no-provider`), so the user
        // installs ring process-wide, as reqwest's documentation says.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder();
        if let Some((_, pem)) = &self.ca {
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
        }
        builder = match &self.proxy {
            Some(url) => builder.proxy(reqwest::Proxy::all(url).expect("proxy url")),
            None => builder.no_proxy(),
        };
        if self.follow_redirects {
            builder = builder.redirect(reqwest::redirect::Policy::limited(10));
        }
        if self.lax_timeouts {
            builder = builder.timeout(std::time::Duration::from_secs(3600));
        }
        builder
    }
}

/// A socket-free HTTP client: a function answering every request.
pub(crate) type Canned = Arc<
    dyn Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, TransportError> + Send + Sync,
>;

pub(crate) struct BlockingFlavor;

impl Flavor for BlockingFlavor {
    type T = verys_client::Blocking;
    fn build<K: ClientKind>(builder: ClientBuilder<K>) -> Result<Client<K>, Error> {
        builder.build()
    }
    fn exchange_code<K: ClientKind>(
        client: &Client<K>,
        received: CallbackReceived<K>,
    ) -> Result<Tokens, Error> {
        client.exchange_code(received)
    }
    fn refresh<K: ClientKind>(client: &Client<K>, tokens: &Tokens) -> Result<Tokens, Error> {
        client.refresh(tokens)
    }
    fn exchange_token<K: ClientKind>(
        client: &Client<K>,
        access_token: &AccessToken,
        audience: &str,
    ) -> Result<ExchangedToken, Error> {
        client.exchange_token(access_token, audience)
    }
    fn external_tokens<K: ClientKind>(
        client: &Client<K>,
        access_token: &AccessToken,
    ) -> Result<Vec<ExternalToken>, Error> {
        client.external_tokens(access_token)
    }
    fn external_token<K: ClientKind>(
        client: &Client<K>,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<ExternalToken, Error> {
        client.external_token(access_token, token_id)
    }
    fn verify_id_token<K: ClientKind>(
        client: &Client<K>,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<IdTokenClaims, Error> {
        client.verify_id_token(id_token, nonce)
    }
    fn build_verifier(builder: VerifierBuilder) -> Result<Verifier, Error> {
        builder.build()
    }
    fn restore_tokens<K: ClientKind>(
        client: &Client<K>,
        stored: StoredTokens,
    ) -> Result<Tokens, Error> {
        client.restore_tokens(stored)
    }
    fn build_discovered<K: ClientKind>(builder: ClientBuilder<K>) -> Result<Client<K>, Error> {
        builder.build_discovered()
    }
    fn userinfo<K: ClientKind>(client: &Client<K>, tokens: &Tokens) -> Result<UserInfo, Error> {
        client.userinfo(tokens)
    }
    fn revoke<K: ClientKind>(
        client: &Client<K>,
        refresh_token: &RefreshToken,
    ) -> Result<(), Error> {
        client.revoke(refresh_token)
    }
    fn delete_external_token<K: ClientKind>(
        client: &Client<K>,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<(), Error> {
        client.delete_external_token(access_token, token_id)
    }
    fn managed_access_token<K: ClientKind>(
        manager: &TokenManager<K>,
    ) -> Result<AccessToken, Error> {
        manager.access_token()
    }
    fn managed_with_store<K: ClientKind, S: Store>(
        client: Client<K>,
        store: Arc<S>,
        key: &str,
        tokens: Tokens,
    ) -> Result<TokenManager<K>, Error> {
        TokenManager::with_store(client, store, key, tokens)
    }
    fn managed_from_store<K: ClientKind, S: Store>(
        client: Client<K>,
        store: Arc<S>,
        key: &str,
    ) -> Result<TokenManager<K>, Error> {
        TokenManager::from_store(client, store, key)
    }
    fn verify(verifier: &Verifier, token: &str) -> Result<AccessClaims, Error> {
        verifier.verify(token)
    }
    fn canned<K: ClientKind>(builder: ClientBuilder<K>, http: Canned) -> ClientBuilder<K> {
        builder.http_client(move |request| http(request))
    }
    fn canned_verifier(builder: VerifierBuilder, http: Canned) -> VerifierBuilder {
        builder.http_client(move |request| http(request))
    }
    fn user_client<K: ClientKind>(builder: ClientBuilder<K>, http: &UserHttp) -> ClientBuilder<K> {
        builder.http_client(http.agent())
    }
    fn user_verifier(builder: VerifierBuilder, http: &UserHttp) -> VerifierBuilder {
        builder.http_client(http.agent())
    }
}

#[cfg(feature = "async")]
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

#[cfg(feature = "async")]
pub(crate) struct AsyncFlavor;

#[cfg(feature = "async")]
impl Flavor for AsyncFlavor {
    type T = verys_client::Async;
    fn build<K: ClientKind>(
        builder: ClientBuilder<K>,
    ) -> Result<verys_client::AsyncClient<K>, Error> {
        builder.build_async()
    }
    fn exchange_code<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        received: CallbackReceived<K>,
    ) -> Result<Tokens, Error> {
        runtime().block_on(client.exchange_code(received))
    }
    fn refresh<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        tokens: &Tokens,
    ) -> Result<Tokens, Error> {
        runtime().block_on(client.refresh(tokens))
    }
    fn exchange_token<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        access_token: &AccessToken,
        audience: &str,
    ) -> Result<ExchangedToken, Error> {
        runtime().block_on(client.exchange_token(access_token, audience))
    }
    fn external_tokens<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        access_token: &AccessToken,
    ) -> Result<Vec<ExternalToken>, Error> {
        runtime().block_on(client.external_tokens(access_token))
    }
    fn external_token<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<ExternalToken, Error> {
        runtime().block_on(client.external_token(access_token, token_id))
    }
    fn verify_id_token<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<IdTokenClaims, Error> {
        runtime().block_on(client.verify_id_token(id_token, nonce))
    }
    fn build_verifier(builder: VerifierBuilder) -> Result<Verifier<verys_client::Async>, Error> {
        builder.build_async()
    }
    fn restore_tokens<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        stored: StoredTokens,
    ) -> Result<Tokens, Error> {
        runtime().block_on(client.restore_tokens(stored))
    }
    fn build_discovered<K: ClientKind>(
        builder: ClientBuilder<K>,
    ) -> Result<verys_client::AsyncClient<K>, Error> {
        runtime().block_on(builder.build_discovered_async())
    }
    fn userinfo<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        tokens: &Tokens,
    ) -> Result<UserInfo, Error> {
        runtime().block_on(client.userinfo(tokens))
    }
    fn revoke<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        refresh_token: &RefreshToken,
    ) -> Result<(), Error> {
        runtime().block_on(client.revoke(refresh_token))
    }
    fn delete_external_token<K: ClientKind>(
        client: &verys_client::AsyncClient<K>,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<(), Error> {
        runtime().block_on(client.delete_external_token(access_token, token_id))
    }
    fn managed_access_token<K: ClientKind>(
        manager: &TokenManager<K, verys_client::Async>,
    ) -> Result<AccessToken, Error> {
        runtime().block_on(manager.access_token())
    }
    fn managed_with_store<K: ClientKind, S: Store>(
        client: verys_client::AsyncClient<K>,
        store: Arc<S>,
        key: &str,
        tokens: Tokens,
    ) -> Result<TokenManager<K, verys_client::Async>, Error> {
        runtime().block_on(TokenManager::with_store_async(client, store, key, tokens))
    }
    fn managed_from_store<K: ClientKind, S: Store>(
        client: verys_client::AsyncClient<K>,
        store: Arc<S>,
        key: &str,
    ) -> Result<TokenManager<K, verys_client::Async>, Error> {
        runtime().block_on(TokenManager::from_store_async(client, store, key))
    }
    fn verify(
        verifier: &Verifier<verys_client::Async>,
        token: &str,
    ) -> Result<AccessClaims, Error> {
        runtime().block_on(verifier.verify(token))
    }
    fn canned<K: ClientKind>(builder: ClientBuilder<K>, http: Canned) -> ClientBuilder<K> {
        builder.async_http_client(move |request| std::future::ready(http(request)))
    }
    fn canned_verifier(builder: VerifierBuilder, http: Canned) -> VerifierBuilder {
        builder.async_http_client(move |request| std::future::ready(http(request)))
    }
    fn user_client<K: ClientKind>(builder: ClientBuilder<K>, http: &UserHttp) -> ClientBuilder<K> {
        builder.reqwest_client(http.reqwest())
    }
    fn user_verifier(builder: VerifierBuilder, http: &UserHttp) -> VerifierBuilder {
        builder.reqwest_client(http.reqwest())
    }
}

/// Instantiates each named scenario `fn name<F: Flavor>()` as a test for
/// every flavor.
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod blocking {
            $( #[test] fn $name() { super::$name::<$crate::common::BlockingFlavor>() } )*
        }
        #[cfg(feature = "async")]
        mod nonblocking {
            $( #[test] fn $name() { super::$name::<$crate::common::AsyncFlavor>() } )*
        }
    };
}

pub(crate) fn public_builder(server: &VerysServer) -> ClientBuilder<Public> {
    Client::builder(server.issuer(), seed::PUBLIC_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .scopes(["openid", "profile", "email", "github", "gitlab", "api.read"])
}

pub(crate) fn confidential_builder(server: &VerysServer) -> ClientBuilder<Confidential> {
    Client::builder(server.issuer(), seed::CONFIDENTIAL_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .scopes(["openid", "profile", "email", "github", "gitlab", "api.read"])
        .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET)
}

/// Logs the seeded user in through the embedded server and returns the
/// checked callback.
pub(crate) fn callback<K: ClientKind, T: Transport>(
    server: &VerysServer,
    client: &Client<K, T>,
) -> CallbackReceived<K> {
    let pending = client.authorize();
    let callback = server.login(pending.url());
    pending
        .receive(&callback)
        .expect("callback of a real login")
}

/// A full sign-in.
pub(crate) fn sign_in<F: Flavor, K: ClientKind>(
    server: &VerysServer,
    client: &Client<K, F::T>,
) -> Tokens {
    F::exchange_code(client, callback(server, client)).expect("sign-in")
}

/// A full sign-in of the seeded user with the e-mail address `email`.
pub(crate) fn sign_in_as<F: Flavor, K: ClientKind>(
    server: &VerysServer,
    client: &Client<K, F::T>,
    email: &str,
) -> Tokens {
    let pending = client.authorize();
    let callback = server.login_as(pending.url(), email);
    F::exchange_code(client, pending.receive(&callback).unwrap()).unwrap()
}

/// A clock that starts at the system's time and can be moved.
pub(crate) fn manual_clock() -> Arc<verys_client::ManualClock> {
    Arc::new(verys_client::ManualClock::at_system_time())
}

pub(crate) fn now(clock: &dyn Clock) -> u64 {
    clock.now()
}

/// An HTTP client whose error quotes the client secret as the request
/// carries it, the `Basic` credentials or the form's `client_secret` pair
/// (percent-encoded), and records that spelling in `quoted`.
pub(crate) fn quoting_the_client_secret(quoted: Arc<Mutex<String>>) -> Canned {
    Arc::new(move |request: http::Request<Vec<u8>>| {
        let basic = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Basic "))
            .map(str::to_owned);
        let body = String::from_utf8_lossy(request.body()).into_owned();
        let posted = body
            .split('&')
            .find_map(|pair| pair.strip_prefix("client_secret="))
            .map(str::to_owned);
        let secret = basic
            .or(posted)
            .expect("the request carries the client secret");
        *quoted.lock().unwrap() = secret.clone();
        Err(TransportError::new(
            TransportErrorKind::Other,
            format!("proxy refused {secret}"),
        ))
    })
}
