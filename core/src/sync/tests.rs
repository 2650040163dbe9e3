//! Sync internals without a hub: pages are built from one store's outbox and applied to a
//! second store of the same team. All names are obviously fake.

use outreach_proto::ids::{ChunkHash, KeyId};
use outreach_proto::keys::DeviceKeys;
use outreach_proto::messages::{DeviceInfo, PullEntry, PullItem, Role};
use outreach_proto::seal::{open_chunk, SealedChunk};
use outreach_proto::wrap::WrappedDocKey;

use super::identity;
use crate::{Error, PersonInput, Store, StoreKey, StoreOptions, TeamSetup, Unlock};

pub(super) fn team() -> TeamSetup {
    TeamSetup::new("TEST Team", &["test-zone"])
}

pub(super) fn lead(dir: &std::path::Path) -> Store {
    Store::create(&dir.join("lead"), Unlock::Key(StoreKey::generate()), team(), &StoreOptions::default()).unwrap()
}

pub(super) fn info(s: &Store, role: Role) -> DeviceInfo {
    let id = s.sync.as_ref().unwrap();
    DeviceInfo { device_id: id.device_id(), name: "TEST phone".into(), role, keys: id.keys.public(), enrolled_ms: 0, revoked_ms: None }
}

/// A second device of the lead's team, as enrolment would leave it (no settings yet).
pub(super) fn peer(dir: &std::path::Path, lead: &mut Store) -> Store {
    let keys = DeviceKeys::generate();
    let mut s = Store::create_empty(&dir.join("peer"), Unlock::Key(StoreKey::generate()), &StoreOptions::default(), keys.device_id().to_hex()).unwrap();
    let l = lead.sync.as_ref().unwrap();
    let t = s.conn.transaction().unwrap();
    t.execute("INSERT INTO meta (key, value) VALUES ('device_id', ?1)", [keys.device_id().to_hex()]).unwrap();
    t.execute("INSERT INTO meta (key, value) VALUES ('settings_doc', '')", []).unwrap();
    identity::insert(&t, &keys, l.team_id, &l.team_key, Role::Member, None, true).unwrap();
    super::save_devices(&t, &[info(lead, Role::Lead)]).unwrap();
    t.commit().unwrap();
    s.sync = identity::load(&s.conn).unwrap();
    let me = info(&s, Role::Member);
    super::save_devices(&lead.conn, &[me]).unwrap();
    s
}

/// The store's data keys and outbox as the hub would hand them out (keys first).
pub(super) fn items_of(s: &Store) -> (Vec<PullItem>, Vec<PullItem>) {
    let mut st = s.conn.prepare("SELECT wrapped FROM doc_keys WHERE pushed = 0 ORDER BY rowid").unwrap();
    let keys: Vec<PullItem> = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .enumerate()
        .map(|(i, w)| {
            let key: WrappedDocKey = serde_json::from_str(&w.unwrap()).unwrap();
            PullItem { seq: i as u64 + 1, received_ms: 1, entry: PullEntry::DocKey { key } }
        })
        .collect();
    let mut st = s.conn.prepare("SELECT data FROM outbox ORDER BY seq").unwrap();
    let chunks: Vec<PullItem> = st
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .enumerate()
        .map(|(i, d)| {
            let chunk = SealedChunk::from_bytes(&d.unwrap()).unwrap();
            PullItem { seq: 1000 + i as u64, received_ms: 1, entry: PullEntry::Chunk { hash: chunk.hash(), chunk } }
        })
        .collect();
    (keys, chunks)
}

pub(super) fn cursor(s: &Store) -> i64 {
    s.conn.query_row("SELECT pull_cursor FROM sync_identity", [], |r| r.get(0)).unwrap()
}

#[test]
fn the_outbox_holds_only_sealed_chunks_that_open_to_the_stored_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = lead(dir.path());
    let p = a.add_person(PersonInput::new("Testy CANARY-sync-1")).unwrap();
    let doc_id: String = a.conn.query_row("SELECT doc_id FROM people WHERE id = ?1", [&p.id], |r| r.get(0)).unwrap();
    let plain: Vec<u8> =
        a.conn.query_row("SELECT data FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq DESC LIMIT 1", [&doc_id], |r| r.get(0)).unwrap();
    let (data, hash): (Vec<u8>, Vec<u8>) =
        a.conn.query_row("SELECT data, hash FROM outbox WHERE doc_id = ?1", [&doc_id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert!(!data.windows(6).any(|w| w == b"CANARY"), "plaintext in the outbox");
    assert_eq!(ChunkHash::of(&data).0.to_vec(), hash);
    let sealed = SealedChunk::from_bytes(&data).unwrap();
    let id = a.sync.as_ref().unwrap();
    assert_eq!(sealed.author, id.device_id());
    assert_eq!(sealed.team_id, id.team_id);
    let key = identity::doc_key(&a.conn, &sealed.key_id).unwrap().unwrap();
    assert_eq!(&open_chunk(&sealed, &key, &id.keys.public()).unwrap()[..], &plain[..]);
    // One data key per document and epoch, wrapped under the team key, waiting to be pushed.
    let (n, epoch): (i64, i64) =
        a.conn.query_row("SELECT count(*), max(epoch) FROM doc_keys WHERE doc_id = ?1 AND pushed = 0", [&doc_id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((n, epoch), (1, 0));
    let mut again = p.input.clone();
    again.note = Some("TEST note".into());
    a.edit_person(&p.id, again).unwrap();
    let n: i64 = a.conn.query_row("SELECT count(*) FROM doc_keys WHERE doc_id = ?1", [&doc_id], |r| r.get(0)).unwrap();
    assert_eq!(n, 1, "the document's key is reused");
}

#[test]
fn chunks_in_reverse_order_wait_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = lead(dir.path());
    let mut b = peer(dir.path(), &mut a);
    let p = a.add_person(PersonInput::new("Testy Reverse")).unwrap();
    for name in ["Testy Two", "Testy Three", "Testy Four"] {
        let mut i = p.input.clone();
        i.code_name = name.into();
        a.edit_person(&p.id, i).unwrap();
    }
    let (keys, chunks) = items_of(&a);
    b.apply_page(&keys, 10).unwrap();
    // Newest first, one page each: nothing is visible until the first change arrives, and
    // nothing is lost on the way.
    let person_chunks: Vec<&PullItem> = chunks
        .iter()
        .filter(|it| matches!(&it.entry, PullEntry::Chunk { chunk, .. } if chunk.doc_id.to_hex() != a.settings_doc))
        .collect();
    assert_eq!(person_chunks.len(), 4);
    for (n, it) in person_chunks.iter().rev().enumerate() {
        b.apply_page(std::slice::from_ref(*it), 20 + n as u64).unwrap();
        let people = b.counts().unwrap().2;
        assert_eq!(people, if n == 3 { 1 } else { 0 }, "after page {n}");
    }
    let pending: i64 = b.conn.query_row("SELECT count(*) FROM sync_pending", [], |r| r.get(0)).unwrap();
    assert_eq!(pending, 0);
    assert_eq!(b.view_person(&p.id).unwrap().input.code_name, "Testy Four");
    // And from disk alone.
    b.docs.clear();
    b.rebuild_projections().unwrap();
    let fa = a.projection_fingerprint().unwrap();
    assert_eq!(b.projection_fingerprint().unwrap(), fa);
    // A document whose first change is known but whose later changes arrive newest first:
    // automerge queues them, the chunks are stored, and a reload from disk still has them.
    let q = a.add_person(PersonInput::new("Testy Queue")).unwrap();
    for name in ["Testy Q2", "Testy Q3", "Testy Q4"] {
        let mut i = q.input.clone();
        i.code_name = name.into();
        a.edit_person(&q.id, i).unwrap();
    }
    let (keys2, chunks2) = items_of(&a);
    let qdoc: String = a.conn.query_row("SELECT doc_id FROM people WHERE id = ?1", [&q.id], |r| r.get(0)).unwrap();
    let qchunks: Vec<PullItem> = chunks2
        .into_iter()
        .filter(|it| matches!(&it.entry, PullEntry::Chunk { chunk, .. } if chunk.doc_id.to_hex() == qdoc))
        .collect();
    assert_eq!(qchunks.len(), 4);
    b.apply_page(&keys2, 21).unwrap();
    b.apply_page(&qchunks[..1], 22).unwrap();
    assert_eq!(b.view_person(&q.id).unwrap().input.code_name, "Testy Queue");
    b.apply_page(&[qchunks[3].clone()], 23).unwrap();
    b.docs.clear();
    b.apply_page(&[qchunks[2].clone()], 24).unwrap();
    assert_eq!(b.view_person(&q.id).unwrap().input.code_name, "Testy Queue", "still waiting for Q2");
    b.apply_page(&[qchunks[1].clone()], 25).unwrap();
    assert_eq!(b.view_person(&q.id).unwrap().input.code_name, "Testy Q4");
    b.docs.clear();
    b.rebuild_projections().unwrap();
    assert_eq!(b.projection_fingerprint().unwrap(), a.projection_fingerprint().unwrap());
    // The settings document arrives last: the member learns the zones.
    let settings: Vec<PullItem> = chunks.iter().filter(|it| !person_chunks.iter().any(|p| p.seq == it.seq)).cloned().collect();
    b.apply_page(&settings, 40).unwrap();
    assert_eq!(b.settings().zones, ["test-zone"]);
    assert_eq!(b.settings_doc, a.settings_doc);
    assert_eq!(cursor(&b), 40);
}

#[test]
fn a_page_with_a_forged_chunk_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = lead(dir.path());
    let mut b = peer(dir.path(), &mut a);
    a.add_person(PersonInput::new("Testy Forged")).unwrap();
    let (keys, chunks) = items_of(&a);
    let mut page = keys.clone();
    page.extend(chunks.iter().cloned());
    // Flip a ciphertext bit of the last chunk and fix up its hash: the signature must catch it.
    if let Some(PullEntry::Chunk { hash, chunk }) = page.last_mut().map(|it| &mut it.entry) {
        chunk.ciphertext[0] ^= 1;
        *hash = chunk.hash();
    }
    let before = b.projection_fingerprint().unwrap();
    let err = b.apply_page(&page, 99).unwrap_err();
    assert!(matches!(err, Error::Crypto(_)), "{err:?}");
    assert_eq!(cursor(&b), 0, "cursor not moved");
    assert_eq!(b.projection_fingerprint().unwrap(), before);
    let (docs, keys_held): (i64, i64) =
        b.conn.query_row("SELECT (SELECT count(*) FROM docs), (SELECT count(*) FROM doc_keys)", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((docs, keys_held), (0, 0), "nothing of the page was kept");
    // A chunk from a device outside the directory is refused too.
    let stranger = DeviceKeys::generate();
    if let Some(PullEntry::Chunk { chunk, .. }) = page.last_mut().map(|it| &mut it.entry) {
        chunk.ciphertext[0] ^= 1;
        chunk.author = stranger.device_id();
    }
    assert!(matches!(b.apply_page(&page, 99), Err(Error::Crypto(_))));
    // The genuine page applies.
    let mut good = keys;
    good.extend(chunks);
    b.apply_page(&good, 99).unwrap();
    assert_eq!(cursor(&b), 99);
    assert_eq!(b.projection_fingerprint().unwrap(), a.projection_fingerprint().unwrap());
    // Own chunks coming back are skipped.
    let (_, mine) = items_of(&a);
    let out = a.apply_page(&mine, 5).unwrap();
    assert_eq!((out.own, out.chunks), (mine.len() as u64, 0));
    let _ = KeyId::random();
}

#[test]
fn a_plaintext_outbox_left_by_an_older_version_is_sealed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = StoreKey::generate();
    let path = dir.path().join("old");
    let mut s = Store::create(&path, Unlock::Key(key.clone()), team(), &StoreOptions::default()).unwrap();
    s.add_person(PersonInput::new("Testy Legacy")).unwrap();
    s.conn.execute("DELETE FROM outbox", []).unwrap();
    s.conn
        .execute("INSERT INTO outbox_unsealed (doc_id, data, created_at) SELECT doc_id, data, '2026-01-01T00:00:00Z' FROM doc_chunks", [])
        .unwrap();
    let n: i64 = s.conn.query_row("SELECT count(*) FROM outbox_unsealed", [], |r| r.get(0)).unwrap();
    drop(s);
    let s = Store::open(&path, Unlock::Key(key)).unwrap();
    let left: i64 = s.conn.query_row("SELECT count(*) FROM outbox_unsealed", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
    assert_eq!(s.outbox_len().unwrap() as i64, n);
    let data: Vec<u8> = s.conn.query_row("SELECT data FROM outbox ORDER BY seq LIMIT 1", [], |r| r.get(0)).unwrap();
    SealedChunk::from_bytes(&data).unwrap();
    assert!(s.sync_status().unwrap().outbox as i64 == n);
}
