//! Why `verify.rs` spreads its signature-bound cases over stack positions:
//! the cost of one bare Ed25519 check at 16 stack positions a quarter
//! kilobyte apart, in interleaved rounds so that the machine's slow phases
//! fall on every position alike. See benches/README.md.
//!
//! `cargo bench --bench stack` prints, per position, the median time of a
//! check (µs) and the stack address of its frame modulo 4096.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use std::hint::black_box;
use std::time::Instant;

/// One timed batch of checks with the frames shifted `N` bytes deeper; also
/// returns where the shifted frame sits within its page.
#[inline(never)]
fn shifted<const N: usize>(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> (f64, usize) {
    let mut padding = [0u8; N];
    black_box(&mut padding);
    const BATCH: u32 = 40;
    let start = Instant::now();
    for _ in 0..BATCH {
        key.verify(black_box(message), black_box(signature))
            .expect("a valid signature");
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH);
    let marker = 0u8;
    let position = std::ptr::addr_of!(marker) as usize % 4096;
    black_box(&padding);
    (micros, position)
}

macro_rules! positions {
    ($key:expr, $message:expr, $signature:expr, $($n:literal)*) => {
        [$(shifted::<$n>($key, $message, $signature)),*]
    };
}

fn main() {
    // `cargo bench` passes `--bench`; the CI only builds this.
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(25);
    let signing = SigningKey::from_bytes(&[9u8; 32]);
    let message = vec![b'a'; 750];
    let signature = signing.sign(&message);
    let key = signing.verifying_key();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); 16];
    let mut places = [0usize; 16];
    for _ in 0..rounds {
        let round = positions!(&key, &message, &signature,
            0 256 512 768 1024 1280 1536 1792 2048 2304 2560 2816 3072 3328 3584 3840);
        for (i, (micros, place)) in round.into_iter().enumerate() {
            times[i].push(micros);
            places[i] = place;
        }
    }
    println!("shift  frame%4096  median µs");
    for (i, mut samples) in times.into_iter().enumerate() {
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        println!("{:5}  {:10}  {median:9.1}", i * 256, places[i]);
    }
}
