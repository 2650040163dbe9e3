//! The HTML report renders in a real browser: headless Chromium (Debian's `chromium`) takes a
//! screenshot of the report, and of the same page with every chart bar removed; the two must
//! differ, so the SVG bars drew real pixels. The page must also render with no network (its
//! Content-Security-Policy forbids loading anything).
//!
//! Skipped (with a message) when no Chromium is installed, unless `OUTREACH_REQUIRE_CHROMIUM`
//! is set, when a missing browser fails the test. `OUTREACH_CHROMIUM` names another binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use outreach_core::*;

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("OUTREACH_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn screenshot(browser: &Path, html: &Path, png: &Path, profile: &Path) {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-extensions",
            "--force-device-scale-factor=1",
            "--window-size=1000,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if start.elapsed() > StdDuration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(StdDuration::from_millis(100));
    }
    let len = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(
        len > 2_000,
        "screenshot {} is empty ({len} bytes)",
        png.display()
    );
}

/// The page with every bar (`<rect …>…</rect>`) cut out.
fn without_bars(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find("<rect ") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find("</rect>").expect("closed rect") + i + "</rect>".len();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn html_report_renders_its_charts_in_headless_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var_os("OUTREACH_REQUIRE_CHROMIUM").is_some() {
            panic!("OUTREACH_REQUIRE_CHROMIUM is set but no chromium was found (apt-get install chromium)");
        }
        eprintln!("skipped: no chromium installed (apt-get install chromium to run this test)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let mut s = Store::create(
        &store_dir,
        Unlock::Key(StoreKey::generate()),
        TeamSetup::new("Test Team", &["test-zone-a", "test-zone-b"]),
        &StoreOptions::default(),
    )
    .unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    let from = Utc::now().date_naive() - Duration::days(20);
    for d in 0..5i64 {
        let night = from + Duration::days(d);
        let start = night.and_hms_opt(20, 0, 0).unwrap().and_utc();
        s.start_shift(ShiftStart {
            van: "Test Van".into(),
            crew: vec!["staff-test".into()],
            zones: vec!["test-zone-a".into()],
            at: Some(start),
        })
        .unwrap();
        for k in 0..(6 + 3 * d) {
            let mut e = EncounterInput::new(if k % 3 == 0 {
                "test-zone-b"
            } else {
                "test-zone-a"
            });
            e.at = Some(start + Duration::minutes(k));
            e.services.insert(Service::Condoms, 10);
            if k % 2 == 0 {
                e.services.insert(Service::HotDrink, 1);
            }
            s.log_encounter(e).unwrap();
        }
        s.end_shift().unwrap();
    }
    let report = s
        .report(from, from + Duration::days(4), &ReportOptions::default())
        .unwrap();
    let html = report.to_html();
    assert!(html.matches("<rect ").count() >= 5);

    let page = dir.path().join("report.html");
    let bare = dir.path().join("report-without-bars.html");
    std::fs::write(&page, &html).unwrap();
    std::fs::write(&bare, without_bars(&html)).unwrap();
    let (a, b) = (dir.path().join("report.png"), dir.path().join("bare.png"));
    screenshot(&browser, &page, &a, &dir.path().join("profile-a"));
    screenshot(&browser, &bare, &b, &dir.path().join("profile-b"));
    let (pa, pb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(&pa[1..4], b"PNG");
    assert_ne!(
        pa, pb,
        "the chart bars drew nothing: the page looks the same without them"
    );
    if let Ok(keep) = std::env::var("OUTREACH_KEEP_SCREENSHOT") {
        std::fs::copy(&a, keep).unwrap();
    }
}
