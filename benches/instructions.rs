//! A companion to `verify.rs` that compares the crate's paths with their
//! floors outside criterion, where they can be measured side by side:
//!
//! * `instructions MODE N`, to run under callgrind, which counts
//!   instructions and so ignores whatever else the machine is doing: N bare
//!   signature checks over ID tokens (`floor`) or access tokens
//!   (`floor_access`), or N full verifications of ID tokens (`full`), of
//!   fresh access tokens with a small cache (`access`) or with none
//!   (`access_uncached`), all over the same distinct tokens in turn, or of
//!   one access token again (`repeat`, a cache hit);
//! * `instructions interleaved ROUNDS` (`interleaved_access ROUNDS`):
//!   wall-clock time of the ID token path (the access token path, a fresh
//!   token each time) and its floor in alternating passes (each spread over
//!   stack positions like `verify.rs`), so that the machine's slow phases
//!   fall on both alike; prints the median of the per-round ratios;
//! * `instructions interleaved_cache ROUNDS`: the same for fresh access
//!   tokens with the verified-token cache off (the "floor") and on.
//!
//! See benches/README.md.

mod support;

use std::hint::black_box;
use support::{Cycle, Fresh, Tokens, spread_over_stack, verify_access_token};

fn main() {
    // `cargo bench` passes `--bench`; without a mode the binary only checks
    // that it runs.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = args.first().map_or("full", String::as_str).to_owned();
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1);
    // Fixed keys: the same instruction counts from run to run.
    let tokens = Tokens::new(&[[9u8; 32], [10u8; 32]], 512);
    let mut id_floors = Cycle::new(tokens.id_floors.iter().collect());
    let mut access_floors = Cycle::new(tokens.access_floors.iter().collect());
    let mut id_tokens = Cycle::new(tokens.id_tokens.iter().collect());
    let mut access_tokens = Cycle::new(tokens.access_tokens.iter().collect());
    match mode.as_str() {
        "floor" => (0..n).for_each(|_| id_floors.next().check()),
        "floor_access" => (0..n).for_each(|_| access_floors.next().check()),
        "access" | "access_uncached" => {
            let mut fresh = Fresh::new(tokens.verifier(if mode == "access" { 64 } else { 0 }));
            for _ in 0..n {
                let token = access_tokens.next();
                black_box(verify_access_token(fresh.verifier(), token));
            }
        }
        "repeat" => {
            let verifier = tokens.verifier(4096);
            let token = &tokens.access_tokens[0];
            for _ in 0..n {
                black_box(verify_access_token(&verifier, token));
            }
        }
        "interleaved" => {
            let mut floors = Cycle::new(tokens.id_floors.iter().collect());
            interleaved(
                "verify_id_token",
                n,
                || floors.next().check(),
                || {
                    drop(tokens.verify_id_token(id_tokens.next()));
                },
            );
        }
        "interleaved_access" => {
            let mut floors = Cycle::new(tokens.access_floors.iter().collect());
            let mut fresh = Fresh::new(tokens.verifier(64));
            interleaved(
                "verify_access_token",
                n,
                || floors.next().check(),
                || {
                    let token = access_tokens.next();
                    drop(verify_access_token(fresh.verifier(), token));
                },
            );
        }
        "interleaved_cache" => {
            // The same fresh tokens with the cache off and on: the ratio is
            // what remembering a token costs.
            let uncached = tokens.verifier(0);
            let mut again = Cycle::new(tokens.access_tokens.iter().collect());
            let mut fresh = Fresh::new(tokens.verifier(64));
            interleaved(
                "verify_access_token",
                n,
                || drop(verify_access_token(&uncached, again.next())),
                || {
                    let token = access_tokens.next();
                    drop(verify_access_token(fresh.verifier(), token));
                },
            );
        }
        _ => (0..n).for_each(|_| drop(black_box(tokens.verify_id_token(id_tokens.next())))),
    }
}

fn interleaved(name: &str, rounds: usize, mut floor: impl FnMut(), mut path: impl FnMut()) {
    const PASS: u64 = 256;
    let per_check = |elapsed: std::time::Duration| elapsed.as_secs_f64() * 1e6 / PASS as f64;
    let (mut floors, mut paths, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let f = per_check(spread_over_stack(PASS, &mut floor));
        let p = per_check(spread_over_stack(PASS, &mut path));
        floors.push(f);
        paths.push(p);
        ratios.push(p / f);
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "floor {:.2} µs, {name} {:.2} µs, median ratio of {rounds} rounds {:.4}",
        median(floors),
        median(paths),
        median(ratios)
    );
}
