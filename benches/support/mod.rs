//! What the benches share: a Verys-shaped ID token signed by a key of the
//! bench's own, a client that verifies it with the key cached, the floor's
//! inputs, and timing spread over stack positions. See benches/README.md.
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
use verys_client::testing::{VerysServer, seed};
use verys_client::{Client, Public};

pub const CLIENT_ID: &str = "bench-client";
pub const NONCE: &str = "n-0123456789abcdef0123456789abcdef0123456";

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
pub fn spread_over_stack<R>(iters: u64, mut routine: impl FnMut() -> R) -> Duration {
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
pub struct BenchKey {
    pub signing: SigningKey,
    kid: String,
}

impl BenchKey {
    pub fn new(secret: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&secret);
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let thumbprint = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint.as_bytes()));
        Self { signing, kid }
    }

    pub fn jwks(&self) -> String {
        let x = URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes());
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "use": "sig", "alg": "EdDSA", "kid": self.kid}]})
            .to_string()
    }

    pub fn sign(&self, claims: &Value) -> String {
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

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An ID token shaped like Verys's: every claim of the `openid profile
/// email` scopes, roles, nonce and at_hash.
pub fn id_token_claims(issuer: &str) -> Value {
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

/// The signing input and the decoded signature of `token`: what the floor
/// verifies.
pub fn split(token: &str) -> (VerifyingKeyInput, Signature) {
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

pub type VerifyingKeyInput = Vec<u8>;

/// One ID token and all it takes to verify it both ways.
pub struct IdToken {
    /// Serves the JWKS; kept alive for the client.
    pub verys: VerysServer,
    pub client: Client<Public>,
    pub token: String,
    pub key: BenchKey,
    /// The floor's inputs.
    pub verifying: VerifyingKey,
    pub input: VerifyingKeyInput,
    pub signature: Signature,
}

impl IdToken {
    /// Signs a token with a key made from `secret` and verifies it once,
    /// which caches the key.
    pub fn new(secret: [u8; 32]) -> Self {
        let key = BenchKey::new(secret);
        let verys = VerysServer::start();
        verys.set_jwks_body(Some(key.jwks()));
        let client: Client<Public> = Client::builder(verys.issuer(), CLIENT_ID)
            .redirect_uri(seed::REDIRECT_URI)
            .build()
            .unwrap();
        let token = key.sign(&id_token_claims(&verys.issuer()));
        client
            .verify_id_token(&token, Some(NONCE))
            .expect("warm the key cache");
        let (input, signature) = split(&token);
        Self {
            verifying: key.signing.verifying_key(),
            verys,
            client,
            token,
            key,
            input,
            signature,
        }
    }

    /// The floor: the bare signature check, as the crate makes it.
    pub fn floor(&self) {
        ed25519_dalek::Verifier::verify(
            &self.verifying,
            black_box(&self.input),
            black_box(&self.signature),
        )
        .unwrap();
    }

    /// The crate's whole public path.
    pub fn verify(&self) -> verys_client::IdTokenClaims {
        self.client
            .verify_id_token(black_box(&self.token), Some(NONCE))
            .unwrap()
    }
}
