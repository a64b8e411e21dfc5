//! The base64url decoder of the hot path against the `base64` crate.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    verys_client::fuzzing::base64url(data);
});
