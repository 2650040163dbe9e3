//! `outreach report` (anonymised figures for the forum; `--unsuppressed` for the lead's own
//! audited review) and `outreach export` (one CSV per entity for the lead; audited by the core).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use outreach_core::report::{ExportEntity, ReportFormat};
use outreach_core::ReportOptions;

use crate::context::Context;
use crate::errors::{CliError, CliResult};
use crate::output::emit;
use crate::parse;

/// Options of `outreach report`.
#[derive(Debug, Args)]
#[command(
    after_help = "Contacts per night, zone and setting; unique people (after merges); new, returning and \
re-engaged people; services; referrals; safeguarding concerns; incidents and the share reported to the police \
and the national scheme; alerts. Zero counts are shown. The default view is anonymised: every cell under 5 is \
hidden, with secondary suppression so no hidden value can be worked out from totals. The HTML report has SVG \
charts, prints cleanly and needs no network.\n\n\
Example:\n  outreach report --from 2026-01-01 --to 2026-01-31\n  outreach report --from 2026-01-01 --to 2026-01-31 --format html --out january.html"
)]
pub struct ReportArgs {
    /// First night (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    from: String,
    /// Last night, inclusive (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    to: String,
    /// table, csv or html
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    format: String,
    /// Write to this file instead of standard output
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Show small numbers too: for the lead's own review only, never to publish (audited)
    #[arg(long)]
    unsuppressed: bool,
}

/// Options of `outreach export`.
#[derive(Debug, Args)]
#[command(
    after_help = "Writes shifts.csv, encounters.csv, services.csv, referrals.csv, people.csv, concerns.csv, \
incidents.csv and alerts.csv. These files are NOT anonymised and NOT encrypted: keep them on an encrypted disk \
and delete them when done. Every export is recorded in the audit log.\n\n\
Example:\n  outreach export --dir ./export-2026-01 --from 2026-01-01 --to 2026-01-31"
)]
pub struct ExportArgs {
    /// Directory to write the CSV files into (created if missing)
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// First night (YYYY-MM-DD) [default: everything]
    #[arg(long, value_name = "DATE", requires = "to")]
    from: Option<String>,
    /// Last night, inclusive (YYYY-MM-DD)
    #[arg(long, value_name = "DATE", requires = "from")]
    to: Option<String>,
}

fn range(from: &str, to: &str) -> CliResult<(NaiveDate, NaiveDate)> {
    let f = parse::date("--from", from)?;
    let t = parse::date("--to", to)?;
    if t < f {
        return Err(CliError::invalid(
            "--to",
            "must not be before --from; swap the two dates",
        ));
    }
    Ok((f, t))
}

/// Writes a file readable by its owner only (it may hold personal data).
pub fn write_private(path: &Path, data: &str) -> CliResult {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(|e| {
        CliError::other(format!(
            "could not write {} ({}); check the directory exists and is writable",
            path.display(),
            e.kind()
        ))
    })?;
    f.write_all(data.as_bytes()).map_err(|e| {
        CliError::other(format!(
            "could not write {} ({}); check the free space",
            path.display(),
            e.kind()
        ))
    })
}

/// Runs `outreach report`.
pub fn report(ctx: &Context, a: ReportArgs) -> CliResult {
    let (from, to) = range(&a.from, &a.to)?;
    let format: ReportFormat = a
        .format
        .parse()
        .map_err(|_| CliError::invalid("--format", "allowed values: table, csv, html"))?;
    let store = ctx.open()?;
    let opts = ReportOptions::default();
    let r = if a.unsuppressed {
        eprintln!("warning: unsuppressed report: small numbers are shown; for the lead's own review only, never to publish; this view is recorded in the audit log");
        store.report_unsuppressed(from, to, &opts)
    } else {
        store.report(from, to, &opts)
    }
    .map_err(|e| ctx.core(e))?;
    let text = r.render(format);
    match a.out {
        Some(p) => {
            write_private(&p, &text)?;
            emit(&format!("report written to {}", p.display()))
        }
        None => emit(&text),
    }
}

/// Runs `outreach export`.
pub fn export(ctx: &Context, a: ExportArgs) -> CliResult {
    let nights = match (a.from.as_deref(), a.to.as_deref()) {
        (Some(f), Some(t)) => Some(range(f, t)?),
        _ => None,
    };
    std::fs::create_dir_all(&a.dir).map_err(|e| {
        CliError::other(format!(
            "could not create {} ({}); choose another --dir",
            a.dir.display(),
            e.kind()
        ))
    })?;
    let store = ctx.open()?;
    let bar = progress(ExportEntity::ALL.len() as u64, "exporting");
    let mut written = vec![];
    for e in ExportEntity::ALL {
        let csv = store.export_csv(*e, nights).map_err(|err| ctx.core(err))?;
        let path = a.dir.join(format!("{}.csv", e.as_str()));
        write_private(&path, &csv)?;
        let rows = csv.lines().count().saturating_sub(1);
        match &bar {
            Some(b) => b.inc(1),
            None => eprintln!("exported {} ({rows} rows)", e.as_str()),
        }
        written.push(format!("  {} ({rows} rows)", path.display()));
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    emit(&format!(
        "exported {} files (not anonymised, not encrypted: keep them safe and delete them when done):\n{}",
        written.len(),
        written.join("\n")
    ))
}

/// A progress bar on a terminal; `None` (plain lines) otherwise.
pub fn progress(len: u64, msg: &'static str) -> Option<ProgressBar> {
    if std::io::stderr().is_terminal() && std::io::stdout().is_terminal() {
        let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(s) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}") {
            b.set_style(s.progress_chars("=> "));
        }
        b.set_message(msg);
        Some(b)
    } else {
        None
    }
}
