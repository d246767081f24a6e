//! Fuzz target: `wire::icmp` — see `cgnat_core_fuzz::icmp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cgnat_core_fuzz::icmp(data);
});
