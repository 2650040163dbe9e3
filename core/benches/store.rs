//! Store benchmarks (a bench binary that prints a table; `cargo bench -p outreach-core`).
//!
//! Every figure is reported next to a baseline measured in the same process, on the same
//! machine, at the same moment: a raw SQLCipher single-row insert of the same size, in its own
//! transaction, with the same pragmas as the store.
//!
//! Environment: `BENCH_N` (log samples, default 2000), `BENCH_BIG` (encounters in the big store,
//! default 100000).

use std::path::Path;
use std::time::{Duration, Instant};

use outreach_core::*;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn team() -> TeamSetup {
    TeamSetup::new("Bench Team", &["north-beat", "south-beat", "station"])
}

fn encounter(i: usize) -> EncounterInput {
    let mut e = EncounterInput::new(if i % 2 == 0 { "north-beat" } else { "south-beat" });
    e.services.insert(Service::Condoms, 10);
    e.services.insert(Service::Lube, 5);
    e.services.insert(Service::HotDrink, 1);
    if i % 3 == 0 {
        e.referrals.push(Referral {
            destination: ReferralDestination::SexualHealth,
            mode: ReferralMode::Signposted,
            consent: true,
            status: ReferralStatus::Offered,
        });
    }
    e.consent.record = true;
    e.note = Some(format!("fake bench note number {i}, asked about clinic times"));
    e
}

/// The raw baseline: one row of `size` bytes per transaction, same pragmas as the store.
fn raw_inserts(dir: &Path, n: usize, size: usize, sync: &str) -> Vec<Duration> {
    let conn = rusqlite::Connection::open(dir.join("raw.db")).unwrap();
    let key = format!("x'{}'", "ab".repeat(32));
    conn.pragma_update(None, "key", &key).unwrap();
    conn.execute_batch(
        &format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA temp_store = MEMORY;
         PRAGMA secure_delete = ON; CREATE TABLE t (id TEXT PRIMARY KEY, data BLOB NOT NULL);"),
    )
    .unwrap();
    let payload = vec![0x5Au8; size];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        conn.execute("BEGIN", []).unwrap();
        conn.execute("INSERT INTO t (id, data) VALUES (?1, ?2)", rusqlite::params![format!("{i:036}"), payload]).unwrap();
        conn.execute("COMMIT", []).unwrap();
        out.push(t.elapsed());
    }
    out
}

/// Logs `n` encounters and `n` raw inserts, interleaved in rounds so that drift on a shared
/// machine hits both sides alike. Returns (raw p50, raw p99, log p50, log p99).
fn log_vs_raw(tmp: &Path, label: &str, sync: &str, dur: Durability, n: usize, sample_size: usize) -> (Duration, Duration, Duration, Duration) {
    eprintln!("  measuring {label}");
    let store_dir = tmp.join(format!("log-{sync}"));
    let mut s = Store::create(&store_dir, Unlock::Key(StoreKey::generate()), team(), &StoreOptions::default()).unwrap();
    s.set_durability(dur).unwrap();
    shift(&mut s, None);
    let mut raw = vec![];
    let mut log = vec![];
    let rounds = 10;
    let raw_dir = tmp.join(format!("raw-{sync}"));
    for r in 0..rounds {
        let d = raw_dir.join(format!("r{r}"));
        std::fs::create_dir_all(&d).unwrap();
        raw.extend(raw_inserts(&d, n / rounds, sample_size, sync));
        for i in 0..n / rounds {
            let t = Instant::now();
            s.log_encounter(encounter(r * n + i)).unwrap();
            log.push(t.elapsed());
        }
    }
    (pct(&mut raw, 0.5), pct(&mut raw, 0.99), pct(&mut log, 0.5), pct(&mut log, 0.99))
}

fn shift(s: &mut Store, at: Option<chrono::DateTime<chrono::Utc>>) {
    s.start_shift(ShiftStart { van: "Van 1".into(), crew: vec!["staff-a".into()], zones: vec!["north-beat".into(), "south-beat".into()], at })
        .unwrap();
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0)))
        .unwrap_or(0)
}

/// Child mode: open the big store, list one night, print timings and peak RSS.
fn child_open(dir: &Path, key_hex: &str, night: &str) {
    let key = StoreKey::from_slice(&hex_decode(key_hex)).unwrap();
    let t = Instant::now();
    let s = Store::open(dir, Unlock::Key(key)).unwrap();
    let open = t.elapsed();
    let night: chrono::NaiveDate = night.parse().unwrap();
    let t = Instant::now();
    let list = s.list_night(night).unwrap();
    let list_t = t.elapsed();
    let t = Instant::now();
    let list2 = s.list_night(night).unwrap();
    let list_warm = t.elapsed();
    assert_eq!(list.len(), list2.len());
    println!("{} {} {} {} {}", us(open), us(list_t), us(list_warm), list.len(), peak_rss_kib());
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 5 && args[1] == "--child-open" {
        child_open(Path::new(&args[2]), &args[3], &args[4]);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo bench -- --list` compatibility.
        println!("store: bench");
        return;
    }
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let big: usize = std::env::var("BENCH_BIG").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let tmp = tempfile::tempdir().unwrap();

    let sample_size = serde_json::to_vec(&encounter(1)).unwrap().len() + 120; // + ids, device, shift, time
    let mut rows = vec![];
    for (label, sync, dur) in [("durable (FULL, default)", "FULL", Durability::Full), ("crash-safe (NORMAL)", "NORMAL", Durability::CrashSafe)] {
        let (raw50, raw99, log50, log99) = log_vs_raw(tmp.path(), label, sync, dur, n, sample_size);
        rows.push((label, raw50, raw99, log50, log99));
    }
    let raw_dir = tmp.path().join("raw-NORMAL");

    // 2. a store with `big` encounters: 300 per night, one shift per night.
    let big_dir = tmp.path().join("big");
    let key_bytes: [u8; 32] = rand::random();
    let key_hex: String = key_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let key = StoreKey::from_slice(&hex_decode(&key_hex)).unwrap();
    let t = Instant::now();
    let mut s = Store::create(&big_dir, Unlock::Key(key), team(), &StoreOptions::default()).unwrap();
    // Building 100k encounters one fsync at a time would take minutes; the build is not measured.
    s.set_durability(Durability::CrashSafe).unwrap();
    let per_night = 300;
    let nights = big.div_ceil(per_night);
    let start = chrono::Utc::now() - chrono::Duration::days(nights as i64 + 2);
    let mut last_night = None;
    let mut done = 0;
    for night in 0..nights {
        let at = start + chrono::Duration::days(night as i64);
        shift(&mut s, Some(at));
        for i in 0..per_night.min(big - done) {
            let mut e = encounter(i);
            e.at = Some(at + chrono::Duration::seconds(i as i64 * 30));
            s.log_encounter(e).unwrap();
            done += 1;
        }
        // Measure a full night (the last one may be partial).
        if done % per_night == 0 || last_night.is_none() {
            last_night = Some(s.current_shift().unwrap().unwrap().night);
        }
        s.end_shift().unwrap();
        if night % 50 == 49 {
            eprintln!("  built {done}/{big} encounters");
        }
    }
    s.checkpoint().unwrap();
    drop(s);
    let build = t.elapsed();
    let db_size: u64 = std::fs::read_dir(&big_dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();

    // Open + list in fresh child processes (cold process, warm page cache), 5 runs; RSS of each.
    let exe = std::env::current_exe().unwrap();
    let mut runs = vec![];
    for _ in 0..5 {
        let out = std::process::Command::new(&exe)
            .args(["--child-open", big_dir.to_str().unwrap(), &key_hex, &last_night.unwrap().to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8(out.stdout).unwrap();
        let v: Vec<f64> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
        runs.push(v);
    }
    let med = |i: usize| {
        let mut v: Vec<f64> = runs.iter().map(|r| r[i]).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    // Baseline for open: a raw SQLCipher open + one query on the same file size class.
    let t = Instant::now();
    let c = rusqlite::Connection::open(raw_dir.join("r0").join("raw.db")).unwrap();
    c.pragma_update(None, "key", format!("x'{}'", "ab".repeat(32))).unwrap();
    let _: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    let raw_open = t.elapsed();

    println!();
    println!("## outreach-core store benchmark");
    println!();
    println!("| measure | outreach | baseline (same process) | ratio | goal |");
    println!("|---|---|---|---|---|");
    for (label, raw50, raw99, log50, log99) in rows {
        println!("| log one encounter p50, {label} | {:.0} µs | raw SQLCipher insert {:.0} µs ({} B row, own txn) | {:.2}× | ≤ 2× |", us(log50), us(raw50), sample_size, us(log50) / us(raw50));
        println!("| log one encounter p99, {label} | {:.0} µs | raw SQLCipher insert {:.0} µs | {:.2}× | ≤ 2× |", us(log99), us(raw99), us(log99) / us(raw99));
    }
    println!("| open store with {} encounters (median of 5) | {:.1} ms | raw SQLCipher open + count {:.1} ms | {:.1}× | ≤ 300 ms |", big, med(0) / 1000.0, us(raw_open) / 1000.0, med(0) / us(raw_open));
    println!("| list one night ({} encounters), first | {:.2} ms | – | – | ≤ 10 ms |", runs[0][3], med(1) / 1000.0);
    println!("| list one night, repeated | {:.2} ms | – | – | ≤ 10 ms |", med(2) / 1000.0);
    println!("| peak RSS of open + list (child process) | {:.1} MB | – | – | ≤ 50 MB |", med(4) / 1024.0);
    println!();
    println!("samples: {n} logs; big store built in {:.1} s ({:.0} µs/encounter), {:.1} MB on disk", build.as_secs_f64(), build.as_secs_f64() * 1e6 / big as f64, db_size as f64 / 1e6);
}

