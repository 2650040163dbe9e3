//! PostgreSQL engine (`postgres://...`), for organisations that outgrow one machine.
//!
//! Writes to one team serialise on that team's row (`SELECT ... FOR UPDATE`), so sequence
//! numbers commit in order and a reader never sees item N+1 before item N. Connections are
//! plain TCP or Unix sockets without TLS, so only loopback hosts and Unix sockets are
//! accepted (see `hub/README.md`).
//!
//! Deleted rows (a shred's chunks and wrapped keys) become dead tuples: invisible to every
//! query at once, but their bytes stay in the table's (and its TOAST table's) data files until
//! (auto)VACUUM reclaims the space and later writes overwrite it, and in the server's WAL
//! segments and any base backups until those are recycled. PostgreSQL has no secure-delete
//! mode. After each shred the hub runs `VACUUM items` in the background (the reply does not
//! wait for it), which reclaims the dead tuples' space in the table and its TOAST table; the
//! WAL and backups are the operator's to rotate (see `docs/PROTOCOL.md`, "What deletion means
//! on the hub"). Crypto-shredding does not rely on any of it: the keys that could open those
//! bytes are destroyed on every device.

use std::net::IpAddr;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use outreach_proto::ids::{DeviceId, TeamId, TokenHash};
use outreach_proto::messages::{
    DeviceInfo, ErrorCode, PullResponse, PushResponse, PushStatus, PushedChunk, PushedDocKey, ShredNotice, ShredResponse,
};
use outreach_proto::orders::{ShredOrder, WipeOrder};
use outreach_proto::wrap::{WrappedDocKey, WrappedTeamKey};
use outreach_proto::MAX_PULL_LIMIT;
use sha2::{Digest, Sha256};
use tokio_postgres::config::Host;
use tokio_postgres::NoTls;

use super::{
    build_page, check_active, check_invite, check_lead, check_revocation, check_shred, device_from_columns,
    doc_key_epoch, doc_key_outcome, json_column, order_digest, package_from_column, shred_page, shred_retry_response,
    to_i64, to_u64, wipe_from_column, AuthStamp, ChunkRecord, Enrolled, InviteRow, ItemRow, NewDevice, NewInvite,
    NewItem, NewTeam, Rotation, ShredRow, Storage, StoreError, TableFingerprint, MAX_SHREDS_PER_REPLY,
    PULL_PAGE_BYTES,
};

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Backend(format!("postgres: {e}"))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Backend(format!("postgres pool: {e}"))
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS teams (
    team_id    BYTEA PRIMARY KEY,
    epoch      BIGINT NOT NULL,
    next_seq   BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    team_id     BYTEA NOT NULL REFERENCES teams(team_id),
    device_id   BYTEA NOT NULL,
    sign_pub    BYTEA NOT NULL,
    kx_pub      BYTEA NOT NULL,
    name        TEXT NOT NULL,
    role        BIGINT NOT NULL,
    enrolled_ms BIGINT NOT NULL,
    revoked_ms  BIGINT,
    PRIMARY KEY (team_id, device_id)
);
CREATE TABLE IF NOT EXISTS invites (
    token_hash BYTEA PRIMARY KEY,
    team_id    BYTEA NOT NULL REFERENCES teams(team_id),
    role       BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms    BIGINT,
    package    BYTEA
);
CREATE TABLE IF NOT EXISTS items (
    team_id     BYTEA NOT NULL REFERENCES teams(team_id),
    seq         BIGINT NOT NULL,
    kind        BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    doc_id      BYTEA,
    hash        BYTEA,
    key_id      BYTEA,
    epoch       BIGINT,
    device_id   BYTEA,
    size        BIGINT NOT NULL,
    body        BYTEA,
    PRIMARY KEY (team_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS items_chunk_hash ON items (team_id, hash) WHERE kind = 1;
CREATE UNIQUE INDEX IF NOT EXISTS items_doc_key ON items (team_id, key_id, epoch) WHERE kind = 2;
CREATE INDEX IF NOT EXISTS items_doc ON items (team_id, doc_id) WHERE doc_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_team_key ON items (team_id, device_id, epoch) WHERE kind = 3;
CREATE UNIQUE INDEX IF NOT EXISTS items_shred ON items (team_id, hash) WHERE kind = 5;
CREATE INDEX IF NOT EXISTS items_shred_seq ON items (team_id, seq) WHERE kind = 5;
CREATE TABLE IF NOT EXISTS shredded_docs (
    team_id BYTEA NOT NULL REFERENCES teams(team_id),
    doc_id  BYTEA NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (team_id, doc_id)
);
CREATE TABLE IF NOT EXISTS wipe_orders (
    team_id   BYTEA NOT NULL REFERENCES teams(team_id),
    device_id BYTEA NOT NULL,
    body      BYTEA NOT NULL,
    PRIMARY KEY (team_id, device_id)
);
CREATE TABLE IF NOT EXISTS nonces (
    team_id   BYTEA NOT NULL,
    device_id BYTEA NOT NULL,
    nonce     BYTEA NOT NULL,
    ts_ms     BIGINT NOT NULL,
    PRIMARY KEY (team_id, device_id, nonce)
);
CREATE INDEX IF NOT EXISTS nonces_ts ON nonces (ts_ms);
";

const FINGERPRINT_QUERIES: &[(&str, &str)] = &[
    ("teams", "SELECT t::text FROM teams t ORDER BY team_id"),
    ("devices", "SELECT t::text FROM devices t ORDER BY team_id, device_id"),
    ("invites", "SELECT t::text FROM invites t ORDER BY token_hash"),
    ("items", "SELECT t::text FROM items t ORDER BY team_id, seq"),
    ("nonces", "SELECT t::text FROM nonces t ORDER BY team_id, device_id, nonce"),
    ("shredded_docs", "SELECT t::text FROM shredded_docs t ORDER BY team_id, doc_id"),
    ("wipe_orders", "SELECT t::text FROM wipe_orders t ORDER BY team_id, device_id"),
];

/// The PostgreSQL engine.
#[derive(Clone)]
pub struct PgStorage {
    pool: Pool,
}

fn is_local(config: &tokio_postgres::Config) -> bool {
    let hosts_local = config.get_hosts().iter().all(|h| match h {
        Host::Tcp(name) => name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        #[cfg(unix)]
        Host::Unix(_) => true,
    });
    hosts_local && config.get_hostaddrs().iter().all(IpAddr::is_loopback)
}

/// Whether `name` is safe to splice into SQL as a schema identifier.
fn valid_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

impl PgStorage {
    /// Connect to `url` and create the schema if absent. With `schema`, all tables live in
    /// that PostgreSQL schema (created if needed; lowercase letters, digits and `_` only),
    /// which lets several hubs or tests share one database.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|_| StoreError::Backend("invalid PostgreSQL URL".into()))?;
        if !is_local(&config) {
            return Err(StoreError::Backend(
                "PostgreSQL connections are not encrypted by this hub: only loopback hosts and Unix sockets are accepted".into(),
            ));
        }
        if let Some(schema) = schema {
            if !valid_schema_name(schema) {
                return Err(StoreError::Backend("invalid schema name".into()));
            }
            let (client, conn) = config.connect(NoTls).await?;
            let task = tokio::spawn(conn);
            client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
            drop(client);
            let _ = task.await;
            config.options(format!("-c search_path={schema}"));
        }
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres pool: {e}")))?;
        let store = PgStorage { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// `VACUUM items` (and its TOAST table): reclaim the space of deleted rows so that later
    /// writes reuse it. Run in the background after every shred; safe to call at any time.
    /// Concurrent calls queue on the table's lock.
    pub async fn vacuum_items(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client.batch_execute("VACUUM items").await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Serialise concurrent first starts on one database/schema.
        tx.batch_execute("SELECT pg_advisory_xact_lock(7262657363680001)").await?;
        tx.batch_execute(SCHEMA).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn load_device<C: GenericClient>(tx: &C, team_id: &TeamId, device_id: &DeviceId) -> Result<Option<DeviceInfo>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT device_id, sign_pub, kx_pub, name, role, enrolled_ms, revoked_ms FROM devices \
             WHERE team_id = $1 AND device_id = $2",
        )
        .await?;
    let row = tx.query_opt(&stmt, &[&&team_id.0[..], &&device_id.0[..]]).await?;
    row.map(|r| {
        device_from_columns(r.get::<_, &[u8]>(0), r.get::<_, &[u8]>(1), r.get::<_, &[u8]>(2), r.get(3), r.get(4), r.get(5), r.get(6))
    })
    .transpose()
}

async fn load_devices(tx: &Transaction<'_>, team_id: &TeamId) -> Result<Vec<DeviceInfo>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT device_id, sign_pub, kx_pub, name, role, enrolled_ms, revoked_ms FROM devices \
             WHERE team_id = $1 ORDER BY enrolled_ms, device_id",
        )
        .await?;
    tx.query(&stmt, &[&&team_id.0[..]])
        .await?
        .iter()
        .map(|r| {
            device_from_columns(r.get::<_, &[u8]>(0), r.get::<_, &[u8]>(1), r.get::<_, &[u8]>(2), r.get(3), r.get(4), r.get(5), r.get(6))
        })
        .collect()
}

/// Team epoch and next sequence number; with `lock`, holds the team row until commit so the
/// team's writes serialise.
async fn team_state(tx: &Transaction<'_>, team_id: &TeamId, lock: bool) -> Result<(u64, i64), StoreError> {
    let sql = if lock {
        "SELECT epoch, next_seq FROM teams WHERE team_id = $1 FOR UPDATE"
    } else {
        "SELECT epoch, next_seq FROM teams WHERE team_id = $1"
    };
    let stmt = tx.prepare_cached(sql).await?;
    let row = tx
        .query_opt(&stmt, &[&&team_id.0[..]])
        .await?
        .ok_or_else(|| StoreError::refused(ErrorCode::UnknownDevice, "unknown device"))?;
    Ok((to_u64(row.get(0), "epoch")?, row.get(1)))
}

async fn begin_auth(tx: &Transaction<'_>, auth: &AuthStamp) -> Result<DeviceInfo, StoreError> {
    let device = check_active(load_device(tx, &auth.team_id, &auth.device_id).await?)?;
    let stmt = tx
        .prepare_cached("INSERT INTO nonces (team_id, device_id, nonce, ts_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .await?;
    let inserted = tx.execute(&stmt, &[&&auth.team_id.0[..], &&auth.device_id.0[..], &&auth.nonce[..], &auth.ts_ms]).await?;
    if inserted == 0 {
        return Err(StoreError::refused(ErrorCode::Replay, "request nonce already used"));
    }
    Ok(device)
}

async fn insert_item(tx: &Transaction<'_>, team_id: &TeamId, seq: i64, received_ms: i64, item: &NewItem<'_>) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO items (team_id, seq, kind, received_ms, doc_id, hash, key_id, epoch, device_id, size, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &&team_id.0[..],
            &seq,
            &(item.kind as i64),
            &received_ms,
            &item.doc_id,
            &item.hash,
            &item.key_id,
            &item.epoch,
            &item.device_id,
            &item.size(),
            &item.body,
        ],
    )
    .await?;
    Ok(())
}

async fn set_next_seq(tx: &Transaction<'_>, team_id: &TeamId, next: i64) -> Result<(), StoreError> {
    let stmt = tx.prepare_cached("UPDATE teams SET next_seq = $2 WHERE team_id = $1").await?;
    tx.execute(&stmt, &[&&team_id.0[..], &next]).await?;
    Ok(())
}

async fn push_in(tx: &Transaction<'_>, auth: &AuthStamp, chunks: &[ChunkRecord], doc_keys: &[WrappedDocKey]) -> Result<PushResponse, StoreError> {
    let (epoch, mut next) = team_state(tx, &auth.team_id, true).await?;
    begin_auth(tx, auth).await?;
    let team = &auth.team_id.0[..];
    let mut out = PushResponse { chunks: Vec::with_capacity(chunks.len()), doc_keys: Vec::with_capacity(doc_keys.len()) };
    let find_key = tx.prepare_cached("SELECT seq, body FROM items WHERE team_id = $1 AND kind = 2 AND key_id = $2 AND epoch = $3").await?;
    let find_tombstone = tx.prepare_cached("SELECT seq FROM shredded_docs WHERE team_id = $1 AND doc_id = $2").await?;
    for key in doc_keys {
        if let Some(row) = tx.query_opt(&find_tombstone, &[&team, &&key.doc_id.0[..]]).await? {
            let seq = to_u64(row.get(0), "seq")?;
            out.doc_keys.push(PushedDocKey { key_id: key.key_id, epoch: key.epoch, status: PushStatus::Discarded, seq });
            continue;
        }
        let key_epoch = doc_key_epoch(key, epoch)?;
        let body = json_column(key);
        let existing = tx.query_opt(&find_key, &[&team, &&key.key_id.0[..], &key_epoch]).await?.map(|row| (row.get(0), row.get(1)));
        let (status, seq) = match doc_key_outcome(existing, &body)? {
            Some(seq) => (PushStatus::Duplicate, seq),
            None => {
                let seq = next;
                next += 1;
                insert_item(tx, &auth.team_id, seq, auth.now_ms, &NewItem::doc_key(key, key_epoch, &auth.device_id, &body)).await?;
                (PushStatus::Stored, seq)
            }
        };
        out.doc_keys.push(PushedDocKey { key_id: key.key_id, epoch: key.epoch, status, seq: to_u64(seq, "seq")? });
    }
    let find_chunk = tx.prepare_cached("SELECT seq FROM items WHERE team_id = $1 AND kind = 1 AND hash = $2").await?;
    for chunk in chunks {
        if let Some(row) = tx.query_opt(&find_tombstone, &[&team, &&chunk.doc_id.0[..]]).await? {
            out.chunks.push(PushedChunk { hash: chunk.hash, status: PushStatus::Discarded, seq: to_u64(row.get(0), "seq")? });
            continue;
        }
        let existing = tx.query_opt(&find_chunk, &[&team, &&chunk.hash.0[..]]).await?;
        let (status, seq) = match existing {
            Some(row) => (PushStatus::Duplicate, row.get::<_, i64>(0)),
            None => {
                let seq = next;
                next += 1;
                insert_item(tx, &auth.team_id, seq, auth.now_ms, &NewItem::chunk(chunk, &auth.device_id)).await?;
                (PushStatus::Stored, seq)
            }
        };
        out.chunks.push(PushedChunk { hash: chunk.hash, status, seq: to_u64(seq, "seq")? });
    }
    set_next_seq(tx, &auth.team_id, next).await?;
    Ok(out)
}

async fn enrol_in(tx: &Transaction<'_>, team_id: &TeamId, token_hash: &TokenHash, device: &NewDevice) -> Result<Enrolled, StoreError> {
    // Lock the team first (enrolment and revocation must not interleave), then the invite.
    let (epoch, _) = match team_state(tx, team_id, true).await {
        Ok(state) => state,
        Err(StoreError::Refused { .. }) => return Err(StoreError::refused(ErrorCode::InviteUnknown, "no such invite")),
        Err(e) => return Err(e),
    };
    let row = tx
        .query_opt(
            "SELECT team_id, role, expires_ms, used_ms IS NOT NULL, package FROM invites WHERE token_hash = $1 FOR UPDATE",
            &[&&token_hash.0[..]],
        )
        .await?;
    let row = match row {
        None => None,
        Some(r) => Some(InviteRow {
            team_id: r.get(0),
            role: r.get(1),
            expires_ms: r.get(2),
            used: r.get(3),
            package: package_from_column(r.get(4))?,
        }),
    };
    let (role, package) = check_invite(row, team_id, device.enrolled_ms)?;
    if load_device(tx, team_id, &device.device_id).await?.is_some() {
        return Err(StoreError::refused(ErrorCode::Conflict, "device already enrolled in this team"));
    }
    tx.execute("UPDATE invites SET used_ms = $2, package = NULL WHERE token_hash = $1", &[&&token_hash.0[..], &device.enrolled_ms])
        .await?;
    tx.execute(
        "INSERT INTO devices (team_id, device_id, sign_pub, kx_pub, name, role, enrolled_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &&team_id.0[..],
            &&device.device_id.0[..],
            &&device.keys.sign_pub[..],
            &&device.keys.kx_pub[..],
            &device.name,
            &(role.code() as i64),
            &device.enrolled_ms,
        ],
    )
    .await?;
    Ok(Enrolled { role, epoch, devices: load_devices(tx, team_id).await?, package })
}

/// Move the team to `new_epoch` (already validated), append `keys` from sequence number
/// `next`, and drop unused invites (their packages hold the old team key). Returns the new
/// epoch as stored and the next free sequence number.
async fn rotate(tx: &Transaction<'_>, auth: &AuthStamp, mut next: i64, keys: &[WrappedTeamKey], new_epoch: u64) -> Result<(i64, i64), StoreError> {
    let team = &auth.team_id.0[..];
    let new_epoch = to_i64(new_epoch)?;
    tx.execute("UPDATE teams SET epoch = $2 WHERE team_id = $1", &[&team, &new_epoch]).await?;
    tx.execute("DELETE FROM invites WHERE team_id = $1 AND used_ms IS NULL", &[&team]).await?;
    for key in keys {
        let body = json_column(key);
        insert_item(tx, &auth.team_id, next, auth.now_ms, &NewItem::team_key(key, new_epoch, &body)).await?;
        next += 1;
    }
    Ok((new_epoch, next))
}

async fn revoke_in(tx: &Transaction<'_>, auth: &AuthStamp, target: DeviceId, rotation: &Rotation, wipe: Option<&WipeOrder>) -> Result<u64, StoreError> {
    let (epoch, next) = team_state(tx, &auth.team_id, true).await?;
    let requester = begin_auth(tx, auth).await?;
    let devices = load_devices(tx, &auth.team_id).await?;
    check_revocation(&devices, &requester, target, epoch, rotation)?;
    let team = &auth.team_id.0[..];
    tx.execute("UPDATE devices SET revoked_ms = $3 WHERE team_id = $1 AND device_id = $2", &[&team, &&target.0[..], &auth.now_ms]).await?;
    if let Some(wipe) = wipe {
        tx.execute(
            "INSERT INTO wipe_orders (team_id, device_id, body) VALUES ($1, $2, $3) \
             ON CONFLICT (team_id, device_id) DO UPDATE SET body = EXCLUDED.body",
            &[&team, &&target.0[..], &json_column(wipe)],
        )
        .await?;
    }
    let (new_epoch, next) = rotate(tx, auth, next, &rotation.keys, rotation.new_epoch).await?;
    insert_item(tx, &auth.team_id, next, auth.now_ms, &NewItem::revocation(&target, new_epoch)).await?;
    set_next_seq(tx, &auth.team_id, next + 1).await?;
    to_u64(next, "seq")
}

/// Returns the reply and whether anything was deleted (a retried order deletes nothing).
async fn shred_in(tx: &Transaction<'_>, auth: &AuthStamp, order: &ShredOrder, rotation: &Rotation) -> Result<(ShredResponse, bool), StoreError> {
    let (epoch, next) = team_state(tx, &auth.team_id, true).await?;
    let requester = begin_auth(tx, auth).await?;
    let team = &auth.team_id.0[..];
    let body = json_column(order);
    let digest = order_digest(&body);
    if let Some(row) = tx.query_opt("SELECT seq FROM items WHERE team_id = $1 AND kind = 5 AND hash = $2", &[&team, &digest]).await? {
        return Ok((shred_retry_response(order, row.get(0))?, false));
    }
    let devices = load_devices(tx, &auth.team_id).await?;
    check_shred(&devices, &requester, order, epoch, rotation)?;
    let (new_epoch, seq) = rotate(tx, auth, next, &rotation.keys, rotation.new_epoch).await?;
    let docs: Vec<&[u8]> = order.doc_ids.iter().map(|d| &d.0[..]).collect();
    let deleted = tx
        .query("DELETE FROM items WHERE team_id = $1 AND doc_id = ANY($2) AND kind IN (1, 2) RETURNING kind", &[&team, &docs])
        .await?;
    let chunks_deleted = deleted.iter().filter(|r| r.get::<_, i64>(0) == 1).count() as u64;
    let keys_deleted = deleted.len() as u64 - chunks_deleted;
    tx.execute(
        "INSERT INTO shredded_docs (team_id, doc_id, seq) SELECT $1, d, $3 FROM unnest($2::bytea[]) AS d ON CONFLICT DO NOTHING",
        &[&team, &docs, &seq],
    )
    .await?;
    insert_item(tx, &auth.team_id, seq, auth.now_ms, &NewItem::shred(order, new_epoch, &body, &digest)).await?;
    set_next_seq(tx, &auth.team_id, seq + 1).await?;
    Ok((ShredResponse { epoch: order.epoch, seq: to_u64(seq, "seq")?, chunks_deleted, keys_deleted }, true))
}

/// Begin a transaction on a pooled connection, run `$body` (an expression that may use `?`
/// and borrows `$tx`), commit on success; an error drops the transaction, which rolls back.
macro_rules! in_tx {
    ($self:ident, $tx:ident => $body:expr) => {{
        let mut client = $self.pool.get().await?;
        let $tx = client.transaction().await?;
        let out = $body;
        $tx.commit().await?;
        Ok(out)
    }};
}

#[async_trait]
impl Storage for PgStorage {
    fn engine(&self) -> &'static str {
        "postgres"
    }

    async fn create_team(&self, team: NewTeam) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            let created = tx
                .execute(
                    "INSERT INTO teams (team_id, epoch, next_seq, created_ms) VALUES ($1, 0, 2, $2) ON CONFLICT DO NOTHING",
                    &[&&team.team_id.0[..], &team.now_ms],
                )
                .await?;
            if created == 0 {
                return Err(StoreError::refused(ErrorCode::TeamExists, "team already exists"));
            }
            let lead = &team.lead;
            tx.execute(
                "INSERT INTO devices (team_id, device_id, sign_pub, kx_pub, name, role, enrolled_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &&team.team_id.0[..],
                    &&lead.device_id.0[..],
                    &&lead.keys.sign_pub[..],
                    &&lead.keys.kx_pub[..],
                    &lead.name,
                    &(lead.role.code() as i64),
                    &team.now_ms,
                ],
            )
            .await?;
            let body = json_column(&team.team_key);
            insert_item(&tx, &team.team_id, 1, team.now_ms, &NewItem::team_key(&team.team_key, 0, &body)).await?
        })
    }

    async fn device(&self, team_id: TeamId, device_id: DeviceId) -> Result<Option<DeviceInfo>, StoreError> {
        // A single read: no transaction needed.
        let client = self.pool.get().await?;
        load_device(&client, &team_id, &device_id).await
    }

    async fn create_invite(&self, auth: AuthStamp, invite: NewInvite) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            team_state(&tx, &auth.team_id, true).await?;
            let requester = begin_auth(&tx, &auth).await?;
            check_lead(&requester)?;
            let inserted = tx
                .execute(
                    "INSERT INTO invites (token_hash, team_id, role, expires_ms, package) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[
                        &&invite.token_hash.0[..],
                        &&auth.team_id.0[..],
                        &(invite.role.code() as i64),
                        &invite.expires_ms,
                        &json_column(&invite.package),
                    ],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::refused(ErrorCode::Conflict, "an invite with this token already exists"));
            }
        })
    }

    async fn enrol(&self, team_id: TeamId, token_hash: TokenHash, device: NewDevice) -> Result<Enrolled, StoreError> {
        in_tx!(self, tx => enrol_in(&tx, &team_id, &token_hash, &device).await?)
    }

    async fn push(&self, auth: AuthStamp, chunks: Vec<ChunkRecord>, doc_keys: Vec<WrappedDocKey>) -> Result<PushResponse, StoreError> {
        in_tx!(self, tx => push_in(&tx, &auth, &chunks, &doc_keys).await?)
    }

    async fn pull(&self, auth: AuthStamp, cursor: u64, limit: u32) -> Result<PullResponse, StoreError> {
        let limit = if limit == 0 { MAX_PULL_LIMIT } else { limit.min(MAX_PULL_LIMIT) } as usize;
        in_tx!(self, tx => {
            begin_auth(&tx, &auth).await?;
            let stmt = tx
                .prepare_cached(
                    "SELECT seq, kind, received_ms, hash, device_id, epoch, body FROM items \
                     WHERE team_id = $1 AND seq > $2 AND (kind <> 3 OR device_id = $3) ORDER BY seq LIMIT $4",
                )
                .await?;
            let rows = tx
                .query(&stmt, &[&&auth.team_id.0[..], &to_i64(cursor)?, &&auth.device_id.0[..], &((limit + 1) as i64)])
                .await?
                .into_iter()
                .map(|r| ItemRow {
                    seq: r.get(0),
                    kind: r.get(1),
                    received_ms: r.get(2),
                    hash: r.get(3),
                    device_id: r.get(4),
                    epoch: r.get(5),
                    body: r.get(6),
                })
                .collect();
            build_page(rows, cursor, limit, PULL_PAGE_BYTES)?
        })
    }

    async fn devices(&self, auth: AuthStamp) -> Result<(u64, Vec<DeviceInfo>), StoreError> {
        in_tx!(self, tx => {
            begin_auth(&tx, &auth).await?;
            let (epoch, _) = team_state(&tx, &auth.team_id, false).await?;
            (epoch, load_devices(&tx, &auth.team_id).await?)
        })
    }

    async fn revoke(&self, auth: AuthStamp, target: DeviceId, rotation: Rotation, wipe: Option<WipeOrder>) -> Result<u64, StoreError> {
        in_tx!(self, tx => revoke_in(&tx, &auth, target, &rotation, wipe.as_ref()).await?)
    }

    async fn shred(&self, auth: AuthStamp, order: ShredOrder, rotation: Rotation) -> Result<ShredResponse, StoreError> {
        let result: Result<_, StoreError> = in_tx!(self, tx => shred_in(&tx, &auth, &order, &rotation).await?);
        let (response, deleted) = result?;
        if deleted {
            let store = self.clone();
            tokio::spawn(async move {
                if let Err(e) = store.vacuum_items().await {
                    tracing::warn!(error = %e, "could not VACUUM the items table after a shred");
                }
            });
        }
        Ok(response)
    }

    async fn shreds(&self, auth: AuthStamp, since: u64) -> Result<Vec<ShredNotice>, StoreError> {
        in_tx!(self, tx => {
            begin_auth(&tx, &auth).await?;
            let stmt = tx
                .prepare_cached(
                    "SELECT s.seq, s.received_ms, s.body, \
                       (SELECT k.body FROM items k WHERE k.team_id = s.team_id AND k.kind = 3 AND k.device_id = $3 \
                        AND k.epoch = s.epoch ORDER BY k.seq DESC LIMIT 1) \
                     FROM items s WHERE s.team_id = $1 AND s.kind = 5 AND s.seq > $2 ORDER BY s.seq LIMIT $4",
                )
                .await?;
            let rows = tx
                .query(&stmt, &[&&auth.team_id.0[..], &to_i64(since)?, &&auth.device_id.0[..], &(MAX_SHREDS_PER_REPLY as i64)])
                .await?
                .into_iter()
                .map(|r| ShredRow { seq: r.get(0), received_ms: r.get(1), body: r.get(2), team_key: r.get(3) })
                .collect();
            shred_page(rows)?
        })
    }

    async fn rekey(&self, auth: AuthStamp, kx_pub: [u8; 32]) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            // Under the team lock: a rotation in progress sees the old key or the new one,
            // never commits wrappings checked against a key replaced under it.
            team_state(&tx, &auth.team_id, true).await?;
            begin_auth(&tx, &auth).await?;
            tx.execute(
                "UPDATE devices SET kx_pub = $3 WHERE team_id = $1 AND device_id = $2",
                &[&&auth.team_id.0[..], &&auth.device_id.0[..], &&kx_pub[..]],
            )
            .await?;
        })
    }

    async fn wipe_order(&self, team_id: TeamId, device_id: DeviceId) -> Result<Option<WipeOrder>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt("SELECT body FROM wipe_orders WHERE team_id = $1 AND device_id = $2", &[&&team_id.0[..], &&device_id.0[..]])
            .await?;
        wipe_from_column(row.map(|r| r.get(0)))
    }

    async fn prune_invites(&self, now_ms: i64) -> Result<u64, StoreError> {
        in_tx!(self, tx => tx.execute("UPDATE invites SET package = NULL WHERE expires_ms <= $1 AND package IS NOT NULL", &[&now_ms]).await?)
    }

    async fn prune_nonces(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        in_tx!(self, tx => tx.execute("DELETE FROM nonces WHERE ts_ms < $1", &[&cutoff_ms]).await?)
    }

    async fn fingerprint(&self) -> Result<Vec<TableFingerprint>, StoreError> {
        in_tx!(self, tx => {
            let mut out = Vec::new();
            for (table, query) in FINGERPRINT_QUERIES {
                let rows = tx.query(*query, &[]).await?;
                let mut hasher = Sha256::new();
                for row in &rows {
                    hasher.update(row.get::<_, &str>(0).as_bytes());
                    hasher.update(b"\n");
                }
                out.push(TableFingerprint { table, rows: rows.len() as u64, digest: hex::encode(hasher.finalize()) });
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_servers_are_accepted() {
        let local = |url: &str| is_local(&url.parse().unwrap());
        assert!(local("postgres://u@127.0.0.1:5432/db"));
        assert!(local("postgres://u@localhost/db"));
        assert!(local("postgres://u@[::1]:5432/db"));
        assert!(local("host=/tmp user=u dbname=db"));
        assert!(!local("postgres://u@db.example.test/db"));
        assert!(!local("postgres://u@10.1.2.3/db"));
    }

    #[test]
    fn schema_names_are_restricted() {
        assert!(valid_schema_name("t_0a1b"));
        assert!(!valid_schema_name("x; DROP TABLE teams"));
        assert!(!valid_schema_name("1abc"));
        assert!(!valid_schema_name(""));
    }
}
