//! Retention end to end (issue 6, done-when 2): a purge under a short retention policy removes
//! what it should and nothing else, on the devices and the hub, and report counts do not move.
//!
//! A lead and a van share an in-process hub on a SQLite file. The van logs shifts spread over
//! about four months (encounters with services and referrals, people, a concern and an
//! incident in each); the lead logs a few too. Everyone syncs; the lead takes its unsuppressed
//! and suppressed reports over the whole range; sets a short policy (detail 60 days, window
//! 14); purges; everyone syncs. Then: every shift document older than 60 days is gone from the
//! lead, the van and the hub's database; every newer one is intact; the lead still holds every
//! person; both reports are identical; the van holds only its 14-day window; a change not yet
//! pushed was never dropped; and data pulled later does not bring a dropped document back.
//! All names and contents are obviously fake.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use outreach_core::retention::RetentionPolicy;
use outreach_core::sync::{CancelToken, Role};
use outreach_core::*;
use outreach_tests::hubsim::{InProcHub, HUB_URL, SETUP_CODE};

const ZONES: &[&str] = &["TEST-ZONE-north", "TEST-ZONE-south"];

fn no_progress(_: SyncProgress) {}

fn sync(s: &mut Store, hub: &InProcHub) {
    s.sync(hub, &no_progress, &CancelToken::new())
        .expect("clean sync");
}

/// One ended shift `days_ago`: a few encounters (services, a referral, the given people), a
/// safeguarding concern and an incident.
fn shift(s: &mut Store, now: DateTime<Utc>, days_ago: i64, van: &str, people: &[&str]) {
    let t = now - Duration::days(days_ago) - Duration::hours(2);
    let zone = ZONES[(days_ago % 2) as usize];
    s.start_shift(ShiftStart {
        van: van.into(),
        crew: vec!["staff-test-a".into()],
        zones: vec![zone.into()],
        at: Some(t),
    })
    .unwrap();
    for (i, p) in people.iter().enumerate() {
        let mut e = EncounterInput::new(zone);
        e.at = Some(t + Duration::minutes(10 + i as i64));
        e.person = Some(p.to_string());
        e.services.insert(Service::Condoms, 10 + i as u32);
        e.services.insert(Service::HotDrink, 1);
        if i == 0 {
            e.referrals.push(Referral {
                destination: ReferralDestination::SexualHealth,
                mode: ReferralMode::Signposted,
                consent: true,
                status: ReferralStatus::Offered,
            });
        }
        e.note = Some(format!("TEST note {days_ago}-{i}"));
        s.log_encounter(e).unwrap();
    }
    let mut anon = EncounterInput::new(zone);
    anon.at = Some(t + Duration::minutes(40));
    anon.setting = Setting::Indoor;
    anon.services.insert(Service::Lube, 3);
    s.log_encounter(anon).unwrap();
    s.record_concern_at(
        ConcernInput {
            category: if days_ago % 3 == 0 {
                ConcernCategory::Exploitation
            } else {
                ConcernCategory::AdultAtRisk
            },
            indicators: vec![Indicator::Fearful],
            encounter: None,
            person: Some(people[0].to_string()),
            consent: Consent::Given,
            action: "TEST action".into(),
            shared_without_consent: false,
            legal_basis: None,
        },
        Some(t + Duration::minutes(15)),
    )
    .unwrap();
    let inc = s
        .record_incident(IncidentInput {
            when: t + Duration::minutes(20),
            place: "TEST place".into(),
            kind: if days_ago % 2 == 0 {
                IncidentType::Robbery
            } else {
                IncidentType::Threats
            },
            injuries: None,
            perpetrator: Some("TEST perpetrator".into()),
            police_reported: days_ago % 4 == 0,
            crime_reference: None,
            share_police: ShareConsent::Anonymised,
            share_national: ShareConsent::Full,
            support: None,
            person: Some(people[0].to_string()),
            encounter: None,
        })
        .unwrap();
    // Shares are logged by a lead; the report counts incidents shared with each recipient.
    if s.sync_role().unwrap() == Role::Lead {
        s.share_incident(&inc.id, ShareRecipient::National, None)
            .unwrap();
    }
    s.end_shift_at(Some(t + Duration::hours(3))).unwrap();
}

/// Shift documents held, with their nights (`None`: held, but reduced by an archive).
fn shifts_held(s: &Store) -> Vec<(String, Option<NaiveDate>)> {
    s.held_docs()
        .unwrap()
        .into_iter()
        .filter(|d| d.kind == "shift")
        .map(|d| (d.doc_id, d.night))
        .collect()
}

fn kinds_held(s: &Store, kind: &str) -> BTreeSet<String> {
    s.held_docs()
        .unwrap()
        .into_iter()
        .filter(|d| d.kind == kind)
        .map(|d| d.doc_id)
        .collect()
}

/// Items the hub's SQLite database holds for a document (chunks and wrapped keys).
fn hub_items(hub_db: &std::path::Path, doc_id: &str) -> i64 {
    let conn = rusqlite::Connection::open(hub_db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM items WHERE doc_id = ?1",
        [hex::decode(doc_id).unwrap()],
        |r| r.get(0),
    )
    .unwrap()
}

fn sections(r: &Report) -> String {
    // Everything but the generation time.
    serde_json::to_string(&r.sections).unwrap()
}

#[test]
fn a_short_policy_purges_old_detail_everywhere_and_keeps_every_count() {
    let tmp = tempfile::tempdir().unwrap();
    let hub_db = tmp.path().join("hub.db");
    let hub = InProcHub::sqlite(&hub_db);
    let opts = StoreOptions::default();
    let now = Utc::now();

    let mut lead = Store::create(
        &tmp.path().join("lead"),
        Unlock::Key(StoreKey::generate()),
        TeamSetup::new("TEST Team", ZONES),
        &opts,
    )
    .unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead laptop")
        .unwrap();
    let code = lead.create_invite(&hub, Role::Member, 3_600_000).unwrap();
    let mut van = Store::create_from_invite(
        &tmp.path().join("van"),
        Unlock::Key(StoreKey::generate()),
        &code,
        "TEST van phone",
        &hub,
        &opts,
    )
    .unwrap();
    sync(&mut lead, &hub);
    sync(&mut van, &hub);

    // People: one seen throughout, one only long ago, one only recently.
    let steady = lead
        .add_person(PersonInput::new("Fakey Moonbeam"))
        .unwrap()
        .id;
    let old_only = lead
        .add_person(PersonInput::new("Fakey Stardust"))
        .unwrap()
        .id;
    let recent_only = lead
        .add_person(PersonInput::new("Fakey Nebula"))
        .unwrap()
        .id;
    sync(&mut lead, &hub);
    sync(&mut van, &hub);

    // About four months of nights. The van's window (default 14 days) drops its older shifts
    // after each sync, once they are on the hub.
    for d in [120, 104, 90, 76, 63, 58, 44, 30, 21, 13, 6, 2] {
        let who: Vec<&str> = if d > 80 {
            vec![&steady, &old_only]
        } else if d < 10 {
            vec![&steady, &recent_only]
        } else {
            vec![&steady]
        };
        shift(&mut van, now, d, "TEST van 1", &who);
    }
    for d in [97, 40, 4] {
        shift(&mut lead, now, d, "TEST lead car", &[&steady]);
    }
    // Not dropped while unpushed: the van's window runs before its first push of these.
    let w = van.apply_device_window(now).unwrap();
    assert_eq!(
        w.shifts, 0,
        "nothing older than the window has reached the hub yet"
    );
    assert_eq!(
        w.kept_unpushed, 9,
        "the nine shifts older than 14 days wait in the outbox: {w:?}"
    );
    assert_eq!(shifts_held(&van).len(), 12);
    sync(&mut van, &hub);
    sync(&mut lead, &hub);
    sync(&mut van, &hub);

    let all_shifts: Vec<(String, NaiveDate)> = shifts_held(&lead)
        .into_iter()
        .map(|(d, n)| (d, n.expect("every shift is projected before the purge")))
        .collect();
    assert_eq!(all_shifts.len(), 15, "the lead holds every shift");

    // The lead's figures before the purge.
    let from = now.date_naive() - Duration::days(130);
    let to = now.date_naive();
    let ro = ReportOptions::default();
    let raw_before = lead.report_unsuppressed(from, to, &ro).unwrap();
    let pub_before = lead.report(from, to, &ro).unwrap();
    let contacts: u64 = raw_before.sections[0]
        .table
        .cells
        .iter()
        .flatten()
        .filter_map(|c| c.value())
        .sum::<u64>();
    assert!(contacts > 30, "the report counts the contacts ({contacts})");

    // A short policy, set by the lead, reaches the van.
    let policy = RetentionPolicy {
        detail_days: 60,
        device_window_days: 14,
        alert_review_days: 30,
    };
    lead.set_retention(policy).unwrap();
    sync(&mut lead, &hub);
    sync(&mut van, &hub);
    assert_eq!(van.retention_policy(), policy);

    // Pulled again later, a dropped document does not come back: the lead edits the profile
    // the van's window dropped, and the van syncs (before the purge, which destroys it).
    let mut edit = lead.person_for_edit(&old_only).unwrap().input;
    edit.age_band = AgeBand::A25;
    lead.edit_person(&old_only, edit).unwrap();
    sync(&mut lead, &hub);
    sync(&mut van, &hub);
    assert!(
        van.view_person(&old_only).is_err(),
        "the dropped profile came back to the van"
    );

    let plan = lead.purge_plan(now).unwrap();
    let cutoff = plan.cutoff.unwrap();
    let (old, new): (Vec<_>, Vec<_>) = all_shifts.iter().cloned().partition(|(_, n)| *n < cutoff);
    assert_eq!(
        old.len(),
        6,
        "shifts of 120, 104, 97, 90, 76 and 63 days ago: {old:?}"
    );
    assert_eq!(plan.shift_docs.len(), old.len());
    for (d, _) in &old {
        assert!(
            hub_items(&hub_db, d) > 0,
            "the hub holds the old shift before the purge"
        );
    }

    let out = lead.purge(&hub, now).unwrap();
    sync(&mut van, &hub);
    sync(&mut lead, &hub);
    // The same figures, raw and published.
    let raw_after = lead.report_unsuppressed(from, to, &ro).unwrap();
    let pub_after = lead.report(from, to, &ro).unwrap();
    assert_eq!(
        sections(&raw_after),
        sections(&raw_before),
        "unsuppressed figures moved"
    );
    assert_eq!(
        sections(&pub_after),
        sections(&pub_before),
        "published figures moved"
    );
    assert!(lead.verify_projections().unwrap());

    // Gone everywhere: lead, van, hub.
    let lead_now: BTreeSet<String> = shifts_held(&lead).into_iter().map(|s| s.0).collect();
    let van_now = shifts_held(&van);
    for (d, n) in &old {
        assert!(!lead_now.contains(d), "lead still holds the shift of {n}");
        assert!(
            lead.doc_storage(d).is_err(),
            "lead still stores the shift of {n}"
        );
        assert!(
            van.doc_storage(d).is_err(),
            "van still stores the shift of {n}"
        );
        assert_eq!(
            hub_items(&hub_db, d),
            0,
            "the hub still holds items of the shift of {n}"
        );
    }
    // Nothing else: every newer shift intact on the lead and the hub.
    for (d, n) in &new {
        assert!(lead_now.contains(d), "lead lost the shift of {n}");
        assert!(hub_items(&hub_db, d) > 0, "the hub lost the shift of {n}");
    }
    assert_eq!(lead_now.len(), new.len());
    assert_eq!(out.shredded, old.len() as u64 + 1, "the old shifts and the stale profile");
    assert_eq!(out.archives.len(), 1);
    // The archive stands in for the old shifts on the lead (and is on the hub); the van
    // does not keep it.
    assert!(kinds_held(&lead, "archive").contains(&out.archives[0]));
    assert!(hub_items(&hub_db, &out.archives[0]) > 0);
    assert!(
        kinds_held(&van, "archive").is_empty(),
        "members drop archives"
    );
    // People: those seen since the cutoff intact on the lead; the profile last seen before it
    // (120, 104 and 90 days ago) destroyed on the lead and the hub, yet still counted above.
    for p in [&steady, &recent_only] {
        lead.view_person(p).unwrap();
    }
    assert_eq!(plan.people_docs.len(), 1, "only the profile not seen for 60 days: {:?}", plan.people_docs);
    assert!(lead.view_person(&old_only).is_err(), "the stale profile is gone from the lead");
    assert_eq!(hub_items(&hub_db, &plan.people_docs[0]), 0, "and from the hub");
    assert!(kinds_held(&lead, "person").len() == 2);
    assert!(van
        .held_docs()
        .unwrap()
        .iter()
        .all(|d| !old.iter().any(|(o, _)| o == &d.doc_id)));

    // The van holds only its window: shifts of the last 14 nights, people seen in them.
    let van_cutoff = plan.today.unwrap() - Duration::days(14);
    assert!(!van_now.is_empty());
    for (_, n) in &van_now {
        assert!(
            n.is_some_and(|n| n >= van_cutoff),
            "the van holds a shift of {n:?}, before its window ({van_cutoff})"
        );
    }
    let expected_van: BTreeSet<String> = new
        .iter()
        .filter(|(_, n)| *n >= van_cutoff)
        .map(|s| s.0.clone())
        .collect();
    assert_eq!(
        van_now.iter().map(|s| s.0.clone()).collect::<BTreeSet<_>>(),
        expected_van
    );
    assert!(van.view_person(&steady).is_ok() && van.view_person(&recent_only).is_ok());
    assert!(
        van.view_person(&old_only).is_err(),
        "a person not seen in the window stays on the van"
    );

    // A second purge finds nothing more to do.
    let again = lead.purge_plan(now).unwrap();
    assert!(
        again.shift_docs.is_empty() && again.already_reduced.is_empty() && again.people_docs.is_empty(),
        "{again:?}"
    );
}

/// A second lead device receives the archive before the shred order (the purge stopped after
/// its archive): the shift and its archive are both held, yet every figure is counted once,
/// the projections equal a rebuild, and the later shred changes no figure either.
#[test]
fn a_second_lead_counts_once_while_it_holds_both_a_shift_and_its_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = InProcHub::sqlite(&tmp.path().join("hub.db"));
    let opts = StoreOptions::default();
    let now = Utc::now();
    let mut lead = Store::create(
        &tmp.path().join("lead"),
        Unlock::Key(StoreKey::generate()),
        TeamSetup::new("TEST Team", ZONES),
        &opts,
    )
    .unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead laptop")
        .unwrap();
    let code = lead.create_invite(&hub, Role::Lead, 3_600_000).unwrap();
    let mut lead2 = Store::create_from_invite(
        &tmp.path().join("lead2"),
        Unlock::Key(StoreKey::generate()),
        &code,
        "TEST second lead laptop",
        &hub,
        &opts,
    )
    .unwrap();
    sync(&mut lead, &hub);
    sync(&mut lead2, &hub);
    let p = lead.add_person(PersonInput::new("Fakey Comet")).unwrap().id;
    for d in [100, 70, 20] {
        shift(&mut lead, now, d, "TEST lead car", &[&p]);
    }
    lead.set_retention(RetentionPolicy {
        detail_days: 60,
        device_window_days: 14,
        alert_review_days: 30,
    })
    .unwrap();
    sync(&mut lead, &hub);
    sync(&mut lead2, &hub);
    let (from, to) = (now.date_naive() - Duration::days(120), now.date_naive());
    let ro = ReportOptions::default();
    let before = sections(&lead2.report_unsuppressed(from, to, &ro).unwrap());
    assert_eq!(shifts_held(&lead2).len(), 3);

    // The first lead reduces (archive pushed) but does not shred yet.
    let (plan, archives) = lead.reduce_for_retention(now).unwrap();
    assert_eq!((plan.shift_docs.len(), archives.len()), (2, 1));
    sync(&mut lead, &hub);
    sync(&mut lead2, &hub);
    let held = shifts_held(&lead2);
    assert_eq!(held.len(), 3, "the second lead still holds every shift");
    assert_eq!(
        held.iter().filter(|(_, n)| n.is_none()).count(),
        2,
        "two of them reduced by the archive: {held:?}"
    );
    assert!(kinds_held(&lead2, "archive").contains(&archives[0]));
    assert_eq!(
        sections(&lead2.report_unsuppressed(from, to, &ro).unwrap()),
        before,
        "shift and archive both held: counted once"
    );
    assert!(lead2.verify_projections().unwrap());

    // The purge finishes: the held, reduced shifts are shredded without a second archive.
    let out = lead.purge(&hub, now).unwrap();
    assert!(out.archives.is_empty());
    assert_eq!(out.shredded, 2);
    sync(&mut lead2, &hub);
    assert_eq!(shifts_held(&lead2).len(), 1);
    assert_eq!(
        sections(&lead2.report_unsuppressed(from, to, &ro).unwrap()),
        before
    );
    assert!(lead2.verify_projections().unwrap());
}

/// Alerts are never deleted by retention: past their review period they come up for the lead,
/// who keeps one (its next review date moves, synced) or withdraws it (crypto-shredded on every
/// device and the hub, so its identifiers stop matching on the van too). Members cannot decide.
#[test]
fn an_alert_due_for_review_is_kept_or_withdrawn_by_a_lead_only() {
    let tmp = tempfile::tempdir().unwrap();
    let hub_db = tmp.path().join("hub.db");
    let hub = InProcHub::sqlite(&hub_db);
    let opts = StoreOptions::default();
    let now = Utc::now();
    let mut lead =
        Store::create(&tmp.path().join("lead"), Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Team", ZONES), &opts)
            .unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead laptop").unwrap();
    let code = lead.create_invite(&hub, Role::Member, 3_600_000).unwrap();
    let mut van =
        Store::create_from_invite(&tmp.path().join("van"), Unlock::Key(StoreKey::generate()), &code, "TEST van phone", &hub, &opts)
            .unwrap();
    lead.set_retention(RetentionPolicy { alert_review_days: 7, ..RetentionPolicy::default() }).unwrap();
    let alert = |description: &str, plate: &str| AlertInput {
        description: description.into(),
        plates: vec![plate.into()],
        phones: vec![],
        emails: vec![],
        usernames: vec![],
        area: Some(ZONES[0].into()),
        risk: Risk::High,
        from: None,
        review: None,
    };
    let kept = lead.add_alert(alert("TEST alert: fake grey van", "AB12 CDE")).unwrap().id;
    let gone = lead.add_alert(alert("TEST alert: fake red car", "XY34 ZZZ")).unwrap().id;
    sync(&mut lead, &hub);
    sync(&mut van, &hub);
    assert_eq!(van.check_alert(IdentifierKind::Plate, "xy34zzz").unwrap().len(), 1);

    // Not due yet; due once the 7-day period has passed.
    assert!(lead.alerts_due_for_review(now).unwrap().is_empty());
    let due: BTreeSet<String> = lead.alerts_due_for_review(now + Duration::days(8)).unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(due, BTreeSet::from([kept.clone(), gone.clone()]));

    // A member decides nothing.
    let until = (now + Duration::days(30)).date_naive();
    assert!(matches!(van.keep_alert(&kept, until), Err(Error::State(_))));
    assert!(matches!(van.withdraw_alert(&hub, &gone), Err(Error::State(_))));
    // A review date in the past is refused, nothing written.
    assert!(matches!(lead.keep_alert(&kept, now.date_naive()), Err(Error::Invalid { .. })));

    // Keep: due again only after the new date, on the van too once synced.
    let k = lead.keep_alert(&kept, until).unwrap();
    assert_eq!(k.input.review, Some(until));
    sync(&mut lead, &hub);
    sync(&mut van, &hub);
    let due_at = |s: &Store, days: i64| -> Vec<String> {
        s.alerts_due_for_review(now + Duration::days(days)).unwrap().into_iter().map(|a| a.id).collect()
    };
    assert_eq!(due_at(&lead, 8), vec![gone.clone()]);
    assert_eq!(due_at(&van, 8), vec![gone.clone()]);
    assert!(due_at(&lead, 31).contains(&kept));

    // Withdraw: gone from the lead, the van (after its sync) and the hub's database.
    let before_docs = kinds_held(&lead, "alert");
    lead.withdraw_alert(&hub, &gone).unwrap();
    let after_docs = kinds_held(&lead, "alert");
    let removed: Vec<_> = before_docs.difference(&after_docs).cloned().collect();
    assert_eq!(removed.len(), 1, "exactly the withdrawn alert's document goes");
    assert_eq!(hub_items(&hub_db, &removed[0]), 0, "the hub holds nothing of it");
    for d in &after_docs {
        assert!(hub_items(&hub_db, d) > 0, "the kept alert stays on the hub");
    }
    sync(&mut van, &hub);
    assert!(van.check_alert(IdentifierKind::Plate, "xy34zzz").unwrap().is_empty(), "withdrawn everywhere");
    assert_eq!(van.check_alert(IdentifierKind::Plate, "ab12cde").unwrap().len(), 1, "the kept alert still matches");
    assert!(!kinds_held(&van, "alert").contains(&removed[0]));
    assert_eq!(lead.list_alerts().unwrap().iter().map(|a| a.id.clone()).collect::<Vec<_>>(), vec![kept.clone()]);
}
