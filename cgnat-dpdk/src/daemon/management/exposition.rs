//! The Prometheus exposition (text format 0.0.4) of `cgnatd`: every metric,
//! its type, unit and help, documented one by one in `docs/metrics.md`.
//!
//! Conventions (issue 15 item 5, <https://prometheus.io/docs/practices/naming/>):
//! one metric per quantity, its unit in the name (`_packets`, `_frames`,
//! `_bytes`, `_records`, `_entries`, `_seconds`), `_total` for counters;
//! labels only for dimensions of the same quantity (`reason`, `direction`,
//! `side`, `port`, `worker`, `table`, `target`, `event`), so summing over
//! a label is meaningful. Cardinality is bounded by the configuration:
//! the one series per pool address (`cgnat_pool_address_blocks`) is
//! exported only with `metrics.per_address = true`.
//!
//! The NAT's and the data plane's counters map to metrics by an exhaustive
//! `match`: a new counter does not compile until it has its metric.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use cgnat_core::control::Stats;
use cgnat_core::natlog::EVENT_KINDS;
use cgnat_core::{Counter, DropReason};

use super::query::QueryContext;
use super::servers::{Limiter, ServerCounters};
use crate::daemon::counters::DpCounter;

/// A metric family: its name, one label (name, value) or none, help.
type Family = (&'static str, Option<(&'static str, &'static str)>, &'static str);

/// The metric of a NAT counter.
pub fn nat_metric(c: Counter) -> Family {
    match c {
        Counter::RxInside => (
            "cgnat_nat_input_packets_total",
            Some(("side", "inside")),
            "IPv4 packets handed to the NAT, by the side they came from.",
        ),
        Counter::RxOutside => (
            "cgnat_nat_input_packets_total",
            Some(("side", "outside")),
            "IPv4 packets handed to the NAT, by the side they came from.",
        ),
        Counter::TranslatedOut => (
            "cgnat_translated_packets_total",
            Some(("direction", "out")),
            "Packets translated, by direction (out: inside to outside).",
        ),
        Counter::TranslatedIn => (
            "cgnat_translated_packets_total",
            Some(("direction", "in")),
            "Packets translated, by direction (out: inside to outside).",
        ),
        Counter::Hairpinned => (
            "cgnat_hairpinned_packets_total",
            None,
            "Subscriber-to-subscriber packets translated both ways (RFC 4787 REQ-9).",
        ),
        Counter::Bypassed => (
            "cgnat_bypassed_packets_total",
            None,
            "Packets routed untranslated to a bypass prefix (RFC 6888 REQ-6).",
        ),
        Counter::Local => ("cgnat_local_packets_total", None, "Packets addressed to the appliance itself."),
        Counter::IcmpErrorsTranslated => (
            "cgnat_icmp_errors_translated_packets_total",
            None,
            "ICMP errors whose quoted packet was translated (RFC 5508).",
        ),
        Counter::FragmentsTranslated => (
            "cgnat_fragments_translated_packets_total",
            None,
            "Non-first fragments translated through the fragment cache (RFC 4787 REQ-14).",
        ),
        Counter::FragmentsHeld => (
            "cgnat_fragments_held_packets_total",
            None,
            "Non-first fragments held until their first fragment came.",
        ),
        Counter::NeedsFragmentation => (
            "cgnat_fragmentation_needed_packets_total",
            None,
            "Packets larger than the egress MTU without DF, to be fragmented.",
        ),
        Counter::SessionsCreated => ("cgnat_sessions_created_total", None, "Sessions (flows) created."),
        Counter::MappingsCreated => ("cgnat_mappings_created_total", None, "Endpoint-independent mappings created."),
        Counter::BlocksAllocated => (
            "cgnat_port_blocks_allocated_total",
            None,
            "Port blocks allocated to subscribers (each logged).",
        ),
        Counter::SubscribersCreated => ("cgnat_subscribers_created_total", None, "Subscribers that became active."),
        Counter::IcmpErrorsRequested => (
            "cgnat_icmp_errors_requested_total",
            None,
            "ICMP errors the NAT asked the data plane to send.",
        ),
        Counter::AdmittedOnRetry => (
            "cgnat_subscribers_admitted_on_retry_total",
            None,
            "New subscribers admitted from the retry budget (refused once, came back).",
        ),
        Counter::SubscribersConfirmed => (
            "cgnat_subscribers_confirmed_total",
            None,
            "Subscribers that showed they can receive (sent after a packet was delivered to them).",
        ),
        Counter::HeldForLog => (
            "cgnat_nat_held_for_log_packets_total",
            None,
            "Translated packets the NAT marked to wait until their block's allocation record was durable.",
        ),
        Counter::AdmissionSummaries => (
            "cgnat_admission_limit_records_total",
            None,
            "admission-limit summary records emitted.",
        ),
        Counter::HaSyncRingFull => (
            "cgnat_ha_sync_ring_full_total",
            None,
            "New sessions the HA sync ring had no room for (each leads to a resync of the standby).",
        ),
    }
}

/// The metric of a data-plane counter (drops go to
/// `cgnat_dataplane_dropped_packets_total{reason}`).
pub fn dp_metric(c: DpCounter) -> Family {
    const DROPPED: &str = "cgnat_dataplane_dropped_packets_total";
    const DROPPED_HELP: &str = "Frames and packets the data plane dropped, by reason (NAT drops are cgnat_dropped_packets_total).";
    match c {
        DpCounter::RxInside => (
            "cgnat_dataplane_received_frames_total",
            Some(("port", "inside")),
            "Frames the workers received, by port.",
        ),
        DpCounter::RxOutside => (
            "cgnat_dataplane_received_frames_total",
            Some(("port", "outside")),
            "Frames the workers received, by port.",
        ),
        DpCounter::TxInside => (
            "cgnat_dataplane_transmitted_frames_total",
            Some(("port", "inside")),
            "Frames the workers transmitted, by port.",
        ),
        DpCounter::TxOutside => (
            "cgnat_dataplane_transmitted_frames_total",
            Some(("port", "outside")),
            "Frames the workers transmitted, by port.",
        ),
        DpCounter::TxDropInside => (
            "cgnat_dataplane_tx_dropped_frames_total",
            Some(("port", "inside")),
            "Frames a full TX queue did not accept, by port.",
        ),
        DpCounter::TxDropOutside => (
            "cgnat_dataplane_tx_dropped_frames_total",
            Some(("port", "outside")),
            "Frames a full TX queue did not accept, by port.",
        ),
        DpCounter::ArpRx => ("cgnat_arp_received_packets_total", None, "ARP packets received."),
        DpCounter::ArpRepliesSent => (
            "cgnat_arp_sent_packets_total",
            Some(("type", "reply")),
            "ARP packets sent, by type (reply: for own or pool addresses; request: to resolve next hops; probe: unicast to stale neighbours; announcement: gratuitous, after an HA takeover).",
        ),
        DpCounter::ArpRequestsSent => (
            "cgnat_arp_sent_packets_total",
            Some(("type", "request")),
            "ARP packets sent, by type (reply: for own or pool addresses; request: to resolve next hops; probe: unicast to stale neighbours; announcement: gratuitous, after an HA takeover).",
        ),
        DpCounter::ArpProbesSent => (
            "cgnat_arp_sent_packets_total",
            Some(("type", "probe")),
            "ARP packets sent, by type (reply: for own or pool addresses; request: to resolve next hops; probe: unicast to stale neighbours; announcement: gratuitous, after an HA takeover).",
        ),
        DpCounter::ArpAnnouncementsSent => (
            "cgnat_arp_sent_packets_total",
            Some(("type", "announcement")),
            "ARP packets sent, by type (reply: for own or pool addresses; request: to resolve next hops; probe: unicast to stale neighbours; announcement: gratuitous, after an HA takeover).",
        ),
        DpCounter::ArpLearned => (
            "cgnat_neighbours_learned_total",
            None,
            "Neighbour entries learned or refreshed from ARP.",
        ),
        DpCounter::ArpIgnored => (
            "cgnat_arp_ignored_packets_total",
            None,
            "ARP packets ignored (not for us, malformed, not Ethernet/IPv4).",
        ),
        DpCounter::UnresolvedHeld => (
            "cgnat_unresolved_held_packets_total",
            None,
            "Packets held while their next hop was resolved.",
        ),
        DpCounter::UnresolvedReleased => (
            "cgnat_unresolved_released_packets_total",
            None,
            "Held packets sent once their next hop was resolved.",
        ),
        DpCounter::UnresolvedDropped => (DROPPED, Some(("reason", "unresolved")), DROPPED_HELP),
        DpCounter::NeighbourTableFull => (DROPPED, Some(("reason", "neighbour_table_full")), DROPPED_HELP),
        DpCounter::NeighbourExpired => (
            "cgnat_neighbours_expired_total",
            None,
            "Neighbours removed after their probes went unanswered.",
        ),
        DpCounter::NoRoute => (DROPPED, Some(("reason", "no_route")), DROPPED_HELP),
        DpCounter::EchoReplies => (
            "cgnat_echo_replies_sent_total",
            None,
            "ICMP echo replies sent for own and pool addresses.",
        ),
        DpCounter::IcmpErrorsSent => ("cgnat_icmp_errors_sent_total", None, "ICMP errors sent."),
        DpCounter::IcmpRateLimited => (
            "cgnat_icmp_errors_rate_limited_total",
            None,
            "ICMP errors not sent: rate limit (RFC 1812 section 4.3.2.8).",
        ),
        DpCounter::IcmpErrorsForbidden => (
            "cgnat_icmp_errors_forbidden_total",
            None,
            "ICMP errors not sent: RFC 1812 section 4.3.2.7 forbids them.",
        ),
        DpCounter::LocalDropped => (DROPPED, Some(("reason", "local")), DROPPED_HELP),
        DpCounter::LocalRefused => (
            "cgnat_local_refused_packets_total",
            None,
            "UDP and TCP to the appliance's own addresses, refused.",
        ),
        DpCounter::FragmentsSent => (
            "cgnat_fragments_sent_total",
            None,
            "Fragments sent for packets larger than the egress MTU.",
        ),
        DpCounter::FragmentationFailed => (DROPPED, Some(("reason", "fragmentation_failed")), DROPPED_HELP),
        DpCounter::FragmentStashFull => (DROPPED, Some(("reason", "fragment_stash_full")), DROPPED_HELP),
        DpCounter::FragmentSourceLimit => (DROPPED, Some(("reason", "fragment_source_limit")), DROPPED_HELP),
        DpCounter::FragmentsExpired => (DROPPED, Some(("reason", "fragment_expired")), DROPPED_HELP),
        DpCounter::NotIpv4 => (DROPPED, Some(("reason", "not_ipv4")), DROPPED_HELP),
        DpCounter::OtherMac => (DROPPED, Some(("reason", "other_mac")), DROPPED_HELP),
        DpCounter::VlanMismatch => (DROPPED, Some(("reason", "vlan_mismatch")), DROPPED_HELP),
        DpCounter::BadFrame => (DROPPED, Some(("reason", "bad_frame")), DROPPED_HELP),
        DpCounter::MbufAllocFailed => (DROPPED, Some(("reason", "mbuf_alloc_failed")), DROPPED_HELP),
        DpCounter::LogWaitHeld => (
            "cgnat_log_wait_held_packets_total",
            None,
            "Packets the data plane held until their block's record was durable.",
        ),
        DpCounter::LogWaitReleased => (
            "cgnat_log_wait_released_packets_total",
            None,
            "Held packets sent once their block's record was durable.",
        ),
        DpCounter::LogWaitDropped => (DROPPED, Some(("reason", "log_wait")), DROPPED_HELP),
        DpCounter::PcpRequests => (
            "cgnat_pcp_received_requests_total",
            None,
            "PCP and NAT-PMP requests the workers passed to the management core.",
        ),
        DpCounter::PcpQueueFull => (DROPPED, Some(("reason", "pcp_queue_full")), DROPPED_HELP),
        DpCounter::PcpMalformed => (DROPPED, Some(("reason", "pcp_malformed")), DROPPED_HELP),
        DpCounter::PcpSpoofed => (DROPPED, Some(("reason", "pcp_spoofed")), DROPPED_HELP),
        DpCounter::HaNotActive => (DROPPED, Some(("reason", "ha_not_active")), DROPPED_HELP),
        DpCounter::PcpUnverified => (DROPPED, Some(("reason", "pcp_unverified")), DROPPED_HELP),
        DpCounter::PcpAnswersSent => (
            "cgnat_pcp_sent_answers_total",
            None,
            "PCP and NAT-PMP answers and unsolicited ANNOUNCEs the workers sent.",
        ),
    }
}

/// The exposition being written: each family's HELP and TYPE once, before
/// its first sample, whatever order the samples come in.
#[derive(Default)]
pub struct Exposition {
    families: BTreeMap<&'static str, (&'static str, String, String)>,
    order: Vec<&'static str>,
}

impl Exposition {
    /// Adds one sample of `name` (`labels` already formatted, without
    /// braces; empty for none).
    pub fn sample(&mut self, name: &'static str, kind: &'static str, help: &str, labels: &str, value: impl std::fmt::Display) {
        let e = self.families.entry(name).or_insert_with(|| {
            self.order.push(name);
            (kind, help.to_string(), String::new())
        });
        if labels.is_empty() {
            let _ = writeln!(e.2, "{name} {value}");
        } else {
            let _ = writeln!(e.2, "{name}{{{labels}}} {value}");
        }
    }

    /// The text.
    pub fn finish(self) -> String {
        let mut o = String::with_capacity(32 * 1024);
        for name in &self.order {
            let (kind, help, samples) = &self.families[name];
            let _ = write!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{samples}");
        }
        o
    }
}

/// Escapes a label value (backslash, double quote, newline).
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The process start time, seconds since the Unix epoch (from
/// `/proc/self/stat` and the boot time).
pub fn process_start_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let btime: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| btime + ticks / hz as f64)
}

/// The NAT's, the data plane's, the ports' and the log's metrics.
pub fn render(ctx: &QueryContext, per_address: bool, x: &mut Exposition) {
    let stats = ctx.stats();
    x.sample(
        "cgnat_build_info",
        "gauge",
        "The cgnatd build (always 1).",
        &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
        1,
    );
    if let Some(t) = process_start_time() {
        x.sample(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch in seconds.",
            "",
            format!("{t:.2}"),
        );
    }
    x.sample(
        "cgnat_workers",
        "gauge",
        "Worker lcores translating packets.",
        "",
        stats.workers.len(),
    );
    tables(&stats, x);
    pool(ctx, per_address, x);
    for c in Counter::ALL {
        let (name, l, help) = nat_metric(*c);
        let labels = l.map(|(k, v)| format!("{k}=\"{v}\"")).unwrap_or_default();
        x.sample(name, "counter", help, &labels, stats.nat[c.name()]);
    }
    for r in DropReason::ALL {
        x.sample(
            "cgnat_dropped_packets_total",
            "counter",
            "Packets the NAT dropped, by reason (cgnat_core::DropReason).",
            &format!("reason=\"{}\"", r.name()),
            stats.nat[&format!("drop.{}", r.name())],
        );
    }
    for c in DpCounter::ALL {
        let (name, l, help) = dp_metric(*c);
        let labels = l.map(|(k, v)| format!("{k}=\"{v}\"")).unwrap_or_default();
        x.sample(name, "counter", help, &labels, stats.dataplane[c.name()]);
    }
    for w in &stats.workers {
        for (d, c) in [("out", "translated_out"), ("in", "translated_in")] {
            x.sample(
                "cgnat_worker_translated_packets_total",
                "counter",
                "Packets translated per worker, by direction.",
                &format!("worker=\"{}\",direction=\"{d}\"", w.id),
                w.nat[c],
            );
        }
        for (p, c) in [("inside", "rx_inside"), ("outside", "rx_outside")] {
            x.sample(
                "cgnat_worker_received_frames_total",
                "counter",
                "Frames received per worker, by port (RSS spread).",
                &format!("worker=\"{}\",port=\"{p}\"", w.id),
                w.dataplane[c],
            );
        }
    }
    ports(&stats, x);
    log(ctx, &stats, x);
}

fn tables(stats: &Stats, x: &mut Exposition) {
    for t in &stats.tables {
        let l = format!("table=\"{}\"", t.name);
        x.sample("cgnat_table_entries", "gauge", "Entries in use per preallocated table.", &l, t.used);
        x.sample(
            "cgnat_table_reserved_bytes",
            "gauge",
            "Memory a preallocated table reserves (resident once its pages are touched; never more).",
            &l,
            t.bytes,
        );
        x.sample(
            "cgnat_table_capacity_entries",
            "gauge",
            "Capacity per preallocated table.",
            &l,
            t.capacity,
        );
        x.sample(
            "cgnat_table_fill_ratio",
            "gauge",
            "Entries in use / capacity; alert above 0.8 (a table-fill-alert record is also logged).",
            &l,
            format!("{:.6}", t.used as f64 / t.capacity.max(1) as f64),
        );
    }
}

fn pool(ctx: &QueryContext, per_address: bool, x: &mut Exposition) {
    let per = ctx.blocks_per_address();
    let cap = ctx.nat.pool().blocks_per_address();
    x.sample(
        "cgnat_pool_addresses",
        "gauge",
        "Public addresses in the pool (exclusions left out).",
        "",
        per.len(),
    );
    x.sample(
        "cgnat_pool_addresses_full",
        "gauge",
        "Public addresses without a free port block.",
        "",
        per.iter().filter(|(_, n)| *n >= cap).count(),
    );
    if per_address {
        for (a, n) in per {
            x.sample(
                "cgnat_pool_address_blocks",
                "gauge",
                "Port blocks allocated per public address (metrics.per_address = true).",
                &format!("address=\"{a}\""),
                n,
            );
        }
    }
}

fn ports(stats: &Stats, x: &mut Exposition) {
    for p in &stats.ports {
        let l = format!("port=\"{}\",device=\"{}\"", label(&p.port), label(&p.device));
        for (name, help, v) in [
            ("cgnat_port_received_packets_total", "Packets the NIC received.", p.rx_packets),
            ("cgnat_port_transmitted_packets_total", "Packets the NIC transmitted.", p.tx_packets),
            ("cgnat_port_received_bytes_total", "Bytes the NIC received.", p.rx_bytes),
            ("cgnat_port_transmitted_bytes_total", "Bytes the NIC transmitted.", p.tx_bytes),
            (
                "cgnat_port_missed_packets_total",
                "Packets the NIC dropped because the RX queues were full (the workers did not keep up).",
                p.rx_missed,
            ),
            ("cgnat_port_receive_errors_total", "Erroneous packets received.", p.rx_errors),
            ("cgnat_port_transmit_errors_total", "Failed transmissions.", p.tx_errors),
            (
                "cgnat_port_mbuf_allocation_failures_total",
                "RX mbuf allocation failures (the mbuf pool ran dry).",
                p.rx_nombuf,
            ),
        ] {
            x.sample(name, "counter", help, &l, v);
        }
    }
}

fn log(ctx: &QueryContext, stats: &Stats, x: &mut Exposition) {
    for (i, k) in EVENT_KINDS.iter().enumerate() {
        x.sample(
            "cgnat_log_records_total",
            "counter",
            "NAT log records written, by event (block-alloc = allocations, block-release = releases).",
            &format!("event=\"{}\"", k.name()),
            ctx.log.by_event[i].load(Ordering::Relaxed),
        );
    }
    x.sample(
        "cgnat_log_refused_events_total",
        "counter",
        "Events refused by a full ring: new blocks refused (log_stalled).",
        "",
        stats.log.refused,
    );
    x.sample(
        "cgnat_log_pending_events",
        "gauge",
        "Events queued in rings or waiting for the merge.",
        "",
        stats.log.pending,
    );
    x.sample(
        "cgnat_log_stalled",
        "gauge",
        "1 while a blocking log target is full.",
        "",
        u8::from(ctx.log.stalled.load(Ordering::Relaxed)),
    );
    for s in &stats.log.sinks {
        let l = format!("target=\"{}\"", label(&s.name));
        x.sample(
            "cgnat_log_target_written_records_total",
            "counter",
            "Records written per log target.",
            &l,
            s.written,
        );
        x.sample(
            "cgnat_log_target_errors_total",
            "counter",
            "Write errors and dropped records per log target.",
            &l,
            s.errors,
        );
        x.sample(
            "cgnat_log_target_failing",
            "gauge",
            "1 while a log target's writes fail (also when its writer died; a blocking target then holds new blocks back).",
            &l,
            u8::from(s.failing || s.dead),
        );
        x.sample(
            "cgnat_log_target_pending_records",
            "gauge",
            "Records buffered per log target, not yet durable.",
            &l,
            s.pending,
        );
    }
}

/// The management servers' own counters and limits.
pub fn render_servers(x: &mut Exposition, c: &ServerCounters, control: &Limiter, metrics: &Limiter) {
    for (result, n) in [("accepted", &c.control_accepted), ("refused", &c.control_refused)] {
        x.sample(
            "cgnat_control_connections_total",
            "counter",
            "Control-socket connections: accepted, or refused at control.max_connections.",
            &format!("result=\"{result}\""),
            n.get(),
        );
    }
    x.sample(
        "cgnat_control_connections_open",
        "gauge",
        "Control-socket connections open now (both sockets).",
        "",
        control.open(),
    );
    x.sample(
        "cgnat_control_connections_limit",
        "gauge",
        "control.max_connections.",
        "",
        control.max(),
    );
    x.sample(
        "cgnat_control_followers",
        "gauge",
        "events --follow streams open now.",
        "",
        c.control_followers.load(Ordering::Relaxed),
    );
    x.sample(
        "cgnat_control_requests_total",
        "counter",
        "Control requests read.",
        "",
        c.control_requests.get(),
    );
    for (reason, n) in [
        ("request_too_long", &c.control_too_long),
        ("idle_timeout", &c.control_idle_timeouts),
        ("write_timeout", &c.control_write_timeouts),
        ("follower_lagged", &c.control_followers_lagged),
    ] {
        x.sample(
            "cgnat_control_disconnects_total",
            "counter",
            "Control connections closed by the daemon, by reason.",
            &format!("reason=\"{reason}\""),
            n.get(),
        );
    }
    for (result, n) in [("accepted", &c.metrics_accepted), ("refused", &c.metrics_refused)] {
        x.sample(
            "cgnat_metrics_connections_total",
            "counter",
            "Metrics connections: accepted, or refused (503) at metrics.max_connections.",
            &format!("result=\"{result}\""),
            n.get(),
        );
    }
    x.sample(
        "cgnat_metrics_connections_open",
        "gauge",
        "Metrics connections open now (this one included).",
        "",
        metrics.open(),
    );
    x.sample(
        "cgnat_metrics_connections_limit",
        "gauge",
        "metrics.max_connections.",
        "",
        metrics.max(),
    );
    x.sample(
        "cgnat_metrics_requests_total",
        "counter",
        "HTTP requests answered.",
        "",
        c.metrics_requests.get(),
    );
    for (reason, n) in [
        ("header_timeout", &c.metrics_header_timeouts),
        ("connection_timeout", &c.metrics_connection_timeouts),
        ("error", &c.metrics_errors),
    ] {
        x.sample(
            "cgnat_metrics_disconnects_total",
            "counter",
            "Metrics connections cut by the daemon, by reason.",
            &format!("reason=\"{reason}\""),
            n.get(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15: "one metric per quantity": every counter has a metric; a
    /// metric with a label has the same help for each of its values (one
    /// family), and names end in `_total`.
    #[test]
    fn every_counter_has_one_family() {
        let mut help: BTreeMap<&str, &str> = BTreeMap::new();
        let fams = Counter::ALL
            .iter()
            .map(|c| nat_metric(*c))
            .chain(DpCounter::ALL.iter().map(|c| dp_metric(*c)));
        let mut seen = std::collections::HashSet::new();
        for (name, l, h) in fams {
            assert!(name.ends_with("_total"), "{name}");
            assert!(name.starts_with("cgnat_"), "{name}");
            assert_eq!(*help.entry(name).or_insert(h), h, "{name}: one help per family");
            assert!(seen.insert((name, l)), "{name} {l:?} twice");
        }
    }

    #[test]
    fn families_are_grouped() {
        let mut x = Exposition::default();
        x.sample("a_total", "counter", "A.", "k=\"1\"", 1);
        x.sample("b", "gauge", "B.", "", 2);
        x.sample("a_total", "counter", "A.", "k=\"2\"", 3);
        assert_eq!(
            x.finish(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total{k=\"1\"} 1\na_total{k=\"2\"} 3\n# HELP b B.\n# TYPE b gauge\nb 2\n"
        );
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
