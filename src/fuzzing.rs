//! Entry points for the cargo-fuzz targets in `fuzz/` (compiled only with
//! `--cfg fuzzing`, which cargo-fuzz passes): each hands arbitrary input to
//! one of the crate's real parsers, which must answer with a value or an
//! error and never panic. The hand-written JSON and base64url readers of the
//! hot path are also compared with the libraries they replaced, which must
//! give the same verdict (as in `src/properties.rs`, on inputs the fuzzer
//! finds rather than ones a strategy builds).

use std::sync::OnceLock;

use crate::verify::claims::{Checked, IdTokenClaims, IdTokenRules, NonceRule};
use crate::{Client, Public};

const ISSUER: &str = "https://auth.verys.example";
const CLIENT_ID: &str = "fuzz-client";

/// The compact JWS parser and header rules, then (signature aside) the
/// claims decoding, the claim rules and the untyped claims map.
pub fn jwt(data: &str) {
    let Ok(jws) = crate::verify::jwt::parse(data) else {
        return;
    };
    let _ = jws.kid();
    let _ = jws.claims_text().map(crate::verify::jwt::claims_map);
    let Ok((checked, text)) = jws.decode_unverified::<Checked>() else {
        return;
    };
    let claims = IdTokenClaims::new(checked, text);
    let _ = (claims.email(), claims.roles(), claims.get("x"));
    let rules = IdTokenRules {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        now: 1_700_000_000,
        leeway: 60,
        nonce: NonceRule::Equals("nonce"),
        access_token: Some("access-token"),
        require_at_hash: false,
        max_age: Some(300),
        check_expiry: true,
        previous: Some(&claims),
    };
    let _ = claims.check(&rules);
}

/// The JWKS document parser, with its key filters.
pub fn jwks(data: &[u8]) {
    let _ = crate::verify::jwks::KeySet::parse(data);
}

/// The callback parser and checks of [`crate::PendingAuth::receive`]. Every
/// `{state}` in `data` is replaced by the flow's real state, so that the
/// fuzzer also reaches the checks after the state comparison.
pub fn callback(data: &str) {
    static CLIENT: OnceLock<Client<Public>> = OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        Client::builder(ISSUER, CLIENT_ID)
            .redirect_uri("https://app.example.com/auth/callback")
            .build()
            .expect("a valid fuzzing client")
    });
    let pending = client.authorize();
    let state = url::Url::parse(pending.url())
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(name, _)| name == "state")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default();
    let _ = pending.receive(&data.replace("{state}", &state));
}

/// The JSON reader against serde_json ([`crate::verify::differential::compare_json`]).
pub fn json(data: &str) {
    crate::verify::differential::compare_json(data);
}

/// The base64url decoder against `base64`
/// ([`crate::verify::differential::compare_base64url`]).
pub fn base64url(data: &[u8]) {
    crate::verify::differential::compare_base64url(data);
}
