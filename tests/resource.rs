//! Resource-server verification of access tokens, and verification of ID
//! tokens on their own, for both transports.

mod common;

use common::{Flavor, confidential_builder, manual_clock, sign_in};
use verys_client::testing::{VerysServer, seed};
use verys_client::{Error, TokenRule, Verifier};

scenarios!(
    access_token_of_a_sign_in_verifies_with_typed_claims,
    missing_scope_and_role_are_typed_errors,
    expired_access_token_is_refused_even_after_a_cache_hit,
    access_token_for_another_audience_is_refused,
    exchanged_token_verifies_for_the_target_audience,
    access_token_rules_name_the_broken_rule,
    steady_state_verification_makes_no_request,
    verify_cached_never_fetches,
    id_token_verifies_on_its_own_with_its_nonce,
);

fn access_token_of_a_sign_in_verifies_with_typed_claims<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let verifier = client.verifier();
    let claims = F::verify(&verifier, tokens.access_token().expose_secret()).unwrap();
    assert_eq!(claims.sub(), seed::USER_SUB);
    assert_eq!(claims.issuer(), server.issuer());
    assert_eq!(claims.audience().as_slice(), [server.issuer()]);
    assert_eq!(claims.roles(), ["admin", "reader"]);
    assert!(claims.scopes().iter().any(|s| s == "api.read"));
    assert!(claims.expires_at() > claims.issued_at());
}

fn missing_scope_and_role_are_typed_errors<F: Flavor>() {
    let server = VerysServer::start();
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let token = server.issue_access_token(seed::OTHER_USER_SUB, &server.issuer(), &["openid"], 300);
    let claims = F::verify(&verifier, &token).unwrap();
    assert!(claims.require_scope("openid").is_ok());
    match claims.require_scope("api.read") {
        Err(Error::MissingScope(scope)) => assert_eq!(scope, "api.read"),
        other => panic!("{other:?}"),
    }
    match claims.require_role("admin") {
        Err(Error::MissingRole(role)) => assert_eq!(role, "admin"),
        other => panic!("{other:?}"),
    }
}

fn expired_access_token_is_refused_even_after_a_cache_hit<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let verifier =
        F::build_verifier(Verifier::builder(server.issuer()).clock(clock.clone())).unwrap();
    let stale = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], -120);
    assert!(matches!(
        F::verify(&verifier, &stale),
        Err(Error::InvalidAccessToken(TokenRule::Expired))
    ));
    let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
    assert!(F::verify(&verifier, &token).is_ok());
    assert!(F::verify(&verifier, &token).is_ok(), "a cache hit");
    clock.advance(300 + 61);
    assert!(matches!(
        F::verify(&verifier, &token),
        Err(Error::InvalidAccessToken(TokenRule::Expired))
    ));
}

fn access_token_for_another_audience_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let token = server.issue_access_token(seed::USER_SUB, seed::API_CLIENT_ID, &["api.read"], 300);
    assert!(matches!(
        F::verify(&verifier, &token),
        Err(Error::InvalidAccessToken(TokenRule::Audience))
    ));
}

fn exchanged_token_verifies_for_the_target_audience<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let exchanged = F::exchange_token(&client, tokens.access_token(), seed::API_CLIENT_ID).unwrap();
    let api = client.verifier().with_audience(seed::API_CLIENT_ID);
    assert_eq!(api.audience(), seed::API_CLIENT_ID);
    let claims = F::verify(&api, exchanged.access_token.expose_secret()).unwrap();
    assert_eq!(claims.sub(), seed::USER_SUB);
    assert!(matches!(
        F::verify(&client.verifier(), exchanged.access_token.expose_secret()),
        Err(Error::InvalidAccessToken(TokenRule::Audience))
    ));
}

fn access_token_rules_name_the_broken_rule<F: Flavor>() {
    let server = VerysServer::start();
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": server.key_id()});
    let claims = |iss: &str| serde_json::json!({"iss": iss, "sub": "u", "aud": server.issuer(), "iat": now(), "exp": now() + 300, "scopes": ["openid"]});
    let wrong_issuer = server.sign_jwt(&header, &claims("https://evil.example"));
    assert!(matches!(
        F::verify(&verifier, &wrong_issuer),
        Err(Error::InvalidAccessToken(TokenRule::Issuer))
    ));
    let forged = server.sign_jwt_with_random_key(&header, &claims(&server.issuer()));
    assert!(matches!(
        F::verify(&verifier, &forged),
        Err(Error::InvalidAccessToken(TokenRule::Signature))
    ));
    let mut scope_string = claims(&server.issuer());
    scope_string["scopes"] = "openid profile".into();
    assert!(matches!(
        F::verify(&verifier, &server.sign_jwt(&header, &scope_string)),
        Err(Error::InvalidAccessToken(TokenRule::MalformedJson {
            part: "claims",
            ..
        }))
    ));
    let none = server.sign_jwt(
        &serde_json::json!({"alg": "none", "kid": server.key_id()}),
        &claims(&server.issuer()),
    );
    assert!(matches!(
        F::verify(&verifier, &none),
        Err(Error::InvalidAccessToken(TokenRule::Algorithm(_)))
    ));
    let unknown_kid = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "not-in-the-jwks"});
    let unknown = server.sign_jwt(&unknown_kid, &claims(&server.issuer()));
    assert!(matches!(
        F::verify(&verifier, &unknown),
        Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
    ));
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn steady_state_verification_makes_no_request<F: Flavor>() {
    let server = VerysServer::start();
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let tokens: Vec<String> = (0..20)
        .map(|n| {
            server.issue_access_token(&format!("user-{n}"), &server.issuer(), &["openid"], 300)
        })
        .collect();
    F::verify(&verifier, &tokens[0]).unwrap();
    assert_eq!(server.jwks_fetches(), 1);
    let before = server.requests("/.well-known/jwks.json") + server.requests("/token");
    for _ in 0..5 {
        for token in &tokens {
            F::verify(&verifier, token).unwrap();
        }
    }
    assert_eq!(server.jwks_fetches(), 1);
    assert_eq!(
        server.requests("/.well-known/jwks.json") + server.requests("/token"),
        before
    );
    assert_eq!(
        server.connections(),
        1,
        "only the one jwks fetch ever connected"
    );
}

fn verify_cached_never_fetches<F: Flavor>() {
    let server = VerysServer::start();
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
    assert!(matches!(
        verifier.verify_cached(&token),
        Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
    ));
    assert_eq!(server.jwks_fetches(), 0);
    F::verify(&verifier, &token).unwrap();
    assert_eq!(
        verifier.verify_cached(&token).unwrap().sub(),
        seed::USER_SUB
    );
}

fn id_token_verifies_on_its_own_with_its_nonce<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let nonce = tokens.claims().nonce();
    let claims = F::verify_id_token(&client, tokens.id_token(), nonce).unwrap();
    assert_eq!(claims.sub(), seed::USER_SUB);
    assert!(matches!(
        F::verify_id_token(&client, tokens.id_token(), Some("another")),
        Err(Error::NonceMismatch)
    ));
    assert!(matches!(
        F::verify_id_token(&client, tokens.id_token(), None),
        Err(Error::NonceMismatch)
    ));
    let refreshed = F::refresh(&client, &tokens).unwrap();
    assert!(F::verify_id_token(&client, refreshed.id_token(), None).is_ok());
    let other = F::build(common::public_builder(&server)).unwrap();
    assert!(matches!(
        F::verify_id_token(&other, tokens.id_token(), nonce),
        Err(Error::InvalidIdToken(TokenRule::Audience))
    ));
}
