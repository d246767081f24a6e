//! The fast path answers exactly when it is sure: every line `cgnatd`
//! writes, with the general parser's record; for any other line, `None` or
//! the record the general path gives.

use proptest::prelude::*;

use super::super::tests::sample;
use super::super::{collected, text, LogRecord, EVENT_KINDS, PROTOCOL_SCOPES, REASONS};
use super::{parse, Parser};
use crate::event::MANAGEMENT_WORKER;
use crate::time::Instant;

/// Any record `cgnatd` could write (ports in order; times within the
/// four-digit years of RFC 3339).
fn any_record() -> impl Strategy<Value = LogRecord> {
    (
        (
            any::<u64>(),
            0u64..253_402_300_800_000_000,
            0..EVENT_KINDS.len(),
            any::<u32>(),
            any::<u32>(),
        ),
        (any::<u16>(), any::<u16>(), 0..PROTOCOL_SCOPES.len(), 0..REASONS.len()),
        (any::<u16>(), any::<u64>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(|((seq, us, e, s, p), (a, b, pr, r), (producer, pseq, aux, run))| LogRecord {
            seq,
            time: Instant::from_micros(us),
            event: EVENT_KINDS[e],
            subscriber: s.into(),
            public_addr: p.into(),
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

/// What the general path makes of `line`, as the index reads it.
fn general(line: &[u8]) -> Option<LogRecord> {
    let s = std::str::from_utf8(line).expect("an accepted line is UTF-8");
    assert_eq!(collected::parse_line(s), Some(text::parse_line(s)));
    text::parse_line(s).ok()
}

/// One edit of a line: replace, insert or delete a byte, or cut the line.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Cut(usize),
}

/// Bytes that make near-misses: digits, separators, signs, hex letters,
/// a carriage return, non-ASCII.
fn any_byte() -> impl Strategy<Value = u8> {
    prop::sample::select(b"0123456789 .-+=:TZabcdefABCDEFmgt\r\t\xc3\xff".to_vec())
}

fn any_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any_byte()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), any_byte()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Cut),
    ]
}

fn apply(line: &mut Vec<u8>, e: &Edit) {
    let n = line.len();
    match *e {
        Edit::Replace(i, b) => line[i % n] = b,
        Edit::Insert(i, b) => line.insert(i % (n + 1), b),
        Edit::Delete(i) => {
            line.remove(i % n);
        }
        Edit::Cut(i) => line.truncate(i % n),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn every_written_line_takes_the_fast_path(r in any_record()) {
        let line = text::format(&r);
        prop_assert_eq!(parse(line.as_bytes()), Some(r));
        prop_assert_eq!(text::parse_line(&line), Ok(r));
    }

    #[test]
    fn a_damaged_line_is_refused_or_read_as_the_general_path_reads_it(
        r in any_record(),
        other in any_record(),
        edits in prop::collection::vec(any_edit(), 1..4),
    ) {
        let mut line = text::format(&r).into_bytes();
        for e in &edits {
            if !line.is_empty() {
                apply(&mut line, e);
            }
        }
        if let Some(fast) = parse(&line) {
            prop_assert_eq!(general(&line), Some(fast));
        }
        // A parser that read the undamaged line, or another, before: the
        // date it remembers changes nothing.
        for before in [text::format(&r), text::format(&other)] {
            let mut p = Parser::default();
            p.parse(before.as_bytes());
            prop_assert_eq!(p.parse(&line), parse(&line));
        }
    }

    #[test]
    fn a_parser_reads_a_file_as_lines_one_by_one(rs in prop::collection::vec(any_record(), 1..20), day in 0u64..3) {
        // Lines of one to three days, as a file has them.
        let mut p = Parser::default();
        for mut r in rs {
            r.time = Instant::from_micros(1_700_000_000_000_000 + r.time.as_micros() % ((day + 1) * 86_400_000_000));
            prop_assert_eq!(p.parse(text::format(&r).as_bytes()), Some(r));
        }
    }
}

/// Lines the general path reads that the fast path leaves to it.
#[test]
fn the_rarer_forms_go_to_the_general_path() {
    let line = text::format(&sample());
    let cases = [
        // A line written before runs were recorded: eleven fields.
        line.replace(" run=0123456789abcdef", ""),
        // `u16::from_str` takes a `+`.
        line.replace("ports=1536-", "ports=+1536-"),
        // Six digits for a port, leading zeros.
        line.replace("ports=1536-", "ports=001536-"),
        // A carriage return left by a Windows editor.
        format!("{line}\r"),
        // A collector's header.
        format!("Nov 14 22:13:20 cgnat1 cgnatd: {line}"),
    ];
    for case in cases {
        assert_eq!(parse(case.as_bytes()), None, "{case}");
        let run = if case.contains(" run=") { sample().run } else { 0 };
        assert_eq!(
            collected::parse_line(&case),
            Some(Ok(LogRecord { run, ..sample() })),
            "the general path reads {case}"
        );
    }
}

/// Lines neither path reads.
#[test]
fn damaged_lines_are_refused() {
    let line = text::format(&sample());
    let cases = [
        line.replace("subscriber=100.64.1.10", "subscriber=100.64.01.10"),
        line.replace("subscriber=100.64.1.10", "subscriber=100.64.1.256"),
        line.replace("subscriber=100.64.1.10", "subscriber=100.64.1.1000"),
        line.replace("subscriber=100.64.1.10", "subscriber=100.64.1.010"),
        line.replace("subscriber=100.64.1.10", "subscriber=100.64.1.00"),
        line.replace("subscriber=100.64.1.10", "subscriber=100.64.1."),
        line.replace("subscriber=100.64.1.10", "subscriber=100.64.1"),
        line.replace("subscriber=100.64.1.10", "subscriber=300.64.1.10"),
        line.replace("seq=42", "seq=99999999999999999999"),
        line.replace("ports=1536-2047", "ports=2047-1536"),
        line.replace("ports=1536-2047", "ports=1536-65536"),
        line.replace("producer=1", "producer=65535"),
        line.replace("block-alloc", "block-allocated"),
        line.replace("protocol=all", "protocol=sctp"),
        line.replace("run=0123456789abcdef", "run=0123456789abcdeg"),
        line.replace("seq=42", "seq=18446744073709551616"),
        line.replace("seq=42", "seq="),
        line.replace(".001000Z", ".001000"),
        line.replace("2023-11-14", "2023-02-29"),
        line.replace(" aux=0", "  aux=0"),
        format!("{line} "),
    ];
    for case in cases {
        assert_eq!(parse(case.as_bytes()), None, "{case}");
        assert!(text::parse_line(&case).is_err(), "{case}");
    }
}

/// Leading zeros in a sequence number and upper-case run ids are what the
/// general path reads too.
#[test]
fn the_general_rules_for_numbers_hold() {
    let line = text::format(&sample());
    for case in [
        line.replace("seq=42", "seq=0042"),
        line.replace("run=0123456789abcdef", "run=0123456789ABCDEF"),
        line.replace("producer=1", "producer=mgmt"),
        line.replace("ports=1536-2047", "ports=00001-65535"),
        line.replace("subscriber=100.64.1.10", "subscriber=0.0.0.0"),
        line.replace("subscriber=100.64.1.10", "subscriber=255.255.255.255"),
        line.replace("subscriber=100.64.1.10", "subscriber=9.99.199.250"),
        // 19 digits (never overflow), 20 within a u64, and leading zeros
        // beyond nineteen digits.
        line.replace("seq=42", "seq=9999999999999999999"),
        line.replace("seq=42", "seq=18446744073709551615"),
        line.replace("seq=42", "seq=0000000000000000000000042"),
    ] {
        let fast = parse(case.as_bytes());
        assert!(fast.is_some(), "{case}");
        assert_eq!(general(case.as_bytes()), fast, "{case}");
    }
    assert_eq!(MANAGEMENT_WORKER, u16::MAX, "the producer case above writes 65535 for `mgmt`");
}

/// Eight bytes read at once: as many leading digits and the same number
/// as reading them one by one, whatever the bytes (every value of every
/// lane after the digits, so borrows and carries between lanes are met).
#[test]
fn eight_bytes_at_once_read_as_one_by_one() {
    fn one_by_one(b: &[u8; 8]) -> (usize, u64) {
        let count = b.iter().take_while(|c| c.is_ascii_digit()).count();
        (count, b[..count].iter().fold(0, |n, c| n * 10 + (c - b'0') as u64))
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for count in 0..=8 {
        for stop in 0..=255u8 {
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut b = x.to_le_bytes();
                for (i, c) in b.iter_mut().enumerate() {
                    if i < count {
                        *c = b'0' + (*c % 10);
                    } else if i == count {
                        *c = stop;
                    }
                }
                assert_eq!(super::leading_digits(u64::from_le_bytes(b)), one_by_one(&b), "{b:?}");
            }
        }
    }
}
