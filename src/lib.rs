//! A Verys client (OAuth 2.0 / OpenID Connect relying party) whose types make
//! an insecure sign-in flow impossible to write.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "async")]
mod async_client;
mod builder;
mod claims;
mod client;
mod clock;
mod config;
mod error;
mod federation;
mod flow;
mod jwks;
mod jwt;
mod kind;
mod pkce;
mod protocol;
mod timestamp;
mod tokens;
mod transport;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use builder::ClientBuilder;
pub use claims::{Audience, IdTokenClaims};
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use async_client::AsyncClient;
pub use client::{Client, Transport};
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use transport::Async;
pub use transport::Blocking;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ServerError, TokenRule, TransportError, TransportErrorKind};
pub use federation::ExternalToken;
pub use flow::{AuthorizationRequest, CallbackReceived, PendingAuth, Prompt};
pub use kind::{ClientAuthMethod, ClientKind, Confidential, Public};
pub use tokens::{AccessToken, ExchangedToken, RefreshToken, Tokens};
