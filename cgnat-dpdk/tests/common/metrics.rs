//! Checks of a live scrape: `promtool check metrics` (Prometheus'
//! conventions: counters end in `_total`, units, HELP and TYPE) and the
//! documentation (every family exported is in `docs/metrics.md`).

use std::io::Write;

/// Validates an exposition with `promtool check metrics` (Debian's
/// `prometheus`, installed by scripts/install-deps.sh); required in CI and
/// under `CGNAT_DPDK_REQUIRE=1` (the test command), skipped with a note
/// elsewhere. The body may start with the HTTP response head.
pub fn promtool_check(body: &str) {
    let body = body.split_once("\r\n\r\n").map_or(body, |(_, b)| b);
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let required = std::env::var_os("CI").is_some() || std::env::var("CGNAT_DPDK_REQUIRE").as_deref() == Ok("1");
    let mut child = match child {
        Ok(c) => c,
        Err(e) if !required => {
            eprintln!("promtool not available ({e}): exposition not validated (scripts/install-deps.sh installs it)");
            return;
        }
        Err(e) => panic!("promtool: {e} (scripts/install-deps.sh installs Debian's prometheus)"),
    };
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.trim().is_empty(), "promtool check metrics:\n{text}");
}

/// The metric families of an exposition (`# TYPE` lines).
pub fn families(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// Every family of the scrape is documented in `docs/metrics.md` (a table
/// row starting with the name in backquotes).
pub fn assert_documented(body: &str) {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md")).unwrap();
    let missing: Vec<String> = families(body).into_iter().filter(|f| !doc.contains(&format!("| `{f}`"))).collect();
    assert!(missing.is_empty(), "metrics not documented in docs/metrics.md: {missing:?}");
}
