//! SQLite engine: the embedded default (`sqlite:PATH`), created on first start, WAL mode.
//!
//! One connection serialises all writes (every authenticated request writes at least its
//! nonce); work runs on tokio's blocking pool so the async runtime never waits on disk.
//! The workspace's rusqlite is built with SQLCipher; no key is set because the hub holds only
//! ciphertext and public metadata.
//!
//! `secure_delete` is on: SQLite overwrites deleted rows (and freed pages) with zeros, so a
//! shredded document's ciphertext and wrapped keys do not linger in free space of the file.
//! After a shred the write-ahead log is checkpointed and truncated, so no earlier page image
//! holding them survives in `-wal` either. (The filesystem and any backups are out of reach.)

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use outreach_proto::ids::{DeviceId, TeamId, TokenHash};
use outreach_proto::messages::{
    DeviceInfo, ErrorCode, PullResponse, PushResponse, PushStatus, PushedChunk, PushedDocKey, ShredNotice,
    ShredResponse,
};
use outreach_proto::orders::{ShredOrder, WipeOrder};
use outreach_proto::wrap::{WrappedDocKey, WrappedTeamKey};
use outreach_proto::MAX_PULL_LIMIT;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::{
    build_page, check_active, check_invite, check_lead, check_revocation, check_shred, device_from_columns,
    doc_key_epoch, doc_key_outcome, json_column, order_digest, package_from_column, shred_page, shred_retry_response,
    to_i64, to_u64, wipe_from_column, AuthStamp, ChunkRecord, Enrolled, InviteRow, ItemRow, NewDevice, NewInvite,
    NewItem, NewTeam, Rotation, ShredRow, Storage, StoreError, TableFingerprint, MAX_SHREDS_PER_REPLY,
    PULL_PAGE_BYTES,
};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(format!("sqlite: {e}"))
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS teams (
    team_id    BLOB PRIMARY KEY,
    epoch      INTEGER NOT NULL,
    next_seq   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    team_id     BLOB NOT NULL REFERENCES teams(team_id),
    device_id   BLOB NOT NULL,
    sign_pub    BLOB NOT NULL,
    kx_pub      BLOB NOT NULL,
    name        TEXT NOT NULL,
    role        INTEGER NOT NULL,
    enrolled_ms INTEGER NOT NULL,
    revoked_ms  INTEGER,
    PRIMARY KEY (team_id, device_id)
);
CREATE TABLE IF NOT EXISTS invites (
    token_hash BLOB PRIMARY KEY,
    team_id    BLOB NOT NULL REFERENCES teams(team_id),
    role       INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms    INTEGER,
    package    BLOB
);
CREATE TABLE IF NOT EXISTS items (
    team_id     BLOB NOT NULL REFERENCES teams(team_id),
    seq         INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    doc_id      BLOB,
    hash        BLOB,
    key_id      BLOB,
    epoch       INTEGER,
    device_id   BLOB,
    size        INTEGER NOT NULL,
    body        BLOB,
    PRIMARY KEY (team_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS items_chunk_hash ON items (team_id, hash) WHERE kind = 1;
CREATE UNIQUE INDEX IF NOT EXISTS items_doc_key ON items (team_id, key_id, epoch) WHERE kind = 2;
CREATE INDEX IF NOT EXISTS items_doc ON items (team_id, doc_id) WHERE doc_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_team_key ON items (team_id, device_id, epoch) WHERE kind = 3;
CREATE UNIQUE INDEX IF NOT EXISTS items_shred ON items (team_id, hash) WHERE kind = 5;
CREATE INDEX IF NOT EXISTS items_shred_seq ON items (team_id, seq) WHERE kind = 5;
CREATE TABLE IF NOT EXISTS shredded_docs (
    team_id BLOB NOT NULL REFERENCES teams(team_id),
    doc_id  BLOB NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (team_id, doc_id)
);
CREATE TABLE IF NOT EXISTS wipe_orders (
    team_id   BLOB NOT NULL REFERENCES teams(team_id),
    device_id BLOB NOT NULL,
    body      BLOB NOT NULL,
    PRIMARY KEY (team_id, device_id)
);
CREATE TABLE IF NOT EXISTS nonces (
    team_id   BLOB NOT NULL,
    device_id BLOB NOT NULL,
    nonce     BLOB NOT NULL,
    ts_ms     INTEGER NOT NULL,
    PRIMARY KEY (team_id, device_id, nonce)
);
CREATE INDEX IF NOT EXISTS nonces_ts ON nonces (ts_ms);
";

/// Tables and the row expression/order used by [`Storage::fingerprint`].
const FINGERPRINT_QUERIES: &[(&str, &str)] = &[
    ("teams", "SELECT quote(team_id)||'|'||epoch||'|'||next_seq||'|'||created_ms FROM teams ORDER BY team_id"),
    (
        "devices",
        "SELECT quote(team_id)||'|'||quote(device_id)||'|'||quote(sign_pub)||'|'||quote(kx_pub)||'|'||quote(name)\
         ||'|'||role||'|'||enrolled_ms||'|'||quote(revoked_ms) FROM devices ORDER BY team_id, device_id",
    ),
    (
        "invites",
        "SELECT quote(token_hash)||'|'||quote(team_id)||'|'||role||'|'||expires_ms||'|'||quote(used_ms)||'|'||quote(package) \
         FROM invites ORDER BY token_hash",
    ),
    (
        "items",
        "SELECT quote(team_id)||'|'||seq||'|'||kind||'|'||received_ms||'|'||quote(doc_id)||'|'||quote(hash)||'|'||quote(key_id)\
         ||'|'||quote(epoch)||'|'||quote(device_id)||'|'||size||'|'||quote(body) FROM items ORDER BY team_id, seq",
    ),
    (
        "nonces",
        "SELECT quote(team_id)||'|'||quote(device_id)||'|'||quote(nonce)||'|'||ts_ms FROM nonces ORDER BY team_id, device_id, nonce",
    ),
    ("shredded_docs", "SELECT quote(team_id)||'|'||quote(doc_id)||'|'||seq FROM shredded_docs ORDER BY team_id, doc_id"),
    ("wipe_orders", "SELECT quote(team_id)||'|'||quote(device_id)||'|'||quote(body) FROM wipe_orders ORDER BY team_id, device_id"),
];

/// The SQLite engine.
#[derive(Clone)]
pub struct SqliteStorage {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStorage {
    /// Open (creating if needed) the database at `path`: WAL journal, full fsync on commit
    /// (an acknowledged push survives a power cut), schema created if absent. A new file is
    /// created readable by its owner only.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .map_err(|e| StoreError::Backend(format!("open task failed: {e}")))?
    }

    fn open_blocking(path: &Path) -> Result<Self, StoreError> {
        #[cfg(unix)]
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::Backend(format!("create database file: {e}")))?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("could not enable WAL (journal_mode = {mode})")));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")?;
        let secure: i64 = conn.query_row("PRAGMA secure_delete = ON", [], |r| r.get(0))?;
        if secure != 1 {
            return Err(StoreError::Backend("could not enable secure_delete".into()));
        }
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStorage { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Run `f` in one IMMEDIATE transaction on the blocking pool; commit on `Ok`, roll back
    /// on `Err`.
    async fn with_tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside an earlier transaction dropped (rolled back) that transaction
            // while unwinding, so the connection is consistent: keep serving.
            let mut conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))?
    }

    /// Copy the write-ahead log into the database and truncate it to zero bytes, so that page
    /// images written before a deletion do not survive in `-wal`. Cheap: the log is at most
    /// about a thousand pages (SQLite's automatic checkpoint).
    async fn checkpoint_truncate(&self) -> Result<(), StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy != 0 {
                return Err(StoreError::Backend("write-ahead log checkpoint could not complete".into()));
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))?
    }
}

/// The seq of the shred that tombstoned `doc_id` in this team, if any.
fn tombstone(tx: &Transaction<'_>, team_id: &TeamId, doc_id: &[u8]) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT seq FROM shredded_docs WHERE team_id = ?1 AND doc_id = ?2")?
        .query_row(params![&team_id.0[..], doc_id], |r| r.get(0))
        .optional()?)
}

fn load_device(tx: &Transaction<'_>, team_id: &TeamId, device_id: &DeviceId) -> Result<Option<DeviceInfo>, StoreError> {
    let row = tx
        .prepare_cached(
            "SELECT device_id, sign_pub, kx_pub, name, role, enrolled_ms, revoked_ms FROM devices \
             WHERE team_id = ?1 AND device_id = ?2",
        )?
        .query_row(params![&team_id.0[..], &device_id.0[..]], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })
        .optional()?;
    row.map(|(id, sp, kp, name, role, en, rv)| device_from_columns(&id, &sp, &kp, name, role, en, rv)).transpose()
}

fn load_devices(tx: &Transaction<'_>, team_id: &TeamId) -> Result<Vec<DeviceInfo>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT device_id, sign_pub, kx_pub, name, role, enrolled_ms, revoked_ms FROM devices \
         WHERE team_id = ?1 ORDER BY enrolled_ms, device_id",
    )?;
    let rows = stmt.query_map(params![&team_id.0[..]], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, sp, kp, name, role, en, rv) = row?;
        out.push(device_from_columns(&id, &sp, &kp, name, role, en, rv)?);
    }
    Ok(out)
}

/// Team epoch and next sequence number.
fn team_state(tx: &Transaction<'_>, team_id: &TeamId) -> Result<(u64, i64), StoreError> {
    let (epoch, next): (i64, i64) = tx
        .prepare_cached("SELECT epoch, next_seq FROM teams WHERE team_id = ?1")?
        .query_row(params![&team_id.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::refused(ErrorCode::UnknownDevice, "unknown device"))?;
    Ok((to_u64(epoch, "epoch")?, next))
}

/// Re-check the device inside the transaction and record the nonce.
fn begin_auth(tx: &Transaction<'_>, auth: &AuthStamp) -> Result<DeviceInfo, StoreError> {
    let device = check_active(load_device(tx, &auth.team_id, &auth.device_id)?)?;
    let inserted = tx
        .prepare_cached("INSERT OR IGNORE INTO nonces (team_id, device_id, nonce, ts_ms) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![&auth.team_id.0[..], &auth.device_id.0[..], &auth.nonce[..], auth.ts_ms])?;
    if inserted == 0 {
        return Err(StoreError::refused(ErrorCode::Replay, "request nonce already used"));
    }
    Ok(device)
}

fn insert_item(tx: &Transaction<'_>, team_id: &TeamId, seq: i64, received_ms: i64, item: &NewItem<'_>) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO items (team_id, seq, kind, received_ms, doc_id, hash, key_id, epoch, device_id, size, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        &team_id.0[..],
        seq,
        item.kind as i64,
        received_ms,
        item.doc_id,
        item.hash,
        item.key_id,
        item.epoch,
        item.device_id,
        item.size(),
        item.body
    ])?;
    Ok(())
}

fn set_next_seq(tx: &Transaction<'_>, team_id: &TeamId, next: i64) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE teams SET next_seq = ?2 WHERE team_id = ?1")?.execute(params![&team_id.0[..], next])?;
    Ok(())
}

/// Move the team to `new_epoch` (already validated), append `keys` from sequence number
/// `next`, and drop unused invites (their packages hold the old team key). Returns the new
/// epoch as stored and the next free sequence number.
fn rotate(tx: &Transaction<'_>, auth: &AuthStamp, mut next: i64, keys: &[WrappedTeamKey], new_epoch: u64) -> Result<(i64, i64), StoreError> {
    let team = &auth.team_id.0[..];
    let new_epoch = to_i64(new_epoch)?;
    tx.execute("UPDATE teams SET epoch = ?2 WHERE team_id = ?1", params![team, new_epoch])?;
    tx.execute("DELETE FROM invites WHERE team_id = ?1 AND used_ms IS NULL", params![team])?;
    for key in keys {
        let body = json_column(key);
        insert_item(tx, &auth.team_id, next, auth.now_ms, &NewItem::team_key(key, new_epoch, &body))?;
        next += 1;
    }
    Ok((new_epoch, next))
}

#[async_trait]
impl Storage for SqliteStorage {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    async fn create_team(&self, team: NewTeam) -> Result<(), StoreError> {
        self.with_tx(move |tx| {
            let created = tx.execute(
                "INSERT OR IGNORE INTO teams (team_id, epoch, next_seq, created_ms) VALUES (?1, 0, 2, ?2)",
                params![&team.team_id.0[..], team.now_ms],
            )?;
            if created == 0 {
                return Err(StoreError::refused(ErrorCode::TeamExists, "team already exists"));
            }
            let lead = &team.lead;
            tx.execute(
                "INSERT INTO devices (team_id, device_id, sign_pub, kx_pub, name, role, enrolled_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    &team.team_id.0[..],
                    &lead.device_id.0[..],
                    &lead.keys.sign_pub[..],
                    &lead.keys.kx_pub[..],
                    lead.name,
                    lead.role.code() as i64,
                    team.now_ms
                ],
            )?;
            let body = json_column(&team.team_key);
            insert_item(tx, &team.team_id, 1, team.now_ms, &NewItem::team_key(&team.team_key, 0, &body))
        })
        .await
    }

    async fn device(&self, team_id: TeamId, device_id: DeviceId) -> Result<Option<DeviceInfo>, StoreError> {
        // A read-only lookup; DEFERRED would do, but sharing `with_tx` keeps one code path.
        self.with_tx(move |tx| load_device(tx, &team_id, &device_id)).await
    }

    async fn create_invite(&self, auth: AuthStamp, invite: NewInvite) -> Result<(), StoreError> {
        self.with_tx(move |tx| {
            let requester = begin_auth(tx, &auth)?;
            check_lead(&requester)?;
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO invites (token_hash, team_id, role, expires_ms, package) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    &invite.token_hash.0[..],
                    &auth.team_id.0[..],
                    invite.role.code() as i64,
                    invite.expires_ms,
                    json_column(&invite.package)
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::refused(ErrorCode::Conflict, "an invite with this token already exists"));
            }
            Ok(())
        })
        .await
    }

    async fn enrol(&self, team_id: TeamId, token_hash: TokenHash, device: NewDevice) -> Result<Enrolled, StoreError> {
        self.with_tx(move |tx| {
            let row = tx
                .query_row(
                    "SELECT team_id, role, expires_ms, used_ms IS NOT NULL, package FROM invites WHERE token_hash = ?1",
                    params![&token_hash.0[..]],
                    |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, Option<Vec<u8>>>(4)?)),
                )
                .optional()?;
            let row = match row {
                None => None,
                Some((team, role, expires_ms, used, package)) => {
                    Some(InviteRow { team_id: team, role, expires_ms, used, package: package_from_column(package)? })
                }
            };
            let (role, package) = check_invite(row, &team_id, device.enrolled_ms)?;
            if load_device(tx, &team_id, &device.device_id)?.is_some() {
                return Err(StoreError::refused(ErrorCode::Conflict, "device already enrolled in this team"));
            }
            tx.execute(
                "UPDATE invites SET used_ms = ?2, package = NULL WHERE token_hash = ?1",
                params![&token_hash.0[..], device.enrolled_ms],
            )?;
            tx.execute(
                "INSERT INTO devices (team_id, device_id, sign_pub, kx_pub, name, role, enrolled_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    &team_id.0[..],
                    &device.device_id.0[..],
                    &device.keys.sign_pub[..],
                    &device.keys.kx_pub[..],
                    device.name,
                    role.code() as i64,
                    device.enrolled_ms
                ],
            )?;
            let (epoch, _) = team_state(tx, &team_id)?;
            Ok(Enrolled { role, epoch, devices: load_devices(tx, &team_id)?, package })
        })
        .await
    }

    async fn push(&self, auth: AuthStamp, chunks: Vec<ChunkRecord>, doc_keys: Vec<WrappedDocKey>) -> Result<PushResponse, StoreError> {
        self.with_tx(move |tx| {
            begin_auth(tx, &auth)?;
            let (epoch, mut next) = team_state(tx, &auth.team_id)?;
            let team = &auth.team_id.0[..];
            let mut out = PushResponse { chunks: Vec::with_capacity(chunks.len()), doc_keys: Vec::with_capacity(doc_keys.len()) };
            for key in &doc_keys {
                if let Some(seq) = tombstone(tx, &auth.team_id, &key.doc_id.0)? {
                    let status = PushStatus::Discarded;
                    out.doc_keys.push(PushedDocKey { key_id: key.key_id, epoch: key.epoch, status, seq: to_u64(seq, "seq")? });
                    continue;
                }
                let key_epoch = doc_key_epoch(key, epoch)?;
                let body = json_column(key);
                let existing = tx
                    .prepare_cached("SELECT seq, body FROM items WHERE team_id = ?1 AND kind = 2 AND key_id = ?2 AND epoch = ?3")?
                    .query_row(params![team, &key.key_id.0[..], key_epoch], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let (status, seq) = match doc_key_outcome(existing, &body)? {
                    Some(seq) => (PushStatus::Duplicate, seq),
                    None => {
                        let seq = next;
                        next += 1;
                        insert_item(tx, &auth.team_id, seq, auth.now_ms, &NewItem::doc_key(key, key_epoch, &auth.device_id, &body))?;
                        (PushStatus::Stored, seq)
                    }
                };
                out.doc_keys.push(PushedDocKey { key_id: key.key_id, epoch: key.epoch, status, seq: to_u64(seq, "seq")? });
            }
            for chunk in &chunks {
                if let Some(seq) = tombstone(tx, &auth.team_id, &chunk.doc_id.0)? {
                    out.chunks.push(PushedChunk { hash: chunk.hash, status: PushStatus::Discarded, seq: to_u64(seq, "seq")? });
                    continue;
                }
                let existing: Option<i64> = tx
                    .prepare_cached("SELECT seq FROM items WHERE team_id = ?1 AND kind = 1 AND hash = ?2")?
                    .query_row(params![team, &chunk.hash.0[..]], |r| r.get(0))
                    .optional()?;
                let (status, seq) = match existing {
                    Some(seq) => (PushStatus::Duplicate, seq),
                    None => {
                        let seq = next;
                        next += 1;
                        insert_item(tx, &auth.team_id, seq, auth.now_ms, &NewItem::chunk(chunk, &auth.device_id))?;
                        (PushStatus::Stored, seq)
                    }
                };
                out.chunks.push(PushedChunk { hash: chunk.hash, status, seq: to_u64(seq, "seq")? });
            }
            set_next_seq(tx, &auth.team_id, next)?;
            Ok(out)
        })
        .await
    }

    async fn pull(&self, auth: AuthStamp, cursor: u64, limit: u32) -> Result<PullResponse, StoreError> {
        let limit = if limit == 0 { MAX_PULL_LIMIT } else { limit.min(MAX_PULL_LIMIT) } as usize;
        self.with_tx(move |tx| {
            begin_auth(tx, &auth)?;
            let mut stmt = tx.prepare_cached(
                "SELECT seq, kind, received_ms, hash, device_id, epoch, body FROM items \
                 WHERE team_id = ?1 AND seq > ?2 AND (kind <> 3 OR device_id = ?3) ORDER BY seq LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![&auth.team_id.0[..], to_i64(cursor)?, &auth.device_id.0[..], (limit + 1) as i64],
                |r| {
                    Ok(ItemRow {
                        seq: r.get(0)?,
                        kind: r.get(1)?,
                        received_ms: r.get(2)?,
                        hash: r.get(3)?,
                        device_id: r.get(4)?,
                        epoch: r.get(5)?,
                        body: r.get(6)?,
                    })
                },
            )?;
            let rows = rows.collect::<Result<Vec<_>, _>>()?;
            build_page(rows, cursor, limit, PULL_PAGE_BYTES)
        })
        .await
    }

    async fn devices(&self, auth: AuthStamp) -> Result<(u64, Vec<DeviceInfo>), StoreError> {
        self.with_tx(move |tx| {
            begin_auth(tx, &auth)?;
            let (epoch, _) = team_state(tx, &auth.team_id)?;
            Ok((epoch, load_devices(tx, &auth.team_id)?))
        })
        .await
    }

    async fn revoke(&self, auth: AuthStamp, target: DeviceId, rotation: Rotation, wipe: Option<WipeOrder>) -> Result<u64, StoreError> {
        self.with_tx(move |tx| {
            let requester = begin_auth(tx, &auth)?;
            let (epoch, next) = team_state(tx, &auth.team_id)?;
            let devices = load_devices(tx, &auth.team_id)?;
            check_revocation(&devices, &requester, target, epoch, &rotation)?;
            let team = &auth.team_id.0[..];
            tx.execute(
                "UPDATE devices SET revoked_ms = ?3 WHERE team_id = ?1 AND device_id = ?2",
                params![team, &target.0[..], auth.now_ms],
            )?;
            if let Some(wipe) = &wipe {
                tx.execute(
                    "INSERT OR REPLACE INTO wipe_orders (team_id, device_id, body) VALUES (?1, ?2, ?3)",
                    params![team, &target.0[..], json_column(wipe)],
                )?;
            }
            let (new_epoch, mut next) = rotate(tx, &auth, next, &rotation.keys, rotation.new_epoch)?;
            let seq = next;
            insert_item(tx, &auth.team_id, seq, auth.now_ms, &NewItem::revocation(&target, new_epoch))?;
            next += 1;
            set_next_seq(tx, &auth.team_id, next)?;
            to_u64(seq, "seq")
        })
        .await
    }

    async fn shred(&self, auth: AuthStamp, order: ShredOrder, rotation: Rotation) -> Result<ShredResponse, StoreError> {
        let outcome = self
            .with_tx(move |tx| {
                let requester = begin_auth(tx, &auth)?;
                let (epoch, next) = team_state(tx, &auth.team_id)?;
                let team = &auth.team_id.0[..];
                let body = json_column(&order);
                let digest = order_digest(&body);
                let stored: Option<i64> = tx
                    .prepare_cached("SELECT seq FROM items WHERE team_id = ?1 AND kind = 5 AND hash = ?2")?
                    .query_row(params![team, &digest], |r| r.get(0))
                    .optional()?;
                if let Some(seq) = stored {
                    return Ok((shred_retry_response(&order, seq)?, false));
                }
                let devices = load_devices(tx, &auth.team_id)?;
                check_shred(&devices, &requester, &order, epoch, &rotation)?;
                let (mut chunks_deleted, mut keys_deleted) = (0u64, 0u64);
                let (new_epoch, next) = rotate(tx, &auth, next, &rotation.keys, rotation.new_epoch)?;
                let seq = next;
                for doc in &order.doc_ids {
                    let mut delete = tx.prepare_cached("DELETE FROM items WHERE team_id = ?1 AND doc_id = ?2 AND kind = ?3")?;
                    chunks_deleted += delete.execute(params![team, &doc.0[..], 1i64])? as u64;
                    keys_deleted += delete.execute(params![team, &doc.0[..], 2i64])? as u64;
                    tx.prepare_cached("INSERT OR IGNORE INTO shredded_docs (team_id, doc_id, seq) VALUES (?1, ?2, ?3)")?
                        .execute(params![team, &doc.0[..], seq])?;
                }
                insert_item(tx, &auth.team_id, seq, auth.now_ms, &NewItem::shred(&order, new_epoch, &body, &digest))?;
                set_next_seq(tx, &auth.team_id, seq + 1)?;
                Ok((ShredResponse { epoch: order.epoch, seq: to_u64(seq, "seq")?, chunks_deleted, keys_deleted }, true))
            })
            .await?;
        let (response, deleted) = outcome;
        if deleted {
            // The deletion is committed; a failed checkpoint only leaves old page images in
            // the log until the next automatic checkpoint, so it is logged, not refused.
            if let Err(e) = self.checkpoint_truncate().await {
                tracing::warn!(error = %e, "could not truncate the write-ahead log after a shred");
            }
        }
        Ok(response)
    }

    async fn shreds(&self, auth: AuthStamp, since: u64) -> Result<Vec<ShredNotice>, StoreError> {
        self.with_tx(move |tx| {
            begin_auth(tx, &auth)?;
            let mut stmt = tx.prepare_cached(
                "SELECT s.seq, s.received_ms, s.body, \
                   (SELECT k.body FROM items k WHERE k.team_id = s.team_id AND k.kind = 3 AND k.device_id = ?3 \
                    AND k.epoch = s.epoch ORDER BY k.seq DESC LIMIT 1) \
                 FROM items s WHERE s.team_id = ?1 AND s.kind = 5 AND s.seq > ?2 ORDER BY s.seq LIMIT ?4",
            )?;
            let rows = stmt
                .query_map(
                    params![&auth.team_id.0[..], to_i64(since)?, &auth.device_id.0[..], MAX_SHREDS_PER_REPLY as i64],
                    |r| Ok(ShredRow { seq: r.get(0)?, received_ms: r.get(1)?, body: r.get(2)?, team_key: r.get(3)? }),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            shred_page(rows)
        })
        .await
    }

    async fn rekey(&self, auth: AuthStamp, kx_pub: [u8; 32]) -> Result<(), StoreError> {
        self.with_tx(move |tx| {
            begin_auth(tx, &auth)?;
            tx.execute(
                "UPDATE devices SET kx_pub = ?3 WHERE team_id = ?1 AND device_id = ?2",
                params![&auth.team_id.0[..], &auth.device_id.0[..], &kx_pub[..]],
            )?;
            Ok(())
        })
        .await
    }

    async fn wipe_order(&self, team_id: TeamId, device_id: DeviceId) -> Result<Option<WipeOrder>, StoreError> {
        self.with_tx(move |tx| {
            let body: Option<Vec<u8>> = tx
                .prepare_cached("SELECT body FROM wipe_orders WHERE team_id = ?1 AND device_id = ?2")?
                .query_row(params![&team_id.0[..], &device_id.0[..]], |r| r.get(0))
                .optional()?;
            wipe_from_column(body)
        })
        .await
    }

    async fn prune_invites(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.with_tx(move |tx| {
            Ok(tx.execute("UPDATE invites SET package = NULL WHERE expires_ms <= ?1 AND package IS NOT NULL", params![now_ms])? as u64)
        })
        .await
    }

    async fn prune_nonces(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.with_tx(move |tx| Ok(tx.execute("DELETE FROM nonces WHERE ts_ms < ?1", params![cutoff_ms])? as u64)).await
    }

    async fn fingerprint(&self) -> Result<Vec<TableFingerprint>, StoreError> {
        self.with_tx(|tx| {
            let mut out = Vec::new();
            for (table, query) in FINGERPRINT_QUERIES {
                let mut stmt = tx.prepare(query)?;
                let mut rows = stmt.query([])?;
                let mut hasher = Sha256::new();
                let mut count = 0u64;
                while let Some(row) = rows.next()? {
                    let text: String = row.get(0)?;
                    hasher.update(text.as_bytes());
                    hasher.update(b"\n");
                    count += 1;
                }
                out.push(TableFingerprint { table, rows: count, digest: hex::encode(hasher.finalize()) });
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creates_a_private_wal_database_on_first_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let store = SqliteStorage::open(&path).await.unwrap();
        assert!(path.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let mode: String = store.conn.lock().unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(store);
        // Re-opening an existing database keeps working (schema creation is idempotent).
        SqliteStorage::open(&path).await.unwrap();
    }
}
