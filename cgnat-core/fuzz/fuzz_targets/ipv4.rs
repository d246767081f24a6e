//! Fuzz target: `wire::ipv4` — see `cgnat_core_fuzz::ipv4`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cgnat_core_fuzz::ipv4(data);
});
