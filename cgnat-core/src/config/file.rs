//! The whole configuration file of `cgnatd` (and of `cgnatctl config
//! check`): `[nat]`, `[dataplane]`, `[log]` (with `[[log.targets]]`),
//! `[control]`, `[metrics]`, `[pcp]`, `[daemon_log]`, `[ha]`, read with the `config` crate
//! from one TOML file (or the embedded lab default) with `CGNAT_*`
//! environment overrides.
//!
//! Environment variables name a key with `__` between its parts:
//! `CGNAT_NAT__BLOCK_SIZE=256` sets `nat.block_size`,
//! `CGNAT_DATAPLANE__INSIDE__DEVICE=net_tap0,iface=x` sets
//! `dataplane.inside.device`. List keys (`nat.pool`, `nat.inside_prefixes`,
//! `nat.pool_exclude`, `nat.bypass`, `dataplane.eal_args`) take
//! comma-separated values. `CGNAT_*` variables without `__` are not
//! configuration (`CGNAT_DPDK_REQUIRE`); one with `__` must name a table
//! and a key, and an error it causes names the variable.

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
const TABLES: &[&str] = &["NAT", "DATAPLANE", "LOG", "CONTROL", "METRICS", "PCP", "DAEMON_LOG", "HA"];

/// Keys whose environment override is a comma-separated list.
const LIST_KEYS: &[&str] = &[
    "nat.inside_prefixes",
    "nat.pool",
    "nat.pool_exclude",
    "nat.bypass",
    "dataplane.eal_args",
    "pcp.third_party_from",
];

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
    /// The PCP server.
    pub pcp: super::PcpConfig,
    /// The daemon's own messages (not the NAT log).
    pub daemon_log: super::DaemonLogConfig,
    /// The active/standby pair (issue 13); left out of the serialisation
    /// (and so of the configuration digest) while disabled.
    #[serde(skip_serializing_if = "super::HaConfig::is_disabled")]
    pub ha: super::HaConfig,
}

impl DaemonConfig {
    /// Checks every value; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.nat.validate()?;
        self.dataplane.validate(&self.nat)?;
        self.log.validate()?;
        self.control.validate()?;
        self.metrics.validate()?;
        self.pcp.validate(&self.nat)?;
        self.daemon_log.validate()?;
        self.ha.validate()?;
        Ok(())
    }
}

/// Where the configuration (or a bad value of it) was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file.
    File(PathBuf),
    /// [`EMBEDDED_LAB_CONFIG`].
    Embedded,
    /// An environment variable (its name) overriding the file.
    Environment(String),
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Embedded => f.write_str("the embedded lab configuration"),
            ConfigSource::Environment(v) => write!(f, "environment variable {v}"),
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

/// The configuration variables of `env`: `CGNAT_<TABLE>__<KEY>` (a
/// `__` after the prefix). Other `CGNAT_*` variables (`CGNAT_DPDK_REQUIRE`
/// of the tests, ...) are not configuration. A variable naming a table that
/// does not exist is an error naming the variable (issue 15: it was
/// silently ignored).
fn config_vars(env: HashMap<String, String>) -> Result<Vec<(String, String)>, LoadError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for (k, v) in env {
        let Some(rest) = k.strip_prefix(&format!("{ENV_PREFIX}_")) else {
            continue;
        };
        let Some((table, key)) = rest.split_once("__") else { continue };
        if !TABLES.iter().any(|t| t.eq_ignore_ascii_case(table)) {
            return Err(LoadError::Parse {
                source: ConfigSource::Environment(k.clone()),
                message: format!(
                    "no configuration table `{}` (the variable would set {}.{}; tables: {})",
                    table.to_ascii_lowercase(),
                    table.to_ascii_lowercase(),
                    key.to_ascii_lowercase().replace("__", "."),
                    TABLES.iter().map(|t| t.to_ascii_lowercase()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        vars.push((k, v));
    }
    vars.sort();
    Ok(vars)
}

/// The `config` crate's reading of `text` with the overrides `vars`.
fn build(text: &str, vars: &[(String, String)]) -> Result<DaemonConfig, config::ConfigError> {
    let mut environment = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .ignore_empty(true);
    for k in LIST_KEYS {
        environment = environment.with_list_parse_key(k);
    }
    let environment = environment.source(Some(vars.iter().cloned().collect()));
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(environment)
        .build()?
        .try_deserialize()
}

/// The variable of `vars` that sets `key` (`nat.block_size`), if any.
fn var_of_key<'a>(vars: &'a [(String, String)], key: &str) -> Option<&'a str> {
    let want = format!("{ENV_PREFIX}_{}", key.replace('.', "__")).to_ascii_uppercase();
    vars.iter().find(|(k, _)| k.to_ascii_uppercase() == want).map(|(k, _)| k.as_str())
}

/// Parses TOML `text` (from `source`) with environment overrides and
/// validates it. An error caused by an environment variable names the
/// variable, not the file (issue 15).
pub fn parse(text: &str, source: ConfigSource, env: Option<HashMap<String, String>>) -> Result<DaemonConfig, LoadError> {
    let env = env.unwrap_or_else(|| std::env::vars().collect());
    let vars = config_vars(env)?;
    let cfg = match build(text, &vars) {
        Ok(c) => c,
        Err(e) => {
            // The file alone first: its own mistakes are the file's.
            if let Err(fe) = build(text, &[]) {
                return Err(LoadError::Parse {
                    source,
                    message: describe(fe),
                });
            }
            // Then each variable on its own over the file.
            for v in &vars {
                if let Err(ve) = build(text, std::slice::from_ref(v)) {
                    return Err(LoadError::Parse {
                        source: ConfigSource::Environment(format!("{}={}", v.0, v.1)),
                        message: describe(ve),
                    });
                }
            }
            return Err(LoadError::Parse {
                source,
                message: describe(e),
            });
        }
    };
    cfg.validate().map_err(|error| {
        let source = match var_of_key(&vars, &error.key) {
            Some(v) => ConfigSource::Environment(v.to_string()),
            None => source,
        };
        LoadError::Invalid { source, error }
    })?;
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

    /// Issue 15: "an environment-variable typo (`CGNAT_NAT__BLOK_SIZE`) is
    /// reported as an unknown field of the config file; an unknown
    /// top-level table in the environment is ignored" — both name the
    /// variable now, and unknown tables anywhere are errors.
    #[test]
    fn environment_errors_name_the_variable() {
        let e = parse(
            EMBEDDED_LAB_CONFIG,
            ConfigSource::File("/etc/cgnat/cgnatd.toml".into()),
            env(&[("CGNAT_NAT__BLOK_SIZE", "256")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("environment variable CGNAT_NAT__BLOK_SIZE=256: "), "{e}");
        assert!(e.contains("blok_size") && !e.contains("/etc/cgnat"), "{e}");
        let e = parse(
            EMBEDDED_LAB_CONFIG,
            ConfigSource::Embedded,
            env(&[("CGNAT_NTA__BLOCK_SIZE", "256")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("environment variable CGNAT_NTA__BLOCK_SIZE: no configuration table `nta`"),
            "{e}"
        );
        assert!(e.contains("tables: nat, dataplane, log, control, metrics"), "{e}");
        // A valid variable with a bad value: the variable, then key, value, allowed.
        let e = parse(EMBEDDED_LAB_CONFIG, ConfigSource::Embedded, env(&[("CGNAT_NAT__BLOCK_SIZE", "8")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("environment variable CGNAT_NAT__BLOCK_SIZE: nat.block_size = 8: must be between 16"),
            "{e}"
        );
        // The file's own mistakes are the file's, whatever the environment.
        let e = parse(
            "[nat]\nblock_sise = 3\n",
            ConfigSource::File("x.toml".into()),
            env(&[("CGNAT_NAT__BLOCK_SIZE", "256")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("x.toml: ") && e.contains("block_sise"), "{e}");
        // Unknown tables in the file, at the top and nested.
        for text in [
            "[natt]\nblock_size = 3\n",
            "[nat.timeout]\nudp = 300\n",
            "[log.clok]\nslew_ppm = 1\n",
        ] {
            let e = parse(text, ConfigSource::Embedded, env(&[])).unwrap_err().to_string();
            assert!(e.contains("unknown field"), "{text}: {e}");
        }
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
