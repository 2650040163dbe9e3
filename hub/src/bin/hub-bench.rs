//! Push throughput bench: N simulated devices push sealed chunks concurrently to an
//! in-process hub on loopback, one chunk per signed push request, then everything is pulled
//! back and counted. Prints a table for SQLite and, when OUTREACH_TEST_PG_URL is set,
//! PostgreSQL.
//!
//! ```text
//! cargo run --release -p outreach-hub --bin hub-bench -- [--db sqlite:PATH] [--devices 16] [--pushes 250]
//! ```
//! Request bodies are sealed and signed before the clock starts (that work happens on the
//! phones), so the figure is the hub's: HTTP, envelope and chunk signature checks, storage.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use outreach_hub::client::HubClient;
use outreach_hub::storage::postgres::PgStorage;
use outreach_hub::{Clock, HubConfig, RateLimit, Storage};
use outreach_proto::auth::SignedRequest;
use outreach_proto::ids::{ChunkHash, DocId, TeamId};
use outreach_proto::invite::{InviteCode, InvitePackage};
use outreach_proto::keys::{DeviceKeys, TeamKey};
use outreach_proto::messages::*;
use outreach_proto::seal::seal_chunk;
use outreach_proto::wrap::{new_doc_key, wrap_team_key};
use outreach_proto::PROTOCOL_VERSION;
use rand::RngCore;

#[derive(Parser)]
#[command(about = "Push throughput of the outreach hub on loopback")]
struct Args {
    /// SQLite database (default: a fresh file in a temp dir).
    #[arg(long)]
    db: Option<String>,
    /// Concurrent simulated devices.
    #[arg(long, default_value_t = 16)]
    devices: usize,
    /// Pushes (one chunk each) per device.
    #[arg(long, default_value_t = 250)]
    pushes: usize,
    /// Plaintext bytes per chunk (a new 10-field record is about 300 B).
    #[arg(long, default_value_t = 300)]
    chunk_bytes: usize,
}

struct Row {
    engine: &'static str,
    pushes: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    pulled: usize,
    lost: usize,
}

fn now_ms() -> i64 {
    Clock::system().now_ms()
}

async fn post<T: serde::de::DeserializeOwned>(client: &HubClient, path: &str, body: Vec<u8>) -> Result<T, String> {
    let (status, bytes) = client.post(path, body).await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{path}: HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{path}: bad response: {e}"))
}

async fn run(store: Arc<dyn Storage>, args: &Args) -> Result<Row, String> {
    let engine = store.engine();
    let mut config = HubConfig::loopback_ephemeral("unused");
    config.device_rate = RateLimit::new(1e9, 1e9);
    config.open_rate = RateLimit::new(1e9, 1e9);
    let hub = outreach_hub::start_with_storage(config, store, Clock::system()).await.map_err(|e| e.to_string())?;
    let client = HubClient::new(&hub.base_url());

    // Team with a lead, then N enrolled devices.
    let lead = DeviceKeys::generate();
    let team = TeamId::random();
    let team_key = TeamKey::generate(0);
    let create = CreateTeamRequest {
        v: PROTOCOL_VERSION,
        setup_code: hub.setup_code().into(),
        team_id: team,
        lead: DeviceRegistration::new(&lead, team, "BENCH lead"),
        team_key: wrap_team_key(&team_key, team, &lead.public(), &lead).map_err(|e| e.to_string())?,
    };
    let _: CreateTeamResponse = post(&client, paths::CREATE_TEAM, serde_json::to_vec(&create).map_err(|e| e.to_string())?).await?;
    let mut devices = Vec::new();
    for i in 0..args.devices {
        let code = InviteCode::new("https://hub.example.test", team).map_err(|e| e.to_string())?;
        let package = InvitePackage { team_id: team, team_key: team_key.clone(), role: Role::Member, inviter_keys: lead.public() };
        let invite = CreateInviteRequest {
            token_hash: code.token_hash(),
            expires_ms: now_ms() + 3_600_000,
            role: Role::Member,
            package: code.seal_package(&package).map_err(|e| e.to_string())?,
        };
        let _: CreateInviteResponse = post(&client, paths::CREATE_INVITE, SignedRequest::sign(&lead, team, paths::CREATE_INVITE, now_ms(), &invite).to_json()).await?;
        let keys = DeviceKeys::generate();
        let enrol = EnrolRequest { v: PROTOCOL_VERSION, team_id: team, token: *code.token(), device: DeviceRegistration::new(&keys, team, &format!("BENCH phone {i}")) };
        let _: EnrolResponse = post(&client, paths::ENROL, serde_json::to_vec(&enrol).map_err(|e| e.to_string())?).await?;
        devices.push(keys);
    }

    // Seal and sign every request up front.
    let mut expected = HashSet::new();
    let mut plans = Vec::new();
    let mut filler = vec![0u8; args.chunk_bytes];
    for keys in &devices {
        let doc = DocId::random();
        let (doc_key, key_id, wrapped) = new_doc_key(&team_key, team, doc).map_err(|e| e.to_string())?;
        let mut bodies = Vec::with_capacity(args.pushes);
        for n in 0..args.pushes {
            rand::rngs::OsRng.fill_bytes(&mut filler);
            let chunk = seal_chunk(&doc_key, team, doc, key_id, &filler, keys).map_err(|e| e.to_string())?;
            expected.insert(chunk.hash());
            let doc_keys = if n == 0 { vec![wrapped.clone()] } else { vec![] };
            let push = PushRequest { chunks: vec![chunk], doc_keys };
            bodies.push(SignedRequest::sign(keys, team, paths::PUSH, now_ms(), &push).to_json());
        }
        plans.push(bodies);
    }

    let start = Instant::now();
    let mut tasks = Vec::new();
    for bodies in plans {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(bodies.len());
            for body in bodies {
                let t = Instant::now();
                let resp: PushResponse = post(&client, paths::PUSH, body).await?;
                if resp.chunks.len() != 1 || resp.chunks[0].status != PushStatus::Stored {
                    return Err("push not stored".to_string());
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).map_or(0.0, |d| d.as_secs_f64() * 1000.0);

    // Pull everything back as the lead and check nothing was lost.
    let mut cursor = 0;
    let mut seen: HashSet<ChunkHash> = HashSet::new();
    loop {
        let req = SignedRequest::sign(&lead, team, paths::PULL, now_ms(), &PullRequest { cursor, limit: 1000 });
        let page: PullResponse = post(&client, paths::PULL, req.to_json()).await?;
        for item in &page.items {
            if let PullEntry::Chunk { hash, .. } = &item.entry {
                seen.insert(*hash);
            }
        }
        cursor = page.next_cursor;
        if !page.more {
            break;
        }
    }
    hub.shutdown().await.map_err(|e| e.to_string())?;
    Ok(Row {
        engine,
        pushes: args.devices * args.pushes,
        seconds,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        pulled: seen.len(),
        lost: expected.difference(&seen).count(),
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut rows = Vec::new();
    let mut failed = false;

    let _dir;
    let sqlite_path = match &args.db {
        Some(db) => db.strip_prefix("sqlite:").unwrap_or(db).to_owned(),
        None => {
            let dir = match tempfile::tempdir() {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("hub-bench: temp dir: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            let path = dir.path().join("bench.db").display().to_string();
            _dir = dir;
            path
        }
    };
    match outreach_hub::storage::sqlite::SqliteStorage::open(std::path::Path::new(&sqlite_path)).await {
        Ok(store) => match run(Arc::new(store), &args).await {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("hub-bench: sqlite run failed: {e}");
                failed = true;
            }
        },
        Err(e) => {
            eprintln!("hub-bench: cannot open sqlite: {e}");
            failed = true;
        }
    }

    match std::env::var("OUTREACH_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => {
            let mut suffix = [0u8; 6];
            rand::rngs::OsRng.fill_bytes(&mut suffix);
            let schema = format!("bench_{}", hex::encode(suffix));
            match PgStorage::connect(&url, Some(&schema)).await {
                Ok(store) => match run(Arc::new(store), &args).await {
                    Ok(row) => rows.push(row),
                    Err(e) => {
                        eprintln!("hub-bench: postgres run failed: {e}");
                        failed = true;
                    }
                },
                Err(e) => {
                    eprintln!("hub-bench: cannot connect to postgres: {e}");
                    failed = true;
                }
            }
            if let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                tokio::spawn(conn);
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            }
        }
        _ => eprintln!("hub-bench: postgres skipped: OUTREACH_TEST_PG_URL not set"),
    }

    println!("devices: {}, pushes per device: {}, chunk plaintext: {} B, one chunk per push", args.devices, args.pushes, args.chunk_bytes);
    println!("| engine   | pushes | seconds | pushes/s | p50 ms | p99 ms | pulled back | lost |");
    println!("|----------|-------:|--------:|---------:|-------:|-------:|------------:|-----:|");
    for r in &rows {
        println!(
            "| {:<8} | {:>6} | {:>7.2} | {:>8.0} | {:>6.2} | {:>6.2} | {:>11} | {:>4} |",
            r.engine,
            r.pushes,
            r.seconds,
            r.pushes as f64 / r.seconds,
            r.p50_ms,
            r.p99_ms,
            r.pulled,
            r.lost
        );
        if r.lost > 0 || r.pulled != r.pushes {
            failed = true;
        }
    }
    if failed {
        eprintln!("hub-bench: FAILED (a run failed or pushes were lost)");
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
