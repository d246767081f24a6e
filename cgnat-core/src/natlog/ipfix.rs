//! IPFIX (RFC 7011) messages carrying NAT log records as RFC 8158 NAT
//! events: pure encoding, the daemon sends the bytes over UDP.
//!
//! Every message starts with the 16-byte header of RFC 7011 section 3.1:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |       Version Number = 10     |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Export Time                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Sequence Number                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Observation Domain ID                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Templates (Set ID 2, RFC 7011 section 3.4.1), following the RFC 8158
//! section 5 templates:
//!
//! | id | used for | fields |
//! | --- | --- | --- |
//! | 256 | `block-alloc` (natEvent 16), `block-release` (17) | observationTimeMicroseconds 324, natEvent 230, sourceIPv4Address 8, postNATSourceIPv4Address 225, portRangeStart 361, portRangeEnd 362, portRangeNumPorts 364 |
//! | 257 | `session-quota`, `block-quota` (natEvent 13 Quota Exceeded, natQuotaExceededEvent 466 = 3 "maximum entries per user") | 324, 230, natQuotaExceededEvent 466, sourceIPv4Address 8, maxEntriesPerUser 473 |
//! | 258 | `table-full` (natEvent 13; natQuotaExceededEvent 1 sessions, 2 BIB/mappings, 4 subscribers) | 324, 230, 466 |
//! | 259 | `pool-exhausted` (natEvent 12 ports exhausted, or 3 addresses exhausted when no public address) | 324, 230, sourceIPv4Address 8, postNATSourceIPv4Address 225 |
//! | 260 | `table-fill-alert` (natEvent 18 Threshold Reached, natThresholdEvent 467 = 3 "address and port mapping high threshold") | 324, 230, natThresholdEvent 467 |
//!
//! `det-epoch` records have no RFC 8158 event and are not exported over
//! IPFIX (the text, JSON and syslog logs carry them). Times are
//! dateTimeMicroseconds, i.e. NTP format (RFC 7011 section 6.1.9); the
//! Export Time of a data message is the second of its last record, so the
//! output is a pure function of the records.

use crate::event::EventKind;

use super::LogRecord;

/// IPFIX version number (RFC 7011 section 3.1).
pub const VERSION: u16 = 10;
/// Message header length.
pub const HEADER_LEN: usize = 16;
/// Template Set ID (RFC 7011 section 3.3.2).
pub const TEMPLATE_SET_ID: u16 = 2;
/// The IANA-registered IPFIX UDP port (RFC 7011 section 10.3.4).
pub const PORT: u16 = 4739;

/// IANA information element ids used here (RFC 8158 section 4, RFC 7012).
pub mod ie {
    /// sourceIPv4Address.
    pub const SOURCE_IPV4_ADDRESS: u16 = 8;
    /// postNATSourceIPv4Address.
    pub const POST_NAT_SOURCE_IPV4_ADDRESS: u16 = 225;
    /// natEvent.
    pub const NAT_EVENT: u16 = 230;
    /// observationTimeMicroseconds.
    pub const OBSERVATION_TIME_MICROSECONDS: u16 = 324;
    /// portRangeStart.
    pub const PORT_RANGE_START: u16 = 361;
    /// portRangeEnd.
    pub const PORT_RANGE_END: u16 = 362;
    /// portRangeNumPorts.
    pub const PORT_RANGE_NUM_PORTS: u16 = 364;
    /// natQuotaExceededEvent.
    pub const NAT_QUOTA_EXCEEDED_EVENT: u16 = 466;
    /// natThresholdEvent.
    pub const NAT_THRESHOLD_EVENT: u16 = 467;
    /// maxEntriesPerUser.
    pub const MAX_ENTRIES_PER_USER: u16 = 473;
}

/// natEvent values (IANA "NAT Event Type", RFC 8158 section 4.1).
pub mod nat_event {
    /// NAT addresses exhausted.
    pub const ADDRESSES_EXHAUSTED: u8 = 3;
    /// NAT ports exhausted.
    pub const PORTS_EXHAUSTED: u8 = 12;
    /// Quota exceeded.
    pub const QUOTA_EXCEEDED: u8 = 13;
    /// Port block allocation.
    pub const PORT_BLOCK_ALLOCATION: u8 = 16;
    /// Port block de-allocation.
    pub const PORT_BLOCK_DEALLOCATION: u8 = 17;
    /// Threshold reached.
    pub const THRESHOLD_REACHED: u8 = 18;
}

/// A template: id and (information element, length) pairs.
pub struct Template {
    /// Template id (>= 256).
    pub id: u16,
    /// The fields in order.
    pub fields: &'static [(u16, u16)],
}

impl Template {
    /// The length of one data record.
    pub const fn record_len(&self) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.fields.len() {
            n += self.fields[i].1 as usize;
            i += 1;
        }
        n
    }
}

use ie::*;
const T: (u16, u16) = (OBSERVATION_TIME_MICROSECONDS, 8);
const E: (u16, u16) = (NAT_EVENT, 1);

/// The templates this exporter uses (see the module table).
pub const TEMPLATES: [Template; 5] = [
    Template {
        id: 256,
        fields: &[
            T,
            E,
            (SOURCE_IPV4_ADDRESS, 4),
            (POST_NAT_SOURCE_IPV4_ADDRESS, 4),
            (PORT_RANGE_START, 2),
            (PORT_RANGE_END, 2),
            (PORT_RANGE_NUM_PORTS, 2),
        ],
    },
    Template {
        id: 257,
        fields: &[
            T,
            E,
            (NAT_QUOTA_EXCEEDED_EVENT, 4),
            (SOURCE_IPV4_ADDRESS, 4),
            (MAX_ENTRIES_PER_USER, 4),
        ],
    },
    Template {
        id: 258,
        fields: &[T, E, (NAT_QUOTA_EXCEEDED_EVENT, 4)],
    },
    Template {
        id: 259,
        fields: &[T, E, (SOURCE_IPV4_ADDRESS, 4), (POST_NAT_SOURCE_IPV4_ADDRESS, 4)],
    },
    Template {
        id: 260,
        fields: &[T, E, (NAT_THRESHOLD_EVENT, 4)],
    },
];

/// Seconds from the NTP epoch (1900) to the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A dateTimeMicroseconds value (RFC 7011 section 6.1.9: NTP format).
pub fn ntp_micros(micros: u64) -> u64 {
    let secs = micros / 1_000_000 + NTP_UNIX_OFFSET;
    // Rounded up, so decoders that truncate show the exact microsecond.
    let frac = ((micros % 1_000_000) << 32).div_ceil(1_000_000);
    (secs << 32) | frac
}

/// The template index and data record bytes for `r`; `None` for records
/// IPFIX does not carry (`det-epoch`).
pub fn encode_record(r: &LogRecord) -> Option<(usize, Vec<u8>)> {
    let mut b = Vec::with_capacity(32);
    b.extend_from_slice(&ntp_micros(r.time.as_micros()).to_be_bytes());
    let sub = r.subscriber.octets();
    let public = r.public_addr.octets();
    let t = match r.event {
        EventKind::BlockAllocated | EventKind::BlockReleased => {
            b.push(if r.event == EventKind::BlockAllocated {
                nat_event::PORT_BLOCK_ALLOCATION
            } else {
                nat_event::PORT_BLOCK_DEALLOCATION
            });
            b.extend_from_slice(&sub);
            b.extend_from_slice(&public);
            b.extend_from_slice(&r.first_port.to_be_bytes());
            b.extend_from_slice(&r.last_port.to_be_bytes());
            let n = (r.last_port as u32 - r.first_port as u32 + 1).min(u16::MAX as u32) as u16;
            b.extend_from_slice(&n.to_be_bytes());
            0
        }
        EventKind::SessionQuotaExceeded | EventKind::BlockQuotaExceeded => {
            b.push(nat_event::QUOTA_EXCEEDED);
            b.extend_from_slice(&3u32.to_be_bytes());
            b.extend_from_slice(&sub);
            b.extend_from_slice(&(r.aux.min(u32::MAX as u64) as u32).to_be_bytes());
            1
        }
        EventKind::TableFull => {
            b.push(nat_event::QUOTA_EXCEEDED);
            let q: u32 = match r.aux {
                1 => 4, // subscribers: maximum active hosts or subscribers
                3 => 2, // mappings: maximum BIB entries
                _ => 1, // sessions: maximum session entries
            };
            b.extend_from_slice(&q.to_be_bytes());
            2
        }
        EventKind::PoolExhausted => {
            b.push(if r.public_addr.is_unspecified() {
                nat_event::ADDRESSES_EXHAUSTED
            } else {
                nat_event::PORTS_EXHAUSTED
            });
            b.extend_from_slice(&sub);
            b.extend_from_slice(&public);
            3
        }
        EventKind::TableFillAlert => {
            b.push(nat_event::THRESHOLD_REACHED);
            b.extend_from_slice(&3u32.to_be_bytes());
            4
        }
        // No RFC 8158 event carries these: runs, clock steps, admission
        // summaries and deterministic epochs are in the local log; restated
        // blocks would read as second allocations to an IPFIX collector.
        EventKind::DeterministicEpoch
        | EventKind::DeterministicPrefix
        | EventKind::DaemonStart
        | EventKind::DaemonStop
        | EventKind::ClockStep
        | EventKind::AdmissionLimited
        | EventKind::BlockInterim
        // PCP mappings: their ports are in blocks already exported.
        | EventKind::PcpMap
        | EventKind::PcpUnmap
        | EventKind::HaTakeover => return None,
    };
    debug_assert_eq!(b.len(), TEMPLATES[t].record_len());
    Some((t, b))
}

/// An IPFIX exporting process's message state for one observation domain
/// (RFC 7011 section 3.1): builds template and data messages and keeps the
/// sequence number (data records sent before each message).
#[derive(Debug, Clone)]
pub struct Encoder {
    domain: u32,
    sequence: u32,
    max_message: usize,
}

impl Encoder {
    /// An encoder for observation domain `domain`, building messages of at
    /// most `max_message` bytes (at least 512; 1400 fits an Ethernet path).
    pub fn new(domain: u32, max_message: usize) -> Encoder {
        Encoder {
            domain,
            sequence: 0,
            max_message: max_message.max(512),
        }
    }

    /// The sequence number the next message will carry.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    fn header(&self, out: &mut Vec<u8>, export_time: u32) {
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&export_time.to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.domain.to_be_bytes());
    }

    fn finish(out: &mut [u8]) {
        let len = out.len() as u16;
        out[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// One message with every template (sent at start and periodically,
    /// RFC 7011 section 8.4 for UDP).
    pub fn templates(&mut self, export_time: u32) -> Vec<u8> {
        let mut m = Vec::with_capacity(160);
        self.header(&mut m, export_time);
        let set_start = m.len();
        m.extend_from_slice(&TEMPLATE_SET_ID.to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        for t in &TEMPLATES {
            m.extend_from_slice(&t.id.to_be_bytes());
            m.extend_from_slice(&(t.fields.len() as u16).to_be_bytes());
            for (id, len) in t.fields {
                m.extend_from_slice(&id.to_be_bytes());
                m.extend_from_slice(&len.to_be_bytes());
            }
        }
        let set_len = (m.len() - set_start) as u16;
        m[set_start + 2..set_start + 4].copy_from_slice(&set_len.to_be_bytes());
        Self::finish(&mut m);
        m
    }

    /// Data messages for `records` (records IPFIX does not carry are
    /// skipped). Consecutive records of one template share a data set.
    pub fn data(&mut self, records: &[LogRecord]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut msg: Vec<u8> = Vec::new();
        let mut set: Option<(usize, usize)> = None; // (template, set start)
        let mut in_msg = 0u32;
        let flush = |msg: &mut Vec<u8>, set: &mut Option<(usize, usize)>, out: &mut Vec<Vec<u8>>| {
            if let Some((_, start)) = set.take() {
                let l = (msg.len() - start) as u16;
                msg[start + 2..start + 4].copy_from_slice(&l.to_be_bytes());
            }
            if msg.len() > HEADER_LEN {
                Self::finish(msg);
                out.push(core::mem::take(msg));
            }
            msg.clear();
        };
        for r in records {
            let Some((t, bytes)) = encode_record(r) else { continue };
            let export = r.time.as_secs() as u32;
            if !msg.is_empty() && msg.len() + 4 + bytes.len() > self.max_message {
                flush(&mut msg, &mut set, &mut out);
                self.sequence = self.sequence.wrapping_add(in_msg);
                in_msg = 0;
            }
            if msg.is_empty() {
                self.header(&mut msg, export);
            }
            msg[4..8].copy_from_slice(&export.to_be_bytes());
            if set.map(|s| s.0) != Some(t) {
                if let Some((_, start)) = set {
                    let l = (msg.len() - start) as u16;
                    msg[start + 2..start + 4].copy_from_slice(&l.to_be_bytes());
                }
                set = Some((t, msg.len()));
                msg.extend_from_slice(&TEMPLATES[t].id.to_be_bytes());
                msg.extend_from_slice(&[0, 0]);
            }
            msg.extend_from_slice(&bytes);
            in_msg += 1;
        }
        flush(&mut msg, &mut set, &mut out);
        self.sequence = self.sequence.wrapping_add(in_msg);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    fn u16_at(b: &[u8], i: usize) -> u16 {
        u16::from_be_bytes([b[i], b[i + 1]])
    }

    #[test]
    fn template_message_layout() {
        let mut e = Encoder::new(7, 1400);
        let m = e.templates(1_700_000_000);
        assert_eq!(u16_at(&m, 0), 10);
        assert_eq!(u16_at(&m, 2) as usize, m.len());
        assert_eq!(u16_at(&m, 16), 2);
        assert_eq!(u16_at(&m, 18) as usize, m.len() - 16);
        assert_eq!(u16_at(&m, 20), 256);
        assert_eq!(u16_at(&m, 22), 7);
        assert_eq!(TEMPLATES[0].record_len(), 23);
    }

    #[test]
    fn data_messages_split_and_count() {
        let mut e = Encoder::new(1, 512);
        let recs = vec![sample(); 40];
        let msgs = e.data(&recs);
        assert!(msgs.len() >= 2);
        let mut total = 0;
        for m in &msgs {
            assert!(m.len() <= 512);
            assert_eq!(u16_at(m, 2) as usize, m.len());
            assert_eq!(u16_at(m, 16), 256);
            assert_eq!(u16_at(m, 18) as usize, m.len() - 16);
            assert_eq!(u32::from_be_bytes(m[8..12].try_into().unwrap()), total);
            total += ((m.len() - 20) / 23) as u32;
        }
        assert_eq!(total, 40);
        assert_eq!(e.sequence(), 40);
        let rec = &msgs[0][20..43];
        assert_eq!(rec[8], nat_event::PORT_BLOCK_ALLOCATION);
        assert_eq!(&rec[9..13], &[100, 64, 1, 10]);
        assert_eq!(u16_at(rec, 21), 512);
    }

    #[test]
    fn ntp_time() {
        assert_eq!(ntp_micros(0) >> 32, NTP_UNIX_OFFSET);
        assert_eq!(ntp_micros(500_000) & 0xffff_ffff, 1 << 31);
    }
}
