//! # outreach-core
//!
//! The whole domain of the outreach logger, with no FFI in it: the encrypted store (SQLCipher),
//! the CRDT documents (automerge), the query projections, validation and the offline alert
//! check. See `ARCHITECTURE.md` at the repository root for how the pieces fit.
//!
//! ```no_run
//! use outreach_core::{Store, StoreKey, Unlock, TeamSetup, StoreOptions, ShiftStart, EncounterInput};
//! let dir = std::path::Path::new("/tmp/outreach-example");
//! let key = StoreKey::generate(); // on a phone: from the Keystore / Keychain
//! let mut store = Store::create(dir, Unlock::Key(key), TeamSetup::new("Test Team", &["north-beat"]), &StoreOptions::default())?;
//! store.start_shift(ShiftStart { van: "Van 1".into(), crew: vec!["staff-a".into()], zones: vec!["north-beat".into()], at: None })?;
//! store.log_encounter(EncounterInput::new("north-beat"))?;
//! # Ok::<(), outreach_core::Error>(())
//! ```
#![warn(missing_docs)]

pub mod access;
pub mod alert_review;
pub mod api;
pub mod audit;
pub mod doc;
pub mod erase;
pub mod consent;
pub mod error;
pub mod fieldseal;
pub mod key;
pub mod model;
pub mod normalise;
pub mod people;
pub mod projection;
pub mod report;
pub mod review;
pub mod retention;
pub mod store;
pub mod sync;
pub mod wipe;

pub use consent::{DisclosureEntry, ShareError};
pub use api::{AuditEvent, PersonMatch, RecordClash, Settings, TeamSetup};
pub use error::{Error, Result};
pub use key::{KdfParams, StoreKey, Unlock};
pub use model::*;
pub use people::{DuplicateSuggestion, IdCodeSignal, MergeError, MergeMap};
pub use report::{Report, ReportOptions};
pub use review::{IncidentToShare, ReferralFollowUp, ReviewList, ShareRecipient};
pub use store::{exists as store_exists, Durability, Store, StoreOptions, SCHEMA_VERSION};
pub use sync::{CancelToken, HttpTransport, SyncProgress, SyncReport, SyncStatus, Transport, TransportError};

/// Test support: migrations and schema description (used by the migration test).
#[doc(hidden)]
pub mod testing {
    pub use crate::store::schema::{describe, MIGRATIONS};
    /// Runs migrations on a bare connection up to `target`.
    pub fn migrate_to(conn: &mut rusqlite::Connection, target: u32) -> crate::Result<()> {
        crate::store::schema::migrate_to(conn, target)
    }
    /// Copies the store's new audit entries into its synced audit document, as the start of
    /// every sync does (for tests without a hub).
    pub fn append_audit_doc(store: &mut crate::Store) -> crate::Result<u64> {
        store.append_audit_doc()
    }
}
