//! `outreach alert add|check|review`: dangerous-individual alerts, checkable offline, and the
//! lead's decision on an alert due for review (keep it for another period, or withdraw it).
//!
//! A checked value is normalised and hashed in memory by the core; this module never prints it,
//! never puts it in an error, and wipes its own copy when done.

use std::io::BufRead;

use clap::{ArgGroup, Args, Subcommand};
use outreach_core::{AlertInput, IdentifierKind, Risk};
use serde_json::json;
use zeroize::Zeroizing;

use crate::context::Context;
use crate::errors::{CliError, CliResult};
use crate::output::{self, emit};
use crate::parse;

/// `outreach alert ...`
#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Add an alert; prints its id. Identifiers are stored normalised; only keyed hashes are indexed
    #[command(
        after_help = "Example:\n  outreach alert add --description \"Fake test alert: grey hatchback, threatening\" \\\n      --plate \"AB12 CDE\" --phone \"07700 900123\" --area north-beat --risk high"
    )]
    Add(AddArgs),
    /// Check a phone number, plate, email or username against the alerts, offline
    #[command(
        after_help = "Prints NO MATCH, or the risk and description of each matching alert. The value checked is \
never printed, logged or stored. Give - as the value to read it from standard input (keeps it out of shell history).\n\n\
Exit code: 0 whether or not there is a match; non-zero only on an error (e.g. 5 if the value cannot be a phone number).\n\n\
Example:\n  outreach alert check --phone \"07700 900123\"\n  outreach alert check --plate -"
    )]
    Check(CheckArgs),
    /// Decide on an alert due for review (lead): keep it until a date, or withdraw it everywhere
    #[command(
        after_help = "Alerts are never deleted by retention: once past their review date (or `alert_review_days` after \
they were issued) they are listed by `outreach review` and `outreach retention alerts`. Keeping one sets its next \
review date (a synced change). Withdrawing one destroys it on every device and on the hub (it needs the hub; exit \
code 6 when it cannot be reached) and cannot be undone.\n\n\
Example:\n  outreach alert review 01890a5d-ac96-774b-bcce-b302099a8057 --keep-until 2027-06-30\n  \
outreach alert review 01890a5d-ac96-774b-bcce-b302099a8057 --withdraw --yes"
    )]
    Review(ReviewArgs),
}

/// Options of `outreach alert review`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("decision").required(true).args(["keep_until", "withdraw"])))]
pub struct ReviewArgs {
    /// The alert's id
    #[arg(value_name = "ID")]
    id: String,
    /// Keep the alert and review it again on this date (YYYY-MM-DD, after today)
    #[arg(long, value_name = "DATE")]
    keep_until: Option<String>,
    /// Withdraw the alert on every device and on the hub
    #[arg(long)]
    withdraw: bool,
    /// Do not ask for confirmation before withdrawing
    #[arg(long)]
    yes: bool,
}

/// Options of `outreach alert add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// What staff need to know (short)
    #[arg(long, value_name = "TEXT")]
    description: String,
    /// A vehicle registration; repeat for several
    #[arg(long = "plate", value_name = "PLATE")]
    plates: Vec<String>,
    /// A phone number; repeat for several
    #[arg(long = "phone", value_name = "NUMBER")]
    phones: Vec<String>,
    /// An email address; repeat for several
    #[arg(long = "email", value_name = "EMAIL")]
    emails: Vec<String>,
    /// An online username or handle; repeat for several
    #[arg(long = "username", value_name = "USERNAME")]
    usernames: Vec<String>,
    /// Area (a zone or short text)
    #[arg(long, value_name = "AREA")]
    area: Option<String>,
    /// Risk: low, medium or high
    #[arg(long, value_name = "RISK")]
    risk: String,
    /// Date the alert applies from
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<String>,
    /// Date the alert should be reviewed
    #[arg(long, value_name = "YYYY-MM-DD")]
    review: Option<String>,
}

/// Options of `outreach alert check`: exactly one identifier.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("identifier").required(true).multiple(false).args(["phone", "plate", "email", "username"])))]
pub struct CheckArgs {
    /// A phone number (national or international form)
    #[arg(long, value_name = "NUMBER")]
    phone: Option<String>,
    /// A vehicle registration
    #[arg(long, value_name = "PLATE")]
    plate: Option<String>,
    /// An email address
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// An online username or handle
    #[arg(long, value_name = "USERNAME")]
    username: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Runs an alert command.
pub fn run(ctx: &Context, c: AlertCommand) -> CliResult {
    match c {
        AlertCommand::Add(a) => add(ctx, a),
        AlertCommand::Check(a) => check(ctx, a),
        AlertCommand::Review(a) => review(ctx, a),
    }
}

fn review(ctx: &Context, a: ReviewArgs) -> CliResult {
    let id = parse::id(&a.id);
    let mut store = ctx.open()?;
    if let Some(d) = &a.keep_until {
        let until = parse::date("--keep-until", d)?;
        let alert = store.keep_alert(&id, until).map_err(|e| ctx.core(e))?;
        return emit(&format!(
            "Kept alert {} ({} risk); next review on {}. The change reaches every device at its next sync.\n",
            alert.id,
            alert.input.risk.as_str(),
            alert.input.review.map(|d| d.to_string()).unwrap_or_else(|| "-".into())
        ));
    }
    if !store.sync_status().map_err(|e| ctx.core(e))?.registered {
        return Err(crate::remote::not_registered());
    }
    if !a.yes {
        crate::context::confirm(
            format!("withdrawing alert {id} needs confirmation: run in a terminal and answer yes, or add --yes"),
            &format!(
                "Withdrawing alert {id} destroys it on every device and on the hub; its identifiers stop matching. This cannot be undone.\nType yes to withdraw: "
            ),
            "yes",
            true,
            "not withdrawn; nothing was changed",
        )?;
    }
    let transport = crate::remote::store_transport(ctx, &store)?;
    let out = store
        .withdraw_alert(&transport, &id)
        .map_err(|e| crate::remote::online_only_err(ctx, "withdrawing an alert", "nothing was withdrawn", e))?;
    emit(&format!(
        "Withdrew alert {id}: the hub deleted {} chunk(s) and {} key(s); the team key moved to epoch {}.\n\
         Next: sync every device (outreach sync); each removes the alert before anything else.\n",
        out.hub_chunks_deleted, out.hub_keys_deleted, out.epoch
    ))
}

fn add(ctx: &Context, a: AddArgs) -> CliResult {
    let input = AlertInput {
        description: a.description.trim().to_string(),
        plates: parse::list(&a.plates),
        phones: parse::list(&a.phones),
        emails: parse::list(&a.emails),
        usernames: parse::list(&a.usernames),
        area: parse::opt_text(a.area.as_ref()).flatten(),
        risk: parse::controlled::<Risk>("--risk", &a.risk, Risk::names)?,
        from: a
            .from
            .as_deref()
            .map(|d| parse::date("--from", d))
            .transpose()?,
        review: a
            .review
            .as_deref()
            .map(|d| parse::date("--review", d))
            .transpose()?,
    };
    let mut store = ctx.open()?;
    let alert = store.add_alert(input).map_err(|e| ctx.core(e))?;
    emit(&alert.id)
}

fn check(ctx: &Context, a: CheckArgs) -> CliResult {
    let (kind, raw) = match (a.phone, a.plate, a.email, a.username) {
        (Some(v), _, _, _) => (IdentifierKind::Phone, v),
        (_, Some(v), _, _) => (IdentifierKind::Plate, v),
        (_, _, Some(v), _) => (IdentifierKind::Email, v),
        (_, _, _, Some(v)) => (IdentifierKind::Username, v),
        _ => {
            return Err(CliError::invalid(
                "alert check",
                "give one of --phone, --plate, --email, --username",
            ))
        }
    };
    let raw = Zeroizing::new(raw);
    let value = if raw.trim() == "-" {
        read_stdin_line()?
    } else {
        raw
    };
    let store = ctx.open()?;
    let matches = store
        .check_alert(kind, value.trim())
        .map_err(|e| ctx.core(e))?;
    drop(value);
    if a.json {
        let rows: Vec<_> = matches
            .iter()
            .map(|m| json!({ "alert": m.alert, "risk": m.risk, "description": m.description, "area": m.area }))
            .collect();
        return emit(&output::json(
            &json!({ "match": !matches.is_empty(), "alerts": rows }),
        )?);
    }
    if matches.is_empty() {
        return emit("NO MATCH\n");
    }
    let mut out = format!("MATCH: {} alert(s)\n", matches.len());
    for m in &matches {
        out.push_str(&format!(
            "  risk {}: {}{}\n",
            m.risk.as_str().to_uppercase(),
            output::cell(&m.description),
            m.area
                .as_deref()
                .map(|a| format!(" (area: {})", output::cell(a)))
                .unwrap_or_default()
        ));
    }
    emit(&out)
}

/// One line from standard input, for `--phone -` and friends.
fn read_stdin_line() -> CliResult<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|_| CliError::other("could not read the value from standard input"))?;
    if line.trim().is_empty() {
        return Err(CliError::invalid(
            "alert check",
            "no value on standard input",
        ));
    }
    Ok(line)
}
