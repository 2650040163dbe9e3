//! Crypto-shredding: destroying documents and every key that could open a copy of them.
//!
//! A lead signs a [`ShredOrder`] naming documents and a new team-key epoch; the hub deletes
//! their ciphertext and wrapped keys and refuses them from then on. Every device applies the
//! order **before anything else** in its next sync (the `shreds` step, before push):
//!
//! 1. delete the documents locally: `docs`, `doc_chunks`, `doc_keys` (+ their
//!    `doc_key_wraps`), `outbox`, `sync_pending`, `sync_waiting`, every projection row, the
//!    in-memory cache; and remember them in `shredded_docs`, so their chunks and keys are
//!    dropped if they arrive later and never pushed;
//! 2. install the new team key (wrapped for this device's agreement key by a lead);
//! 3. re-wrap under the new epoch its own document keys the hub has not got yet; the issuing
//!    lead re-wraps every remaining document key (so devices enrolled later read the history);
//! 4. destroy the team keys of every earlier epoch (they could unwrap an old copy of the
//!    shredded documents' keys, e.g. from a backup of the hub taken before the order);
//! 5. at the end of the sync, re-key: a new X25519 agreement key is registered with the hub
//!    (`/v1/rekey`) and the old secret destroyed, since it could open the old team-key
//!    wrappings in such a copy. The new secret is kept as *pending* until the hub confirms it,
//!    and is tried for unwrapping too, so a lost answer loses nothing.
//!
//! The orders are applied idempotently (remembered by signature in `shred_orders`); the same
//! order met again in the pull log is a no-op.

use std::collections::HashSet;

use chrono::Utc;
use outreach_proto::ids::DocId;
use outreach_proto::keys::{DeviceKeys, TeamKey};
use outreach_proto::messages::{
    paths, DevicesRequest, DevicesResponse, PullEntry, PullItem, PullRequest, PullResponse, RecipientKx, RekeyRequest, RekeyResponse, Role, ShredNotice, ShredRequest,
    ShredResponse, ShredsRequest, ShredsResponse,
};
use outreach_proto::orders::{ShredOrder, MAX_SHRED_DOCS};
use outreach_proto::seal::SealedChunk;
use outreach_proto::wrap::{unwrap_team_key, wrap_team_key, WrappedTeamKey};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use zeroize::Zeroizing;

pub use outreach_proto::orders::ShredReason;

use super::{identity, now_ms, save_devices, signed, CancelToken, Transport};
use crate::error::{Error, Result};
use crate::people::MergeMap;
use crate::projection;
use crate::store::{exec, Store};

/// What [`Store::shred_docs`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShredOutcome {
    /// The team-key epoch the order started.
    pub epoch: u64,
    /// The order's position in the team's log on the hub.
    pub seq: u64,
    /// Documents named by the order.
    pub docs: u64,
    /// Of those, documents this device held and deleted.
    pub docs_deleted_here: u64,
    /// Chunks the hub deleted.
    pub hub_chunks_deleted: u64,
    /// Wrapped document keys the hub deleted.
    pub hub_keys_deleted: u64,
    /// Whether this device's agreement key was replaced already (otherwise its next sync
    /// does it).
    pub rekeyed: bool,
}

fn reason_str(r: ShredReason) -> &'static str {
    match r {
        ShredReason::Erasure => "erasure",
        ShredReason::Retention => "retention",
    }
}

/// Whether this order was applied here already.
pub(crate) fn applied(conn: &Connection, order: &ShredOrder) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM shred_orders WHERE sig = ?1")?
        .query_row([&order.sig[..]], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Whether `doc_id` was shredded or removed from this device.
pub(crate) fn is_removed(conn: &Connection, doc_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM shredded_docs WHERE doc_id = ?1")?
        .query_row([doc_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The newest shred epoch applied here: team keys of older epochs never come back.
pub(crate) fn floor(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row("SELECT shred_floor FROM sync_identity WHERE id = 1", [], |r| r.get::<_, i64>(0))? as u64)
}

/// This device's keys with the pending (sent, not yet confirmed) agreement secret, if any.
pub(crate) fn pending_keys(conn: &Connection, keys: &DeviceKeys) -> Result<Option<DeviceKeys>> {
    other_keys(conn, keys, "kx_pending")
}

/// This device's keys with the agreement secret of column `col` of `sync_identity`.
fn other_keys(conn: &Connection, keys: &DeviceKeys, col: &str) -> Result<Option<DeviceKeys>> {
    let p: Option<Vec<u8>> = conn.query_row(&format!("SELECT {col} FROM sync_identity WHERE id = 1"), [], |r| r.get(0))?;
    let Some(p) = p else { return Ok(None) };
    let p = Zeroizing::new(p);
    let kx: [u8; 32] = p.as_slice().try_into().map_err(|_| Error::Corrupt("bad agreement secret".into()))?;
    let kx = Zeroizing::new(kx);
    Ok(Some(DeviceKeys::from_secrets(&keys.signing_secret(), &kx)))
}

/// Opens a team key wrapped for this device with its agreement secret, or with the pending
/// one (the hub may hold the new public key even if its answer to `rekey` was lost), or with
/// the one just replaced (a lead may have wrapped for it just before the replacement; it is
/// destroyed once the pull that follows the replacement is done).
pub(crate) fn open_team_key(
    conn: &Connection,
    id: &identity::Identity,
    key: &WrappedTeamKey,
    wrapper: &outreach_proto::keys::DevicePublicKeys,
) -> Result<TeamKey> {
    let first = match unwrap_team_key(key, id.team_id, &id.keys, wrapper) {
        Ok(k) => return Ok(k),
        Err(e) => e,
    };
    for col in ["kx_pending", "kx_retiring"] {
        if let Some(other) = other_keys(conn, &id.keys, col)? {
            if let Ok(k) = unwrap_team_key(key, id.team_id, &other, wrapper) {
                return Ok(k);
            }
        }
    }
    Err(Error::Crypto(format!("team key: {first}")))
}

/// Deletes documents and everything derived from them in the caller's transaction and
/// remembers them in `shredded_docs` (`epoch` = the shred order's, or `None` for a local-only
/// removal). Returns how many of them this device held.
pub(crate) fn delete_docs_tx(t: &Connection, doc_ids: &[String], epoch: Option<u64>, settings_doc: &str) -> Result<u64> {
    let set: HashSet<&str> = doc_ids.iter().map(|s| s.as_str()).collect();
    if !settings_doc.is_empty() && set.contains(settings_doc) {
        return Err(Error::invalid("doc_ids", "the team settings document cannot be removed"));
    }
    // Merge edges of the profiles about to go, so anonymised counts stay the same: an erased
    // profile still counts once with the rest of its merge group.
    let merges = {
        let mut st = t.prepare_cached(
            "SELECT id, merged_into FROM people WHERE merged_into IS NOT NULL
             UNION ALL SELECT person_id, canonical FROM erased_people",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        MergeMap::from_edges(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    };
    let now = Utc::now().to_rfc3339();
    let mut held = 0u64;
    for d in doc_ids {
        let people: Vec<String> = {
            let mut st = t.prepare_cached("SELECT id FROM people WHERE doc_id = ?1")?;
            let rows = st.query_map([d], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for p in people {
            let c = merges.canonical(&p);
            if c != p {
                exec(t, "INSERT OR REPLACE INTO erased_people (person_id, canonical) VALUES (?1, ?2)", params![p, c])?;
            }
        }
        projection::delete_doc(t, d)?;
        exec(t, "DELETE FROM doc_key_wraps WHERE key_id IN (SELECT key_id FROM doc_keys WHERE doc_id = ?1)", [d])?;
        exec(t, "DELETE FROM doc_keys WHERE doc_id = ?1", [d])?;
        exec(t, "DELETE FROM doc_chunks WHERE doc_id = ?1", [d])?;
        held += exec(t, "DELETE FROM docs WHERE doc_id = ?1", [d])? as u64;
        exec(t, "DELETE FROM outbox WHERE doc_id = ?1", [d])?;
        exec(t, "DELETE FROM outbox_unsealed WHERE doc_id = ?1", [d])?;
        exec(t, "DELETE FROM sync_pending WHERE doc_id = ?1", [d])?;
        exec(
            t,
            "INSERT INTO shredded_docs (doc_id, epoch, removed_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (doc_id) DO UPDATE SET epoch = COALESCE(excluded.epoch, shredded_docs.epoch)",
            params![d, epoch.map(|e| e as i64), now],
        )?;
    }
    // Chunks still sealed, waiting for their key: the document id is inside the chunk.
    let waiting: Vec<(i64, Vec<u8>)> = {
        let mut st = t.prepare_cached("SELECT seq, data FROM sync_waiting")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (seq, data) in waiting {
        let c = SealedChunk::from_bytes(&data).map_err(|_| Error::Corrupt("waiting chunk".into()))?;
        if set.contains(c.doc_id.to_hex().as_str()) {
            exec(t, "DELETE FROM sync_waiting WHERE seq = ?1", [seq])?;
        }
    }
    Ok(held)
}

fn check_doc_ids(doc_ids: &[String]) -> Result<Vec<DocId>> {
    if doc_ids.is_empty() || doc_ids.len() > MAX_SHRED_DOCS {
        return Err(Error::invalid("doc_ids", format!("give between 1 and {MAX_SHRED_DOCS} documents")));
    }
    let mut seen = HashSet::new();
    let mut out = vec![];
    for d in doc_ids {
        let w = identity::wire_doc_id(d)?;
        if seen.insert(w.0) {
            out.push(w);
        }
    }
    Ok(out)
}

impl Store {
    /// Crypto-shreds documents for the whole team (lead only, online only).
    ///
    /// Pulls first (so this lead holds every document key to re-wrap), refreshes the device
    /// directory, makes the team key of the next epoch and wraps it for every device not
    /// revoked, signs a [`ShredOrder`] and sends it to the hub (`/v1/shred`), which deletes
    /// the documents' ciphertext and wrapped keys and refuses them from then on. Then applies
    /// the order here exactly as every other device does at its next sync (see the module
    /// documentation): documents and keys deleted, older team keys destroyed, remaining
    /// document keys re-wrapped under the new epoch, and this device's agreement key replaced.
    ///
    /// `doc_ids` are core document ids (32 hex digits); repeats are ignored; the team settings
    /// document is refused. Errors: [`Error::State`] if this device is not a lead or not
    /// registered with a hub, [`Error::Network`] if the hub cannot be reached (nothing was
    /// shredded; retry when online), [`Error::Hub`] if it refused.
    ///
    /// ```no_run
    /// # fn f(store: &mut outreach_core::Store, hub: &dyn outreach_core::Transport, doc: String) -> outreach_core::Result<()> {
    /// use outreach_core::sync::ShredReason;
    /// let out = store.shred_docs(hub, &[doc], ShredReason::Retention)?;
    /// println!("team key epoch is now {}", out.epoch);
    /// # Ok(()) }
    /// ```
    pub fn shred_docs(&mut self, transport: &dyn Transport, doc_ids: &[String], reason: ShredReason) -> Result<ShredOutcome> {
        self.check_can_shred(doc_ids)?;
        // Catch up first: earlier orders, our own queued changes, and every document key the
        // others pushed (this lead re-wraps them all under the new epoch).
        let cancel = CancelToken::new();
        let mut report = super::SyncReport::default();
        self.apply_shreds(transport, &cancel)?;
        self.push(transport, &|_| {}, &cancel, &mut report)?;
        self.pull(transport, &|_| {}, &cancel, &mut report)?;
        self.shred_now(transport, doc_ids, reason)
    }

    fn check_can_shred(&self, doc_ids: &[String]) -> Result<Vec<DocId>> {
        let wire = check_doc_ids(doc_ids)?;
        if self.identity()?.role != Role::Lead {
            return Err(Error::State("only a lead device can shred documents".into()));
        }
        if !self.sync_row("registered", |r| r.get::<_, bool>(0))? {
            return Err(Error::State("shredding needs the hub: register this device with a hub first".into()));
        }
        if !self.settings_doc.is_empty() && doc_ids.iter().any(|d| d == &self.settings_doc) {
            return Err(Error::invalid("doc_ids", "the team settings document cannot be removed"));
        }
        Ok(wire)
    }

    /// [`Store::shred_docs`] without the catch-up sync (the caller just did it).
    pub(crate) fn shred_now(&mut self, transport: &dyn Transport, doc_ids: &[String], reason: ShredReason) -> Result<ShredOutcome> {
        let wire = self.check_can_shred(doc_ids)?;
        let mut attempt = 0;
        let (order, key, resp) = loop {
            attempt += 1;
            let id = self.identity()?;
            let dir: DevicesResponse = signed(transport, id, paths::DEVICES, &DevicesRequest {})?;
            let epoch = dir.epoch + 1;
            let key = TeamKey::generate(epoch);
            let mut team_keys = vec![];
            let mut recipient_kx = vec![];
            for d in dir.devices.iter().filter(|d| d.revoked_ms.is_none()) {
                team_keys.push(wrap_team_key(&key, id.team_id, &d.keys, &id.keys).map_err(|e| Error::Crypto(format!("wrap team key: {e}")))?);
                recipient_kx.push(RecipientKx { device_id: d.device_id, kx_pub: d.keys.kx_pub });
            }
            let order = ShredOrder::new(&id.keys, id.team_id, wire.clone(), epoch, reason, now_ms());
            let req = ShredRequest { order: order.clone(), team_keys, recipient_kx };
            match signed::<_, ShredResponse>(transport, id, paths::SHRED, &req) {
                Ok(resp) => {
                    let t = self.conn.transaction()?;
                    save_devices(&t, &dir.devices)?;
                    t.commit()?;
                    break (order, key, resp);
                }
                // A device re-keyed (or another lead moved the epoch) between the directory and
                // the order: look again and make a fresh order.
                Err(Error::Hub { code, .. }) if (code == "conflict" || code == "epoch_mismatch") && attempt < 3 => {
                    // Another lead's order may be the reason: apply it first.
                    self.apply_shreds(transport, &CancelToken::new())?;
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        // Keys the others pushed while this order was being made sit before it in the log,
        // wrapped under the epoch about to be destroyed: take them in first, so that they are
        // re-wrapped under the new one. If that fails, the order is applied anyway (its keys
        // must go now); those few keys then reach later devices only from their authors.
        let _ = self.pull_before(transport, resp.seq);
        let held = self.apply_order(&order, Some(key), Some(resp.seq))?;
        // Best effort now; a failure leaves the new secret pending for the next sync. After a
        // replacement, one more pull (a team key may have been wrapped for the old agreement
        // key just before), then the old key is destroyed (or at the end of the next sync).
        let rekeyed = self.rekey(transport).unwrap_or(false);
        if rekeyed {
            let mut report = super::SyncReport::default();
            if self.pull(transport, &|_| {}, &CancelToken::new(), &mut report).is_ok() {
                self.retire_old_kx()?;
            }
        }
        Ok(ShredOutcome {
            epoch: order.epoch,
            seq: resp.seq,
            docs: order.doc_ids.len() as u64,
            docs_deleted_here: held,
            hub_chunks_deleted: resp.chunks_deleted,
            hub_keys_deleted: resp.keys_deleted,
            rekeyed,
        })
    }

    /// Removes documents from this device only (the phones' rolling window): documents,
    /// chunks, keys, outbox rows, waiting and pending chunks, projection rows and the cached
    /// copies. Their chunks and keys are dropped if they arrive later, and never pushed. The
    /// hub and other devices keep them. Returns how many of them were held here.
    #[allow(dead_code)] // the phones' rolling window (core/src/retention.rs) calls it
    pub(crate) fn delete_docs_locally(&mut self, doc_ids: &[String]) -> Result<u64> {
        for d in doc_ids {
            identity::wire_doc_id(d)?;
        }
        let settings_doc = self.settings_doc.clone();
        let t = self.conn.transaction()?;
        let held = delete_docs_tx(&t, doc_ids, None, &settings_doc)?;
        t.commit()?;
        for d in doc_ids {
            self.docs.remove(d);
        }
        Ok(held)
    }

    /// Applies one verified order in ONE transaction (see the module documentation). `key`
    /// is the order's team key for this device (`None` if this device joined after it: then
    /// only the deletions apply). Returns how many of its documents were held here.
    pub(crate) fn apply_order(&mut self, order: &ShredOrder, key: Option<TeamKey>, seq: Option<u64>) -> Result<u64> {
        let id = self.identity()?;
        let me = id.device_id();
        let team_id = id.team_id;
        let settings_doc = self.settings_doc.clone();
        let docs: Vec<String> = order.doc_ids.iter().map(|d| d.to_hex()).collect();
        let t = self.conn.transaction()?;
        if applied(&t, order)? {
            return Ok(0);
        }
        let held = delete_docs_tx(&t, &docs, Some(order.epoch), &settings_doc)?;
        let mut new_current: Option<TeamKey> = None;
        // An order older than one already applied here (two leads' orders, applied out of
        // turn): its documents go, but its team key must not come back.
        let stale = floor(&t)? >= order.epoch;
        if let Some(key) = key.filter(|_| !stale) {
            let epoch = order.epoch;
            let issuer = order.issued_by == me;
            t.execute(
                "INSERT INTO team_keys (epoch, key, added_at, issued) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (epoch) DO UPDATE SET issued = max(issued, excluded.issued)",
                params![epoch as i64, &key.expose_secret()[..], Utc::now().to_rfc3339(), issuer],
            )?;
            // Our own keys the hub has not got: wrapped under the new epoch instead (a wrap
            // under a destroyed epoch would be useless to everyone).
            let unpushed: Vec<(String, String, Vec<u8>)> = {
                let mut st = t.prepare("SELECT key_id, doc_id, key FROM doc_keys WHERE pushed = 0 AND epoch < ?1")?;
                let rows = st.query_map([epoch as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for (kid, doc, k) in unpushed {
                let k = Zeroizing::new(k);
                let dk = outreach_proto::keys::DocKey::from_bytes(
                    k.as_slice().try_into().map_err(|_| Error::Corrupt("bad document key".into()))?,
                );
                let kid_w: outreach_proto::ids::KeyId = kid.parse().map_err(|_| Error::Corrupt("bad key id".into()))?;
                let w = outreach_proto::wrap::wrap_doc_key(&key, team_id, identity::wire_doc_id(&doc)?, kid_w, &dk)
                    .map_err(|e| Error::Crypto(format!("wrap document key: {e}")))?;
                exec(
                    &t,
                    "UPDATE doc_keys SET epoch = ?2, wrapped = ?3 WHERE key_id = ?1",
                    params![kid, epoch as i64, serde_json::to_string(&w)?],
                )?;
            }
            // Re-wraps under older epochs are ciphertext under keys about to be destroyed.
            exec(&t, "DELETE FROM doc_key_wraps WHERE epoch < ?1", [epoch as i64])?;
            // Our own keys the hub got after the order (this sync pushed them between its
            // `shreds` step and the order's arrival): the issuer could not open them any more,
            // so we re-wrap them under the new epoch ourselves (nobody else does: no conflict).
            if let Some(s) = seq {
                let late: Vec<(String, String, Vec<u8>)> = {
                    let mut st = t.prepare(
                        "SELECT key_id, doc_id, key FROM doc_keys k WHERE pushed = 1 AND epoch < ?1 AND hub_seq > ?2
                         AND NOT EXISTS (SELECT 1 FROM doc_key_wraps w WHERE w.key_id = k.key_id AND w.epoch = ?1)",
                    )?;
                    let rows = st.query_map(params![epoch as i64, s as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                for (kid, doc, k) in late {
                    let k = Zeroizing::new(k);
                    let dk = outreach_proto::keys::DocKey::from_bytes(
                        k.as_slice().try_into().map_err(|_| Error::Corrupt("bad document key".into()))?,
                    );
                    let kid_w: outreach_proto::ids::KeyId = kid.parse().map_err(|_| Error::Corrupt("bad key id".into()))?;
                    let w = outreach_proto::wrap::wrap_doc_key(&key, team_id, identity::wire_doc_id(&doc)?, kid_w, &dk)
                        .map_err(|e| Error::Crypto(format!("wrap document key: {e}")))?;
                    exec(
                        &t,
                        "INSERT OR IGNORE INTO doc_key_wraps (key_id, epoch, wrapped, pushed) VALUES (?1, ?2, ?3, 0)",
                        params![kid, epoch as i64, serde_json::to_string(&w)?],
                    )?;
                }
            }
            if issuer {
                // Devices enrolled from now on hold only this key: give them every document
                // key that is left (the shredded ones are gone already).
                identity::rewrap_older_keys(&t, team_id, &key)?;
            }
            // Every earlier team key could unwrap an old copy of the shredded documents' keys.
            exec(&t, "DELETE FROM team_keys WHERE epoch < ?1", [epoch as i64])?;
            let current: i64 = t.query_row("SELECT epoch FROM sync_identity WHERE id = 1", [], |r| r.get(0))?;
            if epoch as i64 >= current {
                new_current = Some(key);
            }
            // The agreement key could open the old team-key wrappings in a copy of the hub:
            // a new one is made now and registered at the end of the sync.
            let pending = DeviceKeys::generate();
            t.execute(
                "UPDATE sync_identity SET epoch = max(epoch, ?1), shred_floor = max(shred_floor, ?1),
                 kx_pending = COALESCE(kx_pending, ?2) WHERE id = 1",
                params![epoch as i64, &pending.agreement_secret()[..]],
            )?;
        }
        t.execute(
            "INSERT INTO shred_orders (sig, epoch, reason, seq, issued_ms, issued_by, docs, applied_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                &order.sig[..],
                order.epoch as i64,
                reason_str(order.reason),
                seq.map(|s| s as i64),
                order.issued_ms,
                order.issued_by.to_hex(),
                docs.len() as i64,
                Utc::now().to_rfc3339()
            ],
        )?;
        t.commit()?;
        for d in &docs {
            self.docs.remove(d);
        }
        if let (Some(k), Some(id)) = (new_current, self.sync.as_mut()) {
            id.team_key = k;
        }
        // Freed pages are zeroed (secure_delete); move them out of the WAL too.
        let _ = self.checkpoint();
        Ok(held)
    }

    /// The first step of every sync: every shred order after the pull cursor, verified and
    /// applied in order. Returns how many were newly applied.
    pub(crate) fn apply_shreds(&mut self, transport: &dyn Transport, cancel: &CancelToken) -> Result<u64> {
        let mut since: u64 = self.sync_row("pull_cursor", |r| r.get::<_, i64>(0))? as u64;
        let mut n = 0;
        let mut refreshed = false;
        // The hub answers a bounded number of orders at a time: ask again after the last one
        // until nothing more comes.
        loop {
            cancel.check()?;
            let resp: ShredsResponse = signed(transport, self.identity()?, paths::SHREDS, &ShredsRequest { since })?;
            if resp.shreds.is_empty() {
                return Ok(n);
            }
            for notice in resp.shreds {
                if notice.seq <= since {
                    return Err(Error::Hub { code: "page_out_of_order".into(), status: 200, retryable: false });
                }
                since = notice.seq;
                if applied(&self.conn, &notice.order)? {
                    continue;
                }
                cancel.check()?;
                if !refreshed && !self.knows_lead(&notice)? {
                    self.refresh_devices(transport)?;
                    refreshed = true;
                }
                let key = self.verify_notice(&notice)?;
                if key.is_none() && self.holds_team_key_before(notice.order.epoch)? {
                    // This device was a member when the order was given (it holds an older
                    // team key, which must now be destroyed), yet the hub sent no new key.
                    return Err(Error::Hub { code: "shred_key_missing".into(), status: 200, retryable: true });
                }
                if notice.order.issued_by == self.identity()?.device_id() {
                    // Our own order whose answer we lost: as in `shred_now`.
                    self.pull_before(transport, notice.seq)?;
                }
                self.apply_order(&notice.order, key, Some(notice.seq))?;
                n += 1;
            }
        }
    }

    /// Pulls and applies the log up to (not including) sequence number `seq`.
    fn pull_before(&mut self, transport: &dyn Transport, seq: u64) -> Result<()> {
        let mut refreshed = false;
        loop {
            let cursor: u64 = self.sync_row("pull_cursor", |r| r.get::<_, i64>(0))? as u64;
            if cursor + 1 >= seq {
                return Ok(());
            }
            let page: PullResponse =
                signed(transport, self.identity()?, paths::PULL, &PullRequest { cursor, limit: super::PULL_PAGE_ITEMS })?;
            let mut last = cursor;
            for it in &page.items {
                if it.seq <= last {
                    return Err(Error::Hub { code: "page_out_of_order".into(), status: 200, retryable: false });
                }
                last = it.seq;
            }
            if page.next_cursor < last || (page.items.is_empty() && page.more) {
                return Err(Error::Hub { code: "bad_cursor".into(), status: 200, retryable: false });
            }
            let items: Vec<PullItem> = page.items.iter().filter(|i| i.seq < seq).cloned().collect();
            let next = if items.len() < page.items.len() { seq - 1 } else { page.next_cursor.min(seq - 1) };
            if next <= cursor {
                return Ok(());
            }
            if self.page_has_new_shred(&items)? {
                return Err(Error::State("an earlier shred order is not applied yet; sync first".into()));
            }
            let me = self.identity()?.device_id();
            let unknown = items.iter().any(|it| match &it.entry {
                PullEntry::Chunk { chunk, .. } => chunk.author != me && !self.knows_device(&chunk.author).unwrap_or(false),
                _ => false,
            });
            if unknown && !refreshed {
                self.refresh_devices(transport)?;
                refreshed = true;
            }
            self.apply_page(&items, next)?;
            if !page.more {
                return Ok(());
            }
        }
    }

    fn holds_team_key_before(&self, epoch: u64) -> Result<bool> {
        Ok(self.conn.query_row("SELECT count(*) FROM team_keys WHERE epoch < ?1", [epoch as i64], |r| r.get::<_, i64>(0))? > 0)
    }

    fn knows_lead(&self, notice: &ShredNotice) -> Result<bool> {
        Ok(lead_keys(&self.conn, &notice.order.issued_by, notice.received_ms)?.is_some()
            && notice.team_key.as_ref().map_or(Ok(true), |k| lead_keys(&self.conn, &k.wrapped_by, notice.received_ms).map(|x| x.is_some()))?)
    }

    /// Checks the order's signature by a lead in the directory and opens its team key.
    pub(crate) fn verify_notice(&self, notice: &ShredNotice) -> Result<Option<TeamKey>> {
        let id = self.identity()?;
        let order = &notice.order;
        let lead = lead_keys(&self.conn, &order.issued_by, notice.received_ms)?
            .ok_or_else(|| Error::Crypto("shred order not issued by a known lead".into()))?;
        order.verify(&id.team_id, &lead).map_err(|e| Error::Crypto(format!("shred order: {e}")))?;
        let Some(k) = &notice.team_key else { return Ok(None) };
        if k.device_id != id.device_id() || k.epoch != order.epoch {
            return Err(Error::Crypto("shred order's team key is not for this device and epoch".into()));
        }
        let wrapper = lead_keys(&self.conn, &k.wrapped_by, notice.received_ms)?
            .ok_or_else(|| Error::Crypto("team key not issued by a known lead".into()))?;
        Ok(Some(open_team_key(&self.conn, id, k, &wrapper)?))
    }

    /// Registers the pending agreement key with the hub, then makes it the agreement key; the
    /// old one is kept as *retiring* until [`Store::retire_old_kx`] after the next pull. Call
    /// it after a pull: a retiring key left by an earlier run is destroyed first. Returns
    /// whether a key was replaced.
    pub(crate) fn rekey(&mut self, transport: &dyn Transport) -> Result<bool> {
        self.retire_old_kx()?;
        let id = self.identity()?;
        let Some(pending) = pending_keys(&self.conn, &id.keys)? else { return Ok(false) };
        let kx_pub = pending.public().kx_pub;
        let resp: RekeyResponse = signed(transport, id, paths::REKEY, &RekeyRequest { kx_pub })?;
        if resp.kx_pub != kx_pub {
            return Err(Error::Hub { code: "rekey_mismatch".into(), status: 200, retryable: true });
        }
        let me = id.device_id().to_hex();
        let t = self.conn.transaction()?;
        t.execute("UPDATE sync_identity SET kx_retiring = kx_secret, kx_secret = kx_pending, kx_pending = NULL WHERE id = 1", [])?;
        t.execute("UPDATE sync_devices SET kx_pub = ?2 WHERE device_id = ?1", params![me, &kx_pub[..]])?;
        t.commit()?;
        self.sync = identity::load(&self.conn)?;
        Ok(true)
    }

    /// Destroys the replaced agreement secret (after the pull that followed its replacement).
    pub(crate) fn retire_old_kx(&mut self) -> Result<()> {
        if self.conn.execute("UPDATE sync_identity SET kx_retiring = NULL WHERE id = 1 AND kx_retiring IS NOT NULL", [])? > 0 {
            // Freed bytes are zeroed (secure_delete); move the old pages out of the WAL too.
            let _ = self.checkpoint();
        }
        Ok(())
    }

    /// Whether a pulled page names a shred order not applied here yet.
    pub(crate) fn page_has_new_shred(&self, items: &[PullItem]) -> Result<bool> {
        Ok(self.first_new_shred(items)?.is_some())
    }

    /// The index of the first item of a pulled page that is a shred order not applied here.
    pub(crate) fn first_new_shred(&self, items: &[PullItem]) -> Result<Option<usize>> {
        for (i, it) in items.iter().enumerate() {
            if let PullEntry::Shred { order } = &it.entry {
                if !applied(&self.conn, order)? {
                    return Ok(Some(i));
                }
            }
        }
        Ok(None)
    }

    /// Shred orders applied on this device, newest first: (epoch, reason, documents, when).
    pub fn shred_history(&self) -> Result<Vec<(u64, String, u64, String)>> {
        let mut st = self.conn.prepare("SELECT epoch, reason, docs, applied_at FROM shred_orders ORDER BY epoch DESC")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get::<_, i64>(2)? as u64, r.get(3)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// The public keys of `device` if it is a lead in the directory and was not revoked before
/// `at_ms` (hub clock).
fn lead_keys(conn: &Connection, device: &outreach_proto::ids::DeviceId, at_ms: i64) -> Result<Option<outreach_proto::keys::DevicePublicKeys>> {
    type Row = (Vec<u8>, Vec<u8>, String, Option<i64>);
    let row: Option<Row> = conn
        .query_row(
            "SELECT sign_pub, kx_pub, role, revoked_ms FROM sync_devices WHERE device_id = ?1",
            [device.to_hex()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((sp, kp, role, revoked)) = row else { return Ok(None) };
    if identity::parse_role(&role)? != Role::Lead || revoked.is_some_and(|r| at_ms > r) {
        return Ok(None);
    }
    let keys = outreach_proto::keys::DevicePublicKeys {
        sign_pub: sp.try_into().map_err(|_| Error::Corrupt("device key".into()))?,
        kx_pub: kp.try_into().map_err(|_| Error::Corrupt("device key".into()))?,
    };
    if keys.device_id() != *device {
        return Err(Error::Corrupt("device directory entry does not match its keys".into()));
    }
    Ok(Some(keys))
}
