//! Fuzz target: `wire::arp` — see `cgnat_core_fuzz::arp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cgnat_core_fuzz::arp(data);
});
