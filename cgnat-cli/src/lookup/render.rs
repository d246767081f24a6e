//! The human form of a lookup: the answer first, then the evidence
//! (`file:line` of the records), and for a run that ended without a
//! clean stop, what is certain and what is not.

use cgnat_core::natlog::run_name;

use crate::history::{Evidence, Holding};
use crate::timefmt::{format_time, Micros};

use super::{LookupReport, Outcome};

fn ev(e: &Option<Evidence>) -> String {
    e.as_ref().map(|e| format!("  [{}:{}]", e.file, e.line)).unwrap_or_default()
}

/// When a holding ended, in words.
fn release_words(h: &Holding) -> String {
    match (&h.run_ended, h.released) {
        (Some(end), _) if end.clean => format!(
            "{} (run {} stopped cleanly with the block open: no release record)",
            format_time(end.last_record),
            end.run
        ),
        (Some(end), _) => format!(
            "not logged: run {} ended without a clean stop; held for certain until {} (its last record), not after {} (the next run's start)",
            end.run,
            format_time(end.last_record),
            end.next_start.map(format_time).unwrap_or_default()
        ),
        (None, Some(t)) if h.release_inferred => format!("{} (inferred: next allocation of the block)", format_time(t)),
        (None, Some(t)) => format_time(t),
        (None, None) => "not released (held at the end of the log)".into(),
    }
}

fn allocation_words(h: &Holding) -> String {
    if h.allocated_before_logs {
        format!("before {} (allocation rotated out of the logs)", format_time(h.allocated))
    } else if h.allocation_restated {
        format!(
            "{} (restated by a block-interim record; the allocation record is not among the files)",
            format_time(h.allocated)
        )
    } else {
        format_time(h.allocated)
    }
}

/// One line for a previous or next holder.
fn holding_line(h: &Holding) -> String {
    let rel = match (&h.run_ended, h.released) {
        (Some(end), Some(t)) if !end.clean => format!(
            "{} (run {} crashed: certain until {})",
            format_time(t),
            end.run,
            format_time(end.last_record)
        ),
        (_, Some(r)) => format!(
            "{}{}",
            format_time(r),
            if h.release_inferred { " (inferred: no release record)" } else { "" }
        ),
        (_, None) => "still held at the end of the log".into(),
    };
    format!(
        "{} ports {}-{} ({}) from {}{} until {}",
        h.subscriber,
        h.first_port,
        h.last_port,
        h.protocol.name(),
        if h.allocated_before_logs { "before " } else { "" },
        format_time(h.allocated),
        rel
    )
}

fn holder_headline(what: &str, at: &str, t: Micros, h: &Holding) -> String {
    match (&h.run_ended, h.certain_at(t)) {
        (Some(end), false) => format!(
            "{what} at {at}: held by {} or already by nobody (run {} ended without a clean stop after its last record at {}; nobody else can have held it before {})\n",
            h.subscriber,
            end.run,
            format_time(end.last_record),
            end.next_start.map(format_time).unwrap_or_default()
        ),
        _ => format!("{what} at {at} was held by {}\n", h.subscriber),
    }
}

/// The human form of a live lookup (the daemon's answer).
fn render_live(r: &LookupReport) -> String {
    let what = format!("{}:{}", r.public, r.port);
    let Some(h) = r.history.holders.first() else {
        return match r.outcome {
            Outcome::NotInPool => format!(
                "nobody holds {what}: {} is not a public address of this NAT (not in its pool)\n",
                r.public
            ),
            _ => format!("nobody holds {what} now\n"),
        };
    };
    let live = h.live.clone().unwrap_or(crate::history::LiveHolding {
        kind: "dynamic".into(),
        mappings: Vec::new(),
        block_mappings: 0,
    });
    let mut s = format!("{what} is held by {} ({}, live)\n", h.subscriber, live.kind);
    let since = if h.allocated > 0 { format_time(h.allocated) } else { "-".into() };
    s.push_str(&format!(
        "  block      {} ports {}-{} ({}), allocated {since}, {} mappings\n",
        h.public,
        h.first_port,
        h.last_port,
        h.protocol.name(),
        live.block_mappings
    ));
    for (p, inside) in &live.mappings {
        let p = serde_json::to_value(p)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        s.push_str(&format!("  mapping    {p} {}:{inside} -> {what}\n", h.subscriber));
    }
    s
}

/// The human form of a lookup.
pub fn render(r: &LookupReport) -> String {
    if r.source == "live" {
        return render_live(r);
    }
    let what = format!("{}:{}", r.public, r.port);
    let mut s = String::new();
    if let Some(d) = &r.deterministic {
        match d.subscriber {
            Some(sub) => s.push_str(&format!("{what} at {} was held by {sub}\n", r.at)),
            None => s.push_str(&format!("nobody held {what} at {}\n", r.at)),
        }
        if let (Some(a), Some(b)) = (d.first_port, d.last_port) {
            s.push_str(&format!("  range      {} ports {a}-{b} (deterministic, RFC 7422)\n", r.public));
        }
        if d.config == "log" {
            s.push_str(&format!(
                "  formula    from the log: inside {}, pool {}\n",
                d.inside_prefixes.join(" "),
                d.pool_prefixes.join(" ")
            ));
        } else {
            s.push_str(&format!("  formula    {}\n", d.config));
        }
        if let Some(e) = &d.epoch {
            s.push_str(&format!("  epoch      since {}  [{}:{}]\n", e.since, e.file, e.line));
        }
        return s;
    }
    let t = crate::timefmt::parse_time(&r.at).unwrap_or_default();
    match (r.outcome, &r.covered) {
        (Outcome::NotCovered, Some(c)) => s.push_str(&format!(
            "no answer for {what} at {}: the NAT logs cover {} to {} only\n",
            r.at,
            format_time(c.from),
            format_time(c.to)
        )),
        (Outcome::NotCovered, None) => s.push_str(&format!("no answer for {what} at {}: the NAT logs hold no record\n", r.at)),
        (Outcome::NotInPool, _) => s.push_str(&format!(
            "nobody held {what} at {}: {} is not a public address of this NAT\n",
            r.at, r.public
        )),
        _ if r.history.holders.is_empty() => s.push_str(&format!("nobody held {what} at {}\n", r.at)),
        _ => {}
    }
    for h in &r.history.holders {
        s.push_str(&holder_headline(&what, &r.at, t, h));
        s.push_str(&format!(
            "  block      {} ports {}-{} ({})\n",
            h.public,
            h.first_port,
            h.last_port,
            h.protocol.name()
        ));
        s.push_str(&format!("  allocated  {}{}\n", allocation_words(h), ev(&h.allocation_record)));
        s.push_str(&format!("  released   {}{}\n", release_words(h), ev(&h.release_record)));
        if h.run != 0 {
            s.push_str(&format!("  run        {}\n", run_name(h.run)));
        }
        if let (None, Some(c)) = (h.released, r.covered.as_ref().filter(|c| t > c.to)) {
            s.push_str(&format!(
                "  note       the NAT logs end at {}: held as of then, not known after\n",
                format_time(c.to)
            ));
        }
    }
    if r.history.holders.is_empty() {
        if let Some(p) = &r.history.previous {
            s.push_str(&format!("  previous   {}{}\n", holding_line(p), ev(&p.release_record)));
        }
        if let Some(n) = &r.history.next {
            s.push_str(&format!("  next       {}{}\n", holding_line(n), ev(&n.allocation_record)));
        }
    }
    let files = r.logs.len();
    let other: u64 = r.logs.iter().map(|f| f.other_lines).sum();
    let other = if other > 0 {
        format!(" ({other} line{} of other programs skipped)", if other == 1 { "" } else { "s" })
    } else {
        String::new()
    };
    s.push_str(&format!(
        "  searched   {files} NAT log file{}{other}\n",
        if files == 1 { "" } else { "s" }
    ));
    s
}
