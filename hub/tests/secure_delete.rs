//! SQLite's `secure_delete`: after a shred, the raw bytes of the hub's database file and its
//! write-ahead log no longer contain the shredded documents' ciphertext or wrapped keys,
//! while a kept document's ciphertext is still found (so the search itself works).

mod common;

use std::sync::Arc;

use common::*;
use outreach_hub::storage::sqlite::SqliteStorage;
use outreach_proto::messages::*;
use outreach_proto::orders::{ShredOrder, ShredReason};
use outreach_proto::seal::seal_chunk;
use outreach_proto::wrap::wrap_team_key;

/// The database file and its write-ahead log, concatenated as they are on disk.
fn raw_bytes(db: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).expect("read database file");
    let wal = db.with_file_name("hub.db-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shredded_ciphertext_is_gone_from_the_database_file_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStorage::open(&path).await.unwrap();
    let h = Harness::new(Arc::new(store));
    let team = h.create_team().await;
    let member = h.enrol(&team, Role::Member, "TEST van phone A").await;
    let (gone, kept) = (new_doc(team.id, &member), new_doc(team.id, &member));
    // One small chunk (stored inline in a table page) and one of 20 KB (overflow pages).
    let small = fake_chunk(team.id, &member, &gone, 0);
    let big_text = "FAKE long note about Fakey Moonbeam in TEST-ZONE. ".repeat(400);
    let big = seal_chunk(&gone.key, team.id, gone.id, gone.key_id, big_text.as_bytes(), &member.keys).unwrap();
    let live = fake_chunk(team.id, &member, &kept, 0);
    let _: PushResponse =
        ok(h.push(team.id, &member, vec![small.clone(), big.clone(), live.clone()], vec![gone.wrapped.clone(), kept.wrapped.clone()]).await);

    // Distinctive slices: random-looking ciphertext cannot occur anywhere else by chance.
    let needles = [
        ("small chunk", small.ciphertext[4..36].to_vec()),
        ("big chunk, start", big.ciphertext[..32].to_vec()),
        ("big chunk, end", big.ciphertext[big.ciphertext.len() - 32..].to_vec()),
        // Wrapped keys are stored as JSON: their ciphertext appears base64url-encoded.
        ("wrapped doc key", serde_json::to_value(&gone.wrapped).unwrap()["ciphertext"].as_str().unwrap().as_bytes().to_vec()),
    ];
    let before = raw_bytes(&path);
    for (what, needle) in &needles {
        assert!(contains(&before, needle), "{what} not found before the shred: the search is broken");
    }

    let new_key = outreach_proto::keys::TeamKey::generate(1);
    let team_keys = [&team.lead, &member].iter().map(|d| wrap_team_key(&new_key, team.id, &d.keys.public(), &team.lead.keys).unwrap()).collect();
    let order = ShredOrder::new(&team.lead.keys, team.id, vec![gone.id], 1, ShredReason::Erasure, 1_900_000_000_000);
    let resp: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &ShredRequest { order, team_keys, recipient_kx: vec![] }).await);
    assert_eq!((resp.chunks_deleted, resp.keys_deleted), (2, 1));

    let after = raw_bytes(&path);
    for (what, needle) in &needles {
        assert!(!contains(&after, needle), "{what} is still in the hub's database bytes after the shred");
    }
    assert!(contains(&after, &live.ciphertext[4..36]), "the kept document's chunk must still be there");
    let wal_len = std::fs::metadata(path.with_file_name("hub.db-wal")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "the write-ahead log is truncated after a shred");
}
