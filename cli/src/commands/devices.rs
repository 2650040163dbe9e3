//! `outreach devices list|revoke|dead-man`: the team's devices, as the hub's directory holds
//! them, and the team's device-loss settings.
//!
//! `list` and `revoke` ask the hub (the list is the hub's directory, also stored in this
//! store). Device names come from other devices through the hub: they are cleaned of control
//! characters before they reach the terminal. `revoke --wipe` adds a signed order that the
//! revoked device wipe its store at its next contact; `dead-man` sets the team's dead-man
//! timer (see ARCHITECTURE.md, "Device loss").


use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use outreach_proto::messages::Role;
use serde_json::json;

use crate::context::{self, Context};
use crate::errors::{CliError, CliResult, Exit};
use crate::output::{self, emit, Table};
use crate::remote;

/// `outreach devices ...`
#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List the team's devices (asks the hub): id, name, role, enrolled, revoked
    #[command(after_help = "Example:\n  outreach devices list\n  outreach devices list --json")]
    List(ListArgs),
    /// Revoke a device (lead only): the hub refuses it from now on and the team key rotates,
    /// so it can read nothing written afterwards
    #[command(
        after_help = "ID is the device id from `outreach devices list` (the short form \
is enough when it is unique). The device's name is shown and you are asked to confirm; --yes \
skips the question (for scripts). Other devices pick the new team key up on their next sync.\n\n\
With --wipe the hub also hands the device a signed order to wipe its store the next time it \
contacts the hub (a lost or stolen phone): it checks the order came from a lead and destroys its \
store.\n\n\
Example:\n  outreach devices revoke 3f9a1c\n  outreach devices revoke 3f9a1c --wipe\n  outreach devices revoke 3f9a1c0d5e7b29a4c6d8e0f1a2b3c4d5 --yes"
    )]
    Revoke(RevokeArgs),
    /// Show or set the team's dead-man timer (lead only to set): a member device that has not
    /// synced for that many hours wipes its store at its next unlock
    #[command(
        name = "dead-man",
        after_help = "The setting travels to every device with the team settings at their next \
sync. Lead devices are never wiped by it. A device whose clock runs fast wipes early; one whose \
clock is set back wipes late (see ARCHITECTURE.md, \"Device loss\").\n\n\
Example:\n  outreach devices dead-man\n  outreach devices dead-man --hours 72\n  outreach devices dead-man --off"
    )]
    DeadMan(DeadManArgs),
}

/// Options of `outreach devices dead-man`.
#[derive(Debug, Args)]
pub struct DeadManArgs {
    /// Wipe a member device that has not synced for this many hours (1 to 87600)
    #[arg(long, value_name = "HOURS", conflicts_with = "off")]
    hours: Option<u32>,
    /// Turn the dead-man timer off
    #[arg(long)]
    off: bool,
}

/// Options of `outreach devices list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// Options of `outreach devices revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Device id (full, or a unique prefix of at least 4 hex digits)
    #[arg(value_name = "ID")]
    id: String,
    /// Do not ask for confirmation
    #[arg(long)]
    yes: bool,
    /// Also order the device to wipe its store at its next contact with the hub
    #[arg(long)]
    wipe: bool,
}

/// Runs a devices command.
pub fn run(ctx: &Context, c: DevicesCommand) -> CliResult {
    match c {
        DevicesCommand::List(a) => list(ctx, a),
        DevicesCommand::Revoke(a) => revoke(ctx, a),
        DevicesCommand::DeadMan(a) => dead_man(ctx, a),
    }
}

fn time(ms: i64, off: i32) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| output::stamp(t, off))
        .unwrap_or_else(|| "?".into())
}

fn list(ctx: &Context, a: ListArgs) -> CliResult {
    let mut store = ctx.open()?;
    if !store.sync_status().map_err(|e| ctx.core(e))?.registered {
        return Err(remote::not_registered());
    }
    let transport = remote::store_transport(ctx, &store)?;
    let dir = remote::fetch_devices(ctx, &mut store, &transport)?;
    let me = store.device_id().to_string();
    let off = store.settings().utc_offset_minutes;
    if a.json {
        let devices: Vec<_> = dir
            .devices
            .iter()
            .map(|d| {
                let id = d.device_id.to_hex();
                json!({
                    "device_id": id,
                    "short_id": output::short(&id),
                    "name": output::cell(&d.name),
                    "role": remote::role_name(d.role),
                    "enrolled_ms": d.enrolled_ms,
                    "revoked_ms": d.revoked_ms,
                    "revoked": d.revoked_ms.is_some(),
                    "this_device": id == me,
                })
            })
            .collect();
        return emit(&output::json(
            &json!({ "epoch": dir.epoch, "devices": devices }),
        )?);
    }
    let mut t = Table::new(&["ID", "NAME", "ROLE", "ENROLLED", "REVOKED", "FULL ID"]);
    for d in &dir.devices {
        let id = d.device_id.to_hex();
        let name = if id == me {
            format!("{} (this device)", d.name)
        } else {
            d.name.clone()
        };
        t.row(vec![
            output::short(&id),
            name,
            remote::role_name(d.role).to_string(),
            time(d.enrolled_ms, off),
            d.revoked_ms
                .map(|ms| time(ms, off))
                .unwrap_or_else(|| "-".into()),
            id,
        ]);
    }
    let active = dir
        .devices
        .iter()
        .filter(|d| d.revoked_ms.is_none())
        .count();
    emit(&format!(
        "{}{} device(s), {} active; team key epoch {}\n",
        t.render(),
        t.len(),
        active,
        dir.epoch
    ))
}

fn revoke(ctx: &Context, a: RevokeArgs) -> CliResult {
    let mut store = ctx.open()?;
    if !store.sync_status().map_err(|e| ctx.core(e))?.registered {
        return Err(remote::not_registered());
    }
    if store.sync_role().map_err(|e| ctx.core(e))? != Role::Lead {
        return Err(CliError {
            exit: Exit::Refused,
            message: "only a lead device can revoke devices; ask a team lead".into(),
        });
    }
    let transport = remote::store_transport(ctx, &store)?;
    let dir = remote::fetch_devices(ctx, &mut store, &transport)?;
    let target = remote::find_device(&dir.devices, &a.id)?;
    let id = target.device_id.to_hex();
    let name = output::cell(&target.name);
    if id == store.device_id() {
        return Err(CliError::invalid(
            "device id",
            "that is this device; a device cannot revoke itself (ask another lead)",
        ));
    }
    if target.revoked_ms.is_some() {
        return emit(&format!(
            "Device \"{name}\" ({id}) is already revoked; nothing to do.\n"
        ));
    }
    if !a.yes {
        context::confirm(
            format!("revoking \"{name}\" needs confirmation: run in a terminal, or add --yes"),
            &format!(
                "Revoke \"{name}\" ({}, {}, {id})? The hub will refuse it and the team key rotates{}. Type yes to revoke: ",
                output::short(&id),
                remote::role_name(target.role),
                if a.wipe { "; the device will wipe its store at its next contact" } else { "" }
            ),
            "yes",
            true,
            "not revoked (the answer was not yes); nothing was changed",
        )?;
    }
    let epoch = store
        .revoke_device_with_wipe(&transport, &id, a.wipe)
        .map_err(|e| ctx.sync_err(e))?;
    let wipe_note = if a.wipe {
        "A signed wipe order waits at the hub: the device destroys its store the next time it contacts the hub.\n"
    } else {
        ""
    };
    emit(&format!(
        "Revoked \"{name}\" ({id}). The hub refuses it from now on.\n\
         {wipe_note}\
         The team key moved to epoch {epoch}: the revoked device cannot read anything written from now on.\n\
         Next: sync the other devices (outreach sync) so they pick the new key up.\n"
    ))
}

fn dead_man(ctx: &Context, a: DeadManArgs) -> CliResult {
    let mut store = ctx.open()?;
    if a.hours.is_none() && !a.off {
        return emit(&match store.settings().dead_man_hours {
            Some(h) => format!("Dead-man timer: {h} hours (a member device that has not synced for {h} hours wipes its store at its next unlock).\n"),
            None => "Dead-man timer: off. Set one with `outreach devices dead-man --hours 72`.\n".to_string(),
        });
    }
    if store.sync_role().map_err(|e| ctx.core(e))? != Role::Lead {
        return Err(CliError {
            exit: Exit::Refused,
            message: "only a lead device can set the dead-man timer; ask a team lead".into(),
        });
    }
    let hours = if a.off { None } else { a.hours };
    store.set_dead_man_hours(hours).map_err(|e| ctx.core(e))?;
    emit(&match hours {
        Some(h) => format!(
            "Dead-man timer set to {h} hours. Member devices learn it at their next sync; from then on one that has not synced for {h} hours wipes its store at its next unlock.\n\
             Next: outreach sync\n"
        ),
        None => "Dead-man timer turned off. Member devices learn it at their next sync.\nNext: outreach sync\n".to_string(),
    })
}
