//! The audit log: append-only, hash-chained per device, signed by the device that wrote it,
//! synced end-to-end encrypted, and verifiable.
//!
//! # Entries
//!
//! Every audit event a device writes (inside [`Store::change`](crate::Store), in the same SQLite
//! transaction as the change, or on its own for views and exports) is one row of the `audit`
//! table carrying:
//!
//! - `dseq`: the device's own sequence number, 1, 2, 3, ... with no gaps;
//! - `prev_hash`: the `hash` of the device's previous entry (32 zero bytes for the first);
//! - `hash`: SHA-256 over the entry's canonical bytes ([`entry_hash`]): a domain label, the
//!   device id, `dseq`, `prev_hash`, time, staff handle, action, entity and entity id;
//! - `sig`: the device's Ed25519 signature (its sync identity key) over a second domain label
//!   and `hash`.
//!
//! Entries hold pseudonymous ids and fixed action names only ([`check_fields`] refuses
//! anything with spaces or punctuation beyond `._:-`), never names or free text.
//!
//! # Sync
//!
//! Each device keeps one automerge document of kind [`DocKind::Audit`] whose id is derived from
//! its device id ([`doc_id_for`]). At the start of every sync, [`Store::append_audit_doc`]
//! copies the entries written since the last sync into it in ONE change (so logging an
//! encounter writes one document, not two), and the change is sealed and pushed like any other.
//! Leads project every other device's audit document into the same `audit` table (the `device`
//! column tells them apart); members hold the documents (sealed at rest like everything else)
//! but project only nothing: their own entries are already in their table.
//!
//! # Verification
//!
//! [`Store::verify_audit`] walks each device's chain in the order the rows were stored and
//! reports, per device, how many entries verified and the first problem: an entry edited
//! (its hash no longer matches its fields, or it differs from the synced copy), missing (a gap
//! in the sequence, or an entry the synced copy holds and the table lost), reordered, signed
//! by the wrong key, written by a device not in the directory, a history rewritten after it was
//! synced ("forked"), or a row without a chain written after the chain started.
//!
//! Rows written before schema v5 have no chain ("pre-chain"): they are shown, counted, and not
//! verifiable; any such row stored after the device's first chained entry is itself a problem.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::{Automerge, ReadDoc, ScalarValue, Value, ROOT};
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use outreach_proto::ids::DeviceId;
use outreach_proto::keys::DevicePublicKeys;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use crate::api::AuditEvent;
use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::store::{exec, load_doc_from, Store};
use crate::sync::identity::Identity;

/// Domain label that starts the canonical bytes of every entry.
pub const ENTRY_DOMAIN: &[u8] = b"outreach-audit-entry-v1\0";
/// Domain label signed together with an entry's hash.
pub const SIG_DOMAIN: &[u8] = b"outreach-audit-sig-v1\0";
/// Domain label of the per-device audit document id.
const DOC_DOMAIN: &[u8] = b"outreach-audit-doc-v1\0";
/// `prev_hash` of a device's first entry.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// Longest action, entity or entity id accepted.
const MAX_FIELD: usize = 128;

fn put_field(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The canonical bytes of an entry (what its hash covers). Every field is length-prefixed, so
/// no two different entries share bytes.
#[allow(clippy::too_many_arguments)]
pub fn canonical_bytes(
    device: &str,
    seq: u64,
    prev_hash: &[u8; 32],
    at: &str,
    actor: &str,
    action: &str,
    entity: &str,
    entity_id: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        ENTRY_DOMAIN.len()
            + 64
            + 32
            + device.len()
            + at.len()
            + actor.len()
            + action.len()
            + entity.len()
            + 48,
    );
    out.extend_from_slice(ENTRY_DOMAIN);
    put_field(&mut out, device);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(prev_hash);
    put_field(&mut out, at);
    put_field(&mut out, actor);
    put_field(&mut out, action);
    put_field(&mut out, entity);
    match entity_id {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            put_field(&mut out, id);
        }
    }
    out
}

/// SHA-256 of [`canonical_bytes`].
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    device: &str,
    seq: u64,
    prev_hash: &[u8; 32],
    at: &str,
    actor: &str,
    action: &str,
    entity: &str,
    entity_id: Option<&str>,
) -> [u8; 32] {
    Sha256::digest(canonical_bytes(
        device, seq, prev_hash, at, actor, action, entity, entity_id,
    ))
    .into()
}

fn sig_message(hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIG_DOMAIN.len() + 32);
    m.extend_from_slice(SIG_DOMAIN);
    m.extend_from_slice(hash);
    m
}

/// The id of `device`'s audit document (32 hex digits, derived from the device id so every
/// device finds it without asking).
pub fn doc_id_for(device: &str) -> String {
    let mut h = Sha256::new();
    h.update(DOC_DOMAIN);
    h.update(device.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Refuses audit fields that could carry a name or free text: actions and entities are
/// lower-case words joined by `.`, `_` or `-`; ids are pseudonymous tokens (letters, digits and
/// `._:-`, no spaces), such as record ids or a night range `2026-01-01..2026-01-31`.
pub fn check_fields(action: &str, entity: &str, entity_id: Option<&str>) -> Result<()> {
    let word =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    if action.is_empty() || action.len() > MAX_FIELD || !action.chars().all(word) {
        return Err(Error::invalid(
            "audit.action",
            "must be lower-case words joined by '.', '_' or '-'",
        ));
    }
    if entity.is_empty() || entity.len() > MAX_FIELD || !entity.chars().all(word) {
        return Err(Error::invalid(
            "audit.entity",
            "must be lower-case words joined by '.', '_' or '-'",
        ));
    }
    if let Some(id) = entity_id {
        let token = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if id.is_empty() || id.len() > MAX_FIELD || !id.chars().all(token) {
            return Err(Error::invalid(
                "audit.entity_id",
                "must be a pseudonymous id (letters, digits and ._:- only): never a name or free text",
            ));
        }
    }
    Ok(())
}

/// This device's audit signing key, loaded once per store session from the sync identity.
/// The key zeroizes its memory on drop and is never printed.
pub(crate) struct Signer {
    key: SigningKey,
    /// Hex device id (derived from the key's public half).
    pub(crate) device: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Signer {
    fn from_identity(id: &Identity) -> Signer {
        let secret = id.keys.signing_secret();
        Signer {
            key: SigningKey::from_bytes(&secret),
            device: id.device_id().to_hex(),
        }
    }

    fn sign(&self, hash: &[u8; 32]) -> [u8; 64] {
        self.key.sign(&sig_message(hash)).to_bytes()
    }
}

/// The session's signer, loaded on first use. Takes the two fields rather than the store so
/// that callers can hold it while the connection is borrowed mutably.
pub(crate) fn signer<'a>(cell: &'a OnceCell<Signer>, id: Option<&Identity>) -> Result<&'a Signer> {
    if let Some(s) = cell.get() {
        return Ok(s);
    }
    let id = id.ok_or_else(|| {
        Error::State("this store has no sync identity to sign its audit log with".into())
    })?;
    let _ = cell.set(Signer::from_identity(id));
    cell.get()
        .ok_or_else(|| Error::State("audit signer unavailable".into()))
}

fn arr32(v: &[u8]) -> Option<[u8; 32]> {
    v.try_into().ok()
}

/// Appends one entry to this device's chain, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append(
    conn: &Connection,
    signer: &Signer,
    at: &str,
    actor: &str,
    action: &str,
    entity: &str,
    entity_id: Option<&str>,
) -> Result<()> {
    check_fields(action, entity, entity_id)?;
    let head: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT dseq, hash FROM audit WHERE device = ?1 AND dseq IS NOT NULL ORDER BY dseq DESC LIMIT 1")?
        .query_row([&signer.device], |r| Ok((r.get(0)?, r.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default())))
        .optional()?;
    let (seq, prev) = match head {
        // A damaged head (wrong length) is chained over as its digest: writing goes on, and
        // verification reports the damage.
        Some((s, h)) => (
            s as u64 + 1,
            arr32(&h).unwrap_or_else(|| Sha256::digest(&h).into()),
        ),
        None => (1, GENESIS),
    };
    let hash = entry_hash(
        &signer.device,
        seq,
        &prev,
        at,
        actor,
        action,
        entity,
        entity_id,
    );
    let sig = signer.sign(&hash);
    exec(
        conn,
        "INSERT INTO audit (at, device, actor, action, entity, entity_id, dseq, prev_hash, hash, sig)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![at, signer.device, actor, action, entity, entity_id, seq as i64, &prev[..], &hash[..], &sig[..]],
    )?;
    Ok(())
}

// ---- the synced document ---------------------------------------------------------------------

fn entry_key(seq: u64) -> String {
    format!("{seq:012}")
}

/// An entry as carried in an audit document (hex for the binary fields).
#[derive(Debug, Clone, PartialEq, Eq)]
struct DocEntry {
    seq: u64,
    prev: [u8; 32],
    at: String,
    actor: String,
    action: String,
    entity: String,
    entity_id: Option<String>,
    hash: [u8; 32],
    sig: [u8; 64],
}

impl DocEntry {
    fn to_json(&self) -> Json {
        json!({
            "seq": self.seq,
            "prev": hex::encode(self.prev),
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "hash": hex::encode(self.hash),
            "sig": hex::encode(self.sig),
        })
    }

    fn from_json(v: &Json) -> Option<DocEntry> {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let h = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .and_then(|x| hex::decode(x).ok())
        };
        Some(DocEntry {
            seq: v.get("seq")?.as_u64()?,
            prev: h("prev")?.try_into().ok()?,
            at: s("at")?,
            actor: s("actor")?,
            action: s("action")?,
            entity: s("entity")?,
            entity_id: match v.get("entity_id") {
                None | Some(Json::Null) => None,
                Some(x) => Some(x.as_str()?.to_string()),
            },
            hash: h("hash")?.try_into().ok()?,
            sig: h("sig")?.try_into().ok()?,
        })
    }
}

/// The device an audit document belongs to (its root `device`), once its first change is in.
fn doc_device(d: &Automerge) -> Result<Option<String>> {
    match d.get(ROOT, "device")? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(t) => Ok(Some(t.to_string())),
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

/// The sequence numbers of the entries a document holds, each with the entry when it parses
/// (`None` for a malformed one), for sequence numbers above `after`.
fn doc_entries(d: &Automerge, after: u64) -> Result<BTreeMap<u64, Option<DocEntry>>> {
    let Some(m) = doc::child_map(d, &ROOT, "entries")? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    let keys: Vec<String> = d.keys(&m).collect();
    for k in keys {
        let Ok(seq) = k.parse::<u64>() else { continue };
        if seq <= after {
            continue;
        }
        let entry = match doc::child_map(d, &m, &k) {
            Ok(Some(obj)) => doc::read_json(d, &obj)
                .ok()
                .and_then(|j| DocEntry::from_json(&j))
                .filter(|e| e.seq == seq),
            _ => None,
        };
        out.insert(seq, entry);
    }
    Ok(out)
}

/// The highest sequence number a document holds (0 if none).
fn doc_last_seq(d: &Automerge) -> Result<u64> {
    let Some(m) = doc::child_map(d, &ROOT, "entries")? else {
        return Ok(0);
    };
    Ok(d.keys(&m)
        .filter_map(|k| k.parse::<u64>().ok())
        .max()
        .unwrap_or(0))
}

/// Projects an audit document received from another device into the `audit` table (leads
/// only; see the module documentation). Entries already held are left alone, so a row a
/// device rewrote after syncing it can never replace the copy held here; malformed entries are
/// skipped (verification reports them as missing).
pub(crate) fn project(conn: &Connection, d: &Automerge) -> Result<()> {
    let me: Option<(String, String)> = conn
        .prepare_cached("SELECT device_id, role FROM sync_identity WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((me, role)) = me else { return Ok(()) };
    if role != "lead" {
        return Ok(());
    }
    let Some(device) = doc_device(d)? else {
        return Ok(());
    };
    if device == me {
        return Ok(());
    }
    let max: i64 = conn
        .prepare_cached("SELECT COALESCE(max(dseq), 0) FROM audit WHERE device = ?1")?
        .query_row([&device], |r| r.get(0))?;
    for (_, e) in doc_entries(d, max.max(0) as u64)? {
        let Some(e) = e else { continue };
        exec(
            conn,
            "INSERT OR IGNORE INTO audit (at, device, actor, action, entity, entity_id, dseq, prev_hash, hash, sig)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![e.at, device, e.actor, e.action, e.entity, e.entity_id, e.seq as i64, &e.prev[..], &e.hash[..], &e.sig[..]],
        )?;
    }
    Ok(())
}

// ---- verification ----------------------------------------------------------------------------

/// What is wrong with an audit chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditProblemKind {
    /// The entry's fields no longer match its hash, or it differs from the synced copy.
    Edited,
    /// The entry is not held: a gap in the sequence, or the synced copy holds it and the table
    /// lost it.
    Missing,
    /// The entry is held out of order (an earlier entry stored after a later one).
    Reordered,
    /// The signature does not verify with the device's key.
    BadSignature,
    /// The device is not in the team's device directory, so nothing it signed can be checked.
    UnknownDevice,
    /// A correctly signed entry that does not chain to the entry held before it: the device
    /// rewrote its history after the earlier entry was synced.
    Forked,
    /// A row with no chain at all, stored after the device's chain started (`seq` is then the
    /// row's local number, not a device sequence number).
    Unchained,
}

impl AuditProblemKind {
    /// A short phrase for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            AuditProblemKind::Edited => "edited (does not match its hash or the synced copy)",
            AuditProblemKind::Missing => "missing (deleted from the log)",
            AuditProblemKind::Reordered => "reordered (stored out of sequence)",
            AuditProblemKind::BadSignature => "bad signature",
            AuditProblemKind::UnknownDevice => "written by a device not in the device directory",
            AuditProblemKind::Forked => "history rewritten (does not chain to the entry before it)",
            AuditProblemKind::Unchained => "unchained row added after the chain started",
        }
    }
}

/// The first problem found in one device's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    /// What is wrong.
    pub kind: AuditProblemKind,
    /// The device sequence number where it is (the local row number for
    /// [`AuditProblemKind::Unchained`]).
    pub seq: u64,
}

/// The outcome of verifying one device's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceAuditCheck {
    /// Device id (hex).
    pub device: String,
    /// Whether it is this device's own log (otherwise a copy received through sync).
    pub own: bool,
    /// Entries that verified before the first problem (all of them if there is none).
    pub checked: u64,
    /// Entries held for the device.
    pub held: u64,
    /// The first problem, if any.
    pub problem: Option<AuditProblem>,
}

/// The outcome of [`Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    /// One check per device whose log is held, this device first.
    pub devices: Vec<DeviceAuditCheck>,
    /// Rows written before the chain existed (schema v5): shown, not verifiable.
    pub pre_chain: u64,
}

impl AuditVerification {
    /// Whether every chain verified.
    pub fn is_ok(&self) -> bool {
        self.devices.iter().all(|d| d.problem.is_none())
    }

    /// Entries verified, over all devices.
    pub fn entries(&self) -> u64 {
        self.devices.iter().map(|d| d.checked).sum()
    }

    /// Every device with a problem, with it.
    pub fn problems(&self) -> Vec<(&str, AuditProblem)> {
        self.devices
            .iter()
            .filter_map(|d| d.problem.map(|p| (d.device.as_str(), p)))
            .collect()
    }
}

/// One stored row of a device's chain, as read back (columns may have been tampered with).
struct Row {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    entity: String,
    entity_id: Option<String>,
    prev: Option<Vec<u8>>,
    hash: Option<Vec<u8>>,
    sig: Option<Vec<u8>>,
}

fn device_rows(conn: &Connection, device: &str) -> Result<Vec<Row>> {
    let mut st = conn.prepare(
        "SELECT dseq, at, actor, action, entity, entity_id, prev_hash, hash, sig FROM audit
         WHERE device = ?1 AND dseq IS NOT NULL ORDER BY seq",
    )?;
    let rows = st.query_map([device], |r| {
        Ok(Row {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            entity: r.get(4)?,
            entity_id: r.get(5)?,
            prev: r.get(6)?,
            hash: r.get(7)?,
            sig: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Walks a device's rows in stored order. Returns (entries verified, first problem, the stored
/// hash of every entry by sequence number).
fn walk_chain(
    device: &str,
    rows: &[Row],
    key: Option<&DevicePublicKeys>,
) -> (u64, Option<AuditProblem>, HashMap<u64, Vec<u8>>) {
    let hashes: HashMap<u64, Vec<u8>> = rows
        .iter()
        .filter(|r| r.seq > 0)
        .map(|r| (r.seq as u64, r.hash.clone().unwrap_or_default()))
        .collect();
    let mut prev = GENESIS;
    for (i, r) in rows.iter().enumerate() {
        // Entries 1..=i verified so far; this row must be entry i + 1.
        let (checked, expected) = (i as u64, i as u64 + 1);
        let problem = |kind| {
            Some(AuditProblem {
                kind,
                seq: expected,
            })
        };
        if r.seq < 1 || r.seq as u64 != expected {
            let later = rows[i + 1..]
                .iter()
                .any(|x| x.seq > 0 && x.seq as u64 == expected);
            let kind = if later {
                AuditProblemKind::Reordered
            } else {
                AuditProblemKind::Missing
            };
            return (checked, problem(kind), hashes);
        }
        let (Some(p), Some(h), Some(s)) = (
            r.prev.as_deref().and_then(arr32),
            r.hash.as_deref().and_then(arr32),
            r.sig.as_deref().and_then(|s| <[u8; 64]>::try_from(s).ok()),
        ) else {
            return (checked, problem(AuditProblemKind::Edited), hashes);
        };
        let want = entry_hash(
            device,
            expected,
            &p,
            &r.at,
            &r.actor,
            &r.action,
            &r.entity,
            r.entity_id.as_deref(),
        );
        if want != h {
            return (checked, problem(AuditProblemKind::Edited), hashes);
        }
        let Some(key) = key else {
            return (checked, problem(AuditProblemKind::UnknownDevice), hashes);
        };
        if key.verify_signature(&sig_message(&h), &s).is_err() {
            return (checked, problem(AuditProblemKind::BadSignature), hashes);
        }
        if p != prev {
            return (checked, problem(AuditProblemKind::Forked), hashes);
        }
        prev = h;
    }
    (rows.len() as u64, None, hashes)
}

/// Compares the table's hashes with a synced copy: the first entry of the copy that the table
/// lacks (missing) or holds differently (edited).
fn compare_with_copy(
    hashes: &HashMap<u64, Vec<u8>>,
    copy: &BTreeMap<u64, Option<DocEntry>>,
) -> Option<AuditProblem> {
    for (seq, e) in copy {
        let Some(e) = e else { continue };
        match hashes.get(seq) {
            None => {
                return Some(AuditProblem {
                    kind: AuditProblemKind::Missing,
                    seq: *seq,
                })
            }
            Some(h) if h.as_slice() != e.hash.as_slice() => {
                return Some(AuditProblem {
                    kind: AuditProblemKind::Edited,
                    seq: *seq,
                })
            }
            Some(_) => {}
        }
    }
    None
}

/// The signing keys of the device directory, by hex device id (entries whose keys do not
/// derive their id are left out).
fn directory(conn: &Connection) -> Result<HashMap<String, DevicePublicKeys>> {
    let mut st = conn.prepare("SELECT device_id, sign_pub, kx_pub FROM sync_devices")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (id, sp, kp) = row?;
        let (Some(sign_pub), Some(kx_pub)) = (arr32(&sp), arr32(&kp)) else {
            continue;
        };
        let keys = DevicePublicKeys { sign_pub, kx_pub };
        if DeviceId::from_signing_public(&sign_pub).to_hex() == id {
            out.insert(id, keys);
        }
    }
    Ok(out)
}

// ---- queries ---------------------------------------------------------------------------------

/// Which audit events [`Store::audit_query`] returns. Every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Events about this person: the profile itself, and encounters, concerns and incidents
    /// linked to it.
    pub person: Option<String>,
    /// Events written by the device whose id starts with this (hex; a short id is enough).
    pub device: Option<String>,
    /// Action name (`person.view`), or a family of them (`person` matches every `person.*`).
    pub action: Option<String>,
    /// Events at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Most events to return (newest first); 0 means 50.
    pub limit: usize,
}

fn bound(t: &DateTime<Utc>) -> String {
    // Stored times are RFC 3339 in UTC (`...+00:00`); this prefix compares correctly with them.
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

impl Store {
    /// Appends an audit event in its own transaction (views, exports, erasure, subject access).
    /// The entry is chained and signed like every other (see the module documentation).
    pub(crate) fn audit(&self, action: &str, entity: &str, id: Option<&str>) -> Result<()> {
        let signer = signer(&self.audit_signer, self.sync.as_ref())?;
        let at = Utc::now().to_rfc3339();
        if !self.conn.is_autocommit() {
            // Called inside a caller's transaction: the entry commits (or not) with it.
            return append(&self.conn, signer, &at, &self.user, action, entity, id);
        }
        // IMMEDIATE: the head is read and the entry written under one write lock, so two
        // processes on one store can never give two entries the same number.
        let t = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        append(&t, signer, &at, &self.user, action, entity, id)?;
        t.commit()?;
        Ok(())
    }

    /// Copies this device's audit entries written since the last sync into its audit document,
    /// in ONE change (sealed and queued like any other). Called at the start of every sync.
    /// Returns the number of entries appended (0 leaves the document untouched).
    pub(crate) fn append_audit_doc(&mut self) -> Result<u64> {
        let device = signer(&self.audit_signer, self.sync.as_ref())?
            .device
            .clone();
        let doc_id = doc_id_for(&device);
        let exists = self
            .conn
            .prepare_cached("SELECT 1 FROM docs WHERE doc_id = ?1")?
            .query_row([&doc_id], |_| Ok(()))
            .optional()?
            .is_some();
        let last = if exists {
            let d = self.load_doc(&doc_id)?;
            let n = doc_last_seq(&d);
            self.cache_doc(&doc_id, d);
            n?
        } else {
            0
        };
        let entries: Vec<DocEntry> = {
            let mut st = self.conn.prepare_cached(
                "SELECT dseq, prev_hash, at, actor, action, entity, entity_id, hash, sig FROM audit
                 WHERE device = ?1 AND dseq > ?2 ORDER BY dseq",
            )?;
            let rows = st.query_map(params![device, last as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<Vec<u8>>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<Vec<u8>>>(7)?,
                    r.get::<_, Option<Vec<u8>>>(8)?,
                ))
            })?;
            let mut out = vec![];
            for row in rows {
                let (seq, prev, at, actor, action, entity, entity_id, hash, sig) = row?;
                // A damaged row is copied with zeroed binary fields: the copy must not stop the
                // sync, and verification on every side reports the damage.
                out.push(DocEntry {
                    seq: seq as u64,
                    prev: prev.as_deref().and_then(arr32).unwrap_or_default(),
                    at,
                    actor,
                    action,
                    entity,
                    entity_id,
                    hash: hash.as_deref().and_then(arr32).unwrap_or_default(),
                    sig: sig
                        .as_deref()
                        .and_then(|s| <[u8; 64]>::try_from(s).ok())
                        .unwrap_or([0u8; 64]),
                });
            }
            out
        };
        if entries.is_empty() {
            return Ok(0);
        }
        let n = entries.len() as u64;
        let dev = device.clone();
        self.change(
            &doc_id,
            DocKind::Audit,
            !exists,
            |tx| {
                use automerge::transaction::Transactable;
                if !exists {
                    tx.put(ROOT, "device", dev.as_str())?;
                }
                let m = doc::root_map(tx, "entries")?;
                for e in &entries {
                    doc::create_record(tx, &m, &entry_key(e.seq), &e.to_json())?;
                }
                Ok(())
            },
            |_, _, _| Ok(()),
            &[],
        )?;
        Ok(n)
    }

    /// Verifies the audit chains held: this device's own, and on a lead every device's copy
    /// received through sync. Read-only. See [`AuditVerification`].
    pub fn verify_audit(&self) -> Result<AuditVerification> {
        let id = self
            .sync
            .as_ref()
            .ok_or_else(|| Error::State("this store has no sync identity".into()))?;
        let me = id.device_id().to_hex();
        let lead = id.role == crate::sync::Role::Lead;
        let mut keys = directory(&self.conn)?;
        keys.insert(me.clone(), id.keys.public());

        // Synced copies held: this device's own document, and on a lead everyone's.
        let mut copies: HashMap<String, BTreeMap<u64, Option<DocEntry>>> = HashMap::new();
        let docs: Vec<String> = {
            let mut st = self
                .conn
                .prepare("SELECT doc_id FROM docs WHERE kind = ?1")?;
            let rows = st.query_map([DocKind::Audit.as_str()], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for doc_id in docs {
            let d = load_doc_from(&self.conn, &doc_id, self.actor.clone())?;
            let Some(device) = doc_device(&d)? else {
                continue;
            };
            if (device == me || lead) && doc_id == doc_id_for(&device) {
                copies.insert(device, doc_entries(&d, 0)?);
            }
        }

        let mut devices: BTreeSet<String> = {
            let mut st = self
                .conn
                .prepare("SELECT DISTINCT device FROM audit WHERE dseq IS NOT NULL")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        devices.extend(copies.keys().cloned());
        devices.remove(&me);

        // Rows without a chain: allowed only before the first chained row (pre-v5 history).
        let first_chained: Option<i64> = self.conn.query_row(
            "SELECT min(seq) FROM audit WHERE dseq IS NOT NULL",
            [],
            |r| r.get(0),
        )?;
        let pre_chain: i64 = self.conn.query_row(
            "SELECT count(*) FROM audit WHERE dseq IS NULL AND seq < ?1",
            [first_chained.unwrap_or(i64::MAX)],
            |r| r.get(0),
        )?;
        let mut unchained: HashMap<String, i64> = HashMap::new();
        if let Some(first) = first_chained {
            let mut st = self.conn.prepare("SELECT device, min(seq) FROM audit WHERE dseq IS NULL AND seq > ?1 GROUP BY device")?;
            let rows = st.query_map([first], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (d, s) = row?;
                unchained.insert(d, s);
            }
        }
        for d in unchained.keys() {
            if d != &me {
                devices.insert(d.clone());
            }
        }

        let mut out = vec![];
        for device in std::iter::once(me.clone()).chain(devices) {
            let rows = device_rows(&self.conn, &device)?;
            let (mut checked, mut problem, hashes) = walk_chain(&device, &rows, keys.get(&device));
            if let Some(copy) = copies.get(&device) {
                if let Some(p) = compare_with_copy(&hashes, copy) {
                    if !matches!(problem, Some(q) if q.seq <= p.seq) {
                        checked = checked.min(p.seq.saturating_sub(1));
                        problem = Some(p);
                    }
                }
            }
            if problem.is_none() {
                if let Some(local) = unchained.get(&device) {
                    problem = Some(AuditProblem {
                        kind: AuditProblemKind::Unchained,
                        seq: *local as u64,
                    });
                }
            }
            out.push(DeviceAuditCheck {
                own: device == me,
                device,
                checked,
                held: rows.len() as u64,
                problem,
            });
        }
        Ok(AuditVerification {
            devices: out,
            pre_chain: pre_chain as u64,
        })
    }

    /// Audit events matching `filter`, newest first (by time, then by the order stored). On a
    /// lead this includes every device's events received through sync.
    pub fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let mut sql = String::from(
            "SELECT seq, at, device, actor, action, entity, entity_id, dseq FROM audit WHERE 1 = 1",
        );
        let mut args: Vec<rusqlite::types::Value> = vec![];
        let mut arg = |sql: &mut String, clause: &str, v: String| {
            args.push(rusqlite::types::Value::Text(v));
            sql.push_str(&clause.replace("?#", &format!("?{}", args.len())));
        };
        if let Some(p) = &filter.person {
            crate::model::check_id("person", p)?;
            arg(
                &mut sql,
                " AND (entity_id = ?# OR entity_id IN (SELECT id FROM encounters WHERE person_id = ?#
                   UNION SELECT id FROM concerns WHERE person_id = ?# UNION SELECT id FROM incidents WHERE person_id = ?#))",
                p.clone(),
            );
        }
        if let Some(d) = &filter.device {
            if d.is_empty() || !d.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(Error::invalid(
                    "device",
                    "a device id is hex digits (a short prefix is enough)",
                ));
            }
            arg(
                &mut sql,
                " AND substr(device, 1, length(?#)) = ?#",
                d.to_ascii_lowercase(),
            );
        }
        if let Some(a) = &filter.action {
            check_fields(a, "x", None).map_err(|_| {
                Error::invalid(
                    "action",
                    "an action is lower-case words joined by '.', e.g. person.view",
                )
            })?;
            if a.contains('.') {
                arg(&mut sql, " AND action = ?#", a.clone());
            } else {
                arg(
                    &mut sql,
                    " AND (action = ?# OR substr(action, 1, length(?#) + 1) = ?# || '.')",
                    a.clone(),
                );
            }
        }
        if let Some(f) = &filter.from {
            arg(&mut sql, " AND at >= ?#", bound(f));
        }
        if let Some(t) = &filter.to {
            arg(&mut sql, " AND at < ?#", bound(t));
        }
        let limit = if filter.limit == 0 { 50 } else { filter.limit };
        sql.push_str(&format!(" ORDER BY at DESC, seq DESC LIMIT {limit}"));
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok(AuditEvent {
                seq: r.get(0)?,
                at: r.get(1)?,
                device: r.get(2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                entity: r.get(5)?,
                entity_id: r.get(6)?,
                device_seq: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_are_unambiguous() {
        let p = GENESIS;
        // Moving a character from one field to the next changes the bytes.
        let a = canonical_bytes("d", 1, &p, "t", "ab", "c", "e", None);
        let b = canonical_bytes("d", 1, &p, "t", "a", "bc", "e", None);
        assert_ne!(a, b);
        let c = canonical_bytes("d", 1, &p, "t", "a", "b", "e", Some(""));
        let d = canonical_bytes("d", 1, &p, "t", "a", "b", "e", None);
        assert_ne!(c, d);
        assert!(a.starts_with(ENTRY_DOMAIN));
    }

    #[test]
    fn fields_with_names_or_free_text_are_refused() {
        assert!(check_fields(
            "person.view",
            "person",
            Some("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
        )
        .is_ok());
        assert!(check_fields("report.create", "report", Some("2026-01-01..2026-01-31")).is_ok());
        assert!(check_fields("person.view", "person", Some("Fakey Moonbeam")).is_err());
        assert!(check_fields("Person View", "person", None).is_err());
        assert!(check_fields("export", "people", Some("note: asked about clinic")).is_err());
        assert!(check_fields("", "person", None).is_err());
    }

    #[test]
    fn doc_ids_are_per_device_hex() {
        let a = doc_id_for("aa");
        assert_eq!(a.len(), 32);
        assert_ne!(a, doc_id_for("ab"));
        assert!(<outreach_proto::ids::DocId as std::str::FromStr>::from_str(&a).is_ok());
    }
}
