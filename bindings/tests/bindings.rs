//! Drives the foreign-language suites for the generated bindings: one `#[test]` per language.
//!
//! Each test takes the UNSTRIPPED cdylib that `cargo test` just built for this very run
//! (`target/<profile>/deps/liboutreach_ffi.so`, built with the lib's `cdylib` crate type),
//! generates bindings with the pinned `bindings/uniffi-bindgen`, then compiles and runs the
//! suite under `bindings/tests/{kotlin,swift,python}/`, failing with the foreign output shown.
//!
//! Before each suite runs, [`Fixture::start`] starts a sync hub in-process on loopback (its own
//! tokio runtime, SQLite in a temp dir) and, through this crate's own Rust API, creates a lead
//! store with a random key, registers its team with the hub, adds a (fake) alert, syncs it and
//! makes a one-time invite. The suite gets them through environment variables
//! (`OUTREACH_TEST_HUB_URL`, `OUTREACH_TEST_LEAD_DIR`, `OUTREACH_TEST_LEAD_KEY_HEX`,
//! `OUTREACH_TEST_INVITE`, `OUTREACH_TEST_WORK_DIR`, `OUTREACH_TEST_ZONE`); every language
//! has its own hub and stores, so the suites run in parallel.
//!
//! A missing toolchain fails the test when `CI=true` or `OUTREACH_REQUIRE_BINDINGS=1`;
//! otherwise it prints `skipped: <why>, run scripts/<script>` and passes.
//! Toolchains come from `scripts/setup-bindings-toolchains.sh` (see bindings/README.md).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use outreach_ffi::{
    AlertInputRecord, CancelHandle, DeviceRole, OutreachStore, SyncProgressListener,
    SyncProgressRecord, TeamSetupRecord,
};
use outreach_hub::{HubConfig, RateLimit, RunningHub};

const SWIFT_SCRIPT: &str = "swift-chroot.sh";
const SETUP_CODE: &str = "TEST-setup-code-not-secret";
const ZONE: &str = "north-beat";
const EXPECTED_VERSION: &str = env!("CARGO_PKG_VERSION");

#[path = "support/harness.rs"]
mod harness;
use harness::*;

fn bindings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A hub on loopback plus a registered lead store for one foreign suite (see the module docs).
struct Fixture {
    rt: tokio::runtime::Runtime,
    hub: Option<RunningHub>,
    env: Vec<(String, String)>,
    _hub_dir: tempfile::TempDir,
}

struct NoProgress;
impl SyncProgressListener for NoProgress {
    fn on_progress(&self, _: SyncProgressRecord) {}
}

impl Fixture {
    /// Everything lives under `work` (which the Swift chroot bind-mounts), except the hub's db.
    fn start(work: &Path) -> Fixture {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let hub_dir = tempfile::tempdir().unwrap();
        let mut config = HubConfig::loopback_ephemeral(format!(
            "sqlite:{}",
            hub_dir.path().join("hub.db").display()
        ));
        config.setup_code = Some(SETUP_CODE.into());
        config.device_rate = RateLimit::new(10_000.0, 10_000.0);
        config.open_rate = RateLimit::new(10_000.0, 10_000.0);
        let hub = rt
            .block_on(outreach_hub::start(config))
            .expect("hub starts");
        let url = hub.base_url();

        let stores = work.join("stores");
        std::fs::create_dir_all(&stores).unwrap();
        let lead_dir = stores.join("lead");
        let key: Vec<u8> = (0..32).map(|_| rand_byte()).collect();
        let key_hex = hex::encode(&key);
        let team = TeamSetupRecord {
            team: "TEST Team".into(),
            zones: vec![ZONE.into(), "canal-side".into()],
            default_country: "GB".into(),
            utc_offset_minutes: 0,
        };
        let lead = OutreachStore::create(lead_dir.display().to_string(), key, team)
            .expect("create lead store");
        lead.set_user("TEST-lead".into()).unwrap();
        lead.register_team(url.clone(), SETUP_CODE.into(), "TEST lead phone".into())
            .expect("register team");
        // A fake alert (Ofcom drama-range number, made-up plate), so a device enrolled by the
        // suite can only match it after pulling it through the hub.
        lead.add_alert(AlertInputRecord {
            description: "TEST alert: fictional driver".into(),
            plates: vec!["TE57 ABC".into()],
            phones: vec!["+44 7700 900123".into()],
            emails: vec![],
            usernames: vec![],
            area: Some(ZONE.into()),
            risk: "high".into(),
            from: None,
            review: None,
        })
        .expect("add alert");
        lead.sync(Arc::new(NoProgress), CancelHandle::new())
            .expect("lead's first sync");
        let invite = lead
            .create_invite(DeviceRole::Member, 60)
            .expect("create invite");
        drop(lead);

        let env = [
            ("OUTREACH_TEST_HUB_URL", url),
            ("OUTREACH_TEST_LEAD_DIR", lead_dir.display().to_string()),
            ("OUTREACH_TEST_LEAD_KEY_HEX", key_hex),
            ("OUTREACH_TEST_INVITE", invite),
            ("OUTREACH_TEST_WORK_DIR", stores.display().to_string()),
            ("OUTREACH_TEST_ZONE", ZONE.to_string()),
            (
                "OUTREACH_FFI_EXPECTED_VERSION",
                EXPECTED_VERSION.to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Fixture {
            rt,
            hub: Some(hub),
            env,
            _hub_dir: hub_dir,
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(h) = self.hub.take() {
            let _ = self.rt.block_on(h.shutdown());
        }
    }
}

/// A random byte from the OS (no rand dependency for one key).
fn rand_byte() -> u8 {
    use std::io::Read;
    static URANDOM: OnceLock<std::sync::Mutex<std::fs::File>> = OnceLock::new();
    let f =
        URANDOM.get_or_init(|| std::sync::Mutex::new(std::fs::File::open("/dev/urandom").unwrap()));
    let mut b = [0u8; 1];
    f.lock().unwrap().read_exact(&mut b).unwrap();
    b[0]
}

fn kotlin_toolchain() -> Result<(), String> {
    for tool in ["java", "mvn"] {
        if !on_path(tool) {
            return Err(format!("`{tool}` not on PATH"));
        }
    }
    let pom = std::fs::read(bindings_dir().join("tests/kotlin/pom.xml")).expect("read pom.xml");
    let marker = toolchain_cache().join("m2/.outreach-prefetched-pom.xml");
    match std::fs::read(&marker) {
        Ok(prefetched) if prefetched == pom => Ok(()),
        Ok(_) => Err(format!(
            "Maven repository {} was prefetched for an older bindings/tests/kotlin/pom.xml",
            marker.parent().unwrap().display()
        )),
        Err(_) => Err(format!(
            "Maven repository {} not prefetched",
            marker.parent().unwrap().display()
        )),
    }
}

#[test]
fn kotlin_jvm_bindings() {
    if !toolchain_ready(
        "Kotlin bindings",
        kotlin_toolchain(),
        "setup-bindings-toolchains.sh kotlin",
    ) {
        return;
    }
    let work = work_dir("outreach-ffi-bindings", "kotlin");
    let generated = work.join("generated");
    generate("kotlin", &generated);
    let lib_dir = work.join("lib");
    copy_cdylib_into(&lib_dir);
    let fixture = Fixture::start(&work);
    let m2 = toolchain_cache().join("m2");
    let pom = bindings_dir().join("tests/kotlin/pom.xml");
    // C1-only JIT: Maven + the in-process Kotlin compiler are short-lived, and this about halves
    // the suite's time (≈ 60 s → 25-30 s measured here).
    let maven_opts = format!(
        "{} -XX:TieredStopAtLevel=1",
        std::env::var("MAVEN_OPTS").unwrap_or_default()
    );
    let output = run_step_hinted(
        "Kotlin/JVM suite (mvn -o test)",
        "mvn",
        &[
            "-B",
            "-o",
            "--no-transfer-progress",
            "-f",
            pom.to_str().unwrap(),
            &format!("-Dmaven.repo.local={}", m2.display()),
            &format!("-Doutreach.generated.dir={}", generated.display()),
            &format!("-Doutreach.lib.dir={}", lib_dir.display()),
            &format!("-Doutreach.build.dir={}", work.join("build").display()),
            "-Dstyle.color=never",
            "test",
        ],
        &work,
        &[fixture.env(), vec![("MAVEN_OPTS", maven_opts.trim())]].concat(),
        "\nhint: Maven runs offline here; if it reports an artifact missing in offline mode, \
         run scripts/setup-bindings-toolchains.sh kotlin",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Surefire's closing summary; the last "Tests run:" line is the total.
    let total = stdout
        .lines()
        .rfind(|l| l.contains("Tests run:"))
        .and_then(|l| count_after(l, "Tests run:"));
    assert!(
        total.is_some_and(|n| n > 0),
        "Kotlin suite ran no tests\n{}",
        show(&output)
    );
}

fn swift_toolchain() -> Result<(), String> {
    let output = Command::new(repo_dir().join("scripts").join(SWIFT_SCRIPT))
        .arg("check")
        .output()
        .map_err(|e| format!("cannot run scripts/{SWIFT_SCRIPT}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

#[test]
fn swift_linux_bindings() {
    if !toolchain_ready(
        "Swift bindings",
        swift_toolchain(),
        "setup-bindings-toolchains.sh swift",
    ) {
        return;
    }
    let work = work_dir("outreach-ffi-bindings", "swift");
    let generated = work.join("generated");
    generate("swift", &generated);
    let lib_dir = work.join("lib");
    copy_cdylib_into(&lib_dir);
    // The test sources are copied next to the generated ones so a single directory (with the
    // same absolute path inside and outside the chroot) is bind-mounted.
    let sources = work.join("tests");
    std::fs::create_dir_all(&sources).unwrap();
    let mut swift_files = vec![generated.join("outreach_ffi.swift")];
    for entry in std::fs::read_dir(bindings_dir().join("tests/swift")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "swift") {
            let dest = sources.join(path.file_name().unwrap());
            std::fs::copy(&path, &dest).unwrap();
            swift_files.push(dest);
        }
    }
    let chroot = repo_dir().join("scripts").join(SWIFT_SCRIPT);
    let work_s = work.to_str().unwrap().to_string();
    let exe = work.join("outreach-ffi-tests");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--bind".into(),
        work_s.clone(),
        "--cwd".into(),
        work_s.clone(),
        "--".into(),
        "swiftc".into(),
        // Absolute module map path: a relative one breaks clang's module cache.
        "-Xcc".into(),
        format!(
            "-fmodule-map-file={}",
            generated.join("outreach_ffiFFI.modulemap").display()
        ),
        "-I".into(),
        generated.display().to_string(),
    ];
    args.extend(swift_files.iter().map(|p| p.display().to_string()));
    args.extend([
        "-L".into(),
        lib_dir.display().to_string(),
        "-loutreach_ffi".into(),
        "-Xlinker".into(),
        "-rpath".into(),
        "-Xlinker".into(),
        lib_dir.display().to_string(),
        "-o".into(),
        exe.display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_step(
        "Swift compile (swiftc in chroot)",
        chroot.to_str().unwrap(),
        &args,
        &work,
        &[],
    );

    let fixture = Fixture::start(&work);
    let mut run_args: Vec<String> = vec![
        "run".into(),
        "--bind".into(),
        work_s.clone(),
        "--cwd".into(),
        work_s.clone(),
    ];
    for (k, v) in fixture.env() {
        run_args.extend(["--env".to_string(), format!("{k}={v}")]);
    }
    run_args.extend(["--".to_string(), exe.display().to_string()]);
    let run_args: Vec<&str> = run_args.iter().map(String::as_str).collect();
    let output = run_step(
        "Swift suite (XCTest in chroot)",
        chroot.to_str().unwrap(),
        &run_args,
        &work,
        &[],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let executed = all
        .lines()
        .rfind(|l| l.contains("Executed "))
        .and_then(|l| count_after(l, "Executed "));
    assert!(
        executed.is_some_and(|n| n > 0) && all.contains("with 0 failures"),
        "Swift suite ran no tests or reported failures\n{}",
        show(&output)
    );
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn python_toolchain() -> Result<(), String> {
    let output = Command::new(python())
        .args(["-c", "import pytest"])
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", python()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("pytest not importable by `{}`", python()))
    }
}

#[test]
fn python_bindings() {
    if !toolchain_ready(
        "Python bindings",
        python_toolchain(),
        "setup-bindings-toolchains.sh python",
    ) {
        return;
    }
    let work = work_dir("outreach-ffi-bindings", "python");
    let generated = work.join("generated");
    generate("python", &generated);
    // The generated module loads liboutreach_ffi.so from its own directory.
    copy_cdylib_into(&generated);
    let suite = bindings_dir().join("tests/python");
    // An empty ini file of our own, so no pytest configuration found up the repository tree
    // (a future pyproject.toml, say) changes how this suite runs.
    let ini = work.join("pytest.ini");
    std::fs::write(&ini, "[pytest]\n").unwrap();
    let fixture = Fixture::start(&work);
    let output = run_step(
        "Python suite (pytest)",
        &python(),
        &[
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-v",
            "-c",
            ini.to_str().unwrap(),
            "--rootdir",
            work.to_str().unwrap(),
            suite.to_str().unwrap(),
        ],
        &work,
        &[
            fixture.env(),
            vec![
                ("PYTHONPATH", generated.to_str().unwrap()),
                ("PYTHONDONTWRITEBYTECODE", "1"),
            ],
        ]
        .concat(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let passed = stdout
        .lines()
        .last()
        .and_then(|l| l.split(" passed").next())
        .and_then(|l| l.rsplit(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(
        passed.is_some_and(|n| n > 0),
        "Python suite ran no tests\n{}",
        show(&output)
    );
}
