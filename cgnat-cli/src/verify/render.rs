//! The human form of a verification: findings first (`file:line: kind:
//! what`), then the files, the runs and how each ended, the live run's
//! open blocks, and the verdict.

use crate::output::Table;

use super::{Finding, VerifyReport};

/// Findings printed in the human form (all are in `--json`).
pub const MAX_PRINTED: usize = 100;

fn finding_line(f: &Finding) -> String {
    let kind = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let tolerated = if f.tolerated { " (tolerated: --allow-duplicates)" } else { "" };
    format!("{}:{}: {kind}: {}{tolerated}\n", f.file, f.line, f.message)
}

/// The human form of a report.
pub fn render(r: &VerifyReport) -> String {
    let mut s = String::new();
    for f in r.unparseable.iter().chain(&r.findings).take(MAX_PRINTED) {
        s.push_str(&finding_line(f));
    }
    let listed = r.unparseable.len() + r.findings.len();
    let all = r.unparseable_total + r.failing + r.tolerated;
    if all as usize > listed.min(MAX_PRINTED) {
        s.push_str(&format!(
            "... {} more (--json lists up to {} findings)\n",
            all as usize - listed.min(MAX_PRINTED),
            super::MAX_FINDINGS
        ));
    }
    if !s.is_empty() {
        s.push('\n');
    }
    let other: u64 = r.files.iter().map(|f| f.other_lines).sum();
    s.push_str(&format!(
        "files      {} ({} records{})\n",
        r.files.len(),
        r.records,
        if other > 0 {
            format!(", {other} lines of other programs skipped")
        } else {
            String::new()
        }
    ));
    let mut t = Table::new(["RUN", "FROM", "TO", "SEQ", "RECORDS", "START", "END", "OPEN"]);
    for run in &r.runs {
        let end = match &run.next_start {
            Some(n) => format!("{} (next run at {n})", run.ended),
            None => run.ended.to_string(),
        };
        t.row([
            match run.legacy_part {
                Some(p) => format!("{} #{p}", run.run),
                None => run.run.clone(),
            },
            run.first_time.clone().unwrap_or_default(),
            run.last_time.clone().unwrap_or_default(),
            run.seq.map(|(a, b)| format!("{a}-{b}")).unwrap_or_default(),
            run.records.to_string(),
            if run.started { "yes" } else { "-" }.to_string(),
            end,
            run.open_blocks.to_string(),
        ]);
    }
    s.push_str(&format!("runs       {}\n", r.runs.len()));
    for line in t.render().lines() {
        s.push_str(&format!("  {line}\n"));
    }
    if r.duplicates > 0 {
        s.push_str(&format!("duplicates {} identical copies\n", r.duplicates));
    }
    if r.open_blocks_total > 0 {
        s.push_str(&format!("open       {} blocks held by the live run:\n", r.open_blocks_total));
        for b in r.open_blocks.iter().take(20) {
            s.push_str(&format!(
                "  {} {} ports {}-{} ({}) since {}  [{}:{}]\n",
                b.subscriber, b.public, b.first_port, b.last_port, b.protocol, b.allocated, b.file, b.line
            ));
        }
        if r.open_blocks_total > 20 {
            s.push_str(&format!("  ... {} more\n", r.open_blocks_total - 20));
        }
    }
    let verdict = if r.unparseable_total > 0 {
        format!(
            "UNREADABLE: {} damaged line(s) or file(s) without a NAT record",
            r.unparseable_total
        )
    } else if r.failing > 0 {
        format!("FAILED: {} finding(s)", r.failing)
    } else {
        "clean".to_string()
    };
    s.push_str(&format!("verdict    {verdict}\n"));
    s
}
