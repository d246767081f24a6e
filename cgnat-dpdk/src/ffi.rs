//! Raw bindgen bindings to DPDK 22.11 and to the C shim (`src/shim.h`).
//!
//! Everything here is `unsafe` to use; the rest of the crate is the safe
//! layer over it. Exposed for code that needs a DPDK call the safe layer
//! does not wrap yet.
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::pedantic,
    rustdoc::all
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
