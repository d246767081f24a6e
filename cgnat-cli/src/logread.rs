//! Reading NAT log files line by line: plain or gzip (detected by
//! content, whatever the name), in any format `cgnatd` or a collector
//! writes: the text format, JSON lines, `cgnatd`'s RFC 5424 syslog file,
//! and the files rsyslog and syslog-ng store from its syslog stream (their
//! common templates; see [`cgnat_core::natlog::collected`]), even mixed in
//! one file.
//!
//! Each line is one of: a NAT record, a damaged NAT record (it looks like
//! one but does not parse: an error the caller must not ignore), or a line
//! of another program sharing the file (skipped, counted). Blank lines are
//! skipped.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use cgnat_core::natlog::{self, LogRecord, ParseError};

/// What one line of a log file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A NAT log record.
    Record(LogRecord),
    /// It looks like a NAT log record but does not parse.
    Malformed(ParseError),
    /// Another program's line (a shared syslog file).
    Other,
}

/// Opens a log file, decompressing it if it is gzip.
pub fn open_log(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let f = File::open(path)?;
    if is_gzip(path)? {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(BufReader::new(f)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
    }
}

/// Whether the file starts with the gzip magic.
pub fn is_gzip(path: &Path) -> std::io::Result<bool> {
    let mut magic = [0u8; 2];
    let n = File::open(path)?.read(&mut magic)?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// Classifies one line (without its newline).
pub fn classify(line: &[u8]) -> Line {
    match std::str::from_utf8(line) {
        Ok(s) => match natlog::collected::parse_line(s) {
            Some(Ok(r)) => Line::Record(r),
            Some(Err(e)) => Line::Malformed(e),
            None => Line::Other,
        },
        Err(_) => match natlog::collected::parse_line(&String::from_utf8_lossy(line)) {
            Some(_) => Line::Malformed(ParseError::new("line", "not UTF-8 text")),
            None => Line::Other,
        },
    }
}

/// Classifies one line as read, its newline and carriage returns
/// included or not: `None` for a blank line (skipped).
pub fn classify_raw(raw: &[u8]) -> Option<Line> {
    let mut end = raw.len();
    while end > 0 && matches!(raw[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let text = &raw[..end];
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        return None;
    }
    Some(classify(text))
}

/// What the index and the reports say of a damaged line: the field and
/// what is wrong with it.
pub fn malformed_message(e: &ParseError) -> String {
    format!("{}: {}", e.field, e.message)
}

/// Reads every line of `reader` into `f(line number, what it is)`; blank
/// lines are skipped. Errors carry their 1-based line. Returns the number
/// of lines read.
pub fn for_each_line(mut reader: impl BufRead, mut f: impl FnMut(u64, Line)) -> std::io::Result<u64> {
    let mut buf = Vec::with_capacity(512);
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(line);
        }
        line += 1;
        match classify_raw(&buf) {
            None => {}
            Some(Line::Malformed(e)) => f(line, Line::Malformed(e.at(line as usize))),
            Some(l) => f(line, l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_records_damage_and_other_programs() {
        let rec = "2023-11-14T22:13:20.001000Z seq=42 block-alloc subscriber=100.64.1.10 public=203.0.113.3 ports=1536-2047 protocol=all reason=new-mapping producer=1 pseq=3 aux=0 run=0123456789abcdef";
        let text = format!(
            "{rec}\n\nNov 14 22:13:21 host sshd[1]: hello\nNov 14 22:13:20 h cgnatd {}\n{}\n",
            &rec[..80],
            &rec[..60]
        );
        let mut seen = Vec::new();
        let n = for_each_line(text.as_bytes(), |l, x| seen.push((l, x))).unwrap();
        assert_eq!(n, 5);
        assert_eq!(seen.len(), 4, "the blank line is skipped");
        assert!(matches!(seen[0], (1, Line::Record(_))));
        assert_eq!(seen[1], (3, Line::Other));
        assert!(matches!(&seen[2], (4, Line::Malformed(e)) if e.line == 4));
        let mut bytes = rec.as_bytes()[..60].to_vec();
        bytes.push(0xff);
        assert!(matches!(classify(&bytes), Line::Malformed(e) if e.message == "not UTF-8 text"));
        assert_eq!(classify(b"\xff\xfe garbage"), Line::Other);
    }
}
