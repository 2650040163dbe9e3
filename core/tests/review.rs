//! The lead's review list and the recorded changes that settle it. Obviously fake data only.

use outreach_core::*;
use std::path::Path;

fn new_store(dir: &Path) -> Store {
    let s = Store::create(
        dir,
        Unlock::Key(StoreKey::generate()),
        TeamSetup::new("Test Team", &["test-zone-a", "test-zone-b"]),
        &StoreOptions::default(),
    )
    .unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    s
}

fn night_of_now(s: &Store) -> chrono::NaiveDate {
    s.current_shift().unwrap().unwrap().night
}

fn start(s: &mut Store) {
    s.start_shift(ShiftStart { van: "Test Van".into(), crew: vec!["staff-a".into()], zones: vec!["test-zone-a".into()], at: None })
        .unwrap();
}

fn concern(s: &mut Store) -> String {
    s.record_concern(ConcernInput {
        category: ConcernCategory::AdultAtRisk,
        indicators: vec![Indicator::Fearful],
        encounter: None,
        person: None,
        consent: Consent::Given,
        action: "Fake test action".into(),
        shared_without_consent: false,
        legal_basis: None,
    })
    .unwrap()
    .id
}

fn incident(s: &mut Store, police: ShareConsent, national: ShareConsent) -> String {
    s.record_incident(IncidentInput {
        when: chrono::Utc::now() - chrono::Duration::minutes(5),
        place: "test-zone-a".into(),
        kind: IncidentType::Robbery,
        injuries: None,
        perpetrator: None,
        police_reported: false,
        crime_reference: None,
        share_police: police,
        share_national: national,
        support: None,
        person: None,
        encounter: None,
    })
    .unwrap()
    .id
}

#[test]
fn review_list_gathers_concerns_referrals_and_shareable_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = new_store(dir.path());
    s.set_user("test-lead").unwrap();
    start(&mut s);
    let night = night_of_now(&s);
    let c = concern(&mut s);
    let mut e = EncounterInput::new("test-zone-a");
    e.referrals.push(Referral {
        destination: ReferralDestination::SexualHealth,
        mode: ReferralMode::Signposted,
        consent: true,
        status: ReferralStatus::Offered,
    });
    let open = s.log_encounter(e).unwrap().id;
    let mut e = EncounterInput::new("test-zone-a");
    e.referrals.push(Referral {
        destination: ReferralDestination::Gp,
        mode: ReferralMode::Direct,
        consent: true,
        status: ReferralStatus::Attended,
    });
    s.log_encounter(e).unwrap();
    s.log_encounter(EncounterInput::new("test-zone-a")).unwrap();
    let shareable = incident(&mut s, ShareConsent::Anonymised, ShareConsent::Full);
    let private = incident(&mut s, ShareConsent::None, ShareConsent::None);

    let list = s.review_items(night).unwrap();
    assert!(list.clashes.is_empty());
    assert_eq!(list.concerns.len(), 1);
    assert_eq!(list.referrals.len(), 1);
    assert_eq!(list.referrals[0].encounter, open);
    assert_eq!(list.incidents.len(), 1);
    assert_eq!(list.incidents[0].id, shareable);
    assert_eq!(list.incidents[0].pending, vec![ShareRecipient::Police, ShareRecipient::National]);

    // Reviewing and sharing are recorded, audited changes queued for the hub.
    let outbox = s.outbox_len().unwrap();
    let reviewed = s.review_concern(&c, "Fake outcome: followed up with the team").unwrap();
    assert_eq!(reviewed.review.as_ref().unwrap().by, "test-lead");
    s.mark_incident_shared(&shareable, ShareRecipient::Police, None).unwrap();
    assert!(s.outbox_len().unwrap() > outbox);
    let list = s.review_items(night).unwrap();
    assert!(list.concerns.is_empty());
    assert_eq!(list.incidents[0].pending, vec![ShareRecipient::National]);
    s.mark_incident_shared(&shareable, ShareRecipient::National, None).unwrap();
    assert!(s.review_items(night).unwrap().incidents.is_empty());
    // Without consent, sharing needs a lawful basis.
    assert!(matches!(
        s.mark_incident_shared(&private, ShareRecipient::Police, None),
        Err(Error::Invalid { .. })
    ));
    s.mark_incident_shared(&private, ShareRecipient::Police, Some(LegalBasis::VitalInterests)).unwrap();
    let actions: Vec<String> = s.audit_log(50).unwrap().into_iter().map(|a| a.action).collect();
    assert!(actions.iter().any(|a| a == "concern.review"));
    assert_eq!(actions.iter().filter(|a| *a == "incident.share").count(), 3);
    // The projection still equals a rebuild from the documents.
    assert!(s.verify_projections().unwrap());
}

#[test]
fn settle_writes_the_chosen_value_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = new_store(dir.path());
    start(&mut s);
    let e = s.log_encounter(EncounterInput::new("test-zone-a")).unwrap().id;
    s.settle_clash("encounter", &e, &["zone".to_string()], serde_json::json!("test-zone-b")).unwrap();
    assert_eq!(s.get_encounter(&e).unwrap().input.zone, "test-zone-b");
    s.settle_clash("encounter", &e, &["consent".to_string(), "record".to_string()], serde_json::json!(true)).unwrap();
    assert!(s.get_encounter(&e).unwrap().input.consent.record);
    assert!(s.audit_log(10).unwrap().iter().any(|a| a.action == "clash.settle"));
    // Settling never adds a field, and says so.
    assert!(matches!(
        s.settle_clash("encounter", &e, &["no_such_field".to_string()], serde_json::json!(1)),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(s.settle_clash("spaceship", &e, &["zone".to_string()], serde_json::json!(1)), Err(Error::Invalid { .. })));
    assert!(s.verify_projections().unwrap());
}
