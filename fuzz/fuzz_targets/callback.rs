//! The callback parser and checks of `PendingAuth::receive`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &str| {
    verys_client::fuzzing::callback(data);
});
