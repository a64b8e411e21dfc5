//! Sign-in for axum web applications (feature `axum-sign-in`): the routes
//! of a sign-in, a sign-out and the return from both, and the [`SignedIn`]
//! extractor that hands a handler the user's claims and an access token
//! that is fresh.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tower_sessions::{MemoryStore, SessionManagerLayer, cookie::SameSite};
//! use verys_client::Client;
//! use verys_client::sign_in::{SignIn, SignedIn};
//!
//! async fn home(user: SignedIn) -> String {
//!     format!("hello, {}", user.claims().sub())
//! }
//!
//! # async fn demo() -> Result<(), verys_client::Error> {
//! let client = Client::builder("https://auth.verys.example.com", "my-app")
//!     .client_secret("...")
//!     .host("https://app.example.com") // the callback: https://app.example.com/auth/callback
//!     .build_async()?;
//! let sign_in = SignIn::new(client);
//! let app: Router = Router::new()
//!     .route("/", get(home))
//!     .merge(sign_in.routes())
//!     // Lax: the return from Verys is a cross-site navigation, with which a
//!     // Strict cookie is not sent.
//!     .layer(SessionManagerLayer::new(MemoryStore::default()).with_same_site(SameSite::Lax))
//!     .with_state(sign_in);
//! # let _ = app; Ok(()) }
//! ```
//!
//! | route | does |
//! |---|---|
//! | `GET /login?return_to=/reports/7` | starts a sign-in (its [`PendingAuth`] in the session) and redirects to Verys; `return_to` is kept only if it is a path of this application (see below) |
//! | `GET /auth/callback` (the path of the client's redirect URI) | checks Verys's redirect back, exchanges the code, stores the sign-in under a new random key, cycles the session id, and redirects to `return_to` |
//! | `POST /logout` | revokes the refresh token, removes the stored sign-in, ends the session, and redirects to Verys's end-session page with the ID token as hint |
//! | `GET /auth/signed-out` | the return from Verys's end-session: its `state` checked against the session's, then `/` |
//!
//! The paths are settings of [`SignIn`]; `/auth/signed-out` (on the origin
//! of the redirect URI) must be a registered redirect URI of the client at
//! Verys, as the callback is.
//!
//! # Sessions
//!
//! The routes and the extractor use the request's [`tower_sessions`]
//! session (0.14, the version its maintained Redis store,
//! `tower-sessions-redis-store` 0.16, works with): add a
//! `SessionManagerLayer` around the router, with
//! `.with_same_site(SameSite::Lax)` (tower-sessions' default is `Strict`,
//! whose cookie the browser does not send with the redirect back from
//! Verys, another site: the callback would find no sign-in in progress) and
//! `.with_secure(true)` outside plain-HTTP development. With several
//! instances of the application, the session store and the token store
//! ([`SignIn::store`], such as [`RedisStore`](crate::store::redis::RedisStore))
//! must both be shared: the callback may reach another instance than
//! `/login` did.
//!
//! The session holds the pending sign-in (with its PKCE verifier) during a
//! sign-in, then only the random key of the user's tokens in the token
//! store: never the tokens themselves.
//!
//! # Each request
//!
//! [`SignedIn`] reads the key from the session and asks this instance's
//! [`TokenManager`] of that sign-in for a fresh access
//! token: while it is fresh, the request verifies no signature and reads
//! nothing from the token store; when it is due, one refresh per sign-in
//! goes out however many requests ask (and, on a shared store, however
//! many instances), and the new ID token is verified. The first request of
//! a sign-in on an instance reads the store and verifies the stored ID
//! token once ([`TokenManager::from_store_async`](crate::TokenManager::from_store_async));
//! an instance keeps the managers of the last [`SignIn::capacity`] sign-ins
//! it served.
//!
//! | the request | the answer |
//! |---|---|
//! | signed in | the handler runs |
//! | not signed in, or the sign-in ended (a dead refresh token, a sign-out elsewhere): a browser (`Accept` naming `text/html`) | the session is flushed and the browser redirected to `/login?return_to=<this path>` |
//! | the same, any other client (`fetch`, an API) | 401 |
//! | Verys or the token store unreachable | the [`Error`]'s status (502, 503, 504) |
//!
//! # Return to where the user was
//!
//! `return_to` is followed only when it is a path of this application:
//! another site in any spelling (`//evil.example`, `https://evil.example`,
//! `/\evil.example`, percent-encoded slashes, control characters) is
//! replaced by `/`, so that the login route is no open redirect.
//!
//! # Sign-out
//!
//! `POST` only: a link or an image on another site cannot sign the user out,
//! and a cross-site form post does not carry the `Lax` session cookie. The
//! user is signed out of this application (token store entry removed,
//! session flushed) whatever Verys answers to the revocation.

mod return_to;
mod signed_in;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::client::Client;
use crate::error::Error;
use crate::flow::PendingAuth;
use crate::flow::pkce::random_value;
use crate::kind::{ClientKind, Confidential};
use crate::manager::TokenManager;
use crate::services::logout::PendingLogout;
use crate::store::{AsyncTokenStore, MemoryStore};
use crate::transport::Async;

pub use signed_in::SignedIn;

/// The session's keys.
const PENDING: &str = "verys.sign_in.pending";
const KEY: &str = "verys.sign_in.key";
const LOGOUT: &str = "verys.sign_in.logout";

/// The sign-in of an axum application: its client, where it keeps the
/// users' tokens, and its routes. Cheap to clone (one `Arc`): put it in the
/// router's state, where [`SignedIn`] finds it through `FromRef`.
pub struct SignIn<K: ClientKind = Confidential> {
    shared: Arc<Shared<K>>,
}

impl<K: ClientKind> Clone for SignIn<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<K: ClientKind> {
    client: Client<K, Async>,
    store: Arc<dyn AsyncTokenStore>,
    /// This instance's managers, by session key: one per sign-in, so that
    /// one refresh goes out per expiry.
    managers: quick_cache::sync::Cache<String, Arc<TokenManager<K, Async>>>,
    paths: Paths,
    /// Given to each manager ([`TokenManager::retry_after`]).
    retry_after: Option<std::time::Duration>,
}

impl<K: ClientKind> Shared<K> {
    /// A sign-in's manager with this instance's settings.
    fn configure(&self, manager: TokenManager<K, Async>) -> TokenManager<K, Async> {
        match self.retry_after {
            Some(pause) => manager.retry_after(pause),
            None => manager,
        }
    }
}

#[derive(Clone)]
struct Paths {
    login: String,
    callback: String,
    logout: String,
    signed_out: String,
    /// The absolute URL of `signed_out`, Verys's post-logout redirect URI.
    signed_out_url: String,
}

/// How many sign-ins' managers an instance keeps by default.
const CAPACITY: usize = 10_000;

/// How long the default store keeps a sign-in no request read or refreshed.
const DEFAULT_IDLE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How long the default store keeps a sign-in at most.
const DEFAULT_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

impl<K: ClientKind> SignIn<K> {
    /// The sign-in of `client`, keeping tokens in a [`MemoryStore`] of its
    /// own (one instance; see [`store`](Self::store) for several) whose
    /// sign-ins expire after 24 hours without a request that reads or
    /// refreshes them and 30 days after they were made, so that abandoned
    /// ones do not pile up; on the default paths: `/login`, the path of the
    /// client's redirect URI (`/auth/callback` for a client configured with
    /// `host`), `/logout` and `/auth/signed-out`.
    pub fn new(client: Client<K, Async>) -> Self {
        let callback = match url::Url::parse(&client.config.redirect_uri) {
            Ok(url) => url.path().to_owned(),
            // The builder checked it is a URL.
            Err(_) => "/auth/callback".to_owned(),
        };
        let mut sign_in = Self {
            shared: Arc::new(Shared {
                store: Arc::new(
                    MemoryStore::new()
                        .idle_timeout(DEFAULT_IDLE)
                        .max_lifetime(DEFAULT_LIFETIME),
                ),
                managers: quick_cache::sync::Cache::new(CAPACITY),
                paths: Paths {
                    login: "/login".to_owned(),
                    callback,
                    logout: "/logout".to_owned(),
                    signed_out: String::new(),
                    signed_out_url: String::new(),
                },
                retry_after: None,
                client,
            }),
        };
        sign_in = sign_in.signed_out_path("/auth/signed-out");
        sign_in
    }

    /// Where the users' tokens are kept: a store shared by every instance
    /// of the application (such as [`RedisStore`](crate::store::redis::RedisStore))
    /// when there are several. Default: a [`MemoryStore`] of this value's.
    #[must_use]
    pub fn store(self, store: Arc<dyn AsyncTokenStore>) -> Self {
        self.change(|shared| shared.store = store)
    }

    /// How many sign-ins' managers this instance keeps at most (default
    /// 10,000): a sign-in whose manager was dropped is read from the store
    /// again at its next request.
    #[must_use]
    pub fn capacity(self, sign_ins: usize) -> Self {
        self.change(|shared| shared.managers = quick_cache::sync::Cache::new(sign_ins.max(1)))
    }

    /// How long a failed refresh of a user's tokens that did not end the
    /// sign-in (Verys or the store unavailable) is answered again to that
    /// user's requests before the next try: [`TokenManager::retry_after`],
    /// 5 seconds by default.
    #[must_use]
    pub fn retry_after(self, pause: std::time::Duration) -> Self {
        self.change(|shared| shared.retry_after = Some(pause))
    }

    /// The path of the route that starts a sign-in. Default: `/login`.
    #[must_use]
    pub fn login_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.change(|shared| shared.paths.login = path)
    }

    /// The path of the sign-out route (`POST`). Default: `/logout`.
    #[must_use]
    pub fn logout_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.change(|shared| shared.paths.logout = path)
    }

    /// The path Verys sends the browser back to after its end-session page,
    /// on the origin of the client's redirect URI: a redirect URI of the
    /// client at Verys. Default: `/auth/signed-out`.
    #[must_use]
    pub fn signed_out_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        let url = url::Url::parse(&self.shared.client.config.redirect_uri)
            .ok()
            .and_then(|redirect| redirect.join(&path).ok())
            .map(String::from)
            .unwrap_or_default();
        self.change(|shared| {
            shared.paths.signed_out = path;
            shared.paths.signed_out_url = url;
        })
    }

    /// Applies a setting before the value is shared: the builder methods
    /// run on a value no route holds yet.
    fn change(mut self, set: impl FnOnce(&mut Shared<K>)) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => set(shared),
            None => {
                let shared = &self.shared;
                let mut copy = Shared {
                    client: shared.client.clone(),
                    store: Arc::clone(&shared.store),
                    managers: quick_cache::sync::Cache::new(shared.managers.capacity() as usize),
                    paths: shared.paths.clone(),
                    retry_after: shared.retry_after,
                };
                set(&mut copy);
                self.shared = Arc::new(copy);
            }
        }
        self
    }

    /// The client, to call Verys (userinfo, token exchange) from a handler.
    pub fn client(&self) -> &Client<K, Async> {
        &self.shared.client
    }

    /// The routes of the sign-in (see the [module documentation](self)),
    /// to merge into the application's router. They hold this value; the
    /// [`SignedIn`] extractors of the application's own routes find it in
    /// the router's state (`SignIn<K>: FromRef<S>`).
    pub fn routes<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let paths = &self.shared.paths;
        Router::<Self>::new()
            .route(&paths.login, get(login::<K>))
            .route(&paths.callback, get(callback::<K>))
            .route(&paths.logout, post(sign_out::<K>))
            .route(&paths.signed_out, get(signed_out))
            .with_state(self.clone())
    }

    /// The login route, with `uri`'s path and query to return to.
    fn login_url(&self, uri: &Uri) -> String {
        let here = uri.path_and_query().map_or("/", |path| path.as_str());
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", here)
            .finish();
        format!("{}?{query}", self.shared.paths.login)
    }

    /// This instance's manager of the sign-in stored under `key`.
    async fn manager(&self, key: &str) -> Result<Arc<TokenManager<K, Async>>, Error> {
        let shared = &self.shared;
        shared
            .managers
            .get_or_insert_async(key, async {
                let client = shared.client.clone();
                TokenManager::from_store_async(client, Arc::clone(&shared.store), key)
                    .await
                    .map(|manager| Arc::new(shared.configure(manager)))
            })
            .await
    }

    /// Ends the sign-in stored under `key` on this instance and in the
    /// store. A store that cannot be reached keeps the entry, whose refresh
    /// token is revoked or dead by then.
    async fn forget(&self, key: &str) {
        self.shared.managers.remove(key);
        if let Err(error) = self.shared.store.remove(key).await {
            crate::trace::sign_in_failed("remove", &Error::Store(error));
        }
    }
}

impl<K: ClientKind> fmt::Debug for SignIn<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paths = &self.shared.paths;
        f.debug_struct("SignIn")
            .field("kind", &K::NAME)
            .field("login", &paths.login)
            .field("callback", &paths.callback)
            .field("logout", &paths.logout)
            .field("signed_out", &paths.signed_out)
            .finish_non_exhaustive()
    }
}

/// A sign-in in progress, as the session keeps it.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct Pending<K: ClientKind> {
    auth: PendingAuth<K>,
    return_to: String,
}

/// `GET /login?return_to=…`.
async fn login<K: ClientKind>(
    State(sign_in): State<SignIn<K>>,
    session: Session,
    uri: Uri,
) -> Result<Redirect, Rejection> {
    let return_to = uri
        .query()
        .and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "return_to")
                .map(|(_, value)| return_to::sanitize(&value))
        })
        .unwrap_or_else(|| "/".to_owned());
    let auth = sign_in.shared.client.authorize();
    let url = auth.url().to_owned();
    // One sign-in per session at a time: a second one replaces the first,
    // whose callback then fails its state check.
    session.insert(PENDING, Pending { auth, return_to }).await?;
    Ok(Redirect::to(&url))
}

/// `GET /auth/callback`.
async fn callback<K: ClientKind>(
    State(sign_in): State<SignIn<K>>,
    session: Session,
    uri: Uri,
) -> Result<Redirect, Rejection> {
    // Taken out before it is checked: a flow state is good for one
    // callback, whatever its outcome, so a replayed callback finds nothing.
    let pending: Pending<K> = session
        .remove(PENDING)
        .await?
        .ok_or(Rejection::NoSignInInProgress)?;
    let received = pending.auth.receive(&uri)?;
    let shared = &sign_in.shared;
    let tokens = shared.client.exchange_code(received).await?;
    if let Some(previous) = session.get::<String>(KEY).await? {
        sign_in.forget(&previous).await;
    }
    // A new session id for the signed-in user: an id planted in the
    // browser before (session fixation) is worth nothing afterwards.
    session.cycle_id().await?;
    let key = random_value(&*shared.client.config.randomness, 32);
    let manager = TokenManager::with_store_async(
        shared.client.clone(),
        Arc::clone(&shared.store),
        &key,
        tokens,
    )
    .await?;
    shared
        .managers
        .insert(key.clone(), Arc::new(shared.configure(manager)));
    session.insert(KEY, &key).await?;
    Ok(Redirect::to(&pending.return_to))
}

/// `POST /logout`.
async fn sign_out<K: ClientKind>(
    State(sign_in): State<SignIn<K>>,
    session: Session,
) -> Result<Redirect, Rejection> {
    let key = session.get::<String>(KEY).await?;
    // Signed out of this application whatever follows.
    session.flush().await?;
    let Some(key) = key else {
        return Ok(Redirect::to("/"));
    };
    let manager = sign_in.manager(&key).await;
    sign_in.forget(&key).await;
    let Ok(manager) = manager else {
        // Nothing left to revoke or to end at Verys.
        return Ok(Redirect::to("/"));
    };
    let shared = &sign_in.shared;
    let tokens = manager.tokens();
    if let Some(refresh_token) = tokens.refresh_token() {
        // Here, not left to the end-session page, which the browser may
        // never reach. A failure does not keep the user signed in.
        if let Err(error) = shared.client.revoke(refresh_token).await {
            crate::trace::sign_in_failed("revoke", &error);
        }
    }
    let logout = shared
        .client
        .end_session(&tokens, &shared.paths.signed_out_url);
    let url = logout.url().to_owned();
    session.insert(LOGOUT, logout).await?;
    Ok(Redirect::to(&url))
}

/// `GET /auth/signed-out`: Verys's end-session page sends the browser back
/// with the `state` of the sign-out.
async fn signed_out(session: Session, uri: Uri) -> Result<Redirect, Rejection> {
    if let Some(logout) = session.remove::<PendingLogout>(LOGOUT).await? {
        logout.receive(&uri)?;
    }
    Ok(Redirect::to("/"))
}

/// Why a sign-in route or [`SignedIn`] did not go on, and the answer it
/// gets.
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// No sign-in, or it ended: a browser is sent to the login route with
    /// `return_to`, any other client gets 401.
    NotSignedIn {
        /// The login URL with this request's path as `return_to`, for a
        /// browser; `None` for another client.
        login: Option<String>,
    },
    /// A callback, but no sign-in in progress in this session: replayed,
    /// the session expired or lost, or cookies refused. 400.
    NoSignInInProgress,
    /// The crate's error: its [`status`](Error::status) and fixed text.
    Verys(Error),
    /// The session store failed. 503.
    Session(tower_sessions::session::Error),
}

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Rejection::Verys(error)
    }
}

impl From<tower_sessions::session::Error> for Rejection {
    fn from(error: tower_sessions::session::Error) -> Self {
        Rejection::Session(error)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotSignedIn { .. } => f.write_str("not signed in"),
            Rejection::NoSignInInProgress => f.write_str("no sign-in in progress"),
            Rejection::Verys(error) => write!(f, "{error}"),
            Rejection::Session(_) => f.write_str("the session store failed"),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Rejection::Verys(error) => Some(error),
            Rejection::Session(error) => Some(error),
            _ => None,
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::NotSignedIn { login: Some(login) } => Redirect::to(&login).into_response(),
            Rejection::NotSignedIn { login: None } => {
                (StatusCode::UNAUTHORIZED, "sign-in required").into_response()
            }
            Rejection::NoSignInInProgress => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: no sign-in is in progress in this session",
            )
                .into_response(),
            Rejection::Verys(error) => {
                crate::trace::sign_in_failed("answer", &error);
                error.into_response()
            }
            Rejection::Session(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the session store is unavailable",
            )
                .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_in() -> SignIn {
        let client = Client::builder("https://verys.example", "app")
            .client_secret("secret")
            .redirect_uri("https://app.example/oidc/back")
            .build_async()
            .unwrap();
        SignIn::new(client)
    }

    /// The callback is the path of the client's redirect URI, and Verys's
    /// return from a sign-out an absolute URL on its origin.
    #[test]
    fn the_paths_follow_the_client_and_the_settings() {
        let sign_in = sign_in().login_path("/in").logout_path("/out");
        let paths = &sign_in.shared.paths;
        assert_eq!(paths.callback, "/oidc/back");
        assert_eq!(paths.signed_out_url, "https://app.example/auth/signed-out");
        assert_eq!(
            (paths.login.as_str(), paths.logout.as_str()),
            ("/in", "/out")
        );
        let moved = sign_in.signed_out_path("/bye");
        assert_eq!(moved.shared.paths.signed_out_url, "https://app.example/bye");
        let uri: Uri = "/reports/7?tab=2&x=a%20b".parse().unwrap();
        assert_eq!(
            moved.login_url(&uri),
            "/in?return_to=%2Freports%2F7%3Ftab%3D2%26x%3Da%2520b"
        );
    }

    /// A setting changed on a copy of a value whose routes were already
    /// made leaves those routes' value as it was.
    #[test]
    fn a_setting_on_a_shared_value_changes_a_copy() {
        let first = sign_in();
        let _routes: Router = first.routes();
        let second = first.clone().login_path("/elsewhere").capacity(3);
        assert_eq!(first.shared.paths.login, "/login");
        assert_eq!(second.shared.paths.login, "/elsewhere");
        assert_eq!(second.shared.managers.capacity(), 3);
        assert_eq!(first.shared.managers.capacity(), CAPACITY as u64);
    }
}
