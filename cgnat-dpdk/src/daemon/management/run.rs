//! Runs of `cgnatd` in the NAT log (issue 10 item 2): every record carries
//! the id of the run that wrote it; a run begins with a `daemon-start`
//! record (aux = the configuration digest) before any translation and, at
//! a clean shutdown, ends with a `daemon-stop` record (aux = the records of
//! the run before it). A run without its `daemon-stop` ended in a crash.
//!
//! - The **configuration digest** is the first 64 bits (big-endian) of the
//!   SHA-256 of the configuration in force (file, environment overrides
//!   and command line applied) serialised canonically: JSON with the keys
//!   in declaration order (`serde_json` of `DaemonConfig`), no spaces —
//!   with the places things are written to or served on left empty
//!   (`log.file`, each target's `file` and `address`, `control.socket`,
//!   `metrics.listen`): the digest names what the NAT does and logs, not
//!   where, so a replay written to another file has the same digest.
//! - The **run id** is drawn from the OS at start in live mode; a replay
//!   derives it from the digest (the first 64 bits of SHA-256 of
//!   `cgnatd-replay` followed by the digest), so a replay's log stays
//!   byte-identical run to run.

use cgnat_core::config::DaemonConfig;
use cgnat_core::event::{Event, EventKind, ProtocolScope, Reason, MANAGEMENT_WORKER};
use cgnat_core::Instant;
use sha2::{Digest, Sha256};

fn first_64(bytes: &[u8]) -> u64 {
    let h = Sha256::digest(bytes);
    u64::from_be_bytes(h[..8].try_into().expect("SHA-256 has 32 bytes"))
}

/// The canonical serialisation of `cfg` the digest is taken over.
pub fn canonical_config(cfg: &DaemonConfig) -> Vec<u8> {
    let mut c = cfg.clone();
    c.log.file = Default::default();
    for t in &mut c.log.targets {
        t.file = None;
        t.address = None;
    }
    c.control.socket = Default::default();
    c.metrics.listen = String::new();
    // Plain data (no maps, no floats): serialisation cannot fail.
    serde_json::to_vec(&c).unwrap_or_default()
}

/// The configuration digest: the first 64 bits of SHA-256 of
/// [`canonical_config`].
pub fn config_digest(cfg: &DaemonConfig) -> u64 {
    first_64(&canonical_config(cfg))
}

/// A fresh random run id (never 0: 0 is "written before runs existed").
pub fn random_run_id() -> u64 {
    loop {
        let r = super::super::lifecycle::os_seed();
        if r != 0 {
            return r;
        }
    }
}

/// The run id of a replay with configuration digest `digest`.
pub fn replay_run_id(digest: u64) -> u64 {
    let mut b = b"cgnatd-replay".to_vec();
    b.extend_from_slice(&digest.to_be_bytes());
    first_64(&b).max(1)
}

fn event(kind: EventKind, reason: Reason, time: Instant, aux: u64) -> Event {
    Event {
        seq: 0,
        worker: MANAGEMENT_WORKER,
        time,
        kind,
        subscriber: [0, 0, 0, 0].into(),
        public_addr: [0, 0, 0, 0].into(),
        first_port: 0,
        last_port: 0,
        protocol: ProtocolScope::All,
        reason,
        aux,
    }
}

/// The `daemon-start` event at `time` for configuration digest `digest`.
pub fn start_event(time: Instant, digest: u64) -> Event {
    event(EventKind::DaemonStart, Reason::Start, time, digest)
}

/// The `daemon-stop` event at `time` after `records` records of the run.
pub fn stop_event(time: Instant, records: u64) -> Event {
    event(EventKind::DaemonStop, Reason::Shutdown, time, records)
}

/// A `clock-step` event: the system clock moved by `us` µs, forward (the
/// packet clock was stepped) or backward (it is slewed, never set back).
pub fn clock_step_event(time: Instant, forward: bool, us: u64) -> Event {
    let reason = if forward { Reason::ClockForward } else { Reason::ClockBackward };
    event(EventKind::ClockStep, reason, time, us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_follows_the_configuration_and_the_replay_run_the_digest() {
        let a = DaemonConfig::default();
        let mut b = a.clone();
        b.nat.block_size = 256;
        assert_eq!(config_digest(&a), config_digest(&a.clone()));
        assert_ne!(config_digest(&a), config_digest(&b));
        let mut c = a.clone();
        c.log.file = "/elsewhere/nat.log".into();
        assert_eq!(config_digest(&a), config_digest(&c), "where the log goes is not part of it");
        assert_eq!(replay_run_id(config_digest(&a)), replay_run_id(config_digest(&a)));
        assert_ne!(replay_run_id(1), replay_run_id(2));
        // The digest is SHA-256 of the canonical JSON, independently computed.
        let json = canonical_config(&a);
        assert!(
            json.starts_with(b"{\"nat\":{\"mode\":\"dynamic\""),
            "{}",
            String::from_utf8_lossy(&json[..40])
        );
        let out = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(&json)?;
                c.wait_with_output()
            });
        if let Ok(o) = out {
            let hex = String::from_utf8_lossy(&o.stdout);
            assert_eq!(&hex[..16], format!("{:016x}", config_digest(&a)));
        }
        assert_ne!(random_run_id(), 0);
    }
}
