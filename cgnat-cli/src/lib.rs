//! # cgnat-cli
//!
//! `cgnatctl`, the operator tool of cgnat: the NOC's and abuse desk's
//! questions ("who held 203.0.113.3:1536 at 22:15?"), live through the
//! daemon's control socket ([`client`], [`live`]) or offline from the NAT
//! log files through a per-file interval index ([`index`], [`logfile`],
//! [`history`], [`lookup`]) or the RFC 7422 formula ([`deterministic`]);
//! plus configuration checks ([`config_check`]), pool sizing
//! ([`capacity`]) and the verification of NAT log files ([`verify`]).
//!
//! Exit codes are in [`error`]: 0 found, 1 not found, 2 usage or
//! connection error, 3 the logs do not cover the time.

pub mod capacity;
pub mod cli;
pub mod client;
pub mod config_check;
pub mod deterministic;
pub mod error;
pub mod follow;
pub mod genlog;
pub mod ha;
pub mod held;
pub mod history;
pub mod index;
pub mod live;
pub mod logfile;
pub mod logread;
pub mod lookup;
pub mod output;
pub mod pcp;
pub mod progress;
pub mod record;
pub mod runs;
pub mod subscribers;
pub mod timefmt;
pub mod top;
pub mod verify;

use clap::Parser;

use cli::{Cli, Command, ConfigCommand, LogCommand};
use error::{CliError, CmdResult, EXIT_ERROR, EXIT_OK};
use output::Format;

/// Runs `cgnatctl` with these arguments (the first is the program name)
/// and returns the exit code. Errors are printed to stderr (and as JSON on
/// stdout with `--json`).
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let format = if cli.json { Format::Json } else { Format::Human };
    match run(&cli, format) {
        Ok(code) => code,
        Err(e) => {
            if format == Format::Json {
                let _ = output::print_json(&e.to_json());
            }
            eprintln!("{e}");
            e.code
        }
    }
}

/// Whether `CGNATCTL_TIMING` asks for timings on stderr.
pub(crate) fn timing_requested() -> bool {
    std::env::var_os("CGNATCTL_TIMING").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Runs a parsed command.
pub fn run(cli: &Cli, f: Format) -> CmdResult {
    let socket = client::socket_path(cli.socket.as_deref());
    let connect = || client::Client::connect(&socket);
    match &cli.command {
        Command::Lookup(a) => lookup::run(cli.socket.as_deref(), a, f, timing_requested()),
        Command::Subscriber { address } => live::subscriber(&mut connect()?, *address, f),
        Command::Sessions(a) => live::sessions(&mut connect()?, a, f),
        Command::Stats { workers, count } => live::stats(&mut connect()?, *workers, *count, f),
        Command::Events { follow, last } => follow::events(&mut connect()?, *follow, *last, f),
        Command::Reload { file } => subscribers::reload(&mut connect()?, file.as_deref(), f),
        Command::Subscribers(a) => subscribers::subscribers(&mut connect()?, a, f),
        Command::Pcp(a) => pcp::pcp(&mut connect()?, a, f),
        Command::Top(a) => top::top(&mut connect()?, a, f),
        Command::History(a) => held::run(a, f),
        Command::Clear(a) => {
            // Check the arguments before connecting: a usage error is
            // reported as such even when the daemon is down.
            live::clear_request(a)?;
            live::clear(&mut connect()?, a, f)
        }
        Command::Status => live::status(&mut connect()?, f),
        Command::Ha { action } => ha::ha(&mut connect()?, action.is_some(), f),
        Command::Config(ConfigCommand::Check { file }) => config_check::run(file, f),
        Command::Capacity(a) => capacity_cmd(a, f),
        Command::Index(a) => lookup::index_cmd(a, f),
        Command::Log(LogCommand::Verify(a)) => verify::run(a, f),
        Command::GenLog(a) => genlog::run(a),
    }
}

fn capacity_cmd(a: &cli::CapacityArgs, f: Format) -> CmdResult {
    let defaults = cgnat_core::config::NatConfig::default();
    let port_range = match &a.port_range {
        Some(r) => r
            .parse()
            .map_err(|e: cgnat_core::config::PrefixParseError| CliError::usage(format!("--port-range: {e}")))?,
        None => defaults.port_range,
    };
    let pool = a
        .pool
        .iter()
        .map(|p| {
            p.parse()
                .map_err(|e: cgnat_core::config::PrefixParseError| CliError::usage(format!("--pool: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let input = capacity::CapacityInput {
        subscribers: a.subscribers,
        ports_per_subscriber: a.ports_per_subscriber,
        block_size: a.block_size.unwrap_or(defaults.block_size),
        port_range,
        pool,
    };
    let c = capacity::compute(&input)?;
    output::emit(f, &c, || capacity::render(&c))?;
    Ok(match &c.pool {
        Some(p) if !p.sufficient => error::EXIT_NOT_FOUND,
        _ => EXIT_OK,
    })
}
