//! Runs the mobile shells' logic against the real library: `android/logic` (Kotlin/JVM, Maven
//! offline, JNA) and `ios/OutreachKit`'s `OutreachCore` (Swift on Linux, swiftc in the trixie
//! chroot). Each test takes the UNSTRIPPED `liboutreach_ffi.so` that this `cargo test` run built
//! (outreach-ffi is a dev-dependency of this crate, so cargo builds its cdylib into `deps/`),
//! generates bindings with the pinned `bindings/uniffi-bindgen`, compiles the generated bindings
//! together with the shell's logic sources and its tests, and runs them.
//!
//! Same toolchain rule as bindings/tests/bindings.rs: a missing toolchain FAILS when `CI=true`
//! or `OUTREACH_REQUIRE_BINDINGS=1`, otherwise prints `skipped: <why>` and passes.
//! Toolchains: `scripts/setup-bindings-toolchains.sh` (its Maven cache covers android/logic/pom.xml,
//! which uses exactly the plugins and versions of bindings/tests/kotlin/pom.xml).
//!
//! Note: in this crate `outreach-core` has the `insecure-plaintext-for-tests` feature, so the
//! cdylib built here has it too (feature unification). The shells' tests only use encrypted
//! stores; the feature only adds an explicit plaintext constructor.
//!
//!   cargo test -p outreach-tests --test shells -- --nocapture

use std::path::{Path, PathBuf};
use std::process::Command;

const SWIFT_SCRIPT: &str = "swift-chroot.sh";
#[path = "../../bindings/tests/support/harness.rs"]
mod harness;
use harness::*;

fn kotlin_toolchain() -> Result<(), String> {
    for tool in ["java", "mvn"] {
        if !on_path(tool) {
            return Err(format!("`{tool}` not on PATH"));
        }
    }
    // android/logic/pom.xml uses the same artifacts as bindings/tests/kotlin/pom.xml, so the
    // cache prefetched for that pom is what this build needs.
    let pom = std::fs::read(repo_dir().join("bindings/tests/kotlin/pom.xml")).expect("read bindings pom");
    let marker = toolchain_cache().join("m2/.outreach-prefetched-pom.xml");
    match std::fs::read(&marker) {
        Ok(prefetched) if prefetched == pom => Ok(()),
        Ok(_) => Err(format!("Maven repository {} was prefetched for an older pom", marker.parent().unwrap().display())),
        Err(_) => Err(format!("Maven repository {} not prefetched", marker.parent().unwrap().display())),
    }
}

#[test]
fn android_logic_on_the_jvm() {
    if !toolchain_ready("android/logic (Kotlin/JVM)", kotlin_toolchain(), "setup-bindings-toolchains.sh kotlin") {
        return;
    }
    let work = work_dir("outreach-shells", "android-logic");
    let generated = work.join("generated");
    generate("kotlin", &generated);
    let lib_dir = work.join("lib");
    copy_cdylib_into(&lib_dir);
    let pom = repo_dir().join("android/logic/pom.xml");
    let maven_opts = format!("{} -XX:TieredStopAtLevel=1", std::env::var("MAVEN_OPTS").unwrap_or_default());
    let output = run_step(
        "android/logic suite (mvn -o test)",
        "mvn",
        &[
            "-B",
            "-o",
            "--no-transfer-progress",
            "-f",
            pom.to_str().unwrap(),
            &format!("-Dmaven.repo.local={}", toolchain_cache().join("m2").display()),
            &format!("-Doutreach.generated.dir={}", generated.display()),
            &format!("-Doutreach.lib.dir={}", lib_dir.display()),
            &format!("-Doutreach.build.dir={}", work.join("build").display()),
            "-Dstyle.color=never",
            "test",
        ],
        &work,
        &[("MAVEN_OPTS", maven_opts.trim())],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let total = stdout.lines().rfind(|l| l.contains("Tests run:")).and_then(|l| count_after(l, "Tests run:"));
    assert!(total.is_some_and(|n| n > 0), "android/logic ran no tests\n{}", show(&output));
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

fn swift_sources(dir: &Path, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    into.extend(entries.into_iter().filter(|p| p.extension().is_some_and(|e| e == "swift")));
}

#[test]
fn ios_outreach_core_on_linux() {
    if !toolchain_ready("ios/OutreachKit OutreachCore (Swift)", swift_toolchain(), "setup-bindings-toolchains.sh swift") {
        return;
    }
    let work = work_dir("outreach-shells", "ios-core");
    let generated = work.join("generated");
    generate("swift", &generated);
    let lib_dir = work.join("lib");
    copy_cdylib_into(&lib_dir);
    // Copy the package sources under `work`, so one directory (same absolute path inside and
    // outside the chroot) is bind-mounted; compiled as ONE module with the generated bindings
    // (the `#if canImport(OutreachFFI)` imports are for the SwiftPM build on a Mac).
    let kit = repo_dir().join("ios/OutreachKit");
    let sources = work.join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    let mut files = vec![generated.join("outreach_ffi.swift")];
    let mut ours = Vec::new();
    swift_sources(&kit.join("Sources/OutreachCore"), &mut ours);
    swift_sources(&kit.join("Tests/OutreachCoreChecks"), &mut ours);
    for src in ours {
        let dest = sources.join(src.file_name().unwrap());
        std::fs::copy(&src, &dest).unwrap();
        files.push(dest);
    }
    let chroot = repo_dir().join("scripts").join(SWIFT_SCRIPT);
    let work_s = work.display().to_string();
    let exe = work.join("outreach-core-checks");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--bind".into(),
        work_s.clone(),
        "--cwd".into(),
        work_s.clone(),
        "--".into(),
        "swiftc".into(),
        "-Xcc".into(),
        format!("-fmodule-map-file={}", generated.join("outreach_ffiFFI.modulemap").display()),
        "-I".into(),
        generated.display().to_string(),
    ];
    args.extend(files.iter().map(|p| p.display().to_string()));
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
    run_step("OutreachCore compile (swiftc in chroot)", chroot.to_str().unwrap(), &args, &work, &[]);

    let stores = work.join("stores");
    std::fs::create_dir_all(&stores).unwrap();
    let env = format!("OUTREACH_TEST_WORK_DIR={}", stores.display());
    let run_args = ["run", "--bind", &work_s, "--cwd", &work_s, "--env", &env, "--", exe.to_str().unwrap()];
    let output = run_step("OutreachCore checks (in chroot)", chroot.to_str().unwrap(), &run_args, &work, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let executed = stdout.lines().rfind(|l| l.contains("Executed ")).and_then(|l| count_after(l, "Executed "));
    assert!(
        executed.is_some_and(|n| n > 0) && stdout.contains("with 0 failures"),
        "OutreachCore checks ran none or reported failures\n{}",
        show(&output)
    );
}
