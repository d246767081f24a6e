//! The parallel build against the reference build ([`crate::index::Builder`]
//! line by line, [`crate::logfile::build_sequential`]): the same index,
//! byte for byte, whatever the chunks, partitions and windows.

use std::io::Write;

use cgnat_core::event::{EventKind, ProtocolScope, Reason};
use cgnat_core::natlog::{json, syslog, text, LogRecord};
use cgnat_core::Instant;

use super::*;
use crate::genlog::{self, GenFormat, GenLogArgs};
use crate::index::{END_INFERRED, END_OPEN, START_INTERIM, START_OPEN};
use crate::logfile::{build_index, build_index_sequential, build_sequential};

/// A log of `gen-log` (`subscribers` for `hours`).
fn generated(dir: &std::path::Path, subscribers: u32, hours: u32) -> Vec<u8> {
    let out = dir.join(format!("gen-{subscribers}-{hours}.log"));
    genlog::run(&GenLogArgs {
        subscribers,
        hours,
        start: "2023-11-14T00:00:00Z".into(),
        out: out.clone(),
        files: 1,
        gzip: false,
        format: GenFormat::Text,
        seed: 11,
    })
    .unwrap();
    std::fs::read(&out).unwrap()
}

fn record(seq: u64, time_s: u64, event: EventKind, run: u64) -> LogRecord {
    LogRecord {
        seq,
        time: Instant::from_micros(1_699_920_000_000_000 + time_s * 1_000_000),
        event,
        subscriber: [0; 4].into(),
        public_addr: [0; 4].into(),
        first_port: 0,
        last_port: 0,
        protocol: ProtocolScope::All,
        reason: Reason::NewMapping,
        producer: 1,
        producer_seq: seq,
        aux: 0,
        run,
    }
}

/// `r` about the block at `public:first` of `sub`.
fn block(r: LogRecord, sub: [u8; 4], public: [u8; 4], first: u16, aux: u64) -> LogRecord {
    LogRecord {
        subscriber: sub.into(),
        public_addr: public.into(),
        first_port: first,
        last_port: first + 511,
        aux,
        ..r
    }
}

/// `log` with, every 29 lines, what real files hold besides clean records:
/// damaged records, other programs' lines, blank lines, CRLF, JSON and
/// collector lines, a second run that starts, restates and releases blocks
/// allocated before the file (at times before its earlier records), and a
/// last line without its newline.
fn with_everything(log: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let h = syslog::SyslogHeader::default();
    for (i, line) in log.split_inclusive(|b| *b == b'\n').enumerate() {
        out.extend_from_slice(line);
        if i % 29 != 3 {
            continue;
        }
        let k = i as u64;
        let run2 = 0x00c0_ffee_0000_0002;
        let public = [198, 18, 0, (k % 5) as u8];
        let sub = [100, 64, 9, (k % 200) as u8];
        let port = 1024 + (k % 124) as u16 / 31 * 512;
        let t = 3600 + k;
        let lines = [
            "Nov 14 00:00:01 host sshd[1]: Accepted publickey for root".to_string(),
            String::new(),
            "   \t".to_string(),
            String::from_utf8_lossy(&line[..line.len().min(70)]).trim_end().to_string(),
            "2023-11-14T00:00:00.000000Z seq=1 block-al".to_string(),
            format!("{}\r", text::format(&record(k, t, EventKind::DaemonStart, run2))),
            json::format(&block(
                record(k, t, EventKind::BlockInterim, run2),
                sub,
                public,
                port,
                (t - 50) * 1_000_000,
            )),
            format!(
                "Nov 14 00:00:01 h cgnatd {}",
                text::format(&block(record(k, t - 400, EventKind::BlockReleased, run2), sub, public, port, 0))
            ),
            syslog::format(&h, &block(record(k, t + 1, EventKind::BlockAllocated, run2), sub, public, port, 0)),
            text::format(&block(
                record(k, t + 2, EventKind::BlockInterim, run2),
                [100, 64, 8, 1],
                public,
                port,
                0,
            )),
            text::format(&record(k, t + 3, EventKind::DaemonStop, run2)),
        ];
        for l in &lines {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"\xff\xfe not text\n");
    }
    let last = text::format(&block(
        record(9, 99_999, EventKind::BlockReleased, 5),
        [100, 64, 7, 7],
        [198, 18, 1, 1],
        1024,
        0,
    ));
    out.extend_from_slice(last.as_bytes());
    out
}

/// The first lines of `log`, about `bytes` of them.
fn head(log: &[u8], bytes: usize) -> &[u8] {
    let cut = memchr::memchr(b'\n', &log[bytes.min(log.len())..]).map_or(log.len(), |i| bytes + i + 1);
    &log[..cut]
}

/// Panics with the first difference between two indexes (their `Debug`
/// is too long to print whole).
fn assert_same(got: &IntervalIndex, want: &IntervalIndex, what: &str) {
    assert_eq!(got.summary(), want.summary(), "{what}: summary");
    let (g, w): (Vec<_>, Vec<_>) = (got.iter().collect(), want.iter().collect());
    if let Some(i) = (0..g.len().min(w.len())).find(|&i| g[i] != w[i]) {
        panic!("{what}: interval {i}: {:?} != {:?}", g[i], w[i]);
    }
    assert_eq!(g.len(), w.len(), "{what}: intervals");
    assert!(got == want, "{what}: max span");
}

fn opts(chunk_bytes: usize, partitions: usize, window: usize, read_bytes: usize) -> Options {
    Options {
        chunk_bytes,
        partitions,
        window,
        read_bytes,
    }
}

fn check_all_ways(log: &[u8], chunks: &[usize], dir: &std::path::Path) {
    let reference = build_sequential(log).unwrap();
    let path = dir.join("chunked.log");
    std::fs::write(&path, log).unwrap();
    let f = File::open(&path).unwrap();
    for &chunk in chunks {
        // Reads shorter than a line, than a chunk, and longer.
        for (partitions, window, read) in [(1, 1, 1 << 18), (3, 2, 13), (8, 5, 4096)] {
            let o = opts(chunk, partitions, window, read);
            assert_same(&build_stream(log, &o).unwrap(), &reference, &format!("stream, {o:?}"));
            let done = AtomicU64::new(0);
            assert_same(
                &build_file(&f, log.len() as u64, &o, &done).unwrap(),
                &reference,
                &format!("file, {o:?}"),
            );
            assert_eq!(done.into_inner(), log.len() as u64);
        }
    }
}

#[test]
fn chunked_builds_equal_the_reference_build() {
    let dir = tempfile::tempdir().unwrap();
    let log = with_everything(&generated(dir.path(), 3000, 3));
    let reference = build_sequential(&log[..]).unwrap();
    // The log exercises every rule of the pairing and of the summary.
    let s = reference.summary();
    assert!(s.records > 2000 && s.bad_line_count > 100 && s.other_lines > 100, "{s:?}");
    assert_eq!(s.runs.len(), 3);
    assert!(s.runs[1].start.is_some() && s.runs[1].stop.is_some());
    for flag in [START_OPEN, END_OPEN, END_INFERRED, START_INTERIM] {
        assert!(reference.iter().any(|i| i.flags & flag != 0), "flag {flag}");
    }
    assert!(
        reference.iter().any(|i| i.flags & START_OPEN != 0 && i.run != 0x67656e6c6f670001),
        "a release of the second run without allocation"
    );
    // Chunks of whole lines and chunks that cut lines anywhere, down to a
    // byte; tiny chunks on the head of the log only (they are slow).
    check_all_ways(&log, &[191, 1000, 4097, 65536, 1 << 22], dir.path());
    check_all_ways(head(&log, 30_000), &[1, 2, 3, 7, 64], dir.path());
    // Empty and one-line logs.
    check_all_ways(b"", &[1, 5], dir.path());
    check_all_ways(b"\n\n", &[1, 5], dir.path());
    check_all_ways(&log[..log.iter().position(|b| *b == b'\n').unwrap()], &[1, 50, 4096], dir.path());
}

#[test]
fn files_plain_and_gzip_build_the_same_on_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let log = with_everything(&generated(dir.path(), 2000, 2));
    let plain = dir.path().join("nat.log");
    std::fs::write(&plain, &log).unwrap();
    // Two gzip members, as `cat a.gz b.gz` makes.
    let gz = dir.path().join("nat.log.2.gz");
    let mut bytes = Vec::new();
    for part in [&log[..log.len() / 3], &log[log.len() / 3..]] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).unwrap();
        bytes.extend(e.finish().unwrap());
    }
    std::fs::write(&gz, &bytes).unwrap();
    let reference = build_index_sequential(&plain).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    for (path, size) in [(&plain, log.len()), (&gz, bytes.len())] {
        let done = AtomicU64::new(0);
        let built = pool.install(|| build_index(path, &done)).unwrap();
        assert_same(&built, &reference, &path.display().to_string());
        assert_same(&build_index_sequential(path).unwrap(), &reference, "sequential");
        assert_eq!(done.into_inner(), size as u64, "progress counts the file's bytes");
    }
    // One thread: the reference build itself.
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let done = AtomicU64::new(0);
    assert_same(&one.install(|| build_index(&gz, &done)).unwrap(), &reference, "one thread");
}

#[test]
fn the_order_intervals_come_in_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let reference = build_sequential(&generated(dir.path(), 1000, 2)[..]).unwrap();
    let mut shuffled: Vec<_> = reference.iter().copied().collect();
    shuffled.reverse();
    let n = shuffled.len();
    for i in 0..n {
        shuffled.swap(i, (i * 7919) % n);
    }
    // Two intervals equal in the old sort key (same block, subscriber,
    // start and end) but not in their lines: still one order.
    let mut twin = shuffled[0];
    twin.end_line += 1;
    shuffled.push(twin);
    let mut other = shuffled.clone();
    other.rotate_left(n / 2);
    let a = IntervalIndex::new(shuffled, reference.summary().clone());
    let b = IntervalIndex::new(other, reference.summary().clone());
    assert_same(&a, &b, "shuffled");
}

#[test]
fn ranges_cut_the_sample_in_equal_shares_of_ordered_addresses() {
    let op = |public| BlockOp {
        kind: BlockKind::Alloc,
        proto: crate::record::Proto::All,
        first_port: 1024,
        last_port: 2047,
        public,
        subscriber: 1,
        time: 0,
        extra: 0,
        run: 0,
        line: 1,
    };
    // 4 partitions of 8 addresses seen twice each: 2 addresses apiece.
    let sample: Vec<u32> = (0..16).map(|i| 100 + i / 2).collect();
    let r = Ranges::of_sample(sample, 4);
    assert_eq!(r.starts, vec![102, 104, 106]);
    let parts: Vec<usize> = (90..120).map(|a| r.of(&op(a))).collect();
    assert!(parts.windows(2).all(|w| w[0] <= w[1]), "ranges are in address order");
    assert_eq!((r.of(&op(0)), r.of(&op(101)), r.of(&op(102)), r.of(&op(u32::MAX))), (0, 0, 1, 3));
    // Fewer distinct addresses than partitions, one address, none.
    assert_eq!(Ranges::of_sample(vec![7, 7, 7, 9], 8).starts, vec![9]);
    assert_eq!(Ranges::of_sample(vec![7; 10], 8).len(), 1);
    assert_eq!(Ranges::of_sample(Vec::new(), 8).len(), 1);
}

#[test]
fn a_file_is_shared_among_partitions_of_about_equal_work() {
    let dir = tempfile::tempdir().unwrap();
    let log = generated(dir.path(), 3000, 1);
    let path = dir.path().join("nat.log");
    std::fs::write(&path, &log).unwrap();
    let f = File::open(&path).unwrap();
    let built = build_file(&f, log.len() as u64, &opts(4096, 8, 4, 4096), &AtomicU64::new(0)).unwrap();
    let sizes: Vec<usize> = built.parts().iter().map(Vec::len).collect();
    assert_eq!(sizes.len(), 8, "{sizes:?}");
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(max * 2 < min * 3, "balanced within 1.5x: {sizes:?}");
}
