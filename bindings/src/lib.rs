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

use zeroize::Zeroize;

pub mod error;
pub mod store;
pub mod types;

pub use error::OutreachError;
pub use store::{CancelHandle, OutreachStore, SyncProgressListener};
pub use types::*;

/// Wipes the store in `dir` without opening it (a forgotten PIN, a damaged store, a phone
/// that was told to wipe): its key check value, the database and its side files are
/// overwritten with random bytes and deleted. The shell must also delete its Keystore/Keychain
/// key. Succeeds when there is no store. Close any open `OutreachStore` of `dir` first.
#[uniffi::export]
pub fn wipe_store(dir: String) -> Result<(), OutreachError> {
    if dir.trim().is_empty() {
        return Err(error::invalid("dir", "must not be empty"));
    }
    Ok(outreach_core::wipe::wipe_dir(std::path::Path::new(&dir))?)
}

/// Checks a PIN typed at the unlock screen against the duress PIN of the store in `dir`
/// (call it BEFORE unwrapping the key). `true`: it was the duress PIN and the store has just
/// been wiped; the shell must delete its Keystore/Keychain key and show what it shows when
/// there is no store. `false`: carry on unlocking. This copy of the PIN is wiped after use.
#[uniffi::export]
pub fn check_duress_pin(dir: String, pin: Vec<u8>) -> Result<bool, OutreachError> {
    let mut pin = pin;
    if dir.trim().is_empty() {
        pin.zeroize();
        return Err(error::invalid("dir", "must not be empty"));
    }
    let r = outreach_core::wipe::check_duress(std::path::Path::new(&dir), &pin);
    pin.zeroize();
    Ok(r?)
}

/// Version of this crate, so a shell can check it loaded the library it was built against.
#[uniffi::export]
pub fn ffi_version() -> Result<String, OutreachError> {
    Ok(env!("CARGO_PKG_VERSION").to_string())
}
