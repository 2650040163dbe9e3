//! Erasure of a person (the right to erasure), by crypto-shredding.
//!
//! [`Store::erase_person`] (lead, online) takes the person's whole merge group (every profile
//! merged into it, or that it was merged into, directly or through a chain), and shreds their
//! person documents for the whole team with [`ShredReason::Erasure`] (see
//! [`Store::shred_docs`]): the hub deletes their ciphertext and keys, every device deletes its
//! copies at its next sync before anything else, and every key that could open an older copy
//! (team keys of earlier epochs, agreement keys) is destroyed.
//!
//! Encounters, concerns and incidents live in shift documents and are kept: they hold only
//! what the anonymised counts need (zone, night, services, categories and a pseudonymous
//! profile id). Their person-linked free text is sealed under a field key that lives only in
//! the person document (core/src/fieldseal.rs), so it becomes unreadable everywhere, in old
//! hub copies too. The profiles' merge edges are kept as pseudonymous ids (`erased_people`)
//! so that "unique people" stays the same in every report.
//!
//! The erasure is audited (`person.erase`, pseudonymous id only) and is itself synced: the
//! signed order reaches every device through the hub.

use rusqlite::params;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::check_id;
use crate::store::Store;
use crate::sync::{CancelToken, Role, ShredOutcome, ShredReason, SyncReport, Transport};

/// What an erasure would destroy, for the lead to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasurePlan {
    /// The profile asked for.
    pub person_id: String,
    /// Its code name, shown only to the lead for the confirmation (never logged).
    pub code_name: String,
    /// Every profile of its merge group (sorted), the asked one included.
    pub profiles: Vec<String>,
    /// Their person documents (destroyed).
    pub person_docs: Vec<String>,
    /// Encounters linked to those profiles (kept for the counts; sealed free text destroyed).
    pub encounters: u64,
    /// Safeguarding concerns linked to them (kept likewise).
    pub concerns: u64,
    /// Incidents linked to them (kept likewise).
    pub incidents: u64,
}

/// What [`Store::erase_person`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureOutcome {
    /// What was erased.
    pub plan: ErasurePlan,
    /// The shred order sent.
    pub shred: ShredOutcome,
}

impl Store {
    /// What erasing `person_id` would destroy: its merge group and their documents, and how
    /// many records link to them (kept, with their sealed fields made unreadable). Reads this
    /// device only; [`Store::erase_person`] syncs first and plans again.
    pub fn erasure_plan(&self, person_id: &str) -> Result<ErasurePlan> {
        check_id("person.id", person_id)?;
        let code_name: String = self
            .conn
            .query_row("SELECT code_name FROM people WHERE id = ?1", [person_id], |r| r.get(0))
            .map_err(|_| Error::NotFound { kind: "person", id: person_id.to_string() })?;
        let merges = self.merge_map()?;
        let canonical = merges.canonical(person_id);
        let all: Vec<(String, String)> = {
            let mut st = self.conn.prepare("SELECT id, doc_id FROM people ORDER BY id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut profiles = vec![];
        let mut person_docs = vec![];
        for (id, doc) in all {
            if merges.canonical(&id) == canonical {
                profiles.push(id);
                if !person_docs.contains(&doc) {
                    person_docs.push(doc);
                }
            }
        }
        let count = |table: &str| -> Result<u64> {
            let mut n = 0u64;
            for p in &profiles {
                n += self.conn.query_row(&format!("SELECT count(*) FROM {table} WHERE person_id = ?1"), params![p], |r| r.get::<_, i64>(0))? as u64;
            }
            Ok(n)
        };
        Ok(ErasurePlan {
            person_id: person_id.to_string(),
            code_name,
            encounters: count("encounters")?,
            concerns: count("concerns")?,
            incidents: count("incidents")?,
            profiles,
            person_docs,
        })
    }

    /// Erases a person for the whole team (lead only, needs the hub): syncs, takes the merge
    /// group of `person_id` and shreds its person documents ([`ShredReason::Erasure`]), then
    /// audits `person.erase` for each profile (pseudonymous id only).
    ///
    /// Errors: [`Error::State`] if this device is not a lead or has no hub;
    /// [`Error::Network`] if the hub cannot be reached (nothing was erased: retry online);
    /// [`Error::NotFound`] if the profile is not on this device.
    ///
    /// ```no_run
    /// # fn f(store: &mut outreach_core::Store, hub: &dyn outreach_core::Transport) -> outreach_core::Result<()> {
    /// let plan = store.erasure_plan("0190a1b2-0000-7000-8000-000000000001")?;
    /// println!("{} profile(s), {} document(s)", plan.profiles.len(), plan.person_docs.len());
    /// let done = store.erase_person(hub, &plan.person_id)?;
    /// println!("team key epoch is now {}", done.shred.epoch);
    /// # Ok(()) }
    /// ```
    pub fn erase_person(&mut self, transport: &dyn Transport, person_id: &str) -> Result<ErasureOutcome> {
        check_id("person.id", person_id)?;
        if self.sync_role()? != Role::Lead {
            return Err(Error::State("only a lead device can erase a person".into()));
        }
        if self.hub_url()?.is_none() || !self.sync_status()?.registered {
            return Err(Error::State("erasure needs the hub: register this device with a hub first".into()));
        }
        self.erasure_plan(person_id)?;
        // Catch up first, so the merge group and the document keys are complete.
        let cancel = CancelToken::new();
        let mut report = SyncReport::default();
        self.apply_shreds(transport, &cancel)?;
        self.push(transport, &|_| {}, &cancel, &mut report)?;
        self.pull(transport, &|_| {}, &cancel, &mut report)?;
        let plan = self.erasure_plan(person_id)?;
        let shred = self.shred_now(transport, &plan.person_docs, ShredReason::Erasure)?;
        for p in &plan.profiles {
            self.audit("person.erase", "person", Some(p))?;
        }
        Ok(ErasureOutcome { plan, shred })
    }
}
