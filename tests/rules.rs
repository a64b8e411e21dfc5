//! The rule table: one test per client-side ID token rule of OpenID Connect
//! Core 3.1.3.7 and RFC 8725, each feeding the client a token through the
//! embedded Verys that breaks exactly that rule, and naming the error it must
//! give. The README's "What is checked" table lists them.
//!
//! Tokens come two ways. Claim and header rules use the server's own fault
//! switches (`IdTokenFault`), so the real Verys mints and signs them. Rules
//! about the bytes of the token (segments, base64url, JSON shape, duplicate
//! names, signature encoding) need tokens no JSON library would write: the
//! forger below signs exact bytes with a key of its own, publishes that key
//! as the server's JWKS and serves the token from the server's `/token`. Its
//! control test (`forged_token_breaking_no_rule_is_accepted`) shows that a
//! forged token is refused only for the rule it breaks.
//!
//! Covered elsewhere, and listed in the README's table: unknown `kid`
//! (`flow.rs::unknown_kid_refetches_within_the_budget_then_fails`), several
//! audiences without trust or with a wrong `azp`
//! (`flow.rs::several_audiences_need_trust_and_a_matching_azp`),
//! a missing `at_hash` (`flow.rs::missing_at_hash_is_accepted_unless_required`).

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha512};

use common::{Flavor, callback, confidential_builder};
use verys_client::{Error, TokenRule, Tokens};
use verys_testing::{IdTokenFault, RawResponse, VerysServer, seed};

scenarios!(
    forged_token_breaking_no_rule_is_accepted,
    // Header: algorithm, type, critical extensions, key id.
    alg_none_is_refused,
    alg_hs256_keyed_with_the_public_key_is_refused,
    alg_rs256_is_refused,
    missing_alg_is_refused,
    fully_specified_alg_ed25519_is_accepted,
    typ_other_than_jwt_is_refused,
    typ_absent_is_accepted,
    crit_header_is_refused,
    missing_kid_is_refused,
    kid_of_a_key_that_is_not_okp_ed25519_is_refused,
    weak_key_in_the_jwks_is_never_used,
    // Signature.
    signature_by_another_key_is_refused,
    flipped_signature_bit_is_refused,
    non_canonical_signature_is_refused,
    signature_with_nonzero_trailing_bits_is_refused,
    // Compact serialization and JSON.
    more_than_three_segments_are_refused,
    fewer_than_three_segments_are_refused,
    non_base64url_characters_are_refused,
    padding_is_refused,
    header_that_is_not_a_json_object_is_refused,
    claims_that_are_not_a_json_object_are_refused,
    duplicate_header_names_are_refused,
    duplicate_claim_names_are_refused,
    // Claims.
    issuer_mismatch_is_refused,
    missing_aud_is_refused,
    different_aud_is_refused,
    aud_array_without_our_client_id_is_refused,
    azp_naming_another_client_is_refused_with_a_single_audience,
    exp_past_beyond_leeway_is_refused,
    exp_past_within_leeway_is_accepted,
    iat_in_the_future_beyond_leeway_is_refused,
    iat_in_the_future_within_leeway_is_accepted,
    nbf_in_the_future_beyond_leeway_is_refused,
    exp_as_a_string_is_refused,
    exp_as_a_float_is_refused,
    negative_exp_is_refused,
    exp_beyond_u64_is_refused,
    exp_at_u64_max_does_not_overflow,
    missing_nonce_is_refused,
    different_nonce_is_refused,
    wrong_at_hash_is_refused,
    auth_time_older_than_max_age_is_refused,
);

// ---------------------------------------------------------------------------
// Tokens minted by the embedded Verys, broken by one of its fault switches.

/// Signs in once, the server breaking the ID token with `fault`.
fn sign_in_with<F: Flavor>(fault: IdTokenFault) -> Result<Tokens, Error> {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    server.set_id_token_fault(Some(fault));
    let result = F::exchange_code(&client, callback(&server, &client));
    if let Err(error) = &result {
        assert_quotes_no_secret(error, &[seed::CONFIDENTIAL_CLIENT_SECRET]);
    }
    result
}

/// A fault that edits the JOSE header and the claims before the server signs.
fn edit(edit: impl Fn(&mut Value, &mut Value) + Send + Sync + 'static) -> IdTokenFault {
    IdTokenFault::Custom(Arc::new(edit))
}

fn edit_claims(change: impl Fn(&mut Value) + Send + Sync + 'static) -> IdTokenFault {
    edit(move |_, claims| change(claims))
}

fn edit_header(change: impl Fn(&mut Value) + Send + Sync + 'static) -> IdTokenFault {
    edit(move |header, _| change(header))
}

/// The `iat` the server gave the token: its "now" when it minted it.
fn minted_at(claims: &Value) -> i64 {
    claims["iat"].as_i64().expect("the server's iat")
}

fn refused<T: std::fmt::Debug>(result: Result<T, Error>) -> Error {
    match result {
        Err(error) => error,
        Ok(value) => panic!("a token breaking a rule was accepted: {value:?}"),
    }
}

fn assert_quotes_no_secret(error: &Error, secrets: &[&str]) {
    for text in [error.to_string(), format!("{error:?}")] {
        for secret in secrets {
            assert!(!text.contains(secret), "{text} quotes a secret");
        }
    }
}

// ---------------------------------------------------------------------------
// Tokens forged byte by byte, served by the embedded Verys.

const FORGED_KID: &str = "forged-key";
const ACCESS_TOKEN: &str = "forged-access-token-that-is-a-secret";
const HEADER: &str = r#"{"alg":"EdDSA","typ":"JWT","kid":"forged-key"}"#;

fn forger_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwk(x: &[u8], kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x), "use": "sig", "alg": "EdDSA", "kid": kid})
}

fn forged_jwks() -> String {
    json!({ "keys": [jwk(forger_key().verifying_key().as_bytes(), FORGED_KID)] }).to_string()
}

/// Signs `header_segment.payload_segment` (taken as they are) with the
/// forger's key.
fn sign_segments(header_segment: &str, payload_segment: &str) -> String {
    let input = format!("{header_segment}.{payload_segment}");
    let signature = forger_key().sign(input.as_bytes());
    format!("{input}.{}", b64(signature.to_bytes()))
}

/// Signs the exact JSON texts `header` and `claims`.
fn sign_texts(header: &str, claims: &str) -> String {
    sign_segments(&b64(header), &b64(claims))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn at_hash(access_token: &str) -> String {
    b64(&Sha512::digest(access_token.as_bytes())[..32])
}

/// Claims that break no rule for the confidential client's flow with `nonce`.
fn good_claims(issuer: &str, nonce: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "sub": seed::USER_SUB,
        "aud": seed::CONFIDENTIAL_CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "nonce": nonce,
        "at_hash": at_hash(ACCESS_TOKEN),
    })
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .unwrap()
}

/// Signs in with the ID token `forge` makes from claims that break no rule
/// (with this flow's nonce). The server publishes `jwks` and answers `/token`
/// with the forged token. The error, if any, must not quote the token.
fn sign_in_forged_with_jwks<F: Flavor>(
    jwks: String,
    forge: impl FnOnce(Value) -> String,
) -> Result<Tokens, Error> {
    let server = VerysServer::start();
    server.set_jwks_body(Some(jwks));
    let client = F::build(confidential_builder(&server)).unwrap();
    let pending = client.authorize();
    let nonce = query_param(pending.url(), "nonce");
    let callback_url = server.login(pending.url());
    let received = pending.receive(&callback_url).unwrap();
    let id_token = forge(good_claims(&server.issuer(), &nonce));
    let body = json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
        "refresh_token": "forged-refresh-token",
    });
    server.override_response(
        "/token",
        Some(RawResponse::new(200, "application/json", body.to_string())),
    );
    let result = F::exchange_code(&client, received);
    if let Err(error) = &result {
        let segments: Vec<&str> = id_token.split('.').filter(|s| s.len() > 8).collect();
        let mut secrets = vec![ACCESS_TOKEN, seed::CONFIDENTIAL_CLIENT_SECRET];
        secrets.extend(segments);
        assert_quotes_no_secret(error, &secrets);
    }
    result
}

fn sign_in_forged<F: Flavor>(forge: impl FnOnce(Value) -> String) -> Result<Tokens, Error> {
    sign_in_forged_with_jwks::<F>(forged_jwks(), forge)
}

/// A correctly forged token, to be damaged by the caller.
fn good_token(claims: &Value) -> String {
    sign_texts(HEADER, &claims.to_string())
}

fn malformed(reason: &'static str) -> Error {
    Error::InvalidIdToken(TokenRule::Malformed(reason))
}

fn assert_refused_as<T: std::fmt::Debug>(result: Result<T, Error>, expected: &Error) {
    let error = refused(result);
    assert_eq!(format!("{error:?}"), format!("{expected:?}"));
}

// ---------------------------------------------------------------------------
// The control.

fn forged_token_breaking_no_rule_is_accepted<F: Flavor>() {
    let tokens = sign_in_forged::<F>(|claims| good_token(&claims)).unwrap();
    assert_eq!(tokens.sub(), seed::USER_SUB);
    assert_eq!(tokens.access_token().expose_secret(), ACCESS_TOKEN);
}

// ---------------------------------------------------------------------------
// Header.

fn alg_none_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::AlgNone),
        Err(Error::InvalidIdToken(TokenRule::Algorithm(Some(alg)))) if alg == "none"
    ));
}

fn alg_hs256_keyed_with_the_public_key_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::AlgHs256),
        Err(Error::InvalidIdToken(TokenRule::Algorithm(Some(alg)))) if alg == "HS256"
    ));
}

fn alg_rs256_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::AlgRs256),
        Err(Error::InvalidIdToken(TokenRule::Algorithm(Some(alg)))) if alg == "RS256"
    ));
}

fn missing_alg_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::NoAlg),
        Err(Error::InvalidIdToken(TokenRule::Algorithm(None)))
    ));
}

fn fully_specified_alg_ed25519_is_accepted<F: Flavor>() {
    let tokens = sign_in_with::<F>(edit_header(|header| header["alg"] = json!("Ed25519")));
    assert_eq!(tokens.unwrap().sub(), seed::USER_SUB);
}

fn typ_other_than_jwt_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(edit_header(|header| header["typ"] = json!("at+jwt"))),
        Err(Error::InvalidIdToken(TokenRule::Type(typ))) if typ == "at+jwt"
    ));
}

fn typ_absent_is_accepted<F: Flavor>() {
    let tokens = sign_in_with::<F>(edit_header(|header| {
        header.as_object_mut().unwrap().remove("typ");
    }));
    assert_eq!(tokens.unwrap().sub(), seed::USER_SUB);
}

fn crit_header_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(edit_header(|header| header["crit"] = json!(["exp"]))),
        Err(Error::InvalidIdToken(TokenRule::CriticalHeader))
    ));
}

fn missing_kid_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(edit_header(|header| {
            header.as_object_mut().unwrap().remove("kid");
        })),
        Err(Error::InvalidIdToken(TokenRule::MissingKeyId))
    ));
}

/// The JWKS lists an RSA key, an X25519 key and an Ed448 key under their own
/// ids beside the usable one; a token naming one of them finds no usable key.
fn kid_of_a_key_that_is_not_okp_ed25519_is_refused<F: Flavor>() {
    let x = forger_key().verifying_key().to_bytes();
    let mut x25519 = jwk(&x, "x25519");
    x25519["crv"] = json!("X25519");
    let mut ed448 = jwk(&x, "ed448");
    ed448["crv"] = json!("Ed448");
    let rsa =
        json!({"kty": "RSA", "kid": "rsa", "n": b64([0xC5; 256]), "e": "AQAB", "alg": "RS256"});
    let jwks = json!({"keys": [rsa, x25519, ed448, jwk(&x, FORGED_KID)]}).to_string();
    for kid in ["rsa", "x25519", "ed448"] {
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}).to_string();
        let result = sign_in_forged_with_jwks::<F>(jwks.clone(), |claims| {
            sign_texts(&header, &claims.to_string())
        });
        assert!(
            matches!(result, Err(Error::InvalidIdToken(TokenRule::UnknownKeyId))),
            "{kid}: {result:?}"
        );
    }
}

/// A small-order key verifies the signature `R = identity, s = 0` for every
/// message; the JWKS loader refuses such keys, so the forgery finds none.
fn weak_key_in_the_jwks_is_never_used<F: Flavor>() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let jwks = json!({"keys": [jwk(&identity, "weak")]}).to_string();
    let result = sign_in_forged_with_jwks::<F>(jwks, |claims| {
        let header = r#"{"alg":"EdDSA","typ":"JWT","kid":"weak"}"#;
        let mut signature = [0u8; 64];
        signature[0] = 1;
        format!(
            "{}.{}.{}",
            b64(header),
            b64(claims.to_string()),
            b64(signature)
        )
    });
    assert!(matches!(result, Err(Error::NoUsableKey)), "{result:?}");
}

// ---------------------------------------------------------------------------
// Signature.

fn signature_by_another_key_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::SignedByOtherKey),
        Err(Error::InvalidIdToken(TokenRule::Signature))
    ));
}

fn flipped_signature_bit_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::BadSignature),
        Err(Error::InvalidIdToken(TokenRule::Signature))
    ));
}

/// The group order ℓ, little-endian.
const ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `s + ℓ` satisfies the verification equation as well as `s`: a second
/// encoding of the same signature (malleability), which must be refused.
fn non_canonical_signature_is_refused<F: Flavor>() {
    let result = sign_in_forged::<F>(|claims| {
        let token = good_token(&claims);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let mut carry = 0u16;
        for (byte, order) in bytes[32..].iter_mut().zip(ORDER) {
            let sum = u16::from(*byte) + u16::from(order) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0, "s + ℓ fits in 32 bytes");
        format!("{input}.{}", b64(bytes))
    });
    assert!(
        matches!(result, Err(Error::InvalidIdToken(TokenRule::Signature))),
        "{result:?}"
    );
}

/// 64 bytes take 86 base64url characters with 4 unused bits; setting them
/// gives another spelling of the same signature, which must be refused.
fn signature_with_nonzero_trailing_bits_is_refused<F: Flavor>() {
    let result = sign_in_forged::<F>(|claims| {
        let mut token = good_token(&claims);
        let last = token.pop().unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.iter().position(|&c| c == last as u8).unwrap();
        assert_eq!(index & 0b1111, 0, "the canonical spelling has zero bits");
        token.push(alphabet[index | 0b0001] as char);
        token
    });
    assert_refused_as(result, &malformed("signature is not 64 base64url bytes"));
}

// ---------------------------------------------------------------------------
// Compact serialization and JSON.

const THREE_SEGMENTS: &str = "a compact jws has three segments";
const NOT_BASE64URL: &str = "a segment is not unpadded base64url";
const BAD_SIGNATURE_SEGMENT: &str = "signature is not 64 base64url bytes";

fn more_than_three_segments_are_refused<F: Flavor>() {
    let result = sign_in_forged::<F>(|claims| format!("{}.e30", good_token(&claims)));
    assert_refused_as(result, &malformed(THREE_SEGMENTS));
    // A JWE compact serialization has five.
    let result = sign_in_forged::<F>(|claims| format!("{}..e30", good_token(&claims)));
    assert_refused_as(result, &malformed(THREE_SEGMENTS));
}

fn fewer_than_three_segments_are_refused<F: Flavor>() {
    let result = sign_in_forged::<F>(|claims| {
        let token = good_token(&claims);
        token.rsplit_once('.').unwrap().0.to_owned()
    });
    assert_refused_as(result, &malformed(THREE_SEGMENTS));
    let result = sign_in_forged::<F>(|_| String::new());
    assert_refused_as(result, &malformed(THREE_SEGMENTS));
}

/// Characters of the standard base64 alphabet, white space and others, in
/// each segment. The payload case is signed as it is, so the signature holds
/// and the claims decoding itself refuses it.
fn non_base64url_characters_are_refused<F: Flavor>() {
    let result = sign_in_forged::<F>(|claims| format!("+{}", good_token(&claims)));
    assert_refused_as(result, &malformed(NOT_BASE64URL));
    let result = sign_in_forged::<F>(|claims| {
        sign_segments(&b64(HEADER), &format!("{}/ ", b64(claims.to_string())))
    });
    assert_refused_as(result, &malformed(NOT_BASE64URL));
    let result = sign_in_forged::<F>(|claims| {
        let token = good_token(&claims);
        let (input, signature) = token.rsplit_once('.').unwrap();
        format!("{input}.+{}", &signature[1..])
    });
    assert_refused_as(result, &malformed(BAD_SIGNATURE_SEGMENT));
}

fn padded(segment: &str) -> String {
    format!("{segment}{}", "=".repeat((4 - segment.len() % 4) % 4))
}

fn padding_is_refused<F: Flavor>() {
    // A header whose encoding needs padding: its length is not a multiple of 3.
    let header = r#"{"alg":"EdDSA","typ":"JWT","kid":"forged-key" }"#;
    assert_ne!(header.len() % 3, 0);
    let result = sign_in_forged::<F>(|claims| {
        sign_segments(&padded(&b64(header)), &b64(claims.to_string()))
    });
    assert_refused_as(result, &malformed(NOT_BASE64URL));
    let result = sign_in_forged::<F>(|mut claims| {
        claims["pad"] = json!("x");
        let mut payload = b64(claims.to_string());
        while payload.len() % 4 == 0 {
            claims["pad"] = json!(format!("{}x", claims["pad"].as_str().unwrap()));
            payload = b64(claims.to_string());
        }
        sign_segments(&b64(HEADER), &padded(&payload))
    });
    assert_refused_as(result, &malformed(NOT_BASE64URL));
    let result = sign_in_forged::<F>(|claims| format!("{}==", good_token(&claims)));
    assert_refused_as(result, &malformed(BAD_SIGNATURE_SEGMENT));
}

/// A JSON array lists a header's fields in order (`alg`, `typ`, `kid`,
/// `crit`), which serde would happily read as the struct it expects.
fn header_that_is_not_a_json_object_is_refused<F: Flavor>() {
    for (header, said) in [
        (r#"["EdDSA","JWT","forged-key",null]"#, "not a json object"),
        (r#""EdDSA""#, "not a json object"),
        ("null", "not a json object"),
        ("not json", "not json (line 1, column 2)"),
    ] {
        let result = sign_in_forged::<F>(|claims| sign_texts(header, &claims.to_string()));
        assert!(
            matches!(
                &result,
                Err(Error::InvalidIdToken(TokenRule::MalformedJson {
                    part: "header",
                    reason,
                })) if reason == said
            ),
            "{header}: {result:?}"
        );
    }
}

/// The claims as a JSON array in the order of `IdTokenClaims`' fields, and
/// other JSON values that are not objects.
fn claims_that_are_not_a_json_object_are_refused<F: Flavor>() {
    let as_array = |claims: &Value| {
        json!([
            claims["iss"],
            claims["sub"],
            claims["aud"],
            claims["exp"],
            claims["iat"],
            claims["auth_time"],
            claims["nonce"],
            null,
            claims["at_hash"],
            null,
            null,
            null,
            null,
            null,
            null,
            []
        ])
        .to_string()
    };
    type Shape<'a> = &'a dyn Fn(&Value) -> String;
    let shapes: [(Shape<'_>, &str); 3] = [
        (&as_array, "not a json object"),
        (&|_: &Value| "42".to_owned(), "not a json object"),
        (
            &|_: &Value| r#"{"iss":"#.to_owned(),
            "not json: it ends early",
        ),
    ];
    for (shape, said) in shapes {
        let result = sign_in_forged::<F>(|claims| sign_texts(HEADER, &shape(&claims)));
        assert!(
            matches!(
                &result,
                Err(Error::InvalidIdToken(TokenRule::MalformedJson {
                    part: "claims",
                    reason,
                })) if reason.starts_with(said)
            ),
            "{result:?}"
        );
    }
}

/// `alg` twice, the first `none`: which one would a checker read?
fn duplicate_header_names_are_refused<F: Flavor>() {
    let header = r#"{"alg":"none","alg":"EdDSA","typ":"JWT","kid":"forged-key"}"#;
    let result = sign_in_forged::<F>(|claims| sign_texts(header, &claims.to_string()));
    assert!(
        matches!(
            &result,
            Err(Error::InvalidIdToken(TokenRule::MalformedJson { part: "header", reason }))
                if reason.contains("twice")
        ),
        "{result:?}"
    );
}

/// `aud` twice, one of them another client; and a claim the client has no
/// field for, which `IdTokenClaims::get` would otherwise read one way.
fn duplicate_claim_names_are_refused<F: Flavor>() {
    for (name, first) in [("aud", json!("another-client")), ("tenant", json!("a"))] {
        let result = sign_in_forged::<F>(|mut claims| {
            claims[name] = claims.get(name).cloned().unwrap_or_else(|| json!("b"));
            let text = claims.to_string();
            let duplicated = format!("{{\"{name}\":{first},{}", &text[1..]);
            sign_texts(HEADER, &duplicated)
        });
        assert!(
            matches!(
                &result,
                Err(Error::InvalidIdToken(TokenRule::MalformedJson { part: "claims", reason }))
                    if reason.contains("twice")
            ),
            "{name}: {result:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Claims.

fn issuer_mismatch_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::WrongIssuer),
        Err(Error::InvalidIdToken(TokenRule::Issuer))
    ));
}

fn missing_aud_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(edit_claims(|claims| {
            claims.as_object_mut().unwrap().remove("aud");
        })),
        Err(Error::InvalidIdToken(TokenRule::Audience))
    ));
}

fn different_aud_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::WrongAudience),
        Err(Error::InvalidIdToken(TokenRule::Audience))
    ));
}

fn aud_array_without_our_client_id_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(edit_claims(|claims| {
            claims["aud"] = json!(["api-a", "api-b"]);
            claims["azp"] = json!(seed::CONFIDENTIAL_CLIENT_ID);
        })),
        Err(Error::InvalidIdToken(TokenRule::Audience))
    ));
}

/// Client and server read the same system clock, the client later, so an
/// `exp` 61 s before the minting time is past by more than the 60 s leeway.
/// The JSON of a token's segment (0: the header, 1: the claims).
fn segment(token: &str, index: usize) -> Value {
    let text = token.split('.').nth(index).expect("a segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
}

/// OpenID Connect Core 3.1.3.7 step 5: an `azp`, when present, names this
/// client, even when `aud` is this client alone; at the code exchange, at a
/// refresh and at a restore. An `azp` naming this client is accepted.
fn azp_naming_another_client_is_refused_with_a_single_audience<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let with_azp = |azp: &'static str| edit_claims(move |claims| claims["azp"] = azp.into());
    let is_authorized_party = |result: &Result<Tokens, Error>| {
        matches!(
            result,
            Err(Error::InvalidIdToken(TokenRule::AuthorizedParty))
        )
    };

    server.set_id_token_fault(Some(with_azp("other")));
    let result = F::exchange_code(&client, callback(&server, &client));
    assert!(is_authorized_party(&result), "code exchange: {result:?}");
    server.set_id_token_fault(Some(with_azp(seed::CONFIDENTIAL_CLIENT_ID)));
    let tokens = F::exchange_code(&client, callback(&server, &client)).unwrap();
    let claims = segment(tokens.id_token(), 1);
    assert_eq!(
        claims["aud"],
        seed::CONFIDENTIAL_CLIENT_ID,
        "a single audience"
    );
    assert_eq!(claims["azp"], seed::CONFIDENTIAL_CLIENT_ID);

    let refreshed = F::refresh(&client, &tokens).unwrap();
    server.set_id_token_fault(Some(with_azp("other")));
    let result = F::refresh(&client, &refreshed);
    assert!(is_authorized_party(&result), "refresh: {result:?}");

    server.set_id_token_fault(None);
    let tokens = F::exchange_code(&client, callback(&server, &client)).unwrap();
    let stored = serde_json::to_value(tokens.to_stored()).unwrap();
    let restore = |azp: &str| {
        let mut claims = segment(tokens.id_token(), 1);
        claims["azp"] = azp.into();
        let mut stored = stored.clone();
        stored["id_token"] = server
            .sign_jwt(&segment(tokens.id_token(), 0), &claims)
            .into();
        F::restore_tokens(&client, serde_json::from_value(stored).unwrap())
    };
    let result = restore("other");
    assert!(is_authorized_party(&result), "restore: {result:?}");
    assert_eq!(
        restore(seed::CONFIDENTIAL_CLIENT_ID).unwrap().sub(),
        seed::USER_SUB
    );
}

fn exp_past_beyond_leeway_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(edit_claims(|claims| {
            let minted = minted_at(claims);
            claims["exp"] = json!(minted - 61);
            claims["iat"] = json!(minted - 361);
        })),
        Err(Error::InvalidIdToken(TokenRule::Expired))
    ));
}

fn exp_past_within_leeway_is_accepted<F: Flavor>() {
    let tokens = sign_in_with::<F>(edit_claims(|claims| {
        let minted = minted_at(claims);
        claims["exp"] = json!(minted - 20);
        claims["iat"] = json!(minted - 320);
    }));
    assert_eq!(tokens.unwrap().sub(), seed::USER_SUB);
}

fn iat_in_the_future_beyond_leeway_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(edit_claims(|claims| {
            let minted = minted_at(claims);
            claims["iat"] = json!(minted + 120);
            claims["exp"] = json!(minted + 420);
        })),
        Err(Error::InvalidIdToken(TokenRule::IssuedInFuture))
    ));
}

fn iat_in_the_future_within_leeway_is_accepted<F: Flavor>() {
    let tokens = sign_in_with::<F>(edit_claims(|claims| {
        let minted = minted_at(claims);
        claims["iat"] = json!(minted + 20);
    }));
    assert_eq!(tokens.unwrap().sub(), seed::USER_SUB);
}

/// `nbf` (RFC 7519 §4.1.5), which Verys does not send, is honoured when a
/// token carries it: 120 s ahead is beyond the leeway, 20 s is within it.
fn nbf_in_the_future_beyond_leeway_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(edit_claims(|claims| {
            claims["nbf"] = json!(minted_at(claims) + 120);
        })),
        Err(Error::InvalidIdToken(TokenRule::NotYetValid))
    ));
    let tokens = sign_in_with::<F>(edit_claims(|claims| {
        claims["nbf"] = json!(minted_at(claims) + 20);
    }));
    assert_eq!(tokens.unwrap().sub(), seed::USER_SUB);
}

/// A refusal naming the `exp` claim's type.
fn assert_malformed_claims(result: Result<Tokens, Error>) {
    assert!(
        matches!(
            &result,
            Err(Error::InvalidIdToken(TokenRule::MalformedJson {
                part: "claims",
                reason,
            })) if reason == "the exp member has the wrong type"
        ),
        "{result:?}"
    );
}

fn exp_as_a_string_is_refused<F: Flavor>() {
    assert_malformed_claims(sign_in_with::<F>(edit_claims(|claims| {
        claims["exp"] = json!((minted_at(claims) + 300).to_string());
    })));
}

/// RFC 7519 allows fractional NumericDates; Verys sends integer seconds, and
/// this client reads `exp`, `iat` and `auth_time` as integers only.
fn exp_as_a_float_is_refused<F: Flavor>() {
    assert_malformed_claims(sign_in_with::<F>(edit_claims(|claims| {
        claims["exp"] = json!(minted_at(claims) as f64 + 300.5);
    })));
}

fn negative_exp_is_refused<F: Flavor>() {
    assert_malformed_claims(sign_in_with::<F>(edit_claims(|claims| {
        claims["exp"] = json!(-1);
    })));
}

/// An integer literal past `u64::MAX` (JSON has no limit; serde reads it as
/// a float).
fn exp_beyond_u64_is_refused<F: Flavor>() {
    assert_malformed_claims(sign_in_forged::<F>(|claims| {
        let text = claims.to_string();
        let exp = claims["exp"].to_string();
        let huge = text.replace(&format!("\"exp\":{exp}"), "\"exp\":18446744073709551616000");
        assert_ne!(huge, text);
        sign_texts(HEADER, &huge)
    }));
}

/// The time rules add the leeway with saturation: an `exp` of `u64::MAX`
/// neither wraps into the past nor panics, and reads as the latest time the
/// claims give, the last second of 9999.
fn exp_at_u64_max_does_not_overflow<F: Flavor>() {
    let tokens = sign_in_with::<F>(edit_claims(|claims| claims["exp"] = json!(u64::MAX)));
    let last_second_of_9999 =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799);
    assert_eq!(tokens.unwrap().claims().expires_at(), last_second_of_9999);
}

fn missing_nonce_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::NoNonce),
        Err(Error::NonceMismatch)
    ));
}

fn different_nonce_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::WrongNonce),
        Err(Error::NonceMismatch)
    ));
}

fn wrong_at_hash_is_refused<F: Flavor>() {
    assert!(matches!(
        sign_in_with::<F>(IdTokenFault::BadAtHash),
        Err(Error::InvalidIdToken(TokenRule::AccessTokenHash))
    ));
}

/// With `max_age` requested, an `auth_time` older than it (beyond the
/// leeway) is refused.
fn auth_time_older_than_max_age_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    server.set_id_token_fault(Some(edit_claims(|claims| {
        claims["auth_time"] = json!(minted_at(claims) - 1000);
    })));
    let pending = client
        .authorization()
        .max_age(Duration::from_secs(300))
        .start();
    let callback_url = server.login(pending.url());
    let received = pending.receive(&callback_url).unwrap();
    assert!(matches!(
        F::exchange_code(&client, received),
        Err(Error::InvalidIdToken(TokenRule::AuthTime))
    ));
}
