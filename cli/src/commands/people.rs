//! `outreach people duplicates | merge | unmerge`: the lead's work on duplicate profiles.
//! A merge is an edge (`merged_into`) that syncs like any change; unmerge removes it.

use clap::{Args, Subcommand};
use outreach_core::{IdCodeSignal, MergeError};
use serde_json::json;

use crate::context::Context;
use crate::errors::{CliError, CliResult, Exit};
use crate::output::{self, emit, Table};
use crate::parse;

/// `outreach people ...`
#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    /// Suggest profiles that may be the same person (offline: code-name similarity, zones, age band, identifying codes)
    #[command(
        after_help = "Profiles whose identifying codes (kept only as keyed hashes) are the same are a strong signal: they are \
listed first, marked `same`, whatever their names. Different codes halve the score.\n\n\
Example:\n  outreach people duplicates\n  outreach people duplicates --limit 5 --json"
    )]
    Duplicates(DuplicatesArgs),
    /// Merge profile A into profile B (recorded as an edge, never a rewrite; undo with unmerge)
    #[command(
        after_help = "Counts of unique people follow the merge on every device after sync.\n\n\
Example:\n  outreach people merge 01890a5d-ac96-774b-bcce-b302099a8057 01890a5d-ad01-7c2e-9f0e-1f7b5a2c4d11"
    )]
    Merge(MergeArgs),
    /// Undo the merge of profile A
    #[command(
        after_help = "Example:\n  outreach people unmerge 01890a5d-ac96-774b-bcce-b302099a8057"
    )]
    Unmerge(UnmergeArgs),
}

/// Options of `outreach people duplicates`.
#[derive(Debug, Args)]
pub struct DuplicatesArgs {
    /// Most suggestions to show
    #[arg(long, default_value_t = 20, value_name = "N")]
    limit: usize,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Options of `outreach people merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The profile to merge (it will point to B)
    #[arg(value_name = "A")]
    a: String,
    /// The profile to keep
    #[arg(value_name = "B")]
    b: String,
}

/// Options of `outreach people unmerge`.
#[derive(Debug, Args)]
pub struct UnmergeArgs {
    /// The merged profile
    #[arg(value_name = "A")]
    a: String,
}

fn merge_err(ctx: &Context, e: MergeError) -> CliError {
    match e {
        MergeError::Store(e) => ctx.core(e),
        MergeError::SelfMerge => CliError::invalid(
            "B",
            "a profile cannot be merged into itself; give two different ids",
        ),
        MergeError::NotMerged(_) => CliError {
            exit: Exit::Other,
            message: "that profile is not merged into another; nothing to undo".into(),
        },
        other => CliError {
            exit: Exit::Other,
            message: format!("{other}"),
        },
    }
}

/// Runs a people command.
pub fn run(ctx: &Context, c: PeopleCommand) -> CliResult {
    match c {
        PeopleCommand::Duplicates(a) => {
            if a.limit == 0 || a.limit > 1000 {
                return Err(CliError::invalid("--limit", "must be 1 to 1000"));
            }
            let store = ctx.open()?;
            let s = store
                .duplicate_suggestions(a.limit)
                .map_err(|e| ctx.core(e))?;
            if a.json {
                return emit(&output::json(&json!({ "suggestions": s }))?);
            }
            if s.is_empty() {
                return emit("No likely duplicates.");
            }
            let mut t = Table::new(&[
                "score",
                "A",
                "code name A",
                "B",
                "code name B",
                "shared zones",
                "id code",
            ]);
            for d in &s {
                t.row(vec![
                    format!("{:.2}", d.score),
                    d.a.clone(),
                    d.a_code_name.clone(),
                    d.b.clone(),
                    d.b_code_name.clone(),
                    d.shared_zones.join(","),
                    match d.id_code {
                        IdCodeSignal::Same => "same".into(),
                        IdCodeSignal::Different => "differ".into(),
                        IdCodeSignal::Unknown => "-".into(),
                    },
                ]);
            }
            let strong = s.iter().filter(|d| d.id_code == IdCodeSignal::Same).count();
            let note = if strong > 0 {
                format!("\n{strong} pair(s) share an identifying code (same keyed hash): a strong signal that they are one person.")
            } else {
                String::new()
            };
            emit(&format!(
                "{}{note}\nTo merge one: outreach people merge A B",
                t.render()
            ))
        }
        PeopleCommand::Merge(a) => {
            let mut store = ctx.open()?;
            let canon = store
                .merge_people(&parse::id(&a.a), &parse::id(&a.b))
                .map_err(|e| merge_err(ctx, e))?;
            emit(&format!(
                "merged {} into {} (now counted as {canon}); undo with: outreach people unmerge {}",
                parse::id(&a.a),
                parse::id(&a.b),
                parse::id(&a.a)
            ))
        }
        PeopleCommand::Unmerge(a) => {
            let mut store = ctx.open()?;
            store
                .unmerge_person(&parse::id(&a.a))
                .map_err(|e| merge_err(ctx, e))?;
            emit(&format!("unmerged {}", parse::id(&a.a)))
        }
    }
}
