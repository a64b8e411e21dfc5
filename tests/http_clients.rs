//! The user's own HTTP client (a `ureq::Agent`, a `reqwest::ClientBuilder`)
//! against an embedded Verys that speaks HTTPS with a certificate of a test
//! CA: trusted, not trusted, through a proxy, and configured to follow
//! redirects the crate must not follow. Each scenario runs once per
//! transport.

mod common;

use std::time::Duration;

use common::proxy::Proxy;
use common::{Flavor, UserHttp, confidential_builder, sign_in};
use verys_client::{Error, TransportErrorKind, Verifier};
use verys_testing::{RawResponse, VerysServer, seed};

scenarios!(
    signs_in_refreshes_and_verifies_over_https_with_the_users_client,
    a_client_that_does_not_trust_the_ca_fails_with_a_tls_error,
    a_client_trusting_another_ca_fails_with_a_tls_error,
    requests_go_through_the_users_proxy,
    a_users_client_that_follows_redirects_does_not_follow_one_on_token,
    a_users_client_that_follows_redirects_does_not_follow_one_on_the_jwks,
    a_users_client_with_lax_timeouts_keeps_the_crates_timeout_and_size_limit,
);

fn signs_in_refreshes_and_verifies_over_https_with_the_users_client<F: Flavor>() {
    let server = VerysServer::start_tls();
    assert!(server.issuer().starts_with("https://127.0.0.1:"));
    let http = UserHttp::trusting(&server);
    let client = F::build(F::user_client(confidential_builder(&server), &http)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    assert_eq!(tokens.sub(), seed::USER_SUB);
    let refreshed = F::refresh(&client, &tokens).unwrap();
    assert_eq!(
        F::userinfo(&client, &refreshed).unwrap().sub,
        seed::USER_SUB
    );

    let verifier =
        F::build_verifier(F::user_verifier(Verifier::builder(server.issuer()), &http)).unwrap();
    let claims = F::verify(&verifier, refreshed.access_token().expose_secret()).unwrap();
    assert_eq!(claims.sub(), seed::USER_SUB);

    assert_eq!(server.token_requests("authorization_code"), 1);
    assert_eq!(server.token_requests("refresh_token"), 1);
    assert_eq!(
        server.jwks_fetches(),
        2,
        "one for the client, one for the verifier"
    );
}

/// The clients' defaults trust the public web's roots, which never signed
/// a test CA's certificate.
fn a_client_that_does_not_trust_the_ca_fails_with_a_tls_error<F: Flavor>() {
    let server = VerysServer::start_tls();
    let client = F::build(confidential_builder(&server)).unwrap();
    let pending = client.authorize();
    let callback = server.login(pending.url());
    let received = pending.receive(&callback).unwrap();
    match F::exchange_code(&client, received) {
        Err(Error::Transport(error)) => {
            assert_eq!(error.kind, TransportErrorKind::Tls, "{error}");
        }
        other => panic!("expected a tls error, got {other:?}"),
    }
    assert_eq!(
        server.requests("/token"),
        0,
        "no request crossed the refused handshake"
    );
}

fn a_client_trusting_another_ca_fails_with_a_tls_error<F: Flavor>() {
    let server = VerysServer::start_tls();
    let other = VerysServer::start_tls();
    let http = UserHttp::trusting(&other);
    let client = F::build(F::user_client(confidential_builder(&server), &http)).unwrap();
    let pending = client.authorize();
    let callback = server.login(pending.url());
    let received = pending.receive(&callback).unwrap();
    match F::exchange_code(&client, received) {
        Err(Error::Transport(error)) => assert_eq!(error.kind, TransportErrorKind::Tls, "{error}"),
        other => panic!("expected a tls error, got {other:?}"),
    }
    let verifier =
        F::build_verifier(F::user_verifier(Verifier::builder(server.issuer()), &http)).unwrap();
    let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
    match F::verify(&verifier, &token) {
        Err(Error::Transport(error)) => {
            assert_eq!(error.kind, TransportErrorKind::Tls);
            assert!(
                error.message.contains("invalid peer certificate"),
                "{error}"
            );
        }
        other => panic!("expected the jwks fetch to fail on tls, got {other:?}"),
    }
    assert_eq!(server.jwks_fetches(), 0);
}

fn requests_go_through_the_users_proxy<F: Flavor>() {
    let server = VerysServer::start_tls();
    let proxy = Proxy::start();
    let http = UserHttp {
        proxy: Some(proxy.url().to_owned()),
        ..UserHttp::trusting(&server)
    };
    let client = F::build(F::user_client(confidential_builder(&server), &http)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);
    F::refresh(&client, &tokens).unwrap();

    let authority = server.issuer().trim_start_matches("https://").to_owned();
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty(), "the proxy carried the requests");
    assert!(
        tunnels.iter().all(|target| *target == authority),
        "{tunnels:?}"
    );
    // Every connection but the login's own came through the proxy.
    assert_eq!(server.connections(), tunnels.len() + 1);
}

fn a_users_client_that_follows_redirects_does_not_follow_one_on_token<F: Flavor>() {
    let server = VerysServer::start_tls();
    let http = UserHttp {
        follow_redirects: true,
        ..UserHttp::trusting(&server)
    };
    let client = F::build(F::user_client(confidential_builder(&server), &http)).unwrap();
    let pending = client.authorize();
    let callback = server.login(pending.url());
    let received = pending.receive(&callback).unwrap();
    let stolen = format!("{}/stolen", server.issuer());
    server.override_response(
        "/token",
        Some(RawResponse::new(307, "text/plain", "").header("location", stolen)),
    );
    match F::exchange_code(&client, received) {
        Err(Error::TokenRequest(error)) => assert_eq!(error.status, 307),
        other => panic!("expected the 307 as a refusal, got {other:?}"),
    }
    assert_eq!(server.requests("/token"), 1);
    assert_eq!(
        server.requests("/stolen"),
        0,
        "the code and secret went nowhere else"
    );
}

fn a_users_client_that_follows_redirects_does_not_follow_one_on_the_jwks<F: Flavor>() {
    let server = VerysServer::start_tls();
    let http = UserHttp {
        follow_redirects: true,
        ..UserHttp::trusting(&server)
    };
    let jwks = "/.well-known/jwks.json";
    server.override_response(
        jwks,
        Some(
            RawResponse::new(302, "text/plain", "")
                .header("location", format!("{}/stolen", server.issuer())),
        ),
    );
    let verifier =
        F::build_verifier(F::user_verifier(Verifier::builder(server.issuer()), &http)).unwrap();
    let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
    assert!(matches!(
        F::verify(&verifier, &token),
        Err(Error::JwksFetch(_))
    ));
    assert_eq!(server.requests(jwks), 1);
    assert_eq!(server.requests("/stolen"), 0);
}

fn a_users_client_with_lax_timeouts_keeps_the_crates_timeout_and_size_limit<F: Flavor>() {
    let server = VerysServer::start_tls();
    let http = UserHttp {
        lax_timeouts: true,
        ..UserHttp::trusting(&server)
    };
    let builder = confidential_builder(&server)
        .timeout(Duration::from_millis(300))
        .max_response_bytes(4096);
    let client = F::build(F::user_client(builder, &http)).unwrap();
    let tokens = sign_in::<F, _>(&server, &client);

    server.set_response_delay("/token", Some(Duration::from_secs(3)));
    match F::refresh(&client, &tokens) {
        Err(Error::Transport(error)) => assert_eq!(error.kind, TransportErrorKind::Timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }
    server.set_response_delay("/token", None);

    let huge = format!(r#"{{"sub":"{}"}}"#, "a".repeat(64 * 1024));
    server.override_response(
        "/userinfo",
        Some(RawResponse::new(200, "application/json", huge)),
    );
    match F::userinfo(&client, &tokens) {
        Err(Error::Transport(error)) => assert_eq!(error.kind, TransportErrorKind::BodyTooLarge),
        other => panic!("expected body too large, got {other:?}"),
    }
}

/// A client given for one transport and a build of the other would leave
/// the user's proxy, certificate authorities and client certificate unused
/// without a word: the build is refused instead, both ways, for the fixed
/// and the discovered builds.
#[cfg(feature = "async")]
#[test]
fn a_client_given_for_the_other_transport_is_refused_at_build() {
    let server = VerysServer::start_tls();
    let http = UserHttp::trusting(&server);
    let refused = |built: Result<(), Error>, wanted: &str| match built {
        Err(Error::Config(message)) => assert!(message.contains(wanted), "{message}"),
        other => panic!("expected a configuration error, got {other:?}"),
    };
    let blocking = || common::BlockingFlavor::user_client(confidential_builder(&server), &http);
    refused(blocking().build_async().map(drop), "a blocking http client");
    refused(
        common::runtime()
            .block_on(blocking().build_discovered_async())
            .map(drop),
        "a blocking http client",
    );
    let nonblocking = || common::AsyncFlavor::user_client(confidential_builder(&server), &http);
    refused(nonblocking().build().map(drop), "an async http client");
    refused(
        nonblocking().build_discovered().map(drop),
        "an async http client",
    );
    let closure = confidential_builder(&server)
        .async_http_client(|_: http::Request<Vec<u8>>| async { unreachable!("never called") });
    refused(closure.build().map(drop), "an async http client");
    let verifier = || Verifier::builder(server.issuer()).audience(seed::API_CLIENT_ID);
    refused(
        common::BlockingFlavor::user_verifier(verifier(), &http)
            .build_async()
            .map(drop),
        "a blocking http client",
    );
    refused(
        common::AsyncFlavor::user_verifier(verifier(), &http)
            .build()
            .map(drop),
        "an async http client",
    );
    assert_eq!(server.requests("/.well-known/openid-configuration"), 0);
}
