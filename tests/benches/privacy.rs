//! Privacy operations bench: what sealing, wiping, the duress check and crypto-shredding cost.
//! A bench binary that prints a table (`cargo bench -p outreach-tests --bench privacy`); each
//! speed figure with a baseline is a ratio against that baseline measured in the same process.
//!
//! Environment: `BENCH_SHRED_DOCS` (documents in one shred order, default 1000),
//! `BENCH_WIPE_ENCOUNTERS` (encounters in the wiped store, default 5000). All data is fake.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use outreach_core::fieldseal::{FieldKey, RecordKind};
use outreach_core::sync::{CancelToken, Role, ShredReason};
use outreach_core::*;
use outreach_tests::hubsim::{copy_dir, InProcHub, HUB_URL, SETUP_CODE};

const ZONE: &str = "north-beat";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn no_progress(_: SyncProgress) {}

fn sync(s: &mut Store, hub: &InProcHub) -> SyncReport {
    s.sync(hub, &no_progress, &CancelToken::new()).expect("clean sync")
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn encounter(person: Option<&str>, i: usize) -> EncounterInput {
    let mut e = EncounterInput::new(ZONE);
    e.person = person.map(str::to_string);
    e.services.insert(Service::Condoms, 10);
    e.note = Some(format!("fake bench note number {i}, asked about clinic times"));
    e.follow_up = Some(FollowUp { due: None, what: "fake follow-up".into(), done: false });
    e
}

fn main() {
    let root = tempfile::tempdir().unwrap();
    let mut rows: Vec<String> = vec![];

    // ---- sealing one field, and logging a linked encounter (2 sealed fields) vs an anonymous one
    let k = FieldKey::generate();
    let n = 20_000u32;
    let (id, person) = ("01890a5d-ac96-774b-bcce-b302099a8057", "01890a5d-ad01-7c2e-9f0e-1f7b5a2c4d11");
    let text = "fake bench note, asked about clinic times";
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box((i, k.sealer().seal(RecordKind::Encounter, id, "note", person, text)));
    }
    let seal = t.elapsed() / n;
    let sealed = k.sealer().seal(RecordKind::Encounter, id, "note", person, text);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(k.sealer().open(RecordKind::Encounter, id, "note", person, &sealed).unwrap());
    }
    let open = t.elapsed() / n;
    rows.push(format!("| seal one person-linked field | {:.1} µs | – | – |", us(seal)));
    rows.push(format!("| open one sealed field | {:.1} µs | – | – |", us(open)));

    let mut s = Store::create(&root.path().join("seal"), Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Bench", &[ZONE]), &StoreOptions::default()).unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    let p = s.add_person(PersonInput::new("Fakey Moonbeam")).unwrap().id;
    s.start_shift(ShiftStart { van: "TEST Van".into(), crew: vec!["staff-bench".into()], zones: vec![ZONE.into()], at: None }).unwrap();
    let (mut anon, mut linked) = (vec![], vec![]);
    for i in 0..600 {
        for (who, out) in [(None, &mut anon), (Some(p.as_str()), &mut linked)] {
            let e = encounter(who, i);
            let t = Instant::now();
            s.log_encounter(e).unwrap();
            out.push(t.elapsed());
        }
    }
    let (a, l) = (median(&mut anon), median(&mut linked));
    rows.push(format!(
        "| log one encounter p50 (crash-safe), linked to a person: note and follow-up sealed | {:.0} µs | the same, anonymous (nothing sealed) {:.0} µs | {:.2}× |",
        us(l),
        us(a),
        us(l) / us(a)
    ));
    drop(s);

    // ---- wiping a store vs deleting the same files ---------------------------------------
    let n_wipe = env("BENCH_WIPE_ENCOUNTERS", 5000);
    let dir = root.path().join("wipe");
    let mut s = Store::create(&dir, Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Bench", &[ZONE]), &StoreOptions::default()).unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    s.start_shift(ShiftStart { van: "TEST Van".into(), crew: vec!["staff-bench".into()], zones: vec![ZONE.into()], at: None }).unwrap();
    for i in 0..n_wipe {
        s.log_encounter(encounter(None, i)).unwrap();
    }
    let copy = root.path().join("wipe-copy");
    copy_dir(&dir, &copy).unwrap();
    let bytes: u64 = files_under(&dir).iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    let t = Instant::now();
    s.wipe().unwrap();
    let wipe = t.elapsed();
    let t = Instant::now();
    std::fs::remove_dir_all(&copy).unwrap();
    let rm = t.elapsed();
    rows.push(format!(
        "| wipe a {n_wipe}-encounter store ({:.1} MB with WAL): overwrite, fsync, delete | {:.0} ms | deleting the same files {:.1} ms | {:.0}× |",
        bytes as f64 / 1e6,
        wipe.as_secs_f64() * 1e3,
        rm.as_secs_f64() * 1e3,
        wipe.as_secs_f64() / rm.as_secs_f64().max(1e-9)
    ));

    // ---- the duress PIN check (Argon2id) --------------------------------------------------
    let dir = root.path().join("duress");
    let mut s = Store::create(&dir, Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Bench", &[ZONE]), &StoreOptions::default()).unwrap();
    s.set_duress_secret(b"999999").unwrap();
    drop(s);
    let t = Instant::now();
    assert!(!outreach_core::wipe::check_duress(&dir, b"123456").unwrap());
    rows.push(format!("| duress PIN check (Argon2id 19 MiB, t=2) | {:.0} ms | – | – |", t.elapsed().as_secs_f64() * 1e3));

    // ---- crypto-shredding many documents: the lead's order, a van applying it --------------
    let n_shred = env("BENCH_SHRED_DOCS", 1000);
    let hub = InProcHub::sqlite(&root.path().join("hub.db"));
    let opts = StoreOptions::default();
    let mut lead = Store::create(&root.path().join("lead"), Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Bench", &[ZONE]), &opts).unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead phone").unwrap();
    let code = lead.create_invite(&hub, Role::Member, 3_600_000).unwrap();
    let mut van = Store::create_from_invite(&root.path().join("van"), Unlock::Key(StoreKey::generate()), &code, "TEST van", &hub, &opts).unwrap();
    let mut ids = vec![];
    for i in 0..n_shred {
        ids.push(lead.add_person(PersonInput::new(&format!("Fakey Person {i}"))).unwrap().id);
    }
    sync(&mut lead, &hub);
    sync(&mut van, &hub);
    let docs: Vec<String> = ids.iter().map(|id| lead.erasure_plan(id).unwrap().person_docs[0].clone()).collect();
    let t = Instant::now();
    let out = lead.shred_docs(&hub, &docs, ShredReason::Retention).unwrap();
    let lead_t = t.elapsed();
    let t = Instant::now();
    let r = sync(&mut van, &hub);
    let van_t = t.elapsed();
    assert_eq!(r.shreds_applied, 1);
    assert_eq!(out.docs_deleted_here as usize, n_shred);
    rows.push(format!(
        "| shred {n_shred} documents: the lead's `shred_docs` (hub deleted {} chunks, {} keys) | {:.0} ms | – | – |",
        out.hub_chunks_deleted,
        out.hub_keys_deleted,
        lead_t.as_secs_f64() * 1e3
    ));
    rows.push(format!("| a van's sync applying that order | {:.0} ms | – | – |", van_t.as_secs_f64() * 1e3));

    println!();
    println!("## Privacy operations (cargo bench -p outreach-tests --bench privacy)");
    println!();
    println!("| measure | outreach | baseline (same process) | ratio |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
