//! Building NAT logs for tests with the daemon's own formatters
//! (`cgnat_core::natlog`): runs with start and stop, blocks, restatements,
//! deterministic epochs; written as text, JSON lines or RFC 5424 syslog,
//! plain or gzip.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use cgnat_core::event::{EventKind, ProtocolScope, Reason, MANAGEMENT_WORKER};
use cgnat_core::natlog::{json, syslog, text, LogRecord};
use cgnat_core::Instant;

/// 2023-11-14T22:13:20Z in µs.
pub const T0: u64 = 1_700_000_000_000_000;
/// One second in µs.
pub const SEC: u64 = 1_000_000;

/// The records of one run, written in order with gapless `seq`.
pub struct Run {
    /// The run id.
    pub run: u64,
    next: u64,
    pseq: u64,
    /// The records so far.
    pub records: Vec<LogRecord>,
}

/// `a.b.c.d` as an address.
pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

impl Run {
    /// A run that starts with `daemon-start` at `t`.
    pub fn start(run: u64, t: u64) -> Run {
        let mut r = Run::without_start(run, 0);
        r.push(
            t,
            EventKind::DaemonStart,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            (0, 0),
            Reason::Start,
            0xd1_6e57,
        );
        r
    }

    /// A run whose records before `first_seq` are not in the files.
    pub fn without_start(run: u64, first_seq: u64) -> Run {
        Run {
            run,
            next: first_seq,
            pseq: 0,
            records: Vec::new(),
        }
    }

    /// The sequence number of the next regular record.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Appends a regular record.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        t: u64,
        event: EventKind,
        sub: Ipv4Addr,
        public: Ipv4Addr,
        ports: (u16, u16),
        reason: Reason,
        aux: u64,
    ) -> LogRecord {
        let r = LogRecord {
            seq: self.next,
            time: Instant::from_micros(t),
            event,
            subscriber: sub,
            public_addr: public,
            first_port: ports.0,
            last_port: ports.1,
            protocol: ProtocolScope::All,
            reason,
            producer: MANAGEMENT_WORKER,
            producer_seq: self.pseq,
            aux,
            run: self.run,
        };
        self.next += 1;
        self.pseq += 1;
        self.records.push(r);
        r
    }

    /// `block-alloc`.
    pub fn alloc(&mut self, t: u64, sub: &str, public: &str, ports: (u16, u16)) -> LogRecord {
        self.push(t, EventKind::BlockAllocated, ip(sub), ip(public), ports, Reason::NewMapping, 0)
    }

    /// `block-release`.
    pub fn release(&mut self, t: u64, sub: &str, public: &str, ports: (u16, u16)) -> LogRecord {
        self.push(t, EventKind::BlockReleased, ip(sub), ip(public), ports, Reason::Idle, 0)
    }

    /// `block-interim` of a block allocated at `allocated` (seq: the next
    /// regular record's; not part of the sequence).
    pub fn interim(&mut self, t: u64, sub: &str, public: &str, ports: (u16, u16), allocated: u64) -> LogRecord {
        let r = LogRecord {
            seq: self.next,
            time: Instant::from_micros(t),
            event: EventKind::BlockInterim,
            subscriber: ip(sub),
            public_addr: ip(public),
            first_port: ports.0,
            last_port: ports.1,
            protocol: ProtocolScope::All,
            reason: Reason::Interim,
            producer: MANAGEMENT_WORKER,
            producer_seq: 0,
            aux: allocated,
            run: self.run,
        };
        self.records.push(r);
        r
    }

    /// `daemon-stop` (aux: the records before it).
    pub fn stop(&mut self, t: u64) -> LogRecord {
        let n = self.next;
        self.push(
            t,
            EventKind::DaemonStop,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            (0, 0),
            Reason::Shutdown,
            n,
        )
    }

    /// A `det-epoch` and its `det-prefix` records (RFC 7422 section 2.3).
    pub fn det_epoch(&mut self, t: u64, inside: &[(&str, u8)], pool: &[(&str, u8)], ports: (u16, u16), per_subscriber: u64) {
        self.push(
            t,
            EventKind::DeterministicEpoch,
            ip(inside[0].0),
            ip(pool[0].0),
            ports,
            Reason::Config,
            per_subscriber,
        );
        for (a, len) in inside {
            self.push(
                t,
                EventKind::DeterministicPrefix,
                ip(a),
                Ipv4Addr::UNSPECIFIED,
                (0, 0),
                Reason::Config,
                *len as u64,
            );
        }
        for (a, len) in pool {
            self.push(
                t,
                EventKind::DeterministicPrefix,
                Ipv4Addr::UNSPECIFIED,
                ip(a),
                (0, 0),
                Reason::Config,
                *len as u64,
            );
        }
    }

    /// Takes the records so far (the run goes on).
    pub fn take(&mut self) -> Vec<LogRecord> {
        std::mem::take(&mut self.records)
    }
}

/// A file format.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fmt {
    /// The text format.
    Text,
    /// JSON lines.
    Json,
    /// cgnatd's RFC 5424 file.
    Syslog,
}

/// The lines of `records` in format `f`.
pub fn render(records: &[LogRecord], f: Fmt) -> String {
    let h = syslog::SyslogHeader {
        hostname: "cgnat1".into(),
        ..syslog::SyslogHeader::default()
    };
    let mut s = String::new();
    for r in records {
        match f {
            Fmt::Text => text::format_into(r, &mut s),
            Fmt::Json => json::format_into(r, &mut s),
            Fmt::Syslog => {
                syslog::format_into(&h, r, &mut s);
                s.push('\n');
            }
        }
    }
    s
}

/// Writes `records` to `path` in format `f`, gzip-compressed if `gz`.
pub fn write(path: &Path, records: &[LogRecord], f: Fmt, gz: bool) {
    let s = render(records, f);
    if gz {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(s.as_bytes()).unwrap();
        std::fs::write(path, e.finish().unwrap()).unwrap();
    } else {
        std::fs::write(path, s).unwrap();
    }
}

/// Run A of [`crash_scenario`].
pub const RUN_A: u64 = 0xaaaa_0000_0000_0001;
/// Run B of [`crash_scenario`].
pub const RUN_B: u64 = 0xbbbb_0000_0000_0002;
/// Run C of [`crash_scenario`].
pub const RUN_C: u64 = 0xcccc_0000_0000_0003;
/// The public address of [`crash_scenario`].
pub const PUBLIC: &str = "203.0.113.3";
/// One block.
pub const LOW: (u16, u16) = (1024, 1535);
/// Another block.
pub const HIGH: (u16, u16) = (1536, 2047);

/// A log with a crash, a clean stop and a live run, rotated under both
/// namings, gzip and mixed formats, in `dir`; returns the files:
///
/// - run A starts, allocates LOW to .1 and HIGH to .2, releases LOW;
///   rotation (`nat.log.20231114T221320Z.gz`, text, gzip); the new file
///   (`nat.log.1`, JSON) restates HIGH, allocates LOW to .3; then A
///   crashes (no daemon-stop) with both blocks open;
/// - run B starts, gives HIGH to .4, releases it and stops cleanly
///   (`nat.log`, cgnatd's syslog format) ...
/// - ... followed in the same file by run C (text), still live with LOW
///   held by .5.
pub fn crash_scenario(dir: &Path) -> Vec<PathBuf> {
    let mut a = Run::start(RUN_A, T0);
    a.alloc(T0 + SEC, "100.64.1.1", PUBLIC, LOW);
    a.alloc(T0 + 2 * SEC, "100.64.1.2", PUBLIC, HIGH);
    a.release(T0 + 10 * SEC, "100.64.1.1", PUBLIC, LOW);
    let first = a.take();
    a.interim(T0 + 11 * SEC, "100.64.1.2", PUBLIC, HIGH, T0 + 2 * SEC);
    a.alloc(T0 + 20 * SEC, "100.64.1.3", PUBLIC, LOW);
    a.push(
        T0 + 30 * SEC,
        EventKind::PoolExhausted,
        ip("100.64.1.9"),
        ip(PUBLIC),
        (0, 0),
        Reason::Limit,
        0,
    );
    let second = a.take();
    let mut b = Run::start(RUN_B, T0 + 100 * SEC);
    b.alloc(T0 + 101 * SEC, "100.64.1.4", PUBLIC, HIGH);
    b.release(T0 + 110 * SEC, "100.64.1.4", PUBLIC, HIGH);
    b.stop(T0 + 120 * SEC);
    let mut c = Run::start(RUN_C, T0 + 200 * SEC);
    c.alloc(T0 + 201 * SEC, "100.64.1.5", PUBLIC, LOW);
    let f1 = dir.join("nat.log.20231114T221320Z.gz");
    let f2 = dir.join("nat.log.1");
    let f3 = dir.join("nat.log");
    write(&f1, &first, Fmt::Text, true);
    write(&f2, &second, Fmt::Json, false);
    let mut last = render(&b.records, Fmt::Syslog);
    last.push_str(&render(&c.records, Fmt::Text));
    std::fs::write(&f3, last).unwrap();
    vec![f3, f2, f1]
}
