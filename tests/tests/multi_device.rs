//! Multi-device sync through a real hub: a lead and three enrolled devices, each with its own
//! encrypted store, log and edit offline, then sync in seeded random orders over a transport
//! that loses requests and responses. Every store must converge to the same projections with
//! no encounter lost, and a same-field clash on a person profile must keep both values.
//!
//! The hub runs in-process on loopback with SQLite (plain HTTP is allowed on loopback only).
//! All names and contents are obviously fake.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use outreach_core::sync::{CancelToken, HttpTransport, Role, Transport, TransportError};
use outreach_core::{EncounterInput, Error, PersonInput, ShiftStart, Store, StoreKey, StoreOptions, TeamSetup, Unlock};
use outreach_hub::{HubConfig, RateLimit, RunningHub};

const SETUP_CODE: &str = "TEST-setup-code-not-secret";
const ZONES: &[&str] = &["test-zone-north", "test-zone-south"];

/// A temp directory removed on drop (no extra dependency for it).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("outreach-multi-{tag}-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{t:x}-{n}")
}

/// Small seeded PRNG (xorshift64*), so the schedule is reproducible from the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// The hub on loopback, in its own tokio runtime; the stores talk to it with blocking HTTP.
struct Hub {
    rt: tokio::runtime::Runtime,
    hub: Option<RunningHub>,
    url: String,
    _dir: TempDir,
}

impl Hub {
    fn start() -> Hub {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = TempDir::new("hub");
        let mut config = HubConfig::loopback_ephemeral(format!("sqlite:{}", dir.path().join("hub.db").display()));
        config.setup_code = Some(SETUP_CODE.into());
        config.device_rate = RateLimit::new(10_000.0, 10_000.0);
        config.open_rate = RateLimit::new(10_000.0, 10_000.0);
        let hub = rt.block_on(outreach_hub::start(config)).expect("hub starts");
        let url = hub.base_url();
        Hub { rt, hub: Some(hub), url, _dir: dir }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(h) = self.hub.take() {
            let _ = self.rt.block_on(h.shutdown());
        }
    }
}

/// Loses requests (before the hub sees them) and responses (after the hub acted) on a
/// seeded schedule, to prove push is idempotent and pull pages are atomic.
struct Flaky<'a> {
    inner: &'a HttpTransport,
    rng: Cell<u64>,
    /// Percent of requests lost before sending, and of responses lost after.
    loss: u64,
    lost: Cell<u64>,
}

impl Transport for Flaky<'_> {
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        let mut r = Rng(self.rng.get());
        let (a, b) = (r.below(100), r.below(100));
        self.rng.set(r.0);
        if a < self.loss {
            self.lost.set(self.lost.get() + 1);
            return Err(TransportError("injected: request lost".into()));
        }
        let reply = self.inner.post(path, body)?;
        if b < self.loss {
            self.lost.set(self.lost.get() + 1);
            return Err(TransportError("injected: response lost".into()));
        }
        Ok(reply)
    }
}

struct Device {
    name: String,
    store: Store,
    _dir: TempDir,
}

fn no_progress(_: outreach_core::SyncProgress) {}

fn sync(d: &mut Device, t: &dyn Transport) -> Result<outreach_core::SyncReport, Error> {
    d.store.sync(t, &no_progress, &CancelToken::new())
}

#[test]
fn four_devices_converge_through_the_hub_with_lost_messages() {
    let hub = Hub::start();
    let http = HttpTransport::new(&hub.url).unwrap();
    let opts = StoreOptions::default();

    // The lead creates the team and registers it with the hub.
    let lead_dir = TempDir::new("lead");
    let mut lead_store =
        Store::create(&lead_dir.path().join("store"), Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Team", ZONES), &opts).unwrap();
    lead_store.register_team(&http, &hub.url, SETUP_CODE, "TEST lead phone").unwrap();
    assert!(lead_store.outbox_len().unwrap() > 0, "the team settings wait in the outbox");
    let mut devs = vec![Device { name: "lead".into(), store: lead_store, _dir: lead_dir }];

    // Three devices join with one-time invites.
    for i in 1..=3 {
        let code = devs[0].store.create_invite(&http, Role::Member, 3_600_000).unwrap();
        let dir = TempDir::new(&format!("dev{i}"));
        let store = Store::create_from_invite(
            &dir.path().join("store"),
            Unlock::Key(StoreKey::generate()),
            &code,
            &format!("TEST van phone {i}"),
            &http,
            &opts,
        )
        .unwrap();
        assert!(store.settings().zones.is_empty(), "settings arrive with the first pull");
        devs.push(Device { name: format!("dev{i}"), store, _dir: dir });
    }
    // A used invite cannot enrol again.
    let code = devs[0].store.create_invite(&http, Role::Member, 3_600_000).unwrap();
    let spare = TempDir::new("spare");
    Store::create_from_invite(&spare.path().join("a"), Unlock::Key(StoreKey::generate()), &code, "TEST spare A", &http, &opts).unwrap();
    let err = Store::create_from_invite(&spare.path().join("b"), Unlock::Key(StoreKey::generate()), &code, "TEST spare B", &http, &opts)
        .unwrap_err();
    assert!(matches!(err, Error::Hub { ref code, .. } if code == "invite_used"), "{err:?}");

    // Everyone syncs: the lead pushes the settings, the devices pull them.
    for d in devs.iter_mut() {
        sync(d, &http).unwrap();
    }
    for d in devs.iter_mut() {
        sync(d, &http).unwrap();
        assert_eq!(d.store.settings().zones, ZONES, "{}", d.name);
        assert_eq!(d.store.outbox_len().unwrap(), 0);
    }

    // The lead adds a person profile; everyone gets it.
    let person = devs[0].store.add_person(PersonInput::new("Testy McTestface")).unwrap();
    sync(&mut devs[0], &http).unwrap();
    for d in devs.iter_mut().skip(1) {
        sync(d, &http).unwrap();
        assert_eq!(d.store.view_person(&person.id).unwrap().input.code_name, "Testy McTestface");
    }

    // Offline: every device opens a shift; dev1 and dev2 rename the same person concurrently.
    for (i, d) in devs.iter_mut().enumerate() {
        d.store
            .start_shift(ShiftStart { van: format!("TEST Van {i}"), crew: vec![format!("staff-test-{i}")], zones: vec![ZONES[i % 2].into()], at: None })
            .unwrap();
    }
    let mut p1 = devs[1].store.view_person(&person.id).unwrap().input;
    p1.code_name = "Testy Alpha".into();
    devs[1].store.edit_person(&person.id, p1).unwrap();
    let mut p2 = devs[2].store.view_person(&person.id).unwrap().input;
    p2.code_name = "Testy Bravo".into();
    devs[2].store.edit_person(&person.id, p2).unwrap();
    // The lead edits a different field of the same profile: no clash there.
    let mut p0 = devs[0].store.view_person(&person.id).unwrap().input;
    p0.note = Some("TEST note from the lead".into());
    devs[0].store.edit_person(&person.id, p0).unwrap();

    // Rounds: random offline work, then syncs in a seeded random order over a lossy link.
    let seed = std::env::var("OUTREACH_SYNC_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0f_7e57u64);
    eprintln!("multi_device seed = {seed} (set OUTREACH_SYNC_SEED to replay)");
    // splitmix64 of the seed, so nearby seeds give unrelated schedules.
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let mut rng = Rng((z ^ (z >> 31)) | 1);
    let mut expected: BTreeMap<String, String> = BTreeMap::new(); // encounter id -> final note
    let mut mine: Vec<Vec<String>> = vec![vec![]; devs.len()];
    let mut failures = 0u64;
    let mut lost = 0u64;
    for round in 0..5 {
        for (i, d) in devs.iter_mut().enumerate() {
            for _ in 0..(1 + rng.below(4)) {
                if !mine[i].is_empty() && rng.below(3) == 0 {
                    // Amend one of this device's own encounters.
                    let id = mine[i][rng.below(mine[i].len() as u64) as usize].clone();
                    let mut input = d.store.get_encounter(&id).unwrap().input;
                    let note = format!("TEST amended r{round} by {}", d.name);
                    input.note = Some(note.clone());
                    d.store.amend_encounter(&id, input).unwrap();
                    expected.insert(id, note);
                } else {
                    let mut input = EncounterInput::new(ZONES[i % 2]);
                    let note = format!("TEST contact r{round} by {}", d.name);
                    input.note = Some(note.clone());
                    if rng.below(2) == 0 {
                        input.person = Some(person.id.clone());
                    }
                    let e = d.store.log_encounter(input).unwrap();
                    mine[i].push(e.id.clone());
                    expected.insert(e.id, note);
                }
            }
        }
        let mut order: Vec<usize> = (0..devs.len()).collect();
        rng.shuffle(&mut order);
        for i in order {
            let flaky = Flaky { inner: &http, rng: Cell::new(rng.next() | 1), loss: 25, lost: Cell::new(0) };
            match sync(&mut devs[i], &flaky) {
                Ok(_) => {}
                Err(Error::Network(_)) => failures += 1,
                Err(e) => panic!("{}: unexpected sync error {e:?}", devs[i].name),
            }
            lost += flaky.lost.get();
            if rng.below(4) == 0 {
                // Sometimes a second try right away, as the app's retry would.
                let _ = sync(&mut devs[i], &flaky);
            }
        }
    }
    eprintln!("injected losses: {lost}, failed syncs: {failures}");
    assert!(lost > 0, "the schedule injected no loss");

    // Good network again: two passes bring everyone up to date.
    for _ in 0..2 {
        for d in devs.iter_mut() {
            let r = sync(d, &http).unwrap();
            assert_eq!(d.store.outbox_len().unwrap(), 0, "{}: outbox empty after {r:?}", d.name);
        }
    }

    // Convergence: identical projections everywhere, nothing lost, the clash kept.
    let reference = devs[0].store.projection_fingerprint().unwrap();
    for d in devs.iter_mut() {
        assert_eq!(d.store.projection_fingerprint().unwrap(), reference, "{} diverged", d.name);
        let (shifts, encounters, people, _) = d.store.counts().unwrap();
        assert_eq!(shifts, devs_len());
        assert_eq!(encounters as usize, expected.len(), "{}: encounters lost", d.name);
        assert_eq!(people, 1);
        for (id, note) in &expected {
            let e = d.store.get_encounter(id).unwrap_or_else(|_| panic!("{}: encounter {id} missing", d.name));
            assert_eq!(e.input.note.as_deref(), Some(note.as_str()), "{}: lost an amendment", d.name);
        }
        let clashes = d.store.clashes().unwrap();
        let pc: Vec<_> = clashes.iter().filter(|c| c.entity == "person" && c.id == person.id).collect();
        assert_eq!(pc.len(), 1, "{}: {clashes:?}", d.name);
        let names: Vec<_> = pc[0].clashes.iter().filter(|c| c.path == ["code_name"]).collect();
        assert_eq!(names.len(), 1, "{}: only code_name clashes: {:?}", d.name, pc[0].clashes);
        let mut vals: Vec<String> = names[0].values.iter().map(|v| v.as_str().unwrap().to_string()).collect();
        vals.sort();
        assert_eq!(vals, ["Testy Alpha", "Testy Bravo"], "{}: both values kept", d.name);
        let p = d.store.view_person(&person.id).unwrap();
        assert_eq!(p.input.code_name, names[0].values[0].as_str().unwrap(), "projection shows the winner");
        assert_eq!(p.input.note.as_deref(), Some("TEST note from the lead"));
        // Rebuilding projections from the documents alone gives the same tables.
        d.store.rebuild_projections().unwrap();
        assert_eq!(d.store.projection_fingerprint().unwrap(), reference, "{}: rebuild differs", d.name);
        let st = d.store.sync_status().unwrap();
        assert!(st.last_success.is_some() && st.last_error.is_none() && st.outbox == 0, "{st:?}");
    }

    fn devs_len() -> u64 {
        4
    }
}

#[test]
fn cancel_stops_between_requests_and_a_later_sync_finishes() {
    let hub = Hub::start();
    let http = HttpTransport::new(&hub.url).unwrap();
    let opts = StoreOptions::default();
    let dir = TempDir::new("cancel");
    let key = StoreKey::generate();
    let path = dir.path().join("store");
    let mut lead = Store::create(&path, Unlock::Key(key.clone()), TeamSetup::new("TEST Team", ZONES), &opts).unwrap();
    lead.register_team(&http, &hub.url, SETUP_CODE, "TEST lead phone").unwrap();
    lead.start_shift(ShiftStart { van: "TEST Van".into(), crew: vec!["staff-test".into()], zones: vec![ZONES[0].into()], at: None }).unwrap();
    for _ in 0..450 {
        lead.log_encounter(EncounterInput::new(ZONES[0])).unwrap();
    }
    let queued = lead.outbox_len().unwrap();
    // Cancel after the first push batch.
    let cancel = CancelToken::new();
    let err = lead
        .sync(&http, &|p| {
            if p.chunks_done > 0 {
                cancel.cancel()
            }
        }, &cancel)
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    let left = lead.outbox_len().unwrap();
    assert!(left > 0 && left < queued, "one acknowledged batch left the outbox: {left} of {queued}");
    assert_eq!(lead.sync_status().unwrap().last_error.as_deref(), Some("cancelled"));
    // What is committed survives a reopen, and the next sync finishes the job.
    drop(lead);
    let mut lead = Store::open(&path, Unlock::Key(key)).unwrap();
    assert_eq!(lead.outbox_len().unwrap(), left);
    let r = lead.sync(&http, &no_progress, &CancelToken::new()).unwrap();
    assert_eq!(r.pushed_chunks, left);
    assert_eq!(lead.outbox_len().unwrap(), 0);
    assert!(r.skipped_own >= queued, "own chunks come back in the log and are skipped: {r:?}");

    // A member joining later receives everything.
    let code = lead.create_invite(&http, Role::Member, 60_000).unwrap();
    let mdir = TempDir::new("cancel-member");
    let mut member =
        Store::create_from_invite(&mdir.path().join("store"), Unlock::Key(StoreKey::generate()), &code, "TEST phone", &http, &opts).unwrap();
    let progress_seen = Cell::new(0u64);
    let r = member.sync(&http, &|p| progress_seen.set(p.chunks_done), &CancelToken::new()).unwrap();
    assert!(r.pages >= 1 && progress_seen.get() > 0);
    assert_eq!(member.projection_fingerprint().unwrap(), lead.projection_fingerprint().unwrap());
}

#[test]
fn a_revoked_device_is_refused_and_the_others_move_to_a_new_team_key() {
    let hub = Hub::start();
    let http = HttpTransport::new(&hub.url).unwrap();
    let opts = StoreOptions::default();
    let dir = TempDir::new("revoke");
    let mut lead = Store::create(&dir.path().join("lead"), Unlock::Key(StoreKey::generate()), TeamSetup::new("TEST Team", ZONES), &opts).unwrap();
    lead.register_team(&http, &hub.url, SETUP_CODE, "TEST lead phone").unwrap();
    // Registering again (as after a lost answer) is harmless.
    lead.register_team(&http, &hub.url, SETUP_CODE, "TEST lead phone").unwrap();
    lead.sync(&http, &no_progress, &CancelToken::new()).unwrap();
    let mut members = vec![];
    for i in 0..2 {
        let code = lead.create_invite(&http, Role::Member, 60_000).unwrap();
        let mut m = Store::create_from_invite(&dir.path().join(format!("m{i}")), Unlock::Key(StoreKey::generate()), &code, "TEST phone", &http, &opts)
            .unwrap();
        m.sync(&http, &no_progress, &CancelToken::new()).unwrap();
        m.start_shift(ShiftStart { van: "TEST Van".into(), crew: vec!["staff-test".into()], zones: vec![ZONES[0].into()], at: None }).unwrap();
        members.push(m);
    }
    lead.sync(&http, &no_progress, &CancelToken::new()).unwrap();
    let lost_phone = members[1].sync_status().unwrap().device_id;
    assert_eq!(lead.revoke_device(&http, &lost_phone).unwrap(), 1);
    assert_eq!(lead.sync_status().unwrap().epoch, 1);

    // The lost phone is refused; what it logs stays on it.
    members[1].log_encounter(EncounterInput::new(ZONES[0])).unwrap();
    let err = members[1].sync(&http, &no_progress, &CancelToken::new()).unwrap_err();
    assert!(matches!(err, Error::Hub { ref code, .. } if code == "revoked" || code == "unknown_device"), "{err:?}");
    assert!(members[1].sync_status().unwrap().last_error.unwrap().starts_with("hub:"));

    // The other member pulls the new team key (over the hub URL its invite carried) and
    // writes under it; the lead reads it.
    members[0].sync_with_hub(&no_progress, &CancelToken::new()).unwrap();
    assert_eq!(members[0].sync_status().unwrap().epoch, 1);
    let e = members[0].log_encounter(EncounterInput::new(ZONES[0])).unwrap();
    members[0].sync(&http, &no_progress, &CancelToken::new()).unwrap();
    lead.sync(&http, &no_progress, &CancelToken::new()).unwrap();
    assert_eq!(lead.get_encounter(&e.id).unwrap().id, e.id);
    members[0].sync(&http, &no_progress, &CancelToken::new()).unwrap();
    assert_eq!(members[0].projection_fingerprint().unwrap(), lead.projection_fingerprint().unwrap());
    assert_eq!(members[1].sync_status().unwrap().epoch, 0, "the revoked phone never got the new key");

    // A phone enrolled after the rotation holds only the epoch-1 key. It syncs before the lead
    // has uploaded its re-wraps of the older document keys: those chunks wait, sealed.
    let code = lead.create_invite(&http, Role::Member, 60_000).unwrap();
    let mut late =
        Store::create_from_invite(&dir.path().join("late"), Unlock::Key(StoreKey::generate()), &code, "TEST late phone", &http, &opts).unwrap();
    let r = late.sync(&http, &no_progress, &CancelToken::new()).unwrap();
    assert!(r.waiting > 0, "{r:?}");
    assert!(late.sync_status().unwrap().waiting_for_keys > 0);
    // Once the lead has pushed them, everything opens and the late phone converges.
    lead.sync(&http, &no_progress, &CancelToken::new()).unwrap();
    late.sync(&http, &no_progress, &CancelToken::new()).unwrap();
    let st = late.sync_status().unwrap();
    assert_eq!((st.waiting_for_keys, st.epoch), (0, 1), "{st:?}");
    assert_eq!(late.settings().zones, ZONES);
    assert_eq!(late.projection_fingerprint().unwrap(), lead.projection_fingerprint().unwrap());
}
