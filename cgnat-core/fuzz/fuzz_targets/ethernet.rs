//! Fuzz target: `wire::ethernet` — see `cgnat_core_fuzz::ethernet`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cgnat_core_fuzz::ethernet(data);
});
