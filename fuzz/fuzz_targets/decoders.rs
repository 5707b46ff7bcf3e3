//! Forms, JSON bodies, query strings, cookies, headers, durations and JSON Patch: every
//! request decoder and the walks the request path runs on what it decoded.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzz::decoders(data));
