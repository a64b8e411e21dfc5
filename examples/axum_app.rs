//! A web application that signs its users in with Verys, on axum and tower-sessions: sign-in,
//! a page with the user (`/account`), `/me` from userinfo through an access token that refreshes itself,
//! and sign-out. The sign-in part is the `app` function.
//!
//! ```text
//! VERYS_ISSUER=https://auth.verys.example.com \
//! VERYS_CLIENT_ID=your-client-id VERYS_CLIENT_SECRET=... \
//! APP_URL=http://127.0.0.1:3000 \
//!     cargo run --example axum_app --features axum-sign-in
//! ```
//!
//! `APP_URL/auth/callback` and `APP_URL/auth/signed-out` must be redirect URIs of the client at
//! Verys. The routes `verys_client::sign_in` mounts (`/login`, `/auth/callback`, `POST /logout`,
//! `/auth/signed-out`) and what each request gets are in that module's documentation.
//!
//! `tests/examples.rs` walks this app the way a browser would, against the embedded Verys, and
//! `tests/browser.rs` in a real Chromium.

use std::sync::Arc;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use tower_sessions::cookie::SameSite;
use tower_sessions::{MemoryStore, SessionManagerLayer};
use verys_client::sign_in::{SignIn, SignedIn};
use verys_client::{Client, Clock, Error, SystemClock};

/// What the app needs to know about itself and its Verys.
pub(crate) struct Config {
    /// The Verys URL.
    pub issuer: String,
    /// This app's client id at Verys.
    pub client_id: String,
    /// This app's client secret.
    pub client_secret: String,
    /// Where the app is, such as `https://app.example.com`.
    pub app_url: String,
    /// The session cookie's `SameSite`: `Lax` (a `Strict` cookie does not come back from Verys).
    pub same_site: SameSite,
    /// The clock of token expiry; `None`: the system's (a test moves a `ManualClock`).
    pub clock: Option<Arc<dyn Clock>>,
}

/// The app, ready to serve. Every client setting is checked here, before the first request.
pub(crate) fn app(config: Config) -> Result<Router, Error> {
    let client = Client::builder(config.issuer, config.client_id)
        .client_secret(config.client_secret)
        .host(&config.app_url)
        .scopes(["openid", "profile", "email"])
        .clock(config.clock.unwrap_or_else(|| Arc::new(SystemClock)))
        .build_async()?;
    let sign_in = SignIn::new(client);
    let sessions = SessionManagerLayer::new(MemoryStore::default())
        .with_same_site(config.same_site)
        .with_secure(config.app_url.starts_with("https://"));
    Ok(Router::new()
        .route("/", get(home))
        .route("/account", get(account))
        .route("/me", get(me))
        .merge(sign_in.routes())
        .layer(sessions)
        .with_state(sign_in))
}

async fn home() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Verys example</title>\
         <p><a href=\"/login?return_to=/account\">Sign in with Verys</a></p>",
    )
}

async fn account(user: SignedIn) -> Html<String> {
    let name = user.claims().name().unwrap_or("you");
    Html(format!(
        "<!doctype html><title>Signed in</title><h1>Hello, {}</h1>\
         <p><a href=\"/me\">What Verys says about me</a></p>\
         <form method=\"post\" action=\"/logout\"><button>Sign out</button></form>",
        escape(name)
    ))
}

/// Userinfo, through an access token the sign-in keeps fresh.
async fn me(user: SignedIn) -> Result<String, Error> {
    let info = user.client().userinfo(user.tokens()).await?;
    Ok(serde_json::to_string_pretty(&info).unwrap_or_default())
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
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let app = app(Config {
        issuer: var("VERYS_ISSUER")?,
        client_id: var("VERYS_CLIENT_ID")?,
        client_secret: var("VERYS_CLIENT_SECRET")?,
        app_url: var("APP_URL")?,
        same_site: SameSite::Lax,
        clock: None,
    })?;
    let address = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("sign in at http://{address}/login");
    axum::serve(listener, app).await?;
    Ok(())
}
