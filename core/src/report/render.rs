//! Rendering a [`Report`] as plain text, CSV and a self-contained HTML page.
//!
//! Every format shows a hidden cell as `*` (the same mark for primary and secondary
//! suppression: telling them apart would tell a reader which hidden cells are the small ones)
//! and states whether the report is anonymised. Labels are the controlled lists' stable wire
//! names and the team's zone names.
//!
//! - **Text**: one aligned table per section.
//! - **CSV**: one long-format file, `section,row,column,value`: the first rows (section
//!   `report`) describe the report, then every cell of every table including totals (row or
//!   column `total`) and, for tables with both totals, `share_percent` rows (each column total
//!   as a share of the grand total, only when both are published). One file is easier to keep
//!   and hand over than a folder, and filters by `section` in any spreadsheet. Fields that a
//!   spreadsheet would run as a formula (`=`, `+`, `-`, `@`) are prefixed with `'`.
//! - **HTML**: one page with inline CSS and inline SVG bar charts drawn here (no script, no
//!   font, no image, no network; a Content-Security-Policy forbids loading anything), a print
//!   stylesheet, a banner saying whether cells under the threshold are suppressed, and a legend.

use std::fmt::Write as _;

use super::{Cell, Chart, Report, Section, SuppressedTable, SUPPRESSED_MARK};

const TOTAL: &str = "total";

/// Share of a column total in the grand total, when both are published.
fn share(t: &SuppressedTable, col: usize) -> Option<f64> {
    let ct = t.col_totals.as_ref()?.get(col)?.value()?;
    let g = t.grand_total?.value()?;
    if g == 0 {
        return None;
    }
    Some(ct as f64 * 100.0 / g as f64)
}

fn fmt_share(v: Option<f64>) -> String {
    v.map(|p| format!("{p:.1}%"))
        .unwrap_or_else(|| SUPPRESSED_MARK.to_string())
}

impl Report {
    fn banner(&self) -> String {
        if self.anonymised {
            format!(
                "Anonymised: cells under {} suppressed ({SUPPRESSED_MARK})",
                self.threshold
            )
        } else {
            "UNSUPPRESSED: for the team lead's own review only. Do not share, print or publish."
                .to_string()
        }
    }

    fn legend(&self) -> String {
        if self.anonymised {
            format!(
                "{SUPPRESSED_MARK} = suppressed: a count from 1 to {}, or a larger count hidden so that a small one \
                 cannot be worked out from the totals. 0 means none.",
                self.threshold - 1
            )
        } else {
            "Nothing is suppressed in this view.".to_string()
        }
    }

    /// Plain-text tables (for a terminal).
    pub fn to_table_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Outreach report: {}", self.team);
        let _ = writeln!(
            out,
            "Nights {} to {} (generated {})",
            self.from,
            self.to,
            self.generated_at.format("%Y-%m-%d %H:%M UTC")
        );
        let _ = writeln!(out, "{}", self.banner());
        let _ = writeln!(out, "{}", self.legend());
        for s in &self.sections {
            let _ = writeln!(out);
            let _ = writeln!(out, "== {} ==", s.title);
            let _ = writeln!(out, "{}", s.note);
            out.push_str(&text_table(&s.table));
        }
        out
    }

    /// One long-format CSV: `section,row,column,value` (see the module documentation).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("section,row,column,value\n");
        let mut row = |sec: &str, r: &str, c: &str, v: &str| {
            let _ = writeln!(
                out,
                "{},{},{},{}",
                csv_field(sec),
                csv_field(r),
                csv_field(c),
                csv_field(v)
            );
        };
        row("report", "team", "", &self.team);
        row("report", "from", "", &self.from.to_string());
        row("report", "to", "", &self.to.to_string());
        row(
            "report",
            "anonymised",
            "",
            if self.anonymised { "yes" } else { "no" },
        );
        row("report", "threshold", "", &self.threshold.to_string());
        row("report", "suppressed_mark", "", SUPPRESSED_MARK);
        row(
            "report",
            "generated_at",
            "",
            &self.generated_at.to_rfc3339(),
        );
        for s in &self.sections {
            let t = &s.table;
            for (i, rl) in t.row_labels.iter().enumerate() {
                for (j, cl) in t.col_labels.iter().enumerate() {
                    row(s.id, rl, cl, &t.cells[i][j].to_string());
                }
                if let Some(rt) = &t.row_totals {
                    row(s.id, rl, TOTAL, &rt[i].to_string());
                }
            }
            if let Some(ct) = &t.col_totals {
                for (j, cl) in t.col_labels.iter().enumerate() {
                    row(s.id, TOTAL, cl, &ct[j].to_string());
                }
            }
            if let Some(g) = t.grand_total {
                row(s.id, TOTAL, TOTAL, &g.to_string());
                for (j, cl) in t.col_labels.iter().enumerate() {
                    let v = share(t, j)
                        .map(|p| format!("{p:.1}"))
                        .unwrap_or_else(|| SUPPRESSED_MARK.to_string());
                    row(s.id, "share_percent", cl, &v);
                }
            }
        }
        out
    }

    /// One self-contained HTML page (inline CSS and SVG charts, no script, no network).
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(64 * 1024);
        let title = format!(
            "Outreach report: {}, nights {} to {}",
            self.team, self.from, self.to
        );
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n",
            esc(&title),
            CSS
        );
        let class = if self.anonymised {
            "banner anon"
        } else {
            "banner raw"
        };
        let _ = write!(
            h,
            "<header>\n<h1>{}</h1>\n<p class=\"{class}\" role=\"note\">{}</p>\n",
            esc(&title),
            esc(&self.banner())
        );
        let _ = write!(
            h,
            "<p class=\"meta\">Generated {}. Each table lists every value of its list and every night in the range, \
             zeros included.</p>\n<p class=\"legend\"><strong>Legend:</strong> {}</p>\n",
            esc(&self.generated_at.format("%Y-%m-%d %H:%M UTC").to_string()),
            esc(&self.legend())
        );
        h.push_str("<nav><ol>");
        for s in &self.sections {
            let _ = write!(h, "<li><a href=\"#{}\">{}</a></li>", s.id, esc(&s.title));
        }
        h.push_str("</ol></nav>\n</header>\n<main>\n");
        for s in &self.sections {
            html_section(&mut h, s);
        }
        let _ = write!(h, "</main>\n<footer><p class=\"{class}\">{}</p><p class=\"legend\">{}</p></footer>\n</body>\n</html>\n", esc(&self.banner()), esc(&self.legend()));
        h
    }
}

fn text_table(t: &SuppressedTable) -> String {
    let mut header = vec![String::new()];
    header.extend(t.col_labels.iter().cloned());
    if t.row_totals.is_some() {
        header.push(TOTAL.into());
    }
    let mut rows: Vec<Vec<String>> = vec![header];
    for (i, rl) in t.row_labels.iter().enumerate() {
        let mut r = vec![rl.clone()];
        r.extend(t.cells[i].iter().map(|c| c.to_string()));
        if let Some(rt) = &t.row_totals {
            r.push(rt[i].to_string());
        }
        rows.push(r);
    }
    if let Some(ct) = &t.col_totals {
        let mut r = vec![TOTAL.to_string()];
        r.extend(ct.iter().map(|c| c.to_string()));
        if let Some(g) = t.grand_total {
            r.push(g.to_string());
        }
        rows.push(r);
        if t.grand_total.is_some() {
            let mut r = vec!["share of total".to_string()];
            r.extend((0..t.cols()).map(|j| fmt_share(share(t, j))));
            rows.push(r);
        }
    }
    let ncols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..ncols)
        .map(|j| {
            rows.iter()
                .filter_map(|r| r.get(j))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (ri, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (j, cell) in r.iter().enumerate() {
            if j == 0 {
                let _ = write!(line, "{:<w$}", cell, w = widths[0]);
            } else {
                let _ = write!(line, "  {:>w$}", cell, w = widths[j]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if ri == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * ncols.saturating_sub(1)));
            out.push('\n');
        }
    }
    out
}

pub(crate) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Escapes text for HTML and SVG.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn cell_td(c: &Cell, class: &str) -> String {
    match c {
        Cell::Value(v) => format!("<td class=\"{class}\">{v}</td>"),
        Cell::Suppressed => {
            format!("<td class=\"{class} sup\" title=\"suppressed\">{SUPPRESSED_MARK}</td>")
        }
    }
}

fn html_section(h: &mut String, s: &Section) {
    let t = &s.table;
    let _ = write!(
        h,
        "<section id=\"{}\">\n<h2>{}</h2>\n<p class=\"note\">{}</p>\n",
        s.id,
        esc(&s.title),
        esc(&s.note)
    );
    let series = |labels: &[String], cells: &[Cell]| -> Vec<(String, Cell)> {
        labels.iter().cloned().zip(cells.iter().copied()).collect()
    };
    match s.chart {
        Chart::RowTotals | Chart::RowAndColumnTotals => {
            if let Some(rt) = &t.row_totals {
                let items = series(&t.row_labels, rt);
                if s.id == "contacts_by_night_zone" {
                    h.push_str(&column_chart(
                        &format!("{}: totals per night", s.title),
                        &items,
                    ));
                } else {
                    h.push_str(&bar_chart(&format!("{}: totals", s.title), &items));
                }
            }
            if s.chart == Chart::RowAndColumnTotals {
                if let Some(ct) = &t.col_totals {
                    h.push_str(&bar_chart(
                        &format!("{}: totals per column", s.title),
                        &series(&t.col_labels, ct),
                    ));
                }
            }
        }
        Chart::Column(j) => {
            if j < t.cols() {
                let col: Vec<Cell> = t.cells.iter().map(|r| r[j]).collect();
                h.push_str(&bar_chart(
                    &format!("{}: {}", s.title, t.col_labels[j]),
                    &series(&t.row_labels, &col),
                ));
            }
        }
    }
    h.push_str("<div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\"></th>");
    for c in &t.col_labels {
        let _ = write!(h, "<th scope=\"col\">{}</th>", esc(c));
    }
    if t.row_totals.is_some() {
        let _ = write!(h, "<th scope=\"col\" class=\"tot\">{TOTAL}</th>");
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (i, rl) in t.row_labels.iter().enumerate() {
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(rl));
        for c in &t.cells[i] {
            h.push_str(&cell_td(c, "n"));
        }
        if let Some(rt) = &t.row_totals {
            h.push_str(&cell_td(&rt[i], "n tot"));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n");
    if let Some(ct) = &t.col_totals {
        let _ = write!(h, "<tfoot><tr><th scope=\"row\">{TOTAL}</th>");
        for c in ct {
            h.push_str(&cell_td(c, "n tot"));
        }
        if let Some(g) = &t.grand_total {
            h.push_str(&cell_td(g, "n tot"));
        }
        h.push_str("</tr>\n");
        if t.grand_total.is_some() {
            h.push_str("<tr class=\"share\"><th scope=\"row\">share of total</th>");
            for j in 0..t.cols() {
                let _ = write!(h, "<td class=\"n\">{}</td>", fmt_share(share(t, j)));
            }
            h.push_str("<td></td></tr>\n");
        }
        h.push_str("</tfoot>\n");
    }
    h.push_str("</table></div>\n</section>\n");
}

const BAR_FILL: &str = "#2b6a8f";

/// A horizontal bar chart: one `<rect>` of non-zero width per non-zero published value; a
/// hidden value is drawn as the mark `*` with no bar, a zero as `0` with no bar.
fn bar_chart(title: &str, items: &[(String, Cell)]) -> String {
    let (label_w, bar_w, row_h) = (190.0, 380.0, 20.0);
    let width = label_w + bar_w + 70.0;
    let height = row_h * items.len() as f64 + 10.0;
    let max = items
        .iter()
        .filter_map(|(_, c)| c.value())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" aria-label=\"{t}\"><title>{t}</title>",
        t = esc(title)
    );
    for (i, (label, c)) in items.iter().enumerate() {
        let y = 5.0 + i as f64 * row_h;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"lbl\">{}</text>",
            label_w - 6.0,
            y + row_h * 0.7,
            esc(label)
        );
        match c {
            Cell::Value(v) if *v > 0 => {
                let w = (*v as f64 / max * bar_w).max(2.0);
                let _ = write!(
                    s,
                    "<rect x=\"{label_w}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{BAR_FILL}\"><title>{}: {v}</title></rect>\
                     <text x=\"{:.1}\" y=\"{}\" class=\"val\">{v}</text>",
                    y + 2.0,
                    row_h - 4.0,
                    esc(label),
                    label_w + w + 4.0,
                    y + row_h * 0.7
                );
            }
            other => {
                let _ = write!(
                    s,
                    "<text x=\"{}\" y=\"{}\" class=\"val\">{other}</text>",
                    label_w + 4.0,
                    y + row_h * 0.7
                );
            }
        }
    }
    s.push_str("</svg></figure>\n");
    s
}

/// A column chart (nights along the x axis).
fn column_chart(title: &str, items: &[(String, Cell)]) -> String {
    let n = items.len().max(1) as f64;
    let (left, plot_w, plot_h, top) = (40.0, 680.0, 160.0, 10.0);
    let width = left + plot_w + 10.0;
    let height = top + plot_h + 40.0;
    let slot = plot_w / n;
    let bar = (slot * 0.8).max(1.0);
    let max = items
        .iter()
        .filter_map(|(_, c)| c.value())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let base = top + plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" aria-label=\"{t}\"><title>{t}</title>\
         <line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#444\" stroke-width=\"1\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"val\">{}</text>",
        left + plot_w,
        left - 4.0,
        top + 8.0,
        max as u64,
        t = esc(title)
    );
    let every = ((items.len() as f64) / 8.0).ceil().max(1.0) as usize;
    for (i, (label, c)) in items.iter().enumerate() {
        let x = left + i as f64 * slot + (slot - bar) / 2.0;
        match c {
            Cell::Value(v) if *v > 0 => {
                let hgt = (*v as f64 / max * plot_h).max(2.0);
                let _ = write!(
                    s,
                    "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{bar:.2}\" height=\"{hgt:.2}\" fill=\"{BAR_FILL}\"><title>{}: {v}</title></rect>",
                    base - hgt,
                    esc(label)
                );
            }
            Cell::Suppressed => {
                let _ = write!(s, "<text x=\"{:.2}\" y=\"{}\" text-anchor=\"middle\" class=\"val\">{SUPPRESSED_MARK}</text>", x + bar / 2.0, base - 3.0);
            }
            _ => {}
        }
        if i % every == 0 || i + 1 == items.len() {
            let _ = write!(
                s,
                "<text x=\"{:.2}\" y=\"{}\" text-anchor=\"middle\" class=\"lbl\">{}</text>",
                x + bar / 2.0,
                base + 16.0,
                esc(label)
            );
        }
    }
    s.push_str("</svg></figure>\n");
    s
}

const CSS: &str = r#"
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; background: #fff; margin: 0 auto; max-width: 980px; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.5rem; margin: .5rem 0; }
h2 { font-size: 1.15rem; margin: 2rem 0 .25rem; border-bottom: 2px solid #2b6a8f; padding-bottom: .2rem; }
.banner { font-weight: 700; padding: .6rem .8rem; border-radius: 4px; margin: .5rem 0; }
.banner.anon { background: #e6f2e6; border: 2px solid #2e7d32; color: #1b4d1e; }
.banner.raw { background: #fdecea; border: 2px solid #b71c1c; color: #7f0000; }
.meta, .note, .legend { color: #333; margin: .3rem 0; }
nav ol { columns: 2; font-size: .9rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #c8c8c8; padding: .2rem .5rem; }
th { background: #f2f2f2; text-align: left; font-weight: 600; }
td.n { text-align: right; }
.tot { font-weight: 700; background: #f7f7f7; }
td.sup { color: #7f0000; font-weight: 700; }
tr.share td, tr.share th { font-style: italic; color: #444; }
figure.chart { margin: .5rem 0; }
svg { max-width: 100%; height: auto; }
svg .lbl { font: 11px system-ui, sans-serif; fill: #222; }
svg .val { font: 11px system-ui, sans-serif; fill: #333; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; color: #000; }
  nav { display: none; }
  a { color: #000; text-decoration: none; }
  .banner { border: 2px solid #000 !important; background: none !important; color: #000 !important; }
  section { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .scroll { overflow: visible; }
  th, td { border-color: #000; }
  rect { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  @page { margin: 15mm; }
}
"#;
