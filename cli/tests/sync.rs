//! End-to-end tests of the sync commands: `outreach hub serve` runs in a child process on an
//! ephemeral loopback port with a SQLite database in a temp dir; two stores (a lead and an
//! enrolled staff device) register, invite, enrol, log, sync, list and revoke through it.
//! All data is obviously fake.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use chrono::{Duration as Days, NaiveDate, Utc};
use serde_json::Value;

const PASS: &str = "fake correct horse battery";
const BIN: &str = env!("CARGO_BIN_EXE_outreach");

/// How long to wait for the hub to print that it listens (a cold start creates its database).
const HUB_START: Duration = Duration::from_secs(60);

/// A hub child process. Killed on drop if the test did not stop it.
struct Hub {
    child: Option<Child>,
    url: String,
    setup_code: String,
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Hub {
    fn start(data_dir: &std::path::Path) -> Hub {
        std::fs::create_dir_all(data_dir.parent().unwrap()).unwrap();
        let mut child = StdCommand::new(BIN)
            .args(["--data-dir"])
            .arg(data_dir)
            .args(["hub", "serve", "--listen", "127.0.0.1:0"])
            .env_remove("OUTREACH_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Kept for the failure message if the hub does not start.
            .stderr(std::fs::File::create(data_dir.with_extension("stderr")).unwrap())
            .spawn()
            .expect("spawn outreach hub serve");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut hub = Hub {
            child: Some(child),
            url: String::new(),
            setup_code: String::new(),
            lines: rx,
            stderr: data_dir.with_extension("stderr"),
        };
        let deadline = Instant::now() + HUB_START;
        while hub.url.is_empty() || hub.setup_code.is_empty() {
            let line = hub.next_line(deadline);
            if let Some(rest) = line.strip_prefix("outreach hub: listening on ") {
                hub.url = rest.trim().to_string();
            } else if line.starts_with("Setup code") {
                hub.setup_code = line.rsplit(": ").next().unwrap().trim().to_string();
            }
        }
        assert!(hub.url.starts_with("http://127.0.0.1:"), "{}", hub.url);
        hub
    }

    fn next_line(&self, deadline: Instant) -> String {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(l) => l,
            Err(e) => panic!(
                "no line from the hub in time ({e:?}); its stderr: {}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            ),
        }
    }

    /// Stops the hub as Ctrl-C would (SIGINT) and checks it says it stopped and exits 0.
    fn stop_with_ctrl_c(&mut self) {
        let mut child = self.child.take().unwrap();
        let ok = StdCommand::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "could not send SIGINT to the hub");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut said_stopped = false;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line == "outreach hub: stopped" {
                said_stopped = true;
            }
        }
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the hub did not stop after SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "hub exit status {status:?}");
        assert!(said_stopped, "the hub did not say it stopped");
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One device's store.
struct Device {
    dir: PathBuf,
}

impl Device {
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("OUTREACH_DATA_DIR", &self.dir)
            .env("OUTREACH_PASSPHRASE", PASS)
            .env("OUTREACH_KDF", "insecure-fast-for-tests")
            .env_remove("OUTREACH_USER")
            .env_remove("OUTREACH_SETUP_CODE")
            .env_remove("OUTREACH_INVITE")
            .env_remove("RUST_BACKTRACE");
        c
    }

    fn ok(&self, mut c: Command, what: &str) -> String {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{what} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{what}: stderr not empty: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn run(&self, args: &[&str]) -> String {
        let mut c = self.cmd();
        c.args(args);
        self.ok(c, &format!("outreach {args:?}"))
    }

    /// Runs a command that must fail; returns (exit code, stderr) after checking the error is
    /// one line.
    fn fail(&self, mut c: Command) -> (i32, String) {
        let out = c.output().unwrap();
        assert!(!out.status.success(), "unexpectedly succeeded");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "expected one line: {stderr:?}");
        assert!(stderr.starts_with("error: "), "{stderr:?}");
        assert!(!stderr.contains("panicked"), "{stderr:?}");
        (out.status.code().unwrap(), stderr)
    }

    fn fail_args(&self, args: &[&str]) -> (i32, String) {
        let mut c = self.cmd();
        c.args(args);
        self.fail(c)
    }

    fn encounter_ids(&self, night: &str) -> Vec<String> {
        let v: Value =
            serde_json::from_str(&self.run(&["list", "--night", night, "--json"])).unwrap();
        let mut ids: Vec<String> = v["encounters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }
}

/// Yesterday, 21:00 UTC: a time inside a known night, whatever the time of day the test runs.
fn last_evening() -> (String, NaiveDate) {
    let day = (Utc::now() - Days::days(1)).date_naive();
    (format!("{day}T21:00:00Z"), day)
}

fn id_line(out: &str) -> String {
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "expected an id, got {out:?}");
    id
}

#[test]
fn lead_and_staff_device_sync_through_a_hub_then_the_staff_device_is_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hub = Hub::start(&tmp.path().join("hub"));
    assert!(
        tmp.path().join("hub").join("hub.db").exists(),
        "the default SQLite database is created in the data dir"
    );
    let lead = Device {
        dir: tmp.path().join("lead"),
    };
    let van2 = Device {
        dir: tmp.path().join("van2"),
    };
    let (start, night) = last_evening();
    let night = night.to_string();

    // The lead sets up its store and registers the team (a wrong setup code first).
    lead.run(&[
        "init",
        "--team",
        "Fake Night Van Team",
        "--zones",
        "north-beat,south-beat",
    ]);
    let mut c = lead.cmd();
    c.args([
        "hub",
        "register",
        "--hub",
        &hub.url,
        "--name",
        "Fake lead laptop",
    ])
    .env("OUTREACH_SETUP_CODE", "fake-wrong-setup-code-0000");
    let (code, err) = lead.fail(c);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("setup code"), "{err}");
    let mut c = lead.cmd();
    c.args([
        "hub",
        "register",
        "--hub",
        &hub.url,
        "--name",
        "Fake lead laptop",
    ])
    .env("OUTREACH_SETUP_CODE", &hub.setup_code);
    let out = lead.ok(c, "hub register");
    assert!(
        out.contains("Registered this store as the lead device"),
        "{out}"
    );

    // The lead logs a contact.
    lead.run(&[
        "shift",
        "start",
        "--van",
        "Van 1",
        "--crew",
        "staff-a",
        "--zones",
        "north-beat",
        "--at",
        &start,
    ]);
    let e_lead = id_line(&lead.run(&[
        "log",
        "--zone",
        "north-beat",
        "--service",
        "condoms=10",
        "--note",
        "Fake lead note",
        "--at",
        &start.replace("21:00", "21:30"),
    ]));

    // An invite: a QR code, a warning, and the code on a line of its own.
    let out = lead.run(&["invite", "--role", "staff", "--valid", "30m"]);
    assert!(out.contains("IN PERSON ONLY"), "{out}");
    assert!(out.contains("expires"), "{out}");
    assert!(out.contains('█') || out.contains('▀'), "no QR code: {out}");
    let invite = out
        .lines()
        .find(|l| l.starts_with("outreach1:"))
        .expect("the invite code on its own line")
        .to_string();
    // Nothing of it was written beside the store.
    for entry in walk(tmp.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !contains(&bytes, invite.as_bytes()),
            "the invite reached disk in {}",
            entry.display()
        );
    }

    // The code is never taken as an argument (and is not echoed back).
    let (code, err) = van2.fail_args(&["enrol", &invite, "--name", "Fake van 2 laptop"]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains(&invite[10..30]), "{err}");
    assert!(!van2.dir.exists());

    // Enrolment with the code from the environment.
    let mut c = van2.cmd();
    c.args(["enrol", "--name", "Fake van 2 laptop"])
        .env("OUTREACH_INVITE", &invite);
    let out = van2.ok(c, "enrol");
    assert!(out.contains("Enrolled this device"), "{out}");
    assert!(out.contains("(staff)"), "{out}");

    // The invite works once: a second enrolment is refused with one clear line.
    let van3 = Device {
        dir: tmp.path().join("van3"),
    };
    let mut c = van3.cmd();
    c.args(["enrol", "--name", "Fake van 3 laptop"])
        .env("OUTREACH_INVITE", &invite);
    let (code, err) = van3.fail(c);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("already been used"), "{err}");
    assert!(
        !outreach_store_exists(&van3.dir),
        "no store is left behind by a refused enrolment"
    );

    // Sync: the lead pushes, the staff device pulls the team settings and the lead's contact,
    // logs its own, pushes; the lead syncs again and has both.
    let out = lead.run(&["sync"]);
    assert!(out.contains("pushed:") && out.contains("pulled:"), "{out}");
    assert!(
        out.contains("push: "),
        "plain progress lines when not a terminal: {out}"
    );
    let v: Value = serde_json::from_str(&van2.run(&["sync", "--json"])).unwrap();
    assert!(v["pulled"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["outbox"], 0);
    van2.run(&[
        "shift",
        "start",
        "--van",
        "Van 2",
        "--crew",
        "staff-b",
        "--zones",
        "south-beat",
        "--at",
        &start,
    ]);
    let e_van2 = id_line(&van2.run(&[
        "log",
        "--zone",
        "south-beat",
        "--service",
        "hot_drink=1",
        "--at",
        &start.replace("21:00", "22:10"),
    ]));
    let v: Value = serde_json::from_str(&van2.run(&["sync", "--json"])).unwrap();
    assert!(v["pushed"].as_u64().unwrap() >= 1, "{v}");
    let out = lead.run(&["sync"]);
    assert!(out.contains("Synced with"), "{out}");

    let mut both = vec![e_lead.clone(), e_van2.clone()];
    both.sort();
    assert_eq!(lead.encounter_ids(&night), both);
    assert_eq!(van2.encounter_ids(&night), both);

    // Sync status, offline.
    let st: Value = serde_json::from_str(&van2.run(&["sync", "status", "--json"])).unwrap();
    assert!(st["last_success"].is_string(), "{st}");
    assert!(st["last_error"].is_null(), "{st}");
    assert_eq!(st["outbox"], 0);
    assert_eq!(st["role"], "staff");
    let out = lead.run(&["sync", "status"]);
    assert!(
        out.contains("last success") && out.contains("last error:     none"),
        "{out}"
    );

    // Devices: two, named as enrolled.
    let devs: Value = serde_json::from_str(&lead.run(&["devices", "list", "--json"])).unwrap();
    let list = devs["devices"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{devs}");
    let staff = list
        .iter()
        .find(|d| d["name"] == "Fake van 2 laptop")
        .expect("the staff device");
    assert_eq!(staff["role"], "staff");
    assert_eq!(staff["revoked"], false);
    let staff_id = staff["device_id"].as_str().unwrap().to_string();
    assert_eq!(staff_id.len(), 32);
    let table = lead.run(&["devices", "list"]);
    assert!(
        table.contains("Fake lead laptop (this device)") && table.contains("Fake van 2 laptop"),
        "{table}"
    );
    assert!(
        table.contains(&staff_id) && table.contains(&staff_id[..6]),
        "{table}"
    );

    // A staff device cannot revoke; without a terminal the lead must confirm with --yes.
    let (code, err) = van2.fail_args(&["devices", "revoke", &staff_id[..8], "--yes"]);
    assert_eq!(code, 7, "{err}");
    let (_, err) = lead.fail_args(&["devices", "revoke", &staff_id[..8]]);
    assert!(
        err.contains("--yes") && err.contains("Fake van 2 laptop"),
        "{err}"
    );
    let out = lead.run(&["devices", "revoke", &staff_id[..8], "--yes"]);
    assert!(out.contains("Revoked \"Fake van 2 laptop\""), "{out}");
    assert!(out.contains("epoch 1"), "{out}");

    // The revoked device's sync fails with a clear line and its own exit code.
    let (code, err) = van2.fail_args(&["sync"]);
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("revoked"), "{err}");
    let st: Value = serde_json::from_str(&van2.run(&["sync", "status", "--json"])).unwrap();
    assert_eq!(st["last_error"], "hub:revoked");

    // The lead carries on, and sees the device as revoked.
    lead.run(&["sync"]);
    let devs: Value = serde_json::from_str(&lead.run(&["devices", "list", "--json"])).unwrap();
    assert_eq!(devs["epoch"], 1);
    assert!(devs["devices"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["device_id"] == staff_id.as_str() && d["revoked"] == true));

    // Ctrl-C stops the hub cleanly; then the hub is unreachable: exit code 6, nothing lost.
    hub.stop_with_ctrl_c();
    let (code, err) = lead.fail_args(&["sync"]);
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains("cannot reach the hub") && err.contains("nothing was lost"),
        "{err}"
    );
}

#[test]
fn sync_commands_need_a_registered_store_and_refuse_bad_options() {
    let tmp = tempfile::tempdir().unwrap();
    let lead = Device {
        dir: tmp.path().join("lead"),
    };
    lead.run(&["init", "--team", "Fake Team", "--zones", "north-beat"]);
    for args in [
        &["sync"][..],
        &["invite"],
        &["devices", "list"],
        &["devices", "revoke", "abcdef"],
    ] {
        let (code, err) = lead.fail_args(args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("outreach hub register"), "{args:?}: {err}");
    }
    let st: Value = serde_json::from_str(&lead.run(&["sync", "status", "--json"])).unwrap();
    assert_eq!(st["registered"], false);
    assert_eq!(st["role"], "lead");

    // Plain HTTP only on loopback; a hub URL must be https (or loopback http).
    let (code, err) = lead.fail_args(&["hub", "serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("loopback"), "{err}");
    let mut c = lead.cmd();
    c.args(["hub", "register", "--hub", "http://hub.example.test"])
        .env("OUTREACH_SETUP_CODE", "fake-setup-code-0000000");
    let (code, err) = lead.fail(c);
    assert_eq!(code, 5, "{err}");
    for bad in ["8d", "0m", "soon"] {
        let (code, _) = lead.fail_args(&["invite", "--valid", bad]);
        assert_eq!(code, 5, "--valid {bad}");
    }
    let (code, _) = lead.fail_args(&["invite", "--role", "admin"]);
    assert_eq!(code, 5);
    // A device name is a label of at most 64 bytes.
    let other = Device {
        dir: tmp.path().join("other"),
    };
    let long = "x".repeat(65);
    let mut c = other.cmd();
    c.args(["enrol", "--name", &long])
        .env("OUTREACH_INVITE", "outreach1:AAAA");
    let (code, _) = other.fail(c);
    assert_eq!(code, 5);
    // A damaged invite is refused before any passphrase or network.
    let mut c = other.cmd();
    c.args(["enrol", "--name", "Fake van"])
        .env("OUTREACH_INVITE", "outreach1:AAAA");
    let (code, err) = other.fail(c);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("invite"), "{err}");
    // `-` reads the invite from stdin.
    let mut c = other.cmd();
    c.args(["enrol", "-", "--name", "Fake van"])
        .write_stdin("not an invite\n");
    let (code, err) = other.fail(c);
    assert_eq!(code, 5, "{err}");
    assert!(!other.dir.exists());
}

#[test]
fn hub_serve_keeps_its_setup_code_in_a_file_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("setup-code");
    let mut child = StdCommand::new(BIN)
        .args(["--data-dir"])
        .arg(tmp.path().join("hub"))
        .args([
            "hub",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--setup-code-file",
        ])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + HUB_START;
    let mut seen = vec![];
    while !seen.iter().any(|l: &String| l.starts_with("Press Ctrl-C")) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => seen.push(l),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(text.contains("listening on http://127.0.0.1:"), "{text}");
    assert!(text.contains("PLAIN HTTP"), "{text}");
    let code = std::fs::read_to_string(&file).unwrap();
    let code = code.trim();
    assert!(code.len() >= 16);
    assert!(
        !text.contains(code),
        "the code is printed although it is in a file: {text}"
    );
    assert!(text.contains("setup code was generated into"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the setup code file is private");
    }
}

fn outreach_store_exists(dir: &std::path::Path) -> bool {
    dir.join("store.json").exists() || dir.join("outreach.db").exists()
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
