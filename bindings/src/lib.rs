//! `outreach-ffi`: the thin, stable uniffi surface over `outreach-core` for the Android, iOS
//! and desktop shells (Kotlin, Swift and Python bindings are generated from this crate's
//! compiled, unstripped library). See `bindings/README.md` for the API, the threading rules and
//! the error mapping.
//!
//! Rules for everything exported here (DESIGN.md, "FFI"):
//! - one small public error enum ([`OutreachError`]) that never carries personal data;
//! - every exported function/method returns `Result<_, _>`: in Swift only *throwing* calls can
//!   surface a Rust panic as `UniffiInternalError.rustPanic` (a non-throwing one is `try!` and
//!   traps), so `Result` is what keeps "no panic may cross the FFI" true in every language;
//! - long work (sync) takes a progress listener and a cancel handle;
//! - no business logic here: convert, lock, call the core, convert back.

uniffi::setup_scaffolding!();

pub mod error;
pub mod store;
pub mod types;

pub use error::OutreachError;
pub use store::{CancelHandle, OutreachStore, SyncProgressListener};
pub use types::*;

/// Version of this crate, so a shell can check it loaded the library it was built against.
#[uniffi::export]
pub fn ffi_version() -> Result<String, OutreachError> {
    Ok(env!("CARGO_PKG_VERSION").to_string())
}
