//! The domain API: what staff and leads do with a store.

use automerge::transaction::Transactable;
use automerge::ReadDoc;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::doc::{self, DocKind};
use crate::fieldseal::{self, FieldKey, FieldKeys, RecordKind};
use crate::error::{Error, Result};
use crate::model::*;
use crate::normalise;
use crate::projection::{self, Target};
use crate::store::Store;

/// Team settings, held in the team settings document (synced, encrypted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Team name.
    pub team: String,
    /// The controlled list of zones (named beats).
    pub zones: Vec<String>,
    /// ISO country used to normalise national phone numbers.
    pub default_country: String,
    /// The team's offset from UTC in minutes, used to assign times to nights.
    pub utc_offset_minutes: i32,
    /// Secret for the keyed hash of alert identifiers (hex). Never shown.
    #[serde(default)]
    pub(crate) alert_key: String,
    /// Secret for the keyed hash of people's optional identifying codes (hex). Never shown.
    /// Empty in teams created before it existed: then a key derived from the alert key is
    /// used (see [`crate::people`]).
    #[serde(default)]
    pub(crate) id_code_key: String,
    /// Dead-man timer (set by a lead, `outreach devices dead-man`): a member device that has
    /// not synced successfully for this many hours wipes its store at its next unlock
    /// (see [`crate::wipe`]). `None`: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_man_hours: Option<u32>,
    /// Retention policy (set by a lead, `outreach retention set`): how long shift detail is
    /// kept before a purge reduces it to counts, the rolling window member devices keep, and
    /// when alerts come up for review (see [`crate::retention`]). Defaults when absent.
    #[serde(default)]
    pub retention: crate::retention::RetentionPolicy,
}

impl Settings {
    pub(crate) fn alert_key(&self) -> Result<Vec<u8>> {
        let k = hex::decode(&self.alert_key).map_err(|_| Error::Document("bad alert key".into()))?;
        if k.len() != 32 {
            return Err(Error::Document("bad alert key".into()));
        }
        Ok(k)
    }
}

/// What a new team store starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamSetup {
    /// Team name.
    pub team: String,
    /// Zones (named beats) the team covers.
    pub zones: Vec<String>,
    /// ISO country for phone numbers (e.g. `GB`).
    pub default_country: String,
    /// Offset from UTC in minutes.
    pub utc_offset_minutes: i32,
}

impl TeamSetup {
    /// A team with the given zones, in the UK.
    pub fn new(team: &str, zones: &[&str]) -> Self {
        TeamSetup {
            team: team.into(),
            zones: zones.iter().map(|z| z.to_string()).collect(),
            default_country: "GB".into(),
            utc_offset_minutes: 0,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_text("team", &self.team, MAX_SHORT, false)?;
        if self.zones.is_empty() {
            return Err(Error::invalid("zones", "name at least one zone"));
        }
        if self.zones.len() > MAX_ITEMS {
            return Err(Error::invalid("zones", format!("at most {MAX_ITEMS}")));
        }
        for z in &self.zones {
            check_text("zones", z, MAX_SHORT, false)?;
        }
        let mut z = self.zones.clone();
        z.sort();
        z.dedup();
        if z.len() != self.zones.len() {
            return Err(Error::invalid("zones", "names must be unique"));
        }
        if normalise::calling_code(&self.default_country).is_none() {
            return Err(Error::invalid("default_country", "unknown ISO country code"));
        }
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err(Error::invalid("utc_offset_minutes", "must be within ±14 hours"));
        }
        Ok(())
    }
}

/// A person found by a code-name search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonMatch {
    /// Profile id.
    pub id: String,
    /// Code name.
    pub code_name: String,
    /// Age band.
    pub age_band: AgeBand,
    /// Profile it was merged into, if any.
    pub merged_into: Option<String>,
    /// Similarity 0..=1.
    pub score: f64,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// Local sequence number.
    pub seq: i64,
    /// When.
    pub at: String,
    /// Device.
    pub device: String,
    /// Staff handle.
    pub actor: String,
    /// What (`encounter.create`, `person.view`, ...).
    pub action: String,
    /// Kind of record.
    pub entity: String,
    /// Record id.
    pub entity_id: Option<String>,
    /// The writing device's sequence number in its hash chain (`None` for rows written before
    /// the chain existed; see [`crate::audit`]).
    pub device_seq: Option<i64>,
}

/// A same-field clash in one record, for the lead's review list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordClash {
    /// Kind of record.
    pub entity: String,
    /// Record id.
    pub id: String,
    /// The clashes inside it.
    pub clashes: Vec<doc::Clash>,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn new_doc_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn obj(v: Json) -> serde_json::Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

impl Store {
    pub(crate) fn init_team(&mut self, team: TeamSetup) -> Result<()> {
        use rand::RngCore;
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        let settings = Settings {
            team: team.team,
            zones: team.zones,
            default_country: team.default_country.to_ascii_uppercase(),
            utc_offset_minutes: team.utc_offset_minutes,
            alert_key: hex::encode(k),
            id_code_key: crate::people::new_team_secret(),
            ..Default::default()
        };
        let doc_id = new_doc_id();
        self.conn.execute("INSERT INTO meta (key, value) VALUES ('device_id', ?1)", [&self.device_id])?;
        self.conn.execute("INSERT INTO meta (key, value) VALUES ('settings_doc', ?1)", [&doc_id])?;
        let value = serde_json::to_value(&settings)?;
        self.change(
            &doc_id,
            DocKind::Settings,
            true,
            |tx| {
                let m = doc::root_map(tx, "settings")?;
                doc::reconcile_map(tx, &m, &obj(value))?;
                Ok(())
            },
            |_, _, _| Ok(()),
            &[("team.create", "settings", None)],
        )?;
        self.settings_doc = doc_id;
        self.settings = settings;
        Ok(())
    }

    pub(crate) fn reload_settings(&mut self) -> Result<()> {
        let id = self.settings_doc.clone();
        let d = self.load_doc(&id)?;
        let m = doc::root_map(&d, "settings")?;
        self.settings = serde_json::from_value(doc::read_json(&d, &m)?)?;
        self.cache_doc(&id, d);
        Ok(())
    }

    /// The team settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Creates a new single-record document (`kind`'s root map `map` holds `value`), projects
    /// it and audits it, all through [`Store::change`]. Returns the new document's id.
    fn create_doc(&mut self, kind: DocKind, map: &'static str, value: Json, target: Target<'static>, audit: (&str, &str, Option<&str>)) -> Result<String> {
        let doc_id = new_doc_id();
        self.change(
            &doc_id,
            kind,
            true,
            |tx| {
                let m = doc::root_map(tx, map)?;
                doc::reconcile_map(tx, &m, &obj(value))?;
                Ok(())
            },
            |t, d, s| projection::project(t, &doc_id, kind, d, target, s),
            &[audit],
        )?;
        Ok(doc_id)
    }

    /// Adds a new record (`value`, keyed `id`) to the map `map` of the shift document `doc_id`.
    fn add_shift_record(&mut self, doc_id: &str, map: &'static str, id: &str, value: Json, audit: (&str, &str, Option<&str>)) -> Result<()> {
        self.change(
            doc_id,
            DocKind::Shift,
            false,
            |tx| {
                let m = doc::root_map(tx, map)?;
                doc::create_record(tx, &m, id, &value)?;
                Ok(())
            },
            |t, d, s| projection::project(t, doc_id, DocKind::Shift, d, Target::Record(map, id), s),
            &[audit],
        )
    }

    // ---- shifts -----------------------------------------------------------------------------

    /// The shift open on this device, if any.
    pub fn current_shift(&self) -> Result<Option<Shift>> {
        let data: Option<String> = self
            .conn
            .prepare_cached("SELECT data FROM shifts WHERE device = ?1 AND ended_at IS NULL ORDER BY started_at DESC LIMIT 1")?
            .query_row([&self.device_id], |r| r.get(0))
            .optional()?;
        Ok(match data {
            Some(d) => Some(serde_json::from_str(&d)?),
            None => None,
        })
    }

    fn shift_doc(&self, shift_id: &str) -> Result<String> {
        self.conn
            .prepare_cached("SELECT doc_id FROM shifts WHERE id = ?1")?
            .query_row([shift_id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "shift", id: shift_id.to_string() })
    }

    /// Starts a shift on this device (one document per device-shift).
    pub fn start_shift(&mut self, input: ShiftStart) -> Result<Shift> {
        input.validate(&self.settings.zones)?;
        if self.current_shift()?.is_some() {
            return Err(Error::State("a shift is already open on this device; end it first (outreach shift end)".into()));
        }
        let at = input.at.unwrap_or_else(Utc::now);
        let shift = Shift {
            id: new_id(),
            device: self.device_id.clone(),
            van: input.van.trim().to_string(),
            crew: input.crew,
            zones: input.zones,
            started_at: at,
            ended_at: None,
            night: night_of(at, self.settings.utc_offset_minutes),
        };
        let value = serde_json::to_value(&shift)?;
        self.create_doc(DocKind::Shift, "shift", value, Target::ShiftMeta, ("shift.start", "shift", Some(&shift.id)))?;
        Ok(shift)
    }

    /// Ends the shift open on this device, now.
    pub fn end_shift(&mut self) -> Result<Shift> {
        self.end_shift_at(None)
    }

    /// Ends the shift open on this device at `at` (for shifts entered after the fact); `None`
    /// means now. The end may not be before the start or in the future.
    pub fn end_shift_at(&mut self, at: Option<DateTime<Utc>>) -> Result<Shift> {
        let mut shift = self.current_shift()?.ok_or_else(|| Error::State("no shift is open on this device".into()))?;
        let doc_id = self.shift_doc(&shift.id)?;
        if let Some(t) = at {
            if t < shift.started_at {
                return Err(Error::invalid("shift.ended_at", "is before the shift started"));
            }
            if t > Utc::now() + chrono::Duration::minutes(5) {
                return Err(Error::invalid("shift.ended_at", "is in the future"));
            }
        }
        let now = at.unwrap_or_else(Utc::now).max(shift.started_at);
        shift.ended_at = Some(now);
        let sid = shift.id.clone();
        self.change(
            &doc_id,
            DocKind::Shift,
            false,
            |tx| {
                let m = doc::root_map(tx, "shift")?;
                tx.put(&m, "ended_at", now.to_rfc3339())?;
                Ok(())
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Shift, d, Target::ShiftMeta, s),
            &[("shift.end", "shift", Some(&sid))],
        )?;
        Ok(shift)
    }

    fn open_shift_doc(&self) -> Result<(Shift, String)> {
        let shift = self
            .current_shift()?
            .ok_or_else(|| Error::State("no shift is open on this device; start one first (outreach shift start)".into()))?;
        let doc_id = self.shift_doc(&shift.id)?;
        Ok((shift, doc_id))
    }

    /// The field key of the person a record is linked to (`None` for an anonymous record), to
    /// seal the record's free text in the same change (fieldseal.rs). Read from the
    /// `people.field_key` projection, so a write never loads the person document. A person
    /// this device does not hold, or holds without a key, is refused: nothing can be sealed.
    fn person_field_key(&self, field: &'static str, p: Option<&str>) -> Result<Option<FieldKey>> {
        let Some(p) = p else { return Ok(None) };
        let raw: Option<Option<Vec<u8>>> = self
            .conn
            .prepare_cached("SELECT field_key FROM people WHERE id = ?1")?
            .query_row([p], |r| r.get(0))
            .optional()?;
        match raw {
            None => Err(Error::invalid(field, "no such person profile on this device")),
            Some(None) => Err(Error::invalid(field, fieldseal::SealError::NoKey.to_string())),
            Some(Some(b)) => Ok(Some(FieldKey::from_bytes(&b).map_err(fieldseal::seal_error)?)),
        }
    }

    /// Opens one projection row of a shift record with its sealed fields opened (or listed in
    /// `withheld` when the person's key is not held). Every read of `encounters`, `concerns`
    /// or `incidents` data that shows text must go through this or [`FieldKeys`].
    pub(crate) fn open_row<T: serde::de::DeserializeOwned>(&self, kind: RecordKind, data: &str) -> Result<T> {
        fieldseal::open_record(kind, data, &mut FieldKeys::new(&self.conn))
    }

    /// The plaintext record `value` of `kind` sealed for writing (see [`fieldseal::seal_record`]);
    /// `current` is the record as its document holds it now (amendments).
    fn seal_for_write(kind: RecordKind, value: &mut Json, key: Option<&FieldKey>, current: Option<&Json>, via: Option<&str>) -> Result<()> {
        fieldseal::seal_record(kind, value, key, current, via).map_err(fieldseal::seal_error)
    }

    /// The person of the encounter a concern or incident is raised in, when the record names
    /// no person of its own: its text is about them, so it is sealed for them (`for`).
    fn encounter_person(&self, own: Option<&str>, encounter: Option<&str>) -> Result<Option<String>> {
        match (own, encounter) {
            (None, Some(e)) => Ok(self
                .conn
                .prepare_cached("SELECT person_id FROM encounters WHERE id = ?1")?
                .query_row([e], |r| r.get::<_, Option<String>>(0))
                .optional()?
                .flatten()),
            _ => Ok(None),
        }
    }

    /// For [`Store::settle_clash`]: when `path` names a sealable field of a shift record,
    /// returns the field's own path and `value` sealed under the record's person (plain for an
    /// anonymous record); anything else is returned unchanged.
    pub(crate) fn seal_settle_value(&self, entity: &str, id: &str, path: &[String], value: Json) -> Result<(Vec<String>, Json)> {
        let Some(kind) = RecordKind::from_name(entity) else { return Ok((path.to_vec(), value)) };
        let Some(field) = kind.field_at(path) else { return Ok((path.to_vec(), value)) };
        let table = match kind {
            RecordKind::Encounter => "encounters",
            RecordKind::Concern => "concerns",
            RecordKind::Incident => "incidents",
        };
        let row: Option<(Option<String>, String)> = self
            .conn
            .query_row(&format!("SELECT person_id, data FROM {table} WHERE id = ?1"), [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let fpath: Vec<String> = field.path.iter().map(|s| s.to_string()).collect();
        let Some((own, data)) = row else { return Ok((fpath, value)) };
        // A concern or incident with no person of its own is sealed for its encounter's person.
        let encounter = match (&own, kind) {
            (None, RecordKind::Concern | RecordKind::Incident) => {
                serde_json::from_str::<Json>(&data)?.get("encounter").and_then(|e| e.as_str()).map(str::to_string)
            }
            _ => None,
        };
        let via = self.encounter_person(own.as_deref(), encounter.as_deref())?;
        let Some(person) = own.clone().or(via) else { return Ok((fpath, value)) };
        let key = fieldseal::field_key(&self.conn, &person)?
            .ok_or_else(|| Error::invalid("record.person", fieldseal::SealError::NoKey.to_string()))?;
        let sealed = fieldseal::seal_value(kind, id, field, &person, own.is_none(), &key, &value);
        Ok((fpath, sealed))
    }

    #[allow(dead_code)]
    fn check_person_ref(&self, field: &'static str, p: Option<&str>) -> Result<()> {
        if let Some(p) = p {
            let n: i64 = self.conn.query_row("SELECT count(*) FROM people WHERE id = ?1", [p], |r| r.get(0))?;
            if n == 0 {
                return Err(Error::invalid(field, "no such person profile on this device"));
            }
        }
        Ok(())
    }

    // ---- encounters -------------------------------------------------------------------------

    /// Logs an encounter in the open shift, in one call and one transaction.
    pub fn log_encounter(&mut self, mut input: EncounterInput) -> Result<Encounter> {
        let (shift, doc_id) = self.open_shift_doc()?;
        input.note = input.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        input.validate(&self.settings.zones)?;
        let key = self.person_field_key("encounter.person", input.person.as_deref())?;
        if input.workers.is_empty() {
            input.workers = shift.crew.clone();
        }
        input.at = Some(input.at.unwrap_or_else(Utc::now));
        let e = Encounter { id: new_id(), shift: shift.id.clone(), device: self.device_id.clone(), input, withheld: vec![] };
        let mut value = serde_json::to_value(&e)?;
        Self::seal_for_write(RecordKind::Encounter, &mut value, key.as_ref(), None, None)?;
        self.add_shift_record(&doc_id, "encounters", &e.id, value, ("encounter.create", "encounter", Some(&e.id)))?;
        Ok(e)
    }

    /// Amends an encounter: `input` is its whole new content; only changed fields are written,
    /// so concurrent amendments of different fields on other devices are kept.
    pub fn amend_encounter(&mut self, id: &str, mut input: EncounterInput) -> Result<Encounter> {
        check_id("encounter.id", id)?;
        let old = self.get_encounter(id)?;
        input.note = input.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        // The person's key first: a record whose sealed text this device cannot open (person
        // erased or not synced yet) says so rather than failing on the empty stand-ins.
        let key = self.person_field_key("encounter.person", input.person.as_deref())?;
        // An amend states the whole new content: an empty worker list stays empty.
        input.validate(&self.settings.zones)?;
        if input.at.is_none() {
            input.at = old.input.at;
        }
        let doc_id = self.shift_doc(&old.shift)?;
        let e = Encounter { id: old.id.clone(), shift: old.shift.clone(), device: old.device.clone(), input, withheld: vec![] };
        let mut value = serde_json::to_value(&e)?;
        let idc = id.to_string();
        self.change(
            &doc_id,
            DocKind::Shift,
            false,
            |tx| {
                let m = doc::root_map(tx, "encounters")?;
                let r = doc::child_map(tx, &m, &idc)?.ok_or_else(|| Error::NotFound { kind: "encounter", id: idc.clone() })?;
                // Sealed against the stored record, so unchanged sealed fields are not rewritten.
                let current = doc::read_json(tx, &r)?;
                Self::seal_for_write(RecordKind::Encounter, &mut value, key.as_ref(), Some(&current), None)?;
                doc::reconcile_map(tx, &r, &obj(value))?;
                Ok(())
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Shift, d, Target::Record("encounters", id), s),
            &[("encounter.edit", "encounter", Some(id))],
        )?;
        self.get_encounter(id)
    }

    /// One encounter.
    pub fn get_encounter(&self, id: &str) -> Result<Encounter> {
        let data: String = self
            .conn
            .query_row("SELECT data FROM encounters WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "encounter", id: id.to_string() })?;
        self.open_row(RecordKind::Encounter, &data)
    }

    /// Every encounter of a night (all vans this device knows of), in time order.
    pub fn list_night(&self, night: NaiveDate) -> Result<Vec<Encounter>> {
        let mut st = self.conn.prepare_cached("SELECT data FROM encounters WHERE night = ?1 ORDER BY at, id")?;
        let rows = st.query_map([night.to_string()], |r| r.get::<_, String>(0))?;
        let mut keys = FieldKeys::new(&self.conn);
        let mut out = vec![];
        for r in rows {
            out.push(fieldseal::open_record(RecordKind::Encounter, &r?, &mut keys)?);
        }
        Ok(out)
    }

    /// Shifts of a night.
    pub fn list_shifts(&self, night: NaiveDate) -> Result<Vec<Shift>> {
        let mut st = self.conn.prepare_cached("SELECT data FROM shifts WHERE night = ?1 ORDER BY started_at")?;
        let rows = st.query_map([night.to_string()], |r| r.get::<_, String>(0))?;
        rows.map(|r| Ok(serde_json::from_str(&r?)?)).collect()
    }

    // ---- people -----------------------------------------------------------------------------

    /// Adds a person profile (its own document).
    pub fn add_person(&mut self, input: PersonInput) -> Result<Person> {
        input.validate()?;
        let p = Person { id: new_id(), input, merged_into: None, created_at: Utc::now(), id_code_hash: None, consents: Default::default() };
        let value = serde_json::to_value(&p)?;
        self.create_doc(DocKind::Person, "profile", value, Target::All, ("person.create", "person", Some(&p.id)))?;
        Ok(p)
    }

    fn person_doc(&self, id: &str) -> Result<String> {
        check_id("person.id", id)?;
        self.conn
            .query_row("SELECT doc_id FROM people WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "person", id: id.to_string() })
    }

    /// Edits a person profile: `input` is its whole new content; only changed fields are written.
    pub fn edit_person(&mut self, id: &str, input: PersonInput) -> Result<Person> {
        input.validate()?;
        let doc_id = self.person_doc(id)?;
        let value = serde_json::to_value(&input)?;
        self.change(
            &doc_id,
            DocKind::Person,
            false,
            |tx| {
                let m = doc::root_map(tx, "profile")?;
                // Only the editable fields: id, created_at and merged_into are not touched.
                let mut cur = obj(doc::read_json(tx, &m)?);
                for k in ["code_name", "name_quality", "age_band", "gender", "settings", "first_language", "living", "flags", "note"] {
                    cur.remove(k);
                }
                cur.extend(obj(value));
                doc::reconcile_map(tx, &m, &cur)?;
                Ok(())
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Person, d, Target::All, s),
            &[("person.edit", "person", Some(id))],
        )?;
        self.read_person(id)
    }

    fn read_person(&self, id: &str) -> Result<Person> {
        let data: String = self
            .conn
            .query_row("SELECT data FROM people WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "person", id: id.to_string() })?;
        Ok(serde_json::from_str(&data)?)
    }

    /// Opens a person profile for viewing. Audited (`person.view`).
    pub fn view_person(&self, id: &str) -> Result<Person> {
        check_id("person.id", id)?;
        let p = self.read_person(id)?;
        self.audit("person.view", "person", Some(id))?;
        Ok(p)
    }

    /// Code names of several profiles at once, for lists of encounters. Writes ONE audit event
    /// (`person.list`, no id) rather than one view per profile. Unknown ids are left out.
    pub fn code_names(&self, ids: &[String]) -> Result<std::collections::HashMap<String, String>> {
        let mut out = std::collections::HashMap::new();
        let mut st = self.conn.prepare_cached("SELECT code_name FROM people WHERE id = ?1")?;
        for id in ids {
            if let Some(n) = st.query_row([id], |r| r.get::<_, String>(0)).optional()? {
                out.insert(id.clone(), n);
            }
        }
        if !out.is_empty() {
            self.audit("person.list", "person", None)?;
        }
        Ok(out)
    }

    /// Reads a profile for an edit flow without recording a view (the edit that follows is
    /// audited). Shells must not use it to display a profile: use [`Store::view_person`].
    pub fn person_for_edit(&self, id: &str) -> Result<Person> {
        check_id("person.id", id)?;
        self.read_person(id)
    }

    /// Finds people by code name, offline and forgiving of misspelling. Best first. Audited
    /// (`person.search`, without the query) when anything is found.
    pub fn find_people(&self, query: &str, limit: usize) -> Result<Vec<PersonMatch>> {
        check_text("query", query, MAX_SHORT, false)?;
        let q = normalise::fold_name(query);
        let mut st = self.conn.prepare_cached("SELECT id, code_name, name_key, age_band, merged_into FROM people")?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, Option<String>>(4)?))
        })?;
        let mut out = vec![];
        for r in rows {
            let (id, code_name, key, age, merged) = r?;
            let score = normalise::name_similarity(&q, &key);
            if score >= 0.78 {
                out.push(PersonMatch { id, code_name, age_band: age.parse()?, merged_into: merged, score });
            }
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.code_name.cmp(&b.code_name)));
        out.truncate(limit.max(1));
        if !out.is_empty() {
            // Search results show code names: audited as one event, never with the query.
            self.audit("person.search", "person", None)?;
        }
        Ok(out)
    }

    // ---- concerns and incidents -----------------------------------------------------------------

    /// Records a safeguarding concern in the open shift.
    pub fn record_concern(&mut self, input: ConcernInput) -> Result<Concern> {
        self.record_concern_at(input, None)
    }

    /// Records a safeguarding concern in the open shift at its own time `at` (when the
    /// concern arose; `None` means now). The time may not be more than a day ahead or five
    /// years back.
    pub fn record_concern_at(&mut self, input: ConcernInput, at: Option<DateTime<Utc>>) -> Result<Concern> {
        check_time("concern.at", at)?;
        let (shift, doc_id) = self.open_shift_doc()?;
        input.validate()?;
        // Sharing without recorded consent needs a lawful basis (validated above) AND a lead.
        if input.shared_without_consent && self.sync_role()? != crate::sync::Role::Lead {
            return Err(Error::State(
                "only a lead can record a concern as shared without consent; record it without \
                 --shared-without-consent and ask a team lead to share it with its lawful basis \
                 (outreach concern share ID --with ... --basis ...)"
                    .into(),
            ));
        }
        let key = self.person_field_key("concern.person", input.person.as_deref())?;
        let via = self.encounter_person(input.person.as_deref(), input.encounter.as_deref())?;
        let key = match &via {
            Some(p) => self.person_field_key("concern.encounter", Some(p))?,
            None => key,
        };
        if let Some(e) = &input.encounter {
            self.get_encounter(e).map_err(|_| Error::invalid("concern.encounter", "no such encounter"))?;
        }
        let c = Concern { id: new_id(), shift: shift.id, at: at.unwrap_or_else(Utc::now), input, review: None, disclosures: Default::default(), withheld: vec![] };
        let mut value = serde_json::to_value(&c)?;
        Self::seal_for_write(RecordKind::Concern, &mut value, key.as_ref(), None, via.as_deref())?;
        self.add_shift_record(&doc_id, "concerns", &c.id, value, ("concern.create", "concern", Some(&c.id)))?;
        Ok(c)
    }

    /// Records an incident (violence / crime) in the open shift.
    pub fn record_incident(&mut self, input: IncidentInput) -> Result<Incident> {
        let (shift, doc_id) = self.open_shift_doc()?;
        input.validate()?;
        let key = self.person_field_key("incident.person", input.person.as_deref())?;
        let via = self.encounter_person(input.person.as_deref(), input.encounter.as_deref())?;
        let key = match &via {
            Some(p) => self.person_field_key("incident.encounter", Some(p))?,
            None => key,
        };
        if let Some(e) = &input.encounter {
            self.get_encounter(e).map_err(|_| Error::invalid("incident.encounter", "no such encounter"))?;
        }
        let i = Incident { id: new_id(), shift: shift.id, input, disclosures: Default::default(), withheld: vec![] };
        let mut value = serde_json::to_value(&i)?;
        Self::seal_for_write(RecordKind::Incident, &mut value, key.as_ref(), None, via.as_deref())?;
        self.add_shift_record(&doc_id, "incidents", &i.id, value, ("incident.create", "incident", Some(&i.id)))?;
        Ok(i)
    }

    /// Concerns of a night.
    pub fn list_concerns(&self, night: NaiveDate) -> Result<Vec<Concern>> {
        let mut st = self.conn.prepare_cached("SELECT data FROM concerns WHERE night = ?1 ORDER BY at")?;
        let rows = st.query_map([night.to_string()], |r| r.get::<_, String>(0))?;
        let mut keys = FieldKeys::new(&self.conn);
        rows.map(|r| fieldseal::open_record(RecordKind::Concern, &r?, &mut keys)).collect()
    }

    /// Incidents of a night.
    pub fn list_incidents(&self, night: NaiveDate) -> Result<Vec<Incident>> {
        let mut st = self.conn.prepare_cached("SELECT data FROM incidents WHERE night = ?1 ORDER BY at")?;
        let rows = st.query_map([night.to_string()], |r| r.get::<_, String>(0))?;
        let mut keys = FieldKeys::new(&self.conn);
        rows.map(|r| fieldseal::open_record(RecordKind::Incident, &r?, &mut keys)).collect()
    }

    // ---- alerts -----------------------------------------------------------------------------

    /// Adds an alert. Identifiers are normalised before they are stored; only their keyed
    /// hashes are indexed.
    pub fn add_alert(&mut self, mut input: AlertInput) -> Result<Alert> {
        input.validate()?;
        let dc = self.settings.default_country.clone();
        let norm = |kind: IdentifierKind, field: &'static str, list: &mut Vec<String>| -> Result<()> {
            for v in list.iter_mut() {
                *v = normalise::identifier(kind, v, &dc).map_err(|e| match e {
                    Error::Invalid { reason, .. } => Error::Invalid { field, reason },
                    other => other,
                })?;
            }
            list.sort();
            list.dedup();
            Ok(())
        };
        norm(IdentifierKind::Phone, "alert.phones", &mut input.phones)?;
        norm(IdentifierKind::Plate, "alert.plates", &mut input.plates)?;
        norm(IdentifierKind::Email, "alert.emails", &mut input.emails)?;
        norm(IdentifierKind::Username, "alert.usernames", &mut input.usernames)?;
        let a = Alert { id: new_id(), created_at: Utc::now(), input };
        let value = serde_json::to_value(&a)?;
        self.create_doc(DocKind::Alert, "alert", value, Target::All, ("alert.create", "alert", Some(&a.id)))?;
        Ok(a)
    }

    /// Checks a phone number, plate, email or username against the alerts, offline. The value
    /// is normalised and hashed in memory; nothing about it is written anywhere.
    pub fn check_alert(&self, kind: IdentifierKind, value: &str) -> Result<Vec<AlertMatch>> {
        let n = normalise::identifier(kind, value, &self.settings.default_country)?;
        let h = normalise::keyed_hash(&self.settings.alert_key()?, kind, &n);
        let mut st = self.conn.prepare_cached(
            "SELECT a.data FROM alert_ids i JOIN alerts a ON a.id = i.alert_id WHERE i.hash = ?1 ORDER BY a.created_at",
        )?;
        let rows = st.query_map([&h[..]], |r| r.get::<_, String>(0))?;
        let mut out = vec![];
        for r in rows {
            let a: Alert = serde_json::from_str(&r?)?;
            out.push(AlertMatch { alert: a.id, risk: a.input.risk, description: a.input.description, area: a.input.area });
        }
        Ok(out)
    }

    /// Every alert, newest first.
    pub fn list_alerts(&self) -> Result<Vec<Alert>> {
        let mut st = self.conn.prepare_cached("SELECT data FROM alerts ORDER BY created_at DESC")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| Ok(serde_json::from_str(&r?)?)).collect()
    }

    // ---- audit, clashes, projections --------------------------------------------------------

    /// The newest audit events, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, at, device, actor, action, entity, entity_id, dseq FROM audit ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit as i64], |r| {
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

    /// Records an export or share in the audit log (the CLI calls this for what it writes out).
    pub fn audit_export(&self, what: &str, id: Option<&str>) -> Result<()> {
        check_text("export", what, MAX_SHORT, false)?;
        self.audit("export", what, id)
    }

    /// Every same-field clash across the documents held, for the lead's review list.
    pub fn clashes(&mut self) -> Result<Vec<RecordClash>> {
        let mut out = vec![];
        for (doc_id, kind) in self.doc_ids()? {
            let d = self.load_doc(&doc_id)?;
            let maps: &[(&str, &str)] = match kind {
                DocKind::Shift => &[("encounters", "encounter"), ("concerns", "concern"), ("incidents", "incident")],
                DocKind::Person => &[],
                DocKind::Alert => &[],
                DocKind::Settings => &[],
                // Written once by a purge, never edited: nothing to settle.
                DocKind::Archive => &[],
                // Each written by one device only, append-only: no clash can arise.
                DocKind::Audit => &[],
            };
            for (map, entity) in maps {
                let m = doc::root_map(&d, map)?;
                let keys: Vec<String> = d.keys(&m).collect();
                for k in keys {
                    if let Some(r) = doc::child_map(&d, &m, &k)? {
                        let c = doc::conflicts(&d, &r)?;
                        if !c.is_empty() {
                            let c = self.open_clashes(entity, &k, &d, &r, c)?;
                            out.push(RecordClash { entity: entity.to_string(), id: k.clone(), clashes: c });
                        }
                    }
                }
            }
            let single = match kind {
                DocKind::Person => Some(("profile", "person")),
                DocKind::Alert => Some(("alert", "alert")),
                DocKind::Shift => Some(("shift", "shift")),
                DocKind::Settings => Some(("settings", "settings")),
                DocKind::Archive => None,
                DocKind::Audit => None,
            };
            if let Some((map, entity)) = single {
                let m = doc::root_map(&d, map)?;
                let c = doc::conflicts(&d, &m)?;
                if !c.is_empty() {
                    let id = d.get(&m, "id")?.map(|(v, _)| v.to_string()).unwrap_or_else(|| doc_id.clone());
                    out.push(RecordClash { entity: entity.into(), id: id.trim_matches('"').to_string(), clashes: c });
                }
            }
            self.cache_doc(&doc_id, d);
        }
        Ok(out)
    }

    /// Shows the values of clashes on sealed fields as text (opened with the record's person's
    /// field key; `null` for a value this device cannot open), each under the field's own path
    /// (a clash inside the `{"sealed": …}` map is reported on the field). A lead settles such
    /// a clash with the text; [`Store::settle_clash`] seals it again.
    fn open_clashes(&self, entity: &str, id: &str, d: &automerge::Automerge, r: &automerge::ObjId, clashes: Vec<doc::Clash>) -> Result<Vec<doc::Clash>> {
        let Some(kind) = RecordKind::from_name(entity) else { return Ok(clashes) };
        if !clashes.iter().any(|c| kind.field_at(&c.path).is_some()) {
            return Ok(clashes);
        }
        let rec = doc::read_json(d, r)?;
        let person = rec.get("person").and_then(|p| p.as_str()).map(str::to_string);
        let mut keys = FieldKeys::new(&self.conn);
        let mut out = Vec::with_capacity(clashes.len());
        for mut c in clashes {
            if let Some(f) = kind.field_at(&c.path) {
                c.path = f.path.iter().map(|s| s.to_string()).collect();
                let mut values = Vec::with_capacity(c.values.len());
                for v in &c.values {
                    values.push(keys.open_value(kind, id, f, person.as_deref(), v)?.map(Json::String).unwrap_or(Json::Null));
                }
                c.values = values;
            }
            out.push(c);
        }
        Ok(out)
    }

    /// Recreates every projection table from the documents alone.
    pub fn rebuild_projections(&mut self) -> Result<()> {
        self.docs.clear();
        projection::rebuild(&mut self.conn, &self.settings, self.actor.clone())
    }

    /// Checks, without changing anything, that the projection tables equal a rebuild from the
    /// documents: rebuilds inside a transaction, compares, and rolls back.
    pub fn verify_projections(&mut self) -> Result<bool> {
        let before = projection::fingerprint(&self.conn)?;
        self.docs.clear();
        let t = self.conn.transaction()?;
        projection::rebuild_in(&t, &self.settings, self.actor.clone())?;
        let after = projection::fingerprint(&t)?;
        t.rollback()?;
        Ok(before == after)
    }

    /// A canonical dump of the projection tables (for tests and `outreach check`).
    pub fn projection_fingerprint(&self) -> Result<String> {
        projection::fingerprint(&self.conn)
    }

    /// Counts of what the store holds: (shifts, encounters, people, alerts).
    pub fn counts(&self) -> Result<(u64, u64, u64, u64)> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM shifts), (SELECT count(*) FROM encounters), (SELECT count(*) FROM people), (SELECT count(*) FROM alerts)",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64, r.get::<_, i64>(3)? as u64)),
        )?)
    }

    /// The time a record was last seen, for first/last-seen displays: (first, last) encounter.
    pub fn person_seen(&self, id: &str) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> {
        let (a, b): (Option<String>, Option<String>) = self.conn.query_row(
            "SELECT min(at), max(at) FROM encounters WHERE person_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let p = |s: Option<String>| s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc));
        Ok((p(a), p(b)))
    }
}

// The bindings wrap a Store in a Mutex shared across threads: it must stay Send.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Store>();
};
