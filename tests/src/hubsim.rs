//! An in-process hub for sync tests: the hub's axum router driven without a socket, over a
//! real storage engine (SQLite in a directory, or PostgreSQL in a schema of its own), with a
//! clock the test can move. [`InProcHub`] is itself a [`Transport`], so a `Store` syncs with it
//! directly; fault-injecting and counting transports wrap it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use outreach_core::sync::{Transport, TransportError};
use outreach_hub::api::{router, HubState};
use outreach_hub::storage::sqlite::SqliteStorage;
use outreach_hub::{Clock, RateLimit, Storage};
use tower::ServiceExt;

/// The setup code of every in-process hub (fake, not a secret).
pub const SETUP_CODE: &str = "TEST-setup-code-not-secret";
/// The hub URL written into invites (never dialled: the transport is in-process).
pub const HUB_URL: &str = "https://hub.example.test";

/// Which engine a hub runs on.
pub enum Engine {
    /// SQLite at this path (its `-wal` and `-shm` beside it).
    Sqlite(PathBuf),
    /// PostgreSQL at `url`, in `schema` (dropped by [`InProcHub::drop_pg_schema`]).
    Postgres {
        /// Connection URL (loopback).
        url: String,
        /// Schema holding the hub's tables.
        schema: String,
    },
}

/// A hub whose router is called in-process, on its own single-threaded tokio runtime.
pub struct InProcHub {
    /// The runtime every request runs on.
    pub rt: tokio::runtime::Runtime,
    router: axum::Router,
    /// The hub's clock (tests move it to simulate delays).
    pub clock: Clock,
    /// The storage engine.
    pub store: Arc<dyn Storage>,
    /// Which engine, and where.
    pub engine: Engine,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

impl InProcHub {
    fn with_store(rt: tokio::runtime::Runtime, store: Arc<dyn Storage>, engine: Engine) -> Self {
        let clock = Clock::system();
        let unlimited = RateLimit::new(1.0e9, 1.0e9);
        let state = HubState::new(store.clone(), clock.clone(), SETUP_CODE.into(), unlimited, unlimited);
        InProcHub { rt, router: router(state), clock, store, engine }
    }

    /// A hub on a new SQLite database at `path` (created).
    pub fn sqlite(path: &Path) -> Self {
        let rt = runtime();
        let store = rt.block_on(SqliteStorage::open(path)).expect("open hub sqlite");
        Self::with_store(rt, Arc::new(store), Engine::Sqlite(path.to_path_buf()))
    }

    /// A hub on PostgreSQL at `url`, in a new schema named `schema`.
    pub fn postgres(url: &str, schema: &str) -> Self {
        let rt = runtime();
        let store = rt
            .block_on(outreach_hub::storage::postgres::PgStorage::connect(url, Some(schema)))
            .expect("connect to PostgreSQL");
        Self::with_store(rt, Arc::new(store), Engine::Postgres { url: url.into(), schema: schema.into() })
    }

    /// Drops the PostgreSQL schema of this hub (no-op on SQLite).
    pub fn drop_pg_schema(&self) {
        if let Engine::Postgres { url, schema } = &self.engine {
            let (url, schema) = (url.clone(), schema.clone());
            self.rt.block_on(async move {
                if let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                }
            });
        }
    }

    /// Sends one request to the router and returns status and body.
    pub fn call(&self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let request = Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_vec()))
            .expect("request");
        let router = self.router.clone();
        self.rt.block_on(async move {
            let response = router.oneshot(request).await.expect("infallible");
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await.expect("body").to_bytes().to_vec();
            (status, bytes)
        })
    }
}

impl Transport for InProcHub {
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        Ok(self.call(path, body))
    }
}

/// Counts requests and request+response body bytes through an inner transport.
pub struct Counting<T> {
    /// The transport counted.
    pub inner: T,
    /// Requests sent.
    pub requests: std::cell::Cell<u64>,
    /// Request body bytes.
    pub sent: std::cell::Cell<u64>,
    /// Response body bytes.
    pub received: std::cell::Cell<u64>,
    /// Each request, in order: path, request body bytes, response body bytes.
    pub log: std::cell::RefCell<Vec<(String, u64, u64)>>,
    /// The last request body sent to each path.
    pub last_body: std::cell::RefCell<std::collections::HashMap<String, Vec<u8>>>,
}

impl<T> Counting<T> {
    /// Wraps `inner` with zeroed counters.
    pub fn new(inner: T) -> Self {
        Counting {
            inner,
            requests: Default::default(),
            sent: Default::default(),
            received: Default::default(),
            log: Default::default(),
            last_body: Default::default(),
        }
    }
    /// Zeroes the counters.
    pub fn reset(&self) {
        self.requests.set(0);
        self.sent.set(0);
        self.received.set(0);
        self.log.borrow_mut().clear();
    }
}

impl<T: Transport> Transport for Counting<T> {
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        self.requests.set(self.requests.get() + 1);
        self.sent.set(self.sent.get() + body.len() as u64);
        self.last_body.borrow_mut().insert(path.to_string(), body.to_vec());
        let r = self.inner.post(path, body)?;
        self.received.set(self.received.get() + r.1.len() as u64);
        self.log.borrow_mut().push((path.to_string(), body.len() as u64, r.1.len() as u64));
        Ok(r)
    }
}

/// Small seeded PRNG (splitmix64 seeding, xorshift64* steps): a schedule is reproducible from
/// its seed alone.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (nearby seeds give unrelated streams).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    /// Shuffles `v` in place.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// Copies every file of `src` (one level: a store directory) into `dst` (created), byte for
/// byte: the disk image a crash at this instant would leave (the OS page cache survives a
/// killed process).
pub fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name()))?;
        }
    }
    Ok(())
}
