//! Crypto-shredding on one device, without a hub: pages and notices are built by hand, and a
//! fake transport answers `shreds`, `devices` and `rekey` (or loses the answer). All names are
//! obviously fake.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use outreach_proto::keys::{DeviceKeys, TeamKey};
use outreach_proto::messages::{paths, DevicesResponse, PullEntry, PullItem, RekeyResponse, Role, ShredNotice, ShredsResponse};
use outreach_proto::orders::{ShredOrder, ShredReason};
use outreach_proto::wrap::{unwrap_doc_key, wrap_team_key, WrappedDocKey};

use super::tests::{info, items_of, lead, peer};
use super::{identity, Transport, TransportError};
use crate::{Error, PersonInput, Store};

type Answer = Result<(u16, Vec<u8>), TransportError>;

/// Answers queued per path; a path with nothing queued answers as if the network were down
/// (`shreds`: no more orders).
#[derive(Default)]
struct FakeHub {
    answers: RefCell<HashMap<String, VecDeque<Answer>>>,
    asked: RefCell<Vec<String>>,
}

impl FakeHub {
    fn answer<T: serde::Serialize>(&self, path: &str, body: &T) {
        self.answers.borrow_mut().entry(path.into()).or_default().push_back(Ok((200, serde_json::to_vec(body).unwrap())));
    }
    fn lose(&self, path: &str) {
        self.answers.borrow_mut().entry(path.into()).or_default().push_back(Err(TransportError("timeout".into())));
    }
}

impl Transport for FakeHub {
    fn post(&self, path: &str, _body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        self.asked.borrow_mut().push(path.into());
        match self.answers.borrow_mut().get_mut(path).and_then(|q| q.pop_front()) {
            Some(a) => a,
            // No more orders.
            None if path == paths::SHREDS => Ok((200, serde_json::to_vec(&ShredsResponse { shreds: vec![] }).unwrap())),
            None => Err(TransportError("refused".into())),
        }
    }
}

fn keys_of(s: &Store) -> DeviceKeys {
    let k = &s.sync.as_ref().unwrap().keys;
    DeviceKeys::from_secrets(&k.signing_secret(), &k.agreement_secret())
}

fn doc_of(s: &Store, person: &str) -> String {
    s.conn.query_row("SELECT doc_id FROM people WHERE id = ?1", [person], |r| r.get(0)).unwrap()
}

fn count(s: &Store, sql: &str, doc: &str) -> i64 {
    s.conn.query_row(sql, [doc], |r| r.get(0)).unwrap()
}

/// A lead-signed order for `docs` and the notice `to` would get for it (team key wrapped for
/// its current agreement key).
fn order_for(lead: &Store, to: &Store, docs: &[&str], epoch: u64) -> (ShredOrder, TeamKey, ShredNotice) {
    let l = keys_of(lead);
    let team = lead.sync.as_ref().unwrap().team_id;
    let ids = docs.iter().map(|d| identity::wire_doc_id(d).unwrap()).collect();
    let order = ShredOrder::new(&l, team, ids, epoch, ShredReason::Erasure, 1);
    let key = TeamKey::generate(epoch);
    let wrapped = wrap_team_key(&key, team, &keys_of(to).public(), &l).unwrap();
    let notice = ShredNotice { seq: 5000, received_ms: 1, order: order.clone(), team_key: Some(wrapped) };
    (order, key, notice)
}

/// Lead `a` writes a profile; peer `b` pulls it. Returns the profile id and its document.
fn shared_person(a: &mut Store, b: &mut Store) -> (String, String) {
    let p = a.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
    let (keys, chunks) = items_of(a);
    let mut items = keys;
    items.extend(chunks);
    b.apply_page(&items, 2000).unwrap();
    let doc = doc_of(a, &p.id);
    assert_eq!(count(b, "SELECT count(*) FROM docs WHERE doc_id = ?1", &doc), 1);
    (p.id, doc)
}

#[test]
fn removed_documents_are_deleted_everywhere_dropped_on_pull_and_never_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = lead(dir.path());
    let mut b = peer(dir.path(), &mut a);
    let (pid, doc) = shared_person(&mut a, &mut b);
    // b edits the profile (queued), then removes the document locally.
    let mut edit = b.person_for_edit(&pid).unwrap().input;
    edit.age_band = crate::AgeBand::A25;
    b.edit_person(&pid, edit).unwrap();
    assert!(count(&b, "SELECT count(*) FROM outbox WHERE doc_id = ?1", &doc) > 0);
    assert_eq!(b.delete_docs_locally(std::slice::from_ref(&doc)).unwrap(), 1);
    for sql in [
        "SELECT count(*) FROM docs WHERE doc_id = ?1",
        "SELECT count(*) FROM doc_chunks WHERE doc_id = ?1",
        "SELECT count(*) FROM doc_keys WHERE doc_id = ?1",
        "SELECT count(*) FROM outbox WHERE doc_id = ?1",
        "SELECT count(*) FROM people WHERE doc_id = ?1",
    ] {
        assert_eq!(count(&b, sql, &doc), 0, "{sql}");
    }
    assert!(!b.docs.contains_key(&doc), "no cached copy");
    assert!(matches!(b.view_person(&pid), Err(Error::NotFound { .. })));
    // a edits again; the new key and chunk reach b and are dropped unread.
    let mut edit = a.person_for_edit(&pid).unwrap().input;
    edit.age_band = crate::AgeBand::A35;
    a.edit_person(&pid, edit).unwrap();
    let (keys, chunks) = items_of(&a);
    let mut items: Vec<PullItem> = keys.into_iter().map(|mut i| { i.seq += 3000; i }).collect();
    items.extend(chunks.into_iter().map(|mut i| { i.seq += 3000; i }));
    let wire = identity::wire_doc_id(&doc).unwrap();
    items.retain(|i| match &i.entry {
        PullEntry::DocKey { key } => key.doc_id == wire,
        PullEntry::Chunk { chunk, .. } => chunk.doc_id == wire,
        _ => false,
    });
    assert!(items.len() >= 2, "a new chunk (and key) of the removed document");
    let out = b.apply_page(&items, 5000).unwrap();
    assert_eq!(out.chunks + out.waiting, 0, "nothing of the removed document is applied or kept");
    for sql in ["SELECT count(*) FROM docs WHERE doc_id = ?1", "SELECT count(*) FROM doc_keys WHERE doc_id = ?1", "SELECT count(*) FROM sync_pending WHERE doc_id = ?1"] {
        assert_eq!(count(&b, sql, &doc), 0, "{sql}");
    }
    assert_eq!(b.conn.query_row("SELECT count(*) FROM sync_waiting", [], |r| r.get::<_, i64>(0)).unwrap(), 0);
}

#[test]
fn an_order_destroys_older_team_keys_rewraps_unpushed_keys_and_prepares_a_new_agreement_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = lead(dir.path());
    let mut b = peer(dir.path(), &mut a);
    let (_, doc) = shared_person(&mut a, &mut b);
    // b's own unpushed key (a profile of its own), wrapped under epoch 0.
    let mine = b.add_person(PersonInput::new("Fakey Stardust")).unwrap();
    let mine_doc = doc_of(&b, &mine.id);
    let (order, key, notice) = order_for(&a, &b, &[&doc], 1);
    let opened = b.verify_notice(&notice).unwrap().unwrap();
    assert_eq!(opened.expose_secret(), key.expose_secret());
    assert_eq!(b.apply_order(&order, Some(opened), Some(7)).unwrap(), 1);
    let epochs: Vec<i64> = b.conn.prepare("SELECT epoch FROM team_keys").unwrap().query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(epochs, vec![1], "every older team key is destroyed");
    assert_eq!(b.sync.as_ref().unwrap().team_key.epoch(), 1);
    let (epoch, wrapped): (i64, String) =
        b.conn.query_row("SELECT epoch, wrapped FROM doc_keys WHERE doc_id = ?1", [&mine_doc], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(epoch, 1);
    let w: WrappedDocKey = serde_json::from_str(&wrapped).unwrap();
    unwrap_doc_key(&key, b.sync.as_ref().unwrap().team_id, &w).expect("the unpushed key is wrapped under the new epoch");
    let (floor, pending): (i64, Option<Vec<u8>>) =
        b.conn.query_row("SELECT shred_floor, kx_pending FROM sync_identity", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((floor, pending.is_some()), (1, true));
    // Met again in the pull log: a no-op. An order never applied: refused before anything.
    let again = PullItem { seq: 9, received_ms: 1, entry: PullEntry::Shred { order: order.clone() } };
    b.apply_page(&[again], 9).unwrap();
    assert_eq!(b.apply_order(&order, None, None).unwrap(), 0);
    let (other, _, _) = order_for(&a, &b, &[&mine_doc], 2);
    let unknown = PullItem { seq: 10, received_ms: 1, entry: PullEntry::Shred { order: other } };
    assert!(matches!(b.apply_page(&[unknown], 10), Err(Error::State(_))));
    assert_eq!(count(&b, "SELECT count(*) FROM docs WHERE doc_id = ?1", &mine_doc), 1);
    // A team key of an epoch before the shred never comes back (even if still openable).
    let old = TeamKey::generate(0);
    let l = keys_of(&a);
    let w0 = wrap_team_key(&old, b.sync.as_ref().unwrap().team_id, &keys_of(&b).public(), &l).unwrap();
    b.apply_page(&[PullItem { seq: 11, received_ms: 1, entry: PullEntry::TeamKey { key: w0 } }], 11).unwrap();
    assert!(identity::team_key(&b.conn, 0).unwrap().is_none());
}

#[test]
fn forged_tampered_or_misdirected_orders_are_refused_and_delete_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = lead(dir.path());
    let mut b = peer(dir.path(), &mut a);
    let (_, doc) = shared_person(&mut a, &mut b);
    let dev = |s: &Store, role| info(s, role);
    let directory = DevicesResponse { epoch: 0, devices: vec![dev(&a, Role::Lead), dev(&b, Role::Member)] };
    let team = b.sync.as_ref().unwrap().team_id;
    // Signed by a member (b itself), not a lead.
    let forged = ShredOrder::new(&keys_of(&b), team, vec![identity::wire_doc_id(&doc).unwrap()], 1, ShredReason::Erasure, 1);
    let hub = FakeHub::default();
    hub.answer(paths::SHREDS, &ShredsResponse { shreds: vec![ShredNotice { seq: 5000, received_ms: 1, order: forged, team_key: None }] });
    hub.answer(paths::DEVICES, &directory);
    assert!(matches!(b.apply_shreds(&hub, &super::CancelToken::new()), Err(Error::Crypto(_))));
    assert_eq!(hub.asked.borrow().as_slice(), [paths::SHREDS, paths::DEVICES], "the directory is refreshed once");
    // Signed by the lead, then altered (another document named).
    let (mut tampered, _, mut notice) = order_for(&a, &b, &[&doc], 1);
    tampered.doc_ids = vec![identity::wire_doc_id(&"ab".repeat(16)).unwrap()];
    notice.order = tampered;
    assert!(matches!(b.verify_notice(&notice), Err(Error::Crypto(_))));
    // A team key wrapped for another device.
    let (_, _, mut notice) = order_for(&a, &b, &[&doc], 1);
    notice.team_key = Some(wrap_team_key(&TeamKey::generate(1), team, &keys_of(&a).public(), &keys_of(&a)).unwrap());
    assert!(matches!(b.verify_notice(&notice), Err(Error::Crypto(_))));
    // A genuine order without the new team key for a device that was a member then.
    let (_, _, mut notice) = order_for(&a, &b, &[&doc], 1);
    notice.team_key = None;
    let hub = FakeHub::default();
    hub.answer(paths::SHREDS, &ShredsResponse { shreds: vec![notice] });
    assert!(matches!(b.apply_shreds(&hub, &super::CancelToken::new()), Err(Error::Hub { code, .. }) if code == "shred_key_missing"));
    assert_eq!(count(&b, "SELECT count(*) FROM docs WHERE doc_id = ?1", &doc), 1, "nothing deleted");
    assert!(identity::team_key(&b.conn, 0).unwrap().is_some(), "no key destroyed");
}

#[test]
fn a_lost_rekey_answer_keeps_the_pending_key_which_opens_the_next_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = lead(dir.path());
    let mut b = peer(dir.path(), &mut a);
    let (_, doc) = shared_person(&mut a, &mut b);
    let other = b.add_person(PersonInput::new("Fakey Stardust")).unwrap();
    let other_doc = doc_of(&b, &other.id);
    let (order, _, notice) = order_for(&a, &b, &[&doc], 1);
    let hub = FakeHub::default();
    hub.answer(paths::SHREDS, &ShredsResponse { shreds: vec![notice] });
    assert_eq!(b.apply_shreds(&hub, &super::CancelToken::new()).unwrap(), 1);
    assert!(super::shred::applied(&b.conn, &order).unwrap());
    let old_kx = b.sync.as_ref().unwrap().keys.agreement_secret();
    let pending = super::shred::pending_keys(&b.conn, &b.sync.as_ref().unwrap().keys).unwrap().unwrap();
    // The hub takes the new key but the answer is lost: nothing changes here.
    hub.lose(paths::REKEY);
    assert!(matches!(b.rekey(&hub), Err(Error::Network(_))));
    assert_eq!(*b.sync.as_ref().unwrap().keys.agreement_secret(), *old_kx);
    // The next order is wrapped for the key the hub now holds: the pending one opens it.
    let l = keys_of(&a);
    let team = a.sync.as_ref().unwrap().team_id;
    let order2 = ShredOrder::new(&l, team, vec![identity::wire_doc_id(&other_doc).unwrap()], 2, ShredReason::Retention, 2);
    let key2 = TeamKey::generate(2);
    let w2 = wrap_team_key(&key2, team, &pending.public(), &l).unwrap();
    hub.answer(paths::SHREDS, &ShredsResponse { shreds: vec![ShredNotice { seq: 5001, received_ms: 2, order: order2, team_key: Some(w2) }] });
    assert_eq!(b.apply_shreds(&hub, &super::CancelToken::new()).unwrap(), 1);
    assert_eq!(b.sync.as_ref().unwrap().team_key.epoch(), 2);
    assert_eq!(count(&b, "SELECT count(*) FROM docs WHERE doc_id = ?1", &other_doc), 0);
    // The retry is confirmed: the pending key replaces the old one.
    hub.answer(paths::REKEY, &RekeyResponse { kx_pub: pending.public().kx_pub });
    assert!(b.rekey(&hub).unwrap());
    assert_eq!(*b.sync.as_ref().unwrap().keys.agreement_secret(), *pending.agreement_secret());
    let secrets = |b: &Store| -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        b.conn.query_row("SELECT kx_pending, kx_retiring FROM sync_identity", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()
    };
    assert_eq!(secrets(&b), (None, Some(old_kx.to_vec())), "the old key is kept until the next pull");
    // A revocation made just before the replacement wrapped the next team key for the old
    // agreement key: the pull that follows still opens it.
    let old_pub = DeviceKeys::from_secrets(&keys_of(&b).signing_secret(), &old_kx).public();
    let key3 = TeamKey::generate(3);
    let w3 = wrap_team_key(&key3, team, &old_pub, &l).unwrap();
    b.apply_page(&[PullItem { seq: 20, received_ms: 3, entry: PullEntry::TeamKey { key: w3 } }], 20).unwrap();
    assert_eq!(b.sync.as_ref().unwrap().team_key.epoch(), 3);
    // After that pull the old key is destroyed.
    b.retire_old_kx().unwrap();
    assert_eq!(secrets(&b), (None, None));
    assert!(!b.rekey(&hub).unwrap(), "nothing pending: no request");
}

#[test]
fn orders_beyond_one_answer_of_the_hub_are_asked_for_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = lead(dir.path());
    let mut b = peer(dir.path(), &mut a);
    let (_, doc) = shared_person(&mut a, &mut b);
    let (_, _, n1) = order_for(&a, &b, &[&doc], 1);
    // Both wrapped for b's agreement key as the lead saw it (b has not re-keyed in between).
    let (_, _, mut n2) = order_for(&a, &b, &["cd".repeat(16).as_str()], 2);
    n2.seq = 5001;
    let hub = FakeHub::default();
    // One order per answer: the client must ask again after the last one it got.
    hub.answer(paths::SHREDS, &ShredsResponse { shreds: vec![n1] });
    hub.answer(paths::SHREDS, &ShredsResponse { shreds: vec![n2] });
    assert_eq!(b.apply_shreds(&hub, &super::CancelToken::new()).unwrap(), 2);
    assert_eq!(hub.asked.borrow().iter().filter(|p| p.as_str() == paths::SHREDS).count(), 3, "asked until an empty answer");
    assert_eq!(b.sync.as_ref().unwrap().team_key.epoch(), 2);
    assert_eq!(count(&b, "SELECT count(*) FROM docs WHERE doc_id = ?1", &doc), 0);
}

#[test]
fn an_order_applied_out_of_turn_deletes_its_documents_but_never_brings_back_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = lead(dir.path());
    let mut b = peer(dir.path(), &mut a);
    let (_, doc) = shared_person(&mut a, &mut b);
    let (newer, k3, _) = order_for(&a, &b, &["cd".repeat(16).as_str()], 3);
    b.apply_order(&newer, Some(k3), Some(5001)).unwrap();
    let (older, k2, _) = order_for(&a, &b, &[&doc], 2);
    assert_eq!(b.apply_order(&older, Some(k2), Some(5000)).unwrap(), 1, "its documents are deleted");
    assert!(identity::team_key(&b.conn, 2).unwrap().is_none(), "an older epoch's key is not installed");
    assert_eq!(b.sync.as_ref().unwrap().team_key.epoch(), 3);
    assert!(super::shred::applied(&b.conn, &older).unwrap());
}
