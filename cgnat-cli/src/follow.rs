//! `cgnatctl events [--follow] [--last N]`, like `conntrack -E`: the NAT
//! log records the daemon writes.
//!
//! Issue 15: "`events --follow` missed the last record at shutdown and
//! exited 0". With `--follow` the daemon sends the last N records and
//! then every record written, in one stream without a gap; at a clean
//! stop it sends every record (its `daemon-stop` last) and then an `end`
//! line, and `cgnatctl` exits 0. Anything else is a broken stream and
//! exits 2, saying so: the connection closed without the `end` line, the
//! daemon dropped this follower for lagging (records were lost to it), or
//! a sequence number was skipped.

use cgnat_core::control::{JsonRecord, Request, Response};

use crate::client::{unexpected, Client};
use crate::error::{CliError, CmdResult, EXIT_OK};
use crate::output::{print, Format};

/// One NAT log record for humans (the text log line's fields).
pub fn render_record(r: &JsonRecord) -> String {
    format!(
        "{} seq={} {} subscriber={} public={} ports={}-{} protocol={} reason={} producer={} aux={}\n",
        r.time, r.seq, r.event, r.subscriber, r.public, r.first_port, r.last_port, r.protocol, r.reason, r.producer, r.aux
    )
}

fn print_record(r: &JsonRecord, f: Format) -> Result<(), CliError> {
    match f {
        Format::Json => print(&(serde_json::to_string(r).unwrap_or_default() + "\n")),
        Format::Human => print(&render_record(r)),
    }
}

/// Checks that follow records come one by one: the same run, `seq` + 1.
#[derive(Debug, Default)]
pub struct Continuity {
    last: Option<(String, u64)>,
}

impl Continuity {
    /// Notes `r`; an error if a record is missing before it.
    pub fn check(&mut self, r: &JsonRecord) -> Result<(), CliError> {
        if let Some((run, seq)) = &self.last {
            // Interim restatements share the seq of the next record.
            let ok = *run != r.run || r.seq == *seq + 1 || (r.seq == *seq && r.event == "block-interim");
            if !ok {
                return Err(CliError::usage(format!(
                    "the event stream skipped records: seq {} came after seq {seq} (run {run}); read the missing ones from the NAT log",
                    r.seq
                )));
            }
        }
        if r.event != "block-interim" {
            self.last = Some((r.run.clone(), r.seq));
        }
        Ok(())
    }
}

/// `cgnatctl events [--follow]`.
pub fn events(client: &mut Client, follow: bool, last: Option<u32>, f: Format) -> CmdResult {
    if !follow {
        match client.call(Request::Events { follow: false, last })? {
            Response::Records { records } => {
                if f == Format::Json {
                    crate::output::print_json(&records)?;
                } else {
                    for r in &records {
                        print_record(r, f)?;
                    }
                }
            }
            r => return Err(unexpected(&r)),
        }
        return Ok(EXIT_OK);
    }
    // One request: the last N records and then the stream, with no gap.
    match client.call(Request::Events { follow: true, last })? {
        Response::Following => {}
        r => return Err(unexpected(&r)),
    }
    client.no_timeout()?;
    let mut seen = Continuity::default();
    let mut n = 0u64;
    loop {
        let Some(env) = client.read_stream()? else {
            return Err(CliError::usage(format!(
                "the event stream from cgnatd broke after {n} records: the connection closed without the end of the stream (cgnatd killed, or the connection dropped); later records are only in the NAT log"
            )));
        };
        match env.response {
            Response::Record { record } => {
                seen.check(&record)?;
                print_record(&record, f)?;
                n += 1;
            }
            Response::End { reason } => {
                if f == Format::Human {
                    eprintln!("cgnatctl: end of the event stream after {n} records: {reason}");
                }
                return Ok(EXIT_OK);
            }
            Response::Error { message, .. } => {
                return Err(CliError::usage(format!(
                    "the event stream broke after {n} records: cgnatd: {message}"
                )))
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(run: &str, seq: u64, event: &str) -> JsonRecord {
        let mut r: JsonRecord = serde_json::from_str(
            r#"{"seq":0,"time":"2023-11-14T22:13:20.001000Z","time_us":1700000000001000,"event":"block-alloc","subscriber":"100.64.1.10","public":"203.0.113.3","first_port":1536,"last_port":2047,"protocol":"all","reason":"new-mapping","producer":"1","pseq":3,"aux":0,"run":"0123456789abcdef"}"#,
        )
        .unwrap();
        r.run = run.into();
        r.seq = seq;
        r.event = event.into();
        r
    }

    #[test]
    fn a_skipped_record_breaks_the_stream() {
        let mut c = Continuity::default();
        c.check(&rec("a", 4, "block-alloc")).unwrap();
        c.check(&rec("a", 5, "block-interim")).unwrap();
        c.check(&rec("a", 5, "block-release")).unwrap();
        c.check(&rec("a", 6, "block-alloc")).unwrap();
        let e = c.check(&rec("a", 8, "block-alloc")).unwrap_err();
        assert!(e.message.contains("seq 8 came after seq 6"), "{e}");
    }
}
