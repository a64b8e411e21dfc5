//! Deliberately broken tokens and canned responses, so that every check a client makes can be
//! seen failing.

use std::fmt;
use std::sync::Arc;

use serde_json::{Value, json};

use super::ids;
use super::signer::{self, Key, Keyring, b64};

/// A way to break a token the server issues; see
/// [`VerysServer::set_id_token_fault`](super::VerysServer::set_id_token_fault) and
/// [`VerysServer::set_access_token_fault`](super::VerysServer::set_access_token_fault).
///
/// Unless said otherwise, the token is still properly signed with the current key, so exactly one
/// rule is broken. The audience variants take the token's normal audience (the client id for an
/// ID token, the issuer or the exchange target for an access token) as "the client".
#[non_exhaustive]
#[derive(Clone)]
pub enum IdTokenFault {
    /// `nonce` is not the one sent to `/authorize` (ID tokens only).
    WrongNonce,
    /// `nonce` is left out (ID tokens only).
    NoNonce,
    /// `aud` names another client.
    WrongAudience,
    /// `iss` is another issuer.
    WrongIssuer,
    /// `exp` is an hour in the past.
    Expired,
    /// `iat` is an hour in the future (and `exp` five minutes after it).
    IssuedInFuture,
    /// The last byte of the signature is flipped.
    BadSignature,
    /// A valid signature by a key that is not in the JWKS, under the current key's `kid`.
    SignedByOtherKey,
    /// `at_hash` is the hash of another access token (ID tokens only).
    BadAtHash,
    /// `at_hash` is left out (ID tokens only).
    NoAtHash,
    /// The header's `kid` is in no JWKS; the signature is by the current key.
    UnknownKid,
    /// Header `alg: "none"` and an empty signature.
    AlgNone,
    /// Header `alg: "HS256"`, "signed" with HMAC-SHA256 keyed with the current public key's raw
    /// bytes: the classic key-confusion attack.
    AlgHs256,
    /// Header `alg: "RS256"` over an Ed25519 signature.
    AlgRs256,
    /// The header has no `alg`.
    NoAlg,
    /// `sub` is a fresh UUID, unlike the user's (catches refreshes that change identity).
    WrongSub,
    /// `aud` is `[client, "other"]` and there is no `azp`.
    AudArrayWithClient,
    /// `aud` is `[client, "other"]` and `azp` is the client: valid per OIDC Core.
    AudArrayWithAzp,
    /// `aud` is `[client, "other"]` and `azp` is `"other"`.
    WrongAzp,
    /// Edits the JOSE header and the claims (in that order) before the token is signed with the
    /// current key, for any breakage the other variants do not cover.
    Custom(Arc<TokenEdit>),
}

/// The edit of an [`IdTokenFault::Custom`]: receives the JOSE header, then the claims.
///
/// ```
/// use std::sync::Arc;
/// use verys_testing::IdTokenFault;
///
/// let fault = IdTokenFault::Custom(Arc::new(|_header, claims| {
///     claims["email"] = "mallory@example.com".into();
/// }));
/// assert_eq!(format!("{fault:?}"), "Custom(..)");
/// ```
pub type TokenEdit = dyn Fn(&mut Value, &mut Value) + Send + Sync;

impl fmt::Debug for IdTokenFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            IdTokenFault::WrongNonce => "WrongNonce",
            IdTokenFault::NoNonce => "NoNonce",
            IdTokenFault::WrongAudience => "WrongAudience",
            IdTokenFault::WrongIssuer => "WrongIssuer",
            IdTokenFault::Expired => "Expired",
            IdTokenFault::IssuedInFuture => "IssuedInFuture",
            IdTokenFault::BadSignature => "BadSignature",
            IdTokenFault::SignedByOtherKey => "SignedByOtherKey",
            IdTokenFault::BadAtHash => "BadAtHash",
            IdTokenFault::NoAtHash => "NoAtHash",
            IdTokenFault::UnknownKid => "UnknownKid",
            IdTokenFault::AlgNone => "AlgNone",
            IdTokenFault::AlgHs256 => "AlgHs256",
            IdTokenFault::AlgRs256 => "AlgRs256",
            IdTokenFault::NoAlg => "NoAlg",
            IdTokenFault::WrongSub => "WrongSub",
            IdTokenFault::AudArrayWithClient => "AudArrayWithClient",
            IdTokenFault::AudArrayWithAzp => "AudArrayWithAzp",
            IdTokenFault::WrongAzp => "WrongAzp",
            IdTokenFault::Custom(_) => return f.write_str("Custom(..)"),
        };
        f.write_str(name)
    }
}

/// Which of the two token kinds is being minted: some faults only make sense for ID tokens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    Id,
    Access,
}

enum Signing {
    Current,
    OtherKey,
    FlipLastByte,
    Empty,
    Hs256,
}

/// Signs `claims` with the current key, after breaking them as `fault` says.
pub(super) fn mint(
    keyring: &Keyring,
    mut header: Value,
    mut claims: Value,
    fault: Option<&IdTokenFault>,
    kind: TokenKind,
    now: i64,
) -> String {
    let mut signing = Signing::Current;
    let audience = claims.get("aud").cloned().unwrap_or(Value::Null);
    if let Some(fault) = fault {
        match fault {
            IdTokenFault::WrongNonce if kind == TokenKind::Id => {
                claims["nonce"] = json!(ids::opaque_secret());
            }
            IdTokenFault::NoNonce if kind == TokenKind::Id => remove(&mut claims, "nonce"),
            IdTokenFault::BadAtHash if kind == TokenKind::Id => {
                claims["at_hash"] = json!(signer::at_hash("not-the-access-token"));
            }
            IdTokenFault::NoAtHash if kind == TokenKind::Id => remove(&mut claims, "at_hash"),
            IdTokenFault::WrongNonce
            | IdTokenFault::NoNonce
            | IdTokenFault::BadAtHash
            | IdTokenFault::NoAtHash => {}
            IdTokenFault::WrongAudience => claims["aud"] = json!("some-other-client"),
            IdTokenFault::WrongIssuer => claims["iss"] = json!("https://impostor.example.com"),
            IdTokenFault::Expired => {
                claims["iat"] = json!(now - 3600 - 300);
                claims["exp"] = json!(now - 3600);
            }
            IdTokenFault::IssuedInFuture => {
                claims["iat"] = json!(now + 3600);
                claims["exp"] = json!(now + 3600 + 300);
            }
            IdTokenFault::BadSignature => signing = Signing::FlipLastByte,
            IdTokenFault::SignedByOtherKey => signing = Signing::OtherKey,
            IdTokenFault::UnknownKid => header["kid"] = json!(b64(rand::random::<[u8; 32]>())),
            IdTokenFault::AlgNone => {
                header["alg"] = json!("none");
                signing = Signing::Empty;
            }
            IdTokenFault::AlgHs256 => {
                header["alg"] = json!("HS256");
                signing = Signing::Hs256;
            }
            IdTokenFault::AlgRs256 => header["alg"] = json!("RS256"),
            IdTokenFault::NoAlg => remove(&mut header, "alg"),
            IdTokenFault::WrongSub => claims["sub"] = json!(ids::uuid()),
            IdTokenFault::AudArrayWithClient => {
                claims["aud"] = json!([audience, "other"]);
                remove(&mut claims, "azp");
            }
            IdTokenFault::AudArrayWithAzp => {
                claims["aud"] = json!([audience.clone(), "other"]);
                claims["azp"] = audience;
            }
            IdTokenFault::WrongAzp => {
                claims["aud"] = json!([audience, "other"]);
                claims["azp"] = json!("other");
            }
            IdTokenFault::Custom(edit) => edit(&mut header, &mut claims),
        }
    }
    let key = keyring.current();
    match signing {
        Signing::Current => signer::sign_jwt(key, &header, &claims),
        Signing::OtherKey => signer::sign_jwt(&Key::generate(), &header, &claims),
        Signing::FlipLastByte => {
            let input = signer::signing_input(&header, &claims);
            let mut signature = key.sign(input.as_bytes());
            signature[63] ^= 0x01;
            format!("{input}.{}", b64(signature))
        }
        Signing::Empty => format!("{}.", signer::signing_input(&header, &claims)),
        Signing::Hs256 => {
            let input = signer::signing_input(&header, &claims);
            let mac = signer::hmac_sha256(&key.public_bytes(), input.as_bytes());
            format!("{input}.{}", b64(mac))
        }
    }
}

fn remove(object: &mut Value, name: &str) {
    if let Some(map) = object.as_object_mut() {
        map.remove(name);
    }
}

/// A canned HTTP response, served by
/// [`VerysServer::override_response`](super::VerysServer::override_response) instead of the real
/// one (a proxy's HTML error page, a truncated body, a wrong content type...).
///
/// ```
/// use verys_testing::RawResponse;
///
/// let bad_gateway = RawResponse::new(502, "text/html", "<html>Bad Gateway</html>")
///     .header("Retry-After", "5");
/// assert_eq!(bad_gateway.status, 502);
/// ```
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// More headers, sent in this order; a `Content-Type` among them replaces
    /// [`content_type`](Self::content_type). The server adds `Content-Length`, `Date` and (unless
    /// given) `Server`; `Content-Length`, `Transfer-Encoding`, `Connection`, `Trailer` and
    /// `Upgrade` headers are ignored, the framing of the message being the server's.
    pub headers: Vec<(String, String)>,
    /// The body, sent verbatim.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A response with this status, `Content-Type` and body, and no other header.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        RawResponse {
            status,
            content_type: Some(content_type.to_owned()),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub(super) fn json(status: u16, body: &Value) -> Self {
        RawResponse::new(status, "application/json", body.to_string())
    }

    /// A `302 Found` to `location`.
    pub(super) fn redirect(location: &str) -> Self {
        RawResponse {
            status: 302,
            content_type: None,
            headers: vec![("Location".to_owned(), location.to_owned())],
            body: Vec::new(),
        }
    }
}
