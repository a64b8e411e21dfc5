//! The harness every integration scenario runs on: one scenario, written
//! once against [`Flavor`], runs against the blocking client and (with the
//! `async` feature) the async client, both talking to an embedded Verys.

#![allow(dead_code)]

use std::sync::Arc;

use verys_client::testing::{VerysServer, seed};
use verys_client::{
    AccessToken, CallbackReceived, Client, ClientBuilder, ClientKind, Clock, Confidential, Error,
    ExchangedToken, ExternalToken, Public, Tokens, Transport,
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
}

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
