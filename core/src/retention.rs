//! Retention and data minimisation.
//!
//! The team's [`RetentionPolicy`] lives in the team settings document (synced, end-to-end
//! encrypted, set by a lead with [`Store::set_retention`]):
//!
//! - **Detail** (`detail_days`, default 730): a lead's [`Store::purge`] *reduces* every shift
//!   document whose night is older than that. Its records are copied into an **archive
//!   document** ([`DocKind::Archive`]) that holds only what [`Store::report`] counts (night,
//!   zone, setting, contact type, person id, services and quantities, referrals, concern
//!   category / consent / reviewed / person, incident type / consents / reported / person):
//!   no times of day, no crew, devices, notes, free text, follow-ups, indicators or places, and
//!   new record ids (a keyed hash of the original under the team secret: original ids are
//!   UUIDv7 and would carry the time of day; keyed, every lead derives the same ids). The
//!   archive projects into the same tables as shifts, so reports read it unchanged. The shift
//!   documents are then crypto-shredded everywhere (`Store::shred_docs`, reason `retention`).
//! - **Rolling window** (`device_window_days`, default 14): after every successful sync a
//!   member device drops its local copies of shift documents older than the window, person
//!   documents not seen within it, and archives (members do not run reports), never a document
//!   with changes still waiting in its outbox and never its own open shift. Dropped documents
//!   are marked so that chunks pulled later do not bring them back. Leads keep everything
//!   within `detail_days`.
//! - **Alert review** (`alert_review_days`, default 180): alerts are never deleted silently;
//!   [`Store::alerts_due_for_review`] lists those older than the period (or past their own
//!   review date) for the lead.
//!
//! A shift and the archive that reduced it may both be on a device for a while (the archive
//! arrives before the shred order, or a rebuild meets both). The `retention_sources`
//! projection (written by the archive's projection) makes the outcome independent of order:
//! a shift listed there projects nothing, and projecting the archive removes the shift's rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use automerge::{Automerge, ReadDoc};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::api::Settings;
use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::model::{
    night_of, ConcernCategory, Consent, ContactType, IncidentType, Referral, ReferralDestination,
    ReferralMode, ReferralStatus, Risk, Service, Setting, ShareConsent,
};
use crate::projection::{self, Target};
use crate::store::{exec, Store};
use crate::sync::Role;

/// Default days shift detail is kept before a purge reduces it to counts (two years).
pub const DEFAULT_DETAIL_DAYS: u32 = 730;
/// Default days of shifts a member device keeps (two weeks).
pub const DEFAULT_DEVICE_WINDOW_DAYS: u32 = 14;
/// Default days after which an alert comes up for the lead's review.
pub const DEFAULT_ALERT_REVIEW_DAYS: u32 = 180;
/// Shortest detail period a lead may set: a month, so last month's figures stay detailed.
pub const MIN_DETAIL_DAYS: u32 = 30;
/// Longest detail period (ten years).
pub const MAX_DETAIL_DAYS: u32 = 3650;
/// Longest rolling window on a member device.
pub const MAX_DEVICE_WINDOW_DAYS: u32 = 90;
/// Shortest alert review period.
pub const MIN_ALERT_REVIEW_DAYS: u32 = 7;
/// Longest alert review period.
pub const MAX_ALERT_REVIEW_DAYS: u32 = 3650;

/// Most shift documents reduced into one archive document (each archive is written in one
/// change, so one sealed chunk; this keeps it well under the hub's request size).
const ARCHIVE_MAX_SOURCES: usize = 100;
/// Most records in one archive document.
const ARCHIVE_MAX_RECORDS: usize = 3000;

/// The team's retention policy (part of the team settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionPolicy {
    /// Shift documents whose night is older than this many days are reduced to counts by a
    /// lead's purge.
    pub detail_days: u32,
    /// Member devices keep shifts (and people seen) within this many days.
    pub device_window_days: u32,
    /// Alerts older than this many days (or past their review date) come up for review.
    pub alert_review_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            detail_days: DEFAULT_DETAIL_DAYS,
            device_window_days: DEFAULT_DEVICE_WINDOW_DAYS,
            alert_review_days: DEFAULT_ALERT_REVIEW_DAYS,
        }
    }
}

impl RetentionPolicy {
    /// Checks the bounds: detail 30..=3650 days, window 1..=90 days and not longer than the
    /// detail period, alert review 7..=3650 days. Errors name the field and the rule.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_DETAIL_DAYS..=MAX_DETAIL_DAYS).contains(&self.detail_days) {
            return Err(Error::invalid(
                "retention.detail_days",
                format!("must be between {MIN_DETAIL_DAYS} and {MAX_DETAIL_DAYS} days"),
            ));
        }
        if !(1..=MAX_DEVICE_WINDOW_DAYS).contains(&self.device_window_days) {
            return Err(Error::invalid(
                "retention.device_window_days",
                format!("must be between 1 and {MAX_DEVICE_WINDOW_DAYS} days"),
            ));
        }
        if self.device_window_days > self.detail_days {
            return Err(Error::invalid(
                "retention.device_window_days",
                "must not be longer than detail_days",
            ));
        }
        if !(MIN_ALERT_REVIEW_DAYS..=MAX_ALERT_REVIEW_DAYS).contains(&self.alert_review_days) {
            return Err(Error::invalid(
                "retention.alert_review_days",
                format!("must be between {MIN_ALERT_REVIEW_DAYS} and {MAX_ALERT_REVIEW_DAYS} days"),
            ));
        }
        Ok(())
    }
}

// ---- the archive's records ---------------------------------------------------------------------

/// An encounter reduced to what the report counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedEncounter {
    /// The night it belonged to (its shift's).
    pub night: NaiveDate,
    /// Zone.
    pub zone: String,
    /// Setting.
    pub setting: Setting,
    /// Contact type.
    pub contact_type: ContactType,
    /// Pseudonymous profile id (unique-people counts), if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Services and quantities.
    #[serde(default)]
    pub services: BTreeMap<Service, u32>,
    /// Referrals (destination, mode, consent, status).
    #[serde(default)]
    pub referrals: Vec<Referral>,
}

/// A safeguarding concern reduced to what the report counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedConcern {
    /// The night it belonged to.
    pub night: NaiveDate,
    /// Category.
    pub category: ConcernCategory,
    /// Consent to a referral.
    pub consent: Consent,
    /// Whether a lead had reviewed it.
    pub reviewed: bool,
    /// Pseudonymous profile id, if linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

/// An incident reduced to what the report counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedIncident {
    /// The night it happened.
    pub night: NaiveDate,
    /// Type.
    pub kind: IncidentType,
    /// Reported to the police.
    pub police_reported: bool,
    /// Consent to share with the police.
    pub share_police: ShareConsent,
    /// Consent to share with the national reporting scheme.
    pub share_national: ShareConsent,
    /// Pseudonymous profile id, if linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Its logged shares (the report counts incidents shared with each recipient).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<ArchivedShare>,
}

/// A logged share (disclosure) of an incident, reduced: who it went to and on what footing,
/// not who shared it or when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedShare {
    /// Recipient (`police`, `national`).
    pub recipient: String,
    /// The record's consent flag for that recipient at the time.
    pub consent: String,
    /// Whether consent covered the share.
    pub covered: bool,
    /// The lawful basis given when consent did not cover it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<Json>,
}

/// The archive document's own map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveMeta {
    /// When the purge wrote it.
    pub created_at: DateTime<Utc>,
    /// Nights before this were reduced.
    pub cutoff: NaiveDate,
    /// The shift documents it stands for.
    pub sources: Vec<String>,
}

/// Midnight UTC of a night: the only time an archived record carries.
fn night_start(n: NaiveDate) -> DateTime<Utc> {
    n.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Whether a shift document has been reduced by an archive this device holds.
pub(crate) fn is_reduced(conn: &Connection, shift_doc: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM retention_sources WHERE source = ?1 LIMIT 1")?
        .query_row([shift_doc], |_| Ok(()))
        .optional()?
        .is_some())
}

fn read_map<T: serde::de::DeserializeOwned>(d: &Automerge, map: &str) -> Result<Vec<(String, T)>> {
    let m = doc::root_map(d, map)?;
    let keys: Vec<String> = d.keys(&m).collect();
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(obj) = doc::child_map(d, &m, &k)? {
            out.push((k, serde_json::from_value(doc::read_json(d, &obj)?)?));
        }
    }
    Ok(out)
}

/// Projects an archive document: its sources are marked reduced and lose their rows, and its
/// records become rows of the same tables shifts project into (with `data` a minimal record
/// of the usual type, so every reader keeps working).
pub(crate) fn project_archive(
    conn: &Connection,
    doc_id: &str,
    d: &Automerge,
    _s: &Settings,
) -> Result<()> {
    projection::delete_doc(conn, doc_id)?;
    let m = doc::root_map(d, "archive")?;
    let meta_json = doc::read_json(d, &m)?;
    if meta_json.get("sources").is_none() {
        // Not written yet (a chunk that is not the first): nothing to project.
        return Ok(());
    }
    let meta: ArchiveMeta = serde_json::from_value(meta_json)?;
    for src in &meta.sources {
        exec(
            conn,
            "INSERT OR IGNORE INTO retention_sources (source, doc_id) VALUES (?1, ?2)",
            params![src, doc_id],
        )?;
        projection::delete_doc(conn, src)?;
    }
    for (id, e) in read_map::<ArchivedEncounter>(d, "encounters")? {
        let at = night_start(e.night);
        let data: crate::model::Encounter = serde_json::from_value(json!({
            "id": id, "shift": doc_id, "device": "", "at": at, "zone": e.zone, "setting": e.setting,
            "contact_type": e.contact_type, "person": e.person, "services": e.services, "referrals": e.referrals,
        }))?;
        exec(
            conn,
            "INSERT OR REPLACE INTO encounters (id, doc_id, shift_id, device, at, night, zone, setting, contact_type, person_id, data)
             VALUES (?1,?2,?2,'',?3,?4,?5,?6,?7,?8,?9)",
            params![
                id, doc_id, at.to_rfc3339(), e.night.to_string(), e.zone, e.setting.as_str(), e.contact_type.as_str(),
                e.person, serde_json::to_string(&data)?
            ],
        )?;
        exec(
            conn,
            "DELETE FROM encounter_services WHERE encounter_id = ?1",
            [&id],
        )?;
        exec(conn, "DELETE FROM referrals WHERE encounter_id = ?1", [&id])?;
        for (svc, n) in &e.services {
            exec(
                conn,
                "INSERT INTO encounter_services (encounter_id, service, qty) VALUES (?1, ?2, ?3)",
                params![id, svc.as_str(), n],
            )?;
        }
        for (i, r) in e.referrals.iter().enumerate() {
            exec(
                conn,
                "INSERT INTO referrals (encounter_id, idx, destination, mode, consent, status) VALUES (?1,?2,?3,?4,?5,?6)",
                params![id, i as i64, r.destination.as_str(), r.mode.as_str(), r.consent, r.status.as_str()],
            )?;
        }
    }
    for (id, c) in read_map::<ArchivedConcern>(d, "concerns")? {
        let at = night_start(c.night);
        let review = if c.reviewed {
            json!({"by": "", "at": at, "outcome": ""})
        } else {
            Json::Null
        };
        let data: crate::model::Concern = serde_json::from_value(json!({
            "id": id, "shift": doc_id, "at": at, "category": c.category, "person": c.person, "consent": c.consent,
            "action": "", "review": review,
        }))?;
        exec(
            conn,
            "INSERT OR REPLACE INTO concerns (id, doc_id, shift_id, at, night, category, person_id, reviewed, data)
             VALUES (?1,?2,?2,?3,?4,?5,?6,?7,?8)",
            params![
                id, doc_id, at.to_rfc3339(), c.night.to_string(), c.category.as_str(), c.person, c.reviewed,
                serde_json::to_string(&data)?
            ],
        )?;
    }
    for (id, i) in read_map::<ArchivedIncident>(d, "incidents")? {
        let at = night_start(i.night);
        let mut disclosures = serde_json::Map::new();
        for (n, sh) in i.shares.iter().enumerate() {
            let did = format!("{id}-{n}");
            let mut d = json!({
                "id": did, "recipient": sh.recipient, "at": at, "by": "", "device": "",
                "consent": {"record": sh.consent, "covered": sh.covered},
            });
            if let Some(b) = &sh.legal_basis {
                d["legal_basis"] = b.clone();
            }
            disclosures.insert(did, d);
        }
        let data: crate::model::Incident = serde_json::from_value(json!({
            "id": id, "shift": doc_id, "when": at, "place": "", "kind": i.kind, "police_reported": i.police_reported,
            "share_police": i.share_police, "share_national": i.share_national, "person": i.person,
            "disclosures": disclosures,
        }))?;
        exec(
            conn,
            "INSERT OR REPLACE INTO incidents (id, doc_id, shift_id, at, night, kind, person_id, share_police, share_national, data)
             VALUES (?1,?2,?2,?3,?4,?5,?6,?7,?8,?9)",
            params![
                id, doc_id, at.to_rfc3339(), i.night.to_string(), i.kind.as_str(), i.person, i.share_police.as_str(),
                i.share_national.as_str(), serde_json::to_string(&data)?
            ],
        )?;
    }
    Ok(())
}

// ---- plans and outcomes ------------------------------------------------------------------------

/// What a purge would do (also returned by `outreach purge --dry-run`). Counts only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgePlan {
    /// The policy it applies.
    pub policy: RetentionPolicy,
    /// Today's night (in the team's offset).
    pub today: Option<NaiveDate>,
    /// Shift documents of nights before this are reduced.
    pub cutoff: Option<NaiveDate>,
    /// Shift documents to reduce into archives.
    pub shift_docs: Vec<String>,
    /// Shift documents already reduced by an archive but still held (a purge that stopped
    /// before its shred): shredded without being archived again.
    pub already_reduced: Vec<String>,
    /// Encounters in the shifts to reduce.
    pub encounters: u64,
    /// Safeguarding concerns in them.
    pub concerns: u64,
    /// Of those, concerns no lead has reviewed (they are archived as awaiting review).
    pub unreviewed_concerns: u64,
    /// Incidents in them.
    pub incidents: u64,
    /// Alerts due for the lead's review (never deleted by a purge).
    pub alerts_due: u64,
    /// Person documents whose whole merge group has had no contact (encounter, concern or
    /// incident, archived ones included) on or after the cutoff and was created before it:
    /// shredded by the purge. Their pseudonymous ids stay in the archived counts.
    pub people_docs: Vec<String>,
}

/// What a purge did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeOutcome {
    /// The plan it carried out.
    pub plan: PurgePlan,
    /// Archive documents written.
    pub archives: Vec<String>,
    /// Shift documents crypto-shredded (on this device and the hub; other devices follow at
    /// their next sync).
    pub shredded: u64,
}

/// What a member device's rolling window dropped after a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WindowOutcome {
    /// Shift documents dropped.
    pub shifts: u64,
    /// Person documents dropped.
    pub people: u64,
    /// Archive documents dropped.
    pub archives: u64,
    /// Documents older than the window kept because changes to them are not pushed yet.
    pub kept_unpushed: u64,
}

/// One document this device holds, for `outreach retention show` and the tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldDoc {
    /// Document id.
    pub doc_id: String,
    /// Its kind (`shift`, `person`, `alert`, `settings`, `archive`, ...).
    pub kind: String,
    /// For a shift document still projected: its night.
    pub night: Option<NaiveDate>,
}

/// What a member device's rolling window would drop (document ids by kind).
pub(crate) struct WindowSelection {
    shifts: Vec<String>,
    people: Vec<String>,
    archives: Vec<String>,
    kept_unpushed: u64,
}

/// An alert due for the lead's review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertDue {
    /// Alert id.
    pub id: String,
    /// Risk.
    pub risk: Risk,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it fell due (its own review date, or issue date + `alert_review_days`).
    pub due_on: NaiveDate,
}

fn parse<T: std::str::FromStr<Err = Error>>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Document("unknown controlled value in a projection".into()))
}

fn night(s: &str) -> Result<NaiveDate> {
    s.parse().map_err(|_| Error::Document("bad night".into()))
}

/// The reduced records of one shift document, read from its projection rows: exactly the
/// values the report counts, so the figures cannot change.
fn reduce_shift(conn: &Connection, shift_doc: &str, key: &[u8]) -> Result<Reduced> {
    let mut encounters = vec![];
    {
        let mut st = conn.prepare_cached(
            "SELECT id, night, zone, setting, contact_type, person_id FROM encounters WHERE doc_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([shift_doc], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let rows: Vec<_> = rows.collect::<rusqlite::Result<_>>()?;
        let mut svc = conn.prepare_cached(
            "SELECT service, qty FROM encounter_services WHERE encounter_id = ?1",
        )?;
        let mut refs = conn.prepare_cached(
            "SELECT destination, mode, consent, status FROM referrals WHERE encounter_id = ?1 ORDER BY idx",
        )?;
        for (id, n, zone, setting, contact_type, person) in rows {
            let mut services = BTreeMap::new();
            for s in svc.query_map([&id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (s, q) = s?;
                services.insert(
                    parse::<Service>(&s)?,
                    u32::try_from(q).map_err(|_| Error::Document("bad service quantity".into()))?,
                );
            }
            let mut referrals = vec![];
            for r in refs.query_map([&id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })? {
                let (d, m, c, s) = r?;
                referrals.push(Referral {
                    destination: parse::<ReferralDestination>(&d)?,
                    mode: parse::<ReferralMode>(&m)?,
                    consent: c,
                    status: parse::<ReferralStatus>(&s)?,
                });
            }
            let rec = ArchivedEncounter {
                night: night(&n)?,
                zone,
                setting: parse(&setting)?,
                contact_type: parse(&contact_type)?,
                person,
                services,
                referrals,
            };
            encounters.push((archive_id(key, &id)?, rec));
        }
    }
    let mut concerns = vec![];
    {
        let mut st = conn.prepare_cached(
            "SELECT night, category, person_id, reviewed, data, id FROM concerns WHERE doc_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([shift_doc], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        for row in rows {
            let (n, category, person, reviewed, data, id) = row?;
            let data: Json = serde_json::from_str(&data)?;
            let consent = match data.get("consent").and_then(|c| c.as_str()) {
                Some(c) => parse::<Consent>(c)?,
                None => Consent::NotAsked,
            };
            let rec = ArchivedConcern {
                night: night(&n)?,
                category: parse(&category)?,
                consent,
                reviewed,
                person,
            };
            concerns.push((archive_id(key, &id)?, rec));
        }
    }
    let mut incidents = vec![];
    {
        let mut st = conn.prepare_cached(
            "SELECT night, kind, person_id, share_police, share_national, data, id FROM incidents WHERE doc_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([shift_doc], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        for row in rows {
            let (n, kind, person, police, national, data, id) = row?;
            let data: Json = serde_json::from_str(&data)?;
            // The report counts exactly this flag (missing means not reported).
            let police_reported = data
                .get("police_reported")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let mut shares = vec![];
            if let Some(ds) = data.get("disclosures").and_then(|d| d.as_object()) {
                for d in ds.values() {
                    let text = |k: &str| {
                        d.get(k)
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_string()
                    };
                    let consent = d.get("consent");
                    shares.push(ArchivedShare {
                        recipient: text("recipient"),
                        consent: consent
                            .and_then(|c| c.get("record"))
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        covered: consent
                            .and_then(|c| c.get("covered"))
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false),
                        legal_basis: d.get("legal_basis").filter(|v| !v.is_null()).cloned(),
                    });
                }
            }
            shares.sort_by(|a, b| (&a.recipient, &a.consent).cmp(&(&b.recipient, &b.consent)));
            let rec = ArchivedIncident {
                night: night(&n)?,
                kind: parse(&kind)?,
                police_reported,
                share_police: parse(&police)?,
                share_national: parse(&national)?,
                person,
                shares,
            };
            incidents.push((archive_id(key, &id)?, rec));
        }
    }
    Ok((encounters, concerns, incidents))
}

/// Reduced records of one or more shifts, each with its archive id.
type Reduced = (
    Vec<(String, ArchivedEncounter)>,
    Vec<(String, ArchivedConcern)>,
    Vec<(String, ArchivedIncident)>,
);

/// The id an archived record gets: a keyed hash of its original id under the team's secret,
/// shaped as a (v4) UUID. Not time-ordered (original ids are UUIDv7, whose first 48 bits are
/// the time of day) and not reversible without the original id; but the same on every lead,
/// so two leads purging the same shift at once write the same rows instead of counting
/// them twice.
fn archive_id(key: &[u8], original: &str) -> Result<String> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| Error::Document("bad team secret".into()))?;
    mac.update(b"outreach/retention-id/v1\0");
    mac.update(original.as_bytes());
    let h = mac.finalize().into_bytes();
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    Ok(uuid::Builder::from_random_bytes(b).into_uuid().to_string())
}

fn count(conn: &Connection, sql: &str, doc: &str) -> Result<u64> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row([doc], |r| r.get::<_, i64>(0))? as u64)
}

fn strings(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut st = conn.prepare(sql)?;
    let rows = st.query_map(p, |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl Store {
    /// The team's retention policy (defaults until a lead sets one).
    pub fn retention_policy(&self) -> RetentionPolicy {
        self.settings.retention
    }

    pub(crate) fn require_lead(&self, what: &str) -> Result<()> {
        if self.sync_role()? != Role::Lead {
            return Err(Error::State(format!("only a lead device can {what}")));
        }
        Ok(())
    }

    /// Sets the team's retention policy (lead only): a change of the team settings document,
    /// audited `retention.set`, reaching every device at its next sync.
    pub fn set_retention(&mut self, policy: RetentionPolicy) -> Result<()> {
        policy.validate()?;
        self.require_lead("set the retention policy")?;
        if self.settings_doc.is_empty() {
            return Err(Error::State(
                "this device has no team settings yet; sync first".into(),
            ));
        }
        let value = serde_json::to_value(policy)?;
        let doc_id = self.settings_doc.clone();
        self.change(
            &doc_id,
            DocKind::Settings,
            false,
            |tx| {
                let m = doc::root_map(tx, "settings")?;
                match (doc::child_map(tx, &m, "retention")?, value.as_object()) {
                    (Some(r), Some(obj)) => {
                        doc::reconcile_map(tx, &r, obj)?;
                    }
                    _ => {
                        doc::create_record(tx, &m, "retention", &value)?;
                    }
                }
                Ok(())
            },
            |_, _, _| Ok(()),
            &[("retention.set", "settings", None)],
        )?;
        self.settings.retention = policy;
        Ok(())
    }

    /// What a purge would reduce and shred now, without changing anything.
    pub fn purge_plan(&self, now: DateTime<Utc>) -> Result<PurgePlan> {
        let policy = self.settings.retention;
        policy.validate()?;
        let today = night_of(now, self.settings.utc_offset_minutes);
        let cutoff = today - Duration::days(policy.detail_days as i64);
        let shift_docs = strings(
            &self.conn,
            "SELECT DISTINCT doc_id FROM shifts WHERE night < ?1 ORDER BY night, doc_id",
            [cutoff.to_string()],
        )?;
        let already_reduced = strings(
            &self.conn,
            "SELECT DISTINCT r.source FROM retention_sources r JOIN docs d ON d.doc_id = r.source ORDER BY r.source",
            [],
        )?;
        let mut plan = PurgePlan {
            policy,
            today: Some(today),
            cutoff: Some(cutoff),
            alerts_due: self.alerts_due_for_review(now)?.len() as u64,
            ..Default::default()
        };
        for d in &shift_docs {
            plan.encounters += count(
                &self.conn,
                "SELECT count(*) FROM encounters WHERE doc_id = ?1",
                d,
            )?;
            plan.concerns += count(
                &self.conn,
                "SELECT count(*) FROM concerns WHERE doc_id = ?1",
                d,
            )?;
            plan.unreviewed_concerns += count(
                &self.conn,
                "SELECT count(*) FROM concerns WHERE doc_id = ?1 AND reviewed = 0",
                d,
            )?;
            plan.incidents += count(
                &self.conn,
                "SELECT count(*) FROM incidents WHERE doc_id = ?1",
                d,
            )?;
        }
        plan.shift_docs = shift_docs;
        plan.already_reduced = already_reduced;
        plan.people_docs = self.stale_people_docs(cutoff)?;
        Ok(plan)
    }

    /// Person documents past the detail period: no profile of the merge group has a contact
    /// (encounter, concern or incident, live or archived) on or after `cutoff`, and none is a
    /// profile created on or after it that has no contact yet (kept: just made, not seen yet).
    fn stale_people_docs(&self, cutoff: NaiveDate) -> Result<Vec<String>> {
        let c = cutoff.to_string();
        let recent: HashSet<String> = strings(
            &self.conn,
            "WITH contacts AS (
                 SELECT person_id, night FROM encounters WHERE person_id IS NOT NULL
                 UNION ALL SELECT person_id, night FROM concerns WHERE person_id IS NOT NULL
                 UNION ALL SELECT person_id, night FROM incidents WHERE person_id IS NOT NULL)
             SELECT person_id FROM contacts WHERE night >= ?1
             UNION SELECT id FROM people WHERE substr(created_at, 1, 10) >= ?1
                AND id NOT IN (SELECT person_id FROM contacts)",
            [&c],
        )?
        .into_iter()
        .collect();
        let merges = self.merge_map()?;
        let live_groups: HashSet<String> = recent.iter().map(|p| merges.canonical(p)).collect();
        let mut st = self.conn.prepare_cached("SELECT id, doc_id FROM people ORDER BY id")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = vec![];
        for row in rows {
            let (id, doc) = row?;
            if !live_groups.contains(&merges.canonical(&id)) {
                out.push(doc);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The local half of a purge (lead only): writes the archive documents that stand for
    /// every shift older than the detail period, projected at once (the shifts stop counting,
    /// the archives count instead, so the figures do not move). Nothing is shredded here; the
    /// archives are queued for the hub like any change. Returns the plan and the archives
    /// written. [`Store::purge`] runs this between two syncs and then shreds the shifts.
    pub fn reduce_for_retention(&mut self, now: DateTime<Utc>) -> Result<(PurgePlan, Vec<String>)> {
        self.require_lead("run a retention purge")?;
        let plan = self.purge_plan(now)?;
        let cutoff = plan.cutoff.unwrap_or(now.date_naive());
        let mut archives = vec![];
        let mut batch: Vec<String> = vec![];
        let key = self.settings.alert_key()?;
        let mut recs: Reduced = (vec![], vec![], vec![]);
        for (i, src) in plan.shift_docs.iter().enumerate() {
            let (e, c, n) = reduce_shift(&self.conn, src, &key)?;
            batch.push(src.clone());
            recs.0.extend(e);
            recs.1.extend(c);
            recs.2.extend(n);
            let size = recs.0.len() + recs.1.len() + recs.2.len();
            let last = i + 1 == plan.shift_docs.len();
            if last || batch.len() >= ARCHIVE_MAX_SOURCES || size >= ARCHIVE_MAX_RECORDS {
                let meta = ArchiveMeta {
                    created_at: now,
                    cutoff,
                    sources: std::mem::take(&mut batch),
                };
                archives.push(self.write_archive(meta, std::mem::take(&mut recs))?);
            }
        }
        Ok((plan, archives))
    }

    fn write_archive(&mut self, meta: ArchiveMeta, recs: Reduced) -> Result<String> {
        let doc_id = uuid::Uuid::new_v4().simple().to_string();
        let meta = serde_json::to_value(&meta)?;
        let mut maps: Vec<(&'static str, Vec<(String, Json)>)> = vec![
            ("encounters", vec![]),
            ("concerns", vec![]),
            ("incidents", vec![]),
        ];
        for (id, e) in recs.0 {
            maps[0].1.push((id, serde_json::to_value(e)?));
        }
        for (id, c) in recs.1 {
            maps[1].1.push((id, serde_json::to_value(c)?));
        }
        for (id, i) in recs.2 {
            maps[2].1.push((id, serde_json::to_value(i)?));
        }
        let id = doc_id.clone();
        self.change(
            &doc_id,
            DocKind::Archive,
            true,
            |tx| {
                let m = doc::root_map(tx, "archive")?;
                if let Some(obj) = meta.as_object() {
                    doc::reconcile_map(tx, &m, obj)?;
                }
                for (map, records) in &maps {
                    let mm = doc::root_map(tx, map)?;
                    for (rid, rec) in records {
                        doc::create_record(tx, &mm, rid, rec)?;
                    }
                }
                Ok(())
            },
            |t, d, s| projection::project(t, &id, DocKind::Archive, d, Target::All, s),
            &[("retention.reduce", "archive", Some(&doc_id))],
        )?;
        Ok(doc_id)
    }

    /// A lead's retention purge (online): syncs (so late changes to old shifts are included),
    /// reduces every shift older than `detail_days` into archive documents
    /// ([`Store::reduce_for_retention`]), syncs again so the archives are on the hub, then
    /// crypto-shreds the reduced shifts for the whole team (`Store::shred_docs`, reason
    /// `retention`): the hub deletes their ciphertext and keys, every device deletes its copy
    /// at its next sync. Report figures are unchanged. Audited (`retention.reduce`, and the
    /// shred's own audit). Safe to run again after any failure: shifts already reduced but
    /// still held are shredded without being archived twice.
    pub fn purge(
        &mut self,
        transport: &dyn crate::Transport,
        now: DateTime<Utc>,
    ) -> Result<PurgeOutcome> {
        self.require_lead("run a retention purge")?;
        let cancel = crate::CancelToken::new();
        self.sync(transport, &|_| {}, &cancel)?;
        let (plan, archives) = self.reduce_for_retention(now)?;
        if !archives.is_empty() {
            self.sync(transport, &|_| {}, &cancel)?;
        }
        for a in &archives {
            if count(
                &self.conn,
                "SELECT count(*) FROM outbox WHERE doc_id = ?1",
                a,
            )? > 0
            {
                return Err(Error::State(
                    "the archive did not reach the hub, so nothing was shredded; run the purge again when online".into(),
                ));
            }
        }
        let mut to_shred: Vec<String> = plan.already_reduced.clone();
        to_shred.extend(plan.shift_docs.iter().cloned());
        to_shred.extend(plan.people_docs.iter().cloned());
        to_shred.sort();
        to_shred.dedup();
        let mut shredded = 0u64;
        for batch in to_shred.chunks(outreach_proto::orders::MAX_SHRED_DOCS) {
            let out = self.shred_docs(transport, batch, crate::sync::ShredReason::Retention)?;
            shredded += out.docs;
        }
        Ok(PurgeOutcome {
            plan,
            archives,
            shredded,
        })
    }

    /// The rolling window of a member device (leads keep everything): drops local copies of
    /// shift documents older than `device_window_days` (never this device's own open shift),
    /// person documents not seen within the window, and archive documents, but never a
    /// document with changes still in the outbox. Dropped documents are remembered, so their
    /// chunks are ignored if pulled again. Runs after every successful [`Store::sync`].
    pub fn apply_device_window(&mut self, now: DateTime<Utc>) -> Result<WindowOutcome> {
        if self.settings_doc.is_empty() || self.sync_role()? == Role::Lead {
            return Ok(WindowOutcome::default());
        }
        let WindowSelection {
            shifts,
            people,
            archives,
            kept_unpushed,
        } = self.window_selection(now)?;
        let mut out = WindowOutcome {
            kept_unpushed,
            ..Default::default()
        };
        if shifts.is_empty() && people.is_empty() && archives.is_empty() {
            return Ok(out);
        }
        // Shifts that a dropped archive stood for and that stay (unpushed changes): they
        // project again once the archive is gone.
        let dropping: HashSet<&String> = shifts.iter().collect();
        let mut reproject = vec![];
        for a in &archives {
            for src in strings(
                &self.conn,
                "SELECT r.source FROM retention_sources r JOIN docs d ON d.doc_id = r.source WHERE r.doc_id = ?1",
                [a],
            )? {
                if !dropping.contains(&src) {
                    reproject.push(src);
                }
            }
        }
        let mut all = shifts.clone();
        all.extend(people.iter().cloned());
        all.extend(archives.iter().cloned());
        self.delete_docs_locally(&all)?;
        if !reproject.is_empty() {
            let t = self.conn.transaction()?;
            for src in &reproject {
                let d = crate::store::load_doc_from(&t, src, self.actor.clone())?;
                projection::project(&t, src, DocKind::Shift, &d, Target::All, &self.settings)?;
            }
            t.commit()?;
            for src in &reproject {
                self.docs.remove(src);
            }
        }
        out.shifts = shifts.len() as u64;
        out.people = people.len() as u64;
        out.archives = archives.len() as u64;
        Ok(out)
    }

    /// Every document this device holds, with the night of each projected shift (oldest
    /// first within a kind). Ids and kinds only: no content.
    pub fn held_docs(&self) -> Result<Vec<HeldDoc>> {
        let mut st = self.conn.prepare(
            "SELECT d.doc_id, d.kind, (SELECT min(night) FROM shifts s WHERE s.doc_id = d.doc_id) AS n
             FROM docs d ORDER BY d.kind, n, d.doc_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (doc_id, kind, n) = row?;
            out.push(HeldDoc {
                doc_id,
                kind,
                night: n.map(|n| night(&n)).transpose()?,
            });
        }
        Ok(out)
    }

    /// Alerts due for the lead's review: past their own review date, or issued more than
    /// `alert_review_days` ago without one. Alerts are never deleted by a purge.
    pub fn alerts_due_for_review(&self, now: DateTime<Utc>) -> Result<Vec<AlertDue>> {
        let days = self.settings.retention.alert_review_days as i64;
        let today = night_of(now, self.settings.utc_offset_minutes);
        let mut st = self
            .conn
            .prepare_cached("SELECT data FROM alerts ORDER BY created_at, id")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = vec![];
        for r in rows {
            let a: crate::model::Alert = serde_json::from_str(&r?)?;
            let due_on = a.input.review.unwrap_or_else(|| {
                night_of(a.created_at, self.settings.utc_offset_minutes) + Duration::days(days)
            });
            if due_on <= today {
                out.push(AlertDue {
                    id: a.id,
                    risk: a.input.risk,
                    created_at: a.created_at,
                    due_on,
                });
            }
        }
        Ok(out)
    }

    /// The documents a member device's rolling window would drop now, by kind, and how many
    /// older ones are kept because they have unpushed changes. Leads keep everything.
    pub(crate) fn window_selection(&self, now: DateTime<Utc>) -> Result<WindowSelection> {
        let policy = self.settings.retention;
        let today = night_of(now, self.settings.utc_offset_minutes);
        let cutoff = (today - Duration::days(policy.device_window_days as i64)).to_string();
        let unpushed: HashSet<String> =
            strings(&self.conn, "SELECT DISTINCT doc_id FROM outbox", [])?
                .into_iter()
                .collect();
        let mut kept_unpushed = 0u64;
        let mut keep = |ids: Vec<String>| -> Vec<String> {
            ids.into_iter()
                .filter(|id| {
                    let k = unpushed.contains(id);
                    kept_unpushed += k as u64;
                    !k
                })
                .collect()
        };
        // Shifts older than the window (never this device's own open shift), and shifts an
        // archive reduced (they project nothing, so have no night here).
        let mut shifts = strings(
            &self.conn,
            "SELECT DISTINCT doc_id FROM shifts WHERE night < ?1 AND NOT (device = ?2 AND ended_at IS NULL)
             UNION SELECT r.source FROM retention_sources r JOIN docs d ON d.doc_id = r.source",
            params![cutoff, self.device_id],
        )?;
        shifts.sort();
        let shifts = keep(shifts);
        let archives = keep(strings(
            &self.conn,
            "SELECT doc_id FROM docs WHERE kind = 'archive' ORDER BY doc_id",
            [],
        )?);
        // People seen (encounter, concern or incident) within the window, and every profile
        // they were merged into, stay.
        let mut recent: HashSet<String> = strings(
            &self.conn,
            "SELECT person_id FROM encounters WHERE person_id IS NOT NULL AND night >= ?1
             UNION SELECT person_id FROM concerns WHERE person_id IS NOT NULL AND night >= ?1
             UNION SELECT person_id FROM incidents WHERE person_id IS NOT NULL AND night >= ?1",
            [&cutoff],
        )?
        .into_iter()
        .collect();
        let people: Vec<(String, String, Option<String>, String)> = {
            let mut st = self
                .conn
                .prepare("SELECT id, doc_id, merged_into, created_at FROM people ORDER BY id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let merged: HashMap<&str, &str> = people
            .iter()
            .filter_map(|(id, _, m, _)| m.as_deref().map(|m| (id.as_str(), m)))
            .collect();
        // A profile never seen in anything held here stays while it is new (just added, its
        // first contact not logged yet).
        let ever_seen: HashSet<String> = strings(
            &self.conn,
            "SELECT person_id FROM encounters WHERE person_id IS NOT NULL
             UNION SELECT person_id FROM concerns WHERE person_id IS NOT NULL
             UNION SELECT person_id FROM incidents WHERE person_id IS NOT NULL",
            [],
        )?
        .into_iter()
        .collect();
        for (id, _, _, created) in &people {
            let created = DateTime::parse_from_rfc3339(created)
                .map(|t| night_of(t.with_timezone(&Utc), self.settings.utc_offset_minutes));
            if !ever_seen.contains(id) && created.map(|c| c.to_string() >= cutoff).unwrap_or(true) {
                recent.insert(id.clone());
            }
        }
        let mut kept: BTreeSet<String> = BTreeSet::new();
        for id in recent {
            let mut cur = id;
            // Follow the merge chain (bounded: cycles are possible between offline devices).
            for _ in 0..=people.len() {
                if !kept.insert(cur.clone()) {
                    break;
                }
                match merged.get(cur.as_str()) {
                    Some(next) => cur = next.to_string(),
                    None => break,
                }
            }
        }
        let person_docs = keep(
            people
                .iter()
                .filter(|(id, ..)| !kept.contains(id))
                .map(|(_, d, ..)| d.clone())
                .collect(),
        );
        Ok(WindowSelection {
            shifts,
            people: person_docs,
            archives,
            kept_unpushed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bounds_are_checked_with_the_field_named() {
        assert!(RetentionPolicy::default().validate().is_ok());
        let bad = |p: RetentionPolicy, field: &str| match p.validate() {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected an invalid {field}, got {other:?}"),
        };
        bad(
            RetentionPolicy {
                detail_days: 29,
                ..Default::default()
            },
            "retention.detail_days",
        );
        bad(
            RetentionPolicy {
                detail_days: 3651,
                ..Default::default()
            },
            "retention.detail_days",
        );
        bad(
            RetentionPolicy {
                device_window_days: 0,
                ..Default::default()
            },
            "retention.device_window_days",
        );
        bad(
            RetentionPolicy {
                device_window_days: 91,
                ..Default::default()
            },
            "retention.device_window_days",
        );
        bad(
            RetentionPolicy {
                detail_days: 30,
                device_window_days: 31,
                ..Default::default()
            },
            "retention.device_window_days",
        );
        bad(
            RetentionPolicy {
                alert_review_days: 6,
                ..Default::default()
            },
            "retention.alert_review_days",
        );
        let short = RetentionPolicy {
            detail_days: 60,
            device_window_days: 14,
            alert_review_days: 30,
        };
        assert!(short.validate().is_ok());
    }

    use crate::model::*;
    use crate::{ReportOptions, StoreKey, StoreOptions, TeamSetup, Unlock};
    use chrono::Duration;

    const ZONE: &str = "TEST-ZONE";

    fn store(dir: &std::path::Path) -> Store {
        Store::create(
            &dir.join("s"),
            Unlock::Key(StoreKey::generate()),
            TeamSetup::new("TEST team", &[ZONE]),
            &StoreOptions::default(),
        )
        .unwrap()
    }

    /// One ended shift `days_ago` with two encounters (one with a profile, services and a
    /// referral, one anonymous), a concern (reviewed if `review`) and an incident.
    fn night_out(s: &mut Store, now: DateTime<Utc>, days_ago: i64, person: &str, review: bool) {
        let t = now - Duration::days(days_ago) - Duration::hours(3);
        s.start_shift(ShiftStart {
            van: "TEST van".into(),
            crew: vec!["staff-a".into()],
            zones: vec![ZONE.into()],
            at: Some(t),
        })
        .unwrap();
        let mut e = EncounterInput::new(ZONE);
        e.at = Some(t + Duration::minutes(20));
        e.person = Some(person.into());
        e.services.insert(Service::Condoms, 12);
        e.services.insert(Service::HotDrink, 1);
        e.referrals.push(Referral {
            destination: ReferralDestination::SexualHealth,
            mode: ReferralMode::Signposted,
            consent: true,
            status: ReferralStatus::Made,
        });
        e.note = Some("TEST note that must not survive".into());
        s.log_encounter(e).unwrap();
        let mut e = EncounterInput::new(ZONE);
        e.at = Some(t + Duration::minutes(50));
        e.setting = Setting::Indoor;
        s.log_encounter(e).unwrap();
        let c = s
            .record_concern_at(
                ConcernInput {
                    category: ConcernCategory::AdultAtRisk,
                    indicators: vec![Indicator::Fearful],
                    encounter: None,
                    person: Some(person.into()),
                    consent: Consent::Given,
                    action: "TEST action that must not survive".into(),
                    shared_without_consent: false,
                    legal_basis: None,
                },
                Some(t + Duration::minutes(21)),
            )
            .unwrap();
        if review {
            s.review_concern(&c.id, "TEST outcome").unwrap();
        }
        let inc = s
            .record_incident(IncidentInput {
                when: t + Duration::minutes(30),
                place: "TEST place that must not survive".into(),
                kind: IncidentType::Robbery,
                injuries: None,
                perpetrator: Some("TEST perpetrator that must not survive".into()),
                police_reported: true,
                crime_reference: None,
                share_police: ShareConsent::Anonymised,
                share_national: ShareConsent::Full,
                support: None,
                person: Some(person.into()),
                encounter: None,
            })
            .unwrap();
        // A logged share: the report counts incidents shared with each recipient.
        s.share_incident(&inc.id, ShareRecipient::National, None)
            .unwrap();
        s.end_shift_at(Some(t + Duration::hours(2))).unwrap();
    }

    fn figures(s: &Store, now: DateTime<Utc>) -> Vec<crate::report::Section> {
        let to = night_of(now, 0);
        s.report_unsuppressed(to - Duration::days(200), to, &ReportOptions::default())
            .unwrap()
            .sections
    }

    #[test]
    fn reduction_keeps_the_figures_and_drops_the_detail_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let now = Utc::now();
        let p = s.add_person(PersonInput::new("Fakey Moonbeam")).unwrap();
        for (d, review) in [
            (150, true),
            (100, false),
            (61, true),
            (59, false),
            (3, true),
        ] {
            night_out(&mut s, now, d, &p.id, review);
        }
        let before = figures(&s, now);
        s.set_retention(RetentionPolicy {
            detail_days: 60,
            device_window_days: 14,
            alert_review_days: 30,
        })
        .unwrap();
        let plan = s.purge_plan(now).unwrap();
        assert_eq!(
            plan.shift_docs.len(),
            3,
            "the shifts of 150, 100 and 61 days ago"
        );
        assert_eq!(
            (
                plan.encounters,
                plan.concerns,
                plan.unreviewed_concerns,
                plan.incidents
            ),
            (6, 3, 1, 3)
        );
        let (_, archives) = s.reduce_for_retention(now).unwrap();
        assert_eq!(archives.len(), 1);
        assert_eq!(figures(&s, now), before, "report figures must not move");
        // The reduced shifts project nothing; the two recent ones are untouched.
        let shifts: i64 = s
            .conn
            .query_row("SELECT count(*) FROM shifts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(shifts, 2);
        // No detail in what the archive projects: no notes, actions, places, times of day.
        let dump = s.projection_fingerprint().unwrap();
        let archived: Vec<String> = dump
            .lines()
            .filter(|l| l.contains(&archives[0]))
            .map(String::from)
            .collect();
        assert_eq!(
            archived.len(),
            6 + 3 + 3 + 3,
            "6 encounters, 3 concerns, 3 incidents, 3 sources"
        );
        for l in &archived {
            assert!(!l.contains("must not survive"), "detail kept: {l}");
            assert!(!l.contains("staff-a"), "crew kept: {l}");
        }
        let d = s.load_doc(&archives[0]).unwrap();
        let root = crate::doc::read_json(&d, &automerge::ROOT).unwrap();
        let text = serde_json::to_string(&root).unwrap();
        assert!(!text.contains("must not survive") && !text.contains("staff-a"));
        let records =
            serde_json::to_string(&[&root["encounters"], &root["concerns"], &root["incidents"]])
                .unwrap();
        let b = records.as_bytes();
        let time_of_day = b.windows(4).any(|w| {
            w[0] == b'T' && w[1].is_ascii_digit() && w[2].is_ascii_digit() && w[3] == b':'
        });
        assert!(
            !time_of_day,
            "no time of day in archived records: {records}"
        );
        // Order does not matter: the shift projected again after its archive, a full rebuild.
        let fp = s.projection_fingerprint().unwrap();
        for src in &plan.shift_docs {
            let d = s.load_doc(src).unwrap();
            let settings = s.settings.clone();
            let t = s.conn.transaction().unwrap();
            projection::project(&t, src, DocKind::Shift, &d, Target::All, &settings).unwrap();
            t.commit().unwrap();
        }
        assert_eq!(s.projection_fingerprint().unwrap(), fp);
        assert!(s.verify_projections().unwrap());
        s.rebuild_projections().unwrap();
        assert_eq!(s.projection_fingerprint().unwrap(), fp);
        // A second reduction finds nothing new to archive, only the held sources to shred.
        let again = s.purge_plan(now).unwrap();
        assert!(again.shift_docs.is_empty());
        assert_eq!(again.already_reduced.len(), 3);
    }

    #[test]
    fn alerts_come_up_for_review_and_members_cannot_set_a_policy() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let now = Utc::now();
        let a = s
            .add_alert(AlertInput {
                description: "TEST alert".into(),
                plates: vec![],
                phones: vec!["+44 7700 900123".into()],
                emails: vec![],
                usernames: vec![],
                area: None,
                risk: Risk::High,
                from: None,
                review: None,
            })
            .unwrap();
        assert!(s.alerts_due_for_review(now).unwrap().is_empty());
        let later = now + Duration::days(DEFAULT_ALERT_REVIEW_DAYS as i64 + 1);
        let due = s.alerts_due_for_review(later).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id, a.id);
        assert_eq!(s.list_alerts().unwrap().len(), 1, "never deleted");
        // An alert past its own review date is on the lead's morning review list.
        let b = s
            .add_alert(AlertInput {
                description: "TEST alert due".into(),
                plates: vec!["TE57 XYZ".into()],
                phones: vec![],
                emails: vec![],
                usernames: vec![],
                area: None,
                risk: Risk::Low,
                from: None,
                review: Some(night_of(now, 0) - Duration::days(1)),
            })
            .unwrap();
        let list = s.review_items(night_of(now, 0)).unwrap();
        assert_eq!(
            list.alerts_due
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>(),
            vec![b.id.as_str()]
        );
        assert!(list.len() >= 1);
        assert!(matches!(
            s.set_retention(RetentionPolicy {
                detail_days: 10,
                ..Default::default()
            }),
            Err(Error::Invalid {
                field: "retention.detail_days",
                ..
            })
        ));
        s.conn
            .execute("UPDATE sync_identity SET role = 'member'", [])
            .unwrap();
        s.sync = crate::sync::identity::load(&s.conn).unwrap();
        assert!(matches!(
            s.set_retention(RetentionPolicy::default()),
            Err(Error::State(_))
        ));
        assert!(matches!(s.reduce_for_retention(now), Err(Error::State(_))));
    }

    #[test]
    fn archive_ids_are_keyed_stable_and_carry_no_time() {
        let original = "01a22293-940f-7227-9908-8453d5d62a59";
        let a = archive_id(&[7u8; 32], original).unwrap();
        assert_eq!(
            a,
            archive_id(&[7u8; 32], original).unwrap(),
            "the same on every lead"
        );
        assert_ne!(
            a,
            archive_id(&[8u8; 32], original).unwrap(),
            "keyed by the team secret"
        );
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 4, "random-shaped, not time-ordered");
        assert!(
            !a.starts_with("01a22293"),
            "the original's time prefix is gone"
        );
    }

    #[test]
    fn a_settings_document_without_a_policy_reads_the_defaults() {
        let s: Settings = serde_json::from_value(json!({
            "team": "TEST team", "zones": ["TEST-ZONE"], "default_country": "GB", "utc_offset_minutes": 0
        }))
        .unwrap();
        assert_eq!(s.retention, RetentionPolicy::default());
        let p: RetentionPolicy = serde_json::from_value(json!({"detail_days": 60})).unwrap();
        assert_eq!(p.device_window_days, DEFAULT_DEVICE_WINDOW_DAYS);
    }
}
