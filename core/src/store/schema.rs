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
