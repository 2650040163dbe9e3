//! Child process for the crash-safety test (`tests/tests/crash.rs`): works on a store until it
//! is killed with SIGKILL.
//!
//! Environment (the key is never passed on the command line):
//! - `OUTREACH_CRASH_DIR`: the store directory (created with the test team on first run).
//! - `OUTREACH_CRASH_KEY`: the raw store key, 64 hex digits.
//! - `OUTREACH_CRASH_SEED`: seed of this run's choices.
//! - `OUTREACH_CRASH_ROUND`: the parent's round number (makes amendment tokens increase).
//! - `OUTREACH_CRASH_LIMIT` (optional): stop after this many operations (exit 0) instead of
//!   running until killed.
//!
//! It opens a shift if none is open, then loops: logs encounters with varied content (services,
//! referrals, notes of varied length), and now and then amends one, adds or edits a person,
//! records a concern or an incident, adds an alert, or ends the shift and starts another, so
//! that shift documents grow past the compaction threshold and get compacted.
//!
//! After each call returns `Ok` it prints one line and flushes stdout:
//! - `committed <encounter-id>`
//! - `amended <encounter-id> <token>` (the token is at the start of the new note and increases)
//! - `person <person-id>`, `edited <person-id> <token>`
//! - `concern <id>`, `incident <id>`, `alert <id>`, `shift <id>`
//!
//! Any error is fatal: it prints it on stderr and exits 3.

use std::io::Write;
use std::path::PathBuf;

use outreach_core::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WORDS: &[&str] = &[
    "Fakey", "Moonbeam", "fine", "tired", "cold", "wanted", "gloves", "tea", "test", "kit", "later", "clinic",
    "bus", "night", "dog", "okay", "laughing", "rain", "umbrella", "returned", "sharps", "bin", "soup", "fake",
];

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(&format!("{name} is not set")))
}

fn fail(msg: &str) -> ! {
    eprintln!("crash_child: {msg}");
    std::process::exit(3)
}

fn ok<T>(what: &str, r: Result<T>) -> T {
    r.unwrap_or_else(|e| fail(&format!("{what}: {e}")))
}

fn words(rng: &mut StdRng, max_words: usize) -> String {
    let n = rng.gen_range(1..=max_words);
    (0..n).map(|_| WORDS[rng.gen_range(0..WORDS.len())]).collect::<Vec<_>>().join(" ")
}

fn main() {
    let dir = PathBuf::from(env("OUTREACH_CRASH_DIR"));
    let key_hex = zeroize::Zeroizing::new(env("OUTREACH_CRASH_KEY"));
    let key_bytes = zeroize::Zeroizing::new(hex::decode(key_hex.as_str()).unwrap_or_else(|_| fail("bad key hex")));
    let key = ok("key", StoreKey::from_slice(&key_bytes));
    let seed: u64 = env("OUTREACH_CRASH_SEED").parse().unwrap_or_else(|_| fail("bad seed"));
    let round: u32 = env("OUTREACH_CRASH_ROUND").parse().unwrap_or_else(|_| fail("bad round"));
    let limit: Option<u64> = std::env::var("OUTREACH_CRASH_LIMIT").ok().and_then(|v| v.parse().ok());
    let mut rng = StdRng::seed_from_u64(seed);

    let mut s = if store_exists(&dir) {
        ok("open", Store::open(&dir, Unlock::Key(key)))
    } else {
        ok("create", Store::create(&dir, Unlock::Key(key), outreach_tests::team(), &StoreOptions::default()))
    };
    let zones: Vec<String> = s.settings().zones.clone();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut say = |line: String| {
        // One write per line (well under PIPE_BUF, so a line is never torn), then flush.
        let _ = out.write_all(format!("{line}\n").as_bytes());
        let _ = out.flush();
    };

    let start_shift = |s: &mut Store, rng: &mut StdRng| -> Shift {
        let z = zones[rng.gen_range(0..zones.len())].clone();
        ok(
            "start_shift",
            s.start_shift(ShiftStart {
                van: format!("Van {}", rng.gen_range(1..4)),
                crew: vec!["staff-a".into(), "staff-b".into()],
                zones: vec![z],
                at: None,
            }),
        )
    };
    let mut shift = match ok("current_shift", s.current_shift()) {
        Some(sh) => sh,
        None => {
            let sh = start_shift(&mut s, &mut rng);
            say(format!("shift {}", sh.id));
            sh
        }
    };
    // Encounters of this night that may be amended (including earlier runs').
    let mut encounters: Vec<(String, EncounterInput)> =
        ok("list_night", s.list_night(shift.night)).into_iter().rev().take(100).map(|e| (e.id, e.input)).collect();
    let mut people: Vec<(String, PersonInput)> = vec![];
    let mut op: u64 = 0;

    loop {
        op += 1;
        if limit.is_some_and(|l| op > l) {
            return;
        }
        let token = format!("r{round:06}n{op:07}");
        let roll = rng.gen_range(0..100);
        match roll {
            // Log an encounter.
            0..=67 => {
                let mut e = EncounterInput::new(zones[rng.gen_range(0..zones.len())].clone());
                e.setting = Setting::ALL[rng.gen_range(0..Setting::ALL.len())];
                e.contact_type = ContactType::ALL[rng.gen_range(0..ContactType::ALL.len())];
                for _ in 0..rng.gen_range(0..5) {
                    e.services.insert(Service::ALL[rng.gen_range(0..Service::ALL.len())], rng.gen_range(1..50));
                }
                for _ in 0..rng.gen_range(0..3) {
                    e.referrals.push(Referral {
                        destination: ReferralDestination::ALL[rng.gen_range(0..ReferralDestination::ALL.len())],
                        mode: ReferralMode::ALL[rng.gen_range(0..ReferralMode::ALL.len())],
                        consent: rng.gen(),
                        status: ReferralStatus::ALL[rng.gen_range(0..ReferralStatus::ALL.len())],
                    });
                }
                if rng.gen_bool(0.7) {
                    e.note = Some(words(&mut rng, 60));
                }
                if rng.gen_bool(0.3) {
                    e.language = Some(["en", "ro", "pt", "th", "pl"][rng.gen_range(0..5)].into());
                }
                if rng.gen_bool(0.2) {
                    e.follow_up = Some(FollowUp { due: None, what: words(&mut rng, 6), done: false });
                }
                if !people.is_empty() && rng.gen_bool(0.5) {
                    e.person = Some(people[rng.gen_range(0..people.len())].0.clone());
                }
                let logged = ok("log_encounter", s.log_encounter(e));
                say(format!("committed {}", logged.id));
                encounters.push((logged.id, logged.input));
            }
            // Amend one.
            68..=79 if !encounters.is_empty() => {
                let i = rng.gen_range(0..encounters.len());
                let (id, mut input) = encounters[i].clone();
                input.note = Some(format!("{token} {}", words(&mut rng, 30)));
                input.services.insert(Service::ALL[rng.gen_range(0..Service::ALL.len())], rng.gen_range(1..9));
                let a = ok("amend_encounter", s.amend_encounter(&id, input));
                say(format!("amended {id} {token}"));
                encounters[i].1 = a.input;
            }
            // Add a person.
            80..=86 => {
                let mut p = PersonInput::new(format!("Fakey {} {}", WORDS[rng.gen_range(0..WORDS.len())], op));
                p.age_band = AgeBand::ALL[rng.gen_range(0..AgeBand::ALL.len())];
                p.note = Some(words(&mut rng, 10));
                let added = ok("add_person", s.add_person(p.clone()));
                say(format!("person {}", added.id));
                people.push((added.id, p));
            }
            // Edit a person.
            87..=90 if !people.is_empty() => {
                let i = rng.gen_range(0..people.len());
                let (id, mut p) = people[i].clone();
                p.note = Some(format!("{token} {}", words(&mut rng, 10)));
                p.flags.injecting = rng.gen();
                ok("edit_person", s.edit_person(&id, p.clone()));
                say(format!("edited {id} {token}"));
                people[i].1 = p;
            }
            91..=93 => {
                let c = ok(
                    "record_concern",
                    s.record_concern(ConcernInput {
                        category: ConcernCategory::ALL[rng.gen_range(0..ConcernCategory::ALL.len())],
                        indicators: vec![Indicator::ALL[rng.gen_range(0..Indicator::ALL.len())]],
                        encounter: encounters.last().map(|e| e.0.clone()),
                        person: None,
                        consent: Consent::NotAsked,
                        action: words(&mut rng, 12),
                        shared_without_consent: false,
                        legal_basis: None,
                    }),
                );
                say(format!("concern {}", c.id));
            }
            94..=96 => {
                let i = ok(
                    "record_incident",
                    s.record_incident(IncidentInput {
                        when: chrono::Utc::now() - chrono::Duration::minutes(rng.gen_range(0..600)),
                        place: "behind the fake arches".into(),
                        kind: IncidentType::ALL[rng.gen_range(0..IncidentType::ALL.len())],
                        injuries: None,
                        perpetrator: Some(words(&mut rng, 8)),
                        police_reported: false,
                        crime_reference: None,
                        share_police: ShareConsent::None,
                        share_national: ShareConsent::Anonymised,
                        support: None,
                        person: None,
                        encounter: None,
                    }),
                );
                say(format!("incident {}", i.id));
            }
            97 => {
                let a = ok(
                    "add_alert",
                    s.add_alert(AlertInput {
                        description: format!("fake alert {}", words(&mut rng, 5)),
                        plates: vec![format!("FK{:02} TST", rng.gen_range(0..100))],
                        phones: vec![format!("07700 900{:03}", rng.gen_range(0..1000))],
                        emails: vec![],
                        usernames: vec![],
                        area: None,
                        risk: Risk::Medium,
                        from: None,
                        review: None,
                    }),
                );
                say(format!("alert {}", a.id));
            }
            // End the shift and start another (a new shift document).
            98 | 99 => {
                ok("end_shift", s.end_shift());
                shift = start_shift(&mut s, &mut rng);
                say(format!("shift {}", shift.id));
            }
            _ => {}
        }
    }
}
