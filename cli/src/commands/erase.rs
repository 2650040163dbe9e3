//! `outreach person erase ID`: a person's erasure for the whole team (crypto-shredding).
//!
//! Lead only, and only with the hub: the core syncs, signs a shred order for the person
//! documents of the whole merge group and sends it; every device applies it before anything
//! else at its next sync. The command shows what will be destroyed and asks the lead to type
//! the profile's code name (unless `--yes`).


use clap::Args;
use outreach_core::sync::Role;
use serde_json::json;

use crate::context::{self, Context};
use crate::errors::{CliError, CliResult, Exit};
use crate::output::{self, emit};
use crate::parse;
use crate::remote;

/// Options of `outreach person erase`.
#[derive(Debug, Args)]
#[command(
    after_help = "Destroys the person's profile (and every profile merged with it) on every device \
and on the hub, by destroying the keys that open it: even an old copy of the hub's database cannot be \
read for them afterwards. Encounters, concerns and incidents stay for the anonymised counts; their \
notes about the person become unreadable. Needs the hub (exit code 6 when it cannot be reached). \
Cannot be undone.\n\n\
Example:\n  outreach person erase 01890a5d-ac96-774b-bcce-b302099a8057\n  outreach person erase 01890a5d-ac96-774b-bcce-b302099a8057 --yes --json"
)]
pub struct EraseArgs {
    /// The profile's id (any profile of a merge group erases the whole group)
    #[arg(value_name = "ID")]
    id: String,
    /// Do not ask for confirmation (the code name is not typed)
    #[arg(long)]
    yes: bool,
    /// Print the summary as JSON (ids and counts only)
    #[arg(long)]
    json: bool,
}

/// Runs `outreach person erase`.
pub fn run(ctx: &Context, a: EraseArgs) -> CliResult {
    let id = parse::id(&a.id);
    let mut store = ctx.open()?;
    if !store.sync_status().map_err(|e| ctx.core(e))?.registered {
        return Err(remote::not_registered());
    }
    if store.sync_role().map_err(|e| ctx.core(e))? != Role::Lead {
        return Err(CliError {
            exit: Exit::Refused,
            message: "only a lead device can erase a person; ask a team lead".into(),
        });
    }
    let plan = store.erasure_plan(&id).map_err(|e| ctx.core(e))?;
    let name = output::cell(&plan.code_name);
    if !a.yes {
        context::confirm(
            format!("erasing profile {id} needs confirmation: run in a terminal and type its code name, or add --yes"),
            &format!(
                "Erasing \"{name}\" ({id}) destroys, on every device and on the hub:\n  \
                 {} profile(s) of its merge group: {}\n  \
                 {} person document(s): profile, notes, consents, and the key of every note written about them\n\
                 Kept for the anonymised counts, with their notes about the person made unreadable: \
                 {} encounter(s), {} concern(s), {} incident(s).\n\
                 This cannot be undone.\nType the code name to erase: ",
                plan.profiles.len(),
                plan.profiles.join(", "),
                plan.person_docs.len(),
                plan.encounters,
                plan.concerns,
                plan.incidents,
            ),
            &plan.code_name,
            false,
            "not erased (the code name did not match); nothing was changed",
        )?;
    }
    let transport = remote::store_transport(ctx, &store)?;
    let out = store
        .erase_person(&transport, &id)
        .map_err(|e| remote::online_only_err(ctx, "erasure", "nothing was erased", e))?;
    if a.json {
        return emit(&output::json(&json!({
            "erased_profiles": out.plan.profiles,
            "person_documents": out.plan.person_docs.len(),
            "kept_encounters": out.plan.encounters,
            "kept_concerns": out.plan.concerns,
            "kept_incidents": out.plan.incidents,
            "epoch": out.shred.epoch,
            "hub_chunks_deleted": out.shred.hub_chunks_deleted,
            "hub_keys_deleted": out.shred.hub_keys_deleted,
            "rekeyed": out.shred.rekeyed,
        }))?);
    }
    emit(&format!(
        "Erased {} profile(s) ({} document(s)); the hub deleted {} chunk(s) and {} key(s).\n\
         The team key moved to epoch {}; every older team key{} is destroyed on this device.\n\
         Kept for the counts: {} encounter(s), {} concern(s), {} incident(s) (their notes about the person are unreadable).\n\
         Next: sync every device (outreach sync); each applies the erasure before anything else.\n",
        out.plan.profiles.len(),
        out.plan.person_docs.len(),
        out.shred.hub_chunks_deleted,
        out.shred.hub_keys_deleted,
        out.shred.epoch,
        if out.shred.rekeyed { " and the old device agreement key" } else { " (the agreement key is replaced at the next sync)" },
        out.plan.encounters,
        out.plan.concerns,
        out.plan.incidents,
    ))
}
