//! Sealed person-linked fields: free text about a person inside a shared shift document.
//!
//! A shift document holds the encounters, concerns and incidents of one device-shift, for many
//! people, and its data key is never destroyed. Erasing a person crypto-shreds *their* documents
//! only; the notes written about them inside shift documents would survive (automerge keeps
//! history, so redacting them later would not remove them). So the free-text fields of a record
//! that is linked to a person are never written in plain: they are sealed under a key that
//! lives in that person's own document and dies with it.
//!
//! - Every person document gets a random 256-bit **field key** in its first change (the
//!   skeleton, [`crate::doc::write_skeleton`]), at the root key [`FIELD_KEY_ROOT`] (not inside
//!   `profile`, so profile views and exports never show it). The person projection copies it to
//!   `people.field_key`; the column goes with the row when the person's document is deleted.
//! - A sealed field is stored in the shift document as the map `{"sealed": "v1.<base64>"}`
//!   where the base64 is `nonce (24 bytes) ‖ ciphertext` of XChaCha20-Poly1305 under
//!   `HKDF-SHA256(field key, info = "outreach/v1/sealed-field")`, with associated data
//!   `kind 0 record-id 0 field 0 person-id` (none of these can hold a zero byte), so a sealed
//!   value cannot be moved to another record, field or person.
//! - Projection rows keep the sealed form (under the `data` JSON's `"sealed"` map, the typed
//!   fields reading as absent), so erasure never has to rewrite a projection row; every read
//!   path opens the fields at read time ([`FieldKeys`], [`open_record`]). A field whose key is
//!   not held (the person was erased, or their document has not reached this device yet) reads
//!   as absent and is named in the record's `withheld` list, shown as [`WITHHELD_MARKER`].
//! - Records with no person keep plain text: there is nobody to erase them for.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Root key of a person document that holds its field key (bytes, 32).
pub const FIELD_KEY_ROOT: &str = "field_key";
/// HKDF info string for the sealing key derived from a field key.
pub const HKDF_INFO: &[u8] = b"outreach/v1/sealed-field";
/// The key of the map a sealed field is stored as (`{"sealed": "v1.…"}`).
pub const SEALED: &str = "sealed";
/// Prefix of the sealed string (format version).
pub const VERSION_PREFIX: &str = "v1.";
/// What shells and the CLI show in place of a field listed in a record's `withheld`.
pub const WITHHELD_MARKER: &str = "erased or not yet synced";
/// Key of a sealed value naming the person it is sealed for, when the record itself names none
/// (a concern or incident raised in a person's encounter: sealed for that encounter's person).
pub const SEALED_FOR: &str = "for";
/// Key of the projection row's `data` JSON that carries the still-sealed fields.
const DATA_SEALED: &str = "sealed";
/// Key of a read record's list of fields that could not be opened.
const DATA_WITHHELD: &str = "withheld";

/// Length of a field key in bytes.
pub const FIELD_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// Errors of sealing and opening one field (internal; converted into [`Error`]).
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The record names a person whose profile (and so field key) this device does not hold.
    #[error("this device does not hold the sealing key of that person profile (erased, or not synced yet); sync, then try again")]
    NoKey,
    /// A stored field key has the wrong length.
    #[error("a stored field key is malformed")]
    BadKey,
    /// A sealed value is malformed or failed authentication.
    #[error("a sealed field could not be opened")]
    Open,
}

/// The kinds of shift record that can carry sealed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// An encounter (`encounters` map).
    Encounter,
    /// A safeguarding concern (`concerns` map).
    Concern,
    /// An incident (`incidents` map).
    Incident,
}

/// One sealable field: its name (as in `withheld` and the AAD) and its path in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedField {
    /// Dotted name, e.g. `note` or `follow_up.what`.
    pub name: &'static str,
    /// Path of keys from the record's map.
    pub path: &'static [&'static str],
    /// The model requires the field whenever its parent exists (an empty string stands in
    /// for it when withheld).
    pub required: bool,
}

const fn f(name: &'static str, path: &'static [&'static str], required: bool) -> SealedField {
    SealedField { name, path, required }
}

const ENCOUNTER_FIELDS: &[SealedField] = &[f("note", &["note"], false), f("follow_up.what", &["follow_up", "what"], true)];
const CONCERN_FIELDS: &[SealedField] = &[f("action", &["action"], true), f("review.outcome", &["review", "outcome"], true)];
const INCIDENT_FIELDS: &[SealedField] = &[
    f("injuries", &["injuries"], false),
    f("perpetrator", &["perpetrator"], false),
    f("crime_reference", &["crime_reference"], false),
    f("support", &["support"], false),
];

impl RecordKind {
    /// Stable name (part of the associated data).
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordKind::Encounter => "encounter",
            RecordKind::Concern => "concern",
            RecordKind::Incident => "incident",
        }
    }

    /// The record kind of a shift document map (`encounters`, `concerns`, `incidents`) or of
    /// an entity name (`encounter`, `concern`, `incident`).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "encounters" | "encounter" => Some(RecordKind::Encounter),
            "concerns" | "concern" => Some(RecordKind::Concern),
            "incidents" | "incident" => Some(RecordKind::Incident),
            _ => None,
        }
    }

    /// The free-text fields sealed when the record is linked to a person.
    pub fn fields(&self) -> &'static [SealedField] {
        match self {
            RecordKind::Encounter => ENCOUNTER_FIELDS,
            RecordKind::Concern => CONCERN_FIELDS,
            RecordKind::Incident => INCIDENT_FIELDS,
        }
    }

    /// The sealable field at `path` (a trailing `sealed` segment is ignored).
    pub fn field_at(&self, path: &[String]) -> Option<&'static SealedField> {
        let path = match path.split_last() {
            Some((last, rest)) if last == SEALED && !rest.is_empty() => rest,
            _ => path,
        };
        self.fields().iter().find(|f| f.path.len() == path.len() && f.path.iter().zip(path).all(|(a, b)| a == b))
    }
}

/// A person's field key (zeroized on drop).
pub struct FieldKey(Zeroizing<[u8; FIELD_KEY_LEN]>);

impl FieldKey {
    /// A new random field key.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; FIELD_KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(&mut k[..]);
        FieldKey(k)
    }

    /// A key from stored bytes.
    pub fn from_bytes(b: &[u8]) -> std::result::Result<Self, SealError> {
        if b.len() != FIELD_KEY_LEN {
            return Err(SealError::BadKey);
        }
        let mut k = Zeroizing::new([0u8; FIELD_KEY_LEN]);
        k.copy_from_slice(b);
        Ok(FieldKey(k))
    }

    /// The raw bytes (for the person skeleton only).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// Derives the sealing key (one HKDF).
    pub fn sealer(&self) -> Sealer {
        let hk = Hkdf::<Sha256>::new(None, &self.0[..]);
        let mut okm = Zeroizing::new([0u8; 32]);
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = hk.expand(HKDF_INFO, &mut okm[..]);
        Sealer(okm)
    }
}

impl std::fmt::Debug for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldKey(…)")
    }
}

/// The derived sealing key of one person (zeroized on drop).
pub struct Sealer(Zeroizing<[u8; 32]>);

fn aad(kind: RecordKind, id: &str, field: &str, person: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(kind.as_str().len() + id.len() + field.len() + person.len() + 3);
    for (i, part) in [kind.as_str(), id, field, person].iter().enumerate() {
        if i > 0 {
            a.push(0);
        }
        a.extend_from_slice(part.as_bytes());
    }
    a
}

impl Sealer {
    /// Seals `text` as field `field` of record `id` of `kind`, linked to `person`.
    pub fn seal(&self, kind: RecordKind, id: &str, field: &str, person: &str, text: &str) -> String {
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.0[..]));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let a = aad(kind, id, field, person);
        // Encryption with a valid key and nonce only fails for messages over 256 GiB.
        let ct = cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg: text.as_bytes(), aad: &a }).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        format!("{VERSION_PREFIX}{}", STANDARD.encode(out))
    }

    /// Opens a sealed string made by [`Sealer::seal`] with the same kind, id, field and person.
    pub fn open(&self, kind: RecordKind, id: &str, field: &str, person: &str, sealed: &str) -> std::result::Result<String, SealError> {
        let b64 = sealed.strip_prefix(VERSION_PREFIX).ok_or(SealError::Open)?;
        let raw = STANDARD.decode(b64).map_err(|_| SealError::Open)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(SealError::Open);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.0[..]));
        let a = aad(kind, id, field, person);
        let pt = cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &a }).map_err(|_| SealError::Open)?;
        String::from_utf8(pt).map_err(|_| SealError::Open)
    }
}

// ---- JSON paths -------------------------------------------------------------------------------

fn get_path<'a>(v: &'a Json, path: &[&str]) -> Option<&'a Json> {
    path.iter().try_fold(v, |cur, k| cur.get(*k))
}

fn get_path_mut<'a>(v: &'a mut Json, path: &[&str]) -> Option<&'a mut Json> {
    path.iter().try_fold(v, |cur, k| cur.get_mut(*k))
}

/// The sealed string inside a stored `{"sealed": "v1.…"}` value, if it is one.
pub fn sealed_str(v: &Json) -> Option<&str> {
    v.as_object().and_then(|m| m.get(SEALED)).and_then(|s| s.as_str())
}

fn person_of(record: &Json) -> Option<&str> {
    record.get("person").and_then(|p| p.as_str())
}

/// The person a stored sealed value is sealed for: its own `for`, else the record's person.
fn sealed_for<'a>(stored: &'a Json, record_person: Option<&'a str>) -> Option<&'a str> {
    stored.get(SEALED_FOR).and_then(|p| p.as_str()).or(record_person)
}

fn sealed_object(sealed: String, tag: Option<&str>) -> Json {
    let mut m = Map::new();
    m.insert(SEALED.into(), Json::String(sealed));
    if let Some(p) = tag {
        m.insert(SEALED_FOR.into(), Json::String(p.to_string()));
    }
    Json::Object(m)
}

fn id_of(record: &Json) -> &str {
    record.get("id").and_then(|p| p.as_str()).unwrap_or("")
}

// ---- writing --------------------------------------------------------------------------------

/// Seals, in place, the free-text fields of `record` (the plaintext record as its model type
/// serialises, with `id` and `person`) before it is written to a shift document.
///
/// - The record's own person, else `via` (the person of the encounter a concern or incident
///   was raised in; the sealed values then name it in `for`), is the person sealed for.
/// - Neither: nothing is sealed (plain text stays plain).
/// - A person and no key: [`SealError::NoKey`]. `key` is that person's field key.
/// - `current` is the record as the document holds it now (amendments): a field whose stored
///   sealed value opens, for the same person, to the same text is kept as it is, so an
///   unchanged field is not rewritten (a fresh nonce would make every amend a change of every
///   sealed field, and a clash with any concurrent edit of it). The associated data binds the
///   person, so a value sealed for someone else never opens here and is sealed afresh.
pub fn seal_record(
    kind: RecordKind, record: &mut Json, key: Option<&FieldKey>, current: Option<&Json>, via: Option<&str>,
) -> std::result::Result<(), SealError> {
    let (person, tag) = match (person_of(record), via) {
        (Some(p), _) => (p.to_string(), None),
        (None, Some(v)) => (v.to_string(), Some(v.to_string())),
        (None, None) => return Ok(()),
    };
    let key = key.ok_or(SealError::NoKey)?;
    let sealer = key.sealer();
    let id = id_of(record).to_string();
    for field in kind.fields() {
        let Some(slot) = get_path_mut(record, field.path) else { continue };
        let Some(text) = slot.as_str().map(str::to_string) else { continue };
        let kept = current.and_then(|c| get_path(c, field.path)).filter(|old| {
            old.get(SEALED_FOR).and_then(|p| p.as_str()) == tag.as_deref()
                && sealed_str(old).and_then(|s| sealer.open(kind, &id, field.name, &person, s).ok()).as_deref() == Some(text.as_str())
        });
        *slot = match kept {
            Some(old) => old.clone(),
            None => sealed_object(sealer.seal(kind, &id, field.name, &person, &text), tag.as_deref()),
        };
    }
    Ok(())
}

/// Seals one value written by a lead settling a clash on a sealable field, or a review outcome
/// (`value` is the plain text). `via`: the record names no person and `person` is that of its
/// encounter (recorded in `for`). Anything that is not a string is returned unchanged.
pub fn seal_value(kind: RecordKind, id: &str, field: &SealedField, person: &str, via: bool, key: &FieldKey, value: &Json) -> Json {
    match value.as_str() {
        Some(text) => sealed_object(key.sealer().seal(kind, id, field.name, person, text), via.then_some(person)),
        None => value.clone(),
    }
}

// ---- projecting -----------------------------------------------------------------------------

/// Takes the sealed fields out of a record read from its document, so the record deserialises
/// into its model type (a required field gets an empty stand-in). Returns them by field name,
/// to be put back into the projection row with [`attach_sealed`]. A sealable field holding a
/// map that is not a well-formed sealed value is taken out too (it reads as withheld).
pub fn extract_sealed(kind: RecordKind, record: &mut Json) -> Map<String, Json> {
    let mut out = Map::new();
    if let Some(m) = record.as_object_mut() {
        m.remove(DATA_SEALED);
        m.remove(DATA_WITHHELD);
    }
    for field in kind.fields() {
        let (last, parents) = match field.path.split_last() {
            Some(x) => x,
            None => continue,
        };
        let Some(parent) = get_path_mut(record, parents).and_then(|p| p.as_object_mut()) else { continue };
        if !parent.get(*last).map(|v| v.is_object()).unwrap_or(false) {
            continue;
        }
        let v = parent.remove(*last).unwrap_or(Json::Null);
        let sealed = Json::String(sealed_str(&v).unwrap_or("").to_string());
        // Kept as `{"sealed", "for"}` when sealed for an encounter's person, else the string.
        let entry = match v.get(SEALED_FOR).and_then(|p| p.as_str()) {
            Some(p) => sealed_object(sealed.as_str().unwrap_or("").to_string(), Some(p)),
            None => sealed,
        };
        out.insert(field.name.into(), entry);
        if field.required {
            parent.insert((*last).into(), Json::String(String::new()));
        }
    }
    out
}

/// Puts the sealed fields taken by [`extract_sealed`] into a projection row's JSON.
pub fn attach_sealed(row: &mut Json, sealed: Map<String, Json>) {
    if sealed.is_empty() {
        return;
    }
    if let Some(m) = row.as_object_mut() {
        m.insert(DATA_SEALED.into(), Json::Object(sealed));
    }
}

// ---- reading --------------------------------------------------------------------------------

/// Field keys looked up from `people.field_key` for one read (a list or a view), each person's
/// sealing key derived once.
pub struct FieldKeys<'c> {
    conn: &'c Connection,
    cache: HashMap<String, Option<Sealer>>,
}

impl<'c> FieldKeys<'c> {
    /// A lookup over this connection (inside or outside a transaction).
    pub fn new(conn: &'c Connection) -> Self {
        FieldKeys { conn, cache: HashMap::new() }
    }

    fn sealer(&mut self, person: &str) -> Result<Option<&Sealer>> {
        if !self.cache.contains_key(person) {
            let s = match field_key(self.conn, person)? {
                Some(k) => Some(k.sealer()),
                None => None,
            };
            self.cache.insert(person.to_string(), s);
        }
        Ok(self.cache.get(person).and_then(|s| s.as_ref()))
    }

    /// Opens the sealed fields of a projection row's JSON in place: each opened field gets its
    /// text back; each one that cannot be opened stays absent (a required one keeps its empty
    /// stand-in) and is named in `withheld`.
    pub fn open_json(&mut self, kind: RecordKind, row: &mut Json) -> Result<()> {
        let sealed = match row.as_object_mut().and_then(|m| m.remove(DATA_SEALED)) {
            Some(Json::Object(s)) => s,
            _ => return Ok(()),
        };
        let person = person_of(row).map(str::to_string);
        let id = id_of(row).to_string();
        let mut withheld = vec![];
        for (name, v) in sealed {
            let Some(field) = kind.fields().iter().find(|f| f.name == name) else { continue };
            let (s, p) = match &v {
                Json::String(s) => (Some(s.as_str()), person.as_deref()),
                other => (sealed_str(other), sealed_for(other, person.as_deref())),
            };
            let text = match (p, s) {
                (Some(p), Some(s)) => match self.sealer(p)? {
                    Some(sealer) => sealer.open(kind, &id, field.name, p, s).ok(),
                    None => None,
                },
                _ => None,
            };
            match text {
                Some(t) => {
                    let (last, parents) = match field.path.split_last() {
                        Some(x) => x,
                        None => continue,
                    };
                    if let Some(parent) = get_path_mut(row, parents).and_then(|p| p.as_object_mut()) {
                        parent.insert((*last).into(), Json::String(t));
                    }
                }
                None => withheld.push(Json::String(field.name.to_string())),
            }
        }
        if !withheld.is_empty() {
            if let Some(m) = row.as_object_mut() {
                m.insert(DATA_WITHHELD.into(), Json::Array(withheld));
            }
        }
        Ok(())
    }

    /// Opens one value of a sealable field as it is stored in a document (for clash lists):
    /// the text, or `None` when it cannot be opened.
    pub fn open_value(&mut self, kind: RecordKind, id: &str, field: &SealedField, person: Option<&str>, stored: &Json) -> Result<Option<String>> {
        let s = match (stored.as_str(), sealed_str(stored)) {
            // A bare string under `…/sealed` (a clash inside the sealed map) or a plain value.
            (Some(s), _) if s.starts_with(VERSION_PREFIX) => s,
            (Some(plain), _) => return Ok(Some(plain.to_string())),
            (None, Some(s)) => s,
            (None, None) => return Ok(None),
        };
        let Some(p) = sealed_for(stored, person) else { return Ok(None) };
        Ok(match self.sealer(p)? {
            Some(sealer) => sealer.open(kind, id, field.name, p, s).ok(),
            None => None,
        })
    }
}

/// Opens a projection row (`data` JSON) of `kind` into its model type, with its sealed fields
/// opened when the person's field key is held (see [`FieldKeys::open_json`]).
pub fn open_record<T: DeserializeOwned>(kind: RecordKind, data: &str, keys: &mut FieldKeys<'_>) -> Result<T> {
    let mut v: Json = serde_json::from_str(data)?;
    keys.open_json(kind, &mut v)?;
    Ok(serde_json::from_value(v)?)
}

/// The field key of a person, from the projection (`None` when the person's document is not
/// held: erased, or not synced yet).
pub fn field_key(conn: &Connection, person: &str) -> Result<Option<FieldKey>> {
    let raw: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT field_key FROM people WHERE id = ?1")?
        .query_row([person], |r| r.get(0))
        .optional()?;
    match raw.flatten() {
        Some(b) => Ok(Some(FieldKey::from_bytes(&b).map_err(seal_error)?)),
        None => Ok(None),
    }
}

/// Converts a sealing error into the core error (no personal data in either).
pub(crate) fn seal_error(e: SealError) -> Error {
    match e {
        SealError::NoKey => Error::State(e.to_string()),
        SealError::BadKey | SealError::Open => Error::Document(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "0190f0e0-0000-7000-8000-000000000001";
    const P: &str = "0190f0e0-0000-7000-8000-0000000000aa";
    const Q: &str = "0190f0e0-0000-7000-8000-0000000000bb";

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = FieldKey::generate();
        let s = k.sealer();
        let c = s.seal(RecordKind::Encounter, ID, "note", P, "Fakey canary note");
        assert!(c.starts_with("v1.") && !c.contains("canary"));
        assert_eq!(s.open(RecordKind::Encounter, ID, "note", P, &c).unwrap(), "Fakey canary note");
        // Bound to kind, record, field and person.
        assert!(s.open(RecordKind::Concern, ID, "note", P, &c).is_err());
        assert!(s.open(RecordKind::Encounter, P, "note", P, &c).is_err());
        assert!(s.open(RecordKind::Encounter, ID, "follow_up.what", P, &c).is_err());
        assert!(s.open(RecordKind::Encounter, ID, "note", Q, &c).is_err());
        // Another key cannot open it.
        assert!(FieldKey::generate().sealer().open(RecordKind::Encounter, ID, "note", P, &c).is_err());
        // Two seals of one text differ (random nonce).
        assert_ne!(c, s.seal(RecordKind::Encounter, ID, "note", P, "Fakey canary note"));
    }

    #[test]
    fn anonymous_records_stay_plain_and_linked_need_a_key() {
        let mut r = json!({"id": ID, "note": "plain text"});
        seal_record(RecordKind::Encounter, &mut r, None, None, None).unwrap();
        assert_eq!(r["note"], "plain text");
        let mut r = json!({"id": ID, "person": P, "note": "x"});
        assert!(matches!(seal_record(RecordKind::Encounter, &mut r, None, None, None), Err(SealError::NoKey)));
    }

    #[test]
    fn extract_attach_open_and_withhold() {
        let k = FieldKey::generate();
        let mut r = json!({"id": ID, "person": P, "note": "canary one", "follow_up": {"what": "canary two", "done": false}});
        seal_record(RecordKind::Encounter, &mut r, Some(&k), None, None).unwrap();
        assert!(!r.to_string().contains("canary"));
        let sealed = extract_sealed(RecordKind::Encounter, &mut r);
        assert_eq!(sealed.len(), 2);
        assert!(r.get("note").is_none());
        assert_eq!(r["follow_up"]["what"], "");
        attach_sealed(&mut r, sealed);
        let row = r.to_string();

        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE people (id TEXT PRIMARY KEY, field_key BLOB)").unwrap();
        // Not held: withheld, no error.
        let mut v: Json = serde_json::from_str(&row).unwrap();
        FieldKeys::new(&conn).open_json(RecordKind::Encounter, &mut v).unwrap();
        assert!(v.get("note").is_none());
        assert_eq!(v["withheld"], json!(["follow_up.what", "note"]));
        // Held: opened.
        conn.execute("INSERT INTO people VALUES (?1, ?2)", rusqlite::params![P, k.as_bytes()]).unwrap();
        let mut v: Json = serde_json::from_str(&row).unwrap();
        FieldKeys::new(&conn).open_json(RecordKind::Encounter, &mut v).unwrap();
        assert_eq!(v["note"], "canary one");
        assert_eq!(v["follow_up"]["what"], "canary two");
        assert!(v.get("withheld").is_none() && v.get("sealed").is_none());
    }

    #[test]
    fn amend_keeps_unchanged_sealed_values() {
        let k = FieldKey::generate();
        let mut r = json!({"id": ID, "person": P, "note": "same", "injuries": "x"});
        seal_record(RecordKind::Encounter, &mut r, Some(&k), None, None).unwrap();
        let stored = r.clone();
        let mut again = json!({"id": ID, "person": P, "note": "same"});
        seal_record(RecordKind::Encounter, &mut again, Some(&k), Some(&stored), None).unwrap();
        assert_eq!(again["note"], stored["note"], "an unchanged field keeps its sealed value");
        let mut changed = json!({"id": ID, "person": P, "note": "different"});
        seal_record(RecordKind::Encounter, &mut changed, Some(&k), Some(&stored), None).unwrap();
        assert_ne!(changed["note"], stored["note"]);
    }
}

/// Store-level tests: what the shift document and the projection rows hold, and what the API
/// returns. All names and texts are obviously fake.
#[cfg(test)]
mod store_tests {
    use super::*;
    use crate::model::*;
    use crate::store::Store;
    use crate::{StoreKey, StoreOptions, TeamSetup, Unlock};

    const ZONE: &str = "test-zone-a";

    fn store(dir: &std::path::Path) -> Store {
        let mut s = Store::create(&dir.join("s"), Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Team", &[ZONE]), &StoreOptions::default()).unwrap();
        s.start_shift(ShiftStart { van: "TEST Van".into(), crew: vec!["staff-a".into()], zones: vec![ZONE.into()], at: None }).unwrap();
        s
    }

    fn encounter(person: Option<&str>, note: &str, follow: &str) -> EncounterInput {
        let mut e = EncounterInput::new(ZONE);
        e.person = person.map(str::to_string);
        e.note = Some(note.into());
        e.follow_up = Some(FollowUp { due: None, what: follow.into(), done: false });
        e
    }

    fn shift_doc(s: &Store) -> String {
        s.conn.query_row("SELECT doc_id FROM shifts LIMIT 1", [], |r| r.get(0)).unwrap()
    }

    /// The shift document as bytes (uncompressed, so a plaintext scan means something) and as
    /// JSON, plus every projection row's data.
    fn held_text(s: &mut Store) -> String {
        let id = shift_doc(s);
        let d = s.load_doc(&id).unwrap();
        let mut out = String::from_utf8_lossy(&d.save_nocompress()).into_owned();
        out.push_str(&crate::doc::read_json(&d, &automerge::ROOT).unwrap().to_string());
        s.cache_doc(&id, d);
        {
            let mut st = s.conn.prepare("SELECT data FROM doc_chunks WHERE doc_id = ?1").unwrap();
            for c in st.query_map([&id], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
                out.push_str(&String::from_utf8_lossy(&c.unwrap()));
            }
        }
        for t in ["encounters", "concerns", "incidents"] {
            let mut st = s.conn.prepare(&format!("SELECT data FROM {t}")).unwrap();
            for r in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
                out.push_str(&r.unwrap());
            }
        }
        out
    }

    fn stored_record(s: &mut Store, map: &str, id: &str) -> Json {
        let doc_id = shift_doc(s);
        let d = s.load_doc(&doc_id).unwrap();
        let m = crate::doc::root_map(&d, map).unwrap();
        let r = crate::doc::child_map(&d, &m, id).unwrap().unwrap();
        let j = crate::doc::read_json(&d, &r).unwrap();
        s.cache_doc(&doc_id, d);
        j
    }

    #[test]
    fn linked_text_never_reaches_the_shift_document_but_the_api_returns_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let p = s.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
        let e = s.log_encounter(encounter(Some(&p.id), "CANARY-SEAL-note", "CANARY-SEAL-follow")).unwrap();
        assert_eq!(e.input.note.as_deref(), Some("CANARY-SEAL-note"), "the write returns the plain text");
        let c = s
            .record_concern(ConcernInput {
                category: ConcernCategory::AdultAtRisk,
                indicators: vec![Indicator::Fearful],
                encounter: Some(e.id.clone()),
                person: Some(p.id.clone()),
                consent: Consent::Given,
                action: "CANARY-SEAL-action".into(),
                shared_without_consent: false,
                legal_basis: None,
            })
            .unwrap();
        s.record_incident(IncidentInput {
            when: chrono::Utc::now() - chrono::Duration::minutes(5),
            place: ZONE.into(),
            kind: IncidentType::Robbery,
            injuries: Some("CANARY-SEAL-injuries".into()),
            perpetrator: Some("CANARY-SEAL-perp".into()),
            police_reported: true,
            crime_reference: Some("CANARY-SEAL-ref".into()),
            share_police: ShareConsent::Full,
            share_national: ShareConsent::None,
            support: Some("CANARY-SEAL-support".into()),
            person: Some(p.id.clone()),
            encounter: None,
        })
        .unwrap();
        s.review_concern(&c.id, "CANARY-SEAL-outcome").unwrap();
        // Raised in the person's encounter without naming the person: sealed for them too.
        let via = s
            .record_concern(ConcernInput {
                category: ConcernCategory::DomesticAbuse,
                indicators: vec![],
                encounter: Some(e.id.clone()),
                person: None,
                consent: Consent::NotAsked,
                action: "CANARY-SEAL-via-action".into(),
                shared_without_consent: false,
                legal_basis: None,
            })
            .unwrap();
        s.review_concern(&via.id, "CANARY-SEAL-via-outcome").unwrap();
        s.record_incident(IncidentInput {
            when: chrono::Utc::now() - chrono::Duration::minutes(3),
            place: ZONE.into(),
            kind: IncidentType::Harassment,
            injuries: None,
            perpetrator: Some("CANARY-SEAL-via-perp".into()),
            police_reported: false,
            crime_reference: None,
            share_police: ShareConsent::None,
            share_national: ShareConsent::None,
            support: None,
            person: None,
            encounter: Some(e.id.clone()),
        })
        .unwrap();
        // An anonymous record stays plain: proves the scan below can see text.
        s.log_encounter(encounter(None, "PLAIN-anon-note", "PLAIN-anon-follow")).unwrap();

        let held = held_text(&mut s);
        assert!(held.contains("PLAIN-anon-note"), "the scan must be able to find plain text");
        assert!(!held.contains("CANARY-SEAL"), "a person's free text reached the shift document or a projection row");
        // The field key is in the person document's root, not in the profile.
        assert!(!s.view_person(&p.id).unwrap().input.note.is_some());
        let person_json: String = s.conn.query_row("SELECT data FROM people WHERE id = ?1", [&p.id], |r| r.get(0)).unwrap();
        assert!(!person_json.contains("field_key"));

        let night = s.current_shift().unwrap().unwrap().night;
        let got = s.get_encounter(&e.id).unwrap();
        assert_eq!(got.input.note.as_deref(), Some("CANARY-SEAL-note"));
        assert_eq!(got.input.follow_up.as_ref().unwrap().what, "CANARY-SEAL-follow");
        assert!(got.withheld.is_empty());
        assert!(s.list_night(night).unwrap().iter().any(|x| x.input.note.as_deref() == Some("CANARY-SEAL-note")));
        let cs = s.list_concerns(night).unwrap();
        assert_eq!(cs[0].input.action, "CANARY-SEAL-action");
        assert_eq!(cs[0].review.as_ref().unwrap().outcome, "CANARY-SEAL-outcome");
        let v = cs.iter().find(|x| x.id == via.id).unwrap();
        assert_eq!(v.input.action, "CANARY-SEAL-via-action");
        assert_eq!(v.review.as_ref().unwrap().outcome, "CANARY-SEAL-via-outcome");
        assert_eq!(v.input.person, None, "the concern is not linked to the person by sealing");
        let is = s.list_incidents(night).unwrap();
        assert!(is.iter().any(|i| i.input.perpetrator.as_deref() == Some("CANARY-SEAL-via-perp")));
        assert_eq!(is[0].input.injuries.as_deref(), Some("CANARY-SEAL-injuries"));
        assert_eq!(is[0].input.perpetrator.as_deref(), Some("CANARY-SEAL-perp"));
        assert_eq!(is[0].input.crime_reference.as_deref(), Some("CANARY-SEAL-ref"));
        assert_eq!(is[0].input.support.as_deref(), Some("CANARY-SEAL-support"));
        let csv = s.export_csv(crate::report::export::ExportEntity::Encounters, None).unwrap();
        assert!(csv.contains("CANARY-SEAL-note") && csv.contains("CANARY-SEAL-follow"));
        let csv = s.export_csv(crate::report::export::ExportEntity::Incidents, None).unwrap();
        assert!(csv.contains("CANARY-SEAL-injuries") && csv.contains("CANARY-SEAL-ref"));
        assert!(s.verify_projections().unwrap(), "projections equal a rebuild");
    }

    #[test]
    fn amend_relink_unlink_and_settle() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let p = s.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
        let q = s.add_person(PersonInput::new("Testy Stardust")).unwrap();
        let e = s.log_encounter(encounter(Some(&p.id), "CANARY-A", "CANARY-F")).unwrap();
        let before = stored_record(&mut s, "encounters", &e.id);

        // An amend that changes another field keeps the sealed values byte for byte.
        let mut input = s.get_encounter(&e.id).unwrap().input;
        input.setting = Setting::Indoor;
        s.amend_encounter(&e.id, input.clone()).unwrap();
        let after = stored_record(&mut s, "encounters", &e.id);
        assert_eq!(before["note"], after["note"]);
        assert_eq!(before["follow_up"]["what"], after["follow_up"]["what"]);

        // Changing the text re-seals it; the API returns the new text.
        input.note = Some("CANARY-B".into());
        let got = s.amend_encounter(&e.id, input.clone()).unwrap();
        assert_eq!(got.input.note.as_deref(), Some("CANARY-B"));
        let after = stored_record(&mut s, "encounters", &e.id);
        assert_ne!(before["note"], after["note"]);
        assert!(sealed_str(&after["note"]).is_some());

        // Relinking re-seals under the new person's key (the old key no longer opens it).
        input.person = Some(q.id.clone());
        let got = s.amend_encounter(&e.id, input.clone()).unwrap();
        assert_eq!(got.input.note.as_deref(), Some("CANARY-B"));
        let rec = stored_record(&mut s, "encounters", &e.id);
        let sealed = sealed_str(&rec["note"]).unwrap().to_string();
        let pk = field_key(&s.conn, &p.id).unwrap().unwrap();
        let qk = field_key(&s.conn, &q.id).unwrap().unwrap();
        assert!(pk.sealer().open(RecordKind::Encounter, &e.id, "note", &q.id, &sealed).is_err());
        assert_eq!(qk.sealer().open(RecordKind::Encounter, &e.id, "note", &q.id, &sealed).unwrap(), "CANARY-B");

        // A lead settling the field writes it sealed again.
        s.settle_clash("encounter", &e.id, &["note".to_string()], serde_json::json!("CANARY-C")).unwrap();
        assert_eq!(s.get_encounter(&e.id).unwrap().input.note.as_deref(), Some("CANARY-C"));
        let rec = stored_record(&mut s, "encounters", &e.id);
        assert!(sealed_str(&rec["note"]).is_some(), "a settled value of a sealed field is sealed");

        // Removing the person stores the text plain again.
        let mut input = s.get_encounter(&e.id).unwrap().input;
        input.person = None;
        let got = s.amend_encounter(&e.id, input).unwrap();
        assert_eq!(got.input.note.as_deref(), Some("CANARY-C"));
        let rec = stored_record(&mut s, "encounters", &e.id);
        assert_eq!(rec["note"], "CANARY-C");
        assert!(s.verify_projections().unwrap());
    }

    #[test]
    fn after_the_person_is_erased_reads_show_the_marker_and_nothing_breaks() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let p = s.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
        let keep = s.add_person(PersonInput::new("Testy Stardust")).unwrap();
        let e = s.log_encounter(encounter(Some(&p.id), "CANARY-E1", "CANARY-E2")).unwrap();
        let other = s.log_encounter(encounter(Some(&keep.id), "KEPT-note", "KEPT-follow")).unwrap();
        let anon = s.log_encounter(encounter(None, "ANON-note", "ANON-follow")).unwrap();
        let c = s
            .record_concern(ConcernInput {
                category: ConcernCategory::Exploitation,
                indicators: vec![],
                encounter: None,
                person: Some(p.id.clone()),
                consent: Consent::NotAsked,
                action: "CANARY-E3".into(),
                shared_without_consent: false,
                legal_basis: None,
            })
            .unwrap();
        s.review_concern(&c.id, "CANARY-E4").unwrap();
        let via = s
            .record_concern(ConcernInput {
                category: ConcernCategory::AdultAtRisk,
                indicators: vec![],
                encounter: Some(e.id.clone()),
                person: None,
                consent: Consent::NotAsked,
                action: "CANARY-E6".into(),
                shared_without_consent: false,
                legal_basis: None,
            })
            .unwrap();
        s.record_incident(IncidentInput {
            when: chrono::Utc::now() - chrono::Duration::minutes(5),
            place: ZONE.into(),
            kind: IncidentType::Threats,
            injuries: Some("CANARY-E5".into()),
            perpetrator: None,
            police_reported: false,
            crime_reference: None,
            share_police: ShareConsent::Full,
            share_national: ShareConsent::Anonymised,
            support: None,
            person: Some(p.id.clone()),
            encounter: None,
        })
        .unwrap();
        let night = s.current_shift().unwrap().unwrap().night;

        // Erasure as this device sees it: the person's row and document are gone.
        let doc: String = s.conn.query_row("SELECT doc_id FROM people WHERE id = ?1", [&p.id], |r| r.get(0)).unwrap();
        s.conn.execute("DELETE FROM people WHERE doc_id = ?1", [&doc]).unwrap();
        s.conn.execute("DELETE FROM doc_chunks WHERE doc_id = ?1", [&doc]).unwrap();
        s.conn.execute("DELETE FROM docs WHERE doc_id = ?1", [&doc]).unwrap();
        s.docs.clear();

        let got = s.get_encounter(&e.id).unwrap();
        assert_eq!(got.input.note, None);
        assert_eq!(got.input.follow_up.as_ref().unwrap().what, "");
        assert_eq!(got.withheld, vec!["follow_up.what".to_string(), "note".to_string()]);
        assert_eq!(got.input.person.as_deref(), Some(p.id.as_str()), "the link stays (counts need it)");
        let list = s.list_night(night).unwrap();
        assert_eq!(list.len(), 3);
        let kept = list.iter().find(|x| x.id == other.id).unwrap();
        assert_eq!(kept.input.note.as_deref(), Some("KEPT-note"));
        assert!(kept.withheld.is_empty());
        assert_eq!(list.iter().find(|x| x.id == anon.id).unwrap().input.note.as_deref(), Some("ANON-note"));
        let cs = s.list_concerns(night).unwrap();
        let c0 = cs.iter().find(|x| x.id == c.id).unwrap();
        assert_eq!(c0.input.action, "");
        assert_eq!(c0.withheld, vec!["action".to_string(), "review.outcome".to_string()]);
        let v = cs.iter().find(|x| x.id == via.id).unwrap();
        assert_eq!((v.input.action.as_str(), v.withheld.clone()), ("", vec!["action".to_string()]));
        let is = s.list_incidents(night).unwrap();
        assert_eq!(is[0].input.injuries, None);
        assert_eq!(is[0].withheld, vec!["injuries".to_string()]);
        for ent in crate::report::export::ExportEntity::ALL {
            let csv = s.export_csv(*ent, None).unwrap();
            assert!(!csv.contains("CANARY-E"), "{ent:?}");
        }
        let csv = s.export_csv(crate::report::export::ExportEntity::Encounters, None).unwrap();
        assert!(csv.contains(&format!("[{WITHHELD_MARKER}]")) && csv.contains("KEPT-note"));
        let review = s.review_items(night).unwrap();
        assert!(review.concerns.iter().all(|c| c.withheld.contains(&"action".to_string())));
        let r = review.referrals.iter().find(|r| r.encounter == e.id).unwrap();
        assert_eq!(r.withheld, vec!["follow_up.what".to_string(), "note".to_string()]);
        s.clashes().unwrap();
        // Amending the record's other fields needs the person held: a typed refusal.
        let mut input = got.input.clone();
        input.setting = Setting::Indoor;
        let r = s.amend_encounter(&e.id, input);
        assert!(matches!(r, Err(Error::Invalid { field: "encounter.person", .. })), "{r:?}");
        assert!(s.verify_projections().unwrap(), "projections equal a rebuild after the erasure");
    }

    #[test]
    fn a_person_that_is_not_held_cannot_be_linked() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let p = s.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
        // A row without its key (as a document from before field keys would project).
        s.conn.execute("UPDATE people SET field_key = NULL WHERE id = ?1", [&p.id]).unwrap();
        let err = s.log_encounter(encounter(Some(&p.id), "CANARY-X", "CANARY-Y")).unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "encounter.person", .. }), "{err:?}");
        assert!(!err.to_string().contains("CANARY"));
        let other = "0190f0e0-0000-7000-8000-0000000000cc";
        let err = s.log_encounter(encounter(Some(other), "CANARY-X", "CANARY-Y")).unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "encounter.person", .. }), "{err:?}");
        assert_eq!(s.list_night(s.current_shift().unwrap().unwrap().night).unwrap().len(), 0);
    }
}
