//! What the benches share: Verys-shaped tokens signed by a key of the
//! bench's own, a client and verifiers that check them with the key cached,
//! each kind's floor over the same signing inputs, and timing spread over
//! stack positions. See benches/README.md.
#![allow(
    dead_code,
    reason = "each bench target compiles this module and uses its own part of it"
)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};
use verys_client::{AccessClaims, Client, IdTokenClaims, Public, Verifier};
use verys_testing::{VerysServer, seed};

pub(crate) const CLIENT_ID: &str = "bench-client";
pub(crate) const NONCE: &str = "n-0123456789abcdef0123456789abcdef0123456";

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
pub(crate) fn spread_over_stack<R>(iters: u64, mut routine: impl FnMut() -> R) -> Duration {
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
pub(crate) struct BenchKey {
    pub signing: SigningKey,
    kid: String,
}

impl BenchKey {
    pub(crate) fn new(secret: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&secret);
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let thumbprint = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint.as_bytes()));
        Self { signing, kid }
    }

    pub(crate) fn jwk(&self) -> Value {
        let x = URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes());
        json!({"kty": "OKP", "crv": "Ed25519", "x": x, "use": "sig", "alg": "EdDSA", "kid": self.kid})
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
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

/// A JWKS publishing `keys`.
pub(crate) fn jwks(keys: &[&BenchKey]) -> String {
    json!({"keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>()}).to_string()
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The `n`th of a run of subjects of the same length.
fn subject(n: usize) -> String {
    format!("6f1c2a9e-3b7d-4e58-9a21-{n:012}")
}

/// An ID token shaped like Verys's: every claim of the `openid profile
/// email` scopes, roles, nonce and at_hash.
pub(crate) fn id_token_claims(issuer: &str, n: usize) -> Value {
    let digest = Sha512::digest(b"an-access-token");
    json!({
        "iss": issuer, "sub": subject(n), "aud": CLIENT_ID,
        "exp": now() + 3600, "iat": now(), "auth_time": now(),
        "nonce": NONCE, "at_hash": URL_SAFE_NO_PAD.encode(&digest[..32]),
        "email": seed::USER_EMAIL, "email_verified": true,
        "given_name": "Ada", "family_name": "Lovelace", "name": "Ada Lovelace",
        "origination": "2024-05-01T12:00:00+00:00", "roles": ["admin", "reader"],
    })
}

/// An access token shaped like Verys's.
pub(crate) fn access_token_claims(issuer: &str, n: usize) -> Value {
    json!({
        "iss": issuer, "sub": subject(n), "aud": issuer, "roles": ["admin", "reader"],
        "iat": now(), "exp": now() + 3600, "scopes": ["openid", "profile", "email", "api.read"],
    })
}

/// What the floor verifies for one token: its signing input, the decoded
/// signature and the key.
pub(crate) struct Floor {
    key: VerifyingKey,
    input: Vec<u8>,
    signature: Signature,
}

impl Floor {
    pub(crate) fn of(token: &str, key: &BenchKey) -> Self {
        let dot = token.rfind('.').unwrap();
        let mut bytes = [0u8; 64];
        URL_SAFE_NO_PAD
            .decode_slice(&token[dot + 1..], &mut bytes)
            .unwrap();
        Self {
            key: key.signing.verifying_key(),
            input: token.as_bytes()[..dot].to_vec(),
            signature: Signature::from_bytes(&bytes),
        }
    }

    /// The bare signature check, as the crate makes it.
    pub(crate) fn check(&self) {
        ed25519_dalek::Verifier::verify(
            &self.key,
            black_box(&self.input),
            black_box(&self.signature),
        )
        .unwrap();
    }

    /// The same with `verify_strict`, to price the other signature policy.
    pub(crate) fn check_strict(&self) {
        self.key
            .verify_strict(black_box(&self.input), black_box(&self.signature))
            .unwrap();
    }
}

/// Tokens taken in turn: each is verified again only after every other one
/// has been, which no cache of the size the benches give can answer.
pub(crate) struct Cycle<T> {
    pub items: Vec<T>,
    next: usize,
}

impl<T> Cycle<T> {
    pub(crate) fn new(items: Vec<T>) -> Self {
        Self { items, next: 0 }
    }

    pub(crate) fn next(&mut self) -> &T {
        self.next = (self.next + 1) % self.items.len();
        &self.items[self.next]
    }
}

/// A verifier whose remembered tokens are forgotten every [`FRESH_RUN`]
/// verifications, so that a token taken in turn from more than that many is
/// never found remembered: every verification pays the miss and the insert.
/// (A cache that keeps what it saw first, as quick_cache's does, would
/// otherwise answer a steady share of a cycle of tokens.)
pub(crate) struct Fresh {
    verifier: Verifier,
    count: usize,
}

/// Verifications between two forgettings: fewer than the tokens of a cycle.
pub(crate) const FRESH_RUN: usize = 256;

impl Fresh {
    pub(crate) fn new(verifier: Verifier) -> Self {
        Self { verifier, count: 0 }
    }

    pub(crate) fn verifier(&mut self) -> &Verifier {
        self.count += 1;
        if self.count == FRESH_RUN {
            self.count = 0;
            // Same issuer, keys and audience; a new, empty cache.
            self.verifier = self.verifier.for_audience(self.verifier.audience());
        }
        &self.verifier
    }
}

/// Distinct tokens of both kinds signed by one or two bench keys (taken in
/// turn), the embedded Verys publishing the keys, and what verifies them.
pub(crate) struct Tokens {
    /// Serves the JWKS; kept alive for the client and verifiers.
    pub verys: VerysServer,
    pub client: Client<Public>,
    pub id_tokens: Vec<String>,
    pub id_floors: Vec<Floor>,
    pub access_tokens: Vec<String>,
    pub access_floors: Vec<Floor>,
}

impl Tokens {
    /// `count` tokens of each kind, signed in turn by keys made from
    /// `secrets`; every key is cached before this returns.
    pub(crate) fn new(secrets: &[[u8; 32]], count: usize) -> Self {
        let keys: Vec<BenchKey> = secrets.iter().map(|s| BenchKey::new(*s)).collect();
        let verys = VerysServer::start();
        verys.set_jwks_body(Some(jwks(&keys.iter().collect::<Vec<_>>())));
        let issuer = verys.issuer();
        let client: Client<Public> = Client::builder(&issuer, CLIENT_ID)
            .redirect_uri(seed::REDIRECT_URI)
            .build()
            .unwrap();
        let key = |n: usize| &keys[n % keys.len()];
        let id_tokens: Vec<String> = (0..count)
            .map(|n| key(n).sign(&id_token_claims(&issuer, n)))
            .collect();
        let access_tokens: Vec<String> = (0..count)
            .map(|n| key(n).sign(&access_token_claims(&issuer, n)))
            .collect();
        let floors = |tokens: &[String]| -> Vec<Floor> {
            tokens
                .iter()
                .enumerate()
                .map(|(n, token)| Floor::of(token, key(n)))
                .collect()
        };
        let tokens = Self {
            id_floors: floors(&id_tokens),
            access_floors: floors(&access_tokens),
            verys,
            client,
            id_tokens,
            access_tokens,
        };
        for token in tokens.id_tokens.iter().take(keys.len()) {
            tokens
                .client
                .verify_id_token(token, Some(NONCE))
                .expect("warm the key cache");
        }
        tokens
    }

    /// A verifier of the access tokens remembering at most `capacity` of
    /// them, its keys cached.
    pub(crate) fn verifier(&self, capacity: usize) -> Verifier {
        let verifier = Verifier::builder(self.verys.issuer())
            .cache_capacity(capacity)
            .build()
            .unwrap();
        for token in &self.access_tokens[..2] {
            verifier.verify(token).expect("warm the key cache");
        }
        verifier
    }

    /// The crate's whole public path for an ID token.
    pub(crate) fn verify_id_token(&self, token: &str) -> IdTokenClaims {
        self.client
            .verify_id_token(black_box(token), Some(NONCE))
            .unwrap()
    }
}

/// The crate's whole public path for an access token.
pub(crate) fn verify_access_token(verifier: &Verifier, token: &str) -> AccessClaims {
    verifier.verify(black_box(token)).unwrap()
}
