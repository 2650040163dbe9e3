//! Identifying codes, consent per purpose, the disclosure log and subject access. Obviously
//! fake data only.

use chrono::{Duration, Utc};
use outreach_core::*;
use std::path::Path;

fn new_store(dir: &Path) -> Store {
    let mut s = Store::create(
        dir,
        Unlock::Key(StoreKey::generate()),
        TeamSetup::new("Test Team", &["test-zone-a", "test-zone-b"]),
        &StoreOptions::default(),
    )
    .unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    s.set_user("test-lead").unwrap();
    s
}

fn start(s: &mut Store) {
    s.start_shift(ShiftStart { van: "Test Van".into(), crew: vec!["staff-a".into()], zones: vec!["test-zone-a".into()], at: None })
        .unwrap();
}

fn incident(s: &mut Store, person: Option<&str>, police: ShareConsent, national: ShareConsent) -> Incident {
    s.record_incident(IncidentInput {
        when: Utc::now() - Duration::minutes(30),
        place: "test-zone-a".into(),
        kind: IncidentType::Robbery,
        injuries: Some("Fake test injuries".into()),
        perpetrator: None,
        police_reported: false,
        crime_reference: None,
        share_police: police,
        share_national: national,
        support: None,
        person: person.map(str::to_string),
        encounter: None,
    })
    .unwrap()
}

fn concern(s: &mut Store, person: Option<&str>, consent: Consent) -> Concern {
    s.record_concern(ConcernInput {
        category: ConcernCategory::Exploitation,
        indicators: vec![Indicator::Controlled],
        encounter: None,
        person: person.map(str::to_string),
        consent,
        action: "Fake test action".into(),
        shared_without_consent: false,
        legal_basis: None,
    })
    .unwrap()
}

#[test]
fn identifying_codes_are_kept_only_as_keyed_hashes_and_flag_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = new_store(dir.path());
    let mut a_in = PersonInput::new("Fakey Moonbeam");
    a_in.age_band = AgeBand::A25;
    let a = s.add_person(a_in).unwrap().id;
    let mut c_in = PersonInput::new("Testy Starlight");
    c_in.age_band = AgeBand::A45;
    let c = s.add_person(c_in).unwrap().id;
    let mut d_in = PersonInput::new("Fakey Moonbem");
    d_in.age_band = AgeBand::A25;
    let d = s.add_person(d_in).unwrap().id;
    // Before codes: only the similar names are suggested.
    let before = s.duplicate_suggestions(10).unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].id_code, IdCodeSignal::Unknown);
    let base = before[0].score;

    // Normalisation: case, spaces and punctuation do not matter; only the hash is written.
    assert_eq!(s.id_code_hash("fm 07-x").unwrap(), s.id_code_hash("FM07X").unwrap());
    assert_ne!(s.id_code_hash("FM07X").unwrap(), s.id_code_hash("FM08X").unwrap());
    s.set_id_code(&a, Some("fm 07-x")).unwrap();
    s.set_id_code(&c, Some("FM07X")).unwrap();
    let fp = s.projection_fingerprint().unwrap();
    assert!(!fp.to_uppercase().contains("FM07X") && !fp.contains("fm 07-x"), "the code itself is never stored");
    let pa = s.person_for_edit(&a).unwrap();
    assert_eq!(pa.id_code_hash.as_deref(), Some(s.id_code_hash("FM07X").unwrap().as_str()));
    // The key is the team's: another team hashes the same code differently.
    let dir2 = tempfile::tempdir().unwrap();
    let other = new_store(dir2.path());
    assert_ne!(other.id_code_hash("FM07X").unwrap(), s.id_code_hash("FM07X").unwrap());

    // Same hash: suggested although names and age bands differ, listed first.
    let sugg = s.duplicate_suggestions(10).unwrap();
    assert_eq!(sugg.len(), 2, "{sugg:?}");
    assert_eq!(sugg[0].id_code, IdCodeSignal::Same);
    assert_eq!([sugg[0].a.as_str(), sugg[0].b.as_str()].iter().filter(|x| **x == a || **x == c).count(), 2);
    // Different codes halve the score of the name-similar pair.
    s.set_id_code(&d, Some("ZZ99")).unwrap();
    let sugg = s.duplicate_suggestions(10).unwrap();
    let ad = sugg.iter().find(|x| x.id_code == IdCodeSignal::Different).expect("pair with different codes");
    assert!((ad.score - base / 2.0).abs() < 1e-9, "{} vs {}", ad.score, base);

    // Editing the profile keeps the hash; clearing removes it; merged pairs are not suggested.
    let mut edit = pa.input.clone();
    edit.living = Living::Hostel;
    assert!(s.edit_person(&a, edit).unwrap().id_code_hash.is_some());
    s.merge_people(&c, &a).unwrap();
    assert!(s.duplicate_suggestions(10).unwrap().iter().all(|x| x.id_code != IdCodeSignal::Same));
    s.unmerge_person(&c).unwrap();
    s.set_id_code(&c, None).unwrap();
    assert!(s.person_for_edit(&c).unwrap().id_code_hash.is_none());
    assert!(s.duplicate_suggestions(10).unwrap().iter().all(|x| x.id_code != IdCodeSignal::Same));

    // A bad code: the rule is named, the code never echoed, nothing written.
    let outbox = s.outbox_len().unwrap();
    let e = s.set_id_code(&a, Some("#!")).unwrap_err();
    assert!(matches!(e, Error::Invalid { field: "person.id_code", .. }));
    assert!(!e.to_string().contains("#!"));
    assert_eq!(s.outbox_len().unwrap(), outbox);
    let actions: Vec<String> = s.audit_log(100).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "person.id_code").count(), 4);
    assert!(s.verify_projections().unwrap());
}

#[test]
fn consent_per_purpose_decides_shares_and_every_share_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = new_store(dir.path());
    let p = s.add_person(PersonInput::new("Fakey Moonbeam")).unwrap().id;
    start(&mut s);
    let night = s.current_shift().unwrap().unwrap().night;
    let inc = incident(&mut s, Some(&p), ShareConsent::Full, ShareConsent::Anonymised).id;
    assert_eq!(s.review_items(night).unwrap().incidents[0].pending, vec![ShareRecipient::Police, ShareRecipient::National]);

    // The person withdraws consent to police sharing after the incident was recorded.
    let person = s.record_person_consent(&p, ConsentPurpose::SharePolice, ConsentState::Withdrawn).unwrap();
    let pc = &person.consents[&ConsentPurpose::SharePolice];
    assert_eq!((pc.state, pc.by.as_str()), (ConsentState::Withdrawn, "test-lead"));
    assert_eq!(s.review_items(night).unwrap().incidents[0].pending, vec![ShareRecipient::National], "withdrawn: no longer pending");
    let outbox = s.outbox_len().unwrap();
    assert!(matches!(
        s.share_incident(&inc, ShareRecipient::Police, None),
        Err(ShareError::ConsentNotRecorded { recipient: ShareRecipient::Police, .. })
    ));
    assert_eq!(s.outbox_len().unwrap(), outbox, "a refused share writes nothing");
    // National: the incident's own consent covers it.
    let d1 = s.share_incident(&inc, ShareRecipient::National, None).unwrap();
    assert!(d1.consent.covered);
    assert_eq!(d1.consent.record, "anonymised");
    assert!(d1.consent.profile.is_none());
    assert_eq!((d1.by.as_str(), d1.device.as_str()), ("test-lead", s.device_id()));
    // Police without consent: a lead with a lawful basis; the snapshot shows the withdrawal.
    let d2 = s.share_incident(&inc, ShareRecipient::Police, Some(LegalBasis::VitalInterests)).unwrap();
    assert!(!d2.consent.covered);
    assert_eq!(d2.legal_basis, Some(LegalBasis::VitalInterests));
    assert_eq!(d2.consent.profile.as_ref().unwrap().state, ConsentState::Withdrawn);
    assert!(s.review_items(night).unwrap().incidents.is_empty());
    // Incidents go to the police or the national scheme only.
    assert!(matches!(s.share_incident(&inc, ShareRecipient::LocalAuthority, None), Err(ShareError::RecipientNotAllowed { .. })));

    // Concerns: the concern's consent to referral, or a newer purpose consent.
    let refused = concern(&mut s, Some(&p), Consent::Refused).id;
    let e = s.share_concern(&refused, ShareRecipient::LocalAuthority, None).unwrap_err();
    assert!(e.to_string().contains("outreach person consent"), "{e}");
    s.record_person_consent(&p, ConsentPurpose::SafeguardingReferral, ConsentState::Given).unwrap();
    let d3 = s.share_concern(&refused, ShareRecipient::LocalAuthority, None).unwrap();
    assert!(d3.consent.covered && d3.consent.record == "refused");

    // The log: in the review, in the records, in the audit, and rebuilt from the documents.
    let list = s.review_items(night).unwrap();
    assert_eq!(list.disclosures.len(), 3);
    assert_eq!(list.disclosures.iter().filter(|x| x.entity == "incident").count(), 2);
    assert_eq!(s.incident_shared_with(&inc).unwrap(), vec![ShareRecipient::Police, ShareRecipient::National]);
    let before = s.disclosures(night, night).unwrap();
    s.rebuild_projections().unwrap();
    assert_eq!(s.disclosures(night, night).unwrap(), before);
    assert!(s.verify_projections().unwrap());
    let actions: Vec<String> = s.audit_log(100).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "incident.share").count(), 2);
    assert_eq!(actions.iter().filter(|a| *a == "concern.share").count(), 1);
    assert_eq!(actions.iter().filter(|a| *a == "person.consent").count(), 2);
    // The report counts the actual shares.
    let r = s.report_unsuppressed(night, night, &ReportOptions::default()).unwrap();
    let t = &r.section("incidents_shared_police").unwrap().table;
    let robbery = t.row_labels.iter().position(|l| l == "robbery").unwrap();
    assert_eq!(t.cells[robbery][0], report::Cell::Value(1));
    assert_eq!(t.cells[robbery][1], report::Cell::Value(0));
}

#[test]
fn a_concern_has_its_own_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = new_store(dir.path());
    start(&mut s);
    let input = ConcernInput {
        category: ConcernCategory::AdultAtRisk,
        indicators: vec![],
        encounter: None,
        person: None,
        consent: Consent::NotAsked,
        action: "Fake test action".into(),
        shared_without_consent: false,
        legal_basis: None,
    };
    let at = Utc::now() - Duration::minutes(50);
    let c = s.record_concern_at(input.clone(), Some(at)).unwrap();
    assert_eq!(c.at, at);
    let night = s.current_shift().unwrap().unwrap().night;
    assert_eq!(s.list_concerns(night).unwrap()[0].at, at);
    assert!(matches!(
        s.record_concern_at(input.clone(), Some(Utc::now() + Duration::days(3))),
        Err(Error::Invalid { field: "concern.at", .. })
    ));
    let now = s.record_concern(input).unwrap();
    assert!((Utc::now() - now.at).num_seconds() < 60, "defaults to now");
}

#[test]
fn subject_access_gathers_the_merge_group_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = new_store(dir.path());
    let a = s.add_person(PersonInput::new("Fakey <b>Moonbeam</b>")).unwrap().id;
    let b = s.add_person(PersonInput::new("Fakey Moonbem")).unwrap().id;
    let other = s.add_person(PersonInput::new("Testy Otherperson")).unwrap().id;
    s.set_id_code(&a, Some("FM07X")).unwrap();
    s.record_person_consent(&a, ConsentPurpose::FollowUp, ConsentState::Given).unwrap();
    start(&mut s);
    let mut e = EncounterInput::new("test-zone-a");
    e.person = Some(a.clone());
    e.services.insert(Service::Condoms, 10);
    e.referrals.push(Referral { destination: ReferralDestination::Housing, mode: ReferralMode::Signposted, consent: true, status: ReferralStatus::Offered });
    let ea = s.log_encounter(e).unwrap().id;
    let mut e = EncounterInput::new("test-zone-b");
    e.person = Some(b.clone());
    let eb = s.log_encounter(e).unwrap().id;
    let mut e = EncounterInput::new("test-zone-a");
    e.person = Some(other.clone());
    let eo = s.log_encounter(e).unwrap().id;
    s.log_encounter(EncounterInput::new("test-zone-a")).unwrap();
    let ca = concern(&mut s, Some(&a), Consent::Given).id;
    s.share_concern(&ca, ShareRecipient::Police, None).unwrap();
    concern(&mut s, Some(&other), Consent::Given);
    // An incident linked only through B's encounter, and one of the other person.
    let mut via = IncidentInput {
        when: Utc::now() - Duration::minutes(10),
        place: "test-zone-b".into(),
        kind: IncidentType::Threats,
        injuries: None,
        perpetrator: Some("Fake test description".into()),
        police_reported: false,
        crime_reference: None,
        share_police: ShareConsent::None,
        share_national: ShareConsent::Full,
        support: None,
        person: None,
        encounter: Some(eb.clone()),
    };
    let ib = s.record_incident(via.clone()).unwrap().id;
    s.share_incident(&ib, ShareRecipient::National, None).unwrap();
    via.encounter = Some(eo.clone());
    let io = s.record_incident(via).unwrap().id;
    s.merge_people(&b, &a).unwrap();
    s.view_person(&b).unwrap();

    let sar = s.subject_access(&a).unwrap();
    let ids = |v: Vec<&str>| v.into_iter().map(str::to_string).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(sar.canonical, a);
    assert_eq!(ids(sar.profiles.iter().map(|p| p.profile.id.as_str()).collect()), ids(vec![&a, &b]));
    assert_eq!(ids(sar.encounters.iter().map(|e| e.id.as_str()).collect()), ids(vec![&ea, &eb]));
    assert_eq!(sar.encounters.iter().find(|e| e.id == ea).unwrap().input.services[&Service::Condoms], 10);
    assert_eq!(sar.concerns.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec![ca.as_str()]);
    assert_eq!(sar.incidents.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), vec![ib.as_str()]);
    assert!(!sar.incidents.iter().any(|i| i.id == io));
    assert_eq!(sar.disclosures.len(), 2);
    let pa = &sar.profiles.iter().find(|p| p.profile.id == a).unwrap().profile;
    assert_eq!(pa.consents[&ConsentPurpose::FollowUp].state, ConsentState::Given);
    // Audit entries about both profiles and their linked records, none about the other one.
    let audited: Vec<(String, Option<String>)> = sar.audit.iter().map(|e| (e.action.clone(), e.entity_id.clone())).collect();
    for want in [("person.consent", &a), ("person.view", &b), ("person.merge", &b), ("encounter.create", &ea), ("concern.share", &ca)] {
        assert!(audited.iter().any(|(x, id)| x == want.0 && id.as_deref() == Some(want.1.as_str())), "missing {want:?}");
    }
    assert!(!audited.iter().any(|(_, id)| id.as_deref() == Some(other.as_str()) || id.as_deref() == Some(eo.as_str())));
    assert!(s.audit_log(1).unwrap()[0].action == "person.access");

    // Renderings: JSON round-trips; the page is self-contained and escapes what it shows.
    let json: serde_json::Value = serde_json::from_str(&sar.to_json().unwrap()).unwrap();
    assert_eq!(json["format"], "outreach-subject-access/v1");
    let html = sar.to_html().unwrap();
    assert!(html.contains("default-src 'none'"));
    for banned in ["<script", "http://", "https://", "<img", "<link", "url("] {
        assert!(!html.contains(banned), "{banned}");
    }
    assert!(html.contains("Fakey &lt;b&gt;Moonbeam&lt;/b&gt;") && !html.contains("<b>Moonbeam"));
    assert!(html.contains("Fake test description") && html.contains("follow_up_contact"));
    assert!(matches!(s.subject_access("01890a5d-ac96-774b-bcce-b302099a8057"), Err(Error::NotFound { .. })));
}
