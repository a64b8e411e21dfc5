//! The JSON object reader of the hot path against serde_json.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &str| {
    verys_client::fuzzing::json(data);
});
