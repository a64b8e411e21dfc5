//! axum extractors for a resource server (feature `axum`): a handler that
//! takes [`Bearer`] or [`Scoped`] runs only for a request whose
//! `Authorization: Bearer` token verified, and every other request is
//! answered as [RFC 6750 §3] says.
//!
//! The extractors find the [`Verifier<Async>`](crate::Verifier) in the
//! router's state, through axum's `FromRef`:
//!
//! ```
//! use axum::{Router, routing::get};
//! use verys_client::axum::{Bearer, Scope, Scoped};
//! use verys_client::{Async, Verifier};
//!
//! /// The scope `/api/reports` needs.
//! struct ReportsRead;
//! impl Scope for ReportsRead {
//!     const NAME: &'static str = "reports.read";
//! }
//!
//! async fn me(Bearer(claims): Bearer) -> String {
//!     // `AccessClaims` is `Serialize`: `Json(claims)` with axum's `json` feature.
//!     format!("hello, {}", claims.sub())
//! }
//!
//! async fn reports(Scoped(claims, _): Scoped<ReportsRead>) -> String {
//!     format!("reports for {}", claims.sub())
//! }
//!
//! # fn app(verifier: Verifier<Async>) -> Router {
//! Router::new()
//!     .route("/api/me", get(me))
//!     .route("/api/reports", get(reports))
//!     .with_state(verifier)
//! # }
//! ```
//!
//! | the request | the answer |
//! |---|---|
//! | no `Authorization` header, or another scheme than `Bearer` | 401, `WWW-Authenticate: Bearer` (no error code, §3.1) |
//! | several `Authorization` headers, or `Bearer` without a well-formed token | 400, `error="invalid_request"` |
//! | a token that does not verify (forged, expired, another issuer or audience, an ID token) | 401, `error="invalid_token"` with the broken rule as `error_description` |
//! | a valid token without the [`Scoped`] scope | 403, `error="insufficient_scope"`, `scope="…"` |
//! | the verifier cannot get the issuer's keys | 503: the token may well be fine |
//!
//! The `Bearer` scheme is matched case-insensitively ([RFC 9110 §11.1]).
//! No answer quotes the token.
//!
//! [`Error`] answers HTTP by itself too: a handler may return
//! `Result<_, Error>`, and a failure answers [`Error::status`] with a short
//! fixed text, never the error's own words.
//!
//! [RFC 6750 §3]: https://www.rfc-editor.org/rfc/rfc6750#section-3
//! [RFC 9110 §11.1]: https://www.rfc-editor.org/rfc/rfc9110#section-11.1

use std::marker::PhantomData;

use axum_core::body::Body;
use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::error::Error;
use crate::resource_server::{BearerHeader, Verifier, parse_bearer};
use crate::transport::Async;
use crate::verify::access::AccessClaims;

/// The claims of the request's verified bearer token: extracting it is the
/// authentication.
#[derive(Debug, Clone)]
pub struct Bearer(pub AccessClaims);

impl<S> FromRequestParts<S> for Bearer
where
    Verifier<Async>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(if parts.headers.contains_key(header::AUTHORIZATION) {
                Rejection::InvalidRequest
            } else {
                Rejection::MissingToken
            });
        };
        let token = match value.to_str().map(parse_bearer) {
            Ok(BearerHeader::Token(token)) => token,
            Ok(BearerHeader::OtherScheme) => return Err(Rejection::MissingToken),
            Ok(BearerHeader::Malformed) | Err(_) => return Err(Rejection::InvalidRequest),
        };
        let verifier = Verifier::<Async>::from_ref(state);
        match verifier.verify(token).await {
            Ok(claims) => Ok(Bearer(claims)),
            Err(error @ (Error::JwksFetch(_) | Error::NoUsableKey | Error::Transport(_))) => {
                Err(Rejection::Unavailable(error))
            }
            Err(error) => Err(Rejection::InvalidToken(error)),
        }
    }
}

/// A scope a route requires, for [`Scoped`].
pub trait Scope: Send + Sync + 'static {
    /// The scope's name, as the access token's `scopes` list has it.
    const NAME: &'static str;
}

/// The claims of a verified bearer token that carries the scope `S`.
pub struct Scoped<S: Scope>(pub AccessClaims, pub PhantomData<S>);

impl<S: Scope> std::fmt::Debug for Scoped<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Scoped")
            .field(&self.0)
            .field(&S::NAME)
            .finish()
    }
}

impl<S, St> FromRequestParts<St> for Scoped<S>
where
    S: Scope,
    Verifier<Async>: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Rejection> {
        let Bearer(claims) = Bearer::from_request_parts(parts, state).await?;
        if claims.has_scope(S::NAME) {
            Ok(Scoped(claims, PhantomData))
        } else {
            Err(Rejection::InsufficientScope(S::NAME))
        }
    }
}

/// Why [`Bearer`] or [`Scoped`] refused a request; its response is the one
/// the [module documentation](self) lists.
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// No bearer token at all.
    MissingToken,
    /// An `Authorization` header that is not one well-formed bearer token.
    InvalidRequest,
    /// The token does not verify; the error names the rule it broke.
    InvalidToken(Error),
    /// The token is valid but lacks this scope.
    InsufficientScope(&'static str),
    /// The issuer's keys could not be had.
    Unavailable(Error),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, challenge, error, description) = match &self {
            Rejection::MissingToken => (StatusCode::UNAUTHORIZED, None, None, None),
            Rejection::InvalidRequest => (
                StatusCode::BAD_REQUEST,
                Some("error=\"invalid_request\"".to_owned()),
                Some("invalid_request"),
                None,
            ),
            Rejection::InvalidToken(error) => {
                // The crate's errors name rules, never a token.
                let description = quotable(&error.to_string());
                let challenge =
                    format!("error=\"invalid_token\", error_description=\"{description}\"");
                (
                    StatusCode::UNAUTHORIZED,
                    Some(challenge),
                    Some("invalid_token"),
                    Some(description),
                )
            }
            Rejection::InsufficientScope(scope) => {
                let scope = quotable(scope);
                (
                    StatusCode::FORBIDDEN,
                    Some(format!("error=\"insufficient_scope\", scope=\"{scope}\"")),
                    Some("insufficient_scope"),
                    Some(format!("the token lacks the {scope} scope")),
                )
            }
            Rejection::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                Some("temporarily_unavailable"),
                None,
            ),
        };
        let mut body = serde_json::Map::new();
        if let Some(error) = error {
            body.insert("error".into(), error.into());
        }
        if let Some(description) = description {
            body.insert("error_description".into(), description.into());
        }
        let mut response = Response::new(Body::from(serde_json::Value::Object(body).to_string()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if status != StatusCode::SERVICE_UNAVAILABLE {
            let challenge = match challenge {
                Some(parameters) => format!("Bearer {parameters}"),
                None => "Bearer".to_owned(),
            };
            // Every piece went through `quotable` or is a constant.
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// The answer [`Error::status`] gives, with a fixed text of the crate's as
/// its body (`text/plain; charset=utf-8`): never the error's `Display`,
/// which may repeat a server's `error_description` to the user. The table
/// is on [`Error`].
///
/// ```
/// use axum::{Router, extract::State, http::Uri, response::Redirect, routing::get};
/// use verys_client::{AsyncClient, Confidential, Error, PendingAuth};
///
/// // A forged callback answers 400, Verys failing 502, a dead sign-in 401.
/// async fn callback(
///     State(client): State<AsyncClient<Confidential>>,
///     uri: Uri,
/// ) -> Result<Redirect, Error> {
///     # let pending: PendingAuth<Confidential> = todo!();
///     let received = pending.receive(&uri)?;
///     let tokens = client.exchange_code(received).await?;
///     # let _ = tokens;
///     Ok(Redirect::to("/me"))
/// }
/// # fn app(client: AsyncClient<Confidential>) -> Router {
/// #     Router::new().route("/auth/callback", get(callback)).with_state(client)
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, text) = self.answer();
        let mut response = Response::new(Body::from(text));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        // A challenge only where a bearer token was what failed (RFC 6750
        // §3), without the scope's or the rule's name: nothing the error
        // carries. The other 401s are a browser's sign-in at Verys, which no
        // HTTP authentication scheme describes (`Bearer` would ask the
        // browser for a token it never holds, `Basic` for a password), so
        // they carry none: the application sends the user to sign in.
        let challenge = match self {
            Error::InvalidAccessToken(_) => Some("Bearer error=\"invalid_token\""),
            Error::MissingScope(_) => Some("Bearer error=\"insufficient_scope\""),
            _ => None,
        };
        if let Some(challenge) = challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// RFC 6750 §3 allows neither `"` nor `\` nor anything beyond printable
/// ASCII in its quoted strings; an error text may quote a rejected `alg`.
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::error::{TransportError, TransportErrorKind};

    /// A verifier whose every request fails: nothing here reaches Verys.
    fn verifier() -> Verifier<Async> {
        Verifier::builder("https://verys.example")
            .async_http_client(|_| async {
                Err(TransportError::new(TransportErrorKind::Connect, "refused"))
            })
            .build_async()
            .unwrap()
    }

    async fn extract(headers: &[(&str, &str)]) -> Result<Bearer, Rejection> {
        let mut request = http::Request::builder();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        Bearer::from_request_parts(&mut parts, &verifier()).await
    }

    fn challenge(rejection: Rejection) -> (StatusCode, Option<String>) {
        let response = rejection.into_response();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|value| value.to_str().unwrap().to_owned());
        (response.status(), challenge)
    }

    #[tokio::test]
    async fn requests_without_one_bearer_token_are_refused_before_verification() {
        let missing = [vec![], vec![("authorization", "Basic dXNlcjpwYXNz")]];
        for headers in missing {
            let rejection = extract(&headers).await.unwrap_err();
            assert!(matches!(rejection, Rejection::MissingToken), "{headers:?}");
            let challenge = challenge(rejection);
            assert_eq!(challenge, (StatusCode::UNAUTHORIZED, Some("Bearer".into())));
        }
        let malformed = [
            vec![("authorization", "Bearer")],
            vec![("authorization", "Bearer a b")],
            vec![
                ("authorization", "Bearer a.b"),
                ("authorization", "Bearer c.d"),
            ],
        ];
        for headers in malformed {
            let rejection = extract(&headers).await.unwrap_err();
            assert!(
                matches!(rejection, Rejection::InvalidRequest),
                "{headers:?}"
            );
            let expected = Some("Bearer error=\"invalid_request\"".into());
            assert_eq!(challenge(rejection), (StatusCode::BAD_REQUEST, expected));
        }
    }

    #[tokio::test]
    async fn a_token_that_does_not_verify_names_the_rule_and_not_the_token() {
        let token = "a.b.c";
        let rejection = extract(&[("authorization", &format!("bearer {token}"))])
            .await
            .unwrap_err();
        let Rejection::InvalidToken(error) = &rejection else {
            panic!("expected an invalid token, got {rejection:?}");
        };
        let description = error.to_string();
        let (status, challenge) = challenge(rejection);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge.unwrap(),
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
        );
    }

    #[tokio::test]
    async fn keys_out_of_reach_are_a_503_without_a_challenge() {
        let encode = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let token = format!(
            "{}.{}.{}",
            encode(r#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#),
            encode(r#"{"iss":"https://verys.example"}"#),
            URL_SAFE_NO_PAD.encode([0u8; 64]),
        );
        let rejection = extract(&[("authorization", &format!("Bearer {token}"))])
            .await
            .unwrap_err();
        assert!(
            matches!(rejection, Rejection::Unavailable(Error::Transport(_))),
            "{rejection:?}"
        );
        assert_eq!(
            challenge(rejection),
            (StatusCode::SERVICE_UNAVAILABLE, None)
        );
    }

    #[test]
    fn a_missing_scope_is_named_in_the_challenge() {
        let (status, challenge) = challenge(Rejection::InsufficientScope("api.read"));
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            challenge.as_deref(),
            Some("Bearer error=\"insufficient_scope\", scope=\"api.read\"")
        );
    }

    /// Every variant that carries a text, each of its texts set to `text`:
    /// what a server (or a callback) could have put there. (The others
    /// carry nothing to quote.)
    fn errors_quoting(text: &str) -> Vec<Error> {
        use crate::error::{ServerError, StoreError, StoreErrorKind, TokenRule};
        let server = |status| ServerError {
            status,
            error: Some(text.into()),
            description: Some(text.into()),
            content_type: Some(text.into()),
        };
        let callback = |error: &str| Error::Callback {
            error: error.into(),
            description: Some(text.into()),
        };
        let rules = [
            TokenRule::MalformedJson {
                part: "claims",
                reason: text.into(),
            },
            TokenRule::Algorithm(Some(text.into())),
            TokenRule::Type(text.into()),
        ];
        let mut errors = vec![
            Error::Config(text.into()),
            callback("access_denied"),
            callback("login_required"),
            callback("server_error"),
            callback("temporarily_unavailable"),
            callback(text),
            Error::DuplicateParameter(text.into()),
            Error::MalformedCallback(text.into()),
            Error::TokenRequest(server(400)),
            Error::TokenRequest(server(503)),
            Error::Endpoint {
                endpoint: "userinfo",
                error: server(401),
            },
            Error::InvalidResponse {
                endpoint: "token",
                reason: text.into(),
            },
            Error::ExternalReauth {
                provider_id: text.into(),
                description: Some(text.into()),
            },
            Error::JwksFetch(text.into()),
            Error::MissingScope(text.into()),
            Error::MissingRole(text.into()),
            Error::Discovery(text.into()),
            Error::FederationFailed {
                provider_id: text.into(),
                description: Some(text.into()),
            },
        ];
        for rule in rules {
            errors.push(Error::InvalidIdToken(rule.clone()));
            errors.push(Error::InvalidAccessToken(rule));
        }
        for kind in [
            TransportErrorKind::Connect,
            TransportErrorKind::Timeout,
            TransportErrorKind::BodyTooLarge,
            TransportErrorKind::Tls,
            TransportErrorKind::Other,
        ] {
            errors.push(Error::Transport(TransportError::new(kind, text)));
        }
        for kind in [
            StoreErrorKind::Unavailable,
            StoreErrorKind::Timeout,
            StoreErrorKind::Corrupt,
        ] {
            errors.push(Error::Store(StoreError::new(kind, text)));
        }
        errors
    }

    #[tokio::test]
    async fn no_error_answer_quotes_a_text_the_error_carries() {
        let server_text = "the-server-said-SECRET-3f9a";
        for error in errors_quoting(server_text) {
            let shown = format!("{error}");
            // The error does quote it: an answer made of `Display` would.
            assert!(shown.contains(server_text), "not quoting: {shown}");
            let status = error.status();
            let response = error.into_response();
            assert_eq!(response.status(), status, "{shown}");
            let headers = response.headers().clone();
            assert_eq!(
                headers[header::CONTENT_TYPE],
                "text/plain; charset=utf-8",
                "{shown}"
            );
            for (name, value) in &headers {
                let value = value.to_str().unwrap();
                assert!(!value.contains(server_text), "{name}: {value} ({shown})");
            }
            let body = ::axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let body = std::str::from_utf8(&body).unwrap();
            assert!(!body.is_empty(), "{shown}");
            assert!(!body.contains(server_text), "{body} ({shown})");
            assert!(!body.contains("SECRET"), "{body} ({shown})");
        }
    }

    #[test]
    fn only_a_failed_bearer_token_is_challenged() {
        let answer = |error: Error| {
            let response = error.into_response();
            let challenge = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|value| value.to_str().unwrap().to_owned());
            (response.status(), challenge)
        };
        assert_eq!(
            answer(Error::InvalidAccessToken(crate::error::TokenRule::Expired)),
            (
                StatusCode::UNAUTHORIZED,
                Some("Bearer error=\"invalid_token\"".into())
            )
        );
        assert_eq!(
            answer(Error::MissingScope("api.read".into())),
            (
                StatusCode::FORBIDDEN,
                Some("Bearer error=\"insufficient_scope\"".into())
            )
        );
        // A browser's sign-in: no scheme describes it.
        for error in [
            Error::SignedOut,
            Error::NoRefreshToken,
            Error::MissingRole("admin".into()),
        ] {
            assert_eq!(answer(error).1, None);
        }
    }

    #[test]
    fn quoted_strings_carry_no_quote_backslash_or_non_ascii() {
        assert_eq!(quotable("alg \"none\" \\ é"), "alg 'none' ' ?");
    }
}
