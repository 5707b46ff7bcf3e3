//! The parser that recognises and bounds-checks imported password hashes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzz::hash_format(data));
