//! `outreach log`, `outreach amend`, `outreach list`: encounters.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use clap::Args;
use outreach_core::{
    night_of, ContactType, Encounter, EncounterInput, FollowUp, Interpreter, Setting, Shift, Store,
};
use serde_json::{json, Value};

use crate::context::Context;
use crate::errors::{CliError, CliResult};
use crate::output::{self, emit, Table};
use crate::parse;

/// The controlled values of the encounter options, from the core's own lists.
fn fields_help() -> String {
    use outreach_core::{ReferralDestination, ReferralMode, ReferralStatus, Service};
    format!(
        "Controlled values:\n  --setting      {}\n  --contact      {}\n  --interpreter  {}\n  --service      NAME=COUNT, NAME one of: {}\n  --referral     DESTINATION:MODE:CONSENT:STATUS\n                 DESTINATION: {}\n                 MODE: {}\n                 CONSENT: consent, no_consent\n                 STATUS: {}\n  --consent      {}",
        Setting::names().join(", "),
        ContactType::names().join(", "),
        Interpreter::names().join(", "),
        Service::names().join(", "),
        ReferralDestination::names().join(", "),
        ReferralMode::names().join(", "),
        ReferralStatus::names().join(", "),
        parse::CONSENT_FLAGS.join(", "),
    )
}

/// Fields shared by `log` and `amend`.
#[derive(Debug, Args)]
pub struct EncounterFields {
    /// Where the contact happened [log default: street]
    #[arg(long, value_name = "SETTING")]
    setting: Option<String>,
    /// Kind of contact [log default: brief]
    #[arg(long, value_name = "TYPE")]
    contact: Option<String>,
    /// The person's profile id (see `outreach person find`); leave out for an anonymous contact
    #[arg(long, value_name = "ID")]
    person: Option<String>,
    /// A service given, NAME=COUNT; repeat or comma-separate (COUNT 0 removes it)
    #[arg(long = "service", value_name = "NAME=COUNT", value_delimiter = ',')]
    services: Vec<String>,
    /// A referral, DESTINATION:MODE:CONSENT:STATUS; repeat for several
    #[arg(long = "referral", value_name = "D:M:C:S", value_delimiter = ',')]
    referrals: Vec<String>,
    /// Language used
    #[arg(long, value_name = "LANGUAGE")]
    language: Option<String>,
    /// Interpreting used [log default: none]
    #[arg(long, value_name = "KIND")]
    interpreter: Option<String>,
    /// What the person consented to, comma-separated (`none` for nothing)
    #[arg(long, value_name = "FLAGS", value_delimiter = ',')]
    consent: Vec<String>,
    /// Short note (at most 500 characters); keep identifying detail out of it
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// Staff handles present, comma-separated [log default: the shift's crew]
    #[arg(long, value_name = "HANDLES", value_delimiter = ',')]
    workers: Vec<String>,
    /// A follow-up to do (short)
    #[arg(long, value_name = "TEXT")]
    follow_up: Option<String>,
    /// When the follow-up is due (needs --follow-up, or one already recorded)
    #[arg(long, value_name = "YYYY-MM-DD")]
    follow_up_due: Option<String>,
    /// When it happened, RFC 3339 [log default: now]
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
}

impl EncounterFields {
    /// Overrides `e` with what was given.
    fn apply(&self, e: &mut EncounterInput) -> CliResult {
        if let Some(s) = &self.setting {
            e.setting = parse::controlled::<Setting>("--setting", s, Setting::names)?;
        }
        if let Some(c) = &self.contact {
            e.contact_type = parse::controlled::<ContactType>("--contact", c, ContactType::names)?;
        }
        if let Some(p) = &self.person {
            e.person = Some(parse::id(p));
        }
        parse::apply_services(&self.services, &mut e.services)?;
        if !self.referrals.is_empty() {
            e.referrals = parse::list(&self.referrals)
                .iter()
                .map(|r| parse::referral(r))
                .collect::<CliResult<_>>()?;
        }
        if let Some(l) = parse::opt_text(self.language.as_ref()) {
            e.language = l;
        }
        if let Some(i) = &self.interpreter {
            e.interpreter =
                parse::controlled::<Interpreter>("--interpreter", i, Interpreter::names)?;
        }
        if !self.consent.is_empty() {
            e.consent = parse::consent_flags(&self.consent)?;
        }
        if let Some(n) = parse::opt_text(self.note.as_ref()) {
            e.note = n;
        }
        if !self.workers.is_empty() {
            e.workers = parse::list(&self.workers);
        }
        match (
            parse::opt_text(self.follow_up.as_ref()),
            &self.follow_up_due,
        ) {
            (Some(None), _) => e.follow_up = None,
            (Some(Some(what)), due) => {
                let due = due
                    .as_deref()
                    .map(|d| parse::date("--follow-up-due", d))
                    .transpose()?;
                let keep_due = e.follow_up.as_ref().and_then(|f| f.due);
                e.follow_up = Some(FollowUp {
                    due: due.or(keep_due),
                    what,
                    done: false,
                });
            }
            (None, Some(due)) => {
                let due = parse::date("--follow-up-due", due)?;
                match e.follow_up.as_mut() {
                    Some(f) => f.due = Some(due),
                    None => {
                        return Err(CliError::invalid(
                            "--follow-up-due",
                            "needs --follow-up TEXT",
                        ))
                    }
                }
            }
            (None, None) => {}
        }
        if let Some(t) = &self.at {
            e.at = Some(parse::time("--at", t)?);
        }
        Ok(())
    }
}

/// Options of `outreach log`.
#[derive(Debug, Args)]
#[command(after_help = format!("{}\n\n\
Example:\n  outreach log --zone north-beat --setting street --contact brief --service condoms=10 --service lube=5 \\\n      --referral sexual_health:signposted:consent:offered --consent record", fields_help()))]
pub struct LogArgs {
    /// Zone (named beat); one of the team's zones
    #[arg(long, value_name = "ZONE")]
    zone: String,
    #[command(flatten)]
    fields: EncounterFields,
}

/// Options of `outreach amend`.
#[derive(Debug, Args)]
#[command(after_help = format!("Only what is given changes; --service NAME=0 removes a service, --referral replaces \
the referral list, --note \"\" clears the note.\n\n{}\n\n\
Example:\n  outreach amend 01890a5d-ac96-774b-bcce-b302099a8057 --service lube=5 --note \"Asked about the clinic times\"", fields_help()))]
pub struct AmendArgs {
    /// The encounter's id (printed by `outreach log`, shown by `outreach list`)
    #[arg(value_name = "ID")]
    id: String,
    /// Zone (named beat); one of the team's zones
    #[arg(long, value_name = "ZONE")]
    zone: Option<String>,
    /// Make the contact anonymous (remove the person)
    #[arg(long, conflicts_with = "person")]
    anonymous: bool,
    /// Remove every referral
    #[arg(long, conflicts_with = "referrals")]
    clear_referrals: bool,
    #[command(flatten)]
    fields: EncounterFields,
}

/// Options of `outreach list`.
#[derive(Debug, Args)]
#[command(
    after_help = "A night runs from noon to noon in the team's UTC offset, so 01:30 belongs to the previous evening.\n\n\
Example:\n  outreach list\n  outreach list --night 2026-01-31 --json"
)]
pub struct ListArgs {
    /// The night (the date the evening started) [default: the current night]
    #[arg(long, value_name = "YYYY-MM-DD")]
    night: Option<String>,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// `outreach log`.
pub fn log(ctx: &Context, a: LogArgs) -> CliResult {
    let mut input = EncounterInput::new(a.zone.trim());
    a.fields.apply(&mut input)?;
    let mut store = ctx.open()?;
    let e = store.log_encounter(input).map_err(|e| ctx.core(e))?;
    emit(&e.id)
}

/// `outreach amend`.
pub fn amend(ctx: &Context, a: AmendArgs) -> CliResult {
    let id = parse::id(&a.id);
    let mut store = ctx.open()?;
    let old = store.get_encounter(&id).map_err(|e| ctx.core(e))?;
    let mut input = old.input.clone();
    if let Some(z) = &a.zone {
        input.zone = z.trim().to_string();
    }
    if a.anonymous {
        input.person = None;
    }
    if a.clear_referrals {
        input.referrals.clear();
    }
    a.fields.apply(&mut input)?;
    if input == old.input {
        return emit(&format!("{id}\n(no change)"));
    }
    let e = store.amend_encounter(&id, input).map_err(|e| ctx.core(e))?;
    emit(&e.id)
}

/// Services as `condoms 10, lube 5`.
fn services_summary(e: &Encounter) -> String {
    if e.input.services.is_empty() {
        return "-".into();
    }
    e.input
        .services
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Code names of the people in `encounters`, read with the core's list read, which records
/// one `person.list` audit event for the listing (not one view per row). Profiles not (yet)
/// synced to this device map to `None`.
fn code_names(
    ctx: &Context,
    store: &Store,
    encounters: &[Encounter],
) -> CliResult<HashMap<String, Option<String>>> {
    let mut ids: Vec<String> = encounters
        .iter()
        .filter_map(|e| e.input.person.clone())
        .collect();
    ids.sort();
    ids.dedup();
    let names = store.code_names(&ids).map_err(|e| ctx.core(e))?;
    Ok(ids
        .into_iter()
        .map(|id| {
            let n = names.get(&id).cloned();
            (id, n)
        })
        .collect())
}

/// `outreach list`.
pub fn list(ctx: &Context, a: ListArgs) -> CliResult {
    let night_arg = a
        .night
        .as_deref()
        .map(|n| parse::date("--night", n))
        .transpose()?;
    let store = ctx.open()?;
    let off = store.settings().utc_offset_minutes;
    let night = night_arg.unwrap_or_else(|| night_of(Utc::now(), off));
    let encounters = store.list_night(night).map_err(|e| ctx.core(e))?;
    let shifts: HashMap<String, Shift> = store
        .list_shifts(night)
        .map_err(|e| ctx.core(e))?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let names = code_names(ctx, &store, &encounters)?;
    let van = |e: &Encounter| shifts.get(&e.shift).map(|s| s.van.clone());
    let person_label = |e: &Encounter| match e.input.person.as_deref() {
        None => "anonymous".to_string(),
        Some(id) => match names.get(id).cloned().flatten() {
            Some(n) => n,
            None => format!("(profile {} not on this device)", output::short(id)),
        },
    };

    if a.json {
        let mut rows = Vec::with_capacity(encounters.len());
        for e in &encounters {
            let mut v = serde_json::to_value(e)
                .map_err(|_| CliError::other("could not encode the output as JSON"))?;
            if let Value::Object(m) = &mut v {
                m.insert("van".into(), json!(van(e)));
                let code = e
                    .input
                    .person
                    .as_deref()
                    .and_then(|id| names.get(id).cloned().flatten());
                m.insert("person_code_name".into(), json!(code));
            }
            rows.push(v);
        }
        return emit(&output::json(
            &json!({ "night": night, "utc_offset_minutes": off, "encounters": rows }),
        )?);
    }

    if encounters.is_empty() {
        return emit(&format!("No encounters on the night of {night}.\n"));
    }
    let mut t = Table::new(&[
        "TIME", "VAN", "ZONE", "SETTING", "CONTACT", "PERSON", "SERVICES", "ID",
    ]);
    for e in &encounters {
        let van = match van(e) {
            Some(v) => format!("{v} ({})", output::short(&e.device)),
            None => format!("device {}", output::short(&e.device)),
        };
        t.row(vec![
            output::clock(e.at(), off),
            van,
            e.input.zone.clone(),
            e.input.setting.to_string(),
            e.input.contact_type.to_string(),
            person_label(e),
            services_summary(e),
            e.id.clone(),
        ]);
    }
    let totals = totals(&encounters);
    emit(&format!(
        "Night of {night}: {} encounter(s)\n{}{}",
        t.len(),
        t.render(),
        if totals.is_empty() {
            String::new()
        } else {
            format!("Services: {totals}\n")
        }
    ))
}

fn totals(encounters: &[Encounter]) -> String {
    let mut sum: BTreeMap<outreach_core::Service, u64> = BTreeMap::new();
    for e in encounters {
        for (s, n) in &e.input.services {
            *sum.entry(*s).or_default() += u64::from(*n);
        }
    }
    sum.iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
