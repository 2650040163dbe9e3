//! `outreach demo`: the whole mission on this machine, in one command.
//!
//! Starts the hub in-process on loopback (SQLite), creates the lead's store and registers the
//! team, invites and enrols N vans, lets each van log a seeded synthetic night OFFLINE
//! (obviously fake: code names "Fakey ...", phones from 07700 900xxx), has the vans regain
//! signal one after another and sync, then the lead pulls, reviews, merges the duplicate
//! person and prints the anonymised morning report.
//!
//! Everything lives under DIR: the hub's database (sealed blobs only; the hub cannot read
//! them) and one encrypted store per device. The stores use OUTREACH_PASSPHRASE when it is
//! set (so they can be explored afterwards with `--data-dir`), else random keys that are
//! never printed or kept.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use outreach_core::{
    AgeBand, AlertInput, CancelToken, ConcernCategory, ConcernInput, Consent, ContactType,
    EncounterInput, FollowUp, HttpTransport, IncidentInput, IncidentType, Indicator, PersonInput,
    Referral, ReferralDestination, ReferralMode, ReferralStatus, ReportOptions, Risk, Service,
    Setting, ShareConsent, ShiftStart, Store, StoreKey, StoreOptions, TeamSetup, Unlock,
};
use outreach_proto::messages::Role;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zeroize::Zeroizing;

use crate::context::{kdf_params, ENV_PASSPHRASE};
use crate::errors::{CliError, CliResult};
use crate::output::{emit, Table};

/// The demo team's zones.
pub const ZONES: &[&str] = &["north-beat", "south-beat", "canal-side", "station-road"];
/// Team name of the demo.
pub const TEAM: &str = "Fakey Demo Night Team";

/// Options of `outreach demo`.
#[derive(Debug, Args)]
#[command(
    after_help = "Runs the whole mission with obviously fake data: an in-process hub on loopback (SQLite), \
a lead and N vans, a synthetic night logged offline on each van, the vans syncing as they regain signal, then \
the lead's review, a duplicate-person merge and the anonymised morning report. Everything is written under \
DIR, encrypted. Set OUTREACH_PASSPHRASE first to be able to open the stores afterwards \
(e.g. `outreach --data-dir DIR/lead review --night DATE`); without it the stores get random keys that are not kept.\n\n\
Example:\n  outreach demo\n  outreach demo --dir ./demo --vans 5 --seed 7"
)]
pub struct DemoArgs {
    /// Directory for everything the demo writes (must not exist, or be empty) [default: a new temporary directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Number of vans
    #[arg(long, default_value_t = 3, value_name = "N")]
    vans: usize,
    /// Seed for the synthetic night (the same seed gives the same night)
    #[arg(long, default_value_t = 1, value_name = "S")]
    seed: u64,
}

/// Progress: a spinner on a terminal, plain lines otherwise.
struct Steps {
    bar: Option<ProgressBar>,
}

impl Steps {
    fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() && std::io::stdout().is_terminal() {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(s) = ProgressStyle::with_template("{spinner} {msg}") {
                b.set_style(s);
            }
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            Some(b)
        } else {
            None
        };
        Steps { bar }
    }

    /// A line that stays.
    fn line(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => println!("{msg}"),
        }
    }

    /// Transient status (the spinner's message on a terminal; nothing otherwise).
    fn status(&self, msg: String) {
        if let Some(b) = &self.bar {
            b.set_message(msg);
        }
    }

    fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::other(format!(
        "demo: {what} failed ({}); nothing outside the demo directory was touched; run `outreach demo` again with a new --dir",
        crate::output::cell(&e.to_string())
    ))
}

/// How the demo's stores are locked.
enum Lock {
    Pass(Zeroizing<String>),
    RandomKeys,
}

impl Lock {
    fn unlock(&self) -> Unlock<'_> {
        match self {
            Lock::Pass(p) => Unlock::Passphrase(p.as_bytes()),
            Lock::RandomKeys => Unlock::Key(StoreKey::generate()),
        }
    }
}

fn demo_dir(dir: Option<PathBuf>) -> CliResult<PathBuf> {
    let dir = match dir {
        Some(d) => d,
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            std::env::temp_dir().join(format!("outreach-demo-{}-{nanos}", std::process::id()))
        }
    };
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .map(|mut r| r.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(CliError::invalid(
                "--dir",
                "exists and is not empty; give a new or empty directory",
            ));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::other(format!(
            "could not create {} ({}); choose another --dir",
            dir.display(),
            e.kind()
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(dir)
}

/// The evening the synthetic night starts: 20:00 UTC on the latest date whose night has ended.
fn demo_evening(now: DateTime<Utc>) -> DateTime<Utc> {
    let mut d = now.date_naive() - Duration::days(1);
    if now.hour() < 5 {
        d -= Duration::days(1);
    }
    d.and_hms_opt(20, 0, 0).expect("valid time").and_utc()
}

/// Code names per van: van 0 and van 1 each have a spelling of the same person.
fn code_names(van: usize) -> Vec<&'static str> {
    // Obviously fake, and different enough from each other that only the real pair is
    // suggested as a duplicate.
    const OTHERS: &[&str] = &[
        "Pretendo Stardust",
        "Madeup Nightjar",
        "Notreal Glowworm",
        "Testy Comet",
        "Sampleton Quasar",
        "Dummy Lanternfish",
        "Placeholder Mothwing",
        "Imaginary Driftwood",
        "Fictiva Pebble",
        "Bogus Velvetine",
        "Mockery Zephyr",
        "Synthetica Marmalade",
        "Phoney Tinsel",
        "Falsetto Aurora",
        "Nonesuch Wombat",
        "Demo Kettlebell",
        "Specimen Umbrella",
        "Exemplar Parsnip",
        "Trialist Waffle",
        "Hypothetica Jam",
    ];
    let mut v = vec![];
    match van {
        0 => v.push("Fakey Moonbeam"),
        1 => v.push("Fakey Moonbem"),
        _ => {}
    }
    let need = 4 - v.len();
    let start = (van * 3) % OTHERS.len();
    for i in 0..need {
        v.push(OTHERS[(start + i) % OTHERS.len()]);
    }
    v
}

const SERVICES: &[Service] = &[
    Service::Condoms,
    Service::Lube,
    Service::HotDrink,
    Service::Food,
    Service::Advice,
    Service::AttackAlarm,
    Service::NeedlesOut,
    Service::Naloxone,
    Service::TestOffered,
    Service::Clothing,
];

/// One van's night, logged offline.
fn van_night(
    store: &mut Store,
    van: usize,
    rng: &mut StdRng,
    evening: DateTime<Utc>,
) -> outreach_core::Result<(usize, usize)> {
    let zones: Vec<String> = {
        let a = ZONES[van % ZONES.len()];
        let b = ZONES[(van + 1) % ZONES.len()];
        vec![a.to_string(), b.to_string()]
    };
    let start = evening + Duration::minutes(rng.gen_range(0..30));
    store.start_shift(ShiftStart {
        van: format!("Van {}", van + 1),
        crew: vec![format!("staff-{}a", van + 1), format!("staff-{}b", van + 1)],
        zones: zones.clone(),
        at: Some(start),
    })?;
    let mut people = vec![];
    for name in code_names(van) {
        let mut p = PersonInput::new(name);
        p.age_band = if name.starts_with("Fakey Moonbe") {
            AgeBand::A25
        } else {
            [AgeBand::A18, AgeBand::A25, AgeBand::A35, AgeBand::A45][rng.gen_range(0..4)]
        };
        p.settings = vec![Setting::Street];
        people.push(store.add_person(p)?.id);
    }
    let n = rng.gen_range(40..=80);
    let span = 7 * 60 + 30; // minutes, 20:xx to about 04:00
    let mut times: Vec<i64> = (0..n).map(|_| rng.gen_range(15..span)).collect();
    times.sort_unstable();
    let mut first_with_person = vec![None; people.len()];
    for (i, m) in times.iter().enumerate() {
        let mut e = EncounterInput::new(zones[rng.gen_range(0..zones.len())].clone());
        e.at = Some(start + Duration::minutes(*m));
        e.setting = if rng.gen_bool(0.8) {
            Setting::Street
        } else {
            Setting::Van
        };
        e.contact_type = if rng.gen_bool(0.7) {
            ContactType::Brief
        } else {
            ContactType::Full
        };
        e.workers = vec![format!("staff-{}a", van + 1)];
        e.consent.record = true;
        // Every profile is seen at least once; a third of the rest are linked to a profile.
        let person = if i < people.len() {
            Some(i)
        } else if rng.gen_bool(0.3) {
            Some(rng.gen_range(0..people.len()))
        } else {
            None
        };
        if let Some(p) = person {
            e.person = Some(people[p].clone());
        }
        for _ in 0..rng.gen_range(1..=3) {
            let s = SERVICES[rng.gen_range(0..SERVICES.len())];
            let count = if s == Service::Condoms {
                rng.gen_range(5..=20)
            } else {
                1
            };
            *e.services.entry(s).or_insert(0) += count;
        }
        if rng.gen_bool(0.12) {
            let dest = [
                ReferralDestination::SexualHealth,
                ReferralDestination::DrugService,
                ReferralDestination::Housing,
                ReferralDestination::Gp,
            ][rng.gen_range(0..4)];
            let status = [
                ReferralStatus::Offered,
                ReferralStatus::Made,
                ReferralStatus::Attended,
                ReferralStatus::Declined,
            ][rng.gen_range(0..4)];
            e.referrals.push(Referral {
                destination: dest,
                mode: ReferralMode::Signposted,
                consent: true,
                status,
            });
            if status == ReferralStatus::Made && rng.gen_bool(0.5) {
                e.consent.follow_up_contact = true;
                e.follow_up = Some(FollowUp {
                    due: None,
                    what: "Fake follow-up: check the appointment went ahead".into(),
                    done: false,
                });
            }
        }
        let id = store.log_encounter(e)?.id;
        if let Some(p) = person {
            first_with_person[p].get_or_insert(id);
        }
    }
    let enc = first_with_person[0].clone();
    store.record_concern(ConcernInput {
        category: [
            ConcernCategory::AdultAtRisk,
            ConcernCategory::Exploitation,
            ConcernCategory::DomesticAbuse,
        ][van % 3],
        indicators: vec![Indicator::Fearful, Indicator::Controlled],
        encounter: enc.clone(),
        person: Some(people[0].clone()),
        consent: Consent::Given,
        action: "Fake demo action: gave the support line card and agreed to talk again next week"
            .into(),
        shared_without_consent: false,
        legal_basis: None,
    })?;
    store.record_incident(IncidentInput {
        when: start + Duration::minutes(rng.gen_range(60..300)),
        place: zones[0].clone(),
        kind: [
            IncidentType::Robbery,
            IncidentType::Threats,
            IncidentType::NonPayment,
        ][van % 3],
        injuries: None,
        perpetrator: Some("Fake demo description: tall, grey hatchback".into()),
        police_reported: false,
        crime_reference: None,
        share_police: ShareConsent::Anonymised,
        share_national: ShareConsent::Full,
        support: Some("Fake demo support: safety planning".into()),
        person: Some(people[1].clone()),
        encounter: None,
    })?;
    if van == 0 {
        store.add_alert(AlertInput {
            description: "Fake demo alert: driver of a grey hatchback, threatening".into(),
            plates: vec!["AB12 CDE".into()],
            phones: vec![format!("07700 900{:03}", rng.gen_range(0..1000))],
            emails: vec![],
            usernames: vec![],
            area: Some(zones[0].clone()),
            risk: Risk::High,
            from: None,
            review: None,
        })?;
    }
    store.end_shift_at(Some(start + Duration::minutes(span + 20)))?;
    Ok((n, people.len()))
}

/// The lead and van 1 change the zone of the same contact to different values; returns the
/// encounter id and the van's value.
fn make_clash(
    lead: &mut Store,
    van: &mut Store,
    night: NaiveDate,
    steps: &Steps,
) -> outreach_core::Result<Option<(String, String)>> {
    let Some(e) = van.list_night(night)?.into_iter().next() else {
        return Ok(None);
    };
    let others: Vec<&str> = ZONES
        .iter()
        .copied()
        .filter(|z| *z != e.input.zone)
        .collect();
    let mut by_lead = lead.get_encounter(&e.id)?.input;
    by_lead.zone = others[0].to_string();
    lead.amend_encounter(&e.id, by_lead)?;
    let mut by_van = e.input.clone();
    by_van.zone = others[1].to_string();
    van.amend_encounter(&e.id, by_van)?;
    steps.status("van 1 and the lead: corrections made".into());
    Ok(Some((e.id, others[1].to_string())))
}

fn sync_one(store: &mut Store, who: &str, steps: &Steps) -> CliResult<outreach_core::SyncReport> {
    let cancel = CancelToken::new();
    let who_s = who.to_string();
    let progress = |p: outreach_core::SyncProgress| {
        steps.status(format!(
            "{who_s}: syncing ({:?}, {} change(s))",
            p.phase, p.chunks_done
        ));
    };
    store
        .sync_with_hub(&progress, &cancel)
        .map_err(|e| fail(&format!("{who} sync"), e))
}

/// Runs `outreach demo`.
pub fn run(a: DemoArgs) -> CliResult {
    if a.vans == 0 || a.vans > 20 {
        return Err(CliError::invalid("--vans", "must be 1 to 20"));
    }
    let t0 = Instant::now();
    let dir = demo_dir(a.dir)?;
    let lock = match std::env::var(ENV_PASSPHRASE) {
        Ok(p) if !p.is_empty() => Lock::Pass(Zeroizing::new(p)),
        _ => Lock::RandomKeys,
    };
    #[allow(clippy::needless_update)]
    let opts = StoreOptions {
        kdf: kdf_params()?,
        ..Default::default()
    };
    let steps = Steps::new();
    steps.line(&format!(
        "outreach demo: everything goes under {}",
        dir.display()
    ));
    steps.line(match lock {
        Lock::Pass(_) => "  stores are encrypted with OUTREACH_PASSPHRASE",
        Lock::RandomKeys => "  stores are encrypted with random keys that are not kept (set OUTREACH_PASSPHRASE to explore them afterwards)",
    });

    // The hub, in-process on loopback, with SQLite under DIR.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail("starting the runtime", e.kind()))?;
    let hub_dir = dir.join("hub");
    std::fs::create_dir_all(&hub_dir).map_err(|e| fail("creating the hub directory", e.kind()))?;
    let mut config = outreach_hub::HubConfig::loopback_ephemeral(format!(
        "sqlite:{}",
        hub_dir.join("hub.db").display()
    ));
    let setup_code = Zeroizing::new(hex::encode(rand::random::<[u8; 16]>()));
    config.setup_code = Some(setup_code.to_string());
    config.device_rate = outreach_hub::RateLimit::new(1000.0, 1000.0);
    config.open_rate = outreach_hub::RateLimit::new(1000.0, 1000.0);
    let hub = runtime
        .block_on(outreach_hub::start(config))
        .map_err(|e| fail("starting the hub", e))?;
    let url = hub.base_url();
    steps.line(&format!(
        "hub: listening on {url} (loopback only; it stores sealed changes it cannot read)"
    ));

    let result = mission(
        &dir,
        &url,
        &setup_code,
        &lock,
        &opts,
        a.vans,
        a.seed,
        &steps,
    );
    steps.done();
    let stopped = runtime.block_on(hub.shutdown());
    let summary = result?;
    stopped.map_err(|e| fail("stopping the hub", e))?;
    emit(&summary)?;
    emit(&format!(
        "demo finished in {:.1} s; everything it wrote is under {} (delete it when done)",
        t0.elapsed().as_secs_f64(),
        dir.display()
    ))
}

#[allow(clippy::too_many_arguments)]
fn mission(
    dir: &Path,
    url: &str,
    setup_code: &str,
    lock: &Lock,
    opts: &StoreOptions,
    vans: usize,
    seed: u64,
    steps: &Steps,
) -> CliResult<String> {
    let transport = HttpTransport::new(url).map_err(|e| fail("connecting to the hub", e))?;
    let mut team = TeamSetup::new(TEAM, ZONES);
    team.utc_offset_minutes = 0;
    let mut lead = Store::create(&dir.join("lead"), lock.unlock(), team, opts)
        .map_err(|e| fail("creating the lead's store", e))?;
    lead.set_user("demo-lead")
        .map_err(|e| fail("setting the lead's handle", e))?;
    lead.register_team(&transport, url, setup_code, "Demo lead laptop")
        .map_err(|e| fail("registering the team", e))?;
    sync_one(&mut lead, "lead", steps)?;
    steps.line(&format!(
        "lead: store created and team registered ({} zones)",
        ZONES.len()
    ));

    let mut vans_s = vec![];
    for i in 0..vans {
        let invite = lead
            .create_invite(&transport, Role::Member, 60 * 60 * 1000)
            .map_err(|e| fail("making an invite", e))?;
        let mut v = Store::create_from_invite(
            &dir.join(format!("van-{}", i + 1)),
            lock.unlock(),
            &invite,
            &format!("Demo van {} phone", i + 1),
            &transport,
            opts,
        )
        .map_err(|e| fail("enrolling a van", e))?;
        drop(invite);
        v.set_user(&format!("staff-{}a", i + 1))
            .map_err(|e| fail("setting a handle", e))?;
        sync_one(&mut v, &format!("van {}", i + 1), steps)?;
        steps.line(&format!(
            "van {}: enrolled with a one-time invite and synced the team settings",
            i + 1
        ));
        vans_s.push(v);
    }

    // The night, offline.
    let evening = demo_evening(Utc::now());
    let night: NaiveDate = evening.date_naive();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut total = 0;
    let mut profiles = 0;
    for (i, v) in vans_s.iter_mut().enumerate() {
        steps.status(format!("van {}: logging the night offline", i + 1));
        let (n, p) = van_night(v, i, &mut rng, evening)
            .map_err(|e| fail("logging the synthetic night", e))?;
        total += n;
        profiles += p;
        steps.line(&format!(
            "van {}: logged {n} encounters, {p} profiles, a concern and an incident offline ({} change(s) waiting)",
            i + 1,
            v.outbox_len().unwrap_or(0)
        ));
    }

    // Signal comes back van by van.
    let mut order: Vec<usize> = (0..vans).collect();
    order.sort_by_key(|i| (i * 7 + seed as usize) % vans.max(1));
    for (k, i) in order.iter().enumerate() {
        let back = evening + Duration::minutes(8 * 60 + 10 + 17 * k as i64);
        let r = sync_one(&mut vans_s[*i], &format!("van {}", i + 1), steps)?;
        steps.line(&format!(
            "van {}: back in signal at {}, pushed {} change(s), pulled {}",
            i + 1,
            back.format("%H:%M"),
            r.pushed_chunks,
            r.pulled_chunks
        ));
    }
    let r = sync_one(&mut lead, "lead", steps)?;
    steps.line(&format!(
        "lead: pulled {} change(s) in the morning",
        r.pulled_chunks
    ));

    // A same-field clash: the lead corrects the zone of one of van 1's contacts while van 1,
    // offline again, corrects the same field differently. Automerge keeps both values.
    let clash = make_clash(&mut lead, &mut vans_s[0], night, steps)
        .map_err(|e| fail("making the demo clash", e))?;
    sync_one(&mut lead, "lead", steps)?;
    sync_one(&mut vans_s[0], "van 1", steps)?;
    sync_one(&mut lead, "lead", steps)?;
    steps.line(
        "van 1 and the lead both corrected the zone of one contact: a clash for the lead to settle",
    );

    let ctx = crate::context::Context {
        data_dir: dir.join("lead"),
        user: Some("demo-lead".into()),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "\n===== The lead's morning review: night of {night} =====\n\n"
    ));
    let review = crate::commands::review::render(&ctx, &mut lead, night, false)?;
    // The timeline of every encounter is long; the demo shows the summaries and the list.
    let short: String = match review.find("By van") {
        Some(p) => format!(
            "{}{}",
            review.lines().next().unwrap_or(""),
            format_args!("\n\n{}", &review[p..])
        ),
        None => review,
    };
    out.push_str(&short);

    if let Some((id, value)) = &clash {
        lead.settle_clash(
            "encounter",
            id,
            &["zone".to_string()],
            serde_json::Value::String(value.clone()),
        )
        .map_err(|e| fail("settling the clash", e))?;
        let left = lead
            .clashes()
            .map_err(|e| fail("listing clashes", e))?
            .len();
        out.push_str(&format!("\nsettled the clash on encounter {id}: zone = {value} (the van's correction; recorded, syncs back to the vans); clashes left: {left}\n"));
    }

    let dups = lead
        .duplicate_suggestions(10)
        .map_err(|e| fail("suggesting duplicates", e))?;
    out.push_str("\n===== Duplicate people =====\n");
    let mut t = Table::new(&["score", "code name A", "code name B", "shared zones"]);
    for d in &dups {
        t.row(vec![
            format!("{:.2}", d.score),
            d.a_code_name.clone(),
            d.b_code_name.clone(),
            d.shared_zones.join(","),
        ]);
    }
    out.push_str(&t.render());
    let pair = dups.iter().find(|d| {
        let mut n = [d.a_code_name.as_str(), d.b_code_name.as_str()];
        n.sort();
        n == ["Fakey Moonbeam", "Fakey Moonbem"]
    });
    let merged = match pair {
        Some(d) => {
            lead.merge_people(&d.a, &d.b)
                .map_err(|e| fail("merging the duplicate", outreach_core::Error::from(e)))?;
            out.push_str(&format!(
                "merged \"{}\" into \"{}\" (an edge, undone with `outreach people unmerge`)\n",
                d.a_code_name, d.b_code_name
            ));
            1
        }
        None => {
            out.push_str("no duplicate pair to merge\n");
            0
        }
    };
    sync_one(&mut lead, "lead", steps)?;

    let report = lead
        .report(night, night, &ReportOptions::default())
        .map_err(|e| fail("computing the report", e))?;
    let unique = report.section("people").and_then(|s| {
        s.table
            .grand_total
            .as_ref()
            .and_then(|c| c.value())
            .or_else(|| {
                s.table
                    .col_totals
                    .as_ref()
                    .and_then(|c| c.first())
                    .and_then(|c| c.value())
            })
            .or_else(|| {
                s.table
                    .cells
                    .iter()
                    .map(|r| r.first().and_then(|c| c.value()))
                    .sum()
            })
    });
    out.push_str("\n===== The morning report (anonymised) =====\n\n");
    out.push_str(&report.to_table_text());
    out.push_str(&format!(
        "\nDemo summary: {vans} van(s), {total} encounters, {profiles} profiles, {merged} merge(s); unique people in the report: {}\n",
        unique.map(|u| u.to_string()).unwrap_or_else(|| "hidden (under 5)".into())
    ));
    Ok(out)
}
