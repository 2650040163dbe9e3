//! Running the hub: configuration, TLS, binding, graceful shutdown.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;
use rand::RngCore;
use tokio::task::JoinHandle;

use crate::api::{router, HubState};
use crate::clock::Clock;
use crate::error::HubError;
use crate::ratelimit::RateLimit;
use crate::storage::{nonce_cutoff, open_storage, Storage};

/// PEM files for TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert_pem: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_pem: PathBuf,
}

/// Everything needed to run a hub. `Debug` does not print the setup code.
#[derive(Clone)]
pub struct HubConfig {
    /// `sqlite:PATH` or `postgres://...`.
    pub db: String,
    /// Address to listen on. Without TLS it must be a loopback address.
    pub listen: SocketAddr,
    /// TLS certificate and key; `None` serves plain HTTP (loopback only).
    pub tls: Option<TlsFiles>,
    /// Code that authorises `create_team`. `None` generates a random one at start and prints it.
    pub setup_code: Option<String>,
    /// Per-device limit on authenticated requests.
    pub device_rate: RateLimit,
    /// Limit on all unauthenticated requests (`create_team`, `enrol`) together.
    pub open_rate: RateLimit,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("db", &if self.db.starts_with("sqlite:") { self.db.as_str() } else { "postgres://<redacted>" })
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("setup_code", &self.setup_code.as_ref().map(|_| "<redacted>"))
            .field("device_rate", &self.device_rate)
            .field("open_rate", &self.open_rate)
            .finish()
    }
}

impl HubConfig {
    /// Defaults: no TLS, generated setup code, 20 requests/s per device (bursts of 100),
    /// 5 unauthenticated requests/s (bursts of 20).
    pub fn new(db: impl Into<String>, listen: SocketAddr) -> Self {
        HubConfig {
            db: db.into(),
            listen,
            tls: None,
            setup_code: None,
            device_rate: RateLimit::new(20.0, 100.0),
            open_rate: RateLimit::new(5.0, 20.0),
        }
    }

    /// A config listening on an ephemeral loopback port (for tests and the bench).
    pub fn loopback_ephemeral(db: impl Into<String>) -> Self {
        Self::new(db, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }
}

/// A hub running in the background of the current tokio runtime.
pub struct RunningHub {
    local_addr: SocketAddr,
    tls: bool,
    setup_code: String,
    state: Arc<HubState>,
    handle: Handle,
    server: JoinHandle<std::io::Result<()>>,
    pruner: JoinHandle<()>,
}

impl RunningHub {
    /// The bound address (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR` or `https://ADDR`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.local_addr)
    }

    /// The setup code `create_team` requires.
    pub fn setup_code(&self) -> &str {
        &self.setup_code
    }

    /// The hub's clock (tests may advance it).
    pub fn clock(&self) -> &Clock {
        self.state.clock()
    }

    /// The storage engine.
    pub fn store(&self) -> &Arc<dyn Storage> {
        self.state.store()
    }

    /// Stop accepting connections, let in-flight requests finish (up to 10 s), and wait.
    pub async fn shutdown(self) -> Result<(), HubError> {
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        self.pruner.abort();
        match self.server.await {
            Ok(result) => Ok(result?),
            Err(e) => Err(HubError::Io(std::io::Error::other(format!("server task failed: {e}")))),
        }
    }
}

fn random_setup_code() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn load_tls(files: &TlsFiles) -> Result<RustlsConfig, HubError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert_pem)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| HubError::Tls(format!("cannot read certificate {}: {e}", files.cert_pem.display())))?;
    if certs.is_empty() {
        return Err(HubError::Tls(format!("no certificate found in {}", files.cert_pem.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_pem)
        .map_err(|e| HubError::Tls(format!("cannot read private key {}: {e}", files.key_pem.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HubError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| HubError::Tls(format!("certificate and key do not form a valid pair: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// Open the storage named by `config.db` and start serving in the background.
pub async fn start(config: HubConfig) -> Result<RunningHub, HubError> {
    let store = open_storage(&config.db).await?;
    start_with_storage(config, store, Clock::system()).await
}

/// Start serving over an already opened storage engine with the given clock.
///
/// Refuses plain HTTP on a non-loopback address. Prints one line to stderr saying how it
/// listens (and the setup code, if it generated one).
pub async fn start_with_storage(config: HubConfig, store: Arc<dyn Storage>, clock: Clock) -> Result<RunningHub, HubError> {
    let tls = match &config.tls {
        Some(files) => Some(load_tls(files)?),
        None if config.listen.ip().is_loopback() => None,
        None => return Err(HubError::PlainHttpNotLoopback(config.listen)),
    };
    let listener = std::net::TcpListener::bind(config.listen)?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;

    let generated = config.setup_code.is_none();
    let setup_code = config.setup_code.clone().unwrap_or_else(random_setup_code);
    let state = HubState::new(store.clone(), clock.clone(), setup_code.clone(), config.device_rate, config.open_rate);
    let app = router(state.clone()).into_make_service();
    let handle = Handle::new();

    let server = match tls {
        Some(tls) => {
            eprintln!("outreach-hub: serving HTTPS (TLS) on https://{local_addr} with {} storage", store.engine());
            tokio::spawn(axum_server::from_tcp_rustls(listener, tls).handle(handle.clone()).serve(app))
        }
        None => {
            eprintln!(
                "outreach-hub: serving PLAIN HTTP (no TLS) on http://{local_addr}, loopback only, with {} storage; \
                 put a TLS proxy in front or pass --tls-cert/--tls-key before exposing it",
                store.engine()
            );
            tokio::spawn(axum_server::from_tcp(listener).handle(handle.clone()).serve(app))
        }
    };
    if generated {
        eprintln!("outreach-hub: team setup code for the first lead (valid until restart): {setup_code}");
    }

    let pruner = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = store.prune_nonces(nonce_cutoff(clock.now_ms())).await {
                tracing::warn!(error = %e, "could not prune old request nonces");
            }
            // An expired invite's sealed package holds a team key: drop it within a minute.
            if let Err(e) = store.prune_invites(clock.now_ms()).await {
                tracing::warn!(error = %e, "could not drop expired invite packages");
            }
        }
    });

    Ok(RunningHub { local_addr, tls: config.tls.is_some(), setup_code, state, handle, server, pruner })
}

/// Run a hub until Ctrl-C or SIGTERM, then shut down gracefully.
pub async fn serve(config: HubConfig) -> Result<(), HubError> {
    let hub = start(config).await?;
    shutdown_signal().await;
    eprintln!("outreach-hub: shutting down");
    hub.shutdown().await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
