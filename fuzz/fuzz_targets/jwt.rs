//! The compact JWS parser, header rules, claims decoding and claim rules.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &str| {
    verys_client::fuzzing::jwt(data);
});
