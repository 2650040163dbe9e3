//! `outreach alert add|check`: dangerous-individual alerts, checkable offline.
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
    }
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
