//! The outreach sync hub: an end-to-end encrypted relay and directory.
//!
//! The hub never reads records. It checks who is asking (signed requests from enrolled,
//! unrevoked devices), checks who wrote each chunk (Ed25519 signatures over ciphertext), keeps
//! a per-team ordered log of sealed chunks and wrapped keys, and hands it back page by page.
//! It holds no key that decrypts anything.
//!
//! Entry points:
//! - [`serve`]: run from a [`HubConfig`] until Ctrl-C/SIGTERM (what `outreach-hub serve` and
//!   `outreach hub serve` call).
//! - [`start`] / [`start_with_storage`]: run in the background and get a [`RunningHub`]
//!   (address, setup code, clock, graceful [`RunningHub::shutdown`]); with
//!   [`HubConfig::loopback_ephemeral`] this is how tests start an in-process hub.
//! - [`api::router`]: the axum router alone, for driving handlers without a socket.
//! - [`storage::Storage`]: the storage trait, with SQLite and PostgreSQL engines.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod client;
pub mod clock;
pub mod error;
pub mod ratelimit;
pub mod server;
pub mod storage;

pub use clock::Clock;
pub use error::{ApiError, HubError};
pub use ratelimit::RateLimit;
pub use server::{serve, start, start_with_storage, HubConfig, RunningHub, TlsFiles};
pub use storage::{open_storage, Storage};
