//! `outreach hub serve|register`: run the sync hub, and register this store's team with one.
//!
//! `serve` is the only command that starts an async runtime: the hub library (axum) needs one.
//! It generates the setup code itself (or reads/writes it in `--setup-code-file`) so that what
//! it prints is the whole story: where it listens, whether that is plain HTTP, and how to
//! register the first lead device.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use outreach_hub::{HubConfig, TlsFiles};
use zeroize::Zeroizing;

use crate::context::{self, Context};
use crate::errors::{CliError, CliResult, Exit};
use crate::output::{self, emit};
use crate::remote;

/// Environment variable holding the hub's setup code for `outreach hub register`.
pub const ENV_SETUP_CODE: &str = "OUTREACH_SETUP_CODE";
/// Shortest setup code accepted from a file.
const MIN_SETUP_CODE: usize = 16;

/// `outreach hub ...`
#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Run the sync hub in the foreground until Ctrl-C (it relays ciphertext only)
    #[command(
        after_help = "The hub stores only ciphertext, opaque ids, sizes, times and device public keys; \
it cannot read records. Without --tls-cert/--tls-key it serves plain HTTP and only on a loopback \
address (for a TLS proxy in front, or tests).\n\n\
At start it prints where it listens and the setup code that registers a team's first (lead) \
device; with --setup-code-file the code is kept in that file (created, readable only by you, \
if missing) instead of being printed.\n\n\
Example:\n  outreach hub serve\n  outreach hub serve --db sqlite:/var/lib/outreach/hub.db --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --setup-code-file /var/lib/outreach/setup-code"
    )]
    Serve(ServeArgs),
    /// Register this store's team with a hub, as the team's first (lead) device
    #[command(
        after_help = "The hub's setup code is read from OUTREACH_SETUP_CODE or asked for \
without echo; it is never taken as an argument. The device name is visible to the hub: use a \
label such as \"Lead laptop\", never a person's name.\n\n\
Example:\n  outreach hub register --hub https://hub.example.org --name \"Lead laptop\""
    )]
    Register(RegisterArgs),
}

/// Options of `outreach hub serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Storage: sqlite:PATH (created on first start) or postgres://USER@HOST/DB
    /// [default: sqlite:<data-dir>/hub.db]
    #[arg(long, value_name = "DB")]
    db: Option<String>,
    /// Address to listen on (port 0 picks a free port); plain HTTP only on loopback
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// TLS certificate chain (PEM)
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Keep the setup code in this file instead of printing it: read it if the file exists,
    /// else generate one and create the file (mode 0600)
    #[arg(long, value_name = "FILE")]
    setup_code_file: Option<PathBuf>,
}

/// Options of `outreach hub register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The hub's address, e.g. https://hub.example.org (plain http:// only on this machine)
    #[arg(long, value_name = "URL")]
    hub: String,
    /// This device's label, visible to the hub and the team (never a person's name)
    #[arg(long, value_name = "NAME", default_value = "Lead laptop")]
    name: String,
}

/// Runs a hub command.
pub fn run(ctx: &Context, c: HubCommand) -> CliResult {
    match c {
        HubCommand::Serve(a) => serve(ctx, a),
        HubCommand::Register(a) => register(ctx, a),
    }
}

fn random_setup_code() -> Zeroizing<String> {
    use rand::RngCore;
    let mut bytes = Zeroizing::new([0u8; 16]);
    rand::rngs::OsRng.fill_bytes(&mut bytes[..]);
    Zeroizing::new(hex::encode(&bytes[..]))
}

/// The setup code and a line saying where it is.
fn setup_code(file: Option<&PathBuf>) -> CliResult<(Zeroizing<String>, Option<String>)> {
    let Some(path) = file else {
        return Ok((random_setup_code(), None));
    };
    let shown = path.display();
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                CliError::invalid("--setup-code-file", "the file must hold the code as text")
            })?;
            let code = Zeroizing::new(text.trim().to_string());
            if code.chars().count() < MIN_SETUP_CODE || code.chars().any(char::is_control) {
                return Err(CliError::invalid(
                    "--setup-code-file",
                    format!("the code in the file must be one line of at least {MIN_SETUP_CODE} characters; delete the file to have a new one generated"),
                ));
            }
            Ok((code, Some(format!("the setup code is in {shown}"))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let code = random_setup_code();
            write_private(path, code.as_bytes()).map_err(|e| {
                CliError::other(format!(
                    "could not create the setup code file {shown} ({}); check the directory exists and is writable",
                    e.kind()
                ))
            })?;
            Ok((
                code,
                Some(format!(
                    "the setup code was generated into {shown} (readable only by you)"
                )),
            ))
        }
        Err(e) => Err(CliError::other(format!(
            "could not read the setup code file {shown} ({})",
            e.kind()
        ))),
    }
}

/// Creates a new file readable only by its owner.
fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Creates the data directory (only its owner may enter it) if it does not exist.
fn ensure_dir(dir: &std::path::Path) -> CliResult {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| {
        CliError::other(format!(
            "could not create {} ({}); pass --db sqlite:PATH or another --data-dir",
            dir.display(),
            e.kind()
        ))
    })
}

/// `outreach hub serve`.
fn serve(ctx: &Context, a: ServeArgs) -> CliResult {
    let db = match a.db {
        Some(d) => {
            let d = d.trim().to_string();
            if !(d.starts_with("sqlite:")
                || d.starts_with("postgres://")
                || d.starts_with("postgresql://"))
            {
                return Err(CliError::invalid(
                    "--db",
                    "must be sqlite:PATH or postgres://USER@HOST/DB",
                ));
            }
            d
        }
        None => {
            ensure_dir(ctx.dir())?;
            format!("sqlite:{}", ctx.dir().join("hub.db").display())
        }
    };
    // Never print PostgreSQL credentials.
    let db_shown = if db.starts_with("sqlite:") {
        db.clone()
    } else {
        "PostgreSQL (connection details not shown)".to_string()
    };
    let tls = a
        .tls_cert
        .zip(a.tls_key)
        .map(|(cert_pem, key_pem)| TlsFiles { cert_pem, key_pem });
    if tls.is_none() && !a.listen.ip().is_loopback() {
        return Err(CliError::invalid(
            "--listen",
            "plain HTTP is allowed on a loopback address only (e.g. 127.0.0.1:8443); pass --tls-cert and --tls-key to listen on other addresses",
        ));
    }
    let (code, code_where) = setup_code(a.setup_code_file.as_ref())?;
    let mut config = HubConfig::new(db, a.listen);
    config.tls = tls;
    config.setup_code = Some(code.to_string());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            CliError::other(format!("could not start the hub's runtime ({})", e.kind()))
        })?;
    runtime.block_on(async move {
        let hub = outreach_hub::start(config)
            .await
            .map_err(|e| CliError::other(format!("the hub could not start: {}", output::cell(&e.to_string()))))?;
        let url = hub.base_url();
        let mut banner = format!("outreach hub: listening on {url}\n");
        if url.starts_with("http://") {
            banner.push_str("  PLAIN HTTP without TLS, on loopback only: only programs on this machine can reach it.\n  To serve phones, pass --tls-cert/--tls-key or put a TLS proxy in front.\n");
        } else {
            banner.push_str("  HTTPS (TLS).\n");
        }
        banner.push_str(&format!("  storage: {db_shown}\n"));
        banner.push_str(&format!(
            "To register the team's first (lead) device, on the lead's computer run:\n  outreach hub register --hub {url} --name \"Lead laptop\"\nand give it the setup code (typed when asked, or in OUTREACH_SETUP_CODE).\n"
        ));
        match code_where {
            Some(w) => banner.push_str(&format!("  {w}\n")),
            None => banner.push_str(&format!(
                "Setup code (keep it to yourself; valid until the hub stops): {}\n",
                code.as_str()
            )),
        }
        drop(code);
        banner.push_str("Press Ctrl-C to stop.\n");
        emit(&banner)?;
        shutdown_signal().await;
        emit("outreach hub: stopping (letting requests in flight finish)")?;
        hub.shutdown()
            .await
            .map_err(|e| CliError::other(format!("the hub stopped with an error: {}", output::cell(&e.to_string()))))?;
        emit("outreach hub: stopped")
    })
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM.
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

/// `outreach hub register`.
fn register(ctx: &Context, a: RegisterArgs) -> CliResult {
    let name = remote::device_name(&a.name)?;
    let url = a.hub.trim().trim_end_matches('/').to_string();
    // Check the address before asking for anything.
    let transport = remote::transport_for(&url)?;
    let mut store = ctx.open()?;
    let status = store.sync_status().map_err(|e| ctx.core(e))?;
    if status.registered {
        return match status.hub_url.as_deref() {
            Some(u) if u == url => emit(&format!(
                "This store is already registered with {url}; nothing to do. Next: outreach sync\n"
            )),
            _ => Err(CliError::other(
                "this store is already connected to another hub; a store syncs with one hub only",
            )),
        };
    }
    if store.sync_role().map_err(|e| ctx.core(e))? != outreach_core::sync::Role::Lead {
        return Err(CliError {
            exit: Exit::Refused,
            message:
                "only a lead's store can register a team; other devices join with `outreach enrol`"
                    .into(),
        });
    }
    let code = context::secret(ENV_SETUP_CODE, "Hub setup code: ", "setup code")?;
    store
        .register_team(&transport, &url, &code, &name)
        .map_err(|e| ctx.sync_err(e))?;
    drop(code);
    let status = store.sync_status().map_err(|e| ctx.core(e))?;
    emit(&format!(
        "Registered this store as the lead device \"{}\" of team {} on {url}\n  device id: {}\nNext: outreach sync, then outreach invite --role staff (show the invite in person only)\n",
        output::cell(&name),
        status.team_id,
        status.device_id,
    ))
}
