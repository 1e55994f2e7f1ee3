#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mockplane_fuzz::rules(data));
