//! Clients a test registers at run time: its own application's client id, secret, redirect URIs
//! and scopes, next to the seeded ones.

use super::directory::Client;
use super::seed;

/// A client for [`VerysServer::register_client`](super::VerysServer::register_client): the
/// application under test, with its own redirect URIs.
///
/// ```
/// use verys_testing::{ClientRegistration, VerysServer};
///
/// let verys = VerysServer::start();
/// verys.register_client(
///     ClientRegistration::confidential("my-app", "my-secret")
///         .redirect_uri("http://127.0.0.1:8080/auth/callback")
///         .scopes(["openid", "email"]),
/// );
/// ```
#[derive(Clone)]
pub struct ClientRegistration {
    client: Client,
}

impl ClientRegistration {
    /// A confidential client, authenticating with `client_secret` (Basic or form fields).
    pub fn confidential(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::new(client_id.into(), Some(client_secret.into()))
    }

    /// A public client: no secret, PKCE required, and any RFC 8252 loopback redirect URI
    /// (`http://127.0.0.1:{port}/{path}`) accepted besides the registered ones.
    pub fn public(client_id: impl Into<String>) -> Self {
        Self::new(client_id.into(), None)
    }

    fn new(id: String, secret: Option<String>) -> Self {
        Self {
            client: Client {
                id,
                secret,
                redirect_uris: Vec::new(),
                scopes: seed::SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                required_scopes: Vec::new(),
                consented_by_all: true,
            },
        }
    }

    /// Registers a redirect URI, compared exactly; also accepted as a post-logout redirect URI.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.client.redirect_uris.push(uri.into());
        self
    }

    /// The scopes the client may ask for, each one of [`seed::SCOPES`]; by default all of them.
    /// An authorization request for another is refused with `invalid_scope`.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.client.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    pub(super) fn into_client(self) -> Client {
        self.client
    }
}

impl std::fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("client_id", &self.client.id)
            .field("public", &self.client.is_public())
            .field("redirect_uris", &self.client.redirect_uris)
            .field("scopes", &self.client.scopes)
            .finish_non_exhaustive()
    }
}
