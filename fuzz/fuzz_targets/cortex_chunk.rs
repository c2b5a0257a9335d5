//! libFuzzer entry point for the `cortex_chunk` target; the body is in ../targets.rs.
#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::cortex_chunk(data));
