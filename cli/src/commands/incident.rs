//! `outreach incident add|share`: violence and crime reports, and logged shares of them.

use clap::{Args, Subcommand};
use outreach_core::{
    Disclosure, IncidentInput, IncidentType, LegalBasis, ShareConsent, ShareError, ShareRecipient,
};

use crate::context::Context;
use crate::errors::{CliError, CliResult, Exit};
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
    /// Log a share of an incident with the police or the national reporting scheme
    #[command(after_help = format!("The share is logged with who, when, this device, the lawful basis and the consent that stood \
(the incident's --share-police / --share-national, or the person's newer consent per purpose). Without consent it needs \
--basis AND a lead device. Audited (incident.share); counted in reports.\n\nLawful bases: {}\n\n\
Example:\n  outreach --user lead-a incident share 01890a5d-ac96-774b-bcce-b302099a8057 --with national\n  outreach --user lead-a incident share 01890a5d-ac96-774b-bcce-b302099a8057 --with police --basis vital_interests", LegalBasis::names().join(", ")))]
    Share(ShareArgs),
}

/// Options of `outreach incident share` and `outreach concern share`.
#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The record's id
    #[arg(value_name = "ID")]
    pub id: String,
    /// Who it goes to: police or national (a concern may also go to local_authority)
    #[arg(long = "with", value_name = "RECIPIENT")]
    pub with: String,
    /// Lawful basis, needed when consent does not cover the share (lead devices only)
    #[arg(long, value_name = "BASIS")]
    pub basis: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

impl ShareArgs {
    /// The recipient and basis, parsed.
    pub fn parse(&self) -> CliResult<(ShareRecipient, Option<LegalBasis>)> {
        let to = parse::controlled::<ShareRecipient>("--with", &self.with, ShareRecipient::names)?;
        let basis = self
            .basis
            .as_deref()
            .map(|b| parse::controlled::<LegalBasis>("--basis", b, LegalBasis::names))
            .transpose()?;
        Ok((to, basis))
    }
}

/// Maps a refused share to a one-line error that says what to do next.
pub fn share_err(ctx: &Context, e: ShareError) -> CliError {
    match e {
        ShareError::Store(e) => ctx.core(e),
        e @ ShareError::ConsentNotRecorded { .. } => CliError {
            exit: Exit::Invalid,
            message: e.to_string(),
        },
        e @ ShareError::RecipientNotAllowed { .. } => CliError {
            exit: Exit::Invalid,
            message: e.to_string(),
        },
        e @ ShareError::NotLead => CliError {
            exit: Exit::Refused,
            message: e.to_string(),
        },
    }
}

/// What a logged share prints.
pub fn share_text(kind: &str, id: &str, d: &Disclosure) -> String {
    format!(
        "logged: {kind} {id} shared with {} by {} ({}); consent: {}; lawful basis: {}; disclosure {}",
        d.recipient.as_str(),
        d.by,
        if d.consent.covered { "covered" } else { "NOT covered, shared on the lawful basis" },
        d.consent.record,
        d.legal_basis.map(|b| b.as_str()).unwrap_or("-"),
        d.id
    )
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
        IncidentCommand::Share(a) => {
            let (to, basis) = a.parse()?;
            let id = parse::id(&a.id);
            let mut store = ctx.open()?;
            let d = store
                .share_incident(&id, to, basis)
                .map_err(|e| share_err(ctx, e))?;
            if a.json {
                return emit(&crate::output::json(&d)?);
            }
            emit(&share_text("incident", &id, &d))
        }
    }
}
