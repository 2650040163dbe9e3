//! Records and enums crossing the FFI, and their conversions to and from the core's types.
//!
//! Conventions (stable; the shells rely on them):
//! - **Controlled lists are strings** holding the core's stable snake_case wire names
//!   (`"street"`, `"condoms"`, `"under_18_suspected"`...). The core validates them; an unknown
//!   value is `OutreachError.Invalid { field, reason }` naming the field. Pickers get the allowed
//!   values from `controlled_values(ControlledList)`, so a value added to a list in the core
//!   reaches the apps without changing this API (uniffi checks API checksums at load time: an
//!   enum would make every list change a breaking change of the library).
//! - **Times are `i64` milliseconds since the Unix epoch (UTC)** (`*_ms` fields): no
//!   `java.time` (needs Android API 26+) and no time-zone ambiguity.
//! - **Dates are `YYYY-MM-DD` strings** (`night`, follow-up `due`, alert `from`/`review`).
//! - **Ids are strings** (UUIDs for records, hex for devices/teams); they carry no personal data.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use outreach_core as core;

use crate::error::{invalid, OutreachError};

type R<T> = Result<T, OutreachError>;

// ---- helpers ----------------------------------------------------------------------------------

pub(crate) fn time_from_ms(field: &str, ms: i64) -> R<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| invalid(field, "time out of range"))
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn date(field: &str, s: &str) -> R<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| invalid(field, "must be a date YYYY-MM-DD"))
}

fn opt_date(field: &str, s: Option<String>) -> R<Option<NaiveDate>> {
    s.map(|s| date(field, &s)).transpose()
}

fn list<T: FromStr<Err = core::Error>>(field: &str, s: &str) -> R<T> {
    T::from_str(s).map_err(|e| match e {
        core::Error::Invalid { reason, .. } => OutreachError::Invalid {
            field: field.to_string(),
            reason,
        },
        other => other.into(),
    })
}

fn lists<T: FromStr<Err = core::Error>>(field: &str, v: Vec<String>) -> R<Vec<T>> {
    v.iter().map(|s| list(field, s)).collect()
}

fn names<T: std::fmt::Display>(v: &[T]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

// ---- controlled lists -------------------------------------------------------------------------

/// The controlled lists whose values the shells offer in pickers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ControlledList {
    Setting,
    ContactType,
    Interpreter,
    Service,
    ReferralDestination,
    ReferralMode,
    ReferralStatus,
    NameQuality,
    AgeBand,
    Gender,
    Living,
    ConcernCategory,
    Indicator,
    Consent,
    LegalBasis,
    IncidentType,
    ShareConsent,
    Risk,
    IdentifierKind,
}

/// Every wire value of a controlled list, in the core's order. Zones are not here: they are the
/// team's own list (`OutreachStore.settings().zones`).
#[uniffi::export]
pub fn controlled_values(list: ControlledList) -> Result<Vec<String>, OutreachError> {
    use ControlledList as L;
    let v: Vec<&str> = match list {
        L::Setting => core::Setting::names(),
        L::ContactType => core::ContactType::names(),
        L::Interpreter => core::Interpreter::names(),
        L::Service => core::Service::names(),
        L::ReferralDestination => core::ReferralDestination::names(),
        L::ReferralMode => core::ReferralMode::names(),
        L::ReferralStatus => core::ReferralStatus::names(),
        L::NameQuality => core::NameQuality::names(),
        L::AgeBand => core::AgeBand::names(),
        L::Gender => core::Gender::names(),
        L::Living => core::Living::names(),
        L::ConcernCategory => core::ConcernCategory::names(),
        L::Indicator => core::Indicator::names(),
        L::Consent => core::Consent::names(),
        L::LegalBasis => core::LegalBasis::names(),
        L::IncidentType => core::IncidentType::names(),
        L::ShareConsent => core::ShareConsent::names(),
        L::Risk => core::Risk::names(),
        L::IdentifierKind => core::IdentifierKind::names(),
    };
    Ok(v.into_iter().map(String::from).collect())
}

// ---- team -------------------------------------------------------------------------------------

/// What a new team store starts with (`OutreachStore.create`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TeamSetupRecord {
    pub team: String,
    /// The team's zones (named beats); at least one.
    pub zones: Vec<String>,
    /// ISO country for national phone numbers, e.g. `GB`.
    pub default_country: String,
    /// Offset from UTC in minutes (assigns times to nights).
    pub utc_offset_minutes: i32,
}

impl From<TeamSetupRecord> for core::TeamSetup {
    fn from(t: TeamSetupRecord) -> Self {
        core::TeamSetup {
            team: t.team,
            zones: t.zones,
            default_country: t.default_country,
            utc_offset_minutes: t.utc_offset_minutes,
        }
    }
}

/// The team settings this device holds (empty on a newly enrolled device until its first sync).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TeamSettingsRecord {
    pub team: String,
    pub zones: Vec<String>,
    pub default_country: String,
    pub utc_offset_minutes: i32,
}

impl From<&core::Settings> for TeamSettingsRecord {
    fn from(s: &core::Settings) -> Self {
        TeamSettingsRecord {
            team: s.team.clone(),
            zones: s.zones.clone(),
            default_country: s.default_country.clone(),
            utc_offset_minutes: s.utc_offset_minutes,
        }
    }
}

// ---- shifts -----------------------------------------------------------------------------------

/// Starting a shift.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ShiftStartRecord {
    pub van: String,
    /// Staff handles (no full names needed); at least one.
    pub crew: Vec<String>,
    /// Zones the van covers tonight (each one of the team's zones).
    pub zones: Vec<String>,
    /// Start time; `null` = now.
    pub at_ms: Option<i64>,
}

impl TryFrom<ShiftStartRecord> for core::ShiftStart {
    type Error = OutreachError;
    fn try_from(s: ShiftStartRecord) -> R<Self> {
        Ok(core::ShiftStart {
            van: s.van,
            crew: s.crew,
            zones: s.zones,
            at: s.at_ms.map(|t| time_from_ms("shift.at", t)).transpose()?,
        })
    }
}

/// A device-shift.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ShiftRecord {
    pub id: String,
    pub device: String,
    pub van: String,
    pub crew: Vec<String>,
    pub zones: Vec<String>,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    /// The night it belongs to (`YYYY-MM-DD` of the evening it started).
    pub night: String,
}

impl From<core::Shift> for ShiftRecord {
    fn from(s: core::Shift) -> Self {
        ShiftRecord {
            id: s.id,
            device: s.device,
            van: s.van,
            crew: s.crew,
            zones: s.zones,
            started_at_ms: ms(s.started_at),
            ended_at_ms: s.ended_at.map(ms),
            night: s.night.to_string(),
        }
    }
}

// ---- encounters -------------------------------------------------------------------------------

/// Consent flags of an encounter.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct ConsentFlagsRecord {
    pub record: bool,
    pub follow_up_contact: bool,
    pub share_with_partners: bool,
}

/// One service given, with its count (1..=10000). `service`: `ControlledList.SERVICE`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ServiceCountRecord {
    pub service: String,
    pub count: u32,
}

/// One referral. `destination`/`mode`/`status`: `REFERRAL_DESTINATION`/`_MODE`/`_STATUS`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReferralRecord {
    pub destination: String,
    pub mode: String,
    pub consent: bool,
    pub status: String,
}

/// A follow-up to do.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FollowUpRecord {
    /// `YYYY-MM-DD`, optional.
    pub due: Option<String>,
    pub what: String,
    pub done: bool,
}

/// Everything recorded about one contact; used to log and to amend (an amend passes the whole
/// new content; only changed fields are written).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EncounterInputRecord {
    /// When; `null` = now (log) or unchanged (amend).
    pub at_ms: Option<i64>,
    /// One of the team's zones.
    pub zone: String,
    /// `ControlledList.SETTING`.
    pub setting: String,
    /// `ControlledList.CONTACT_TYPE`.
    pub contact_type: String,
    /// Person profile id; `null` for an anonymous contact.
    pub person: Option<String>,
    /// Staff handles present; empty = the shift's crew.
    pub workers: Vec<String>,
    pub language: Option<String>,
    /// `ControlledList.INTERPRETER`.
    pub interpreter: String,
    pub consent: ConsentFlagsRecord,
    /// At most one entry per service.
    pub services: Vec<ServiceCountRecord>,
    pub referrals: Vec<ReferralRecord>,
    pub follow_up: Option<FollowUpRecord>,
    /// Short note (≤ 500 characters). Keep identifying detail out of it.
    pub note: Option<String>,
}

impl TryFrom<EncounterInputRecord> for core::EncounterInput {
    type Error = OutreachError;
    fn try_from(e: EncounterInputRecord) -> R<Self> {
        let mut services = BTreeMap::new();
        for s in e.services {
            let k: core::Service = list("encounter.services", &s.service)?;
            if services.insert(k, s.count).is_some() {
                return Err(invalid("encounter.services", "each service at most once"));
            }
        }
        let referrals = e
            .referrals
            .into_iter()
            .map(|r| {
                Ok(core::Referral {
                    destination: list("encounter.referrals.destination", &r.destination)?,
                    mode: list("encounter.referrals.mode", &r.mode)?,
                    consent: r.consent,
                    status: list("encounter.referrals.status", &r.status)?,
                })
            })
            .collect::<R<Vec<_>>>()?;
        let follow_up = e
            .follow_up
            .map(|f| {
                Ok::<_, OutreachError>(core::FollowUp {
                    due: opt_date("encounter.follow_up.due", f.due)?,
                    what: f.what,
                    done: f.done,
                })
            })
            .transpose()?;
        Ok(core::EncounterInput {
            at: e
                .at_ms
                .map(|t| time_from_ms("encounter.at", t))
                .transpose()?,
            zone: e.zone,
            setting: list("encounter.setting", &e.setting)?,
            contact_type: list("encounter.contact_type", &e.contact_type)?,
            person: e.person,
            workers: e.workers,
            language: e.language,
            interpreter: list("encounter.interpreter", &e.interpreter)?,
            consent: core::ConsentFlags {
                record: e.consent.record,
                follow_up_contact: e.consent.follow_up_contact,
                share_with_partners: e.consent.share_with_partners,
            },
            services,
            referrals,
            follow_up,
            note: e.note,
        })
    }
}

impl From<core::EncounterInput> for EncounterInputRecord {
    fn from(e: core::EncounterInput) -> Self {
        EncounterInputRecord {
            at_ms: e.at.map(ms),
            zone: e.zone,
            setting: e.setting.to_string(),
            contact_type: e.contact_type.to_string(),
            person: e.person,
            workers: e.workers,
            language: e.language,
            interpreter: e.interpreter.to_string(),
            consent: ConsentFlagsRecord {
                record: e.consent.record,
                follow_up_contact: e.consent.follow_up_contact,
                share_with_partners: e.consent.share_with_partners,
            },
            services: e
                .services
                .into_iter()
                .map(|(k, n)| ServiceCountRecord {
                    service: k.to_string(),
                    count: n,
                })
                .collect(),
            referrals: e
                .referrals
                .into_iter()
                .map(|r| ReferralRecord {
                    destination: r.destination.to_string(),
                    mode: r.mode.to_string(),
                    consent: r.consent,
                    status: r.status.to_string(),
                })
                .collect(),
            follow_up: e.follow_up.map(|f| FollowUpRecord {
                due: f.due.map(|d| d.to_string()),
                what: f.what,
                done: f.done,
            }),
            note: e.note,
        }
    }
}

/// A stored encounter (`input.at_ms` is always set).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EncounterRecord {
    pub id: String,
    pub shift: String,
    pub device: String,
    pub input: EncounterInputRecord,
}

impl From<core::Encounter> for EncounterRecord {
    fn from(e: core::Encounter) -> Self {
        EncounterRecord {
            id: e.id,
            shift: e.shift,
            device: e.device,
            input: e.input.into(),
        }
    }
}

// ---- people -----------------------------------------------------------------------------------

/// A pseudonymous person profile's content (no legal names, no dates of birth).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PersonInputRecord {
    pub code_name: String,
    /// `ControlledList.NAME_QUALITY`.
    pub name_quality: String,
    /// `ControlledList.AGE_BAND`.
    pub age_band: String,
    /// `ControlledList.GENDER`.
    pub gender: String,
    /// Each `ControlledList.SETTING`.
    pub settings: Vec<String>,
    pub first_language: Option<String>,
    /// `ControlledList.LIVING`.
    pub living: String,
    pub injecting: bool,
    /// `null` = unknown.
    pub gp_registered: Option<bool>,
    pub note: Option<String>,
}

impl TryFrom<PersonInputRecord> for core::PersonInput {
    type Error = OutreachError;
    fn try_from(p: PersonInputRecord) -> R<Self> {
        Ok(core::PersonInput {
            code_name: p.code_name,
            name_quality: list("person.name_quality", &p.name_quality)?,
            age_band: list("person.age_band", &p.age_band)?,
            gender: list("person.gender", &p.gender)?,
            settings: lists("person.settings", p.settings)?,
            first_language: p.first_language,
            living: list("person.living", &p.living)?,
            flags: core::PersonFlags {
                injecting: p.injecting,
                gp_registered: p.gp_registered,
            },
            note: p.note,
        })
    }
}

impl From<core::PersonInput> for PersonInputRecord {
    fn from(p: core::PersonInput) -> Self {
        PersonInputRecord {
            code_name: p.code_name,
            name_quality: p.name_quality.to_string(),
            age_band: p.age_band.to_string(),
            gender: p.gender.to_string(),
            settings: names(&p.settings),
            first_language: p.first_language,
            living: p.living.to_string(),
            injecting: p.flags.injecting,
            gp_registered: p.flags.gp_registered,
            note: p.note,
        }
    }
}

/// A stored person profile.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PersonRecord {
    pub id: String,
    pub input: PersonInputRecord,
    /// Set when a lead merged this profile into another.
    pub merged_into: Option<String>,
    pub created_at_ms: i64,
}

impl From<core::Person> for PersonRecord {
    fn from(p: core::Person) -> Self {
        PersonRecord {
            id: p.id,
            input: p.input.into(),
            merged_into: p.merged_into,
            created_at_ms: ms(p.created_at),
        }
    }
}

/// A code-name search hit (best first).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PersonMatchRecord {
    pub id: String,
    pub code_name: String,
    pub age_band: String,
    pub merged_into: Option<String>,
    /// Similarity 0..=1.
    pub score: f64,
}

impl From<core::PersonMatch> for PersonMatchRecord {
    fn from(m: core::PersonMatch) -> Self {
        PersonMatchRecord {
            id: m.id,
            code_name: m.code_name,
            age_band: m.age_band.to_string(),
            merged_into: m.merged_into,
            score: m.score,
        }
    }
}

// ---- concerns and incidents -------------------------------------------------------------------

/// A safeguarding concern.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConcernInputRecord {
    /// `ControlledList.CONCERN_CATEGORY`.
    pub category: String,
    /// Each `ControlledList.INDICATOR`.
    pub indicators: Vec<String>,
    pub encounter: Option<String>,
    pub person: Option<String>,
    /// `ControlledList.CONSENT`.
    pub consent: String,
    /// What was done (short).
    pub action: String,
    pub shared_without_consent: bool,
    /// `ControlledList.LEGAL_BASIS`; required when shared without consent.
    pub legal_basis: Option<String>,
}

impl TryFrom<ConcernInputRecord> for core::ConcernInput {
    type Error = OutreachError;
    fn try_from(c: ConcernInputRecord) -> R<Self> {
        Ok(core::ConcernInput {
            category: list("concern.category", &c.category)?,
            indicators: lists("concern.indicators", c.indicators)?,
            encounter: c.encounter,
            person: c.person,
            consent: list("concern.consent", &c.consent)?,
            action: c.action,
            shared_without_consent: c.shared_without_consent,
            legal_basis: c
                .legal_basis
                .map(|b| list("concern.legal_basis", &b))
                .transpose()?,
        })
    }
}

/// A stored concern.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConcernRecord {
    pub id: String,
    pub shift: String,
    pub at_ms: i64,
    pub input: ConcernInputRecord,
    /// Whether a lead has reviewed it.
    pub reviewed: bool,
}

impl From<core::Concern> for ConcernRecord {
    fn from(c: core::Concern) -> Self {
        let i = c.input;
        ConcernRecord {
            id: c.id,
            shift: c.shift,
            at_ms: ms(c.at),
            input: ConcernInputRecord {
                category: i.category.to_string(),
                indicators: names(&i.indicators),
                encounter: i.encounter,
                person: i.person,
                consent: i.consent.to_string(),
                action: i.action,
                shared_without_consent: i.shared_without_consent,
                legal_basis: i.legal_basis.map(|b| b.to_string()),
            },
            reviewed: c.review.is_some(),
        }
    }
}

/// A violence / crime incident report.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct IncidentInputRecord {
    pub when_ms: i64,
    /// A zone or a short description of place (no addresses).
    pub place: String,
    /// `ControlledList.INCIDENT_TYPE`.
    pub kind: String,
    pub injuries: Option<String>,
    pub perpetrator: Option<String>,
    pub police_reported: bool,
    /// Only with `police_reported`.
    pub crime_reference: Option<String>,
    /// `ControlledList.SHARE_CONSENT`.
    pub share_police: String,
    /// `ControlledList.SHARE_CONSENT`.
    pub share_national: String,
    pub support: Option<String>,
    pub person: Option<String>,
    pub encounter: Option<String>,
}

impl TryFrom<IncidentInputRecord> for core::IncidentInput {
    type Error = OutreachError;
    fn try_from(i: IncidentInputRecord) -> R<Self> {
        Ok(core::IncidentInput {
            when: time_from_ms("incident.when", i.when_ms)?,
            place: i.place,
            kind: list("incident.kind", &i.kind)?,
            injuries: i.injuries,
            perpetrator: i.perpetrator,
            police_reported: i.police_reported,
            crime_reference: i.crime_reference,
            share_police: list("incident.share_police", &i.share_police)?,
            share_national: list("incident.share_national", &i.share_national)?,
            support: i.support,
            person: i.person,
            encounter: i.encounter,
        })
    }
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct IncidentRecord {
    pub id: String,
    pub shift: String,
    pub input: IncidentInputRecord,
}

impl From<core::Incident> for IncidentRecord {
    fn from(x: core::Incident) -> Self {
        let i = x.input;
        IncidentRecord {
            id: x.id,
            shift: x.shift,
            input: IncidentInputRecord {
                when_ms: ms(i.when),
                place: i.place,
                kind: i.kind.to_string(),
                injuries: i.injuries,
                perpetrator: i.perpetrator,
                police_reported: i.police_reported,
                crime_reference: i.crime_reference,
                share_police: i.share_police.to_string(),
                share_national: i.share_national.to_string(),
                support: i.support,
                person: i.person,
                encounter: i.encounter,
            },
        }
    }
}

// ---- alerts -----------------------------------------------------------------------------------

/// A dangerous-individual warning. Identifiers are normalised by the core before they are
/// stored (E.164 phones, upper-case plates...).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AlertInputRecord {
    pub description: String,
    pub plates: Vec<String>,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub usernames: Vec<String>,
    pub area: Option<String>,
    /// `ControlledList.RISK`.
    pub risk: String,
    /// `YYYY-MM-DD`.
    pub from: Option<String>,
    /// `YYYY-MM-DD`.
    pub review: Option<String>,
}

impl TryFrom<AlertInputRecord> for core::AlertInput {
    type Error = OutreachError;
    fn try_from(a: AlertInputRecord) -> R<Self> {
        Ok(core::AlertInput {
            description: a.description,
            plates: a.plates,
            phones: a.phones,
            emails: a.emails,
            usernames: a.usernames,
            area: a.area,
            risk: list("alert.risk", &a.risk)?,
            from: opt_date("alert.from", a.from)?,
            review: opt_date("alert.review", a.review)?,
        })
    }
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AlertRecord {
    pub id: String,
    pub created_at_ms: i64,
    pub input: AlertInputRecord,
}

impl From<core::Alert> for AlertRecord {
    fn from(a: core::Alert) -> Self {
        let i = a.input;
        AlertRecord {
            id: a.id,
            created_at_ms: ms(a.created_at),
            input: AlertInputRecord {
                description: i.description,
                plates: i.plates,
                phones: i.phones,
                emails: i.emails,
                usernames: i.usernames,
                area: i.area,
                risk: i.risk.to_string(),
                from: i.from.map(|d| d.to_string()),
                review: i.review.map(|d| d.to_string()),
            },
        }
    }
}

/// What an alert check returns: what staff need to act, never the matched value.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AlertMatchRecord {
    pub alert: String,
    pub risk: String,
    pub description: String,
    pub area: Option<String>,
}

impl From<core::AlertMatch> for AlertMatchRecord {
    fn from(m: core::AlertMatch) -> Self {
        AlertMatchRecord {
            alert: m.alert,
            risk: m.risk.to_string(),
            description: m.description,
            area: m.area,
        }
    }
}

/// Kind of identifier checked against the alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum IdentifierKind {
    Phone,
    Plate,
    Email,
    Username,
}

impl From<IdentifierKind> for core::IdentifierKind {
    fn from(k: IdentifierKind) -> Self {
        match k {
            IdentifierKind::Phone => core::IdentifierKind::Phone,
            IdentifierKind::Plate => core::IdentifierKind::Plate,
            IdentifierKind::Email => core::IdentifierKind::Email,
            IdentifierKind::Username => core::IdentifierKind::Username,
        }
    }
}

// ---- audit ------------------------------------------------------------------------------------

/// One audit event (who did what to which record, when).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AuditEventRecord {
    pub seq: i64,
    /// RFC 3339.
    pub at: String,
    pub device: String,
    pub actor: String,
    /// `encounter.create`, `person.view`, ...
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
}

impl From<core::AuditEvent> for AuditEventRecord {
    fn from(a: core::AuditEvent) -> Self {
        AuditEventRecord {
            seq: a.seq,
            at: a.at,
            device: a.device,
            actor: a.actor,
            action: a.action,
            entity: a.entity,
            entity_id: a.entity_id,
        }
    }
}

// ---- sync -------------------------------------------------------------------------------------

/// A device's role in its team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeviceRole {
    /// Outreach staff: logs, syncs.
    Member,
    /// Lead: also invites (and revokes) devices.
    Lead,
}

impl From<DeviceRole> for core::sync::Role {
    fn from(r: DeviceRole) -> Self {
        match r {
            DeviceRole::Member => core::sync::Role::Member,
            DeviceRole::Lead => core::sync::Role::Lead,
        }
    }
}

impl From<core::sync::Role> for DeviceRole {
    fn from(r: core::sync::Role) -> Self {
        match r {
            core::sync::Role::Member => DeviceRole::Member,
            core::sync::Role::Lead => DeviceRole::Lead,
        }
    }
}

/// Which half of a sync is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    Push,
    Pull,
}

/// Progress of a sync, reported after each request or page.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncProgressRecord {
    pub phase: SyncPhase,
    pub chunks_done: u64,
    /// Known for the push; `null` for the pull (the hub's total is unknown until the end).
    pub chunks_total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
}

impl From<core::SyncProgress> for SyncProgressRecord {
    fn from(p: core::SyncProgress) -> Self {
        SyncProgressRecord {
            phase: match p.phase {
                core::sync::SyncPhase::Push => SyncPhase::Push,
                core::sync::SyncPhase::Pull => SyncPhase::Pull,
            },
            chunks_done: p.chunks_done,
            chunks_total: p.chunks_total,
            bytes_done: p.bytes_done,
            bytes_total: p.bytes_total,
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncSummary {
    pub pushed_chunks: u64,
    pub pushed_bytes: u64,
    pub pushed_keys: u64,
    pub pulled_chunks: u64,
    pub pulled_bytes: u64,
    pub skipped_own: u64,
    /// Chunks held sealed until their data key arrives.
    pub waiting: u64,
    pub pages: u64,
    pub docs_updated: u64,
    pub cursor: u64,
}

impl From<core::SyncReport> for SyncSummary {
    fn from(r: core::SyncReport) -> Self {
        SyncSummary {
            pushed_chunks: r.pushed_chunks,
            pushed_bytes: r.pushed_bytes,
            pushed_keys: r.pushed_keys,
            pulled_chunks: r.pulled_chunks,
            pulled_bytes: r.pulled_bytes,
            skipped_own: r.skipped_own,
            waiting: r.waiting,
            pages: r.pages,
            docs_updated: r.docs_updated,
            cursor: r.cursor,
        }
    }
}

/// Where sync stands, for the status line.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncStatusRecord {
    pub last_success_ms: Option<i64>,
    pub last_attempt_ms: Option<i64>,
    /// Code of the last failure (`network`, `hub:revoked`, `cancelled`...); never personal data.
    pub last_error: Option<String>,
    /// Changes waiting to be pushed.
    pub outbox: u64,
    pub waiting_for_keys: u64,
    pub hub_url: Option<String>,
    /// Whether the hub knows this device.
    pub registered: bool,
    pub device_id: String,
    pub team_id: String,
    pub epoch: u64,
    pub cursor: u64,
}

impl From<core::SyncStatus> for SyncStatusRecord {
    fn from(s: core::SyncStatus) -> Self {
        SyncStatusRecord {
            last_success_ms: s.last_success.map(ms),
            last_attempt_ms: s.last_attempt.map(ms),
            last_error: s.last_error,
            outbox: s.outbox,
            waiting_for_keys: s.waiting_for_keys,
            hub_url: s.hub_url,
            registered: s.registered,
            device_id: s.device_id,
            team_id: s.team_id,
            epoch: s.epoch,
            cursor: s.cursor,
        }
    }
}
