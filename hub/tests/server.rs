//! The hub as a real server on loopback: in-process start and shutdown, plain HTTP only on
//! loopback, TLS with a generated certificate, typed 413 and 429 over the wire.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use outreach_hub::client::HubClient;
use outreach_hub::{HubConfig, HubError, RateLimit, TlsFiles};
use outreach_proto::messages::*;
use outreach_proto::MAX_BODY_BYTES;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("hub.db").display())
}

#[tokio::test]
async fn starts_in_process_on_an_ephemeral_port_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = HubConfig::loopback_ephemeral(sqlite_url(&dir));
    config.setup_code = Some(SETUP_CODE.into());
    let hub = outreach_hub::start(config).await.unwrap();
    assert!(hub.local_addr().ip().is_loopback());
    assert_ne!(hub.local_addr().port(), 0);
    assert_eq!(hub.setup_code(), SETUP_CODE);
    let client = HubClient::new(&hub.base_url());
    let (status, body) = client.get(paths::HEALTH).await.unwrap();
    assert_eq!(status, 200);
    let health: HealthResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(health.v, outreach_proto::PROTOCOL_VERSION);

    // A whole team bootstrap over the wire.
    let keys = outreach_proto::keys::DeviceKeys::generate();
    let team = outreach_proto::ids::TeamId::random();
    let tk = outreach_proto::keys::TeamKey::generate(0);
    let req = CreateTeamRequest {
        v: 1,
        setup_code: hub.setup_code().into(),
        team_id: team,
        lead: DeviceRegistration::new(&keys, team, "TEST lead"),
        team_key: outreach_proto::wrap::wrap_team_key(&tk, team, &keys.public(), &keys).unwrap(),
    };
    let (status, _) = client.post(paths::CREATE_TEAM, serde_json::to_vec(&req).unwrap()).await.unwrap();
    assert_eq!(status, 200);

    // Oversized bodies get a typed 413 over a real socket too.
    let (status, body) = client.post(paths::PUSH, vec![b'x'; MAX_BODY_BYTES + 10]).await.unwrap();
    assert_eq!(status, 413);
    let err: ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(err.error.code, ErrorCode::TooLarge);

    let addr = hub.local_addr();
    hub.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening after shutdown");
}

#[test]
fn config_debug_hides_secrets() {
    let mut config = HubConfig::loopback_ephemeral("postgres://hub:FAKE-PASSWORD@localhost/hub");
    config.setup_code = Some(SETUP_CODE.into());
    let text = format!("{config:?}");
    assert!(!text.contains(SETUP_CODE) && !text.contains("FAKE-PASSWORD"), "{text}");
}

#[tokio::test]
async fn plain_http_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let config = HubConfig::new(sqlite_url(&dir), SocketAddr::from(([0, 0, 0, 0], 0)));
    match outreach_hub::start(config).await {
        Err(HubError::PlainHttpNotLoopback(_)) => {}
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("plain HTTP on 0.0.0.0 was allowed"),
    }
}

#[tokio::test]
async fn bad_database_urls_are_refused() {
    for db in ["mysql://x", "sqlite:", "hub.db"] {
        assert!(matches!(outreach_hub::start(HubConfig::loopback_ephemeral(db)).await, Err(HubError::BadDbUrl)), "{db}");
    }
    // PostgreSQL over the network would be unencrypted: refused.
    let err = outreach_hub::start(HubConfig::loopback_ephemeral("postgres://u@db.example.test/hub")).await;
    assert!(matches!(err, Err(HubError::Storage(_))));
}

#[tokio::test]
async fn serves_https_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = dir.path().join("cert.pem");
    let key_pem = dir.path().join("key.pem");
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.key_pair.serialize_pem()).unwrap();

    let mut config = HubConfig::loopback_ephemeral(sqlite_url(&dir));
    config.tls = Some(TlsFiles { cert_pem, key_pem });
    let hub = outreach_hub::start(config).await.unwrap();
    assert!(hub.base_url().starts_with("https://"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = tokio::net::TcpStream::connect(hub.local_addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.ok();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"status\":\"ok\""));

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = HubClient::new(&format!("http://{}", hub.local_addr()));
    assert!(plain.get(paths::HEALTH).await.map(|(s, _)| s != 200).unwrap_or(true));
    hub.shutdown().await.unwrap();
}

#[tokio::test]
async fn tls_with_missing_files_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = HubConfig::loopback_ephemeral(sqlite_url(&dir));
    config.tls = Some(TlsFiles { cert_pem: dir.path().join("none.pem"), key_pem: dir.path().join("none.key") });
    assert!(matches!(outreach_hub::start(config).await, Err(HubError::Tls(_))));
}

#[tokio::test]
async fn per_device_rate_is_bounded() {
    let engine = sqlite_engine().await.unwrap();
    let h = Harness::with_rate(engine.store.clone(), RateLimit::new(0.001, 3.0));
    let team = h.create_team().await;
    for _ in 0..3 {
        let _: PullResponse = ok(h.pull(team.id, &team.lead, 0, 1).await);
    }
    h.unchanged(async { refused(h.pull(team.id, &team.lead, 0, 1).await, ErrorCode::RateLimited) }).await;
}

#[test]
fn binary_refuses_plain_http_off_loopback_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_outreach-hub"))
        .args(["serve", "--db", &sqlite_url(&dir), "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0 without TLS"), "{stderr}");
}

#[test]
fn binary_announces_plain_http_on_loopback() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_outreach-hub"))
        .args(["serve", "--db", &sqlite_url(&dir), "--listen", "127.0.0.1:0"])
        .env("OUTREACH_HUB_SETUP_CODE", SETUP_CODE)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut first).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("PLAIN HTTP (no TLS)") && first.contains("loopback only"), "{first}");
    assert!(!first.contains(SETUP_CODE), "a setup code given by the operator is not echoed");
    assert!(dir.path().join("hub.db").exists(), "the SQLite database is created on first start");
}
