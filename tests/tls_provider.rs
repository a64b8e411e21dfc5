//! The async client's TLS in a process with no rustls crypto provider
//! installed, as the crate leaves it: nothing in this test binary installs
//! one, and reqwest here has none of its own (the crate enables only its
//! `rustls-no-provider` feature, and no dependency of the workspace its
//! `rustls`). The crate's own reqwest client needs none; a user's builder is
//! left as configured, so it needs the user's provider or TLS config, and
//! without either is a configuration error, not a panic.

#![cfg(feature = "async")]

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use verys_client::{Error, TransportErrorKind, Verifier};
use verys_testing::{VerysServer, seed};

fn token(server: &VerysServer) -> String {
    server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300)
}

/// The crate's own client (no builder given) handshakes on its own ring
/// config, trusting the webpki roots, which never signed the test CA.
#[tokio::test]
async fn the_crates_own_client_needs_no_process_provider() {
    let server = VerysServer::start_tls();
    let verifier = Verifier::builder(server.issuer()).build_async().unwrap();
    match verifier.verify(&token(&server)).await {
        Err(Error::Transport(error)) => {
            assert_eq!(error.kind, TransportErrorKind::Tls, "{error}");
            assert!(
                error.message.contains("invalid peer certificate"),
                "{error}"
            );
        }
        other => panic!("expected the handshake to refuse the test CA, got {other:?}"),
    }
    assert!(
        CryptoProvider::get_default().is_none(),
        "the crate installed a process-wide provider"
    );
}

/// A user's builder with their CA is not given the crate's TLS config (which
/// would drop the CA): with no provider to build it with, reqwest cannot, and
/// the build says so.
#[test]
fn a_users_builder_without_a_provider_is_a_config_error() {
    let server = VerysServer::start_tls();
    let ca =
        reqwest::Certificate::from_pem(server.ca_certificate_pem().unwrap().as_bytes()).unwrap();
    let builder = reqwest::Client::builder().add_root_certificate(ca);
    match Verifier::builder(server.issuer())
        .reqwest_client(builder)
        .build_async()
    {
        Err(Error::Config(message)) => {
            assert!(message.contains("crypto provider"), "{message}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    assert!(CryptoProvider::get_default().is_none());
}

/// A user's own rustls config, given on their builder, needs no process
/// provider either, and is kept: it trusts the test CA, so the key set is
/// fetched and the token verifies.
#[tokio::test]
async fn a_users_builder_with_their_own_tls_config_is_kept() {
    let server = VerysServer::start_tls();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            server.ca_certificate_der().unwrap().to_vec(),
        ))
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let builder = reqwest::Client::builder().tls_backend_preconfigured(tls);
    let verifier = Verifier::builder(server.issuer())
        .reqwest_client(builder)
        .build_async()
        .unwrap();
    let claims = verifier.verify(&token(&server)).await.unwrap();
    assert_eq!(claims.sub(), seed::USER_SUB);
    assert_eq!(server.jwks_fetches(), 1);
    assert!(CryptoProvider::get_default().is_none());
}
