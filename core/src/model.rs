//! The outreach domain: what a van records.
//!
//! Every input type has a `validate` step that names the failing field. Enumerations are
//! controlled lists (their wire names are stable snake_case strings); zones are a controlled list
//! kept in the team settings.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest short note on an encounter, concern action or incident (characters).
pub const MAX_NOTE: usize = 500;
/// Longest short text field (names, zones, van, crew handles, languages).
pub const MAX_SHORT: usize = 60;
/// Most of any one service given in one encounter.
pub const MAX_SERVICE_COUNT: u32 = 10_000;
/// Most items in any list field.
pub const MAX_ITEMS: usize = 32;

macro_rules! controlled {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[doc = concat!("`", $s, "`")] #[serde(rename = $s)] $var),+ }
        impl $name {
            /// Every value of this controlled list.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// Stable wire name.
            pub fn as_str(&self) -> &'static str { match self { $($name::$var => $s),+ } }
            /// Every wire name, for help texts and errors.
            pub fn names() -> Vec<&'static str> { Self::ALL.iter().map(|v| v.as_str()).collect() }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                let k = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
                $(if k == $s { return Ok($name::$var); })+
                Err(Error::invalid(stringify!($name), format!("must be one of: {}", Self::names().join(", "))))
            }
        }
    };
}

controlled!(
    /// Where the contact happened.
    Setting { Street = "street", Indoor = "indoor", Sauna = "sauna_parlour", Online = "online_arranged", Van = "van", Phone = "phone", Other = "other" }
);
controlled!(
    /// Kind of contact.
    ContactType { Brief = "brief", Full = "full", Clinical = "clinical", Crisis = "crisis", Remote = "remote" }
);
controlled!(
    /// Interpreting used in the contact.
    Interpreter { None = "none", Staff = "staff", InPerson = "in_person", Telephone = "telephone", Peer = "peer" }
);
controlled!(
    /// Services given in an encounter; each is given with a count.
    Service {
        Condoms = "condoms", Lube = "lube", NeedlesOut = "needles_out", EquipmentReturned = "equipment_returned",
        Naloxone = "naloxone", AttackAlarm = "attack_alarm", Food = "food", Clothing = "clothing",
        HotDrink = "hot_drink", TestOffered = "test_offered", TestDone = "test_done",
        Vaccination = "vaccination", WoundCare = "wound_care", Advice = "advice",
    }
);
controlled!(
    /// Where a referral goes.
    ReferralDestination {
        SexualHealth = "sexual_health", DrugService = "drug_service", Gp = "gp", Housing = "housing",
        MentalHealth = "mental_health", Police = "police", Isva = "isva", Idva = "idva",
        Legal = "legal", Immigration = "immigration_advice", ModernSlavery = "modern_slavery",
        Benefits = "benefits", Other = "other",
    }
);
controlled!(
    /// How a referral is made.
    ReferralMode { Signposted = "signposted", Accompanied = "accompanied", Direct = "direct_referral" }
);
controlled!(
    /// Where a referral stands.
    ReferralStatus { Offered = "offered", Made = "made", Attended = "attended", Declined = "declined", Lost = "lost_contact" }
);
controlled!(
    /// How reliable a recorded name is.
    NameQuality { Street = "street_name", Given = "given_name", Code = "code_only", Unknown = "unknown" }
);
controlled!(
    /// Age band (no dates of birth are held).
    AgeBand { Under18 = "under_18", A18 = "18_24", A25 = "25_34", A35 = "35_44", A45 = "45_54", A55 = "55_plus", Unknown = "unknown" }
);
controlled!(
    /// Gender identity as the person states it.
    Gender { Woman = "woman", Man = "man", TransWoman = "trans_woman", TransMan = "trans_man", NonBinary = "non_binary", Other = "other", NotSaid = "not_said" }
);
controlled!(
    /// Living situation.
    Living { Stable = "stable", Temporary = "temporary", Hostel = "hostel", RoughSleeping = "rough_sleeping", Unknown = "unknown" }
);
controlled!(
    /// Safeguarding concern category.
    ConcernCategory { Under18 = "under_18_suspected", AdultAtRisk = "adult_at_risk", DomesticAbuse = "domestic_abuse", Exploitation = "exploitation_modern_slavery" }
);
controlled!(
    /// Indicators on the safeguarding checklist.
    Indicator {
        Controlled = "controlled_by_other", NoDocuments = "no_id_documents", Debt = "debt_bondage",
        Moved = "moved_between_places", Injuries = "unexplained_injuries", Fearful = "fearful_or_coached",
        Young = "appears_young", NoLanguage = "no_local_language", Substance = "substance_coercion",
        Housing = "housing_tied_to_work", Other = "other",
    }
);
controlled!(
    /// Consent state for a referral or share.
    Consent { Given = "given", Refused = "refused", NotAsked = "not_asked", Unable = "unable" }
);
controlled!(
    /// Lawful basis when information is shared without consent.
    LegalBasis { VitalInterests = "vital_interests", ChildProtection = "child_protection", CrimePrevention = "crime_prevention", CourtOrder = "court_order", PublicTask = "public_task" }
);
controlled!(
    /// Type of incident (violence or crime against the person).
    IncidentType {
        PhysicalAssault = "physical_assault", SexualAssault = "sexual_assault", Rape = "rape", Robbery = "robbery",
        Threats = "threats", Harassment = "harassment", Stealthing = "condom_removal", NonPayment = "non_payment",
        HateCrime = "hate_crime", Other = "other",
    }
);
controlled!(
    /// Consent to share an incident report with a recipient.
    ShareConsent { Full = "full", Anonymised = "anonymised", None = "none" }
);
controlled!(
    /// Risk level of an alert.
    Risk { Low = "low", Medium = "medium", High = "high" }
);
controlled!(
    /// Kind of identifier checked against alerts.
    IdentifierKind { Phone = "phone", Plate = "plate", Email = "email", Username = "username" }
);

/// Consent flags recorded with an encounter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentFlags {
    /// The person agreed to a record being kept.
    #[serde(default)]
    pub record: bool,
    /// The person agreed to be contacted for follow-up.
    #[serde(default)]
    pub follow_up_contact: bool,
    /// The person agreed to information being shared with partner services.
    #[serde(default)]
    pub share_with_partners: bool,
}

/// One referral made in an encounter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// Where to.
    pub destination: ReferralDestination,
    /// How.
    pub mode: ReferralMode,
    /// Whether the person consented.
    pub consent: bool,
    /// Where it stands.
    pub status: ReferralStatus,
}

/// A follow-up to do after an encounter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// By when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    /// What (short).
    pub what: String,
    /// Done yet.
    #[serde(default)]
    pub done: bool,
}

/// Everything recorded about one contact. Used both to log and to amend (an amend passes the
/// whole new state; only changed fields become CRDT operations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncounterInput {
    /// When it happened (defaults to now when logging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// Named beat; must be one of the team's zones. No raw GPS.
    pub zone: String,
    /// Setting.
    pub setting: Setting,
    /// Contact type.
    pub contact_type: ContactType,
    /// The person's profile id; `None` for an anonymous contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Staff handles present (defaults to the shift crew).
    #[serde(default)]
    pub workers: Vec<String>,
    /// Language used (short code or name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Interpreting.
    #[serde(default = "default_interpreter")]
    pub interpreter: Interpreter,
    /// Consent flags.
    #[serde(default)]
    pub consent: ConsentFlags,
    /// Services with counts.
    #[serde(default)]
    pub services: BTreeMap<Service, u32>,
    /// Referrals.
    #[serde(default)]
    pub referrals: Vec<Referral>,
    /// Follow-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
    /// Short note (at most [`MAX_NOTE`] characters). Keep identifying detail out of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn default_interpreter() -> Interpreter {
    Interpreter::None
}

impl EncounterInput {
    /// A minimal encounter in a zone: anonymous, brief, street.
    pub fn new(zone: impl Into<String>) -> Self {
        EncounterInput {
            at: None,
            zone: zone.into(),
            setting: Setting::Street,
            contact_type: ContactType::Brief,
            person: None,
            workers: vec![],
            language: None,
            interpreter: Interpreter::None,
            consent: ConsentFlags::default(),
            services: BTreeMap::new(),
            referrals: vec![],
            follow_up: None,
            note: None,
        }
    }

    /// Checks every field; `zones` is the team's controlled list.
    pub fn validate(&self, zones: &[String]) -> Result<()> {
        check_zone("encounter.zone", &self.zone, zones)?;
        check_list("encounter.workers", &self.workers, MAX_SHORT)?;
        check_opt_short("encounter.language", self.language.as_deref())?;
        if let Some(p) = &self.person {
            check_id("encounter.person", p)?;
        }
        if self.services.len() > Service::ALL.len() {
            return Err(Error::invalid("encounter.services", "too many entries"));
        }
        for n in self.services.values() {
            if *n == 0 || *n > MAX_SERVICE_COUNT {
                return Err(Error::invalid(
                    "encounter.services",
                    format!("each count must be between 1 and {MAX_SERVICE_COUNT}"),
                ));
            }
        }
        if self.referrals.len() > MAX_ITEMS {
            return Err(Error::invalid("encounter.referrals", format!("at most {MAX_ITEMS}")));
        }
        if let Some(f) = &self.follow_up {
            check_text("encounter.follow_up.what", &f.what, MAX_NOTE, false)?;
        }
        check_opt_text("encounter.note", self.note.as_deref(), MAX_NOTE)?;
        check_time("encounter.at", self.at)?;
        Ok(())
    }
}

/// An encounter as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encounter {
    /// UUIDv7.
    pub id: String,
    /// The device-shift it belongs to.
    pub shift: String,
    /// The device that logged it.
    pub device: String,
    /// The recorded content (`input.at` is always set on a stored encounter).
    #[serde(flatten)]
    pub input: EncounterInput,    /// Sealed free-text fields this device cannot open (named as in
    /// [`crate::fieldseal::RecordKind::fields`], e.g. `note`): the person's profile was erased,
    /// or has not reached this device yet. Those fields read as absent (a required one as an
    /// empty string); show them as [`crate::fieldseal::WITHHELD_MARKER`]. Never stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
}

/// Starting a shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftStart {
    /// Van name or number.
    pub van: String,
    /// Staff handles on the crew (no full names needed).
    pub crew: Vec<String>,
    /// Zones the van will cover (each one of the team's zones).
    pub zones: Vec<String>,
    /// Start time (defaults to now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

impl ShiftStart {
    /// Checks every field.
    pub fn validate(&self, zones: &[String]) -> Result<()> {
        check_text("shift.van", &self.van, MAX_SHORT, false)?;
        if self.crew.is_empty() {
            return Err(Error::invalid("shift.crew", "name at least one crew member"));
        }
        check_list("shift.crew", &self.crew, MAX_SHORT)?;
        if self.zones.is_empty() {
            return Err(Error::invalid("shift.zones", "name at least one zone"));
        }
        for z in &self.zones {
            check_zone("shift.zones", z, zones)?;
        }
        check_time("shift.at", self.at)?;
        Ok(())
    }
}

impl Encounter {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        self.input.at.unwrap_or_default()
    }
}

/// A device-shift as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    /// Shift id (UUIDv7).
    pub id: String,
    /// Device that ran it.
    pub device: String,
    /// Van.
    pub van: String,
    /// Crew handles.
    pub crew: Vec<String>,
    /// Zones covered.
    pub zones: Vec<String>,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Ended, if it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// The night it belongs to (date the evening started).
    pub night: NaiveDate,
}

/// Flags on a person profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonFlags {
    /// Injects drugs.
    #[serde(default)]
    pub injecting: bool,
    /// Registered with a GP (unknown if `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gp_registered: Option<bool>,
}

/// A pseudonymous person profile (no legal names, no dates of birth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonInput {
    /// Street or code name the person chose.
    pub code_name: String,
    /// How reliable the name is.
    #[serde(default = "default_quality")]
    pub name_quality: NameQuality,
    /// Age band.
    #[serde(default = "default_age")]
    pub age_band: AgeBand,
    /// Gender identity.
    #[serde(default = "default_gender")]
    pub gender: Gender,
    /// Settings the person works in.
    #[serde(default)]
    pub settings: Vec<Setting>,
    /// First language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_language: Option<String>,
    /// Living situation.
    #[serde(default = "default_living")]
    pub living: Living,
    /// Flags.
    #[serde(default)]
    pub flags: PersonFlags,
    /// Short note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn default_quality() -> NameQuality {
    NameQuality::Street
}
fn default_age() -> AgeBand {
    AgeBand::Unknown
}
fn default_gender() -> Gender {
    Gender::NotSaid
}
fn default_living() -> Living {
    Living::Unknown
}

impl PersonInput {
    /// A profile with only a code name.
    pub fn new(code_name: impl Into<String>) -> Self {
        PersonInput {
            code_name: code_name.into(),
            name_quality: NameQuality::Street,
            age_band: AgeBand::Unknown,
            gender: Gender::NotSaid,
            settings: vec![],
            first_language: None,
            living: Living::Unknown,
            flags: PersonFlags::default(),
            note: None,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_text("person.code_name", &self.code_name, MAX_SHORT, false)?;
        if self.settings.len() > Setting::ALL.len() {
            return Err(Error::invalid("person.settings", "too many entries"));
        }
        check_opt_short("person.first_language", self.first_language.as_deref())?;
        check_opt_text("person.note", self.note.as_deref(), MAX_NOTE)?;
        Ok(())
    }
}

/// A person profile as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Random id.
    pub id: String,
    /// Content.
    #[serde(flatten)]
    pub input: PersonInput,
    /// Set when a lead merged this profile into another (an edge, undoable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// Keyed hash (hex HMAC-SHA256 under the team's identifying-code key) of the optional
    /// identifying code the person chose to give; the code itself is never stored. Set with
    /// [`crate::Store::set_id_code`]; used only to suggest duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_code_hash: Option<String>,
    /// Consent per purpose, as the person last stated it (see [`ConsentPurpose`]). Recorded
    /// with [`crate::Store::record_person_consent`].
    // Always written (even empty) so the map exists from the profile's first change and
    // purposes recorded concurrently on two devices merge instead of hiding each other.
    #[serde(default)]
    pub consents: BTreeMap<ConsentPurpose, PurposeConsent>,
}

/// A safeguarding concern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcernInput {
    /// Category.
    pub category: ConcernCategory,
    /// Indicators observed.
    #[serde(default)]
    pub indicators: Vec<Indicator>,
    /// The encounter it arose in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    /// The person concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Consent to a referral.
    pub consent: Consent,
    /// What was done (short).
    pub action: String,
    /// Information was shared with another agency without consent.
    #[serde(default)]
    pub shared_without_consent: bool,
    /// The lawful basis for sharing without consent (required then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<LegalBasis>,
}

impl ConcernInput {
    /// Checks every field, including the rule that sharing without consent needs a legal basis.
    pub fn validate(&self) -> Result<()> {
        if self.indicators.len() > Indicator::ALL.len() {
            return Err(Error::invalid("concern.indicators", "too many entries"));
        }
        if let Some(e) = &self.encounter {
            check_id("concern.encounter", e)?;
        }
        if let Some(p) = &self.person {
            check_id("concern.person", p)?;
        }
        check_text("concern.action", &self.action, MAX_NOTE, false)?;
        if self.shared_without_consent && self.legal_basis.is_none() {
            return Err(Error::invalid(
                "concern.legal_basis",
                "sharing without consent requires a legal basis",
            ));
        }
        if self.shared_without_consent && self.consent == Consent::Given {
            return Err(Error::invalid(
                "concern.shared_without_consent",
                "consent is recorded as given; do not mark the share as without consent",
            ));
        }
        Ok(())
    }
}

/// A lead's review of a concern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadReview {
    /// Who reviewed (staff handle).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Outcome (short).
    pub outcome: String,
}

/// A concern as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concern {
    /// Id (UUIDv7).
    pub id: String,
    /// Shift it was recorded in.
    pub shift: String,
    /// When the concern arose (given with [`crate::Store::record_concern_at`]; defaults to
    /// when it was recorded).
    pub at: DateTime<Utc>,
    /// Content.
    #[serde(flatten)]
    pub input: ConcernInput,
    /// The lead's review, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<LeadReview>,
    /// Sealed free-text fields this device cannot open (named as in
    /// [`crate::fieldseal::RecordKind::fields`], e.g. `note`): the person's profile was erased,
    /// or has not reached this device yet. Those fields read as absent (a required one as an
    /// empty string); show them as [`crate::fieldseal::WITHHELD_MARKER`]. Never stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
    /// Every logged share of this concern with another agency, keyed by disclosure id.
    // Always written (even empty): the map exists from the record's first change, so shares
    // logged concurrently on two devices merge instead of hiding each other.
    #[serde(default)]
    pub disclosures: BTreeMap<String, Disclosure>,
}

/// A violence / crime incident report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentInput {
    /// When it happened.
    pub when: DateTime<Utc>,
    /// Where (a zone or a short description of place, no addresses).
    pub place: String,
    /// Type.
    pub kind: IncidentType,
    /// Injuries (short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injuries: Option<String>,
    /// Perpetrator description (short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perpetrator: Option<String>,
    /// Reported to the police.
    #[serde(default)]
    pub police_reported: bool,
    /// Crime reference number, if reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crime_reference: Option<String>,
    /// Consent to share with the police.
    pub share_police: ShareConsent,
    /// Consent to share with the national reporting scheme.
    pub share_national: ShareConsent,
    /// Support offered (short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
    /// The person it happened to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The encounter it was reported in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
}

impl IncidentInput {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_text("incident.place", &self.place, MAX_SHORT, false)?;
        check_opt_text("incident.injuries", self.injuries.as_deref(), MAX_NOTE)?;
        check_opt_text("incident.perpetrator", self.perpetrator.as_deref(), MAX_NOTE)?;
        check_opt_short("incident.crime_reference", self.crime_reference.as_deref())?;
        check_opt_text("incident.support", self.support.as_deref(), MAX_NOTE)?;
        if self.crime_reference.is_some() && !self.police_reported {
            return Err(Error::invalid(
                "incident.crime_reference",
                "a crime reference needs police_reported",
            ));
        }
        if let Some(p) = &self.person {
            check_id("incident.person", p)?;
        }
        if let Some(e) = &self.encounter {
            check_id("incident.encounter", e)?;
        }
        check_time("incident.when", Some(self.when))?;
        Ok(())
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Id (UUIDv7).
    pub id: String,
    /// Shift it was recorded in.
    pub shift: String,
    /// Content.
    #[serde(flatten)]
    pub input: IncidentInput,
    /// Sealed free-text fields this device cannot open (named as in
    /// [`crate::fieldseal::RecordKind::fields`], e.g. `note`): the person's profile was erased,
    /// or has not reached this device yet. Those fields read as absent (a required one as an
    /// empty string); show them as [`crate::fieldseal::WITHHELD_MARKER`]. Never stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
    /// Every logged share of this incident (police, national scheme), keyed by disclosure id.
    // Always written (even empty): the map exists from the record's first change, so shares
    // logged concurrently on two devices merge instead of hiding each other.
    #[serde(default)]
    pub disclosures: BTreeMap<String, Disclosure>,
}

/// A dangerous-individual warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertInput {
    /// Description (short).
    pub description: String,
    /// Vehicle registrations.
    #[serde(default)]
    pub plates: Vec<String>,
    /// Phone numbers.
    #[serde(default)]
    pub phones: Vec<String>,
    /// Email addresses.
    #[serde(default)]
    pub emails: Vec<String>,
    /// Online usernames / handles.
    #[serde(default)]
    pub usernames: Vec<String>,
    /// Area (a zone or short text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// Risk.
    pub risk: Risk,
    /// Date it applies from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// Date it should be reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<NaiveDate>,
}

impl AlertInput {
    /// Checks every field (identifiers are also normalised on save; one that cannot be
    /// normalised is an error naming the list it is in).
    pub fn validate(&self) -> Result<()> {
        check_text("alert.description", &self.description, MAX_NOTE, false)?;
        for (field, list) in [
            ("alert.plates", &self.plates),
            ("alert.phones", &self.phones),
            ("alert.emails", &self.emails),
            ("alert.usernames", &self.usernames),
        ] {
            check_list(field, list, 120)?;
        }
        check_opt_short("alert.area", self.area.as_deref())?;
        Ok(())
    }
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Id.
    pub id: String,
    /// When issued.
    pub created_at: DateTime<Utc>,
    /// Content.
    #[serde(flatten)]
    pub input: AlertInput,
}

/// Result of an offline alert check: only what staff need to act, never the matched value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMatch {
    /// The alert's id.
    pub alert: String,
    /// Its risk.
    pub risk: Risk,
    /// Its description.
    pub description: String,
    /// Its area.
    pub area: Option<String>,
}

// ---- consent per purpose and disclosures ------------------------------------------------------

controlled!(
    /// What a person's consent is for. Each purpose is recorded on the profile on its own.
    ConsentPurpose {
        Record = "record_keeping", FollowUp = "follow_up_contact", SharePartners = "share_with_partners",
        SharePolice = "share_with_police", ShareNational = "share_with_national_scheme",
        SafeguardingReferral = "safeguarding_referral",
    }
);
controlled!(
    /// What the person said about a purpose.
    ConsentState { Given = "given", Refused = "refused", Withdrawn = "withdrawn" }
);
controlled!(
    /// Who a record is shared with. Incidents go to the police or the national reporting
    /// scheme; a safeguarding concern may also go to the local authority's safeguarding team.
    ShareRecipient { Police = "police", National = "national", LocalAuthority = "local_authority" }
);

impl ShareRecipient {
    /// The consent purpose that covers a share with this recipient.
    pub fn purpose(&self) -> ConsentPurpose {
        match self {
            ShareRecipient::Police => ConsentPurpose::SharePolice,
            ShareRecipient::National => ConsentPurpose::ShareNational,
            ShareRecipient::LocalAuthority => ConsentPurpose::SafeguardingReferral,
        }
    }
}

/// A person's consent for one purpose, as last stated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeConsent {
    /// Given, refused or withdrawn.
    pub state: ConsentState,
    /// When it was stated (recorded).
    pub at: DateTime<Utc>,
    /// Staff handle that recorded it.
    pub by: String,
    /// Device that recorded it.
    pub device: String,
}

/// The consent that stood when a record was shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentAtShare {
    /// The record's own consent flag for this recipient (`full`, `anonymised`, `none` for an
    /// incident; `given`, `refused`, `not_asked`, `unable` for a concern).
    pub record: String,
    /// The person profile's consent for the purpose, if one is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<PurposeConsent>,
    /// Whether consent covered the share (the newer of the two statements decides).
    pub covered: bool,
}

/// One logged share of a record with another agency (a disclosure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    /// Disclosure id (UUIDv7).
    pub id: String,
    /// Who it went to.
    pub recipient: ShareRecipient,
    /// When it was logged.
    pub at: DateTime<Utc>,
    /// Staff handle that shared it.
    pub by: String,
    /// Device that logged it.
    pub device: String,
    /// Lawful basis given for the share (required when consent did not cover it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<LegalBasis>,
    /// The consent that stood at the time.
    pub consent: ConsentAtShare,
}

// ---- checks -----------------------------------------------------------------------------------

pub(crate) fn check_text(field: &'static str, s: &str, max: usize, allow_empty: bool) -> Result<()> {
    let n = s.chars().count();
    if !allow_empty && s.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if n > max {
        return Err(Error::invalid(field, format!("at most {max} characters (got {n})")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_opt_text(field: &'static str, s: Option<&str>, max: usize) -> Result<()> {
    match s {
        Some(s) => check_text(field, s, max, true),
        None => Ok(()),
    }
}

fn check_opt_short(field: &'static str, s: Option<&str>) -> Result<()> {
    match s {
        Some(s) => {
            check_text(field, s, MAX_SHORT, false)?;
            if s.contains('\n') {
                return Err(Error::invalid(field, "must be one line"));
            }
            Ok(())
        }
        None => Ok(()),
    }
}

fn check_list(field: &'static str, list: &[String], max: usize) -> Result<()> {
    if list.len() > MAX_ITEMS {
        return Err(Error::invalid(field, format!("at most {MAX_ITEMS} entries")));
    }
    for s in list {
        check_text(field, s, max, false)?;
        if s.contains('\n') {
            return Err(Error::invalid(field, "entries must be one line"));
        }
    }
    Ok(())
}

fn check_zone(field: &'static str, zone: &str, zones: &[String]) -> Result<()> {
    if zones.iter().any(|z| z == zone) {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("not one of the team's zones ({})", zones.join(", "))))
    }
}

pub(crate) fn check_id(field: &'static str, id: &str) -> Result<()> {
    if id.len() == 36 && uuid::Uuid::parse_str(id).is_ok() {
        Ok(())
    } else {
        Err(Error::invalid(field, "not a valid id"))
    }
}

pub(crate) fn check_time(field: &'static str, t: Option<DateTime<Utc>>) -> Result<()> {
    if let Some(t) = t {
        let now = Utc::now();
        if t > now + chrono::Duration::hours(24) {
            return Err(Error::invalid(field, "is more than a day in the future"));
        }
        if t < now - chrono::Duration::days(366 * 5) {
            return Err(Error::invalid(field, "is more than five years ago"));
        }
    }
    Ok(())
}

/// The night a moment belongs to: outreach nights run past midnight, so anything before noon
/// (in the team's UTC offset) counts towards the previous evening.
pub fn night_of(t: DateTime<Utc>, utc_offset_minutes: i32) -> NaiveDate {
    (t + chrono::Duration::minutes(utc_offset_minutes as i64) - chrono::Duration::hours(12)).date_naive()
}
