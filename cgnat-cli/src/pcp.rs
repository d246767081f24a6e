//! `cgnatctl pcp`: the PCP (RFC 6887) and NAT-PMP (RFC 6886) mappings the
//! daemon holds, per subscriber, with their lifetime left, and the PCP
//! server's counters (issue 12 item 5).

use cgnat_core::control::{PcpList, Request, Response};

use crate::cli::PcpArgs;
use crate::client::{unexpected, Client};
use crate::error::{CmdResult, EXIT_NOT_FOUND, EXIT_OK};
use crate::output::{emit, Format, Table};

/// The human form of `pcp`.
pub fn render_pcp(l: &PcpList) -> String {
    if !l.enabled {
        return "the PCP server is off (pcp.enabled = false)\n".into();
    }
    let mut t = Table::new(["SUBSCRIBER", "KIND", "PROTO", "INTERNAL", "EXTERNAL", "LIFETIME", "PEERS"]);
    for m in &l.mappings {
        let peers = match (&m.remote, m.filters.is_empty()) {
            (Some(r), _) => r.clone(),
            (None, false) => m.filters.join(","),
            (None, true) => "any".into(),
        };
        t.row([
            m.subscriber.to_string(),
            m.kind.clone(),
            format!("{:?}", m.protocol).to_lowercase(),
            m.internal_port.to_string(),
            format!("{}:{}", m.public, m.public_port),
            format!("{}s", m.lifetime_left),
            peers,
        ]);
    }
    let counted = |v: &[(String, u64)]| {
        v.iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{}{} of {} mapping{}; epoch {} s\nrequests: {}\nresults: {}\n",
        t.render(),
        l.mappings.len(),
        l.total,
        if l.total == 1 { "" } else { "s" },
        l.epoch,
        counted(&l.requests),
        counted(&l.results)
    )
}

/// `cgnatctl pcp`: exit 0 with mappings, 1 with none.
pub fn pcp(client: &mut Client, a: &PcpArgs, f: Format) -> CmdResult {
    match client.call(Request::Pcp {
        subscriber: a.subscriber,
        limit: Some(a.top),
    })? {
        Response::Pcp(l) => {
            emit(f, &l, || render_pcp(&l))?;
            Ok(if l.mappings.is_empty() { EXIT_NOT_FOUND } else { EXIT_OK })
        }
        r => Err(unexpected(&r)),
    }
}
