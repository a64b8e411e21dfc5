//! A deterministic companion to `verify.rs`: run under callgrind, it counts
//! the instructions of the full ID token verification next to those of the
//! bare signature check, which wall-clock medians on a shared machine cannot
//! compare within a few percent. See benches/README.md.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _};
use serde_json::json;
use sha2::{Digest, Sha256, Sha512};
use std::hint::black_box;
use verys_client::testing::{VerysServer, seed};
use verys_client::{Client, Public};

/// `instructions floor|full N`: N bare signature checks, or N full
/// verifications of the same token (after one that warms the key cache).
fn main() {
    // `cargo bench` passes `--bench`; without a mode the binary only checks
    // that it runs.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = args.first().map_or("full", String::as_str).to_owned();
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1);
    let signing = SigningKey::from_bytes(&[9u8; 32]);
    let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#).as_bytes(),
    ));
    let verys = VerysServer::start();
    verys.set_jwks_body(Some(
        json!({"keys":[{"kty":"OKP","crv":"Ed25519","x":x,"kid":kid}]}).to_string(),
    ));
    let issuer = verys.issuer();
    let client: Client<Public> = Client::builder(&issuer, "bench-client")
        .redirect_uri(seed::REDIRECT_URI)
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let digest = Sha512::digest(b"an-access-token");
    let claims = json!({
        "iss": issuer, "sub": seed::USER_SUB, "aud": "bench-client",
        "exp": now + 3600, "iat": now, "auth_time": now,
        "nonce": "n-0123456789abcdef0123456789abcdef0123456", "at_hash": URL_SAFE_NO_PAD.encode(&digest[..32]),
        "email": seed::USER_EMAIL, "email_verified": true,
        "given_name": "Ada", "family_name": "Lovelace", "name": "Ada Lovelace",
        "origination": "2024-05-01T12:00:00+00:00", "roles": ["admin", "reader"],
    });
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signing.sign(input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
    let nonce = Some("n-0123456789abcdef0123456789abcdef0123456");
    client.verify_id_token(&token, nonce).unwrap();
    let vk = signing.verifying_key();
    let s = Signature::from_bytes(&sig.to_bytes());
    for _ in 0..n {
        if mode == "floor" {
            vk.verify(black_box(input.as_bytes()), black_box(&s))
                .unwrap();
        } else {
            black_box(client.verify_id_token(black_box(&token), nonce).unwrap());
        }
    }
}
