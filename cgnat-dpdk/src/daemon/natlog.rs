//! The interim NAT log: drains the workers' event rings and writes one text
//! line per event. The management-core issue replaces this module (syslog,
//! IPFIX, JSON, rolling files); the line format is:
//!
//! ```text
//! 2023-11-14T22:13:20.001000Z block-alloc subscriber=100.64.1.10 public=203.0.113.3 ports=1536-2047 protocol=all reason=new-mapping producer=0 seq=0 aux=0
//! ```
//!
//! `producer` is the worker id, or `mgmt` for the management core (sweeper,
//! configuration records).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use cgnat_core::event::MANAGEMENT_WORKER;
use cgnat_core::ring::Consumer;
use cgnat_core::Event;

/// One line (without the newline) for `e`.
pub fn format_event(e: &Event) -> String {
    let producer = if e.worker == MANAGEMENT_WORKER {
        "mgmt".to_string()
    } else {
        e.worker.to_string()
    };
    format!(
        "{} {} subscriber={} public={} ports={}-{} protocol={} reason={} producer={} seq={} aux={}",
        e.time,
        e.kind.name(),
        e.subscriber,
        e.public_addr,
        e.first_port,
        e.last_port,
        e.protocol.name(),
        e.reason.name(),
        producer,
        e.seq,
        e.aux
    )
}

/// The text log file.
pub struct TextLog {
    out: BufWriter<File>,
    path: PathBuf,
    written: u64,
}

impl TextLog {
    /// Opens `path` for appending, creating it and its directory.
    pub fn open(path: &Path) -> std::io::Result<TextLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(TextLog {
            out: BufWriter::new(f),
            path: path.to_path_buf(),
            written: 0,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes events in their total order (time, producer, sequence).
    pub fn write_sorted(&mut self, events: &mut [Event]) -> std::io::Result<()> {
        events.sort_by_key(|e| e.order_key());
        for e in events.iter() {
            writeln!(self.out, "{}", format_event(e))?;
        }
        self.written += events.len() as u64;
        Ok(())
    }

    /// Flushes buffered lines to the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Collects events from every worker's ring (and the management core's
/// own queue) and writes them.
pub struct EventDrain {
    rings: Vec<Consumer<Event>>,
    batch: Vec<Event>,
    log: TextLog,
}

impl EventDrain {
    /// Drains `rings` into `log`.
    pub fn new(rings: Vec<Consumer<Event>>, log: TextLog) -> EventDrain {
        EventDrain {
            rings,
            batch: Vec::with_capacity(4096),
            log,
        }
    }

    /// Moves every queued event (plus `extra`, which is emptied) to the log.
    /// Returns how many were written.
    pub fn drain(&mut self, extra: &mut Vec<Event>) -> std::io::Result<usize> {
        self.batch.append(extra);
        for r in &mut self.rings {
            while let Some(e) = r.pop() {
                self.batch.push(e);
            }
        }
        let n = self.batch.len();
        if n > 0 {
            self.log.write_sorted(&mut self.batch)?;
            self.batch.clear();
        }
        Ok(n)
    }

    /// The log.
    pub fn log_mut(&mut self) -> &mut TextLog {
        &mut self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgnat_core::event::{EventKind, ProtocolScope, Reason};
    use cgnat_core::Instant;

    #[test]
    fn line_format() {
        let e = Event {
            seq: 3,
            worker: 1,
            time: Instant::from_micros(1_700_000_000_001_000),
            kind: EventKind::BlockAllocated,
            subscriber: [100, 64, 1, 10].into(),
            public_addr: [203, 0, 113, 3].into(),
            first_port: 1536,
            last_port: 2047,
            protocol: ProtocolScope::All,
            reason: Reason::NewMapping,
            aux: 0,
        };
        assert_eq!(
            format_event(&e),
            "2023-11-14T22:13:20.001000Z block-alloc subscriber=100.64.1.10 public=203.0.113.3 ports=1536-2047 \
             protocol=all reason=new-mapping producer=1 seq=3 aux=0"
        );
    }
}
