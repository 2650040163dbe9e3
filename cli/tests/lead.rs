//! The lead's morning, end to end through the `outreach` binary: review, people merge/unmerge,
//! report formats, export, and the whole-mission demo. All data is obviously fake.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use chrono::{Duration, NaiveDate, Utc};
use serde_json::Value;

const PASS: &str = "fake correct horse battery";

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

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_outreach"));
        c.env("OUTREACH_DATA_DIR", &self.dir)
            .env("OUTREACH_PASSPHRASE", PASS)
            .env("OUTREACH_KDF", "insecure-fast-for-tests")
            .env("OUTREACH_USER", "test-lead")
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
        String::from_utf8(out.stdout).unwrap()
    }

    fn fail(&self, args: &[&str]) -> (i32, String) {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            !out.status.success(),
            "outreach {args:?} unexpectedly succeeded"
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
        assert!(err.starts_with("error: "), "{err:?}");
        (out.status.code().unwrap(), err)
    }

    /// A store with a shift last night: two people (a duplicate pair), encounters, a concern
    /// with an open referral and an incident that may be shared.
    fn night(&self) -> (NaiveDate, String, String) {
        self.run(&[
            "init",
            "--team",
            "Fake Night Van Team",
            "--zones",
            "north-beat,south-beat",
        ]);
        let day = (Utc::now() - Duration::days(1)).date_naive();
        let at = |h: &str| format!("{day}T{h}:00Z");
        let a = self
            .run(&["person", "add", "Fakey Moonbeam", "--age-band", "25_34"])
            .trim()
            .to_string();
        let b = self
            .run(&["person", "add", "Fakey Moonbem", "--age-band", "25_34"])
            .trim()
            .to_string();
        self.run(&[
            "shift",
            "start",
            "--van",
            "Van 1",
            "--crew",
            "staff-a",
            "--zones",
            "north-beat",
            "--at",
            &at("21:00"),
        ]);
        self.run(&[
            "log",
            "--zone",
            "north-beat",
            "--person",
            &a,
            "--service",
            "condoms=10",
            "--at",
            &at("21:30"),
        ]);
        self.run(&[
            "log",
            "--zone",
            "north-beat",
            "--person",
            &b,
            "--service",
            "hot_drink=1",
            "--referral",
            "sexual_health:signposted:consent:offered",
            "--at",
            &at("22:00"),
        ]);
        for m in ["22:10", "22:20", "22:30", "22:40", "22:50", "23:00"] {
            self.run(&[
                "log",
                "--zone",
                "south-beat",
                "--service",
                "condoms=5",
                "--at",
                &at(m),
            ]);
        }
        self.run(&[
            "concern",
            "add",
            "--category",
            "adult_at_risk",
            "--consent",
            "given",
            "--action",
            "Fake test action",
        ]);
        self.run(&[
            "incident",
            "add",
            "--when",
            &at("22:15"),
            "--place",
            "north-beat",
            "--kind",
            "robbery",
            "--share-police",
            "anonymised",
            "--share-national",
            "full",
        ]);
        (day, a, b)
    }
}

#[test]
fn review_list_json_and_recorded_decisions() {
    let env = Env::new();
    let (day, _, _) = env.night();
    let night = day.to_string();
    let v: Value =
        serde_json::from_str(&env.run(&["review", "--night", &night, "--json"])).unwrap();
    assert_eq!(v["encounters"], 8);
    assert_eq!(v["by_van"]["Van 1"], 8);
    assert_eq!(v["by_zone"]["south-beat"], 6);
    assert_eq!(v["review"]["concerns"].as_array().unwrap().len(), 1);
    assert_eq!(v["review"]["referrals"].as_array().unwrap().len(), 1);
    assert_eq!(v["review"]["incidents"].as_array().unwrap().len(), 1);
    let text = env.run(&["review", "--night", &night]);
    assert!(
        text.contains("By van") && text.contains("By zone") && text.contains("Needs the lead"),
        "{text}"
    );

    let concern = v["review"]["concerns"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.run(&[
        "review",
        "concern",
        &concern,
        "--outcome",
        "Fake outcome: discussed",
    ]);
    let v: Value =
        serde_json::from_str(&env.run(&["review", "--night", &night, "--json"])).unwrap();
    assert!(v["review"]["concerns"].as_array().unwrap().is_empty());

    let enc = v["timeline"][0]["id"].as_str().unwrap().to_string();
    env.run(&[
        "review",
        "settle",
        "encounter",
        &enc,
        "zone",
        "\"south-beat\"",
    ]);
    let v: Value =
        serde_json::from_str(&env.run(&["review", "--night", &night, "--json"])).unwrap();
    assert_eq!(v["by_zone"]["south-beat"], 7);
    let (code, err) = env.fail(&["review", "settle", "encounter", &enc, "zone", "south-beat"]);
    assert_eq!(code, 5);
    assert!(err.contains("quote"), "{err}");
    let audit = env.run(&["audit"]);
    assert!(
        audit.contains("concern.review") && audit.contains("clash.settle"),
        "{audit}"
    );
}

#[test]
fn people_duplicates_merge_and_unmerge() {
    let env = Env::new();
    let (day, a, b) = env.night();
    let v: Value = serde_json::from_str(&env.run(&["people", "duplicates", "--json"])).unwrap();
    let s = v["suggestions"].as_array().unwrap();
    assert_eq!(s.len(), 1, "{v}");
    let out = env.run(&["people", "merge", &a, &b]);
    assert!(out.contains("merged"), "{out}");
    let (code, err) = env.fail(&["people", "merge", &a, &b]);
    assert_eq!(code, 1);
    assert!(err.contains("unmerge"), "{err}");
    let d = day.to_string();
    let csv = env.run(&[
        "report",
        "--from",
        &d,
        "--to",
        &d,
        "--format",
        "csv",
        "--unsuppressed",
    ]);
    assert!(csv.contains("people,total,people,1"), "{csv}");
    env.run(&["people", "unmerge", &a]);
    let csv = env.run(&[
        "report",
        "--from",
        &d,
        "--to",
        &d,
        "--format",
        "csv",
        "--unsuppressed",
    ]);
    assert!(csv.contains("people,total,people,2"), "{csv}");
    let (code, _) = env.fail(&["people", "unmerge", &a]);
    assert_eq!(code, 1);
    let (code, _) = env.fail(&["people", "merge", &a, &a]);
    assert_eq!(code, 5);
}

#[test]
fn report_formats_and_unsuppressed_warning() {
    let env = Env::new();
    let (day, _, _) = env.night();
    let d = day.to_string();
    let table = env.run(&["report", "--from", &d, "--to", &d]);
    assert!(
        table.contains("Contacts per night and zone") && table.contains("Anonymised"),
        "{table}"
    );
    let csv = env.run(&["report", "--from", &d, "--to", &d, "--format", "csv"]);
    assert!(csv.starts_with("section,row,column,value"), "{csv}");
    let out = env.dir.parent().unwrap().join("r.html");
    env.run(&[
        "report",
        "--from",
        &d,
        "--to",
        &d,
        "--format",
        "html",
        "--out",
        out.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("<svg"), "html without svg");
    let o = env
        .cmd()
        .args(["report", "--from", &d, "--to", &d, "--unsuppressed"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("own review"));
    assert!(env.run(&["audit"]).contains("report.view_unsuppressed"));
    let (code, err) = env.fail(&["report", "--from", &d, "--to", "2000-01-01"]);
    assert_eq!(code, 5);
    assert!(err.contains("--to"), "{err}");
    let (code, _) = env.fail(&["report", "--from", &d, "--to", &d, "--format", "pdf"]);
    assert_eq!(code, 5);
}

#[test]
fn export_writes_one_csv_per_entity() {
    let env = Env::new();
    let (day, _, _) = env.night();
    let d = day.to_string();
    let dir = env.dir.parent().unwrap().join("export");
    let out = env.run(&[
        "export",
        "--dir",
        dir.to_str().unwrap(),
        "--from",
        &d,
        "--to",
        &d,
    ]);
    assert!(out.contains("exported 8 files"), "{out}");
    for e in [
        "shifts",
        "encounters",
        "services",
        "referrals",
        "people",
        "concerns",
        "incidents",
        "alerts",
    ] {
        let p = dir.join(format!("{e}.csv"));
        assert!(p.exists(), "{e}.csv missing");
    }
    let enc = std::fs::read_to_string(dir.join("encounters.csv")).unwrap();
    assert_eq!(enc.lines().count(), 9, "{enc}");
    assert!(env.run(&["audit"]).contains("export"));
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn demo_runs_the_whole_mission_and_leaves_nothing_in_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_outreach"))
        .args([
            "demo",
            "--dir",
            dir.to_str().unwrap(),
            "--vans",
            "3",
            "--seed",
            "7",
        ])
        .env("OUTREACH_KDF", "insecure-fast-for-tests")
        .env_remove("OUTREACH_PASSPHRASE")
        .env("OUTREACH_DATA_DIR", tmp.path().join("unused"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("merged \"Fakey Moonbe"), "{stdout}");
    assert!(stdout.contains("Needs the lead"), "{stdout}");
    assert!(stdout.contains("Clashes to settle: 1"), "{stdout}");
    assert!(stdout.contains("clashes left: 0"), "{stdout}");
    assert!(stdout.contains("Unique people (after merges)"), "{stdout}");
    // 3 vans x 4 profiles, one duplicate pair merged.
    assert!(
        stdout.contains("unique people in the report: 11"),
        "{stdout}"
    );
    let mut files = vec![];
    files_under(&dir, &mut files);
    assert!(files.len() >= 5, "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for needle in [
            "Fakey Moonbeam",
            "Fakey Moonbem",
            "Pretendo Stardust",
            "Fake demo",
            "AB12 CDE",
            "north-beat",
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} in plaintext in {}",
                f.display()
            );
        }
    }
}

#[test]
fn every_lead_command_has_help_with_an_example_and_errors_say_what_to_do() {
    let env = Env::new();
    let commands: &[&[&str]] = &[
        &["review"],
        &["review", "settle"],
        &["review", "concern"],
        &["people"],
        &["people", "duplicates"],
        &["people", "merge"],
        &["people", "unmerge"],
        &["report"],
        &["export"],
        &["demo"],
        &["person", "consent"],
        &["person", "access"],
        &["person", "add"],
        &["person", "edit"],
        &["incident", "share"],
        &["concern", "share"],
        &["concern", "add"],
    ];
    for c in commands {
        let mut args: Vec<&str> = c.to_vec();
        args.push("--help");
        let out = env.cmd().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Example"),
            "{args:?} has no example"
        );
    }
    // Without a store: one line, exit 4, says to run init.
    let (code, err) = env.fail(&["review"]);
    assert_eq!(code, 4);
    assert!(err.contains("outreach init"), "{err}");
    let (code, err) = env.fail(&["demo", "--vans", "0"]);
    assert_eq!(code, 5);
    assert!(err.contains("1 to 20"), "{err}");
}

/// The night's review, as JSON.
fn review_json(env: &Env, night: &str) -> Value {
    serde_json::from_str(&env.run(&["review", "--night", night, "--json"])).unwrap()
}

#[test]
fn identifying_codes_are_kept_only_as_hashes_and_flag_duplicates() {
    let env = Env::new();
    let (_, a, _) = env.night();
    // A differently named profile with the same code (typed differently): a strong signal.
    let c = env
        .run(&[
            "person",
            "add",
            "Testy Starlight",
            "--age-band",
            "45_54",
            "--id-code=ab 12 x",
        ])
        .trim()
        .to_string();
    let edited = env.run(&["person", "edit", &a, "--id-code=AB-12-X"]);
    assert!(edited.contains(&a));
    let dup = env.run(&["people", "duplicates"]);
    assert!(
        dup.contains("same") && dup.contains("strong signal"),
        "{dup}"
    );
    assert!(
        dup.contains(&c),
        "the pair with the same code is suggested: {dup}"
    );
    let v: Value = serde_json::from_str(&env.run(&["people", "duplicates", "--json"])).unwrap();
    let first = &v["suggestions"][0];
    assert_eq!(first["id_code"], "same", "same-code pairs come first: {v}");
    let pair = [first["a"].as_str().unwrap(), first["b"].as_str().unwrap()];
    assert!(pair.contains(&a.as_str()) && pair.contains(&c.as_str()));
    // The code is never printed back, in text or JSON, and no hash is shown either.
    let show = env.run(&["person", "show", &a]);
    assert!(show.contains("recorded (keyed hash only)"), "{show}");
    let shown: Value = serde_json::from_str(&env.run(&["person", "show", &a, "--json"])).unwrap();
    assert_eq!(shown["person"]["id_code_recorded"], true);
    assert!(shown["person"].get("id_code_hash").is_none());
    let audit = env.run(&["audit", "--limit", "200"]);
    for text in [&dup, &show, &shown.to_string(), &audit] {
        assert!(
            !text.to_uppercase().contains("AB12X") && !text.contains("ab 12 x"),
            "code leaked: {text}"
        );
    }
    // A bad code: exit 5, the rule named, the code not echoed, nothing added.
    let (code, err) = env.fail(&["person", "add", "Fakey Nocode", "--id-code=#"]);
    assert_eq!(code, 5);
    assert!(err.contains("3 to 32 letters or digits"), "{err}");
    assert!(!env
        .run(&["person", "find", "Fakey Nocode"])
        .contains("Fakey Nocode"));
    // Clearing removes the signal.
    env.run(&["person", "edit", &c, "--clear-id-code"]);
    assert!(!env.run(&["people", "duplicates"]).contains(&c));
    // Without a terminal the bare option says how to give the code.
    let (code, err) = env.fail(&["person", "edit", &a, "--id-code"]);
    assert_eq!(code, 5);
    assert!(err.contains("--id-code=CODE"), "{err}");
}

#[test]
fn consent_shares_disclosures_and_subject_access() {
    let env = Env::new();
    let (day, a, b) = env.night();
    let night = day.to_string();
    let at = |h: &str| format!("{day}T{h}:00Z");
    // A concern with its own time, linked to A, and an incident without consent, linked to B.
    let concern = env
        .run(&[
            "concern",
            "add",
            "--category",
            "exploitation_modern_slavery",
            "--consent",
            "given",
            "--action",
            "Fake test action: helpline card",
            "--person",
            &a,
            "--at",
            &at("21:45"),
        ])
        .trim()
        .to_string();
    let private = env
        .run(&[
            "incident",
            "add",
            "--when",
            &at("22:45"),
            "--place",
            "north-beat",
            "--kind",
            "threats",
            "--share-police",
            "none",
            "--share-national",
            "none",
            "--person",
            &b,
        ])
        .trim()
        .to_string();
    let v = review_json(&env, &night);
    let listed = v["review"]["concerns"].as_array().unwrap();
    let c = listed
        .iter()
        .find(|c| c["id"] == concern.as_str())
        .expect("concern listed");
    assert!(
        c["at"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{day}T21:45")),
        "{c}"
    );
    let shareable = v["review"]["incidents"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Consent per purpose.
    env.run(&[
        "person",
        "consent",
        &b,
        "--purpose",
        "share_with_national_scheme",
        "--given",
    ]);
    let (code, err) = env.fail(&["person", "consent", &b, "--purpose", "gossip", "--given"]);
    assert_eq!(code, 5);
    assert!(err.contains("share_with_police"), "{err}");
    let shown = env.run(&["person", "show", &b]);
    assert!(
        shown.contains("share_with_national_scheme given"),
        "{shown}"
    );

    // Shares: with consent; refused without; with a basis on this (lead) device.
    let out = env.run(&["incident", "share", &shareable, "--with", "national"]);
    assert!(out.contains("logged") && out.contains("covered"), "{out}");
    let (code, err) = env.fail(&["incident", "share", &private, "--with", "police"]);
    assert_eq!(code, 5);
    assert!(
        err.contains("--basis") && err.contains("outreach person consent"),
        "{err}"
    );
    let (code, err) = env.fail(&["incident", "share", &shareable, "--with", "local_authority"]);
    assert_eq!(code, 5);
    assert!(err.contains("police, national"), "{err}");
    let out = env.run(&[
        "incident",
        "share",
        &private,
        "--with",
        "police",
        "--basis",
        "vital_interests",
    ]);
    assert!(
        out.contains("NOT covered") && out.contains("vital_interests"),
        "{out}"
    );
    // The person's newer consent covers the national share of the incident without consent.
    let out = env.run(&["incident", "share", &private, "--with", "national"]);
    assert!(out.contains("(covered)"), "{out}");
    let out = env.run(&["concern", "share", &concern, "--with", "local_authority"]);
    assert!(out.contains("logged: concern"), "{out}");

    // The review shows the shares; the shareable incident still waits for the police share.
    let v = review_json(&env, &night);
    assert_eq!(v["review"]["disclosures"].as_array().unwrap().len(), 4);
    assert_eq!(
        v["review"]["incidents"][0]["pending"],
        serde_json::json!(["police"])
    );
    let text = env.run(&["review", "--night", &night]);
    assert!(
        text.contains("Shares logged for this night's records: 4"),
        "{text}"
    );
    // Reports count actual shares.
    let csv = env.run(&[
        "report",
        "--from",
        &night,
        "--to",
        &night,
        "--format",
        "csv",
        "--unsuppressed",
    ]);
    assert!(
        csv.contains("incidents_shared_national,robbery,shared_with_national_scheme,1"),
        "{csv}"
    );
    assert!(
        csv.contains("incidents_shared_police,threats,shared_with_police,1"),
        "{csv}"
    );
    assert!(
        csv.contains("incidents_shared_police,robbery,not_shared,1"),
        "{csv}"
    );
    let audit = env.run(&["audit", "--limit", "200"]);
    assert!(
        audit.contains("incident.share")
            && audit.contains("concern.share")
            && audit.contains("person.consent"),
        "{audit}"
    );

    // Subject access for B (merged into A first: the whole group comes out).
    env.run(&["people", "merge", &b, &a]);
    let out_dir = env._tmp.path().join("sar");
    let out = env.run(&["person", "access", &b, "--out", out_dir.to_str().unwrap()]);
    assert!(out.contains("NOT encrypted"), "{out}");
    let json_path = out_dir.join(format!("subject-access-{b}.json"));
    let html_path = out_dir.join(format!("subject-access-{b}.html"));
    let sar: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(
        sar["profiles"].as_array().unwrap().len(),
        2,
        "B and A, merged"
    );
    assert_eq!(sar["encounters"].as_array().unwrap().len(), 2);
    assert_eq!(sar["concerns"].as_array().unwrap().len(), 1);
    assert_eq!(
        sar["incidents"].as_array().unwrap().len(),
        1,
        "the unlinked robbery is not theirs"
    );
    assert_eq!(sar["disclosures"].as_array().unwrap().len(), 3);
    assert!(sar["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "person.consent"));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains("default-src 'none'")
            && !html.contains("<script")
            && !html.contains("http://")
            && !html.contains("https://"),
        "self-contained"
    );
    assert!(html.contains("Fakey Moonbeam") && html.contains("Fake test action: helpline card"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&html_path).unwrap().permissions().mode() & 0o077,
            0,
            "owner-only file"
        );
    }
    assert!(env
        .run(&["audit", "--limit", "5"])
        .contains("person.access"));
    let (code, err) = env.fail(&["person", "access", "01890a5d-ac96-774b-bcce-b302099a8057"]);
    assert_eq!(code, 4);
    assert!(err.contains("check the id"), "{err}");
}
