//! Store behaviour: create/open, keys, damage, migrations, the domain round trip.

use outreach_core::*;
use std::path::Path;

fn team() -> TeamSetup {
    TeamSetup::new("Test Team", &["north-beat", "south-beat", "station"])
}

fn new_store(dir: &Path) -> (Store, StoreKey) {
    let key = StoreKey::generate();
    let s = Store::create(dir, Unlock::Key(key.clone()), team(), &StoreOptions::default()).unwrap();
    (s, key)
}

fn shift(s: &mut Store) -> Shift {
    s.start_shift(ShiftStart { van: "Van 1".into(), crew: vec!["staff-a".into(), "staff-b".into()], zones: vec!["north-beat".into()], at: None })
        .unwrap()
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        // The -shm file is SQLite's shared-memory index of the WAL (no record data); a reader
        // may rebuild it. Everything else must stay byte-identical.
        .filter(|p| !p.to_string_lossy().ends_with("-shm"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn log_list_amend_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, key) = new_store(dir.path());
    let sh = shift(&mut s);
    let p = s.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
    let mut e = EncounterInput::new("north-beat");
    e.person = Some(p.id.clone());
    e.services.insert(Service::Condoms, 20);
    e.referrals.push(Referral { destination: ReferralDestination::SexualHealth, mode: ReferralMode::Signposted, consent: true, status: ReferralStatus::Offered });
    let logged = s.log_encounter(e.clone()).unwrap();
    assert_eq!(logged.input.workers, vec!["staff-a", "staff-b"]);
    let night = sh.night;
    assert_eq!(s.list_night(night).unwrap().len(), 1);
    let mut amended = logged.input.clone();
    amended.services.insert(Service::Lube, 5);
    amended.note = Some("fake note".into());
    let a = s.amend_encounter(&logged.id, amended).unwrap();
    assert_eq!(a.input.services.get(&Service::Lube), Some(&5));
    let fp = s.projection_fingerprint().unwrap();
    s.rebuild_projections().unwrap();
    assert_eq!(fp, s.projection_fingerprint().unwrap());
    drop(s);
    let s = Store::open(dir.path(), Unlock::Key(key)).unwrap();
    assert_eq!(s.list_night(night).unwrap()[0].input.note.as_deref(), Some("fake note"));
    assert_eq!(s.current_shift().unwrap().unwrap().id, sh.id);
    let found = s.find_people("fakey moonbem", 5).unwrap();
    assert_eq!(found[0].id, p.id);
    let actions: Vec<String> = s.audit_log(100).unwrap().into_iter().map(|a| a.action).collect();
    assert!(actions.contains(&"encounter.edit".to_string()), "{actions:?}");
}

#[test]
fn validation_names_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = new_store(dir.path());
    let err = s.log_encounter(EncounterInput::new("north-beat")).unwrap_err();
    assert!(matches!(err, Error::State(_)), "{err}");
    shift(&mut s);
    let before = s.projection_fingerprint().unwrap();
    let outbox = s.outbox_len().unwrap();
    let mut e = EncounterInput::new("nowhere");
    let err = s.log_encounter(e.clone()).unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "encounter.zone", .. }), "{err}");
    e.zone = "north-beat".into();
    e.note = Some("x".repeat(MAX_NOTE + 1));
    assert!(matches!(s.log_encounter(e.clone()).unwrap_err(), Error::Invalid { field: "encounter.note", .. }));
    e.note = None;
    e.services.insert(Service::Condoms, 0);
    assert!(matches!(s.log_encounter(e.clone()).unwrap_err(), Error::Invalid { field: "encounter.services", .. }));
    e.services.clear();
    e.person = Some(uuid_like());
    assert!(matches!(s.log_encounter(e).unwrap_err(), Error::Invalid { field: "encounter.person", .. }));
    assert_eq!(before, s.projection_fingerprint().unwrap());
    assert_eq!(outbox, s.outbox_len().unwrap());
}

fn uuid_like() -> String {
    "01234567-89ab-7def-8123-456789abcdef".into()
}

#[test]
fn wrong_key_is_typed_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = new_store(dir.path());
    shift(&mut s);
    s.checkpoint().unwrap();
    drop(s);
    let before = snapshot(dir.path());
    let err = Store::open(dir.path(), Unlock::Key(StoreKey::generate())).unwrap_err();
    assert!(matches!(err, Error::WrongKey), "{err}");
    let err = Store::open(dir.path(), Unlock::Passphrase(b"not the key")).unwrap_err();
    assert!(matches!(err, Error::State(_)), "{err}");
    assert_eq!(before, snapshot(dir.path()));
}

#[test]
fn passphrase_stores_derive_with_argon2id() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions { kdf: KdfParams::insecure_fast_for_tests(), ..Default::default() };
    let s = Store::create(dir.path(), Unlock::Passphrase(b"correct horse test"), team(), &opts).unwrap();
    drop(s);
    Store::open(dir.path(), Unlock::Passphrase(b"correct horse test")).unwrap();
    let before = snapshot(dir.path());
    assert!(matches!(Store::open(dir.path(), Unlock::Passphrase(b"wrong")).unwrap_err(), Error::WrongKey));
    assert_eq!(before, snapshot(dir.path()));
    let meta = std::fs::read_to_string(dir.path().join("store.json")).unwrap();
    assert!(meta.contains("argon2id"));
}

#[test]
fn damaged_files_are_typed_errors_and_untouched() {
    for damage in ["truncate", "overwrite_header", "overwrite_middle", "empty", "missing_meta"] {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, key) = new_store(dir.path());
        shift(&mut s);
        for i in 0..50 {
            let mut e = EncounterInput::new("north-beat");
            e.note = Some(format!("fake note {i}"));
            s.log_encounter(e).unwrap();
        }
        s.checkpoint().unwrap();
        drop(s);
        let db = dir.path().join("outreach.db");
        let mut bytes = std::fs::read(&db).unwrap();
        match damage {
            "truncate" => bytes.truncate(bytes.len() / 2),
            "overwrite_header" => bytes[..64].fill(0xAB),
            "overwrite_middle" => {
                let mid = bytes.len() / 2;
                bytes[mid..mid + 4096].fill(0x00)
            }
            "empty" => bytes.clear(),
            "missing_meta" => std::fs::remove_file(dir.path().join("store.json")).unwrap(),
            _ => unreachable!(),
        }
        std::fs::write(&db, &bytes).unwrap();
        let before = snapshot(dir.path());
        let result = std::panic::catch_unwind(|| Store::open(dir.path(), Unlock::Key(key.clone())));
        let r = result.expect("opening a damaged store must not panic");
        match r {
            Err(Error::Corrupt(_)) => {}
            Ok(s) => {
                // Damage in the middle may only show when that page is read.
                let err = s.integrity_check().unwrap_err();
                assert!(matches!(err, Error::Corrupt(_)), "{damage}: {err}");
                drop(s);
                continue;
            }
            Err(e) => panic!("{damage}: expected Corrupt, got {e}"),
        }
        let after = snapshot(dir.path());
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, b)| (n.clone(), b.len())).collect::<Vec<_>>();
        assert_eq!(names(&before), names(&after), "{damage}: files changed");
        assert!(before == after, "{damage}: file contents changed");
    }
}

#[test]
fn migrated_database_equals_fresh_one() {
    use outreach_core::testing::*;
    let dir = tempfile::tempdir().unwrap();
    let mut old = rusqlite::Connection::open(dir.path().join("old.db")).unwrap();
    migrate_to(&mut old, 1).unwrap();
    old.execute("INSERT INTO meta (key, value) VALUES ('device_id', 'test')", []).unwrap();
    migrate_to(&mut old, SCHEMA_VERSION).unwrap();
    let mut fresh = rusqlite::Connection::open(dir.path().join("fresh.db")).unwrap();
    migrate_to(&mut fresh, SCHEMA_VERSION).unwrap();
    assert_eq!(describe(&old).unwrap(), describe(&fresh).unwrap());
    assert_eq!(MIGRATIONS.len() as u32, SCHEMA_VERSION);
    let v: i64 = old.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v as u32, SCHEMA_VERSION);
}

#[test]
fn alerts_match_on_normalised_keyed_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = new_store(dir.path());
    let a = s
        .add_alert(AlertInput {
            description: "fake test alert".into(),
            plates: vec!["ab12 cde".into()],
            phones: vec!["07700 900123".into()],
            emails: vec!["Fake.Person@Example.org".into()],
            usernames: vec![],
            area: Some("north-beat".into()),
            risk: Risk::High,
            from: None,
            review: None,
        })
        .unwrap();
    assert_eq!(s.check_alert(IdentifierKind::Phone, "+44 7700 900123").unwrap()[0].alert, a.id);
    assert_eq!(s.check_alert(IdentifierKind::Plate, "AB12CDE").unwrap().len(), 1);
    assert_eq!(s.check_alert(IdentifierKind::Email, "fake.person@example.ORG").unwrap().len(), 1);
    assert!(s.check_alert(IdentifierKind::Phone, "07700 900124").unwrap().is_empty());
    // A plate string is not a phone: kinds are domain-separated.
    assert!(s.check_alert(IdentifierKind::Username, "ab12cde").unwrap().is_empty());
    assert!(matches!(s.check_alert(IdentifierKind::Phone, "not a phone").unwrap_err(), Error::Invalid { .. }));
}

#[test]
fn concerns_need_a_legal_basis_to_share_without_consent() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = new_store(dir.path());
    shift(&mut s);
    let mut c = ConcernInput {
        category: ConcernCategory::Exploitation,
        indicators: vec![Indicator::Controlled, Indicator::NoDocuments],
        encounter: None,
        person: None,
        consent: Consent::Refused,
        action: "discussed options".into(),
        shared_without_consent: true,
        legal_basis: None,
    };
    assert!(matches!(s.record_concern(c.clone()).unwrap_err(), Error::Invalid { field: "concern.legal_basis", .. }));
    c.legal_basis = Some(LegalBasis::VitalInterests);
    s.record_concern(c).unwrap();
}

#[test]
fn documents_compact_when_chunks_outgrow_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, key) = new_store(dir.path());
    let sh = shift(&mut s);
    for _ in 0..300 {
        let mut e = EncounterInput::new("north-beat");
        e.services.insert(Service::Condoms, 3);
        s.log_encounter(e).unwrap();
    }
    let doc_id: String = {
        // the shift's document is the only shift doc
        let fp = s.projection_fingerprint().unwrap();
        assert!(fp.contains(&sh.id));
        let d: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(!d.is_empty());
        String::new()
    };
    let _ = doc_id;
    drop(s);
    let s = Store::open(dir.path(), Unlock::Key(key)).unwrap();
    assert_eq!(s.list_night(sh.night).unwrap().len(), 300);
}
