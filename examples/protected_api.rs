//! An API that accepts only Verys access tokens carrying the `api.read` scope (a resource
//! server, RFC 6750).
//!
//! ```text
//! VERYS_ISSUER=https://auth.verys.example.com \
//!     cargo run --example protected_api --features async
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3001/api/me
//! ```
//!
//! `GET /api/me` answers:
//!
//! - 200 with the caller's subject, scopes and roles for a valid token with `api.read`;
//! - 401 with `WWW-Authenticate: Bearer realm="..."` when the request carries no bearer token,
//!   and with `error="invalid_token"` when the token is malformed, forged, expired or issued
//!   by another issuer;
//! - 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="api.read"` for a valid
//!   token without the scope;
//! - 503 when the verifier cannot reach Verys for its signing keys: the token may well be fine.
//!
//! `tests/examples.rs` serves this router on 127.0.0.1 next to the embedded Verys and calls it
//! with tokens the embedded Verys signed.

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use verys_client::{AccessClaims, Async, Error, Verifier};

/// The scope every call to this API needs.
pub const REQUIRED_SCOPE: &str = "api.read";

/// Names this API in `WWW-Authenticate` challenges.
const REALM: &str = "verys-example-api";

/// The API's routes. The verifier is shared by every request: it caches the issuer's keys and
/// the tokens it has already verified, so a client that repeats its token costs a lookup.
pub fn router(verifier: Verifier<Async>) -> Router {
    Router::new().route("/api/me", get(me)).with_state(verifier)
}

async fn me(Bearer(claims): Bearer) -> Result<Response, ApiError> {
    // Authentication (the extractor) and authorization (the scope) fail differently: 401 asks
    // for another token, 403 says this token will never do.
    claims.require_scope(REQUIRED_SCOPE)?;
    let body = json!({
        "sub": claims.sub(),
        "scopes": claims.scopes(),
        "roles": claims.roles(),
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// The claims of a verified bearer token; extracting it is the authentication.
pub struct Bearer(pub AccessClaims);

impl FromRequestParts<Verifier<Async>> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        verifier: &Verifier<Async>,
    ) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::NoToken)?;
        Ok(Bearer(verifier.verify(token).await?))
    }
}

/// The token of an `Authorization: Bearer` header. Any other scheme counts as no token, so the
/// client is asked for a bearer token rather than told its Basic credentials are a bad token.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    // RFC 7235: the scheme is case-insensitive.
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Why a request was refused, as RFC 6750 section 3 wants it answered.
#[derive(Debug)]
pub enum ApiError {
    /// No bearer token: a challenge without an error code (RFC 6750 section 3.1).
    NoToken,
    /// Everything else the verifier or the scope check said.
    Verys(Error),
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::Verys(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = match self {
            ApiError::NoToken => {
                let challenge = format!("Bearer realm=\"{REALM}\"");
                return challenge_response(StatusCode::UNAUTHORIZED, &challenge, None);
            }
            ApiError::Verys(error) => error,
        };
        match &error {
            Error::MissingScope(scope) => {
                let challenge = format!(
                    "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{}\"",
                    quotable(scope)
                );
                let body = ("insufficient_scope", error.to_string());
                challenge_response(StatusCode::FORBIDDEN, &challenge, Some(body))
            }
            // The keys could not be had: the caller's token is not to blame, and retrying later
            // may work.
            Error::JwksFetch(_) | Error::NoUsableKey | Error::Transport(_) => {
                eprintln!("protected_api: cannot verify tokens: {error}");
                let body = json!({ "error": "temporarily_unavailable" });
                json_response(StatusCode::SERVICE_UNAVAILABLE, &body)
            }
            // `InvalidAccessToken` names the broken rule, never the token, so the client may read it.
            _ => {
                let description = quotable(&error.to_string());
                let challenge = format!(
                    "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
                );
                let body = ("invalid_token", description);
                challenge_response(StatusCode::UNAUTHORIZED, &challenge, Some(body))
            }
        }
    }
}

fn challenge_response(
    status: StatusCode,
    challenge: &str,
    error: Option<(&str, String)>,
) -> Response {
    let body = match error {
        Some((error, description)) => json!({ "error": error, "error_description": description }),
        None => json!({ "error": "unauthorized" }),
    };
    let mut response = json_response(status, &body);
    // Every piece of the challenge went through `quotable` or is a constant.
    let value = HeaderValue::from_str(challenge).expect("a challenge of visible ASCII");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, value);
    response
}

/// A JSON answer. (axum's `Json` would need its `json` feature, which turns on a serde_json
/// feature for the whole crate's dev builds; these few bodies do not need it.)
fn json_response(status: StatusCode, body: &Value) -> Response {
    let content_type = [(header::CONTENT_TYPE, "application/json")];
    (status, content_type, body.to_string()).into_response()
}

/// RFC 6750 allows neither `"` nor `\` nor anything outside printable ASCII in its quoted
/// strings; error texts may quote a rejected `alg`, for example.
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
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
    println!("protected API on http://{address}/api/me (needs scope {REQUIRED_SCOPE})");
    axum::serve(listener, router(verifier)).await?;
    Ok(())
}
