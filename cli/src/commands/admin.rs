//! `outreach audit`, `outreach check`, `outreach rebuild`: looking after a store.

use clap::Args;

use crate::context::Context;
use crate::errors::{CliError, CliResult};
use crate::output::{self, emit, or_dash, Table};

/// Options of `outreach audit`.
#[derive(Debug, Args)]
#[command(after_help = "Every entry is chained to the one before it and signed by the device that wrote it; a lead \
also holds every device's entries, received through sync. Dates are calendar days in the team's time zone, inclusive.\n\n\
Example:\n  outreach audit --limit 20\n  outreach audit --person 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b --from 2026-01-01 --to 2026-01-31\n  \
outreach audit --action person.view --device 3fa9c1\n  outreach audit --verify")]
pub struct AuditArgs {
    /// Most events to show
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: usize,
    /// Only events about this person (the profile, and encounters, concerns and incidents linked to it)
    #[arg(long, value_name = "ID")]
    person: Option<String>,
    /// Only events written by this device (its id, or the short id shown in the DEVICE column)
    #[arg(long, value_name = "ID")]
    device: Option<String>,
    /// Only this action (person.view), or a family of actions (person)
    #[arg(long, value_name = "A")]
    action: Option<String>,
    /// Only events on or after this date (team time zone)
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Only events on or before this date (team time zone)
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Check every chain and signature (always the whole log); exits 1 naming the device and entry if anything
    /// fails. With filters, the matching events are listed as well
    #[arg(long)]
    verify: bool,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// Options of `outreach check`.
#[derive(Debug, Args)]
#[command(
    after_help = "Runs the database integrity check, then rebuilds the query tables from the documents and \
compares them with what was there. The documents themselves are never changed. Exits 1 if anything is wrong.\n\n\
Example:\n  outreach check"
)]
pub struct CheckArgs {}

/// Options of `outreach rebuild`.
#[derive(Debug, Args)]
#[command(
    after_help = "The query tables are projections of the documents; rebuilding them loses nothing.\n\n\
Example:\n  outreach rebuild"
)]
pub struct RebuildArgs {}

/// Midnight starting `d` in the team's time zone, as an instant.
fn day_start(d: chrono::NaiveDate, off: i32) -> chrono::DateTime<chrono::Utc> {
    let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    chrono::DateTime::<chrono::Utc>::from_naive_utc_and_offset(local, chrono::Utc) - chrono::Duration::minutes(off as i64)
}

/// `outreach audit`.
pub fn audit(ctx: &Context, a: AuditArgs) -> CliResult {
    let store = ctx.open()?;
    let filtered = a.person.is_some() || a.device.is_some() || a.action.is_some() || a.from.is_some() || a.to.is_some();
    if a.verify {
        let verdict = verify(ctx, &store, a.json);
        if filtered && !a.json {
            list(ctx, &store, &a)?;
        }
        return verdict;
    }
    list(ctx, &store, &a)
}

/// Lists the events `a` selects.
fn list(ctx: &Context, store: &outreach_core::Store, a: &AuditArgs) -> CliResult {
    let off = store.settings().utc_offset_minutes;
    let from = a.from.as_deref().map(|v| crate::parse::date("--from", v)).transpose()?;
    let to = a.to.as_deref().map(|v| crate::parse::date("--to", v)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(CliError::invalid("--to", "must not be before --from"));
        }
    }
    let filter = outreach_core::audit::AuditFilter {
        person: a.person.clone(),
        device: a.device.clone(),
        action: a.action.clone(),
        from: from.map(|d| day_start(d, off)),
        to: to.and_then(|d| d.succ_opt()).map(|d| day_start(d, off)),
        limit: a.limit.max(1),
    };
    let events = store.audit_query(&filter).map_err(|e| ctx.core(e))?;
    if a.json {
        return emit(&output::json(&events)?);
    }
    if events.is_empty() {
        let filtered = a.person.is_some() || a.device.is_some() || a.action.is_some() || from.is_some() || to.is_some();
        return emit(if filtered { "No audit events match.\n" } else { "The audit log is empty.\n" });
    }
    // SEQ: the order this store received the entry; ENTRY: its number in its device's chain.
    let mut t = Table::new(&["SEQ", "AT", "DEVICE", "ENTRY", "ACTOR", "ACTION", "ENTITY", "ID"]);
    for e in &events {
        let at = chrono::DateTime::parse_from_rfc3339(&e.at)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .with_timezone(&output::offset(off))
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|_| e.at.clone());
        t.row(vec![
            e.seq.to_string(),
            at,
            output::short(&e.device),
            e.device_seq.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            or_dash(Some(&e.actor)),
            e.action.clone(),
            e.entity.clone(),
            or_dash(e.entity_id.as_deref()),
        ]);
    }
    emit(&t.render())
}

/// `outreach audit --verify`.
fn verify(ctx: &Context, store: &outreach_core::Store, json: bool) -> CliResult {
    let v = store.verify_audit().map_err(|e| ctx.core(e))?;
    if json {
        emit(&output::json(&v)?)?;
    } else if v.is_ok() {
        let n = v.devices.len();
        let mut msg = format!("{} entries from {n} device{} verified\n", v.entries(), if n == 1 { "" } else { "s" });
        if v.pre_chain > 0 {
            msg.push_str(&format!(
                "({} older entries were written before the chain existed and cannot be verified)\n",
                v.pre_chain
            ));
        }
        emit(&msg)?;
    }
    let problems = v.problems();
    match problems.first() {
        None => Ok(()),
        Some((device, p)) => {
            let what = match p.kind {
                outreach_core::audit::AuditProblemKind::Unchained => format!("stored row {}", p.seq),
                _ => format!("entry {}", p.seq),
            };
            let more = if problems.len() > 1 { format!(" (and problems in {} more device logs)", problems.len() - 1) } else { String::new() };
            Err(CliError::other(format!(
                "audit log of device {device} failed verification at {what}: {}{more}; the log has been tampered with or damaged: keep this store as it is and tell the team lead",
                p.kind.describe()
            )))
        }
    }
}

/// `outreach check`.
pub fn check(ctx: &Context, _a: CheckArgs) -> CliResult {
    let mut store = ctx.open()?;
    store.integrity_check().map_err(|e| ctx.core(e))?;
    // Read-only: the core rebuilds inside a transaction, compares, and rolls back.
    let same = store.verify_projections().map_err(|e| ctx.core(e))?;
    let (shifts, encounters, people, alerts) = store.counts().map_err(|e| ctx.core(e))?;
    let outbox = store.outbox_len().map_err(|e| ctx.core(e))?;
    let report = format!(
        "Store {}\n  integrity:   ok\n  projections: {}\n  holds:       {shifts} shift(s), {encounters} encounter(s), {people} person profile(s), {alerts} alert(s)\n  to sync:     {outbox} change(s)\n",
        ctx.dir().display(),
        if same { "ok (equal to a rebuild from the documents)" } else { "DIFFER from a rebuild from the documents" },
    );
    emit(&report)?;
    if same {
        Ok(())
    } else {
        Err(CliError::other(
            "the query tables differ from the documents; run `outreach rebuild` to recreate them from the documents, and report this if it recurs",
        ))
    }
}

/// `outreach rebuild`.
pub fn rebuild(ctx: &Context, _a: RebuildArgs) -> CliResult {
    let mut store = ctx.open()?;
    store.rebuild_projections().map_err(|e| ctx.core(e))?;
    let (shifts, encounters, people, alerts) = store.counts().map_err(|e| ctx.core(e))?;
    emit(&format!(
        "Rebuilt the query tables from the documents: {shifts} shift(s), {encounters} encounter(s), {people} person profile(s), {alerts} alert(s)\n"
    ))
}
