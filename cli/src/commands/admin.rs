//! `outreach audit`, `outreach check`, `outreach rebuild`: looking after a store.

use clap::Args;

use crate::context::Context;
use crate::errors::{CliError, CliResult};
use crate::output::{self, emit, or_dash, Table};

/// Options of `outreach audit`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  outreach audit --limit 20\n  outreach audit --json")]
pub struct AuditArgs {
    /// Most events to show
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: usize,
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

/// `outreach audit`.
pub fn audit(ctx: &Context, a: AuditArgs) -> CliResult {
    let store = ctx.open()?;
    let events = store.audit_log(a.limit.max(1)).map_err(|e| ctx.core(e))?;
    if a.json {
        return emit(&output::json(&events)?);
    }
    if events.is_empty() {
        return emit("The audit log is empty.\n");
    }
    let off = store.settings().utc_offset_minutes;
    let mut t = Table::new(&["SEQ", "AT", "DEVICE", "ACTOR", "ACTION", "ENTITY", "ID"]);
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
            or_dash(Some(&e.actor)),
            e.action.clone(),
            e.entity.clone(),
            or_dash(e.entity_id.as_deref()),
        ]);
    }
    emit(&t.render())
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
