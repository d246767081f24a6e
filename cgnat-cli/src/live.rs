//! The commands that ask the running daemon: `subscriber`, `sessions`,
//! `stats`, `events`, `clear`, `status` (and live `lookup`, in
//! [`crate::lookup`]).

use std::net::Ipv4Addr;

use cgnat_core::config::Ipv4Prefix;
use cgnat_core::control::{ProtocolName, Request, Response, SessionFilter, SessionList, Stats, SubscriberDetail};

use crate::cli::{ClearArgs, ProtoArg, SessionsArgs};
use crate::client::{unexpected, Client};
use crate::error::{CliError, CmdResult, EXIT_NOT_FOUND, EXIT_OK};
use crate::output::{emit, key_values, Format, Table};

pub use crate::follow::render_record;

/// Parses `IP:PORT` (or `IP` when `port_optional`).
pub fn parse_endpoint(s: &str, port_optional: bool) -> Result<(Ipv4Addr, Option<u16>), CliError> {
    let bad = || {
        CliError::usage(format!(
            "`{s}` is not {}",
            if port_optional {
                "an IPv4 address or IP:PORT"
            } else {
                "IP:PORT (e.g. 203.0.113.3:1536)"
            }
        ))
    };
    match s.rsplit_once(':') {
        Some((a, p)) => Ok((a.parse().map_err(|_| bad())?, Some(p.parse().map_err(|_| bad())?))),
        None if port_optional => Ok((s.parse().map_err(|_| bad())?, None)),
        None => Err(bad()),
    }
}

/// The control protocol's name of a protocol.
pub fn proto_name(p: ProtoArg) -> ProtocolName {
    match p {
        ProtoArg::Tcp => ProtocolName::Tcp,
        ProtoArg::Udp => ProtocolName::Udp,
        ProtoArg::Icmp => ProtocolName::Icmp,
    }
}

fn pname(p: ProtocolName) -> &'static str {
    match p {
        ProtocolName::Tcp => "tcp",
        ProtocolName::Udp => "udp",
        ProtocolName::Icmp => "icmp",
    }
}

/// `  (near the limit)` when `used` is at least 80 % of `cap`.
fn near(used: u64, cap: u64) -> &'static str {
    if cap > 0 && used * 5 >= cap * 4 {
        if used >= cap {
            "  AT THE LIMIT"
        } else {
            "  near the limit"
        }
    } else {
        ""
    }
}

/// `used` as a percentage of `cap` (`-` for a table without capacity).
pub(crate) fn pct(used: u64, cap: u64) -> String {
    if cap == 0 {
        "-".into()
    } else {
        format!("{:.1}%", used as f64 * 100.0 / cap as f64)
    }
}

/// The human form of a subscriber.
pub fn render_subscriber(d: &SubscriberDetail) -> String {
    let total = d.sessions.tcp + d.sessions.udp + d.sessions.icmp;
    let ports: u64 = d.blocks.iter().map(|b| (b.last_port - b.first_port) as u64 + 1).sum();
    // Static ports are not blocks of the limit.
    let blocks = d.blocks.iter().filter(|b| !b.static_port).count() as u64;
    let statics = d.blocks.len() as u64 - blocks;
    let mut s = key_values(&[
        ("subscriber", d.subscriber.to_string()),
        ("public address", d.public.to_string()),
        ("mode", d.kind.clone()),
        (
            "confirmed",
            if d.confirmed {
                "yes".into()
            } else {
                "no (has not sent after a packet was delivered to it: nat.unconfirmed limits apply)".into()
            },
        ),
        (
            "sessions",
            format!(
                "{total} (tcp {}, udp {}, icmp {}; {} created from outside)",
                d.sessions.tcp, d.sessions.udp, d.sessions.icmp, d.inbound_sessions
            ),
        ),
        (
            "session limit",
            format!(
                "{} of {} used ({}){}",
                d.sessions_used,
                d.limits.max_sessions,
                pct(d.sessions_used as u64, d.limits.max_sessions as u64),
                near(d.sessions_used as u64, d.limits.max_sessions as u64)
            ),
        ),
        (
            "block limit",
            format!(
                "{blocks} of {} blocks of {} ports ({}), {ports} ports held{}{}",
                d.limits.max_blocks,
                d.limits.block_size,
                pct(blocks, d.limits.max_blocks as u64),
                if statics > 0 {
                    format!(" ({statics} static)")
                } else {
                    String::new()
                },
                near(blocks, d.limits.max_blocks as u64)
            ),
        ),
    ]);
    let mut t = Table::new(["PUBLIC", "PORTS", "ALLOCATED", "MAPPINGS"]);
    for b in &d.blocks {
        t.row([
            b.public.to_string(),
            if b.static_port {
                format!("{} (static)", b.first_port)
            } else {
                format!("{}-{}", b.first_port, b.last_port)
            },
            b.allocated_at.clone(),
            b.mappings.to_string(),
        ]);
    }
    s.push('\n');
    if t.is_empty() {
        s.push_str("no port blocks\n");
    } else {
        s.push_str(&t.render());
    }
    s
}

/// `cgnatctl subscriber IP`.
pub fn subscriber(client: &mut Client, address: Ipv4Addr, f: Format) -> CmdResult {
    match client.call(Request::Subscriber { address })? {
        Response::Subscriber(d) => {
            emit(f, &d, || render_subscriber(&d))?;
            Ok(EXIT_OK)
        }
        r => Err(unexpected(&r)),
    }
}

/// The human form of a session list (`conntrack -L` style).
pub fn render_sessions(list: &SessionList, limit: u32) -> String {
    let mut t = Table::new(["PROTO", "INSIDE", "PUBLIC", "REMOTE", "STATE", "IDLE", "EXPIRES"]);
    for s in &list.sessions {
        t.row([
            pname(s.protocol).to_string(),
            format!("{}:{}", s.inside, s.inside_port),
            format!("{}:{}", s.public, s.public_port),
            format!("{}:{}", s.remote, s.remote_port),
            s.state.clone(),
            format!("{}s", s.idle_secs),
            format!("{}s", s.expires_in_secs),
        ]);
    }
    let mut out = t.render();
    out.push_str(&format!(
        "{} session{}{}\n",
        list.sessions.len(),
        if list.sessions.len() == 1 { "" } else { "s" },
        if list.truncated {
            format!(" (truncated at --limit {limit})")
        } else {
            String::new()
        }
    ));
    out
}

/// Parses `IP` or `IP/LEN` (a prefix).
pub fn parse_addr_or_prefix(s: &str, what: &str) -> Result<(Option<Ipv4Addr>, Option<Ipv4Prefix>), CliError> {
    if s.contains('/') {
        let p: Ipv4Prefix = s
            .parse()
            .map_err(|e: cgnat_core::config::PrefixParseError| CliError::usage(format!("{what}: {e}")))?;
        Ok((None, Some(p)))
    } else {
        let a = s
            .parse()
            .map_err(|_| CliError::usage(format!("{what}: `{s}` is not an IPv4 address or prefix (a.b.c.d or a.b.c.d/len)")))?;
        Ok((Some(a), None))
    }
}

/// The `sessions` filter of the command line.
pub fn session_filter(a: &SessionsArgs) -> Result<SessionFilter, CliError> {
    let (public, public_port) = match &a.public {
        Some(p) => {
            let (ip, port) = parse_endpoint(p, true)?;
            (Some(ip), port)
        }
        None => (None, None),
    };
    let (mut destination, mut destination_port, mut destination_prefix) = (None, None, None);
    if let Some(d) = &a.destination {
        if d.contains('/') {
            destination_prefix = parse_addr_or_prefix(d, "--destination")?.1;
        } else {
            let (ip, port) = parse_endpoint(d, true)?;
            (destination, destination_port) = (Some(ip), port);
        }
    }
    let (subscriber, subscriber_prefix) = match &a.subscriber {
        Some(s) => parse_addr_or_prefix(s, "--subscriber")?,
        None => (None, None),
    };
    if let Some(st) = &a.state {
        if st != "-" && !cgnat_core::tcp_state::NAMES.iter().any(|n| n.eq_ignore_ascii_case(st)) {
            return Err(CliError::usage(format!(
                "--state {st}: not a session state (TCP: {}; UDP and ICMP: -)",
                cgnat_core::tcp_state::NAMES.join(", ")
            )));
        }
    }
    Ok(SessionFilter {
        subscriber,
        public,
        public_port,
        destination,
        destination_port,
        protocol: a.proto.map(proto_name),
        subscriber_prefix,
        destination_prefix,
        state: a.state.clone(),
    })
}

/// `cgnatctl sessions`.
pub fn sessions(client: &mut Client, a: &SessionsArgs, f: Format) -> CmdResult {
    let filter = session_filter(a)?;
    let list = match client.call(Request::Sessions {
        filter,
        limit: Some(a.limit),
    })? {
        Response::Sessions(l) => l,
        r => return Err(unexpected(&r)),
    };
    emit(f, &list, || render_sessions(&list, a.limit))?;
    Ok(if list.sessions.is_empty() { EXIT_NOT_FOUND } else { EXIT_OK })
}

/// The human form of `stats`.
pub fn render_stats(s: &Stats, workers: bool, count_only: bool) -> String {
    let mut t = Table::new(["TABLE", "USED", "CAPACITY", "FILL"]);
    for tf in &s.tables {
        t.row([
            tf.name.clone(),
            tf.used.to_string(),
            tf.capacity.to_string(),
            pct(tf.used, tf.capacity),
        ]);
    }
    let mut out = t.render();
    if count_only {
        return out;
    }
    let mut c = Table::new(["COUNTER", "VALUE"]);
    for (k, v) in s.nat.iter().filter(|(_, v)| **v > 0) {
        c.row([format!("nat.{k}"), v.to_string()]);
    }
    for (k, v) in s.dataplane.iter().filter(|(_, v)| **v > 0) {
        c.row([format!("dataplane.{k}"), v.to_string()]);
    }
    out.push('\n');
    out.push_str(&c.render());
    out.push_str(&format!(
        "\nlog: {} records, {} refused, {} pending\n",
        s.log.records, s.log.refused, s.log.pending
    ));
    let mut l = Table::new(["LOG TARGET", "WRITTEN", "ERRORS", "PENDING", "STALLED", "STATE"]);
    for k in &s.log.sinks {
        let state = if k.dead {
            "writer dead"
        } else if k.failing {
            "failing"
        } else {
            "ok"
        };
        l.row([
            k.name.clone(),
            k.written.to_string(),
            k.errors.to_string(),
            k.pending.to_string(),
            k.stalled.to_string(),
            state.to_string(),
        ]);
    }
    out.push_str(&l.render());
    for k in s.log.sinks.iter().filter(|k| k.failing || k.dead) {
        if let Some(e) = &k.last_error {
            out.push_str(&format!("log target {}: {e}\n", k.name));
        }
    }
    if !s.ports.is_empty() {
        out.push('\n');
        out.push_str(&render_ports(&s.ports));
    }
    if workers {
        for w in &s.workers {
            out.push_str(&format!(
                "\nworker {}: clock {}, ring backlog {}\n",
                w.id,
                crate::timefmt::format_time(w.watermark_us as i64),
                w.ring_pending
            ));
            // Both sets name some counters alike (rx_inside): prefixed, as
            // in the totals (issue 15: duplicate names).
            let mut c = Table::new(["COUNTER", "VALUE"]);
            for (k, v) in w.nat.iter().filter(|(_, v)| **v > 0) {
                c.row([format!("nat.{k}"), v.to_string()]);
            }
            for (k, v) in w.dataplane.iter().filter(|(_, v)| **v > 0) {
                c.row([format!("dataplane.{k}"), v.to_string()]);
            }
            out.push_str(&c.render());
        }
    }
    out
}

/// The NIC counters of the ports (missed, no-mbuf and errors are the
/// numbers to watch).
pub fn render_ports(ports: &[cgnat_core::control::PortCounters]) -> String {
    let mut t = Table::new([
        "PORT",
        "DEVICE",
        "RX PACKETS",
        "TX PACKETS",
        "RX BYTES",
        "TX BYTES",
        "MISSED",
        "RX ERRORS",
        "TX ERRORS",
        "NO MBUF",
    ]);
    for p in ports {
        t.row([
            p.port.clone(),
            p.device.clone(),
            p.rx_packets.to_string(),
            p.tx_packets.to_string(),
            p.rx_bytes.to_string(),
            p.tx_bytes.to_string(),
            p.rx_missed.to_string(),
            p.rx_errors.to_string(),
            p.tx_errors.to_string(),
            p.rx_nombuf.to_string(),
        ]);
    }
    t.render()
}

/// `cgnatctl stats`.
pub fn stats(client: &mut Client, workers: bool, count_only: bool, f: Format) -> CmdResult {
    match client.call(Request::Stats)? {
        Response::Stats(s) => {
            if count_only && f == Format::Json {
                crate::output::print_json(&s.tables)?;
            } else {
                emit(f, &s, || render_stats(&s, workers, count_only))?;
            }
            Ok(EXIT_OK)
        }
        r => Err(unexpected(&r)),
    }
}

/// Checks `clear`'s arguments: exactly one target, `--all` only with `--yes`.
pub fn clear_request(a: &ClearArgs) -> Result<Request, CliError> {
    let (public, port) = match &a.public {
        Some(p) => {
            let (ip, port) = parse_endpoint(p, false)?;
            (Some(ip), port)
        }
        None => (None, None),
    };
    if a.all && !a.yes {
        return Err(
            CliError::usage("--all clears every session of every subscriber: add --yes to confirm")
                .with_hint("to clear one subscriber: cgnatctl clear --subscriber IP; one port: --public IP:PORT"),
        );
    }
    if a.subscriber.is_none() && public.is_none() && !a.all {
        return Err(CliError::usage(
            "clear needs a target: --subscriber IP, --public IP:PORT, or --all --yes",
        ));
    }
    Ok(Request::Clear {
        subscriber: a.subscriber,
        public,
        port,
        all: a.all,
    })
}

/// `cgnatctl clear`.
pub fn clear(client: &mut Client, a: &ClearArgs, f: Format) -> CmdResult {
    let req = clear_request(a)?;
    match client.call(req)? {
        Response::Cleared(c) => {
            emit(f, &c, || {
                format!(
                    "cleared {} sessions, {} mappings, {} blocks released{}\n",
                    c.sessions,
                    c.mappings,
                    c.blocks,
                    if c.deferred > 0 {
                        format!(" ({} releases deferred: NAT log stalled)", c.deferred)
                    } else {
                        String::new()
                    }
                )
            })?;
            Ok(if c.sessions + c.mappings + c.blocks + c.deferred == 0 {
                EXIT_NOT_FOUND
            } else {
                EXIT_OK
            })
        }
        r => Err(unexpected(&r)),
    }
}

/// `cgnatctl status`.
pub fn status(client: &mut Client, f: Format) -> CmdResult {
    match client.call(Request::Status)? {
        Response::Status(s) => {
            emit(f, &s, || {
                key_values(&[
                    ("cgnatd", format!("{} (pid {})", s.version, s.pid)),
                    ("run mode", s.run_mode.clone()),
                    ("nat mode", s.nat_mode.clone()),
                    ("uptime", crate::timefmt::format_duration(s.uptime_secs as i64 * 1_000_000)),
                    ("clock", s.now.clone()),
                    ("workers", s.workers.to_string()),
                    ("config", s.config_source.clone()),
                    ("run", s.run.clone()),
                    ("log records", s.log_seq.to_string()),
                    ("log targets", s.log_targets.join(", ")),
                    ("log stalled", s.log_stalled.to_string()),
                ])
            })?;
            Ok(EXIT_OK)
        }
        r => Err(unexpected(&r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("203.0.113.3:1536", false).unwrap(),
            ("203.0.113.3".parse().unwrap(), Some(1536))
        );
        assert_eq!(parse_endpoint("203.0.113.3", true).unwrap().1, None);
        for bad in ["203.0.113.3", "x:1", "1.2.3.4:70000", ":", ""] {
            assert_eq!(parse_endpoint(bad, false).unwrap_err().code, 2, "{bad}");
        }
    }

    /// Issue 15: "session filters by state and prefix".
    #[test]
    fn session_filters_by_state_and_prefix() {
        let a = |sub: Option<&str>, dst: Option<&str>, state: Option<&str>| SessionsArgs {
            subscriber: sub.map(String::from),
            public: None,
            destination: dst.map(String::from),
            proto: Some(ProtoArg::Tcp),
            state: state.map(String::from),
            limit: 10,
        };
        let f = session_filter(&a(Some("100.64.1.0/24"), Some("198.51.100.0/24"), Some("established"))).unwrap();
        assert_eq!(f.subscriber_prefix, Some("100.64.1.0/24".parse().unwrap()));
        assert_eq!(f.destination_prefix, Some("198.51.100.0/24".parse().unwrap()));
        assert_eq!((f.subscriber, f.destination, f.state.as_deref()), (None, None, Some("established")));
        let f = session_filter(&a(Some("100.64.1.10"), Some("198.51.100.1:443"), Some("-"))).unwrap();
        assert_eq!(
            (f.subscriber, f.destination_port),
            (Some("100.64.1.10".parse().unwrap()), Some(443))
        );
        let e = session_filter(&a(None, None, Some("estab"))).unwrap_err();
        assert!(
            e.message.contains("not a session state") && e.message.contains("established"),
            "{e}"
        );
        assert!(session_filter(&a(Some("100.64.1.1/24"), None, None)).is_err(), "host bits set");
        assert!(session_filter(&a(Some("nope"), None, None)).is_err());
    }

    #[test]
    fn clear_needs_a_target_and_confirmation() {
        let a = |s: Option<&str>, p: Option<&str>, all, yes| ClearArgs {
            subscriber: s.map(|s| s.parse().unwrap()),
            public: p.map(String::from),
            all,
            yes,
        };
        assert!(clear_request(&a(None, None, false, false)).is_err());
        assert!(clear_request(&a(None, None, true, false)).unwrap_err().message.contains("--yes"));
        assert!(matches!(
            clear_request(&a(None, None, true, true)),
            Ok(Request::Clear { all: true, .. })
        ));
        assert!(matches!(
            clear_request(&a(None, Some("203.0.113.3:1536"), false, false)),
            Ok(Request::Clear { port: Some(1536), .. })
        ));
        assert!(clear_request(&a(Some("100.64.1.10"), None, false, false)).is_ok());
    }
}
