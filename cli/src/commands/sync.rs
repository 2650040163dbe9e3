//! `outreach sync` (push, then pull, through the store's hub) and `outreach sync status`.
//!
//! Progress: a bar on a terminal, plain lines when stdout is not a terminal (none with
//! `--json`, whose stdout is only the JSON). Ctrl-C cancels through the core's `CancelToken`,
//! which stops at the next safe point: acknowledged pushes and applied pages are kept,
//! nothing is half-done. A second Ctrl-C leaves at once (safe too: every page is one
//! SQLite transaction).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use outreach_core::sync::SyncPhase;
use outreach_core::{CancelToken, SyncProgress};
use serde_json::json;

use crate::context::Context;
use crate::errors::{CliResult, Exit};
use crate::output::{self, emit};
use crate::remote;

/// Options of `outreach sync`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Pushes this device's changes (sealed: the hub cannot read them), then pulls and \
applies what the other devices wrote. Safe to run again at any time, and after any failure. \
Ctrl-C cancels without losing anything.\n\n\
Example:\n  outreach sync\n  outreach sync --json\n  outreach sync status"
)]
pub struct SyncArgs {
    #[command(subcommand)]
    command: Option<SyncCommand>,
    /// Print the summary as JSON (and no progress lines)
    #[arg(long)]
    json: bool,
}

/// `outreach sync ...`
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Where sync stands: last success, changes waiting, last error (works offline)
    #[command(after_help = "Example:\n  outreach sync status\n  outreach sync status --json")]
    Status(StatusArgs),
}

/// Options of `outreach sync status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Runs `outreach sync` or `outreach sync status`.
pub fn run(ctx: &Context, a: SyncArgs) -> CliResult {
    match a.command {
        Some(SyncCommand::Status(s)) => status(ctx, s),
        None => sync(ctx, a.json),
    }
}

/// How progress is shown.
enum Progress {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

impl Progress {
    fn new(json: bool) -> Self {
        if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(spinner_style());
            bar.set_message("connecting to the hub");
            bar.enable_steady_tick(Duration::from_millis(120));
            Progress::Bar(bar)
        } else if json {
            Progress::Quiet
        } else {
            Progress::Lines
        }
    }

    fn report(&self, p: &SyncProgress, cancelling: bool) {
        match self {
            Progress::Bar(_) if cancelling => self.cancelling(),
            Progress::Bar(bar) => match (p.phase, p.bytes_total) {
                (SyncPhase::Push, Some(total)) => {
                    bar.set_style(bar_style());
                    bar.set_length(total.max(1));
                    bar.set_position(p.bytes_done);
                    bar.set_message(format!(
                        "push: {} of {} change(s)",
                        p.chunks_done,
                        p.chunks_total.unwrap_or(p.chunks_done)
                    ));
                }
                _ => {
                    bar.set_style(spinner_style());
                    bar.unset_length();
                    bar.set_position(p.bytes_done);
                    bar.set_message(format!(
                        "{}: {} change(s), {}",
                        phase(p.phase),
                        p.chunks_done,
                        HumanBytes(p.bytes_done)
                    ));
                }
            },
            Progress::Lines => {
                let line = match (p.chunks_total, p.bytes_total) {
                    (Some(ct), Some(bt)) => format!(
                        "{}: {} of {} change(s), {} of {}",
                        phase(p.phase),
                        p.chunks_done,
                        ct,
                        HumanBytes(p.bytes_done),
                        HumanBytes(bt)
                    ),
                    _ => format!(
                        "{}: {} change(s), {} so far",
                        phase(p.phase),
                        p.chunks_done,
                        HumanBytes(p.bytes_done)
                    ),
                };
                // A closed pipe is not worth failing a sync for.
                let _ = emit(&line);
            }
            Progress::Quiet => {}
        }
    }

    fn cancelling(&self) {
        const MSG: &str = "cancelling (Ctrl-C again: leave now)";
        match self {
            Progress::Bar(bar) => bar.set_message(MSG),
            Progress::Lines => {
                let _ = emit(MSG);
            }
            Progress::Quiet => {}
        }
    }

    fn clear(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn phase(p: SyncPhase) -> &'static str {
    match p {
        SyncPhase::Push => "push",
        SyncPhase::Pull => "pull",
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// `outreach sync`.
fn sync(ctx: &Context, json: bool) -> CliResult {
    let mut store = ctx.open()?;
    let before = store.sync_status().map_err(|e| ctx.core(e))?;
    if !before.registered {
        return Err(remote::not_registered());
    }
    let transport = remote::store_transport(ctx, &store)?;
    let progress = std::sync::Arc::new(Progress::new(json));
    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        let progress = progress.clone();
        // If a handler cannot be installed, Ctrl-C simply ends the process, which is safe too.
        let _ = ctrlc::set_handler(move || {
            if cancel.is_cancelled() {
                progress.clear();
                eprintln!("error: cancelled; nothing lost, run `outreach sync` again");
                std::process::exit(Exit::Cancelled as i32);
            }
            cancel.cancel();
            progress.cancelling();
        });
    }
    let started = Instant::now();
    let result = store.sync(
        &transport,
        &|p| progress.report(&p, cancel.is_cancelled()),
        &cancel,
    );
    progress.clear();
    let report = result.map_err(|e| ctx.sync_err(e))?;
    let after = store.sync_status().map_err(|e| ctx.core(e))?;
    let hub = after.hub_url.clone().unwrap_or_default();
    if json {
        return emit(&output::json(&json!({
            "hub_url": hub,
            "pushed": report.pushed_chunks,
            "pushed_bytes": report.pushed_bytes,
            "pushed_keys": report.pushed_keys,
            "pulled": report.pulled_chunks,
            "pulled_bytes": report.pulled_bytes,
            "skipped_own": report.skipped_own,
            "pages": report.pages,
            "applied_documents": report.docs_updated,
            "waiting_for_keys": after.waiting_for_keys,
            "outbox": after.outbox,
            "cursor": report.cursor,
            "epoch": after.epoch,
        }))?);
    }
    let mut out = format!(
        "Synced with {} in {:.1} s\n  pushed:  {} change(s) ({}), {} document key(s)\n  pulled:  {} change(s) from other devices ({}), {} page(s)\n  applied: {} document(s) updated\n",
        output::cell(&hub),
        started.elapsed().as_secs_f64(),
        report.pushed_chunks,
        HumanBytes(report.pushed_bytes),
        report.pushed_keys,
        report.pulled_chunks,
        HumanBytes(report.pulled_bytes),
        report.pages,
        report.docs_updated,
    );
    out.push_str(&format!(
        "  waiting: {} change(s) to push, {} pulled change(s) waiting for their key\n",
        after.outbox, after.waiting_for_keys
    ));
    if after.waiting_for_keys > 0 {
        out.push_str(
            "  (changes wait for their key until a lead's device syncs; nothing is lost)\n",
        );
    }
    emit(&out)
}

/// What a stored error code means, in a few words.
fn explain(code: &str) -> &'static str {
    match code {
        "network" => "the hub could not be reached",
        "cancelled" => "cancelled with Ctrl-C",
        "hub:revoked" => "this device has been revoked by a lead",
        "hub:unknown_device" => "the hub does not know this device",
        "hub:stale_timestamp" => "this computer's clock is off",
        "hub:rate_limited" => "the hub was busy",
        "hub:internal" => "the hub failed",
        "crypto" => "data from the hub failed verification",
        _ => "see the error printed by that sync",
    }
}

/// `outreach sync status`.
fn status(ctx: &Context, a: StatusArgs) -> CliResult {
    let store = ctx.open()?;
    let s = store.sync_status().map_err(|e| ctx.core(e))?;
    let role = store.sync_role().map_err(|e| ctx.core(e))?;
    if a.json {
        let mut v = serde_json::to_value(&s)
            .map_err(|_| crate::errors::CliError::other("could not encode the output as JSON"))?;
        v["role"] = json!(remote::role_name(role));
        return emit(&output::json(&v)?);
    }
    let off = store.settings().utc_offset_minutes;
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| output::stamp(t, off))
            .unwrap_or_else(|| "never".into())
    };
    let hub = match (&s.hub_url, s.registered) {
        (Some(u), true) => output::cell(u),
        _ => "not connected (a lead runs `outreach hub register`; other devices `outreach enrol`)"
            .into(),
    };
    let error = match &s.last_error {
        Some(code) => format!("{} ({})", output::cell(code), explain(code)),
        None => "none".into(),
    };
    emit(&format!(
        "Sync status\n  hub:            {hub}\n  this device:    {} ({}) {}\n  last success:   {}\n  last attempt:   {}\n  last error:     {error}\n  to push:        {} change(s)\n  waiting:        {} pulled change(s) waiting for their key\n  team key epoch: {}\n",
        output::short(&s.device_id),
        remote::role_name(role),
        s.device_id,
        when(s.last_success),
        when(s.last_attempt),
        s.outbox,
        s.waiting_for_keys,
        s.epoch,
    ))
}
