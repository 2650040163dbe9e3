//! Record-level CSV export for the team lead (`outreach export`): one CSV per entity.
//!
//! Unlike reports, exports are **not anonymised**: they hold pseudonymous records (code names,
//! notes) and exist for the lead's own work. Every export writes an audit event (`export`, with
//! the entity as the record kind). Fields that a spreadsheet would run as a formula are
//! prefixed with `'`; lists are joined with `;`.

use chrono::NaiveDate;
use serde::Serialize;

use super::render::csv_field;
use crate::error::{Error, Result};
use crate::fieldseal::{self, FieldKeys, RecordKind, WITHHELD_MARKER};
use crate::model::*;
use crate::store::Store;

/// What can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportEntity {
    /// Device-shifts.
    Shifts,
    /// Encounters (one row each).
    Encounters,
    /// Services given (one row per encounter and service).
    Services,
    /// Referrals (one row per referral).
    Referrals,
    /// Person profiles, with merge edges and canonical ids.
    People,
    /// Safeguarding concerns.
    Concerns,
    /// Incidents.
    Incidents,
    /// Alerts.
    Alerts,
}

impl ExportEntity {
    /// Every entity, in the order `outreach export` writes them.
    pub const ALL: &'static [ExportEntity] = &[
        ExportEntity::Shifts,
        ExportEntity::Encounters,
        ExportEntity::Services,
        ExportEntity::Referrals,
        ExportEntity::People,
        ExportEntity::Concerns,
        ExportEntity::Incidents,
        ExportEntity::Alerts,
    ];

    /// Stable name (also the suggested file name without `.csv`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ExportEntity::Shifts => "shifts",
            ExportEntity::Encounters => "encounters",
            ExportEntity::Services => "services",
            ExportEntity::Referrals => "referrals",
            ExportEntity::People => "people",
            ExportEntity::Concerns => "concerns",
            ExportEntity::Incidents => "incidents",
            ExportEntity::Alerts => "alerts",
        }
    }
}

impl std::str::FromStr for ExportEntity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ExportEntity::ALL
            .iter()
            .copied()
            .find(|e| e.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                Error::invalid(
                    "export.entity",
                    format!(
                        "must be one of: {}",
                        ExportEntity::ALL
                            .iter()
                            .map(|e| e.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }
}

struct Csv(String);

impl Csv {
    fn new(header: &[&str]) -> Self {
        Csv(header.join(",") + "\n")
    }
    fn row(&mut self, fields: Vec<String>) {
        self.0.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        self.0.push('\n');
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_default()
}

/// A sealed field's cell: its text, or `[erased or not yet synced]` when this device cannot
/// open it (the record names it in `withheld`).
fn sealed_cell(withheld: &[String], field: &str, value: String) -> String {
    if withheld.iter().any(|w| w == field) {
        format!("[{WITHHELD_MARKER}]")
    } else {
        value
    }
}

fn join<T: AsRef<str>>(v: &[T]) -> String {
    v.iter().map(|x| x.as_ref()).collect::<Vec<_>>().join(";")
}

impl Store {
    /// One entity as CSV (with a header row). `nights` limits records that belong to a night
    /// (shifts, encounters, services, referrals, concerns, incidents) to that inclusive range;
    /// people and alerts are always exported whole. Audited (`export`, entity name, range).
    pub fn export_csv(
        &self,
        entity: ExportEntity,
        nights: Option<(NaiveDate, NaiveDate)>,
    ) -> Result<String> {
        let (from, to) = match nights {
            Some((f, t)) if t < f => {
                return Err(Error::invalid("export.to", "must not be before --from"))
            }
            Some((f, t)) => (f.to_string(), t.to_string()),
            None => ("0000-01-01".to_string(), "9999-12-31".to_string()),
        };
        let rows = |sql: &str| -> Result<Vec<(String, String)>> {
            let mut st = self.conn.prepare(sql)?;
            let r = st.query_map([&from, &to], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            Ok(r.collect::<rusqlite::Result<Vec<_>>>()?)
        };
        // Sealed person-linked fields are opened here, at export time (fieldseal.rs).
        let mut keys = FieldKeys::new(&self.conn);
        let out = match entity {
            ExportEntity::Shifts => {
                let mut c = Csv::new(&[
                    "id",
                    "night",
                    "van",
                    "device",
                    "crew",
                    "zones",
                    "started_at",
                    "ended_at",
                ]);
                for (_, d) in rows("SELECT night, data FROM shifts WHERE night >= ?1 AND night <= ?2 ORDER BY started_at")? {
                    let s: Shift = serde_json::from_str(&d)?;
                    c.row(vec![
                        s.id, s.night.to_string(), s.van, s.device, join(&s.crew), join(&s.zones), s.started_at.to_rfc3339(),
                        opt(&s.ended_at.map(|t| t.to_rfc3339())),
                    ]);
                }
                c.0
            }
            ExportEntity::Encounters | ExportEntity::Services | ExportEntity::Referrals => {
                let merges = self.merge_map()?;
                let mut enc = Csv::new(&[
                    "id",
                    "night",
                    "at",
                    "shift",
                    "device",
                    "zone",
                    "setting",
                    "contact_type",
                    "person",
                    "canonical_person",
                    "workers",
                    "language",
                    "interpreter",
                    "consent_record",
                    "consent_follow_up",
                    "consent_share",
                    "services",
                    "referrals",
                    "follow_up_due",
                    "follow_up",
                    "follow_up_done",
                    "note",
                ]);
                let mut svc = Csv::new(&["encounter", "night", "service", "count"]);
                let mut refs = Csv::new(&[
                    "encounter",
                    "night",
                    "index",
                    "destination",
                    "mode",
                    "consent",
                    "status",
                ]);
                for (night, d) in rows("SELECT night, data FROM encounters WHERE night >= ?1 AND night <= ?2 ORDER BY at, id")? {
                    let e: Encounter = fieldseal::open_record(RecordKind::Encounter, &d, &mut keys)?;
                    let w = &e.withheld;
                    let i = &e.input;
                    for (s, n) in &i.services {
                        svc.row(vec![e.id.clone(), night.clone(), s.as_str().into(), n.to_string()]);
                    }
                    for (k, r) in i.referrals.iter().enumerate() {
                        refs.row(vec![
                            e.id.clone(), night.clone(), k.to_string(), r.destination.as_str().into(), r.mode.as_str().into(),
                            r.consent.to_string(), r.status.as_str().into(),
                        ]);
                    }
                    enc.row(vec![
                        e.id.clone(), night.clone(), opt(&i.at.map(|t| t.to_rfc3339())), e.shift.clone(), e.device.clone(),
                        i.zone.clone(), i.setting.as_str().into(), i.contact_type.as_str().into(), opt(&i.person),
                        opt(&i.person.as_ref().map(|p| merges.canonical(p))), join(&i.workers), opt(&i.language),
                        i.interpreter.as_str().into(), i.consent.record.to_string(), i.consent.follow_up_contact.to_string(),
                        i.consent.share_with_partners.to_string(),
                        i.services.iter().map(|(s, n)| format!("{s}={n}")).collect::<Vec<_>>().join(";"),
                        i.referrals.len().to_string(), opt(&i.follow_up.as_ref().and_then(|f| f.due)),
                        sealed_cell(w, "follow_up.what", opt(&i.follow_up.as_ref().map(|f| f.what.clone()))),
                        opt(&i.follow_up.as_ref().map(|f| f.done)),
                        sealed_cell(w, "note", opt(&i.note)),
                    ]);
                }
                match entity {
                    ExportEntity::Services => svc.0,
                    ExportEntity::Referrals => refs.0,
                    _ => enc.0,
                }
            }
            ExportEntity::People => {
                let merges = self.merge_map()?;
                let mut c = Csv::new(&[
                    "id",
                    "code_name",
                    "name_quality",
                    "age_band",
                    "gender",
                    "settings",
                    "first_language",
                    "living",
                    "injecting",
                    "gp_registered",
                    "merged_into",
                    "canonical",
                    "created_at",
                    "first_seen",
                    "last_seen",
                    "note",
                ]);
                let mut st = self.conn.prepare(
                    "SELECT p.data, (SELECT min(at) FROM encounters e WHERE e.person_id = p.id),
                            (SELECT max(at) FROM encounters e WHERE e.person_id = p.id)
                     FROM people p ORDER BY p.created_at, p.id",
                )?;
                let r = st.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })?;
                for row in r {
                    let (d, first, last) = row?;
                    let p: Person = serde_json::from_str(&d)?;
                    let i = &p.input;
                    c.row(vec![
                        p.id.clone(),
                        i.code_name.clone(),
                        i.name_quality.as_str().into(),
                        i.age_band.as_str().into(),
                        i.gender.as_str().into(),
                        join(&i.settings.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
                        opt(&i.first_language),
                        i.living.as_str().into(),
                        i.flags.injecting.to_string(),
                        opt(&i.flags.gp_registered),
                        opt(&p.merged_into),
                        merges.canonical(&p.id),
                        p.created_at.to_rfc3339(),
                        opt(&first),
                        opt(&last),
                        opt(&i.note),
                    ]);
                }
                c.0
            }
            ExportEntity::Concerns => {
                let mut c = Csv::new(&[
                    "id",
                    "night",
                    "at",
                    "shift",
                    "category",
                    "indicators",
                    "encounter",
                    "person",
                    "consent",
                    "action",
                    "shared_without_consent",
                    "legal_basis",
                    "reviewed_by",
                    "reviewed_at",
                    "review_outcome",
                ]);
                for (night, d) in rows("SELECT night, data FROM concerns WHERE night >= ?1 AND night <= ?2 ORDER BY at, id")? {
                    let x: Concern = fieldseal::open_record(RecordKind::Concern, &d, &mut keys)?;
                    let w = &x.withheld;
                    let i = &x.input;
                    c.row(vec![
                        x.id.clone(), night, x.at.to_rfc3339(), x.shift.clone(), i.category.as_str().into(),
                        join(&i.indicators.iter().map(|s| s.as_str()).collect::<Vec<_>>()), opt(&i.encounter), opt(&i.person),
                        i.consent.as_str().into(), sealed_cell(w, "action", i.action.clone()), i.shared_without_consent.to_string(),
                        opt(&i.legal_basis.map(|b| b.as_str())), opt(&x.review.as_ref().map(|r| r.by.clone())),
                        opt(&x.review.as_ref().map(|r| r.at.to_rfc3339())), sealed_cell(w, "review.outcome", opt(&x.review.as_ref().map(|r| r.outcome.clone()))),
                    ]);
                }
                c.0
            }
            ExportEntity::Incidents => {
                let mut c = Csv::new(&[
                    "id",
                    "night",
                    "when",
                    "shift",
                    "place",
                    "kind",
                    "injuries",
                    "perpetrator",
                    "police_reported",
                    "crime_reference",
                    "share_police",
                    "share_national",
                    "support",
                    "person",
                    "encounter",
                ]);
                for (night, d) in rows("SELECT night, data FROM incidents WHERE night >= ?1 AND night <= ?2 ORDER BY at, id")? {
                    let x: Incident = fieldseal::open_record(RecordKind::Incident, &d, &mut keys)?;
                    let w = &x.withheld;
                    let i = &x.input;
                    c.row(vec![
                        x.id.clone(), night, i.when.to_rfc3339(), x.shift.clone(), i.place.clone(), i.kind.as_str().into(),
                        sealed_cell(w, "injuries", opt(&i.injuries)), sealed_cell(w, "perpetrator", opt(&i.perpetrator)),
                        i.police_reported.to_string(), sealed_cell(w, "crime_reference", opt(&i.crime_reference)),
                        i.share_police.as_str().into(), i.share_national.as_str().into(), sealed_cell(w, "support", opt(&i.support)), opt(&i.person),
                        opt(&i.encounter),
                    ]);
                }
                c.0
            }
            ExportEntity::Alerts => {
                let mut c = Csv::new(&[
                    "id",
                    "created_at",
                    "risk",
                    "description",
                    "area",
                    "from",
                    "review",
                    "plates",
                    "phones",
                    "emails",
                    "usernames",
                ]);
                for a in self.list_alerts()? {
                    let i = &a.input;
                    c.row(vec![
                        a.id.clone(),
                        a.created_at.to_rfc3339(),
                        i.risk.as_str().into(),
                        i.description.clone(),
                        opt(&i.area),
                        opt(&i.from),
                        opt(&i.review),
                        join(&i.plates),
                        join(&i.phones),
                        join(&i.emails),
                        join(&i.usernames),
                    ]);
                }
                c.0
            }
        };
        let range = nights.map(|(f, t)| format!("{f}..{t}"));
        self.audit("export", entity.as_str(), range.as_deref())?;
        Ok(out)
    }
}
