//! Child process for the canary test's temp-file check. The parent points `TMPDIR` and
//! `SQLITE_TMPDIR` at an empty directory it watches with inotify, then runs this.
//!
//! Environment:
//! - `CANARY_CHILD_DIR`: where to put the stores.
//! - `CANARY_CHILD_MODE`: `scenario` (the canary scenario on an encrypted raw-key store and an
//!   encrypted passphrase store, plus reopening and read paths), or `control` (a raw SQLite
//!   connection with `temp_store=FILE` and a temp table: SQLite MUST create a temp file, which
//!   proves the parent's watch sees temp files and that SQLite honours `SQLITE_TMPDIR`).
//!
//! Prints nothing but `done` (its output is scanned for markers too).

use std::path::PathBuf;

use outreach_core::*;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CANARY_CHILD_DIR").expect("CANARY_CHILD_DIR"));
    let mode = std::env::var("CANARY_CHILD_MODE").expect("CANARY_CHILD_MODE");
    match mode.as_str() {
        "scenario" => scenario(&dir),
        "control" => control(&dir),
        other => panic!("unknown mode {other}"),
    }
    println!("done");
}

fn scenario(dir: &std::path::Path) {
    let key = StoreKey::generate();
    let pass: &[u8] = b"CANARY-7f3a-passphrase correct horse";
    let opts = StoreOptions { kdf: KdfParams::insecure_fast_for_tests(), ..Default::default() };
    for variant in ["key", "passphrase"] {
        let d = dir.join(variant);
        let unlock = || if variant == "key" { Unlock::Key(key.clone()) } else { Unlock::Passphrase(pass) };
        let mut s = Store::create(&d, unlock(), outreach_tests::canary_team(), &opts).expect("create");
        let run = outreach_tests::canary_scenario(&mut s).expect("scenario");
        if variant == "key" {
            bulk(&mut s);
        }
        s.checkpoint().expect("checkpoint");
        drop(s);
        let mut s = Store::open(&d, unlock()).expect("reopen");
        assert!(s.list_night(run.night.unwrap()).expect("list").len() >= run.encounters.len());
        s.rebuild_projections().expect("rebuild");
        s.find_people("fakey moonbem", 5).expect("find");
        s.integrity_check().expect("integrity");
        drop(s);
    }
}

/// More work under the watch: one shift document compacted several times over (multi-page
/// statements inside transactions), alerts listed in an order no index gives (a sorter), a
/// full rebuild. (With the default 2 MB cache none of this needs temp storage even under
/// temp_store=FILE, so the watch guards against temp files, not against the pragma itself.)
fn bulk(s: &mut Store) {
    s.set_durability(Durability::CrashSafe).expect("durability");
    let filler = "fake filler words about a quiet night and a cup of tea ".repeat(7);
    for i in 0..250 {
        let mut e = EncounterInput::new(outreach_tests::ZONES[i % 2]);
        e.note = Some(format!("{i} {filler}"));
        e.services.insert(Service::Condoms, 1 + i as u32 % 40);
        e.services.insert(Service::Advice, 1);
        s.log_encounter(e).expect("bulk log");
    }
    for i in 0..100 {
        s.add_alert(AlertInput {
            description: format!("fake bulk alert {i} {}", &filler[..200]),
            plates: vec![format!("FK{:02} BLK", i % 100)],
            phones: vec![format!("07700 900{:03}", i)],
            emails: vec![],
            usernames: vec![],
            area: None,
            risk: Risk::Low,
            from: None,
            review: None,
        })
        .expect("bulk alert");
    }
    assert!(s.list_alerts().expect("alerts").len() >= 100);
    s.rebuild_projections().expect("rebuild");
    s.clashes().expect("clashes");
    s.set_durability(Durability::Full).expect("durability");
}

fn control(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let c = rusqlite::Connection::open(dir.join("control.db")).unwrap();
    c.execute_batch(
        "PRAGMA temp_store = FILE;
         CREATE TEMP TABLE t (x TEXT);
         PRAGMA temp.cache_size = 10;
         INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             SELECT 'CANARY-7f3a-control-temp-row ' || i FROM n;",
    )
    .unwrap();
    let n: i64 = c.query_row("SELECT count(*) FROM (SELECT x FROM t ORDER BY x DESC)", [], |r| r.get(0)).unwrap();
    assert!(n >= 20000);
}
