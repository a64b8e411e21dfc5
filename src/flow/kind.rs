//! The two kinds of OAuth client, as type parameters.
//!
//! A [`Public`] client (a CLI, a single-page or mobile app) cannot keep a
//! secret and proves possession of its flow with PKCE alone. A
//! [`Confidential`] client (a server-side web app) also authenticates with a
//! client secret. The kind is fixed when the client is built and travels in
//! every flow state the client creates, so a state cannot be finished by a
//! client of the other kind.

mod sealed {
    pub trait Sealed {}
}

/// A client kind: [`Public`] or [`Confidential`]. Sealed: no other kind exists.
pub trait ClientKind: sealed::Sealed + Send + Sync + 'static {
    /// The kind's name, recorded in stored flow states.
    const NAME: &'static str;
}

/// A client without a secret; PKCE is always used.
#[derive(Debug)]
pub enum Public {}

/// A client that authenticates to the token endpoint with a client secret.
#[derive(Debug)]
pub enum Confidential {}

impl sealed::Sealed for Public {}
impl sealed::Sealed for Confidential {}

impl ClientKind for Public {
    const NAME: &'static str = "public";
}

impl ClientKind for Confidential {
    const NAME: &'static str = "confidential";
}

/// How a confidential client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_id` and `client_secret` form fields (what the reference client
    /// sends).
    #[default]
    ClientSecretPost,
    /// HTTP Basic with `client_id:client_secret`. Verys base64-decodes the
    /// credentials without URL-decoding them, so they are sent as they are,
    /// not form-encoded first as RFC 6749 2.3.1 would have it.
    ClientSecretBasic,
}
