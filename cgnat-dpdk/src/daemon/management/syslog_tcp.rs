//! RFC 5424 syslog over TCP with RFC 6587 octet-counting framing
//! (section 3.4.1: `MSG-LEN SP SYSLOG-MSG`), at least once (issue 10 item 6).
//!
//! - **Whole frames only.** The socket is non-blocking; a frame that went
//!   out in part is finished on the same connection before anything else.
//!   A new connection always starts at the beginning of a frame.
//! - **Acknowledged = durable.** Bytes written on a connection minus the
//!   kernel's send queue (`ioctl(SIOCOUTQ)`, only trusted while the
//!   connection is established) are the bytes the peer's TCP acknowledged;
//!   a frame is durable when its last byte is. That is what
//!   `LogPipeline::durable_seq` publishes for this target.
//! - **Re-send what a broken connection may have lost.** Every frame not
//!   acknowledged is kept, and so is every frame acknowledged less than
//!   [`RESEND_WINDOW`] ago: a collector that stops with data acknowledged
//!   but not yet read from its socket loses it (its kernel answers with a
//!   reset), so on reconnect those are sent again too. A collector may
//!   therefore see a record twice; `seq` (with `run`) lets it deduplicate.
//! - Reconnects back off from 50 ms to 1 s; while disconnected the frames
//!   wait, the target's pending count grows, and an `on_stall = "block"`
//!   target stalls the log when its buffer is full (new blocks refused).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant as WallInstant};

use cgnat_core::natlog::syslog::{self, SyslogHeader};
use cgnat_core::natlog::LogRecord;

use super::output::Output;

/// How long an acknowledged frame is kept for a re-send after a reset.
pub const RESEND_WINDOW: Duration = Duration::from_secs(2);
/// At most this many acknowledged frames are kept for re-sending.
const RESEND_MAX: usize = 65_536;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

struct Frame {
    bytes: Vec<u8>,
    /// Offset on the current connection just past this frame, once sent.
    end: Option<u64>,
    /// When the peer acknowledged it (counted durable then).
    acked: Option<WallInstant>,
}

/// The TCP syslog output.
pub struct SyslogTcp {
    address: String,
    header: SyslogHeader,
    stream: Option<TcpStream>,
    /// Kept frames: acknowledged ones (for a re-send), then unacknowledged.
    frames: VecDeque<Frame>,
    /// Index in `frames` of the next frame to (finish to) send.
    next: usize,
    /// Bytes of `frames[next]` already sent.
    offset: usize,
    /// Bytes sent on the current connection.
    sent: u64,
    /// Frames acknowledged since open (a prefix of those appended).
    durable: u64,
    retry_at: Option<WallInstant>,
    backoff: Duration,
    line: String,
    /// Connections made (1 = the first).
    connections: u64,
}

impl SyslogTcp {
    /// A target sending to `address` (connected at the first commit).
    pub fn new(address: String, header: SyslogHeader) -> SyslogTcp {
        SyslogTcp {
            address,
            header,
            stream: None,
            frames: VecDeque::new(),
            next: 0,
            offset: 0,
            sent: 0,
            durable: 0,
            retry_at: None,
            backoff: BACKOFF_MIN,
            line: String::with_capacity(512),
            connections: 0,
        }
    }

    fn connect(&mut self) -> io::Result<()> {
        let result = (|| {
            let to = self
                .address
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
            let s = TcpStream::connect_timeout(&to, Duration::from_secs(1))?;
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })();
        match result {
            Ok(s) => {
                self.stream = Some(s);
                self.connections += 1;
                self.retry_at = None;
                self.backoff = BACKOFF_MIN;
                // Everything kept is sent again, from the start of a frame.
                self.next = 0;
                self.offset = 0;
                self.sent = 0;
                for f in &mut self.frames {
                    f.end = None;
                }
                Ok(())
            }
            Err(e) => {
                self.broken();
                Err(e)
            }
        }
    }

    /// Drops the connection; the next attempt waits for the back-off.
    fn broken(&mut self) {
        self.stream = None;
        self.retry_at = Some(WallInstant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Sends whole frames while the socket takes them.
    fn send(&mut self) -> io::Result<()> {
        let Some(s) = self.stream.as_mut() else { return Ok(()) };
        while let Some(f) = self.frames.get_mut(self.next) {
            match s.write(&f.bytes[self.offset..]) {
                Ok(0) => {
                    self.broken();
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => {
                    self.offset += n;
                    self.sent += n as u64;
                    if self.offset == f.bytes.len() {
                        f.end = Some(self.sent);
                        self.next += 1;
                        self.offset = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.broken();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Counts the frames the peer acknowledged; finds a connection the peer
    /// closed or reset.
    fn poll(&mut self) {
        let Some(s) = self.stream.as_mut() else { return };
        let fd = s.as_raw_fd();
        let mut outq: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one c_int.
        let ok = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut outq) } == 0;
        // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes.
        let state = unsafe {
            let mut info: libc::tcp_info = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
            let r = libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                &mut info as *mut _ as *mut libc::c_void,
                &mut len,
            );
            (r == 0).then_some(info.tcpi_state)
        };
        // 1 = TCP_ESTABLISHED, 8 = TCP_CLOSE_WAIT (peer sent FIN; what it
        // acknowledged before still counts).
        let trusted = ok && matches!(state, Some(1) | Some(8));
        if trusted {
            let acked = self.sent.saturating_sub(outq.max(0) as u64);
            let now = WallInstant::now();
            for f in self.frames.iter_mut().take(self.next) {
                match f.end {
                    Some(end) if end <= acked => {
                        if f.acked.is_none() {
                            f.acked = Some(now);
                            self.durable += 1;
                        }
                    }
                    _ => break,
                }
            }
        }
        // A closed (FIN: read gives 0) or reset connection is dropped.
        let mut b = [0u8; 256];
        let gone = match s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted),
        };
        if gone || !trusted {
            self.broken();
        }
        // Forget acknowledged frames once outside the re-send window.
        while self
            .frames
            .front()
            .is_some_and(|f| f.acked.is_some_and(|t| t.elapsed() > RESEND_WINDOW) || (f.acked.is_some() && self.frames.len() > RESEND_MAX))
            && self.next > 0
        {
            self.frames.pop_front();
            self.next -= 1;
        }
    }

    /// Connections made so far.
    pub fn connections(&self) -> u64 {
        self.connections
    }
}

impl Output for SyslogTcp {
    fn append(&mut self, r: &LogRecord) {
        self.line.clear();
        syslog::format_into(&self.header, r, &mut self.line);
        self.frames.push_back(Frame {
            bytes: syslog::octet_counted(&self.line).into_bytes(),
            end: None,
            acked: None,
        });
    }

    fn commit(&mut self, _fsync: bool) -> io::Result<()> {
        if self.stream.is_none() {
            // Nothing to send, or waiting out the back-off: no attempt.
            if self.frames.iter().all(|f| f.acked.is_some()) || self.retry_at.is_some_and(|t| WallInstant::now() < t) {
                return Ok(());
            }
            self.connect()?;
        }
        self.send()?;
        self.poll();
        Ok(())
    }

    fn durable_count(&mut self) -> u64 {
        self.poll();
        self.durable
    }

    fn busy(&self) -> bool {
        self.frames.iter().any(|f| f.acked.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgnat_core::event::{EventKind, ProtocolScope, Reason};
    use cgnat_core::Instant;
    use std::net::TcpListener;

    fn rec(seq: u64) -> LogRecord {
        LogRecord {
            seq,
            time: Instant::from_micros(1_700_000_000_000_000 + seq),
            event: EventKind::BlockAllocated,
            subscriber: [100, 64, 0, 1].into(),
            public_addr: [203, 0, 113, 1].into(),
            first_port: 1024,
            last_port: 1535,
            protocol: ProtocolScope::All,
            reason: Reason::NewMapping,
            producer: 0,
            producer_seq: seq,
            aux: 0,
            run: 1,
        }
    }

    fn frames(mut b: &[u8]) -> (Vec<u64>, usize) {
        let mut seqs = Vec::new();
        while let Some(sp) = b.iter().position(|c| *c == b' ') {
            let n: usize = std::str::from_utf8(&b[..sp])
                .unwrap()
                .parse()
                .expect("a frame starts with its length");
            if b.len() < sp + 1 + n {
                break;
            }
            let m = std::str::from_utf8(&b[sp + 1..sp + 1 + n]).unwrap();
            let s = m.split("seq=\"").nth(1).unwrap().split('"').next().unwrap();
            seqs.push(s.parse().unwrap());
            b = &b[sp + 1 + n..];
        }
        (seqs, b.len())
    }

    /// Issue 10 item 6: a collector that resets the connection mid-stream
    /// (closing with unread data); on reconnect whole frames are sent
    /// again, from a frame boundary, and every record arrives.
    #[test]
    fn a_reset_connection_resends_whole_frames_and_loses_nothing() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut out = SyslogTcp::new(
            l.local_addr().unwrap().to_string(),
            SyslogHeader {
                facility: 16,
                hostname: "h".into(),
                app_name: "cgnatd".into(),
            },
        );
        for i in 0..200 {
            out.append(&rec(i));
        }
        out.commit(true).unwrap();
        let (first, _) = l.accept().unwrap();
        // Read a part, then close with data unread: the kernel resets.
        let mut part = vec![0u8; 3000];
        let mut got = 0;
        first.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while got < 3000 {
            got += (&first).read(&mut part[got..]).unwrap();
        }
        drop(first);
        for i in 200..400 {
            out.append(&rec(i));
        }
        // The writer finds the broken connection, reconnects and re-sends.
        let mut all = Vec::new();
        l.set_nonblocking(true).unwrap();
        let deadline = WallInstant::now() + Duration::from_secs(10);
        let mut second = None;
        while out.durable_count() < 400 {
            assert!(WallInstant::now() < deadline, "not all acknowledged: {}", out.durable);
            let _ = out.commit(true);
            if second.is_none() {
                if let Ok((s, _)) = l.accept() {
                    s.set_nonblocking(true).unwrap();
                    second = Some(s);
                }
            }
            if let Some(s) = second.as_mut() {
                let mut b = [0u8; 65536];
                while let Ok(n) = s.read(&mut b) {
                    if n == 0 {
                        break;
                    }
                    all.extend_from_slice(&b[..n]);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(out.connections() >= 2);
        let (seqs, rest) = frames(&all);
        assert_eq!(rest, 0, "the new connection carries whole frames only");
        let mut uniq = seqs.clone();
        uniq.sort();
        uniq.dedup();
        // Everything not read on the first connection came on the second.
        let (first_seqs, _) = frames(&part);
        let mut every: Vec<u64> = first_seqs.into_iter().chain(uniq).collect();
        every.sort();
        every.dedup();
        assert_eq!(every, (0..400).collect::<Vec<_>>(), "every seq arrived at least once");
    }
}
