//! `outreach audit`: filters, `--verify`, and their errors. All data is obviously fake.
//! (Tampering needs the raw store key, which the CLI never shows: the tampering cases are in
//! core/tests/audit_chain.rs and tests/tests/audit_sync.rs.)

use std::path::PathBuf;

use assert_cmd::Command;
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
        let env = Env { _tmp: tmp, dir };
        env.run(&[
            "init",
            "--team",
            "Fake Night Van Team",
            "--zones",
            "north-beat,south-beat",
        ]);
        env
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_outreach"));
        c.env("OUTREACH_DATA_DIR", &self.dir)
            .env("OUTREACH_PASSPHRASE", PASS)
            .env("OUTREACH_KDF", "insecure-fast-for-tests")
            .env("OUTREACH_USER", "staff-fake")
            .env_remove("RUST_BACKTRACE");
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "outreach {args:?} failed: {}",
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
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn events(&self, args: &[&str]) -> Vec<Value> {
        let mut a = vec!["audit", "--json", "--limit", "500"];
        a.extend_from_slice(args);
        serde_json::from_str::<Value>(&self.run(&a))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

fn id_of(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.len() == 36 && w.matches('-').count() == 4)
        .expect("an id")
        .to_string()
}

#[test]
fn filters_and_verify() {
    let env = Env::new();
    let a = id_of(&env.run(&["person", "add", "Fakey Moonbeam"]));
    let b = id_of(&env.run(&["person", "add", "Fakey Stardust"]));
    env.run(&["person", "show", &a]);
    env.run(&["person", "show", &a]);
    env.run(&["person", "show", &b]);

    // Every event carries its entry number in the chain.
    let all = env.events(&[]);
    assert!(all.iter().all(|e| e["device_seq"].is_i64()), "{all:?}");
    // By person, by action (exact and family), by device prefix.
    let of_a = env.events(&["--person", &a]);
    assert_eq!(of_a.len(), 3, "create + two views: {of_a:?}");
    assert!(of_a.iter().all(|e| e["entity_id"] == a.as_str()));
    assert_eq!(env.events(&["--action", "person.view"]).len(), 3);
    assert_eq!(env.events(&["--action", "person"]).len(), 5);
    let device = all[0]["device"].as_str().unwrap().to_string();
    assert_eq!(env.events(&["--device", &device[..6]]).len(), all.len());
    // By date: everything happened today, nothing in 2020.
    assert!(env
        .events(&["--from", "2020-01-01", "--to", "2020-12-31"])
        .is_empty());
    // (yesterday..today, so a run across midnight still holds.)
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (
        (today - chrono::Duration::days(1)).to_string(),
        today.to_string(),
    );
    assert_eq!(env.events(&["--from", &from, "--to", &to]).len(), all.len());
    assert!(env
        .run(&["audit", "--action", "alert.view"])
        .contains("No audit events match"));

    // Verify: the whole log, with the filtered listing after it when filters are given.
    let out = env.run(&["audit", "--verify"]);
    assert_eq!(
        out,
        format!("{} entries from 1 device verified\n", all.len())
    );
    let out = env.run(&["audit", "--person", &b, "--verify"]);
    assert!(
        out.starts_with(&format!("{} entries from 1 device verified\n", all.len())),
        "{out}"
    );
    assert!(out.contains(&b) && !out.contains(&a), "{out}");
    let v: Value = serde_json::from_str(&env.run(&["audit", "--verify", "--json"])).unwrap();
    assert_eq!(v["devices"][0]["checked"], all.len());
    assert!(v["devices"][0]["problem"].is_null());

    // Bad options name the option and exit 5, never echoing what was typed.
    let (code, err) = env.fail(&["audit", "--device", "not-a-device"]);
    assert_eq!(code, 5);
    assert!(
        err.contains("device") && !err.contains("not-a-device"),
        "{err}"
    );
    let (code, err) = env.fail(&["audit", "--from", "2026-02-01", "--to", "2026-01-01"]);
    assert_eq!(code, 5, "{err}");
    let (code, err) = env.fail(&["audit", "--action", "Person View"]);
    assert_eq!(code, 5, "{err}");
}
