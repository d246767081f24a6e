//! The whole configuration file of `cgnatd` (and of `cgnatctl config
//! check`): `[nat]`, `[dataplane]`, `[log]`, read with the `config` crate
//! from one TOML file (or the embedded lab default) with `CGNAT_*`
//! environment overrides.
//!
//! Environment variables name a key with `__` between its parts:
//! `CGNAT_NAT__BLOCK_SIZE=256` sets `nat.block_size`,
//! `CGNAT_DATAPLANE__INSIDE__DEVICE=net_tap0,iface=x` sets
//! `dataplane.inside.device`. List keys (`nat.pool`, `nat.inside_prefixes`,
//! `nat.bypass`, `dataplane.eal_args`) take comma-separated values. Other
//! `CGNAT_*` variables (not `CGNAT_NAT__`, `CGNAT_DATAPLANE__`,
//! `CGNAT_LOG__`) are ignored.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ConfigError, DataplaneConfig, NatConfig};

/// The lab configuration (`configs/lab.toml`), compiled in: what `cgnatd`
/// runs when no `--config` is given.
pub const EMBEDDED_LAB_CONFIG: &str = include_str!("../../../configs/lab.toml");

/// The environment variable prefix of overrides.
pub const ENV_PREFIX: &str = "CGNAT";

/// The tables an environment override can name (upper case).
const TABLES: &[&str] = &["NAT", "DATAPLANE", "LOG"];

/// Keys whose environment override is a comma-separated list.
const LIST_KEYS: &[&str] = &["nat.inside_prefixes", "nat.pool", "nat.bypass", "dataplane.eal_args"];

/// The `[log]` table: where the NAT log goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// The text NAT log file (one line per event), appended to.
    pub file: PathBuf,
    /// Capacity of each worker's event ring (events).
    pub ring_capacity: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            file: PathBuf::from("/var/log/cgnat/nat.log"),
            ring_capacity: 16384,
        }
    }
}

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
}

impl DaemonConfig {
    /// Checks every value; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.nat.validate()?;
        self.dataplane.validate(&self.nat)?;
        if self.log.file.as_os_str().is_empty() {
            return Err(ConfigError::new("log.file", "\"\"", "a file path for the NAT log"));
        }
        if !(64..=1 << 24).contains(&self.log.ring_capacity) {
            return Err(ConfigError::new(
                "log.ring_capacity",
                self.log.ring_capacity,
                "must be between 64 and 16777216 events",
            ));
        }
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
}
