//! The `tracing` output of whole flows, faults included, holds every operation and none of the
//! secrets the flows saw: the client secret, PKCE verifiers, codes, and access, refresh, ID,
//! exchanged and external tokens.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{BlockingFlavor, Flavor, confidential_builder, manual_clock};
use verys_client::{ClientAuthMethod, Error, TokenManager, Verifier};
use verys_testing::{IdTokenFault, VerysServer, seed};

/// Everything every subscriber call wrote, for the whole test binary.
fn output() -> &'static Arc<Mutex<Vec<u8>>> {
    static OUTPUT: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    OUTPUT.get_or_init(|| {
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        output
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run_flows<F: Flavor>(secrets: &mut Vec<String>) {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = F::build(confidential_builder(&server).clock(clock.clone())).unwrap();
    secrets.push(seed::CONFIDENTIAL_CLIENT_SECRET.to_owned());

    // A sign-in, remembering its verifier and code.
    let pending = client.authorize();
    let stored = serde_json::to_value(&pending).unwrap();
    secrets.push(stored["code_verifier"].as_str().unwrap().to_owned());
    let callback = server.login(pending.url());
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "code")
        .unwrap()
        .1
        .into_owned();
    secrets.push(code);
    let tokens = F::exchange_code(&client, pending.receive(&callback).unwrap()).unwrap();
    let mut remember = |tokens: &verys_client::Tokens| {
        secrets.push(tokens.access_token().expose_secret().to_owned());
        secrets.push(tokens.id_token().to_owned());
        secrets.push(tokens.refresh_token().unwrap().expose_secret().to_owned());
    };
    remember(&tokens);

    let refreshed = F::refresh(&client, &tokens).unwrap();
    remember(&refreshed);
    F::verify_id_token(&client, refreshed.id_token(), None).unwrap();
    F::restore_tokens(&client, refreshed.to_stored()).unwrap();
    F::userinfo(&client, &refreshed).unwrap();
    let exchanged =
        F::exchange_token(&client, refreshed.access_token(), seed::API_CLIENT_ID).unwrap();
    secrets.push(exchanged.access_token.expose_secret().to_owned());
    let external =
        F::external_token(&client, refreshed.access_token(), seed::GITHUB_TOKEN_ID).unwrap();
    secrets.push(external.expose_secret().to_owned());

    // Faults: a replayed code, a refresh token used twice, a forged ID token, keys out of reach.
    assert!(
        F::refresh(&client, &tokens).is_err(),
        "the old refresh token is dead"
    );
    server.set_id_token_fault(Some(IdTokenFault::BadSignature));
    let pending = client.authorize();
    let callback = server.login(pending.url());
    assert!(matches!(
        F::exchange_code(&client, pending.receive(&callback).unwrap()),
        Err(Error::InvalidIdToken(_))
    ));
    server.set_id_token_fault(None);

    let verifier = F::build_verifier(Verifier::builder(server.issuer())).unwrap();
    F::verify(&verifier, refreshed.access_token().expose_secret()).unwrap();
    assert!(
        F::verify(&verifier, refreshed.id_token()).is_err(),
        "an ID token"
    );

    // The user's HTTP client quotes the client secret as the request carries
    // it (the Basic credentials, the form's percent-encoded pair): neither
    // the error nor the trace repeats it.
    for method in [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
    ] {
        let quoted = Arc::new(Mutex::new(String::new()));
        let http = common::quoting_the_client_secret(Arc::clone(&quoted));
        let builder = confidential_builder(&server).auth_method(method);
        match F::refresh(&F::build(F::canned(builder, http)).unwrap(), &refreshed) {
            Err(Error::Transport(error)) => assert_eq!(error.message, "details withheld"),
            other => panic!("expected the transport error, got {other:?}"),
        }
        secrets.push(quoted.lock().unwrap().clone());
    }

    let manager = TokenManager::new(client, refreshed);
    clock.advance(300);
    server.set_clock_offset(300);
    let managed = F::managed_access_token(&manager).unwrap();
    secrets.push(managed.expose_secret().to_owned());
    secrets.push(manager.refresh_token().unwrap().expose_secret().to_owned());

    server.set_jwks_failure(true);
    server.rotate_key();
    let unknown = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
    secrets.push(unknown.clone());
    assert!(
        F::verify(&verifier, &unknown).is_err(),
        "the keys are out of reach"
    );
}

#[test]
fn the_trace_of_whole_flows_names_every_step_and_no_secret() {
    let output = output();
    let mut secrets = Vec::new();
    run_flows::<BlockingFlavor>(&mut secrets);
    #[cfg(feature = "async")]
    run_flows::<common::AsyncFlavor>(&mut secrets);
    let text = String::from_utf8(output.lock().unwrap().clone()).unwrap();

    for step in [
        "operation=\"authorization_code\"",
        "operation=\"refresh\"",
        "operation=\"userinfo\"",
        "operation=\"token_exchange\"",
        "operation=\"external_token\"",
        "operation=\"verify_access_token\"",
        "operation=\"verify_id_token\"",
        "operation=\"restore_tokens\"",
        "status=200",
        "status=400",
        "jwks fetched keys=1",
        "jwks fetch failed",
        "token refused",
        "failed elapsed_ms=",
        "error=token request failed: http 400: invalid_grant",
        "error=jwks could not be fetched: http 500",
        "rule=signature does not verify",
        "tokens refreshed",
    ] {
        assert!(text.contains(step), "the trace lacks {step:?}:\n{text}");
    }
    assert!(secrets.len() >= 15);
    for secret in &secrets {
        assert!(secret.len() >= 16, "too short to search for: {secret}");
        assert!(
            !text.contains(secret.as_str()),
            "the trace shows a secret: {secret}"
        );
    }
}
