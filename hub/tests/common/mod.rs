//! Shared test harness: engines (SQLite in a temp dir; PostgreSQL in a fresh schema when
//! OUTREACH_TEST_PG_URL is set), a router driven without sockets, and fake devices.
//! All names and contents are obviously fake.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use outreach_hub::api::{router, HubState};
use outreach_hub::storage::postgres::PgStorage;
use outreach_hub::storage::sqlite::SqliteStorage;
use outreach_hub::storage::TableFingerprint;
use outreach_hub::{Clock, RateLimit, Storage};
use outreach_proto::auth::SignedRequest;
use outreach_proto::ids::{DocId, TeamId};
use outreach_proto::invite::{InviteCode, InvitePackage};
use outreach_proto::keys::{DeviceKeys, DocKey, TeamKey};
use outreach_proto::messages::*;
use outreach_proto::seal::{seal_chunk, SealedChunk};
use outreach_proto::wrap::{new_doc_key, wrap_team_key, WrappedDocKey};
use outreach_proto::PROTOCOL_VERSION;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;

pub const SETUP_CODE: &str = "test-setup-code-not-secret";
pub const HUB_URL: &str = "https://hub.example.test";

/// A storage engine plus whatever must live as long as it (temp dir) and be cleaned after.
pub struct Engine {
    pub store: Arc<dyn Storage>,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl Engine {
    /// Drop the PostgreSQL schema of a finished test (SQLite's temp dir goes on drop).
    pub async fn cleanup(self) {
        if let Some((url, schema)) = &self.pg_schema {
            drop(self.store);
            if let Ok((client, conn)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await {
                tokio::spawn(conn);
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            }
        }
    }
}

pub async fn sqlite_engine() -> Option<Engine> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStorage::open(&dir.path().join("hub.db")).await.expect("open sqlite");
    Some(Engine { store: Arc::new(store), _dir: Some(dir), pg_schema: None })
}

/// A PostgreSQL engine in its own schema, or `None` (test skipped) when
/// OUTREACH_TEST_PG_URL is unset. With OUTREACH_REQUIRE_PG=1 a missing URL fails the test.
pub async fn pg_engine() -> Option<Engine> {
    let url = match std::env::var("OUTREACH_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            if std::env::var("OUTREACH_REQUIRE_PG").as_deref() == Ok("1") {
                panic!("OUTREACH_REQUIRE_PG=1 but OUTREACH_TEST_PG_URL is not set");
            }
            eprintln!("skipped: OUTREACH_TEST_PG_URL not set");
            return None;
        }
    };
    let mut suffix = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut suffix);
    let schema = format!("t_{}", hex::encode(suffix));
    let store = PgStorage::connect(&url, Some(&schema)).await.expect("connect to OUTREACH_TEST_PG_URL");
    Some(Engine { store: Arc::new(store), _dir: None, pg_schema: Some((url, schema)) })
}

/// A fake device: keys, a fake label, and the team key it holds.
pub struct Dev {
    pub keys: DeviceKeys,
    pub name: String,
    pub team_key: TeamKey,
}

pub struct Team {
    pub id: TeamId,
    pub lead: Dev,
}

/// The hub's router over one engine, called in-process.
pub struct Harness {
    pub store: Arc<dyn Storage>,
    pub clock: Clock,
    router: Router,
}

pub type Reply = (u16, Vec<u8>);

pub fn ok<T: DeserializeOwned>(reply: Reply) -> T {
    assert_eq!(reply.0, 200, "expected 200, got {} {}", reply.0, String::from_utf8_lossy(&reply.1));
    serde_json::from_slice(&reply.1).expect("response decodes")
}

/// Assert a typed refusal: status matches the code and the body is an ErrorBody.
pub fn refused(reply: Reply, code: ErrorCode) {
    let body: ErrorBody = serde_json::from_slice(&reply.1)
        .unwrap_or_else(|_| panic!("not an error body: {} {}", reply.0, String::from_utf8_lossy(&reply.1)));
    assert_eq!(body.error.code, code, "message: {}", body.error.message);
    assert_eq!(reply.0, code.http_status());
}

impl Harness {
    pub fn new(store: Arc<dyn Storage>) -> Self {
        Self::with_rate(store, RateLimit::new(10_000.0, 10_000.0))
    }

    pub fn with_rate(store: Arc<dyn Storage>, device_rate: RateLimit) -> Self {
        let clock = Clock::system();
        let state = HubState::new(store.clone(), clock.clone(), SETUP_CODE.into(), device_rate, RateLimit::new(10_000.0, 10_000.0));
        Harness { store, clock, router: router(state) }
    }

    pub async fn call(&self, method: &str, path: &str, body: Vec<u8>) -> Reply {
        let request = Request::builder().method(method).uri(path).body(Body::from(body)).expect("request");
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.expect("body").to_bytes().to_vec();
        (status, bytes)
    }

    pub async fn post(&self, path: &str, body: Vec<u8>) -> Reply {
        self.call("POST", path, body).await
    }

    pub fn sign<T: Serialize>(&self, team: TeamId, keys: &DeviceKeys, path: &str, payload: &T) -> SignedRequest {
        SignedRequest::sign(keys, team, path, self.clock.now_ms(), payload)
    }

    pub async fn signed<T: Serialize>(&self, team: TeamId, dev: &Dev, path: &str, payload: &T) -> Reply {
        let req = self.sign(team, &dev.keys, path, payload);
        self.post(path, req.to_json()).await
    }

    pub async fn fingerprint(&self) -> Vec<TableFingerprint> {
        self.store.fingerprint().await.expect("fingerprint")
    }

    /// Run `f` and assert it changed nothing stored.
    pub async fn unchanged<F: std::future::Future<Output = ()>>(&self, f: F) {
        let before = self.fingerprint().await;
        f.await;
        assert_eq!(before, self.fingerprint().await, "a refused request changed storage");
    }

    pub async fn create_team(&self) -> Team {
        let keys = DeviceKeys::generate();
        let id = TeamId::random();
        let team_key = TeamKey::generate(0);
        let req = CreateTeamRequest {
            v: PROTOCOL_VERSION,
            setup_code: SETUP_CODE.into(),
            team_id: id,
            lead: DeviceRegistration::new(&keys, id, "TEST lead phone"),
            team_key: wrap_team_key(&team_key, id, &keys.public(), &keys).expect("wrap"),
        };
        let resp: CreateTeamResponse = ok(self.post(paths::CREATE_TEAM, serde_json::to_vec(&req).unwrap()).await);
        assert_eq!(resp.device_id, keys.device_id());
        Team { id, lead: Dev { keys, name: "TEST lead phone".into(), team_key } }
    }

    /// The lead creates an invite valid for `valid_ms`; returns the code.
    pub async fn invite(&self, team: &Team, role: Role, valid_ms: i64) -> InviteCode {
        let code = InviteCode::new(HUB_URL, team.id).unwrap();
        let package = InvitePackage {
            team_id: team.id,
            team_key: team.lead.team_key.clone(),
            role,
            inviter_keys: team.lead.keys.public(),
        };
        let req = CreateInviteRequest {
            token_hash: code.token_hash(),
            expires_ms: self.clock.now_ms() + valid_ms,
            role,
            package: code.seal_package(&package).unwrap(),
        };
        let _: CreateInviteResponse = ok(self.signed(team.id, &team.lead, paths::CREATE_INVITE, &req).await);
        code
    }

    pub fn enrol_request(code: &InviteCode, keys: &DeviceKeys, name: &str) -> Vec<u8> {
        let req = EnrolRequest {
            v: PROTOCOL_VERSION,
            team_id: code.team_id(),
            token: *code.token(),
            device: DeviceRegistration::new(keys, code.team_id(), name),
        };
        serde_json::to_vec(&req).unwrap()
    }

    /// Invite and enrol a new device; it opens the package to get the team key.
    pub async fn enrol(&self, team: &Team, role: Role, name: &str) -> Dev {
        let code = self.invite(team, role, 3_600_000).await;
        let keys = DeviceKeys::generate();
        let resp: EnrolResponse = ok(self.post(paths::ENROL, Self::enrol_request(&code, &keys, name)).await);
        assert_eq!(resp.device_id, keys.device_id());
        assert_eq!(resp.role, role);
        let package = code.open_package(&resp.package).expect("package opens");
        assert_eq!(package.inviter_keys, team.lead.keys.public());
        Dev { keys, name: name.into(), team_key: package.team_key }
    }

    pub async fn push(&self, team: TeamId, dev: &Dev, chunks: Vec<SealedChunk>, doc_keys: Vec<WrappedDocKey>) -> Reply {
        self.signed(team, dev, paths::PUSH, &PushRequest { chunks, doc_keys }).await
    }

    pub async fn pull(&self, team: TeamId, dev: &Dev, cursor: u64, limit: u32) -> Reply {
        self.signed(team, dev, paths::PULL, &PullRequest { cursor, limit }).await
    }

    /// Pull everything after `cursor` page by page.
    pub async fn pull_all(&self, team: TeamId, dev: &Dev, mut cursor: u64, limit: u32) -> Vec<PullItem> {
        let mut items = Vec::new();
        loop {
            let page: PullResponse = ok(self.pull(team, dev, cursor, limit).await);
            assert!(page.items.len() <= limit.max(1) as usize);
            items.extend(page.items);
            assert!(page.next_cursor >= cursor);
            cursor = page.next_cursor;
            if !page.more {
                return items;
            }
        }
    }
}

/// A document of a device with its data key.
pub struct Doc {
    pub id: DocId,
    pub key: DocKey,
    pub key_id: outreach_proto::ids::KeyId,
    pub wrapped: WrappedDocKey,
}

pub fn new_doc(team: TeamId, dev: &Dev) -> Doc {
    let id = DocId::random();
    let (key, key_id, wrapped) = new_doc_key(&dev.team_key, team, id).unwrap();
    Doc { id, key, key_id, wrapped }
}

pub fn fake_chunk(team: TeamId, dev: &Dev, doc: &Doc, n: usize) -> SealedChunk {
    let text = format!("FAKE change {n}: encounter with Testy McTestface in zone TEST-ZONE");
    seal_chunk(&doc.key, team, doc.id, doc.key_id, text.as_bytes(), &dev.keys).unwrap()
}
