//! `outreach incident add`: violence and crime reports.

use clap::{Args, Subcommand};
use outreach_core::{IncidentInput, IncidentType, ShareConsent};

use crate::context::Context;
use crate::errors::{CliError, CliResult};
use crate::output::emit;
use crate::parse;

fn values_help() -> String {
    format!(
        "Controlled values:\n  --kind                           {}\n  --share-police, --share-national {}",
        IncidentType::names().join(", "),
        ShareConsent::names().join(", "),
    )
}

/// `outreach incident ...`
#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Record an incident in the open shift; prints its id
    #[command(after_help = format!("{}\n\n\
Example:\n  outreach incident add --when 2026-01-31T23:40:00Z --place north-beat --kind robbery \\\n      --share-police anonymised --share-national full --injuries \"Bruised arm\" \\\n      --perpetrator \"Fake test description: tall, grey hatchback\" --support \"Attack alarm given\"", values_help()))]
    Add(AddArgs),
}

/// Options of `outreach incident add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// When it happened, RFC 3339
    #[arg(long, value_name = "RFC3339")]
    when: String,
    /// Where: a zone or a short description of the place (no addresses)
    #[arg(long, value_name = "PLACE")]
    place: String,
    /// Type of incident
    #[arg(long, value_name = "KIND")]
    kind: String,
    /// Consent to share with the police
    #[arg(long, value_name = "SHARE")]
    share_police: String,
    /// Consent to share with the national reporting scheme
    #[arg(long, value_name = "SHARE")]
    share_national: String,
    /// Injuries (short)
    #[arg(long, value_name = "TEXT")]
    injuries: Option<String>,
    /// Perpetrator description (short)
    #[arg(long, value_name = "TEXT")]
    perpetrator: Option<String>,
    /// It has been reported to the police
    #[arg(long)]
    police_reported: bool,
    /// Crime reference number (needs --police-reported)
    #[arg(long = "crime-ref", value_name = "REF")]
    crime_ref: Option<String>,
    /// Support offered (short)
    #[arg(long, value_name = "TEXT")]
    support: Option<String>,
    /// The person it happened to (profile id)
    #[arg(long, value_name = "ID")]
    person: Option<String>,
    /// The encounter it was reported in (encounter id)
    #[arg(long, value_name = "ID")]
    encounter: Option<String>,
}

/// Runs an incident command.
pub fn run(ctx: &Context, c: IncidentCommand) -> CliResult {
    match c {
        IncidentCommand::Add(a) => {
            let input = IncidentInput {
                when: parse::time("--when", &a.when)?,
                place: a.place.trim().to_string(),
                kind: parse::controlled::<IncidentType>("--kind", &a.kind, IncidentType::names)?,
                injuries: parse::opt_text(a.injuries.as_ref()).flatten(),
                perpetrator: parse::opt_text(a.perpetrator.as_ref()).flatten(),
                police_reported: a.police_reported,
                crime_reference: parse::opt_text(a.crime_ref.as_ref()).flatten(),
                share_police: parse::controlled::<ShareConsent>(
                    "--share-police",
                    &a.share_police,
                    ShareConsent::names,
                )?,
                share_national: parse::controlled::<ShareConsent>(
                    "--share-national",
                    &a.share_national,
                    ShareConsent::names,
                )?,
                support: parse::opt_text(a.support.as_ref()).flatten(),
                person: a.person.as_deref().map(parse::id),
                encounter: a.encounter.as_deref().map(parse::id),
            };
            let mut store = ctx.open()?;
            // The core checks the person reference but not the encounter's; check it here.
            if let Some(e) = input.encounter.as_deref() {
                match store.get_encounter(e) {
                    Ok(_) => {}
                    Err(outreach_core::Error::NotFound { .. }) => {
                        return Err(CliError::invalid(
                            "--encounter",
                            "no such encounter on this device",
                        ))
                    }
                    Err(e) => return Err(ctx.core(e)),
                }
            }
            let i = store.record_incident(input).map_err(|e| ctx.core(e))?;
            emit(&i.id)
        }
    }
}
