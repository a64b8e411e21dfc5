//! Entry points for the cargo-fuzz targets in `fuzz/` (compiled only with
//! `--cfg fuzzing`, which cargo-fuzz passes): each hands arbitrary input to
//! one of the crate's real parsers, which must answer with a value or an
//! error and never panic.

use std::sync::OnceLock;

use crate::verify::access::{self, AccessRules};
use crate::verify::claims::CommonRules;
use crate::verify::id_token::{IdTokenClaims, IdTokenRules, NonceRule};
use crate::{Client, Public};

const ISSUER: &str = "https://auth.verys.example";
const CLIENT_ID: &str = "fuzz-client";
const NOW: u64 = 1_700_000_000;

fn common() -> CommonRules<'static> {
    CommonRules {
        issuer: ISSUER,
        now: NOW,
        leeway: 60,
        check_expiry: true,
    }
}

/// The claims of an ID token being refreshed: another token's, so that the
/// rule against a refresh changing the identity can fire.
fn previous() -> &'static IdTokenClaims {
    static PREVIOUS: OnceLock<IdTokenClaims> = OnceLock::new();
    PREVIOUS.get_or_init(|| {
        let text = format!(
            r#"{{"iss":"{ISSUER}","sub":"fuzz-user","aud":"{CLIENT_ID}","exp":{},"iat":{NOW}}}"#,
            NOW + 300
        );
        let rules = IdTokenRules::basic(common(), CLIENT_ID);
        IdTokenClaims::check(text.as_bytes(), &rules).expect("the previous claims are valid")
    })
}

/// The compact JWS parser and header rules, then (signature aside) the
/// claims of both kinds with their rules, as a code grant and as a refresh.
pub fn jwt(data: &str) {
    let Ok(jws) = crate::verify::jwt::parse(data) else {
        return;
    };
    let _ = jws.kid();
    let claims = jws.claims_unverified();
    for (nonce, previous) in [
        (NonceRule::Equals("nonce"), None),
        (NonceRule::AbsentOrEquals(Some("nonce")), Some(previous())),
    ] {
        let rules = IdTokenRules {
            common: common(),
            client_id: CLIENT_ID,
            trusted_audiences: &[],
            nonce,
            access_token: Some("access-token"),
            require_at_hash: false,
            max_age: Some(300),
            max_token_age: Some(3600),
            previous,
        };
        if let Ok(verified) = IdTokenClaims::check(claims, &rules) {
            let _ = (verified.email(), verified.roles(), verified.get("x"));
            let _ = verified.to_json();
        }
    }
    let rules = AccessRules {
        common: common(),
        audience: ISSUER,
    };
    if let Ok(verified) = access::check(claims, &rules) {
        let _ = (verified.expires_at(), verified.scopes());
    }
}

/// The JWKS document parser, with its key filters.
pub fn jwks(data: &[u8]) {
    let _ = crate::verify::keys::KeySet::parse(data);
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
