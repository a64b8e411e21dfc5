//! [`SignedIn`]: the extractor of a signed-in user.

use std::fmt;

use axum_core::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use http::{HeaderMap, header};
use tower_sessions::Session;

use super::{KEY, Rejection, SignIn};
use crate::client::Client;
use crate::flow::tokens::{AccessToken, Tokens};
use crate::kind::{ClientKind, Confidential};
use crate::transport::Async;
use crate::verify::id_token::IdTokenClaims;

/// The signed-in user of the request: the claims of their ID token and an
/// access token valid beyond the refresh margin. A handler that takes it
/// runs only for a signed-in user; see the
/// [module documentation](super) for the answer to every other request.
///
/// ```no_run
/// use verys_client::sign_in::SignedIn;
///
/// async fn me(user: SignedIn) -> Result<String, verys_client::Error> {
///     let info = user.client().userinfo(user.tokens()).await?;
///     Ok(format!("{} <{}>", user.claims().sub(), info.email.unwrap_or_default()))
/// }
/// ```
pub struct SignedIn<K: ClientKind = Confidential> {
    tokens: Tokens,
    client: Client<K, Async>,
}

impl<K: ClientKind> SignedIn<K> {
    /// The claims of the user's ID token, verified at sign-in or at the
    /// last refresh.
    pub fn claims(&self) -> &IdTokenClaims {
        self.tokens.claims()
    }

    /// An access token of the user, valid beyond the refresh margin when
    /// the request came: to call Verys or an API on their behalf.
    pub fn access_token(&self) -> &AccessToken {
        self.tokens.access_token()
    }

    /// The user's tokens, with that access token: what
    /// [`userinfo`](Client::userinfo) takes.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The client the user signed in with.
    pub fn client(&self) -> &Client<K, Async> {
        &self.client
    }
}

impl<K: ClientKind> fmt::Debug for SignedIn<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl<S, K> FromRequestParts<S> for SignedIn<K>
where
    K: ClientKind,
    SignIn<K>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let sign_in = SignIn::<K>::from_ref(state);
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                Rejection::Session(tower_sessions::session::Error::Store(
                    tower_sessions::session_store::Error::Backend(
                        "no session layer around this route".into(),
                    ),
                ))
            })?;
        let not_signed_in = || Rejection::NotSignedIn {
            login: wants_html(&parts.headers).then(|| sign_in.login_url(&parts.uri)),
        };
        let Some(key) = session.get::<String>(KEY).await? else {
            return Err(not_signed_in());
        };
        let manager = match sign_in.manager(&key).await {
            Ok(manager) => manager,
            Err(error) if error.requires_sign_in() => {
                sign_in.forget(&key).await;
                session.flush().await?;
                return Err(not_signed_in());
            }
            Err(error) => return Err(error.into()),
        };
        match manager.access_token().await {
            Ok(_) => Ok(SignedIn {
                tokens: manager.tokens(),
                client: sign_in.client().clone(),
            }),
            Err(error) if error.requires_sign_in() => {
                // Ended for good (a dead refresh token, a sign-out on
                // another instance): a new sign-in, not an error page.
                sign_in.forget(&key).await;
                session.flush().await?;
                Err(not_signed_in())
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// Whether the request comes from a browser navigating (its `Accept` names
/// HTML), which is sent to sign in, rather than a script or an API client,
/// which gets 401.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.to_ascii_lowercase().contains("text/html"))
}
