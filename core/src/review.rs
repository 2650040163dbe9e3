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
//!   the national scheme: a disclosure in the incident's log ([`crate::consent`]), audited
//!   `incident.share`.
//!
//! The clashes listed are those of the night's own records (its shifts, encounters,
//! concerns and incidents, the people seen that night, alerts issued that night, and the team
//! settings); [`ReviewList::other_clashes`] counts the records of other nights that have one,
//! and [`Store::review_items_all_clashes`] lists them all.

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ScalarValue};
use rusqlite::OptionalExtension;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use crate::api::RecordClash;
use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::model::{
    check_id, check_text, night_of, Concern, FollowUp, IncidentType, LegalBasis, Referral,
    ReferralStatus, ShareConsent, MAX_NOTE,
};
use crate::projection::{self, Target};
use crate::store::Store;

pub use crate::model::ShareRecipient;
pub use crate::consent::{DisclosureEntry, ShareError};

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
    /// Sealed fields of the encounter this device cannot open (e.g. `follow_up.what`: the
    /// person was erased or has not synced yet); show them as
    /// [`crate::fieldseal::WITHHELD_MARKER`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
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
    /// Shares logged for the night's incidents and concerns (for the lead to see; they need
    /// no action and are not counted in [`ReviewList::len`]).
    pub disclosures: Vec<DisclosureEntry>,
    /// Records of other nights that have clashes (not listed here).
    pub other_clashes: usize,
    /// Alerts due for review under the retention policy (past their review date, or older
    /// than `alert_review_days`; see [`crate::retention`]). Alerts are never deleted silently.
    pub alerts_due: Vec<crate::retention::AlertDue>,
}

impl ReviewList {
    /// Number of items needing the lead.
    pub fn len(&self) -> usize {
        self.clashes.len() + self.concerns.len() + self.referrals.len() + self.incidents.len() + self.alerts_due.len()
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
    /// The document holding record `id` of projection `table` (`NotFound { kind }` if none).
    pub(crate) fn doc_of(&self, table: &str, kind: &'static str, id: &str) -> Result<String> {
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
        // The outcome is free text about the person: sealed under their key when linked.
        let (_, outcome) = self.seal_settle_value("concern", id, &["review".into(), "outcome".into()], Json::String(outcome.to_string()))?;
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
        self.open_row(crate::fieldseal::RecordKind::Concern, &data)
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
        // A sealed field of a person's record is written sealed again (fieldseal.rs).
        let (path, value) = self.seal_settle_value(entity, id, path, value)?;
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

    /// Records that an incident was shared with `recipient` (police or national scheme): a
    /// disclosure in the incident's log, audited `incident.share`. Consent must cover it, or a
    /// lawful basis must be given on a lead device; see [`Store::share_incident`] for the
    /// typed refusal (here converted: no consent and no basis is [`Error::Invalid`] on
    /// `share.legal_basis`, a member device is [`Error::State`]).
    pub fn mark_incident_shared(&mut self, id: &str, recipient: ShareRecipient, legal_basis: Option<LegalBasis>) -> Result<()> {
        self.share_incident(id, recipient, legal_basis).map(|_| ()).map_err(Error::from)
    }

    /// Recipients an incident has been shared with (from its disclosure log), each once.
    pub fn incident_shared_with(&mut self, id: &str) -> Result<Vec<ShareRecipient>> {
        let inc = self.incident_record(id)?;
        let mut out: Vec<ShareRecipient> = inc.disclosures.values().map(|d| d.recipient).collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Whether the clash in record (`entity`, `id`) belongs to `night`.
    fn clash_of_night(&self, entity: &str, id: &str, night: NaiveDate) -> Result<bool> {
        let n = night.to_string();
        let one = |sql: &str| -> Result<Option<String>> {
            Ok(self.conn.prepare_cached(sql)?.query_row([id], |r| r.get::<_, String>(0)).optional()?)
        };
        let is = |v: Option<String>| v.map(|v| v == n);
        Ok(match entity {
            "encounter" => is(one("SELECT night FROM encounters WHERE id = ?1")?).unwrap_or(true),
            "concern" => is(one("SELECT night FROM concerns WHERE id = ?1")?).unwrap_or(true),
            "incident" => is(one("SELECT night FROM incidents WHERE id = ?1")?).unwrap_or(true),
            "shift" => is(one("SELECT night FROM shifts WHERE id = ?1")?).unwrap_or(true),
            "person" => {
                let seen: i64 = self.conn.prepare_cached(
                    "SELECT count(*) FROM encounters WHERE person_id = ?1 AND night = ?2",
                )?.query_row([id, n.as_str()], |r| r.get(0))?;
                let created = one("SELECT created_at FROM people WHERE id = ?1")?
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| night_of(t.with_timezone(&Utc), self.settings.utc_offset_minutes) == night);
                seen > 0 || created.unwrap_or(false)
            }
            "alert" => one("SELECT created_at FROM alerts WHERE id = ?1")?
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| night_of(t.with_timezone(&Utc), self.settings.utc_offset_minutes) == night)
                .unwrap_or(true),
            // Team settings concern every night.
            _ => true,
        })
    }

    /// What needs the lead for `night`, with every clash held listed (not only the night's).
    pub fn review_items_all_clashes(&mut self, night: NaiveDate) -> Result<ReviewList> {
        let mut list = self.review_items(night)?;
        list.clashes = self.clashes()?;
        list.other_clashes = 0;
        Ok(list)
    }

    /// What needs the lead for `night`.
    pub fn review_items(&mut self, night: NaiveDate) -> Result<ReviewList> {
        let mut clashes = vec![];
        let mut other_clashes = 0;
        for c in self.clashes()? {
            if self.clash_of_night(&c.entity, &c.id, night)? {
                clashes.push(c);
            } else {
                other_clashes += 1;
            }
        }
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
                    withheld: e.withheld.clone(),
                });
            }
        }
        let mut incidents = vec![];
        for i in self.list_incidents(night)? {
            let done: Vec<ShareRecipient> = i.disclosures.values().map(|d| d.recipient).collect();
            let mut pending = vec![];
            for (who, flag) in [(ShareRecipient::Police, i.input.share_police), (ShareRecipient::National, i.input.share_national)] {
                // Consent as it stands now: the incident's flag, unless the person's purpose
                // consent was stated later (a withdrawal takes the incident off the list).
                let profile = match i.input.person.as_deref() {
                    Some(p) => match self.purpose_consent(p, who.purpose()) {
                        Ok(c) => c,
                        Err(Error::NotFound { .. }) => None,
                        Err(e) => return Err(e),
                    },
                    None => None,
                };
                let covered = crate::consent::consent_covers(flag != ShareConsent::None, i.input.when, profile.as_ref());
                if covered && !done.contains(&who) {
                    pending.push(who);
                }
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
        let disclosures = self.disclosures(night, night)?;
        let alerts_due = self.alerts_due_for_review(Utc::now())?;
        Ok(ReviewList { night, clashes, concerns, referrals, incidents, disclosures, other_clashes, alerts_due })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EncounterInput, ShiftStart};
    use crate::{StoreKey, StoreOptions, TeamSetup, Unlock};

    /// Makes a same-field clash on an encounter's zone, as two devices editing it offline
    /// would: two concurrent writes merged into the stored document.
    fn clash_zone(s: &mut Store, id: &str) {
        let doc_id = s.doc_of("encounters", "encounter", id).unwrap();
        let mut d = s.load_doc(&doc_id).unwrap();
        let heads = d.get_heads();
        let mut other = d.fork();
        for (doc, zone) in [(&mut d, "test-zone-b"), (&mut other, "test-zone-c")] {
            let mut tx = doc.transaction();
            let m = doc::root_map(&tx, "encounters").unwrap();
            let r = doc::child_map(&tx, &m, id).unwrap().unwrap();
            tx.put(&r, "zone", zone).unwrap();
            tx.commit();
        }
        d.merge(&mut other).unwrap();
        let chunk = d.save_after(&heads);
        let t = s.conn.transaction().unwrap();
        crate::store::store_chunk(&t, &doc_id, &chunk, &d).unwrap();
        projection::project(&t, &doc_id, DocKind::Shift, &d, Target::All, &s.settings).unwrap();
        t.commit().unwrap();
        s.docs.clear();
    }

    #[test]
    fn review_of_a_night_lists_only_that_nights_clashes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create(
            dir.path(),
            Unlock::Key(StoreKey::generate()),
            TeamSetup::new("Test Team", &["test-zone-a", "test-zone-b", "test-zone-c"]),
            &StoreOptions::default(),
        )
        .unwrap();
        let mut ids = vec![];
        let mut nights = vec![];
        for days in [3, 2] {
            let at = Utc::now() - chrono::Duration::days(days);
            let sh = s
                .start_shift(ShiftStart { van: "Test Van".into(), crew: vec!["staff-test".into()], zones: vec!["test-zone-a".into()], at: Some(at) })
                .unwrap();
            let mut e = EncounterInput::new("test-zone-a");
            e.at = Some(at + chrono::Duration::minutes(10));
            ids.push(s.log_encounter(e).unwrap().id);
            nights.push(sh.night);
            s.end_shift_at(Some(at + chrono::Duration::hours(1))).unwrap();
        }
        clash_zone(&mut s, &ids[0]);
        assert_eq!(s.clashes().unwrap().len(), 1);
        let first = s.review_items(nights[0]).unwrap();
        assert_eq!(first.clashes.len(), 1);
        assert_eq!(first.clashes[0].id, ids[0]);
        assert_eq!(first.other_clashes, 0);
        let second = s.review_items(nights[1]).unwrap();
        assert!(second.clashes.is_empty(), "another night's clash is not listed");
        assert_eq!(second.other_clashes, 1, "but it is counted");
        let all = s.review_items_all_clashes(nights[1]).unwrap();
        assert_eq!(all.clashes.len(), 1);
    }
}
