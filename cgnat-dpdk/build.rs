//! Build script of cgnat-dpdk.
//!
//! 1. Finds the system DPDK (22.11 or later) with pkg-config and links its
//!    shared libraries (PMDs are not linked: the EAL of a shared DPDK build
//!    loads every driver of its plugin directory at `rte_eal_init`).
//! 2. Compiles `src/shim.c`, out-of-line wrappers for DPDK's `static inline`
//!    fast path, with the exact cflags DPDK asks for (`-march=...`,
//!    `-include rte_config.h`).
//! 3. Runs bindgen over `wrapper.h`, allowlisting only what the safe layer
//!    uses, into `$OUT_DIR/bindings.rs`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MIN_VERSION: &str = "22.11";
const INSTALL_HINT: &str = "DPDK 22.11 not found: apt-get install dpdk-dev libdpdk-dev pkg-config clang \
     (or point PKG_CONFIG_PATH at the directory holding libdpdk.pc)";

/// Functions that the safe layer calls (exported, non-inline DPDK symbols).
const FUNCTIONS: &[&str] = &[
    // EAL, lcores, devices
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_strerror",
    "rte_eal_remote_launch",
    "rte_eal_wait_lcore",
    "rte_eal_mp_wait_lcore",
    "rte_eal_get_lcore_state",
    "rte_get_main_lcore",
    "rte_get_next_lcore",
    "rte_lcore_count",
    "rte_lcore_is_enabled",
    "rte_lcore_to_socket_id",
    "rte_socket_id",
    "rte_dev_probe",
    // mempools and mbufs
    "rte_pktmbuf_pool_create",
    "rte_mempool_free",
    "rte_mempool_avail_count",
    "rte_mempool_in_use_count",
    "rte_pktmbuf_free_bulk",
    "rte_mbuf_dynfield_lookup",
    "rte_mbuf_dynflag_lookup",
    // ethdev control path
    "rte_eth_dev_count_avail",
    "rte_eth_find_next",
    "rte_eth_dev_is_valid_port",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_dev_info_get",
    "rte_eth_dev_socket_id",
    "rte_eth_dev_configure",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_promiscuous_enable",
    "rte_eth_promiscuous_disable",
    "rte_eth_promiscuous_get",
    "rte_eth_macaddr_get",
    "rte_eth_link_get_nowait",
    "rte_eth_stats_get",
    "rte_eth_stats_reset",
    "rte_eth_dev_get_mtu",
    // rings
    "rte_ring_create",
    "rte_ring_free",
    // the C shim (src/shim.h)
    "cgnat_.*",
];

/// Constants (object-like macros and enum values) that the safe layer uses.
const VARS: &[&str] = &[
    "RTE_MAX_LCORE",
    "RTE_MAX_ETHPORTS",
    "RTE_ETH_NAME_MAX_LEN",
    "RTE_MEMPOOL_NAMESIZE",
    "RTE_RING_NAMESIZE",
    "RTE_PKTMBUF_HEADROOM",
    "RTE_MBUF_DEFAULT_DATAROOM",
    "RTE_MBUF_DYNFIELD_TIMESTAMP_NAME",
    "RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME",
    "RING_F_SP_ENQ",
    "RING_F_SC_DEQ",
    "RING_F_EXACT_SZ",
    "SOCKET_ID_ANY",
    "RTE_ETH_LINK_UP",
    "RTE_ETH_LINK_FULL_DUPLEX",
    "RTE_MBUF_F_RX_IP_CKSUM_MASK",
    "RTE_MBUF_F_RX_IP_CKSUM_GOOD",
    "RTE_MBUF_F_RX_IP_CKSUM_BAD",
];

/// Types used by value that are not reachable from the functions above.
const TYPES: &[&str] = &["rte_eth_rx_mq_mode", "rte_lcore_state_t"];

/// Types used only behind pointers: opaque keeps the bindings small.
const OPAQUE: &[&str] = &["rte_mempool", "rte_ring", "rte_device"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-changed=src/shim.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_SYSROOT_DIR");

    let dpdk = match pkg_config::Config::new()
        .atleast_version(MIN_VERSION)
        .cargo_metadata(false)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(err) => panic!("\n\n{INSTALL_HINT}\n\npkg-config said: {err}\n"),
    };
    if !dpdk.version.starts_with("22.11") {
        println!(
            "cargo:warning=cgnat-dpdk is written and tested against DPDK 22.11; found {}",
            dpdk.version
        );
    }

    link(&dpdk);
    let cflags = dpdk_cflags();
    compile_shim(&cflags);
    generate_bindings(&cflags);
}

/// Shared libraries: link exactly what `pkg-config --libs libdpdk` lists.
/// rustc links dylibs with `--as-needed`, so only the libraries that the
/// shim or the Rust code reference end up as DT_NEEDED; PMD constructors do
/// not need to be linked because the EAL dlopen()s its driver directory
/// (RTE_EAL_PMD_PATH, e.g. /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0).
fn link(dpdk: &pkg_config::Library) {
    for path in &dpdk.link_paths {
        println!("cargo:rustc-link-search=native={}", path.display());
    }
    for lib in &dpdk.libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    // Exported to dependents' build scripts as DEP_DPDK_VERSION.
    println!("cargo:version={}", dpdk.version);
}

/// The raw cflags (`-march=corei7`, `-include rte_config.h`, `-I...`):
/// DPDK's inline functions need the ISA level the library was built for, and
/// the pkg-config crate keeps only include paths and defines.
fn dpdk_cflags() -> Vec<String> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(&pkg_config)
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|e| panic!("\n\n{INSTALL_HINT}\n\ncannot run {pkg_config}: {e}\n"));
    if !out.status.success() {
        panic!(
            "\n\n{INSTALL_HINT}\n\n{pkg_config} --cflags libdpdk failed: {}\n",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn compile_shim(cflags: &[String]) {
    let mut build = cc::Build::new();
    build
        .file("src/shim.c")
        .include("src")
        // The shim is the fast path: optimise it even in debug builds.
        .opt_level(3)
        .warnings(true)
        .extra_warnings(false);
    for flag in cflags {
        build.flag(flag);
    }
    build.compile("cgnat_dpdk_shim");
}

fn generate_bindings(cflags: &[String]) {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    // Generate code for the workspace MSRV (e.g. no `unsafe extern` blocks).
    let Ok(rust_target) = bindgen::RustTarget::stable(80, 0) else {
        panic!("bindgen does not know Rust 1.80");
    };
    let mut builder = bindgen::Builder::default()
        .header(manifest_dir.join("wrapper.h").to_string_lossy())
        .clang_args(cflags)
        .clang_arg(format!("-I{}", manifest_dir.display()))
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .rust_target(rust_target)
        .generate_comments(false)
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(true)
        .allowlist_recursively(true);
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for v in VARS {
        builder = builder.allowlist_var(v);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    for t in OPAQUE {
        builder = builder.opaque_type(t);
    }
    let bindings = builder.generate().unwrap_or_else(|e| {
        panic!(
            "\n\nbindgen failed on the DPDK headers: {e}\n\
             bindgen needs libclang: apt-get install clang libclang-dev\n"
        )
    });
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("bindings.rs");
    bindings
        .write_to_file(&out)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
