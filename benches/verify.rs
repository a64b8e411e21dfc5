//! Cost per request of verification, next to its physical floor: one Ed25519
//! signature check. See benches/README.md for how to run and read it.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};
use verys_client::testing::{VerysServer, seed};
use verys_client::{Client, Public, Verifier};

const CLIENT_ID: &str = "bench-client";

/// Runs `routine` `iters` times with its stack frames shifted `N` bytes
/// deeper than at [`spread_over_stack`]'s call.
#[inline(never)]
fn shifted<const N: usize, R>(routine: &mut impl FnMut() -> R, iters: u64) -> Duration {
    let mut padding = [0u8; N];
    black_box(&mut padding);
    let start = Instant::now();
    for _ in 0..iters {
        black_box(routine());
    }
    let elapsed = start.elapsed();
    black_box(&padding);
    elapsed
}

/// Times `iters` runs of `routine`, spread evenly over 32 stack positions
/// 128 bytes apart, so that a whole 4 KiB page of positions is covered.
///
/// On this machine an Ed25519 check costs up to 30 % more when its frames
/// sit in a band of about 1 KiB of stack addresses (modulo 4096; see
/// benches/README.md and `benches/stack.rs`), and where a call lands is
/// fixed per process by the randomized stack start and by the call depth.
/// Measured at one position, the floor and the crate's path, which calls the
/// same check a few frames deeper, would each win or lose that lottery once
/// per run. Measured over every position, both report what a call costs on
/// average over the call sites of a service.
fn spread_over_stack<R>(iters: u64, mut routine: impl FnMut() -> R) -> Duration {
    macro_rules! positions {
        ($($k:literal)*) => {
            Duration::ZERO $(+ shifted::<{ $k * 128 }, R>(
                &mut routine,
                iters / 32 + u64::from($k < iters % 32),
            ))*
        };
    }
    positions!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31)
}

/// A key generated for the bench, published by the embedded Verys as its JWKS.
struct BenchKey {
    signing: SigningKey,
    kid: String,
}

impl BenchKey {
    fn new() -> Self {
        let mut secret = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut secret);
        let signing = SigningKey::from_bytes(&secret);
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let thumbprint = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint.as_bytes()));
        Self { signing, kid }
    }

    fn jwks(&self) -> String {
        let x = URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes());
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "use": "sig", "alg": "EdDSA", "kid": self.kid}]})
            .to_string()
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An ID token shaped like Verys's: every claim of the `openid profile
/// email` scopes, roles, nonce and at_hash.
fn id_token_claims(issuer: &str) -> Value {
    let digest = Sha512::digest(b"an-access-token");
    json!({
        "iss": issuer, "sub": seed::USER_SUB, "aud": CLIENT_ID,
        "exp": now() + 3600, "iat": now(), "auth_time": now(),
        "nonce": "n-0123456789abcdef0123456789abcdef0123456", "at_hash": URL_SAFE_NO_PAD.encode(&digest[..32]),
        "email": seed::USER_EMAIL, "email_verified": true,
        "given_name": "Ada", "family_name": "Lovelace", "name": "Ada Lovelace",
        "origination": "2024-05-01T12:00:00+00:00", "roles": ["admin", "reader"],
    })
}

fn access_token_claims(issuer: &str, n: usize) -> Value {
    json!({
        "iss": issuer, "sub": format!("user-{n}"), "aud": issuer, "roles": ["reader"],
        "iat": now(), "exp": now() + 3600, "scopes": ["openid", "profile", "api.read"],
    })
}

fn split(token: &str) -> (VerifyingKeyInput, Signature) {
    let dot = token.rfind('.').unwrap();
    let mut bytes = [0u8; 64];
    URL_SAFE_NO_PAD
        .decode_slice(&token[dot + 1..], &mut bytes)
        .unwrap();
    (
        token.as_bytes()[..dot].to_vec(),
        Signature::from_bytes(&bytes),
    )
}

type VerifyingKeyInput = Vec<u8>;

fn id_token(c: &mut Criterion) {
    let key = BenchKey::new();
    let verys = VerysServer::start();
    verys.set_jwks_body(Some(key.jwks()));
    let issuer = verys.issuer();
    let client: Client<Public> = Client::builder(&issuer, CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .build()
        .unwrap();
    let token = key.sign(&id_token_claims(&issuer));
    let nonce = Some("n-0123456789abcdef0123456789abcdef0123456");
    client
        .verify_id_token(&token, nonce)
        .expect("warm the key cache");

    let verifying: VerifyingKey = key.signing.verifying_key();
    let (input, signature) = split(&token);

    let access_tokens: Vec<String> = (0..2048)
        .map(|n| key.sign(&access_token_claims(&issuer, n)))
        .collect();
    let fresh = Verifier::builder(&issuer)
        .cache_capacity(1)
        .build()
        .unwrap();
    let repeat = Verifier::builder(&issuer).build().unwrap();
    fresh.verify(&access_tokens[0]).expect("warm the key cache");
    repeat
        .verify(&access_tokens[0])
        .expect("warm the key cache");

    let mut group = c.benchmark_group("id_token");
    // Long enough for each median to span several of the slow phases a
    // shared machine goes through, rather than land in one of them.
    group.measurement_time(Duration::from_secs(10));
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("floor_signature", |b| {
        b.iter_custom(|iters| {
            spread_over_stack(iters, || {
                verifying
                    .verify(black_box(&input), black_box(&signature))
                    .unwrap()
            })
        })
    });
    // Right after the floor it is compared with, so that the slow drifts of
    // a shared machine are least likely to fall between the two.
    group.bench_function("verify_id_token", |b| {
        b.iter_custom(|iters| {
            spread_over_stack(iters, || {
                client.verify_id_token(black_box(&token), nonce).unwrap()
            })
        })
    });
    group.bench_function("floor_signature_strict", |b| {
        b.iter_custom(|iters| {
            spread_over_stack(iters, || {
                verifying
                    .verify_strict(black_box(&input), black_box(&signature))
                    .unwrap()
            })
        })
    });
    let mut next = 0usize;
    group.bench_function("verify_access_token", |b| {
        b.iter_custom(|iters| {
            spread_over_stack(iters, || {
                next = (next + 1) % access_tokens.len();
                fresh.verify(black_box(&access_tokens[next])).unwrap()
            })
        })
    });
    group.bench_function("verify_access_token_repeat", |b| {
        b.iter(|| repeat.verify(black_box(&access_tokens[0])).unwrap())
    });
    group.finish();

    // Two threads verifying at once against one shared client: per-verification
    // time should be about half of `verify_id_token` on two idle cores.
    let mut group = c.benchmark_group("concurrency");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("verify_id_token_2_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(2));
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    let (client, token, barrier) = (&client, &token, Arc::clone(&barrier));
                    scope.spawn(move || {
                        barrier.wait();
                        for _ in 0..iters / 2 {
                            client.verify_id_token(black_box(token), nonce).unwrap();
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

fn flow(c: &mut Criterion) {
    let verys = VerysServer::start();
    let client = Client::builder(verys.issuer(), seed::CONFIDENTIAL_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("flow");
    group.bench_function("authorize", |b| b.iter(|| black_box(client.authorize())));
    group.sample_size(30);
    group.bench_function("exchange_code", |b| {
        b.iter_batched(
            || {
                let pending = client.authorize();
                let callback = verys.login(pending.url());
                pending.receive(&callback).unwrap()
            },
            |received| client.exchange_code(received).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, id_token, flow);
criterion_main!(benches);
