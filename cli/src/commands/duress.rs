//! `outreach duress set|clear`: a duress passphrase for this store.
//!
//! Opening the store with the duress passphrase (any command that asks for the passphrase)
//! destroys the store (see ARCHITECTURE.md, "Device loss") and then answers exactly as if there
//! had never been a store in the directory: `no store in DIR; run outreach init first`, exit 4.
//! The verifier is an Argon2id hash with its own salt in `store.json`; every passphrase store
//! has a random decoy there from its creation, so whether one is set cannot be seen.

use std::io::IsTerminal;

use clap::Subcommand;
use zeroize::Zeroizing;

use crate::context::{self, Context, MIN_PASSPHRASE};
use crate::errors::{CliError, CliResult};
use crate::output::emit;

/// Environment variable holding the duress passphrase for `outreach duress set` (scripts, tests).
pub const ENV_DURESS: &str = "OUTREACH_DURESS_PASSPHRASE";

/// `outreach duress ...`
#[derive(Debug, Subcommand)]
pub enum DuressCommand {
    /// Set (or replace) the duress passphrase: opening the store with it destroys the store
    #[command(after_help = "The duress passphrase is read from OUTREACH_DURESS_PASSPHRASE or asked for twice on the \
terminal; it must differ from the store's passphrase. Whoever opens this store with it (for example \
when made to unlock it) destroys the store: its key material and files are overwritten and deleted, \
and outreach answers as if no store had ever been here. Unsynced records are lost with it.\n\n\
Example:\n  outreach duress set\n  outreach duress clear")]
    Set,
    /// Remove the duress passphrase
    #[command(after_help = "Example:\n  outreach duress clear")]
    Clear,
}

/// Runs a duress command.
pub fn run(ctx: &Context, c: DuressCommand) -> CliResult {
    match c {
        DuressCommand::Set => set(ctx),
        DuressCommand::Clear => clear(ctx),
    }
}

fn duress_passphrase() -> CliResult<Zeroizing<String>> {
    let p = context::secret(ENV_DURESS, "Duress passphrase: ", "duress passphrase")?;
    if p.chars().count() < MIN_PASSPHRASE {
        return Err(CliError::invalid(
            "duress passphrase",
            format!("too short: use at least {MIN_PASSPHRASE} characters"),
        ));
    }
    let from_env = std::env::var_os(ENV_DURESS).is_some_and(|v| !v.is_empty());
    if !from_env && std::io::stdin().is_terminal() {
        let again = Zeroizing::new(
            rpassword::prompt_password("Type the duress passphrase again: ")
                .map_err(|_| CliError::other(format!("could not read from the terminal; set {ENV_DURESS} instead")))?,
        );
        if again.trim() != p.as_str() {
            return Err(CliError::invalid(
                "duress passphrase",
                "the two entries differ; run `outreach duress set` again",
            ));
        }
    }
    Ok(p)
}

fn set(ctx: &Context) -> CliResult {
    let mut store = ctx.open()?;
    let p = duress_passphrase()?;
    store.set_duress_secret(p.as_bytes()).map_err(|e| ctx.core(e))?;
    emit(
        "Duress passphrase set. Opening this store with it destroys the store, and outreach then answers as if no store had been here.\n\
         Unsynced records are lost with it: sync often (outreach sync).\n",
    )
}

fn clear(ctx: &Context) -> CliResult {
    let mut store = ctx.open()?;
    store.clear_duress_secret().map_err(|e| ctx.core(e))?;
    emit("Duress passphrase removed.\n")
}
