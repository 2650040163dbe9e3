//! The sync client: push the sealed outbox to the hub, pull what other devices wrote.
//!
//! The hub is a relay that never reads records (DESIGN.md "Sync is end-to-end encrypted").
//! Every local change is sealed and queued by [`Store::change`](crate::Store) in the same SQLite
//! transaction as the change itself (see [`identity::queue_sealed`]). [`Store::sync`] then:
//!
//! 1. **push**: sends the outbox oldest first in batches, with any data keys not yet uploaded;
//!    outbox rows are deleted only after the hub acknowledged their hashes, in one transaction.
//!    The hub de-duplicates by content hash, so a re-push after a lost response is harmless.
//! 2. **pull**: pages through the team log after the stored cursor. Each page is applied in ONE
//!    SQLite transaction: verify each chunk's signature against its author's public key (from
//!    the device directory), unwrap keys, decrypt, load into the document, store the chunk,
//!    re-project the documents touched and store the new cursor. If anything fails, nothing of
//!    the page is kept and the cursor does not move.
//!
//! The cancel token is checked between requests and pages; cancelling returns
//! [`Error::Cancelled`] with everything consistent (acknowledged pushes deleted, whole pages
//! applied, nothing half-done).

pub(crate) mod apply;
pub(crate) mod identity;
pub(crate) mod shred;
mod transport;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod shred_tests;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use outreach_proto::auth::SignedRequest;
use outreach_proto::encoding::decode_json;
use outreach_proto::ids::{ChunkHash, DeviceId, KeyId, TeamId};
use outreach_proto::invite::{InviteCode, InvitePackage};
use outreach_proto::messages::{
    paths, CreateInviteRequest, CreateInviteResponse, CreateTeamRequest, CreateTeamResponse, DeviceInfo,
    DeviceRegistration, DevicesRequest, DevicesResponse, EnrolRequest, EnrolResponse, ErrorBody, PullRequest,
    PullResponse, PushRequest, PushResponse,
};
use outreach_proto::seal::SealedChunk;
use outreach_proto::wrap::{wrap_team_key, WrappedDocKey};
use outreach_proto::PROTOCOL_VERSION;
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

pub use outreach_proto::messages::Role;
pub use shred::{ShredOutcome, ShredReason};
pub use transport::{HttpTransport, Transport, TransportError};

use crate::error::{Error, Result};
use crate::store::Store;

/// Most chunks sent in one push request.
pub const PUSH_BATCH_ITEMS: usize = 200;
/// Most sealed bytes sent in one push request (the JSON envelope roughly doubles it; the hub
/// accepts 4 MiB bodies).
pub const PUSH_BATCH_BYTES: usize = 1024 * 1024;
/// Items asked for per pull page.
pub const PULL_PAGE_ITEMS: u32 = 500;

/// A shared flag that stops a running sync between requests and pages.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks the work holding this token to stop at its next safe point.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Which half of a sync is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// Uploading the outbox.
    Push,
    /// Downloading and applying pages.
    Pull,
}

/// Progress of a sync, reported after each request or page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncProgress {
    /// Push or pull.
    pub phase: SyncPhase,
    /// Chunks done in this phase.
    pub chunks_done: u64,
    /// Chunks to do in this phase, when known (the push knows its outbox; a pull does not
    /// know how much the hub holds until the last page).
    pub chunks_total: Option<u64>,
    /// Bytes (sealed) done in this phase.
    pub bytes_done: u64,
    /// Bytes to do, when known.
    pub bytes_total: Option<u64>,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Chunks the hub acknowledged (stored or already held).
    pub pushed_chunks: u64,
    /// Sealed bytes pushed.
    pub pushed_bytes: u64,
    /// Data keys uploaded.
    pub pushed_keys: u64,
    /// Chunks from other devices applied.
    pub pulled_chunks: u64,
    /// Sealed bytes of those chunks.
    pub pulled_bytes: u64,
    /// Own chunks seen in the log and skipped.
    pub skipped_own: u64,
    /// Chunks set aside, sealed, until their data key arrives.
    pub waiting: u64,
    /// Pages applied.
    pub pages: u64,
    /// Documents re-projected.
    pub docs_updated: u64,
    /// The pull cursor after the sync.
    pub cursor: u64,
    /// Shred orders applied (before anything else) in this sync.
    pub shreds_applied: u64,
    /// Whether this device's agreement key was replaced (after a shred order).
    pub rekeyed: bool,
}

/// Where sync stands, for the app's status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// When a sync last completed.
    pub last_success: Option<DateTime<Utc>>,
    /// When a sync was last attempted.
    pub last_attempt: Option<DateTime<Utc>>,
    /// Error code of the last attempt, if it failed (`network`, `hub:revoked`, `crypto`,
    /// `cancelled`, ...). Never personal data.
    pub last_error: Option<String>,
    /// Changes waiting to be pushed.
    pub outbox: u64,
    /// Pulled chunks held sealed until their data key arrives (normally 0).
    pub waiting_for_keys: u64,
    /// Hub URL, once known.
    pub hub_url: Option<String>,
    /// Whether the hub knows this device (team registered or device enrolled).
    pub registered: bool,
    /// This device's id on the hub (hex of its public-key hash).
    pub device_id: String,
    /// The team id (hex).
    pub team_id: String,
    /// Current team key epoch.
    pub epoch: u64,
    /// Pull cursor.
    pub cursor: u64,
}

/// A short, data-free code for an error (stored as the last sync error).
pub fn error_code(e: &Error) -> String {
    match e {
        Error::Network(_) => "network".into(),
        Error::Hub { code, .. } => format!("hub:{code}"),
        Error::Crypto(_) => "crypto".into(),
        Error::Cancelled => "cancelled".into(),
        Error::Db(_) => "db".into(),
        Error::Corrupt(_) => "corrupt".into(),
        Error::Document(_) => "document".into(),
        Error::State(_) => "state".into(),
        Error::Io(_) => "io".into(),
        _ => "other".into(),
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn hub_error(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => {
            let code = serde_json::to_value(b.error.code).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            // A revoked device may be handed a lead's wipe order (checked and obeyed by
            // `Store::sync`, see crate::wipe).
            if code == "revoked" {
                if let Some(order) = b.error.wipe {
                    return Error::WipeOrdered(Box::new(order));
                }
            }
            Error::Hub { code, status, retryable: b.error.code.is_retryable() }
        }
        Err(_) => Error::Hub { code: "unknown".into(), status, retryable: status >= 500 || status == 429 },
    }
}

/// Posts a raw body and decodes a 200 answer.
fn call<R: DeserializeOwned>(transport: &dyn Transport, path: &str, body: &[u8]) -> Result<R> {
    let (status, resp) = transport.post(path, body).map_err(|e| Error::Network(e.0))?;
    if status != 200 {
        return Err(hub_error(status, &resp));
    }
    decode_json(&resp).map_err(|_| Error::Hub { code: "malformed_response".into(), status, retryable: true })
}

fn signed<T: Serialize, R: DeserializeOwned>(transport: &dyn Transport, id: &identity::Identity, path: &str, payload: &T) -> Result<R> {
    let req = SignedRequest::sign(&id.keys, id.team_id, path, now_ms(), payload);
    call(transport, path, &req.to_json())
}

fn parse_ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc))
}

/// Stores (replaces) the device directory.
fn save_devices(conn: &Connection, devices: &[DeviceInfo]) -> Result<()> {
    for d in devices {
        conn.execute(
            "INSERT OR REPLACE INTO sync_devices (device_id, sign_pub, kx_pub, name, role, enrolled_ms, revoked_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                d.device_id.to_hex(),
                &d.keys.sign_pub[..],
                &d.keys.kx_pub[..],
                d.name,
                identity::role_str(d.role),
                d.enrolled_ms,
                d.revoked_ms
            ],
        )?;
    }
    Ok(())
}

impl Store {
    fn identity(&self) -> Result<&identity::Identity> {
        self.sync.as_ref().ok_or_else(|| Error::State("this store has no sync identity".into()))
    }

    fn sync_row<T>(&self, col: &str, f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>) -> Result<T> {
        Ok(self.conn.query_row(&format!("SELECT {col} FROM sync_identity WHERE id = 1"), [], f)?)
    }

    /// The hub URL this store syncs with, once known.
    pub fn hub_url(&self) -> Result<Option<String>> {
        self.sync_row("hub_url", |r| r.get(0))
    }

    /// This device's role in its team.
    pub fn sync_role(&self) -> Result<Role> {
        Ok(self.identity()?.role)
    }

    /// Registers this store's team with a hub, as its first lead device. `setup_code` is the
    /// hub operator's one-time code; `device_name` is a label the hub sees ("TEST van 1 lead
    /// phone"), never a person's name.
    pub fn register_team(&mut self, transport: &dyn Transport, hub_url: &str, setup_code: &str, device_name: &str) -> Result<()> {
        let id = self.identity()?;
        if id.role != Role::Lead {
            return Err(Error::State("only a lead device can register a team".into()));
        }
        let req = CreateTeamRequest {
            v: PROTOCOL_VERSION,
            setup_code: setup_code.to_string(),
            team_id: id.team_id,
            lead: DeviceRegistration::new(&id.keys, id.team_id, device_name),
            team_key: wrap_team_key(&id.team_key, id.team_id, &id.keys.public(), &id.keys)
                .map_err(|e| Error::Crypto(format!("wrap team key: {e}")))?,
        };
        match call::<CreateTeamResponse>(transport, paths::CREATE_TEAM, &serde_json::to_vec(&req)?) {
            Ok(_) => {}
            // The answer to an earlier attempt was lost: if the hub accepts a request signed by
            // this device for this team, the team is ours.
            Err(Error::Hub { code, .. }) if code == "team_exists" => {
                let _: DevicesResponse = signed(transport, id, paths::DEVICES, &DevicesRequest {})?;
            }
            Err(e) => return Err(e),
        }
        let dev = DeviceInfo {
            device_id: id.keys.device_id(),
            name: device_name.to_string(),
            role: Role::Lead,
            keys: id.keys.public(),
            enrolled_ms: now_ms(),
            revoked_ms: None,
        };
        let t = self.conn.transaction()?;
        t.execute("UPDATE sync_identity SET hub_url = ?1, registered = 1 WHERE id = 1", [hub_url])?;
        save_devices(&t, &[dev])?;
        t.commit()?;
        Ok(())
    }

    /// Creates a one-time invite (valid for `valid_ms`, at most 7 days) for a new device and
    /// returns the `outreach1:` code to show as a QR code. Lead devices only. The code holds
    /// the team key: show it in person, never send it.
    pub fn create_invite(&mut self, transport: &dyn Transport, role: Role, valid_ms: i64) -> Result<Zeroizing<String>> {
        let hub = self.hub_url()?.ok_or_else(|| Error::State("register the team with a hub first".into()))?;
        let id = self.identity()?;
        let code = InviteCode::new(&hub, id.team_id).map_err(|_| Error::invalid("hub_url", "not usable in an invite"))?;
        let package = InvitePackage { team_id: id.team_id, team_key: id.team_key.clone(), role, inviter_keys: id.keys.public() };
        let req = CreateInviteRequest {
            token_hash: code.token_hash(),
            expires_ms: now_ms() + valid_ms,
            role,
            package: code.seal_package(&package).map_err(|e| Error::Crypto(format!("seal invite: {e}")))?,
        };
        let _: CreateInviteResponse = signed(transport, id, paths::CREATE_INVITE, &req)?;
        Ok(code.encode())
    }

    /// Creates a store in `dir` for a device joining a team with an invite code: enrols with
    /// the hub (which learns only this device's public keys and `device_name`), opens the
    /// invite package (team key) and keeps it all in the new encrypted store. Run
    /// [`Store::sync`] next: the team settings (zones) arrive with the first pull, and a shift
    /// cannot start before they have.
    pub fn create_from_invite(
        dir: &std::path::Path,
        unlock: crate::Unlock<'_>,
        invite: &str,
        device_name: &str,
        transport: &dyn Transport,
        opts: &crate::StoreOptions,
    ) -> Result<Store> {
        if crate::store::exists(dir) {
            return Err(Error::AlreadyExists(dir.to_path_buf()));
        }
        let code = InviteCode::decode(invite).map_err(|_| Error::invalid("invite", "not a valid invite code"))?;
        let keys = outreach_proto::keys::DeviceKeys::generate();
        let req = EnrolRequest {
            v: PROTOCOL_VERSION,
            team_id: code.team_id(),
            token: *code.token(),
            device: DeviceRegistration::new(&keys, code.team_id(), device_name),
        };
        let resp: EnrolResponse = call(transport, paths::ENROL, &serde_json::to_vec(&req)?)?;
        if resp.device_id != keys.device_id() || resp.team_id != code.team_id() {
            return Err(Error::Crypto("enrolment answer does not match this device".into()));
        }
        let package = code.open_package(&resp.package).map_err(|e| Error::Crypto(format!("invite package: {e}")))?;
        if !resp.devices.iter().any(|d| d.keys == package.inviter_keys && d.role == Role::Lead) {
            return Err(Error::Crypto("the inviting lead is not in the team's device list".into()));
        }
        let mut store = Store::create_empty(dir, unlock, opts, keys.device_id().to_hex())?;
        let t = store.conn.transaction()?;
        t.execute("INSERT INTO meta (key, value) VALUES ('device_id', ?1)", [keys.device_id().to_hex()])?;
        t.execute("INSERT INTO meta (key, value) VALUES ('settings_doc', '')", [])?;
        identity::insert(&t, &keys, code.team_id(), &package.team_key, resp.role, Some(code.hub_url()), true)?;
        save_devices(&t, &resp.devices)?;
        t.commit()?;
        store.sync = identity::load(&store.conn)?;
        // Only now does the store appear at `dir`: a failed or killed enrolment leaves nothing.
        store.finish_create()
    }

    /// Makes a store without a sync identity (written before the sync client) the lead of a
    /// new team of its own, and seals whatever its old outbox held. Called on open.
    pub(crate) fn ensure_sync_identity(&mut self) -> Result<()> {
        if self.sync.is_none() {
            self.sync = identity::load(&self.conn)?;
        }
        if self.sync.is_none() {
            let keys = outreach_proto::keys::DeviceKeys::generate();
            self.init_sync_lead(keys)?;
        }
        if let Some(id) = &self.sync {
            identity::seal_unsealed_outbox(&mut self.conn, id)?;
        }
        Ok(())
    }

    /// Gives a new store its identity as the first (lead) device of a new team: device keys,
    /// team id, team key epoch 0.
    pub(crate) fn init_sync_lead(&mut self, keys: outreach_proto::keys::DeviceKeys) -> Result<()> {
        let team_key = outreach_proto::keys::TeamKey::generate(0);
        identity::insert(&self.conn, &keys, TeamId::random(), &team_key, Role::Lead, None, false)?;
        self.sync = identity::load(&self.conn)?;
        Ok(())
    }

    /// Where sync stands: last success, items waiting in the outbox, last error.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        let (last_attempt, last_success, last_error, hub_url, registered, cursor, epoch, device, team): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            bool,
            i64,
            i64,
            String,
            String,
        ) = self.sync_row(
            "last_attempt, last_success, last_error, hub_url, registered, pull_cursor, epoch, device_id, team_id",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?)),
        )?;
        Ok(SyncStatus {
            last_success: parse_ts(last_success),
            last_attempt: parse_ts(last_attempt),
            last_error,
            outbox: self.outbox_len()?,
            waiting_for_keys: self.conn.query_row("SELECT count(*) FROM sync_waiting", [], |r| r.get::<_, i64>(0))? as u64,
            hub_url,
            registered,
            device_id: device,
            team_id: team,
            epoch: epoch as u64,
            cursor: cursor as u64,
        })
    }

    /// Revokes a device (lead only) and rotates the team key: a new epoch's key is wrapped for
    /// every remaining device, so the revoked one can read nothing written afterwards. Returns
    /// the new epoch. If the answer is lost, the next pull delivers the new key to this device
    /// too (the hub keeps it wrapped for every remaining device).
    pub fn revoke_device(&mut self, transport: &dyn Transport, device_id: &str) -> Result<u64> {
        self.revoke_device_with_wipe(transport, device_id, false)
    }

    /// [`Store::revoke_device`], and with `wipe` a signed order that the revoked device wipe
    /// its store: the hub hands it over at the device's next contact (see [`crate::wipe`]).
    pub fn revoke_device_with_wipe(&mut self, transport: &dyn Transport, device_id: &str, wipe: bool) -> Result<u64> {
        let target = DeviceId::from_str(device_id).map_err(|_| Error::invalid("device_id", "not a device id"))?;
        let id = self.identity()?;
        if id.role != Role::Lead {
            return Err(Error::State("only a lead device can revoke devices".into()));
        }
        if target == id.device_id() {
            return Err(Error::invalid("device_id", "a device cannot revoke itself"));
        }
        let dir: DevicesResponse = signed(transport, id, paths::DEVICES, &DevicesRequest {})?;
        let epoch = dir.epoch + 1;
        let key = outreach_proto::keys::TeamKey::generate(epoch);
        let mut wrapped = vec![];
        for d in dir.devices.iter().filter(|d| d.revoked_ms.is_none() && d.device_id != target) {
            wrapped.push(wrap_team_key(&key, id.team_id, &d.keys, &id.keys).map_err(|e| Error::Crypto(format!("wrap team key: {e}")))?);
        }
        let wipe = wipe.then(|| outreach_proto::orders::WipeOrder::new(&id.keys, id.team_id, target, now_ms()));
        let req = outreach_proto::messages::RevokeRequest { device_id: target, epoch, team_keys: wrapped, recipient_kx: vec![], wipe };
        let _: outreach_proto::messages::RevokeResponse = signed(transport, id, paths::REVOKE, &req)?;
        let team_id = id.team_id;
        let t = self.conn.transaction()?;
        // The revocation time is the hub's; it arrives with the next pull (never this
        // device's clock, which would misjudge the revoked device's last chunks).
        save_devices(&t, &dir.devices)?;
        t.execute(
            "INSERT OR IGNORE INTO team_keys (epoch, key, added_at, issued) VALUES (?1, ?2, ?3, 1)",
            params![epoch as i64, &key.expose_secret()[..], Utc::now().to_rfc3339()],
        )?;
        t.execute("UPDATE sync_identity SET epoch = max(epoch, ?1) WHERE id = 1", [epoch as i64])?;
        // Devices enrolled from now on hold only this key: give them every older document key.
        identity::rewrap_older_keys(&t, team_id, &key)?;
        t.commit()?;
        if let Some(id) = self.sync.as_mut() {
            if id.team_key.epoch() < epoch {
                id.team_key = key;
            }
        }
        Ok(epoch)
    }

    /// Fetches the team's device directory from the hub and stores it.
    pub fn refresh_devices(&mut self, transport: &dyn Transport) -> Result<()> {
        let resp: DevicesResponse = signed(transport, self.identity()?, paths::DEVICES, &DevicesRequest {})?;
        let t = self.conn.transaction()?;
        save_devices(&t, &resp.devices)?;
        t.commit()?;
        Ok(())
    }

    /// [`Store::sync`] over HTTPS to the hub URL stored at registration or enrolment.
    pub fn sync_with_hub(&mut self, progress: &dyn Fn(SyncProgress), cancel: &CancelToken) -> Result<SyncReport> {
        let url = self.hub_url()?.ok_or_else(|| Error::State("this device is not registered with a hub yet".into()))?;
        let transport = HttpTransport::new(&url)?;
        self.sync(&transport, progress, cancel)
    }

    /// Pushes the outbox, then pulls and applies everything after the cursor. See the module
    /// documentation for what is atomic. Safe to call again after any failure or cancel.
    ///
    /// `progress` is called on this thread between requests and pages; it must not call back
    /// into this store (the caller holds it). Cancel from another thread through `cancel`.
    pub fn sync(&mut self, transport: &dyn Transport, progress: &dyn Fn(SyncProgress), cancel: &CancelToken) -> Result<SyncReport> {
        let started = Utc::now().to_rfc3339();
        let result = self.sync_inner(transport, progress, cancel);
        // Member devices keep only the retention policy's rolling window (crate::retention).
        let result = result.and_then(|r| self.apply_device_window(Utc::now()).map(|_| r));
        // Best effort: a failure to record the outcome must not hide the outcome.
        let _ = match &result {
            Ok(_) => self.conn.execute(
                "UPDATE sync_identity SET last_attempt = ?1, last_success = ?2, last_error = NULL WHERE id = 1",
                params![started, Utc::now().to_rfc3339()],
            ),
            Err(e) => self.conn.execute(
                "UPDATE sync_identity SET last_attempt = ?1, last_error = ?2 WHERE id = 1",
                params![started, error_code(e)],
            ),
        };
        if let Err(Error::WipeOrdered(order)) = &result {
            return Err(self.obey_wipe_order(order));
        }
        result
    }

    fn sync_inner(&mut self, transport: &dyn Transport, progress: &dyn Fn(SyncProgress), cancel: &CancelToken) -> Result<SyncReport> {
        let registered: bool = self.sync_row("registered", |r| r.get(0))?;
        if !registered {
            return Err(Error::State("this device is not registered with a hub yet".into()));
        }
        // Erasures first: a device back after weeks deletes the shredded documents (and its
        // queued changes to them) before it pushes anything.
        let mut report = SyncReport { shreds_applied: self.apply_shreds(transport, cancel)?, ..Default::default() };
        // This device's audit entries since the last sync, into its audit document (one change).
        self.append_audit_doc()?;
        self.push(transport, progress, cancel, &mut report)?;
        self.pull(transport, progress, cancel, &mut report)?;
        // After a shred order, and only once every team key up to the log's head is in: a new
        // agreement key, so that the old one (which opens old team-key wrappings) is destroyed.
        cancel.check()?;
        report.rekeyed = self.rekey(transport)?;
        if report.rekeyed {
            // A team key wrapped for the old agreement key just before the hub took the new
            // one is still in reach; then the old key is destroyed.
            self.pull(transport, progress, cancel, &mut report)?;
            self.retire_old_kx()?;
        }
        Ok(report)
    }

    pub(crate) fn push(&mut self, transport: &dyn Transport, progress: &dyn Fn(SyncProgress), cancel: &CancelToken, report: &mut SyncReport) -> Result<()> {
        let (total, total_bytes): (i64, i64) =
            self.conn.query_row("SELECT count(*), COALESCE(sum(length(data)), 0) FROM outbox", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut last_seq = 0i64;
        loop {
            cancel.check()?;
            // Oldest first, bounded by count and bytes (always at least one).
            let mut chunks: Vec<(i64, Vec<u8>, SealedChunk)> = vec![];
            let mut bytes = 0usize;
            {
                let mut st = self.conn.prepare_cached("SELECT seq, hash, data FROM outbox WHERE seq > ?1
                     AND doc_id NOT IN (SELECT doc_id FROM shredded_docs) ORDER BY seq LIMIT ?2")?;
                let mut rows = st.query(params![last_seq, PUSH_BATCH_ITEMS as i64])?;
                while let Some(r) = rows.next()? {
                    let data: Vec<u8> = r.get(2)?;
                    if !chunks.is_empty() && bytes + data.len() > PUSH_BATCH_BYTES {
                        break;
                    }
                    bytes += data.len();
                    let sealed = SealedChunk::from_bytes(&data).map_err(|_| Error::Corrupt("sealed outbox chunk".into()))?;
                    chunks.push((r.get(0)?, r.get(1)?, sealed));
                }
            }
            let keys: Vec<WrappedDocKey> = {
                // New keys, then re-wraps under a newer epoch (after a revocation).
                let mut st = self.conn.prepare_cached(
                    "SELECT wrapped FROM (SELECT wrapped, 0 AS o, rowid AS r FROM doc_keys WHERE pushed = 0
                     UNION ALL SELECT wrapped, 1, 0 FROM doc_key_wraps WHERE pushed = 0) ORDER BY o, r LIMIT ?1",
                )?;
                let rows = st.query_map([PUSH_BATCH_ITEMS as i64], |r| r.get::<_, String>(0))?;
                let mut out = vec![];
                for r in rows {
                    out.push(serde_json::from_str(&r?)?);
                }
                out
            };
            if chunks.is_empty() && keys.is_empty() {
                return Ok(());
            }
            let req = PushRequest { chunks: chunks.iter().map(|c| c.2.clone()).collect(), doc_keys: keys };
            let resp: PushResponse = signed(transport, self.identity()?, paths::PUSH, &req)?;
            // Only what the hub acknowledged leaves the outbox, in one transaction.
            let acked: HashSet<ChunkHash> = resp.chunks.iter().map(|c| c.hash).collect();
            let acked_keys: std::collections::HashMap<(KeyId, u64), u64> =
                resp.doc_keys.iter().map(|k| ((k.key_id, k.epoch), k.seq)).collect();
            let t = self.conn.transaction()?;
            let mut n = 0u64;
            for (seq, hash, _) in &chunks {
                let h = ChunkHash::from_slice(hash).map_err(|_| Error::Corrupt("outbox hash".into()))?;
                if acked.contains(&h) {
                    t.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
                    n += 1;
                }
                last_seq = last_seq.max(*seq);
            }
            for k in &req.doc_keys {
                if let Some(hub_seq) = acked_keys.get(&(k.key_id, k.epoch)) {
                    // Where the hub put it: after a shred order, a key of ours the hub got
                    // after the order (wrapped under a destroyed epoch) is re-wrapped by us.
                    t.execute(
                        "UPDATE doc_keys SET pushed = 1, hub_seq = ?3 WHERE key_id = ?1 AND epoch = ?2",
                        params![k.key_id.to_hex(), k.epoch as i64, *hub_seq as i64],
                    )?;
                    t.execute("UPDATE doc_key_wraps SET pushed = 1 WHERE key_id = ?1 AND epoch = ?2", params![k.key_id.to_hex(), k.epoch as i64])?;
                    report.pushed_keys += 1;
                }
            }
            t.commit()?;
            let keys_missing = req.doc_keys.iter().any(|k| !acked_keys.contains_key(&(k.key_id, k.epoch)));
            if (n as usize) < chunks.len() || keys_missing {
                // Kept in the outbox; the next sync sends them again.
                return Err(Error::Hub { code: "incomplete_ack".into(), status: 200, retryable: true });
            }
            report.pushed_chunks += n;
            report.pushed_bytes += bytes as u64;
            progress(SyncProgress {
                phase: SyncPhase::Push,
                chunks_done: report.pushed_chunks,
                chunks_total: Some(total as u64),
                bytes_done: report.pushed_bytes,
                bytes_total: Some(total_bytes as u64),
            });
        }
    }

    pub(crate) fn pull(&mut self, transport: &dyn Transport, progress: &dyn Fn(SyncProgress), cancel: &CancelToken, report: &mut SyncReport) -> Result<()> {
        let mut cursor: u64 = self.sync_row("pull_cursor", |r| r.get::<_, i64>(0))? as u64;
        let mut refreshed = false;
        let mut shred_retry = false;
        loop {
            cancel.check()?;
            let page: PullResponse =
                signed(transport, self.identity()?, paths::PULL, &PullRequest { cursor, limit: PULL_PAGE_ITEMS })?;
            // The log only moves forward: items after the cursor, in order, and a next cursor
            // that covers them. Anything else is not applied.
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
            // Authors not in the directory yet (enrolled since we last looked): refresh once.
            let me = self.identity()?.device_id();
            let unknown = page.items.iter().any(|it| match &it.entry {
                outreach_proto::messages::PullEntry::Chunk { chunk, .. } => {
                    chunk.author != me && !self.knows_device(&chunk.author).unwrap_or(false)
                }
                _ => false,
            });
            if unknown && !refreshed {
                cancel.check()?;
                self.refresh_devices(transport)?;
                refreshed = true;
            }
            // A shred order issued since this sync's first step: what comes before it is
            // applied with the keys it was written under; then the order (with its team key,
            // from `shreds`); then the log is read on from there.
            let (items, next, more) = match self.first_new_shred(&page.items)? {
                Some(0) => {
                    if shred_retry {
                        return Err(Error::Hub { code: "shred_not_listed".into(), status: 200, retryable: true });
                    }
                    shred_retry = true;
                    self.apply_shreds(transport, cancel)?;
                    cursor = self.sync_row("pull_cursor", |r| r.get::<_, i64>(0))? as u64;
                    continue;
                }
                Some(i) => (&page.items[..i], page.items[i].seq - 1, true),
                None => (&page.items[..], page.next_cursor, page.more),
            };
            shred_retry = false;
            let outcome = self.apply_page(items, next)?;
            cursor = next;
            report.pages += 1;
            report.pulled_chunks += outcome.chunks;
            report.pulled_bytes += outcome.bytes;
            report.skipped_own += outcome.own;
            report.docs_updated += outcome.docs;
            report.waiting += outcome.waiting;
            report.cursor = cursor;
            progress(SyncProgress {
                phase: SyncPhase::Pull,
                chunks_done: report.pulled_chunks + report.skipped_own,
                chunks_total: if more { None } else { Some(report.pulled_chunks + report.skipped_own) },
                bytes_done: report.pulled_bytes,
                bytes_total: if more { None } else { Some(report.pulled_bytes) },
            });
            if !more {
                return Ok(());
            }
        }
    }

    fn knows_device(&self, id: &DeviceId) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM sync_devices WHERE device_id = ?1")?
            .query_row([id.to_hex()], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// Parses a stored device id.
pub(crate) fn device_id(s: &str) -> Result<DeviceId> {
    DeviceId::from_str(s).map_err(|_| Error::Corrupt("bad device id".into()))
}
