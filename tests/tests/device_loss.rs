//! Device loss (issue 6, "done when" 4): wipe, remote wipe, dead-man timer and duress each
//! leave a store that cannot be opened and files that hold no readable data.
//!
//! Each path runs the canary scenario (every kind of record, with `CANARY-7f3a-…` markers in
//! every free-text field; tests/src/lib.rs) on a store, triggers the wipe, and then checks:
//! `Store::open` answers the typed error (`NoStore`: the store is gone), NO file is left in the
//! store's parent directory (which holds nothing else, so temp and staging files are caught),
//! and a canary scan of everything under that parent finds no marker. The control for every
//! path is the same scenario on a store written WITHOUT encryption (the core's test-only
//! plaintext mode): there the scan must find the markers before the wipe, which proves the
//! scan can see plaintext, and none after it.
//!
//! The remote wipe goes through the real hub (in-process router, SQLite): a lead revokes the
//! device with a signed wipe order, the hub hands it over in its `revoked` refusal, the device
//! checks it and wipes. A forged order (not signed by a lead) is refused and wipes nothing.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use outreach_core::sync::{CancelToken, Role, Transport, TransportError};
use outreach_core::*;
use outreach_tests::hubsim::{InProcHub, HUB_URL, SETUP_CODE};
use outreach_tests::*;

const PASS: &[u8] = b"TEST passphrase Fakey Moonbeam";
const DURESS: &[u8] = b"TEST duress phrase Starlight";

fn fast(plaintext: bool) -> StoreOptions {
    StoreOptions { kdf: KdfParams::insecure_fast_for_tests(), insecure_plaintext: plaintext }
}

/// Asserts the after-state of every wipe path: nothing opens, nothing is left, nothing found.
fn assert_wiped(parent: &Path, dir: &Path, markers: &[String], unlock: Unlock<'_>) {
    let err = Store::open(dir, unlock).unwrap_err();
    assert!(matches!(err, Error::NoStore(_)), "open after the wipe: {err}");
    let left = files_under(parent);
    assert!(left.is_empty(), "files left after the wipe: {left:?}");
    assert!(!dir.exists(), "the store directory is removed");
    let hits = scan_tree(parent, markers);
    assert!(hits.is_empty(), "markers readable after the wipe: {hits:?}");
}

/// The control half: a plaintext store must show its markers before the wipe; an encrypted
/// one must not.
fn check_before(dir: &Path, run: &Run, plaintext: bool) {
    if plaintext {
        let hits = scan_tree(dir, &run.plain);
        for m in &run.plain {
            assert!(hits.iter().any(|h| &h.marker == m), "control: the scan must see {m} in the plaintext store");
        }
    } else {
        let hits = scan_tree(dir, &run.all);
        assert!(hits.is_empty(), "encrypted store leaks before any wipe: {hits:?}");
    }
}

/// What [`loss_scenario`] wrote.
struct Run {
    /// Markers in fields that are plain text inside the database (team settings, shift): a
    /// store written without encryption must show every one of them.
    plain: Vec<String>,
    /// Every marker written (free text may also be sealed per field).
    all: Vec<String>,
}

/// A night's work with a marker in every field it fills: team settings (name, zones), a
/// shift (van, crew), a person, encounters with notes, an alert and an incident. Kept here
/// rather than in the shared canary scenario so that this test depends only on the core's
/// public API.
fn loss_scenario(s: &mut Store) -> Run {
    let mut plain: Vec<String> = vec!["CANARY-7f3a-team Fakey Outreach".into()];
    plain.extend(ZONES.iter().map(|z| z.to_string()));
    let shift = s
        .start_shift(ShiftStart {
            van: "CANARY-7f3a-van Moonbeam".into(),
            crew: vec!["CANARY-7f3a-crew-alpha".into()],
            zones: vec![ZONES[0].into()],
            at: None,
        })
        .unwrap();
    plain.extend(["CANARY-7f3a-van Moonbeam".into(), "CANARY-7f3a-crew-alpha".into()]);
    let mut all = plain.clone();
    let mut p = PersonInput::new("Fakey Moonbeam CANARY-7f3a-p1");
    p.note = Some("CANARY-7f3a-p1-note likes the night bus".into());
    let person = s.add_person(p).unwrap();
    all.extend(["Fakey Moonbeam CANARY-7f3a-p1".into(), "CANARY-7f3a-p1-note likes the night bus".into()]);
    for i in 0..3 {
        let mut e = EncounterInput::new(ZONES[0]);
        e.person = Some(person.id.clone());
        e.services.insert(Service::Condoms, 10);
        e.note = Some(format!("CANARY-7f3a-enc-note-{i} Fakey was fine tonight"));
        s.log_encounter(e).unwrap();
        all.push(format!("CANARY-7f3a-enc-note-{i} Fakey was fine tonight"));
    }
    s.add_alert(AlertInput {
        description: "CANARY-7f3a-alert-desc silver van, fake".into(),
        plates: vec!["CANARY 7F3A".into()],
        phones: vec!["+44 7700 900123".into()],
        emails: vec![],
        usernames: vec![],
        area: Some("CANARY-7f3a-alert-area".into()),
        risk: Risk::High,
        from: None,
        review: None,
    })
    .unwrap();
    all.extend(["CANARY-7f3a-alert-desc silver van, fake".into(), "CANARY-7f3a-alert-area".into()]);
    s.list_night(shift.night).unwrap();
    Run { plain, all }
}

fn open_either(dir: &Path, key: &StoreKey, plaintext: bool) -> Store {
    if plaintext {
        Store::open_insecure_plaintext_for_tests(dir, Unlock::Key(key.clone())).unwrap()
    } else {
        Store::open(dir, Unlock::Key(key.clone())).unwrap()
    }
}

#[test]
fn wipe_leaves_nothing_readable() {
    for plaintext in [false, true] {
        for closed in [false, true] {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("store");
            let key = StoreKey::generate();
            let mut s = Store::create(&dir, Unlock::Key(key.clone()), canary_team(), &fast(plaintext)).unwrap();
            let run = loss_scenario(&mut s);
            // The data is still in the -wal (no checkpoint): the wipe must take that too.
            check_before(&dir, &run, plaintext);
            if closed {
                // A store that cannot be opened (forgotten PIN): wiped by directory.
                drop(s);
                wipe::wipe_dir(&dir).unwrap();
            } else {
                s.wipe().unwrap();
            }
            assert_wiped(root.path(), &dir, &run.all, Unlock::Key(key));
        }
    }
}

#[test]
fn duress_passphrase_wipes_and_answers_like_no_store() {
    for plaintext in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("store");
        let mut s = Store::create(&dir, Unlock::Passphrase(PASS), canary_team(), &fast(plaintext)).unwrap();
        let run = loss_scenario(&mut s);
        s.set_duress_secret(DURESS).unwrap();
        drop(s);
        check_before(&dir, &run, plaintext);
        let err = Store::open(&dir, Unlock::Passphrase(DURESS)).unwrap_err();
        // Exactly what a directory that never held a store answers.
        let never = Store::open(&dir, Unlock::Passphrase(PASS)).unwrap_err();
        assert_eq!(err.to_string(), never.to_string());
        assert!(matches!(err, Error::NoStore(_)), "{err}");
        assert_wiped(root.path(), &dir, &run.all, Unlock::Passphrase(PASS));
    }
}

/// A registered lead and one member device enrolled through an in-process hub; the member's
/// store lives alone in `root/member`.
struct Team {
    hub: InProcHub,
    _hub_dir: tempfile::TempDir,
    lead: Store,
    _lead_dir: tempfile::TempDir,
    root: tempfile::TempDir,
    member_dir: PathBuf,
    member_key: StoreKey,
}

fn no_progress(_: sync::SyncProgress) {}

fn team(plaintext: bool) -> (Team, Store) {
    let hub_dir = tempfile::tempdir().unwrap();
    let hub = InProcHub::sqlite(&hub_dir.path().join("hub.db"));
    let lead_dir = tempfile::tempdir().unwrap();
    let mut lead = Store::create(&lead_dir.path().join("lead"), Unlock::Key(StoreKey::generate()), canary_team(), &fast(false)).unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead phone").unwrap();
    lead.sync(&hub, &no_progress, &CancelToken::new()).unwrap();
    let code = lead.create_invite(&hub, Role::Member, 3_600_000).unwrap();
    let root = tempfile::tempdir().unwrap();
    let member_dir = root.path().join("member");
    let member_key = StoreKey::generate();
    let mut member =
        Store::create_from_invite(&member_dir, Unlock::Key(member_key.clone()), &code, "TEST van phone", &hub, &fast(plaintext)).unwrap();
    member.sync(&hub, &no_progress, &CancelToken::new()).unwrap();
    (Team { hub, _hub_dir: hub_dir, lead, _lead_dir: lead_dir, root, member_dir, member_key }, member)
}

#[test]
fn remote_wipe_is_obeyed_at_the_next_contact() {
    for plaintext in [false, true] {
        let (mut t, mut member) = team(plaintext);
        let run = loss_scenario(&mut member);
        member.sync(&t.hub, &no_progress, &CancelToken::new()).unwrap();
        let member_id = member.device_id().to_string();
        drop(member);
        check_before(&t.member_dir, &run, plaintext);
        t.lead.revoke_device_with_wipe(&t.hub, &member_id, true).unwrap();
        let mut member = open_either(&t.member_dir, &t.member_key, plaintext);
        let err = member.sync(&t.hub, &no_progress, &CancelToken::new()).unwrap_err();
        assert!(matches!(err, Error::Wiped), "{err}");
        drop(member);
        assert_wiped(t.root.path(), &t.member_dir, &run.all, Unlock::Key(t.member_key.clone()));
    }
}

#[test]
fn revocation_without_wipe_order_wipes_nothing() {
    let (mut t, member) = team(false);
    let member_id = member.device_id().to_string();
    drop(member);
    t.lead.revoke_device(&t.hub, &member_id).unwrap();
    let mut member = Store::open(&t.member_dir, Unlock::Key(t.member_key.clone())).unwrap();
    let err = member.sync(&t.hub, &no_progress, &CancelToken::new()).unwrap_err();
    assert!(matches!(&err, Error::Hub { code, .. } if code == "revoked"), "{err}");
    drop(member);
    drop(Store::open(&t.member_dir, Unlock::Key(t.member_key.clone())).unwrap());
}

/// A "hub" that answers every request `revoked` with the given wipe order.
struct ForgedWipe(Vec<u8>);

impl Transport for ForgedWipe {
    fn post(&self, _path: &str, _body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        Ok((403, self.0.clone()))
    }
}

#[test]
fn forged_wipe_orders_are_refused() {
    use outreach_proto::ids::{DeviceId, TeamId};
    use outreach_proto::keys::DeviceKeys;
    use outreach_proto::messages::{ErrorBody, ErrorCode};
    use outreach_proto::orders::WipeOrder;
    let (_t, mut member) = team(false);
    let st = member.sync_status().unwrap();
    let team_id = TeamId::from_str(&st.team_id).unwrap();
    let me = DeviceId::from_str(&st.device_id).unwrap();
    let forge = |order: WipeOrder| {
        let mut body = ErrorBody::new(ErrorCode::Revoked, "device revoked");
        body.error.wipe = Some(order);
        ForgedWipe(serde_json::to_vec(&body).unwrap())
    };
    let stranger = DeviceKeys::generate();
    // Signed by a device that is not in the team's directory.
    let e = member.sync(&forge(WipeOrder::new(&stranger, team_id, me, 1)), &no_progress, &CancelToken::new()).unwrap_err();
    assert!(matches!(e, Error::Crypto(_)), "{e}");
    // Claims the lead issued it, but the signature is the stranger's.
    let lead_id = _t.lead.sync_status().unwrap().device_id;
    let mut order = WipeOrder::new(&stranger, team_id, me, 1);
    order.issued_by = DeviceId::from_str(&lead_id).unwrap();
    let e = member.sync(&forge(order), &no_progress, &CancelToken::new()).unwrap_err();
    assert!(matches!(e, Error::Crypto(_)), "{e}");
    // Nothing was wiped: the store still opens.
    drop(member);
    let member = Store::open(&_t.member_dir, Unlock::Key(_t.member_key.clone())).unwrap();
    assert_eq!(member.sync_status().unwrap().device_id, st.device_id, "still there, still readable");
}

#[test]
fn dead_man_timer_wipes_a_member_that_has_not_synced() {
    for plaintext in [false, true] {
        let (mut t, mut member) = team(plaintext);
        t.lead.set_dead_man_hours(Some(72)).unwrap();
        t.lead.sync(&t.hub, &no_progress, &CancelToken::new()).unwrap();
        member.sync(&t.hub, &no_progress, &CancelToken::new()).unwrap();
        assert_eq!(member.settings().dead_man_hours, Some(72), "the setting travels with the team settings");
        let run = loss_scenario(&mut member);
        member.sync(&t.hub, &no_progress, &CancelToken::new()).unwrap();
        let synced = member.dead_man_reference().unwrap().expect("a last successful sync");
        drop(member);
        check_before(&t.member_dir, &run, plaintext);
        let open_at = |hours: i64| {
            let at = synced + chrono::Duration::hours(hours);
            let unlock = Unlock::Key(t.member_key.clone());
            if plaintext {
                Store::open_insecure_plaintext_for_tests_at(&t.member_dir, unlock, at)
            } else {
                Store::open_at(&t.member_dir, unlock, at)
            }
        };
        // Within the timer: opens, and nothing is lost.
        drop(open_at(71).unwrap());
        check_before(&t.member_dir, &run, plaintext);
        // Past it: wiped at unlock.
        let err = open_at(73).unwrap_err();
        assert!(matches!(err, Error::Wiped), "{err}");
        assert_wiped(t.root.path(), &t.member_dir, &run.all, Unlock::Key(t.member_key.clone()));
        // The lead is never wiped by the timer.
        let lead_dir = t.lead.dir().to_path_buf();
        assert!(lead_dir.join("outreach.db").exists());
    }
}
