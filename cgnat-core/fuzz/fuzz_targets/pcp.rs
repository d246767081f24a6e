//! Fuzz target: `wire::pcp` — see `cgnat_core_fuzz::pcp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cgnat_core_fuzz::pcp(data);
});
