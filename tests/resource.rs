//! Resource-server verification of access tokens, and verification of ID
//! tokens on their own, for both transports.

mod common;

use common::{Flavor, confidential_builder, manual_clock, sign_in};
use verys_client::{Error, TokenRule, Verifier};
use verys_testing::{VerysServer, seed};

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
    an_exchanged_access_token_does_not_sign_in_to_its_audience,
    an_id_token_for_a_resource_servers_audience_is_not_a_bearer_token,
    a_remembered_token_is_refused_once_its_key_is_gone,
    a_key_set_without_usable_keys_withdraws_the_known_ones,
    an_old_key_serves_while_one_caller_refreshes_it,
    a_remembered_token_is_refused_when_the_clock_goes_back,
    a_remembered_token_whose_kid_names_another_key_is_refused,
    remembered_tokens_refresh_old_keys_unless_the_budget_holds_fetches_back,
    a_key_published_without_kid_is_known_by_its_rfc_7638_thumbprint,
    the_embedded_verys_key_published_without_its_kid_still_signs_in,
);

fn access_token_of_a_sign_in_verifies_with_typed_claims<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let verifier = client.verifier();
    let claims = F::verify(&verifier, tokens.access_token().expose_secret()).unwrap();
    assert_eq!(claims.sub(), seed::USER_SUB);
    assert_eq!(claims.issuer(), server.issuer());
    assert_eq!(claims.audience(), [server.issuer()]);
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
    let claims = F::verify(&verifier, &token).unwrap();
    assert_eq!(verifier.cache_hits(), 0);
    F::verify(&verifier, &token).unwrap();
    assert_eq!(verifier.cache_hits(), 1, "answered from the cache");
    // The token's own expiry, not the test's timing, sets the moment: the
    // last second within the 60 s leeway, then the first beyond it.
    let exp = claims
        .expires_at()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    clock.set(exp + 59);
    F::verify(&verifier, &token).unwrap();
    assert_eq!(verifier.cache_hits(), 2, "still answered from the cache");
    clock.set(exp + 60);
    assert!(matches!(
        F::verify(&verifier, &token),
        Err(Error::InvalidAccessToken(TokenRule::Expired))
    ));
    assert!(matches!(
        verifier.verify_cached(&token),
        Err(Error::InvalidAccessToken(TokenRule::Expired))
    ));
    assert_eq!(verifier.cache_hits(), 2, "an expired token is no hit");
    assert_eq!(verifier.cached_tokens(), 0, "and is forgotten");
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
    let api = client.verifier().for_audience(seed::API_CLIENT_ID);
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
            reason,
        })) if reason == "the scopes member has the wrong type"
    ));
    let none = server.sign_jwt(
        &serde_json::json!({"alg": "none", "kid": server.key_id()}),
        &claims(&server.issuer()),
    );
    assert!(matches!(
        F::verify(&verifier, &none),
        Err(Error::InvalidAccessToken(TokenRule::Algorithm(Some(alg)))) if alg == "none"
    ));
    let unknown_kid = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "not-in-the-jwks"});
    let unknown = server.sign_jwt(&unknown_kid, &claims(&server.issuer()));
    assert!(matches!(
        F::verify(&verifier, &unknown),
        Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
    ));
}

/// An access token whose `kid` no JWKS publishes: verifying it has the
/// verifier fetch the keys again.
fn with_another_kid(server: &VerysServer) -> String {
    let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "another"});
    let claims = serde_json::json!({"iss": server.issuer(), "sub": "u", "aud": server.issuer(),
        "iat": now(), "exp": now() + 300, "scopes": ["openid"]});
    server.sign_jwt(&header, &claims)
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
    // The first pass verifies 19 tokens in full (the first was before it).
    assert_eq!(verifier.cache_hits(), 5 * 20 - 19);
    assert_eq!(verifier.cached_tokens(), 20);
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

/// The token-confusion attack: a client that holds Ada's access token
/// exchanges it for client X (RFC 8693); the token names X as audience and
/// carries the same header and core claims as an ID token of X. X must not
/// take it as an ID token, neither verified on its own nor restored from a
/// session store.
fn an_exchanged_access_token_does_not_sign_in_to_its_audience<F: Flavor>() {
    let server = VerysServer::start();
    let holder = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &holder);
    let exchanged = F::exchange_token(&holder, tokens.access_token(), seed::API_CLIENT_ID).unwrap();
    let token = exchanged.access_token.expose_secret();
    let target = F::build(
        verys_client::Client::builder(server.issuer(), seed::API_CLIENT_ID)
            .redirect_uri(seed::REDIRECT_URI)
            .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET),
    )
    .unwrap();
    let refused = Error::InvalidIdToken(TokenRule::OtherKind("it carries scopes"));
    for nonce in [None, Some("any")] {
        let result = F::verify_id_token(&target, token, nonce);
        assert_eq!(
            format!("{result:?}"),
            format!("{:?}", Err::<(), _>(&refused))
        );
    }
    let stored: verys_client::StoredTokens = serde_json::from_value(serde_json::json!({
        "id_token": token,
        "access_token": token,
        "expires_at": null,
        "refresh_token": null,
        "scopes": ["openid"],
        "nonce": null,
    }))
    .unwrap();
    let result = F::restore_tokens(&target, stored);
    assert!(
        matches!(
            &result,
            Err(Error::InvalidIdToken(TokenRule::OtherKind(
                "it carries scopes"
            )))
        ),
        "{result:?}"
    );
}

/// The mirror: an ID token whose audience is a resource server's (a client
/// id doubling as an API's audience) is not a bearer token for it, fresh
/// from a sign-in (with `nonce`) or from a refresh (without, but with
/// `at_hash` and `auth_time`), and no ID token carries `scopes`.
fn an_id_token_for_a_resource_servers_audience_is_not_a_bearer_token<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let refreshed = F::refresh(&client, &tokens).unwrap();
    let api = client.verifier().for_audience(seed::CONFIDENTIAL_CLIENT_ID);
    for (id_token, claim) in [
        (tokens.id_token(), "it carries nonce"),
        (refreshed.id_token(), "it carries at_hash"),
    ] {
        let result = F::verify(&api, id_token);
        assert!(
            matches!(&result, Err(Error::InvalidAccessToken(TokenRule::OtherKind(said))) if *said == claim),
            "{result:?}"
        );
    }
    // Without any ID-token-only claim, an ID token still lacks `scopes`.
    let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": server.key_id()});
    let bare = serde_json::json!({"iss": server.issuer(), "sub": seed::USER_SUB,
        "aud": seed::CONFIDENTIAL_CLIENT_ID, "iat": now(), "exp": now() + 300});
    let result = F::verify(&api, &server.sign_jwt(&header, &bare));
    assert!(
        matches!(
            &result,
            Err(Error::InvalidAccessToken(TokenRule::OtherKind(
                "it lacks scopes"
            )))
        ),
        "{result:?}"
    );
}

/// After a rotation drops a key and the JWKS is fetched again, a token the
/// verifier remembers from before is refused as a fresh verifier refuses
/// it (`UnknownKeyId`), through `verify` and `verify_cached` alike; a token
/// whose key the rotation kept stays accepted.
fn a_remembered_token_is_refused_once_its_key_is_gone<F: Flavor>() {
    let server = VerysServer::start();
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let token = |server: &VerysServer| {
        server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300)
    };
    let old = token(&server);
    F::verify(&verifier, &old).unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    server.rotate_key_keep_old();
    let kept = token(&server);
    // The new kid makes the verifier fetch; the old key is still published.
    F::verify(&verifier, &kept).unwrap();
    assert_eq!(F::verify(&verifier, &old).unwrap().sub(), seed::USER_SUB);
    server.rotate_key();
    let newest = token(&server);
    F::verify(&verifier, &newest).unwrap();
    assert_eq!(server.jwks_fetches(), 3);
    for gone in [&old, &kept] {
        assert!(matches!(
            verifier.verify_cached(gone),
            Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
        ));
        assert!(matches!(
            F::verify(&verifier, gone),
            Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
        ));
    }
    let fresh = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    assert!(matches!(
        F::verify(&fresh, &old),
        Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
    ));
    assert_eq!(F::verify(&verifier, &newest).unwrap().sub(), seed::USER_SUB);
}

/// A cache hit applies every time rule, not the expiry alone: with the
/// clock set back before the token's `iat` (beyond the leeway), the token
/// is refused as a fresh verifier refuses it.
fn a_remembered_token_is_refused_when_the_clock_goes_back<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let verifier =
        F::build_verifier(Verifier::builder(server.issuer()).clock(clock.clone())).unwrap();
    let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
    let claims = F::verify(&verifier, &token).unwrap();
    F::verify(&verifier, &token).unwrap();
    assert_eq!(verifier.cache_hits(), 1);
    let iat = claims
        .issued_at()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    clock.set(iat - 60);
    // Keys fetched "later" than the clock now reads are of unknown age: the
    // first verification since is in full, and fetches them again.
    let fetches = server.jwks_fetches();
    F::verify(&verifier, &token).unwrap();
    assert_eq!(
        (verifier.cache_hits(), server.jwks_fetches()),
        (1, fetches + 1)
    );
    F::verify(&verifier, &token).unwrap();
    assert_eq!(verifier.cache_hits(), 2, "within the leeway: a hit");
    clock.set(iat - 61);
    assert!(matches!(
        F::verify(&verifier, &token),
        Err(Error::InvalidAccessToken(TokenRule::IssuedInFuture))
    ));
    assert_eq!(verifier.cache_hits(), 2);
    assert_eq!(verifier.cached_tokens(), 0);
}

/// The JWKS, fetched again, publishes another key under the `kid` a
/// remembered token names: the token is verified again in full, and its
/// signature no longer verifies.
fn a_remembered_token_whose_kid_names_another_key_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
    F::verify(&verifier, &token).unwrap();
    F::verify(&verifier, &token).unwrap();
    assert_eq!(verifier.cache_hits(), 1);
    let other = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let x = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        other.as_bytes(),
    );
    let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
        "use": "sig", "kid": server.key_id(), "x": x}]});
    server.set_jwks_body(Some(jwks.to_string()));
    assert!(matches!(
        F::verify(&verifier, &with_another_kid(&server)),
        Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
    ));
    assert_eq!(server.jwks_fetches(), 2);
    assert!(matches!(
        verifier.verify_cached(&token),
        Err(Error::InvalidAccessToken(TokenRule::Signature))
    ));
    assert!(matches!(
        F::verify(&verifier, &token),
        Err(Error::InvalidAccessToken(TokenRule::Signature))
    ));
    assert_eq!(verifier.cache_hits(), 1);
    assert_eq!(verifier.cached_tokens(), 0);
}

/// A verifier that sees only tokens it remembers still refreshes keys
/// older than the maximum age, so a withdrawn key stops serving them; while
/// the fetch budget holds refreshes back (the JWKS endpoint failing), the
/// old keys answer remembered tokens as they answer fresh ones, from the
/// cache.
fn remembered_tokens_refresh_old_keys_unless_the_budget_holds_fetches_back<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let verifier = F::build_verifier(
        Verifier::builder(server.issuer())
            .clock(clock.clone())
            .jwks_max_age(std::time::Duration::from_secs(600))
            .jwks_burst(1),
    )
    .unwrap();
    let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 7200);
    F::verify(&verifier, &token).unwrap();
    clock.advance(599);
    F::verify(&verifier, &token).unwrap();
    assert_eq!(verifier.cache_hits(), 1, "keys still fresh: a hit");
    assert_eq!(server.jwks_fetches(), 1);

    clock.advance(2);
    server.set_jwks_failure(true);
    F::verify(&verifier, &token).unwrap();
    assert_eq!(
        server.requests("/.well-known/jwks.json"),
        2,
        "a refresh was tried"
    );
    assert_eq!(verifier.cache_hits(), 1, "verified in full");
    F::verify(&verifier, &token).unwrap();
    assert_eq!(
        verifier.cache_hits(),
        2,
        "the budget holds fetches back: a hit"
    );
    assert_eq!(server.requests("/.well-known/jwks.json"), 2);

    // The budget refills; the issuer has withdrawn the key meanwhile.
    clock.advance(31);
    server.set_jwks_failure(false);
    server.rotate_key();
    assert!(matches!(
        F::verify(&verifier, &token),
        Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
    ));
    assert_eq!(verifier.cache_hits(), 2);
}

/// An issuer that withdraws a (leaked) key by publishing no usable key at
/// all: the verifier stops using the key it knew, remembered tokens
/// included.
fn a_key_set_without_usable_keys_withdraws_the_known_ones<F: Flavor>() {
    let server = VerysServer::start();
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
    F::verify(&verifier, &token).unwrap();
    server.set_jwks_body(Some(r#"{"keys": []}"#.into()));
    assert!(matches!(
        F::verify(&verifier, &with_another_kid(&server)),
        Err(Error::NoUsableKey)
    ));
    assert!(matches!(
        F::verify(&verifier, &token),
        Err(Error::NoUsableKey)
    ));
    assert!(matches!(
        verifier.verify_cached(&token),
        Err(Error::NoUsableKey)
    ));
}

/// Keys older than the JWKS maximum age are refreshed by one caller while
/// the others go on with the key they have: with the JWKS endpoint slow, a
/// second verification is answered while the first caller still waits for
/// the JWKS (no timing bound: the first caller's state shows the order).
fn an_old_key_serves_while_one_caller_refreshes_it<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let verifier = F::build_verifier(
        Verifier::builder(server.issuer())
            .clock(clock.clone())
            .jwks_max_age(std::time::Duration::from_secs(600)),
    )
    .unwrap();
    let token = |sub: &str| server.issue_access_token(sub, &server.issuer(), &["openid"], 3600);
    F::verify(&verifier, &token("first")).unwrap();
    clock.advance(601);
    server.set_response_delay(
        "/.well-known/jwks.json",
        Some(std::time::Duration::from_secs(3)),
    );
    std::thread::scope(|s| {
        let refreshing =
            s.spawn(|| F::verify(&verifier, &token("second")).map(|c| c.sub().to_owned()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while server.requests("/.well-known/jwks.json") < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the refresh never started"
            );
            std::thread::yield_now();
        }
        assert_eq!(
            F::verify(&verifier, &token("third")).unwrap().sub(),
            "third"
        );
        assert!(!refreshing.is_finished(), "answered before the refresh was");
        assert_eq!(refreshing.join().unwrap().unwrap(), "second");
    });
    assert_eq!(server.jwks_fetches(), 2, "one refresh for both callers");
}

#[test]
fn bearer_tokens_are_read_as_rfc_6750_spells_them() {
    use verys_client::bearer_token;
    // The scheme is case-insensitive (RFC 7235 §2.1); one or more spaces.
    for header in ["Bearer eyJ.a.b", "bearer eyJ.a.b", "BEARER   eyJ.a.b"] {
        assert_eq!(bearer_token(header), Some("eyJ.a.b"), "{header:?}");
    }
    // Every b64token character, and the trailing `=` padding.
    assert_eq!(bearer_token("Bearer aZ09-._~+/=="), Some("aZ09-._~+/=="));
    for header in [
        "",
        "Bearer",
        "Bearer ",
        "Bearer ==",
        "Bearer a b",
        "Bearer a=b",
        "Bearer a,b",
        "Basic dXNlcjpwYXNz",
        "Bearerx eyJ.a.b",
    ] {
        assert_eq!(bearer_token(header), None, "{header:?}");
    }
}

#[test]
fn a_verifier_shows_what_it_checks_and_nothing_else() {
    let server = VerysServer::start();
    let verifier = Verifier::builder(server.issuer())
        .audience("api://orders")
        .build()
        .unwrap();
    let debug = format!("{verifier:?}");
    assert!(debug.starts_with("Verifier {"), "{debug}");
    assert!(debug.contains(&server.issuer()), "{debug}");
    assert!(debug.contains("api://orders"), "{debug}");
}

/// RFC 8037 Appendix A.1's Ed25519 key, whose RFC 7638 thumbprint (A.3) is
/// `kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k`: the members `crv`, `kty`,
/// `x` in that order, hashed.
const RFC_8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC_8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC_8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

/// A JWKS publishing a key without `kid` names it by its thumbprint: a
/// token signed by RFC 8037's key under the published thumbprint as `kid`
/// verifies, and one naming any other `kid` finds no key.
fn a_key_published_without_kid_is_known_by_its_rfc_7638_thumbprint<F: Flavor>() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::Signer as _;
    let mut d = [0u8; 32];
    assert_eq!(
        URL_SAFE_NO_PAD.decode_slice(RFC_8037_D, &mut d).unwrap(),
        32
    );
    let key = ed25519_dalek::SigningKey::from_bytes(&d);
    assert_eq!(
        URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        RFC_8037_X
    );
    let server = VerysServer::start();
    let issuer = server.issuer();
    let sign = |kid: &str| {
        let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
        let claims = serde_json::json!({"iss": issuer, "sub": seed::USER_SUB, "aud": issuer,
            "iat": now(), "exp": now() + 300, "scopes": ["openid"]});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = key.sign(input.as_bytes()).to_bytes();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC_8037_X}]});
    server.set_jwks_body(Some(jwks.to_string()));
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let claims = F::verify(&verifier, &sign(RFC_8037_THUMBPRINT)).unwrap();
    assert_eq!(claims.sub(), seed::USER_SUB);
    // The members in another order, or with whitespace, hash to other names.
    for canonical in [
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC_8037_X}"}}"#),
        format!(r#"{{"crv":"Ed25519","x":"{RFC_8037_X}","kty":"OKP"}}"#),
        format!(r#"{{"crv": "Ed25519", "kty": "OKP", "x": "{RFC_8037_X}"}}"#),
    ] {
        use sha2::Digest as _;
        let kid = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()));
        assert!(
            matches!(
                F::verify(&verifier, &sign(&kid)),
                Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
            ),
            "{canonical}"
        );
    }
}

/// The embedded Verys's `kid` is its key's thumbprint, computed apart from
/// the client's code: published without it, the key still verifies the
/// sign-in's ID token and access token under that `kid`.
fn the_embedded_verys_key_published_without_its_kid_still_signs_in<F: Flavor>() {
    let server = VerysServer::start();
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    let url = format!("{}/.well-known/jwks.json", server.issuer());
    let body = agent
        .get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let mut jwks: serde_json::Value = serde_json::from_str(&body).unwrap();
    let key = jwks["keys"][0].as_object_mut().unwrap();
    assert_eq!(key.remove("kid"), Some(server.key_id().into()));
    server.set_jwks_body(Some(jwks.to_string()));
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    assert_eq!(tokens.sub(), seed::USER_SUB);
    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    let claims = F::verify(&verifier, tokens.access_token().expose_secret()).unwrap();
    assert_eq!(claims.sub(), seed::USER_SUB);
}
