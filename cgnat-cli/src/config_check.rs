//! `cgnatctl config check FILE`: the daemon's own loader and validation
//! ([`cgnat_core::config::file::load`]), and a summary of what the file
//! configures.

use std::path::Path;

use serde::Serialize;

use cgnat_core::config::{file, Mode};
use cgnat_core::pool::DeterministicMap;

use crate::error::{CmdResult, EXIT_NOT_FOUND, EXIT_OK};
use crate::output::{emit, key_values, Format};

/// The result of a check.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The file.
    pub file: String,
    /// Whether cgnatd would accept it.
    pub valid: bool,
    /// Why not (key, value, what is allowed).
    pub error: Option<String>,
    /// What it configures, if valid.
    pub summary: Option<serde_json::Value>,
}

/// Checks `path`; exit 0 if valid, 1 if not, 2 if unreadable.
pub fn run(path: &Path, f: Format) -> CmdResult {
    let report = match file::load(Some(path)) {
        Err(file::LoadError::Io { path, error }) => {
            return Err(crate::error::CliError::usage(format!("cannot read {}: {error}", path.display())))
        }
        Err(e) => CheckReport {
            file: path.display().to_string(),
            valid: false,
            error: Some(e.to_string()),
            summary: None,
        },
        Ok(c) => {
            let n = &c.nat;
            let blocks = n.port_range.len() / n.block_size.max(1) as u32;
            let det = (n.mode == Mode::Deterministic).then(|| DeterministicMap::new(n)).flatten();
            CheckReport {
                file: path.display().to_string(),
                valid: true,
                error: None,
                summary: Some(serde_json::json!({
                    "mode": n.mode,
                    "inside_prefixes": n.inside_prefixes,
                    "inside_addresses": n.inside_size(),
                    "pool": n.pool,
                    "pool_addresses": n.pool_size(),
                    "port_range": n.port_range,
                    "block_size": n.block_size,
                    "blocks_per_address": blocks,
                    "max_blocks_per_subscriber": n.max_blocks_per_subscriber,
                    "max_sessions_per_subscriber": n.max_sessions_per_subscriber,
                    "deterministic_ports_per_subscriber": det.as_ref().map(|d| d.ports_per_subscriber()),
                    "deterministic_subscribers_per_address": det.as_ref().map(|d| d.subscribers_per_address()),
                    "workers": c.dataplane.workers,
                    "nat_log": c.log.file,
                })),
            }
        }
    };
    emit(f, &report, || match (&report.error, &report.summary) {
        (Some(e), _) => format!("{}: INVALID\n  {e}\n", report.file),
        (None, Some(s)) => {
            let g = |k: &str| match s.get(k) {
                Some(serde_json::Value::String(v)) => v.clone(),
                Some(serde_json::Value::Array(v)) => v
                    .iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            let mut out = format!("{}: OK\n", report.file);
            let mut kv = vec![
                ("mode", g("mode")),
                ("inside", format!("{} ({} addresses)", g("inside_prefixes"), g("inside_addresses"))),
                ("pool", format!("{} ({} addresses)", g("pool"), g("pool_addresses"))),
                (
                    "ports",
                    format!(
                        "{}, blocks of {} ({} per address)",
                        g("port_range"),
                        g("block_size"),
                        g("blocks_per_address")
                    ),
                ),
                (
                    "per subscriber",
                    format!(
                        "{} blocks, {} sessions",
                        g("max_blocks_per_subscriber"),
                        g("max_sessions_per_subscriber")
                    ),
                ),
            ];
            if s.get("deterministic_ports_per_subscriber").is_some_and(|v| !v.is_null()) {
                kv.push((
                    "deterministic",
                    format!(
                        "{} subscribers per address, {} ports each",
                        g("deterministic_subscribers_per_address"),
                        g("deterministic_ports_per_subscriber")
                    ),
                ));
            }
            kv.push(("workers", g("workers")));
            kv.push(("nat log", g("nat_log")));
            for line in key_values(&kv).lines() {
                out.push_str(&format!("  {line}\n"));
            }
            out
        }
        _ => String::new(),
    })?;
    Ok(if report.valid { EXIT_OK } else { EXIT_NOT_FOUND })
}
