//! Consent per purpose, and the disclosure log.
//!
//! **Consent per purpose.** A person profile holds, for each [`ConsentPurpose`], what the
//! person last said ([`ConsentState`]: given, refused, withdrawn), when, and who recorded it on
//! which device ([`Store::record_person_consent`], one synced change audited `person.consent`).
//! Records keep their own consent flags as before (an incident's `share_police` /
//! `share_national`, a concern's `consent` to referral, an encounter's flags).
//!
//! **Which consent decides.** For a share, the record's own flag was stated when the record was
//! made (an incident: its `when`; a concern: its `at`), the profile's purpose consent at its
//! own `at`. The newer statement decides ([`ConsentAtShare::covered`]); so a consent withdrawn
//! on the profile after the incident stops the share, and a consent given on a new incident
//! after an old refusal allows it. The profile consulted is the record's own person, or, when
//! that profile has nothing for the purpose, its canonical profile after merges.
//!
//! **Disclosure log.** Every share of an incident ([`Store::share_incident`]: police or the
//! national scheme) or of a safeguarding concern ([`Store::share_concern`]: also the local
//! authority's safeguarding team) writes a [`Disclosure`] into the record's own `disclosures`
//! map (keyed by a fresh UUIDv7, so shares logged on two devices at once both survive): to
//! whom, when, by which handle and device, the lawful basis given and the consent that stood.
//! It is one synced change audited `incident.share` / `concern.share`; the projection carries
//! it in the record's data, so review lists and report share counts follow it on every device
//! after sync.
//!
//! **Sharing without recorded consent** is refused with [`ShareError::ConsentNotRecorded`]
//! unless a lawful basis is given, and then with [`ShareError::NotLead`] unless this device is
//! a lead device of the team.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::ObjType;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::model::{
    check_id, Concern, ConsentAtShare, ConsentPurpose, ConsentState, Disclosure, Incident,
    LegalBasis, Person, PurposeConsent, ShareConsent, ShareRecipient,
};
use crate::projection::{self, Target};
use crate::store::Store;
use crate::sync::Role;

/// Why a share was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// Consent does not cover the share and no lawful basis was given.
    #[error("consent to share this {kind} with {recipient} is not recorded; record the person's consent first (outreach person consent), or have a lead share it without consent giving a lawful basis (--basis)")]
    ConsentNotRecorded {
        /// `incident` or `concern`.
        kind: &'static str,
        /// Who it was to go to.
        recipient: ShareRecipient,
    },
    /// Sharing without recorded consent needs a lead device.
    #[error("sharing without recorded consent needs a lead device; ask a team lead to log this share with its lawful basis")]
    NotLead,
    /// This kind of record does not go to that recipient.
    #[error("an {kind} cannot be shared with {recipient}; choose one of: {allowed}")]
    RecipientNotAllowed {
        /// `incident` or `concern`.
        kind: &'static str,
        /// The recipient asked for.
        recipient: ShareRecipient,
        /// The recipients allowed for this kind.
        allowed: &'static str,
    },
    /// Anything else (not found, invalid id, storage).
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<ShareError> for Error {
    fn from(e: ShareError) -> Self {
        match e {
            ShareError::Store(e) => e,
            e @ ShareError::ConsentNotRecorded { .. } => Error::invalid("share.legal_basis", e.to_string()),
            e @ ShareError::RecipientNotAllowed { .. } => Error::invalid("share.recipient", e.to_string()),
            e @ ShareError::NotLead => Error::State(e.to_string()),
        }
    }
}

/// One disclosure with the record it belongs to (for review lists, reports and exports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisclosureEntry {
    /// `incident` or `concern`.
    pub entity: &'static str,
    /// The record's id.
    pub record: String,
    /// The record's night.
    pub night: NaiveDate,
    /// The person the record is about, if linked.
    pub person: Option<String>,
    /// The disclosure.
    pub disclosure: Disclosure,
}

/// Whether the consent that stood covers a share: the newer of the record's flag (stated at
/// `record_time`) and the profile's purpose consent decides.
pub fn consent_covers(record_allows: bool, record_time: DateTime<Utc>, profile: Option<&PurposeConsent>) -> bool {
    match profile {
        Some(p) if p.at > record_time => p.state == ConsentState::Given,
        _ => record_allows,
    }
}

impl Store {
    /// Records what a person said about one purpose (given, refused or withdrawn), now, by
    /// the current user on this device. One synced change audited `person.consent`. Returns
    /// the profile as it now stands (read without a view audit).
    pub fn record_person_consent(&mut self, person: &str, purpose: ConsentPurpose, state: ConsentState) -> Result<Person> {
        check_id("person.id", person)?;
        let doc_id: String = self
            .conn
            .query_row("SELECT doc_id FROM people WHERE id = ?1", [person], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "person", id: person.to_string() })?;
        let entry = PurposeConsent { state, at: Utc::now(), by: self.user.clone(), device: self.device_id.clone() };
        let value = serde_json::to_value(&entry)?;
        let key = purpose.as_str();
        self.change(
            &doc_id,
            DocKind::Person,
            false,
            |tx| {
                let m = doc::root_map(tx, "profile")?;
                let consents = match doc::child_map(tx, &m, "consents")? {
                    Some(c) => c,
                    // A profile made before consents existed: create the map now.
                    None => tx.put_object(&m, "consents", ObjType::Map)?,
                };
                tx.batch_create_object(&consents, key, &doc::to_hydrate(&value), false)?;
                Ok(())
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Person, d, Target::All, s),
            &[("person.consent", "person", Some(person))],
        )?;
        self.person_for_edit(person)
    }

    /// The profile consent for `purpose` that applies to records of `person`: the profile's
    /// own, or else its canonical profile's.
    pub fn purpose_consent(&self, person: &str, purpose: ConsentPurpose) -> Result<Option<PurposeConsent>> {
        let own = self.person_for_edit(person)?;
        if let Some(c) = own.consents.get(&purpose) {
            return Ok(Some(c.clone()));
        }
        let canon = self.merge_map()?.canonical(person);
        if canon != person {
            if let Ok(p) = self.person_for_edit(&canon) {
                return Ok(p.consents.get(&purpose).cloned());
            }
        }
        Ok(None)
    }

    fn consent_at_share(
        &self,
        person: Option<&str>,
        record: &str,
        record_allows: bool,
        record_time: DateTime<Utc>,
        purpose: ConsentPurpose,
    ) -> Result<ConsentAtShare> {
        let profile = match person {
            Some(p) => match self.purpose_consent(p, purpose) {
                Ok(c) => c,
                // A profile erased or not held here: only the record's flag speaks.
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let covered = consent_covers(record_allows, record_time, profile.as_ref());
        Ok(ConsentAtShare { record: record.to_string(), profile, covered })
    }

    fn record_data(&self, table: &str, kind: &'static str, id: &str) -> Result<(String, String)> {
        self.conn
            .prepare_cached(&format!("SELECT doc_id, data FROM {table} WHERE id = ?1"))?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind, id: id.to_string() })
    }

    /// An incident's flags, links and disclosure log, from the projection (no audit). Sealed
    /// free-text fields may read as absent here: display through [`Store::list_incidents`].
    pub(crate) fn incident_record(&self, id: &str) -> Result<Incident> {
        check_id("incident.id", id)?;
        Ok(serde_json::from_str(&self.record_data("incidents", "incident", id)?.1)?)
    }

    /// A concern's flags, links and disclosure log, from the projection (no audit). Sealed
    /// free-text fields may read as absent here: display through [`Store::list_concerns`].
    #[allow(dead_code)]
    pub(crate) fn concern_record(&self, id: &str) -> Result<Concern> {
        check_id("concern.id", id)?;
        Ok(serde_json::from_str(&self.record_data("concerns", "concern", id)?.1)?)
    }

    /// Checks consent and role for a share and builds its disclosure entry.
    fn authorise_share(
        &self,
        kind: &'static str,
        recipient: ShareRecipient,
        basis: Option<LegalBasis>,
        consent: ConsentAtShare,
    ) -> Result<Disclosure, ShareError> {
        if !consent.covered {
            if basis.is_none() {
                return Err(ShareError::ConsentNotRecorded { kind, recipient });
            }
            if self.sync_role()? != Role::Lead {
                return Err(ShareError::NotLead);
            }
        }
        Ok(Disclosure {
            id: uuid::Uuid::now_v7().to_string(),
            recipient,
            at: Utc::now(),
            by: self.user.clone(),
            device: self.device_id.clone(),
            legal_basis: basis,
            consent,
        })
    }

    /// Writes a disclosure into the record `id` of the shift document's map `map`.
    fn write_disclosure(&mut self, doc_id: &str, map: &'static str, id: &str, d: &Disclosure, audit: (&str, &str)) -> Result<()> {
        let value = serde_json::to_value(d)?;
        let idc = id.to_string();
        let key = d.id.clone();
        let kind: &'static str = if map == "incidents" { "incident" } else { "concern" };
        self.change(
            doc_id,
            DocKind::Shift,
            false,
            |tx| {
                let m = doc::root_map(tx, map)?;
                let r = doc::child_map(tx, &m, &idc)?.ok_or_else(|| Error::NotFound { kind, id: idc.clone() })?;
                let log = match doc::child_map(tx, &r, "disclosures")? {
                    Some(l) => l,
                    // A record made before the log existed: create the map now.
                    None => tx.put_object(&r, "disclosures", ObjType::Map)?,
                };
                tx.batch_create_object(&log, key.as_str(), &doc::to_hydrate(&value), false)?;
                Ok(())
            },
            |t, doc_, s| projection::project(t, doc_id, DocKind::Shift, doc_, Target::Record(map, id), s),
            &[(audit.0, audit.1, Some(id))],
        )
    }

    /// Shares an incident with the police or the national reporting scheme and logs it.
    ///
    /// Consent (the incident's flag for that recipient, or the person's newer purpose
    /// consent) must cover it; otherwise a lawful basis must be given AND this must be a lead
    /// device. The disclosure (recipient, time, handle, device, basis, consent at the time) is
    /// written to the incident's record: one synced change audited `incident.share`.
    pub fn share_incident(&mut self, id: &str, recipient: ShareRecipient, basis: Option<LegalBasis>) -> Result<Disclosure, ShareError> {
        check_id("incident.id", id)?;
        if recipient == ShareRecipient::LocalAuthority {
            return Err(ShareError::RecipientNotAllowed { kind: "incident", recipient, allowed: "police, national" });
        }
        let (doc_id, data) = self.record_data("incidents", "incident", id)?;
        let inc: Incident = serde_json::from_str(&data).map_err(Error::from)?;
        let flag = match recipient {
            ShareRecipient::Police => inc.input.share_police,
            _ => inc.input.share_national,
        };
        let consent = self.consent_at_share(
            inc.input.person.as_deref(),
            flag.as_str(),
            flag != ShareConsent::None,
            inc.input.when,
            recipient.purpose(),
        )?;
        let d = self.authorise_share("incident", recipient, basis, consent)?;
        self.write_disclosure(&doc_id, "incidents", id, &d, ("incident.share", "incident"))?;
        Ok(d)
    }

    /// Shares a safeguarding concern with the police, the national scheme or the local
    /// authority's safeguarding team and logs it. Consent (the concern's consent to referral,
    /// or the person's newer purpose consent) must cover it; otherwise a lawful basis must be
    /// given AND this must be a lead device. One synced change audited `concern.share`.
    pub fn share_concern(&mut self, id: &str, recipient: ShareRecipient, basis: Option<LegalBasis>) -> Result<Disclosure, ShareError> {
        check_id("concern.id", id)?;
        let (doc_id, data) = self.record_data("concerns", "concern", id)?;
        let c: Concern = serde_json::from_str(&data).map_err(Error::from)?;
        let consent = self.consent_at_share(
            c.input.person.as_deref(),
            c.input.consent.as_str(),
            c.input.consent == crate::model::Consent::Given,
            c.at,
            recipient.purpose(),
        )?;
        let d = self.authorise_share("concern", recipient, basis, consent)?;
        self.write_disclosure(&doc_id, "concerns", id, &d, ("concern.share", "concern"))?;
        Ok(d)
    }

    /// Every disclosure logged on incidents and concerns of the nights `from..=to`, oldest
    /// first. Reads the records through the projection; writes nothing.
    pub fn disclosures(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<DisclosureEntry>> {
        let (f, t) = (from.to_string(), to.to_string());
        let mut out = vec![];
        for (table, entity) in [("incidents", "incident"), ("concerns", "concern")] {
            let mut st = self
                .conn
                .prepare_cached(&format!("SELECT id, night, person_id, data FROM {table} WHERE night >= ?1 AND night <= ?2"))?;
            let rows = st.query_map([&f, &t], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, String>(3)?))
            })?;
            for r in rows {
                let (id, night, person, data) = r?;
                let log = disclosures_in(&data)?;
                let night: NaiveDate = night.parse().map_err(|_| Error::Document("bad night".into()))?;
                for d in log.into_values() {
                    out.push(DisclosureEntry { entity, record: id.clone(), night, person: person.clone(), disclosure: d });
                }
            }
        }
        out.sort_by(|a, b| a.disclosure.at.cmp(&b.disclosure.at).then_with(|| a.disclosure.id.cmp(&b.disclosure.id)));
        Ok(out)
    }
}

/// The disclosure log inside a projected record's JSON (empty for a record without one).
pub(crate) fn disclosures_in(data: &str) -> Result<BTreeMap<String, Disclosure>> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        disclosures: BTreeMap<String, Disclosure>,
    }
    Ok(serde_json::from_str::<Only>(data)?.disclosures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pc(state: ConsentState, at: DateTime<Utc>) -> PurposeConsent {
        PurposeConsent { state, at, by: "staff-test".into(), device: "dev".into() }
    }

    #[test]
    fn the_newer_statement_decides() {
        let t0 = Utc::now() - chrono::Duration::days(10);
        let t1 = Utc::now();
        // No profile consent: the record's flag decides.
        assert!(consent_covers(true, t0, None));
        assert!(!consent_covers(false, t0, None));
        // Withdrawn on the profile after the record: no consent.
        assert!(!consent_covers(true, t0, Some(&pc(ConsentState::Withdrawn, t1))));
        assert!(!consent_covers(true, t0, Some(&pc(ConsentState::Refused, t1))));
        // Given on the profile after a record without consent: consent.
        assert!(consent_covers(false, t0, Some(&pc(ConsentState::Given, t1))));
        // An old refusal does not override a newer record that has consent.
        assert!(consent_covers(true, t1, Some(&pc(ConsentState::Refused, t0))));
        assert!(!consent_covers(false, t1, Some(&pc(ConsentState::Given, t0))));
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use crate::model::{IncidentInput, IncidentType, ShiftStart};
    use crate::{StoreKey, StoreOptions, TeamSetup, Unlock};

    #[test]
    fn a_member_device_cannot_share_without_consent_even_with_a_basis() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create(dir.path(), Unlock::Key(StoreKey::generate()), TeamSetup::new("Test Team", &["test-zone-a"]), &StoreOptions::default())
            .unwrap();
        s.start_shift(ShiftStart { van: "Test Van".into(), crew: vec!["staff-test".into()], zones: vec!["test-zone-a".into()], at: None })
            .unwrap();
        let id = s
            .record_incident(IncidentInput {
                when: Utc::now() - chrono::Duration::minutes(5),
                place: "test-zone-a".into(),
                kind: IncidentType::Threats,
                injuries: None,
                perpetrator: None,
                police_reported: false,
                crime_reference: None,
                share_police: ShareConsent::None,
                share_national: ShareConsent::Anonymised,
                support: None,
                person: None,
                encounter: None,
            })
            .unwrap()
            .id;
        // This device becomes a member (as an enrolled van phone is).
        s.sync.as_mut().unwrap().role = Role::Member;
        let outbox = s.outbox_len().unwrap();
        assert!(matches!(s.share_incident(&id, ShareRecipient::Police, Some(LegalBasis::VitalInterests)), Err(ShareError::NotLead)));
        assert!(matches!(s.share_incident(&id, ShareRecipient::Police, None), Err(ShareError::ConsentNotRecorded { .. })));
        assert_eq!(s.outbox_len().unwrap(), outbox, "a refused share writes nothing");
        // With consent a member may share.
        let d = s.share_incident(&id, ShareRecipient::National, None).unwrap();
        assert!(d.consent.covered);
        assert_eq!(d.consent.record, "anonymised");
    }
}
