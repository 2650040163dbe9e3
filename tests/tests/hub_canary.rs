//! Hub canary: devices write unique marker strings into every kind of record (notes, code
//! names, alert phones/plates/emails, concern actions, incident descriptions, team name and
//! zones), sync fully through a hub, and then no marker may be found in what the hub keeps:
//! every file of its SQLite database (`hub.db`, `-wal`, `-shm`), and a `pg_dump` of its
//! PostgreSQL schema. Markers are looked for as typed, lower/upper-cased, folded, in UTF-16
//! and as hex (how `pg_dump` prints `bytea`). Controls show the same scans find a marker that
//! is really there. All data is obviously fake.
//!
//! PostgreSQL runs when OUTREACH_TEST_PG_URL is set (and must, with OUTREACH_REQUIRE_PG=1).

use std::path::{Path, PathBuf};
use std::process::Command;

use outreach_core::sync::{CancelToken, Role};
use outreach_core::*;
use outreach_tests::hubsim::{InProcHub, HUB_URL, SETUP_CODE};
use outreach_tests::{canary_scenario, canary_team, scan_bytes, scan_tree, Hit};

fn no_progress(_: SyncProgress) {}

fn sync(s: &mut Store, hub: &InProcHub) {
    s.sync(hub, &no_progress, &CancelToken::new()).expect("clean sync");
}

/// Each device's own markers: one in every free-text field and identifier it writes.
fn device_markers(s: &mut Store, tag: &str) -> Vec<String> {
    let m = |what: &str| format!("CANARY-7f3a-{tag}-{what}");
    let zones = s.settings().zones.clone();
    if s.current_shift().unwrap().is_none() {
        s.start_shift(ShiftStart { van: m("van"), crew: vec![m("crew")], zones: zones.clone(), at: None }).unwrap();
    }
    let mut pin = PersonInput::new(&format!("Fakey {}", m("codename")));
    pin.note = Some(m("person-note"));
    let p = s.add_person(pin).unwrap();
    let mut e = EncounterInput::new(&zones[0]);
    e.person = Some(p.id.clone());
    e.note = Some(m("encounter-note"));
    e.services.insert(Service::Condoms, 3);
    let enc = s.log_encounter(e).unwrap();
    // An anonymous contact's note is not sealed to anyone (nothing says whose it is): it is
    // the plain free text the hub must still never see, and the control's visible marker.
    let mut anon = EncounterInput::new(&zones[0]);
    anon.note = Some(m("anon-encounter-note"));
    s.log_encounter(anon).unwrap();
    s.record_concern(ConcernInput {
        category: ConcernCategory::AdultAtRisk,
        indicators: vec![Indicator::Controlled],
        encounter: Some(enc.id.clone()),
        person: Some(p.id.clone()),
        consent: Consent::Given,
        action: m("concern-action"),
        shared_without_consent: false,
        legal_basis: None,
    })
    .unwrap();
    s.record_incident(IncidentInput {
        when: chrono::Utc::now() - chrono::Duration::hours(1),
        place: m("incident-place"),
        kind: IncidentType::Robbery,
        injuries: Some(m("incident-injuries")),
        perpetrator: Some(m("incident-description")),
        police_reported: false,
        crime_reference: None,
        share_police: ShareConsent::None,
        share_national: ShareConsent::Anonymised,
        support: None,
        person: Some(p.id.clone()),
        encounter: Some(enc.id.clone()),
    })
    .unwrap();
    let digits = match tag {
        "dev1" => "900311",
        _ => "900322",
    };
    s.add_alert(AlertInput {
        description: m("alert-desc"),
        plates: vec![format!("cn{} {}", &digits[4..], tag.to_uppercase())],
        phones: vec![format!("07700 {digits}")],
        emails: vec![format!("Alert.{tag}.CANARY-7f3a@Example.ORG")],
        usernames: vec![format!("@canary_7f3a_{tag}")],
        area: Some(m("alert-area")),
        risk: Risk::Medium,
        from: None,
        review: None,
    })
    .unwrap();
    vec![
        m("van"),
        m("crew"),
        format!("Fakey {}", m("codename")),
        m("person-note"),
        m("encounter-note"),
        m("anon-encounter-note"),
        m("concern-action"),
        m("incident-place"),
        m("incident-injuries"),
        m("incident-description"),
        m("alert-desc"),
        m("alert-area"),
        format!("+447700{digits}"),
        format!("07700 {digits}"),
        format!("CN{}{}", &digits[4..], tag.to_uppercase()),
        format!("alert.{tag}.canary-7f3a@example.org"),
        format!("canary_7f3a_{tag}"),
    ]
}

/// Lead (canary team, the full canary scenario) and two enrolled devices each writing their
/// own markers; two clean sync passes. Returns every marker written.
fn write_and_sync(hub: &InProcHub, root: &Path) -> Vec<String> {
    let opts = StoreOptions::default();
    let mut lead = Store::create(&root.join("lead"), Unlock::Key(StoreKey::generate()), canary_team(), &opts).unwrap();
    lead.register_team(hub, HUB_URL, SETUP_CODE, "TEST lead phone").unwrap();
    let mut devs = vec![];
    for i in 1..=2 {
        let code = lead.create_invite(hub, Role::Member, 3_600_000).unwrap();
        devs.push(
            Store::create_from_invite(&root.join(format!("dev{i}")), Unlock::Key(StoreKey::generate()), &code, &format!("TEST van phone {i}"), hub, &opts)
                .unwrap(),
        );
    }
    sync(&mut lead, hub);
    for d in devs.iter_mut() {
        sync(d, hub);
    }
    let run = canary_scenario(&mut lead).unwrap();
    let mut markers = run.all();
    for (i, d) in devs.iter_mut().enumerate() {
        markers.extend(device_markers(d, &format!("dev{}", i + 1)));
    }
    for _ in 0..2 {
        sync(&mut lead, hub);
        for d in devs.iter_mut() {
            sync(d, hub);
        }
    }
    // The sync really carried the records: every store sees the same projections, and a device
    // reads what the lead wrote.
    let fp = lead.projection_fingerprint().unwrap();
    for d in devs.iter_mut() {
        assert_eq!(d.outbox_len().unwrap(), 0);
        assert_eq!(d.projection_fingerprint().unwrap(), fp, "devices converged");
        d.get_encounter(&run.encounters[0]).expect("the lead's encounter reached the device");
    }
    markers.sort();
    markers.dedup();
    markers
}

/// Hex forms (lower and upper case) of each marker's UTF-8 bytes: how `pg_dump` prints a
/// `bytea` value.
fn hex_forms(markers: &[String]) -> Vec<String> {
    let mut out = vec![];
    for m in markers {
        out.push(hex::encode(m.as_bytes()));
        out.push(hex::encode(m.to_lowercase().as_bytes()));
    }
    out
}

/// Scans bytes for every form of every marker, hex included. Returns (marker, form) pairs.
fn scan_all_forms(bytes: &[u8], markers: &[String]) -> Vec<(String, String)> {
    let mut hits = scan_bytes(bytes, markers);
    for h in hex_forms(markers) {
        if memchr_find(bytes, h.as_bytes()) || memchr_find(bytes, h.to_uppercase().as_bytes()) {
            hits.push((h, "hex".into()));
        }
    }
    hits
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

fn hub_files(dir: &Path) -> Vec<PathBuf> {
    outreach_tests::files_under(dir)
}

/// Scans every file of the hub's SQLite database directory (raw bytes, every form, hex too).
fn scan_hub_dir(dir: &Path, markers: &[String]) -> Vec<Hit> {
    let mut hits = scan_tree(dir, markers);
    for f in hub_files(dir) {
        let bytes = std::fs::read(&f).unwrap();
        for h in hex_forms(markers) {
            if memchr_find(&bytes, h.as_bytes()) {
                hits.push(Hit { file: f.clone(), marker: h, form: "hex".into() });
            }
        }
    }
    hits
}

#[test]
fn sqlite_hub_files_hold_no_marker_after_a_full_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let hub_dir = tmp.path().join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    let hub = InProcHub::sqlite(&hub_dir.join("hub.db"));
    let markers = write_and_sync(&hub, tmp.path());
    assert!(markers.len() > 60, "{} markers", markers.len());

    // While the hub runs: the WAL holds the recent writes.
    let names: Vec<String> = hub_files(&hub_dir).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n == "hub.db"), "{names:?}");
    let total: u64 = hub_files(&hub_dir).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    assert!(total > 50_000, "the hub holds the team's ciphertext ({total} bytes in {names:?})");
    let hits = scan_hub_dir(&hub_dir, &markers);
    assert!(hits.is_empty(), "markers in the running hub's files: {hits:?}");

    // After the hub closes (checkpoint into hub.db).
    drop(hub);
    let hits = scan_hub_dir(&hub_dir, &markers);
    assert!(hits.is_empty(), "markers in the closed hub's files: {hits:?}");

    // Control: the same scan over the same directory finds a marker that is really there, in
    // a test-only table written through SQLite (so in the -wal first, then the main file).
    let conn = rusqlite::Connection::open(hub_dir.join("hub.db")).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE test_only_canary_control (v TEXT, b BLOB)").unwrap();
    let planted = &markers[markers.len() / 2];
    conn.execute("INSERT INTO test_only_canary_control VALUES (lower(?1), NULL)", [planted]).unwrap();
    let hits = scan_hub_dir(&hub_dir, &markers);
    assert!(
        hits.iter().any(|h| &h.marker == planted && h.file.to_string_lossy().ends_with("-wal")),
        "the scan missed a planted marker in the -wal: {hits:?}"
    );
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    drop(conn);
    let hits = scan_hub_dir(&hub_dir, &markers);
    assert!(hits.iter().any(|h| &h.marker == planted && h.file.ends_with("hub.db")), "the scan missed a planted marker in hub.db: {hits:?}");
}

/// `pg_dump` on PATH, or the newest under /usr/lib/postgresql/*/bin.
fn pg_dump_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.flatten().map(|e| e.path().join("bin/pg_dump")).filter(|p| p.exists()).collect())
        .unwrap_or_default();
    found.sort_by_key(|p| p.parent().and_then(|b| b.parent()).and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0));
    if let Some(p) = found.pop() {
        return p;
    }
    PathBuf::from("pg_dump")
}

fn pg_dump(url: &str, schema: &str) -> Vec<u8> {
    let out = Command::new(pg_dump_bin())
        .args(["--no-owner", "--no-privileges", "--schema", schema, "--dbname", url])
        .output()
        .expect("run pg_dump (install PostgreSQL client binaries)");
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn pg_url() -> Option<String> {
    match std::env::var("OUTREACH_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(std::env::var("OUTREACH_REQUIRE_PG").as_deref() != Ok("1"), "OUTREACH_REQUIRE_PG=1 but OUTREACH_TEST_PG_URL is not set");
            eprintln!("skipped: OUTREACH_TEST_PG_URL not set");
            None
        }
    }
}

#[test]
fn postgres_hub_dump_holds_no_marker_after_a_full_sync() {
    let Some(url) = pg_url() else { return };
    let schema = format!("canary_{}", hex::encode(rand::random::<[u8; 6]>()));
    let tmp = tempfile::tempdir().unwrap();
    let hub = InProcHub::postgres(&url, &schema);
    let markers = write_and_sync(&hub, tmp.path());

    let dump = pg_dump(&url, &schema);
    let text = String::from_utf8_lossy(&dump);
    assert!(text.contains(&format!("{schema}.chunks")) || text.contains("COPY"), "the dump holds the hub's tables");
    assert!(dump.len() > 50_000, "the dump holds the team's ciphertext ({} bytes)", dump.len());
    let hits = scan_all_forms(&dump, &markers);

    // Control: a test-only table in the same schema with one marker as text and another as
    // bytea; the same dump and scan must find both.
    let planted_text = markers[0].clone();
    let planted_blob = markers[markers.len() - 1].clone();
    hub.rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute(&format!("CREATE TABLE {schema}.test_only_canary_control (v TEXT, b BYTEA)")).await.unwrap();
        client
            .execute(&format!("INSERT INTO {schema}.test_only_canary_control VALUES ($1, $2)"), &[&planted_text, &planted_blob.as_bytes()])
            .await
            .unwrap();
    });
    let control = scan_all_forms(&pg_dump(&url, &schema), &markers);
    hub.drop_pg_schema();
    assert!(hits.is_empty(), "markers in pg_dump of the hub's schema: {hits:?}");
    assert!(control.iter().any(|(m, _)| m == &planted_text), "the scan missed a planted text marker: {control:?}");
    let blob_hex = hex::encode(planted_blob.as_bytes());
    assert!(control.iter().any(|(m, f)| m == &blob_hex && f == "hex"), "the scan missed a planted bytea marker: {control:?}");
}

/// The device stores of a plaintext (test-only) team are caught by the same scan, so a marker
/// written by the devices is a marker the scan can see: the hub's silence is meaningful.
#[test]
fn plaintext_device_store_is_caught_by_the_same_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = StoreOptions { insecure_plaintext: true, ..Default::default() };
    let dir = tmp.path().join("plain");
    let mut s = Store::create(&dir, Unlock::Key(StoreKey::generate()), canary_team(), &opts).unwrap();
    let markers = device_markers(&mut s, "dev1");
    s.checkpoint().unwrap();
    drop(s);
    let hits = scan_hub_dir(&dir, &markers);
    for m in ["CANARY-7f3a-dev1-anon-encounter-note", "CANARY-7f3a-dev1-person-note", "CANARY-7f3a-dev1-incident-place", "+447700900311"] {
        assert!(hits.iter().any(|h| h.marker == m), "{m} not found in a plaintext store: {hits:?}");
    }
    // Person-linked free text is sealed under the person's field key even inside a plaintext
    // store (tests/tests/canary.rs checks that in detail); the scan must not see it here either.
    for m in ["CANARY-7f3a-dev1-encounter-note", "CANARY-7f3a-dev1-concern-action", "CANARY-7f3a-dev1-incident-description"] {
        assert!(!hits.iter().any(|h| h.marker == m), "{m} is person-linked and must be sealed: {hits:?}");
    }
}
