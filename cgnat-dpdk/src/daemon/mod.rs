//! `cgnatd`, the data plane daemon, as a library (the binary in
//! `src/bin/cgnatd.rs` only parses arguments and calls [`main_with_args`]).
//!
//! - [`cli`]: command line; [`eal_args`]: the EAL command line from the
//!   configuration (hugepages or `--no-huge`, lcores, devices).
//! - [`router`]: what a worker does with a frame (ARP, echo, NAT verdicts,
//!   next hops, fragments, ICMP errors); [`neighbour`]: the lock-free ARP
//!   table; [`counters`]: per-worker data-plane counters.
//! - [`sd_notify`]: readiness and watchdog for systemd (`Type=notify`).
//! - [`worker_loop`]: the live poll-mode loop; [`clock`]: the TSC packet clock.
//! - [`lifecycle`]: live start, management loop, signals, shutdown.
//! - [`replay`]: deterministic pcap replay; [`pcap`]: pcap files.
//! - [`management`]: the management core: NAT log (merge, formats,
//!   rolling files, syslog, IPFIX), control socket, metrics.

pub mod cli;
pub mod clock;
pub mod counters;
pub mod daemon_log;
pub mod discipline;
pub mod eal_args;
pub mod lifecycle;
pub mod management;
pub mod neighbour;
pub mod pcap;
pub mod replay;
pub mod router;
pub mod sd_notify;
pub mod worker_loop;

use cgnat_core::config::file;

/// Runs `cgnatd` with `args` (without the program name); returns the exit
/// code: 0 success, 1 invalid configuration or runtime failure, 2 usage.
pub fn main_with_args<I: IntoIterator<Item = String>>(args: I) -> i32 {
    let opts = match cli::parse(args) {
        Ok(o) => o,
        Err(e) => {
            // --help and --version print to stdout and exit 0; usage
            // errors to stderr with 2.
            let _ = e.print();
            return e.exit_code();
        }
    };
    // Issue 15: without --config the packaged file, never the lab silently.
    let path = match (&opts.config, opts.lab) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => None,
        (None, false) => Some(std::path::PathBuf::from(cli::DEFAULT_CONFIG)),
    };
    if let Some(p) = path.as_ref().filter(|p| opts.config.is_none() && !p.exists()) {
        eprintln!(
            "cgnatd: no configuration: {} does not exist (install it, pass --config FILE, or --lab for the lab configuration)",
            p.display()
        );
        return 1;
    }
    let mut cfg = match file::load(path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cgnatd: invalid configuration: {e}");
            return 1;
        }
    };
    let source = path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the embedded lab configuration (--lab)".into());
    if opts.check {
        println!("cgnatd: {source}: configuration is valid");
        return 0;
    }
    if let Some(l) = &opts.log {
        cfg.log.file = l.clone();
    }
    // From here on the daemon's messages go through its log ([daemon_log]).
    if let Err(e) = daemon_log::init(&cfg.daemon_log) {
        eprintln!("cgnatd: {e}");
        return 1;
    }
    log::info!("cgnatd {} starting; configuration from {source}", env!("CARGO_PKG_VERSION"));
    // DPDK's own messages through the same log (target `dpdk`), once each.
    if let Err(e) = crate::dpdk_log::route_to_log_facade() {
        log::warn!("DPDK's messages stay on its default stream (stderr and syslog): {e}");
    }
    if let Err(e) = lifecycle::require_root() {
        return fatal(e);
    }
    // One writer per NAT log (issue 15): the locks before the EAL and the
    // ports, so a second daemon on the same log stops here having touched
    // nothing of it.
    let _locks = match management::files::lock_log_files(&cfg.log) {
        Ok(l) => l,
        Err(e) => return fatal(e),
    };
    let r = match &opts.replay {
        Some(paths) => replay::run_replay(&cfg, paths, opts.stats_file.as_deref()),
        None => lifecycle::run_live(&cfg, path.as_deref(), opts.stats_file.as_deref()),
    };
    match r {
        Ok(()) => {
            log::info!("stopped");
            0
        }
        Err(e) => fatal(e),
    }
}

/// The final fatal error: into the daemon's log, and to standard error
/// when the log does not write there (it may be the file that failed).
fn fatal(e: impl std::fmt::Display) -> i32 {
    log::error!("{e}");
    if !daemon_log::writes_stderr() {
        eprintln!("cgnatd: {e}");
    }
    1
}
