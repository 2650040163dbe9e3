//! This device's sync identity and the keys it holds, all kept inside the SQLCipher database.
//!
//! - `sync_identity` (one row): device signing + agreement secrets, team id, role, current
//!   team-key epoch, hub URL, pull cursor, last sync outcome.
//! - `team_keys`: team key per epoch.
//! - `doc_keys`: per-document data keys, with the wrapped form pushed to the hub.
//!
//! Secrets are read into zeroizing types and never logged; `Identity`'s `Debug` shows ids only.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::Utc;
use outreach_proto::ids::{DeviceId, DocId, KeyId, TeamId};
use outreach_proto::keys::{DeviceKeys, DocKey, TeamKey};
use outreach_proto::messages::Role;
use outreach_proto::seal::seal_chunk;
use outreach_proto::wrap::{new_doc_key, WrappedDocKey};
use rusqlite::{params, Connection, OptionalExtension};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::store::exec;

/// What a device needs in memory to seal and sign: its keys, its team and the current team key.
pub(crate) struct Identity {
    pub(crate) keys: DeviceKeys,
    pub(crate) team_id: TeamId,
    pub(crate) team_key: TeamKey,
    pub(crate) role: Role,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("device", &self.keys.device_id())
            .field("team", &self.team_id)
            .field("epoch", &self.team_key.epoch())
            .finish_non_exhaustive()
    }
}

impl Identity {
    pub(crate) fn device_id(&self) -> DeviceId {
        self.keys.device_id()
    }
}

pub(crate) fn role_str(r: Role) -> &'static str {
    match r {
        Role::Lead => "lead",
        Role::Member => "member",
    }
}

pub(crate) fn parse_role(s: &str) -> Result<Role> {
    match s {
        "lead" => Ok(Role::Lead),
        "member" => Ok(Role::Member),
        _ => Err(Error::Corrupt("unknown sync role".into())),
    }
}

fn arr32(v: &[u8], what: &str) -> Result<Zeroizing<[u8; 32]>> {
    let a: [u8; 32] = v.try_into().map_err(|_| Error::Corrupt(format!("bad {what}")))?;
    Ok(Zeroizing::new(a))
}

/// Writes a new identity (device keys, team, one team key) in the caller's transaction.
pub(crate) fn insert(conn: &Connection, keys: &DeviceKeys, team_id: TeamId, team_key: &TeamKey, role: Role, hub_url: Option<&str>, registered: bool) -> Result<()> {
    let now = Utc::now().to_rfc3339();
    conn.execute(
        "INSERT INTO sync_identity (id, device_id, sign_secret, kx_secret, team_id, role, epoch, hub_url, registered)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            keys.device_id().to_hex(),
            &keys.signing_secret()[..],
            &keys.agreement_secret()[..],
            team_id.to_hex(),
            role_str(role),
            team_key.epoch() as i64,
            hub_url,
            registered
        ],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO team_keys (epoch, key, added_at) VALUES (?1, ?2, ?3)",
        params![team_key.epoch() as i64, &team_key.expose_secret()[..], now],
    )?;
    Ok(())
}

/// Loads the identity, if the store has one.
pub(crate) fn load(conn: &Connection) -> Result<Option<Identity>> {
    let row: Option<(Vec<u8>, Vec<u8>, String, String, i64)> = conn
        .query_row("SELECT sign_secret, kx_secret, team_id, role, epoch FROM sync_identity WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((sign, kx, team, role, epoch)) = row else { return Ok(None) };
    let sign = Zeroizing::new(sign);
    let kx = Zeroizing::new(kx);
    let sign = arr32(&sign, "signing secret")?;
    let kx = arr32(&kx, "agreement secret")?;
    let keys = DeviceKeys::from_secrets(&sign, &kx);
    let team_id = TeamId::from_str(&team).map_err(|_| Error::Corrupt("bad team id".into()))?;
    let team_key = team_key(conn, epoch as u64)?.ok_or_else(|| Error::Corrupt("team key of the current epoch is missing".into()))?;
    Ok(Some(Identity { keys, team_id, team_key, role: parse_role(&role)? }))
}

/// The team key of `epoch`, if held.
pub(crate) fn team_key(conn: &Connection, epoch: u64) -> Result<Option<TeamKey>> {
    let k: Option<Vec<u8>> =
        conn.query_row("SELECT key FROM team_keys WHERE epoch = ?1", [epoch as i64], |r| r.get(0)).optional()?;
    match k {
        Some(k) => {
            let k = Zeroizing::new(k);
            Ok(Some(TeamKey::from_bytes(epoch, *arr32(&k, "team key")?)))
        }
        None => Ok(None),
    }
}

/// Every team key held, by epoch.
pub(crate) fn team_keys(conn: &Connection) -> Result<HashMap<u64, TeamKey>> {
    let mut st = conn.prepare("SELECT epoch, key FROM team_keys")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (e, k) = row?;
        let k = Zeroizing::new(k);
        out.insert(e as u64, TeamKey::from_bytes(e as u64, *arr32(&k, "team key")?));
    }
    Ok(out)
}

/// The data key with id `key_id`, if held.
pub(crate) fn doc_key(conn: &Connection, key_id: &KeyId) -> Result<Option<DocKey>> {
    let k: Option<Vec<u8>> = conn
        .prepare_cached("SELECT key FROM doc_keys WHERE key_id = ?1")?
        .query_row([key_id.to_hex()], |r| r.get(0))
        .optional()?;
    match k {
        Some(k) => {
            let k = Zeroizing::new(k);
            Ok(Some(DocKey::from_bytes(*arr32(&k, "document key")?)))
        }
        None => Ok(None),
    }
}

/// Stores a data key (ours, to push, or one pulled from the hub).
pub(crate) fn insert_doc_key(conn: &Connection, key: &DocKey, wrapped: &WrappedDocKey, pushed: bool) -> Result<()> {
    exec(
        conn,
        "INSERT OR IGNORE INTO doc_keys (key_id, doc_id, epoch, key, wrapped, pushed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            wrapped.key_id.to_hex(),
            wrapped.doc_id.to_hex(),
            wrapped.epoch as i64,
            &key.expose_secret()[..],
            serde_json::to_string(wrapped)?,
            pushed
        ],
    )?;
    Ok(())
}

/// The document's data key for the current epoch, created (and wrapped under the current team
/// key, queued for upload) in the caller's transaction on first use.
fn doc_key_for_change(conn: &Connection, id: &Identity, doc: DocId) -> Result<(KeyId, DocKey)> {
    let epoch = id.team_key.epoch();
    let row: Option<(String, Vec<u8>)> = conn
        .prepare_cached("SELECT key_id, key FROM doc_keys WHERE doc_id = ?1 AND epoch = ?2 ORDER BY key_id LIMIT 1")?
        .query_row(params![doc.to_hex(), epoch as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((kid, k)) = row {
        let k = Zeroizing::new(k);
        let kid = KeyId::from_str(&kid).map_err(|_| Error::Corrupt("bad key id".into()))?;
        return Ok((kid, DocKey::from_bytes(*arr32(&k, "document key")?)));
    }
    let (key, key_id, wrapped) =
        new_doc_key(&id.team_key, id.team_id, doc).map_err(|e| Error::Crypto(format!("wrap document key: {e}")))?;
    insert_doc_key(conn, &key, &wrapped, false)?;
    Ok((key_id, key))
}

/// Parses a core document id (32 hex digits) as a wire document id.
pub(crate) fn wire_doc_id(doc_id: &str) -> Result<DocId> {
    DocId::from_str(doc_id).map_err(|_| Error::Document("document id is not 128-bit hex".into()))
}

/// Seals one local change chunk and queues it in the outbox, in the caller's transaction (the
/// same one that stores the change itself).
pub(crate) fn queue_sealed(conn: &Connection, id: &Identity, doc_id: &str, chunk: &[u8], now: &str) -> Result<()> {
    let doc = wire_doc_id(doc_id)?;
    let (key_id, key) = doc_key_for_change(conn, id, doc)?;
    let sealed = seal_chunk(&key, id.team_id, doc, key_id, chunk, &id.keys).map_err(|e| Error::Crypto(format!("seal: {e}")))?;
    let bytes = sealed.to_bytes();
    let hash = outreach_proto::ids::ChunkHash::of(&bytes);
    exec(
        conn,
        "INSERT INTO outbox (doc_id, hash, data, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![doc_id, &hash.0[..], bytes, now],
    )?;
    Ok(())
}

/// Seals what a store written before the sync client left in plaintext (`outbox_unsealed`).
pub(crate) fn seal_unsealed_outbox(conn: &mut Connection, id: &Identity) -> Result<u64> {
    let n: i64 = conn.query_row("SELECT count(*) FROM outbox_unsealed", [], |r| r.get(0))?;
    if n == 0 {
        return Ok(0);
    }
    let t = conn.transaction()?;
    let rows: Vec<(i64, String, Vec<u8>, String)> = {
        let mut st = t.prepare("SELECT seq, doc_id, data, created_at FROM outbox_unsealed ORDER BY seq")?;
        let r = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        r.collect::<rusqlite::Result<_>>()?
    };
    for (_, doc_id, data, at) in &rows {
        queue_sealed(&t, id, doc_id, data, at)?;
    }
    t.execute("DELETE FROM outbox_unsealed", [])?;
    t.commit()?;
    Ok(rows.len() as u64)
}

/// Whether this device issued the team key of `epoch` (it revoked a device to make it).
pub(crate) fn issued(conn: &Connection, epoch: u64) -> Result<bool> {
    Ok(conn
        .query_row("SELECT issued FROM team_keys WHERE epoch = ?1", [epoch as i64], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Wraps under `team_key` every document key held under an older epoch that has no wrap for
/// this epoch yet, queued for upload. Only the device that issued the epoch does this, so the
/// hub never sees two different wraps of one key for one epoch.
pub(crate) fn rewrap_older_keys(conn: &Connection, team_id: TeamId, team_key: &TeamKey) -> Result<u64> {
    let epoch = team_key.epoch() as i64;
    let rows: Vec<(String, String, Vec<u8>)> = {
        let mut st = conn.prepare_cached(
            "SELECT key_id, doc_id, key FROM doc_keys k WHERE epoch < ?1
             AND NOT EXISTS (SELECT 1 FROM doc_key_wraps w WHERE w.key_id = k.key_id AND w.epoch = ?1)",
        )?;
        let r = st.query_map([epoch], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        r.collect::<rusqlite::Result<_>>()?
    };
    for (kid, doc, key) in &rows {
        let key = Zeroizing::new(key.clone());
        let dk = DocKey::from_bytes(*arr32(&key, "document key")?);
        let kid = KeyId::from_str(kid).map_err(|_| Error::Corrupt("bad key id".into()))?;
        let w = outreach_proto::wrap::wrap_doc_key(team_key, team_id, wire_doc_id(doc)?, kid, &dk)
            .map_err(|e| Error::Crypto(format!("wrap document key: {e}")))?;
        exec(
            conn,
            "INSERT INTO doc_key_wraps (key_id, epoch, wrapped, pushed) VALUES (?1, ?2, ?3, 0)",
            params![w.key_id.to_hex(), epoch, serde_json::to_string(&w)?],
        )?;
    }
    Ok(rows.len() as u64)
}
