//! `outreach init`: create a team's encrypted store.

use clap::Args;
use outreach_core::TeamSetup;

use crate::context::Context;
use crate::errors::CliResult;
use crate::output::emit;
use crate::parse;

/// Options of `outreach init`.
#[derive(Debug, Args)]
#[command(
    after_help = "The passphrase is asked for twice (no echo), or read from OUTREACH_PASSPHRASE; \
it must have at least 10 characters. There is no way to recover a store whose passphrase is lost.\n\n\
Example:\n  outreach init --team \"Night Van Team\" --zones \"north-beat,south-beat\" --country GB --utc-offset-minutes 0"
)]
pub struct InitArgs {
    /// Team name
    #[arg(long, value_name = "NAME")]
    team: String,
    /// The team's zones (named beats), comma-separated; encounters are logged against these
    #[arg(long, value_name = "ZONES", value_delimiter = ',', required = true)]
    zones: Vec<String>,
    /// ISO country used to read national phone numbers in alerts
    #[arg(long, value_name = "CC", default_value = "GB")]
    country: String,
    /// The team's offset from UTC in minutes (decides which night a time belongs to)
    #[arg(
        long,
        value_name = "MINUTES",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    utc_offset_minutes: i32,
}

/// Creates the store.
pub fn run(ctx: &Context, a: InitArgs) -> CliResult {
    let team = TeamSetup {
        team: a.team.trim().to_string(),
        zones: parse::list(&a.zones),
        default_country: a.country.trim().to_ascii_uppercase(),
        utc_offset_minutes: a.utc_offset_minutes,
    };
    let store = ctx.create(team)?;
    let s = store.settings();
    emit(&format!(
        "Created the encrypted store for {} in {}\nZones: {}\nNext: outreach shift start --van \"Van 1\" --crew staff-a,staff-b --zones {}\n",
        crate::output::cell(&s.team),
        ctx.dir().display(),
        s.zones.join(", "),
        s.zones.first().map(String::as_str).unwrap_or("ZONE"),
    ))
}
