//! Person merges and duplicate suggestions.
//!
//! A lead's merge is an **edge**, never a destructive rewrite: merging profile A into B writes
//! one field, `merged_into = B`, in A's own person document (through [`Store::change`], so it is
//! one audited, synced CRDT change). Encounters keep pointing at the profile they were logged
//! against. Unmerging deletes the field again. Chains (A → B → C) are followed; self-merges and
//! merges that would close a cycle are refused with a typed [`MergeError`].
//!
//! Canonical ids are **never stored** in encounter rows: reports and counts resolve them at
//! query time from the `people.merged_into` projection ([`MergeMap`]), so a merge that reaches
//! this device later through sync changes every count from that moment on.
//!
//! **Identifying codes.** A profile may carry an optional identifying code the person chose to
//! give (e.g. initials and birth-day digits). It is normalised ([`normalise_id_code`]) and
//! stored ONLY as HMAC-SHA256 under the team's identifying-code key, which lives in the team
//! settings document like the alert key (so it reaches enrolled devices end-to-end encrypted
//! and never the hub). The code itself is never written, logged or shown. Equal hashes are a
//! strong duplicate signal in [`Store::duplicate_suggestions`].
//!
//! Two devices can still create a cycle between them (each merges one way while offline). The
//! resolver tolerates that: every member of a cycle resolves to the smallest id in it, the same
//! on every device, and [`Store::merge_cycles`] lists such cycles for the lead to undo.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::transaction::Transactable;
use automerge::ReadDoc;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::model::{check_id, AgeBand};
use crate::normalise;
use crate::projection::{self, Target};
use crate::store::Store;

/// Why a merge or unmerge was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A profile cannot be merged into itself.
    #[error("a profile cannot be merged into itself")]
    SelfMerge,
    /// The merge would close a cycle: the target already resolves (through `path`) to the
    /// profile being merged.
    #[error("merging would create a cycle ({}); unmerge one of them first", path.join(" -> "))]
    Cycle {
        /// The chain from the target back to the profile being merged.
        path: Vec<String>,
    },
    /// The profile is already merged into another one; unmerge it first.
    #[error("profile {id} is already merged into {into}; unmerge it first (outreach people unmerge {id})")]
    AlreadyMerged {
        /// The profile.
        id: String,
        /// What it is merged into.
        into: String,
    },
    /// Unmerge of a profile that is not merged.
    #[error("profile {0} is not merged into another profile")]
    NotMerged(String),
    /// Anything else (not found, invalid id, storage).
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<MergeError> for Error {
    fn from(e: MergeError) -> Self {
        match e {
            MergeError::Store(e) => e,
            MergeError::SelfMerge => {
                Error::invalid("merge.into", "a profile cannot be merged into itself")
            }
            other => Error::State(other.to_string()),
        }
    }
}

/// The merge edges of every profile this device holds, for resolving canonical ids.
#[derive(Debug, Clone, Default)]
pub struct MergeMap {
    edges: HashMap<String, String>,
}

impl MergeMap {
    /// Builds a map from `(id, merged_into)` edges.
    pub fn from_edges<I: IntoIterator<Item = (String, String)>>(edges: I) -> Self {
        MergeMap {
            edges: edges.into_iter().collect(),
        }
    }

    /// The chain starting at `id` (inclusive), stopping at the first profile that is not
    /// merged or at the first repeat. The bool is true when the chain ran into a cycle.
    fn chain(&self, id: &str) -> (Vec<String>, bool) {
        let mut path = vec![id.to_string()];
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        seen.insert(id);
        let mut cur = id;
        while let Some(next) = self.edges.get(cur) {
            if !seen.insert(next.as_str()) {
                // `next` starts the cycle; the cycle is path[pos..].
                let pos = path.iter().position(|p| p == next).unwrap_or(0);
                path.drain(..pos);
                return (path, true);
            }
            path.push(next.clone());
            cur = next;
        }
        (path, false)
    }

    /// The canonical profile of `id`: the end of its merge chain. A profile that is not merged
    /// (or not known here at all) is its own canonical profile. Members of a cycle created by
    /// concurrent merges on two devices resolve to the smallest id in the cycle.
    pub fn canonical(&self, id: &str) -> String {
        let (path, cycle) = self.chain(id);
        if cycle {
            path.into_iter().min().unwrap_or_else(|| id.to_string())
        } else {
            path.last().cloned().unwrap_or_else(|| id.to_string())
        }
    }

    /// What `id` is directly merged into, if anything.
    pub fn merged_into(&self, id: &str) -> Option<&str> {
        self.edges.get(id).map(|s| s.as_str())
    }
}

/// What the identifying codes of a suggested pair say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdCodeSignal {
    /// Both profiles carry the same keyed hash: a strong signal that they are one person.
    Same,
    /// Both carry a code and the codes differ: a signal against (the score is halved).
    Different,
    /// At least one profile has no code: no signal.
    Unknown,
}

/// A suggested duplicate pair, for the lead to confirm with a merge.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DuplicateSuggestion {
    /// One profile (the smaller id of the pair).
    pub a: String,
    /// Its code name.
    pub a_code_name: String,
    /// The other profile.
    pub b: String,
    /// Its code name.
    pub b_code_name: String,
    /// Age band of `a` and of `b`.
    pub age_bands: (AgeBand, AgeBand),
    /// Code-name similarity 0..=1 (folded names).
    pub name_score: f64,
    /// Zones both were seen in (from encounters, including merged profiles).
    pub shared_zones: Vec<String>,
    /// What the keyed hashes of the identifying codes say.
    pub id_code: IdCodeSignal,
    /// Overall score 0..=1, best first.
    pub score: f64,
}

/// Shortest and longest identifying code, after normalisation (characters).
pub const ID_CODE_LEN: std::ops::RangeInclusive<usize> = 3..=32;

/// Normalises an identifying code: accents folded, letters upper-cased, everything but letters
/// and digits dropped (so "ab-12 " and "AB12" are the same code). The error names the rule,
/// never the code.
pub fn normalise_id_code(code: &str) -> Result<Zeroizing<String>> {
    let folded = Zeroizing::new(normalise::fold_name(code));
    let n: Zeroizing<String> = Zeroizing::new(
        folded
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(|c| c.to_uppercase())
            .collect(),
    );
    let len = n.chars().count();
    if !ID_CODE_LEN.contains(&len) {
        return Err(Error::invalid(
            "person.id_code",
            format!(
                "use {} to {} letters or digits (for example initials and birth-day digits)",
                ID_CODE_LEN.start(),
                ID_CODE_LEN.end()
            ),
        ));
    }
    Ok(n)
}

/// A fresh random team secret (32 bytes, hex), for the team settings document.
pub(crate) fn new_team_secret() -> String {
    use rand::RngCore;
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut k[..]);
    hex::encode(&k[..])
}

/// Smallest code-name similarity for a suggestion.
pub const SUGGEST_NAME_MIN: f64 = 0.82;

impl Store {
    /// The team's identifying-code key: from the settings document, or, for a team created
    /// before the key existed, derived from the alert key (HMAC with its own label), which is
    /// the same on every device of the team.
    fn id_code_key(&self) -> Result<Zeroizing<Vec<u8>>> {
        if !self.settings.id_code_key.is_empty() {
            let k = Zeroizing::new(
                hex::decode(&self.settings.id_code_key)
                    .map_err(|_| Error::Document("bad identifying-code key".into()))?,
            );
            if k.len() != 32 {
                return Err(Error::Document("bad identifying-code key".into()));
            }
            return Ok(k);
        }
        let alert = Zeroizing::new(self.settings.alert_key()?);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&alert)
            .map_err(|_| Error::Document("bad alert key".into()))?;
        mac.update(b"outreach/id-code-key/v1");
        Ok(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
    }

    /// The keyed hash (hex) of an identifying code, computed in memory; nothing is written.
    pub fn id_code_hash(&self, code: &str) -> Result<String> {
        let n = normalise_id_code(code)?;
        let key = self.id_code_key()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .map_err(|_| Error::Document("bad identifying-code key".into()))?;
        mac.update(b"outreach/id-code/v1\0");
        mac.update(n.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Sets (or with `None` clears) a profile's identifying code. Only the keyed hash is
    /// written to the person document; the code is never stored, logged or returned. One
    /// synced change, audited `person.id_code`.
    pub fn set_id_code(&mut self, person: &str, code: Option<&str>) -> Result<()> {
        check_id("person.id", person)?;
        let hash = code.map(|c| self.id_code_hash(c)).transpose()?;
        let doc_id = self.person_doc_id(person)?;
        self.change(
            &doc_id,
            DocKind::Person,
            false,
            |tx| {
                let m = doc::root_map(tx, "profile")?;
                match &hash {
                    Some(h) => tx.put(&m, "id_code_hash", h.as_str())?,
                    None => {
                        if tx.get(&m, "id_code_hash")?.is_some() {
                            tx.delete(&m, "id_code_hash")?;
                        }
                    }
                }
                Ok(())
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Person, d, Target::All, s),
            &[("person.id_code", "person", Some(person))],
        )
    }

    /// The merge edges held on this device (from the `people` projection).
    pub fn merge_map(&self) -> Result<MergeMap> {
        let mut st = self
            .conn
            // Erased profiles keep their merge edge (pseudonymous ids, core/src/erase.rs).
            .prepare_cached("SELECT id, merged_into FROM people WHERE merged_into IS NOT NULL UNION ALL SELECT person_id, canonical FROM erased_people")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        Ok(MergeMap::from_edges(
            rows.collect::<rusqlite::Result<Vec<_>>>()?,
        ))
    }

    /// The canonical profile of `id`, following merge edges (A → B → C gives C).
    pub fn canonical_person(&self, id: &str) -> Result<String> {
        check_id("person.id", id)?;
        self.person_doc_id(id)?;
        Ok(self.merge_map()?.canonical(id))
    }

    fn person_doc_id(&self, id: &str) -> Result<String> {
        use rusqlite::OptionalExtension;
        self.conn
            .prepare_cached("SELECT doc_id FROM people WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound {
                kind: "person",
                id: id.to_string(),
            })
    }

    /// Merges profile `a` into profile `b`: records the edge `a.merged_into = b` in `a`'s person
    /// document (one synced, audited change: `person.merge` on `a`, `person.merge_target` on
    /// `b`). Nothing else is rewritten; [`Store::unmerge_person`] undoes it. Returns the
    /// canonical profile `a` now resolves to (the end of `b`'s chain).
    pub fn merge_people(&mut self, a: &str, b: &str) -> Result<String, MergeError> {
        check_id("merge.person", a)?;
        check_id("merge.into", b)?;
        if a == b {
            return Err(MergeError::SelfMerge);
        }
        let doc_id = self.person_doc_id(a)?;
        self.person_doc_id(b)?;
        let map = self.merge_map()?;
        if let Some(into) = map.merged_into(a) {
            return Err(MergeError::AlreadyMerged {
                id: a.to_string(),
                into: into.to_string(),
            });
        }
        let (path, _) = map.chain(b);
        if path.iter().any(|p| p == a) || map.canonical(b) == a {
            let mut path: Vec<String> = path.into_iter().take_while(|p| p != a).collect();
            path.push(a.to_string());
            return Err(MergeError::Cycle { path });
        }
        let target = b.to_string();
        self.change(
            &doc_id,
            DocKind::Person,
            false,
            |tx| {
                let m = doc::root_map(tx, "profile")?;
                tx.put(&m, "merged_into", target.as_str())?;
                Ok(())
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Person, d, Target::All, s),
            &[
                ("person.merge", "person", Some(a)),
                ("person.merge_target", "person", Some(b)),
            ],
        )?;
        Ok(self.merge_map()?.canonical(a))
    }

    /// Undoes a merge of `a` (deletes its `merged_into` edge). Audited (`person.unmerge`).
    /// Profiles merged into `a` stay merged into `a`.
    pub fn unmerge_person(&mut self, a: &str) -> Result<(), MergeError> {
        check_id("merge.person", a)?;
        let doc_id = self.person_doc_id(a)?;
        if self.merge_map()?.merged_into(a).is_none() {
            return Err(MergeError::NotMerged(a.to_string()));
        }
        self.change(
            &doc_id,
            DocKind::Person,
            false,
            |tx| {
                let m = doc::root_map(tx, "profile")?;
                tx.delete(&m, "merged_into")?;
                Ok(())
            },
            |t, d, s| projection::project(t, &doc_id, DocKind::Person, d, Target::All, s),
            &[("person.unmerge", "person", Some(a))],
        )?;
        Ok(())
    }

    /// Merge cycles created by concurrent merges on different devices (each listed once,
    /// smallest id first). Unmerge any one member to break a cycle.
    pub fn merge_cycles(&self) -> Result<Vec<Vec<String>>> {
        let map = self.merge_map()?;
        let mut out: BTreeSet<Vec<String>> = BTreeSet::new();
        for id in map.edges.keys() {
            let (mut path, cycle) = map.chain(id);
            if cycle {
                let min = path
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.cmp(b.1))
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                path.rotate_left(min);
                out.insert(path);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Offline duplicate suggestions, best first: pairs of canonical profiles whose folded code
    /// names are similar (at least [`SUGGEST_NAME_MIN`]), whose age bands agree (or one is
    /// unknown), scored with the zones both were seen in. Pairs already merged (same canonical
    /// profile) are never suggested; merged profiles speak through their canonical profile.
    ///
    /// Base score = 0.6 × name similarity + 0.25 × age agreement (1 same known band, 0.5 when
    /// either is unknown) + 0.15 × zone overlap (Jaccard of zones seen, 0 when either has none).
    ///
    /// Identifying codes: two profiles (or merge groups) with the same keyed hash are suggested
    /// whatever their names and age bands, scored 0.5 + 0.5 × base and listed before every
    /// other pair ([`IdCodeSignal::Same`]); two different codes halve the score
    /// ([`IdCodeSignal::Different`]).
    pub fn duplicate_suggestions(&self, limit: usize) -> Result<Vec<DuplicateSuggestion>> {
        let map = self.merge_map()?;
        struct P {
            id: String,
            code_name: String,
            key: String,
            age: AgeBand,
            code: Option<String>,
        }
        let mut people: Vec<P> = vec![];
        {
            let mut st = self.conn.prepare_cached(
                "SELECT id, code_name, name_key, age_band, data FROM people ORDER BY id",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            // Identifying-code hashes of every profile, credited to its canonical profile.
            let mut codes: HashMap<String, BTreeSet<String>> = HashMap::new();
            for r in rows {
                let (id, code_name, key, age, data) = r?;
                let code = serde_json::from_str::<serde_json::Value>(&data)?
                    .get("id_code_hash")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                let canon = map.canonical(&id);
                if let Some(c) = &code {
                    codes.entry(canon.clone()).or_default().insert(c.clone());
                }
                if canon != id {
                    continue;
                }
                people.push(P {
                    id,
                    code_name,
                    key,
                    age: age.parse().unwrap_or(AgeBand::Unknown),
                    code,
                });
            }
            // A canonical profile speaks with its own code, or else the codes of its group.
            for p in &mut people {
                if p.code.is_none() {
                    if let Some(set) = codes.get(&p.id) {
                        p.code = set.iter().next().cloned();
                    }
                }
            }
        }
        let code_signal = |a: &P, b: &P| match (&a.code, &b.code) {
            (Some(x), Some(y)) if x == y => IdCodeSignal::Same,
            (Some(_), Some(_)) => IdCodeSignal::Different,
            _ => IdCodeSignal::Unknown,
        };
        // Zones seen per canonical profile.
        let mut zones: HashMap<String, BTreeSet<String>> = HashMap::new();
        {
            let mut st = self.conn.prepare_cached(
                "SELECT DISTINCT person_id, zone FROM encounters WHERE person_id IS NOT NULL",
            )?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for r in rows {
                let (pid, zone) = r?;
                zones.entry(map.canonical(&pid)).or_default().insert(zone);
            }
        }
        // Compare within age-compatible buckets only (unknown is compatible with every band).
        let mut by_age: BTreeMap<AgeBand, Vec<usize>> = BTreeMap::new();
        for (i, p) in people.iter().enumerate() {
            by_age.entry(p.age).or_default().push(i);
        }
        let empty = BTreeSet::new();
        let mut out = vec![];
        // Pairs with the same identifying-code hash are candidates whatever their names and
        // age bands say (a person may give another street name; a band may be misjudged).
        let mut same_code: BTreeSet<(usize, usize)> = BTreeSet::new();
        {
            let mut by_code: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (i, p) in people.iter().enumerate() {
                if let Some(c) = &p.code {
                    by_code.entry(c.as_str()).or_default().push(i);
                }
            }
            for v in by_code.values() {
                for (x, i) in v.iter().enumerate() {
                    for j in &v[x + 1..] {
                        same_code.insert((*i.min(j), *i.max(j)));
                    }
                }
            }
        }
        for i in 0..people.len() {
            let pi = &people[i];
            let candidates: Vec<usize> = if pi.age == AgeBand::Unknown {
                (i + 1..people.len()).collect()
            } else {
                let mut v: Vec<usize> = by_age
                    .get(&pi.age)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|j| *j > i)
                    .collect();
                v.extend(
                    by_age
                        .get(&AgeBand::Unknown)
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|j| *j > i),
                );
                v
            };
            let mut candidates = candidates;
            candidates.extend(same_code.iter().filter(|(a, _)| *a == i).map(|(_, b)| *b));
            candidates.sort_unstable();
            candidates.dedup();
            for j in candidates {
                let pj = &people[j];
                let name = normalise::name_similarity(&pi.key, &pj.key);
                let signal = code_signal(pi, pj);
                if name < SUGGEST_NAME_MIN && signal != IdCodeSignal::Same {
                    continue;
                }
                let age = if pi.age == pj.age && pi.age != AgeBand::Unknown {
                    1.0
                } else if pi.age == AgeBand::Unknown || pj.age == AgeBand::Unknown {
                    0.5
                } else {
                    // Different known bands: only reachable through a shared identifying code.
                    0.0
                };
                let za = zones.get(&pi.id).unwrap_or(&empty);
                let zb = zones.get(&pj.id).unwrap_or(&empty);
                let shared: Vec<String> = za.intersection(zb).cloned().collect();
                let union = za.union(zb).count();
                let overlap = if union == 0 {
                    0.0
                } else {
                    shared.len() as f64 / union as f64
                };
                let base = 0.6 * name + 0.25 * age + 0.15 * overlap;
                let score = match signal {
                    IdCodeSignal::Same => 0.5 + 0.5 * base,
                    IdCodeSignal::Different => 0.5 * base,
                    IdCodeSignal::Unknown => base,
                };
                out.push(DuplicateSuggestion {
                    a: pi.id.clone(),
                    a_code_name: pi.code_name.clone(),
                    b: pj.id.clone(),
                    b_code_name: pj.code_name.clone(),
                    age_bands: (pi.age, pj.age),
                    name_score: name,
                    shared_zones: shared,
                    id_code: signal,
                    score,
                });
            }
        }
        out.sort_by(|x, y| {
            (y.id_code == IdCodeSignal::Same)
                .cmp(&(x.id_code == IdCodeSignal::Same))
                .then_with(|| y.score.total_cmp(&x.score))
                .then_with(|| x.a.cmp(&y.a))
                .then_with(|| x.b.cmp(&y.b))
        });
        out.truncate(limit);
        if !out.is_empty() {
            // A list of code names: one audit event for the listing, no ids.
            self.audit("person.list", "person", None)?;
        }
        Ok(out)
    }
}
