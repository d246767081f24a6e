//! The `[daemon_log]` table of `cgnatd`'s configuration: the daemon's own
//! operational messages (start, stop, errors of log targets, sockets,
//! clock steps) — not the NAT log, which is the legal record and has its
//! own `[log]` table (issue 14 item 2). Validation errors name the key,
//! the value and what is allowed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The least severe messages written.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum DaemonLogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// And start, stop and state changes (the default).
    #[default]
    Info,
    /// And details for troubleshooting.
    Debug,
    /// Everything.
    Trace,
}

impl TryFrom<String> for DaemonLogLevel {
    type Error = String;

    fn try_from(v: String) -> Result<Self, String> {
        Ok(match v.as_str() {
            "error" => DaemonLogLevel::Error,
            "warn" => DaemonLogLevel::Warn,
            "info" => DaemonLogLevel::Info,
            "debug" => DaemonLogLevel::Debug,
            "trace" => DaemonLogLevel::Trace,
            _ => return Err(format!("daemon_log.level = {v:?}: one of error, warn, info, debug, trace")),
        })
    }
}

/// The `[daemon_log]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonLogConfig {
    /// The least severe messages written.
    pub level: DaemonLogLevel,
    /// Write to standard error (systemd's journal under the unit).
    pub stderr: bool,
    /// Also write to this file, rolled by size. Unset: no file.
    pub file: Option<PathBuf>,
    /// Roll the file when it reaches this many bytes.
    pub file_max_bytes: u64,
    /// Rolled files kept (`FILE.1` newest ... `FILE.N`).
    pub file_keep: u32,
}

impl Default for DaemonLogConfig {
    fn default() -> Self {
        DaemonLogConfig {
            level: DaemonLogLevel::Info,
            stderr: true,
            file: None,
            file_max_bytes: 10 << 20,
            file_keep: 5,
        }
    }
}

impl DaemonLogConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.stderr && self.file.is_none() {
            return Err(ConfigError::new(
                "daemon_log.stderr",
                false,
                "true, or a daemon_log.file: the daemon's messages must go somewhere",
            ));
        }
        if let Some(f) = &self.file {
            if f.as_os_str().is_empty() || f.file_name().is_none() {
                return Err(ConfigError::new("daemon_log.file", f.display(), "a file path"));
            }
        }
        if !(64 << 10..=1 << 30).contains(&self.file_max_bytes) {
            return Err(ConfigError::new(
                "daemon_log.file_max_bytes",
                self.file_max_bytes,
                "between 65536 and 1073741824 bytes",
            ));
        }
        if !(1..=100).contains(&self.file_keep) {
            return Err(ConfigError::new("daemon_log.file_keep", self.file_keep, "between 1 and 100 files"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_key() {
        assert!(DaemonLogConfig::default().validate().is_ok());
        let e = DaemonLogConfig {
            stderr: false,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("daemon_log.stderr"), "{e}");
        let e = DaemonLogConfig {
            file_keep: 0,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("daemon_log.file_keep"), "{e}");
        let level: DaemonLogConfig = toml::from_str("level = \"debug\"").unwrap();
        assert_eq!(level.level, DaemonLogLevel::Debug);
        assert!(toml::from_str::<DaemonLogConfig>("level = \"loud\"").is_err());
    }
}
