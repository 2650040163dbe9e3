//! `outreach-ffi`: the uniffi surface over `outreach-core` for the Android, iOS and desktop
//! shells (Kotlin, Swift, Python bindings are generated from this crate's compiled library).
//!
//! Rules for everything exported here (DESIGN.md, "FFI"):
//! - a small public error enum that never carries personal data;
//! - every exported function/method returns `Result<_, _>`: in Swift only *throwing* calls can
//!   surface a Rust panic as `UniffiInternalError.rustPanic` (a non-throwing one is `try!` and
//!   traps), so `Result` is what keeps "no panic may cross the FFI" true in every language;
//! - long work takes a progress listener and a cancel token.
//!
//! `plumbing` is a TEMPORARY API that exists only to prove the toolchains end to end; it will
//! be replaced by the real API over `outreach-core`.

uniffi::setup_scaffolding!();

pub mod plumbing;
