//! Every public method of both clients against the embedded Verys over real
//! HTTP, including each error variant the server can provoke. Each scenario
//! runs once per transport (see `common::scenarios!`).

mod common;

use std::time::Duration;

use common::{Flavor, callback, confidential_builder, manual_clock, public_builder, sign_in};
use verys_client::{ClientAuthMethod, Error, PendingAuth, Public, TokenRule, TransportErrorKind};
use verys_testing::{IdTokenFault, RawResponse, VerysServer, seed};

scenarios!(
    public_client_signs_in_with_pkce_and_no_secret,
    confidential_client_signs_in_with_client_secret_post,
    confidential_client_signs_in_with_client_secret_basic,
    confidential_client_can_turn_pkce_off,
    wrong_client_secret_is_a_token_request_error,
    callback_error_from_the_server_is_kept,
    replayed_code_is_refused_by_the_server,
    flow_state_of_another_client_is_refused,
    pending_auth_survives_a_serde_round_trip,
    the_code_reaches_the_token_endpoint_exactly_as_decoded,
    id_token_rules_name_the_broken_rule,
    missing_at_hash_is_accepted_unless_required,
    several_audiences_need_trust_and_a_matching_azp,
    unknown_kid_refetches_within_the_budget_then_fails,
    key_rotated_right_after_a_fetch_is_used_at_once,
    made_up_kids_cause_a_few_fetches_a_minute,
    key_rotation_is_followed_by_one_refetch,
    jwks_failure_is_a_jwks_error,
    jwks_without_usable_key_is_no_usable_key,
    old_keys_are_refetched_after_max_age,
    refresh_rotates_and_the_old_refresh_token_dies,
    refresh_that_changes_the_subject_is_refused,
    refresh_with_revoked_token_fails,
    refresh_without_a_new_refresh_token_keeps_the_old_one,
    a_refreshed_id_token_may_repeat_the_original_nonce_and_no_other,
    tokens_without_refresh_token_cannot_refresh,
    stored_tokens_are_verified_again_when_restored,
    a_stored_sign_in_cannot_be_recombined_with_another_users_id_token,
    a_stored_sign_in_with_an_old_id_token_is_refused,
    a_stored_sign_in_without_at_hash_does_not_restore_where_it_is_required,
    external_token_ids_that_are_not_uuids_are_refused,
    a_stored_sign_in_whose_id_token_carries_another_nonce_is_refused,
    token_exchange_returns_a_token_for_the_audience,
    token_exchange_errors_keep_the_oauth_error,
    federation_lists_and_fetches_external_tokens,
    federation_reauthorization_is_its_own_error,
    federation_unknown_token_is_an_endpoint_error,
    html_error_page_gives_a_clear_error,
    success_status_with_error_field_is_a_refusal,
    wrong_shape_or_empty_body_is_an_invalid_response,
    body_over_the_limit_is_not_read,
    slow_server_times_out,
    redirect_on_the_token_endpoint_is_not_followed,
    unreachable_server_is_a_connect_error,
    secrets_never_show_in_debug_display_or_errors,
);

fn public_client_signs_in_with_pkce_and_no_secret<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let pending = client.authorize();
    let url = url::Url::parse(pending.url()).unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("response_type").as_deref(), Some("code"));
    assert_eq!(get("client_id").as_deref(), Some(seed::PUBLIC_CLIENT_ID));
    assert_eq!(get("redirect_uri").as_deref(), Some(seed::REDIRECT_URI));
    assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(get("code_challenge").map(|c| c.len()), Some(43));
    assert_eq!(get("state").map(|s| s.len()), Some(43));
    assert_eq!(get("nonce").map(|s| s.len()), Some(43));
    let received = pending.receive(&server.login(url.as_str())).unwrap();
    let tokens = F::exchange_code(&client, received).unwrap();
    assert_authenticated_as(&server, None);
    let sent = &server.received_token_requests()[0];
    assert_eq!(sent.param("client_id"), Some(seed::PUBLIC_CLIENT_ID));
    assert_eq!(sent.param("code_verifier").map(str::len), Some(86));

    let claims = tokens.claims();
    assert_eq!(tokens.sub(), seed::USER_SUB);
    assert_eq!(claims.email(), Some(seed::USER_EMAIL));
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(claims.name(), Some("Ada Lovelace"));
    assert_eq!(claims.given_name(), Some("Ada"));
    assert_eq!(claims.family_name(), Some("Lovelace"));
    assert_eq!(claims.roles(), ["admin", "reader"]);
    assert!(claims.authenticated_at().is_some());
    assert_eq!(
        claims.get("origination"),
        Some(serde_json::json!("2024-05-01T12:00:00+00:00"))
    );
    assert!(!tokens.access_token().is_expired());
    let lifetime = tokens
        .expires_at()
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(lifetime > Duration::from_secs(290) && lifetime <= Duration::from_secs(300));
    assert!(tokens.refresh_token().is_some());
    assert!(tokens.scopes().iter().any(|s| s == "openid"));
    assert_eq!(tokens.id_token().split('.').count(), 3);
}

/// The server accepts either client authentication, so the test looks at
/// what each request presented: the secret as form fields, or only in an
/// HTTP Basic header (never both, never neither).
fn assert_authenticated_as(server: &VerysServer, expected: Option<ClientAuthMethod>) {
    let seen = server.received_token_requests();
    assert!(!seen.is_empty());
    for request in seen {
        assert_eq!(request.authentication, expected, "{request:?}");
        let secret_field = request.param("client_secret");
        match expected {
            Some(ClientAuthMethod::ClientSecretPost) => {
                assert_eq!(secret_field, Some(seed::CONFIDENTIAL_CLIENT_SECRET));
                assert_eq!(
                    request.param("client_id"),
                    Some(seed::CONFIDENTIAL_CLIENT_ID)
                );
            }
            _ => assert_eq!(secret_field, None),
        }
    }
}

fn confidential_client_signs_in_with_client_secret_post<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    assert_eq!(tokens.sub(), seed::USER_SUB);
    F::refresh(&client, &tokens).unwrap();
    assert_eq!(server.token_requests("authorization_code"), 1);
    assert_authenticated_as(&server, Some(ClientAuthMethod::ClientSecretPost));
}

fn confidential_client_signs_in_with_client_secret_basic<F: Flavor>() {
    let server = VerysServer::start();
    let builder = confidential_builder(&server).auth_method(ClientAuthMethod::ClientSecretBasic);
    let client = F::build(builder).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    assert_eq!(tokens.sub(), seed::USER_SUB);
    F::refresh(&client, &tokens).unwrap();
    F::exchange_token(&client, tokens.access_token(), seed::API_CLIENT_ID).unwrap();
    assert_eq!(server.received_token_requests().len(), 3);
    assert_authenticated_as(&server, Some(ClientAuthMethod::ClientSecretBasic));
}

fn confidential_client_can_turn_pkce_off<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server).pkce(false)).unwrap();
    let pending = client.authorize();
    assert!(!pending.url().contains("code_challenge"));
    let callback_url = server.login(pending.url());
    let received = pending.receive(&callback_url).unwrap();
    assert_eq!(
        F::exchange_code(&client, received).unwrap().sub(),
        seed::USER_SUB
    );
}

fn wrong_client_secret_is_a_token_request_error<F: Flavor>() {
    let server = VerysServer::start();
    let builder = verys_client::Client::builder(server.issuer(), seed::CONFIDENTIAL_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .client_secret("not-the-secret");
    let client = F::build(builder).unwrap();
    match F::exchange_code(&client, callback(&server, &client)) {
        Err(Error::TokenRequest(error)) => {
            assert_eq!(error.status, 401);
            assert_eq!(error.error(), Some("invalid_client"));
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }
}

fn callback_error_from_the_server_is_kept<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    server.set_authorize_error(Some(("access_denied".into(), "The user said no".into())));
    let pending = client.authorize();
    let callback_url = server.login(pending.url());
    match pending.receive(&callback_url) {
        Err(Error::Callback { error, description }) => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("The user said no"));
        }
        other => panic!("expected a callback error, got {other:?}"),
    }
}

fn replayed_code_is_refused_by_the_server<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let pending = client.authorize();
    let stored = serde_json::to_string(&pending).unwrap();
    let callback_url = server.login(pending.url());
    let first = pending.receive(&callback_url).unwrap();
    F::exchange_code(&client, first).unwrap();
    let copy: PendingAuth<Public> = serde_json::from_str(&stored).unwrap();
    let second = copy.receive(&callback_url).unwrap();
    match F::exchange_code(&client, second) {
        Err(Error::TokenRequest(error)) => {
            assert_eq!(error.status, 400);
            assert_eq!(error.error(), Some("invalid_grant"));
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

fn flow_state_of_another_client_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let other_server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let other = F::build(public_builder(&other_server)).unwrap();
    let received = callback(&server, &client);
    assert!(matches!(
        F::exchange_code(&other, received),
        Err(Error::ClientMismatch)
    ));
    assert_eq!(other_server.token_requests("authorization_code"), 0);
}

fn pending_auth_survives_a_serde_round_trip<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let pending = client.authorize();
    let url = pending.url().to_owned();
    let stored = serde_json::to_value(&pending).unwrap();
    drop(pending);
    let restored: PendingAuth<verys_client::Confidential> =
        serde_json::from_value(stored.clone()).unwrap();
    assert_eq!(restored.url(), url);
    let received = restored.receive(&server.login(&url)).unwrap();
    assert_eq!(
        F::exchange_code(&client, received).unwrap().sub(),
        seed::USER_SUB
    );
    // A confidential flow state is not a public one, even through a store.
    let as_public = serde_json::from_value::<PendingAuth<Public>>(stored);
    assert!(as_public.unwrap_err().to_string().contains("confidential"));
}

/// A code with characters outside base64url, percent-encoded in the
/// callback, is decoded once and sent as it is, not cleaned up or replaced.
fn the_code_reaches_the_token_endpoint_exactly_as_decoded<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let odd = "a/b+c=&d%e f\u{0}\u{1F600}é";
    let pending = client.authorize();
    let state = url::Url::parse(pending.url())
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let mut callback = url::Url::parse(seed::REDIRECT_URI).unwrap();
    callback
        .query_pairs_mut()
        .append_pair("code", odd)
        .append_pair("state", &state);
    let received = pending.receive(callback.as_str()).unwrap();
    match F::exchange_code(&client, received) {
        Err(Error::TokenRequest(refused)) => assert_eq!(refused.error(), Some("invalid_grant")),
        other => panic!("an unknown code must be refused, got {other:?}"),
    }
    let sent = &server.received_token_requests()[0];
    assert_eq!(sent.param("code"), Some(odd));
    assert_eq!(sent.param("redirect_uri"), Some(seed::REDIRECT_URI));
}

/// Whether an error is the one a case expects.
type ErrorCheck = fn(&Error) -> bool;

fn id_token_rules_name_the_broken_rule<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let cases: Vec<(IdTokenFault, ErrorCheck)> = vec![
        (IdTokenFault::WrongNonce, |e| {
            matches!(e, Error::NonceMismatch)
        }),
        (IdTokenFault::NoNonce, |e| matches!(e, Error::NonceMismatch)),
        (IdTokenFault::WrongAudience, |e| {
            matches!(e, Error::InvalidIdToken(TokenRule::Audience))
        }),
        (IdTokenFault::WrongIssuer, |e| {
            matches!(e, Error::InvalidIdToken(TokenRule::Issuer))
        }),
        (IdTokenFault::Expired, |e| {
            matches!(e, Error::InvalidIdToken(TokenRule::Expired))
        }),
        (IdTokenFault::IssuedInFuture, |e| {
            matches!(e, Error::InvalidIdToken(TokenRule::IssuedInFuture))
        }),
        (IdTokenFault::BadSignature, |e| {
            matches!(e, Error::InvalidIdToken(TokenRule::Signature))
        }),
        (IdTokenFault::SignedByOtherKey, |e| {
            matches!(e, Error::InvalidIdToken(TokenRule::Signature))
        }),
        (IdTokenFault::BadAtHash, |e| {
            matches!(e, Error::InvalidIdToken(TokenRule::AccessTokenHash))
        }),
        (
            IdTokenFault::AlgNone,
            |e| matches!(e, Error::InvalidIdToken(TokenRule::Algorithm(Some(alg))) if alg == "none"),
        ),
        (
            IdTokenFault::AlgHs256,
            |e| matches!(e, Error::InvalidIdToken(TokenRule::Algorithm(Some(alg))) if alg == "HS256"),
        ),
        (
            IdTokenFault::AlgRs256,
            |e| matches!(e, Error::InvalidIdToken(TokenRule::Algorithm(Some(alg))) if alg == "RS256"),
        ),
        (IdTokenFault::NoAlg, |e| {
            matches!(e, Error::InvalidIdToken(TokenRule::Algorithm(None)))
        }),
    ];
    for (fault, expected) in cases {
        let name = format!("{fault:?}");
        server.set_id_token_fault(Some(fault));
        let result = F::exchange_code(&client, callback(&server, &client));
        match result {
            Err(error) => assert!(expected(&error), "{name}: wrong error {error:?}"),
            Ok(_) => panic!("{name}: a broken id token was accepted"),
        }
    }
    server.set_id_token_fault(None);
    assert!(F::exchange_code(&client, callback(&server, &client)).is_ok());
}

fn missing_at_hash_is_accepted_unless_required<F: Flavor>() {
    let server = VerysServer::start();
    server.set_id_token_fault(Some(IdTokenFault::NoAtHash));
    let lenient = F::build(confidential_builder(&server)).unwrap();
    assert!(F::exchange_code(&lenient, callback(&server, &lenient)).is_ok());
    let strict = F::build(confidential_builder(&server).require_at_hash(true)).unwrap();
    assert!(matches!(
        F::exchange_code(&strict, callback(&server, &strict)),
        Err(Error::InvalidIdToken(TokenRule::MissingAccessTokenHash))
    ));
}

/// OpenID Connect Core 3.1.3.7 step 3: another audience than this client
/// is refused unless the client trusts it; steps 4 and 5: with several
/// audiences, `azp` must name this client.
fn several_audiences_need_trust_and_a_matching_azp<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let trusting = F::build(confidential_builder(&server).trusted_audiences(["other"])).unwrap();
    for fault in [
        IdTokenFault::AudArrayWithAzp,
        IdTokenFault::AudArrayWithClient,
        IdTokenFault::WrongAzp,
    ] {
        server.set_id_token_fault(Some(fault));
        assert!(matches!(
            F::exchange_code(&client, callback(&server, &client)),
            Err(Error::InvalidIdToken(TokenRule::UntrustedAudience))
        ));
    }
    server.set_id_token_fault(Some(IdTokenFault::AudArrayWithAzp));
    assert!(F::exchange_code(&trusting, callback(&server, &trusting)).is_ok());
    for fault in [IdTokenFault::AudArrayWithClient, IdTokenFault::WrongAzp] {
        server.set_id_token_fault(Some(fault));
        assert!(matches!(
            F::exchange_code(&trusting, callback(&server, &trusting)),
            Err(Error::InvalidIdToken(TokenRule::AuthorizedParty))
        ));
    }
}

/// A token naming an unknown `kid` is a reason to refetch, within the
/// budget: a burst of three fetches (the first sign-in's among them), then
/// one per 30 s cooldown.
fn unknown_kid_refetches_within_the_budget_then_fails<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    sign_in::<F, _>(&server, &client);
    assert_eq!(server.jwks_fetches(), 1);
    server.set_id_token_fault(Some(IdTokenFault::UnknownKid));
    for fetches in [2, 3, 3, 3] {
        assert!(matches!(
            F::exchange_code(&client, callback(&server, &client)),
            Err(Error::InvalidIdToken(TokenRule::UnknownKeyId))
        ));
        assert_eq!(server.jwks_fetches(), fetches);
    }
    clock.advance(30);
    server.set_clock_offset(30);
    assert!(matches!(
        F::exchange_code(&client, callback(&server, &client)),
        Err(Error::InvalidIdToken(TokenRule::UnknownKeyId))
    ));
    assert_eq!(server.jwks_fetches(), 4, "one more after the cooldown");
}

/// A key published right after a fetch (a restarted identity provider) is
/// fetched for the first token that names it, not after a cooldown.
fn key_rotated_right_after_a_fetch_is_used_at_once<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    sign_in::<F, _>(&server, &client);
    server.rotate_key();
    assert_eq!(sign_in::<F, _>(&server, &client).sub(), seed::USER_SUB);
    assert_eq!(server.jwks_fetches(), 2);
}

/// A flood of tokens naming made-up key ids, for a minute of the manual
/// clock: the burst, then one fetch per cooldown.
fn made_up_kids_cause_a_few_fetches_a_minute<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let verifier =
        F::build_verifier(verys_client::Verifier::builder(server.issuer()).clock(clock.clone()))
            .unwrap();
    let now = common::now(&*clock);
    let claims = serde_json::json!({"iss": server.issuer(), "sub": seed::USER_SUB,
        "aud": server.issuer(), "iat": now, "exp": now + 600, "scopes": ["openid"]});
    for second in 0..60 {
        for n in 0..10 {
            let header =
                serde_json::json!({"alg": "EdDSA", "kid": format!("made-up-{second}-{n}")});
            let token = server.sign_jwt(&header, &claims);
            assert!(matches!(
                F::verify(&verifier, &token),
                Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId))
            ));
        }
        clock.advance(1);
    }
    assert_eq!(server.jwks_fetches(), 3 + 1, "the burst, then one per 30 s");
}

fn key_rotation_is_followed_by_one_refetch<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    sign_in::<F, _>(&server, &client);
    sign_in::<F, _>(&server, &client);
    assert_eq!(server.jwks_fetches(), 1, "the key is cached");
    server.rotate_key();
    // Past the refetch cooldown, on both sides.
    clock.advance(31);
    server.set_clock_offset(31);
    sign_in::<F, _>(&server, &client);
    sign_in::<F, _>(&server, &client);
    assert_eq!(server.jwks_fetches(), 2, "one refetch for the new kid");
}

fn jwks_failure_is_a_jwks_error<F: Flavor>() {
    let server = VerysServer::start();
    server.set_jwks_failure(true);
    let client = F::build(confidential_builder(&server)).unwrap();
    match F::exchange_code(&client, callback(&server, &client)) {
        Err(Error::JwksFetch(reason)) => assert!(reason.contains("500"), "{reason}"),
        other => panic!("expected a jwks error, got {other:?}"),
    }
}

fn jwks_without_usable_key_is_no_usable_key<F: Flavor>() {
    let server = VerysServer::start();
    server.set_jwks_body(Some(
        r#"{"keys":[{"kty":"RSA","kid":"r1","n":"AQAB","e":"AQAB"},{"kty":"OKP","crv":"X25519","kid":"x","x":"AAAA"}]}"#.into(),
    ));
    let client = F::build(confidential_builder(&server)).unwrap();
    assert!(matches!(
        F::exchange_code(&client, callback(&server, &client)),
        Err(Error::NoUsableKey)
    ));
}

fn old_keys_are_refetched_after_max_age<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let builder = confidential_builder(&server)
        .clock(clock.clone())
        .jwks_max_age(Duration::from_secs(600));
    let client = F::build(builder).unwrap();
    sign_in::<F, _>(&server, &client);
    // Server and client clocks move together, so tokens stay valid.
    clock.advance(599);
    server.set_clock_offset(599);
    sign_in::<F, _>(&server, &client);
    assert_eq!(server.jwks_fetches(), 1);
    clock.advance(2);
    server.set_clock_offset(601);
    sign_in::<F, _>(&server, &client);
    assert_eq!(server.jwks_fetches(), 2);
}

fn refresh_rotates_and_the_old_refresh_token_dies<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    assert!(tokens.claims().nonce().is_some());
    let refreshed = F::refresh(&client, &tokens).unwrap();
    assert_eq!(refreshed.sub(), tokens.sub());
    assert!(
        refreshed.claims().nonce().is_none(),
        "verys drops the nonce on refresh"
    );
    assert_ne!(
        refreshed.refresh_token().unwrap().expose_secret(),
        tokens.refresh_token().unwrap().expose_secret()
    );
    match F::refresh(&client, &tokens) {
        Err(Error::TokenRequest(error)) => {
            assert_eq!(error.error(), Some("invalid_grant"));
            assert_eq!(
                error.description.as_deref(),
                Some("Refresh token is revoked or expired")
            );
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    let again = F::refresh(&client, &refreshed).unwrap();
    assert_eq!(again.sub(), seed::USER_SUB);
    assert_eq!(server.token_requests("refresh_token"), 3);
}

fn refresh_that_changes_the_subject_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    server.set_id_token_fault(Some(IdTokenFault::WrongSub));
    assert!(matches!(
        F::refresh(&client, &tokens),
        Err(Error::InvalidIdToken(TokenRule::Changed("subject")))
    ));
}

fn refresh_with_revoked_token_fails<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    server.revoke_all_refresh_tokens();
    match F::refresh(&client, &tokens) {
        Err(Error::TokenRequest(error)) => assert_eq!(error.error(), Some("invalid_grant")),
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

fn refresh_without_a_new_refresh_token_keeps_the_old_one<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let original = tokens.refresh_token().unwrap().expose_secret().to_owned();
    server.withhold_refresh_tokens(true);
    let refreshed = F::refresh(&client, &tokens).unwrap();
    assert_eq!(refreshed.refresh_token().unwrap().expose_secret(), original);
    let again = F::refresh(&client, &refreshed).unwrap();
    assert_eq!(again.refresh_token().unwrap().expose_secret(), original);
    assert_eq!(server.token_requests("refresh_token"), 2);
}

/// Refreshed ID tokens carrying `nonce`, as other providers send them
/// (Verys drops it on refresh).
fn with_nonce(nonce: &str) -> IdTokenFault {
    let nonce = nonce.to_owned();
    IdTokenFault::Custom(std::sync::Arc::new(move |_, claims| {
        claims["nonce"] = nonce.clone().into();
    }))
}

/// OpenID Connect Core 12.2: a refreshed ID token may repeat the sign-in's
/// nonce, as other providers do, and then it must be that nonce. The
/// original is kept across a refresh that dropped it.
fn a_refreshed_id_token_may_repeat_the_original_nonce_and_no_other<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let original = tokens.claims().nonce().unwrap().to_owned();
    server.set_id_token_fault(Some(with_nonce(&original)));
    let repeated = F::refresh(&client, &tokens).unwrap();
    assert_eq!(repeated.claims().nonce(), Some(original.as_str()));
    server.set_id_token_fault(None);
    let dropped = F::refresh(&client, &repeated).unwrap();
    assert_eq!(dropped.claims().nonce(), None, "verys drops the nonce");
    server.set_id_token_fault(Some(with_nonce(&original)));
    let again = F::refresh(&client, &dropped).unwrap();
    assert_eq!(again.claims().nonce(), Some(original.as_str()));

    // A nonce of the server's making.
    server.set_id_token_fault(Some(IdTokenFault::WrongNonce));
    let result = F::refresh(&client, &again);
    assert!(matches!(result, Err(Error::NonceMismatch)), "{result:?}");
    // Another sign-in's nonce.
    server.set_id_token_fault(None);
    let other = sign_in::<F, _>(&server, &client);
    let other_nonce = other.claims().nonce().unwrap().to_owned();
    assert_ne!(other_nonce, original);
    let fresh = sign_in::<F, _>(&server, &client);
    server.set_id_token_fault(Some(with_nonce(&other_nonce)));
    let result = F::refresh(&client, &fresh);
    assert!(matches!(result, Err(Error::NonceMismatch)), "{result:?}");
    assert_eq!(server.token_requests("refresh_token"), 5);
}

fn tokens_without_refresh_token_cannot_refresh<F: Flavor>() {
    let server = VerysServer::start();
    server.withhold_refresh_tokens(true);
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    assert!(tokens.refresh_token().is_none());
    assert!(matches!(
        F::refresh(&client, &tokens),
        Err(Error::NoRefreshToken)
    ));
    assert_eq!(server.token_requests("refresh_token"), 0);
}

fn stored_tokens_are_verified_again_when_restored<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let stored = serde_json::to_string(&tokens.to_stored()).unwrap();
    assert!(!format!("{:?}", tokens.to_stored()).contains(tokens.access_token().expose_secret()));
    // Hours later the ID token has expired; the stored sign-in still restores.
    clock.advance(12 * 3600);
    server.set_clock_offset(12 * 3600);
    let restored = F::restore_tokens(&client, serde_json::from_str(&stored).unwrap()).unwrap();
    assert_eq!(restored.sub(), seed::USER_SUB);
    assert_eq!(restored.claims().nonce(), tokens.claims().nonce());
    let refreshed = F::refresh(&client, &restored).unwrap();
    assert_eq!(refreshed.sub(), seed::USER_SUB);
    // A tampered identity does not restore.
    let mut forged: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let id_token = forged["id_token"].as_str().unwrap().to_owned();
    let mut claims = payload(&id_token);
    claims["sub"] = seed::OTHER_USER_SUB.into();
    let segments: Vec<&str> = id_token.split('.').collect();
    use base64::Engine as _;
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    forged["id_token"] = format!("{}.{body}.{}", segments[0], segments[2]).into();
    assert!(matches!(
        F::restore_tokens(&client, serde_json::from_value(forged).unwrap()),
        Err(Error::InvalidIdToken(TokenRule::Signature))
    ));
    // Another client's stored tokens are not this client's.
    let other = F::build(public_builder(&server).clock(clock.clone())).unwrap();
    assert!(matches!(
        F::restore_tokens(&other, serde_json::from_str(&stored).unwrap()),
        Err(Error::InvalidIdToken(TokenRule::Audience))
    ));
}

/// A writer of the session store pairs Ada's access and refresh tokens with
/// Grace's ID token: a restore would hand out `Tokens` for Grace that call
/// Verys as Ada. The ID token's `at_hash` names another access token.
fn a_stored_sign_in_cannot_be_recombined_with_another_users_id_token<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let ada = sign_in::<F, _>(&server, &client);
    let pending = client.authorize();
    let callback_url = server.login_as(pending.url(), seed::OTHER_USER_EMAIL);
    let grace = F::exchange_code(&client, pending.receive(&callback_url).unwrap()).unwrap();
    let mut stored = serde_json::to_value(ada.to_stored()).unwrap();
    stored["id_token"] = grace.id_token().into();
    stored["nonce"] = grace.claims().nonce().into();
    let result = F::restore_tokens(&client, serde_json::from_value(stored).unwrap());
    assert!(
        matches!(
            &result,
            Err(Error::InvalidIdToken(TokenRule::AccessTokenHash))
        ),
        "{result:?}"
    );
    // Each sign-in, stored whole, restores as itself.
    for tokens in [&ada, &grace] {
        let restored = F::restore_tokens(&client, tokens.to_stored()).unwrap();
        assert_eq!(restored.sub(), tokens.sub());
    }
}

/// An old ID token does not restore: a stored sign-in's ID token may have
/// been issued at most 24 hours ago (by default), and a sign-in refreshed
/// and stored again carries a new one.
fn a_stored_sign_in_with_an_old_id_token_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let first = sign_in::<F, _>(&server, &client).to_stored();
    let later = |hours: u64| {
        clock.advance(hours * 3600);
        server.set_clock_offset(i64::try_from(common::now(&*clock)).unwrap() - now_unix());
    };
    later(23);
    let restored = F::restore_tokens(&client, copy(&first)).unwrap();
    let refreshed = F::refresh(&client, &restored).unwrap().to_stored();
    later(2);
    assert!(matches!(
        F::restore_tokens(&client, copy(&first)),
        Err(Error::InvalidIdToken(TokenRule::TooOld))
    ));
    assert_eq!(
        F::restore_tokens(&client, copy(&refreshed)).unwrap().sub(),
        seed::USER_SUB
    );
    later(365 * 24);
    assert!(matches!(
        F::restore_tokens(&client, copy(&refreshed)),
        Err(Error::InvalidIdToken(TokenRule::TooOld))
    ));
    let patient = F::build(
        confidential_builder(&server)
            .clock(clock.clone())
            .restored_id_token_max_age(Duration::from_secs(400 * 86_400)),
    )
    .unwrap();
    assert_eq!(
        F::restore_tokens(&patient, copy(&first)).unwrap().sub(),
        seed::USER_SUB
    );
}

/// A client that requires `at_hash` requires it of a restored ID token as
/// well: without one, nothing binds the stored access token to it.
fn a_stored_sign_in_without_at_hash_does_not_restore_where_it_is_required<F: Flavor>() {
    let server = VerysServer::start();
    server.set_id_token_fault(Some(IdTokenFault::NoAtHash));
    let lenient = F::build(confidential_builder(&server)).unwrap();
    let stored = sign_in::<F, _>(&server, &lenient).to_stored();
    assert!(F::restore_tokens(&lenient, copy(&stored)).is_ok());
    let strict = F::build(confidential_builder(&server).require_at_hash(true)).unwrap();
    assert!(matches!(
        F::restore_tokens(&strict, stored),
        Err(Error::InvalidIdToken(TokenRule::MissingAccessTokenHash))
    ));
}

/// A stored sign-in keeps the nonce of its sign-in beside its ID token: an
/// ID token that carries another one (or one where the stored value lost
/// it) does not restore; one that repeats it does, also after a refresh
/// that repeated it.
fn a_stored_sign_in_whose_id_token_carries_another_nonce_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let original = tokens.claims().nonce().unwrap().to_owned();
    let other_nonce = sign_in::<F, _>(&server, &client)
        .claims()
        .nonce()
        .unwrap()
        .to_owned();
    assert_ne!(other_nonce, original);
    let restored = F::restore_tokens(&client, tokens.to_stored()).unwrap();
    assert_eq!(restored.claims().nonce(), Some(original.as_str()));

    let stored = serde_json::to_value(tokens.to_stored()).unwrap();
    assert_eq!(stored["nonce"], original.as_str());
    let with_stored_nonce = |nonce: serde_json::Value| {
        let mut stored = stored.clone();
        stored["nonce"] = nonce;
        F::restore_tokens(&client, serde_json::from_value(stored).unwrap())
    };
    let result = with_stored_nonce(other_nonce.as_str().into());
    assert!(matches!(result, Err(Error::NonceMismatch)), "{result:?}");
    let result = with_stored_nonce(serde_json::Value::Null);
    assert!(matches!(result, Err(Error::NonceMismatch)), "{result:?}");
    assert!(with_stored_nonce(original.as_str().into()).is_ok());

    server.set_id_token_fault(Some(with_nonce(&original)));
    let refreshed = F::refresh(&client, &restored).unwrap().to_stored();
    let back = F::restore_tokens(&client, copy(&refreshed)).unwrap();
    assert_eq!(back.claims().nonce(), Some(original.as_str()));
    let mut stored = serde_json::to_value(&refreshed).unwrap();
    stored["nonce"] = other_nonce.as_str().into();
    let result = F::restore_tokens(&client, serde_json::from_value(stored).unwrap());
    assert!(matches!(result, Err(Error::NonceMismatch)), "{result:?}");
}

/// Another stored form of the same sign-in, through its serialization.
fn copy(stored: &verys_client::StoredTokens) -> verys_client::StoredTokens {
    serde_json::from_value(serde_json::to_value(stored).unwrap()).unwrap()
}

fn now_unix() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(elapsed.as_secs()).unwrap()
}

/// URL joining drops `.` and `..` segments, after removing tabs and
/// newlines: `external_token(at, "..\t")` would go to `/federation` itself,
/// or to the issuer's root. Token ids are UUIDs; anything else is refused
/// before any request.
fn external_token_ids_that_are_not_uuids_are_refused<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let before = server.requests("/federation") + server.requests("/");
    let uuid = "0b6b7d7e-4c1f-4a52-9a8e-3f1f1f0c2d11";
    for id in [
        "",
        ".",
        "..",
        "..\t",
        "\t",
        ".\n.",
        "%2e%2e",
        "../tokens",
        &format!("{uuid}/.."),
        &format!("{{{uuid}}}"),
        &format!("urn:uuid:{uuid}"),
        &uuid.replace('-', ""),
        &format!("{uuid}\t"),
    ] {
        assert!(matches!(
            F::external_token(&client, tokens.access_token(), id),
            Err(Error::InvalidTokenId)
        ));
        assert!(matches!(
            F::delete_external_token(&client, tokens.access_token(), id),
            Err(Error::InvalidTokenId)
        ));
    }
    assert_eq!(
        server.requests("/federation") + server.requests("/"),
        before
    );
    assert_eq!(server.requests("/federation/"), 0);
}

fn token_exchange_returns_a_token_for_the_audience<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let exchanged = F::exchange_token(&client, tokens.access_token(), seed::API_CLIENT_ID).unwrap();
    assert_eq!(
        exchanged.issued_token_type,
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert!(!exchanged.access_token.is_expired());
    assert!(exchanged.access_token.expires_at().is_some());
    let claims = payload(exchanged.access_token.expose_secret());
    assert_eq!(claims["aud"], seed::API_CLIENT_ID);
    assert_eq!(claims["sub"], seed::USER_SUB);
}

fn payload(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let segment = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn token_exchange_errors_keep_the_oauth_error<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let refused = |audience: &str| match F::exchange_token(&client, tokens.access_token(), audience)
    {
        Err(Error::TokenRequest(error)) => (error.status, error.error.unwrap_or_default()),
        other => panic!("expected a refusal for {audience}, got {other:?}"),
    };
    assert_eq!(refused("no-such-client"), (400, "invalid_target".into()));
    assert_eq!(
        refused(seed::UNCONSENTED_CLIENT_ID),
        (403, "access_denied".into())
    );
    let narrow = F::build(public_builder(&server).scopes(["openid", "profile"])).unwrap();
    let narrow_tokens = sign_in::<F, _>(&server, &narrow);
    match F::exchange_token(&narrow, narrow_tokens.access_token(), seed::API_CLIENT_ID) {
        Err(Error::TokenRequest(error)) => {
            assert_eq!(
                (error.status, error.error()),
                (403, Some("insufficient_scope"))
            );
        }
        other => panic!("expected insufficient_scope, got {other:?}"),
    }
}

fn federation_lists_and_fetches_external_tokens<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let all = F::external_tokens(&client, tokens.access_token()).unwrap();
    let github = all
        .iter()
        .find(|t| t.provider_id == "github")
        .expect("the github token is listed");
    assert_eq!(github.token_id, seed::GITHUB_TOKEN_ID);
    assert!(all.iter().any(|t| t.provider_id == "gitlab"));
    let one = F::external_token(&client, tokens.access_token(), seed::GITHUB_TOKEN_ID).unwrap();
    assert_eq!(one.subject, "ada-gh");
    assert_eq!(one.token_type, "Bearer");
    assert_eq!(one.email.as_deref(), Some("ada@users.github.example"));
    assert_eq!(one.expose_secret(), "gho_embedded_github_token");
    let expires_in = one
        .expires_at
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(expires_in > Duration::from_secs(3000) && expires_in <= Duration::from_secs(3600));
}

fn federation_reauthorization_is_its_own_error<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    match F::external_token(&client, tokens.access_token(), seed::GITLAB_TOKEN_ID) {
        Err(Error::ExternalReauth { provider_id, .. }) => assert_eq!(provider_id, "gitlab"),
        other => panic!("expected re-authorization, got {other:?}"),
    }
}

fn federation_unknown_token_is_an_endpoint_error<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let unknown = "00000000-0000-4000-8000-000000000000";
    match F::external_token(&client, tokens.access_token(), unknown) {
        Err(Error::Endpoint { endpoint, error }) => {
            assert_eq!(endpoint, "federation");
            assert_eq!(error.status, 404);
            assert_eq!(error.error(), Some("External token not found"));
        }
        other => panic!("expected 404, got {other:?}"),
    }
    // A token id with a slash is no UUID: refused before it could leave the
    // federation path.
    assert!(matches!(
        F::external_token(&client, tokens.access_token(), "../token"),
        Err(Error::InvalidTokenId)
    ));
    assert_eq!(server.requests("/token"), 1);
}

fn token_endpoint_answering<F: Flavor>(
    response: RawResponse,
) -> (VerysServer, Result<verys_client::Tokens, Error>) {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server).max_response_bytes(64 * 1024)).unwrap();
    let received = callback(&server, &client);
    server.override_response("/token", Some(response));
    let result = F::exchange_code(&client, received);
    (server, result)
}

fn html_error_page_gives_a_clear_error<F: Flavor>() {
    let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    let (_server, result) = token_endpoint_answering::<F>(RawResponse::new(502, "text/html", page));
    match result {
        Err(Error::TokenRequest(error)) => {
            assert_eq!(error.status, 502);
            assert_eq!(error.error, None);
            assert_eq!(error.content_type.as_deref(), Some("text/html"));
            assert_eq!(
                Error::TokenRequest(error).to_string(),
                "token request failed: http 502 with a non-oauth body (text/html)"
            );
        }
        other => panic!("expected a 502 refusal, got {other:?}"),
    }
}

fn success_status_with_error_field_is_a_refusal<F: Flavor>() {
    let body = r#"{"error":"server_error","error_description":"try later"}"#;
    let (_server, result) =
        token_endpoint_answering::<F>(RawResponse::new(200, "application/json", body));
    match result {
        Err(Error::TokenRequest(error)) => {
            assert_eq!((error.status, error.error()), (200, Some("server_error")));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // An `error` too odd to repeat refuses all the same, beside the members
    // of a success.
    let token_like = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXRvLWhpZGU";
    for error in [
        "null".to_owned(),
        "42".to_owned(),
        r#"{"code":"server_error"}"#.to_owned(),
        format!(r#""{}""#, "e".repeat(65)),
        format!(r#""{token_like}""#),
    ] {
        let body = format!(r#"{{"access_token":"a","token_type":"Bearer","error":{error}}}"#);
        let (_server, result) =
            token_endpoint_answering::<F>(RawResponse::new(200, "application/json", body.as_str()));
        match result {
            Err(Error::TokenRequest(refused)) => {
                assert_eq!((refused.status, refused.error()), (200, None), "{body}");
                let text = Error::TokenRequest(refused).to_string();
                assert!(!text.contains("c2lnbmF0dXJl"), "{text}");
            }
            other => panic!("{body}: expected a refusal, got {other:?}"),
        }
    }
}

fn wrong_shape_or_empty_body_is_an_invalid_response<F: Flavor>() {
    for body in [
        "",
        "[]",
        r#"{"access_token": 42, "token_type": "Bearer"}"#,
        r#"{"access_token": "a", "token_type": "Bearer", "expires_in": "soon", "id_token": "x"}"#,
        r#"{"access_token": "a", "token_type": "mac", "id_token": "x"}"#,
        r#"{"access_token": "a", "token_type": "Bearer"}"#,
    ] {
        let (_server, result) =
            token_endpoint_answering::<F>(RawResponse::new(200, "application/json", body));
        match result {
            Err(Error::InvalidResponse { endpoint, .. }) => assert_eq!(endpoint, "token", "{body}"),
            other => panic!("{body}: expected an invalid response, got {other:?}"),
        }
    }
}

fn body_over_the_limit_is_not_read<F: Flavor>() {
    let huge = format!(r#"{{"access_token":"{}"}}"#, "a".repeat(1024 * 1024));
    let (_server, result) =
        token_endpoint_answering::<F>(RawResponse::new(200, "application/json", huge));
    match result {
        Err(Error::Transport(error)) => assert_eq!(error.kind, TransportErrorKind::BodyTooLarge),
        other => panic!("expected body too large, got {other:?}"),
    }
}

/// The server holds its answer back for longer than the client's timeout:
/// had the client waited for it, the answer (a refusal, the code being
/// unknown after the wait... or tokens) would be the result, not a timeout.
fn slow_server_times_out<F: Flavor>() {
    let server = VerysServer::start();
    let client =
        F::build(confidential_builder(&server).timeout(Duration::from_millis(300))).unwrap();
    let received = callback(&server, &client);
    server.set_response_delay("/token", Some(Duration::from_secs(3)));
    match F::exchange_code(&client, received) {
        Err(Error::Transport(error)) => assert_eq!(error.kind, TransportErrorKind::Timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

fn redirect_on_the_token_endpoint_is_not_followed<F: Flavor>() {
    let redirect =
        RawResponse::new(302, "text/plain", "").header("location", "http://127.0.0.1:9/steal");
    let (server, result) = token_endpoint_answering::<F>(redirect);
    match result {
        Err(Error::TokenRequest(error)) => assert_eq!(error.status, 302),
        other => panic!("expected the 302 as a refusal, got {other:?}"),
    }
    assert_eq!(server.requests("/token"), 1);
}

fn unreachable_server_is_a_connect_error<F: Flavor>() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let server = VerysServer::start();
    let builder =
        verys_client::Client::builder(format!("http://127.0.0.1:{port}"), seed::PUBLIC_CLIENT_ID)
            .redirect_uri(seed::REDIRECT_URI);
    let client = F::build(builder).unwrap();
    let real = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &real);
    match F::external_tokens(&client, tokens.access_token()) {
        Err(Error::Transport(error)) => assert_eq!(error.kind, TransportErrorKind::Connect),
        other => panic!("expected a connect error, got {other:?}"),
    }
}

fn secrets_never_show_in_debug_display_or_errors<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let builder_debug = format!("{:?}", confidential_builder(&server));
    let pending = client.authorize();
    let stored = serde_json::to_value(&pending).unwrap();
    let verifier = stored["code_verifier"].as_str().unwrap().to_owned();
    let pending_debug = format!("{pending:?}");
    let received = pending
        .receive(&server.login(stored["url"].as_str().unwrap()))
        .unwrap();
    let received_debug = format!("{received:?}");
    let tokens = F::exchange_code(&client, received).unwrap();
    let access = tokens.access_token().expose_secret().to_owned();
    let refresh = tokens.refresh_token().unwrap().expose_secret().to_owned();
    let external =
        F::external_token(&client, tokens.access_token(), seed::GITHUB_TOKEN_ID).unwrap();
    let texts = [
        format!("{client:?}"),
        builder_debug,
        pending_debug,
        received_debug,
        format!("{tokens:?}"),
        format!("{:?}", tokens.access_token()),
        format!("{}", tokens.access_token()),
        format!("{:?}", tokens.refresh_token().unwrap()),
        format!("{}", tokens.refresh_token().unwrap()),
        format!("{external:?}"),
    ];
    let secrets = [
        seed::CONFIDENTIAL_CLIENT_SECRET,
        verifier.as_str(),
        access.as_str(),
        refresh.as_str(),
        external.expose_secret(),
    ];
    for text in &texts {
        assert!(
            text.contains("REDACTED") || text.contains("Client"),
            "{text}"
        );
        for secret in secrets {
            assert!(!text.contains(secret), "a secret leaked into {text}");
        }
    }
    // Errors after real use of the secrets quote none of them.
    let refreshed = F::refresh(&client, &tokens).unwrap();
    let error = F::refresh(&client, &tokens).unwrap_err();
    drop(refreshed);
    for text in [format!("{error}"), format!("{error:?}")] {
        for secret in secrets {
            assert!(!text.contains(secret), "a secret leaked into {text}");
        }
    }
}
