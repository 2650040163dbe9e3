//! Consent per purpose and the disclosure log across devices, through a real hub: a lead and an
//! enrolled van phone record consents and shares of the same person's incident at the same
//! time, offline; after sync both devices hold every statement and every share, the lead's
//! report counts them, and the van phone (a member) cannot share without consent even with a
//! lawful basis. Obviously fake data only.

use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use outreach_core::sync::{CancelToken, HttpTransport, Role};
use outreach_core::*;
use outreach_hub::{HubConfig, RateLimit, RunningHub};

const SETUP_CODE: &str = "TEST-setup-code-not-secret";
const ZONES: &[&str] = &["test-zone-north", "test-zone-south"];

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let p = std::env::temp_dir().join(format!("outreach-disclosure-{tag}-{}-{t:x}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Hub {
    rt: tokio::runtime::Runtime,
    hub: Option<RunningHub>,
    url: String,
    _dir: TempDir,
}

impl Hub {
    fn start() -> Hub {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = TempDir::new("hub");
        let mut config = HubConfig::loopback_ephemeral(format!("sqlite:{}", dir.path().join("hub.db").display()));
        config.setup_code = Some(SETUP_CODE.into());
        config.device_rate = RateLimit::new(10_000.0, 10_000.0);
        config.open_rate = RateLimit::new(10_000.0, 10_000.0);
        let hub = rt.block_on(outreach_hub::start(config)).expect("hub starts");
        let url = hub.base_url();
        Hub { rt, hub: Some(hub), url, _dir: dir }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(h) = self.hub.take() {
            let _ = self.rt.block_on(h.shutdown());
        }
    }
}

fn sync(s: &mut Store, t: &HttpTransport) {
    s.sync(t, &|_| {}, &CancelToken::new()).unwrap();
}

#[test]
fn concurrent_consents_and_shares_all_survive_sync_and_members_cannot_override_consent() {
    let hub = Hub::start();
    let http = HttpTransport::new(&hub.url).unwrap();
    let opts = StoreOptions::default();
    let lead_dir = TempDir::new("lead");
    let mut lead =
        Store::create(&lead_dir.path().join("store"), Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Team", ZONES), &opts).unwrap();
    lead.set_user("test-lead").unwrap();
    lead.register_team(&http, &hub.url, SETUP_CODE, "TEST lead laptop").unwrap();
    let code = lead.create_invite(&http, Role::Member, 3_600_000).unwrap();
    let van_dir = TempDir::new("van");
    let mut van =
        Store::create_from_invite(&van_dir.path().join("store"), Unlock::Key(StoreKey::generate()), &code, "TEST van phone", &http, &opts)
            .unwrap();
    van.set_user("staff-test").unwrap();
    sync(&mut lead, &http);
    sync(&mut van, &http);

    // The van logs an incident about a person: consent for the national scheme only.
    let person = van.add_person(PersonInput::new("Fakey Moonbeam")).unwrap().id;
    van.start_shift(ShiftStart { van: "TEST Van".into(), crew: vec!["staff-test".into()], zones: vec![ZONES[0].into()], at: None })
        .unwrap();
    let night = van.current_shift().unwrap().unwrap().night;
    let inc = van
        .record_incident(IncidentInput {
            when: Utc::now() - Duration::minutes(20),
            place: ZONES[0].into(),
            kind: IncidentType::Robbery,
            injuries: None,
            perpetrator: None,
            police_reported: false,
            crime_reference: None,
            share_police: ShareConsent::None,
            share_national: ShareConsent::Full,
            support: None,
            person: Some(person.clone()),
            encounter: None,
        })
        .unwrap()
        .id;
    sync(&mut van, &http);
    sync(&mut lead, &http);

    // A member device: no share without consent, even with a lawful basis.
    assert!(matches!(van.share_incident(&inc, ShareRecipient::Police, Some(LegalBasis::CrimePrevention)), Err(ShareError::NotLead)));
    // Nor a concern recorded as already shared without consent; nothing is written.
    let before = van.list_concerns(night).unwrap().len();
    let refused = van.record_concern(ConcernInput {
        category: ConcernCategory::AdultAtRisk,
        indicators: vec![Indicator::Controlled],
        encounter: None,
        person: Some(person.clone()),
        consent: Consent::Refused,
        action: "Fake action: called the helpline".into(),
        shared_without_consent: true,
        legal_basis: Some(LegalBasis::VitalInterests),
    });
    assert!(matches!(&refused, Err(Error::State(m)) if m.contains("only a lead")), "{refused:?}");
    assert_eq!(van.list_concerns(night).unwrap().len(), before);

    // Offline, at the same time: each device records a consent for a different purpose of the
    // same person and logs a share of the same incident.
    van.record_person_consent(&person, ConsentPurpose::FollowUp, ConsentState::Given).unwrap();
    lead.record_person_consent(&person, ConsentPurpose::Record, ConsentState::Given).unwrap();
    let d_van = van.share_incident(&inc, ShareRecipient::National, None).unwrap();
    let d_lead = lead.share_incident(&inc, ShareRecipient::Police, Some(LegalBasis::CrimePrevention)).unwrap();
    assert!(d_van.consent.covered && !d_lead.consent.covered);

    for _ in 0..2 {
        sync(&mut van, &http);
        sync(&mut lead, &http);
    }
    for (name, s) in [("lead", &mut lead), ("van", &mut van)] {
        let p = s.person_for_edit(&person).unwrap();
        assert_eq!(p.consents.len(), 2, "{name}: both purposes kept");
        let log = s.disclosures(night, night).unwrap();
        let ids: Vec<&str> = log.iter().map(|d| d.disclosure.id.as_str()).collect();
        assert!(ids.contains(&d_van.id.as_str()) && ids.contains(&d_lead.id.as_str()), "{name}: both shares kept: {ids:?}");
        assert_eq!(s.incident_shared_with(&inc).unwrap(), vec![ShareRecipient::Police, ShareRecipient::National], "{name}");
        assert!(s.clashes().unwrap().is_empty(), "{name}: no clash from concurrent shares or purposes");
        assert!(s.verify_projections().unwrap(), "{name}");
    }
    let r = lead.report_unsuppressed(night, night, &ReportOptions::default()).unwrap();
    for section in ["incidents_shared_police", "incidents_shared_national"] {
        let t = &r.section(section).unwrap().table;
        let row = t.row_labels.iter().position(|l| l == "robbery").unwrap();
        assert_eq!(t.cells[row][0], report::Cell::Value(1), "{section}");
    }
    // The lead's subject access sees the van's share and consent too.
    let sar = lead.subject_access(&person).unwrap();
    assert_eq!(sar.disclosures.len(), 2);
    assert_eq!(sar.profiles[0].profile.consents.len(), 2);
}
