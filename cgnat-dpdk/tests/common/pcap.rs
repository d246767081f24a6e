//! Minimal pcap (libpcap classic format) writer and reader, by hand.
//!
//! File: 24-byte global header (magic, version 2.4, thiszone, sigfigs,
//! snaplen, linktype 1 = Ethernet), then per packet a 16-byte record header
//! (ts_sec, ts_frac, caplen, len) and the bytes. Magic `a1b2c3d4` means
//! microsecond fractions, `a1b23c4d` nanoseconds.

use std::path::Path;

/// One packet of a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Seconds since the epoch.
    pub sec: u32,
    /// Fraction: microseconds or nanoseconds (see `nanos`).
    pub frac: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;

/// Writes a microsecond-resolution, little-endian Ethernet pcap.
pub fn write(path: &Path, records: &[Record]) {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC_US.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for r in records {
        out.extend_from_slice(&r.sec.to_le_bytes());
        out.extend_from_slice(&r.frac.to_le_bytes());
        out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&r.data);
    }
    std::fs::write(path, out).expect("write pcap");
}

/// Reads a pcap (either byte order, µs or ns); returns (nanos?, records).
pub fn read(path: &Path) -> (bool, Vec<Record>) {
    let b = std::fs::read(path).expect("read pcap");
    assert!(b.len() >= 24, "{}: truncated pcap header", path.display());
    let magic_le = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let magic_be = u32::from_be_bytes(b[0..4].try_into().unwrap());
    let (le, nanos) = match (magic_le, magic_be) {
        (MAGIC_US, _) => (true, false),
        (MAGIC_NS, _) => (true, true),
        (_, MAGIC_US) => (false, false),
        (_, MAGIC_NS) => (false, true),
        _ => panic!("{}: not a pcap file (magic {magic_le:#x})", path.display()),
    };
    let u32_at = |o: usize| {
        let a: [u8; 4] = b[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut off = 24;
    let mut recs = Vec::new();
    while off + 16 <= b.len() {
        let (sec, frac, caplen) = (u32_at(off), u32_at(off + 4), u32_at(off + 8) as usize);
        off += 16;
        assert!(off + caplen <= b.len(), "{}: truncated record", path.display());
        recs.push(Record {
            sec,
            frac,
            data: b[off..off + caplen].to_vec(),
        });
        off += caplen;
    }
    (nanos, recs)
}
