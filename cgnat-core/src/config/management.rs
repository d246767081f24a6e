//! The `[control]` and `[metrics]` tables of `cgnatd`'s configuration:
//! where the control socket and the Prometheus endpoint listen, and the
//! bounds that keep one slow or hostile client from holding them for the
//! others (issue 9 item 6, `docs/decisions/005-management-servers.md`).
//! Validation errors name the key, the value and what is allowed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The `[control]` table: the control socket of `cgnatctl`
/// (`docs/control-protocol.md`) and the bounds that keep one slow or
/// hostile client from holding the socket for the others (issue 9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Serve the control socket.
    pub enabled: bool,
    /// The Unix socket path (created mode 0600: owner only).
    pub socket: PathBuf,
    /// A second, read-only socket for the NOC (mode 0660, group
    /// `readonly_group`): queries only (`status`, `stats`, `lookup`,
    /// `subscriber`, `subscribers`, `sessions`, `events`); `clear` and
    /// `reload` are refused there. Unset: none.
    pub readonly_socket: Option<PathBuf>,
    /// The group of the read-only socket (a name or a numeric gid); unset:
    /// the daemon's own group. Its directory is made traversable by it.
    pub readonly_group: Option<String>,
    /// Connections served at once (followers included); more are
    /// answered `unavailable` and closed.
    pub max_connections: u32,
    /// Longest request line in bytes; a longer one is answered
    /// `bad-request` and the connection closed, having buffered at most
    /// this much of it.
    pub max_request_bytes: u32,
    /// Seconds a connection may take to complete its next request line
    /// (from connecting or from its previous answer) before it is closed.
    pub idle_timeout_secs: u32,
    /// Seconds an answer, or a batch of `events --follow` records, may wait
    /// for the client to read it before the connection is dropped.
    pub write_timeout_secs: u32,
    /// Records an `events --follow` client may lag behind the log before
    /// it is disconnected (each follower preallocates this many records).
    pub follow_queue: u32,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            enabled: true,
            socket: PathBuf::from(crate::control::DEFAULT_SOCKET),
            readonly_socket: None,
            readonly_group: None,
            max_connections: 64,
            max_request_bytes: crate::control::MAX_REQUEST_LINE as u32,
            idle_timeout_secs: 60,
            write_timeout_secs: 5,
            follow_queue: 65536,
        }
    }
}

/// Checks that `value` of `key` lies in `lo..=hi`, naming `unit`.
fn in_range(key: &str, value: u32, lo: u32, hi: u32, unit: &str) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::new(key, value, format!("between {lo} and {hi} {unit}")))
    }
}

impl ControlConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && self.socket.as_os_str().is_empty() {
            return Err(ConfigError::new("control.socket", "\"\"", "a path for the control socket"));
        }
        if let Some(r) = &self.readonly_socket {
            if r.as_os_str().is_empty() || *r == self.socket {
                return Err(ConfigError::new(
                    "control.readonly_socket",
                    r.display(),
                    "a path other than control.socket (or no key: no read-only socket)",
                ));
            }
        }
        if let Some(g) = &self.readonly_group {
            if g.is_empty() || g.contains(['/', ':', ' ']) {
                return Err(ConfigError::new(
                    "control.readonly_group",
                    format!("{g:?}"),
                    "a group name or numeric gid",
                ));
            }
        }
        in_range("control.max_connections", self.max_connections, 1, 4096, "connections")?;
        in_range("control.max_request_bytes", self.max_request_bytes, 1024, 1 << 20, "bytes")?;
        in_range("control.idle_timeout_secs", self.idle_timeout_secs, 1, 86400, "seconds")?;
        in_range("control.write_timeout_secs", self.write_timeout_secs, 1, 600, "seconds")?;
        in_range("control.follow_queue", self.follow_queue, 1024, 1 << 20, "records")
    }
}

/// The `[metrics]` table: Prometheus text exposition over HTTP, and the
/// bounds that keep slow or idle clients from stopping scrapes (issue 9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve metrics.
    pub enabled: bool,
    /// Listen address `IP:PORT` (GET /metrics).
    pub listen: String,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: u32,
    /// Seconds a client may take to send its request headers (from
    /// connecting) before it is disconnected (slowloris).
    pub header_timeout_secs: u32,
    /// Seconds one connection may last in all, headers and reading the
    /// answer included.
    pub connection_timeout_secs: u32,
    /// Export one series per public address (`cgnat_pool_address_blocks`):
    /// as many series as pool addresses (4096 for a /20), so off by default.
    pub per_address: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: "127.0.0.1:9469".into(),
            max_connections: 64,
            header_timeout_secs: 5,
            connection_timeout_secs: 30,
            per_address: false,
        }
    }
}

impl MetricsConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new(
                "metrics.listen",
                format!("{:?}", self.listen),
                "IP:PORT to listen on, e.g. \"127.0.0.1:9469\"",
            ));
        }
        in_range("metrics.max_connections", self.max_connections, 1, 4096, "connections")?;
        in_range("metrics.header_timeout_secs", self.header_timeout_secs, 1, 300, "seconds")?;
        in_range("metrics.connection_timeout_secs", self.connection_timeout_secs, 1, 3600, "seconds")?;
        if self.connection_timeout_secs < self.header_timeout_secs {
            return Err(ConfigError::new(
                "metrics.connection_timeout_secs",
                self.connection_timeout_secs,
                format!(
                    "at least metrics.header_timeout_secs ({}): the headers are part of the connection",
                    self.header_timeout_secs
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::file::{parse, ConfigSource, EMBEDDED_LAB_CONFIG};

    fn load(vars: &[(&str, &str)]) -> Result<crate::config::file::DaemonConfig, String> {
        let env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(EMBEDDED_LAB_CONFIG, ConfigSource::Embedded, Some(env)).map_err(|e| e.to_string())
    }

    /// Issue 9 item 7: every management-plane limit has a sane default.
    #[test]
    fn management_limits_have_defaults() {
        let c = load(&[]).unwrap();
        assert_eq!(
            (
                c.control.max_connections,
                c.control.max_request_bytes,
                c.control.idle_timeout_secs,
                c.control.write_timeout_secs,
                c.control.follow_queue
            ),
            (64, 65536, 60, 5, 65536)
        );
        assert_eq!(
            (
                c.metrics.max_connections,
                c.metrics.header_timeout_secs,
                c.metrics.connection_timeout_secs
            ),
            (64, 5, 30)
        );
        let c = load(&[
            ("CGNAT_CONTROL__IDLE_TIMEOUT_SECS", "2"),
            ("CGNAT_METRICS__HEADER_TIMEOUT_SECS", "1"),
        ])
        .unwrap();
        assert_eq!((c.control.idle_timeout_secs, c.metrics.header_timeout_secs), (2, 1));
    }

    /// Issue 9 item 7: out-of-range limits are refused naming key, value
    /// and what is allowed.
    #[test]
    fn management_limits_are_validated() {
        for (var, value, needle) in [
            (
                "CGNAT_CONTROL__MAX_CONNECTIONS",
                "0",
                "control.max_connections = 0: between 1 and 4096 connections",
            ),
            (
                "CGNAT_CONTROL__MAX_REQUEST_BYTES",
                "100",
                "control.max_request_bytes = 100: between 1024 and 1048576 bytes",
            ),
            (
                "CGNAT_CONTROL__IDLE_TIMEOUT_SECS",
                "0",
                "control.idle_timeout_secs = 0: between 1 and 86400 seconds",
            ),
            (
                "CGNAT_CONTROL__WRITE_TIMEOUT_SECS",
                "601",
                "control.write_timeout_secs = 601: between 1 and 600 seconds",
            ),
            (
                "CGNAT_CONTROL__FOLLOW_QUEUE",
                "10",
                "control.follow_queue = 10: between 1024 and 1048576 records",
            ),
            (
                "CGNAT_METRICS__MAX_CONNECTIONS",
                "5000",
                "metrics.max_connections = 5000: between 1 and 4096",
            ),
            (
                "CGNAT_METRICS__HEADER_TIMEOUT_SECS",
                "0",
                "metrics.header_timeout_secs = 0: between 1 and 300 seconds",
            ),
            (
                "CGNAT_METRICS__CONNECTION_TIMEOUT_SECS",
                "3",
                "metrics.connection_timeout_secs = 3: at least metrics.header_timeout_secs (5)",
            ),
        ] {
            let e = load(&[(var, value)]).unwrap_err();
            assert!(e.contains(needle), "{var}={value}: {e}");
        }
    }
}
