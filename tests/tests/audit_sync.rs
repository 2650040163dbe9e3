//! The audit log travels: a member's chained, signed entries reach the lead (one audit
//! document per device, appended to at the start of each sync, end-to-end encrypted like every
//! other document), the lead projects them into its `audit` table and verifies them against the
//! device directory, and tampering with the lead's received copy (edit, delete in the middle,
//! delete the last, swap) or with the member's own log (an edit before sync, a history
//! rewritten after sync) is detected.
//!
//! The hub runs in-process (tests/src/hubsim.rs). All data is obviously fake.

use std::path::Path;

use outreach_core::audit::{AuditFilter, AuditProblem, AuditProblemKind, AuditVerification};
use outreach_core::sync::{CancelToken, Role};
use outreach_core::*;
use outreach_tests::hubsim::{InProcHub, HUB_URL, SETUP_CODE};

const ZONE: &str = "TEST-ZONE";

fn no_progress(_: SyncProgress) {}

fn sync(s: &mut Store, hub: &InProcHub) -> SyncReport {
    s.sync(hub, &no_progress, &CancelToken::new())
        .expect("clean sync")
}

fn key(tag: u8) -> ([u8; 32], StoreKey) {
    let mut b = [0u8; 32];
    b[0] = tag;
    b[17] = 0x5a;
    (b, StoreKey::from_bytes(b))
}

/// A raw SQLCipher connection to a store's database, as a tamperer with the key would open.
fn raw_conn(dir: &Path, raw: &[u8; 32]) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(dir.join("outreach.db")).unwrap();
    c.pragma_update(None, "key", format!("x'{}'", hex::encode(raw)))
        .unwrap();
    c.execute_batch("PRAGMA busy_timeout = 5000;").unwrap();
    c
}

fn check<'a>(v: &'a AuditVerification, device: &str) -> &'a outreach_core::audit::DeviceAuditCheck {
    v.devices
        .iter()
        .find(|d| d.device == device)
        .unwrap_or_else(|| panic!("device {device} not checked: {v:?}"))
}

fn problem(kind: AuditProblemKind, seq: u64) -> Option<AuditProblem> {
    Some(AuditProblem { kind, seq })
}

/// Swaps the stored order of two rows (their local row numbers).
fn swap_rows(c: &rusqlite::Connection, device: &str, a: i64, b: i64) {
    let ra: i64 = c
        .query_row(
            "SELECT seq FROM audit WHERE device = ?1 AND dseq = ?2",
            rusqlite::params![device, a],
            |r| r.get(0),
        )
        .unwrap();
    let rb: i64 = c
        .query_row(
            "SELECT seq FROM audit WHERE device = ?1 AND dseq = ?2",
            rusqlite::params![device, b],
            |r| r.get(0),
        )
        .unwrap();
    c.execute_batch(&format!(
        "UPDATE audit SET seq = -1 WHERE seq = {ra}; UPDATE audit SET seq = {ra} WHERE seq = {rb}; UPDATE audit SET seq = {rb} WHERE seq = -1;"
    ))
    .unwrap();
}

/// A hub, a lead and one van (member) that have synced once.
struct Team {
    _tmp: tempfile::TempDir,
    hub: InProcHub,
    lead: Store,
    lead_raw: [u8; 32],
    lead_dir: std::path::PathBuf,
    van: Store,
    van_raw: [u8; 32],
    van_dir: std::path::PathBuf,
}

fn team() -> Team {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("hub")).unwrap();
    let hub = InProcHub::sqlite(&tmp.path().join("hub").join("hub.db"));
    let opts = StoreOptions::default();
    let (lead_raw, lead_key) = key(0x11);
    let lead_dir = tmp.path().join("lead");
    let mut lead = Store::create(
        &lead_dir,
        Unlock::Key(lead_key),
        TeamSetup::new("TEST Team", &[ZONE]),
        &opts,
    )
    .unwrap();
    lead.set_user("test-lead").unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead phone")
        .unwrap();
    let code = lead.create_invite(&hub, Role::Member, 3_600_000).unwrap();
    let (van_raw, van_key) = key(0x22);
    let van_dir = tmp.path().join("van");
    let mut van = Store::create_from_invite(
        &van_dir,
        Unlock::Key(van_key),
        &code,
        "TEST van phone",
        &hub,
        &opts,
    )
    .unwrap();
    van.set_user("staff-test").unwrap();
    sync(&mut lead, &hub);
    sync(&mut van, &hub);
    Team {
        _tmp: tmp,
        hub,
        lead,
        lead_raw,
        lead_dir,
        van,
        van_raw,
        van_dir,
    }
}

/// The van works a shift (encounters, a profile viewed); returns the person's id.
fn van_shift(van: &mut Store) -> String {
    let p = van.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
    van.start_shift(ShiftStart {
        van: "TEST Van".into(),
        crew: vec!["staff-test".into()],
        zones: vec![ZONE.into()],
        at: None,
    })
    .unwrap();
    for _ in 0..5 {
        van.log_encounter(EncounterInput::new(ZONE)).unwrap();
    }
    van.view_person(&p.id).unwrap();
    p.id
}

#[test]
fn a_lead_receives_verifies_and_catches_tampering_of_a_members_audit_log() {
    let Team {
        _tmp,
        hub,
        mut lead,
        lead_raw,
        lead_dir,
        mut van,
        van_raw,
        van_dir,
    } = team();
    let vid = van.device_id().to_string();
    let lid = lead.device_id().to_string();

    // ---- the van works a shift, views a profile, syncs ---------------------------------------
    let pid = van_shift(&mut van);
    let van_entries = van.audit_log(1000).unwrap().len() as u64;
    sync(&mut van, &hub);
    assert_eq!(
        van.outbox_len().unwrap(),
        0,
        "the audit document's change was pushed in the same sync"
    );
    sync(&mut lead, &hub);

    // The lead holds the van's entries, tagged with the van's device, and they verify.
    let v = lead.verify_audit().unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.devices.len(), 2);
    assert_eq!(check(&v, &vid).checked, van_entries);
    assert!(!check(&v, &vid).own && check(&v, &lid).own);
    let from_van = lead
        .audit_query(&AuditFilter {
            device: Some(vid[..6].to_string()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(from_van.len() as u64, van_entries);
    assert!(from_van
        .iter()
        .all(|e| e.device == vid && e.device_seq.is_some()));
    let views = lead
        .audit_query(&AuditFilter {
            person: Some(pid.clone()),
            action: Some("person.view".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(
        (views[0].device.as_str(), views[0].actor.as_str()),
        (vid.as_str(), "staff-test")
    );
    // A member projects nobody's log but its own.
    let mv = van.verify_audit().unwrap();
    assert!(mv.is_ok(), "{mv:?}");
    assert_eq!(mv.devices.len(), 1);
    assert!(van
        .audit_query(&AuditFilter {
            device: Some(lid.clone()),
            ..Default::default()
        })
        .unwrap()
        .is_empty());

    // ---- tampering with the lead's received copy ---------------------------------------------
    let c = raw_conn(&lead_dir, &lead_raw);
    let n = van_entries as i64;
    // Edit.
    let orig: String = c
        .query_row(
            "SELECT action FROM audit WHERE device = ?1 AND dseq = 4",
            [&vid],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "UPDATE audit SET action = 'alert.view' WHERE device = ?1 AND dseq = 4",
        [&vid],
    )
    .unwrap();
    assert_eq!(
        check(&lead.verify_audit().unwrap(), &vid).problem,
        problem(AuditProblemKind::Edited, 4)
    );
    c.execute(
        "UPDATE audit SET action = ?2 WHERE device = ?1 AND dseq = 4",
        rusqlite::params![vid, orig],
    )
    .unwrap();
    assert!(lead.verify_audit().unwrap().is_ok());
    // Swap.
    swap_rows(&c, &vid, 2, 3);
    assert_eq!(
        check(&lead.verify_audit().unwrap(), &vid).problem,
        problem(AuditProblemKind::Reordered, 2)
    );
    swap_rows(&c, &vid, 2, 3);
    assert!(lead.verify_audit().unwrap().is_ok());
    // Delete in the middle, then the last: the received document still holds both.
    c.execute(
        "CREATE TEMP TABLE saved AS SELECT * FROM audit WHERE device = ?1 AND dseq IN (3, ?2)",
        rusqlite::params![vid, n],
    )
    .unwrap();
    c.execute(
        "DELETE FROM audit WHERE device = ?1 AND dseq = ?2",
        rusqlite::params![vid, n],
    )
    .unwrap();
    let v = lead.verify_audit().unwrap();
    assert_eq!(
        check(&v, &vid).problem,
        problem(AuditProblemKind::Missing, n as u64),
        "last entry cut from the lead's table: {v:?}"
    );
    assert_eq!(check(&v, &vid).checked, n as u64 - 1);
    c.execute("DELETE FROM audit WHERE device = ?1 AND dseq = 3", [&vid])
        .unwrap();
    assert_eq!(
        check(&lead.verify_audit().unwrap(), &vid).problem,
        problem(AuditProblemKind::Missing, 3)
    );
    c.execute("INSERT INTO audit SELECT * FROM saved", [])
        .unwrap();
    assert!(lead.verify_audit().unwrap().is_ok());
    // The lead's own log is checked alongside.
    c.execute("DELETE FROM audit WHERE device = ?1 AND dseq = 1", [&lid])
        .unwrap();
    let v = lead.verify_audit().unwrap();
    assert_eq!(
        check(&v, &lid).problem,
        problem(AuditProblemKind::Missing, 1)
    );
    assert_eq!(check(&v, &vid).problem, None);
    drop(c);

    // ---- tampering on the van -----------------------------------------------------------------
    let vc = raw_conn(&van_dir, &van_raw);
    // 1. A history rewritten after it was synced: the van's last entry is cut and the van
    // writes on, reusing its number. The van sees its table differ from its synced copy; the
    // lead, which keeps the original, sees the next entry chain to something it never got.
    vc.execute(
        "DELETE FROM audit WHERE device = ?1 AND dseq = ?2",
        rusqlite::params![vid, n],
    )
    .unwrap();
    van.view_person(&pid).unwrap(); // takes number n
    van.view_person(&pid).unwrap(); // n + 1
    assert_eq!(
        check(&van.verify_audit().unwrap(), &vid).problem,
        problem(AuditProblemKind::Edited, n as u64)
    );
    sync(&mut van, &hub);
    sync(&mut lead, &hub);
    let v = lead.verify_audit().unwrap();
    assert_eq!(
        check(&v, &vid).problem,
        problem(AuditProblemKind::Forked, n as u64 + 1),
        "{v:?}"
    );
    assert_eq!(check(&v, &vid).checked, n as u64);
}

#[test]
fn an_entry_edited_before_it_is_synced_is_caught_by_the_lead() {
    let Team {
        _tmp,
        hub,
        mut lead,
        van_raw,
        van_dir,
        mut van,
        ..
    } = team();
    let vid = van.device_id().to_string();
    van_shift(&mut van);
    // The third encounter's entry is edited on the van before the sync. The van cannot re-sign
    // it without its device key (with the key it could: that is why the copy a lead holds is
    // what binds a device's history once synced).
    let k: i64 = van
        .audit_log(1000)
        .unwrap()
        .iter()
        .filter(|e| e.action == "encounter.create")
        .nth(2)
        .unwrap()
        .device_seq
        .unwrap();
    let vc = raw_conn(&van_dir, &van_raw);
    vc.execute(
        "UPDATE audit SET entity_id = NULL WHERE device = ?1 AND dseq = ?2",
        rusqlite::params![vid, k],
    )
    .unwrap();
    assert_eq!(
        check(&van.verify_audit().unwrap(), &vid).problem,
        problem(AuditProblemKind::Edited, k as u64)
    );
    sync(&mut van, &hub);
    sync(&mut lead, &hub);
    let v = lead.verify_audit().unwrap();
    assert_eq!(
        check(&v, &vid).problem,
        problem(AuditProblemKind::Edited, k as u64),
        "{v:?}"
    );
    assert_eq!(check(&v, &vid).checked, k as u64 - 1);
}

#[test]
fn logging_writes_one_document_and_the_sync_appends_once() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("hub")).unwrap();
    let hub = InProcHub::sqlite(&tmp.path().join("hub").join("hub.db"));
    let (_, k) = key(0x33);
    let mut lead = Store::create(
        &tmp.path().join("lead"),
        Unlock::Key(k),
        TeamSetup::new("TEST Team", &[ZONE]),
        &StoreOptions::default(),
    )
    .unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead phone")
        .unwrap();
    sync(&mut lead, &hub);
    lead.start_shift(ShiftStart {
        van: "TEST Van".into(),
        crew: vec!["staff-test".into()],
        zones: vec![ZONE.into()],
        at: None,
    })
    .unwrap();
    let before = lead.outbox_len().unwrap();
    lead.log_encounter(EncounterInput::new(ZONE)).unwrap();
    assert_eq!(
        lead.outbox_len().unwrap(),
        before + 1,
        "an encounter writes one document change, its audit entry none"
    );
    let r = sync(&mut lead, &hub);
    assert_eq!(
        r.pushed_chunks,
        before + 2,
        "the shift's changes plus ONE audit-document change"
    );
    // Nothing new since: the next sync leaves the audit document alone.
    let r = sync(&mut lead, &hub);
    assert_eq!(r.pushed_chunks, 0);
}
