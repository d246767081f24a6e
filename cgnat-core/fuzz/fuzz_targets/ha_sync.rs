//! Fuzz target: `wire::ha` and the sync receiver — see `cgnat_core_fuzz::ha_sync`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cgnat_core_fuzz::ha_sync(data);
});
