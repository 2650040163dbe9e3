//! `outreach retention show|set|alerts` (the team's retention policy) and `outreach purge`
//! (a lead's retention purge: old shift detail reduced to counts, then crypto-shredded).
//!
//! The policy is part of the team settings document, so it reaches every device at its next
//! sync; member devices then keep only its rolling window. Nothing here prints record content:
//! the purge reports counts and document numbers only.


use chrono::Utc;
use clap::{Args, Subcommand};
use outreach_core::retention::RetentionPolicy;
use outreach_proto::messages::Role;
use serde_json::json;

use crate::context::{self, Context};
use crate::errors::{CliError, CliResult, Exit};
use crate::output::{self, emit, Table};
use crate::remote;

/// `outreach retention ...`
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Show the team's retention policy and what this device holds (counts only)
    #[command(
        after_help = "Example:\n  outreach retention show\n  outreach retention show --json"
    )]
    Show(ShowArgs),
    /// Change the retention policy (lead only; reaches the other devices at their next sync)
    #[command(
        after_help = "Only the values given change. Bounds: detail 30..3650 days, device \
window 1..90 days and not longer than the detail period, alert review 7..3650 days.\n\n\
Example:\n  outreach retention set --detail-days 730 --device-window-days 14 --alert-review-days 180\n  outreach retention set --device-window-days 7"
    )]
    Set(SetArgs),
    /// Alerts due for review (older than the alert review period, or past their review date)
    #[command(
        after_help = "Alerts are never deleted by a purge: a lead reviews them.\n\n\
Example:\n  outreach retention alerts\n  outreach retention alerts --json"
    )]
    Alerts(ShowArgs),
}

/// Options of `outreach retention show` and `alerts`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Options of `outreach retention set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Days of shift detail kept before a purge reduces it to counts
    #[arg(long, value_name = "DAYS")]
    detail_days: Option<u32>,
    /// Days of shifts (and people seen in them) a member device keeps
    #[arg(long, value_name = "DAYS")]
    device_window_days: Option<u32>,
    /// Days after which an alert comes up for review
    #[arg(long, value_name = "DAYS")]
    alert_review_days: Option<u32>,
}

/// Options of `outreach purge`.
#[derive(Debug, Args)]
#[command(
    after_help = "Reduces every shift older than the policy's detail period to the counts \
the reports need (an archive document: no times of day, crew, notes or free text), then \
crypto-shreds those shifts for the whole team: the hub deletes them, every device deletes its \
copy at its next sync. Report figures do not change. Needs the hub; a lead device only. \
Run with --dry-run first to see what it would do.\n\n\
Example:\n  outreach purge --dry-run\n  outreach purge\n  outreach purge --yes --json"
)]
pub struct PurgeArgs {
    /// Only show what would be reduced and shredded; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation
    #[arg(long)]
    yes: bool,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Runs a retention command.
pub fn run(ctx: &Context, c: RetentionCommand) -> CliResult {
    match c {
        RetentionCommand::Show(a) => show(ctx, a),
        RetentionCommand::Set(a) => set(ctx, a),
        RetentionCommand::Alerts(a) => alerts(ctx, a),
    }
}

fn policy_text(p: &RetentionPolicy) -> String {
    format!(
        "Retention policy:\n  detail kept:        {} days (older shifts are reduced to counts, and profiles not seen for that long destroyed, by `outreach purge`)\n  device window:      {} days (member devices keep these shifts and the people seen in them)\n  alert review after: {} days\n",
        p.detail_days, p.device_window_days, p.alert_review_days
    )
}

fn show(ctx: &Context, a: ShowArgs) -> CliResult {
    let store = ctx.open()?;
    let p = store.retention_policy();
    let held = store.held_docs().map_err(|e| ctx.core(e))?;
    let count = |k: &str| held.iter().filter(|d| d.kind == k).count();
    let oldest = held
        .iter()
        .filter(|d| d.kind == "shift")
        .filter_map(|d| d.night)
        .min();
    let due = store
        .alerts_due_for_review(Utc::now())
        .map_err(|e| ctx.core(e))?
        .len();
    // Shifts a purge would reduce now (a lead's purge is never automatic).
    let plan = store.purge_plan(Utc::now()).map_err(|e| ctx.core(e))?;
    let past = plan.shift_docs.len() + plan.already_reduced.len();
    if a.json {
        return emit(&output::json(&json!({
            "policy": p,
            "held": {
                "shifts": count("shift"), "people": count("person"), "alerts": count("alert"),
                "archives": count("archive"), "oldest_shift_night": oldest,
            },
            "shifts_past_detail_period": past,
            "alerts_due_for_review": due,
        }))?);
    }
    let purge_note = if past > 0 {
        format!("{past} shift(s) are older than the detail period: a lead runs `outreach purge --dry-run`, then `outreach purge`.\n")
    } else {
        String::new()
    };
    emit(&format!(
        "{}This device holds {} shift(s) (oldest night: {}), {} person profile(s), {} alert(s), {} archive(s).\n{purge_note}{} alert(s) due for review{}\n",
        policy_text(&p),
        count("shift"),
        oldest
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into()),
        count("person"),
        count("alert"),
        count("archive"),
        due,
        if due > 0 {
            " (outreach retention alerts)."
        } else {
            "."
        }
    ))
}

fn lead_only(ctx: &Context, store: &outreach_core::Store, what: &str) -> CliResult {
    if store.sync_role().map_err(|e| ctx.core(e))? != Role::Lead {
        return Err(CliError {
            exit: Exit::Refused,
            message: format!("only a lead device can {what}; ask a team lead"),
        });
    }
    Ok(())
}

fn set(ctx: &Context, a: SetArgs) -> CliResult {
    let mut store = ctx.open()?;
    if a.detail_days.is_none() && a.device_window_days.is_none() && a.alert_review_days.is_none() {
        return Err(CliError::invalid(
            "outreach retention set",
            "give at least one of --detail-days, --device-window-days, --alert-review-days",
        ));
    }
    lead_only(ctx, &store, "change the retention policy")?;
    let mut p = store.retention_policy();
    if let Some(d) = a.detail_days {
        p.detail_days = d;
    }
    if let Some(d) = a.device_window_days {
        p.device_window_days = d;
    }
    if let Some(d) = a.alert_review_days {
        p.alert_review_days = d;
    }
    store.set_retention(p).map_err(|e| ctx.core(e))?;
    emit(&format!(
        "{}Other devices learn it at their next sync.\nNext: outreach sync; then `outreach purge --dry-run` to see what the new detail period would reduce.\n",
        policy_text(&p)
    ))
}

fn alerts(ctx: &Context, a: ShowArgs) -> CliResult {
    let store = ctx.open()?;
    let due = store
        .alerts_due_for_review(Utc::now())
        .map_err(|e| ctx.core(e))?;
    if a.json {
        return emit(&output::json(&json!({ "alerts_due_for_review": due }))?);
    }
    if due.is_empty() {
        return emit("No alert is due for review.\n");
    }
    let off = store.settings().utc_offset_minutes;
    let mut t = Table::new(&["ALERT", "RISK", "ISSUED", "DUE SINCE"]);
    for d in &due {
        t.row(vec![
            d.id.clone(),
            d.risk.to_string(),
            output::stamp(d.created_at, off),
            d.due_on.to_string(),
        ]);
    }
    emit(&format!(
        "{}{} alert(s) due for review. Alerts are never deleted by a purge.\n",
        t.render(),
        t.len()
    ))
}

/// Runs `outreach purge`.
pub fn purge(ctx: &Context, a: PurgeArgs) -> CliResult {
    let mut store = ctx.open()?;
    lead_only(ctx, &store, "run a retention purge")?;
    let plan = store.purge_plan(Utc::now()).map_err(|e| ctx.core(e))?;
    let cutoff = plan.cutoff.map(|c| c.to_string()).unwrap_or_default();
    let summary = format!(
        "Shifts of nights before {cutoff} ({} days of detail kept): {} to reduce ({} encounter(s), {} concern(s) of which {} not reviewed, {} incident(s)); {} already reduced and waiting to be shredded.\n\
         Person profiles not seen since then (whole merge group, created before it): {} to destroy (their pseudonymous ids stay in the counts).\n",
        plan.policy.detail_days,
        plan.shift_docs.len(),
        plan.encounters,
        plan.concerns,
        plan.unreviewed_concerns,
        plan.incidents,
        plan.already_reduced.len(),
        plan.people_docs.len(),
    );
    if a.dry_run {
        if a.json {
            return emit(&output::json(&json!({ "dry_run": true, "plan": plan }))?);
        }
        return emit(&format!(
            "{summary}Dry run: nothing was changed. Run `outreach purge` to do it.\n"
        ));
    }
    if plan.shift_docs.is_empty() && plan.already_reduced.is_empty() && plan.people_docs.is_empty() {
        if a.json {
            return emit(&output::json(
                &json!({ "dry_run": false, "plan": plan, "archives": [], "shredded": 0 }),
            )?);
        }
        return emit(&format!("{summary}Nothing to purge.\n"));
    }
    if !store.sync_status().map_err(|e| ctx.core(e))?.registered {
        return Err(remote::not_registered());
    }
    if !a.yes {
        context::confirm(
            "a purge needs confirmation: run in a terminal, or add --yes".into(),
            &format!(
                "{summary}The shifts' detail and those profiles are destroyed on every device and on the hub; only the counts stay. Type yes to purge: "
            ),
            "yes",
            true,
            "not purged (the answer was not yes); nothing was changed",
        )?;
    }
    let transport = remote::store_transport(ctx, &store)?;
    let out = store
        .purge(&transport, Utc::now())
        .map_err(|e| ctx.sync_err(e))?;
    if a.json {
        return emit(&output::json(
            &json!({ "dry_run": false, "plan": out.plan, "archives": out.archives, "shredded": out.shredded }),
        )?);
    }
    emit(&format!(
        "{summary}Purged: {} document(s) crypto-shredded on this device and the hub ({} shift(s) reduced into {} archive(s), {} person profile(s)).\n\
         The other devices delete their copies at their next sync (outreach sync). Report figures are unchanged.\n",
        out.shredded,
        out.plan.shift_docs.len() + out.plan.already_reduced.len(),
        out.archives.len(),
        out.plan.people_docs.len()
    ))
}
