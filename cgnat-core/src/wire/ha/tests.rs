//! The sync codec: every record kind round-trips, every check of
//! `new_checked` refuses what it names, and random headers and records
//! survive emit/parse unchanged.

use super::*;
use proptest::prelude::*;

fn header(kind: Kind) -> Header {
    Header {
        kind,
        incarnation: 0x0123_4567_89ab_cdef,
        sequence: 42,
        role: Role::Active,
        priority: 200,
        flags: FLAG_BULK | FLAG_BULK_START,
        ack: 7,
    }
}

fn block() -> BlockRecord {
    BlockRecord {
        subscriber: Ipv4Addr::new(100, 64, 1, 2),
        public: Ipv4Addr::new(203, 0, 113, 7),
        first_port: 40_000,
        last_port: 40_255,
        allocated_us: 1_764_633_600_000_000,
        log_seq: 99_001,
    }
}

fn session(protocol: u8) -> SessionRecord {
    SessionRecord {
        protocol,
        state: 3,
        flags: SESSION_SEEN_IN,
        subscriber: Ipv4Addr::new(100, 64, 1, 2),
        inside_port: 51_000,
        public: Ipv4Addr::new(203, 0, 113, 7),
        public_port: 40_123,
        remote: Ipv4Addr::new(198, 51, 100, 9),
        remote_port: 443,
        last_seen_us: 1_764_633_601_234_567,
    }
}

fn every_record() -> Vec<Record> {
    vec![
        Record::BlockAllocated(block()),
        Record::BlockReleased(block()),
        Record::SessionUp(session(6)),
        Record::SessionDown(session(17)),
        Record::SessionUp(session(1)),
        Record::LogCursor { run: 0xfeed, next_seq: 12 },
    ]
}

#[test]
fn every_record_kind_round_trips() {
    let records = every_record();
    let mut out = Vec::new();
    header(Kind::Data).emit(&records, &mut out).unwrap();
    assert_eq!(out.len(), HEADER_LEN + records.len() * RECORD_LEN);
    let m = Message::new_checked(&out[..]).unwrap();
    assert_eq!(Header::parse(&m), header(Kind::Data));
    let back: Vec<Record> = (0..m.count()).map(|i| m.record(i).unwrap()).collect();
    assert_eq!(back, records);
}

#[test]
fn the_largest_message_fits_one_unfragmented_datagram() {
    let records = vec![Record::SessionUp(session(6)); MAX_RECORDS];
    let mut out = Vec::new();
    header(Kind::Data).emit(&records, &mut out).unwrap();
    assert!(out.len() <= MAX_DATAGRAM);
    let one_more = vec![Record::SessionUp(session(6)); MAX_RECORDS + 1];
    assert_eq!(header(Kind::Data).emit(&one_more, &mut out), Err(Error::Malformed));
}

#[test]
fn every_shorter_buffer_is_refused_as_truncated() {
    let mut out = Vec::new();
    header(Kind::Data).emit(&every_record(), &mut out).unwrap();
    for len in 0..out.len() {
        assert_eq!(Message::new_checked(&out[..len]).err(), Some(Error::Truncated), "length {len}");
    }
}

#[test]
fn wrong_magic_version_kind_role_flags_count_or_trailing_bytes_are_malformed() {
    let mut good = Vec::new();
    header(Kind::Heartbeat).emit(&[], &mut good).unwrap();
    assert!(Message::new_checked(&good[..]).is_ok());
    type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        ("magic", Box::new(|b| b[0] = b'X')),
        ("version", Box::new(|b| b[4] = 2)),
        ("kind 0", Box::new(|b| b[5] = 0)),
        ("kind 5", Box::new(|b| b[5] = 5)),
        ("role", Box::new(|b| b[24] = 3)),
        ("flags", Box::new(|b| b[26] = 0x20)),
        (
            "count",
            Box::new(|b| b[6..8].copy_from_slice(&((MAX_RECORDS as u16) + 1).to_be_bytes())),
        ),
        ("trailing", Box::new(|b| b.push(0))),
    ];
    for (what, m) in mutations {
        let mut b = good.clone();
        m(&mut b);
        assert_eq!(Message::new_checked(&b[..]).err(), Some(Error::Malformed), "{what}");
    }
}

#[test]
fn unknown_record_types_and_impossible_records_are_malformed() {
    let mut d = [0u8; RECORD_LEN];
    Record::BlockAllocated(block()).emit(&mut d);
    d[0] = 9;
    assert_eq!(Record::parse(&d), Err(Error::Malformed));
    let mut d = [0u8; RECORD_LEN];
    Record::BlockAllocated(BlockRecord {
        first_port: 2,
        last_port: 1,
        ..block()
    })
    .emit(&mut d);
    assert_eq!(Record::parse(&d), Err(Error::Malformed), "a block whose range is reversed");
    let mut d = [0u8; RECORD_LEN];
    Record::SessionUp(session(47)).emit(&mut d);
    assert_eq!(
        Record::parse(&d),
        Err(Error::Malformed),
        "a session of a protocol the NAT does not translate"
    );
    assert_eq!(Record::parse(&d[..31]), Err(Error::Truncated));
}

fn any_addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn any_block() -> impl Strategy<Value = BlockRecord> {
    (any_addr(), any_addr(), any::<u16>(), any::<u16>(), any::<u64>(), any::<u64>()).prop_map(|(s, p, a, b, t, q)| BlockRecord {
        subscriber: s,
        public: p,
        first_port: a.min(b),
        last_port: a.max(b),
        allocated_us: t,
        log_seq: q,
    })
}

fn any_session() -> impl Strategy<Value = SessionRecord> {
    (
        prop_oneof![Just(1u8), Just(6u8), Just(17u8)],
        (any::<u8>(), any::<u8>()),
        any_addr(),
        any::<u16>(),
        any_addr(),
        any::<u16>(),
        any_addr(),
        any::<u16>(),
        any::<u64>(),
    )
        .prop_map(
            |(protocol, (state, flags), subscriber, inside_port, public, public_port, remote, remote_port, last_seen_us)| SessionRecord {
                protocol,
                state,
                flags,
                subscriber,
                inside_port,
                public,
                public_port,
                remote,
                remote_port,
                last_seen_us,
            },
        )
}

fn any_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        any_block().prop_map(Record::BlockAllocated),
        any_block().prop_map(Record::BlockReleased),
        any_session().prop_map(Record::SessionUp),
        any_session().prop_map(Record::SessionDown),
        (any::<u64>(), any::<u64>()).prop_map(|(run, next_seq)| Record::LogCursor { run, next_seq }),
    ]
}

proptest! {
    #[test]
    fn random_messages_round_trip(
        kind in prop_oneof![Just(Kind::Heartbeat), Just(Kind::Data), Just(Kind::Resync), Just(Kind::Handover)],
        role in prop_oneof![Just(Role::Init), Just(Role::Standby), Just(Role::Active)],
        incarnation in any::<u64>(), sequence in any::<u64>(), ack in any::<u64>(),
        priority in any::<u8>(), flags in 0u8..32,
        records in proptest::collection::vec(any_record(), 0..=MAX_RECORDS),
    ) {
        let h = Header { kind, incarnation, sequence, role, priority, flags, ack };
        let mut out = Vec::new();
        h.emit(&records, &mut out).unwrap();
        let m = Message::new_checked(&out[..]).unwrap();
        prop_assert_eq!(Header::parse(&m), h);
        let back: Vec<Record> = (0..m.count()).map(|i| m.record(i).unwrap()).collect();
        prop_assert_eq!(back, records);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
        if let Ok(m) = Message::new_checked(&bytes[..]) {
            for i in 0..m.count() {
                let _ = m.record(i);
            }
        }
    }
}
