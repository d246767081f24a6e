//! `cgnatctl subscribers` (top talkers: the subscribers with the most
//! sessions, ports or blocks) and `cgnatctl reload`.

use std::path::Path;

use cgnat_core::control::{Request, Response, SubscriberList, SubscriberSort};

use crate::cli::{SortArg, SubscribersArgs};
use crate::client::{unexpected, Client};
use crate::error::{CliError, CmdResult, EXIT_NOT_FOUND, EXIT_OK};
use crate::output::{emit, Format, Table};

/// The human form of `subscribers`.
pub fn render_subscribers(l: &SubscriberList) -> String {
    let mut t = Table::new(["SUBSCRIBER", "PUBLIC", "KIND", "SESSIONS", "PORTS", "BLOCKS", "CONFIRMED"]);
    for s in &l.subscribers {
        t.row([
            s.subscriber.to_string(),
            s.public.to_string(),
            s.kind.clone(),
            s.sessions.to_string(),
            s.ports.to_string(),
            s.blocks.to_string(),
            if s.confirmed { "yes" } else { "no" }.to_string(),
        ]);
    }
    let sort = match l.sort {
        SubscriberSort::Sessions => "sessions",
        SubscriberSort::Ports => "ports",
        SubscriberSort::Blocks => "blocks",
    };
    format!(
        "{}{} of {} subscriber{} with state, by {sort}\n",
        t.render(),
        l.subscribers.len(),
        l.total,
        if l.total == 1 { "" } else { "s" }
    )
}

/// `cgnatctl subscribers`.
pub fn subscribers(client: &mut Client, a: &SubscribersArgs, f: Format) -> CmdResult {
    let sort = match a.sort {
        SortArg::Sessions => SubscriberSort::Sessions,
        SortArg::Ports => SubscriberSort::Ports,
        SortArg::Blocks => SubscriberSort::Blocks,
    };
    match client.call(Request::Subscribers { sort, limit: Some(a.top) })? {
        Response::Subscribers(l) => {
            emit(f, &l, || render_subscribers(&l))?;
            Ok(if l.subscribers.is_empty() { EXIT_NOT_FOUND } else { EXIT_OK })
        }
        r => Err(unexpected(&r)),
    }
}

/// `cgnatctl reload [FILE]`: the daemon reads the file itself, so a
/// relative path is made absolute here.
pub fn reload(client: &mut Client, file: Option<&Path>, f: Format) -> CmdResult {
    let path = match file {
        Some(p) => Some(std::path::absolute(p).map_err(|e| CliError::usage(format!("{}: {e}", p.display())))?),
        None => None,
    };
    match client.call(Request::Reload { path })? {
        Response::Reloaded { path, log_targets } => {
            emit(f, &serde_json::json!({"reloaded": path, "log_targets": log_targets}), || {
                format!("reloaded {}\nlog targets: {}\n", path.display(), log_targets.join(", "))
            })?;
            Ok(EXIT_OK)
        }
        r => Err(unexpected(&r)),
    }
}
