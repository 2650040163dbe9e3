//! Errors of the core.
//!
//! [`Error`] is the rich internal error. It never carries personal data: validation errors name
//! the *field* and the *rule*, never the value that was rejected, and database errors are reduced
//! to their kind. The bindings map it to an even smaller public enum at the FFI edge.

use std::path::PathBuf;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key or passphrase does not open this store. Nothing was written.
    #[error("wrong key or passphrase for this store")]
    WrongKey,
    /// There is no store at the given place.
    #[error("no store found in {0}; create one first (outreach init)")]
    NoStore(PathBuf),
    /// A store already exists where a new one was to be created.
    #[error("a store already exists in {0}")]
    AlreadyExists(PathBuf),
    /// The store's files are damaged (truncated, overwritten, unreadable). Nothing was written.
    #[error("the store is damaged ({0}); restore it from another device or a backup")]
    Corrupt(String),
    /// The store was written by a newer version of this software.
    #[error("the store has schema version {found}, newer than this software supports ({supported}); update the app")]
    TooNew {
        /// Version found on disk.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// An input failed validation. Nothing was written.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field that failed, e.g. `encounter.zone`.
        field: &'static str,
        /// What rule it broke (never the rejected value itself).
        reason: String,
    },
    /// A record that was asked for does not exist.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Kind of record (`shift`, `encounter`, `person`, ...).
        kind: &'static str,
        /// Its id (ids are random and carry no personal data).
        id: String,
    },
    /// The operation is not allowed in the current state (e.g. logging with no shift open).
    #[error("{0}")]
    State(String),
    /// The CRDT layer failed (a damaged document or chunk).
    #[error("document error: {0}")]
    Document(String),
    /// SQLite / SQLCipher failed.
    #[error("database error: {0}")]
    Db(String),
    /// The file system failed.
    #[error("i/o error: {0}")]
    Io(String),
    /// Work was cancelled through its handle.
    #[error("cancelled")]
    Cancelled,
    /// The hub could not be reached or did not answer (sync). Nothing was lost; retry later.
    #[error("hub unreachable: {0}")]
    Network(String),
    /// The hub refused a request; `code` is the protocol's error code (e.g. `revoked`).
    #[error("hub refused the request ({code}, HTTP {status})")]
    Hub {
        /// Protocol error code, snake_case.
        code: String,
        /// HTTP status.
        status: u16,
        /// Whether retrying later may succeed (rate limit, hub unavailable).
        retryable: bool,
    },
    /// A synced chunk or key failed to verify or decrypt; nothing of its page was applied.
    #[error("sync data failed verification: {0}")]
    Crypto(String),
    /// The store was wiped by this call (a lead's remote wipe order, or the dead-man timer):
    /// its key material and files are destroyed and nothing in it can be recovered. See
    /// [`crate::wipe`].
    #[error("this device's store has been wiped (remote wipe or dead-man timer) and cannot be recovered; a lead can set the device up again with a new invite")]
    Wiped,
    /// The hub refused this device as revoked and handed over a lead's signed order to wipe
    /// it. [`Store::sync`](crate::Store::sync) verifies and obeys it (and then returns
    /// [`Error::Wiped`]); other hub calls return it as it is. Carries no personal data.
    #[error("the hub refuses this device: a lead revoked it and ordered it wiped; run a sync to carry the order out")]
    WipeOrdered(Box<outreach_proto::orders::WipeOrder>),
}

impl Error {
    /// Shorthand for a validation error.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid { field, reason: reason.into() }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                    Error::Corrupt(format!("{:?}", f.code))
                }
                // Only the code: SQLite messages can quote values.
                code => Error::Db(format!("{code:?}")),
            },
            rusqlite::Error::QueryReturnedNoRows => Error::Db("no rows".into()),
            rusqlite::Error::InvalidColumnType(i, name, ty) => Error::Db(format!("column {i} ({name}) has type {ty}")),
            other => Error::Db(short_kind(other)),
        }
    }
}

fn short_kind(e: &rusqlite::Error) -> String {
    // rusqlite's Display can include SQL or values; keep only the variant name.
    let dbg = format!("{e:?}");
    dbg.split(['(', ' ', '{']).next().unwrap_or("sqlite").to_string()
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        // Automerge errors describe structure (ids, hashes), not content.
        Error::Document(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.kind().to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Document(format!("decode: {:?} at line {} column {}", e.classify(), e.line(), e.column()))
    }
}
