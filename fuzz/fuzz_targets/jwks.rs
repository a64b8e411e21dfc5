//! The JWKS document parser and its key filters.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    verys_client::fuzzing::jwks(data);
});
