//! Erasure by crypto-shredding, end to end (issue 6, "done when" 1): after a person's erasure
//! and a sync, no device and no hub holds decryptable data for that person, even from a copy
//! of the hub's database taken before the erasure.
//!
//! A lead and two vans (and a spare device revoked beforehand, so team keys wrapped to device
//! agreement keys exist on the hub) log a person (two merged profiles) with encounters, a
//! concern and an incident whose free text carries canary strings. Everyone syncs; the hub's
//! database files are copied; one van goes offline and edits the person; the lead erases the
//! person; everyone syncs (the offline van later). Then, for every device (and one enrolled
//! after the erasure), every key it holds (team keys of all epochs, document keys, agreement
//! secrets, read straight from its SQLCipher store with its key) is used to open every item of
//! the pre-erasure copy and of the current hub, the way an attacker holding both would. No
//! chunk of the person's documents may open and no opened chunk may hold a canary; no table
//! and no document of any store may hold one; the anonymised report counts do not change.
//!
//! Controls (so the test can fail): before the erasure the same attack on the same copy opens
//! the person's documents and finds the canaries; after it, an unrelated person's profile still
//! opens and its control marker is found.
//!
//! All data is obviously fake.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

use outreach_core::sync::{CancelToken, Role, Transport, TransportError};
use outreach_core::*;
use outreach_proto::ids::{DeviceId, DocId, KeyId, TeamId};
use outreach_proto::keys::{DeviceKeys, DevicePublicKeys, DocKey, TeamKey};
use outreach_proto::seal::{open_chunk, SealedChunk};
use outreach_proto::wrap::{unwrap_doc_key, unwrap_team_key, WrappedDocKey, WrappedTeamKey};
use outreach_tests::hubsim::{InProcHub, HUB_URL, SETUP_CODE};
use outreach_tests::scan_bytes;
use rand::RngCore;

const ZONE: &str = "TEST-ZONE";

fn no_progress(_: SyncProgress) {}

fn sync(s: &mut Store, hub: &InProcHub) -> SyncReport {
    s.sync(hub, &no_progress, &CancelToken::new()).expect("clean sync")
}

/// A device: its store, its store key (hex, so the test can open the database itself).
struct Dev {
    name: &'static str,
    store: Store,
    key_hex: String,
}

fn new_key() -> (StoreKey, String) {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    (StoreKey::from_bytes(b), hex::encode(b))
}

fn open_db(dir: &Path, key_hex: &str) -> rusqlite::Connection {
    let c = rusqlite::Connection::open_with_flags(dir.join("outreach.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.pragma_update(None, "key", format!("x'{key_hex}'")).unwrap();
    c
}

fn arr32(v: &[u8]) -> [u8; 32] {
    v.try_into().expect("32 bytes")
}

/// Every key a device holds, read from its database.
struct HeldKeys {
    device_id: DeviceId,
    sign: [u8; 32],
    kx: Vec<[u8; 32]>,
    team: Vec<TeamKey>,
    doc: HashMap<KeyId, [u8; 32]>,
}

fn held_keys(dev: &Dev) -> HeldKeys {
    let c = open_db(dev.store.dir(), &dev.key_hex);
    type Row = (String, Vec<u8>, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);
    let (device, sign, kx, pending, retiring): Row = c
        .query_row("SELECT device_id, sign_secret, kx_secret, kx_pending, kx_retiring FROM sync_identity", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap();
    let mut kxs = vec![arr32(&kx)];
    kxs.extend(pending.map(|p| arr32(&p)));
    kxs.extend(retiring.map(|p| arr32(&p)));
    let team = c
        .prepare("SELECT epoch, key FROM team_keys")
        .unwrap()
        .query_map([], |r| Ok(TeamKey::from_bytes(r.get::<_, i64>(0)? as u64, arr32(&r.get::<_, Vec<u8>>(1)?))))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let doc = c
        .prepare("SELECT key_id, key FROM doc_keys")
        .unwrap()
        .query_map([], |r| Ok((KeyId::from_str(&r.get::<_, String>(0)?).unwrap(), arr32(&r.get::<_, Vec<u8>>(1)?))))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    HeldKeys { device_id: DeviceId::from_str(&device).unwrap(), sign: arr32(&sign), kx: kxs, team, doc }
}

/// What the hub's database holds, read from its files (a copy or the live one).
struct HubItems {
    team_id: TeamId,
    devices: HashMap<DeviceId, DevicePublicKeys>,
    chunks: Vec<SealedChunk>,
    doc_keys: Vec<WrappedDocKey>,
    team_keys: Vec<WrappedTeamKey>,
}

fn hub_items(db: &Path) -> HubItems {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let team: Vec<u8> = c.query_row("SELECT team_id FROM teams", [], |r| r.get(0)).unwrap();
    let team_id = TeamId(team.try_into().unwrap());
    let mut devices = HashMap::new();
    let mut st = c.prepare("SELECT device_id, sign_pub, kx_pub FROM devices").unwrap();
    for r in st.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?))).unwrap() {
        let (id, sp, kp) = r.unwrap();
        devices.insert(DeviceId(id.try_into().unwrap()), DevicePublicKeys { sign_pub: arr32(&sp), kx_pub: arr32(&kp) });
    }
    let (mut chunks, mut doc_keys, mut team_keys) = (vec![], vec![], vec![]);
    let mut st = c.prepare("SELECT kind, body FROM items WHERE body IS NOT NULL").unwrap();
    for r in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))).unwrap() {
        let (kind, body) = r.unwrap();
        match kind {
            1 => chunks.push(SealedChunk::from_bytes(&body).unwrap()),
            2 => doc_keys.push(serde_json::from_slice(&body).unwrap()),
            3 => team_keys.push(serde_json::from_slice(&body).unwrap()),
            _ => {}
        }
    }
    HubItems { team_id, devices, chunks, doc_keys, team_keys }
}

/// The attack: with a device's keys, open every team key wrapped for it, every document key
/// those team keys unwrap, and every chunk those document keys open. Returns the opened
/// plaintext chunks per document.
fn attack(keys: &HeldKeys, hub: &HubItems) -> BTreeMap<DocId, Vec<Vec<u8>>> {
    let mut team: HashMap<u64, Vec<TeamKey>> = HashMap::new();
    for k in &keys.team {
        team.entry(k.epoch()).or_default().push(TeamKey::from_bytes(k.epoch(), *k.expose_secret()));
    }
    for w in hub.team_keys.iter().filter(|w| w.device_id == keys.device_id) {
        let Some(wrapper) = hub.devices.get(&w.wrapped_by) else { continue };
        for kx in &keys.kx {
            let me = DeviceKeys::from_secrets(&keys.sign, kx);
            if let Ok(k) = unwrap_team_key(w, hub.team_id, &me, wrapper) {
                team.entry(k.epoch()).or_default().push(k);
            }
        }
    }
    let mut doc: HashMap<KeyId, Vec<DocKey>> = HashMap::new();
    for (id, k) in &keys.doc {
        doc.entry(*id).or_default().push(DocKey::from_bytes(*k));
    }
    for w in &hub.doc_keys {
        for tk in team.get(&w.epoch).into_iter().flatten() {
            if let Ok(k) = unwrap_doc_key(tk, hub.team_id, w) {
                doc.entry(w.key_id).or_default().push(k);
            }
        }
    }
    let mut out: BTreeMap<DocId, Vec<Vec<u8>>> = BTreeMap::new();
    for c in &hub.chunks {
        let Some(author) = hub.devices.get(&c.author) else { continue };
        for k in doc.get(&c.key_id).into_iter().flatten() {
            if let Ok(p) = open_chunk(c, k, author) {
                out.entry(c.doc_id).or_default().push(p.to_vec());
                break;
            }
        }
    }
    out
}

/// A document's full JSON from its chunks (automerge may compress columns, so raw bytes are
/// not enough to look for text).
fn doc_json(chunks: &[Vec<u8>]) -> String {
    let mut d = automerge::Automerge::new();
    for c in chunks {
        let _ = d.load_incremental(c);
    }
    serde_json::to_string(&automerge::AutoSerde::from(&d)).unwrap()
}

/// Canary hits (marker, where) in what an attack opened.
fn hits_in_opened(opened: &BTreeMap<DocId, Vec<Vec<u8>>>, markers: &[String]) -> Vec<(String, String)> {
    let mut hits = vec![];
    for (doc, chunks) in opened {
        for c in chunks {
            hits.extend(scan_bytes(c, markers).into_iter().map(|(m, f)| (m, format!("chunk of {} ({f})", doc.to_hex()))));
        }
        hits.extend(scan_bytes(doc_json(chunks).as_bytes(), markers).into_iter().map(|(m, f)| (m, format!("document {} ({f})", doc.to_hex()))));
    }
    hits
}

/// Canary hits in a device store: every value of every table, and every document's JSON.
fn hits_in_store(dev: &Dev, markers: &[String]) -> Vec<(String, String)> {
    let c = open_db(dev.store.dir(), &dev.key_hex);
    let mut hits = vec![];
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for t in &tables {
        let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = st.column_count();
        let mut rows = st.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            for i in 0..n {
                let bytes: Vec<u8> = match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
                    _ => continue,
                };
                hits.extend(scan_bytes(&bytes, markers).into_iter().map(|(m, f)| (m, format!("{}: table {t} ({f})", dev.name))));
            }
        }
    }
    let docs: Vec<(String, Option<Vec<u8>>)> = c
        .prepare("SELECT doc_id, snapshot FROM docs")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for (id, snap) in docs {
        let mut chunks: Vec<Vec<u8>> = snap.into_iter().collect();
        let mut st = c.prepare("SELECT data FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq").unwrap();
        chunks.extend(st.query_map([&id], |r| r.get(0)).unwrap().map(|r| r.unwrap()));
        hits.extend(scan_bytes(doc_json(&chunks).as_bytes(), markers).into_iter().map(|(m, f)| (m, format!("{}: document {id} ({f})", dev.name))));
    }
    hits
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// One store's view of the night, counted: the anonymised report and the lead's raw one.
fn counts(s: &Store, night: chrono::NaiveDate) -> (Vec<report::Section>, Vec<report::Section>) {
    let opts = ReportOptions::default();
    let published = s.report(night, night, &opts).unwrap().sections;
    let raw = s.report_unsuppressed(night, night, &opts).unwrap().sections;
    (published, raw)
}

fn person(code_name: &str, note: &str) -> PersonInput {
    let mut p = PersonInput::new(code_name);
    p.note = Some(note.into());
    p
}

#[test]
fn erased_person_is_unreadable_everywhere_even_from_an_old_hub_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let hub_dir = tmp.path().join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    let hub = InProcHub::sqlite(&hub_dir.join("hub.db"));
    let opts = StoreOptions::default();
    let mk = |name: &'static str, store: Store, key_hex: String| Dev { name, store, key_hex };

    // ---- a team of a lead and two vans; a spare device revoked (team keys wrapped to
    // agreement keys on the hub, epoch 1) ------------------------------------------------------
    let (k, kh) = new_key();
    let mut lead = mk("lead", Store::create(&tmp.path().join("lead"), Unlock::Key(k), TeamSetup::new("TEST Fakey Outreach", &[ZONE]), &opts).unwrap(), kh);
    lead.store.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead phone").unwrap();
    let join = |lead: &mut Dev, name: &'static str| {
        let code = lead.store.create_invite(&hub, Role::Member, 3_600_000).unwrap();
        let (k, kh) = new_key();
        mk(name, Store::create_from_invite(&tmp.path().join(name), Unlock::Key(k), &code, &format!("TEST {name}"), &hub, &opts).unwrap(), kh)
    };
    let mut van1 = join(&mut lead, "van1");
    let mut van2 = join(&mut lead, "van2");
    let spare = join(&mut lead, "spare");
    let spare_id = spare.store.device_id().to_string();
    drop(spare);
    assert_eq!(lead.store.revoke_device(&hub, &spare_id).unwrap(), 1);
    for d in [&mut lead, &mut van1, &mut van2] {
        sync(&mut d.store, &hub);
    }

    // ---- the person (two profiles, merged), with canaries in every free-text field ---------
    let m = |what: &str| format!("CANARY-ERASE-5d1e-{what}");
    let control = "KEEP-ERASE-5d1e-unrelated-profile-note".to_string();
    let v = &mut van1.store;
    let shift = v.start_shift(ShiftStart { van: "TEST van 1".into(), crew: vec!["TEST crew".into()], zones: vec![ZONE.into()], at: None }).unwrap();
    let night = shift.night;
    let moonbeam = v.add_person(person("Fakey Moonbeam", &m("profile-note"))).unwrap();
    let moonbem = v.add_person(person("Fakey Moonbem", &m("second-profile-note"))).unwrap();
    let stardust = v.add_person(person("Fakey Stardust", &control)).unwrap();
    let mut encounters = vec![];
    for (p, note) in [(&moonbeam, m("encounter-note")), (&moonbem, m("second-encounter-note")), (&stardust, "plain test note".to_string())] {
        let mut e = EncounterInput::new(ZONE);
        e.person = Some(p.id.clone());
        e.note = Some(note);
        e.services.insert(Service::Condoms, 2);
        encounters.push(v.log_encounter(e).unwrap());
    }
    v.record_concern(ConcernInput {
        category: ConcernCategory::AdultAtRisk,
        indicators: vec![Indicator::Controlled],
        encounter: Some(encounters[0].id.clone()),
        person: Some(moonbeam.id.clone()),
        consent: Consent::Given,
        action: m("concern-action"),
        shared_without_consent: false,
        legal_basis: None,
    })
    .unwrap();
    v.record_incident(IncidentInput {
        when: chrono::Utc::now() - chrono::Duration::minutes(30),
        // A zone or a short place description (no addresses): not about the person, kept plain.
        place: ZONE.into(),
        kind: IncidentType::Robbery,
        injuries: Some(m("incident-injuries")),
        perpetrator: Some(m("incident-description")),
        police_reported: false,
        crime_reference: None,
        share_police: ShareConsent::None,
        share_national: ShareConsent::Anonymised,
        support: None,
        person: Some(moonbeam.id.clone()),
        encounter: Some(encounters[0].id.clone()),
    })
    .unwrap();
    sync(&mut van1.store, &hub);
    sync(&mut lead.store, &hub);
    lead.store.merge_people(&moonbem.id, &moonbeam.id).unwrap();
    for _ in 0..2 {
        for d in [&mut lead, &mut van1, &mut van2] {
            sync(&mut d.store, &hub);
        }
    }
    let fp = lead.store.projection_fingerprint().unwrap();
    for d in [&van1, &van2] {
        assert_eq!(d.store.projection_fingerprint().unwrap(), fp, "{} converged", d.name);
    }
    let mut markers: Vec<String> = [
        "profile-note", "second-profile-note", "encounter-note", "second-encounter-note", "concern-action",
        "incident-injuries", "incident-description", "offline-profile-note",
    ]
    .iter()
    .map(|w| m(w))
    .collect();
    markers.push("Fakey Moonbeam".into());
    markers.push("Fakey Moonbem".into());
    let before: Vec<_> = [&lead, &van1, &van2].iter().map(|d| counts(&d.store, night)).collect();
    let plan = lead.store.erasure_plan(&moonbem.id).unwrap();
    let mut group = vec![moonbeam.id.clone(), moonbem.id.clone()];
    group.sort();
    assert_eq!(plan.profiles, group, "the whole merge group");
    assert_eq!((plan.encounters, plan.concerns, plan.incidents), (2, 1, 1));
    let person_docs: HashSet<DocId> = plan.person_docs.iter().map(|d| DocId::from_str(d).unwrap()).collect();
    assert_eq!(person_docs.len(), 2);

    // ---- a copy of the hub's database, taken before the erasure ---------------------------
    let pre_dir = tmp.path().join("hub-copy-before-erasure");
    copy_dir(&hub_dir, &pre_dir);
    let pre = hub_items(&pre_dir.join("hub.db"));
    assert!(pre.doc_keys.iter().any(|k| person_docs.contains(&k.doc_id)), "the copy holds the person's wrapped keys");
    assert!(pre.chunks.iter().any(|c| person_docs.contains(&c.doc_id)), "the copy holds the person's chunks");

    // Control: before the erasure the attack works (it opens the person and finds canaries).
    let opened = attack(&held_keys(&van2), &pre);
    assert!(person_docs.iter().all(|d| opened.contains_key(d)), "control: the person's documents open before the erasure");
    assert!(!hits_in_opened(&opened, &markers).is_empty(), "control: the canaries are found before the erasure");

    // ---- van 2 goes offline and edits the person; the lead erases them --------------------
    let mut offline_edit = van2.store.person_for_edit(&moonbeam.id).unwrap().input;
    offline_edit.note = Some(m("offline-profile-note"));
    van2.store.edit_person(&moonbeam.id, offline_edit).unwrap();
    assert!(van2.store.outbox_len().unwrap() > 0);

    let out = lead.store.erase_person(&hub, &moonbem.id).unwrap();
    assert_eq!(out.plan.profiles, group);
    assert!(out.shred.hub_chunks_deleted > 0 && out.shred.hub_keys_deleted > 0, "{:?}", out.shred);
    assert!(out.shred.rekeyed);
    let mut erased: Vec<String> =
        lead.store.audit_log(50).unwrap().into_iter().filter(|e| e.action == "person.erase").filter_map(|e| e.entity_id).collect();
    erased.sort();
    assert_eq!(erased, group, "the erasure is audited per profile, by pseudonymous id");
    let r = sync(&mut lead.store, &hub);
    assert_eq!(r.shreds_applied, 0, "the lead applied its own order already");
    let r = sync(&mut van1.store, &hub);
    assert_eq!((r.shreds_applied, r.rekeyed), (1, true));
    // Van 2 comes back: the order is applied before its queued edit could be pushed.
    let r = sync(&mut van2.store, &hub);
    assert_eq!((r.shreds_applied, r.rekeyed), (1, true));
    assert_eq!(van2.store.outbox_len().unwrap(), 0);
    // A device enrolled after the erasure reads the rest of the history, nothing stuck.
    let mut van3 = join(&mut lead, "van3");
    for _ in 0..2 {
        for d in [&mut lead, &mut van1, &mut van2, &mut van3] {
            sync(&mut d.store, &hub);
        }
    }
    assert_eq!(van3.store.sync_status().unwrap().waiting_for_keys, 0, "nothing waits for a destroyed key");
    assert!(van3.store.get_encounter(&encounters[2].id).is_ok());

    // ---- checks ---------------------------------------------------------------------------
    let now = hub_items(&hub_dir.join("hub.db"));
    assert!(now.chunks.iter().all(|c| !person_docs.contains(&c.doc_id)), "the hub deleted the person's chunks");
    assert!(now.doc_keys.iter().all(|k| !person_docs.contains(&k.doc_id)), "the hub deleted the person's keys");
    let fp = lead.store.projection_fingerprint().unwrap();
    for d in [&lead, &van1, &van2, &van3] {
        assert_eq!(d.store.projection_fingerprint().unwrap(), fp, "{} converged after the erasure", d.name);
        let keys = held_keys(d);
        let shred_epoch = out.shred.epoch;
        assert!(keys.team.iter().all(|k| k.epoch() >= shred_epoch), "{}: no team key of an earlier epoch is kept", d.name);
        for (which, items) in [("pre-erasure copy", &pre), ("current hub", &now)] {
            let opened = attack(&keys, items);
            let leaked: Vec<_> = opened.keys().filter(|k| person_docs.contains(k)).collect();
            assert!(leaked.is_empty(), "{}: the person's documents open from the {which}", d.name);
            let hits = hits_in_opened(&opened, &markers);
            assert!(hits.is_empty(), "{}: canaries readable from the {which}: {hits:?}", d.name);
            // Control: the rest is still readable with the same keys, and the scan finds text.
            let control_hits = hits_in_opened(&opened, std::slice::from_ref(&control));
            assert!(!control_hits.is_empty(), "{}: control marker not found in the {which}", d.name);
        }
        let hits = hits_in_store(d, &markers);
        assert!(hits.is_empty(), "{}: canaries in the store: {hits:?}", d.name);
        let c = open_db(d.store.dir(), &d.key_hex);
        for doc in &plan.person_docs {
            let n: i64 = c.query_row("SELECT count(*) FROM docs WHERE doc_id = ?1", [doc], |r| r.get(0)).unwrap();
            assert_eq!(n, 0, "{}: a person document is still held", d.name);
        }
        let n: i64 = c
            .query_row("SELECT count(*) FROM people WHERE id = ?1 OR id = ?2", [&moonbeam.id, &moonbem.id], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{}: a profile of the group is still projected", d.name);
        assert!(d.store.view_person(&moonbeam.id).is_err());
    }
    // The anonymised counts (and the raw ones) are unchanged by the erasure.
    for (d, b) in [&lead, &van1, &van2].iter().zip(&before) {
        let after = counts(&d.store, night);
        assert_eq!(after.0, b.0, "{}: published report changed", d.name);
        assert_eq!(after.1, b.1, "{}: raw report counts changed", d.name);
    }
}

/// A transport that runs a hook once, just before the first request to `path` is forwarded.
struct Hooked<'a> {
    hub: &'a InProcHub,
    path: &'static str,
    hook: std::cell::RefCell<Option<Box<dyn FnOnce() + 'a>>>,
}

impl Transport for Hooked<'_> {
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        if path == self.path {
            if let Some(h) = self.hook.borrow_mut().take() {
                h();
            }
        }
        self.hub.post(path, body)
    }
}

/// Changes pushed while an erasure is under way are not lost: a key the lead's catch-up
/// missed (pushed just before its order), and a key a van pushed just after the order under
/// the epoch the order destroys, both still reach a device enrolled after the erasure.
#[test]
fn changes_pushed_around_the_order_still_reach_devices_enrolled_later() {
    use std::cell::RefCell;
    let tmp = tempfile::tempdir().unwrap();
    let hub = InProcHub::sqlite(&tmp.path().join("hub.db"));
    let opts = StoreOptions::default();
    let mut lead = Store::create(&tmp.path().join("lead"), Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Fakey Outreach", &[ZONE]), &opts).unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead phone").unwrap();
    let join = |lead: &mut Store, name: &str| {
        let code = lead.create_invite(&hub, Role::Member, 3_600_000).unwrap();
        Store::create_from_invite(&tmp.path().join(name), Unlock::Key(StoreKey::generate()), &code, name, &hub, &opts).unwrap()
    };
    let van1 = RefCell::new(join(&mut lead, "van1"));
    let mut van2 = join(&mut lead, "van2");
    for s in [&mut lead, &mut *van1.borrow_mut(), &mut van2] {
        sync(s, &hub);
    }
    let start = |s: &mut Store, van: &str| {
        s.start_shift(ShiftStart { van: van.into(), crew: vec!["TEST crew".into()], zones: vec![ZONE.into()], at: None }).unwrap();
    };
    let p1 = lead.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
    sync(&mut lead, &hub);

    // 1. Van 1 pushes a new document (new key, old epoch) between the lead's catch-up and its
    //    order reaching the hub.
    let enc1 = RefCell::new(None);
    {
        let t = Hooked {
            hub: &hub,
            path: outreach_proto::messages::paths::SHRED,
            hook: RefCell::new(Some(Box::new(|| {
                let mut v = van1.borrow_mut();
                start(&mut v, "TEST van 1");
                *enc1.borrow_mut() = Some(v.log_encounter(EncounterInput::new(ZONE)).unwrap().id);
                sync(&mut v, &hub);
            }))),
        };
        lead.erase_person(&t, &p1.id).unwrap();
    }
    let enc1 = enc1.into_inner().unwrap();

    // 2. Van 2 runs its `shreds` step, then the lead erases another person, then van 2
    //    pushes a new document's key under the epoch that order destroys.
    let p2 = lead.add_person(PersonInput::new("Fakey Stardust")).unwrap();
    sync(&mut lead, &hub);
    sync(&mut van2, &hub);
    start(&mut van2, "TEST van 2");
    let enc2 = van2.log_encounter(EncounterInput::new(ZONE)).unwrap().id;
    // ... and an edit of the person about to be erased: the hub discards it.
    let mut edit = van2.person_for_edit(&p2.id).unwrap().input;
    edit.note = Some("TEST edit that arrives after the erasure".into());
    van2.edit_person(&p2.id, edit).unwrap();
    let lead_cell = RefCell::new(&mut lead);
    {
        let t = Hooked {
            hub: &hub,
            path: outreach_proto::messages::paths::PUSH,
            hook: RefCell::new(Some(Box::new(|| {
                lead_cell.borrow_mut().erase_person(&hub, &p2.id).unwrap();
            }))),
        };
        van2.sync(&t, &no_progress, &CancelToken::new()).expect("the order met in the pull is applied there");
    }
    assert_eq!(van2.outbox_len().unwrap(), 0, "the discarded edit left the outbox");
    assert!(van2.view_person(&p2.id).is_err(), "the order was applied when met in the pull");
    let lead = lead_cell.into_inner();

    let mut van3 = join(lead, "van3");
    for _ in 0..2 {
        for s in [&mut *lead, &mut *van1.borrow_mut(), &mut van2, &mut van3] {
            sync(s, &hub);
        }
    }
    for (name, s) in [("lead", &*lead), ("van3", &van3)] {
        assert_eq!(s.sync_status().unwrap().waiting_for_keys, 0, "{name}: nothing waits for a destroyed key");
        s.get_encounter(&enc1).unwrap_or_else(|e| panic!("{name}: van 1's encounter pushed before the order: {e}"));
        s.get_encounter(&enc2).unwrap_or_else(|e| panic!("{name}: van 2's encounter pushed after the order: {e}"));
    }
}
