//! NAT log formats through the real daemon: the `basic` pcap fixture
//! (`tests/pcap/`) is replayed by `cgnatd --replay` with four log targets
//! at once — text, JSON lines and RFC 5424 syslog files, and IPFIX (RFC
//! 7011 / RFC 8158) to a UDP collector run by the test. Checked:
//!
//! - each file equals its golden (`tests/natlog_golden/basic.*`) byte for
//!   byte, and a second replay gives the same bytes (deterministic log);
//! - text and JSON parse back (`cgnat_core::natlog`) to the same records,
//!   with gapless global sequence numbers;
//! - the IPFIX datagrams, wrapped into a pcap (UDP port 4739), are decoded
//!   by an independent decoder, tshark, into the expected natEvent,
//!   addresses and port ranges.
//!
//! `CGNAT_BLESS=1 cargo test -p cgnat-dpdk --test natlog_golden` rewrites
//! the goldens after an intended format change.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cgnat_core::natlog::{json, text, LogRecord};
use cgnat_dpdk::daemon::pcap::PcapWriter;
use common::{is_root, skip};

const CGNATD: &str = env!("CARGO_BIN_EXE_cgnatd");
const FORMATS: [&str; 3] = ["log", "jsonl", "syslog"];

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn goldens() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/natlog_golden")
}

/// The replay configuration with the `[log]` table replaced by four targets.
fn config(out: &Path, collector: u16) -> PathBuf {
    let base = std::fs::read_to_string(repo("tests/pcap/replay.toml")).unwrap();
    let base = base.split("\n[log]").next().unwrap().to_string();
    let o = out.display();
    let text = format!(
        "{base}\n[log]\nfile = \"{o}/unused.log\"\nflush_records = 1\n\
         [[log.targets]]\nformat = \"text\"\nfile = \"{o}/nat.log\"\n\
         [[log.targets]]\nformat = \"json\"\nfile = \"{o}/nat.jsonl\"\n\
         [[log.targets]]\nformat = \"syslog\"\nfile = \"{o}/nat.syslog\"\nhostname = \"cgnat-replay\"\n\
         [[log.targets]]\nformat = \"ipfix\"\ntransport = \"udp\"\naddress = \"127.0.0.1:{collector}\"\nobservation_domain = 7\n"
    );
    let p = out.join("replay.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn replay(out: &Path, collector: u16) {
    std::fs::create_dir_all(out).unwrap();
    let pcap = repo("tests/pcap");
    let st = Command::new(CGNATD)
        .arg("--config")
        .arg(config(out, collector))
        .arg("--replay")
        .arg("--inside-rx")
        .arg(pcap.join("basic.inside.in.pcap"))
        .arg("--outside-rx")
        .arg(pcap.join("basic.outside.in.pcap"))
        .arg("--inside-tx")
        .arg(out.join("i.pcap"))
        .arg("--outside-tx")
        .arg(out.join("o.pcap"))
        .output()
        .expect("run cgnatd");
    assert!(st.status.success(), "cgnatd failed:\n{}", String::from_utf8_lossy(&st.stderr));
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Wraps collected datagrams into Ethernet/IPv4/UDP frames to port 4739.
fn ipfix_pcap(datagrams: &[Vec<u8>], path: &Path) {
    let mut w = PcapWriter::create(path).unwrap();
    for (i, d) in datagrams.iter().enumerate() {
        let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .udp(40000, 4739);
        let mut f = Vec::new();
        b.write(&mut f, d).unwrap();
        w.write(1_700_000_000_000_000 + i as u64, &f).unwrap();
    }
    w.finish().unwrap();
}

/// tshark's decoding of the IPFIX data records: one line per record.
fn tshark_records(pcap: &Path) -> Option<Vec<String>> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-d",
            "udp.port==4739,cflow",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=;",
        ])
        .args([
            "-e",
            "cflow.nat_event",
            "-e",
            "cflow.srcaddr",
            "-e",
            "cflow.post_natsource_ipv4_address",
        ])
        .args([
            "-e",
            "cflow.port_range_start",
            "-e",
            "cflow.port_range_end",
            "-e",
            "cflow.port_range_num_ports",
        ])
        .output()
        .ok()?;
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect(),
    )
}

#[test]
fn natlog_formats_golden_and_ipfix_decoded_by_tshark() {
    if !is_root() {
        return skip("natlog_golden", "cgnatd needs root");
    }
    let dir = std::env::temp_dir().join(format!("cgnat-natlog-golden-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
    collector.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let port = collector.local_addr().unwrap().port();

    let runs = [dir.join("run1"), dir.join("run2")];
    let mut datagrams = Vec::new();
    for r in &runs {
        replay(r, port);
        let mut buf = [0u8; 65536];
        let mut got = Vec::new();
        while let Ok(n) = collector.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        datagrams.push(got);
    }
    for ext in FORMATS {
        let a = read(&runs[0].join(format!("nat.{ext}")));
        let b = read(&runs[1].join(format!("nat.{ext}")));
        assert_eq!(a, b, "nat.{ext}: two replays differ");
        let golden = goldens().join(format!("basic.{ext}"));
        if std::env::var("CGNAT_BLESS").as_deref() == Ok("1") {
            std::fs::create_dir_all(goldens()).unwrap();
            std::fs::write(&golden, &a).unwrap();
        }
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&read(&golden)),
            "nat.{ext} differs from {}",
            golden.display()
        );
    }
    assert_eq!(datagrams[0], datagrams[1], "IPFIX output differs between replays");

    for f in ["nat.log", "nat.jsonl", "nat.syslog"] {
        common::natlog::assert_verifies(&[runs[0].join(f)], false);
    }
    let t = String::from_utf8(read(&runs[0].join("nat.log"))).unwrap();
    let j = String::from_utf8(read(&runs[0].join("nat.jsonl"))).unwrap();
    let recs: Vec<LogRecord> = text::parse_str(&t).unwrap();
    assert_eq!(recs, json::parse_str(&j).unwrap(), "text and JSON carry the same records");
    assert!(recs.iter().enumerate().all(|(i, r)| r.seq == i as u64), "gapless global sequence");
    let sys = String::from_utf8(read(&runs[0].join("nat.syslog"))).unwrap();
    for (line, r) in sys.lines().zip(&recs) {
        assert!(line.starts_with("<134>1 ") && line.ends_with(&text::format(r)), "{line}");
    }

    // IPFIX: template message first, then data; decoded by tshark.
    let msgs = &datagrams[0];
    assert!(msgs.len() >= 2, "templates and data expected, got {} datagrams", msgs.len());
    assert_eq!(
        u16::from_be_bytes([msgs[0][16], msgs[0][17]]),
        2,
        "first message carries the template set"
    );
    let pcap = dir.join("ipfix.pcap");
    ipfix_pcap(msgs, &pcap);
    let Some(decoded) = tshark_records(&pcap) else {
        return skip("natlog_golden (tshark part)", "tshark is not installed");
    };
    let expect: Vec<String> = recs
        .iter()
        // Runs, epochs and restatements have no RFC 8158 event (not exported).
        .filter(|r| {
            matches!(
                r.event,
                cgnat_core::EventKind::BlockAllocated | cgnat_core::EventKind::BlockReleased
            )
        })
        .map(|r| {
            let ev = match r.event {
                cgnat_core::EventKind::BlockAllocated => 16,
                cgnat_core::EventKind::BlockReleased => 17,
                _ => 0,
            };
            format!(
                "{ev}\t{}\t{}\t{}\t{}\t{}",
                r.subscriber,
                r.public_addr,
                r.first_port,
                r.last_port,
                r.last_port - r.first_port + 1
            )
        })
        .collect();
    // tshark prints one line per message, records joined by `;` per field.
    let mut got = Vec::new();
    for line in &decoded {
        let cols: Vec<Vec<&str>> = line.split('\t').map(|c| c.split(';').collect()).collect();
        for i in 0..cols[0].len() {
            got.push(cols.iter().map(|c| c.get(i).copied().unwrap_or("")).collect::<Vec<_>>().join("\t"));
        }
    }
    eprintln!("tshark decoded:\n{}", got.join("\n"));
    assert_eq!(got, expect, "tshark's decoding of the IPFIX records");
    let v = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", "udp.port==4739,cflow", "-V"])
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&v.stdout);
    let interesting: Vec<&str> = v
        .lines()
        .filter(|l| l.contains("Nat Event") || l.contains("Observation Time") || l.contains("Template Id"))
        .collect();
    eprintln!("{}", interesting.join("\n"));
    assert!(v.contains("Port block allocation") && v.contains("Port block de-allocation"), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every IPFIX template, decoded by tshark: one record of each exported
/// event kind, encoded by `cgnat_core::natlog::ipfix`, must come out with
/// the RFC 8158 natEvent (and natQuotaExceededEvent / natThresholdEvent)
/// names of the IANA registry.
#[test]
fn every_ipfix_template_decodes_in_tshark() {
    use cgnat_core::event::{ProtocolScope, Reason};
    use cgnat_core::natlog::{ipfix, EVENT_KINDS};
    if Command::new("tshark").arg("-v").output().is_err() {
        return skip("every_ipfix_template_decodes_in_tshark", "tshark is not installed");
    }
    let records: Vec<LogRecord> = EVENT_KINDS
        .iter()
        .enumerate()
        .map(|(i, k)| LogRecord {
            seq: i as u64,
            time: cgnat_core::Instant::from_micros(1_700_000_000_000_000 + i as u64),
            event: *k,
            subscriber: [100, 64, 0, 9].into(),
            public_addr: [203, 0, 113, 9].into(),
            first_port: 2048,
            last_port: 2111,
            protocol: ProtocolScope::All,
            reason: Reason::Limit,
            producer: 0,
            producer_seq: i as u64,
            aux: if *k == cgnat_core::EventKind::TableFull { 2 } else { 77 },
            run: 1,
        })
        .collect();
    let mut e = ipfix::Encoder::new(9, 1400);
    let mut msgs = vec![e.templates(1_700_000_000)];
    msgs.extend(e.data(&records));
    let dir = std::env::temp_dir().join(format!("cgnat-ipfix-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("ipfix.pcap");
    ipfix_pcap(&msgs, &pcap);
    let v = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", "udp.port==4739,cflow", "-V"])
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&v.stdout).to_string();
    let events: Vec<&str> = v.lines().filter(|l| l.contains("Nat Event:")).map(str::trim).collect();
    let details: Vec<&str> = v
        .lines()
        .filter(|l| l.contains("Quota") || l.contains("Threshold") || l.contains("Max") || l.contains("Post NAT"))
        .map(str::trim)
        .collect();
    eprintln!("{}", details.join("\n"));
    assert!(details.iter().any(|l| l.contains("Max Entries Per User: 77")), "{details:?}");
    eprintln!("{}", events.join("\n"));
    assert_eq!(
        events,
        [
            "Nat Event: Port block allocation (16)",
            "Nat Event: Port block de-allocation (17)",
            "Nat Event: Quota Exceeded (13)",
            "Nat Event: Quota Exceeded (13)",
            "Nat Event: NAT ports exhausted (12)",
            "Nat Event: Quota Exceeded (13)",
            "Nat Event: Threshold Reached (18)",
        ]
    );
    assert!(!v.contains("Malformed") && !v.contains("[Expert"), "tshark reports problems:\n{v}");
    let _ = std::fs::remove_dir_all(&dir);
}
