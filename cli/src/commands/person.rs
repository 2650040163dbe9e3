//! `outreach person add|find|show|edit`: pseudonymous person profiles.

use clap::{Args, Subcommand};
use outreach_core::{AgeBand, Gender, Living, NameQuality, Person, PersonInput, Setting};
use serde_json::json;

use crate::context::Context;
use crate::errors::CliResult;
use crate::output::{self, emit, or_dash, Table};
use crate::parse;

fn values_help() -> String {
    format!(
        "Controlled values:\n  --age-band      {}\n  --gender        {}\n  --name-quality  {}\n  --living        {}\n  --setting       {}",
        AgeBand::names().join(", "),
        Gender::names().join(", "),
        NameQuality::names().join(", "),
        Living::names().join(", "),
        Setting::names().join(", "),
    )
}

/// `outreach person ...`
#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Add a profile under the code name the person chose; prints the new id
    #[command(after_help = format!("{}\n\nExample:\n  outreach person add \"Fakey Moonbeam\" --age-band 25_34 --gender woman --language Portuguese --injecting", values_help()))]
    Add(AddArgs),
    /// Find profiles by code name (forgiving of misspelling), best match first
    #[command(
        after_help = "Example:\n  outreach person find \"fakey moonbem\"\n  outreach person find moonbeam --json"
    )]
    Find(FindArgs),
    /// Show a profile (recorded in the audit log as a view)
    #[command(
        after_help = "Example:\n  outreach person show 01890a5d-ac96-774b-bcce-b302099a8057"
    )]
    Show(ShowArgs),
    /// Edit a profile: only what is given changes (an empty value clears a text field)
    #[command(after_help = format!("{}\n\nExample:\n  outreach person edit 01890a5d-ac96-774b-bcce-b302099a8057 --age-band 35_44 --no-injecting --note \"\"", values_help()))]
    Edit(EditArgs),
    /// Erase a person for the whole team (lead, needs the hub): destroys the profile and every
    /// profile merged with it on every device and the hub; counts are kept
    Erase(super::erase::EraseArgs),
}

/// Profile fields shared by `add` and `edit`.
#[derive(Debug, Args)]
pub struct ProfileFields {
    /// How reliable the code name is [add default: street_name]
    #[arg(long, value_name = "QUALITY")]
    name_quality: Option<String>,
    /// Age band (no dates of birth are kept) [add default: unknown]
    #[arg(long, value_name = "BAND")]
    age_band: Option<String>,
    /// Gender identity as the person states it [add default: not_said]
    #[arg(long, value_name = "GENDER")]
    gender: Option<String>,
    /// First language
    #[arg(long, value_name = "LANGUAGE")]
    language: Option<String>,
    /// Living situation [add default: unknown]
    #[arg(long, value_name = "SITUATION")]
    living: Option<String>,
    /// Settings the person works in, comma-separated (replaces the list on edit)
    #[arg(long = "setting", value_name = "SETTINGS", value_delimiter = ',')]
    settings: Vec<String>,
    /// Registered with a GP: yes or no
    #[arg(long, value_name = "YES|NO")]
    gp_registered: Option<String>,
    /// Short note (at most 500 characters); keep identifying detail out of it
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
}

impl ProfileFields {
    fn apply(&self, p: &mut PersonInput) -> CliResult {
        if let Some(v) = &self.name_quality {
            p.name_quality =
                parse::controlled::<NameQuality>("--name-quality", v, NameQuality::names)?;
        }
        if let Some(v) = &self.age_band {
            p.age_band = parse::controlled::<AgeBand>("--age-band", v, AgeBand::names)?;
        }
        if let Some(v) = &self.gender {
            p.gender = parse::controlled::<Gender>("--gender", v, Gender::names)?;
        }
        if let Some(v) = parse::opt_text(self.language.as_ref()) {
            p.first_language = v;
        }
        if let Some(v) = &self.living {
            p.living = parse::controlled::<Living>("--living", v, Living::names)?;
        }
        if !self.settings.is_empty() {
            p.settings =
                parse::controlled_list::<Setting>("--setting", &self.settings, Setting::names)?;
        }
        if let Some(v) = &self.gp_registered {
            p.flags.gp_registered = Some(parse::yes_no("--gp-registered", v)?);
        }
        if let Some(v) = parse::opt_text(self.note.as_ref()) {
            p.note = v;
        }
        Ok(())
    }
}

/// Options of `outreach person add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The street or code name the person chose (never a legal name)
    #[arg(value_name = "CODE_NAME")]
    code_name: String,
    /// The person injects drugs
    #[arg(long)]
    injecting: bool,
    #[command(flatten)]
    fields: ProfileFields,
}

/// Options of `outreach person find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Code name, or part of one
    #[arg(value_name = "QUERY")]
    query: String,
    /// Most results to show
    #[arg(long, value_name = "N", default_value_t = 10)]
    limit: usize,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// Options of `outreach person show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The profile's id
    #[arg(value_name = "ID")]
    id: String,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Options of `outreach person edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The profile's id
    #[arg(value_name = "ID")]
    id: String,
    /// A new code name
    #[arg(long, value_name = "CODE_NAME")]
    code_name: Option<String>,
    /// The person injects drugs
    #[arg(long, conflicts_with = "no_injecting")]
    injecting: bool,
    /// The person does not inject drugs
    #[arg(long)]
    no_injecting: bool,
    /// Registered with a GP is not known
    #[arg(long, conflicts_with = "gp_registered")]
    gp_unknown: bool,
    #[command(flatten)]
    fields: ProfileFields,
}

/// Runs a person command.
pub fn run(ctx: &Context, c: PersonCommand) -> CliResult {
    match c {
        PersonCommand::Erase(a) => super::erase::run(ctx, a),
        PersonCommand::Add(a) => {
            let mut input = PersonInput::new(a.code_name.trim());
            input.flags.injecting = a.injecting;
            a.fields.apply(&mut input)?;
            let mut store = ctx.open()?;
            let p = store.add_person(input).map_err(|e| ctx.core(e))?;
            emit(&p.id)
        }
        PersonCommand::Find(a) => {
            let store = ctx.open()?;
            let found = store
                .find_people(a.query.trim(), a.limit)
                .map_err(|e| ctx.core(e))?;
            if a.json {
                return emit(&output::json(&found)?);
            }
            if found.is_empty() {
                return emit("No matching profiles. Add one with: outreach person add CODE_NAME\n");
            }
            let mut t = Table::new(&["ID", "CODE NAME", "AGE BAND", "MATCH", "MERGED INTO"]);
            for m in &found {
                t.row(vec![
                    m.id.clone(),
                    m.code_name.clone(),
                    m.age_band.to_string(),
                    format!("{:.0}%", m.score * 100.0),
                    or_dash(m.merged_into.as_deref()),
                ]);
            }
            emit(&t.render())
        }
        PersonCommand::Show(a) => {
            let id = parse::id(&a.id);
            let store = ctx.open()?;
            let p = store.view_person(&id).map_err(|e| ctx.core(e))?;
            let (first, last) = store.person_seen(&id).map_err(|e| ctx.core(e))?;
            if a.json {
                return emit(&output::json(
                    &json!({ "person": p, "first_seen": first, "last_seen": last }),
                )?);
            }
            let off = store.settings().utc_offset_minutes;
            emit(&show_text(
                &p,
                output::stamp(p.created_at, off),
                first.map(|t| output::stamp(t, off)),
                last.map(|t| output::stamp(t, off)),
            ))
        }
        PersonCommand::Edit(a) => {
            let id = parse::id(&a.id);
            let mut store = ctx.open()?;
            // Read without the view audit: the edit itself is audited (`person.edit`).
            let current = current_profile(ctx, &store, &id)?;
            let mut input = current.input.clone();
            if let Some(n) = &a.code_name {
                input.code_name = n.trim().to_string();
            }
            if a.injecting {
                input.flags.injecting = true;
            }
            if a.no_injecting {
                input.flags.injecting = false;
            }
            if a.gp_unknown {
                input.flags.gp_registered = None;
            }
            a.fields.apply(&mut input)?;
            if input == current.input {
                return emit(&format!("{id}\n(no change)"));
            }
            let p = store.edit_person(&id, input).map_err(|e| ctx.core(e))?;
            emit(&p.id)
        }
    }
}

/// The stored profile an edit starts from (the edit itself is audited as `person.edit`).
fn current_profile(ctx: &Context, store: &outreach_core::Store, id: &str) -> CliResult<Person> {
    store.person_for_edit(id).map_err(|e| ctx.core(e))
}

fn show_text(p: &Person, created: String, first: Option<String>, last: Option<String>) -> String {
    let i = &p.input;
    let settings = if i.settings.is_empty() {
        "-".to_string()
    } else {
        i.settings
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let gp = match i.flags.gp_registered {
        Some(b) => output::yes_no(b),
        None => "unknown",
    };
    format!(
        "Person {}\n  code name:      {} ({})\n  age band:       {}\n  gender:         {}\n  first language: {}\n  living:         {}\n  settings:       {}\n  injecting:      {}\n  GP registered:  {}\n  note:           {}\n  merged into:    {}\n  created:        {}\n  first seen:     {}\n  last seen:      {}\n",
        p.id,
        output::cell(&i.code_name),
        i.name_quality,
        i.age_band,
        i.gender,
        output::cell(&or_dash(i.first_language.as_deref())),
        i.living,
        settings,
        output::yes_no(i.flags.injecting),
        gp,
        output::text(&or_dash(i.note.as_deref())),
        or_dash(p.merged_into.as_deref()),
        created,
        first.unwrap_or_else(|| "-".into()),
        last.unwrap_or_else(|| "-".into()),
    )
}
