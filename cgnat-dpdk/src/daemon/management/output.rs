//! Where a log writer thread puts records: the [`Output`] trait and the
//! file (text, JSON lines, RFC 5424), UDP syslog (RFC 5426) and IPFIX
//! (RFC 7011 section 10.3) outputs; TCP syslog is in [`super::syslog_tcp`].
//!
//! Appending only formats into a buffer and cannot fail; [`Output::commit`]
//! does the I/O and either takes effect for whole records or leaves them
//! buffered for a retry — never half a record, never a record twice.

use std::io;
use std::net::{ToSocketAddrs, UdpSocket};

use cgnat_core::config::{LogTarget, TargetFormat, Transport};
use cgnat_core::natlog::syslog::SyslogHeader;
use cgnat_core::natlog::{ipfix, json, syslog, text, LogRecord};

use super::compress::Report;
use super::files::FilePerms;
use super::roll::{RollPolicy, RollingFile};
use super::syslog_tcp::SyslogTcp;

/// A log target's transport, as its writer thread sees it.
pub trait Output: Send {
    /// Whether `r` must go to a new file (or a failed rotation is to be
    /// finished). Files only.
    fn rotation_due(&mut self, _r: &LogRecord) -> bool {
        false
    }

    /// Starts a new file whose first record will be `r`. Resumable.
    fn rotate(&mut self, _r: &LogRecord) -> io::Result<()> {
        Ok(())
    }

    /// Buffers `r`.
    fn append(&mut self, r: &LogRecord);

    /// Writes what is buffered and makes it as durable as the transport
    /// allows (files: fsync when `fsync`). On error nothing is written
    /// twice and the rest stays buffered for the next call.
    fn commit(&mut self, fsync: bool) -> io::Result<()>;

    /// How many of the records appended since open are durable (a prefix).
    fn durable_count(&mut self) -> u64;

    /// Whether records wait for something other than a commit (a TCP
    /// acknowledgement): the writer keeps polling.
    fn busy(&self) -> bool {
        false
    }

    /// Waits for background work (compression) to finish.
    fn settle(&mut self) {}

    /// Whether the output starts empty (a new file): blocks held are then
    /// restated at its start.
    fn fresh(&self) -> bool {
        false
    }

    /// Whether several received batches may be committed as one (false
    /// where batching shows in the output, as IPFIX messages: replays stay
    /// byte-identical).
    fn coalesce(&self) -> bool {
        true
    }
}

enum FileFormat {
    Text,
    Json,
    Syslog(SyslogHeader),
}

/// A rolling file in one of the line formats.
pub struct FileOutput {
    format: FileFormat,
    file: RollingFile,
    line: String,
    appended: u64,
    durable: u64,
}

impl FileOutput {
    fn format(&mut self, r: &LogRecord) {
        self.line.clear();
        match &self.format {
            FileFormat::Text => text::format_into(r, &mut self.line),
            FileFormat::Json => json::format_into(r, &mut self.line),
            FileFormat::Syslog(h) => {
                syslog::format_into(h, r, &mut self.line);
                self.line.push('\n');
            }
        }
    }
}

impl Output for FileOutput {
    fn rotation_due(&mut self, r: &LogRecord) -> bool {
        self.format(r);
        let len = self.line.len();
        self.file.rotation_due(len, r.time.as_secs())
    }

    fn rotate(&mut self, r: &LogRecord) -> io::Result<()> {
        self.file.rotate(r.time.as_secs())
    }

    fn append(&mut self, r: &LogRecord) {
        self.format(r);
        let regular = r.event != cgnat_core::event::EventKind::BlockInterim;
        self.file.append(self.line.as_bytes(), r.time.as_secs(), regular);
        self.appended += 1;
    }

    fn commit(&mut self, fsync: bool) -> io::Result<()> {
        self.file.flush(fsync)?;
        self.durable = self.appended;
        Ok(())
    }

    fn durable_count(&mut self) -> u64 {
        self.durable
    }

    fn settle(&mut self) {
        self.file.settle();
    }

    fn fresh(&self) -> bool {
        self.file.is_empty()
    }
}

/// RFC 5426: one message per datagram, best effort.
struct SyslogUdp {
    sock: UdpSocket,
    header: SyslogHeader,
    queue: Vec<String>,
    appended: u64,
}

impl Output for SyslogUdp {
    fn append(&mut self, r: &LogRecord) {
        self.queue.push(syslog::format(&self.header, r));
        self.appended += 1;
    }

    fn commit(&mut self, _: bool) -> io::Result<()> {
        // A datagram that cannot be sent is lost (RFC 5426 is best effort);
        // the first error is reported.
        let mut err = None;
        for m in self.queue.drain(..) {
            if let Err(e) = self.sock.send(m.as_bytes()) {
                err.get_or_insert(e);
            }
        }
        err.map_or(Ok(()), Err)
    }

    fn durable_count(&mut self) -> u64 {
        self.appended
    }
}

/// RFC 7011 over UDP with the RFC 8158 templates.
struct IpfixUdp {
    sock: UdpSocket,
    encoder: ipfix::Encoder,
    refresh_secs: u64,
    next_templates: Option<u64>,
    queue: Vec<LogRecord>,
    appended: u64,
}

impl Output for IpfixUdp {
    fn append(&mut self, r: &LogRecord) {
        self.queue.push(*r);
        self.appended += 1;
    }

    fn commit(&mut self, _: bool) -> io::Result<()> {
        let Some(first) = self.queue.first() else { return Ok(()) };
        let t = first.time.as_secs();
        let mut err = None;
        if self.next_templates.is_none_or(|n| t >= n) {
            if let Err(e) = self.sock.send(&self.encoder.templates(t as u32)) {
                err.get_or_insert(e);
            }
            self.next_templates = Some(t + self.refresh_secs);
        }
        for m in self.encoder.data(&self.queue) {
            if let Err(e) = self.sock.send(&m) {
                err.get_or_insert(e);
            }
        }
        self.queue.clear();
        err.map_or(Ok(()), Err)
    }

    fn durable_count(&mut self) -> u64 {
        self.appended
    }

    fn coalesce(&self) -> bool {
        false
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

/// Opens the output of target `t`; background problems go to `report`.
pub fn open(t: &LogTarget, perms: FilePerms, report: Report) -> io::Result<Box<dyn Output>> {
    let addr = t.address.clone().unwrap_or_default();
    Ok(match (t.format, t.transport) {
        (TargetFormat::Ipfix, _) => Box::new(IpfixUdp {
            sock: udp(&addr)?,
            encoder: ipfix::Encoder::new(t.observation_domain, t.max_message as usize),
            refresh_secs: t.template_refresh_secs as u64,
            next_templates: None,
            queue: Vec::new(),
            appended: 0,
        }),
        (TargetFormat::Syslog, Transport::Udp) => Box::new(SyslogUdp {
            sock: udp(&addr)?,
            header: header(t),
            queue: Vec::new(),
            appended: 0,
        }),
        (TargetFormat::Syslog, Transport::Tcp) => Box::new(SyslogTcp::new(addr, header(t))),
        (f, _) => {
            let path = t.file.clone().unwrap_or_default();
            let policy = RollPolicy {
                max_bytes: t.rotate_bytes,
                period_secs: t.rotate_secs,
                keep_files: t.keep_files,
                max_age_secs: t.max_age_secs,
                compress: t.compress,
                perms,
            };
            let format = match f {
                TargetFormat::Json => FileFormat::Json,
                TargetFormat::Syslog => FileFormat::Syslog(header(t)),
                _ => FileFormat::Text,
            };
            Box::new(FileOutput {
                format,
                file: RollingFile::open(&path, policy, report)?,
                line: String::with_capacity(512),
                appended: 0,
                durable: 0,
            })
        }
    })
}
