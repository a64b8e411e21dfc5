//! Compact JWS ([RFC 7515 §7.1]) signed with Ed25519 ([RFC 8037]): the
//! segments, the header rules and the signature. Both token kinds pass
//! through here; their claims are read afterwards, by
//! [`crate::verify::id_token`] and [`crate::verify::access`], only once the
//! signature holds. Knows nothing of HTTP: keys come in already chosen.
//!
//! Base64url is the `base64` crate's `URL_SAFE_NO_PAD`, which refuses
//! padding and non-zero trailing bits, so a segment has one spelling only;
//! the header is read by serde_json ([`crate::verify::object`]).
//!
//! # Signature policy
//!
//! Only `EdDSA` (and its fully-specified name `Ed25519`, [RFC 9864]) is
//! accepted ([RFC 8725 §3.1]); the algorithm is never taken from the token or
//! the key to choose a verification method. Two Ed25519 oddities are
//! refused:
//!
//! * weak keys (small-order points, which verify signatures for many
//!   messages) are refused once, when the JWKS is loaded
//!   ([`crate::verify::keys`]), so no such key ever reaches this module;
//! * non-canonical signatures: `ed25519-dalek`'s `verify` refuses an `s` that
//!   is not reduced and compares the recomputed `R` with the signature's
//!   encoding byte for byte, so a signature has a single valid encoding.
//!
//! `verify_strict` would redo the weak-key check on every call and also refuse
//! small-order `R` values, which no signer holding a non-weak key's secret
//! can be tricked into accepting as a forgery. With weak keys filtered at load
//! time, plain `verify` gives the same unforgeability and costs less per
//! token; `benches/verify.rs` measures both. The public Ed25519 vectors
//! (Wycheproof, ed25519-speccheck) are checked against this policy in
//! `src/verify/vectors.rs`: it differs from `verify_strict` on one
//! speccheck case only, a small-order `R` under a key of mixed order.
//!
//! # Token types
//!
//! Verys writes `typ: JWT` on ID tokens and access tokens alike, signed by the
//! same key, so the header cannot tell the kinds apart and each kind's rules
//! refuse the other kind by its claims ([RFC 8725 §3.12]; see
//! [`crate::verify::claims`]). [RFC 9068] access tokens say `typ: at+jwt`
//! instead: once Verys writes it, the `typ` rule here is where each verifier
//! requires its own type (`at+jwt` for the resource server, `JWT` or none for
//! ID tokens) and refuses the other before any claim is read, the explicit
//! typing of [RFC 8725 §3.11].
//!
//! [RFC 7515 §7.1]: https://www.rfc-editor.org/rfc/rfc7515#section-7.1
//! [RFC 8037]: https://www.rfc-editor.org/rfc/rfc8037
//! [RFC 9864]: https://www.rfc-editor.org/rfc/rfc9864
//! [RFC 8725 §3.1]: https://www.rfc-editor.org/rfc/rfc8725#section-3.1
//! [RFC 8725 §3.11]: https://www.rfc-editor.org/rfc/rfc8725#section-3.11
//! [RFC 8725 §3.12]: https://www.rfc-editor.org/rfc/rfc8725#section-3.12
//! [RFC 9068]: https://www.rfc-editor.org/rfc/rfc9068

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde::de::{IgnoredAny, MapAccess};
use sha2::{Digest, Sha512};
use std::borrow::Cow;

use crate::error::TokenRule;
use crate::verify::object::{self, Member, Members, Text};

/// The JOSE header members the rules look at.
#[derive(Default)]
struct Header<'a> {
    alg: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
    kid: Option<Cow<'a, str>>,
    /// A `crit` member other than `null`.
    crit: bool,
}

impl<'de> Members<'de> for Header<'de> {
    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        value: Member<'_, 'de, A>,
    ) -> Result<Option<u32>, A::Error> {
        let text = |value: Option<Text<'de>>| value.map(|Text(text)| text);
        Ok(Some(match &*name {
            "alg" => {
                self.alg = text(value.read("alg")?);
                0
            }
            "typ" => {
                self.typ = text(value.read("typ")?);
                1
            }
            "kid" => {
                self.kid = text(value.read("kid")?);
                2
            }
            "crit" => {
                self.crit = value.read::<Option<IgnoredAny>>("crit")?.is_some();
                3
            }
            _ => return value.skip().map(|()| None),
        }))
    }
}

/// A compact JWS split, its header checked and its segments decoded; the
/// signature not yet verified, the claims not yet read.
pub(crate) struct Jws<'a> {
    signing_input: &'a str,
    /// The claims segment, decoded: base64url is read before the signature
    /// is checked (it holds no meaning to act on), JSON only after.
    claims: Vec<u8>,
    signature: Signature,
    kid: String,
}

const THREE_SEGMENTS: TokenRule = TokenRule::Malformed("a compact jws has three segments");
const NOT_BASE64URL: TokenRule = TokenRule::Malformed("a segment is not unpadded base64url");
const BAD_SIGNATURE: TokenRule = TokenRule::Malformed("signature is not 64 base64url bytes");

/// Splits `token`, applies the header rules (`alg` `EdDSA` or `Ed25519`,
/// `typ` `JWT` when present, no `crit`, a `kid`) and decodes the signature
/// and claims segments.
pub(crate) fn parse(token: &str) -> Result<Jws<'_>, TokenRule> {
    // The segments are found from both ends, so the long claims segment is
    // not scanned for dots: one inside it is a character base64url refuses.
    // A token is counted only once refused, to name the rule it broke.
    parse_segments(token).map_err(|rule| {
        if token.bytes().filter(|&b| b == b'.').count() == 2 {
            rule
        } else {
            THREE_SEGMENTS
        }
    })
}

fn parse_segments(token: &str) -> Result<Jws<'_>, TokenRule> {
    let (Some(first), Some(last)) = (token.find('.'), token.rfind('.')) else {
        return Err(THREE_SEGMENTS);
    };
    if first == last {
        return Err(THREE_SEGMENTS);
    }
    let (header, claims, signature) =
        (&token[..first], &token[first + 1..last], &token[last + 1..]);
    let kid = read_header(header)?;
    let signature = decode_signature(signature)?;
    Ok(Jws {
        signing_input: &token[..last],
        claims: URL_SAFE_NO_PAD.decode(claims).map_err(|_| NOT_BASE64URL)?,
        signature,
        kid,
    })
}

/// Decodes a signature segment: exactly 64 bytes of unpadded base64url.
pub(crate) fn decode_signature(segment: &str) -> Result<Signature, TokenRule> {
    let mut bytes = [0u8; 64];
    match URL_SAFE_NO_PAD.decode_slice(segment, &mut bytes) {
        Ok(64) => Ok(Signature::from_bytes(&bytes)),
        _ => Err(BAD_SIGNATURE),
    }
}

/// The crate's one Ed25519 check, over any message. The key has passed the
/// JWKS filters (so it is not weak) and the policy is this module's
/// ("Signature policy" above). [`Jws::verify`] calls it with the signing
/// input; the public test vectors (`src/verify/vectors.rs`), whose messages
/// are arbitrary bytes that no signing input can equal, call it directly.
pub(crate) fn check_signature(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), TokenRule> {
    key.verify(message, signature)
        .map_err(|_| TokenRule::Signature)
}

/// The JWS algorithms of the IANA registry, which a refusal may name.
const ALGORITHMS: [&str; 20] = [
    "none",
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "ES256K",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
    "Ed25519",
    "Ed448",
    "ML-DSA-44",
    "ML-DSA-65",
    "ML-DSA-87",
];

/// Token types in use, which a refusal may name.
const TYPES: [&str; 8] = [
    "at+jwt",
    "application/at+jwt",
    "logout+jwt",
    "secevent+jwt",
    "dpop+jwt",
    "token-introspection+jwt",
    "JOSE",
    "JOSE+JSON",
];

/// `value` if it is one of the `known` names, `unrecognized` otherwise: the
/// header is anyone's to write (a bearer token is), and an error, so a log
/// line, repeats no text of theirs.
fn named(value: &str, known: &[&str]) -> String {
    known
        .iter()
        .find(|name| name.eq_ignore_ascii_case(value))
        .map_or("unrecognized", |name| name)
        .to_owned()
}

/// Decodes a header segment and applies the header rules; the `kid`.
fn read_header(segment: &str) -> Result<String, TokenRule> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| NOT_BASE64URL)?;
    let header: Header<'_> = object::read(&bytes).map_err(|reason| malformed("header", reason))?;
    match header.alg.as_deref() {
        Some("EdDSA" | "Ed25519") => {}
        other => {
            return Err(TokenRule::Algorithm(
                other.map(|alg| named(alg, &ALGORITHMS)),
            ));
        }
    }
    if let Some(typ) = header.typ
        && !typ.eq_ignore_ascii_case("JWT")
    {
        return Err(TokenRule::Type(named(&typ, &TYPES)));
    }
    if header.crit {
        return Err(TokenRule::CriticalHeader);
    }
    header
        .kid
        .map(Cow::into_owned)
        .ok_or(TokenRule::MissingKeyId)
}

impl Jws<'_> {
    /// The `kid` header, which chooses the key: for the tests and fuzz
    /// targets; an operation takes it with [`Jws::take_kid`].
    #[cfg(any(test, fuzzing))]
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Moves the `kid` out, for the key lookup, rather than copying it:
    /// [`Jws::kid`] reads empty afterwards.
    pub(crate) fn take_kid(&mut self) -> String {
        std::mem::take(&mut self.kid)
    }

    /// Verifies the signature; the claims' bytes, to be read only now.
    pub(crate) fn verify(self, key: &VerifyingKey) -> Result<Vec<u8>, TokenRule> {
        check_signature(key, self.signing_input.as_bytes(), &self.signature)?;
        Ok(self.claims)
    }

    /// The claims' bytes without verifying the signature: for the parser
    /// properties and fuzz targets only, which cannot sign their input.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn claims_unverified(&self) -> &[u8] {
        &self.claims
    }
}

/// A header or claims text that is not the JSON the rules need.
pub(crate) fn malformed(part: &'static str, reason: String) -> TokenRule {
    TokenRule::MalformedJson { part, reason }
}

/// `at_hash` for an Ed25519-signed token: base64url of the left half of
/// SHA-512 over the ASCII access token ([OpenID Connect Core 3.1.3.6]).
///
/// [OpenID Connect Core 3.1.3.6]: https://openid.net/specs/openid-connect-core-1_0.html#CodeIDToken
pub(crate) fn access_token_hash(access_token: &str) -> String {
    let digest = Sha512::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..32])
}

/// Compares two strings in time independent of where they first differ, so
/// a callback `state` cannot be guessed byte by byte.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn b64(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn sign(key: &SigningKey, header: serde_json::Value, claims: serde_json::Value) -> String {
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn header() -> serde_json::Value {
        serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"})
    }

    #[test]
    fn verifies_a_well_formed_token() {
        let token = sign(&key(), header(), serde_json::json!({"sub": "u"}));
        let jws = parse(&token).unwrap();
        assert_eq!(jws.kid(), "k1");
        // What the parser properties and fuzz targets read is what a
        // verification would hand on.
        assert_eq!(jws.claims_unverified(), br#"{"sub":"u"}"#);
        let claims = jws.verify(&key().verifying_key()).unwrap();
        assert_eq!(claims, br#"{"sub":"u"}"#);
    }

    #[test]
    fn header_rules_name_the_rule() {
        let claims = serde_json::json!({});
        let with = |h| sign(&key(), h, claims.clone());
        let none = with(serde_json::json!({"alg": "none", "kid": "k1"}));
        assert_eq!(
            parse(&none).err(),
            Some(TokenRule::Algorithm(Some("none".into())))
        );
        let missing = with(serde_json::json!({"kid": "k1"}));
        assert_eq!(parse(&missing).err(), Some(TokenRule::Algorithm(None)));
        let typ = with(serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}));
        assert_eq!(parse(&typ).err(), Some(TokenRule::Type("at+jwt".into())));
        let crit = with(serde_json::json!({"alg": "EdDSA", "kid": "k1", "crit": ["x"]}));
        assert_eq!(parse(&crit).err(), Some(TokenRule::CriticalHeader));
        let null_crit = with(serde_json::json!({"alg": "EdDSA", "kid": "k1", "crit": null}));
        assert_eq!(parse(&null_crit).unwrap().kid(), "k1");
        let no_kid = with(serde_json::json!({"alg": "Ed25519"}));
        assert_eq!(parse(&no_kid).err(), Some(TokenRule::MissingKeyId));
        // A value of the token's own is not repeated.
        let chosen = "x".repeat(8000);
        let long_alg = with(serde_json::json!({"alg": chosen, "kid": "k1"}));
        assert_eq!(
            parse(&long_alg).err(),
            Some(TokenRule::Algorithm(Some("unrecognized".into())))
        );
        let secret_typ = with(
            serde_json::json!({"alg": "EdDSA", "typ": "conf-secret/with+odd=chars", "kid": "k1"}),
        );
        assert_eq!(
            parse(&secret_typ).err(),
            Some(TokenRule::Type("unrecognized".into()))
        );
        let escaped = sign(
            &key(),
            serde_json::json!({"alg": "EdDSA", "kid": "k\u{e9}"}),
            claims.clone(),
        );
        assert_eq!(parse(&escaped).unwrap().kid(), "k\u{e9}");
    }

    #[test]
    fn a_repeated_header_member_is_refused_before_any_rule() {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","alg":"EdDSA","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]));
        assert!(matches!(
            parse(&token),
            Err(TokenRule::MalformedJson { part: "header", reason }) if reason.contains("twice")
        ));
    }

    #[test]
    fn wrong_key_fails_the_signature_rule() {
        let token = sign(&key(), header(), serde_json::json!({}));
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        let result = parse(&token).unwrap().verify(&other);
        assert_eq!(result.err(), Some(TokenRule::Signature));
    }

    #[test]
    fn segment_count_and_encoding_are_checked() {
        let token = sign(&key(), header(), serde_json::json!({"sub": "someone"}));
        for wrong_count in [
            "a.b".to_owned(),
            String::new(),
            format!("{token}.x"),
            format!("x.{token}"),
            token.replacen('.', ".e30.", 1),
        ] {
            assert_eq!(
                parse(&wrong_count).err(),
                Some(THREE_SEGMENTS),
                "{wrong_count}"
            );
        }
        let padded = token.replacen('.', "=.", 1);
        assert_eq!(parse(&padded).err(), Some(NOT_BASE64URL));
        let (header, rest) = token.split_once('.').unwrap();
        let padded_claims = format!("{header}.{}", rest.replacen('.', "=.", 1));
        assert_eq!(parse(&padded_claims).err(), Some(NOT_BASE64URL));
        let (input, signature) = token.rsplit_once('.').unwrap();
        for bad in [&signature[1..], "", &format!("{signature}AA")] {
            let wrong = format!("{input}.{bad}");
            assert_eq!(parse(&wrong).err(), Some(BAD_SIGNATURE), "{bad}");
        }
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha512() {
        // The left half of SHA-512("token"), computed outside this crate
        // (Python's hashlib).
        assert_eq!(
            access_token_hash("token"),
            "ImXaughy_DrvFp0Hk2XlkPDLyO1GwqeYTIpkKAPP2Ww"
        );
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
