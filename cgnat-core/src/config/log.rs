//! The `[log]` (with `[[log.targets]]` and `[log.clock]`) table of
//! `cgnatd`'s configuration: NAT log targets and their formats
//! (`docs/nat-log-format.md`: text, JSON lines, RFC 5424 syslog over a file,
//! UDP or TCP with RFC 6587 framing, IPFIX per RFC 7011 / RFC 8158), flush
//! and fsync policy, the packet clock's discipline.
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

/// The `[log.clock]` table: how the packet clock follows the system's
/// realtime clock (and so NTP); see `docs/nat-log-format.md` "Clock".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockConfig {
    /// Milliseconds between two re-anchorings of the TSC to the system clock.
    pub interval_ms: u32,
    /// Largest rate at which a small offset is slewed, parts per million.
    pub slew_ppm: u32,
    /// An offset beyond this many milliseconds is a step of the system
    /// clock: recorded as a `clock-step` record (forward: the packet clock
    /// steps; backward: it is slewed, never set back).
    pub step_threshold_ms: u32,
    /// How much slower the packet clock runs while it absorbs a backward
    /// step, parts per million (100000: a 1 s step takes 10 s).
    pub backward_slew_ppm: u32,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            interval_ms: 1000,
            slew_ppm: 500,
            step_threshold_ms: 10,
            backward_slew_ppm: 100_000,
        }
    }
}

impl ClockConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=60_000).contains(&self.interval_ms) {
            return Err(ConfigError::new(
                "log.clock.interval_ms",
                self.interval_ms,
                "between 10 and 60000 milliseconds",
            ));
        }
        if !(1..=100_000).contains(&self.slew_ppm) {
            return Err(ConfigError::new(
                "log.clock.slew_ppm",
                self.slew_ppm,
                "between 1 and 100000 parts per million (500 is NTP's limit)",
            ));
        }
        if !(1..=3_600_000).contains(&self.step_threshold_ms) {
            return Err(ConfigError::new(
                "log.clock.step_threshold_ms",
                self.step_threshold_ms,
                "between 1 and 3600000 milliseconds",
            ));
        }
        if !(self.slew_ppm..=500_000).contains(&self.backward_slew_ppm) {
            return Err(ConfigError::new(
                "log.clock.backward_slew_ppm",
                self.backward_slew_ppm,
                format!("between log.clock.slew_ppm ({}) and 500000 parts per million", self.slew_ppm),
            ));
        }
        Ok(())
    }
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
    /// The packet clock's discipline.
    pub clock: ClockConfig,
    /// Permissions of the log files cgnatd creates (octal, as for chmod):
    /// the subscribers' identities are personal data, so no bits for
    /// others.
    pub file_mode: String,
    /// Owner of the log files (a user name or numeric uid); unset: the
    /// daemon's user.
    pub owner: Option<String>,
    /// Group of the log files (a group name or numeric gid), e.g. the
    /// group of the abuse desk; unset: the daemon's group.
    pub group: Option<String>,
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
            clock: ClockConfig::default(),
            file_mode: "0640".into(),
            owner: None,
            group: None,
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

    /// [`LogConfig::file_mode`] as a number (validated: 0o640 if bad).
    pub fn mode(&self) -> u32 {
        u32::from_str_radix(self.file_mode.trim_start_matches("0o"), 8).unwrap_or(0o640)
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match u32::from_str_radix(self.file_mode.trim_start_matches("0o"), 8) {
            Ok(m) if m & 0o7007 == 0 && m & 0o600 == 0o600 => {}
            _ => {
                return Err(ConfigError::new(
                    "log.file_mode",
                    format!("{:?}", self.file_mode),
                    "octal permissions with read and write for the owner and nothing for others, e.g. \"0640\" or \"0600\" (the NAT log names subscribers)",
                ))
            }
        }
        for (key, v) in [("log.owner", &self.owner), ("log.group", &self.group)] {
            if v.as_ref().is_some_and(|v| v.is_empty() || v.contains(['/', ':', ' '])) {
                return Err(ConfigError::new(
                    key,
                    format!("{:?}", v.as_deref().unwrap_or("")),
                    "a name or a numeric id",
                ));
            }
        }
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
        self.clock.validate()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_settings_are_validated_with_key_value_and_what_is_allowed() {
        assert!(ClockConfig::default().validate().is_ok());
        let bad = |c: ClockConfig| {
            LogConfig {
                clock: c,
                ..LogConfig::default()
            }
            .validate()
            .unwrap_err()
            .to_string()
        };
        let e = bad(ClockConfig {
            interval_ms: 5,
            ..ClockConfig::default()
        });
        assert!(
            e.contains("log.clock.interval_ms") && e.contains('5') && e.contains("between 10 and 60000"),
            "{e}"
        );
        let e = bad(ClockConfig {
            slew_ppm: 0,
            ..ClockConfig::default()
        });
        assert!(e.contains("log.clock.slew_ppm") && e.contains("between 1 and 100000"), "{e}");
        let e = bad(ClockConfig {
            step_threshold_ms: 0,
            ..ClockConfig::default()
        });
        assert!(e.contains("log.clock.step_threshold_ms"), "{e}");
        let e = bad(ClockConfig {
            backward_slew_ppm: 100,
            ..ClockConfig::default()
        });
        assert!(
            e.contains("log.clock.backward_slew_ppm") && e.contains("100") && e.contains("500000"),
            "{e}"
        );
        let t: LogConfig = toml::from_str("[clock]\nslew_ppm = 200\n").unwrap();
        assert_eq!(t.clock.slew_ppm, 200);
        assert_eq!(t.clock.interval_ms, 1000);
        assert!(
            toml::from_str::<LogConfig>("[clock]\nslew = 200\n").is_err(),
            "unknown keys are refused"
        );
    }
}
