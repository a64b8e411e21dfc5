//! A web application that signs its users in with Verys: a confidential client on axum, with
//! server-side sessions (tower-sessions).
//!
//! ```text
//! VERYS_ISSUER=https://auth.verys.example.com \
//! VERYS_CLIENT_ID=your-client-id VERYS_CLIENT_SECRET=... \
//! APP_URL=http://127.0.0.1:3000 \
//!     cargo run --example axum_app --features axum
//! ```
//!
//! `APP_URL/auth/callback` must be a redirect URI of the client at Verys, and `APP_URL/` (or
//! `VERYS_POST_LOGOUT_REDIRECT_URI`) a post-logout redirect URI.
//!
//! | route | does |
//! |---|---|
//! | `GET /login` | starts a sign-in, keeps its `PendingAuth` in the session, redirects to Verys |
//! | `GET /auth/callback` | checks Verys's redirect back, exchanges the code, remembers the user |
//! | `GET /me` | shows the claims of the user's ID token (or sends them to `/login`) |
//! | `POST /logout` | revokes the refresh token, ends the session, redirects to Verys's end-session URL |
//!
//! A failed request answers what the crate's `Error` answers (feature `axum`; the table is on
//! `verys_client::Error`): a forged or stale callback is the browser's (or an attacker's) doing,
//! so it gets a 400, and a sign-in the user refused a 403; only Verys failing to answer properly
//! is a 502.
//!
//! `tests/examples.rs` walks this app the way a browser would, against the embedded Verys.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer};
use verys_client::{AsyncClient, Client, Confidential, Error, PendingAuth, StoredTokens};

/// Session keys.
const PENDING: &str = "verys.pending";
const CLAIMS: &str = "verys.claims";
const TOKENS: &str = "verys.tokens";

/// What the app needs to know about itself and its Verys.
pub struct Config {
    /// The Verys URL.
    pub issuer: String,
    /// This app's client id at Verys.
    pub client_id: String,
    /// This app's client secret.
    pub client_secret: String,
    /// Where Verys sends the browser back to, served by `/auth/callback`.
    pub redirect_uri: String,
    /// Where Verys sends the browser after signing the user out.
    pub post_logout_redirect_uri: String,
    /// Whether the session cookie is only sent over HTTPS: true everywhere but plain-HTTP
    /// development.
    pub secure_cookie: bool,
}

impl Config {
    fn from_env() -> Result<Config, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
        let app_url = var("APP_URL")?.trim_end_matches('/').to_owned();
        Ok(Config {
            issuer: var("VERYS_ISSUER")?,
            client_id: var("VERYS_CLIENT_ID")?,
            client_secret: var("VERYS_CLIENT_SECRET")?,
            redirect_uri: format!("{app_url}/auth/callback"),
            post_logout_redirect_uri: var("VERYS_POST_LOGOUT_REDIRECT_URI")
                .unwrap_or_else(|_| format!("{app_url}/")),
            secure_cookie: app_url.starts_with("https://"),
        })
    }
}

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    client: AsyncClient<Confidential>,
    post_logout_redirect_uri: Arc<str>,
}

/// The app, ready to serve. Every client setting is checked here, before the first request.
pub fn app(config: Config) -> Result<Router, Error> {
    let client = Client::builder(config.issuer, config.client_id)
        .redirect_uri(config.redirect_uri)
        .scopes(["openid", "profile", "email"])
        .client_secret(config.client_secret)
        .build_async()?;
    let state = AppState {
        client,
        post_logout_redirect_uri: config.post_logout_redirect_uri.into(),
    };
    // Sessions live in this process's memory: fine for one instance. When the app runs on
    // several instances behind a load balancer, the callback may reach another instance than
    // `/login` did, so use a store they share, such as Redis (`tower-sessions-redis-store`).
    // The session holds the user's tokens (`StoredTokens`, access and refresh token in clear):
    // a shared store must be one only the app can read.
    let sessions = SessionManagerLayer::new(MemoryStore::default())
        // Lax, not the default Strict: the callback is a cross-site navigation from Verys,
        // and a Strict cookie would not come with it, losing the pending sign-in.
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookie)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::hours(8),
        ));
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/me", get(me))
        // POST, so that a link or an image on another site cannot sign the user out: the Lax
        // session cookie does not come with a cross-site POST.
        .route("/logout", post(logout))
        .layer(sessions)
        .with_state(state))
}

async fn home() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Verys example</title>\
         <p><a href=\"/login\">Sign in with Verys</a> · <a href=\"/me\">Who am I?</a></p>",
    )
}

async fn login(State(app): State<AppState>, session: Session) -> Result<Redirect, AppError> {
    let pending = app.client.authorize();
    let url = pending.url().to_owned();
    // One sign-in per session at a time: starting another replaces this one, and a callback
    // for the older one then fails its state check.
    session.insert(PENDING, pending).await?;
    Ok(Redirect::to(&url))
}

async fn callback(
    State(app): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Redirect, AppError> {
    // Taken out of the session before it is checked: a flow state is good for one callback,
    // whatever its outcome, so a replayed callback finds nothing.
    let pending: PendingAuth<Confidential> = session
        .remove(PENDING)
        .await?
        .ok_or(AppError::NoSignInInProgress)?;
    let received = pending.receive(&uri)?;
    let tokens = app.client.exchange_code(received).await?;

    // A new session id for the signed-in user: an id planted in the browser before the
    // sign-in (session fixation) is worth nothing afterwards.
    session.cycle_id().await?;
    session.insert(CLAIMS, tokens.claims().to_json()).await?;
    session.insert(TOKENS, tokens.to_stored()).await?;
    Ok(Redirect::to("/me"))
}

async fn me(session: Session) -> Result<Response, AppError> {
    let Some(claims) = session.get::<Map<String, Value>>(CLAIMS).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let name = claims.get("name").and_then(Value::as_str).unwrap_or("you");
    let rows: String = claims
        .iter()
        .map(|(claim, value)| {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(claim),
                escape(&value)
            )
        })
        .collect();
    Ok(Html(format!(
        "<!doctype html><title>Signed in</title><h1>Hello, {}</h1>\
         <table>{rows}</table>\
         <form method=\"post\" action=\"/logout\"><button>Sign out</button></form>",
        escape(name)
    ))
    .into_response())
}

async fn logout(State(app): State<AppState>, session: Session) -> Result<Redirect, AppError> {
    let stored = session.get::<StoredTokens>(TOKENS).await?;
    // Signed out of this app whatever Verys says next.
    session.flush().await?;
    let Some(stored) = stored else {
        return Ok(Redirect::to("/"));
    };
    // Restoring verifies the stored ID token again: what a session store hands back is not
    // trusted blindly.
    let tokens = app.client.restore_tokens(stored).await?;
    if let Some(refresh_token) = tokens.refresh_token() {
        // Revoked here, not left to the end-session page, which the browser may never reach.
        // A failure does not keep the user signed in: Verys's end-session revokes too.
        if let Err(error) = app.client.revoke(refresh_token).await {
            eprintln!("axum_app: revocation failed: {error}");
        }
    }
    // Verys comes back to the post-logout URI with a `state`. This app only shows a page there;
    // one that acts on that return keeps the `PendingLogout` (it is `Serialize`) in a session
    // and checks the return with `receive`.
    let logout = app
        .client
        .end_session(&tokens, &app.post_logout_redirect_uri);
    Ok(Redirect::to(logout.url()))
}

/// Why a request failed, and the HTTP answer it deserves.
enum AppError {
    /// A callback, but no sign-in in this session: a replay, an expired session, cookies off.
    NoSignInInProgress,
    Verys(Error),
    Session(tower_sessions::session::Error),
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        AppError::Verys(error)
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(error: tower_sessions::session::Error) -> Self {
        AppError::Session(error)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            // The crate's own answer: the status of `Error::status`'s table (a forged callback
            // 400, a refused sign-in 403, Verys failing 502) and a fixed text that quotes
            // nothing of the error's. The details go to the log.
            AppError::Verys(error) => {
                if error.status().is_server_error() {
                    eprintln!("axum_app: {error}");
                }
                error.into_response()
            }
            AppError::NoSignInInProgress => (
                StatusCode::BAD_REQUEST,
                "sign-in failed: no sign-in is in progress in this session",
            )
                .into_response(),
            AppError::Session(error) => {
                eprintln!("axum_app: session store: {error}");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// Claims are the user's own text: never markup.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let address = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let app = app(config)?;
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("sign in at http://{address}/login");
    axum::serve(listener, app).await?;
    Ok(())
}
