//! Compact JWS parsing, Ed25519 signature verification and the claim rules
//! shared by ID tokens and access tokens (OpenID Connect Core 3.1.3.7,
//! RFC 8725). Knows nothing of HTTP: keys come in already chosen.
//!
//! # Signature policy
//!
//! Only `EdDSA` (and its fully-specified name `Ed25519`, RFC 9864) is
//! accepted; the algorithm is never taken from the token or the key to choose
//! a verification method. Two Ed25519 oddities are refused:
//!
//! * weak keys (small-order points, which verify signatures for many
//!   messages) are refused once, when the JWKS is loaded
//!   ([`crate::verify::jwks`]), so no such key ever reaches this module;
//! * non-canonical signatures: `ed25519-dalek`'s `verify` refuses an `s` that
//!   is not reduced and compares the recomputed `R` with the signature's
//!   encoding byte for byte, so a signature has a single valid encoding.
//!
//! `verify_strict` would redo the weak-key check on every call and also refuse
//! small-order `R` values, which no signer holding a non-weak key's secret
//! can be tricked into accepting as a forgery. With weak keys filtered at load
//! time, plain `verify` gives the same unforgeability and costs less per
//! token; `benches/verify.rs` measures both.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha512};
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use crate::error::TokenRule;
use crate::verify::base64url;
use crate::verify::json::{self, FromObject, Object};

/// The JOSE header fields the rules look at, borrowed from the decoded
/// header.
struct Header<'a> {
    alg: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
    kid: Option<Cow<'a, str>>,
    /// A `crit` member other than `null`.
    crit: bool,
}

impl<'a> Header<'a> {
    fn read(mut object: Object<'a>) -> Result<Self, json::Error> {
        let mut header = Header {
            alg: None,
            typ: None,
            kid: None,
            crit: false,
        };
        while let Some(name) = object.next_name()? {
            match &*name {
                "alg" => header.alg = object.optional_string()?,
                "typ" => header.typ = object.optional_string()?,
                "kid" => header.kid = object.optional_string()?,
                "crit" => header.crit = !object.null()?,
                _ => {}
            }
        }
        Ok(header)
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
    kid: Rc<str>,
}

thread_local! {
    /// The last header segment that passed the header rules on this thread,
    /// with its `kid`. An issuer writes the same header on every token it
    /// signs with one key, so most tokens are spared decoding and reading
    /// it again: the rules are a function of the segment's bytes alone.
    static LAST_HEADER: RefCell<(String, Rc<str>)> = RefCell::new((String::new(), Rc::from("")));
}

/// Longer headers are read every time rather than kept in every thread.
const MAX_REMEMBERED_HEADER: usize = 1024;

const THREE_SEGMENTS: TokenRule = TokenRule::Malformed("a compact jws has three segments");

/// Splits `token`, applies the header rules (`alg` `EdDSA` or `Ed25519`,
/// `typ` `JWT` when present, no `crit`, a `kid`) and decodes the signature
/// and claims segments.
pub(crate) fn parse(token: &str) -> Result<Jws<'_>, TokenRule> {
    // The segments are found from both ends, and a dot in between is then
    // a character the claims segment may not hold: a token is only scanned
    // for dots again when it is refused, to name the right rule.
    parse_segments(token).map_err(|rule| {
        if token.bytes().filter(|&b| b == b'.').count() == 2 {
            rule
        } else {
            THREE_SEGMENTS
        }
    })
}

fn parse_segments(token: &str) -> Result<Jws<'_>, TokenRule> {
    let (Some((header_segment, rest)), Some((_, signature))) =
        (token.split_once('.'), token.rsplit_once('.'))
    else {
        return Err(THREE_SEGMENTS);
    };
    let Some(payload) = rest
        .len()
        .checked_sub(signature.len() + 1)
        .map(|n| &rest[..n])
    else {
        return Err(THREE_SEGMENTS);
    };
    let kid = match LAST_HEADER.with_borrow(|(last, kid)| {
        (!last.is_empty() && last == header_segment).then(|| Rc::clone(kid))
    }) {
        Some(kid) => kid,
        None => {
            let kid: Rc<str> = Rc::from(read_header(header_segment)?);
            if header_segment.len() <= MAX_REMEMBERED_HEADER {
                LAST_HEADER.with_borrow_mut(|(last, last_kid)| {
                    header_segment.clone_into(last);
                    *last_kid = Rc::clone(&kid);
                });
            }
            kid
        }
    };
    let mut bytes = [0u8; 64];
    match base64url::decoded_len(signature.as_bytes()) {
        Some(64) if base64url::decode(signature.as_bytes(), &mut bytes).is_ok() => {}
        _ => return Err(TokenRule::Malformed("signature is not 64 base64url bytes")),
    }
    Ok(Jws {
        signing_input: &token[..header_segment.len() + 1 + payload.len()],
        claims: decode_segment(payload)?,
        signature: Signature::from_bytes(&bytes),
        kid,
    })
}

fn decode_segment(segment: &str) -> Result<Vec<u8>, TokenRule> {
    let not_base64url = || TokenRule::Malformed("a segment is not unpadded base64url");
    let length = base64url::decoded_len(segment.as_bytes()).ok_or_else(not_base64url)?;
    #[expect(
        clippy::slow_vector_initialization,
        reason = "for a few hundred bytes, glibc's calloc (behind `vec![0; n]`) costs more than malloc and a fill: it skips the per-thread cache"
    )]
    let mut bytes = Vec::with_capacity(length);
    bytes.resize(length, 0);
    let length = base64url::decode(segment.as_bytes(), &mut bytes).map_err(|_| not_base64url())?;
    bytes.truncate(length);
    Ok(bytes)
}

/// Decodes a header segment and applies the header rules; the `kid`.
fn read_header(segment: &str) -> Result<String, TokenRule> {
    let bytes = decode_segment(segment)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| not_utf8("header"))?;
    let header = Object::new(text)
        .and_then(Header::read)
        .map_err(|error| malformed("header", &error))?;
    match header.alg.as_deref() {
        Some("EdDSA" | "Ed25519") => {}
        other => return Err(TokenRule::Algorithm(other.map(str::to_owned))),
    }
    if let Some(typ) = header.typ {
        if !typ.eq_ignore_ascii_case("JWT") {
            return Err(TokenRule::Type(typ.into_owned()));
        }
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
    /// The `kid` header, which chooses the key.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Verifies the signature, then reads the claims (never before the
    /// signature holds); also hands back their JSON text.
    pub(crate) fn verify<C: FromObject>(
        self,
        key: &VerifyingKey,
    ) -> Result<(C, String), TokenRule> {
        key.verify(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| TokenRule::Signature)?;
        let text = String::from_utf8(self.claims).map_err(|_| not_utf8("claims"))?;
        let claims = read_claims(&text)?;
        Ok((claims, text))
    }

    /// The claims without verifying the signature: for the parser
    /// properties and fuzz targets only, which cannot sign their input.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn decode_unverified<C: FromObject>(&self) -> Result<(C, String), TokenRule> {
        let text = self.claims_text()?;
        Ok((read_claims(text)?, text.to_owned()))
    }

    /// The claims' text, unverified: for the parser properties and fuzz
    /// targets only.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn claims_text(&self) -> Result<&str, TokenRule> {
        std::str::from_utf8(&self.claims).map_err(|_| not_utf8("claims"))
    }
}

fn read_claims<C: FromObject>(text: &str) -> Result<C, TokenRule> {
    json::read(text).map_err(|error| malformed("claims", &error))
}

fn not_utf8(part: &'static str) -> TokenRule {
    TokenRule::MalformedJson {
        part,
        reason: "not utf-8".into(),
    }
}

fn malformed(part: &'static str, error: &json::Error) -> TokenRule {
    TokenRule::MalformedJson {
        part,
        reason: error.to_string(),
    }
}

/// The verified claims text as a JSON object (empty if serde_json cannot
/// hold it, such as numbers beyond the range of `f64`).
pub(crate) fn claims_map(text: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The time rules: `exp` in the future and `iat` not in the future, each
/// within `leeway` seconds. Saturating arithmetic keeps a huge `exp` from
/// wrapping around into the past.
pub(crate) fn check_times(exp: u64, iat: u64, now: u64, leeway: u64) -> Result<(), TokenRule> {
    if exp.saturating_add(leeway) <= now {
        return Err(TokenRule::Expired);
    }
    if iat > now.saturating_add(leeway) {
        return Err(TokenRule::IssuedInFuture);
    }
    Ok(())
}

/// `at_hash` for an Ed25519-signed token: base64url of the left half of
/// SHA-512 over the ASCII access token (OpenID Connect Core 3.1.3.6).
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

    /// The `sub` claim alone.
    #[derive(Debug)]
    struct Subject(Option<String>);

    impl FromObject for Subject {
        fn from_object(mut object: Object<'_>) -> Result<Self, json::Error> {
            let mut sub = None;
            while let Some(name) = object.next_name()? {
                if name == "sub" {
                    sub = Some(object.string()?.into_owned());
                }
            }
            Ok(Subject(sub))
        }
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
        let (claims, text): (Subject, _) = jws.verify(&key().verifying_key()).unwrap();
        assert_eq!(text, r#"{"sub":"u"}"#);
        assert_eq!(claims.0.as_deref(), Some("u"));
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
        let no_kid = with(serde_json::json!({"alg": "Ed25519"}));
        assert_eq!(parse(&no_kid).err(), Some(TokenRule::MissingKeyId));
    }

    #[test]
    fn a_remembered_header_stands_for_its_own_bytes_only() {
        let claims = serde_json::json!({"sub": "u"});
        let k1 = sign(&key(), header(), claims.clone());
        let k2 = sign(
            &key(),
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "k2"}),
            claims.clone(),
        );
        let none = sign(
            &key(),
            serde_json::json!({"alg": "none", "typ": "JWT", "kid": "k1"}),
            claims,
        );
        for _ in 0..2 {
            assert_eq!(parse(&k1).unwrap().kid(), "k1");
            assert_eq!(parse(&k1).unwrap().kid(), "k1");
            assert_eq!(parse(&k2).unwrap().kid(), "k2");
            assert_eq!(
                parse(&none).err(),
                Some(TokenRule::Algorithm(Some("none".into())))
            );
            // The refused header was not remembered in place of the last one.
            assert_eq!(parse(&k2).unwrap().kid(), "k2");
        }
    }

    #[test]
    fn a_long_header_is_read_but_not_remembered() {
        let claims = serde_json::json!({"sub": "u"});
        let short = sign(&key(), header(), claims.clone());
        let padding = "p".repeat(MAX_REMEMBERED_HEADER);
        let long = sign(
            &key(),
            serde_json::json!({"alg": "EdDSA", "kid": "k3", "x": padding}),
            claims,
        );
        assert_eq!(parse(&short).unwrap().kid(), "k1");
        assert_eq!(parse(&long).unwrap().kid(), "k3");
        let remembered = LAST_HEADER.with_borrow(|(last, kid)| (last.len(), kid.to_string()));
        assert!(remembered.0 <= MAX_REMEMBERED_HEADER, "{remembered:?}");
        assert_eq!(remembered.1, "k1");
    }

    #[test]
    fn wrong_key_fails_the_signature_rule() {
        let token = sign(&key(), header(), serde_json::json!({}));
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        let result = parse(&token).unwrap().verify::<Subject>(&other);
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
            // A dot inside the claims segment, found from neither end.
            token.replacen('.', ".e30.", 1),
        ] {
            assert_eq!(
                parse(&wrong_count).err(),
                Some(THREE_SEGMENTS),
                "{wrong_count}"
            );
        }
        let padded = token.replacen('.', "=.", 1);
        assert!(matches!(parse(&padded), Err(TokenRule::Malformed(_))));
        let (header, rest) = token.split_once('.').unwrap();
        let padded_claims = format!("{header}.{}", rest.replacen('.', "=.", 1));
        assert_eq!(
            parse(&padded_claims).err(),
            Some(TokenRule::Malformed("a segment is not unpadded base64url"))
        );
    }

    #[test]
    fn time_rules_respect_leeway_and_saturate() {
        assert_eq!(check_times(100, 50, 159, 60), Ok(()));
        assert_eq!(check_times(100, 50, 160, 60), Err(TokenRule::Expired));
        assert_eq!(
            check_times(500, 261, 200, 60),
            Err(TokenRule::IssuedInFuture)
        );
        assert_eq!(check_times(u64::MAX, 0, 200, 60), Ok(()));
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha512() {
        let digest = Sha512::digest(b"token");
        assert_eq!(
            access_token_hash("token"),
            URL_SAFE_NO_PAD.encode(&digest[..32])
        );
        assert_eq!(access_token_hash("token").len(), 43);
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
