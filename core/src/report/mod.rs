//! Reports for the city's sex work forum and for the lead's own review.
//!
//! [`Store::report`] computes every figure from the projection tables for a range of nights and
//! returns an **anonymised** [`Report`]: every table is suppressed ([`suppress`]) before it
//! leaves this module, so the hidden values are not in the returned value at all.
//! [`Store::report_unsuppressed`] returns the same tables with nothing hidden, for the lead's
//! own review only; every call writes the audit event `report.view_unsuppressed`.
//!
//! Unique people are counted after merges: canonical ids are resolved at report time from the
//! `people.merged_into` projection, never stored in encounter rows, so a merge that arrives
//! later through sync changes the next report.
//!
//! Rendering ([`render`]): `to_table_text`, `to_csv` (one long-format CSV with a `section`
//! column) and `to_html` (one self-contained page: inline CSS and SVG, no script, no network).
//!
//! [`Store::export_csv`] is the record-level export for the lead (`outreach export`): one CSV
//! per [`ExportEntity`], not anonymised, audited.

pub mod build;
pub mod export;
pub mod render;
pub mod suppress;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

pub use export::ExportEntity;
pub use suppress::{
    suppress, suppress_linked, suppress_with, Cell, Pos, SuppressedTable, Table, DEFAULT_THRESHOLD,
    SUPPRESSED_MARK,
};

/// Days without contact after which a returning person counts as re-engaged.
pub const REENGAGE_DAYS: i64 = 90;

/// Longest range of nights one report may cover.
pub const MAX_RANGE_DAYS: i64 = 366 * 5;

/// What a report covers and how it is anonymised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportOptions {
    /// Values from 1 up to (not including) this are hidden. At least 5; publishers that blank
    /// 1–7 use 8.
    pub threshold: u64,
    /// Days without contact after which a returning person counts as re-engaged.
    pub reengage_days: i64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            threshold: DEFAULT_THRESHOLD,
            reengage_days: REENGAGE_DAYS,
        }
    }
}

/// How a section is drawn in the HTML report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Chart {
    /// Bars of the row totals.
    RowTotals,
    /// Bars of the row totals, and a second chart of the column totals.
    RowAndColumnTotals,
    /// Bars of one column.
    Column(usize),
}

/// One table of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// Stable id (`contacts_by_night_zone`, ...), used as the CSV `section` value.
    pub id: &'static str,
    /// Heading.
    pub title: String,
    /// What the numbers count.
    pub note: String,
    /// The published table.
    pub table: SuppressedTable,
    /// How to chart it.
    #[serde(skip)]
    pub chart: Chart,
}

/// A computed report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Team name.
    pub team: String,
    /// First night covered.
    pub from: NaiveDate,
    /// Last night covered (inclusive).
    pub to: NaiveDate,
    /// True for the published, suppressed view; false for the lead's audited own view.
    pub anonymised: bool,
    /// Suppression threshold used.
    pub threshold: u64,
    /// Re-engagement gap used (days).
    pub reengage_days: i64,
    /// When it was computed.
    pub generated_at: DateTime<Utc>,
    /// The tables, in reading order.
    pub sections: Vec<Section>,
}

/// An output format for a report (`outreach report --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// Aligned plain-text tables ([`Report::to_table_text`]).
    Table,
    /// One long-format CSV ([`Report::to_csv`]).
    Csv,
    /// One self-contained HTML page ([`Report::to_html`]).
    Html,
}

impl std::str::FromStr for ReportFormat {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" | "text" => Ok(ReportFormat::Table),
            "csv" => Ok(ReportFormat::Csv),
            "html" => Ok(ReportFormat::Html),
            _ => Err(crate::Error::invalid(
                "report.format",
                "must be one of: table, csv, html",
            )),
        }
    }
}

impl Report {
    /// Renders the report in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Table => self.to_table_text(),
            ReportFormat::Csv => self.to_csv(),
            ReportFormat::Html => self.to_html(),
        }
    }

    /// The section with this id.
    pub fn section(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }
}
