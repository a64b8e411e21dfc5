//! Properties of the crate-private parsers: no input makes the JWT, JWKS or
//! callback parser panic, the rules they apply hold for any input of the
//! right shape, and the hand-written JSON and base64url readers of the hot
//! path agree with serde_json and base64. (Signed tokens through the public
//! API: tests/properties.rs.)

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, TokenRule};
use crate::verify::claims::{Checked, IdTokenClaims};
use crate::verify::jwks::KeySet;
use crate::{Client, Public};

/// Any JSON value, a few levels deep, with the names the parsers look at
/// among the member names.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(name(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "alg",
            "typ",
            "kid",
            "crit",
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "nonce",
            "azp",
            "at_hash",
            "auth_time",
            "roles",
            "keys",
            "kty",
            "crv",
            "x",
            "use",
        ])
        .prop_map(str::to_owned),
        ".{0,8}",
    ]
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Runs the JWT parser the way a verification does, minus the signature.
fn parse_jwt(token: &str) {
    if let Ok(jws) = crate::verify::jwt::parse(token) {
        let _ = jws.kid();
        let _ = jws.claims_text().map(crate::verify::jwt::claims_map);
        if let Ok((checked, text)) = jws.decode_unverified::<Checked>() {
            let claims = IdTokenClaims::new(checked, text);
            let _ = (claims.iss(), claims.nonce(), claims.email(), claims.roles());
        }
    }
}

/// Pieces of JSON syntax, valid and not, that mutations insert.
const PIECES: &[&str] = &[
    "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "\\ude00", "\\u00e9",
    "\\n", "\\x", "0", "-", ".", "e", "+", "1", "null", "true", "fals", " ", "\n", "\u{1}", "é",
    "😀",
];

/// Text that is JSON, then perhaps damaged: a few pieces inserted or bytes
/// removed, at character boundaries.
fn damaged_json() -> impl Strategy<Value = String> {
    let object = prop::collection::btree_map(name(), json(), 0..6)
        .prop_map(|map| Value::Object(map.into_iter().collect()).to_string());
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0..PIECES.len() + 1), 0..3);
    (object, edits).prop_map(|(mut text, edits)| {
        for (at, piece) in edits {
            let boundaries: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let at = boundaries[at.index(boundaries.len())];
            match PIECES.get(piece) {
                Some(piece) => text.insert_str(at, piece),
                None if at < text.len() => {
                    text.remove(at);
                }
                None => {}
            }
        }
        text
    })
}

/// The claims `IdTokenClaims` reads, as serde would derive them.
#[derive(Debug, Deserialize)]
struct ReferenceClaims {
    iss: String,
    sub: String,
    #[serde(default)]
    aud: Option<ReferenceAudience>,
    exp: u64,
    iat: u64,
    auth_time: Option<u64>,
    nonce: Option<String>,
    azp: Option<String>,
    at_hash: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ReferenceAudience {
    One(String),
    Many(Vec<String>),
}

/// A claim's value: usually of its type, sometimes of another.
fn claim_value() -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(
        0.8,
        prop_oneof![
            4 => ".{0,10}".prop_map(Value::from),
            4 => any::<u64>().prop_map(Value::from),
            2 => prop::collection::vec(".{0,6}", 0..3).prop_map(Value::from),
            1 => Just(Value::Null),
            1 => json(),
        ],
    )
}

fn pending() -> (crate::PendingAuth<Public>, String) {
    static CLIENT: std::sync::OnceLock<Client<Public>> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        Client::builder("https://auth.verys.example", "app")
            .redirect_uri("https://app.example.com/auth/callback")
            .build()
            .expect("a valid client")
    });
    let pending = client.authorize();
    let state = url::Url::parse(pending.url())
        .expect("an authorization url")
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .expect("a state parameter");
    (pending, state)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn jwt_parser_never_panics_on_any_string(token in ".*") {
        parse_jwt(&token);
    }

    #[test]
    fn jwt_parser_never_panics_on_dotted_segments(
        segments in prop::collection::vec("[A-Za-z0-9_=+/.-]{0,40}", 0..6),
    ) {
        parse_jwt(&segments.join("."));
    }

    #[test]
    fn jwt_parser_never_panics_on_encoded_json(
        header in json(),
        claims in json(),
        signature in prop::collection::vec(any::<u8>(), 0..70),
    ) {
        let token = format!("{}.{}.{}", b64(header.to_string()), b64(claims.to_string()), b64(signature));
        parse_jwt(&token);
    }

    #[test]
    fn any_well_formed_header_is_parsed_and_keeps_its_kid(
        alg in prop::sample::select(vec!["EdDSA", "Ed25519"]),
        kid in ".{0,40}",
        typ in prop::option::of(prop::sample::select(vec!["JWT", "jwt"])),
        signature in any::<[u8; 32]>(),
    ) {
        let mut header = serde_json::json!({"alg": alg, "kid": kid});
        if let Some(typ) = typ {
            header["typ"] = typ.into();
        }
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&signature);
        let token = format!("{}.{}.{}", b64(header.to_string()), b64("{}"), b64(bytes));
        let jws = crate::verify::jwt::parse(&token);
        prop_assert!(jws.is_ok(), "{:?}", jws.err());
        prop_assert_eq!(jws.ok().map(|jws| jws.kid().to_owned()), Some(kid));
    }

    #[test]
    fn non_objects_and_duplicate_names_are_always_malformed(
        value in json(),
        name in name(),
        first in json(),
        second in json(),
    ) {
        if !value.is_object() {
            let token = format!("{}.{}.{}", b64(value.to_string()), b64("{}"), b64([0u8; 64]));
            let result = crate::verify::jwt::parse(&token).err();
            prop_assert!(
                matches!(result, Some(TokenRule::MalformedJson { part: "header", .. })),
                "{:?}", result
            );
        }
        let name = Value::from(name).to_string();
        let duplicated = format!(r#"{{"alg":"EdDSA","kid":"k",{name}:{first},{name}:{second}}}"#);
        let token = format!("{}.{}.{}", b64(duplicated), b64("{}"), b64([0u8; 64]));
        let result = crate::verify::jwt::parse(&token).err();
        // Read in one pass, a repeated name is refused when it comes, unless
        // the first value of a known field already had the wrong type.
        prop_assert!(
            matches!(&result, Some(TokenRule::MalformedJson { part: "header", .. })),
            "{:?}", result
        );
    }

    #[test]
    fn json_reader_agrees_with_serde_json(text in damaged_json()) {
        crate::verify::differential::compare_json(&text);
    }

    #[test]
    fn json_reader_refuses_any_repeated_name(
        name in name(),
        first in json(),
        second in json(),
        other in json(),
    ) {
        let name = Value::from(name).to_string();
        let text = format!(r#"{{{name}:{first},"other":{other},{name}:{second}}}"#);
        let result = crate::verify::json::read::<crate::verify::differential::Skipped>(&text);
        prop_assert!(result.as_ref().is_err_and(|e| e.to_string().contains("twice")), "{:?}", result.err());
    }

    #[test]
    fn id_token_claims_read_as_serde_derives_them(
        values in prop::collection::vec(claim_value(), 9),
        others in prop::collection::btree_map(name(), json(), 0..4),
    ) {
        let names = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash"];
        let mut claims: serde_json::Map<String, Value> = others.into_iter().collect();
        for (name, value) in names.iter().zip(values) {
            match value {
                Some(value) => claims.insert((*name).to_owned(), value),
                None => claims.remove(*name),
            };
        }
        let aud_null = claims.get("aud").is_some_and(Value::is_null);
        let text = Value::Object(claims).to_string();
        let reference = serde_json::from_str::<ReferenceClaims>(&text).ok().filter(|_| !aud_null);
        let ours = crate::verify::json::read::<Checked>(&text)
            .map(|checked| IdTokenClaims::new(checked, text.clone()));
        match (reference, ours) {
            (Some(reference), Ok(ours)) => {
                let aud = match reference.aud {
                    None => vec![],
                    Some(ReferenceAudience::One(one)) => vec![one],
                    Some(ReferenceAudience::Many(many)) => many,
                };
                prop_assert_eq!(ours.iss(), reference.iss);
                prop_assert_eq!(ours.sub(), reference.sub);
                prop_assert_eq!(ours.aud().as_slice(), &aud[..]);
                prop_assert_eq!((ours.exp(), ours.iat(), ours.auth_time()), (reference.exp, reference.iat, reference.auth_time));
                prop_assert_eq!(ours.nonce(), reference.nonce.as_deref());
                prop_assert_eq!(ours.azp(), reference.azp.as_deref());
                prop_assert_eq!(ours.at_hash(), reference.at_hash.as_deref());
            }
            (None, Err(_)) => {}
            (reference, ours) => prop_assert!(false, "{}: serde {:?}, ours {:?}", text, reference, ours.err()),
        }
    }

    #[test]
    fn base64url_decoder_agrees_with_base64(
        bytes in prop::collection::vec(any::<u8>(), 0..700),
        damage in prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
    ) {
        let mut text = b64(&bytes).into_bytes();
        if let Some((at, byte)) = damage {
            if !text.is_empty() {
                let at = at.index(text.len());
                text[at] = byte;
            }
        }
        crate::verify::differential::compare_base64url(&text);
    }

    #[test]
    fn jwks_parser_never_panics_on_any_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = KeySet::parse(&body);
    }

    #[test]
    fn jwks_parser_never_panics_on_any_key_list(
        keys in prop::collection::vec(json(), 0..8),
        x in prop::collection::vec(any::<u8>(), 0..40),
        kty in prop::sample::select(vec!["OKP", "RSA", "EC", ""]),
        crv in prop::sample::select(vec!["Ed25519", "Ed448", "X25519", ""]),
    ) {
        let mut keys = keys;
        keys.push(serde_json::json!({"kty": kty, "crv": crv, "x": b64(x), "kid": "k"}));
        let body = serde_json::json!({ "keys": keys }).to_string();
        match KeySet::parse(body.as_bytes()) {
            Ok(_) | Err(Error::NoUsableKey | Error::JwksFetch(_)) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn timestamp_parser_never_panics(
        text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}.{0,8}|.*",
    ) {
        let _ = crate::services::timestamp::parse_rfc3339(&text);
    }

    #[test]
    fn callback_parser_never_panics_on_any_string(callback in ".*") {
        let (pending, _) = pending();
        let _ = pending.receive(&callback);
    }

    #[test]
    fn callback_with_the_right_state_and_any_code_is_received(
        code in ".{1,40}",
        extra in prop::collection::vec(("[a-z_]{1,8}", ".{0,12}"), 0..4),
        prefix in prop::sample::select(vec!["", "?", "https://app.example.com/auth/callback?"]),
    ) {
        let (pending, state) = pending();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("code", &code).append_pair("state", &state);
        let mut names = vec!["code".to_owned(), "state".to_owned()];
        for (name, value) in &extra {
            if !names.contains(name) && !["error", "iss"].contains(&name.as_str()) {
                query.append_pair(name, value);
                names.push(name.clone());
            }
        }
        let callback = format!("{prefix}{}", query.finish());
        let result = pending.receive(&callback);
        prop_assert!(result.is_ok(), "{}: {:?}", callback, result.err());
    }

    #[test]
    fn callback_with_any_other_state_is_a_mismatch(state in ".{1,60}") {
        let (pending, real) = pending();
        prop_assume!(state != real);
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("code", "abc").append_pair("state", &state);
        let result = pending.receive(&query.finish());
        prop_assert!(matches!(result, Err(Error::StateMismatch)), "{:?}", result.err());
    }
}
