//! End-to-end tests of the `outreach` binary. All data is obviously fake: code names like
//! "Fakey Moonbeam", phone numbers from the 07700 900xxx drama range, plates like "AB12 CDE".

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use chrono::{Duration, NaiveDate, Utc};
use predicates::prelude::*;
use serde_json::Value;

const PASS: &str = "fake correct horse battery";

/// A store directory inside a temp dir (the store dir itself does not exist until `init`).
struct Env {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        Env { _tmp: tmp, dir }
    }

    /// `outreach` with this store, the test passphrase and the fast test KDF.
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_outreach"));
        c.env("OUTREACH_DATA_DIR", &self.dir)
            .env("OUTREACH_PASSPHRASE", PASS)
            .env("OUTREACH_KDF", "insecure-fast-for-tests")
            .env_remove("OUTREACH_USER")
            .env_remove("RUST_BACKTRACE");
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "outreach {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "stderr not empty: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and returns (exit code, stdout, stderr).
    fn fail(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            !out.status.success(),
            "outreach {args:?} unexpectedly succeeded"
        );
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn init(&self) {
        let out = self.run(&[
            "init",
            "--team",
            "Fake Night Van Team",
            "--zones",
            "north-beat,south-beat",
        ]);
        assert!(out.contains("Created the encrypted store"), "{out}");
    }
}

/// Yesterday, 21:00 UTC: a time inside a known night, whatever the time of day the test runs.
fn last_evening() -> (String, NaiveDate) {
    let day = (Utc::now() - Duration::days(1)).date_naive();
    (format!("{day}T21:00:00Z"), day)
}

fn one_line_error(stderr: &str) {
    assert_eq!(
        stderr.lines().count(),
        1,
        "expected exactly one line on stderr, got: {stderr:?}"
    );
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

fn id_line(out: &str) -> String {
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "expected an id, got {out:?}");
    id
}

#[test]
fn night_of_logging_listing_amending_people_alerts_and_audit() {
    let env = Env::new();
    env.init();
    let (start, night) = last_evening();
    let night_s = night.to_string();

    let person = id_line(&env.run(&[
        "person",
        "add",
        "Fakey Moonbeam",
        "--age-band",
        "25_34",
        "--injecting",
    ]));
    let shift = id_line(&env.run(&[
        "shift",
        "start",
        "--van",
        "Van 1",
        "--crew",
        "staff-a,staff-b",
        "--zones",
        "north-beat",
        "--at",
        &start,
    ]));
    let status = env.run(&["shift", "status"]);
    assert!(
        status.contains(&shift) && status.contains("Van 1") && status.contains("staff-a, staff-b"),
        "{status}"
    );

    let at1 = start.replace("21:00", "21:30");
    let e1 = id_line(&env.run(&[
        "log",
        "--zone",
        "north-beat",
        "--setting",
        "street",
        "--contact",
        "full",
        "--person",
        &person,
        "--service",
        "condoms=10",
        "--service",
        "lube=5",
        "--referral",
        "sexual_health:signposted:consent:offered",
        "--language",
        "Portuguese",
        "--interpreter",
        "telephone",
        "--consent",
        "record,follow_up_contact",
        "--note",
        "Fake note: asked about clinic times",
        "--at",
        &at1,
    ]));
    let at2 = start.replace("21:00", "22:05");
    let e2 = id_line(&env.run(&[
        "log",
        "--zone",
        "north-beat",
        "--service",
        "hot_drink=1",
        "--at",
        &at2,
    ]));
    assert_ne!(e1, e2);

    // Table.
    let table = env.run(&["list", "--night", &night_s]);
    assert!(table.contains("2 encounter(s)"), "{table}");
    let row1 = table.lines().find(|l| l.contains(&e1)).expect("row for e1");
    for want in [
        "21:30",
        "Van 1",
        "north-beat",
        "street",
        "full",
        "Fakey Moonbeam",
        "condoms 10, lube 5",
    ] {
        assert!(row1.contains(want), "{want} missing from {row1:?}");
    }
    let row2 = table.lines().find(|l| l.contains(&e2)).expect("row for e2");
    assert!(
        row2.contains("anonymous") && row2.contains("hot_drink 1") && row2.contains("brief"),
        "{row2:?}"
    );
    // Time order.
    assert!(table.find(&e1).unwrap() < table.find(&e2).unwrap());

    // JSON.
    let v: Value =
        serde_json::from_str(&env.run(&["list", "--night", &night_s, "--json"])).unwrap();
    assert_eq!(v["night"], night_s);
    let list = v["encounters"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let j1 = &list[0];
    assert_eq!(j1["id"], e1);
    assert_eq!(j1["shift"], shift);
    assert_eq!(j1["zone"], "north-beat");
    assert_eq!(j1["setting"], "street");
    assert_eq!(j1["contact_type"], "full");
    assert_eq!(j1["person"], person);
    assert_eq!(j1["person_code_name"], "Fakey Moonbeam");
    assert_eq!(j1["van"], "Van 1");
    assert_eq!(j1["services"]["condoms"], 10);
    assert_eq!(j1["services"]["lube"], 5);
    assert_eq!(j1["referrals"][0]["destination"], "sexual_health");
    assert_eq!(j1["referrals"][0]["mode"], "signposted");
    assert_eq!(j1["referrals"][0]["consent"], true);
    assert_eq!(j1["referrals"][0]["status"], "offered");
    assert_eq!(j1["interpreter"], "telephone");
    assert_eq!(j1["consent"]["record"], true);
    assert_eq!(j1["consent"]["follow_up_contact"], true);
    assert_eq!(j1["consent"]["share_with_partners"], false);
    assert_eq!(j1["workers"], serde_json::json!(["staff-a", "staff-b"]));
    assert_eq!(list[1]["person"], Value::Null);
    assert_eq!(list[1]["person_code_name"], Value::Null);

    // Amend: only what is given changes.
    let amended = env.run(&[
        "amend",
        &e1,
        "--service",
        "lube=0",
        "--service",
        "naloxone=1",
        "--note",
        "Fake amended note",
    ]);
    assert_eq!(amended.trim(), e1);
    let v: Value =
        serde_json::from_str(&env.run(&["list", "--night", &night_s, "--json"])).unwrap();
    let j1 = &v["encounters"][0];
    assert_eq!(j1["services"]["condoms"], 10);
    assert_eq!(j1["services"]["naloxone"], 1);
    assert!(j1["services"].get("lube").is_none(), "{j1}");
    assert_eq!(j1["note"], "Fake amended note");
    assert_eq!(j1["person"], person);
    assert_eq!(j1["referrals"].as_array().unwrap().len(), 1);
    assert_eq!(j1["at"], at1.as_str(), "amend keeps the time");
    let anon = env.run(&["amend", &e1, "--anonymous", "--clear-referrals"]);
    assert_eq!(anon.trim(), e1);
    let v: Value =
        serde_json::from_str(&env.run(&["list", "--night", &night_s, "--json"])).unwrap();
    assert_eq!(v["encounters"][0]["person"], Value::Null);
    assert_eq!(v["encounters"][0]["referrals"], serde_json::json!([]));
    let (code, _, err) = env.fail(&[
        "amend",
        "01890a5d-ac96-774b-bcce-b302099a8057",
        "--note",
        "x",
    ]);
    assert_eq!(code, 4, "{err}");
    one_line_error(&err);

    // People.
    let found = env.run(&["person", "find", "fakey moonbem"]);
    assert!(
        found.contains(&person) && found.contains("Fakey Moonbeam"),
        "{found}"
    );
    let found: Value =
        serde_json::from_str(&env.run(&["person", "find", "moonbeam", "--json"])).unwrap();
    assert_eq!(found[0]["id"], person);
    let shown = env.run(&["person", "show", &person]);
    assert!(
        shown.contains("Fakey Moonbeam") && shown.contains("25_34"),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.contains("injecting") && l.contains("yes")),
        "{shown}"
    );
    let edited = env.run(&[
        "person",
        "edit",
        &person,
        "--age-band",
        "35_44",
        "--no-injecting",
        "--gp-registered",
        "yes",
    ]);
    assert_eq!(edited.trim(), person);
    let shown: Value =
        serde_json::from_str(&env.run(&["person", "show", &person, "--json"])).unwrap();
    assert_eq!(shown["person"]["age_band"], "35_44");
    assert_eq!(shown["person"]["flags"]["injecting"], false);
    assert_eq!(shown["person"]["flags"]["gp_registered"], true);
    assert_eq!(shown["person"]["code_name"], "Fakey Moonbeam");

    // Alerts.
    let alert = id_line(&env.run(&[
        "alert",
        "add",
        "--description",
        "Fake test alert: grey hatchback",
        "--phone",
        "07700 900123",
        "--plate",
        "AB12 CDE",
        "--area",
        "north-beat",
        "--risk",
        "high",
    ]));
    let secret_forms = [
        "07700 900123",
        "07700900123",
        "7700900123",
        "7700 900123",
        "447700900123",
    ];
    for (args, matched) in [
        (vec!["alert", "check", "--phone", "+44 7700 900123"], true),
        (vec!["alert", "check", "--phone", "07700 900123"], true),
        (vec!["alert", "check", "--plate", "ab12cde"], true),
        (vec!["alert", "check", "--phone", "07700 900999"], false),
        (vec!["alert", "check", "--username", "fakey_nobody"], false),
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.is_empty(), "{stderr}");
        if matched {
            assert!(stdout.starts_with("MATCH"), "{args:?}: {stdout}");
            assert!(
                stdout.contains("HIGH") && stdout.contains("Fake test alert: grey hatchback"),
                "{stdout}"
            );
        } else {
            assert_eq!(stdout.trim(), "NO MATCH", "{args:?}");
        }
        let checked = args[3];
        for s in [&stdout, &stderr] {
            assert!(!s.contains(checked), "checked value echoed: {s}");
            for f in secret_forms {
                assert!(
                    !s.contains(f),
                    "phone number form {f} appeared in output: {s}"
                );
            }
            assert!(
                !s.to_ascii_uppercase().contains("AB12"),
                "plate appeared in output: {s}"
            );
        }
    }
    // The value can come from stdin, keeping it out of shell history.
    env.cmd()
        .args(["alert", "check", "--phone", "-", "--json"])
        .write_stdin("07700 900123\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("\"match\": true").and(predicate::str::contains(&alert)))
        .stdout(predicate::str::contains("900123").not());
    // A value that cannot be a phone number is an error naming the kind, not echoing it.
    let (code, out, err) = env.fail(&["alert", "check", "--phone", "fake-not-a-phone"]);
    assert_eq!(code, 5, "{err}");
    one_line_error(&err);
    assert!(!err.contains("fake-not-a-phone") && !out.contains("fake-not-a-phone"));

    // Audit: the profile views are there, with the profile's id.
    let audit: Value =
        serde_json::from_str(&env.run(&["audit", "--json", "--limit", "500"])).unwrap();
    let events = audit.as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "person.view" && e["entity_id"] == person),
        "no person.view in {audit}"
    );
    for action in [
        "encounter.create",
        "encounter.edit",
        "person.create",
        "person.edit",
        "alert.create",
        "shift.start",
    ] {
        assert!(
            events.iter().any(|e| e["action"] == action),
            "{action} missing"
        );
    }
    let table = env.run(&["audit", "--limit", "5"]);
    assert!(
        table.starts_with("SEQ") && table.lines().count() == 6,
        "{table}"
    );

    // End the shift.
    let ended = env.run(&["shift", "end"]);
    assert!(
        ended.contains(&shift) && ended.contains("2 encounter(s)"),
        "{ended}"
    );
    assert!(env.run(&["shift", "status"]).contains("No shift is open"));
}

#[test]
fn default_night_is_the_current_one() {
    let env = Env::new();
    env.init();
    let before = outreach_core::night_of(Utc::now(), 0);
    env.run(&[
        "shift",
        "start",
        "--van",
        "Van 2",
        "--crew",
        "staff-c",
        "--zones",
        "south-beat",
    ]);
    let e = id_line(&env.run(&["log", "--zone", "south-beat", "--service", "condoms=3"]));
    let out = env.run(&["list"]);
    let after = outreach_core::night_of(Utc::now(), 0);
    if before == after {
        assert!(
            out.contains(&e) && out.contains(&format!("Night of {before}")),
            "{out}"
        );
    }
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with("-shm"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn wrong_passphrase_exits_3_with_one_line_and_touches_nothing() {
    let env = Env::new();
    env.init();
    env.run(&[
        "shift",
        "start",
        "--van",
        "Van 1",
        "--crew",
        "staff-a",
        "--zones",
        "north-beat",
    ]);
    env.run(&["log", "--zone", "north-beat", "--service", "condoms=10"]);
    let before = snapshot(&env.dir);
    assert!(!before.is_empty());
    for args in [
        vec!["list"],
        vec!["log", "--zone", "north-beat"],
        vec!["person", "find", "moonbeam"],
        vec!["check"],
    ] {
        let out = env
            .cmd()
            .env("OUTREACH_PASSPHRASE", "fake wrong passphrase")
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        one_line_error(&err);
        assert!(
            err.starts_with("error: wrong passphrase for the store in "),
            "{err}"
        );
        assert!(err.contains("OUTREACH_DATA_DIR"), "{err}");
        assert!(!err.contains("fake wrong passphrase"));
        assert!(out.stdout.is_empty());
        assert!(
            before == snapshot(&env.dir),
            "store files changed after {args:?}"
        );
    }
}

#[test]
fn no_store_says_to_run_init_and_creates_nothing() {
    let env = Env::new();
    for args in [
        vec!["list"],
        vec!["shift", "status"],
        vec!["alert", "check", "--phone", "07700 900123"],
    ] {
        let (code, out, err) = env.fail(&args);
        assert_eq!(code, 4, "{args:?}: {err}");
        one_line_error(&err);
        assert!(err.contains("run `outreach init`"), "{err}");
        assert!(!err.contains("900123"));
        assert!(out.is_empty());
        assert!(
            !env.dir.exists(),
            "a failed open must not create the store directory"
        );
    }
}

#[test]
fn bad_input_names_the_field_and_exits_5() {
    let env = Env::new();
    env.init();
    // A zone that is not the team's.
    let (code, _, err) = env.fail(&[
        "shift",
        "start",
        "--van",
        "Van 1",
        "--crew",
        "staff-a",
        "--zones",
        "fake-nowhere",
    ]);
    assert_eq!(code, 5, "{err}");
    one_line_error(&err);
    assert!(
        err.contains("shift.zones") && err.contains("north-beat, south-beat"),
        "{err}"
    );
    assert!(!err.contains("fake-nowhere"), "{err}");

    env.run(&[
        "shift",
        "start",
        "--van",
        "Van 1",
        "--crew",
        "staff-a",
        "--zones",
        "north-beat",
    ]);
    let (code, _, err) = env.fail(&["log", "--zone", "fake-nowhere"]);
    assert_eq!(code, 5, "{err}");
    one_line_error(&err);
    assert!(err.contains("encounter.zone"), "{err}");

    // Controlled lists print the allowed values.
    let (code, _, err) = env.fail(&["log", "--zone", "north-beat", "--setting", "rooftop"]);
    assert_eq!(code, 5);
    one_line_error(&err);
    assert!(
        err.contains("--setting") && err.contains("street, indoor, sauna_parlour"),
        "{err}"
    );
    let (code, _, err) = env.fail(&["log", "--zone", "north-beat", "--service", "biscuits=2"]);
    assert_eq!(code, 5);
    assert!(
        err.contains("--service") && err.contains("condoms"),
        "{err}"
    );
    let (code, _, err) = env.fail(&[
        "log",
        "--zone",
        "north-beat",
        "--referral",
        "sexual_health:signposted",
    ]);
    assert_eq!(code, 5);
    assert!(
        err.contains("--referral") && err.contains("DESTINATION:MODE:CONSENT:STATUS"),
        "{err}"
    );
    let (code, _, err) = env.fail(&["log", "--zone", "north-beat", "--at", "last tuesday"]);
    assert_eq!(code, 5);
    assert!(err.contains("--at") && err.contains("RFC 3339"), "{err}");
    let (code, _, err) = env.fail(&["log", "--zone", "north-beat", "--person", "not-an-id"]);
    assert_eq!(code, 5);
    assert!(err.contains("encounter.person"), "{err}");
    let (code, _, err) = env.fail(&["alert", "add", "--description", "Fake", "--risk", "extreme"]);
    assert_eq!(code, 5);
    assert!(
        err.contains("--risk") && err.contains("low, medium, high"),
        "{err}"
    );

    // Nothing was logged by any of that.
    let v: Value = serde_json::from_str(&env.run(&["list", "--json"])).unwrap();
    assert_eq!(v["encounters"].as_array().unwrap().len(), 0);
}

#[test]
fn init_checks_passphrase_length_and_refuses_a_second_store() {
    let env = Env::new();
    let (code, _, err) = {
        let out = env
            .cmd()
            .env("OUTREACH_PASSPHRASE", "fake-pw9")
            .args(["init", "--team", "Fake Team", "--zones", "north-beat"])
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            out.stdout,
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    assert_eq!(code, 5);
    one_line_error(&err);
    assert!(
        err.contains("at least 10 characters") && !err.contains("fake-pw9"),
        "{err}"
    );
    assert!(!env.dir.join("store.json").exists());

    // Bad team setup is refused before any passphrase is needed.
    let (code, _, err) = env.fail(&[
        "init",
        "--team",
        "Fake Team",
        "--zones",
        "north-beat,north-beat",
    ]);
    assert_eq!(code, 5);
    assert!(err.contains("zones") && err.contains("unique"), "{err}");
    let (code, _, err) = env.fail(&[
        "init",
        "--team",
        "Fake Team",
        "--zones",
        "north-beat",
        "--country",
        "ZZ",
    ]);
    assert_eq!(code, 5);
    assert!(err.contains("default_country"), "{err}");

    env.init();
    let meta = std::fs::read_to_string(env.dir.join("store.json")).unwrap();
    assert!(
        meta.contains("argon2id") && meta.contains("\"m_kib\": 256"),
        "{meta}"
    );
    let (code, _, err) = env.fail(&["init", "--team", "Fake Team", "--zones", "north-beat"]);
    assert_eq!(code, 1);
    one_line_error(&err);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn unknown_kdf_setting_is_refused() {
    let env = Env::new();
    let out = env
        .cmd()
        .env("OUTREACH_KDF", "fast-please")
        .args(["init", "--team", "Fake Team", "--zones", "north-beat"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    one_line_error(&String::from_utf8(out.stderr).unwrap());
    assert!(!env.dir.exists());
}

#[test]
fn no_passphrase_without_a_terminal_is_a_clear_error() {
    let env = Env::new();
    env.init();
    let out = env
        .cmd()
        .env_remove("OUTREACH_PASSPHRASE")
        .args(["list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    one_line_error(&err);
    assert!(err.contains("OUTREACH_PASSPHRASE"), "{err}");
}

#[test]
fn usage_errors_are_one_line_exit_2_and_never_echo_values() {
    let env = Env::new();
    env.init();
    // A number typed where no positional argument is expected.
    let (code, _, err) = env.fail(&["alert", "check", "07700 900123"]);
    assert_eq!(code, 2, "{err}");
    one_line_error(&err);
    assert!(!err.contains("900123"), "{err}");
    assert!(err.contains("outreach alert check --help"), "{err}");
    // Two identifiers at once.
    let (code, _, err) = env.fail(&[
        "alert",
        "check",
        "--phone",
        "07700 900123",
        "--plate",
        "AB12 CDE",
    ]);
    assert_eq!(code, 2);
    one_line_error(&err);
    assert!(!err.contains("900123") && !err.contains("AB12"), "{err}");
    // Missing required option.
    let (code, _, err) = env.fail(&["log"]);
    assert_eq!(code, 2);
    one_line_error(&err);
    assert!(err.contains("--zone"), "{err}");
    // Unknown subcommand that could be data.
    let (code, _, err) = env.fail(&["07700900123"]);
    assert_eq!(code, 2);
    assert!(!err.contains("900123"), "{err}");
    // No passphrase argument exists.
    let (code, _, err) = env.fail(&["list", "--passphrase", "fake correct horse"]);
    assert_eq!(code, 2);
    assert!(!err.contains("fake correct horse"), "{err}");
}

#[test]
fn log_needs_an_open_shift() {
    let env = Env::new();
    env.init();
    let (code, _, err) = env.fail(&["log", "--zone", "north-beat"]);
    assert_eq!(code, 1);
    one_line_error(&err);
    assert!(err.contains("outreach shift start"), "{err}");
    let (code, _, err) = env.fail(&["shift", "end"]);
    assert_eq!(code, 1);
    one_line_error(&err);
}

#[test]
fn concerns_and_incidents() {
    let env = Env::new();
    env.init();
    env.run(&[
        "shift",
        "start",
        "--van",
        "Van 1",
        "--crew",
        "staff-a",
        "--zones",
        "north-beat",
    ]);
    let person = id_line(&env.run(&["person", "add", "Fakey Stardust"]));
    let enc = id_line(&env.run(&["log", "--zone", "north-beat", "--person", &person]));

    let (code, _, err) = env.fail(&[
        "concern",
        "add",
        "--category",
        "exploitation_modern_slavery",
        "--indicator",
        "controlled_by_other",
        "--consent",
        "refused",
        "--action",
        "Fake action",
        "--shared-without-consent",
    ]);
    assert_eq!(code, 5);
    one_line_error(&err);
    assert!(err.contains("concern.legal_basis"), "{err}");
    id_line(&env.run(&[
        "concern",
        "add",
        "--category",
        "exploitation_modern_slavery",
        "--indicator",
        "controlled_by_other,no_id_documents",
        "--consent",
        "refused",
        "--action",
        "Fake action: gave helpline card",
        "--shared-without-consent",
        "--legal-basis",
        "vital_interests",
        "--person",
        &person,
        "--encounter",
        &enc,
    ]));
    let (code, _, err) = env.fail(&[
        "concern",
        "add",
        "--category",
        "worry",
        "--consent",
        "given",
        "--action",
        "x",
    ]);
    assert_eq!(code, 5);
    assert!(
        err.contains("--category") && err.contains("adult_at_risk"),
        "{err}"
    );

    let when = (Utc::now() - Duration::hours(1)).to_rfc3339();
    id_line(&env.run(&[
        "incident",
        "add",
        "--when",
        &when,
        "--place",
        "north-beat",
        "--kind",
        "robbery",
        "--share-police",
        "anonymised",
        "--share-national",
        "full",
        "--injuries",
        "Fake: bruised arm",
        "--perpetrator",
        "Fake: tall, grey hatchback",
        "--police-reported",
        "--crime-ref",
        "FAKE/0001",
        "--support",
        "Attack alarm given",
        "--person",
        &person,
        "--encounter",
        &enc,
    ]));
    let (code, _, err) = env.fail(&[
        "incident",
        "add",
        "--when",
        &when,
        "--place",
        "north-beat",
        "--kind",
        "robbery",
        "--share-police",
        "none",
        "--share-national",
        "none",
        "--crime-ref",
        "FAKE/0002",
    ]);
    assert_eq!(code, 5);
    assert!(err.contains("incident.crime_reference"), "{err}");
    let (code, _, err) = env.fail(&[
        "incident",
        "add",
        "--when",
        &when,
        "--place",
        "north-beat",
        "--kind",
        "robbery",
        "--share-police",
        "none",
        "--share-national",
        "none",
        "--encounter",
        "01890a5d-ac96-774b-bcce-b302099a8057",
    ]);
    assert_eq!(code, 5);
    assert!(err.contains("--encounter"), "{err}");

    let audit = env.run(&["audit"]);
    assert!(
        audit.contains("concern.create") && audit.contains("incident.create"),
        "{audit}"
    );
}

#[test]
fn check_and_rebuild() {
    let env = Env::new();
    env.init();
    env.run(&[
        "shift",
        "start",
        "--van",
        "Van 1",
        "--crew",
        "staff-a",
        "--zones",
        "north-beat",
    ]);
    for _ in 0..3 {
        env.run(&["log", "--zone", "north-beat", "--service", "condoms=2"]);
    }
    env.run(&[
        "alert",
        "add",
        "--description",
        "Fake alert",
        "--plate",
        "AB12 CDE",
        "--risk",
        "low",
    ]);
    let out = env.run(&["check"]);
    assert!(out.contains("integrity:   ok"), "{out}");
    assert!(out.contains("projections: ok"), "{out}");
    assert!(
        out.contains("3 encounter(s)") && out.contains("1 alert(s)"),
        "{out}"
    );
    let out = env.run(&["rebuild"]);
    assert!(out.contains("3 encounter(s)"), "{out}");
    // Still checks out, and the alert index survived the rebuild.
    assert!(env.run(&["check"]).contains("projections: ok"));
    assert!(env
        .run(&["alert", "check", "--plate", "AB12CDE"])
        .starts_with("MATCH"));
}

#[test]
fn every_command_has_help_with_an_example() {
    let env = Env::new();
    let commands: &[&[&str]] = &[
        &[],
        &["init"],
        &["shift"],
        &["shift", "start"],
        &["shift", "end"],
        &["shift", "status"],
        &["log"],
        &["amend"],
        &["list"],
        &["person"],
        &["person", "add"],
        &["person", "find"],
        &["person", "show"],
        &["person", "edit"],
        &["alert"],
        &["alert", "add"],
        &["alert", "check"],
        &["concern"],
        &["concern", "add"],
        &["incident"],
        &["incident", "add"],
        &["audit"],
        &["check"],
        &["rebuild"],
        &["hub"],
        &["hub", "serve"],
        &["hub", "register"],
        &["invite"],
        &["enrol"],
        &["sync"],
        &["sync", "status"],
        &["devices"],
        &["devices", "list"],
        &["devices", "revoke"],
    ];
    for c in commands {
        let mut args: Vec<&str> = c.to_vec();
        args.push("--help");
        env.cmd()
            .args(&args)
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
    // The test-only KDF switch stays out of the help.
    env.cmd()
        .arg("--help")
        .assert()
        .stdout(predicate::str::contains("OUTREACH_KDF").not());
    env.cmd()
        .args(["init", "--help"])
        .assert()
        .stdout(predicate::str::contains("insecure").not());
    // The alert check help documents the exit code.
    env.cmd()
        .args(["alert", "check", "--help"])
        .assert()
        .stdout(predicate::str::contains("Exit code: 0"));
}

#[test]
fn audit_records_the_user_handle() {
    let env = Env::new();
    env.init();
    env.cmd()
        .env("OUTREACH_USER", "lead-fake")
        .args(["person", "add", "Fakey Comet"])
        .assert()
        .success();
    let audit: Value = serde_json::from_str(&env.run(&["audit", "--json"])).unwrap();
    assert_eq!(audit[0]["action"], "person.create");
    assert_eq!(audit[0]["actor"], "lead-fake");
}
