//! The command line (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Operator CLI of the cgnat carrier-grade NAT: who held a public
/// address:port, subscribers, sessions, counters, NAT log events, config
/// checks and pool sizing.
///
/// Exit codes: 0 found/success, 1 not found (nobody held the port, not a
/// pool address, unknown subscriber, invalid config), 2 usage error,
/// unreadable file, no connection to cgnatd or a broken event stream,
/// 3 the NAT logs do not cover the time asked about.
#[derive(Parser, Debug)]
#[command(name = "cgnatctl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Print JSON instead of tables (JSON lines for `events --follow`).
    #[arg(long, global = true)]
    pub json: bool,
    /// The control socket of cgnatd.
    #[arg(long, global = true, env = "CGNATCTL_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// A protocol on the command line.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (echo identifier).
    Icmp,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Who held PUBLIC_IP:PORT (live, from the NAT logs, or by formula in
    /// deterministic mode).
    ///
    /// Without --at, --log or --log-dir the running daemon is asked. With
    /// --at (or logs) the NAT log files are searched through an index kept
    /// next to each file (rebuilt when the file changes). With --config of
    /// a deterministic-mode configuration the RFC 7422 formula answers,
    /// checked against the det-epoch records of the logs if given.
    Lookup(LookupArgs),
    /// A subscriber's public address, port blocks, sessions and limits (live).
    Subscriber {
        /// The subscriber's inside address.
        address: std::net::Ipv4Addr,
    },
    /// Live sessions, like `conntrack -L`.
    Sessions(SessionsArgs),
    /// Counters and table fill, like `conntrack -S` / `conntrack -C`.
    Stats {
        /// Also show per-worker counters.
        #[arg(long)]
        workers: bool,
        /// Only the table fill (`conntrack -C`).
        #[arg(long, short = 'C')]
        count: bool,
    },
    /// NAT log records from the daemon, like `conntrack -E`.
    Events {
        /// Stream records as they are written, until interrupted.
        #[arg(long, short)]
        follow: bool,
        /// How many recent records to show first.
        #[arg(long, value_name = "N")]
        last: Option<u32>,
    },
    /// Remove sessions and release blocks, like `conntrack -D` (targeted).
    Clear(ClearArgs),
    /// Reload timers, limits and log targets from the configuration file
    /// without dropping sessions (a changed key that needs a restart is
    /// refused, naming it).
    Reload {
        /// The file (default: the one cgnatd runs).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// The subscribers with state, largest first (top talkers by sessions,
    /// ports or blocks).
    Subscribers(SubscribersArgs),
    /// The PCP and NAT-PMP mappings subscribers asked for (RFC 6887, RFC
    /// 6886), with lifetime left and the PCP server's counters; `clear`
    /// removes them with the subscriber's or the port's state.
    Pcp(PcpArgs),
    /// Live rates: packets per second per worker, drops per reason, table
    /// fill, NIC counters; refreshed in place until interrupted.
    Top(TopArgs),
    /// What a subscriber held over a period, from the NAT logs: every
    /// public address and port block, when, and the records that say so.
    History(HistoryArgs),
    /// The daemon's status (version, mode, uptime, log targets).
    Status,
    /// The HA pair: this node's role, the peer, sync lag and the sync
    /// stream's counters; `switchover` hands the active role to an in-sync
    /// standby (planned maintenance).
    Ha {
        /// `switchover`: the planned handover.
        #[arg(value_enum)]
        action: Option<HaAction>,
    },
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// How many public addresses N subscribers need at M ports each, and
    /// what a pool supports (the arithmetic is shown).
    Capacity(CapacityArgs),
    /// Build (or refresh) the lookup indexes of NAT log files now, e.g.
    /// from logrotate's postrotate.
    Index(LogArgs),
    /// NAT log files: verification.
    #[command(subcommand)]
    Log(LogCommand),
    /// Write a synthetic NAT log (benchmarks and tests).
    #[command(hide = true)]
    GenLog(crate::genlog::GenLogArgs),
}

/// Where the NAT logs are, and how they are indexed.
#[derive(Args, Debug, Default, Clone)]
pub struct LogArgs {
    /// A NAT log file (text, JSON lines or syslog, also as stored by
    /// rsyslog or syslog-ng; plain or gzip); repeat for several files
    /// (--log nat.log --log nat.log.1).
    #[arg(long = "log", value_name = "FILE")]
    pub logs: Vec<PathBuf>,
    /// A directory of NAT log files (nat.log, nat.log.1, nat.log.2.gz,
    /// nat.log.20231114T000000Z.gz, ...).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Keep index files here instead of the cache directory
    /// ($XDG_CACHE_HOME/cgnatctl/indexes, ~/.cache/cgnatctl/indexes);
    /// never next to the logs.
    #[arg(long, value_name = "DIR")]
    pub index_dir: Option<PathBuf>,
    /// Do not read or write index files (scan the logs).
    #[arg(long)]
    pub no_index: bool,
    /// Rebuild the index files even if they look current.
    #[arg(long)]
    pub rebuild_index: bool,
}

/// `lookup`.
#[derive(Args, Debug)]
pub struct LookupArgs {
    /// The public address and port, e.g. 203.0.113.3:1536.
    #[arg(value_name = "PUBLIC_IP:PORT")]
    pub target: String,
    /// When: RFC 3339 with its zone (2023-11-14T22:13:20Z,
    /// 2023-11-14 23:13:20+01:00), @EPOCH_SECONDS, or now. A time without
    /// a zone is refused.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Only blocks covering this protocol (static mappings are per protocol).
    #[arg(long, value_enum)]
    pub proto: Option<ProtoArg>,
    /// Configuration file(s) of the NAT (deterministic mode: the formula;
    /// give the one of each epoch in the logs).
    #[arg(long = "config", value_name = "FILE")]
    pub configs: Vec<PathBuf>,
    /// Answer even if some lines look like NAT records but do not parse
    /// (each is listed as a warning); without it they are an error (exit 2).
    #[arg(long)]
    pub skip_malformed: bool,
    /// The logs.
    #[command(flatten)]
    pub logs: LogArgs,
}

/// `sessions`.
#[derive(Args, Debug)]
pub struct SessionsArgs {
    /// Only this subscriber, or the subscribers of a prefix (100.64.1.0/24).
    #[arg(long, value_name = "IP[/LEN]")]
    pub subscriber: Option<String>,
    /// Only this public address (or address:port).
    #[arg(long, value_name = "IP[:PORT]")]
    pub public: Option<String>,
    /// Only this remote address, address:port, or prefix.
    #[arg(long, value_name = "IP[:PORT]|PREFIX")]
    pub destination: Option<String>,
    /// Only this protocol.
    #[arg(long, value_enum)]
    pub proto: Option<ProtoArg>,
    /// Only sessions in this state: a TCP state (established, syn-sent,
    /// fin-wait, ... as the STATE column shows them), or - for UDP and ICMP.
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// At most this many sessions (the daemon allows up to 100000).
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
}

/// What `ha` does besides showing the pair.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HaAction {
    /// Hand the active role to the standby (refused unless it is in sync).
    Switchover,
}

/// How `subscribers` sorts.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    /// Live sessions.
    Sessions,
    /// Ports held.
    Ports,
    /// Port blocks held.
    Blocks,
}

/// `subscribers`.
#[derive(Args, Debug)]
pub struct SubscribersArgs {
    /// Sort by (largest first).
    #[arg(long, value_enum, default_value = "sessions")]
    pub sort: SortArg,
    /// Show the top N.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 20)]
    pub top: u32,
}

/// `pcp`.
#[derive(Args, Debug)]
pub struct PcpArgs {
    /// Only this subscriber's mappings.
    #[arg(long, value_name = "ADDRESS")]
    pub subscriber: Option<std::net::Ipv4Addr>,
    /// Show at most N.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 1000)]
    pub top: u32,
}

/// `top`.
#[derive(Args, Debug)]
pub struct TopArgs {
    /// Seconds between two frames (rates are over this interval).
    #[arg(long, short = 'd', value_name = "SECS", default_value_t = 1.0)]
    pub interval: f64,
    /// Frames to show, then exit (default: until interrupted on a
    /// terminal, one frame otherwise).
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u32>,
}

/// `history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// The subscriber's inside address.
    #[arg(value_name = "SUBSCRIBER")]
    pub subscriber: std::net::Ipv4Addr,
    /// From (RFC 3339 with a zone, @EPOCH, or now); default: the start of the logs.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// To (default: the end of the logs).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Answer even if some lines look like NAT records but do not parse.
    #[arg(long)]
    pub skip_malformed: bool,
    /// The logs.
    #[command(flatten)]
    pub logs: LogArgs,
}

/// `clear`.
#[derive(Args, Debug)]
pub struct ClearArgs {
    /// Every session and block of this subscriber.
    #[arg(long, value_name = "IP", conflicts_with_all = ["public", "all"])]
    pub subscriber: Option<std::net::Ipv4Addr>,
    /// The sessions on this public address:port.
    #[arg(long, value_name = "IP:PORT", conflicts_with = "all")]
    pub public: Option<String>,
    /// Everything: every session of every subscriber (needs --yes).
    #[arg(long)]
    pub all: bool,
    /// Confirm --all.
    #[arg(long)]
    pub yes: bool,
}

/// `log`.
#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Check that NAT log files are a sound legal record: sequence
    /// continuity per run, order, duplicates, every allocation released or
    /// its run ended, no port held by two subscribers at once.
    ///
    /// Exit codes: 0 clean, 1 findings (each with file:line), 2 usage, an
    /// unreadable file, or lines that do not parse.
    Verify(VerifyArgs),
}

/// `log verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The NAT log files (any format, plain or gzip, rotated or not).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Every NAT log file of this directory too.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Accept identical copies of a record (collector files from
    /// at-least-once TCP delivery); still counted and listed.
    #[arg(long)]
    pub allow_duplicates: bool,
}

/// `config`.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate a configuration file as cgnatd would (CGNAT_* environment
    /// overrides included).
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

/// `capacity`.
#[derive(Args, Debug)]
pub struct CapacityArgs {
    /// Subscribers to serve.
    #[arg(long, value_name = "N")]
    pub subscribers: u64,
    /// Ports each subscriber must be able to hold at once.
    #[arg(long, value_name = "M")]
    pub ports_per_subscriber: u32,
    /// Ports per block (default: the daemon's default, 512).
    #[arg(long, value_name = "B")]
    pub block_size: Option<u16>,
    /// Ports of each public address handed out (default 1024-65535).
    #[arg(long, value_name = "FIRST-LAST")]
    pub port_range: Option<String>,
    /// A pool prefix to check (repeatable), e.g. 203.0.113.0/24.
    #[arg(long, value_name = "PREFIX")]
    pub pool: Vec<String>,
}
