//! `outreach shift start|end|status`: this device's shift (one document per device-shift).

use clap::{Args, Subcommand};
use outreach_core::ShiftStart;
use serde_json::json;

use crate::context::Context;
use crate::errors::CliResult;
use crate::output::{self, emit};
use crate::parse;

/// `outreach shift ...`
#[derive(Debug, Subcommand)]
pub enum ShiftCommand {
    /// Start a shift on this device; prints the shift's id
    #[command(
        after_help = "Example:\n  outreach shift start --van \"Van 1\" --crew staff-a,staff-b --zones north-beat,south-beat"
    )]
    Start(StartArgs),
    /// End the shift open on this device
    #[command(after_help = "Example:\n  outreach shift end")]
    End,
    /// Show the shift open on this device, if any
    #[command(after_help = "Example:\n  outreach shift status\n  outreach shift status --json")]
    Status(StatusArgs),
}

/// Options of `outreach shift start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Van name or number
    #[arg(long, value_name = "VAN")]
    van: String,
    /// Staff handles on the crew, comma-separated (handles, not full names)
    #[arg(long, value_name = "HANDLES", value_delimiter = ',', required = true)]
    crew: Vec<String>,
    /// Zones the van will cover, comma-separated (each one of the team's zones)
    #[arg(long, value_name = "ZONES", value_delimiter = ',', required = true)]
    zones: Vec<String>,
    /// Start time, RFC 3339 [default: now]
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
}

/// Options of `outreach shift status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Runs a shift command.
pub fn run(ctx: &Context, c: ShiftCommand) -> CliResult {
    match c {
        ShiftCommand::Start(a) => {
            let at =
                a.at.as_deref()
                    .map(|t| parse::time("--at", t))
                    .transpose()?;
            let input = ShiftStart {
                van: a.van,
                crew: parse::list(&a.crew),
                zones: parse::list(&a.zones),
                at,
            };
            let mut store = ctx.open()?;
            let shift = store.start_shift(input).map_err(|e| ctx.core(e))?;
            emit(&shift.id)
        }
        ShiftCommand::End => {
            let mut store = ctx.open()?;
            let shift = store.end_shift().map_err(|e| ctx.core(e))?;
            let n = store
                .list_night(shift.night)
                .map_err(|e| ctx.core(e))?
                .iter()
                .filter(|e| e.shift == shift.id)
                .count();
            let off = store.settings().utc_offset_minutes;
            emit(&format!(
                "Ended shift {} ({}) at {}; {} encounter(s) logged in it\n",
                shift.id,
                output::cell(&shift.van),
                shift
                    .ended_at
                    .map(|t| output::stamp(t, off))
                    .unwrap_or_default(),
                n
            ))
        }
        ShiftCommand::Status(a) => {
            let store = ctx.open()?;
            let off = store.settings().utc_offset_minutes;
            let shift = store.current_shift().map_err(|e| ctx.core(e))?;
            let pending = store.outbox_len().map_err(|e| ctx.core(e))?;
            let Some(shift) = shift else {
                return emit(&if a.json {
                    output::json(&json!({ "open": false, "outbox": pending }))?
                } else {
                    format!("No shift is open on this device ({pending} change(s) waiting to sync).\nStart one: outreach shift start --van \"Van 1\" --crew staff-a --zones ZONE\n")
                });
            };
            let n = store
                .list_night(shift.night)
                .map_err(|e| ctx.core(e))?
                .iter()
                .filter(|e| e.shift == shift.id)
                .count();
            if a.json {
                return emit(&output::json(
                    &json!({ "open": true, "shift": shift, "encounters": n, "outbox": pending }),
                )?);
            }
            emit(&format!(
                "Shift {}\n  van:        {}\n  crew:       {}\n  zones:      {}\n  started:    {}\n  night:      {}\n  encounters: {}\n  to sync:    {} change(s)\n",
                shift.id,
                output::cell(&shift.van),
                output::cell(&shift.crew.join(", ")),
                output::cell(&shift.zones.join(", ")),
                output::stamp(shift.started_at, off),
                shift.night,
                n,
                pending
            ))
        }
    }
}
