//! Cost per request of verification, next to its physical floor: one Ed25519
//! signature check over the same signing input. See benches/README.md for
//! how to run and read it.

mod support;

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use support::{Cycle, Fresh, Tokens, spread_over_stack, verify_access_token};
use verys_client::Client;
use verys_testing::{VerysServer, seed};

/// Distinct tokens of each kind, taken in turn.
const TOKENS: usize = 512;

/// The fresh-token verifier's cache: fewer tokens than a run between two
/// forgettings ([`support::FRESH_RUN`]), so that inserts evict, and every
/// verification pays a miss and an insert.
const SMALL_CACHE: usize = 64;

fn verify(c: &mut Criterion) {
    let mut secrets = [[0u8; 32]; 2];
    for secret in &mut secrets {
        rand::Rng::fill_bytes(&mut rand::rng(), secret);
    }
    // Tokens alternate between two keys, so the header is read for every one.
    let tokens = Tokens::new(&secrets, TOKENS);
    let mut fresh = Fresh::new(tokens.verifier(SMALL_CACHE));
    let uncached = tokens.verifier(0);
    let repeat = tokens.verifier(4096);

    let mut group = c.benchmark_group("verify");
    // Long enough for each median to span several of the slow phases a
    // shared machine goes through, rather than land in one of them.
    group.measurement_time(Duration::from_secs(10));
    group.sampling_mode(SamplingMode::Flat);
    // Each case right after the floor it is compared with, so that the slow
    // drifts of a shared machine are least likely to fall between the two.
    let mut floors = Cycle::new(tokens.id_floors.iter().collect());
    group.bench_function("floor_signature", |b| {
        b.iter_custom(|iters| spread_over_stack(iters, || floors.next().check()))
    });
    let mut id_tokens = Cycle::new(tokens.id_tokens.iter().collect());
    group.bench_function("verify_id_token", |b| {
        b.iter_custom(|iters| spread_over_stack(iters, || tokens.verify_id_token(id_tokens.next())))
    });
    let mut floors = Cycle::new(tokens.access_floors.iter().collect());
    group.bench_function("floor_signature_access", |b| {
        b.iter_custom(|iters| spread_over_stack(iters, || floors.next().check()))
    });
    let mut access_tokens = Cycle::new(tokens.access_tokens.iter().collect());
    group.bench_function("verify_access_token", |b| {
        b.iter_custom(|iters| {
            spread_over_stack(iters, || {
                let token = access_tokens.next();
                verify_access_token(fresh.verifier(), token)
            })
        })
    });
    group.bench_function("verify_access_token_uncached", |b| {
        b.iter_custom(|iters| {
            spread_over_stack(iters, || {
                verify_access_token(&uncached, access_tokens.next())
            })
        })
    });
    let mut floors = Cycle::new(tokens.id_floors.iter().collect());
    group.bench_function("floor_signature_strict", |b| {
        b.iter_custom(|iters| spread_over_stack(iters, || floors.next().check_strict()))
    });
    group.finish();

    let mut group = c.benchmark_group("repeat");
    let token = &tokens.access_tokens[0];
    group.bench_function("verify_access_token_repeat", |b| {
        b.iter(|| verify_access_token(&repeat, token))
    });
    group.finish();

    // Two threads verifying distinct fresh ID tokens against one shared
    // client, and the same two threads over the bare signature checks: the
    // floor's own scaling is the most the machine gives two threads.
    let mut group = c.benchmark_group("concurrency");
    group.measurement_time(Duration::from_secs(10));
    group.sampling_mode(SamplingMode::Flat);
    let halves: Vec<Vec<usize>> = (0..2)
        .map(|half| (half..TOKENS).step_by(2).collect())
        .collect();
    group.bench_function("floor_signature_2_threads", |b| {
        b.iter_custom(|iters| two_threads(iters, &halves, |n| tokens.id_floors[n].check()))
    });
    group.bench_function("verify_id_token_2_threads", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &halves, |n| {
                drop(tokens.verify_id_token(&tokens.id_tokens[n]));
            })
        })
    });
    group.finish();
}

/// Runs `iters` calls of `check` on two threads, each taking the indices of
/// its half in turn; each thread times its own share from the moment both
/// are ready, and the slower thread's time is the case's, so that its time
/// per call is half of the one-thread case's when two threads do twice the
/// work.
fn two_threads(iters: u64, halves: &[Vec<usize>], check: impl Fn(usize) + Sync) -> Duration {
    let ready = Barrier::new(halves.len());
    std::thread::scope(|scope| {
        let workers: Vec<_> = halves
            .iter()
            .enumerate()
            .map(|(half, mine)| {
                let (check, ready) = (&check, &ready);
                let share = iters / 2 + u64::from(half == 0) * (iters % 2);
                scope.spawn(move || {
                    let mut mine = Cycle::new(mine.to_vec());
                    ready.wait();
                    let start = Instant::now();
                    spread_over_stack(share, || check(*mine.next()));
                    start.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a bench thread"))
            .max()
            .unwrap_or_default()
    })
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

criterion_group!(benches, verify, flow);
criterion_main!(benches);
