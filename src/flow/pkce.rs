//! Random values of the authorization request: `state`, `nonce` and the PKCE
//! verifier with its S256 challenge (RFC 7636).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

use crate::randomness::Randomness;

/// `base64url(n random bytes)`, the shape of the reference client's values:
/// 32 bytes give the 43-character `state` and `nonce`, 64 bytes the
/// 86-character verifier.
pub(crate) fn random_value(randomness: &dyn Randomness, bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    randomness.fill(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// A PKCE code verifier: secret until the token request.
pub(crate) struct PkceVerifier(SecretString);

impl PkceVerifier {
    pub(crate) fn generate(randomness: &dyn Randomness) -> Self {
        Self(SecretString::from(random_value(randomness, 64)))
    }

    /// Accepts only what RFC 7636 4.1 allows, so a tampered session store
    /// cannot smuggle odd bytes into the token request.
    pub(crate) fn from_stored(value: String) -> Option<Self> {
        let valid = (43..=128).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        valid.then(|| Self(SecretString::from(value)))
    }

    /// The S256 challenge: `base64url(SHA-256(verifier))`.
    pub(crate) fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.expose_secret().as_bytes()))
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::randomness::SystemRandomness;

    #[test]
    fn values_have_the_reference_lengths_and_alphabet() {
        let state = random_value(&SystemRandomness, 32);
        let verifier = PkceVerifier::generate(&SystemRandomness);
        assert_eq!(state.len(), 43);
        assert_eq!(verifier.expose().len(), 86);
        assert!(
            verifier
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn debug_names_the_type_and_hides_the_value() {
        let verifier = PkceVerifier::generate(&SystemRandomness);
        assert_eq!(format!("{verifier:?}"), "PkceVerifier([REDACTED])");
    }

    #[test]
    fn challenge_matches_rfc7636_appendix_b() {
        let verifier =
            PkceVerifier::from_stored("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into())
                .unwrap();
        assert_eq!(
            verifier.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn stored_verifier_outside_rfc7636_is_refused() {
        assert!(PkceVerifier::from_stored("short".into()).is_none());
        assert!(PkceVerifier::from_stored(format!("{}&x", "a".repeat(50))).is_none());
        assert!(PkceVerifier::from_stored("a".repeat(129)).is_none());
    }

    #[test]
    fn debug_hides_the_verifier() {
        let verifier = PkceVerifier::generate(&SystemRandomness);
        assert!(!format!("{verifier:?}").contains(verifier.expose()));
    }
}
