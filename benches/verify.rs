//! Cost per request of verification, next to its physical floor: one Ed25519
//! signature check. See benches/README.md for how to run and read it.

mod support;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use serde_json::{Value, json};
use support::{IdToken, now, spread_over_stack};
use verys_client::testing::{VerysServer, seed};
use verys_client::{Client, Verifier};

fn access_token_claims(issuer: &str, n: usize) -> Value {
    json!({
        "iss": issuer, "sub": format!("user-{n}"), "aud": issuer, "roles": ["reader"],
        "iat": now(), "exp": now() + 3600, "scopes": ["openid", "profile", "api.read"],
    })
}

fn id_token(c: &mut Criterion) {
    let mut secret = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut secret);
    let bench = IdToken::new(secret);
    let issuer = bench.verys.issuer();

    let access_tokens: Vec<String> = (0..2048)
        .map(|n| bench.key.sign(&access_token_claims(&issuer, n)))
        .collect();
    let fresh = Verifier::builder(&issuer)
        .cache_capacity(1)
        .build()
        .unwrap();
    let repeat = Verifier::builder(&issuer).build().unwrap();
    fresh.verify(&access_tokens[0]).expect("warm the key cache");
    repeat
        .verify(&access_tokens[0])
        .expect("warm the key cache");

    let mut group = c.benchmark_group("id_token");
    // Long enough for each median to span several of the slow phases a
    // shared machine goes through, rather than land in one of them.
    group.measurement_time(Duration::from_secs(10));
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("floor_signature", |b| {
        b.iter_custom(|iters| spread_over_stack(iters, || bench.floor()))
    });
    // Right after the floor it is compared with, so that the slow drifts of
    // a shared machine are least likely to fall between the two.
    group.bench_function("verify_id_token", |b| {
        b.iter_custom(|iters| spread_over_stack(iters, || bench.verify()))
    });
    group.bench_function("floor_signature_strict", |b| {
        b.iter_custom(|iters| {
            spread_over_stack(iters, || {
                bench
                    .verifying
                    .verify_strict(black_box(&bench.input), black_box(&bench.signature))
                    .unwrap()
            })
        })
    });
    let mut next = 0usize;
    group.bench_function("verify_access_token", |b| {
        b.iter_custom(|iters| {
            spread_over_stack(iters, || {
                next = (next + 1) % access_tokens.len();
                fresh.verify(black_box(&access_tokens[next])).unwrap()
            })
        })
    });
    group.bench_function("verify_access_token_repeat", |b| {
        b.iter(|| repeat.verify(black_box(&access_tokens[0])).unwrap())
    });
    group.finish();

    // Two threads verifying at once against one shared client: per-verification
    // time should be about half of `verify_id_token` on two idle cores.
    let mut group = c.benchmark_group("concurrency");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("verify_id_token_2_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(2));
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    let (bench, barrier) = (&bench, Arc::clone(&barrier));
                    scope.spawn(move || {
                        barrier.wait();
                        for _ in 0..iters / 2 {
                            black_box(bench.verify());
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

fn flow(c: &mut Criterion) {
    let verys = VerysServer::start();
    let client = Client::builder(verys.issuer(), seed::CONFIDENTIAL_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("flow");
    group.bench_function("authorize", |b| b.iter(|| black_box(client.authorize())));
    group.sample_size(30);
    group.bench_function("exchange_code", |b| {
        b.iter_batched(
            || {
                let pending = client.authorize();
                let callback = verys.login(pending.url());
                pending.receive(&callback).unwrap()
            },
            |received| client.exchange_code(received).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, id_token, flow);
criterion_main!(benches);
