//! Beyond the reference client: discovery, userinfo, revocation, logout,
//! federation linking and the token manager, for both transports, against
//! the embedded Verys over real HTTP.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{Flavor, confidential_builder, manual_clock, public_builder, sign_in, sign_in_as};
use verys_client::store::{MemoryStore, TokenStore};
use verys_client::{Error, TokenManager};
use verys_testing::{RawResponse, VerysServer, seed};

scenarios!(
    discovery_builds_a_client_with_the_discovered_endpoints,
    discovery_of_another_issuer_is_refused,
    discovery_without_eddsa_is_refused,
    discovery_naming_endpoints_on_another_host_is_refused_unless_allowed,
    discovery_that_promises_iss_makes_callbacks_require_it,
    revocation_takes_any_200_whatever_its_body,
    userinfo_returns_typed_claims_of_the_same_subject,
    userinfo_about_another_subject_is_refused,
    revoked_refresh_token_no_longer_refreshes,
    end_session_logs_out_and_checks_the_returned_state,
    reauthorization_error_leads_to_a_working_relink,
    failed_federation_link_is_its_own_error,
    deleted_external_token_is_gone,
    token_manager_refreshes_once_for_many_callers_at_expiry,
    token_manager_reports_a_failed_refresh_without_a_storm,
    token_manager_retries_a_transient_failure_after_a_pause,
    the_pause_after_a_failed_refresh_is_the_one_set,
    token_manager_reports_each_refresh_once_and_when_the_next_is_due,
    token_manager_says_a_dead_refresh_token_requires_a_sign_in,
    token_manager_keeps_the_refresh_when_on_refresh_panics,
    a_stale_manager_reads_a_new_sign_in_back_after_the_entry_was_removed,
    a_stale_manager_with_a_revoked_refresh_token_reads_a_new_sign_in_back,
    a_manager_that_saw_its_sign_in_end_takes_up_the_next_one,
    the_pause_after_a_failed_refresh_is_not_stretched_by_a_clock_set_back,
    a_refresh_holds_the_lease_until_its_tokens_are_stored,
    an_ended_sign_in_is_not_refreshed_again_after_a_store_failure,
    callers_waiting_for_a_refused_refresh_share_it_without_reading_the_store,
    a_stored_sign_in_keeps_the_lifetime_its_access_token_was_granted_for,
);

/// The discovered endpoints are the ones used: a document whose token,
/// userinfo, revocation and end-session endpoints are those of a second
/// server (on the same host) sends each request there, and none to the
/// fixed Verys paths of the issuer.
fn discovery_builds_a_client_with_the_discovered_endpoints<F: Flavor>() {
    let server = VerysServer::start();
    let elsewhere = VerysServer::start();
    let (issuer, other) = (server.issuer(), elsewhere.issuer());
    let document = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{other}/authorize"),
        "token_endpoint": format!("{other}/token"),
        "userinfo_endpoint": format!("{other}/userinfo"),
        "revocation_endpoint": format!("{other}/token/revoke"),
        "end_session_endpoint": format!("{other}/end-session"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": ["EdDSA"],
    });
    server.override_response(
        "/.well-known/openid-configuration",
        Some(RawResponse::new(
            200,
            "application/json",
            document.to_string(),
        )),
    );
    let discovered = F::build_discovered(confidential_builder(&server)).unwrap();
    assert_eq!(server.requests("/.well-known/openid-configuration"), 1);
    assert!(
        discovered
            .authorize()
            .url()
            .starts_with(&format!("{other}/authorize?"))
    );
    // A code of the issuer, sent where the document says: the other server
    // does not know it.
    let plain = F::build(confidential_builder(&server)).unwrap();
    let pending = plain.authorize();
    let callback_url = server.login(pending.url());
    let restored: verys_client::PendingAuth<verys_client::Confidential> =
        serde_json::from_value(serde_json::to_value(&pending).unwrap()).unwrap();
    match F::exchange_code(&discovered, restored.receive(&callback_url).unwrap()) {
        Err(Error::TokenRequest(refused)) => assert_eq!(refused.error(), Some("invalid_grant")),
        other => panic!("expected the other server's refusal, got {other:?}"),
    }
    assert_eq!(elsewhere.token_requests("authorization_code"), 1);
    assert_eq!(server.token_requests("authorization_code"), 0);
    let tokens = sign_in::<F, _>(&server, &plain);
    let _ = F::userinfo(&discovered, &tokens);
    let _ = F::revoke(&discovered, tokens.refresh_token().unwrap());
    assert_eq!(
        (
            elsewhere.requests("/userinfo"),
            server.requests("/userinfo")
        ),
        (1, 0)
    );
    assert_eq!(
        (
            elsewhere.requests("/token/revoke"),
            server.requests("/token/revoke")
        ),
        (1, 0)
    );
    assert!(
        discovered
            .end_session(&tokens, seed::REDIRECT_URI)
            .url()
            .starts_with(&format!("{other}/end-session?"))
    );
    F::build(confidential_builder(&server)).unwrap();
    assert_eq!(
        server.requests("/.well-known/openid-configuration"),
        1,
        "building without discovery sends nothing"
    );
}

fn discovery_document(server: &VerysServer, issuer: &str, algs: &[&str]) -> RawResponse {
    let base = server.issuer();
    let body = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": algs,
    });
    RawResponse::new(200, "application/json", body.to_string())
}

fn discovery_of_another_issuer_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let forged = discovery_document(&server, "https://evil.example", &["EdDSA"]);
    server.override_response("/.well-known/openid-configuration", Some(forged));
    match F::build_discovered(confidential_builder(&server)) {
        Err(Error::Discovery(reason)) => {
            assert!(reason.contains("another issuer"), "{reason}");
            assert!(
                !reason.contains("evil.example"),
                "the server's text is not quoted"
            );
        }
        other => panic!("expected a discovery error, got {other:?}"),
    }
}

/// A document that sends the token request (and so the client secret)
/// elsewhere: `localhost` is this machine too, but not the issuer's host.
fn discovery_naming_endpoints_on_another_host_is_refused_unless_allowed<F: Flavor>() {
    let server = VerysServer::start();
    let elsewhere = server.issuer().replace("127.0.0.1", "localhost");
    let mut document = serde_json::json!({
        "issuer": server.issuer(),
        "authorization_endpoint": format!("{elsewhere}/authorize"),
        "token_endpoint": format!("{elsewhere}/token"),
        "jwks_uri": format!("{elsewhere}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": ["EdDSA"],
    });
    let serve = |document: &serde_json::Value| {
        server.override_response(
            "/.well-known/openid-configuration",
            Some(RawResponse::new(
                200,
                "application/json",
                document.to_string(),
            )),
        );
    };
    serve(&document);
    match F::build_discovered(confidential_builder(&server)) {
        Err(Error::Discovery(reason)) => assert!(reason.contains("another host"), "{reason}"),
        other => panic!("expected a discovery error, got {other:?}"),
    }
    let client =
        F::build_discovered(confidential_builder(&server).allow_endpoint_host("localhost"))
            .unwrap();
    assert!(
        client
            .authorize()
            .url()
            .starts_with(&format!("{elsewhere}/authorize?"))
    );
    assert_eq!(sign_in::<F, _>(&server, &client).sub(), seed::USER_SUB);
    // Allowed or not, an endpoint that is not http(s) is refused.
    document["token_endpoint"] = format!("ftp://{}/token", &elsewhere[7..]).into();
    serve(&document);
    assert!(matches!(
        F::build_discovered(confidential_builder(&server).allow_endpoint_host("localhost")),
        Err(Error::Discovery(reason)) if reason == "token_endpoint is not an http or https url"
    ));
}

/// RFC 9207 §3: `authorization_response_iss_parameter_supported` says the
/// provider puts `iss` in every authorization response, so one without it
/// is refused (a mix-up attack, §2.4); a callback of the right issuer still
/// signs in.
fn discovery_that_promises_iss_makes_callbacks_require_it<F: Flavor>() {
    let server = VerysServer::start();
    let issuer = server.issuer();
    let document = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "authorization_response_iss_parameter_supported": true,
    });
    server.override_response(
        "/.well-known/openid-configuration",
        Some(RawResponse::new(
            200,
            "application/json",
            document.to_string(),
        )),
    );
    let client = F::build_discovered(confidential_builder(&server)).unwrap();
    let pending = client.authorize();
    let callback = server.login(pending.url());
    assert!(matches!(
        pending.receive(&callback),
        Err(Error::MissingIssuer)
    ));
    let pending = client.authorize();
    let callback = format!(
        "{}&iss={}",
        server.login(pending.url()),
        url::form_urlencoded::byte_serialize(issuer.as_bytes()).collect::<String>()
    );
    let tokens = F::exchange_code(&client, pending.receive(&callback).unwrap()).unwrap();
    assert_eq!(tokens.sub(), seed::USER_SUB);
}

/// RFC 7009 §2.2: a 200 is success, and its body is not the client's to
/// read (the certified provider sends none); anything else is refused.
fn revocation_takes_any_200_whatever_its_body<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let refresh_token = tokens.refresh_token().unwrap();
    for body in [
        RawResponse::new(200, "application/json", ""),
        RawResponse::new(200, "text/plain", "OK"),
        RawResponse::new(200, "application/json", "{}"),
    ] {
        server.override_response("/token/revoke", Some(body));
        F::revoke(&client, refresh_token).unwrap();
    }
    server.override_response(
        "/token/revoke",
        Some(RawResponse::new(503, "text/html", "<h1>down</h1>")),
    );
    match F::revoke(&client, refresh_token) {
        Err(Error::Endpoint { endpoint, error }) => {
            assert_eq!((endpoint, error.status), ("revocation", 503));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn discovery_without_eddsa_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let rsa_only = discovery_document(&server, &server.issuer(), &["RS256"]);
    server.override_response("/.well-known/openid-configuration", Some(rsa_only));
    match F::build_discovered(confidential_builder(&server)) {
        Err(Error::Discovery(reason)) => assert!(reason.contains("EdDSA"), "{reason}"),
        other => panic!("expected a discovery error, got {other:?}"),
    }
}

fn userinfo_returns_typed_claims_of_the_same_subject<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let info = F::userinfo(&client, &tokens).unwrap();
    assert_eq!(info.sub, seed::USER_SUB);
    assert_eq!(info.email.as_deref(), Some(seed::USER_EMAIL));
    assert_eq!(info.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(info.roles, ["admin", "reader"]);
}

fn userinfo_about_another_subject_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let other = format!(
        r#"{{"sub":"{}","email":"{}"}}"#,
        seed::OTHER_USER_SUB,
        seed::OTHER_USER_EMAIL
    );
    server.override_response(
        "/userinfo",
        Some(RawResponse::new(200, "application/json", other)),
    );
    assert!(matches!(
        F::userinfo(&client, &tokens),
        Err(Error::UserinfoSubjectMismatch)
    ));
}

fn revoked_refresh_token_no_longer_refreshes<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    F::revoke(&client, tokens.refresh_token().unwrap()).unwrap();
    assert_eq!(server.requests("/token/revoke"), 1);
    match F::refresh(&client, &tokens) {
        Err(Error::TokenRequest(error)) => assert_eq!(error.error(), Some("invalid_grant")),
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

/// Follows one browser redirect: GET `url`, return the `Location`.
fn browser_get(url: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(url).call().unwrap();
    assert_eq!(response.status().as_u16(), 302, "{url}");
    response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

fn end_session_logs_out_and_checks_the_returned_state<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let logout = client.end_session(&tokens, seed::REDIRECT_URI);
    assert!(
        logout
            .url()
            .starts_with(&format!("{}/end-session?", server.issuer()))
    );
    assert!(!format!("{logout:?}").contains(tokens.id_token()));
    let stored = serde_json::to_string(&logout).unwrap();
    let back = browser_get(logout.url());
    assert!(back.starts_with(seed::REDIRECT_URI));
    logout.receive(&back).unwrap();
    // Logout revoked the refresh tokens of this client.
    match F::refresh(&client, &tokens) {
        Err(Error::TokenRequest(refused)) => {
            assert_eq!(refused.error(), Some("invalid_grant"));
            assert_eq!(
                refused.description.as_deref(),
                Some("Refresh token is revoked or expired")
            );
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    let copy: verys_client::PendingLogout = serde_json::from_str(&stored).unwrap();
    assert!(matches!(
        copy.receive(&format!("{}?state=forged", seed::REDIRECT_URI)),
        Err(Error::StateMismatch)
    ));
}

fn reauthorization_error_leads_to_a_working_relink<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let error =
        F::external_token(&client, tokens.access_token(), seed::GITLAB_TOKEN_ID).unwrap_err();
    let link = client
        .relink(&error)
        .expect("a re-authorization error names its provider");
    assert_eq!(link.provider_id(), "gitlab");
    assert!(client.relink(&Error::MissingCode).is_none());
    let back = browser_get(link.url());
    assert_eq!(link.receive(&back).unwrap(), "gitlab");
    let relinked =
        F::external_token(&client, tokens.access_token(), seed::GITLAB_TOKEN_ID).unwrap();
    assert_eq!(relinked.provider_id, "gitlab");
}

fn failed_federation_link_is_its_own_error<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let link = client.link_provider("myspace");
    let back = browser_get(link.url());
    match link.receive(&back) {
        Err(Error::FederationFailed {
            provider_id,
            description,
        }) => {
            assert_eq!(provider_id, "myspace");
            assert!(description.is_some(), "with the link's state, it is kept");
        }
        other => panic!("expected a failed link, got {other:?}"),
    }
    let link = client.link_provider("github");
    assert!(matches!(
        link.receive("provider_id=gitlab"),
        Err(Error::MalformedCallback(_))
    ));
    // Without a state the return is anyone's: its code counts, its words
    // are not repeated.
    let link = client.link_provider("github");
    match link.receive("error=federation_failed&error_description=Call%20us&provider_id=github") {
        Err(Error::FederationFailed { description, .. }) => assert_eq!(description, None),
        other => panic!("expected a failed link, got {other:?}"),
    }
    let link = client.link_provider("github");
    assert!(matches!(
        link.receive("provider_id=github&state=another"),
        Err(Error::StateMismatch)
    ));
}

fn deleted_external_token_is_gone<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(public_builder(&server)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    F::delete_external_token(&client, tokens.access_token(), seed::GITHUB_TOKEN_ID).unwrap();
    match F::external_token(&client, tokens.access_token(), seed::GITHUB_TOKEN_ID) {
        Err(Error::Endpoint { error, .. }) => assert_eq!(error.status, 404),
        other => panic!("expected 404 after delete, got {other:?}"),
    }
}

const CALLERS: usize = 32;

fn token_manager_refreshes_once_for_many_callers_at_expiry<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let first_refresh = tokens.refresh_token().unwrap().expose_secret().to_owned();
    let manager = Arc::new(TokenManager::new(client, tokens));
    let before = F::managed_access_token(&manager).unwrap();
    assert_eq!(
        server.token_requests("refresh_token"),
        0,
        "a fresh token is handed out as is"
    );
    // The moment of expiry, on both sides.
    clock.advance(300);
    server.set_clock_offset(300);
    let barrier = Arc::new(Barrier::new(CALLERS));
    let handles: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (manager, barrier) = (Arc::clone(&manager), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                F::managed_access_token(&manager).map(|t| t.expose_secret().to_owned())
            })
        })
        .collect();
    let handed_out: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert_eq!(
        server.token_requests("refresh_token"),
        1,
        "exactly one refresh grant"
    );
    assert!(handed_out.iter().all(|t| t == &handed_out[0]));
    assert_ne!(handed_out[0], before.expose_secret());
    let rotated = manager.refresh_token().unwrap();
    assert_ne!(
        rotated.expose_secret(),
        first_refresh,
        "the rotated refresh token is exposed"
    );
}

fn token_manager_reports_a_failed_refresh_without_a_storm<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let manager = Arc::new(TokenManager::new(client, tokens));
    server.revoke_all_refresh_tokens();
    clock.advance(300);
    server.set_clock_offset(300);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (manager, barrier) = (Arc::clone(&manager), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                F::managed_access_token(&manager)
            })
        })
        .collect();
    // Callers that waited for the refresh share what Verys said; one that
    // came to the gate after it ended reads the ended sign-in in the store.
    let mut refused = 0;
    for handle in handles {
        match handle.join().unwrap() {
            Err(Error::TokenRequest(error)) if error.error() == Some("invalid_grant") => {
                refused += 1;
            }
            Err(Error::SignedOut) => {}
            other => panic!("expected the refresh failure, got {other:?}"),
        }
    }
    assert!(
        refused >= 1,
        "the caller that refreshed is told what Verys said"
    );
    assert_eq!(
        server.token_requests("refresh_token"),
        1,
        "waiters share the failure"
    );
}

fn token_manager_retries_a_transient_failure_after_a_pause<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let manager = TokenManager::new(client, tokens);
    clock.advance(300);
    server.set_clock_offset(300);
    let unavailable = RawResponse::new(503, "text/html", "<h1>503</h1>");
    server.override_response("/token", Some(unavailable));
    let first = F::managed_access_token(&manager);
    assert!(
        matches!(first, Err(Error::TokenRequest(ref e)) if e.status == 503),
        "{first:?}"
    );
    let shared = F::managed_access_token(&manager);
    assert!(matches!(shared, Err(Error::TokenRequest(ref e)) if e.status == 503));
    assert_eq!(
        server.requests("/token"),
        2,
        "the sign-in and one refresh attempt"
    );
    server.override_response("/token", None);
    clock.advance(5);
    server.set_clock_offset(305);
    assert!(F::managed_access_token(&manager).is_ok());
    assert_eq!(
        server.token_requests("refresh_token"),
        2,
        "one attempt met the 503, one retry after the pause"
    );
}

/// `retry_after` sets the pause: a failure is shared until it has passed
/// (to the second), and with no pause each call tries again.
fn the_pause_after_a_failed_refresh_is_the_one_set<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let unavailable = RawResponse::new(503, "text/html", "<h1>503</h1>");
    let refused = |manager: &TokenManager<_, _>| matches!(F::managed_access_token(manager), Err(Error::TokenRequest(ref e)) if e.status == 503);
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let manager = TokenManager::new(client, tokens).retry_after(Duration::from_secs(2));
    clock.advance(300);
    server.set_clock_offset(300);
    server.override_response("/token", Some(unavailable.clone()));
    assert!(refused(&manager));
    server.override_response("/token", None);
    clock.advance(1);
    server.set_clock_offset(301);
    assert!(refused(&manager), "within the pause the failure is shared");
    assert_eq!(server.token_requests("refresh_token"), 1);
    clock.advance(1);
    server.set_clock_offset(302);
    F::managed_access_token(&manager).expect("a retry once the pause is over");
    assert_eq!(server.token_requests("refresh_token"), 2);

    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let manager = TokenManager::new(client, tokens).retry_after(Duration::ZERO);
    clock.advance(300);
    server.set_clock_offset(602);
    server.override_response("/token", Some(unavailable));
    assert!(refused(&manager));
    assert!(refused(&manager));
    assert_eq!(server.token_requests("refresh_token"), 4, "each call tried");
    server.override_response("/token", None);
    F::managed_access_token(&manager).expect("no pause to wait for");
    assert_eq!(server.token_requests("refresh_token"), 5);
}

fn token_manager_reports_each_refresh_once_and_when_the_next_is_due<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let expires_at = tokens.access_token().expires_at().unwrap();
    let persisted = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let store = Arc::clone(&persisted);
    let manager = Arc::new(
        TokenManager::new(client, tokens)
            .margin(Duration::from_secs(30))
            .on_refresh(move |tokens| {
                let refresh = tokens.refresh_token().unwrap().expose_secret().to_owned();
                store.lock().unwrap().push(refresh);
            }),
    );
    assert_eq!(
        manager.next_refresh_at(),
        Some(expires_at - Duration::from_secs(30))
    );
    F::managed_access_token(&manager).unwrap();
    assert!(
        persisted.lock().unwrap().is_empty(),
        "no refresh, no callback"
    );

    clock.advance(280);
    server.set_clock_offset(280);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (manager, barrier) = (Arc::clone(&manager), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                F::managed_access_token(&manager).unwrap();
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let rotated = manager.refresh_token().unwrap().expose_secret().to_owned();
    assert_eq!(
        *persisted.lock().unwrap(),
        [rotated],
        "one refresh, one callback"
    );
    let next = manager.next_refresh_at().unwrap();
    assert_eq!(
        next,
        manager.tokens().access_token().expires_at().unwrap() - Duration::from_secs(30)
    );
    assert!(next > expires_at, "the next refresh is due later");
}

fn token_manager_says_a_dead_refresh_token_requires_a_sign_in<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let manager = TokenManager::new(client, tokens);
    server.revoke_all_refresh_tokens();
    clock.advance(300);
    server.set_clock_offset(300);
    let error = F::managed_access_token(&manager).unwrap_err();
    assert!(error.requires_sign_in(), "{error:?}");

    // A passing failure does not.
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let manager = TokenManager::new(client, tokens);
    clock.advance(300);
    server.set_clock_offset(600);
    let unavailable = RawResponse::new(503, "text/html", "<h1>503</h1>");
    server.override_response("/token", Some(unavailable));
    let error = F::managed_access_token(&manager).unwrap_err();
    assert!(!error.requires_sign_in(), "{error:?}");
}

/// A request handler's future is dropped when its client hangs up. One that
/// was refreshing (Verys rotates the refresh token as soon as the request
/// arrives) must not take the rotation with it: the refresh runs as a task
/// of its own, its tokens are stored and announced, and the next caller
/// takes them without a second refresh.
#[cfg(feature = "async")]
#[test]
fn an_async_refresh_outlives_the_caller_that_dropped_it() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = confidential_builder(&server)
        .clock(clock.clone())
        .timeout(Duration::from_secs(5))
        .build_async()
        .unwrap();
    let tokens = sign_in::<common::AsyncFlavor, _>(&server, &client);
    let announced = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&announced);
    let manager = TokenManager::new(client, tokens).on_refresh(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    clock.advance(300);
    server.set_clock_offset(300);
    server.set_response_delay("/token", Some(Duration::from_millis(300)));
    common::runtime().block_on(async {
        let dropped = tokio::time::timeout(Duration::from_millis(50), manager.access_token()).await;
        assert!(dropped.is_err(), "the caller gave up mid-refresh");
        // Waits at the gate for the refresh still in flight, which is
        // recorded and announced before anyone goes through.
        let token = manager.access_token().await.unwrap();
        assert!(!token.expires_within(&*clock, Duration::from_secs(30)));
        assert_eq!(announced.load(Ordering::SeqCst), 1, "announced first");
    });
    assert_eq!(server.token_requests("refresh_token"), 1, "one refresh");
}

/// A callback that panics is the application's bug, and its caller sees the
/// panic; the refreshed tokens are stored first, and the next caller takes
/// them without a second refresh (which the rotated refresh token would
/// fail).
fn token_manager_keeps_the_refresh_when_on_refresh_panics<F: Flavor>() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let panicked = AtomicBool::new(false);
    let manager = TokenManager::new(client, tokens).on_refresh(move |_| {
        if !panicked.swap(true, Ordering::SeqCst) {
            panic!("the application's callback failed");
        }
    });
    clock.advance(300);
    server.set_clock_offset(300);
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        F::managed_access_token(&manager)
    }));
    assert!(first.is_err(), "the callback's panic reaches its caller");
    let token = F::managed_access_token(&manager).unwrap();
    assert!(!token.expires_within(&*clock, Duration::from_secs(30)));
    assert_eq!(server.token_requests("refresh_token"), 1);
}

/// Ada's sign-in is held by a manager when its entry is removed (Ada signs
/// out, with her refresh token revoked or not); Grace signs in later under
/// the same key. Ada's manager, stale, must read Grace's sign-in back: not
/// refresh Ada's tokens and write them over Grace's (every replica would
/// serve Ada's tokens in Grace's session), nor write a sign-out over it.
fn a_stale_manager_meets_a_new_sign_in<F: Flavor>(revoke_old: bool) {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let store = Arc::new(MemoryStore::new());
    let ada = sign_in::<F, _>(&server, &client);
    let old =
        F::managed_with_store(client.clone(), Arc::clone(&store), "session", ada.clone()).unwrap();
    TokenStore::remove(&*store, "session").unwrap();
    if revoke_old {
        F::revoke(&client, ada.refresh_token().unwrap()).unwrap();
    }
    clock.advance(600);
    server.set_clock_offset(600);
    let grace = sign_in_as::<F, _>(&server, &client, seed::OTHER_USER_EMAIL);
    let new = F::managed_with_store(client.clone(), Arc::clone(&store), "session", grace.clone())
        .unwrap();

    let served = F::managed_access_token(&old).unwrap();
    assert_eq!(
        served.expose_secret(),
        grace.access_token().expose_secret(),
        "the stale manager reads the new sign-in back"
    );
    assert_eq!(old.tokens().sub(), seed::OTHER_USER_SUB);
    assert_eq!(
        server.token_requests("refresh_token"),
        0,
        "nobody refreshed the old sign-in"
    );
    let replica = F::managed_from_store(client, store, "session").unwrap();
    assert_eq!(
        replica.tokens().sub(),
        seed::OTHER_USER_SUB,
        "the entry is Grace's"
    );
    assert_eq!(
        F::managed_access_token(&new).unwrap().expose_secret(),
        grace.access_token().expose_secret()
    );
}

fn a_stale_manager_reads_a_new_sign_in_back_after_the_entry_was_removed<F: Flavor>() {
    a_stale_manager_meets_a_new_sign_in::<F>(false);
}

fn a_stale_manager_with_a_revoked_refresh_token_reads_a_new_sign_in_back<F: Flavor>() {
    a_stale_manager_meets_a_new_sign_in::<F>(true);
}

/// A manager told its sign-in ended does not say so for good: a sign-in
/// written under its key since, by any manager, is the one it holds next,
/// and until then it answers `SignedOut` without asking Verys again.
fn a_manager_that_saw_its_sign_in_end_takes_up_the_next_one<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let store = Arc::new(MemoryStore::new());
    let ada = sign_in::<F, _>(&server, &client);
    let manager =
        F::managed_with_store(client.clone(), Arc::clone(&store), "session", ada).unwrap();
    server.revoke_all_refresh_tokens();
    clock.advance(600);
    server.set_clock_offset(600);
    assert!(matches!(
        F::managed_access_token(&manager),
        Err(Error::TokenRequest(ref refused)) if refused.error() == Some("invalid_grant")
    ));
    clock.advance(10);
    server.set_clock_offset(610);
    assert!(matches!(
        F::managed_access_token(&manager),
        Err(Error::SignedOut)
    ));
    assert_eq!(server.token_requests("refresh_token"), 1, "asked once");

    let again = sign_in::<F, _>(&server, &client);
    let _ = F::managed_with_store(client, Arc::clone(&store), "session", again.clone()).unwrap();
    let served = F::managed_access_token(&manager).unwrap();
    assert_eq!(served.expose_secret(), again.access_token().expose_secret());
    assert_eq!(server.token_requests("refresh_token"), 1);
}

/// The pause after a transient failure is measured on the clock's
/// monotonic time: a wall clock stepped back 1,000 s (the access token
/// still expired) does not stretch a 5-second pause into a long outage.
fn the_pause_after_a_failed_refresh_is_not_stretched_by_a_clock_set_back<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let manager = TokenManager::new(client, tokens);
    clock.advance(2000);
    server.set_clock_offset(2000);
    let unavailable = RawResponse::new(503, "text/html", "<h1>503</h1>");
    server.override_response("/token", Some(unavailable));
    assert!(matches!(
        F::managed_access_token(&manager),
        Err(Error::TokenRequest(ref e)) if e.status == 503
    ));
    server.override_response("/token", None);
    clock.set(verys_client::Clock::now(&*clock) - 1000);
    server.set_clock_offset(1000);
    assert!(
        F::managed_access_token(&manager).is_err(),
        "within the pause the failure is shared"
    );
    assert_eq!(server.token_requests("refresh_token"), 1);
    clock.advance(5);
    server.set_clock_offset(1005);
    F::managed_access_token(&manager).expect("a retry after five seconds");
    assert_eq!(server.token_requests("refresh_token"), 2);
}

/// A [`MemoryStore`] that records each call, in order, and fails the
/// calls named in `failing`.
#[derive(Default)]
struct Recording {
    inner: MemoryStore,
    calls: std::sync::Mutex<Vec<&'static str>>,
    failing: std::sync::Mutex<Vec<&'static str>>,
}

impl Recording {
    fn record(&self, call: &'static str) -> Result<(), verys_client::StoreError> {
        self.calls.lock().unwrap().push(call);
        if self.failing.lock().unwrap().contains(&call) {
            return Err(verys_client::StoreError::new(
                verys_client::StoreErrorKind::Unavailable,
                "down",
            ));
        }
        Ok(())
    }

    fn fail(&self, calls: &[&'static str]) {
        *self.failing.lock().unwrap() = calls.to_vec();
    }

    fn calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl TokenStore for Recording {
    fn load(
        &self,
        key: &str,
    ) -> Result<Option<verys_client::store::Entry>, verys_client::StoreError> {
        self.record("load")?;
        TokenStore::load(&self.inner, key)
    }
    fn replace(
        &self,
        key: &str,
        expected: u64,
        version: u64,
        value: &str,
    ) -> Result<bool, verys_client::StoreError> {
        self.record("replace")?;
        TokenStore::replace(&self.inner, key, expected, version, value)
    }
    fn remove(&self, key: &str) -> Result<(), verys_client::StoreError> {
        self.record("remove")?;
        TokenStore::remove(&self.inner, key)
    }
    fn try_lease(
        &self,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, verys_client::StoreError> {
        self.record("try_lease")?;
        TokenStore::try_lease(&self.inner, key, owner, lease)
    }
    fn release(&self, key: &str, owner: &str) -> Result<(), verys_client::StoreError> {
        self.record("release")?;
        TokenStore::release(&self.inner, key, owner)
    }
}

#[cfg(feature = "async")]
impl verys_client::store::AsyncTokenStore for Recording {
    fn load<'a>(
        &'a self,
        key: &'a str,
    ) -> verys_client::transport::BoxFuture<
        'a,
        Result<Option<verys_client::store::Entry>, verys_client::StoreError>,
    > {
        Box::pin(std::future::ready(TokenStore::load(self, key)))
    }
    fn replace<'a>(
        &'a self,
        key: &'a str,
        expected: u64,
        version: u64,
        value: &'a str,
    ) -> verys_client::transport::BoxFuture<'a, Result<bool, verys_client::StoreError>> {
        Box::pin(std::future::ready(TokenStore::replace(
            self, key, expected, version, value,
        )))
    }
    fn remove<'a>(
        &'a self,
        key: &'a str,
    ) -> verys_client::transport::BoxFuture<'a, Result<(), verys_client::StoreError>> {
        Box::pin(std::future::ready(TokenStore::remove(self, key)))
    }
    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> verys_client::transport::BoxFuture<'a, Result<bool, verys_client::StoreError>> {
        Box::pin(std::future::ready(TokenStore::try_lease(
            self, key, owner, lease,
        )))
    }
    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> verys_client::transport::BoxFuture<'a, Result<(), verys_client::StoreError>> {
        Box::pin(std::future::ready(TokenStore::release(self, key, owner)))
    }
}

/// The lease is given back only once the refreshed tokens are stored:
/// released any earlier, another replica could take it, read the old
/// entry and refresh with a refresh token Verys has already rotated.
fn a_refresh_holds_the_lease_until_its_tokens_are_stored<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let store = Arc::new(Recording::default());
    let tokens = sign_in::<F, _>(&server, &client);
    let manager = F::managed_with_store(client, Arc::clone(&store), "session", tokens).unwrap();
    assert_eq!(store.calls(), ["load", "replace"], "the sign-in, written");
    clock.advance(600);
    server.set_clock_offset(600);
    F::managed_access_token(&manager).unwrap();
    assert_eq!(
        store.calls(),
        ["load", "try_lease", "load", "replace", "release"],
        "read, lease, read again, store the refresh, then give the lease back"
    );
    assert_eq!(server.token_requests("refresh_token"), 1);
}

/// A sign-in whose access token was granted for 20 s (less than the 30 s
/// margin) is refreshed at half its life. Stored with `with_store` and
/// read back by another manager with `from_store`, it keeps that lifetime:
/// the second manager too refreshes 10 s after issue, not at once.
fn a_stored_sign_in_keeps_the_lifetime_its_access_token_was_granted_for<F: Flavor>() {
    let server = VerysServer::start();
    server.set_token_lifetime(Some(20));
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    let store = Arc::new(MemoryStore::new());
    let first = F::managed_with_store(client.clone(), Arc::clone(&store), "s", tokens).unwrap();
    let second = F::managed_from_store(client, store, "s").unwrap();
    refreshed_at_half_its_life(
        &server,
        &clock,
        [first.next_refresh_at(), second.next_refresh_at()],
        || F::managed_access_token(&second).map(drop),
    );
}

/// The managers that stored and read back a 20 s token, at the moment of
/// its issue, say the next refresh is due 10 s later; `access_token`
/// refreshes nothing at 9 s and exactly once at 11 s.
fn refreshed_at_half_its_life(
    server: &VerysServer,
    clock: &verys_client::ManualClock,
    next_refresh_at: [Option<std::time::SystemTime>; 2],
    access_token: impl Fn() -> Result<(), Error>,
) {
    let issued = std::time::UNIX_EPOCH + Duration::from_secs(common::now(clock));
    let half_life = Some(issued + Duration::from_secs(10));
    assert_eq!(next_refresh_at[0], half_life, "the manager that stored it");
    assert_eq!(next_refresh_at[1], half_life, "the manager that read it");
    let refreshes = || server.token_requests("refresh_token");
    for _ in 0..3 {
        access_token().unwrap();
    }
    assert_eq!(refreshes(), 0, "a new token is not refreshed");
    clock.advance(9);
    access_token().unwrap();
    assert_eq!(refreshes(), 0, "11 s left, more than half its life");
    clock.advance(2);
    for _ in 0..3 {
        access_token().unwrap();
    }
    assert_eq!(refreshes(), 1, "one refresh past half its life");
}

/// The end of a sign-in outlives the failures after it: a dead refresh
/// token whose end could not be written (the store failing), then a store
/// that cannot be read, and the next call, the store back, answers
/// `SignedOut` from the entry without refreshing the dead token again.
fn an_ended_sign_in_is_not_refreshed_again_after_a_store_failure<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let store = Arc::new(Recording::default());
    let tokens = sign_in::<F, _>(&server, &client);
    let manager = F::managed_with_store(client, Arc::clone(&store), "session", tokens).unwrap();
    server.revoke_all_refresh_tokens();
    clock.advance(600);
    server.set_clock_offset(600);
    store.fail(&["replace"]);
    assert!(matches!(
        F::managed_access_token(&manager),
        Err(Error::TokenRequest(ref refused)) if refused.error() == Some("invalid_grant")
    ));
    store.fail(&["load"]);
    clock.advance(6);
    assert!(matches!(
        F::managed_access_token(&manager),
        Err(Error::Store(_))
    ));
    store.fail(&[]);
    clock.advance(6);
    assert!(matches!(
        F::managed_access_token(&manager),
        Err(Error::SignedOut)
    ));
    assert_eq!(server.token_requests("refresh_token"), 1);
}

/// Callers that wait at the gate while a refresh finds the sign-in ended
/// take that outcome as it is: Verys's `invalid_grant`, without a store
/// read each. (The refresh is held back 2 s so that all are waiting.)
fn callers_waiting_for_a_refused_refresh_share_it_without_reading_the_store<F: Flavor>() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    let store = Arc::new(Recording::default());
    let tokens = sign_in::<F, _>(&server, &client);
    let manager =
        Arc::new(F::managed_with_store(client, Arc::clone(&store), "session", tokens).unwrap());
    server.revoke_all_refresh_tokens();
    clock.advance(600);
    server.set_clock_offset(600);
    server.set_response_delay("/token", Some(Duration::from_secs(2)));
    store.calls();
    let barrier = Arc::new(Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (manager, barrier) = (Arc::clone(&manager), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                F::managed_access_token(&manager)
            })
        })
        .collect();
    for handle in handles {
        assert!(matches!(
            handle.join().unwrap(),
            Err(Error::TokenRequest(ref refused)) if refused.error() == Some("invalid_grant")
        ));
    }
    assert_eq!(server.token_requests("refresh_token"), 1);
    let loads = store.calls().iter().filter(|call| **call == "load").count();
    assert_eq!(
        loads, 3,
        "the one way through the store: read, read under the lease, read after the refusal"
    );
}

#[test]
fn the_memory_store_keeps_the_promises_of_a_store() {
    verys_testing::check_token_store(&MemoryStore::new());
    verys_testing::check_token_store(
        &MemoryStore::new()
            .idle_timeout(Duration::from_secs(60))
            .max_lifetime(Duration::from_secs(3600)),
    );
}
