//! Query tables are projections of the documents.
//!
//! Each change re-projects the records it touched inside the same SQLite transaction;
//! [`rebuild`] recreates every table from the documents alone, and [`fingerprint`] gives a
//! canonical dump used by the tests to prove the two agree.

use automerge::{Automerge, ObjId, ReadDoc};
use rusqlite::{params, Connection};
use serde_json::Value as Json;

use crate::api::Settings;
use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::model::{self, IdentifierKind};
use crate::normalise;
use crate::store::exec;

/// The projection tables, in rebuild order.
pub const TABLES: &[&str] = &[
    "shifts", "encounters", "encounter_services", "referrals", "people", "concerns", "incidents", "alerts", "alert_ids",
    // Which shift documents a retention archive reduced (see `retention`).
    "retention_sources",
];

/// Which part of a document a change touched.
#[derive(Debug, Clone)]
pub(crate) enum Target<'a> {
    /// The whole document.
    All,
    /// The shift's own metadata.
    ShiftMeta,
    /// One record in a shift document's map (`encounters`, `concerns`, `incidents`).
    Record(&'static str, &'a str),
}

/// Deletes every projected row that came from a document.
pub(crate) fn delete_doc(conn: &Connection, doc_id: &str) -> Result<()> {
    exec(&conn, "DELETE FROM encounter_services WHERE encounter_id IN (SELECT id FROM encounters WHERE doc_id = ?1)", [doc_id])?;
    exec(&conn, "DELETE FROM referrals WHERE encounter_id IN (SELECT id FROM encounters WHERE doc_id = ?1)", [doc_id])?;
    exec(&conn, "DELETE FROM alert_ids WHERE alert_id IN (SELECT id FROM alerts WHERE doc_id = ?1)", [doc_id])?;
    exec(&conn, "DELETE FROM retention_sources WHERE doc_id = ?1", [doc_id])?;
    for t in ["shifts", "encounters", "people", "concerns", "incidents", "alerts"] {
        conn.execute(&format!("DELETE FROM {t} WHERE doc_id = ?1"), [doc_id])?;
    }
    Ok(())
}

/// Projects (part of) a document.
pub(crate) fn project(conn: &Connection, doc_id: &str, kind: DocKind, d: &Automerge, target: Target<'_>, s: &Settings) -> Result<()> {
    match kind {
        DocKind::Shift => project_shift(conn, doc_id, d, target, s),
        DocKind::Person => project_person(conn, doc_id, d),
        DocKind::Alert => project_alert(conn, doc_id, d, s),
        DocKind::Settings => Ok(()),
        DocKind::Audit => crate::audit::project(conn, d),
        DocKind::Archive => crate::retention::project_archive(conn, doc_id, d, s),
    }
}

fn shift_meta(d: &Automerge) -> Result<model::Shift> {
    let m = doc::root_map(d, "shift")?;
    Ok(serde_json::from_value(doc::read_json(d, &m)?)?)
}

fn project_shift(conn: &Connection, doc_id: &str, d: &Automerge, target: Target<'_>, s: &Settings) -> Result<()> {
    // A shift a retention archive has reduced projects nothing: the archive's rows stand for
    // it until the shred removes it (whichever of the two arrives or is rebuilt first).
    if crate::retention::is_reduced(conn, doc_id)? {
        return delete_doc(conn, doc_id);
    }
    match target {
        Target::All => {
            delete_doc(conn, doc_id)?;
            let shift = shift_meta(d)?;
            upsert_shift(conn, doc_id, &shift)?;
            for map in ["encounters", "concerns", "incidents"] {
                let m = doc::root_map(d, map)?;
                let keys: Vec<String> = d.keys(&m).collect();
                for k in keys {
                    project_record(conn, doc_id, d, &m, map, &k, &shift, s)?;
                }
            }
            Ok(())
        }
        Target::ShiftMeta => upsert_shift(conn, doc_id, &shift_meta(d)?),
        Target::Record(map, id) => {
            let shift = shift_meta(d)?;
            let m = doc::root_map(d, map)?;
            project_record(conn, doc_id, d, &m, map, id, &shift, s)
        }
    }
}

fn upsert_shift(conn: &Connection, doc_id: &str, sh: &model::Shift) -> Result<()> {
    exec(&conn, 
        "INSERT OR REPLACE INTO shifts (id, doc_id, device, van, night, started_at, ended_at, data) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
        params![
            sh.id, doc_id, sh.device, sh.van, sh.night.to_string(), sh.started_at.to_rfc3339(),
            sh.ended_at.map(|t| t.to_rfc3339()), serde_json::to_string(sh)?
        ],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn project_record(
    conn: &Connection, doc_id: &str, d: &Automerge, map: &ObjId, which: &str, id: &str, shift: &model::Shift, s: &Settings,
) -> Result<()> {
    let obj = doc::child_map(d, map, id)?.ok_or_else(|| Error::NotFound { kind: "record", id: id.to_string() })?;
    let mut json = doc::read_json(d, &obj)?;
    // Sealed person-linked fields stay sealed in the row (see fieldseal.rs).
    let sealed = match crate::fieldseal::RecordKind::from_name(which) {
        Some(k) => crate::fieldseal::extract_sealed(k, &mut json),
        None => serde_json::Map::new(),
    };
    match which {
        "encounters" => {
            let e: model::Encounter = serde_json::from_value(json)?;
            let at = e.input.at.ok_or_else(|| Error::Document("encounter without time".into()))?;
            exec(&conn, "DELETE FROM encounter_services WHERE encounter_id = ?1", [&e.id])?;
            exec(&conn, "DELETE FROM referrals WHERE encounter_id = ?1", [&e.id])?;
            exec(&conn, 
                "INSERT OR REPLACE INTO encounters (id, doc_id, shift_id, device, at, night, zone, setting, contact_type, person_id, data)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                params![
                    e.id, doc_id, shift.id, e.device, at.to_rfc3339(), shift.night.to_string(), e.input.zone,
                    e.input.setting.as_str(), e.input.contact_type.as_str(), e.input.person, row_data(&e, &sealed)?
                ],
            )?;
            for (svc, n) in &e.input.services {
                exec(&conn, 
                    "INSERT INTO encounter_services (encounter_id, service, qty) VALUES (?1, ?2, ?3)",
                    params![e.id, svc.as_str(), n],
                )?;
            }
            for (i, r) in e.input.referrals.iter().enumerate() {
                exec(&conn, 
                    "INSERT INTO referrals (encounter_id, idx, destination, mode, consent, status) VALUES (?1,?2,?3,?4,?5,?6)",
                    params![e.id, i as i64, r.destination.as_str(), r.mode.as_str(), r.consent, r.status.as_str()],
                )?;
            }
        }
        "concerns" => {
            let c: model::Concern = serde_json::from_value(json)?;
            exec(&conn, 
                "INSERT OR REPLACE INTO concerns (id, doc_id, shift_id, at, night, category, person_id, reviewed, data)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                params![
                    c.id, doc_id, shift.id, c.at.to_rfc3339(), shift.night.to_string(), c.input.category.as_str(),
                    c.input.person, c.review.is_some(), row_data(&c, &sealed)?
                ],
            )?;
        }
        "incidents" => {
            let i: model::Incident = serde_json::from_value(json)?;
            exec(&conn, 
                "INSERT OR REPLACE INTO incidents (id, doc_id, shift_id, at, night, kind, person_id, share_police, share_national, data)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                params![
                    i.id, doc_id, shift.id, i.input.when.to_rfc3339(), model::night_of(i.input.when, s.utc_offset_minutes).to_string(),
                    i.input.kind.as_str(), i.input.person, i.input.share_police.as_str(), i.input.share_national.as_str(),
                    row_data(&i, &sealed)?
                ],
            )?;
        }
        _ => return Err(Error::Document("unknown record map".into())),
    }
    Ok(())
}

/// A record's projection `data`: the record as its model type writes it, plus its still-sealed
/// fields (if any) under `"sealed"`.
fn row_data<T: serde::Serialize>(r: &T, sealed: &serde_json::Map<String, Json>) -> Result<String> {
    if sealed.is_empty() {
        return Ok(serde_json::to_string(r)?);
    }
    let mut v = serde_json::to_value(r)?;
    crate::fieldseal::attach_sealed(&mut v, sealed.clone());
    Ok(v.to_string())
}

fn project_person(conn: &Connection, doc_id: &str, d: &Automerge) -> Result<()> {
    let m = doc::root_map(d, "profile")?;
    let json = doc::read_json(d, &m)?;
    if json.get("id").is_none() {
        // An erased or empty profile projects to nothing.
        exec(&conn, "DELETE FROM people WHERE doc_id = ?1", [doc_id])?;
        return Ok(());
    }
    let p: model::Person = serde_json::from_value(json)?;
    exec(&conn, 
        "INSERT OR REPLACE INTO people (id, doc_id, code_name, name_key, age_band, merged_into, created_at, data, field_key)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
        params![
            p.id, doc_id, p.input.code_name, normalise::fold_name(&p.input.code_name), p.input.age_band.as_str(),
            p.merged_into, p.created_at.to_rfc3339(), serde_json::to_string(&p)?,
            doc::person_field_key(d)?.map(|k| k.as_bytes().to_vec())
        ],
    )?;
    Ok(())
}

fn project_alert(conn: &Connection, doc_id: &str, d: &Automerge, s: &Settings) -> Result<()> {
    let m = doc::root_map(d, "alert")?;
    let a: model::Alert = serde_json::from_value(doc::read_json(d, &m)?)?;
    exec(&conn, "DELETE FROM alert_ids WHERE alert_id = ?1", [&a.id])?;
    exec(&conn, 
        "INSERT OR REPLACE INTO alerts (id, doc_id, risk, created_at, data) VALUES (?1,?2,?3,?4,?5)",
        params![a.id, doc_id, a.input.risk.as_str(), a.created_at.to_rfc3339(), serde_json::to_string(&a)?],
    )?;
    let key = s.alert_key()?;
    for (kind, list) in [
        (IdentifierKind::Phone, &a.input.phones),
        (IdentifierKind::Plate, &a.input.plates),
        (IdentifierKind::Email, &a.input.emails),
        (IdentifierKind::Username, &a.input.usernames),
    ] {
        for v in list {
            // Stored values are already normalised; normalising again is idempotent.
            let n = normalise::identifier(kind, v, &s.default_country).unwrap_or_else(|_| v.clone());
            let h = normalise::keyed_hash(&key, kind, &n);
            exec(&conn, "INSERT OR IGNORE INTO alert_ids (hash, alert_id) VALUES (?1, ?2)", params![&h[..], a.id])?;
        }
    }
    Ok(())
}

/// Rebuilds every projection table from the documents alone.
pub(crate) fn rebuild(conn: &mut Connection, s: &Settings, actor: automerge::ActorId) -> Result<()> {
    let t = conn.transaction()?;
    rebuild_in(&t, s, actor)?;
    t.commit()?;
    Ok(())
}

/// Rebuilds every projection table inside the caller's transaction.
pub(crate) fn rebuild_in(t: &Connection, s: &Settings, actor: automerge::ActorId) -> Result<()> {
    for table in TABLES {
        t.execute(&format!("DELETE FROM {table}"), [])?;
    }
    let docs: Vec<(String, String)> = {
        let mut st = t.prepare("SELECT doc_id, kind FROM docs ORDER BY doc_id")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, kind) in docs {
        let d = crate::store::load_doc_from(t, &id, actor.clone())?;
        project(t, &id, DocKind::parse(&kind)?, &d, Target::All, s)?;
    }
    Ok(())
}

/// A canonical dump of every projection table (sorted rows, JSON values).
pub(crate) fn fingerprint(conn: &Connection) -> Result<String> {
    let mut out = String::new();
    for table in TABLES {
        let mut st = conn.prepare(&format!("SELECT * FROM {table}"))?;
        let cols = st.column_count();
        let mut rows: Vec<String> = st
            .query_map([], |r| {
                let mut row = Vec::with_capacity(cols);
                for i in 0..cols {
                    let v: rusqlite::types::Value = r.get(i)?;
                    row.push(match v {
                        rusqlite::types::Value::Null => Json::Null,
                        rusqlite::types::Value::Integer(i) => Json::from(i),
                        rusqlite::types::Value::Real(f) => Json::from(f),
                        rusqlite::types::Value::Text(s) => Json::from(s),
                        rusqlite::types::Value::Blob(b) => Json::from(hex::encode(b)),
                    });
                }
                Ok(Json::Array(row).to_string())
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows.sort();
        out.push_str(table);
        out.push('\n');
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    Ok(out)
}
