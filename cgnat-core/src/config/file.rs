//! The whole configuration file of `cgnatd` (and of `cgnatctl config
//! check`): `[nat]`, `[dataplane]`, `[log]` (with `[[log.targets]]`),
//! `[control]`, `[metrics]`, read with the `config` crate
//! from one TOML file (or the embedded lab default) with `CGNAT_*`
//! environment overrides.
//!
//! Environment variables name a key with `__` between its parts:
//! `CGNAT_NAT__BLOCK_SIZE=256` sets `nat.block_size`,
//! `CGNAT_DATAPLANE__INSIDE__DEVICE=net_tap0,iface=x` sets
//! `dataplane.inside.device`. List keys (`nat.pool`, `nat.inside_prefixes`,
//! `nat.bypass`, `dataplane.eal_args`) take comma-separated values. Other
//! `CGNAT_*` variables (not `CGNAT_NAT__`, `CGNAT_DATAPLANE__`,
//! `CGNAT_LOG__`, `CGNAT_CONTROL__`, `CGNAT_METRICS__`) are ignored.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use super::log::{Fsync, LogConfig, LogTarget, OnStall, TargetFormat, Transport};
pub use super::management::{ControlConfig, MetricsConfig};
use super::{ConfigError, DataplaneConfig, NatConfig};

/// The lab configuration (`configs/lab.toml`), compiled in: what `cgnatd`
/// runs when no `--config` is given.
pub const EMBEDDED_LAB_CONFIG: &str = include_str!("../../../configs/lab.toml");

/// The environment variable prefix of overrides.
pub const ENV_PREFIX: &str = "CGNAT";

/// The tables an environment override can name (upper case).
const TABLES: &[&str] = &["NAT", "DATAPLANE", "LOG", "CONTROL", "METRICS"];

/// Keys whose environment override is a comma-separated list.
const LIST_KEYS: &[&str] = &["nat.inside_prefixes", "nat.pool", "nat.bypass", "dataplane.eal_args"];

/// Everything in `cgnatd`'s configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// The NAT.
    pub nat: NatConfig,
    /// Ports, workers, neighbour resolution.
    pub dataplane: DataplaneConfig,
    /// The NAT log.
    pub log: LogConfig,
    /// The control socket.
    pub control: ControlConfig,
    /// The metrics endpoint.
    pub metrics: MetricsConfig,
}

impl DaemonConfig {
    /// Checks every value; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.nat.validate()?;
        self.dataplane.validate(&self.nat)?;
        self.log.validate()?;
        self.control.validate()?;
        self.metrics.validate()?;
        Ok(())
    }
}

/// Where the configuration was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file.
    File(PathBuf),
    /// [`EMBEDDED_LAB_CONFIG`].
    Embedded,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Embedded => f.write_str("the embedded lab configuration"),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    Parse {
        /// Where the text came from.
        source: ConfigSource,
        /// The parser's message (it names the key).
        message: String,
    },
    /// A value that is not allowed.
    Invalid {
        /// Where the text came from.
        source: ConfigSource,
        /// Key, value and what is allowed.
        error: ConfigError,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            LoadError::Parse { source, message } => write!(f, "{source}: {message}"),
            LoadError::Invalid { source, error } => write!(f, "{source}: {error}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads the configuration: `file` (or [`EMBEDDED_LAB_CONFIG`] if `None`),
/// then `CGNAT_*` overrides from the process environment, then validates.
pub fn load(file: Option<&Path>) -> Result<DaemonConfig, LoadError> {
    load_with_env(file, None)
}

/// Like [`load`], with the environment given explicitly (`None`: the
/// process environment). Keys of `env` are full variable names
/// (`CGNAT_NAT__BLOCK_SIZE`).
pub fn load_with_env(file: Option<&Path>, env: Option<HashMap<String, String>>) -> Result<DaemonConfig, LoadError> {
    let (text, source) = match file {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|error| LoadError::Io {
                path: p.to_path_buf(),
                error,
            })?,
            ConfigSource::File(p.to_path_buf()),
        ),
        None => (EMBEDDED_LAB_CONFIG.to_string(), ConfigSource::Embedded),
    };
    parse(&text, source, env)
}

/// Parses TOML `text` (from `source`) with environment overrides and validates it.
pub fn parse(text: &str, source: ConfigSource, env: Option<HashMap<String, String>>) -> Result<DaemonConfig, LoadError> {
    let mut environment = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .ignore_empty(true);
    for k in LIST_KEYS {
        environment = environment.with_list_parse_key(k);
    }
    // Only variables naming a key of one of the tables: other CGNAT_*
    // variables (CGNAT_DPDK_REQUIRE of the tests, ...) are not configuration.
    let env = env.unwrap_or_else(|| std::env::vars().collect());
    let env = env
        .into_iter()
        .filter(|(k, _)| {
            TABLES
                .iter()
                .any(|t| k.to_ascii_uppercase().starts_with(&format!("{ENV_PREFIX}_{t}__")))
        })
        .collect();
    let environment = environment.source(Some(env));
    let parse_err = |e: config::ConfigError| LoadError::Parse {
        source: source.clone(),
        message: describe(e),
    };
    let c = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(environment)
        .build()
        .map_err(parse_err)?;
    let cfg: DaemonConfig = c.try_deserialize().map_err(parse_err)?;
    cfg.validate().map_err(|error| LoadError::Invalid { source, error })?;
    Ok(cfg)
}

/// The `config` crate's message, with the key first when it names one.
fn describe(e: config::ConfigError) -> String {
    match e {
        config::ConfigError::Type {
            origin,
            unexpected,
            expected,
            key: Some(key),
        } => {
            let from = origin.map(|o| format!(" (from {o})")).unwrap_or_default();
            format!("{key} = {unexpected}: expected {expected}{from}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn embedded_lab_config_is_valid() {
        let c = parse(EMBEDDED_LAB_CONFIG, ConfigSource::Embedded, env(&[])).unwrap();
        assert!(c.dataplane.workers >= 2);
    }

    #[test]
    fn env_overrides_use_double_underscore() {
        let c = parse(
            EMBEDDED_LAB_CONFIG,
            ConfigSource::Embedded,
            env(&[
                ("CGNAT_NAT__BLOCK_SIZE", "256"),
                ("CGNAT_DATAPLANE__WORKERS", "3"),
                ("CGNAT_DATAPLANE__INSIDE__DEVICE", "net_tap7,iface=x"),
                ("CGNAT_NAT__POOL", "203.0.113.0/28,192.0.2.64/28"),
                ("OTHER_NAT__BLOCK_SIZE", "17"),
                ("CGNAT_DPDK_REQUIRE", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.nat.block_size, 256);
        assert_eq!(c.dataplane.workers, 3);
        assert_eq!(c.dataplane.inside.port_name(), "net_tap7");
        assert_eq!(c.nat.pool.len(), 2);
    }

    #[test]
    fn errors_name_key_value_allowed() {
        let e = parse(EMBEDDED_LAB_CONFIG, ConfigSource::Embedded, env(&[("CGNAT_NAT__BLOCK_SIZE", "8")])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("nat.block_size = 8: must be between 16"), "{msg}");
        let e = parse("[nat]\nblock_sise = 3\n", ConfigSource::Embedded, env(&[])).unwrap_err();
        assert!(e.to_string().contains("block_sise"), "{e}");
        let e = parse("[dataplane]\nworkers = \"many\"\n", ConfigSource::Embedded, env(&[])).unwrap_err();
        assert!(e.to_string().contains("dataplane.workers"), "{e}");
        let e = load_with_env(Some(Path::new("/nonexistent/cgnat.toml")), env(&[])).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cgnat.toml"), "{e}");
    }

    #[test]
    fn log_targets_parse_and_validate() {
        let base = "[log]\nfile = \"/tmp/x.log\"\n";
        let ok = format!(
            "{base}[[log.targets]]\nformat = \"text\"\nfile = \"/tmp/a.log\"\nrotate_bytes = 1048576\nkeep_files = 3\n\
             [[log.targets]]\nformat = \"syslog\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:6514\"\n\
             [[log.targets]]\nformat = \"ipfix\"\ntransport = \"udp\"\naddress = \"127.0.0.1:4739\"\n"
        );
        let lab = EMBEDDED_LAB_CONFIG.split("\n[log]").next().unwrap();
        let c = parse(&format!("{lab}\n{ok}"), ConfigSource::Embedded, env(&[])).unwrap();
        assert_eq!(c.log.effective_targets().len(), 3);
        assert_eq!(c.log.targets[1].name(), "syslog-tcp:127.0.0.1:6514");
        // The lab's targets derive their files from log.file.
        let c = parse(
            EMBEDDED_LAB_CONFIG,
            ConfigSource::Embedded,
            env(&[("CGNAT_LOG__FILE", "/srv/x/nat.log")]),
        )
        .unwrap();
        let names: Vec<String> = c.log.effective_targets().iter().map(|t| t.name()).collect();
        assert_eq!(names, ["text:/srv/x/nat.log", "json:/srv/x/nat.jsonl"]);
        for (bad, needle) in [
            (
                "format = \"ipfix\"\ntransport = \"tcp\"\naddress = \"h:1\"",
                "log.targets[0].transport = tcp: \"udp\"",
            ),
            (
                "format = \"json\"\ntransport = \"udp\"\naddress = \"h:1\"",
                "log.targets[0].transport = udp",
            ),
            (
                "format = \"syslog\"\ntransport = \"udp\"\naddress = \"nohost\"",
                "log.targets[0].address = \"nohost\": HOST:PORT",
            ),
            ("format = \"json\"\nfile = \"\"", "log.targets[0].file = \"\""),
            (
                "format = \"text\"\n[[log.targets]]\nformat = \"text\"\nfile = \"/tmp/x\"",
                "log.targets[1].file = /tmp/x: a file no other",
            ),
            (
                "format = \"syslog\"\nfile = \"/tmp/s\"\nfacility = 30",
                "log.targets[0].facility = 30",
            ),
            (
                "format = \"text\"\nfile = \"/tmp/s\"\nrotate_secs = 5",
                "log.targets[0].rotate_secs = 5",
            ),
        ] {
            let text = format!("{lab}\n[log]\nfile = \"/tmp/x\"\n[[log.targets]]\n{bad}\n");
            let e = parse(&text, ConfigSource::Embedded, env(&[])).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        let e = parse(
            EMBEDDED_LAB_CONFIG,
            ConfigSource::Embedded,
            env(&[("CGNAT_METRICS__LISTEN", "nowhere")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("metrics.listen = \"nowhere\""), "{e}");
    }
}
