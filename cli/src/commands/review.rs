//! `outreach review`: the merged night across vans and what needs the lead;
//! `outreach review settle` and `outreach review concern` record the lead's decisions (they
//! are ordinary changes: audited, and they reach the vans at their next sync).

use std::collections::BTreeMap;

use chrono::Utc;
use clap::{Args, Subcommand};
use outreach_core::{night_of, ReviewList, Store};
use serde_json::json;

use crate::context::Context;
use crate::errors::{CliError, CliResult};
use crate::output::{self, emit, Table};
use crate::parse;

/// Options of `outreach review`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Shows the night as one timeline across every van this device has synced, counts by van and by zone, \
then the review list: same-field clashes to settle (every record's; with --night only that night's records, unless --all-clashes), \
safeguarding concerns awaiting review, referrals needing follow-up, incidents that may be shared but are not yet shared, \
and the shares logged for the night. Run `outreach sync` first.\n\n\
Example:\n  outreach review --night 2026-01-31\n  outreach review --night 2026-01-31 --all-clashes\n  outreach review --json\n  outreach review settle encounter 01890a5d-ac96-774b-bcce-b302099a8057 zone '\"north-beat\"'\n  outreach review concern 01890a5d-ac96-774b-bcce-b302099a8057 --outcome \"Discussed with the safeguarding lead\""
)]
pub struct ReviewArgs {
    #[command(subcommand)]
    command: Option<ReviewCommand>,
    /// The night (the date the evening started) [default: the current night]
    #[arg(long, value_name = "DATE")]
    night: Option<String>,
    /// With --night: list clashes in every record held, not only in that night's records
    #[arg(long)]
    all_clashes: bool,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// `outreach review ...`
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Settle a same-field clash by writing the chosen value (JSON) to that field
    #[command(
        after_help = "ENTITY, ID and FIELD are as listed by `outreach review` (FIELD may be a dotted path such as consent.record). \
VALUE_JSON is the chosen value as JSON: a string needs its quotes.\n\n\
Example:\n  outreach review settle encounter 01890a5d-ac96-774b-bcce-b302099a8057 zone '\"north-beat\"'\n  outreach review settle encounter 01890a5d-ac96-774b-bcce-b302099a8057 consent.record true"
    )]
    Settle(SettleArgs),
    /// Mark a safeguarding concern as reviewed by you, with the outcome
    #[command(
        after_help = "Write the outcome without names or identifying details.\n\n\
Example:\n  outreach --user lead-a review concern 01890a5d-ac96-774b-bcce-b302099a8057 --outcome \"Discussed with the safeguarding lead; no further action\""
    )]
    Concern(ConcernArgs),
}

/// Options of `outreach review settle`.
#[derive(Debug, Args)]
pub struct SettleArgs {
    /// encounter, concern, incident, person, shift or alert
    #[arg(value_name = "ENTITY")]
    entity: String,
    /// Record id
    #[arg(value_name = "ID")]
    id: String,
    /// Field (dotted path for nested fields)
    #[arg(value_name = "FIELD")]
    field: String,
    /// The chosen value, as JSON
    #[arg(value_name = "VALUE_JSON")]
    value: String,
}

/// Options of `outreach review concern`.
#[derive(Debug, Args)]
pub struct ConcernArgs {
    /// Concern id
    #[arg(value_name = "ID")]
    id: String,
    /// What the review decided (short, no names)
    #[arg(long, value_name = "TEXT")]
    outcome: String,
}

/// Runs a review command.
pub fn run(ctx: &Context, a: ReviewArgs) -> CliResult {
    match a.command {
        Some(ReviewCommand::Settle(s)) => {
            let value: serde_json::Value = serde_json::from_str(&s.value).map_err(|_| {
                CliError::invalid("VALUE_JSON", "must be JSON: quote a string, e.g. '\"north-beat\"', or give true, false or a number")
            })?;
            let path: Vec<String> = s.field.split('.').map(|p| p.trim().to_string()).collect();
            let mut store = ctx.open()?;
            store
                .settle_clash(s.entity.trim(), &parse::id(&s.id), &path, value)
                .map_err(|e| ctx.core(e))?;
            emit(&format!(
                "settled: {} {} {} (recorded; the vans get it at their next sync)",
                output::cell(s.entity.trim()),
                parse::id(&s.id),
                output::cell(&s.field)
            ))
        }
        Some(ReviewCommand::Concern(c)) => {
            let mut store = ctx.open()?;
            let id = parse::id(&c.id);
            store
                .review_concern(&id, &c.outcome)
                .map_err(|e| ctx.core(e))?;
            emit(&format!(
                "concern {id} marked reviewed (recorded; the vans get it at their next sync)"
            ))
        }
        None => {
            let mut store = ctx.open()?;
            let night = match a.night.as_deref() {
                Some(n) => parse::date("--night", n)?,
                None => night_of(Utc::now(), store.settings().utc_offset_minutes),
            };
            // Without --night the lead sees every clash; --night narrows them to that night's
            // records (the others are counted), unless --all-clashes.
            let all = a.all_clashes || a.night.is_none();
            let text = render_with(ctx, &mut store, night, all, a.json)?;
            emit(&text)
        }
    }
}

/// The merged night and the review list, as text or JSON (clashes of the night's records).
pub fn render(
    ctx: &Context,
    store: &mut Store,
    night: chrono::NaiveDate,
    as_json: bool,
) -> CliResult<String> {
    render_with(ctx, store, night, false, as_json)
}

/// The merged night and the review list; `all_clashes` lists the clashes of every record.
pub fn render_with(
    ctx: &Context,
    store: &mut Store,
    night: chrono::NaiveDate,
    all_clashes: bool,
    as_json: bool,
) -> CliResult<String> {
    let off = store.settings().utc_offset_minutes;
    let encounters = store.list_night(night).map_err(|e| ctx.core(e))?;
    let shifts = store.list_shifts(night).map_err(|e| ctx.core(e))?;
    let list = if all_clashes {
        store.review_items_all_clashes(night)
    } else {
        store.review_items(night)
    }
    .map_err(|e| ctx.core(e))?;
    let van_of: BTreeMap<String, String> = shifts
        .iter()
        .map(|s| (s.id.clone(), s.van.clone()))
        .collect();
    let van = |shift: &str| van_of.get(shift).cloned().unwrap_or_else(|| "?".into());
    let mut by_van: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_zone: BTreeMap<String, u64> = BTreeMap::new();
    for s in &shifts {
        by_van.entry(s.van.clone()).or_default();
    }
    for z in &store.settings().zones {
        by_zone.entry(z.clone()).or_default();
    }
    for e in &encounters {
        *by_van.entry(van(&e.shift)).or_default() += 1;
        *by_zone.entry(e.input.zone.clone()).or_default() += 1;
    }
    if as_json {
        let timeline: Vec<_> = encounters
            .iter()
            .map(|e| json!({ "id": e.id, "at": e.input.at, "van": van(&e.shift), "zone": e.input.zone, "person": e.input.person }))
            .collect();
        return output::json(&json!({
            "night": night,
            "encounters": encounters.len(),
            "timeline": timeline,
            "by_van": by_van,
            "by_zone": by_zone,
            "review": list,
        }));
    }
    let mut out = format!(
        "Night of {night}: {} encounter(s) across {} shift(s)\n\n",
        encounters.len(),
        shifts.len()
    );
    if !encounters.is_empty() {
        out.push_str("Timeline\n");
        let mut t = Table::new(&["time", "van", "zone", "setting", "services", "id"]);
        for e in &encounters {
            let services: u32 = e.input.services.values().sum();
            t.row(vec![
                e.input
                    .at
                    .map(|a| output::clock(a, off))
                    .unwrap_or_else(|| "-".into()),
                van(&e.shift),
                e.input.zone.clone(),
                e.input.setting.as_str().to_string(),
                services.to_string(),
                e.id.clone(),
            ]);
        }
        out.push_str(&t.render());
        out.push('\n');
    }
    let mut t = Table::new(&["van", "encounters"]);
    for (v, n) in &by_van {
        t.row(vec![v.clone(), n.to_string()]);
    }
    out.push_str("By van\n");
    out.push_str(&t.render());
    let mut t = Table::new(&["zone", "encounters"]);
    for (z, n) in &by_zone {
        t.row(vec![z.clone(), n.to_string()]);
    }
    out.push_str("\nBy zone\n");
    out.push_str(&t.render());
    out.push('\n');
    out.push_str(&review_text(&list, off));
    Ok(out)
}

/// The review list as text.
pub fn review_text(list: &ReviewList, off: i32) -> String {
    let mut out = format!("Needs the lead: {} item(s)\n", list.len());
    if list.is_empty() {
        out.push_str("  nothing to review for this night\n");
        out.push_str(&other_clashes_text(list));
        out.push_str(&disclosures_text(list, off));
        return out;
    }
    out.push_str(&format!("\nClashes to settle: {}\n", list.clashes.len()));
    for c in &list.clashes {
        for f in &c.clashes {
            let values: Vec<String> = f
                .values
                .iter()
                .map(|v| output::cell(&v.to_string()))
                .collect();
            out.push_str(&format!(
                "  {} {} {}: {}  (settle: outreach review settle {} {} {} VALUE_JSON)\n",
                c.entity,
                c.id,
                f.path.join("."),
                values.join(" | "),
                c.entity,
                c.id,
                f.path.join(".")
            ));
        }
    }
    out.push_str(&format!(
        "\nSafeguarding concerns awaiting review: {}\n",
        list.concerns.len()
    ));
    for c in &list.concerns {
        out.push_str(&format!(
            "  {} {} {} consent {}  (outreach review concern {} --outcome TEXT)\n",
            output::stamp(c.at, off),
            c.id,
            c.input.category.as_str(),
            c.input.consent.as_str(),
            c.id
        ));
    }
    out.push_str(&format!(
        "\nReferrals needing follow-up: {}\n",
        list.referrals.len()
    ));
    for r in &list.referrals {
        let refs: Vec<String> = r
            .open_referrals
            .iter()
            .map(|x| format!("{} ({})", x.destination.as_str(), x.status.as_str()))
            .collect();
        let follow = r
            .follow_up
            .as_ref()
            .map(|f| format!(" follow-up: {}", output::cell(&f.what)))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {} {} {} {}{}\n",
            r.at.map(|a| output::clock(a, off))
                .unwrap_or_else(|| "-".into()),
            r.encounter,
            r.zone,
            refs.join(", "),
            follow
        ));
    }
    out.push_str(&format!(
        "\nIncidents that may be shared, not yet marked shared: {}\n",
        list.incidents.len()
    ));
    for i in &list.incidents {
        let pending: Vec<&str> = i.pending.iter().map(|p| p.as_str()).collect();
        out.push_str(&format!(
            "  {} {} {} police {} national {}; pending: {}\n",
            output::stamp(i.when, off),
            i.id,
            i.kind.as_str(),
            i.share_police.as_str(),
            i.share_national.as_str(),
            pending.join(", ")
        ));
        out.push_str(&format!(
            "    (log a share: outreach incident share {} --with {})\n",
            i.id,
            pending.first().copied().unwrap_or("police")
        ));
    }
    out.push_str(&alerts_due_text(list));
    out.push_str(&other_clashes_text(list));
    out.push_str(&disclosures_text(list, off));
    out
}

/// Alerts past their review date (retention never deletes them by itself).
fn alerts_due_text(list: &ReviewList) -> String {
    if list.alerts_due.is_empty() {
        return String::new();
    }
    let mut out = format!("\nAlerts due for review: {}\n", list.alerts_due.len());
    for a in &list.alerts_due {
        out.push_str(&format!(
            "  {} {} risk, issued {}, due {}  (outreach alert review {} --keep-until DATE | --withdraw)\n",
            a.id,
            a.risk.as_str(),
            a.created_at.date_naive(),
            a.due_on,
            a.id
        ));
    }
    out
}

fn other_clashes_text(list: &ReviewList) -> String {
    if list.other_clashes == 0 {
        return String::new();
    }
    format!(
        "\n{} record(s) of other nights have clashes (see them with: outreach review --night {} --all-clashes)\n",
        list.other_clashes, list.night
    )
}

/// The shares logged for the night's records (no action needed; shown for oversight).
fn disclosures_text(list: &ReviewList, off: i32) -> String {
    if list.disclosures.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\nShares logged for this night's records: {}\n",
        list.disclosures.len()
    );
    for d in &list.disclosures {
        let x = &d.disclosure;
        out.push_str(&format!(
            "  {} {} {} -> {} by {}; consent {} ({}); basis {}\n",
            output::stamp(x.at, off),
            d.entity,
            d.record,
            x.recipient.as_str(),
            output::cell(&x.by),
            x.consent.record,
            if x.consent.covered {
                "covered"
            } else {
                "not covered"
            },
            x.legal_basis.map(|b| b.as_str()).unwrap_or("-")
        ));
    }
    out
}
