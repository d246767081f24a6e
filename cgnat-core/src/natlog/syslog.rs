//! RFC 5424 syslog messages for NAT log records, and RFC 6587 octet-counting
//! framing for syslog over TCP.
//!
//! ```text
//! <134>1 2023-11-14T22:13:20.001000Z cgnat1 cgnatd - block-alloc [nat@32473 seq="42" subscriber="100.64.1.10" public="203.0.113.3" ports="1536-2047" protocol="all" reason="new-mapping" producer="1" pseq="3" aux="0"] 2023-11-14T22:13:20.001000Z seq=42 block-alloc ...
//! ```
//!
//! - PRI (RFC 5424 section 6.2.1) = facility * 8 + severity; severity is
//!   informational (6) for block and epoch records and warning (4) for
//!   quota, exhaustion and table events.
//! - VERSION 1; TIMESTAMP the record's packet-clock time (RFC 5424 section
//!   6.2.3, UTC, microseconds); HOSTNAME and APP-NAME from configuration;
//!   PROCID `-` (the output must not depend on the process); MSGID the
//!   event name.
//! - STRUCTURED-DATA (section 6.3): one element `nat@32473` (32473 is the
//!   documentation enterprise number of RFC 5612) with every record field;
//!   PARAM-VALUEs never need escaping (addresses, numbers, fixed names).
//! - MSG: the record's text-format line ([`super::text`]), so the message is
//!   readable and parseable by `cgnatctl` on collectors that drop SD.
//!
//! Over TCP, each message is framed as `MSG-LEN SP SYSLOG-MSG` (RFC 6587
//! section 3.4.1, octet counting); over UDP (RFC 5426) one message per
//! datagram; in a file one message per line.

use core::fmt::Write as _;

use super::{producer_name, run_name, text, LogRecord};
use crate::event::EventKind;

/// The SD-ID of the structured-data element (RFC 5424 section 6.3.2).
pub const SD_ID: &str = "nat@32473";

/// Syslog header settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogHeader {
    /// Facility code 0..=23 (RFC 5424 table 1; 16 = local0).
    pub facility: u8,
    /// HOSTNAME field (printable US-ASCII, at most 255 characters; `-` for none).
    pub hostname: String,
    /// APP-NAME field (at most 48 characters).
    pub app_name: String,
}

impl Default for SyslogHeader {
    fn default() -> Self {
        SyslogHeader {
            facility: 16,
            hostname: "-".into(),
            app_name: "cgnatd".into(),
        }
    }
}

/// The RFC 5424 severity of a record: 6 (informational) or 4 (warning).
pub fn severity(kind: EventKind) -> u8 {
    match kind {
        EventKind::BlockAllocated
        | EventKind::BlockReleased
        | EventKind::DeterministicEpoch
        | EventKind::DeterministicPrefix
        | EventKind::BlockInterim
        | EventKind::DaemonStart
        | EventKind::DaemonStop
        | EventKind::PcpMap
        | EventKind::PcpUnmap => 6,
        _ => 4,
    }
}

/// Whether `s` is a valid header field of at most `max` characters
/// (PRINTUSASCII, RFC 5424 section 6).
pub fn valid_header_field(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (33..=126).contains(&b))
}

/// Appends the RFC 5424 message for `r` (no trailing newline) to `out`.
pub fn format_into(h: &SyslogHeader, r: &LogRecord, out: &mut String) {
    let _ = write!(
        out,
        "<{}>1 {} {} {} - {} [{SD_ID} seq=\"{}\" subscriber=\"{}\" public=\"{}\" ports=\"{}-{}\" protocol=\"{}\" \
         reason=\"{}\" producer=\"{}\" pseq=\"{}\" aux=\"{}\" run=\"{}\"] ",
        h.facility as u16 * 8 + severity(r.event) as u16,
        r.time,
        h.hostname,
        h.app_name,
        r.event.name(),
        r.seq,
        r.subscriber,
        r.public_addr,
        r.first_port,
        r.last_port,
        r.protocol.name(),
        r.reason.name(),
        producer_name(r.producer),
        r.producer_seq,
        r.aux,
        run_name(r.run)
    );
    text::format_into(r, out);
    out.pop();
}

/// The RFC 5424 message for `r`.
pub fn format(h: &SyslogHeader, r: &LogRecord) -> String {
    let mut s = String::with_capacity(400);
    format_into(h, r, &mut s);
    s
}

/// Frames `msg` for TCP with RFC 6587 octet counting: `LEN SP MSG`.
pub fn octet_counted(msg: &str) -> String {
    format!("{} {msg}", msg.len())
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn formats_rfc5424() {
        let h = SyslogHeader {
            hostname: "cgnat1".into(),
            ..SyslogHeader::default()
        };
        let m = format(&h, &sample());
        assert!(
            m.starts_with(
                "<134>1 2023-11-14T22:13:20.001000Z cgnat1 cgnatd - block-alloc [nat@32473 seq=\"42\" \
                 subscriber=\"100.64.1.10\" public=\"203.0.113.3\" ports=\"1536-2047\""
            ),
            "{m}"
        );
        assert!(m.ends_with("] 2023-11-14T22:13:20.001000Z seq=42 block-alloc subscriber=100.64.1.10 public=203.0.113.3 ports=1536-2047 protocol=all reason=new-mapping producer=1 pseq=3 aux=0 run=0123456789abcdef"), "{m}");
        let mut q = sample();
        q.event = EventKind::PoolExhausted;
        assert!(format(&h, &q).starts_with("<132>1 "));
        assert_eq!(octet_counted("abc"), "3 abc");
        assert!(valid_header_field("cgnat-1.example", 255));
        assert!(!valid_header_field("a b", 255));
    }
}
