//! An API that accepts only Verys access tokens carrying the `api.read` scope (a resource
//! server, RFC 6750), on the crate's axum extractors.
//!
//! ```text
//! VERYS_ISSUER=https://auth.verys.example.com \
//!     cargo run --example protected_api --features axum
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3001/api/me
//! ```
//!
//! `GET /api/me` answers 200 with the caller's subject, scopes and roles for a valid token with
//! `api.read`, and otherwise what `verys_client::axum` documents: 401 without a bearer token
//! (`WWW-Authenticate: Bearer`) or with one that does not verify (`error="invalid_token"`), 403
//! for a valid token without the scope (`error="insufficient_scope", scope="api.read"`), 503
//! when the issuer's keys cannot be had.
//!
//! `tests/examples.rs` serves this router on 127.0.0.1 next to the embedded Verys and calls it
//! with tokens the embedded Verys signed.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use verys_client::axum::{Scope, Scoped};
use verys_client::{Async, Verifier};

/// The scope every call to this API needs.
pub(crate) struct ApiRead;

impl Scope for ApiRead {
    const NAME: &'static str = "api.read";
}

/// The API's routes. The verifier is shared by every request: it caches the issuer's keys and
/// the tokens it has already verified, so a client that repeats its token costs a lookup.
pub(crate) fn router(verifier: Verifier<Async>) -> Router {
    Router::new().route("/api/me", get(me)).with_state(verifier)
}

/// Runs only for a verified token with `api.read`: the extractor is the authentication and the
/// authorization.
async fn me(Scoped(claims, _): Scoped<ApiRead>) -> Response {
    let body = json!({
        "sub": claims.sub(),
        "scopes": claims.scopes(),
        "roles": claims.roles(),
    });
    // axum's `Json` would need its `json` feature, which turns on a serde_json feature for the
    // whole crate's dev builds; this one body does not need it.
    let content_type = [(header::CONTENT_TYPE, "application/json")];
    (StatusCode::OK, content_type, body.to_string()).into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("VERYS_ISSUER").map_err(|_| "set VERYS_ISSUER to the Verys URL")?;
    let address = std::env::var("API_ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into());
    // Tokens from the authorization-code flow name the issuer as audience, the verifier's
    // default; an API that accepts exchanged tokens (RFC 8693) sets its own client id with
    // `.audience(..)`.
    let verifier = Verifier::builder(issuer).build_async()?;
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!(
        "protected API on http://{address}/api/me (needs scope {})",
        ApiRead::NAME
    );
    axum::serve(listener, router(verifier)).await?;
    Ok(())
}
