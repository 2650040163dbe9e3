//! The team lead's morning review: what needs the lead after a night, and the recorded
//! changes that settle it.
//!
//! [`Store::review_items`] gathers the review list for a night: same-field clashes to settle
//! (from [`Store::clashes`]), safeguarding concerns awaiting lead review, referrals needing
//! follow-up, and incidents whose consent allows sharing but that are not yet marked shared.
//!
//! Every settling action is an ordinary change of the record's document ([`Store::change`]):
//! it is audited, sealed, queued for the hub and reaches the vans at their next sync.
//!
//! - [`Store::review_concern`] writes the concern's `review` (`by`, `at`, `outcome`), audited
//!   `concern.review`.
//! - [`Store::settle_clash`] writes the chosen value to one field; the new write supersedes
//!   every concurrent value, which resolves the automerge conflict. Audited `clash.settle`.
//! - [`Store::mark_incident_shared`] records that an incident was shared with the police or
//!   the national scheme, in the incident record's `shared` map, audited `incident.share`.

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ScalarValue};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use crate::api::RecordClash;
use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::model::{
    check_id, check_text, Concern, FollowUp, IncidentType, LegalBasis, Referral, ReferralStatus,
    ShareConsent, MAX_NOTE,
};
use crate::projection::{self, Target};
use crate::store::Store;

/// Who an incident can be shared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareRecipient {
    /// The police.
    Police,
    /// The national reporting scheme (e.g. National Ugly Mugs).
    National,
}

impl ShareRecipient {
    /// `police` / `national`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ShareRecipient::Police => "police",
            ShareRecipient::National => "national",
        }
    }
}

impl std::str::FromStr for ShareRecipient {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "police" => Ok(ShareRecipient::Police),
            "national" => Ok(ShareRecipient::National),
            _ => Err(Error::invalid("share.recipient", "must be one of: police, national")),
        }
    }
}

/// A referral of a night that still needs following up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferralFollowUp {
    /// The encounter it was made in.
    pub encounter: String,
    /// When the encounter happened.
    pub at: Option<DateTime<Utc>>,
    /// Zone of the encounter.
    pub zone: String,
    /// Person profile, if linked.
    pub person: Option<String>,
    /// Referrals still open (offered or made, not attended/declined).
    pub open_referrals: Vec<Referral>,
    /// The follow-up, if one is set and not done.
    pub follow_up: Option<FollowUp>,
}

/// An incident whose consent allows sharing, not yet marked shared with everyone it may go to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentToShare {
    /// Incident id.
    pub id: String,
    /// When it happened.
    pub when: DateTime<Utc>,
    /// Type.
    pub kind: IncidentType,
    /// Consent to share with the police.
    pub share_police: ShareConsent,
    /// Consent to share with the national scheme.
    pub share_national: ShareConsent,
    /// Recipients consent allows but that are not yet marked shared.
    pub pending: Vec<ShareRecipient>,
}

/// What needs the lead after a night.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewList {
    /// The night.
    pub night: NaiveDate,
    /// Same-field clashes to settle (across every document held).
    pub clashes: Vec<RecordClash>,
    /// Safeguarding concerns of the night awaiting lead review.
    pub concerns: Vec<Concern>,
    /// Referrals and follow-ups of the night still open.
    pub referrals: Vec<ReferralFollowUp>,
    /// Incidents of the night that may be shared but are not yet marked shared.
    pub incidents: Vec<IncidentToShare>,
}

impl ReviewList {
    /// Number of items needing the lead.
    pub fn len(&self) -> usize {
        self.clashes.len() + self.concerns.len() + self.referrals.len() + self.incidents.len()
    }

    /// Nothing needs the lead.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn to_scalar(v: &Json) -> ScalarValue {
    match v {
        Json::Null => ScalarValue::Null,
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => ScalarValue::Int(i),
            None => ScalarValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        _ => ScalarValue::Null,
    }
}

/// Writes `value` at `key` of `obj`, superseding every concurrent value there.
fn put_json<T: Transactable>(tx: &mut T, obj: &automerge::ObjId, key: &str, value: &Json) -> Result<()> {
    if value.is_object() || value.is_array() {
        tx.batch_create_object(obj, key, &doc::to_hydrate(value), false)?;
    } else {
        tx.put(obj, key, to_scalar(value))?;
    }
    Ok(())
}

fn not_found(kind: &'static str, id: &str) -> Error {
    Error::NotFound { kind, id: id.to_string() }
}

impl Store {
    fn doc_of(&self, table: &str, kind: &'static str, id: &str) -> Result<String> {
        use rusqlite::OptionalExtension;
        self.conn
            .prepare_cached(&format!("SELECT doc_id FROM {table} WHERE id = ?1"))?
            .query_row([id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| not_found(kind, id))
    }

    /// Marks a safeguarding concern as reviewed by the current user, with an outcome
    /// (short text, no names). A second review replaces the first.
    pub fn review_concern(&mut self, id: &str, outcome: &str) -> Result<Concern> {
        check_id("concern.id", id)?;
        let outcome = outcome.trim();
        check_text("review.outcome", outcome, MAX_NOTE, false)?;
        let doc_id = self.doc_of("concerns", "concern", id)?;
        let review = serde_json::json!({ "by": self.user.clone(), "at": Utc::now().to_rfc3339(), "outcome": outcome });
        let idc = id.to_string();
        self.change(
            &doc_id,
            DocKind::Shift,
            false,
            |tx| {
                let m = doc::root_map(tx, "concerns")?;
                let r = doc::child_map(tx, &m, &idc)?.ok_or_else(|| not_found("concern", &idc))?;
                put_json(tx, &r, "review", &review)
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Shift, d, Target::Record("concerns", id), s),
            &[("concern.review", "concern", Some(id))],
        )?;
        let data: String = self.conn.query_row("SELECT data FROM concerns WHERE id = ?1", [id], |r| r.get(0))?;
        Ok(serde_json::from_str(&data)?)
    }

    /// Settles a same-field clash: writes `value` to the field at `path` of the record
    /// (`entity` is `encounter`, `concern`, `incident`, `person`, `shift` or `alert`, as in
    /// [`Store::clashes`]). The write supersedes every concurrent value, so the clash is gone
    /// here and, after sync, on every device. The value must be valid for the field: the
    /// record is re-projected and a value the model rejects fails with nothing written.
    pub fn settle_clash(&mut self, entity: &str, id: &str, path: &[String], value: Json) -> Result<()> {
        check_id("clash.id", id)?;
        if path.is_empty() || path.iter().any(|p| p.is_empty() || p.len() > 64) {
            return Err(Error::invalid("clash.path", "give the field path as listed in the review (e.g. zone or consent.record)"));
        }
        if path.len() == 1 && path[0] == "id" {
            return Err(Error::invalid("clash.path", "the id of a record cannot be changed"));
        }
        let (table, kind, root, record_map): (&str, DocKind, &str, Option<&'static str>) = match entity {
            "encounter" => ("encounters", DocKind::Shift, "encounters", Some("encounters")),
            "concern" => ("concerns", DocKind::Shift, "concerns", Some("concerns")),
            "incident" => ("incidents", DocKind::Shift, "incidents", Some("incidents")),
            "person" => ("people", DocKind::Person, "profile", None),
            "shift" => ("shifts", DocKind::Shift, "shift", None),
            "alert" => ("alerts", DocKind::Alert, "alert", None),
            _ => {
                return Err(Error::invalid(
                    "clash.entity",
                    "must be one of: encounter, concern, incident, person, shift, alert",
                ))
            }
        };
        let kind_name: &'static str = match entity {
            "encounter" => "encounter",
            "concern" => "concern",
            "incident" => "incident",
            "person" => "person",
            "shift" => "shift",
            _ => "alert",
        };
        let doc_id = self.doc_of(table, kind_name, id)?;
        let idc = id.to_string();
        let path_owned: Vec<String> = path.to_vec();
        let target = match (record_map, kind) {
            (Some(m), _) => Target::Record(m, id),
            (None, DocKind::Shift) => Target::ShiftMeta,
            _ => Target::All,
        };
        self.change(
            &doc_id,
            kind,
            false,
            |tx| {
                let mut obj = doc::root_map(tx, root)?;
                if record_map.is_some() {
                    obj = doc::child_map(tx, &obj, &idc)?.ok_or_else(|| not_found(kind_name, &idc))?;
                }
                let (last, parents) = path_owned.split_last().expect("non-empty path");
                for p in parents {
                    obj = match tx.get(&obj, p.as_str())? {
                        Some((automerge::Value::Object(ObjType::Map), o)) => o,
                        _ => return Err(Error::invalid("clash.path", "no such field in this record")),
                    };
                }
                if tx.get(&obj, last.as_str())?.is_none() && tx.get_all(&obj, last.as_str())?.is_empty() {
                    // Settling only chooses among existing fields; it never adds one.
                    return Err(Error::invalid("clash.path", "no such field in this record"));
                }
                put_json(tx, &obj, last, &value)
            },
            |t, d, s| projection::project(t, &doc_id, kind, d, target, s),
            &[("clash.settle", kind_name, Some(id))],
        )
    }

    /// Records that an incident was shared with `recipient`. Consent must allow it (full or
    /// anonymised), unless a lawful basis for sharing without consent is given.
    pub fn mark_incident_shared(&mut self, id: &str, recipient: ShareRecipient, legal_basis: Option<LegalBasis>) -> Result<()> {
        check_id("incident.id", id)?;
        let doc_id = self.doc_of("incidents", "incident", id)?;
        let data: String = self.conn.query_row("SELECT data FROM incidents WHERE id = ?1", [id], |r| r.get(0))?;
        let inc: crate::model::Incident = serde_json::from_str(&data)?;
        let consent = match recipient {
            ShareRecipient::Police => inc.input.share_police,
            ShareRecipient::National => inc.input.share_national,
        };
        if consent == ShareConsent::None && legal_basis.is_none() {
            return Err(Error::invalid(
                "share.legal_basis",
                "consent to share with this recipient was not given; give a lawful basis to share without consent, or do not share",
            ));
        }
        let mut entry = serde_json::json!({ "by": self.user.clone(), "at": Utc::now().to_rfc3339(), "consent": consent.as_str() });
        if let Some(b) = legal_basis {
            entry["legal_basis"] = Json::String(b.as_str().to_string());
        }
        let idc = id.to_string();
        let who = recipient.as_str();
        self.change(
            &doc_id,
            DocKind::Shift,
            false,
            |tx| {
                let m = doc::root_map(tx, "incidents")?;
                let r = doc::child_map(tx, &m, &idc)?.ok_or_else(|| not_found("incident", &idc))?;
                let shared = match doc::child_map(tx, &r, "shared")? {
                    Some(s) => s,
                    None => tx.put_object(&r, "shared", ObjType::Map)?,
                };
                put_json(tx, &shared, who, &entry)
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Shift, d, Target::Record("incidents", id), s),
            &[("incident.share", "incident", Some(id))],
        )
    }

    /// Recipients an incident has been marked shared with.
    pub fn incident_shared_with(&mut self, id: &str) -> Result<Vec<ShareRecipient>> {
        check_id("incident.id", id)?;
        let doc_id = self.doc_of("incidents", "incident", id)?;
        let d = self.load_doc(&doc_id)?;
        let out = (|| -> Result<Vec<ShareRecipient>> {
            let m = doc::root_map(&d, "incidents")?;
            let r = doc::child_map(&d, &m, id)?.ok_or_else(|| not_found("incident", id))?;
            let mut out = vec![];
            if let Some(s) = doc::child_map(&d, &r, "shared")? {
                for k in d.keys(&s) {
                    if let Ok(r) = k.parse::<ShareRecipient>() {
                        out.push(r);
                    }
                }
            }
            Ok(out)
        })();
        self.cache_doc(&doc_id, d);
        out
    }

    /// What needs the lead for `night`.
    pub fn review_items(&mut self, night: NaiveDate) -> Result<ReviewList> {
        let clashes = self.clashes()?;
        let concerns = self.list_concerns(night)?.into_iter().filter(|c| c.review.is_none()).collect();
        let mut referrals = vec![];
        for e in self.list_night(night)? {
            let open: Vec<Referral> = e
                .input
                .referrals
                .iter()
                .filter(|r| matches!(r.status, ReferralStatus::Offered | ReferralStatus::Made))
                .cloned()
                .collect();
            let follow = e.input.follow_up.clone().filter(|f| !f.done);
            if !open.is_empty() || follow.is_some() {
                referrals.push(ReferralFollowUp {
                    encounter: e.id.clone(),
                    at: e.input.at,
                    zone: e.input.zone.clone(),
                    person: e.input.person.clone(),
                    open_referrals: open,
                    follow_up: follow,
                });
            }
        }
        let mut incidents = vec![];
        for i in self.list_incidents(night)? {
            let done = self.incident_shared_with(&i.id)?;
            let mut pending = vec![];
            if i.input.share_police != ShareConsent::None && !done.contains(&ShareRecipient::Police) {
                pending.push(ShareRecipient::Police);
            }
            if i.input.share_national != ShareConsent::None && !done.contains(&ShareRecipient::National) {
                pending.push(ShareRecipient::National);
            }
            if !pending.is_empty() {
                incidents.push(IncidentToShare {
                    id: i.id,
                    when: i.input.when,
                    kind: i.input.kind,
                    share_police: i.input.share_police,
                    share_national: i.input.share_national,
                    pending,
                });
            }
        }
        Ok(ReviewList { night, clashes, concerns, referrals, incidents })
    }
}
