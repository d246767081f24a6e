//! Fuzz target: `wire::tcp` — see `cgnat_core_fuzz::tcp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cgnat_core_fuzz::tcp(data);
});
