//! The `[log]` (with `[[log.targets]]`), `[control]` and `[metrics]`
//! tables of `cgnatd`'s configuration: NAT log targets and their formats
//! (`docs/nat-log-format.md`: text, JSON lines, RFC 5424 syslog over a file,
//! UDP or TCP with RFC 6587 framing, IPFIX per RFC 7011 / RFC 8158), flush
//! and fsync policy, the control socket and the Prometheus endpoint.
//! Validation errors name the key, the value and what is allowed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The format of one log target (`docs/nat-log-format.md`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TargetFormat {
    /// The one-line text format (default).
    #[default]
    Text,
    /// JSON lines.
    Json,
    /// RFC 5424 syslog.
    Syslog,
    /// IPFIX (RFC 7011) with RFC 8158 NAT events, to a UDP collector.
    Ipfix,
}

/// How a target's records leave the daemon.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A rolling local file (`file`).
    #[default]
    File,
    /// UDP datagrams to `address` (syslog RFC 5426, IPFIX RFC 7011 section 10.3).
    Udp,
    /// A TCP stream to `address` (syslog with RFC 6587 octet counting).
    Tcp,
}

/// What happens when a target cannot keep up.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnStall {
    /// Stop the whole log (rings fill, new blocks are refused): every
    /// record reaches this target (the legal record).
    #[default]
    Block,
    /// Drop records for this target only (counted); for best-effort copies.
    Drop,
}

/// One `[[log.targets]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogTarget {
    /// Record format.
    pub format: TargetFormat,
    /// Where to: `file` (text, json, syslog), `udp` (syslog, ipfix), `tcp` (syslog).
    pub transport: Transport,
    /// The file (transport `file`); without it, `log.file` (text), or
    /// `log.file` with extension `jsonl` (json) or `syslog` (syslog).
    pub file: Option<PathBuf>,
    /// `host:port` of the collector (transports `udp`, `tcp`).
    pub address: Option<String>,
    /// Rotate when the file reaches this many bytes (0: never).
    pub rotate_bytes: u64,
    /// Rotate when a record's time enters a new period of this many seconds
    /// (packet clock, aligned to the Unix epoch; 86400 = daily at 00:00 UTC; 0: never).
    pub rotate_secs: u64,
    /// Rotated files kept (0: keep all).
    pub keep_files: u32,
    /// Rotated files older than this many seconds are removed (0: no limit).
    pub max_age_secs: u64,
    /// Gzip rotated files.
    pub compress: bool,
    /// Syslog facility 0..=23 (16 = local0).
    pub facility: u8,
    /// Syslog HOSTNAME (`-`: none).
    pub hostname: String,
    /// Syslog APP-NAME.
    pub app_name: String,
    /// IPFIX observation domain id.
    pub observation_domain: u32,
    /// IPFIX template retransmission interval, seconds (RFC 7011 section 8.4).
    pub template_refresh_secs: u32,
    /// Largest datagram (IPFIX message) in bytes.
    pub max_message: u32,
    /// Block the log or drop this target's records when it stalls.
    pub on_stall: OnStall,
}

impl Default for LogTarget {
    fn default() -> Self {
        LogTarget {
            format: TargetFormat::Text,
            transport: Transport::File,
            file: None,
            address: None,
            rotate_bytes: 0,
            rotate_secs: 0,
            keep_files: 0,
            max_age_secs: 0,
            compress: true,
            facility: 16,
            hostname: "-".into(),
            app_name: "cgnatd".into(),
            observation_domain: 1,
            template_refresh_secs: 60,
            max_message: 1400,
            on_stall: OnStall::Block,
        }
    }
}

impl LogTarget {
    /// A text target writing `file`.
    pub fn text_file(file: PathBuf) -> Self {
        LogTarget {
            file: Some(file),
            ..LogTarget::default()
        }
    }

    /// A short name: `text:/var/log/cgnat/nat.log`, `syslog-tcp:host:514`, ...
    pub fn name(&self) -> String {
        let f = match self.format {
            TargetFormat::Text => "text",
            TargetFormat::Json => "json",
            TargetFormat::Syslog => "syslog",
            TargetFormat::Ipfix => "ipfix",
        };
        match self.transport {
            Transport::File => format!("{f}:{}", self.file.as_deref().unwrap_or(Path::new("")).display()),
            Transport::Udp => format!("{f}-udp:{}", self.address.as_deref().unwrap_or("")),
            Transport::Tcp => format!("{f}-tcp:{}", self.address.as_deref().unwrap_or("")),
        }
    }

    fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let key = |k: &str| format!("log.targets[{i}].{k}");
        let fmt = |f: TargetFormat| format!("{f:?}").to_lowercase();
        match (self.format, self.transport) {
            (TargetFormat::Ipfix, Transport::Udp) | (TargetFormat::Syslog, _) => {}
            (TargetFormat::Text | TargetFormat::Json, Transport::File) => {}
            (TargetFormat::Ipfix, t) => {
                return Err(ConfigError::new(
                    key("transport"),
                    format!("{t:?}").to_lowercase(),
                    "\"udp\" for format \"ipfix\"",
                ))
            }
            (f, t) => {
                return Err(ConfigError::new(
                    key("transport"),
                    format!("{t:?}").to_lowercase(),
                    format!("\"file\" for format \"{}\" (syslog can go to udp or tcp)", fmt(f)),
                ))
            }
        }
        match self.transport {
            Transport::File => {
                if self.file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
                    return Err(ConfigError::new(
                        key("file"),
                        "\"\"",
                        "a file path, or no `file` to derive it from log.file",
                    ));
                }
            }
            Transport::Udp | Transport::Tcp => {
                let a = self.address.as_deref().unwrap_or("");
                let ok = a
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0));
                if !ok {
                    return Err(ConfigError::new(
                        key("address"),
                        format!("{a:?}"),
                        "HOST:PORT of the collector, e.g. \"192.0.2.10:514\"",
                    ));
                }
            }
        }
        if self.facility > 23 {
            return Err(ConfigError::new(
                key("facility"),
                self.facility,
                "a syslog facility 0..=23 (RFC 5424; 16 = local0)",
            ));
        }
        if !crate::natlog::syslog::valid_header_field(&self.hostname, 255) {
            return Err(ConfigError::new(
                key("hostname"),
                format!("{:?}", self.hostname),
                "1..=255 printable ASCII characters without spaces (RFC 5424 HOSTNAME), or \"-\"",
            ));
        }
        if !crate::natlog::syslog::valid_header_field(&self.app_name, 48) {
            return Err(ConfigError::new(
                key("app_name"),
                format!("{:?}", self.app_name),
                "1..=48 printable ASCII characters without spaces (RFC 5424 APP-NAME)",
            ));
        }
        if !(512..=65000).contains(&self.max_message) {
            return Err(ConfigError::new(
                key("max_message"),
                self.max_message,
                "between 512 and 65000 bytes",
            ));
        }
        if self.format == TargetFormat::Ipfix && !(1..=86400).contains(&self.template_refresh_secs) {
            return Err(ConfigError::new(
                key("template_refresh_secs"),
                self.template_refresh_secs,
                "between 1 and 86400 seconds",
            ));
        }
        if self.rotate_secs != 0 && self.rotate_secs < 60 {
            return Err(ConfigError::new(
                key("rotate_secs"),
                self.rotate_secs,
                "0 (never) or at least 60 seconds",
            ));
        }
        if self.rotate_bytes != 0 && self.rotate_bytes < 4096 {
            return Err(ConfigError::new(
                key("rotate_bytes"),
                self.rotate_bytes,
                "0 (never) or at least 4096 bytes",
            ));
        }
        Ok(())
    }
}

/// When log data is forced to stable storage.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// Never call fsync (the kernel writes back; a host crash may lose
    /// what it had not written, a daemon crash loses nothing flushed).
    Never,
    /// fsync at every flush (see `flush_records`, `flush_interval_ms`).
    #[default]
    Flush,
    /// fsync after every batch of records written.
    Always,
}

/// The `[log]` table: where the NAT log goes and how it is flushed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// The text NAT log file used when `targets` is empty (and the file
    /// `cgnatd --log FILE` overrides).
    pub file: PathBuf,
    /// Capacity of each worker's event ring (events).
    pub ring_capacity: u32,
    /// Records a target may have buffered (not yet written) before it
    /// counts as stalled.
    pub sink_buffer: u32,
    /// Flush the targets after this many records.
    pub flush_records: u32,
    /// ... or after this many milliseconds with unflushed records.
    pub flush_interval_ms: u32,
    /// fsync policy of file targets.
    pub fsync: Fsync,
    /// Recent records kept in memory for `cgnatctl events`.
    pub history: u32,
    /// The targets; empty means one text target writing `file`.
    pub targets: Vec<LogTarget>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            file: PathBuf::from("/var/log/cgnat/nat.log"),
            ring_capacity: 16384,
            sink_buffer: 65536,
            flush_records: 256,
            flush_interval_ms: 200,
            fsync: Fsync::Flush,
            history: 10000,
            targets: Vec::new(),
        }
    }
}

impl LogConfig {
    /// The targets in force: `targets`, or one text target at `file`;
    /// file targets without `file` get one derived from `log.file`.
    pub fn effective_targets(&self) -> Vec<LogTarget> {
        if self.targets.is_empty() {
            return vec![LogTarget::text_file(self.file.clone())];
        }
        let mut v = self.targets.clone();
        for t in v.iter_mut().filter(|t| t.transport == Transport::File && t.file.is_none()) {
            t.file = Some(match t.format {
                TargetFormat::Json => self.file.with_extension("jsonl"),
                TargetFormat::Syslog => self.file.with_extension("syslog"),
                _ => self.file.clone(),
            });
        }
        v
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.file.as_os_str().is_empty() {
            return Err(ConfigError::new("log.file", "\"\"", "a file path for the NAT log"));
        }
        if !(64..=1 << 24).contains(&self.ring_capacity) {
            return Err(ConfigError::new(
                "log.ring_capacity",
                self.ring_capacity,
                "must be between 64 and 16777216 events",
            ));
        }
        if !(16..=1 << 24).contains(&self.sink_buffer) {
            return Err(ConfigError::new(
                "log.sink_buffer",
                self.sink_buffer,
                "must be between 16 and 16777216 records",
            ));
        }
        if self.flush_records == 0 {
            return Err(ConfigError::new("log.flush_records", 0, "at least 1 record"));
        }
        if !(1..=60_000).contains(&self.flush_interval_ms) {
            return Err(ConfigError::new(
                "log.flush_interval_ms",
                self.flush_interval_ms,
                "between 1 and 60000 milliseconds",
            ));
        }
        if self.history > 1_000_000 {
            return Err(ConfigError::new("log.history", self.history, "at most 1000000 records"));
        }
        for (i, t) in self.targets.iter().enumerate() {
            t.validate(i)?;
        }
        let mut files = Vec::new();
        for (i, t) in self.effective_targets().iter().enumerate() {
            if let Some(f) = t.file.as_ref().filter(|_| t.transport == Transport::File) {
                if files.contains(f) {
                    return Err(ConfigError::new(
                        format!("log.targets[{i}].file"),
                        f.display(),
                        "a file no other target writes",
                    ));
                }
                files.push(f.clone());
            }
        }
        Ok(())
    }
}

/// The `[control]` table: the control socket of `cgnatctl`
/// (`docs/control-protocol.md`) and the bounds that keep one slow or
/// hostile client from holding the socket for the others (issue 9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Serve the control socket.
    pub enabled: bool,
    /// The Unix socket path (created mode 0600).
    pub socket: PathBuf,
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
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: "127.0.0.1:9469".into(),
            max_connections: 64,
            header_timeout_secs: 5,
            connection_timeout_secs: 30,
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
