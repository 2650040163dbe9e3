//! Applying one pulled page, atomically.
//!
//! Everything a page changes happens in ONE SQLite transaction, committed together with the
//! new cursor: data and team keys learnt, chunks verified, decrypted and loaded into their
//! documents, documents stored and re-projected. Any failure rolls the whole page back and
//! drops the in-memory documents it touched (the next load reads what the disk holds), so the
//! page is simply pulled again next time.
//!
//! Chunks whose document has not shown its first change yet (so its kind is unknown) wait in
//! `sync_pending`; chunks with missing dependencies are stored like any other (automerge
//! queues them when the document is loaded) and the document is not compacted while it has
//! queued changes, so nothing is lost whatever order chunks arrive in.

use std::collections::HashMap;

use automerge::{ActorId, Automerge, ReadDoc, Value, ROOT};
use chrono::Utc;
use outreach_proto::ids::DeviceId;
use outreach_proto::keys::DevicePublicKeys;
use outreach_proto::messages::{PullEntry, PullItem, Role};
use outreach_proto::seal::{open_chunk, SealedChunk};
use outreach_proto::wrap::unwrap_doc_key;
use rusqlite::{params, Connection, OptionalExtension};

use super::identity;
use crate::api::Settings;
use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::projection::{self, Target};
use crate::store::{exec, load_doc_from, store_chunk, Store};

/// What one applied page held.
#[derive(Debug, Default)]
pub(crate) struct PageOutcome {
    pub chunks: u64,
    pub bytes: u64,
    pub own: u64,
    pub docs: u64,
    pub waiting: u64,
}

struct Work {
    kind: Option<DocKind>,
    doc: Automerge,
}

struct Dev {
    keys: DevicePublicKeys,
    role: Role,
    revoked_ms: Option<i64>,
}

fn load_devices(conn: &Connection) -> Result<HashMap<DeviceId, Dev>> {
    let mut st = conn.prepare("SELECT device_id, sign_pub, kx_pub, role, revoked_ms FROM sync_devices")?;
    let rows = st.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, String>(3)?, r.get::<_, Option<i64>>(4)?))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (id, sp, kp, role, revoked_ms) = row?;
        let keys = DevicePublicKeys {
            sign_pub: sp.try_into().map_err(|_| Error::Corrupt("device key".into()))?,
            kx_pub: kp.try_into().map_err(|_| Error::Corrupt("device key".into()))?,
        };
        let id = super::device_id(&id)?;
        if keys.device_id() != id {
            return Err(Error::Corrupt("device directory entry does not match its keys".into()));
        }
        out.insert(id, Dev { keys, role: identity::parse_role(&role)?, revoked_ms });
    }
    Ok(out)
}

/// The author of a chunk, if it is in the directory and was not revoked when the hub got it.
fn author_of<'a>(devices: &'a HashMap<DeviceId, Dev>, chunk: &SealedChunk, received_ms: i64) -> Result<&'a Dev> {
    let author = devices.get(&chunk.author).ok_or_else(|| Error::Crypto("chunk from an unknown device".into()))?;
    if author.revoked_ms.is_some_and(|r| received_ms > r) {
        return Err(Error::Crypto("chunk received from a device after its revocation".into()));
    }
    Ok(author)
}

fn crypto(what: &str) -> impl Fn(outreach_proto::CryptoError) -> Error + '_ {
    move |e| Error::Crypto(format!("{what}: {e}"))
}

/// The kind a document declares in its root, once its first change is in.
fn declared_kind(d: &Automerge) -> Result<Option<DocKind>> {
    match d.get(ROOT, "kind")? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            automerge::ScalarValue::Str(k) => Ok(Some(DocKind::parse(k.as_str())?)),
            _ => Err(Error::Document("document kind is not text".into())),
        },
        Some(_) => Err(Error::Document("document kind is not text".into())),
        None => Ok(None),
    }
}

/// Loads one decrypted chunk into its document (in `work`), storing it in the transaction.
fn apply_chunk(
    t: &Connection,
    work: &mut HashMap<String, Work>,
    order: &mut Vec<String>,
    cache: &mut HashMap<String, Automerge>,
    actor: &ActorId,
    doc_id: &str,
    plain: &[u8],
) -> Result<()> {
    if !work.contains_key(doc_id) {
        let kind: Option<String> = t
            .prepare_cached("SELECT kind FROM docs WHERE doc_id = ?1")?
            .query_row([doc_id], |r| r.get(0))
            .optional()?;
        let w = match kind {
            Some(k) => {
                let doc = match cache.remove(doc_id) {
                    Some(d) => d,
                    None => load_doc_from(t, doc_id, actor.clone())?,
                };
                Work { kind: Some(DocKind::parse(&k)?), doc }
            }
            None => {
                let mut d = Automerge::new().with_actor(actor.clone());
                let mut st = t.prepare_cached("SELECT data FROM sync_pending WHERE doc_id = ?1 ORDER BY seq")?;
                let mut rows = st.query([doc_id])?;
                while let Some(r) = rows.next()? {
                    d.load_incremental(&r.get::<_, Vec<u8>>(0)?)?;
                }
                Work { kind: None, doc: d }
            }
        };
        work.insert(doc_id.to_string(), w);
        order.push(doc_id.to_string());
    }
    let w = work.get_mut(doc_id).expect("inserted above");
    let heads = w.doc.get_heads();
    w.doc.load_incremental(plain)?;
    match w.kind {
        Some(_) => {
            // Store unless it was a pure duplicate (nothing new, nothing queued).
            if w.doc.get_heads() != heads || !w.doc.get_missing_deps(&[]).is_empty() {
                store_chunk(t, doc_id, plain, &w.doc)?;
            }
        }
        None => match declared_kind(&w.doc)? {
            Some(kind) => {
                let now = Utc::now().to_rfc3339();
                exec(t, "INSERT INTO docs (doc_id, kind, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)", params![doc_id, kind.as_str(), now])?;
                let pending: Vec<Vec<u8>> = {
                    let mut st = t.prepare_cached("SELECT data FROM sync_pending WHERE doc_id = ?1 ORDER BY seq")?;
                    let rows = st.query_map([doc_id], |r| r.get(0))?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                for p in &pending {
                    store_chunk(t, doc_id, p, &w.doc)?;
                }
                exec(t, "DELETE FROM sync_pending WHERE doc_id = ?1", [doc_id])?;
                store_chunk(t, doc_id, plain, &w.doc)?;
                w.kind = Some(kind);
            }
            None => {
                exec(t, "INSERT INTO sync_pending (doc_id, data) VALUES (?1, ?2)", params![doc_id, plain])?;
            }
        },
    }
    Ok(())
}

fn read_settings(d: &Automerge) -> Result<Settings> {
    let m = doc::root_map(d, "settings")?;
    Ok(serde_json::from_value(doc::read_json(d, &m)?)?)
}

impl Store {
    /// Applies one page and stores `next_cursor`, all in one transaction (see module docs).
    pub(crate) fn apply_page(&mut self, items: &[PullItem], next_cursor: u64) -> Result<PageOutcome> {
        let id = self.sync.as_ref().ok_or_else(|| Error::State("this store has no sync identity".into()))?;
        let me = id.device_id();
        let team_id = id.team_id;
        let current_epoch = id.team_key.epoch();
        let mut team_keys = identity::team_keys(&self.conn)?;
        // Team keys older than the newest shred order never come back.
        let floor = super::shred::floor(&self.conn)?;
        let devices = load_devices(&self.conn)?;
        let mut out = PageOutcome::default();
        let mut work: HashMap<String, Work> = HashMap::new();
        let mut order: Vec<String> = vec![];
        let mut new_epoch: Option<u64> = None;
        let mut settings = self.settings.clone();
        let mut settings_doc = self.settings_doc.clone();

        let t = self.conn.transaction()?;
        for item in items {
            match &item.entry {
                PullEntry::Chunk { hash, chunk } => {
                    if chunk.author == me {
                        out.own += 1;
                        continue;
                    }
                    if chunk.team_id != team_id {
                        return Err(Error::Crypto("chunk of another team".into()));
                    }
                    if chunk.hash() != *hash {
                        return Err(Error::Crypto("chunk does not match its hash".into()));
                    }
                    if super::shred::is_removed(&t, &chunk.doc_id.to_hex())? {
                        // Shredded (or removed from this device): dropped unread.
                        continue;
                    }
                    let author = author_of(&devices, chunk, item.received_ms)?;
                    let Some(key) = identity::doc_key(&t, &chunk.key_id)? else {
                        // Its data key has not reached this device yet (e.g. a device enrolled
                        // after a key rotation waits for the lead's re-wrap): keep it sealed,
                        // with its signature checked, until the key arrives.
                        chunk.verify_signature(&author.keys).map_err(crypto("chunk"))?;
                        exec(
                            &t,
                            "INSERT INTO sync_waiting (key_id, data, received_ms) VALUES (?1, ?2, ?3)",
                            params![chunk.key_id.to_hex(), chunk.to_bytes(), item.received_ms],
                        )?;
                        out.waiting += 1;
                        continue;
                    };
                    let plain = open_chunk(chunk, &key, &author.keys).map_err(crypto("chunk"))?;
                    apply_chunk(&t, &mut work, &mut order, &mut self.docs, &self.actor, &chunk.doc_id.to_hex(), &plain)?;
                    out.chunks += 1;
                    out.bytes += chunk.ciphertext.len() as u64;
                }
                PullEntry::DocKey { key } => {
                    if identity::doc_key(&t, &key.key_id)?.is_some() || super::shred::is_removed(&t, &key.doc_id.to_hex())? {
                        continue;
                    }
                    // A wrap under an epoch this device never held (it joined later): a wrap of
                    // the same key under a newer epoch follows.
                    let Some(tk) = team_keys.get(&key.epoch) else { continue };
                    let dk = unwrap_doc_key(tk, team_id, key).map_err(crypto("document key"))?;
                    identity::insert_doc_key(&t, &dk, key, true)?;
                    // Chunks that were waiting for this key.
                    let waiting: Vec<(i64, Vec<u8>, i64)> = {
                        let mut st = t.prepare_cached("SELECT seq, data, received_ms FROM sync_waiting WHERE key_id = ?1 ORDER BY seq")?;
                        let rows = st.query_map([key.key_id.to_hex()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                        rows.collect::<rusqlite::Result<_>>()?
                    };
                    for (_, data, received_ms) in waiting {
                        let chunk = SealedChunk::from_bytes(&data).map_err(|_| Error::Corrupt("waiting chunk".into()))?;
                        let author = author_of(&devices, &chunk, received_ms)?;
                        let plain = open_chunk(&chunk, &dk, &author.keys).map_err(crypto("chunk"))?;
                        apply_chunk(&t, &mut work, &mut order, &mut self.docs, &self.actor, &chunk.doc_id.to_hex(), &plain)?;
                        out.chunks += 1;
                        out.bytes += chunk.ciphertext.len() as u64;
                    }
                    exec(&t, "DELETE FROM sync_waiting WHERE key_id = ?1", [key.key_id.to_hex()])?;
                }
                PullEntry::TeamKey { key } => {
                    if key.device_id != me || team_keys.contains_key(&key.epoch) || key.epoch < floor {
                        continue;
                    }
                    let wrapper = devices
                        .get(&key.wrapped_by)
                        .filter(|d| d.role == Role::Lead)
                        .ok_or_else(|| Error::Crypto("team key not issued by a known lead".into()))?;
                    // With the agreement secret, or the pending one (a lost `rekey` answer).
                    let tk = super::shred::open_team_key(&t, id, key, &wrapper.keys)?;
                    t.execute(
                        "INSERT OR IGNORE INTO team_keys (epoch, key, added_at) VALUES (?1, ?2, ?3)",
                        params![key.epoch as i64, &tk.expose_secret()[..], Utc::now().to_rfc3339()],
                    )?;
                    if key.epoch > new_epoch.unwrap_or(current_epoch) {
                        new_epoch = Some(key.epoch);
                    }
                    team_keys.insert(key.epoch, tk);
                }
                PullEntry::Revocation { device_id, .. } => {
                    t.execute(
                        "UPDATE sync_devices SET revoked_ms = ?2 WHERE device_id = ?1 AND revoked_ms IS NULL",
                        params![device_id.to_hex(), item.received_ms],
                    )?;
                }
                // Shred orders are applied before anything else by the `shreds` step that
                // starts every sync (and by `pull` before a page that names a new one), so
                // here the order is always known already.
                PullEntry::Shred { order } => {
                    if !super::shred::applied(&t, order)? {
                        return Err(Error::State("a shred order in the log was not applied first".into()));
                    }
                }
            }
        }

        // Team settings first: projections of the other documents depend on them.
        let mut settings_changed = false;
        for doc_id in &order {
            let w = &work[doc_id];
            if w.kind == Some(DocKind::Settings) && (settings_doc.is_empty() || &settings_doc == doc_id) {
                if settings_doc.is_empty() {
                    t.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('settings_doc', ?1)", [doc_id])?;
                    settings_doc = doc_id.clone();
                }
                let s = read_settings(&w.doc)?;
                if s != settings {
                    settings = s;
                    settings_changed = true;
                }
            }
        }
        if settings_changed {
            // Zones, offset or alert key changed: every projection may differ.
            let all: Vec<(String, String)> = {
                let mut st = t.prepare("SELECT doc_id, kind FROM docs ORDER BY doc_id")?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for (doc_id, kind) in all {
                let kind = DocKind::parse(&kind)?;
                match work.get(&doc_id) {
                    Some(w) => projection::project(&t, &doc_id, kind, &w.doc, Target::All, &settings)?,
                    None => {
                        let d = load_doc_from(&t, &doc_id, self.actor.clone())?;
                        projection::project(&t, &doc_id, kind, &d, Target::All, &settings)?
                    }
                }
            }
        } else {
            for doc_id in &order {
                let w = &work[doc_id];
                if let Some(kind) = w.kind {
                    projection::project(&t, doc_id, kind, &w.doc, Target::All, &settings)?;
                }
            }
        }
        out.docs = work.values().filter(|w| w.kind.is_some()).count() as u64;
        // The device that issued the current epoch re-wraps older keys it learns of.
        let epoch_now = new_epoch.unwrap_or(current_epoch);
        if epoch_now > 0 && identity::issued(&t, epoch_now)? {
            if let Some(tk) = team_keys.get(&epoch_now) {
                identity::rewrap_older_keys(&t, team_id, tk)?;
            }
        }
        if let Some(e) = new_epoch {
            t.execute("UPDATE sync_identity SET epoch = ?1 WHERE id = 1", [e as i64])?;
        }
        t.execute("UPDATE sync_identity SET pull_cursor = ?1 WHERE id = 1", [next_cursor as i64])?;
        t.commit()?;

        // Committed: now the in-memory state may follow.
        if let Some(e) = new_epoch {
            if let (Some(tk), Some(id)) = (team_keys.remove(&e), self.sync.as_mut()) {
                id.team_key = tk;
            }
        }
        self.settings = settings;
        self.settings_doc = settings_doc;
        for (doc_id, w) in work {
            if w.kind.is_some() {
                self.cache_doc(&doc_id, w.doc);
            }
        }
        Ok(out)
    }
}
