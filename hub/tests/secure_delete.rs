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

/// PostgreSQL has no secure delete: a shred's rows become dead tuples. The hub vacuums the
/// items table in the background after a shred; the server's own statistics must then show a
/// vacuum and count no dead tuples in it. Skipped without
/// OUTREACH_TEST_PG_URL (fails instead with OUTREACH_REQUIRE_PG=1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_vacuum_after_a_shred_leaves_no_dead_tuples() {
    use outreach_hub::storage::postgres::PgStorage;
    let url = match std::env::var("OUTREACH_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert_ne!(std::env::var("OUTREACH_REQUIRE_PG").as_deref(), Ok("1"), "OUTREACH_REQUIRE_PG=1 but OUTREACH_TEST_PG_URL is not set");
            eprintln!("skipped: OUTREACH_TEST_PG_URL not set");
            return;
        }
    };
    let schema = format!("t_vac_{}", std::process::id());
    let store = PgStorage::connect(&url, Some(&schema)).await.unwrap();
    let h = Harness::new(Arc::new(store.clone()));
    let team = h.create_team().await;
    let doc = new_doc(team.id, &team.lead);
    let chunks = (0..20).map(|n| fake_chunk(team.id, &team.lead, &doc, n)).collect();
    let _: PushResponse = ok(h.push(team.id, &team.lead, chunks, vec![doc.wrapped.clone()]).await);
    let new_key = outreach_proto::keys::TeamKey::generate(1);
    let team_keys = vec![wrap_team_key(&new_key, team.id, &team.lead.keys.public(), &team.lead.keys).unwrap()];
    let order = ShredOrder::new(&team.lead.keys, team.id, vec![doc.id], 1, ShredReason::Retention, 1_900_000_000_000);
    let resp: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &ShredRequest { order, team_keys, recipient_kx: vec![] }).await);
    assert_eq!((resp.chunks_deleted, resp.keys_deleted), (20, 1));
    // The shred started a VACUUM in the background: wait for the server to report it.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let mut stats = (0i64, -1i64);
    for _ in 0..100 {
        let row = client
            .query_one("SELECT n_dead_tup, vacuum_count FROM pg_stat_all_tables WHERE schemaname = $1 AND relname = 'items'", &[&schema])
            .await
            .unwrap();
        stats = (row.get(1), row.get(0));
        if stats.0 >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (vacuums, dead) = stats;
    assert!(vacuums >= 1, "items was not vacuumed after the shred");
    assert_eq!(dead, 0, "dead tuples remain after VACUUM");
    // Calling it again is harmless.
    store.vacuum_items().await.unwrap();
    drop(h);
    drop(store);
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.unwrap();
}
