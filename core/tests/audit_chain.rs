//! The audit log is hash-chained and signed: editing any field of an entry, deleting an entry
//! (in the middle, or the last one once it is in the synced copy) and swapping two entries are
//! each detected; an untampered log verifies; the filters return the right entries; views,
//! listings, searches, reports, exports and shares are audited.
//!
//! Tampering is done the way an insider with the store key would: a second SQLCipher
//! connection to the same file, plain UPDATE and DELETE. All data is obviously fake.

use std::path::{Path, PathBuf};

use outreach_core::audit::{AuditFilter, AuditProblem, AuditProblemKind, AuditVerification};
use outreach_core::report::ExportEntity;
use outreach_core::*;
use rusqlite::Connection;

const ZONES: &[&str] = &["test-zone-north", "test-zone-south"];

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    raw: [u8; 32],
    store: Store,
}

fn fixture(tag: u8) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut raw = [0u8; 32];
    raw[0] = 0xA0 | tag;
    raw[31] = 7;
    let mut store = Store::create(
        &dir,
        Unlock::Key(StoreKey::from_bytes(raw)),
        TeamSetup::new("TEST Team", ZONES),
        &StoreOptions::default(),
    )
    .unwrap();
    store.set_user("staff-test").unwrap();
    Fixture {
        _tmp: tmp,
        dir,
        raw,
        store,
    }
}

/// A raw SQLCipher connection to the store's database, as a tamperer with the key would open.
fn raw_conn(dir: &Path, raw: &[u8; 32]) -> Connection {
    let c = Connection::open(dir.join("outreach.db")).unwrap();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    c.pragma_update(None, "key", format!("x'{hex}'")).unwrap();
    c.execute_batch("PRAGMA busy_timeout = 5000;").unwrap();
    c
}

fn shift(s: &mut Store) {
    s.start_shift(ShiftStart {
        van: "TEST Van".into(),
        crew: vec!["staff-test".into()],
        zones: vec![ZONES[0].into()],
        at: None,
    })
    .unwrap();
}

/// Some ordinary activity: 10+ entries of different kinds.
fn activity(s: &mut Store) -> String {
    let p = s.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
    s.view_person(&p.id).unwrap();
    shift(s);
    for i in 0..4 {
        let mut e = EncounterInput::new(ZONES[i % 2]);
        if i == 1 {
            e.person = Some(p.id.clone());
        }
        s.log_encounter(e).unwrap();
    }
    s.view_person(&p.id).unwrap();
    s.code_names(std::slice::from_ref(&p.id)).unwrap();
    p.id
}

fn own(v: &AuditVerification) -> &outreach_core::audit::DeviceAuditCheck {
    v.devices
        .iter()
        .find(|d| d.own)
        .expect("own device checked")
}

fn chained(c: &Connection, device: &str) -> i64 {
    c.query_row(
        "SELECT count(*) FROM audit WHERE device = ?1 AND dseq IS NOT NULL",
        [device],
        |r| r.get(0),
    )
    .unwrap()
}

fn problem(kind: AuditProblemKind, seq: u64) -> Option<AuditProblem> {
    Some(AuditProblem { kind, seq })
}

#[test]
fn an_untampered_log_verifies() {
    let mut f = fixture(1);
    activity(&mut f.store);
    let c = raw_conn(&f.dir, &f.raw);
    let n = chained(&c, f.store.device_id()) as u64;
    assert!(n >= 10, "{n}");
    let v = f.store.verify_audit().unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.devices.len(), 1);
    assert_eq!(own(&v).checked, n);
    assert_eq!(v.entries(), n);
    assert_eq!(v.pre_chain, 0);
    // Sequence numbers run 1..=n with each entry chained to the one before it.
    let seqs: Vec<i64> = c
        .prepare("SELECT dseq FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(seqs, (1..=n as i64).collect::<Vec<_>>());
    let links: i64 = c
        .query_row(
            "SELECT count(*) FROM audit a JOIN audit b ON b.device = a.device AND b.dseq = a.dseq + 1 WHERE b.prev_hash = a.hash",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(links as u64, n - 1);
    // Still verifies after a reopen (the signing key is loaded again from the identity).
    drop(c);
    let key = StoreKey::from_bytes(f.raw);
    drop(f.store);
    let mut s = Store::open(&f.dir, Unlock::Key(key)).unwrap();
    s.log_encounter(EncounterInput::new(ZONES[0])).unwrap();
    let v = s.verify_audit().unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.entries(), n + 1);
}

#[test]
fn editing_any_field_of_an_entry_is_detected() {
    let mut f = fixture(2);
    activity(&mut f.store);
    let c = raw_conn(&f.dir, &f.raw);
    let k = 5i64; // an entry in the middle
    let edits: &[(&str, &str, AuditProblemKind)] = &[
        (
            "at",
            "'2026-01-01T00:00:00+00:00'",
            AuditProblemKind::Edited,
        ),
        ("actor", "'someone-else'", AuditProblemKind::Edited),
        ("action", "'person.view'", AuditProblemKind::Edited),
        ("entity", "'alert'", AuditProblemKind::Edited),
        (
            "entity_id",
            "'00000000-0000-4000-8000-000000000000'",
            AuditProblemKind::Edited,
        ),
        ("entity_id", "NULL", AuditProblemKind::Edited),
        ("prev_hash", "zeroblob(32)", AuditProblemKind::Edited),
        ("hash", "zeroblob(32)", AuditProblemKind::Edited),
        ("hash", "x'00'", AuditProblemKind::Edited),
        ("sig", "zeroblob(64)", AuditProblemKind::BadSignature),
        ("dseq", "1000", AuditProblemKind::Missing),
    ];
    for (col, value, kind) in edits {
        let orig: rusqlite::types::Value = c
            .query_row(
                &format!("SELECT {col} FROM audit WHERE dseq = ?1"),
                [k],
                |r| r.get(0),
            )
            .unwrap();
        let target = if *col == "dseq" { 1000 } else { k };
        c.execute(
            &format!("UPDATE audit SET {col} = {value} WHERE dseq = ?1"),
            [k],
        )
        .unwrap();
        let v = f.store.verify_audit().unwrap();
        assert_eq!(
            own(&v).problem,
            problem(*kind, k as u64),
            "edit of {col} to {value}: {v:?}"
        );
        assert_eq!(own(&v).checked, k as u64 - 1);
        c.execute(
            &format!("UPDATE audit SET {col} = ?1 WHERE dseq = ?2"),
            rusqlite::params![orig, target],
        )
        .unwrap();
        assert!(
            f.store.verify_audit().unwrap().is_ok(),
            "restoring {col} makes the log verify again"
        );
    }
    // The device column: the entry leaves this device's chain (a gap) and shows up under a
    // device nobody knows.
    c.execute(
        "UPDATE audit SET device = ?1 WHERE dseq = ?2",
        rusqlite::params!["ab".repeat(16), k],
    )
    .unwrap();
    let v = f.store.verify_audit().unwrap();
    assert_eq!(
        own(&v).problem,
        problem(AuditProblemKind::Missing, k as u64)
    );
    let other = v.devices.iter().find(|d| !d.own).unwrap();
    assert_eq!(
        other.problem.map(|p| p.kind),
        Some(AuditProblemKind::Missing),
        "a chain that starts at {k}, not 1"
    );
    c.execute(
        "UPDATE audit SET device = ?1 WHERE dseq = ?2",
        rusqlite::params![f.store.device_id(), k],
    )
    .unwrap();
    assert!(f.store.verify_audit().unwrap().is_ok());
}

#[test]
fn an_edit_rehashed_without_the_device_key_fails_its_signature() {
    let mut f = fixture(3);
    activity(&mut f.store);
    let c = raw_conn(&f.dir, &f.raw);
    let k = 4u64;
    let (prev, at, actor, entity, entity_id): (Vec<u8>, String, String, String, Option<String>) = c
        .query_row(
            "SELECT prev_hash, at, actor, entity, entity_id FROM audit WHERE dseq = ?1",
            [k as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    // The tamperer recomputes the hash correctly for the new action...
    let prev: [u8; 32] = prev.try_into().unwrap();
    let h = outreach_core::audit::entry_hash(
        f.store.device_id(),
        k,
        &prev,
        &at,
        &actor,
        "alert.view",
        &entity,
        entity_id.as_deref(),
    );
    c.execute(
        "UPDATE audit SET action = 'alert.view', hash = ?1 WHERE dseq = ?2",
        rusqlite::params![&h[..], k as i64],
    )
    .unwrap();
    let v = f.store.verify_audit().unwrap();
    // ...but cannot sign it (and the next entry no longer chains to it either).
    assert_eq!(own(&v).problem, problem(AuditProblemKind::BadSignature, k));
}

#[test]
fn deleting_an_entry_in_the_middle_is_detected() {
    let mut f = fixture(4);
    activity(&mut f.store);
    let c = raw_conn(&f.dir, &f.raw);
    c.execute("DELETE FROM audit WHERE dseq = 6", []).unwrap();
    let v = f.store.verify_audit().unwrap();
    assert_eq!(own(&v).problem, problem(AuditProblemKind::Missing, 6));
    assert_eq!(own(&v).checked, 5);
    // The first entry too.
    c.execute("DELETE FROM audit WHERE dseq = 1", []).unwrap();
    assert_eq!(
        own(&f.store.verify_audit().unwrap()).problem,
        problem(AuditProblemKind::Missing, 1)
    );
}

#[test]
fn deleting_the_last_entry_is_detected_once_it_is_in_the_synced_copy() {
    let mut f = fixture(5);
    activity(&mut f.store);
    let c = raw_conn(&f.dir, &f.raw);
    let n = chained(&c, f.store.device_id());

    // The limit, stated honestly: an entry that has not reached the synced copy yet can be cut
    // off the end of the local table by someone holding the store key, and the local table
    // alone cannot tell (nothing after it points back to it).
    f.store.view_person(&activity_person(&c)).unwrap();
    c.execute("DELETE FROM audit WHERE dseq = ?1", [n + 1])
        .unwrap();
    assert!(
        f.store.verify_audit().unwrap().is_ok(),
        "an unsynced tail cut is not detectable locally"
    );

    // Once the entries are in the device's audit document (every sync starts with this), the
    // same cut is detected on this device, and on a lead holding the copy (tests/audit_sync.rs).
    let appended = outreach_core::testing::append_audit_doc(&mut f.store).unwrap();
    assert_eq!(appended as i64, n);
    assert_eq!(
        outreach_core::testing::append_audit_doc(&mut f.store).unwrap(),
        0,
        "nothing new, no change"
    );
    c.execute("DELETE FROM audit WHERE dseq = ?1", [n]).unwrap();
    let v = f.store.verify_audit().unwrap();
    assert_eq!(
        own(&v).problem,
        problem(AuditProblemKind::Missing, n as u64),
        "{v:?}"
    );

    // Writing on after the cut reuses the number: the new entry differs from the synced copy.
    f.store
        .log_encounter(EncounterInput::new(ZONES[1]))
        .unwrap();
    let v = f.store.verify_audit().unwrap();
    assert_eq!(
        own(&v).problem,
        problem(AuditProblemKind::Edited, n as u64),
        "{v:?}"
    );
}

fn activity_person(c: &Connection) -> String {
    c.query_row("SELECT id FROM people LIMIT 1", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn swapping_two_entries_is_detected() {
    let mut f = fixture(6);
    activity(&mut f.store);
    let c = raw_conn(&f.dir, &f.raw);
    // 1. Swap the stored order (row numbers) of entries 3 and 4.
    let (r3, r4): (i64, i64) = c
        .query_row(
            "SELECT (SELECT seq FROM audit WHERE dseq = 3), (SELECT seq FROM audit WHERE dseq = 4)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    c.execute_batch(&format!(
        "UPDATE audit SET seq = -1 WHERE seq = {r3}; UPDATE audit SET seq = {r3} WHERE seq = {r4}; UPDATE audit SET seq = {r4} WHERE seq = -1;"
    ))
    .unwrap();
    let v = f.store.verify_audit().unwrap();
    assert_eq!(
        own(&v).problem,
        problem(AuditProblemKind::Reordered, 3),
        "{v:?}"
    );
    c.execute_batch(&format!(
        "UPDATE audit SET seq = -1 WHERE seq = {r3}; UPDATE audit SET seq = {r3} WHERE seq = {r4}; UPDATE audit SET seq = {r4} WHERE seq = -1;"
    ))
    .unwrap();
    assert!(f.store.verify_audit().unwrap().is_ok());

    // 2. Swap their sequence numbers instead.
    c.execute_batch(
        "UPDATE audit SET dseq = -1 WHERE dseq = 3; UPDATE audit SET dseq = 3 WHERE dseq = 4; UPDATE audit SET dseq = 4 WHERE dseq = -1;",
    )
    .unwrap();
    assert_eq!(
        own(&f.store.verify_audit().unwrap()).problem,
        problem(AuditProblemKind::Reordered, 3)
    );
    c.execute_batch(
        "UPDATE audit SET dseq = -1 WHERE dseq = 3; UPDATE audit SET dseq = 3 WHERE dseq = 4; UPDATE audit SET dseq = 4 WHERE dseq = -1;",
    )
    .unwrap();
    assert!(f.store.verify_audit().unwrap().is_ok());

    // 3. Swap their contents (what happened, and when), keeping numbers and hashes in place.
    c.execute_batch(
        "CREATE TEMP TABLE t AS SELECT dseq, at, action, entity, entity_id FROM audit WHERE dseq IN (7, 8);
         UPDATE audit SET at = (SELECT at FROM t WHERE t.dseq = 15 - audit.dseq),
                          action = (SELECT action FROM t WHERE t.dseq = 15 - audit.dseq),
                          entity = (SELECT entity FROM t WHERE t.dseq = 15 - audit.dseq),
                          entity_id = (SELECT entity_id FROM t WHERE t.dseq = 15 - audit.dseq)
         WHERE dseq IN (7, 8);",
    )
    .unwrap();
    let v = f.store.verify_audit().unwrap();
    assert_eq!(
        own(&v).problem,
        problem(AuditProblemKind::Edited, 7),
        "{v:?}"
    );
}

#[test]
fn a_row_slipped_in_without_a_chain_is_detected() {
    let mut f = fixture(7);
    activity(&mut f.store);
    let c = raw_conn(&f.dir, &f.raw);
    c.execute(
        "INSERT INTO audit (at, device, actor, action, entity, entity_id) VALUES ('2026-01-01T00:00:00+00:00', ?1, 'staff-test', 'person.view', 'person', NULL)",
        [f.store.device_id()],
    )
    .unwrap();
    let local: i64 = c
        .query_row("SELECT max(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    let v = f.store.verify_audit().unwrap();
    assert_eq!(
        own(&v).problem,
        problem(AuditProblemKind::Unchained, local as u64),
        "{v:?}"
    );
    assert_eq!(v.pre_chain, 0, "not counted as pre-chain history");
}

#[test]
fn entries_refuse_names_and_free_text() {
    let f = fixture(8);
    let err = f
        .store
        .audit_export("people", Some("Fakey Moonbeam"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "audit.entity_id",
                ..
            }
        ),
        "{err:?}"
    );
    let err = f
        .store
        .audit_export("people", Some("note:asked about the clinic"))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    f.store
        .audit_export("people", Some("2026-01-01..2026-01-31"))
        .unwrap();
    // Nothing in the log names a person: only ids.
    let c = raw_conn(&f.dir, &f.raw);
    let names: i64 = c
        .query_row(
            "SELECT count(*) FROM audit WHERE entity_id LIKE '%Fakey%' OR actor LIKE '%Fakey%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(names, 0);
}

#[test]
fn views_listings_searches_reports_exports_and_shares_are_audited() {
    let mut f = fixture(9);
    let s = &mut f.store;
    let p = s.add_person(PersonInput::new("Testy McTestface")).unwrap();
    shift(s);
    let actions = |s: &Store| -> Vec<String> {
        s.audit_log(200)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    };
    let last = |s: &Store| s.audit_log(1).unwrap().remove(0);

    s.view_person(&p.id).unwrap();
    assert_eq!(
        (last(s).action, last(s).entity_id),
        ("person.view".to_string(), Some(p.id.clone()))
    );
    s.code_names(std::slice::from_ref(&p.id)).unwrap();
    assert_eq!(
        (last(s).action, last(s).entity_id),
        ("person.list".to_string(), None)
    );
    assert!(!s.find_people("testy mctestface", 5).unwrap().is_empty());
    assert_eq!(
        (last(s).action, last(s).entity_id),
        ("person.search".to_string(), None),
        "searched, never with the query"
    );
    let n = actions(s).len();
    assert!(s.find_people("zzzz nobody", 5).unwrap().is_empty());
    assert_eq!(
        actions(s).len(),
        n,
        "a search that shows nobody shows no code name"
    );

    let night = s.current_shift().unwrap().unwrap().night;
    s.report_unsuppressed(night, night, &ReportOptions::default())
        .unwrap();
    assert_eq!(
        (last(s).action, last(s).entity_id),
        (
            "report.view_unsuppressed".to_string(),
            Some(format!("{night}..{night}"))
        )
    );
    s.report(night, night, &ReportOptions::default()).unwrap();
    assert_eq!(last(s).action, "report.create");
    s.export_csv(ExportEntity::People, None).unwrap();
    assert_eq!(
        (last(s).action, last(s).entity),
        ("export".to_string(), "people".to_string())
    );

    let inc = s
        .record_incident(IncidentInput {
            when: chrono::Utc::now() - chrono::Duration::minutes(5),
            place: "TEST-ZONE".into(),
            kind: IncidentType::Robbery,
            injuries: None,
            perpetrator: None,
            police_reported: false,
            crime_reference: None,
            share_police: ShareConsent::Full,
            share_national: ShareConsent::Full,
            support: None,
            person: Some(p.id.clone()),
            encounter: None,
        })
        .unwrap();
    s.mark_incident_shared(&inc.id, ShareRecipient::National, None)
        .unwrap();
    assert_eq!(
        (last(s).action, last(s).entity_id),
        ("incident.share".to_string(), Some(inc.id.clone()))
    );
    let v = s.verify_audit().unwrap();
    assert!(v.is_ok(), "{v:?}");
}

#[test]
fn filters_return_the_right_entries() {
    let mut f = fixture(10);
    let pid = activity(&mut f.store);
    let s = &mut f.store;
    let other = s.add_person(PersonInput::new("Fakey Otherface")).unwrap();
    s.view_person(&other.id).unwrap();
    let all = s
        .audit_query(&AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), s.audit_log(1000).unwrap().len());
    assert!(all.windows(2).all(|w| w[0].at >= w[1].at), "newest first");

    // By person: the profile's own events and the encounter linked to it, nothing of the other.
    let enc_of_p: String = {
        let night = s.current_shift().unwrap().unwrap().night;
        s.list_night(night)
            .unwrap()
            .into_iter()
            .find(|e| e.input.person.as_deref() == Some(pid.as_str()))
            .unwrap()
            .id
    };
    let by_p = s
        .audit_query(&AuditFilter {
            person: Some(pid.clone()),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    let mut got: Vec<(String, Option<String>)> = by_p
        .iter()
        .map(|e| (e.action.clone(), e.entity_id.clone()))
        .collect();
    got.sort();
    let mut want = vec![
        ("encounter.create".to_string(), Some(enc_of_p)),
        ("person.create".to_string(), Some(pid.clone())),
        ("person.view".to_string(), Some(pid.clone())),
        ("person.view".to_string(), Some(pid.clone())),
    ];
    want.sort();
    assert_eq!(got, want);

    // By action: exact, and a family.
    let views = s
        .audit_query(&AuditFilter {
            action: Some("person.view".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(views.len(), 3);
    assert!(views.iter().all(|e| e.action == "person.view"));
    let person_family = s
        .audit_query(&AuditFilter {
            action: Some("person".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        person_family.len(),
        all.iter()
            .filter(|e| e.action.starts_with("person."))
            .count()
    );
    assert!(person_family.len() > views.len());
    // "person" must not match an action that merely starts with the letters.
    assert!(s
        .audit_query(&AuditFilter {
            action: Some("pers".into()),
            ..Default::default()
        })
        .unwrap()
        .is_empty());

    // By device: full id or the short prefix; another device's id finds nothing.
    let me = s.device_id().to_string();
    assert_eq!(
        s.audit_query(&AuditFilter {
            device: Some(me[..6].into()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .len(),
        all.len()
    );
    assert_eq!(
        s.audit_query(&AuditFilter {
            device: Some(me.clone()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .len(),
        all.len()
    );
    let not_me = if me.starts_with('0') { "1" } else { "0" };
    assert!(s
        .audit_query(&AuditFilter {
            device: Some(not_me.into()),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
    assert!(matches!(
        s.audit_query(&AuditFilter {
            device: Some("not hex".into()),
            ..Default::default()
        }),
        Err(Error::Invalid { .. })
    ));

    // By date: move two entries into the past and select them by their day.
    let c = raw_conn(&f.dir, &f.raw);
    c.execute(
        "UPDATE audit SET at = '2026-01-10T23:59:59.5+00:00' WHERE dseq = 2",
        [],
    )
    .unwrap();
    c.execute(
        "UPDATE audit SET at = '2026-01-11T00:00:00+00:00' WHERE dseq = 3",
        [],
    )
    .unwrap();
    let s = &f.store;
    let day = |d: &str| {
        chrono::DateTime::parse_from_rfc3339(d)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let jan10 = s
        .audit_query(&AuditFilter {
            from: Some(day("2026-01-10T00:00:00Z")),
            to: Some(day("2026-01-11T00:00:00Z")),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        jan10.iter().map(|e| e.device_seq).collect::<Vec<_>>(),
        vec![Some(2)]
    );
    let both = s
        .audit_query(&AuditFilter {
            from: Some(day("2026-01-10T00:00:00Z")),
            to: Some(day("2026-01-12T00:00:00Z")),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        both.iter().map(|e| e.device_seq).collect::<Vec<_>>(),
        vec![Some(3), Some(2)]
    );
    let since = s
        .audit_query(&AuditFilter {
            from: Some(day("2026-01-11T00:00:00Z")),
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(since.len(), all.len() - 1);

    // Limit: the newest N.
    let two = s
        .audit_query(&AuditFilter {
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].seq, all[0].seq);
}

#[test]
fn rows_from_before_the_chain_are_counted_not_verified() {
    let mut f = fixture(11);
    activity(&mut f.store);
    let c = raw_conn(&f.dir, &f.raw);
    // What a store migrated from v4 holds: rows without chain columns, stored before the first
    // chained entry.
    for seq in [-1, 0] {
        c.execute(
            "INSERT INTO audit (seq, at, device, actor, action, entity, entity_id) VALUES (?1, '2025-12-01T21:00:00+00:00', ?2, 'staff-test', 'person.view', 'person', NULL)",
            rusqlite::params![seq, f.store.device_id()],
        )
        .unwrap();
    }
    let v = f.store.verify_audit().unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.pre_chain, 2);
    // They are still listed.
    let all = f.store.audit_log(1000).unwrap();
    assert_eq!(all.iter().filter(|e| e.device_seq.is_none()).count(), 2);
}
