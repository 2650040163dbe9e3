//! The command line: global options and the list of command groups.
//!
//! Each group's own options live in its module under `commands/`; adding a group (`hub serve`,
//! `sync`, `report`, ...) is one variant here and one module there.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::{
    admin, alert, concern, demo, devices, duress, encounter, hub, incident, init, invite, people,
    person, report, review, shift, sync,
};

/// Offline-first outreach logger: the command for team leads and operators.
#[derive(Debug, Parser)]
#[command(
    name = "outreach",
    version,
    about = "Offline-first outreach logger for night-time health vans (team leads and operators)",
    long_about = "Offline-first outreach logger for night-time health vans working with people who sex work.\n\n\
The store is encrypted (SQLCipher) with a key derived from a passphrase. The passphrase is read \
from OUTREACH_PASSPHRASE or asked for on the terminal without echo; it is never taken as an argument.\n\n\
Exit codes: 0 ok, 1 other error, 2 usage error, 3 wrong passphrase, 4 no store / record not found, \
5 invalid input, 6 hub unreachable or busy (retry later), 7 refused by the hub, 8 this device is revoked, \
130 cancelled (Ctrl-C).",
    after_help = "Example:\n  outreach init --team \"Night Van Team\" --zones north-beat,south-beat\n  outreach shift start --van \"Van 1\" --crew staff-a,staff-b --zones north-beat\n  outreach log --zone north-beat --service condoms=10 --service hot_drink=1\n  outreach list"
)]
pub struct Cli {
    /// Store directory [default: the platform data directory, e.g. ~/.local/share/outreach]
    #[arg(
        long,
        global = true,
        env = "OUTREACH_DATA_DIR",
        hide_env_values = true,
        value_name = "DIR",
        help_heading = "Global options"
    )]
    pub data_dir: Option<PathBuf>,

    /// Staff handle recorded in the audit log for what this command does
    #[arg(
        long,
        global = true,
        env = "OUTREACH_USER",
        hide_env_values = true,
        value_name = "HANDLE",
        help_heading = "Global options"
    )]
    pub user: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// Every command group.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new encrypted store for a team
    Init(init::InitArgs),
    /// Start, end or show this device's shift
    #[command(
        subcommand,
        after_help = "Example:\n  outreach shift start --van \"Van 1\" --crew staff-a,staff-b --zones north-beat\n  outreach shift status\n  outreach shift end"
    )]
    Shift(shift::ShiftCommand),
    /// Log a contact (encounter) in the open shift; prints the new encounter's id
    Log(encounter::LogArgs),
    /// Amend an encounter: starts from what is stored and changes only what is given
    Amend(encounter::AmendArgs),
    /// List a night's encounters (every van this device knows of)
    List(encounter::ListArgs),
    /// Person profiles (pseudonymous: code names only)
    #[command(
        subcommand,
        after_help = "Example:\n  outreach person add \"Fakey Moonbeam\" --age-band 25_34\n  outreach person find \"fakey moonbem\"\n  outreach person show 01890a5d-ac96-774b-bcce-b302099a8057"
    )]
    Person(person::PersonCommand),
    /// Dangerous-individual alerts: add one, or check a phone/plate/email/username offline
    #[command(
        subcommand,
        after_help = "Example:\n  outreach alert add --description \"Fake test alert\" --plate \"AB12 CDE\" --risk high\n  outreach alert check --plate \"AB12 CDE\""
    )]
    Alert(alert::AlertCommand),
    /// Safeguarding concerns
    #[command(
        subcommand,
        after_help = "Example:\n  outreach concern add --category adult_at_risk --consent given --action \"Referred to the adult safeguarding team\""
    )]
    Concern(concern::ConcernCommand),
    /// Violence and crime incident reports
    #[command(
        subcommand,
        after_help = "Example:\n  outreach incident add --when 2026-01-31T23:40:00Z --place north-beat --kind robbery --share-police anonymised --share-national full"
    )]
    Incident(incident::IncidentCommand),
    /// Show the audit log (who created, changed, viewed or exported what), newest first
    Audit(admin::AuditArgs),
    /// Check the store: database integrity, and that the query tables equal a rebuild
    Check(admin::CheckArgs),
    /// Rebuild the query tables from the documents
    Rebuild(admin::RebuildArgs),
    /// Run the sync hub, or register this team with one
    #[command(
        subcommand,
        after_help = "Example:\n  outreach hub serve --listen 127.0.0.1:8443\n  outreach hub register --hub https://hub.example.org --name \"Lead laptop\""
    )]
    Hub(hub::HubCommand),
    /// Make a one-time invite (QR code) for a new device (lead only; show it in person)
    Invite(invite::InviteArgs),
    /// Join a team with an invite: creates a new store for this device
    Enrol(invite::EnrolArgs),
    /// Sync with the hub: push this device's changes, pull the others'; `sync status` shows where it stands
    Sync(sync::SyncArgs),
    /// The team's devices: list them, revoke one (optionally with a remote wipe), the dead-man timer
    #[command(
        subcommand,
        after_help = "Example:\n  outreach devices list\n  outreach devices revoke 3f9a1c --wipe\n  outreach devices dead-man --hours 72"
    )]
    Devices(devices::DevicesCommand),
    /// A duress passphrase: opening the store with it destroys the store
    #[command(
        subcommand,
        after_help = "Example:\n  outreach duress set\n  outreach duress clear"
    )]
    Duress(duress::DuressCommand),
    /// The lead's morning: the merged night across vans and what needs the lead (clashes, concerns, referrals, incidents)
    Review(review::ReviewArgs),
    /// Duplicate person profiles: suggestions, merge, unmerge (lead)
    #[command(
        subcommand,
        after_help = "Example:\n  outreach people duplicates\n  outreach people merge 01890a5d-ac96-774b-bcce-b302099a8057 01890a5d-ad01-7c2e-9f0e-1f7b5a2c4d11\n  outreach people unmerge 01890a5d-ac96-774b-bcce-b302099a8057"
    )]
    People(people::PeopleCommand),
    /// Figures for a range of nights: anonymised by default (table, csv or html)
    Report(report::ReportArgs),
    /// Export every record as CSV, one file per entity (lead; audited)
    Export(report::ExportArgs),
    /// The whole mission on this machine: a hub, a lead and vans, a synthetic night, the morning review and report
    Demo(demo::DemoArgs),
    /// The team's retention policy: show it, change it (lead), alerts due for review
    #[command(
        subcommand,
        after_help = "Example:\n  outreach retention show\n  outreach retention set --detail-days 730 --device-window-days 14\n  outreach retention alerts"
    )]
    Retention(crate::commands::retention::RetentionCommand),
    /// Retention purge (lead): reduce shifts older than the detail period to counts, then crypto-shred them everywhere
    Purge(crate::commands::retention::PurgeArgs),
}
