//! Schema versions and migrations.
//!
//! `PRAGMA user_version` holds the version. Each migration runs in its own transaction; a
//! database migrated step by step must equal one created fresh (tested).

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Each entry migrates from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // v1: documents, outbox, projections, audit.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE docs (
        doc_id TEXT PRIMARY KEY, kind TEXT NOT NULL, snapshot BLOB,
        snapshot_len INTEGER NOT NULL DEFAULT 0, chunks_len INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE doc_chunks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL REFERENCES docs(doc_id),
        data BLOB NOT NULL);
    CREATE INDEX doc_chunks_doc ON doc_chunks(doc_id, seq);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, data BLOB NOT NULL,
        created_at TEXT NOT NULL);
    CREATE TABLE shifts (
        id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, device TEXT NOT NULL, van TEXT NOT NULL,
        night TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, data TEXT NOT NULL);
    CREATE TABLE encounters (
        id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, shift_id TEXT NOT NULL, device TEXT NOT NULL,
        at TEXT NOT NULL, night TEXT NOT NULL, zone TEXT NOT NULL, setting TEXT NOT NULL,
        contact_type TEXT NOT NULL, person_id TEXT, data TEXT NOT NULL);
    CREATE TABLE encounter_services (
        encounter_id TEXT NOT NULL, service TEXT NOT NULL, qty INTEGER NOT NULL,
        PRIMARY KEY (encounter_id, service)) WITHOUT ROWID;
    CREATE TABLE referrals (
        encounter_id TEXT NOT NULL, idx INTEGER NOT NULL, destination TEXT NOT NULL,
        mode TEXT NOT NULL, consent INTEGER NOT NULL, status TEXT NOT NULL,
        PRIMARY KEY (encounter_id, idx)) WITHOUT ROWID;
    CREATE TABLE people (
        id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, code_name TEXT NOT NULL, name_key TEXT NOT NULL,
        age_band TEXT NOT NULL, merged_into TEXT, created_at TEXT NOT NULL, data TEXT NOT NULL);
    CREATE TABLE concerns (
        id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, shift_id TEXT NOT NULL, at TEXT NOT NULL,
        night TEXT NOT NULL, category TEXT NOT NULL, person_id TEXT, reviewed INTEGER NOT NULL,
        data TEXT NOT NULL);
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, shift_id TEXT NOT NULL, at TEXT NOT NULL,
        night TEXT NOT NULL, kind TEXT NOT NULL, person_id TEXT, share_police TEXT NOT NULL,
        share_national TEXT NOT NULL, data TEXT NOT NULL);
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, risk TEXT NOT NULL, created_at TEXT NOT NULL,
        data TEXT NOT NULL);
    CREATE TABLE alert_ids (
        hash BLOB NOT NULL, alert_id TEXT NOT NULL, PRIMARY KEY (hash, alert_id)) WITHOUT ROWID;
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, device TEXT NOT NULL,
        actor TEXT NOT NULL, action TEXT NOT NULL, entity TEXT NOT NULL, entity_id TEXT);
    "#,
    // v2: indexes for the night view and person look-ups (measured: listing one night of 100k
    // encounters scanned the table without them).
    r#"
    CREATE INDEX encounters_night ON encounters(night, at);
    CREATE INDEX encounters_person ON encounters(person_id);
    CREATE INDEX encounters_doc ON encounters(doc_id);
    CREATE INDEX shifts_night ON shifts(night);
    CREATE INDEX concerns_night ON concerns(night);
    CREATE INDEX incidents_night ON incidents(night);
    CREATE INDEX people_name ON people(name_key);
    CREATE INDEX alert_ids_alert ON alert_ids(alert_id);
    "#,
    // v3: the sync client. Everything secret stays inside this (SQLCipher) database.
    // - The v1 `outbox` held plaintext chunks; it becomes `outbox_unsealed` (sealed and moved
    //   on open by `sync::seal_unsealed_outbox`, then always empty) and the new `outbox` holds
    //   only sealed chunks (canonical bytes of outreach_proto::seal::SealedChunk), unique by
    //   content hash so a re-push after a lost response is harmless.
    // - `sync_identity`: this device's signing and agreement secrets, team, role, current
    //   team-key epoch, hub URL, pull cursor and last sync outcome (one row).
    // - `team_keys`: team key per epoch. `doc_keys`: per-document data keys (unwrapped) with
    //   their wrapped form as pushed to the hub.
    // - `sync_devices`: the team's device directory (public keys) used to verify authors.
    // - `sync_pending`: pulled plaintext chunks of documents whose first change (skeleton,
    //   hence kind) has not arrived yet.
    r#"
    ALTER TABLE outbox RENAME TO outbox_unsealed;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, hash BLOB NOT NULL UNIQUE,
        data BLOB NOT NULL, created_at TEXT NOT NULL);
    CREATE TABLE sync_identity (
        id INTEGER PRIMARY KEY CHECK (id = 1), device_id TEXT NOT NULL,
        sign_secret BLOB NOT NULL, kx_secret BLOB NOT NULL, team_id TEXT NOT NULL,
        role TEXT NOT NULL, epoch INTEGER NOT NULL, hub_url TEXT,
        registered INTEGER NOT NULL DEFAULT 0, pull_cursor INTEGER NOT NULL DEFAULT 0,
        last_attempt TEXT, last_success TEXT, last_error TEXT);
    CREATE TABLE team_keys (epoch INTEGER PRIMARY KEY, key BLOB NOT NULL, added_at TEXT NOT NULL);
    CREATE TABLE doc_keys (
        key_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, epoch INTEGER NOT NULL, key BLOB NOT NULL,
        wrapped TEXT NOT NULL, pushed INTEGER NOT NULL);
    CREATE INDEX doc_keys_doc ON doc_keys(doc_id, epoch);
    CREATE INDEX doc_keys_unpushed ON doc_keys(pushed) WHERE pushed = 0;
    CREATE TABLE sync_devices (
        device_id TEXT PRIMARY KEY, sign_pub BLOB NOT NULL, kx_pub BLOB NOT NULL,
        name TEXT NOT NULL, role TEXT NOT NULL, enrolled_ms INTEGER NOT NULL, revoked_ms INTEGER);
    CREATE TABLE sync_pending (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, data BLOB NOT NULL);
    CREATE INDEX sync_pending_doc ON sync_pending(doc_id, seq);
    "#,
    // v4: team-key rotation. The lead that issued an epoch (`team_keys.issued`) re-wraps every
    // document key it holds under it (`doc_key_wraps`, pushed like `doc_keys`), so a device
    // enrolled after a revocation, which holds only the new team key, can read older
    // documents. Pulled chunks whose data key is not held yet wait, still sealed and with
    // their signature checked, in `sync_waiting` until the key arrives.
    r#"
    ALTER TABLE team_keys ADD COLUMN issued INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE doc_key_wraps (
        key_id TEXT NOT NULL, epoch INTEGER NOT NULL, wrapped TEXT NOT NULL, pushed INTEGER NOT NULL,
        PRIMARY KEY (key_id, epoch)) WITHOUT ROWID;
    CREATE TABLE sync_waiting (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, key_id TEXT NOT NULL, data BLOB NOT NULL,
        received_ms INTEGER NOT NULL);
    CREATE INDEX sync_waiting_key ON sync_waiting(key_id, seq);
    "#,
    // v5: privacy operations. One section per concern; each says what its tables hold.
    r#"
    -- erasure (crypto-shredding): `shred_orders` = lead-signed orders applied here (by
    -- signature; epoch, reason, seq); `shredded_docs` = documents removed from this device
    -- (shredded, or dropped locally by the phones' rolling window: `epoch` NULL) whose chunks
    -- and keys are dropped if they arrive later and never pushed; `erased_people` = merge
    -- edges of erased profiles (pseudonymous ids only) so report counts stay the same;
    -- `sync_identity.kx_pending` = a new agreement secret sent to the hub, not yet confirmed;
    -- `sync_identity.shred_floor` = the newest shred epoch (older team keys never come back).
    CREATE TABLE shred_orders (
        sig BLOB PRIMARY KEY, epoch INTEGER NOT NULL, reason TEXT NOT NULL, seq INTEGER,
        issued_ms INTEGER NOT NULL, issued_by TEXT NOT NULL, docs INTEGER NOT NULL,
        applied_at TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE shredded_docs (
        doc_id TEXT PRIMARY KEY, epoch INTEGER, removed_at TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE erased_people (
        person_id TEXT PRIMARY KEY, canonical TEXT NOT NULL) WITHOUT ROWID;
    ALTER TABLE sync_identity ADD COLUMN kx_pending BLOB;
    ALTER TABLE sync_identity ADD COLUMN shred_floor INTEGER NOT NULL DEFAULT 0;
    -- `doc_keys.hub_seq` = where the hub put a key this device pushed (see sync/shred.rs).
    ALTER TABLE doc_keys ADD COLUMN hub_seq INTEGER;
    -- `sync_identity.kx_retiring` = the replaced agreement secret, kept only until the pull
    -- that follows its replacement (a team key wrapped for it just before may still come).
    ALTER TABLE sync_identity ADD COLUMN kx_retiring BLOB;
    -- sealed person-linked fields
    -- people.field_key: the person document's field key (fieldseal.rs), so reads open the
    -- sealed free text of that person's records; it goes with the row on erasure.
    ALTER TABLE people ADD COLUMN field_key BLOB;
    -- audit chain: rows written from v5 on carry the writing device's sequence number `dseq`
    -- (1, 2, ... per device), `prev_hash` (the device's previous entry's hash; 32 zero bytes
    -- for the first), `hash` (SHA-256 of the entry's canonical bytes) and `sig` (the device's
    -- Ed25519 signature of the hash); see core/src/audit.rs. Rows from before v5 keep NULLs:
    -- they are "pre-chain", shown but not verifiable. On a lead, entries of the other devices
    -- (projected from their synced audit documents) live in this same table.
    ALTER TABLE audit ADD COLUMN dseq INTEGER;
    ALTER TABLE audit ADD COLUMN prev_hash BLOB;
    ALTER TABLE audit ADD COLUMN hash BLOB;
    ALTER TABLE audit ADD COLUMN sig BLOB;
    -- Only the chain's own index: indexes on entity_id and at slowed every logged encounter
    -- measurably (store bench), for queries that only a lead at a desk runs.
    CREATE UNIQUE INDEX audit_chain ON audit(device, dseq);
    -- retention
    -- `retention_sources` (a projection of archive documents): which shift documents each
    -- retention archive reduced; a shift listed here projects nothing (the archive's rows
    -- stand for it), whichever of the two a device receives or rebuilds first.
    CREATE TABLE retention_sources (
        source TEXT NOT NULL, doc_id TEXT NOT NULL, PRIMARY KEY (source, doc_id)) WITHOUT ROWID;
    CREATE INDEX retention_sources_doc ON retention_sources(doc_id);
    -- device loss
    -- consent, disclosure and the lead's review
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Reads the schema version.
pub(crate) fn version(conn: &Connection) -> Result<u32> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as u32)
}

/// Migrates up to `target` (normally [`SCHEMA_VERSION`]).
pub(crate) fn migrate_to(conn: &mut Connection, target: u32) -> Result<()> {
    let mut v = version(conn)?;
    if v > SCHEMA_VERSION {
        return Err(Error::TooNew { found: v, supported: SCHEMA_VERSION });
    }
    while v < target {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[v as usize])?;
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
        v += 1;
    }
    Ok(())
}

/// A canonical description of the schema (for the "migrated equals fresh" test).
pub fn describe(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let mut st = conn.prepare(
        "SELECT type, name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))?
        .collect::<rusqlite::Result<Vec<(String, String, String)>>>()?;
    Ok(rows
        .into_iter()
        .map(|(t, n, s)| (t, n, s.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect())
}
