//! Subject access: everything this device holds about one person, as JSON and as one readable,
//! self-contained HTML page.
//!
//! [`Store::subject_access`] gathers, for the person's whole **merge group** (every profile
//! that resolves to the same canonical profile, so a duplicate merged away is not missed):
//!
//! - the profiles themselves (with their consents per purpose, merge edges, first and last
//!   seen; an identifying code appears only as the fact that a keyed hash is held);
//! - every encounter linked to one of the profiles (services given and referrals are part of
//!   the encounter record);
//! - every safeguarding concern and incident linked to one of the profiles, or raised in one of
//!   their encounters, with their disclosure logs;
//! - the disclosures of those records in one list (to whom, when, basis, consent at the time);
//! - the audit entries about any of the profiles and their records.
//!
//! Records are read through the store's normal read APIs ([`Store::get_encounter`],
//! [`Store::list_concerns`], [`Store::list_incidents`], [`Store::person_for_edit`]), so sealed
//! person-linked free text reads as it does everywhere else. The call is audited
//! `person.access` on the requested profile.
//!
//! [`SubjectAccess::to_json`] is pretty-printed JSON; [`SubjectAccess::to_html`] is one page
//! with inline CSS only: no script, no image, no font, no network (a Content-Security-Policy of
//! `default-src 'none'` forbids loading anything), and a print stylesheet.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use crate::api::AuditEvent;
use crate::consent::DisclosureEntry;
use crate::error::{Error, Result};
use crate::model::{check_id, Concern, Encounter, Incident, Person};
use crate::store::Store;

/// Format label written into every subject access export.
pub const FORMAT: &str = "outreach-subject-access/v1";

/// Most audit entries included per profile (newest first).
pub const MAX_AUDIT: usize = 100_000;

/// One profile of the merge group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileHeld {
    /// The profile as stored (consents per purpose included).
    pub profile: Person,
    /// The canonical profile it resolves to after merges.
    pub canonical: String,
    /// First encounter linked to this profile.
    pub first_seen: Option<DateTime<Utc>>,
    /// Last encounter linked to this profile.
    pub last_seen: Option<DateTime<Utc>>,
}

/// Everything held about one person on this device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubjectAccess {
    /// [`FORMAT`].
    pub format: &'static str,
    /// Team name.
    pub team: String,
    /// When it was gathered.
    pub generated_at: DateTime<Utc>,
    /// The device it was gathered on (what it holds may lag other devices until they sync).
    pub device: String,
    /// The profile asked for.
    pub person: String,
    /// The canonical profile of its merge group.
    pub canonical: String,
    /// Every profile of the merge group, the one asked for first.
    pub profiles: Vec<ProfileHeld>,
    /// Encounters linked to any profile of the group, oldest first.
    pub encounters: Vec<Encounter>,
    /// Safeguarding concerns linked to the group or raised in its encounters.
    pub concerns: Vec<Concern>,
    /// Incidents linked to the group or reported in its encounters.
    pub incidents: Vec<Incident>,
    /// Every logged share of those concerns and incidents, oldest first.
    pub disclosures: Vec<DisclosureEntry>,
    /// Audit entries about the profiles and their records, newest first.
    pub audit: Vec<AuditEvent>,
    /// What the export does not contain, and why.
    pub notes: Vec<String>,
}

impl Store {
    /// Gathers everything this device holds about the person `id` and its merge group (see
    /// the module documentation). Audited `person.access`.
    pub fn subject_access(&self, id: &str) -> Result<SubjectAccess> {
        check_id("person.id", id)?;
        let asked = self.person_for_edit(id)?;
        let merges = self.merge_map()?;
        let canonical = merges.canonical(id);
        // The merge group: every profile held that resolves to the same canonical profile.
        let mut group: Vec<String> = vec![id.to_string()];
        {
            let mut st = self.conn.prepare_cached("SELECT id FROM people ORDER BY created_at, id")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            for r in rows {
                let p = r?;
                if p != id && merges.canonical(&p) == canonical {
                    group.push(p);
                }
            }
        }
        let mut profiles = vec![];
        for (i, p) in group.iter().enumerate() {
            let profile = if i == 0 { asked.clone() } else { self.person_for_edit(p)? };
            let (first_seen, last_seen) = self.person_seen(p)?;
            profiles.push(ProfileHeld { profile, canonical: merges.canonical(p), first_seen, last_seen });
        }
        let members: BTreeSet<&str> = group.iter().map(String::as_str).collect();

        // Encounters, through the read API.
        let mut encounter_ids: Vec<String> = vec![];
        {
            let mut st = self.conn.prepare_cached("SELECT id, person_id FROM encounters WHERE person_id IS NOT NULL ORDER BY at, id")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for r in rows {
                let (e, p) = r?;
                if members.contains(p.as_str()) {
                    encounter_ids.push(e);
                }
            }
        }
        let mut encounters = vec![];
        for e in &encounter_ids {
            encounters.push(self.get_encounter(e)?);
        }
        let enc_set: BTreeSet<&str> = encounter_ids.iter().map(String::as_str).collect();

        // Concerns and incidents: linked to a member, or raised in one of its encounters. The
        // links are ids (never sealed); the records are read through the night's read API.
        let linked = |table: &str| -> Result<Vec<(String, NaiveDate)>> {
            let mut out = vec![];
            let mut st = self.conn.prepare_cached(&format!("SELECT id, night, person_id, data FROM {table} ORDER BY at, id"))?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, String>(3)?))
            })?;
            for r in rows {
                let (rid, night, person, data) = r?;
                let by_person = person.as_deref().is_some_and(|p| members.contains(p));
                let by_encounter = serde_json::from_str::<Json>(&data)?
                    .get("encounter")
                    .and_then(Json::as_str)
                    .is_some_and(|e| enc_set.contains(e));
                if by_person || by_encounter {
                    let night = night.parse().map_err(|_| Error::Document("bad night".into()))?;
                    out.push((rid, night));
                }
            }
            Ok(out)
        };
        let concern_ids = linked("concerns")?;
        let incident_ids = linked("incidents")?;
        let nights = |ids: &[(String, NaiveDate)]| -> BTreeSet<NaiveDate> { ids.iter().map(|(_, n)| *n).collect() };
        let wanted_c: BTreeSet<&str> = concern_ids.iter().map(|(i, _)| i.as_str()).collect();
        let wanted_i: BTreeSet<&str> = incident_ids.iter().map(|(i, _)| i.as_str()).collect();
        let mut concerns = vec![];
        for n in nights(&concern_ids) {
            concerns.extend(self.list_concerns(n)?.into_iter().filter(|c| wanted_c.contains(c.id.as_str())));
        }
        let mut incidents = vec![];
        for n in nights(&incident_ids) {
            incidents.extend(self.list_incidents(n)?.into_iter().filter(|i| wanted_i.contains(i.id.as_str())));
        }
        let night_of_record: std::collections::HashMap<&str, NaiveDate> =
            concern_ids.iter().chain(incident_ids.iter()).map(|(i, n)| (i.as_str(), *n)).collect();
        let mut disclosures = vec![];
        for c in &concerns {
            if let Some(night) = night_of_record.get(c.id.as_str()) {
                for d in c.disclosures.values() {
                    disclosures.push(DisclosureEntry { entity: "concern", record: c.id.clone(), night: *night, person: c.input.person.clone(), disclosure: d.clone() });
                }
            }
        }
        for i in &incidents {
            if let Some(night) = night_of_record.get(i.id.as_str()) {
                for d in i.disclosures.values() {
                    disclosures.push(DisclosureEntry { entity: "incident", record: i.id.clone(), night: *night, person: i.input.person.clone(), disclosure: d.clone() });
                }
            }
        }
        disclosures.sort_by(|a, b| a.disclosure.at.cmp(&b.disclosure.at).then_with(|| a.disclosure.id.cmp(&b.disclosure.id)));

        // Audit entries about the profiles and their linked records.
        let mut audit: Vec<AuditEvent> = vec![];
        let mut seen: BTreeSet<i64> = BTreeSet::new();
        for p in &group {
            let filter = crate::audit::AuditFilter { person: Some(p.clone()), limit: MAX_AUDIT, ..Default::default() };
            for e in self.audit_query(&filter)? {
                if seen.insert(e.seq) {
                    audit.push(e);
                }
            }
        }
        audit.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.seq.cmp(&a.seq)));

        let mut notes = vec![
            "Identifying code: never stored; only its keyed hash is held (shown as id_code_hash when one was given).".to_string(),
            "Anonymised counts in reports are not records about a person and are not included.".to_string(),
            "This is what this device holds; devices that have not synced yet may hold more recent records.".to_string(),
        ];
        if group.len() > 1 {
            notes.push(format!("{} profiles were merged as the same person; all are included.", group.len()));
        }
        let out = SubjectAccess {
            format: FORMAT,
            team: self.settings.team.clone(),
            generated_at: Utc::now(),
            device: self.device_id.clone(),
            person: id.to_string(),
            canonical,
            profiles,
            encounters,
            concerns,
            incidents,
            disclosures,
            audit,
            notes,
        };
        self.audit("person.access", "person", Some(id))?;
        Ok(out)
    }
}

impl SubjectAccess {
    /// Pretty-printed JSON of everything gathered.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// One self-contained, printable HTML page (inline CSS, no script, no network).
    pub fn to_html(&self) -> Result<String> {
        let mut h = String::with_capacity(32 * 1024);
        let title = format!("Subject access: what {} holds about person {}", self.team, self.person);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n",
            esc(&title),
            CSS
        );
        let _ = write!(
            h,
            "<header><h1>{}</h1>\n<p class=\"banner\" role=\"note\">Confidential: personal data of one person. Hand it only to them (or as the law requires), and delete this file when done.</p>\n\
             <p class=\"meta\">Generated {} on device {}. Canonical profile after merges: {}.</p>\n<ul class=\"notes\">",
            esc(&title),
            esc(&self.generated_at.format("%Y-%m-%d %H:%M UTC").to_string()),
            esc(&self.device),
            esc(&self.canonical)
        );
        for n in &self.notes {
            let _ = write!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>\n<nav><ol>");
        let sections: [(&str, &str, usize); 7] = [
            ("profiles", "Profiles (merge group)", self.profiles.len()),
            ("consents", "Consent per purpose", self.profiles.iter().map(|p| p.profile.consents.len()).sum()),
            ("encounters", "Encounters (services and referrals included)", self.encounters.len()),
            ("concerns", "Safeguarding concerns", self.concerns.len()),
            ("incidents", "Incidents", self.incidents.len()),
            ("disclosures", "Disclosures (shares with other agencies)", self.disclosures.len()),
            ("audit", "Audit entries", self.audit.len()),
        ];
        for (id, name, n) in sections {
            let _ = write!(h, "<li><a href=\"#{id}\">{}</a> ({n})</li>", esc(name));
        }
        h.push_str("</ol></nav></header>\n<main>\n");

        section(&mut h, "profiles", "Profiles (merge group)", &self.profiles, |p| {
            format!("Profile {}", p.profile.id)
        })?;
        // Consents as a table.
        h.push_str("<section id=\"consents\"><h2>Consent per purpose</h2>\n");
        let mut rows = 0;
        let mut t = String::from("<table><thead><tr><th>profile</th><th>purpose</th><th>state</th><th>when</th><th>recorded by</th><th>device</th></tr></thead><tbody>");
        for p in &self.profiles {
            for (purpose, c) in &p.profile.consents {
                rows += 1;
                let _ = write!(
                    t,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&p.profile.id),
                    esc(purpose.as_str()),
                    esc(c.state.as_str()),
                    esc(&c.at.to_rfc3339()),
                    esc(&c.by),
                    esc(&c.device)
                );
            }
        }
        t.push_str("</tbody></table>\n");
        if rows == 0 {
            h.push_str("<p class=\"none\">No consent per purpose is recorded.</p>\n");
        } else {
            h.push_str(&t);
        }
        h.push_str("</section>\n");
        section(&mut h, "encounters", "Encounters (services and referrals included)", &self.encounters, |e| {
            format!("Encounter {} ({})", e.id, e.input.at.map(|t| t.to_rfc3339()).unwrap_or_default())
        })?;
        section(&mut h, "concerns", "Safeguarding concerns", &self.concerns, |c| format!("Concern {} ({})", c.id, c.at.to_rfc3339()))?;
        section(&mut h, "incidents", "Incidents", &self.incidents, |i| format!("Incident {} ({})", i.id, i.input.when.to_rfc3339()))?;
        // Disclosures and audit as tables.
        h.push_str("<section id=\"disclosures\"><h2>Disclosures (shares with other agencies)</h2>\n");
        if self.disclosures.is_empty() {
            h.push_str("<p class=\"none\">No share of these records is logged.</p>\n");
        } else {
            h.push_str("<table><thead><tr><th>when</th><th>record</th><th>to</th><th>by</th><th>device</th><th>lawful basis</th><th>consent at the time</th></tr></thead><tbody>");
            for d in &self.disclosures {
                let x = &d.disclosure;
                let consent = format!(
                    "record: {}; profile: {}; {}",
                    x.consent.record,
                    x.consent.profile.as_ref().map(|p| p.state.as_str()).unwrap_or("none recorded"),
                    if x.consent.covered { "covered by consent" } else { "NOT covered by consent" }
                );
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&x.at.to_rfc3339()),
                    esc(d.entity),
                    esc(&d.record),
                    esc(x.recipient.as_str()),
                    esc(&x.by),
                    esc(&x.device),
                    esc(x.legal_basis.map(|b| b.as_str()).unwrap_or("-")),
                    esc(&consent)
                );
            }
            h.push_str("</tbody></table>\n");
        }
        h.push_str("</section>\n<section id=\"audit\"><h2>Audit entries</h2>\n");
        if self.audit.is_empty() {
            h.push_str("<p class=\"none\">No audit entries.</p>\n");
        } else {
            h.push_str("<table><thead><tr><th>when</th><th>action</th><th>record</th><th>by</th><th>device</th></tr></thead><tbody>");
            for a in &self.audit {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                    esc(&a.at),
                    esc(&a.action),
                    esc(&a.entity),
                    esc(a.entity_id.as_deref().unwrap_or("")),
                    esc(&a.actor),
                    esc(&a.device)
                );
            }
            h.push_str("</tbody></table>\n");
        }
        h.push_str("</section>\n</main>\n</body>\n</html>\n");
        Ok(h)
    }
}

/// One section of records, each shown with every field it holds.
fn section<T: Serialize>(h: &mut String, id: &str, title: &str, items: &[T], heading: impl Fn(&T) -> String) -> Result<()> {
    let _ = write!(h, "<section id=\"{id}\"><h2>{}</h2>\n", esc(title));
    if items.is_empty() {
        h.push_str("<p class=\"none\">None held.</p>\n");
    }
    for it in items {
        let v = serde_json::to_value(it)?;
        let _ = write!(h, "<article><h3>{}</h3>{}</article>\n", esc(&heading(it)), html_value(&v));
    }
    h.push_str("</section>\n");
    Ok(())
}

/// Renders any JSON value as nested definition lists and lists, every text escaped.
fn html_value(v: &Json) -> String {
    match v {
        Json::Object(m) if m.is_empty() => "<span class=\"none\">none</span>".into(),
        Json::Object(m) => {
            let mut o = String::from("<dl>");
            for (k, x) in m {
                let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(&k.replace('_', " ")), html_value(x));
            }
            o.push_str("</dl>");
            o
        }
        Json::Array(a) if a.is_empty() => "<span class=\"none\">none</span>".into(),
        Json::Array(a) => {
            let mut o = String::from("<ul>");
            for x in a {
                let _ = write!(o, "<li>{}</li>", html_value(x));
            }
            o.push_str("</ul>");
            o
        }
        Json::Null => "<span class=\"none\">-</span>".into(),
        Json::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#111;line-height:1.4}\
h1{font-size:1.5rem}h2{border-bottom:2px solid #333;margin-top:2rem}h3{font-size:1rem;margin:1rem 0 .3rem}\
.banner{background:#fde8e8;border:2px solid #b00;padding:.5rem;font-weight:bold}.meta{color:#444}\
.none{color:#666;font-style:italic}table{border-collapse:collapse;width:100%;font-size:.9rem}\
th,td{border:1px solid #999;padding:.25rem .4rem;text-align:left;vertical-align:top}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.2rem 0}dt{font-weight:600}dd{margin:0}\
article{border:1px solid #ccc;padding:.3rem .6rem;margin:.4rem 0;break-inside:avoid}\
@media print{body{margin:0;max-width:none}nav{display:none}a{color:inherit;text-decoration:none}h2{break-after:avoid}}";
