//! Toolchain plumbing shared by the binding suites (bindings/tests/bindings.rs) and the shells'
//! logic suites (tests/tests/shells.rs): locating this run's unstripped cdylib, building the
//! pinned uniffi-bindgen, generating bindings, running steps under a timeout, and the
//! skip-or-fail rule for missing toolchains. Included by both with `#[path]`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Upper bound for one compile-or-run step (killed with its process group after it).
pub const STEP_TIMEOUT_SECS: u32 = 900;

/// The repository root: the parent of the including crate (bindings/ or tests/).
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate has a parent directory")
        .to_path_buf()
}

/// `<target>/tmp`, created by cargo for integration tests.
pub fn target_tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

pub fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("OUTREACH_REQUIRE_BINDINGS").is_ok_and(|v| v == "1")
}

/// Decides what a missing toolchain means: a failure in CI/strict mode, a visible skip otherwise.
/// Returns true when the suite should run.
/// `what` names the suite in the messages (e.g. "Kotlin bindings").
pub fn toolchain_ready(what: &str, check: Result<(), String>, script: &str) -> bool {
    match check {
        Ok(()) => true,
        Err(why) if strict() => panic!(
            "{what}: toolchain missing: {why}; run scripts/{script} \
             (failing because CI=true or OUTREACH_REQUIRE_BINDINGS=1)"
        ),
        Err(why) => {
            // Written straight to the stderr handle so it shows even though libtest captures
            // print!/eprint! output of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "{what}: skipped: {why}, run scripts/{script}"
            );
            false
        }
    }
}

pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

pub fn show(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `cmd` under coreutils `timeout` (which kills the whole process group, e.g. Maven's
/// forked test JVM, on expiry) and returns its output, panicking with that output on failure.
pub fn run_step(what: &str, program: &str, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Output {
    run_step_hinted(what, program, args, cwd, envs, "")
}

/// [`run_step`] with a hint appended to the failure message.
pub fn run_step_hinted(
    what: &str,
    program: &str,
    args: &[&str],
    cwd: &Path,
    envs: &[(&str, &str)],
    hint: &str,
) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "10", &STEP_TIMEOUT_SECS.to_string(), program])
        .args(args)
        .current_dir(cwd);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let started = std::time::Instant::now();
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start `{program}`: {e}"));
    let secs = started.elapsed().as_secs_f32();
    if !output.status.success() {
        let timed_out = output.status.code() == Some(124) || output.status.code() == Some(137);
        panic!(
            "{what} FAILED ({}, after {secs:.1} s)\ncommand: {program} {}\n{}{hint}",
            if timed_out {
                format!("timed out after {STEP_TIMEOUT_SECS} s")
            } else {
                format!("{}", output.status)
            },
            args.join(" "),
            show(&output)
        );
    }
    println!("{what}: ok in {secs:.1} s\n{}", show(&output));
    output
}

/// The cdylib built by this `cargo test` run: cargo builds the lib target with all its crate
/// types (cdylib + staticlib + lib) into `deps/` next to this test executable. It is unstripped
/// (debug or release profile alike), which uniffi-bindgen needs to read the metadata.
pub fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test exe has a directory");
    let lib = deps.join("liboutreach_ffi.so");
    assert!(
        lib.is_file(),
        "{} not found: the integration test expects cargo to have built the cdylib next to it",
        lib.display()
    );
    lib
}

/// Builds the pinned uniffi-bindgen (its own nested workspace and lockfile) once per run. Its
/// target dir is never this run's (no contention on the build directory lock): the shared one
/// that `scripts/setup-bindings-toolchains.sh bindgen` prebuilt outside the repo when present,
/// so a fresh clone only recompiles the bindgen's main.rs, else `<target>/uniffi-bindgen`.
pub fn bindgen() -> PathBuf {
    static BINDGEN: OnceLock<PathBuf> = OnceLock::new();
    BINDGEN
        .get_or_init(|| {
            let shared = toolchain_cache().join("uniffi-bindgen-target");
            let target = if shared.is_dir() {
                shared
            } else {
                target_tmp()
                    .parent()
                    .expect("CARGO_TARGET_TMPDIR has a parent")
                    .join("uniffi-bindgen")
            };
            let manifest = repo_dir().join("bindings/uniffi-bindgen/Cargo.toml");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
            run_step(
                "build pinned uniffi-bindgen",
                &cargo,
                &[
                    "build",
                    "--locked",
                    "--quiet",
                    "--manifest-path",
                    manifest.to_str().unwrap(),
                    "--target-dir",
                    target.to_str().unwrap(),
                ],
                &repo_dir(),
                &[],
            );
            let bin = target.join("debug/uniffi-bindgen");
            assert!(bin.is_file(), "{} missing after build", bin.display());
            bin
        })
        .clone()
}

/// Fresh work directory `<target>/tmp/<group>/<name>`.
pub fn work_dir(group: &str, name: &str) -> PathBuf {
    let dir = target_tmp().join(group).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("clean {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Generates `language` bindings from the cdylib into `out`.
pub fn generate(language: &str, out: &Path) {
    let lib = cdylib();
    run_step(
        &format!("uniffi-bindgen generate --language {language}"),
        bindgen().to_str().unwrap(),
        &[
            "generate",
            lib.to_str().unwrap(),
            "--language",
            language,
            "--no-format",
            "--metadata-no-deps",
            "--out-dir",
            out.to_str().unwrap(),
        ],
        &repo_dir(),
        &[],
    );
}

pub fn copy_cdylib_into(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let dest = dir.join("liboutreach_ffi.so");
    std::fs::copy(cdylib(), &dest).unwrap();
    dest
}

/// Returns the first number following `marker` in `text` (e.g. "Tests run: 6").
pub fn count_after(text: &str, marker: &str) -> Option<u32> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

pub fn toolchain_cache() -> PathBuf {
    std::env::var_os("OUTREACH_TOOLCHAIN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/outreach-toolchains"))
}
