//! A progress line on the terminal while the logs are indexed: bytes read
//! of the total, drawn on stderr only if it is a terminal and only once
//! the work has taken [`QUIET_FOR`], then erased when it is done, so a
//! quick run, a pipe or a log file never sees it.
//!
//! Hand-written rather than `indicatif`: one line redrawn ten times a
//! second needs no dependency (and none whose MSRV may move past the
//! project's), and the format is tested here
//! (docs/decisions/018-parallel-log-index.md).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long work runs before its progress is shown.
pub const QUIET_FOR: Duration = Duration::from_secs(1);
/// How often the line is redrawn.
pub const REDRAW: Duration = Duration::from_millis(100);

/// The progress line for `done` of `total` bytes after `elapsed`.
pub fn render(what: &str, done: u64, total: u64, elapsed: Duration) -> String {
    const WIDTH: usize = 24;
    let done = done.min(total);
    let frac = if total == 0 { 1.0 } else { done as f64 / total as f64 };
    let full = ((frac * WIDTH as f64) as usize).min(WIDTH);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    format!(
        "{what} [{}{}] {:.0}/{:.0} MiB {:3.0}% {:.1} s",
        "#".repeat(full),
        "-".repeat(WIDTH - full),
        mib(done),
        mib(total),
        frac * 100.0,
        elapsed.as_secs_f64()
    )
}

/// Runs `work` with a counter of bytes done; while it runs, a progress
/// line of `total` bytes is drawn on stderr if stderr is a terminal and
/// the work takes longer than [`QUIET_FOR`].
pub fn with_progress<T>(what: &str, total: u64, work: impl FnOnce(&AtomicU64) -> T) -> T {
    let done = AtomicU64::new(0);
    if !std::io::stderr().is_terminal() {
        return work(&done);
    }
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let done = &done;
        s.spawn(move || {
            let t0 = Instant::now();
            let mut drawn = false;
            // Wakes every REDRAW; ends when the sender is dropped.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(REDRAW) {
                if t0.elapsed() >= QUIET_FOR {
                    let line = render(what, done.load(Ordering::Relaxed), total, t0.elapsed());
                    let _ = write!(std::io::stderr().lock(), "\r{line}\x1b[K");
                    drawn = true;
                }
            }
            if drawn {
                let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            }
        });
        let r = work(done);
        drop(stop);
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_bytes_percent_and_time() {
        let mib = 1 << 20;
        assert_eq!(
            render("indexing", 256 * mib, 1024 * mib, Duration::from_millis(1500)),
            "indexing [######------------------] 256/1024 MiB  25% 1.5 s"
        );
        assert_eq!(
            render("x", 5, 0, Duration::ZERO),
            "x [########################] 0/0 MiB 100% 0.0 s",
            "an empty total is done"
        );
        assert!(render("x", 9, 3, Duration::ZERO).contains("100%"), "never past the total");
    }

    #[test]
    fn work_runs_and_returns_its_value() {
        // On a terminal or not, the work's value comes back (well within a
        // second: nothing is drawn).
        let r = with_progress("x", 10, |d| {
            d.fetch_add(10, Ordering::Relaxed);
            7
        });
        assert_eq!(r, 7);
    }
}
