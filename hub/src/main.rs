//! `outreach-hub`: run the sync hub.
//!
//! ```text
//! outreach-hub serve --db sqlite:/var/lib/outreach/hub.db --listen 127.0.0.1:8443
//! outreach-hub serve --db postgres://hub@localhost/hub --listen 0.0.0.0:8443 \
//!     --tls-cert cert.pem --tls-key key.pem
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use outreach_hub::{HubConfig, RateLimit, TlsFiles};

#[derive(Parser)]
#[command(name = "outreach-hub", version, about = "End-to-end encrypted sync hub for the outreach logger")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the hub until Ctrl-C or SIGTERM.
    Serve {
        /// Storage: sqlite:PATH (created on first start) or postgres://USER@HOST/DB.
        #[arg(long)]
        db: String,
        /// Address to listen on. Plain HTTP is only allowed on loopback.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// TLS certificate chain (PEM).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Setup code for creating teams; read from OUTREACH_HUB_SETUP_CODE if set, otherwise
        /// generated and printed at start.
        #[arg(long, env = "OUTREACH_HUB_SETUP_CODE", hide_env_values = true)]
        setup_code: Option<String>,
        /// Sustained authenticated requests per second allowed per device.
        #[arg(long, default_value_t = 20.0)]
        device_rate: f64,
        /// Burst of authenticated requests allowed per device.
        #[arg(long, default_value_t = 100.0)]
        device_burst: f64,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OUTREACH_HUB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let Command::Serve { db, listen, tls_cert, tls_key, setup_code, device_rate, device_burst } = cli.command;
    let mut config = HubConfig::new(db, listen);
    config.tls = tls_cert.zip(tls_key).map(|(cert_pem, key_pem)| TlsFiles { cert_pem, key_pem });
    config.setup_code = setup_code;
    config.device_rate = RateLimit::new(device_rate, device_burst);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outreach-hub: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(outreach_hub::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outreach-hub: {e}");
            ExitCode::FAILURE
        }
    }
}
