//! Minimal classic pcap files (microsecond timestamps, Ethernet link type):
//! the replay output writer, and a reader for tests and comparisons.
//!
//! Replay writes its output pcaps itself, stamping every frame with the
//! packet clock at the time it was sent (the capture time of the input
//! frame that caused it), so a replay's output is a pure function of its
//! input and configuration, byte for byte. (net_pcap's own `tx_pcap`
//! stamps frames with the wall clock.)

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

/// Classic pcap magic, microsecond resolution.
const MAGIC_US: u32 = 0xa1b2_c3d4;
/// Classic pcap magic, nanosecond resolution.
const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length written in the header.
const SNAPLEN: u32 = 65_535;

/// One frame of a pcap file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Capture time, microseconds since the Unix epoch.
    pub micros: u64,
    /// Frame bytes.
    pub data: Vec<u8>,
}

/// Writes a pcap file.
pub struct PcapWriter {
    out: BufWriter<File>,
    frames: u64,
}

impl PcapWriter {
    /// Creates (truncates) `path` and writes the file header.
    pub fn create(path: &Path) -> std::io::Result<PcapWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&MAGIC_US.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, frames: 0 })
    }

    /// Appends one frame captured at `micros`.
    pub fn write(&mut self, micros: u64, data: &[u8]) -> std::io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flushes the file.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.out.flush()?;
        Ok(self.frames)
    }
}

/// Reads every record of a classic pcap file (either byte order,
/// micro- or nanosecond timestamps, converted to microseconds).
pub fn read(path: &Path) -> std::io::Result<Vec<Record>> {
    let mut buf = Vec::new();
    File::open(path)?.read_to_end(&mut buf)?;
    parse(&buf).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: not a classic pcap file", path.display()),
        )
    })
}

/// Parses a classic pcap file image.
pub fn parse(buf: &[u8]) -> Option<Vec<Record>> {
    let magic = u32::from_le_bytes(buf.get(0..4)?.try_into().ok()?);
    let (le, nanos) = match magic {
        MAGIC_US => (true, false),
        MAGIC_NS => (true, true),
        m if m.swap_bytes() == MAGIC_US => (false, false),
        m if m.swap_bytes() == MAGIC_NS => (false, true),
        _ => return None,
    };
    let u32_at = |b: &[u8], i: usize| -> Option<u32> {
        let a: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
        Some(if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
    };
    let mut out = Vec::new();
    let mut i = 24;
    while i < buf.len() {
        let sec = u32_at(buf, i)? as u64;
        let frac = u32_at(buf, i + 4)? as u64;
        let len = u32_at(buf, i + 8)? as usize;
        let data = buf.get(i + 16..i + 16 + len)?.to_vec();
        let micros = sec * 1_000_000 + if nanos { frac / 1000 } else { frac };
        out.push(Record { micros, data });
        i += 16 + len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let p = std::env::temp_dir().join(format!("cgnatd-pcap-test-{}.pcap", std::process::id()));
        let mut w = PcapWriter::create(&p).unwrap();
        w.write(1_700_000_000_123_456, &[1, 2, 3]).unwrap();
        w.write(1_700_000_001_000_000, &[4; 60]).unwrap();
        assert_eq!(w.finish().unwrap(), 2);
        let r = read(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].micros, 1_700_000_000_123_456);
        assert_eq!(r[0].data, vec![1, 2, 3]);
        assert_eq!(r[1].data.len(), 60);
    }
}
