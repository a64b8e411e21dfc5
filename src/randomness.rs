//! The one place that draws random values: every `state`, `nonce` and PKCE
//! verifier comes from a [`Randomness`], so a test can fix them.

use std::fmt;

use rand::Rng as _;

/// A source of random bytes for the values an attacker must not guess.
///
/// # Security warning
///
/// `state`, `nonce` and the PKCE verifier are only as strong as this source:
/// an implementation other than [`SystemRandomness`] must be a
/// cryptographically secure generator. A fixed or predictable one belongs in
/// tests alone.
pub trait Randomness: Send + Sync + fmt::Debug + 'static {
    /// Fills `bytes` with random bytes.
    fn fill(&self, bytes: &mut [u8]);
}

/// The default: `rand`'s thread-local generator ([`rand::rng`]), a ChaCha12
/// stream cipher seeded from the operating system (`getrandom`) and reseeded
/// from it after every 64 KiB of output.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRandomness;

impl Randomness for SystemRandomness {
    fn fill(&self, bytes: &mut [u8]) {
        rand::rng().fill_bytes(bytes);
    }
}
