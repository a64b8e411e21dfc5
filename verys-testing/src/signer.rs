//! Ed25519 keys, the JWKS, and JWS compact signing and verification.
//!
//! Written independently of the client's JWT code on purpose, so that each cross-checks the other.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256, Sha512};

pub(super) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One Ed25519 key pair and its RFC 7638 thumbprint.
#[derive(Clone)]
pub(super) struct Key {
    signing: SigningKey,
    kid: String,
}

impl Key {
    pub(crate) fn generate() -> Key {
        let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let x = b64(signing.verifying_key().to_bytes());
        // RFC 7638: the required members only, sorted, no whitespace.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = b64(Sha256::digest(canonical.as_bytes()));
        Key { signing, kid }
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn public_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64(self.public_bytes()),
            "use": "sig",
            "alg": "EdDSA",
            "kid": self.kid,
        })
    }
}

/// The keys the JWKS publishes; the first one signs.
pub(super) struct Keyring {
    published: Vec<Key>,
}

impl Keyring {
    pub(crate) fn new() -> Keyring {
        Keyring {
            published: vec![Key::generate()],
        }
    }

    pub(crate) fn current(&self) -> &Key {
        &self.published[0]
    }

    /// Replaces the signing key; `keep_old` leaves the previous keys published, the way a
    /// provider overlaps keys so that tokens already issued keep verifying.
    pub(crate) fn rotate(&mut self, keep_old: bool) {
        if !keep_old {
            self.published.clear();
        }
        self.published.insert(0, Key::generate());
    }

    pub(crate) fn find(&self, kid: &str) -> Option<&Key> {
        self.published.iter().find(|k| k.kid == kid)
    }

    pub(crate) fn jwks(&self) -> Value {
        json!({ "keys": self.published.iter().map(Key::jwk).collect::<Vec<_>>() })
    }
}

/// The two first segments of a JWS compact serialisation: what gets signed.
pub(super) fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

pub(super) fn sign_jwt(key: &Key, header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// HMAC-SHA256 (RFC 2104), for the `alg: HS256` key-confusion fault.
pub(super) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// OIDC `at_hash` for an EdDSA-signed token: Ed25519 hashes with SHA-512, so the left half of
/// SHA-512 (OIDC Core 3.1.3.6).
pub(super) fn at_hash(access_token: &str) -> String {
    b64(&Sha512::digest(access_token.as_bytes())[..32])
}

/// Why the server refused one of its own tokens.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rejection {
    Malformed,
    Invalid,
    Expired,
}

/// Verifies a token as Verys itself would: `alg` EdDSA, `kid` among the published keys, a strict
/// Ed25519 signature, this issuer, and `exp` after `now`. Returns the claims.
pub(super) fn verify(
    keyring: &Keyring,
    issuer: &str,
    token: &str,
    now: i64,
    check_expiry: bool,
) -> Result<Value, Rejection> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed);
    };
    let header = decode_json(h).ok_or(Rejection::Malformed)?;
    let claims = decode_json(c).ok_or(Rejection::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
        return Err(Rejection::Invalid);
    }
    let key = header
        .get("kid")
        .and_then(Value::as_str)
        .and_then(|kid| keyring.find(kid))
        .ok_or(Rejection::Invalid)?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(Rejection::Invalid)?;
    key.verifying_key()
        .verify_strict(format!("{h}.{c}").as_bytes(), &signature)
        .map_err(|_| Rejection::Invalid)?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(Rejection::Invalid);
    }
    if check_expiry {
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(Rejection::Malformed)?;
        if exp <= now {
            return Err(Rejection::Expired);
        }
    }
    Ok(claims)
}

fn decode_json(segment: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::hmac_sha256;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
