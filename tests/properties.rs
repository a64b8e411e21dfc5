//! Properties of verification through the public API, against the embedded
//! Verys: any token the server signs for this client verifies, whatever its
//! claims hold, and flipping any single byte of a signed token makes it fail.
//! (Parser properties on crate-private code: src/properties.rs.)
//!
//! Transport-independent, so run with the blocking client only. Each case
//! is one `/token` exchange over loopback HTTP; the case counts keep the
//! suite fast.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A runner of `cases` cases that writes no regression files.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha512};

use verys_client::{Client, Confidential, Error, Tokens};
use verys_testing::{RawResponse, VerysServer, seed};

const ACCESS_TOKEN: &str = "property-access-token";

/// A confidential client and the embedded Verys, which answers `/token` with
/// whatever ID token a case makes.
struct Harness {
    server: VerysServer,
    client: Client<Confidential>,
}

impl Harness {
    fn start() -> Self {
        let server = VerysServer::start();
        let client = Client::builder(server.issuer(), seed::CONFIDENTIAL_CLIENT_ID)
            .redirect_uri(seed::REDIRECT_URI)
            .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET)
            // The second audience of the tokens with several.
            .trusted_audiences(["another-api"])
            .build()
            .unwrap();
        Self { server, client }
    }

    /// Runs one code exchange whose ID token `make` builds from the flow's
    /// nonce.
    fn exchange(&self, make: impl FnOnce(&str) -> String) -> Result<Tokens, Error> {
        let pending = self.client.authorize();
        let param = |name: &str| {
            url::Url::parse(pending.url())
                .unwrap()
                .query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
                .unwrap()
        };
        let (state, nonce) = (param("state"), param("nonce"));
        let received = pending
            .receive(&format!("?code=property-code&state={state}"))
            .unwrap();
        let body = json!({
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": make(&nonce),
        });
        self.server.override_response(
            "/token",
            Some(RawResponse::new(200, "application/json", body.to_string())),
        );
        self.client.exchange_code(received)
    }

    fn header(&self, alg: &str, typ: Option<&str>) -> Value {
        let mut header = json!({"alg": alg, "kid": self.server.key_id()});
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        header
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn at_hash() -> String {
    URL_SAFE_NO_PAD.encode(&Sha512::digest(ACCESS_TOKEN.as_bytes())[..32])
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,16}".prop_map(Value::from),
        prop::collection::vec(".{0,8}", 0..4).prop_map(Value::from),
    ]
}

/// What a case varies in a token that breaks no rule.
#[derive(Debug, Clone)]
struct Shape {
    alg: &'static str,
    typ: Option<&'static str>,
    sub: String,
    email: Option<String>,
    name: Option<String>,
    roles: Vec<String>,
    extra: std::collections::BTreeMap<String, Value>,
    /// Seconds the token was issued before now, and lives after.
    age: i64,
    lifetime: i64,
    /// `aud` as a one-element array, or with a second audience (and `azp`).
    aud_form: u8,
    with_at_hash: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        (
            prop::sample::select(vec!["EdDSA", "Ed25519"]),
            prop::option::of(prop::sample::select(vec!["JWT", "jwt"])),
            ".{1,40}",
            prop::option::of(".{0,30}"),
            prop::option::of(".{0,30}"),
            prop::collection::vec(".{0,12}", 0..4),
        ),
        (
            prop::collection::btree_map("x-[a-z_]{1,10}", json_leaf(), 0..5),
            0i64..3600,
            120i64..100_000,
            0u8..3,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (alg, typ, sub, email, name, roles),
                (extra, age, lifetime, aud_form, with_at_hash),
            )| {
                Shape {
                    alg,
                    typ,
                    sub,
                    email,
                    name,
                    roles,
                    extra,
                    age,
                    lifetime: lifetime.max(age + 120),
                    aud_form,
                    with_at_hash,
                }
            },
        )
}

fn claims(issuer: &str, nonce: &str, shape: &Shape) -> Value {
    let now = now();
    let mut claims = Map::new();
    for (name, value) in &shape.extra {
        claims.insert(name.clone(), value.clone());
    }
    let client = seed::CONFIDENTIAL_CLIENT_ID;
    claims.insert("iss".into(), json!(issuer));
    claims.insert("sub".into(), json!(shape.sub));
    match shape.aud_form {
        0 => claims.insert("aud".into(), json!(client)),
        1 => claims.insert("aud".into(), json!([client])),
        _ => {
            claims.insert("azp".into(), json!(client));
            claims.insert("aud".into(), json!(["another-api", client]))
        }
    };
    claims.insert("iat".into(), json!(now - shape.age));
    claims.insert("exp".into(), json!(now - shape.age + shape.lifetime));
    claims.insert("nonce".into(), json!(nonce));
    if shape.with_at_hash {
        claims.insert("at_hash".into(), json!(at_hash()));
    }
    if let Some(email) = &shape.email {
        claims.insert("email".into(), json!(email));
    }
    if let Some(name) = &shape.name {
        claims.insert("name".into(), json!(name));
    }
    claims.insert("roles".into(), json!(shape.roles));
    Value::Object(claims)
}

#[test]
fn any_token_the_server_signs_for_this_client_verifies() {
    let harness = Harness::start();
    let mut runner = runner(192);
    runner
        .run(&shape(), |shape| {
            let tokens = harness.exchange(|nonce| {
                let header = harness.header(shape.alg, shape.typ);
                harness
                    .server
                    .sign_jwt(&header, &claims(&harness.server.issuer(), nonce, &shape))
            });
            let tokens = match tokens {
                Ok(tokens) => tokens,
                Err(error) => return Err(TestCaseError::fail(format!("refused: {error:?}"))),
            };
            let claims = tokens.claims();
            prop_assert_eq!(tokens.sub(), shape.sub.as_str());
            prop_assert_eq!(claims.email(), shape.email.as_deref());
            prop_assert_eq!(claims.name(), shape.name.as_deref());
            prop_assert_eq!(&claims.roles(), &shape.roles);
            prop_assert!(claims.audience().contains(seed::CONFIDENTIAL_CLIENT_ID));
            for (name, value) in &shape.extra {
                prop_assert_eq!(claims.get(name), Some(value.clone()));
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn flipping_any_single_byte_of_a_signed_token_makes_it_fail() {
    let harness = Harness::start();
    let mut runner = runner(256);
    let strategy = (any::<prop::sample::Index>(), 1u8..128, shape());
    runner
        .run(&strategy, |(index, mask, shape)| {
            let mut flipped = None;
            let result = harness.exchange(|nonce| {
                let header = harness.header(shape.alg, shape.typ);
                let token = harness
                    .server
                    .sign_jwt(&header, &claims(&harness.server.issuer(), nonce, &shape));
                let mut bytes = token.into_bytes();
                let at = index.index(bytes.len());
                // Both ASCII, so the token stays a JSON string.
                bytes[at] ^= mask;
                flipped = Some(at);
                String::from_utf8(bytes).unwrap()
            });
            prop_assert!(
                matches!(result, Err(Error::InvalidIdToken(_))),
                "byte {:?} flipped with {:#04x}: {:?}",
                flipped,
                mask,
                result.map(|tokens| tokens.sub().to_owned())
            );
            Ok(())
        })
        .unwrap();
}
