//! I/O counts under concurrency: one JWKS fetch for many verifiers that miss
//! the same new key at once, and one connection for many sequential grants.
//! Counts, never times.

mod common;

use std::sync::{Arc, Barrier};

use common::{BlockingFlavor, confidential_builder, manual_clock, sign_in};
use verys_client::Tokens;
use verys_testing::VerysServer;

const VERIFIERS: usize = 64;

/// Signs in `n` times, rotates the server's key and moves both clocks past
/// the JWKS cooldown, so that every later refresh names an unknown `kid`.
fn rotated_sessions<F: common::Flavor>(
    server: &VerysServer,
    client: &verys_client::Client<verys_client::Confidential, F::T>,
    clock: &verys_client::ManualClock,
    n: usize,
) -> Vec<Tokens> {
    let sessions: Vec<Tokens> = (0..n).map(|_| sign_in::<F, _>(server, client)).collect();
    assert_eq!(server.jwks_fetches(), 1);
    server.rotate_key();
    clock.advance(31);
    server.set_clock_offset(31);
    sessions
}

#[test]
fn threads_missing_a_rotated_key_cause_one_fetch() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = confidential_builder(&server)
        .clock(clock.clone())
        .build()
        .unwrap();
    let sessions = rotated_sessions::<BlockingFlavor>(&server, &client, &clock, VERIFIERS);
    let barrier = Arc::new(Barrier::new(VERIFIERS));
    let handles: Vec<_> = sessions
        .into_iter()
        .map(|tokens| {
            let (client, barrier) = (client.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                client.refresh(&tokens).map(|t| t.sub().to_owned())
            })
        })
        .collect();
    for handle in handles {
        assert!(handle.join().unwrap().is_ok());
    }
    assert_eq!(
        server.jwks_fetches(),
        2,
        "exactly one fetch after the rotation"
    );
    assert_eq!(server.token_requests("refresh_token"), VERIFIERS);
}

#[cfg(feature = "async")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_missing_a_rotated_key_cause_one_fetch() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let client = confidential_builder(&server)
        .clock(clock.clone())
        .build_async()
        .unwrap();
    let mut sessions = Vec::new();
    for _ in 0..VERIFIERS {
        let received = common::callback(&server, &client);
        sessions.push(client.exchange_code(received).await.unwrap());
    }
    assert_eq!(server.jwks_fetches(), 1);
    server.rotate_key();
    clock.advance(31);
    server.set_clock_offset(31);
    let barrier = Arc::new(tokio::sync::Barrier::new(VERIFIERS));
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|tokens| {
            let (client, barrier) = (client.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                client.refresh(&tokens).await.map(|t| t.sub().to_owned())
            })
        })
        .collect();
    for task in tasks {
        let result = task.await.unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(
        server.jwks_fetches(),
        2,
        "exactly one fetch after the rotation"
    );
    assert_eq!(server.token_requests("refresh_token"), VERIFIERS);
}

const GRANTS: usize = 200;

#[test]
fn sequential_refreshes_reuse_one_connection() {
    let server = VerysServer::start();
    let client = confidential_builder(&server).build().unwrap();
    let mut tokens = sign_in::<BlockingFlavor, _>(&server, &client);
    let before = server.connections();
    for _ in 0..GRANTS {
        tokens = client.refresh(&tokens).unwrap();
    }
    assert_eq!(server.token_requests("refresh_token"), GRANTS);
    assert!(
        server.connections() <= before + 1,
        "{} connections for {GRANTS} grants",
        server.connections() - before
    );
}

#[cfg(feature = "async")]
#[tokio::test]
async fn sequential_async_refreshes_reuse_one_connection() {
    let server = VerysServer::start();
    let client = confidential_builder(&server).build_async().unwrap();
    let received = common::callback(&server, &client);
    let mut tokens = client.exchange_code(received).await.unwrap();
    let before = server.connections();
    for _ in 0..GRANTS {
        tokens = client.refresh(&tokens).await.unwrap();
    }
    assert_eq!(server.token_requests("refresh_token"), GRANTS);
    assert!(server.connections() <= before + 1);
}

/// Access tokens signed with the server's key after a rotation, for a
/// verifier that cached the old key.
fn rotated_access_tokens(server: &VerysServer, n: usize) -> Vec<String> {
    server.rotate_key();
    server.set_clock_offset(31);
    (0..n)
        .map(|i| {
            server.issue_access_token(&format!("user-{i}"), &server.issuer(), &["openid"], 300)
        })
        .collect()
}

#[test]
fn verifier_threads_missing_a_rotated_key_cause_one_fetch() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let verifier = verys_client::Verifier::builder(server.issuer())
        .clock(clock.clone())
        .build()
        .unwrap();
    let warm = server.issue_access_token("warm", &server.issuer(), &["openid"], 300);
    verifier.verify(&warm).unwrap();
    let tokens = rotated_access_tokens(&server, VERIFIERS);
    clock.advance(31);
    let barrier = Arc::new(Barrier::new(VERIFIERS));
    let handles: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let (verifier, barrier) = (verifier.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                verifier
                    .verify(&token)
                    .map(|claims| claims.sub().to_owned())
            })
        })
        .collect();
    for handle in handles {
        let result = handle.join().unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(
        server.jwks_fetches(),
        2,
        "exactly one fetch after the rotation"
    );
}

#[cfg(feature = "async")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verifier_tasks_missing_a_rotated_key_cause_one_fetch() {
    let server = VerysServer::start();
    let clock = manual_clock();
    let verifier = verys_client::Verifier::builder(server.issuer())
        .clock(clock.clone())
        .build_async()
        .unwrap();
    let warm = server.issue_access_token("warm", &server.issuer(), &["openid"], 300);
    verifier.verify(&warm).await.unwrap();
    let tokens = rotated_access_tokens(&server, VERIFIERS);
    clock.advance(31);
    let barrier = Arc::new(tokio::sync::Barrier::new(VERIFIERS));
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let (verifier, barrier) = (verifier.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                verifier
                    .verify(&token)
                    .await
                    .map(|claims| claims.sub().to_owned())
            })
        })
        .collect();
    for task in tasks {
        let result = task.await.unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(
        server.jwks_fetches(),
        2,
        "exactly one fetch after the rotation"
    );
}
