//! Hostile servers: answers a well-behaved identity provider never gives.
//! Each must end in a typed error, without a panic and without hanging.
//!
//! Token endpoint answers already covered by `flow.rs`: an HTML error page,
//! an empty body, JSON of the wrong shape or types, a 200 with an `error`
//! field, a body over the size limit, a slow answer, a redirect. Here: raw
//! TCP servers on 127.0.0.1 that never answer, trickle, stream without end,
//! hang up half-way or do not speak HTTP, and hostile key sets served by the
//! embedded Verys.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{Flavor, callback, confidential_builder};
use verys_client::{CallbackReceived, Client, Error, Public, TokenRule, TransportErrorKind};
use verys_testing::{RawResponse, VerysServer, seed};

scenarios!(
    token_endpoint_that_never_answers_times_out,
    token_endpoint_that_trickles_hits_the_overall_timeout,
    endless_body_is_cut_at_the_limit,
    connection_closed_mid_body_is_a_transport_error,
    answer_that_is_not_http_is_a_transport_error,
    jwks_endpoint_that_never_answers_times_out,
    jwks_with_a_thousand_keys_is_refused,
    jwks_with_duplicate_kids_is_ambiguous,
    jwks_repeating_one_key_under_its_kid_is_accepted,
    jwks_larger_than_the_limit_is_not_read,
    jwks_that_is_not_json_is_a_jwks_error,
    answer_with_a_token_in_a_wrong_place_quotes_no_token,
    tokens_placed_in_any_field_are_quoted_by_no_error,
);

/// Generous bound for "did not hang": far above every configured timeout,
/// far below what the hostile servers would make a client wait.
const WATCHDOG: Duration = Duration::from_secs(20);

/// The client's overall timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------
// A misbehaving server on 127.0.0.1.

/// A TCP server whose every connection is handled by `behave`, on its own
/// thread. Behaviours poll `stopping` so that dropping the server ends them.
struct HostileServer {
    url: String,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

type Behaviour = fn(TcpStream, &AtomicBool);

impl HostileServer {
    fn start(behave: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let acceptor = thread::spawn(move || {
            let mut handlers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let stop = stop.clone();
                        handlers.push(thread::spawn(move || behave(stream, &stop)));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            for handler in handlers {
                let _ = handler.join();
            }
        });
        Self {
            url,
            stopping,
            acceptor: Some(acceptor),
        }
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Reads the request head (and whatever body came with it) without waiting
/// for more than a moment.
fn read_request(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buffer = [0u8; 8192];
    let mut seen = Vec::new();
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buffer[..n]);
        if seen.windows(4).any(|w| w == b"\r\n\r\n") {
            // Give a form body a moment to arrive, then stop reading.
            let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
        }
    }
}

fn idle_until_stopped(stopping: &AtomicBool) {
    while !stopping.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(10));
    }
}

/// Accepts, reads the request, and holds the connection open without a byte.
fn never_answer(mut stream: TcpStream, stopping: &AtomicBool) {
    read_request(&mut stream);
    idle_until_stopped(stopping);
}

/// A valid head announcing 1,000 bytes, then one byte every 50 ms.
fn trickle(mut stream: TcpStream, stopping: &AtomicBool) {
    read_request(&mut stream);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    while !stopping.load(Ordering::SeqCst) {
        if stream.write_all(b" ").is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A chunked body that never ends, as fast as the client reads it.
fn endless(mut stream: TcpStream, stopping: &AtomicBool) {
    read_request(&mut stream);
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
    while !stopping.load(Ordering::SeqCst) {
        if stream.write_all(chunk.as_bytes()).is_err() {
            return;
        }
    }
}

/// Announces 1,000 bytes, sends a few, and hangs up.
fn hang_up_mid_body(mut stream: TcpStream, _: &AtomicBool) {
    read_request(&mut stream);
    let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"access_token\":";
    let _ = stream.write_all(answer.as_bytes());
}

/// Answers with something that is not HTTP at all, and hangs up.
fn not_http(mut stream: TcpStream, _: &AtomicBool) {
    read_request(&mut stream);
    let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\nProtocol mismatch.\n");
}

/// Runs `work` on its own thread and fails the test, rather than hanging
/// it, if no answer comes within the watchdog.
fn within_watchdog<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver
        .recv_timeout(WATCHDOG)
        .expect("the client hung on a hostile server")
}

/// A public client of `issuer` with a short timeout, and a callback it has
/// checked (the hostile server plays no part in the front channel).
fn client_and_callback<F: Flavor>(
    issuer: &str,
    max_response_bytes: u64,
) -> (Client<Public, F::T>, CallbackReceived<Public>) {
    let builder = Client::builder(issuer, seed::PUBLIC_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .max_response_bytes(max_response_bytes);
    let client = F::build(builder).unwrap();
    let pending = client.authorize();
    let state = url::Url::parse(pending.url())
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let received = pending
        .receive(&format!("?code=abc&state={state}"))
        .unwrap();
    (client, received)
}

/// Exchanges a code at a hostile token endpoint; returns the transport
/// error's kind and how long the client took.
fn exchange_at<F: Flavor>(behave: Behaviour, max_response_bytes: u64) -> (Error, Duration) {
    let server = HostileServer::start(behave);
    let (client, received) = client_and_callback::<F>(&server.url, max_response_bytes);
    let started = Instant::now();
    let result = within_watchdog(move || F::exchange_code(&client, received).map(drop));
    let elapsed = started.elapsed();
    drop(server);
    match result {
        Err(error) => (error, elapsed),
        Ok(()) => panic!("a hostile token endpoint gave tokens"),
    }
}

fn transport_kind(error: &Error) -> TransportErrorKind {
    match error {
        Error::Transport(transport) => transport.kind,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Hostile token endpoints.

fn token_endpoint_that_never_answers_times_out<F: Flavor>() {
    let (error, elapsed) = exchange_at::<F>(never_answer, 1024 * 1024);
    assert_eq!(transport_kind(&error), TransportErrorKind::Timeout);
    // Not a speed assertion: only that the timeout, not the server, ended it.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

/// Each byte comes well within any per-read timeout; only an overall
/// deadline stops a client from waiting 50 s for the whole body.
fn token_endpoint_that_trickles_hits_the_overall_timeout<F: Flavor>() {
    let (error, elapsed) = exchange_at::<F>(trickle, 1024 * 1024);
    assert_eq!(transport_kind(&error), TransportErrorKind::Timeout);
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

/// A body without end: the client stops at its limit instead of reading on
/// (which would end in a timeout, or never with a longer one).
fn endless_body_is_cut_at_the_limit<F: Flavor>() {
    let (error, _) = exchange_at::<F>(endless, 64 * 1024);
    assert_eq!(transport_kind(&error), TransportErrorKind::BodyTooLarge);
}

fn connection_closed_mid_body_is_a_transport_error<F: Flavor>() {
    let (error, _) = exchange_at::<F>(hang_up_mid_body, 1024 * 1024);
    assert_eq!(transport_kind(&error), TransportErrorKind::Other);
}

fn answer_that_is_not_http_is_a_transport_error<F: Flavor>() {
    let (error, _) = exchange_at::<F>(not_http, 1024 * 1024);
    assert_eq!(transport_kind(&error), TransportErrorKind::Other);
}

// ---------------------------------------------------------------------------
// Hostile key sets, served by the embedded Verys.

/// The embedded Verys's real JWKS document.
fn real_jwks(server: &VerysServer) -> Value {
    let url = format!("{}/.well-known/jwks.json", server.issuer());
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    let body = agent
        .get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

fn real_key(server: &VerysServer) -> Value {
    real_jwks(server)["keys"][0].clone()
}

/// Signs in with the confidential client while the server publishes `jwks`.
fn sign_in_with_jwks<F: Flavor>(
    server: &VerysServer,
    jwks: Value,
    max_response_bytes: u64,
) -> Result<verys_client::Tokens, Error> {
    server.set_jwks_body(Some(jwks.to_string()));
    let builder = confidential_builder(server)
        .timeout(TIMEOUT)
        .max_response_bytes(max_response_bytes);
    let client = F::build(builder).unwrap();
    let received = callback(server, &client);
    within_watchdog(move || F::exchange_code(&client, received))
}

/// The code exchange succeeds (the client only asks for keys once it has
/// an ID token to verify), and the timeout is the JWKS request's: the
/// server answered `/token` at once and was still holding the JWKS back.
fn jwks_endpoint_that_never_answers_times_out<F: Flavor>() {
    let server = VerysServer::start();
    server.set_response_delay("/.well-known/jwks.json", Some(Duration::from_secs(4)));
    let client = F::build(confidential_builder(&server).timeout(TIMEOUT)).unwrap();
    let received = callback(&server, &client);
    let result = within_watchdog(move || F::exchange_code(&client, received).map(drop));
    assert_eq!(
        transport_kind(&result.unwrap_err()),
        TransportErrorKind::Timeout
    );
    assert_eq!(server.token_requests("authorization_code"), 1);
    assert_eq!(server.requests("/.well-known/jwks.json"), 1);
    let answered = server.received_token_requests();
    assert_eq!(answered.len(), 1, "no second token request");
}

/// More keys than any provider publishes, the real one among them: refused
/// as a whole before a single key is decoded.
fn jwks_with_a_thousand_keys_is_refused<F: Flavor>() {
    let server = VerysServer::start();
    let real = real_key(&server);
    let mut keys: Vec<Value> = (1..1000)
        .map(|i| {
            let mut key = real.clone();
            key["kid"] = json!(format!("key-{i}"));
            key
        })
        .collect();
    keys.push(real);
    match sign_in_with_jwks::<F>(&server, json!({ "keys": keys }), 1024 * 1024) {
        Err(Error::JwksFetch(reason)) => assert!(reason.contains("1000 keys"), "{reason}"),
        other => panic!("expected a jwks error, got {other:?}"),
    }
}

/// Two different keys under the token's `kid`: neither is trusted.
fn jwks_with_duplicate_kids_is_ambiguous<F: Flavor>() {
    let server = VerysServer::start();
    let real = real_key(&server);
    let mut impostor = real.clone();
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
    impostor["x"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        other.as_bytes()
    ));
    let result = sign_in_with_jwks::<F>(&server, json!({ "keys": [impostor, real] }), 1024 * 1024);
    assert!(
        matches!(
            result,
            Err(Error::InvalidIdToken(TokenRule::AmbiguousKeyId))
        ),
        "{result:?}"
    );
}

fn jwks_repeating_one_key_under_its_kid_is_accepted<F: Flavor>() {
    let server = VerysServer::start();
    let real = real_key(&server);
    let result = sign_in_with_jwks::<F>(
        &server,
        json!({ "keys": [real.clone(), real] }),
        1024 * 1024,
    );
    assert_eq!(result.unwrap().sub(), seed::USER_SUB);
}

fn jwks_larger_than_the_limit_is_not_read<F: Flavor>() {
    let server = VerysServer::start();
    let mut jwks = real_jwks(&server);
    jwks["padding"] = json!("x".repeat(128 * 1024));
    let result = sign_in_with_jwks::<F>(&server, jwks, 64 * 1024);
    assert_eq!(
        transport_kind(&result.unwrap_err()),
        TransportErrorKind::BodyTooLarge
    );
}

fn jwks_that_is_not_json_is_a_jwks_error<F: Flavor>() {
    let server = VerysServer::start();
    server.set_jwks_body(Some("<html><body>502 Bad Gateway</body></html>".into()));
    let client = F::build(confidential_builder(&server)).unwrap();
    let received = callback(&server, &client);
    let result = within_watchdog(move || F::exchange_code(&client, received).map(drop));
    assert!(
        matches!(&result, Err(Error::JwksFetch(reason)) if reason.starts_with("not a jwks document: not json")),
        "{result:?}"
    );
}

/// serde names the value it could not use; a token sitting where a number
/// belongs must not end up in the error.
fn answer_with_a_token_in_a_wrong_place_quotes_no_token<F: Flavor>() {
    let secret = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0LWFjY2Vzcy10b2tlbg.c2ln";
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let received = callback(&server, &client);
    let body = json!({
        "access_token": secret,
        "token_type": "Bearer",
        "expires_in": secret,
        "id_token": secret,
    });
    server.override_response(
        "/token",
        Some(RawResponse::new(200, "application/json", body.to_string())),
    );
    let error = within_watchdog(move || F::exchange_code(&client, received).map(drop)).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::InvalidResponse {
                endpoint: "token",
                ..
            }
        ),
        "{error:?}"
    );
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains("c2VjcmV0"), "{text}");
    }
}

/// A confused or hostile server puts the client's own secrets (its tokens,
/// its client secret) into every field of its answers: token responses,
/// OAuth error bodies, federation errors, the discovery document, userinfo,
/// the JWKS and the content type. No resulting error, displayed or
/// debugged, quotes one of them; short OAuth error codes and descriptions
/// still come through.
fn tokens_placed_in_any_field_are_quoted_by_no_error<F: Flavor>() {
    let server = VerysServer::start();
    let client = F::build(confidential_builder(&server)).unwrap();
    let tokens = common::sign_in::<F, _>(&server, &client);
    let access = tokens.access_token().expose_secret().to_owned();
    let refresh = tokens.refresh_token().unwrap().expose_secret().to_owned();
    let id_token = tokens.id_token().to_owned();
    let secrets = [
        access.as_str(),
        refresh.as_str(),
        id_token.as_str(),
        seed::CONFIDENTIAL_CLIENT_SECRET,
    ];
    let json = |status, body: Value| RawResponse::new(status, "application/json", body.to_string());
    let mut cases: Vec<(&str, RawResponse)> = Vec::new();
    for secret in secrets {
        cases.extend([
            ("/token", json(200, json!({"access_token": "a", "token_type": secret, "expires_in": 60, "id_token": id_token}))),
            ("/token", json(200, json!({"access_token": "a", "token_type": "Bearer", "expires_in": secret, "id_token": id_token}))),
            ("/token", json(200, json!({"access_token": "a", "token_type": "Bearer", "id_token": secret}))),
            ("/token", json(400, json!({"error": secret, "error_description": secret}))),
            ("/token", json(400, json!({"error": "invalid_grant", "error_description": format!("the token {secret} is revoked")}))),
            ("/token", json(401, json!({"error": "invalid_client", "error_description": format!("secret {secret} is wrong")}))),
            ("/token", RawResponse::new(502, &format!("text/{secret}"), "<html>")),
            ("/token", RawResponse::new(200, "application/json", format!("{{\"access_token\": \"{secret}\", \"token_type\": 7}}"))),
            ("/userinfo", json(200, json!({"sub": secret}))),
            ("/userinfo", json(401, json!({"error": secret}))),
            ("/federation/tokens", json(401, json!({"error": "reauthorization_required", "error_description": secret, "provider_id": secret}))),
            ("/federation/tokens", json(200, json!({"tokens": [{"token_id": secret, "expires_at": secret}]}))),
            ("/.well-known/jwks.json", RawResponse::new(200, "application/json", secret)),
            ("/.well-known/openid-configuration", json(200, json!({"issuer": secret, "authorization_endpoint": secret,
                "token_endpoint": secret, "jwks_uri": secret, "id_token_signing_alg_values_supported": [secret]}))),
        ]);
    }
    let mut kept_a_short_description = false;
    for (path, answer) in cases {
        server.override_response(path, Some(answer));
        let error = match path {
            "/token" => F::refresh(&client, &tokens).map(drop),
            "/userinfo" => F::userinfo(&client, &tokens).map(drop),
            "/federation/tokens" => F::external_tokens(&client, tokens.access_token()).map(drop),
            "/.well-known/jwks.json" => {
                let fresh = F::build(confidential_builder(&server)).unwrap();
                F::verify_id_token(&fresh, &id_token, tokens.claims().nonce()).map(drop)
            }
            _ => F::build_discovered(confidential_builder(&server)).map(drop),
        }
        .expect_err(path);
        server.override_response(path, None);
        for text in [error.to_string(), format!("{error:?}")] {
            for secret in secrets {
                assert!(!text.contains(secret), "{path}: {text} quotes a secret");
            }
        }
        if let Error::TokenRequest(refused) = &error {
            kept_a_short_description |= refused.error() == Some("invalid_grant");
        }
    }
    assert!(kept_a_short_description, "short OAuth error codes are kept");
}
