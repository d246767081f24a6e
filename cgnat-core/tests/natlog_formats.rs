//! NAT log formats (`cgnat_core::natlog`): every record survives a text and
//! a JSON round trip, the syslog message (RFC 5424) embeds the text line,
//! RFC 6587 octet counting frames it, and the IPFIX encoding (RFC 7011,
//! RFC 8158) is well formed for every event kind. Events come from a real
//! `Worker` and `Sweeper` too, so the log of real translations parses back.

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::event::{Event, EventKind, ProtocolScope, Reason};
use cgnat_core::natlog::{ipfix, json, syslog, text, LogRecord, EVENT_KINDS, PROTOCOL_SCOPES, REASONS};
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{Instant, Nat, NatConfig, Side, Worker};
use proptest::prelude::*;

fn record() -> impl Strategy<Value = LogRecord> {
    (
        (
            any::<u64>(),
            0u64..253_402_300_799_999_999,
            0usize..EVENT_KINDS.len(),
            any::<u32>(),
            any::<u32>(),
        ),
        (
            any::<u16>(),
            any::<u16>(),
            0usize..4,
            0usize..REASONS.len(),
            any::<u16>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        ),
    )
        .prop_map(|((seq, t, k, s, p), (a, b, pr, r, producer, pseq, aux, run))| LogRecord {
            seq,
            time: Instant::from_micros(t),
            event: EVENT_KINDS[k],
            subscriber: Ipv4Addr::from(s),
            public_addr: Ipv4Addr::from(p),
            first_port: a.min(b),
            last_port: a.max(b),
            protocol: PROTOCOL_SCOPES[pr],
            reason: REASONS[r],
            producer,
            producer_seq: pseq,
            aux,
            run,
        })
}

proptest! {
    #[test]
    fn text_and_json_round_trip(r in record()) {
        prop_assert_eq!(text::parse_line(&text::format(&r)), Ok(r));
        prop_assert_eq!(json::parse_line(&json::format(&r)), Ok(r));
        let h = syslog::SyslogHeader::default();
        let m = syslog::format(&h, &r);
        prop_assert!(m.ends_with(&text::format(&r)));
        let framed = syslog::octet_counted(&m);
        let (len, rest) = framed.split_once(' ').unwrap();
        prop_assert_eq!(len.parse::<usize>().unwrap(), rest.len());
    }

    #[test]
    fn ipfix_messages_are_well_formed(rs in proptest::collection::vec(record(), 0..200)) {
        let mut e = ipfix::Encoder::new(3, 600);
        let msgs = e.data(&rs);
        let mut count = 0u32;
        for m in &msgs {
            prop_assert!(m.len() <= 600);
            prop_assert_eq!(u16::from_be_bytes([m[0], m[1]]), 10);
            prop_assert_eq!(u16::from_be_bytes([m[2], m[3]]) as usize, m.len());
            prop_assert_eq!(u32::from_be_bytes(m[8..12].try_into().unwrap()), count);
            // Walk the sets: each is a known template's records.
            let mut i = ipfix::HEADER_LEN;
            while i < m.len() {
                let id = u16::from_be_bytes([m[i], m[i + 1]]);
                let len = u16::from_be_bytes([m[i + 2], m[i + 3]]) as usize;
                let t = ipfix::TEMPLATES.iter().find(|t| t.id == id).unwrap();
                prop_assert_eq!((len - 4) % t.record_len(), 0);
                count += ((len - 4) / t.record_len()) as u32;
                i += len;
            }
            prop_assert_eq!(i, m.len());
        }
        let exported = rs.iter().filter(|r| ipfix::encode_record(r).is_some()).count() as u32;
        // Only block, quota, exhaustion and threshold events have an RFC 8158 natEvent.
        prop_assert!(rs.iter().all(|r| ipfix::encode_record(r).is_some() == matches!(r.event,
            EventKind::BlockAllocated | EventKind::BlockReleased | EventKind::SessionQuotaExceeded
            | EventKind::BlockQuotaExceeded | EventKind::PoolExhausted | EventKind::TableFull
            | EventKind::TableFillAlert)));
        prop_assert_eq!(count, exported);
        prop_assert_eq!(e.sequence(), exported);
    }
}

#[test]
fn text_parse_errors_are_line_accurate() {
    let r = LogRecord::from_event(
        0,
        7,
        &Event {
            seq: 0,
            worker: 0,
            time: Instant::from_secs(1_700_000_000),
            kind: EventKind::BlockAllocated,
            subscriber: [100, 64, 0, 1].into(),
            public_addr: [203, 0, 113, 1].into(),
            first_port: 1024,
            last_port: 1535,
            protocol: ProtocolScope::All,
            reason: Reason::NewMapping,
            aux: 0,
        },
    );
    let good = text::format(&r);
    let log = format!("{good}\n{good}\n{}\n", good.replace("ports=1024-1535", "ports=1024"));
    let e = text::parse_str(&log).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (3, "ports"));
    let e = json::parse_str(&format!("{}\n{{}}\n", json::format(&r))).unwrap_err();
    assert_eq!(e.line, 2);
}

#[test]
fn a_real_worker_and_sweeper_log_parses_back() {
    let cfg: NatConfig = toml::from_str("pool = [\"203.0.113.0/30\"]\nblock_size = 64\nseed = 1\n").unwrap();
    let nat = Arc::new(Nat::new(cfg, 1).unwrap());
    let mut w = Worker::new(nat.clone(), 0, Vec::<Event>::new());
    let t0 = Instant::from_secs(1_700_000_000);
    for i in 0..5u32 {
        let mut p = Vec::new();
        etherparse::PacketBuilder::ipv4([100, 64, 0, i as u8 + 1], [198, 51, 100, 1], 64)
            .udp(1000, 53)
            .write(&mut p, b"q")
            .unwrap();
        w.process(Side::Inside, &mut p, t0);
    }
    let mut s = Sweeper::new(nat.clone(), Vec::<Event>::new());
    s.shutdown(t0.plus_secs(1));
    let mut events: Vec<Event> = w.sink_mut().drain(..).chain(s.sink_mut().drain(..)).collect();
    events.sort_by_key(|e| e.order_key());
    let records: Vec<LogRecord> = events
        .iter()
        .enumerate()
        .map(|(i, e)| LogRecord::from_event(i as u64, 7, e))
        .collect();
    let mut t = String::new();
    let mut j = String::new();
    for r in &records {
        text::format_into(r, &mut t);
        json::format_into(r, &mut j);
    }
    assert_eq!(text::parse_str(&t).unwrap(), records);
    assert_eq!(json::parse_str(&j).unwrap(), records);
    let allocs = records.iter().filter(|r| r.event == EventKind::BlockAllocated).count();
    let releases = records
        .iter()
        .filter(|r| r.event == EventKind::BlockReleased && r.reason == Reason::Shutdown)
        .count();
    assert_eq!((allocs, releases), (5, 5));
}
