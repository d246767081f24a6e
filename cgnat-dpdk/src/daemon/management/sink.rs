//! Log targets: one writer thread per target, fed through a bounded queue.
//!
//! The management loop hands batches of [`LogRecord`]s to [`Sink::offer`];
//! the writer thread formats them ([`cgnat_core::natlog`]) and writes them
//! to a rolling file, a UDP socket (syslog RFC 5426, IPFIX RFC 7011 section
//! 10.3) or a TCP stream (syslog with RFC 6587 octet counting). A slow or
//! dead target only fills its own queue: the management loop sees
//! [`Sink::room`] reach 0 and stops taking events from the rings (the
//! "never translate without a record" rule), it never blocks on I/O.
//!
//! The writer flushes after `flush_records` records or `flush_interval_ms`,
//! and fsyncs according to the `fsync` policy (see docs/nat-log-format.md).

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant as WallInstant};

use cgnat_core::config::{Fsync, LogConfig, LogTarget, OnStall, TargetFormat, Transport};
use cgnat_core::natlog::syslog::SyslogHeader;
use cgnat_core::natlog::{ipfix, json, syslog, text, LogRecord};

use super::roll::{RollPolicy, RollingFile};

/// Counters of one sink, shared with its writer thread.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Records written (or sent).
    pub written: AtomicU64,
    /// Records queued, not yet written.
    pub pending: AtomicU64,
    /// Write or send errors (each retried, except on `drop` targets).
    pub errors: AtomicU64,
    /// Records dropped (`on_stall = "drop"` targets only).
    pub dropped: AtomicU64,
    /// Set when the writer thread has ended.
    pub done: AtomicBool,
}

/// A log target and its writer thread.
pub struct Sink {
    name: String,
    on_stall: OnStall,
    capacity: u64,
    tx: Option<SyncSender<Vec<LogRecord>>>,
    counters: Arc<SinkCounters>,
    thread: Option<JoinHandle<()>>,
}

/// Where a writer thread puts formatted records.
trait Output: Send {
    /// Writes (or buffers) `records`.
    fn write(&mut self, records: &[LogRecord]) -> io::Result<()>;
    /// Makes buffered output durable as far as the transport allows.
    fn flush(&mut self, fsync: bool) -> io::Result<()>;
}

enum FileFormat {
    Text,
    Json,
    Syslog(SyslogHeader),
}

struct FileOutput {
    format: FileFormat,
    file: RollingFile,
    line: String,
}

impl Output for FileOutput {
    fn write(&mut self, records: &[LogRecord]) -> io::Result<()> {
        for r in records {
            self.line.clear();
            match &self.format {
                FileFormat::Text => text::format_into(r, &mut self.line),
                FileFormat::Json => json::format_into(r, &mut self.line),
                FileFormat::Syslog(h) => {
                    syslog::format_into(h, r, &mut self.line);
                    self.line.push('\n');
                }
            }
            self.file.append(self.line.as_bytes(), r.time.as_secs())?;
        }
        Ok(())
    }

    fn flush(&mut self, fsync: bool) -> io::Result<()> {
        self.file.flush(fsync)
    }
}

struct SyslogUdp {
    sock: UdpSocket,
    header: SyslogHeader,
}

impl Output for SyslogUdp {
    fn write(&mut self, records: &[LogRecord]) -> io::Result<()> {
        for r in records {
            self.sock.send(syslog::format(&self.header, r).as_bytes())?;
        }
        Ok(())
    }

    fn flush(&mut self, _: bool) -> io::Result<()> {
        Ok(())
    }
}

struct SyslogTcp {
    address: String,
    stream: Option<TcpStream>,
    header: SyslogHeader,
    buf: Vec<u8>,
}

impl Output for SyslogTcp {
    fn write(&mut self, records: &[LogRecord]) -> io::Result<()> {
        for r in records {
            self.buf
                .extend_from_slice(syslog::octet_counted(&syslog::format(&self.header, r)).as_bytes());
        }
        Ok(())
    }

    fn flush(&mut self, _: bool) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.address)?;
            s.set_write_timeout(Some(Duration::from_millis(500)))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let s = self.stream.as_mut().expect("connected");
        // A timed-out write may have sent part of the buffer: drop what went
        // out so the stream stays correctly framed.
        let mut sent = 0;
        let r = loop {
            if sent == self.buf.len() {
                break Ok(());
            }
            match s.write(&self.buf[sent..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..sent);
        if let Err(e) = &r {
            if !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
                self.stream = None;
            }
        }
        r
    }
}

struct IpfixUdp {
    sock: UdpSocket,
    encoder: ipfix::Encoder,
    refresh_secs: u64,
    next_templates: Option<u64>,
}

impl Output for IpfixUdp {
    fn write(&mut self, records: &[LogRecord]) -> io::Result<()> {
        let Some(first) = records.first() else { return Ok(()) };
        let t = first.time.as_secs();
        if self.next_templates.map_or(true, |n| t >= n) {
            self.sock.send(&self.encoder.templates(t as u32))?;
            self.next_templates = Some(t + self.refresh_secs);
        }
        for m in self.encoder.data(records) {
            self.sock.send(&m)?;
        }
        Ok(())
    }

    fn flush(&mut self, _: bool) -> io::Result<()> {
        Ok(())
    }
}

fn udp(address: &str) -> io::Result<UdpSocket> {
    let to = address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{address}: no address")))?;
    let sock = UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    sock.connect(to)?;
    Ok(sock)
}

fn header(t: &LogTarget) -> SyslogHeader {
    SyslogHeader {
        facility: t.facility,
        hostname: t.hostname.clone(),
        app_name: t.app_name.clone(),
    }
}

fn output(t: &LogTarget) -> io::Result<Box<dyn Output>> {
    let addr = t.address.clone().unwrap_or_default();
    Ok(match (t.format, t.transport) {
        (TargetFormat::Ipfix, _) => Box::new(IpfixUdp {
            sock: udp(&addr)?,
            encoder: ipfix::Encoder::new(t.observation_domain, t.max_message as usize),
            refresh_secs: t.template_refresh_secs as u64,
            next_templates: None,
        }),
        (TargetFormat::Syslog, Transport::Udp) => Box::new(SyslogUdp {
            sock: udp(&addr)?,
            header: header(t),
        }),
        (TargetFormat::Syslog, Transport::Tcp) => Box::new(SyslogTcp {
            address: addr,
            stream: None,
            header: header(t),
            buf: Vec::new(),
        }),
        (f, _) => {
            let path = t.file.clone().unwrap_or_default();
            let policy = RollPolicy {
                max_bytes: t.rotate_bytes,
                period_secs: t.rotate_secs,
                keep_files: t.keep_files,
                max_age_secs: t.max_age_secs,
                compress: t.compress,
            };
            let format = match f {
                TargetFormat::Json => FileFormat::Json,
                TargetFormat::Syslog => FileFormat::Syslog(header(t)),
                _ => FileFormat::Text,
            };
            Box::new(FileOutput {
                format,
                file: RollingFile::open(&path, policy)?,
                line: String::with_capacity(512),
            })
        }
    })
}

/// Flush settings of a writer thread.
#[derive(Copy, Clone)]
struct Policy {
    records: u64,
    interval: Duration,
    fsync: Fsync,
    retry: bool,
}

fn writer(mut out: Box<dyn Output>, rx: Receiver<Vec<LogRecord>>, c: Arc<SinkCounters>, p: Policy) {
    let mut unflushed = 0u64;
    let mut since: Option<WallInstant> = None;
    let mut closed = false;
    loop {
        let wait = since.map_or(Duration::from_secs(3600), |s| p.interval.saturating_sub(s.elapsed()));
        let mut batch = None;
        if !closed {
            match rx.recv_timeout(wait) {
                Ok(b) => batch = Some(b),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => closed = true,
            }
        }
        let force = batch.is_some() && p.fsync == Fsync::Always;
        if let Some(b) = batch {
            // Formatting into a buffer does not fail for files/TCP; UDP send
            // errors are counted and retried like other errors.
            while let Err(_e) = out.write(&b) {
                c.errors.fetch_add(1, Ordering::Relaxed);
                if !p.retry {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            unflushed += b.len() as u64;
            since.get_or_insert_with(WallInstant::now);
        }
        let due = force || unflushed >= p.records || since.is_some_and(|s| s.elapsed() >= p.interval) || (closed && unflushed > 0);
        if due {
            let fsync = p.fsync != Fsync::Never;
            loop {
                match out.flush(fsync || closed) {
                    Ok(()) => break,
                    Err(_) => {
                        c.errors.fetch_add(1, Ordering::Relaxed);
                        if !p.retry {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            c.written.fetch_add(unflushed, Ordering::Relaxed);
            c.pending.fetch_sub(unflushed, Ordering::Relaxed);
            unflushed = 0;
            since = None;
        }
        if closed && unflushed == 0 {
            break;
        }
    }
    c.done.store(true, Ordering::Release);
}

impl Sink {
    /// Opens target `t` (file created, sockets bound; a TCP collector is
    /// connected on the first write) and starts its writer thread.
    pub fn open(t: &LogTarget, log: &LogConfig) -> io::Result<Sink> {
        let out = output(t)?;
        let name = t.name();
        let capacity = log.sink_buffer as u64;
        let (tx, rx) = sync_channel(capacity as usize + 1);
        let counters = Arc::new(SinkCounters::default());
        let policy = Policy {
            records: log.flush_records as u64,
            interval: Duration::from_millis(log.flush_interval_ms as u64),
            fsync: log.fsync,
            // UDP is best effort (RFC 5426, RFC 7011 section 10.3): a send
            // error (no collector) is counted, not retried.
            retry: t.on_stall == OnStall::Block && t.transport != Transport::Udp,
        };
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name(format!("cgnat-log-{}", t.format.name()))
            .spawn(move || writer(out, rx, c, policy))?;
        Ok(Sink {
            name,
            on_stall: t.on_stall,
            capacity,
            tx: Some(tx),
            counters,
            thread: Some(thread),
        })
    }

    /// The target's name (`text:/path`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records this sink may buffer (`log.sink_buffer`).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Counters.
    pub fn counters(&self) -> &Arc<SinkCounters> {
        &self.counters
    }

    /// Records this sink can take now without exceeding its buffer
    /// (`u64::MAX` for `drop` targets: they never hold the log back).
    pub fn room(&self) -> u64 {
        match self.on_stall {
            OnStall::Drop => u64::MAX,
            OnStall::Block => self.capacity.saturating_sub(self.counters.pending.load(Ordering::Relaxed)),
        }
    }

    /// Whether the buffer is full.
    pub fn stalled(&self) -> bool {
        self.capacity <= self.counters.pending.load(Ordering::Relaxed)
    }

    /// Queues `records`. A `block` target is only offered what
    /// [`Sink::room`] allows; a `drop` target drops what does not fit.
    pub fn offer(&self, records: Vec<LogRecord>) {
        let n = records.len() as u64;
        let c = &self.counters;
        if self.on_stall == OnStall::Drop && c.pending.load(Ordering::Relaxed) + n > self.capacity {
            c.dropped.fetch_add(n, Ordering::Relaxed);
            return;
        }
        let Some(tx) = &self.tx else { return };
        c.pending.fetch_add(n, Ordering::Relaxed);
        match tx.try_send(records) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                c.pending.fetch_sub(n, Ordering::Relaxed);
                c.dropped.fetch_add(n, Ordering::Relaxed);
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Closes the queue, lets the writer write and fsync everything, and
    /// waits up to `deadline` for it. Returns the records not written.
    pub fn close(mut self, deadline: Duration) -> u64 {
        self.tx = None;
        let start = WallInstant::now();
        while !self.counters.done.load(Ordering::Acquire) && start.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.counters.done.load(Ordering::Acquire) {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
            0
        } else {
            self.counters.pending.load(Ordering::Relaxed)
        }
    }
}

/// Short format names for thread names.
trait FormatName {
    fn name(self) -> &'static str;
}

impl FormatName for TargetFormat {
    fn name(self) -> &'static str {
        match self {
            TargetFormat::Text => "text",
            TargetFormat::Json => "json",
            TargetFormat::Syslog => "syslog",
            TargetFormat::Ipfix => "ipfix",
        }
    }
}
