//! Fuzz target: `wire::udp` — see `cgnat_core_fuzz::udp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cgnat_core_fuzz::udp(data);
});
