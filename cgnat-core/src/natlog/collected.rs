//! NAT log records in the files collectors store.
//!
//! A syslog collector (rsyslog, syslog-ng) receiving `cgnatd`'s RFC 5424
//! stream writes each message with its own file template, e.g.
//!
//! ```text
//! Nov 14 22:13:20 cgnat1 cgnatd 2023-11-14T22:13:20.001000Z seq=42 block-alloc ...       (rsyslog TraditionalFileFormat)
//! 2023-11-14T22:13:20.001000Z cgnat1 cgnatd 2023-11-14T22:13:20.001000Z seq=42 ...       (rsyslog FileFormat)
//! <134>1 2023-11-14T22:13:20.001000Z cgnat1 cgnatd - block-alloc [nat@32473 ...] 2023-... (rsyslog SyslogProtocol23Format)
//! Nov 14 22:13:20 cgnat1 cgnatd: 2023-11-14T22:13:20.001000Z seq=42 block-alloc ...      (syslog-ng default)
//! ```
//!
//! Every template keeps the RFC 5424 MSG, which is the record's text-format
//! line ([`super::text`]): [`find_text_record`] finds it after whatever
//! header the collector wrote. When the line also carries the
//! structured-data element `[nat@32473 ...]` (RFC 5424 section 6.3), its
//! parameters must agree with the MSG, so a damaged line is an error rather
//! than a different record. Lines of other programs sharing the file are
//! not NAT lines ([`parse_line`] returns `None`); JSON-lines records
//! (starting with `{`) are parsed by [`super::json`].

use super::{json, producer_name, run_name, syslog::SD_ID, text, LogRecord, ParseError};

/// Whether `tok` starts like the record's timestamp (`YYYY-MM-DDT`).
fn date_like(tok: &str) -> bool {
    let b = tok.as_bytes();
    b.len() > 11 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-' && b[10] == b'T'
}

/// The text-format record inside a collected line: from the timestamp
/// token followed by ` seq=` to the end of the line. `None` if the line
/// holds no such token.
pub fn find_text_record(line: &str) -> Option<&str> {
    // The common case, a bare text-format line, without a substring
    // search: a 27-byte timestamp, then ` seq=` (the search below would
    // find this same occurrence first, as the timestamp has no space).
    if line.len() > 32 && line.is_char_boundary(27) && line.as_bytes()[27..32] == *b" seq=" {
        let head = &line[..27];
        if !head.contains(' ') && date_like(head) {
            return Some(line);
        }
    }
    let mut from = 0;
    while let Some(i) = line[from..].find(" seq=") {
        let at = from + i;
        let start = line[..at].rfind(' ').map_or(0, |s| s + 1);
        if date_like(&line[start..at]) {
            return Some(&line[start..]);
        }
        from = at + 1;
    }
    None
}

/// The parameters of the `[nat@32473 ...]` element of a syslog line, if
/// it has one (RFC 5424 section 6.3.3: `\"`, `\\` and `\]` are escapes).
pub fn sd_params(line: &str) -> Option<Result<Vec<(String, String)>, ParseError>> {
    // `[` then the id: found by a byte search for `[` (most lines have
    // none), not a substring search set up per line.
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'[', &line.as_bytes()[from..]) {
        let at = from + i + 1;
        if line[at..].starts_with(SD_ID) {
            return Some(parse_params(&line[at + SD_ID.len()..]));
        }
        from = at;
    }
    None
}

fn parse_params(mut s: &str) -> Result<Vec<(String, String)>, ParseError> {
    let bad = |why: &str| ParseError::new("structured-data", format!("[{SD_ID} ...]: {why}"));
    let mut out = Vec::new();
    loop {
        if s.starts_with(']') {
            return Ok(out);
        }
        s = s.strip_prefix(' ').ok_or_else(|| bad("expected a space or `]`"))?;
        let eq = s.find('=').ok_or_else(|| bad("a parameter without `=`"))?;
        let name = &s[..eq];
        if name.is_empty() || name.len() > 32 || !name.bytes().all(|b| b.is_ascii_graphic() && !b"=]\" ".contains(&b)) {
            return Err(bad(&format!("bad parameter name `{name}`")));
        }
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or_else(|| bad("a parameter value without quotes"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(bad("unterminated parameter value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, c @ ('"' | '\\' | ']'))) => value.push(c),
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(bad("unterminated parameter value")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        s = &s[end + 1..];
    }
}

/// Checks that the structured-data parameters say what the record says.
fn check_sd(params: &[(String, String)], r: &LogRecord) -> Result<(), ParseError> {
    let expected = [
        ("seq", r.seq.to_string()),
        ("subscriber", r.subscriber.to_string()),
        ("public", r.public_addr.to_string()),
        ("ports", format!("{}-{}", r.first_port, r.last_port)),
        ("protocol", r.protocol.name().to_string()),
        ("reason", r.reason.name().to_string()),
        ("producer", producer_name(r.producer).to_string()),
        ("pseq", r.producer_seq.to_string()),
        ("aux", r.aux.to_string()),
        ("run", run_name(r.run).to_string()),
    ];
    for (key, want) in expected {
        match params.iter().find(|(k, _)| k == key) {
            Some((_, v)) if *v == want => {}
            Some((_, v)) => {
                return Err(ParseError::new(
                    "structured-data",
                    format!("[{SD_ID}] says {key}=\"{v}\" but the message says {key}={want}"),
                ))
            }
            // Written before runs were recorded: no `run` parameter.
            None if key == "run" && r.run == 0 => {}
            None => return Err(ParseError::new("structured-data", format!("[{SD_ID}] has no `{key}` parameter"))),
        }
    }
    Ok(())
}

/// Parses one line of a file a collector (or `cgnatd` itself) wrote:
/// `None` if it is not a NAT log line (another program's message),
/// otherwise the record or why it does not parse. Errors carry line 0:
/// use [`ParseError::at`].
pub fn parse_line(line: &str) -> Option<Result<LogRecord, ParseError>> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim_start().starts_with('{') {
        return Some(json::parse_line(line));
    }
    let Some(msg) = find_text_record(line) else {
        return sd_params(line).map(|_| {
            Err(ParseError::new(
                "line",
                format!("a syslog message with [{SD_ID}] but no NAT log record in its MSG"),
            ))
        });
    };
    let r = match text::parse_line(msg) {
        Ok(r) => r,
        Err(e) => return Some(Err(e)),
    };
    // A line that is a whole text record has no structured data: no field
    // of a record that parses holds a `[` (so the search is saved).
    if msg.len() == line.len() {
        return Some(Ok(r));
    }
    Some(match sd_params(line) {
        Some(p) => p.and_then(|p| check_sd(&p, &r)).map(|_| r),
        None => Ok(r),
    })
}

#[cfg(test)]
mod tests {
    use super::super::syslog::{self, SyslogHeader};
    use super::super::tests::sample;
    use super::*;

    fn text_line() -> String {
        text::format(&sample())
    }

    #[test]
    fn finds_the_record_behind_every_collector_header() {
        let t = text_line();
        let h = SyslogHeader {
            hostname: "cgnat1".into(),
            ..SyslogHeader::default()
        };
        for line in [
            t.clone(),
            format!("Nov 14 22:13:20 cgnat1 cgnatd {t}"),
            format!("2023-11-14T22:13:20.001000+00:00 cgnat1 cgnatd {t}"),
            format!("Nov 14 22:13:20 cgnat1 cgnatd: {t}"),
            syslog::format(&h, &sample()),
        ] {
            assert_eq!(find_text_record(&line), Some(t.as_str()), "{line}");
            assert_eq!(parse_line(&line), Some(Ok(sample())), "{line}");
        }
        assert_eq!(parse_line(&format!("{t}\r")), Some(Ok(sample())));
    }

    #[test]
    fn other_programs_lines_are_not_nat_lines() {
        for line in [
            "Nov 14 22:13:20 host sshd[123]: Accepted publickey for root",
            "Nov 14 22:13:20 host ping: 64 bytes from 192.0.2.1: icmp_seq=1 ttl=64",
            "2023-11-14T22:13:20+00:00 host kernel: seq=5 something",
            "",
        ] {
            assert_eq!(parse_line(line), None, "{line}");
        }
    }

    #[test]
    fn damaged_nat_lines_are_errors() {
        let t = text_line();
        // A record cut short (a crash in the middle of a write).
        let cut = &t[..t.len() - 30];
        assert!(matches!(parse_line(cut), Some(Err(_))));
        assert!(matches!(parse_line(&format!("Nov 14 22:13:20 h cgnatd {cut}")), Some(Err(_))));
        // A JSON line that is not a record.
        assert_eq!(parse_line("{\"seq\":1}").unwrap().unwrap_err().field, "json");
        // The structured data contradicts the message.
        let h = SyslogHeader::default();
        let m = syslog::format(&h, &sample()).replacen("public=\"203.0.113.3\"", "public=\"203.0.113.4\"", 1);
        let e = parse_line(&m).unwrap().unwrap_err();
        assert_eq!(e.field, "structured-data");
        assert!(e.message.contains("public=\"203.0.113.4\""), "{e}");
        // The structured data without a message.
        let m = syslog::format(&h, &sample());
        let sd_only = &m[..m.find("] ").unwrap() + 1];
        assert!(parse_line(sd_only).unwrap().is_err());
        // An unterminated element.
        let m = syslog::format(&h, &sample()).replacen("aux=\"0\"", "aux=\"0", 1);
        assert!(parse_line(&m).unwrap().is_err());
    }

    #[test]
    fn sd_escapes_and_legacy_run() {
        let p = sd_params(r#"x [nat@32473 a="q\"b\]c\\" b="1"] m"#).unwrap().unwrap();
        assert_eq!(p, vec![("a".into(), "q\"b]c\\".into()), ("b".into(), "1".into())]);
        let mut r = sample();
        r.run = 0;
        let h = SyslogHeader::default();
        let m = syslog::format(&h, &r)
            .replacen(" run=\"0000000000000000\"", "", 1)
            .replacen(" run=0000000000000000", "", 1);
        assert_eq!(parse_line(&m), Some(Ok(r)));
    }
}
