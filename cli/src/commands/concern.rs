//! `outreach concern add|share`: safeguarding concerns, and logged shares of them.

use clap::{Args, Subcommand};
use outreach_core::{ConcernCategory, ConcernInput, Consent, Indicator, LegalBasis};

use crate::context::Context;
use crate::errors::CliResult;
use crate::output::emit;
use crate::parse;

fn values_help() -> String {
    format!(
        "Controlled values:\n  --category     {}\n  --indicator    {}\n  --consent      {}\n  --legal-basis  {}",
        ConcernCategory::names().join(", "),
        Indicator::names().join(", "),
        Consent::names().join(", "),
        LegalBasis::names().join(", "),
    )
}

/// `outreach concern ...`
#[derive(Debug, Subcommand)]
pub enum ConcernCommand {
    /// Record a safeguarding concern in the open shift; prints its id
    #[command(after_help = format!("Sharing without consent needs --legal-basis.\n\n{}\n\n\
Example:\n  outreach concern add --category exploitation_modern_slavery --at 2026-01-31T23:10:00Z --indicator controlled_by_other,no_id_documents \\\n      --consent refused --action \"Gave the modern slavery helpline card\" --shared-without-consent --legal-basis vital_interests", values_help()))]
    Add(AddArgs),
    /// Log a share of a safeguarding concern with the police, the national scheme or the local authority
    #[command(after_help = format!("The share is logged with who, when, this device, the lawful basis and the consent that stood \
(the concern's --consent, or the person's newer consent per purpose). Without consent it needs --basis AND a lead device. \
Audited (concern.share).\n\nRecipients: police, national, local_authority\nLawful bases: {}\n\n\
Example:\n  outreach --user lead-a concern share 01890a5d-ac96-774b-bcce-b302099a8057 --with local_authority\n  outreach --user lead-a concern share 01890a5d-ac96-774b-bcce-b302099a8057 --with police --basis vital_interests", LegalBasis::names().join(", ")))]
    Share(super::incident::ShareArgs),
}

/// Options of `outreach concern add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Category of concern
    #[arg(long, value_name = "CATEGORY")]
    category: String,
    /// Indicator observed; repeat or comma-separate
    #[arg(long = "indicator", value_name = "INDICATOR", value_delimiter = ',')]
    indicators: Vec<String>,
    /// Consent to a referral
    #[arg(long, value_name = "CONSENT")]
    consent: String,
    /// What was done (short)
    #[arg(long, value_name = "TEXT")]
    action: String,
    /// Information was shared with another agency without consent (needs --legal-basis)
    #[arg(long)]
    shared_without_consent: bool,
    /// Lawful basis for sharing without consent
    #[arg(long, value_name = "BASIS")]
    legal_basis: Option<String>,
    /// The person concerned (profile id)
    #[arg(long, value_name = "ID")]
    person: Option<String>,
    /// The encounter it arose in (encounter id)
    #[arg(long, value_name = "ID")]
    encounter: Option<String>,
    /// When the concern arose, RFC 3339 [default: now]
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
}

/// Runs a concern command.
pub fn run(ctx: &Context, c: ConcernCommand) -> CliResult {
    match c {
        ConcernCommand::Add(a) => {
            let input = ConcernInput {
                category: parse::controlled::<ConcernCategory>(
                    "--category",
                    &a.category,
                    ConcernCategory::names,
                )?,
                indicators: parse::controlled_list::<Indicator>(
                    "--indicator",
                    &a.indicators,
                    Indicator::names,
                )?,
                encounter: a.encounter.as_deref().map(parse::id),
                person: a.person.as_deref().map(parse::id),
                consent: parse::controlled::<Consent>("--consent", &a.consent, Consent::names)?,
                action: a.action.trim().to_string(),
                shared_without_consent: a.shared_without_consent,
                legal_basis: a
                    .legal_basis
                    .as_deref()
                    .map(|b| parse::controlled::<LegalBasis>("--legal-basis", b, LegalBasis::names))
                    .transpose()?,
            };
            let at =
                a.at.as_deref()
                    .map(|t| parse::time("--at", t))
                    .transpose()?;
            let mut store = ctx.open()?;
            let c = store
                .record_concern_at(input, at)
                .map_err(|e| ctx.core(e))?;
            emit(&c.id)
        }
        ConcernCommand::Share(a) => {
            let (to, basis) = a.parse()?;
            let id = parse::id(&a.id);
            let mut store = ctx.open()?;
            let d = store
                .share_concern(&id, to, basis)
                .map_err(|e| super::incident::share_err(ctx, e))?;
            if a.json {
                return emit(&crate::output::json(&d)?);
            }
            emit(&super::incident::share_text("concern", &id, &d))
        }
    }
}
