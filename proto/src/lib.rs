//! Wire protocol of the outreach sync hub, shared byte for byte by the phone-side sync client
//! and the hub.
//!
//! The hub is a relay and directory that never reads records: everything a device syncs is
//! sealed here (XChaCha20-Poly1305 under a per-document data key, then signed by the device's
//! Ed25519 key) before it leaves the device. The hub can check *who* wrote a chunk, because it
//! knows every enrolled device's public signing key, but it holds no key that decrypts anything.
//!
//! This crate does no I/O, touches no database and has no async code. Every decoder returns a
//! typed error on arbitrary input and never panics; every secret type zeroizes its memory on
//! drop and prints no key material through `Debug`.
//!
//! Layout:
//! - [`ids`]: hex identifiers ([`ids::TeamId`], [`ids::DocId`], [`ids::DeviceId`], ...).
//! - [`keys`]: device identities and symmetric keys ([`keys::DeviceKeys`], [`keys::TeamKey`],
//!   [`keys::DocKey`]).
//! - [`seal`]: sealing and opening of document chunks ([`seal::seal_chunk`], [`seal::open_chunk`]).
//! - [`wrap`]: wrapping of document keys under the team key and of team keys for devices.
//! - [`invite`]: one-time invites and the `outreach1:` invite code.
//! - [`auth`]: signed request envelopes ([`auth::SignedRequest`]).
//! - [`messages`]: every request and response body, error codes and endpoint paths.
//!
//! See `docs/PROTOCOL.md` at the repository root for the full wire description.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod encoding;
pub mod error;
pub mod ids;
pub mod invite;
pub mod keys;
pub mod messages;
pub mod orders;
pub mod seal;
pub mod wrap;

pub use error::{AuthError, CryptoError, DecodeError};

/// Version of the wire format. Every envelope and sealed object carries it; a peer refuses
/// versions it does not know with [`messages::ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest request or response body either side accepts, in bytes (4 MiB).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How far a signed request's timestamp may be from the hub's clock (±10 minutes).
pub const MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// Most items a single `pull` returns, whatever limit the client asks for.
pub const MAX_PULL_LIMIT: u32 = 1000;

/// Longest device display name, in bytes. Names are visible to the hub: use a device label
/// ("Van 2 phone A"), never a person's name.
pub const MAX_DEVICE_NAME_BYTES: usize = 64;

/// Longest hub URL accepted inside an invite code, in bytes (keeps the QR code small).
pub const MAX_HUB_URL_BYTES: usize = 200;
