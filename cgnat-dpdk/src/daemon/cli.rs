//! Command line of `cgnatd` (clap derive: the same definition gives
//! `--help`, the man page and the shell completions of the package,
//! `examples/gen_docs.rs`).

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

/// The configuration `cgnatd` reads without `--config` (the packaged one).
pub const DEFAULT_CONFIG: &str = "/etc/cgnat/cgnatd.toml";

/// cgnatd: the cgnat data plane (NAT444 on DPDK).
///
/// Translates subscribers in 100.64.0.0/10 to a pool of public addresses in
/// port blocks, writes the NAT log (the legal record of every block), and
/// serves the control socket (`cgnatctl`), the Prometheus metrics and PCP.
///
/// SIGINT/SIGTERM stop cleanly: workers drain, every open port block gets
/// its release record in the NAT log, ports are closed. Under systemd
/// (`Type=notify`) it reports READY=1 once the workers run, and WATCHDOG=1
/// while every worker makes progress.
///
/// Exit codes: 0 success (or a valid configuration with --check), 1 invalid
/// configuration or runtime failure, 2 usage error.
#[derive(Parser, Debug)]
#[command(name = "cgnatd", version, about = "The cgnat data plane: carrier-grade NAT444 on DPDK", long_about, after_help = AFTER_HELP)]
pub struct Cli {
    /// TOML configuration (default: /etc/cgnat/cgnatd.toml). CGNAT_*
    /// environment variables override keys, with `__` between key parts:
    /// CGNAT_NAT__BLOCK_SIZE=256.
    #[arg(short = 'c', long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The embedded lab configuration (configs/lab.toml: TAP ports, proxy
    /// ARP, the NAT log under /tmp).
    #[arg(long, conflicts_with = "config")]
    lab: bool,
    /// Validate the configuration and exit (0 valid, 1 not).
    #[arg(long)]
    check: bool,
    /// NAT log file (overrides log.file).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Write the final counters to FILE at exit.
    #[arg(long, value_name = "FILE")]
    stats_file: Option<PathBuf>,
    /// pcap replay: one worker, packet timestamps as the clock, stop when
    /// both inputs are exhausted.
    #[arg(long, requires_all = ["inside_rx", "outside_rx", "inside_tx", "outside_tx"])]
    replay: bool,
    /// Replay input of the inside port.
    #[arg(long, value_name = "FILE", requires = "replay")]
    inside_rx: Option<PathBuf>,
    /// Replay input of the outside port.
    #[arg(long, value_name = "FILE", requires = "replay")]
    outside_rx: Option<PathBuf>,
    /// Replay output of the inside port (timestamps from the packet clock:
    /// deterministic).
    #[arg(long, value_name = "FILE", requires = "replay")]
    inside_tx: Option<PathBuf>,
    /// Replay output of the outside port.
    #[arg(long, value_name = "FILE", requires = "replay")]
    outside_tx: Option<PathBuf>,
}

/// Shown after the options in `--help` and the man page.
const AFTER_HELP: &str = "\
Files:
  /etc/cgnat/cgnatd.toml   the configuration (cgnatctl config check FILE checks it too)
  /var/log/cgnat/          the NAT log (the legal record) in the packaged configuration
  /run/cgnat/cgnatd.sock   the control socket (cgnatctl)

Examples:
  cgnatd --check                          validate /etc/cgnat/cgnatd.toml
  cgnatd --config /etc/cgnat/cgnatd.toml  run
  systemctl start cgnatd                  run under systemd (the packaged unit)";

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
}

/// The clap command of `cgnatd` (for the man page and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses the arguments (without the program name). `--help` and
/// `--version` come back as the [`clap::Error`] that prints them (exit 0);
/// usage errors as one that exits 2.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, clap::Error> {
    let cli = Cli::try_parse_from(std::iter::once("cgnatd".to_string()).chain(args))?;
    let replay = match (cli.replay, cli.inside_rx, cli.outside_rx, cli.inside_tx, cli.outside_tx) {
        (true, Some(inside_rx), Some(outside_rx), Some(inside_tx), Some(outside_tx)) => Some(ReplayPaths {
            inside_rx,
            outside_rx,
            inside_tx,
            outside_tx,
        }),
        _ => None,
    };
    Ok(Options {
        config: cli.config,
        lab: cli.lab,
        check: cli.check,
        log: cli.log,
        stats_file: cli.stats_file,
        replay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Options, String> {
        parse(a.iter().map(|s| s.to_string())).map_err(|e| e.to_string())
    }

    #[test]
    fn parses() {
        let o = p(&["--config", "x.toml", "--check"]).unwrap();
        assert_eq!(o.config, Some(PathBuf::from("x.toml")));
        assert!(o.check);
        let o = p(&["-c", "y.toml"]).unwrap();
        assert_eq!(o.config, Some(PathBuf::from("y.toml")));
        assert_eq!(p(&[]).unwrap(), Options::default());
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
        assert!(p(&["--inside-rx", "a"]).unwrap_err().contains("--replay"));
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["--lab"]).unwrap().lab);
        assert!(p(&["--lab", "--config", "x"]).unwrap_err().contains("cannot be used with"));
        assert!(p(&["--config"]).is_err());
    }

    #[test]
    fn help_and_version_exit_zero() {
        for a in ["--help", "-h", "--version", "-V"] {
            let e = parse([a.to_string()]).unwrap_err();
            assert_eq!(e.exit_code(), 0, "{a}");
        }
        assert_eq!(parse(["--bogus".to_string()]).unwrap_err().exit_code(), 2);
        command().debug_assert();
    }
}
