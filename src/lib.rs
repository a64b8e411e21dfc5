//! A client for the Verys identity provider (OAuth 2.0 / OpenID Connect) whose
//! types make an insecure sign-in flow impossible to write.
//!
//! # Quickstart
//!
//! A confidential web application signs a user in. Here the embedded Verys of
//! the [`verys-testing`](https://docs.rs/verys-testing) crate plays the
//! identity provider and its browser:
//!
//! ```
//! use verys_client::Client;
//! use verys_testing::{VerysServer, seed};
//!
//! # fn run() -> Result<(), verys_client::Error> {
//! let verys = VerysServer::start(); // your Verys URL in production
//! let client = Client::builder(verys.issuer(), seed::CONFIDENTIAL_CLIENT_ID)
//!     .redirect_uri(seed::REDIRECT_URI)
//!     .scopes(["openid", "profile", "email"])
//!     .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET)
//!     .build()?;
//!
//! // 1. Send the browser to `pending.url()`; keep `pending` in the session.
//! let pending = client.authorize();
//! // 2. The browser comes back to the redirect URI; check the callback.
//! let callback_url = verys.login(pending.url());
//! let received = pending.receive(&callback_url)?;
//! // 3. Exchange the code; the ID token is verified before `Tokens` exists.
//! let tokens = client.exchange_code(received)?;
//! assert_eq!(tokens.claims().email(), Some(seed::USER_EMAIL));
//!
//! // Later: refresh (the refresh token rotates), exchange, federation.
//! let tokens = client.refresh(&tokens)?;
//! # let _ = tokens;
//! # Ok(()) }
//! # run().unwrap();
//! ```
//!
//! A public client (a CLI, a native app) is built the same way without
//! [`client_secret`](ClientBuilder::client_secret); it always uses PKCE.
//! With the `async` feature, [`ClientBuilder::build_async`] gives an
//! [`AsyncClient`] with the same methods as `async fn`s.
//!
//! Beyond signing in: a resource server verifies bearer tokens with a
//! [`Verifier`]; [`TokenManager`] keeps one user's access token fresh with a
//! single refresh however many threads ask; [`Client::userinfo`],
//! [`Client::revoke`], [`Client::end_session`], [`Client::relink`] and
//! [`ClientBuilder::build_discovered`] cover the rest of the Verys protocol.
//!
//! # What the types promise
//!
//! Code that compiles cannot:
//!
//! 1. exchange a code without checking `state`: [`Client::exchange_code`]
//!    takes a [`CallbackReceived`], which only [`PendingAuth::receive`] makes;
//! 2. hold [`Tokens`] whose ID token skipped a check: they have no public
//!    constructor and no `Deserialize`;
//! 3. forget the PKCE verifier or send a secret from a public client: the
//!    verifier travels inside the flow state, and `Client<Public>` has no
//!    secret;
//! 4. finish one client kind's flow with the other kind's client;
//! 5. reuse a consumed flow state: each step takes `self`;
//! 6. print a secret: the client secret, PKCE verifier, codes, access and
//!    refresh tokens are redacted in `Debug` and `Display`, and errors never
//!    quote them.
//!
//! # Features
//!
//! | feature | brings | dependencies added |
//! |---|---|---|
//! | `blocking` (default) | the blocking [`Client`] and [`Verifier`] on ureq | ureq (rustls) |
//! | `async` | [`AsyncClient`] and async verifiers on reqwest | reqwest (rustls), tokio sync |
//! | neither | the flow and verification types; [`Client`] over a [`transport::SyncHttpClient`] of yours | none |
//! | `axum` | `verys_client::axum`: extractors of verified bearer tokens, and `IntoResponse` for [`Error`] (with `async`) | axum-core |
//! | `axum-sign-in` | `verys_client::sign_in`: the routes of a web sign-in and the `SignedIn` extractor (with `axum`) | axum (without its server), tower-sessions 0.14 |
//! | `tracing` | a span per back-channel operation, events for requests, refusals, JWKS fetches and refreshes | tracing |
//! | `redis` | [`store::redis::RedisStore`], one sign-in shared by every replica of a service | redis |
//!
//! The embedded Verys of this crate's tests, an identity provider on
//! `127.0.0.1` for the tests of your application, is the
//! [`verys-testing`](https://docs.rs/verys-testing) crate, a dev-dependency.
//!
//! Every back-channel request goes through the [`transport`] seam, where a
//! `ureq::Agent`, a `reqwest::ClientBuilder` or a closure of yours plugs in.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::missing_errors_doc)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod client;
mod clock;
mod error;
mod flow;
mod kind;
mod manager;
mod protocol;
mod randomness;
mod resource_server;
mod services;
#[cfg(feature = "axum-sign-in")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum-sign-in")))]
pub mod sign_in;
mod single_flight;
pub mod store;
mod trace;
pub mod transport;
mod verify;

#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(test)]
mod properties;

pub use client::builder::ClientBuilder;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use client::nonblocking::AsyncClient;
pub use client::{Client, Transport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{
    Error, ServerError, StoreError, StoreErrorKind, TokenRule, TransportError, TransportErrorKind,
    UnknownName,
};
pub use flow::callback::CallbackUrl;
pub use flow::tokens::{AccessToken, ExchangedToken, RefreshToken, StoredTokens, Tokens};
pub use flow::{AuthorizationRequest, CallbackReceived, PendingAuth, Prompt};
pub use kind::{ClientAuthMethod, ClientKind, Confidential, Public};
pub use manager::TokenManager;
pub use randomness::{Randomness, SystemRandomness};
pub use resource_server::{Verifier, VerifierBuilder, bearer_token};
pub use services::federation::{ExternalToken, PendingLink};
pub use services::logout::PendingLogout;
pub use services::userinfo::UserInfo;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use transport::Async;
pub use transport::Blocking;
pub use verify::access::AccessClaims;
pub use verify::id_token::IdTokenClaims;
pub use verify::names::{Names, NamesIter};

/// The `http` crate whose types make the [`transport`] seam:
/// [`http::Request<Vec<u8>>`](http::Request) in,
/// [`http::Response<Vec<u8>>`](http::Response) out.
///
/// An HTTP client of yours names them as `verys_client::http::Request`
/// (`use verys_client::http;`), always the `http` this crate was built with,
/// without a guess of which version to depend on; a stack built on another
/// major of `http` converts at the closure it gives the seam.
pub use http;

/// The README's examples, compiled as doc tests so they cannot rot (with
/// the features they use, as `cargo test --all-features` has them).
#[cfg(all(
    doctest,
    feature = "axum-sign-in",
    feature = "tracing",
    feature = "redis"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
