//! Shared helpers for the cross-crate tests: a team fixture, the canary scenario (every kind of
//! record written with unique marker strings) and the byte scanner that looks for those markers
//! in files.
//!
//! All data here is obviously fake: markers look like `CANARY-7f3a-...`, people are called
//! things like "Fakey Moonbeam", phone numbers are in Ofcom's drama range (07700 900xxx).

use std::path::{Path, PathBuf};

use outreach_core::*;

/// The zones of the test team. They are markers too: zone names are team data.
pub const ZONES: &[&str] = &["CANARY-7f3a-zone-docks", "CANARY-7f3a-zone-arches"];

/// A test team whose name and zones are markers.
pub fn canary_team() -> TeamSetup {
    TeamSetup::new("CANARY-7f3a-team Fakey Outreach", ZONES)
}

/// A plain test team.
pub fn team() -> TeamSetup {
    TeamSetup::new("Test Team", &["north-beat", "south-beat", "station"])
}

// ---- scanning ---------------------------------------------------------------------------------

/// Every file under `dir`, recursively (symlinks are not followed).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn utf16be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

/// The byte forms a marker could take on disk: as typed, lower case, upper case, folded as a
/// code name is for search, and each of those in UTF-16 (both byte orders).
pub fn forms(marker: &str) -> Vec<(String, Vec<u8>)> {
    let mut texts = vec![
        ("utf8".to_string(), marker.to_string()),
        ("lower".to_string(), marker.to_lowercase()),
        ("upper".to_string(), marker.to_uppercase()),
        ("folded".to_string(), normalise::fold_name(marker)),
    ];
    texts.retain(|(_, t)| t.len() >= 6);
    let mut out: Vec<(String, Vec<u8>)> = vec![];
    for (label, t) in &texts {
        out.push((label.clone(), t.as_bytes().to_vec()));
        out.push((format!("{label}+utf16le"), utf16le(t)));
        out.push((format!("{label}+utf16be"), utf16be(t)));
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(_, b)| seen.insert(b.clone()));
    out
}

/// One place a marker was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// File it was found in.
    pub file: PathBuf,
    /// The marker.
    pub marker: String,
    /// Which form of it (`utf8`, `lower+utf16le`, ...).
    pub form: String,
}

/// Scans bytes for every form of every marker.
pub fn scan_bytes(bytes: &[u8], markers: &[String]) -> Vec<(String, String)> {
    let mut hits = vec![];
    for m in markers {
        for (label, needle) in forms(m) {
            if memchr::memmem::find(bytes, &needle).is_some() {
                hits.push((m.clone(), label));
            }
        }
    }
    hits
}

/// Scans every file under `dir` for every form of every marker, as raw bytes.
pub fn scan_tree(dir: &Path, markers: &[String]) -> Vec<Hit> {
    let mut hits = vec![];
    for f in files_under(dir) {
        let Ok(bytes) = std::fs::read(&f) else { continue };
        for (marker, form) in scan_bytes(&bytes, markers) {
            hits.push(Hit { file: f.clone(), marker, form });
        }
    }
    hits
}

/// Scans for exact byte strings (keys), not text forms.
pub fn scan_tree_raw(dir: &Path, needles: &[(String, Vec<u8>)]) -> Vec<(PathBuf, String)> {
    let mut hits = vec![];
    for f in files_under(dir) {
        let Ok(bytes) = std::fs::read(&f) else { continue };
        for (label, n) in needles {
            if memchr::memmem::find(&bytes, n).is_some() {
                hits.push((f.clone(), label.clone()));
            }
        }
    }
    hits
}

// ---- the canary scenario ----------------------------------------------------------------------

/// What the canary scenario wrote and did.
#[derive(Debug, Default, Clone)]
pub struct CanaryRun {
    /// Markers written into the store that are still current after the scenario (visible in the
    /// records): a plaintext store must show every one of them.
    pub current: Vec<String>,
    /// Markers written and then amended away (they live on in the CRDT history).
    pub superseded: Vec<String>,
    /// Values only looked up (alert check, person search), never written: they must not be on
    /// disk even in a plaintext store.
    pub looked_up: Vec<String>,
    /// Free text of records linked to a person (notes, follow-ups, concern action, incident
    /// details): sealed under that person's field key (core/src/fieldseal.rs), so they must not
    /// be on disk even in a plaintext store, while the read API still returns them.
    pub sealed: Vec<String>,
    /// The ids of the encounters logged (to prove the data is readable after reopening).
    pub encounters: Vec<String>,
    /// The night they were logged in.
    pub night: Option<chrono::NaiveDate>,
}

impl CanaryRun {
    /// Every marker that must not be found in an encrypted store.
    pub fn all(&self) -> Vec<String> {
        let mut v = self.current.clone();
        v.extend(self.superseded.iter().cloned());
        v.extend(self.looked_up.iter().cloned());
        v.extend(self.sealed.iter().cloned());
        v
    }
}

/// Writes one of everything with markers in every free-text field and identifier, amends some,
/// and runs the read paths (search, alert check, night list, rebuild).
pub fn canary_scenario(s: &mut Store) -> Result<CanaryRun> {
    let mut run = CanaryRun::default();
    let mut current: Vec<String> = vec![];
    // Team setup markers (team name and zones are in the settings document).
    current.push("CANARY-7f3a-team Fakey Outreach".into());
    current.extend(ZONES.iter().map(|z| z.to_string()));

    s.set_user("CANARY-7f3a-user-lead")?;
    current.push("CANARY-7f3a-user-lead".into());
    let shift = s.start_shift(ShiftStart {
        van: "CANARY-7f3a-van Moonbeam".into(),
        crew: vec!["CANARY-7f3a-crew-alpha".into(), "CANARY-7f3a-crew-bravo".into()],
        zones: vec![ZONES[0].into(), ZONES[1].into()],
        at: None,
    })?;
    run.night = Some(shift.night);
    current.extend(["CANARY-7f3a-van Moonbeam", "CANARY-7f3a-crew-alpha", "CANARY-7f3a-crew-bravo"].map(String::from));

    // People.
    let mut pin = PersonInput::new("Fakey Moonbeam CANARY-7f3a-p1");
    pin.first_language = Some("CANARY-7f3a-p1-lang".into());
    pin.note = Some("CANARY-7f3a-p1-note likes the night bus".into());
    let p1 = s.add_person(pin.clone())?;
    let mut p2in = PersonInput::new("Testy Starlight CANARY-7f3a-p2");
    p2in.note = Some("CANARY-7f3a-p2-note-before-edit".into());
    let p2 = s.add_person(p2in.clone())?;
    current.extend(
        ["Fakey Moonbeam CANARY-7f3a-p1", "CANARY-7f3a-p1-lang", "CANARY-7f3a-p1-note likes the night bus"].map(String::from),
    );
    // Edit p2: new code name and note; the old ones are superseded.
    p2in.code_name = "Testy Starlight-Edited CANARY-7f3a-p2e".into();
    p2in.note = Some("CANARY-7f3a-p2-note-after-edit".into());
    s.edit_person(&p2.id, p2in)?;
    current.extend(["Testy Starlight-Edited CANARY-7f3a-p2e", "CANARY-7f3a-p2-note-after-edit"].map(String::from));
    run.superseded.extend(["Testy Starlight CANARY-7f3a-p2", "CANARY-7f3a-p2-note-before-edit"].map(String::from));

    // Encounters.
    for i in 0..6 {
        let mut e = EncounterInput::new(ZONES[i % 2]);
        e.person = if i % 3 == 0 { Some(p1.id.clone()) } else if i % 3 == 1 { Some(p2.id.clone()) } else { None };
        e.services.insert(Service::Condoms, 10 + i as u32);
        e.services.insert(Service::HotDrink, 1);
        e.language = Some(format!("CANARY-7f3a-lang-{i}"));
        e.note = Some(format!("CANARY-7f3a-enc-note-{i} Fakey was fine tonight"));
        e.follow_up = Some(FollowUp { due: None, what: format!("CANARY-7f3a-followup-{i} bring gloves"), done: false });
        e.referrals.push(Referral {
            destination: ReferralDestination::SexualHealth,
            mode: ReferralMode::Signposted,
            consent: true,
            status: ReferralStatus::Offered,
        });
        let logged = s.log_encounter(e.clone())?;
        run.encounters.push(logged.id.clone());
        current.push(format!("CANARY-7f3a-lang-{i}"));
        // A linked encounter's note and follow-up are sealed; an anonymous one's stay plain.
        let text = if e.person.is_some() { &mut run.sealed } else { &mut current };
        text.push(format!("CANARY-7f3a-followup-{i} bring gloves"));
        if i % 2 == 0 {
            // Amend: the old note is superseded.
            let mut a = logged.input.clone();
            a.note = Some(format!("CANARY-7f3a-enc-note-{i}-amended Fakey felt better"));
            a.services.insert(Service::Naloxone, 1);
            s.amend_encounter(&logged.id, a)?;
            run.superseded.push(format!("CANARY-7f3a-enc-note-{i} Fakey was fine tonight"));
            text.push(format!("CANARY-7f3a-enc-note-{i}-amended Fakey felt better"));
        } else {
            text.push(format!("CANARY-7f3a-enc-note-{i} Fakey was fine tonight"));
        }
    }

    // Concern and incident.
    s.record_concern(ConcernInput {
        category: ConcernCategory::Exploitation,
        indicators: vec![Indicator::Controlled, Indicator::NoDocuments],
        encounter: Some(run.encounters[0].clone()),
        person: Some(p1.id.clone()),
        consent: Consent::Refused,
        action: "CANARY-7f3a-concern-action discussed options".into(),
        shared_without_consent: true,
        legal_basis: Some(LegalBasis::VitalInterests),
    })?;
    run.sealed.push("CANARY-7f3a-concern-action discussed options".into());
    s.record_incident(IncidentInput {
        when: chrono::Utc::now() - chrono::Duration::hours(2),
        place: "CANARY-7f3a-place behind arches".into(),
        kind: IncidentType::Robbery,
        injuries: Some("CANARY-7f3a-injuries bruised arm".into()),
        perpetrator: Some("CANARY-7f3a-perp tall, red jacket".into()),
        police_reported: true,
        crime_reference: Some("CANARY-7f3a-crimeref-0042".into()),
        share_police: ShareConsent::Anonymised,
        share_national: ShareConsent::Full,
        support: Some("CANARY-7f3a-support hot drink".into()),
        person: Some(p1.id.clone()),
        encounter: Some(run.encounters[1].clone()),
    })?;
    current.push("CANARY-7f3a-place behind arches".into());
    run.sealed.extend(
        [
            "CANARY-7f3a-injuries bruised arm",
            "CANARY-7f3a-perp tall, red jacket",
            "CANARY-7f3a-crimeref-0042",
            "CANARY-7f3a-support hot drink",
        ]
        .map(String::from),
    );

    // Alert with identifiers in un-normalised form.
    s.add_alert(AlertInput {
        description: "CANARY-7f3a-alert-desc silver van, fake".into(),
        plates: vec!["ab12 cde".into(), "canary 7f3a".into()],
        phones: vec!["07700 900123".into(), "+44 (0)7700 900456".into()],
        emails: vec!["  Fakey.Moonbeam.CANARY-7f3a@Example.ORG ".into()],
        usernames: vec!["@CANARY_7f3a_Handle".into()],
        area: Some("CANARY-7f3a-alert-area".into()),
        risk: Risk::High,
        from: None,
        review: None,
    })?;
    current.extend(
        [
            "CANARY-7f3a-alert-desc silver van, fake",
            "CANARY-7f3a-alert-area",
            // Normalised forms are what is stored.
            "AB12CDE",
            "CANARY7F3A",
            "+447700900123",
            "+447700900456",
            "fakey.moonbeam.canary-7f3a@example.org",
            "canary_7f3a_handle",
        ]
        .map(String::from),
    );
    // Other spellings of the same identifiers must not be on disk either (they are all
    // checked in an encrypted store; a plaintext store need only show the stored form).
    run.superseded.extend(
        ["447700900123", "07700900123", "07700 900123", "7700 900456", "ab12 cde", "@CANARY_7f3a_Handle"].map(String::from),
    );

    // Reads that must leave no trail.
    let hit = s.check_alert(IdentifierKind::Phone, "+44 7700 900123")?;
    assert_eq!(hit.len(), 1, "the alert check must match the stored phone");
    let miss = s.check_alert(IdentifierKind::Phone, "07700 900987")?;
    assert!(miss.is_empty());
    s.check_alert(IdentifierKind::Plate, "zz99 canary")?;
    s.check_alert(IdentifierKind::Email, "Looked.Up.CANARY-7f3a@example.net")?;
    let found = s.find_people("Fakey Moonbeam CANARY-7f3a-p1", 5)?;
    assert!(!found.is_empty(), "search must find the person");
    s.find_people("CANARY-7f3a-searched-only", 5)?;
    run.looked_up.extend(
        [
            "+447700900987",
            "07700 900987",
            "ZZ99CANARY",
            "looked.up.canary-7f3a@example.net",
            "CANARY-7f3a-searched-only",
        ]
        .map(String::from),
    );
    s.view_person(&p1.id)?;
    let listed = s.list_night(shift.night)?;
    for m in run.sealed.iter().filter(|m| m.contains("enc-note") || m.contains("followup")) {
        assert!(
            listed.iter().any(|e| e.input.note.as_deref() == Some(m.as_str()) || e.input.follow_up.as_ref().is_some_and(|f| &f.what == m)),
            "the read API must return sealed text {m:?}"
        );
    }
    s.list_concerns(shift.night)?;
    s.list_alerts()?;
    s.clashes()?;
    s.rebuild_projections()?;
    // Audit entities are lower-case words (core/src/audit.rs); the scan matches lower case too.
    s.audit_export("canary-7f3a-export-what", None)?;
    current.push("CANARY-7f3a-export-what".into());

    current.sort();
    current.dedup();
    run.current = current;
    Ok(run)
}

pub mod hubsim;
pub mod faults;
