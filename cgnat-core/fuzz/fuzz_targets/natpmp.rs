//! Fuzz target: `wire::natpmp` — see `cgnat_core_fuzz::natpmp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cgnat_core_fuzz::natpmp(data);
});
