//! The public error of the FFI: small, stable, and free of personal data.
//!
//! The core's rich [`outreach_core::Error`] already never carries personal data (validation
//! errors name the field and the rule, never the value; SQLite errors are reduced to their
//! code). At this edge it is reduced further: paths and record ids are dropped, and database,
//! document and i/o failures collapse into `Internal { code }`.

/// Every error an `outreach-ffi` call can return (Kotlin `OutreachException.*`, Swift
/// `OutreachError.*`, Python `OutreachError.*`). A Rust panic is NOT one of these: it arrives
/// as uniffi's own internal error (Kotlin `InternalException`, Swift `rustPanic`, Python
/// `InternalError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum OutreachError {
    /// The key does not open this store. Nothing was written.
    #[error("wrong key for this store")]
    WrongKey,
    /// There is no store in the given directory.
    #[error("no store in this directory")]
    NoStore,
    /// A store already exists where a new one was to be created.
    #[error("a store already exists in this directory")]
    AlreadyExists,
    /// The store's files are damaged, or were written by a newer app version
    /// (`too_new`). Nothing was written.
    #[error("the store cannot be read ({code})")]
    Corrupt { code: String },
    /// An input failed validation: `field` (e.g. `encounter.zone`) and the rule it broke
    /// (never the rejected value). Nothing was written.
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A record that was asked for does not exist (`kind`: `encounter`, `person`, `shift`...).
    #[error("{kind} not found")]
    NotFound { kind: String },
    /// Not allowed in the current state (no shift open, shift already open, not registered
    /// with a hub, not a lead device, a store call from inside a progress callback...).
    /// (The field is `reason`, not `message`: Kotlin exceptions already have a `message`.)
    #[error("{reason}")]
    State { reason: String },
    /// The hub could not be reached. Nothing was lost; retry later.
    #[error("hub unreachable")]
    Network,
    /// This device was revoked by a lead; it can no longer sync.
    #[error("this device was revoked")]
    Revoked,
    /// The hub refused the request: `code` is the protocol's snake_case code
    /// (`bad_setup_code`, `invite_used`, `stale_timestamp`, `rate_limited`...).
    #[error("hub refused the request ({code})")]
    Hub { code: String, retryable: bool },
    /// Synced data (or an enrolment answer) failed verification; nothing of it was applied.
    #[error("sync data failed verification")]
    Crypto,
    /// The work was cancelled through its `CancelHandle`; everything finished before the
    /// cancel is kept.
    #[error("cancelled")]
    Cancelled,
    /// Any other failure inside the core (`db`, `document`, `io`). Report it; retrying may
    /// help after a restart.
    #[error("internal error ({code})")]
    Internal { code: String },
    /// The store was wiped just now: by a lead's remote wipe order (delivered at a sync) or by
    /// the dead-man timer (at open: the phone had not synced for longer than the team allows).
    /// Its files are destroyed; the shell must delete its Keystore/Keychain key and show the
    /// set-up screen. The phone can join again with a new invite.
    #[error("this phone's store was wiped")]
    Wiped,
}

impl From<outreach_core::Error> for OutreachError {
    fn from(e: outreach_core::Error) -> Self {
        use outreach_core::Error as E;
        match e {
            E::WrongKey => OutreachError::WrongKey,
            E::NoStore(_) => OutreachError::NoStore,
            E::AlreadyExists(_) => OutreachError::AlreadyExists,
            E::Corrupt(_) => OutreachError::Corrupt {
                code: "corrupt".into(),
            },
            E::TooNew { .. } => OutreachError::Corrupt {
                code: "too_new".into(),
            },
            E::Invalid { field, reason } => OutreachError::Invalid {
                field: field.to_string(),
                reason,
            },
            E::NotFound { kind, .. } => OutreachError::NotFound {
                kind: kind.to_string(),
            },
            E::State(reason) => OutreachError::State { reason },
            E::Cancelled => OutreachError::Cancelled,
            E::Network(_) => OutreachError::Network,
            E::Hub { code, .. } if code == "revoked" => OutreachError::Revoked,
            E::Hub {
                code, retryable, ..
            } => OutreachError::Hub { code, retryable },
            E::Crypto(_) => OutreachError::Crypto,
            E::Wiped => OutreachError::Wiped,
            // Only `sync` obeys a wipe order; any other call just learns the device is revoked.
            E::WipeOrdered(_) => OutreachError::Revoked,
            E::Db(_) => OutreachError::Internal { code: "db".into() },
            E::Document(_) => OutreachError::Internal {
                code: "document".into(),
            },
            E::Io(_) => OutreachError::Internal { code: "io".into() },
        }
    }
}

/// Shorthand used by the conversions in this crate.
pub(crate) fn invalid(field: &str, reason: &str) -> OutreachError {
    OutreachError::Invalid {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outreach_core::Error as E;

    #[test]
    fn mapping_drops_paths_and_ids() {
        let e: OutreachError = E::NoStore("/secret/place".into()).into();
        assert_eq!(e, OutreachError::NoStore);
        assert!(!e.to_string().contains("secret"));
        let e: OutreachError = E::NotFound {
            kind: "person",
            id: "0190-x".into(),
        }
        .into();
        assert_eq!(
            e,
            OutreachError::NotFound {
                kind: "person".into()
            }
        );
        let e: OutreachError = E::Hub {
            code: "revoked".into(),
            status: 403,
            retryable: false,
        }
        .into();
        assert_eq!(e, OutreachError::Revoked);
        let e: OutreachError = E::Db("Busy".into()).into();
        assert_eq!(e, OutreachError::Internal { code: "db".into() });
        let e: OutreachError = E::Network("ConnectionFailed".into()).into();
        assert_eq!(e, OutreachError::Network);
        let e: OutreachError = E::Wiped.into();
        assert_eq!(e, OutreachError::Wiped);
    }
}
