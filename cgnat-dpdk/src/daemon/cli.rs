//! Command line of `cgnatd`.

use std::path::PathBuf;

/// The configuration `cgnatd` reads without `--config` (the packaged one).
pub const DEFAULT_CONFIG: &str = "/etc/cgnat/cgnatd.toml";

/// Usage text.
pub const USAGE: &str = "\
cgnatd: the cgnat data plane (NAT444 on DPDK)

USAGE:
    cgnatd [--config FILE | --lab] [--check] [--log FILE] [--stats-file FILE]
    cgnatd [--config FILE | --lab] --replay --inside-rx IN.pcap --outside-rx IN.pcap
           --inside-tx OUT.pcap --outside-tx OUT.pcap [--log FILE]

OPTIONS:
    -c, --config FILE     TOML configuration (default: /etc/cgnat/cgnatd.toml);
                          CGNAT_* environment variables override keys, with
                          `__` between key parts: CGNAT_NAT__BLOCK_SIZE=256
        --lab             the embedded lab configuration (configs/lab.toml:
                          TAP ports, proxy ARP, the NAT log under /tmp)
        --check           validate the configuration and exit (0 valid, 1 not)
        --log FILE        NAT log file (overrides log.file)
        --stats-file FILE write the final counters there at exit
        --replay          pcap replay: one worker, packet timestamps as the
                          clock, stop when both inputs are exhausted
        --inside-rx FILE  replay input of the inside port
        --outside-rx FILE replay input of the outside port
        --inside-tx FILE  replay output of the inside port (written by cgnatd,
                          timestamps from the packet clock: deterministic)
        --outside-tx FILE replay output of the outside port
    -h, --help            this text
    -V, --version         the version

SIGINT/SIGTERM stop cleanly: workers drain, every open port block gets its
release record in the NAT log, ports are closed.
";

/// Paths of a pcap replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayPaths {
    /// Inside input.
    pub inside_rx: PathBuf,
    /// Outside input.
    pub outside_rx: PathBuf,
    /// Inside output.
    pub inside_tx: PathBuf,
    /// Outside output.
    pub outside_tx: PathBuf,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Options {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--lab`: the embedded lab configuration.
    pub lab: bool,
    /// `--check`.
    pub check: bool,
    /// `--log`.
    pub log: Option<PathBuf>,
    /// `--stats-file`.
    pub stats_file: Option<PathBuf>,
    /// `--replay` and its files.
    pub replay: Option<ReplayPaths>,
    /// `--help`.
    pub help: bool,
    /// `--version`.
    pub version: bool,
}

/// Parses the arguments (without the program name).
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
    let mut o = Options::default();
    let mut replay = false;
    let mut files: [Option<PathBuf>; 4] = Default::default();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<PathBuf, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-c" | "--config" => o.config = Some(value("--config")?),
            "--check" => o.check = true,
            "--lab" => o.lab = true,
            "--log" => o.log = Some(value("--log")?),
            "--stats-file" => o.stats_file = Some(value("--stats-file")?),
            "--replay" => replay = true,
            "--inside-rx" => files[0] = Some(value("--inside-rx")?),
            "--outside-rx" => files[1] = Some(value("--outside-rx")?),
            "--inside-tx" => files[2] = Some(value("--inside-tx")?),
            "--outside-tx" => files[3] = Some(value("--outside-tx")?),
            "-h" | "--help" => o.help = true,
            "-V" | "--version" => o.version = true,
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if o.lab && o.config.is_some() {
        return Err("--lab and --config exclude each other (--lab is the embedded lab configuration)".into());
    }
    if replay {
        let names = ["--inside-rx", "--outside-rx", "--inside-tx", "--outside-tx"];
        if let Some(i) = files.iter().position(Option::is_none) {
            return Err(format!("--replay needs {}", names[i]));
        }
        let [a, b, c, d] = files.map(|f| f.unwrap_or_default());
        o.replay = Some(ReplayPaths {
            inside_rx: a,
            outside_rx: b,
            inside_tx: c,
            outside_tx: d,
        });
    } else if files.iter().any(Option::is_some) {
        return Err("--inside-rx/--outside-rx/--inside-tx/--outside-tx need --replay".into());
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Options, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses() {
        let o = p(&["--config", "x.toml", "--check"]).unwrap();
        assert_eq!(o.config, Some(PathBuf::from("x.toml")));
        assert!(o.check);
        let o = p(&[
            "--replay",
            "--inside-rx=a",
            "--outside-rx",
            "b",
            "--inside-tx",
            "c",
            "--outside-tx",
            "d",
        ])
        .unwrap();
        assert_eq!(o.replay.unwrap().outside_rx, PathBuf::from("b"));
        assert!(p(&["--replay", "--inside-rx", "a"]).unwrap_err().contains("--outside-rx"));
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["--lab"]).unwrap().lab);
        assert!(p(&["--lab", "--config", "x"]).unwrap_err().contains("exclude"));
        assert!(p(&["--config"]).is_err());
    }
}
