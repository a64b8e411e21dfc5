//! Properties of the crate-private parsers and rules: no input makes the
//! JWT, JWKS or callback parser panic, the rules they apply hold for any
//! input of the right shape, and no number from a token or a server makes a
//! time accessor panic. (Signed tokens through the public API:
//! tests/properties.rs.)

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

use crate::clock::{system_time, system_time_signed};
use crate::error::{Error, TokenRule};
use crate::flow::tokens::{AccessToken, Tokens};
use crate::verify::access::{self, AccessRules};
use crate::verify::claims::CommonRules;
use crate::verify::id_token::{IdTokenClaims, IdTokenRules};
use crate::verify::keys::KeySet;
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

const ISSUER: &str = "https://auth.verys.example";

fn common(now: u64) -> CommonRules<'static> {
    CommonRules {
        issuer: ISSUER,
        now,
        leeway: 60,
        check_expiry: true,
    }
}

fn id_rules(now: u64) -> IdTokenRules<'static> {
    IdTokenRules::basic(common(now), "app")
}

fn access_rules(now: u64) -> AccessRules<'static> {
    AccessRules {
        common: common(now),
        audience: ISSUER,
    }
}

/// Runs the JWT parser the way a verification does, minus the signature,
/// and both kinds' claim rules on what it decoded.
fn parse_jwt(token: &str) {
    if let Ok(jws) = crate::verify::jwt::parse(token) {
        let _ = jws.kid();
        let claims = jws.claims_unverified();
        if let Ok(claims) = IdTokenClaims::check(claims, &id_rules(1_700_000_000)) {
            let _ = (
                claims.issuer(),
                claims.nonce(),
                claims.email(),
                claims.roles(),
            );
            let _ = claims.to_json();
        }
        let _ = access::check(claims, &access_rules(1_700_000_000));
    }
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
    fn a_repeated_claim_name_is_refused_by_both_kinds(
        name in name(),
        first in json(),
        second in json(),
    ) {
        let claims = json!({"iss": ISSUER, "sub": "u", "aud": ISSUER, "exp": 2_000_000_000u64,
                            "iat": 1_700_000_000u64, "scopes": []});
        let name = Value::from(name).to_string();
        let text = claims.to_string();
        let repeated = format!("{{{name}:{first},{},{name}:{second}}}", &text[1..text.len() - 1]);
        let id = IdTokenClaims::check(repeated.as_bytes(), &id_rules(1_700_000_000));
        prop_assert!(
            matches!(&id, Err(Error::InvalidIdToken(TokenRule::MalformedJson { part: "claims", .. }))),
            "{}: {:?}", repeated, id
        );
        let access = access::check(repeated.as_bytes(), &access_rules(1_700_000_000));
        prop_assert!(
            matches!(&access, Err(TokenRule::MalformedJson { part: "claims", .. })),
            "{}: {:?}", repeated, access.err()
        );
    }

    #[test]
    fn system_time_saturates_over_the_whole_range(seconds in any::<u64>(), signed in any::<i64>()) {
        let time = system_time(seconds);
        prop_assert!(time <= system_time(u64::MAX));
        if seconds <= 253_402_300_799 {
            prop_assert_eq!(time, UNIX_EPOCH + Duration::from_secs(seconds));
        }
        let _ = system_time_signed(signed);
        prop_assert_eq!(system_time_signed(i64::try_from(seconds / 2).unwrap_or(i64::MAX)), system_time(seconds / 2));
    }

    #[test]
    fn access_claims_times_never_panic(exp in any::<u64>(), iat in 0..=1_700_000_000u64) {
        let text = json!({"iss": ISSUER, "sub": "u", "aud": ISSUER, "exp": exp, "iat": iat,
                          "scopes": ["openid"]}).to_string();
        match access::check(text.as_bytes(), &access_rules(1_700_000_000)) {
            Ok(claims) => {
                prop_assert!(claims.expires_at() >= claims.issued_at());
                prop_assert!(claims.still_valid(u64::MAX, 60).is_err() || exp > u64::MAX - 60);
            }
            Err(rule) => prop_assert_eq!(rule, TokenRule::Expired),
        }
    }

    #[test]
    fn token_expiry_never_panics(expires_at in prop::option::of(any::<u64>()), now in any::<u64>()) {
        let access_token = AccessToken::issued(SecretString::from("a"), 0, expires_at);
        let claims = IdTokenClaims::check(
            json!({"iss": ISSUER, "sub": "u", "aud": "app", "exp": 1u64, "iat": 0u64}).to_string().as_bytes(),
            &IdTokenRules { common: CommonRules { check_expiry: false, ..common(0) }, ..id_rules(0) },
        ).expect("claims for a test");
        let tokens = Tokens {
            id_token: String::new(),
            claims,
            access_token: access_token.clone(),
            refresh_token: None,
            scopes: Vec::new(),
            nonce: None,
        };
        prop_assert_eq!(tokens.expires_at(), expires_at.map(system_time));
        let clock = crate::ManualClock::new(now);
        let _ = access_token.expires_within(&clock, Duration::from_secs(u64::MAX));
        let _ = access_token.refresh_due(&clock, Duration::MAX);
        let _ = access_token.is_expired();
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
            Ok(_) | Err(Error::JwksFetch(_)) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn timestamp_parser_never_panics(
        text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}.{0,8}|.*",
    ) {
        let _ = crate::services::federation::parse_rfc3339(&text);
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
        prop_assert!(result.is_ok(), "{}: {:?}", callback, result.as_ref().err());
        if let Ok(received) = result {
            let (received_code, _, _) = received.into_parts();
            prop_assert_eq!(secrecy::ExposeSecret::expose_secret(&received_code), code.as_str());
        }
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
