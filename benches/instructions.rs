//! A companion to `verify.rs` that compares the crate's path with its floor
//! outside criterion, where the two can be measured side by side:
//!
//! * `instructions floor N` / `instructions full N`: N bare signature
//!   checks, or N full verifications of the same token, to run under
//!   callgrind, which counts instructions and so ignores whatever else the
//!   machine is doing;
//! * `instructions interleaved ROUNDS`: wall-clock time of both, in
//!   alternating passes (each spread over stack positions like `verify.rs`),
//!   so that the machine's slow phases fall on both alike; prints the median
//!   of the per-round ratios.
//!
//! See benches/README.md.

mod support;

use std::hint::black_box;
use support::{IdToken, spread_over_stack};

fn main() {
    // `cargo bench` passes `--bench`; without a mode the binary only checks
    // that it runs.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = args.first().map_or("full", String::as_str).to_owned();
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1);
    // A fixed key: the same instruction counts from run to run.
    let bench = IdToken::new([9u8; 32]);
    match mode.as_str() {
        "floor" => (0..n).for_each(|_| bench.floor()),
        "interleaved" => interleaved(&bench, n),
        _ => (0..n).for_each(|_| drop(black_box(bench.verify()))),
    }
}

fn interleaved(bench: &IdToken, rounds: usize) {
    const PASS: u64 = 256;
    let per_check = |elapsed: std::time::Duration| elapsed.as_secs_f64() * 1e6 / PASS as f64;
    let mut floor = Vec::with_capacity(rounds);
    let mut full = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let f = per_check(spread_over_stack(PASS, || bench.floor()));
        let v = per_check(spread_over_stack(PASS, || bench.verify()));
        floor.push(f);
        full.push(v);
        ratios.push(v / f);
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "floor {:.2} µs, verify_id_token {:.2} µs, median ratio of {rounds} rounds {:.4}",
        median(floor),
        median(full),
        median(ratios)
    );
}
