//! Output: plain tables, JSON, times in the team's offset.
//!
//! Everything goes to stdout through [`emit`], which treats a closed pipe (`outreach list | head`)
//! as the end of the output rather than an error. Text that came from records is cleaned of
//! control characters before it reaches a terminal: records arrive from other devices, and an
//! escape sequence in a note must not be able to rewrite the screen.

use std::io::Write;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use crate::errors::{CliError, CliResult};

/// Writes `text` to stdout. A closed pipe ends the output quietly.
pub fn emit(text: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    let r = out.write_all(text.as_bytes()).and_then(|_| {
        if !text.is_empty() && !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    });
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::other(format!(
            "could not write the output ({})",
            e.kind()
        ))),
    }
}

/// Pretty JSON of any serialisable value.
pub fn json<T: Serialize + ?Sized>(v: &T) -> CliResult<String> {
    serde_json::to_string_pretty(v)
        .map_err(|_| CliError::other("could not encode the output as JSON"))
}

/// Record text made safe for one table cell: control characters (newlines included) become
/// spaces.
pub fn cell(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Record text made safe for a terminal, keeping newlines.
pub fn text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// A plain-text table with a header row and columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: vec![],
        }
    }

    /// Adds a row (cells are cleaned of control characters).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| cell(c)).collect());
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Renders the table; the last column is not padded.
    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut widths = vec![0usize; n];
        for r in std::iter::once(&self.header).chain(self.rows.iter()) {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&self.header).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(n) {
                if i + 1 < n {
                    // Width counts chars, as `widths` does.
                    line.push_str(&format!("{c:<w$}  ", w = widths[i]));
                } else {
                    line.push_str(c);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The team's fixed offset from UTC.
pub fn offset(minutes: i32) -> FixedOffset {
    FixedOffset::east_opt(minutes * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

/// `HH:MM` in the team's offset.
pub fn clock(t: DateTime<Utc>, minutes: i32) -> String {
    t.with_timezone(&offset(minutes))
        .format("%H:%M")
        .to_string()
}

/// `YYYY-MM-DD HH:MM` in the team's offset.
pub fn stamp(t: DateTime<Utc>, minutes: i32) -> String {
    t.with_timezone(&offset(minutes))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The first characters of a device id, enough to tell devices apart in a table.
pub fn short(id: &str) -> String {
    id.chars().take(6).collect()
}

/// `yes` / `no`.
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `-` for absent text.
pub fn or_dash(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "-".to_string(),
    }
}
