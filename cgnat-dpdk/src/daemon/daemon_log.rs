//! The daemon's own log (issue 14 item 2): operational messages through
//! the `log` facade, written by log4rs with levels and RFC 3339 UTC
//! timestamps to standard error (systemd's journal under the unit) and
//! optionally to a file rolled by size (`[daemon_log]`). The NAT log — the
//! legal record — is separate (`management::log`).
//!
//! Messages before the configuration is read (usage, an invalid file) and
//! the final fatal error go to standard error directly: there is no logger
//! yet, or it may be the thing that failed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cgnat_core::config::{DaemonLogConfig, DaemonLogLevel};
use log4rs::append::console::{ConsoleAppender, Target};
use log4rs::append::rolling_file::policy::compound::roll::fixed_window::FixedWindowRoller;
use log4rs::append::rolling_file::policy::compound::trigger::size::SizeTrigger;
use log4rs::append::rolling_file::policy::compound::CompoundPolicy;
use log4rs::append::rolling_file::RollingFileAppender;
use log4rs::config::{Appender, Config, Root};
use log4rs::encode::pattern::PatternEncoder;
use parking_lot::Mutex;

/// Each line: RFC 3339 UTC time with microseconds, level, message.
const PATTERN: &str = "{d(%Y-%m-%dT%H:%M:%S%.6fZ)(utc)} {l:<5} {m}{n}";

static STARTED: AtomicBool = AtomicBool::new(false);
static STDERR: AtomicBool = AtomicBool::new(false);

fn level(l: DaemonLogLevel) -> log::LevelFilter {
    match l {
        DaemonLogLevel::Error => log::LevelFilter::Error,
        DaemonLogLevel::Warn => log::LevelFilter::Warn,
        DaemonLogLevel::Info => log::LevelFilter::Info,
        DaemonLogLevel::Debug => log::LevelFilter::Debug,
        DaemonLogLevel::Trace => log::LevelFilter::Trace,
    }
}

/// Starts the daemon's log as `cfg` says. A second call (tests running
/// several daemons in one process) keeps the first logger.
pub fn init(cfg: &DaemonLogConfig) -> Result<(), String> {
    if STARTED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let mut builder = Config::builder();
    let mut root = Root::builder();
    if cfg.stderr {
        let console = ConsoleAppender::builder()
            .target(Target::Stderr)
            .encoder(Box::new(PatternEncoder::new(PATTERN)))
            .build();
        builder = builder.appender(Appender::builder().build("stderr", Box::new(console)));
        root = root.appender("stderr");
    }
    if let Some(path) = &cfg.file {
        let pattern = format!("{}.{{}}", path.display());
        let roller = FixedWindowRoller::builder()
            .build(&pattern, cfg.file_keep)
            .map_err(|e| format!("daemon_log.file {}: {e}", path.display()))?;
        let policy = CompoundPolicy::new(Box::new(SizeTrigger::new(cfg.file_max_bytes)), Box::new(roller));
        let file = RollingFileAppender::builder()
            .encoder(Box::new(PatternEncoder::new(PATTERN)))
            .build(path, Box::new(policy))
            .map_err(|e| format!("daemon_log.file {}: {e}", path.display()))?;
        builder = builder.appender(Appender::builder().build("file", Box::new(file)));
        root = root.appender("file");
    }
    let config = builder
        .build(root.build(level(cfg.level)))
        .map_err(|e| format!("daemon_log: {e}"))?;
    log4rs::init_config(config).map_err(|e| format!("daemon_log: {e}"))?;
    STDERR.store(cfg.stderr, Ordering::SeqCst);
    Ok(())
}

/// Whether the daemon's log is running and writes to standard error.
pub fn writes_stderr() -> bool {
    STDERR.load(Ordering::SeqCst)
}

/// An error that can repeat at a high rate (a failing log target, a socket
/// that keeps refusing): logged at once with its context, then at most once
/// per `every`, saying how many were suppressed in between.
pub struct Throttled {
    every: Duration,
    last: Mutex<Option<(Instant, u64)>>,
}

impl Throttled {
    /// A throttle letting one message through per `every`.
    pub const fn new(every: Duration) -> Throttled {
        Throttled {
            every,
            last: Mutex::new(None),
        }
    }

    /// Logs `msg` at `lvl` unless one went out less than `every` ago (then
    /// it is counted and mentioned with the next one).
    pub fn log(&self, lvl: log::Level, msg: std::fmt::Arguments<'_>) {
        let mut last = self.last.lock();
        match &mut *last {
            Some((at, suppressed)) if at.elapsed() < self.every => *suppressed += 1,
            _ => {
                let before = last.map(|(_, s)| s).unwrap_or(0);
                if before > 0 {
                    log::log!(lvl, "{msg} ({before} similar suppressed)");
                } else {
                    log::log!(lvl, "{msg}");
                }
                *last = Some((Instant::now(), 0));
            }
        }
    }
}
