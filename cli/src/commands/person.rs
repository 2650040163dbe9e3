//! `outreach person add|find|show|edit`: pseudonymous person profiles.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use outreach_core::{
    AgeBand, ConsentPurpose, ConsentState, Gender, Living, NameQuality, Person, PersonInput,
    Setting,
};
use serde_json::json;
use zeroize::Zeroizing;

use crate::context::Context;
use crate::errors::{CliError, CliResult};
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
    #[command(after_help = format!("{}\n\nExample:\n  outreach person edit 01890a5d-ac96-774b-bcce-b302099a8057 --age-band 35_44 --no-injecting --note \"\"\n  outreach person edit 01890a5d-ac96-774b-bcce-b302099a8057 --id-code", values_help()))]
    Edit(EditArgs),
    /// Record what the person said about one purpose: consent given, refused or withdrawn
    #[command(after_help = format!("Recorded now, by you (--user), on this device; the newest statement decides whether a share \
is covered by consent. Purposes: {}\n\nExample:\n  outreach --user staff-a person consent 01890a5d-ac96-774b-bcce-b302099a8057 --purpose share_with_police --withdrawn", ConsentPurpose::names().join(", ")))]
    Consent(ConsentArgs),
    /// Subject access: write everything held about a person (and profiles merged with it) as JSON and a readable HTML page
    #[command(
        after_help = "Writes subject-access-ID.json and subject-access-ID.html (readable offline, no script) into DIR: the profile \
and its merge group, consents, encounters with services and referrals, concerns, incidents, disclosures and the audit entries \
about them. The files are NOT encrypted: hand them over safely and delete them. Audited (person.access).\n\n\
Example:\n  outreach person access 01890a5d-ac96-774b-bcce-b302099a8057 --out ./subject-access"
    )]
    Access(AccessArgs),
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
    /// An identifying code the person chooses to give (e.g. initials and birth-day digits),
    /// used only to spot duplicate profiles. Give the option alone to be asked for it without
    /// echo (safer: arguments show in shell history). Only a keyed hash is kept; the code is
    /// never stored or shown.
    #[arg(long, value_name = "CODE", num_args = 0..=1, default_missing_value = "")]
    id_code: Option<String>,
}

impl ProfileFields {
    /// The identifying code given, asked for on the terminal when the option came alone.
    fn id_code(&self) -> CliResult<Option<Zeroizing<String>>> {
        match self.id_code.as_deref() {
            None => Ok(None),
            Some("") => Ok(Some(ask_id_code()?)),
            Some(c) => Ok(Some(Zeroizing::new(c.to_string()))),
        }
    }
}

/// Asks for an identifying code without echo.
fn ask_id_code() -> CliResult<Zeroizing<String>> {
    use std::io::IsTerminal;
    let tty = std::fs::File::open("/dev/tty").is_ok_and(|f| f.is_terminal());
    if !tty {
        return Err(CliError::invalid(
            "--id-code",
            "no terminal to ask for the code on; give it as --id-code=CODE",
        ));
    }
    let c = rpassword::prompt_password("Identifying code (not shown; only a keyed hash is kept): ")
        .map_err(|_| {
            CliError::invalid(
                "--id-code",
                "could not read the code from the terminal; give it as --id-code=CODE",
            )
        })?;
    Ok(Zeroizing::new(c))
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
    /// Remove the identifying code's hash from the profile
    #[arg(long, conflicts_with = "id_code")]
    clear_id_code: bool,
    #[command(flatten)]
    fields: ProfileFields,
}

/// Options of `outreach person consent`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("state").required(true).args(["given", "refused", "withdrawn"])))]
pub struct ConsentArgs {
    /// The profile's id
    #[arg(value_name = "ID")]
    id: String,
    /// What the consent is for
    #[arg(long, value_name = "PURPOSE")]
    purpose: String,
    /// The person gives consent
    #[arg(long)]
    given: bool,
    /// The person refuses
    #[arg(long)]
    refused: bool,
    /// The person withdraws consent given before
    #[arg(long)]
    withdrawn: bool,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Options of `outreach person access`.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// The profile's id
    #[arg(value_name = "ID")]
    id: String,
    /// Directory to write the two files into (created if missing)
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
}

/// Runs a person command.
pub fn run(ctx: &Context, c: PersonCommand) -> CliResult {
    match c {
        PersonCommand::Erase(a) => super::erase::run(ctx, a),
        PersonCommand::Add(a) => {
            let mut input = PersonInput::new(a.code_name.trim());
            input.flags.injecting = a.injecting;
            a.fields.apply(&mut input)?;
            let code = a.fields.id_code()?;
            let mut store = ctx.open()?;
            // Check the code before anything is written, so a bad code leaves no profile.
            if let Some(c) = &code {
                store.id_code_hash(c).map_err(|e| ctx.core(e))?;
            }
            let p = store.add_person(input).map_err(|e| ctx.core(e))?;
            if let Some(c) = &code {
                store.set_id_code(&p.id, Some(c)).map_err(|e| {
                    CliError::other(format!(
                        "profile {} was added but its identifying code was not saved ({}); add it with: outreach person edit {} --id-code",
                        p.id,
                        ctx.core(e).message,
                        p.id
                    ))
                })?;
            }
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
                // The keyed hash of the identifying code is not shown; only that one is held.
                let mut pj = serde_json::to_value(&p)
                    .map_err(|_| CliError::other("could not encode the profile"))?;
                if let Some(o) = pj.as_object_mut() {
                    let had = o.remove("id_code_hash").is_some();
                    o.insert("id_code_recorded".into(), json!(had));
                }
                return emit(&output::json(
                    &json!({ "person": pj, "first_seen": first, "last_seen": last }),
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
            let code = a.fields.id_code()?;
            if let Some(c) = &code {
                store.id_code_hash(c).map_err(|e| ctx.core(e))?;
            }
            let code_change = code.is_some() || a.clear_id_code;
            if input == current.input && !code_change {
                return emit(&format!("{id}\n(no change)"));
            }
            if input != current.input {
                store.edit_person(&id, input).map_err(|e| ctx.core(e))?;
            }
            if let Some(c) = &code {
                store.set_id_code(&id, Some(c)).map_err(|e| ctx.core(e))?;
            } else if a.clear_id_code {
                store.set_id_code(&id, None).map_err(|e| ctx.core(e))?;
            }
            emit(&id)
        }
        PersonCommand::Consent(a) => {
            let id = parse::id(&a.id);
            let purpose = parse::controlled::<ConsentPurpose>(
                "--purpose",
                &a.purpose,
                ConsentPurpose::names,
            )?;
            let state = if a.given {
                ConsentState::Given
            } else if a.refused {
                ConsentState::Refused
            } else {
                ConsentState::Withdrawn
            };
            let mut store = ctx.open()?;
            let p = store
                .record_person_consent(&id, purpose, state)
                .map_err(|e| ctx.core(e))?;
            if a.json {
                return emit(&output::json(
                    &json!({ "person": p.id, "consents": p.consents }),
                )?);
            }
            emit(&format!(
                "recorded: {} {} for {id} (synced to the team at the next sync)",
                purpose.as_str(),
                state.as_str()
            ))
        }
        PersonCommand::Access(a) => {
            let id = parse::id(&a.id);
            let store = ctx.open()?;
            let sar = store.subject_access(&id).map_err(|e| ctx.core(e))?;
            let json_text = sar.to_json().map_err(|e| ctx.core(e))?;
            let html = sar.to_html().map_err(|e| ctx.core(e))?;
            std::fs::create_dir_all(&a.out).map_err(|e| {
                CliError::other(format!(
                    "could not create {} ({}); choose another --out",
                    a.out.display(),
                    e.kind()
                ))
            })?;
            let jp = a.out.join(format!("subject-access-{id}.json"));
            let hp = a.out.join(format!("subject-access-{id}.html"));
            super::report::write_private(&jp, &json_text)?;
            super::report::write_private(&hp, &html)?;
            emit(&format!(
                "wrote everything held about {id} ({} profile(s), {} encounter(s), {} concern(s), {} incident(s), {} disclosure(s), {} audit entries):\n  {}\n  {}\nThese files are NOT encrypted: hand them over safely and delete them when done.",
                sar.profiles.len(),
                sar.encounters.len(),
                sar.concerns.len(),
                sar.incidents.len(),
                sar.disclosures.len(),
                sar.audit.len(),
                jp.display(),
                hp.display()
            ))
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
    let consents = if p.consents.is_empty() {
        "-".to_string()
    } else {
        p.consents
            .iter()
            .map(|(k, c)| {
                format!(
                    "{} {} ({} by {})",
                    k.as_str(),
                    c.state.as_str(),
                    c.at.format("%Y-%m-%d %H:%M UTC"),
                    output::cell(&c.by)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let id_code = if p.id_code_hash.is_some() {
        "recorded (keyed hash only)"
    } else {
        "-"
    };
    format!(
        "Person {}\n  code name:      {} ({})\n  age band:       {}\n  gender:         {}\n  first language: {}\n  living:         {}\n  settings:       {}\n  injecting:      {}\n  GP registered:  {}\n  note:           {}\n  merged into:    {}\n  created:        {}\n  first seen:     {}\n  last seen:      {}\n  id code:        {id_code}\n  consents:       {consents}\n",
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
