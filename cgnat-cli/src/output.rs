//! Rendering: aligned human tables, key/value blocks, and JSON.

use std::io::Write;

use serde::Serialize;

use crate::error::CliError;

/// How results are printed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned tables and key/value blocks.
    Human,
    /// One JSON document (pretty-printed), or JSON lines for streams.
    Json,
}

/// A table with a header row; columns are padded to the widest cell.
#[derive(Clone, Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells are blank, extra cells are dropped).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut r: Vec<String> = cells.into_iter().map(Into::into).collect();
        r.resize(self.headers.len(), String::new());
        self.rows.push(r);
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no data row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, no trailing spaces.
    pub fn render(&self) -> String {
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(w[i] - c.chars().count()));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(&self.headers);
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// `key: value` lines with the keys aligned.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<w$}  {v}\n", w = w + 1, k = format!("{k}:")))
        .collect()
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::usage(format!("cannot write to standard output: {e}"))),
    }
}

/// Prints `value` as pretty JSON (with a final newline).
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(value).map_err(|e| CliError::usage(format!("cannot encode JSON: {e}")))?;
    print(&(s + "\n"))
}

/// Prints `value` as JSON in the chosen format, or `human` otherwise.
pub fn emit<T: Serialize + ?Sized>(format: Format, value: &T, human: impl FnOnce() -> String) -> Result<(), CliError> {
    match format {
        Format::Json => print_json(value),
        Format::Human => print(&human()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(["A", "LONG HEADER", "C"]);
        t.row(["xxxx", "y", ""]);
        t.row(["1", "2", "3"]);
        assert_eq!(t.render(), "A     LONG HEADER  C\nxxxx  y\n1     2            3\n");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn key_values_align() {
        let s = key_values(&[("a", "1".into()), ("long", "2".into())]);
        assert_eq!(s, "a:     1\nlong:  2\n");
    }
}
