//! Canary test: nothing readable reaches disk.
//!
//! Every free-text field and identifier is written with a unique marker (`CANARY-7f3a-...`),
//! some are amended away, and then EVERY file under the store directory (recursively: the
//! database, `-wal`, `-shm`, `store.json`, anything else) is scanned as raw bytes for every
//! marker, in UTF-8 and UTF-16 (both byte orders), as typed, lower-cased, upper-cased and folded
//! as code names are for search, and for the normalised and other spellings of identifiers.
//!
//! The scan is run once with the data still in the `-wal` (no checkpoint, store open) and once
//! after `checkpoint()`, close and reopen. The same scenario on a store created with
//! `insecure_plaintext: true` must be caught by the same scan, which proves it can fail; a child
//! process run with `TMPDIR`/`SQLITE_TMPDIR` on a watched empty directory proves no temp file is
//! created, with a control run that proves the watch sees SQLite's temp files.

use std::path::Path;

use outreach_core::*;
use outreach_tests::*;

const PASSPHRASE: &[u8] = b"CANARY-7f3a-passphrase correct horse";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    RawKey,
    Passphrase,
    Plaintext,
}

/// How to unlock the store again.
struct Creds {
    key: Option<StoreKey>,
    key_bytes: Option<[u8; 32]>,
}

fn create(dir: &Path, v: Variant) -> (Store, Creds) {
    match v {
        Variant::RawKey | Variant::Plaintext => {
            let mut raw = [0u8; 32];
            use rand::RngCore;
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let key = StoreKey::from_bytes(raw);
            let opts = StoreOptions { insecure_plaintext: v == Variant::Plaintext, ..Default::default() };
            let store = Store::create(dir, Unlock::Key(key.clone()), canary_team(), &opts).unwrap();
            (store, Creds { key: Some(key), key_bytes: Some(raw) })
        }
        Variant::Passphrase => {
            let opts = StoreOptions { kdf: KdfParams::insecure_fast_for_tests(), ..Default::default() };
            let store = Store::create(dir, Unlock::Passphrase(PASSPHRASE), canary_team(), &opts).unwrap();
            (store, Creds { key: None, key_bytes: None })
        }
    }
}

fn is_plaintext(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("store.json")).map(|m| m.contains("\"plaintext_for_tests\": true")).unwrap_or(false)
}

#[test]
fn plain_open_refuses_a_plaintext_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("plain");
    let (s, c) = create(&d, Variant::Plaintext);
    drop(s);
    let err = Store::open(&d, Unlock::Key(c.key.clone().unwrap())).unwrap_err();
    assert!(matches!(err, outreach_core::Error::Corrupt(_)), "{err}");
    assert!(is_plaintext(&d));
    Store::open_insecure_plaintext_for_tests(&d, Unlock::Key(c.key.unwrap())).unwrap();
}

fn reopen(dir: &Path, c: &Creds) -> Store {
    match &c.key {
        // Plaintext control stores need the explicit test-only open; encrypted ones open
        // either way, and `Store::open` refusing plaintext is itself tested below.
        Some(k) if is_plaintext(dir) => Store::open_insecure_plaintext_for_tests(dir, Unlock::Key(k.clone())).unwrap(),
        Some(k) => Store::open(dir, Unlock::Key(k.clone())).unwrap(),
        None => Store::open(dir, Unlock::Passphrase(PASSPHRASE)).unwrap(),
    }
}

fn describe(hits: &[Hit]) -> String {
    hits.iter()
        .map(|h| format!("  {:?} in {} ({})", h.marker, h.file.file_name().unwrap().to_string_lossy(), h.form))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The key itself, raw and in hex, and the passphrase, must never be on disk either.
fn key_needles(o: &Creds) -> Vec<(String, Vec<u8>)> {
    let mut v = vec![("passphrase".to_string(), PASSPHRASE.to_vec())];
    if let Some(k) = o.key_bytes {
        v.push(("raw key".into(), k.to_vec()));
        v.push(("hex key".into(), hex::encode(k).into_bytes()));
        v.push(("HEX key".into(), hex::encode_upper(k).into_bytes()));
    }
    v
}

fn wal_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("outreach.db-wal")).map(|m| m.len()).unwrap_or(0)
}

/// Runs the scenario on a fresh store and returns the hits of the two scans: (with the data
/// still in the WAL, after checkpoint + close + reopen), plus what was written.
fn run_variant(v: Variant) -> (Vec<Hit>, Vec<Hit>, CanaryRun, Vec<(std::path::PathBuf, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    // A nested data dir, so the recursive scan has a level to recurse into.
    let dir = tmp.path().join("data").join("store");
    let (mut store, creds) = create(&dir, v);
    let run = canary_scenario(&mut store).unwrap();
    let markers = run.all();

    // 1. No checkpoint: the store is still open and the records are still in the -wal.
    assert!(wal_len(&dir) > 0, "{v:?}: the scenario must leave data in the -wal for this scan to mean anything");
    let files: Vec<String> =
        files_under(tmp.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for must in ["outreach.db", "outreach.db-wal", "outreach.db-shm", "store.json"] {
        assert!(files.iter().any(|f| f == must), "{v:?}: expected {must} among {files:?}");
    }
    let in_wal = scan_tree(tmp.path(), &markers);
    let mut key_hits = scan_tree_raw(tmp.path(), &key_needles(&creds));

    // 2. Checkpoint, close, reopen, read everything back, close, scan again.
    store.checkpoint().unwrap();
    assert_eq!(wal_len(&dir), 0, "checkpoint(TRUNCATE) must empty the -wal");
    let night = run.night.unwrap();
    drop(store);
    let mut s = reopen(&dir, &creds);
    let listed = s.list_night(night).unwrap();
    assert_eq!(listed.len(), run.encounters.len(), "data must be readable after reopening");
    assert!(listed.iter().any(|e| e.input.note.as_deref().is_some_and(|n| n.contains("amended"))));
    s.rebuild_projections().unwrap();
    s.checkpoint().unwrap();
    let after_open = scan_tree(tmp.path(), &markers);
    drop(s);
    let mut after_close = scan_tree(tmp.path(), &markers);
    key_hits.extend(scan_tree_raw(tmp.path(), &key_needles(&creds)));
    let mut after = after_open;
    after.append(&mut after_close);
    after.sort_by(|a, b| (&a.file, &a.marker, &a.form).cmp(&(&b.file, &b.marker, &b.form)));
    after.dedup();
    (in_wal, after, run, key_hits)
}

#[test]
fn raw_key_store_leaves_no_marker_on_disk() {
    let (in_wal, after, run, keys) = run_variant(Variant::RawKey);
    // Current plain markers plus the person-linked ones that are sealed (fieldseal.rs).
    let written = run.current.len() + run.sealed.len();
    assert!(written > 40, "the scenario wrote {written} markers");
    assert!(in_wal.is_empty(), "markers found with data in the WAL:\n{}", describe(&in_wal));
    assert!(after.is_empty(), "markers found after checkpoint and reopen:\n{}", describe(&after));
    assert!(keys.is_empty(), "key material found on disk: {keys:?}");
}

#[test]
fn passphrase_store_leaves_no_marker_on_disk() {
    let (in_wal, after, _run, keys) = run_variant(Variant::Passphrase);
    assert!(in_wal.is_empty(), "markers found with data in the WAL:\n{}", describe(&in_wal));
    assert!(after.is_empty(), "markers found after checkpoint and reopen:\n{}", describe(&after));
    assert!(keys.is_empty(), "passphrase found on disk: {keys:?}");
}

/// The same scenario and the same scan on a store written WITHOUT encryption must find every
/// current marker: in the `-wal` before the checkpoint and in the main file after it. This is
/// what proves the two tests above can fail.
#[test]
fn plaintext_store_is_caught_by_the_same_scan() {
    let (in_wal, after, run, _) = run_variant(Variant::Plaintext);
    let found_in = |hits: &[Hit], m: &str, file: &str| {
        hits.iter().any(|h| h.marker == m && h.file.file_name().unwrap().to_string_lossy() == file)
    };
    let mut missing = vec![];
    for m in &run.current {
        if !found_in(&in_wal, m, "outreach.db-wal") {
            missing.push(format!("{m:?} not in -wal"));
        }
        if !found_in(&after, m, "outreach.db") {
            missing.push(format!("{m:?} not in outreach.db after checkpoint"));
        }
    }
    assert!(missing.is_empty(), "the scan missed plaintext markers:\n{}", missing.join("\n"));
    // Looked-up values are never written, not even in plaintext (no trail from a check).
    let trail: Vec<&Hit> = in_wal.iter().chain(after.iter()).filter(|h| run.looked_up.contains(&h.marker)).collect();
    assert!(trail.is_empty(), "a look-up left a trail: {trail:?}");
    // Person-linked free text is sealed under the person's field key: not on disk in plain
    // even without store encryption (and the read API still returned it, see the scenario).
    assert!(run.sealed.len() >= 10, "the scenario wrote {} sealed markers", run.sealed.len());
    let unsealed: Vec<&Hit> = in_wal.iter().chain(after.iter()).filter(|h| run.sealed.contains(&h.marker)).collect();
    assert!(unsealed.is_empty(), "person-linked free text reached the disk in plain: {unsealed:?}");
}

/// The scanner's own forms: UTF-16 and lower-case encodings are found.
#[test]
fn scanner_finds_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let m = "CANARY-7f3a-Form Test".to_string();
    let enc16: Vec<u8> = m.to_lowercase().encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    std::fs::write(dir.path().join("a/b/x.bin"), [b"junk".as_slice(), &enc16, b"junk"].concat()).unwrap();
    std::fs::write(dir.path().join("y"), normalise::fold_name(&m)).unwrap();
    let hits = scan_tree(dir.path(), &[m]);
    assert!(hits.iter().any(|h| h.form == "lower+utf16le" && h.file.ends_with("a/b/x.bin")), "{hits:?}");
    assert!(hits.iter().any(|h| h.form == "folded" && h.file.ends_with("y")), "{hits:?}");
}

// ---- temp files -----------------------------------------------------------------------------

/// Watches a directory with inotify; events are queued by the kernel from `add_watch` on, so a
/// file created and unlinked at once is still seen. SQLCipher's temp files are `O_TMPFILE`
/// files that never get a name (no `IN_CREATE`): they show up as `IN_OPEN`/`IN_MODIFY` events
/// on an entry named `#<inode>`.
struct Watch {
    fd: i32,
}

impl Watch {
    fn new(dir: &Path) -> Watch {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: plain syscalls on a path we own; fd closed on drop.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            assert!(fd >= 0, "inotify_init1");
            let wd = libc::inotify_add_watch(
                fd,
                c.as_ptr(),
                libc::IN_ALL_EVENTS,
            );
            assert!(wd >= 0, "inotify_add_watch");
            Watch { fd }
        }
    }

    /// Every event on an entry inside the directory (events on the directory itself carry no
    /// name and are skipped: listing the directory is not a temp file).
    fn events(&self) -> Vec<(u32, String)> {
        let mut out = vec![];
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: reading into our own buffer.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 {
                break;
            }
            let mut off = 0usize;
            let hdr = std::mem::size_of::<libc::inotify_event>();
            while off + hdr <= n as usize {
                // SAFETY: the kernel wrote whole events; read_unaligned copes with alignment.
                let ev: libc::inotify_event = unsafe { std::ptr::read_unaligned(buf[off..].as_ptr() as *const _) };
                let name_bytes = &buf[off + hdr..off + hdr + ev.len as usize];
                let name = String::from_utf8_lossy(name_bytes).trim_end_matches('\0').to_string();
                if !name.is_empty() {
                    out.push((ev.mask, name));
                }
                off += hdr + ev.len as usize;
            }
        }
        out
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: closing our own fd.
        unsafe { libc::close(self.fd) };
    }
}

struct ChildRun {
    events: Vec<(u32, String)>,
    leftover: Vec<std::path::PathBuf>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    data: tempfile::TempDir,
}

fn run_child(mode: &str) -> ChildRun {
    let tmp = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let watch = Watch::new(tmp.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_canary_child"))
        .env("CANARY_CHILD_MODE", mode)
        .env("CANARY_CHILD_DIR", data.path())
        .env("TMPDIR", tmp.path())
        .env("SQLITE_TMPDIR", tmp.path())
        .env("TMP", tmp.path())
        .env("TEMP", tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "canary child ({mode}) failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "done");
    let events = watch.events();
    let leftover = files_under(tmp.path());
    ChildRun { events, leftover, stdout: out.stdout, stderr: out.stderr, data }
}

/// A full canary run (raw-key and passphrase stores, reopen, rebuild, search, integrity check)
/// in a child whose temp directory is an empty, watched directory: nothing may be created in it,
/// the child's stdout/stderr must carry no marker, and its stores must hold none.
#[test]
fn child_run_creates_no_temp_file_and_prints_no_marker() {
    let r = run_child("scenario");
    assert!(r.events.is_empty(), "the store touched its temp dir: {:?}", r.events);
    assert!(r.leftover.is_empty(), "files left in the temp dir: {:?}", r.leftover);
    // The markers the scenario writes (the child cannot tell us: it prints nothing).
    let probe = tempfile::tempdir().unwrap();
    let (mut store, _) = create(&probe.path().join("probe"), Variant::RawKey);
    let run = canary_scenario(&mut store).unwrap();
    drop(store);
    let mut markers = run.all();
    markers.push(String::from_utf8_lossy(PASSPHRASE).into_owned());
    let out_hits = scan_bytes(&[r.stdout.as_slice(), &r.stderr].concat(), &markers);
    assert!(out_hits.is_empty(), "markers printed by the child: {out_hits:?}");
    let disk = scan_tree(r.data.path(), &markers);
    assert!(disk.is_empty(), "markers on disk after the child run:\n{}", describe(&disk));
    assert!(files_under(r.data.path()).len() >= 4, "the child must have written two stores");
}

/// Control for the test above: SQLite with `temp_store=FILE` and a temp table bigger than its
/// cache DOES write a temp file in the watched directory (so this build honours
/// `SQLITE_TMPDIR`), and the watch sees it although the file never has a name.
#[test]
fn temp_file_watch_sees_sqlite_temp_files() {
    let r = run_child("control");
    assert!(
        r.events.iter().any(|(mask, _)| mask & (libc::IN_OPEN | libc::IN_CREATE) != 0)
            && r.events.iter().any(|(mask, _)| mask & libc::IN_MODIFY != 0),
        "the watch saw no temp file from a temp_store=FILE connection: {:?}",
        r.events
    );
    assert!(r.leftover.is_empty(), "an O_TMPFILE file leaves no entry: {:?}", r.leftover);
}
