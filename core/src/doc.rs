//! Automerge documents: kinds, skeletons, and the mapping between domain records (as JSON
//! values) and CRDT objects.
//!
//! Records are JSON objects written as automerge maps. Nested objects are maps (field-level
//! merge); arrays are *atomic values* (an edited list replaces the list object, so concurrent
//! edits of one list show as a same-field clash instead of an interleaving); scalars are
//! registers. An amend writes only the fields that changed, so two devices editing different
//! fields of one record both keep their edit, and two devices editing the same field keep both
//! values (automerge conflicts), surfaced by [`conflicts`].

use automerge::hydrate;
use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use serde_json::{Map, Number, Value as Json};

use crate::error::{Error, Result};

/// The kinds of document (DESIGN.md: one per device-shift, one per person profile, small ones
/// for alerts and team settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// A device-shift: its encounters, concerns and incidents.
    Shift,
    /// One person profile.
    Person,
    /// One alert.
    Alert,
    /// Team settings (zones, default country, the alert hash secret).
    Settings,
    /// A retention archive: the reduced, count-only form of shift documents that outlived the
    /// team's retention policy (see `retention`). Written by a lead's purge.
    Archive,
    /// One device's audit log (its chained, signed entries; see `crate::audit`).
    Audit,
}

impl DocKind {
    /// Stable name stored in the documents table and in the document root.
    pub fn as_str(&self) -> &'static str {
        match self {
            DocKind::Shift => "shift",
            DocKind::Person => "person",
            DocKind::Alert => "alert",
            DocKind::Settings => "settings",
            DocKind::Archive => "archive",
            DocKind::Audit => "audit",
        }
    }

    /// Parses a stored kind name.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "shift" => DocKind::Shift,
            "person" => DocKind::Person,
            "alert" => DocKind::Alert,
            "settings" => DocKind::Settings,
            "archive" => DocKind::Archive,
            "audit" => DocKind::Audit,
            _ => return Err(Error::Document("unknown document kind".into())),
        })
    }

    /// The maps every document of this kind has from its first change, so that maps are never
    /// created independently on two devices (which would hide one side's contents).
    pub fn skeleton_maps(&self) -> &'static [&'static str] {
        match self {
            DocKind::Shift => &["shift", "encounters", "concerns", "incidents"],
            DocKind::Person => &["profile"],
            DocKind::Alert => &["alert"],
            DocKind::Settings => &["settings"],
            DocKind::Archive => &["archive", "encounters", "concerns", "incidents"],
            DocKind::Audit => &["entries"],
        }
    }
}

/// Schema version written into each document's root.
pub const DOC_SCHEMA: i64 = 1;

/// Writes the skeleton of a new document (must be called in its first change).
///
/// A person document also gets its random field key here, at the root key
/// [`crate::fieldseal::FIELD_KEY_ROOT`] (outside `profile`, so no profile view or export shows
/// it): the key that seals the free text of that person's records in shift documents, and that
/// dies with the person's document on erasure.
pub fn write_skeleton<T: Transactable>(tx: &mut T, kind: DocKind) -> Result<()> {
    tx.put(ROOT, "kind", kind.as_str())?;
    tx.put(ROOT, "v", DOC_SCHEMA)?;
    for m in kind.skeleton_maps() {
        tx.put_object(ROOT, *m, ObjType::Map)?;
    }
    if kind == DocKind::Person {
        let k = crate::fieldseal::FieldKey::generate();
        tx.put(ROOT, crate::fieldseal::FIELD_KEY_ROOT, ScalarValue::Bytes(k.as_bytes().to_vec()))?;
    }
    Ok(())
}

/// The field key a person document carries (see [`write_skeleton`]), if it has one.
pub fn person_field_key<R: ReadDoc>(doc: &R) -> Result<Option<crate::fieldseal::FieldKey>> {
    match doc.get(&ROOT, crate::fieldseal::FIELD_KEY_ROOT)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Bytes(b) => Ok(crate::fieldseal::FieldKey::from_bytes(b).ok()),
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

/// The id of a map directly under the root (part of the skeleton).
pub fn root_map<R: ReadDoc>(doc: &R, key: &str) -> Result<ObjId> {
    child_map(doc, &ROOT, key)?.ok_or_else(|| Error::Document(format!("missing skeleton map {key}")))
}

/// The id of a map under `parent` at `key`, if there is one.
pub fn child_map<R: ReadDoc>(doc: &R, parent: &ObjId, key: &str) -> Result<Option<ObjId>> {
    match doc.get(parent, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(Some(id)),
        Some(_) => Err(Error::Document(format!("{key} is not a map"))),
        None => Ok(None),
    }
}

/// Converts a JSON value to a hydrate value for batch creation.
pub fn to_hydrate(v: &Json) -> hydrate::Value {
    match v {
        Json::Object(m) => {
            let map: std::collections::HashMap<String, hydrate::Value> =
                m.iter().map(|(k, v)| (k.clone(), to_hydrate(v))).collect();
            hydrate::Value::Map(map.into())
        }
        Json::Array(a) => hydrate::Value::List(a.iter().map(to_hydrate).collect::<Vec<_>>().into()),
        other => hydrate::Value::Scalar(to_scalar(other)),
    }
}

fn to_scalar(v: &Json) -> ScalarValue {
    match v {
        Json::Null => ScalarValue::Null,
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                ScalarValue::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        Json::Array(_) | Json::Object(_) => ScalarValue::Null,
    }
}

/// Converts a scalar back to JSON.
pub fn scalar_to_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Null => Json::Null,
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Int(i) => Json::Number((*i).into()),
        ScalarValue::Uint(u) => Json::Number((*u).into()),
        ScalarValue::F64(f) => Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        ScalarValue::Counter(c) => Json::Number(i64::from(c).into()),
        ScalarValue::Timestamp(t) => Json::Number((*t).into()),
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => Json::Null,
    }
}

/// Converts a hydrated automerge value to JSON (conflicts resolved to automerge's winner).
pub fn hydrate_to_json(v: &hydrate::Value) -> Json {
    match v {
        hydrate::Value::Scalar(s) => scalar_to_json(s),
        hydrate::Value::Map(m) => {
            let mut out = Map::new();
            for (k, mv) in m.iter() {
                out.insert(k.clone(), hydrate_to_json(&mv.value));
            }
            Json::Object(out)
        }
        hydrate::Value::List(l) => Json::Array(l.iter().map(|lv| hydrate_to_json(&lv.value)).collect()),
        hydrate::Value::Text(t) => Json::String(t.to_string()),
    }
}

/// Reads an object as JSON.
pub fn read_json<R: ReadDoc>(doc: &R, obj: &ObjId) -> Result<Json> {
    Ok(hydrate_to_json(&doc.hydrate(obj, None)?))
}

/// Reads the value at `parent[key]` as JSON, if present.
fn read_value<R: ReadDoc>(doc: &R, value: &Value<'_>, id: &ObjId) -> Result<Json> {
    match value {
        Value::Scalar(s) => Ok(scalar_to_json(s)),
        Value::Object(_) => read_json(doc, id),
    }
}

/// Creates a whole record as a map under `parent[key]` in one batch operation.
pub fn create_record<T: Transactable>(tx: &mut T, parent: &ObjId, key: &str, record: &Json) -> Result<ObjId> {
    if !record.is_object() {
        return Err(Error::Document("a record must be an object".into()));
    }
    Ok(tx.batch_create_object(parent, key, &to_hydrate(record), false)?)
}

/// Brings the map `obj` to the state `new`, writing only what differs.
/// Returns the number of fields written or deleted.
pub fn reconcile_map<T: Transactable>(tx: &mut T, obj: &ObjId, new: &Map<String, Json>) -> Result<usize> {
    let mut writes = 0;
    let current: Vec<String> = tx.keys(obj).collect();
    for (k, v) in new {
        let existing = tx.get(obj, k.as_str())?.map(|(val, id)| (val.to_owned(), id));
        match (existing, v) {
            (Some((Value::Object(ObjType::Map), id)), Json::Object(m)) => {
                writes += reconcile_map(tx, &id, m)?;
            }
            (Some((Value::Object(_), id)), Json::Array(_)) => {
                if &read_json(tx, &id)? != v {
                    tx.batch_create_object(obj, k.as_str(), &to_hydrate(v), false)?;
                    writes += 1;
                }
            }
            (Some((Value::Scalar(s), _)), v) if !v.is_object() && !v.is_array() => {
                if scalar_to_json(&s) != *v {
                    tx.put(obj, k.as_str(), to_scalar(v))?;
                    writes += 1;
                }
            }
            (_, v) if v.is_object() || v.is_array() => {
                tx.batch_create_object(obj, k.as_str(), &to_hydrate(v), false)?;
                writes += 1;
            }
            (_, v) => {
                tx.put(obj, k.as_str(), to_scalar(v))?;
                writes += 1;
            }
        }
    }
    for k in current {
        if !new.contains_key(&k) {
            tx.delete(obj, k.as_str())?;
            writes += 1;
        }
    }
    Ok(writes)
}

/// A same-field clash: two or more devices wrote different values to one field concurrently.
/// Automerge keeps every value; the projection shows its deterministic winner until a lead
/// settles the clash.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Clash {
    /// Path from the record's map, e.g. `["zone"]` or `["consent", "record"]`.
    pub path: Vec<String>,
    /// Every value kept, the current winner first.
    pub values: Vec<Json>,
}

/// Lists every same-field clash inside the map `obj` (recursively).
pub fn conflicts<R: ReadDoc>(doc: &R, obj: &ObjId) -> Result<Vec<Clash>> {
    let mut out = vec![];
    walk_conflicts(doc, obj, &mut vec![], &mut out)?;
    Ok(out)
}

fn walk_conflicts<R: ReadDoc>(doc: &R, obj: &ObjId, path: &mut Vec<String>, out: &mut Vec<Clash>) -> Result<()> {
    let keys: Vec<String> = doc.keys(obj).collect();
    for k in keys {
        let all = doc.get_all(obj, k.as_str())?;
        if all.len() > 1 {
            let winner = doc.get(obj, k.as_str())?.map(|(_, id)| id);
            let mut values = vec![];
            let mut rest = vec![];
            for (v, id) in &all {
                let j = read_value(doc, v, id)?;
                if Some(id) == winner.as_ref() { values.push(j) } else { rest.push(j) }
            }
            values.extend(rest);
            let mut p = path.clone();
            p.push(k.clone());
            out.push(Clash { path: p, values });
        } else if let Some((Value::Object(ObjType::Map), id)) = all.into_iter().next() {
            path.push(k.clone());
            walk_conflicts(doc, &id, path, out)?;
            path.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::Automerge;
    use serde_json::json;

    fn doc_with_record(actor: u8) -> (Automerge, ObjId) {
        let mut d = Automerge::new().with_actor(automerge::ActorId::from(vec![actor; 16]));
        let mut tx = d.transaction();
        write_skeleton(&mut tx, DocKind::Person).unwrap();
        tx.commit();
        let p = root_map(&d, "profile").unwrap();
        (d, p)
    }

    #[test]
    fn reconcile_writes_only_changes_and_keeps_concurrent_fields() {
        let (mut a, p) = doc_with_record(1);
        let rec = json!({"code_name": "Fakey", "age_band": "18_24", "flags": {"injecting": false}, "settings": ["street"]});
        let mut tx = a.transaction();
        reconcile_map(&mut tx, &p, rec.as_object().unwrap()).unwrap();
        tx.commit();
        let mut b = a.fork().with_actor(automerge::ActorId::from(vec![2u8; 16]));
        // a edits age band, b edits flags.injecting: both survive.
        let mut ra = rec.clone();
        ra["age_band"] = json!("25_34");
        let mut tx = a.transaction();
        assert_eq!(reconcile_map(&mut tx, &p, ra.as_object().unwrap()).unwrap(), 1);
        tx.commit();
        let mut rb = rec.clone();
        rb["flags"]["injecting"] = json!(true);
        let mut tx = b.transaction();
        assert_eq!(reconcile_map(&mut tx, &p, rb.as_object().unwrap()).unwrap(), 1);
        tx.commit();
        a.merge(&mut b).unwrap();
        let got = read_json(&a, &p).unwrap();
        assert_eq!(got["age_band"], "25_34");
        assert_eq!(got["flags"]["injecting"], true);
        assert!(conflicts(&a, &p).unwrap().is_empty());
    }

    #[test]
    fn same_field_edits_are_kept_as_a_clash() {
        let (mut a, p) = doc_with_record(1);
        let mut b = a.fork().with_actor(automerge::ActorId::from(vec![2u8; 16]));
        let mut tx = a.transaction();
        reconcile_map(&mut tx, &p, json!({"code_name": "Testy A"}).as_object().unwrap()).unwrap();
        tx.commit();
        let mut tx = b.transaction();
        reconcile_map(&mut tx, &p, json!({"code_name": "Testy B"}).as_object().unwrap()).unwrap();
        tx.commit();
        a.merge(&mut b).unwrap();
        let c = conflicts(&a, &p).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, vec!["code_name".to_string()]);
        let mut vals: Vec<String> = c[0].values.iter().map(|v| v.as_str().unwrap().to_string()).collect();
        vals.sort();
        assert_eq!(vals, vec!["Testy A", "Testy B"]);
        assert_eq!(read_json(&a, &p).unwrap()["code_name"], c[0].values[0]);
    }

    #[test]
    fn json_round_trips_through_a_batch_created_record() {
        let (mut a, p) = doc_with_record(1);
        let rec = json!({"n": 3, "s": "x", "b": true, "l": ["a", "b"], "m": {"k": null}, "f": 1.5});
        let mut tx = a.transaction();
        let id = create_record(&mut tx, &p, "r", &rec).unwrap();
        tx.commit();
        assert_eq!(read_json(&a, &id).unwrap(), rec);
    }
}
