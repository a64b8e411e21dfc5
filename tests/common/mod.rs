//! The harness every integration scenario runs on: one scenario, written
//! once against [`Flavor`], runs against the blocking client and (with the
//! `async` feature) the async client, both talking to an embedded Verys.

#![allow(dead_code)]

use std::sync::Arc;

use verys_client::testing::{VerysServer, seed};
use verys_client::{
    AccessClaims, AccessToken, CallbackReceived, Client, ClientBuilder, ClientKind, Clock,
    Confidential, Error, ExchangedToken, ExternalToken, IdTokenClaims, Public, RefreshToken,
    StoredTokens, TokenManager, Tokens, Transport, TransportError, UserInfo, Verifier,
    VerifierBuilder,
};

/// The I/O methods of a client, in one calling convention for both
/// transports. The async flavor blocks on a shared multi-threaded runtime.
pub trait Flavor {
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
    fn verify(verifier: &Verifier<Self::T>, token: &str) -> Result<AccessClaims, Error>;
    /// Gives the builder `http` as its HTTP client, through this flavor's
    /// seam (`SyncHttpClient` or `AsyncHttpClient`).
    fn canned<K: ClientKind>(builder: ClientBuilder<K>, http: Canned) -> ClientBuilder<K>;
    fn canned_verifier(builder: VerifierBuilder, http: Canned) -> VerifierBuilder;
}

/// A socket-free HTTP client: a function answering every request.
pub type Canned = Arc<
    dyn Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, TransportError> + Send + Sync,
>;

pub struct BlockingFlavor;

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
    fn verify(verifier: &Verifier, token: &str) -> Result<AccessClaims, Error> {
        verifier.verify(token)
    }
    fn canned<K: ClientKind>(builder: ClientBuilder<K>, http: Canned) -> ClientBuilder<K> {
        builder.http_client(move |request| http(request))
    }
    fn canned_verifier(builder: VerifierBuilder, http: Canned) -> VerifierBuilder {
        builder.http_client(move |request| http(request))
    }
}

#[cfg(feature = "async")]
pub fn runtime() -> &'static tokio::runtime::Runtime {
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
pub struct AsyncFlavor;

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

pub fn public_builder(server: &VerysServer) -> ClientBuilder<Public> {
    Client::builder(server.issuer(), seed::PUBLIC_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .scopes(["openid", "profile", "email", "github", "gitlab", "api.read"])
}

pub fn confidential_builder(server: &VerysServer) -> ClientBuilder<Confidential> {
    Client::builder(server.issuer(), seed::CONFIDENTIAL_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .scopes(["openid", "profile", "email", "github", "gitlab", "api.read"])
        .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET)
}

/// Logs the seeded user in through the embedded server and returns the
/// checked callback.
pub fn callback<K: ClientKind, T: Transport>(
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
pub fn sign_in<F: Flavor, K: ClientKind>(server: &VerysServer, client: &Client<K, F::T>) -> Tokens {
    F::exchange_code(client, callback(server, client)).expect("sign-in")
}

/// A clock that starts at the system's time and can be moved.
pub fn manual_clock() -> Arc<verys_client::ManualClock> {
    Arc::new(verys_client::ManualClock::at_system_time())
}

pub fn now(clock: &dyn Clock) -> u64 {
    clock.now()
}
