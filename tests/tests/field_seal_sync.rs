//! Sealed person-linked fields across devices: a device that receives a shift before the
//! person document its notes are sealed for shows them as withheld ("erased or not yet
//! synced"), never an error, and shows the text once the person's document arrives.
//!
//! The hub runs in-process (`hubsim`). To make the person document arrive late, the second
//! device's transport holds back the document keys of one pull: the person's chunk then waits,
//! sealed, in `sync_waiting` (as it does whenever a chunk comes before its key), and the keys
//! are handed over in a later pull. All names and texts are obviously fake.

use std::cell::{Cell, RefCell};

use outreach_core::sync::{CancelToken, Role, Transport, TransportError};
use outreach_core::{EncounterInput, FollowUp, PersonInput, ShiftStart, Store, StoreKey, StoreOptions, TeamSetup, Unlock};
use outreach_tests::hubsim::{InProcHub, HUB_URL, SETUP_CODE};
use serde_json::Value as Json;

const ZONE: &str = "test-zone-a";

/// A transport to the in-process hub that can hold back the document keys of pull responses
/// and hand them over later (put first in a later page: their sequence numbers are older).
struct KeyDelay<'h> {
    hub: &'h InProcHub,
    hold: Cell<bool>,
    release: Cell<bool>,
    held: RefCell<Vec<Json>>,
}

impl Transport for KeyDelay<'_> {
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        let (status, bytes) = self.hub.call(path, body);
        if !path.contains("pull") || status != 200 || !(self.hold.get() || self.release.get()) {
            return Ok((status, bytes));
        }
        let mut v: Json = serde_json::from_slice(&bytes).expect("pull response is JSON");
        let next = v["next_cursor"].as_u64().expect("pull response has a next cursor");
        let items = v["items"].as_array_mut().expect("pull response has items");
        if self.hold.get() {
            let (keys, rest): (Vec<Json>, Vec<Json>) = items.drain(..).partition(|i| i["entry"]["kind"] == "doc_key");
            self.held.borrow_mut().extend(keys);
            *items = rest;
        } else {
            // The client accepts only items after its cursor, in order, covered by the next
            // cursor: the held keys take the first places of this page and everything after
            // moves up (so this device's cursor ends ahead of the hub's log; the test ends
            // with this pull).
            let mut all: Vec<Json> = self.held.borrow_mut().drain(..).collect();
            let k = all.len() as u64;
            let base = items.first().and_then(|i| i["seq"].as_u64()).unwrap_or(next + 1);
            for (n, it) in all.iter_mut().enumerate() {
                it["seq"] = Json::from(base + n as u64);
            }
            for it in items.iter_mut() {
                it["seq"] = Json::from(it["seq"].as_u64().unwrap() + k);
            }
            all.append(items);
            *items = all;
            v["next_cursor"] = Json::from(next + k);
        }
        Ok((status, serde_json::to_vec(&v).unwrap()))
    }
}

fn sync(s: &mut Store, t: &dyn Transport) {
    s.sync(t, &|_| {}, &CancelToken::new()).expect("sync");
}

#[test]
fn a_shift_that_arrives_before_its_person_shows_the_marker_then_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let hub = InProcHub::sqlite(&dir.path().join("hub.db"));
    let opts = StoreOptions::default();
    let mut lead = Store::create(&dir.path().join("lead"), Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Team", &[ZONE]), &opts).unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead phone").unwrap();
    let code = lead.create_invite(&hub, Role::Member, 3_600_000).unwrap();
    let mut van = Store::create_from_invite(&dir.path().join("van"), Unlock::Key(StoreKey::generate()), &code, "TEST van phone", &hub, &opts).unwrap();
    let code = lead.create_invite(&hub, Role::Lead, 3_600_000).unwrap();
    let mut desk = Store::create_from_invite(&dir.path().join("desk"), Unlock::Key(StoreKey::generate()), &code, "TEST desk", &hub, &opts).unwrap();
    sync(&mut lead, &hub);
    sync(&mut van, &hub);
    sync(&mut desk, &hub);

    // The van makes a profile; the desk's pull of it loses the keys for now.
    let p = van.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
    sync(&mut van, &hub);
    let delay = KeyDelay { hub: &hub, hold: Cell::new(true), release: Cell::new(false), held: RefCell::new(vec![]) };
    sync(&mut desk, &delay);
    assert!(!delay.held.borrow().is_empty(), "the test must actually hold a key back");
    assert!(desk.find_people("Fakey Moonbeam", 5).unwrap().is_empty(), "the profile must not have arrived yet");

    // The van logs a linked encounter; the desk receives the shift (and its key) normally.
    van.start_shift(ShiftStart { van: "TEST Van".into(), crew: vec!["staff-a".into()], zones: vec![ZONE.into()], at: None }).unwrap();
    let mut input = EncounterInput::new(ZONE);
    input.person = Some(p.id.clone());
    input.note = Some("CANARY-sync-note".into());
    input.follow_up = Some(FollowUp { due: None, what: "CANARY-sync-follow".into(), done: false });
    let e = van.log_encounter(input).unwrap();
    sync(&mut van, &hub);
    delay.hold.set(false);
    sync(&mut desk, &delay);

    let night = van.current_shift().unwrap().unwrap().night;
    let got = desk.get_encounter(&e.id).expect("the shift arrived; reading it must not fail");
    assert_eq!(got.input.note, None);
    assert_eq!(got.withheld, vec!["follow_up.what".to_string(), "note".to_string()]);
    let list = desk.list_night(night).unwrap();
    assert_eq!(list.len(), 1);
    assert!(!list[0].withheld.is_empty());
    let csv = desk.export_csv(outreach_core::report::export::ExportEntity::Encounters, None).unwrap();
    assert!(csv.contains("[erased or not yet synced]") && !csv.contains("CANARY"));
    desk.review_items(night).unwrap();

    // The keys arrive: the waiting profile is applied and the text reads, with no re-projection.
    delay.release.set(true);
    sync(&mut desk, &delay);
    assert!(delay.held.borrow().is_empty());
    assert_eq!(desk.find_people("Fakey Moonbeam", 5).unwrap().len(), 1, "the profile arrived");
    let got = desk.get_encounter(&e.id).unwrap();
    assert_eq!(got.input.note.as_deref(), Some("CANARY-sync-note"));
    assert_eq!(got.input.follow_up.unwrap().what, "CANARY-sync-follow");
    assert!(got.withheld.is_empty());
    assert!(desk.verify_projections().unwrap(), "projections equal a rebuild on the desk");
    // The van, which wrote it, reads it too.
    assert_eq!(van.get_encounter(&e.id).unwrap().input.note.as_deref(), Some("CANARY-sync-note"));
}
