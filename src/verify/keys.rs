//! Verys's key set: the keys of a JWKS document this client may verify
//! with, by `kid`. Parsing only; the cache that fetches and keeps them is
//! `protocol::jwks`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// More keys than this in one JWKS is not a key set but an attack on the
/// client's memory and time.
const MAX_KEYS: usize = 100;

/// One entry of a JWKS, as far as the rules look at it.
#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

/// A key id's entry: a key, or several different keys claiming the same id.
#[derive(Clone, Copy)]
pub(crate) enum Slot {
    Key(VerifyingKey),
    Ambiguous,
}

/// The usable keys of one JWKS document, sorted by `kid`: at most
/// [`MAX_KEYS`], so a binary search, which costs less per token than
/// hashing the `kid`.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<(String, Slot)>,
}

impl KeySet {
    /// Parses a JWKS document, keeping only keys this client may use:
    /// `kty` `OKP`, `crv` `Ed25519`, `use` absent or `sig`, `alg` absent or
    /// EdDSA, a 32-byte `x` that is a valid and not weak (small-order) point.
    /// A document with none of them is a key set all the same: the issuer
    /// says it publishes no key this client may use.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let set: JwkSet = serde_json::from_slice(body).map_err(|error| {
            Error::JwksFetch(format!(
                "not a jwks document: {}",
                crate::error::json_reason(&error)
            ))
        })?;
        if set.keys.len() > MAX_KEYS {
            return Err(Error::JwksFetch(format!(
                "the jwks lists {} keys, more than the {MAX_KEYS} accepted",
                set.keys.len()
            )));
        }
        let mut keys: Vec<(String, Slot)> = Vec::new();
        for value in set.keys {
            let Some((kid, key)) = usable_key(value) else {
                continue;
            };
            match keys.binary_search_by(|(other, _)| other.as_str().cmp(&kid)) {
                Ok(at) => {
                    let slot = &mut keys[at].1;
                    if !matches!(slot, Slot::Key(existing) if *existing == key) {
                        *slot = Slot::Ambiguous;
                    }
                }
                Err(at) => keys.insert(at, (kid, Slot::Key(key))),
            }
        }
        Ok(Self { keys })
    }

    /// How many usable keys the set holds.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key of this set is no longer published under its id in
    /// `newer`: a key withdrawn, or its id pointed at another key.
    pub(crate) fn loses_a_key_in(&self, newer: &KeySet) -> bool {
        self.keys.iter().any(|(kid, slot)| match slot {
            Slot::Key(key) => !matches!(newer.get(kid), Some(Slot::Key(now)) if now == *key),
            Slot::Ambiguous => false,
        })
    }

    /// The entry of `kid`.
    pub(crate) fn get(&self, kid: &str) -> Option<Slot> {
        let at = self
            .keys
            .binary_search_by(|(other, _)| other.as_str().cmp(kid))
            .ok()?;
        Some(self.keys[at].1)
    }
}

fn usable_key(value: serde_json::Value) -> Option<(String, VerifyingKey)> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    let usable = jwk.kty.as_deref() == Some("OKP")
        && jwk.crv.as_deref() == Some("Ed25519")
        && matches!(jwk.usage.as_deref(), None | Some("sig"))
        && matches!(jwk.alg.as_deref(), None | Some("EdDSA" | "Ed25519"));
    if !usable {
        return None;
    }
    let x = jwk.x?;
    let mut bytes = [0u8; 32];
    if URL_SAFE_NO_PAD.decode_slice(&x, &mut bytes).ok()? != 32 {
        return None;
    }
    let key = VerifyingKey::from_bytes(&bytes).ok()?;
    if key.is_weak() {
        return None;
    }
    let kid = jwk.kid.unwrap_or_else(|| thumbprint(&x));
    Some((kid, key))
}

/// The RFC 7638 thumbprint of an Ed25519 JWK, which Verys uses as `kid`; it
/// names keys that come without one.
pub(crate) fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    pub(crate) fn jwk(seed: u8, kid: &str) -> serde_json::Value {
        let x = URL_SAFE_NO_PAD.encode(
            SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .as_bytes(),
        );
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "use": "sig", "alg": "EdDSA", "kid": kid})
    }

    pub(crate) fn body(keys: Vec<serde_json::Value>) -> Vec<u8> {
        serde_json::json!({ "keys": keys }).to_string().into_bytes()
    }

    #[test]
    fn keeps_only_usable_keys() {
        let mut rsa = jwk(1, "rsa");
        rsa["kty"] = "RSA".into();
        let mut enc = jwk(2, "enc");
        enc["use"] = "enc".into();
        let mut x448 = jwk(3, "x448");
        x448["crv"] = "Ed448".into();
        let mut short = jwk(4, "short");
        short["x"] = "AAAA".into();
        let weak = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "weak",
            "x": URL_SAFE_NO_PAD.encode([1u8].iter().chain([0u8; 31].iter()).copied().collect::<Vec<u8>>())});
        let set = KeySet::parse(&body(vec![rsa, enc, x448, short, weak, jwk(5, "good")])).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(set.get("good").is_some());
    }

    #[test]
    /// RFC 8037 Appendix A.2 and A.3: the example Ed25519 key and its
    /// RFC 7638 thumbprint, the `kid` of a key that comes without one.
    fn missing_kid_is_the_rfc7638_thumbprint() {
        const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        const THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
        assert_eq!(thumbprint(X), THUMBPRINT);
        let key = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": X});
        let set = KeySet::parse(&body(vec![key])).unwrap();
        assert!(set.get(THUMBPRINT).is_some());
    }

    #[test]
    fn too_many_keys_are_refused() {
        let keys = (0..MAX_KEYS).map(|i| jwk(1, &i.to_string())).collect();
        assert!(
            KeySet::parse(&body(keys)).is_ok(),
            "the limit itself is accepted"
        );
        let keys = (0..=MAX_KEYS).map(|i| jwk(1, &i.to_string())).collect();
        assert!(matches!(
            KeySet::parse(&body(keys)),
            Err(Error::JwksFetch(_))
        ));
    }
}
