//! DPDK's own log messages into the `log` facade (the daemon's log,
//! issue 14): by default DPDK writes every message to stderr *and* to
//! syslog, so under systemd each line reached the journal twice, without
//! the daemon's timestamps and levels, and never reached the `[daemon_log]`
//! file. [`route_to_log_facade`] replaces DPDK's log stream (before the EAL
//! starts) with one that logs each line under the target `dpdk`, at the
//! level DPDK gave it.
//!
//! DPDK logs from its drivers at start-up and on errors; a worker that hits
//! a driver error logs through the facade as DPDK would have written to
//! stderr (no new cost on the packet path, which logs nothing).

use std::os::raw::c_char;

use crate::ffi;

/// DPDK's `RTE_LOG_*` level (1 emergency .. 8 debug) as a `log` level.
pub fn level(rte_level: u32) -> log::Level {
    match rte_level {
        0..=4 => log::Level::Error, // EMERG, ALERT, CRIT, ERR
        5 => log::Level::Warn,      // WARNING
        6 | 7 => log::Level::Info,  // NOTICE, INFO
        _ => log::Level::Debug,     // DEBUG
    }
}

extern "C" fn sink(rte_level: u32, msg: *const c_char, len: usize) {
    if msg.is_null() {
        return;
    }
    // SAFETY: DPDK's stream hands `len` readable bytes at `msg` for the
    // duration of this call.
    let bytes = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
    let text = String::from_utf8_lossy(bytes);
    let lvl = level(rte_level);
    for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        log::log!(target: "dpdk", lvl, "dpdk: {line}");
    }
}

/// Routes DPDK's log to the `log` facade. Call once, before [`crate::Eal::init`]
/// (the EAL logs during start-up).
pub fn route_to_log_facade() -> std::io::Result<()> {
    // SAFETY: `sink` is a valid `extern "C"` function for the whole process.
    let rc = unsafe { ffi::cgnat_log_redirect(Some(sink)) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level(4), log::Level::Error);
        assert_eq!(level(5), log::Level::Warn);
        assert_eq!(level(7), log::Level::Info);
        assert_eq!(level(8), log::Level::Debug);
    }
}
