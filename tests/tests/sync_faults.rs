//! Seeded fault schedules: a lead and 2–3 devices, each with its own encrypted store, log and
//! edit offline (including concurrent edits of one person profile), then sync for several
//! rounds through a network that drops, duplicates, delays/reorders and truncates requests and
//! responses, replays old pushes, runs requests late against the hub's clock, and kills clients
//! mid-sync (the store's disk image at that instant is reopened, as after a crash). A final
//! clean round follows. Every store must end with identical projections, and every encounter
//! any device logged (with its last amendment) must be on every store.
//!
//! `OUTREACH_FAULT_SCHEDULES=N` sets how many schedules run (default 300; `.ci/run` runs
//! 10,000), `OUTREACH_FAULT_SEED=S` runs exactly schedule S, `OUTREACH_FAULT_THREADS` the worker
//! threads (default: available cores). The hub is the real router over SQLite, called
//! in-process. All data is obviously fake.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use outreach_core::sync::{CancelToken, Role};
use outreach_core::{Durability, EncounterInput, Error, PersonInput, ShiftStart, Store, StoreKey, StoreOptions, TeamSetup, Unlock};
use outreach_tests::faults::{FaultCounts, Faulty, KillPlan, Network};
use outreach_tests::hubsim::{InProcHub, Rng, HUB_URL, SETUP_CODE};

const ZONES: &[&str] = &["test-zone-north", "test-zone-south"];
const DEFAULT_SCHEDULES: u64 = 300;

struct Dev {
    name: String,
    dir: PathBuf,
    key: StoreKey,
    store: Option<Store>,
    /// Encounters this device logged (acknowledged by `log_encounter`).
    mine: Vec<String>,
}

impl Dev {
    fn s(&mut self) -> &mut Store {
        self.store.as_mut().expect("store open")
    }
}

#[derive(Default, Debug, Clone)]
struct Stats {
    faults: FaultCounts,
    syncs: u64,
    failed_syncs: u64,
    kills: u64,
    encounters: u64,
    person_edits: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        for (k, v) in &o.faults {
            *self.faults.entry(k).or_default() += v;
        }
        self.syncs += o.syncs;
        self.failed_syncs += o.failed_syncs;
        self.kills += o.kills;
        self.encounters += o.encounters;
        self.person_edits += o.person_edits;
    }
}

/// What a schedule may be told to do wrong on purpose (to show the checks can fail).
#[derive(Default, Clone, Copy)]
struct Control {
    /// One device's pushes are "acknowledged" by a lying link that never delivers them.
    forged_acks: bool,
}

fn no_progress(_: outreach_core::SyncProgress) {}

fn sync(store: &mut Store, t: &dyn outreach_core::Transport) -> Result<outreach_core::SyncReport, Error> {
    store.sync(t, &no_progress, &CancelToken::new())
}

/// Errors a faulty network may legitimately cause; anything else is a bug.
fn expected_failure(e: &Error) -> bool {
    matches!(e, Error::Network(_) | Error::Hub { .. })
}

macro_rules! check {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(format!($($msg)*));
        }
    };
}

fn ok<T>(r: outreach_core::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

fn open_store(dir: &Path, key: &StoreKey) -> Result<Store, String> {
    let s = ok(Store::open(dir, Unlock::Key(key.clone())), "reopen after crash")?;
    ok(s.set_durability(Durability::CrashSafe), "durability")?;
    Ok(s)
}

fn run_schedule(seed: u64, root: &Path, control: Control, template: &Template) -> Result<Stats, String> {
    let dir = root.join(format!("s{seed}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| schedule(seed, &dir, control, template)))
        .unwrap_or_else(|p| {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("panicked: {}", msg.unwrap_or_default()))
        });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A team set up once per worker and copied for each schedule (setting a team up costs more
/// than a schedule's faults): the hub's SQLite files, a lead and three enrolled devices that
/// have pulled the team settings and one shared person profile, each with a shift opened
/// offline (still in its outbox).
struct Template {
    dir: PathBuf,
    keys: Vec<StoreKey>,
    person: String,
}

fn build_template(dir: &Path) -> Result<Template, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let hub = InProcHub::sqlite(&dir.join("hub.db"));
    let opts = StoreOptions::default();
    let key = StoreKey::generate();
    let mut lead = ok(Store::create(&dir.join("lead"), Unlock::Key(key.clone()), TeamSetup::new("TEST Team", ZONES), &opts), "create lead")?;
    ok(lead.register_team(&hub, HUB_URL, SETUP_CODE, "TEST lead phone"), "register")?;
    let mut keys = vec![key];
    let mut stores = vec![];
    for i in 1..=3 {
        let code = ok(lead.create_invite(&hub, Role::Member, 3_600_000), "invite")?;
        let key = StoreKey::generate();
        let s = ok(
            Store::create_from_invite(&dir.join(format!("dev{i}")), Unlock::Key(key.clone()), &code, &format!("TEST van phone {i}"), &hub, &opts),
            "enrol",
        )?;
        keys.push(key);
        stores.push(s);
    }
    ok(sync(&mut lead, &hub), "setup sync")?;
    let person = ok(lead.add_person(PersonInput::new("Testy McTestface")), "add person")?;
    ok(sync(&mut lead, &hub), "setup sync")?;
    stores.insert(0, lead);
    for (i, s) in stores.iter_mut().enumerate() {
        ok(sync(s, &hub), "setup sync")?;
        ok(
            s.start_shift(ShiftStart { van: format!("TEST Van {i}"), crew: vec![format!("staff-test-{i}")], zones: vec![ZONES[i % 2].into()], at: None }),
            "start shift",
        )?;
    }
    drop(stores);
    drop(hub);
    Ok(Template { dir: dir.to_path_buf(), keys, person: person.id })
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        } else if t.is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name()))?;
        }
    }
    Ok(())
}

fn schedule(seed: u64, dir: &Path, control: Control, template: &Template) -> Result<Stats, String> {
    let mut rng = Rng::new(seed);
    let mut stats = Stats::default();
    let t0 = std::time::Instant::now();
    copy_tree(&template.dir, dir).map_err(|e| format!("copy template: {e}"))?;
    let hub = InProcHub::sqlite(&dir.join("hub.db"));
    // The lead and 2–3 of the devices take part.
    let n = 2 + rng.below(2) as usize;
    let mut devs = vec![];
    for i in 0..=n {
        let name = if i == 0 { "lead".to_string() } else { format!("dev{i}") };
        let d = dir.join(&name);
        let store = open_store(&d, &template.keys[i])?;
        devs.push(Dev { name, dir: d, key: template.keys[i].clone(), store: Some(store), mine: vec![] });
    }
    let person = template.person.clone();
    let t_setup = std::time::Instant::now();
    let net = Network::new(&hub);
    // How hostile this schedule's network is: 10–70 % of requests meet a fault.
    let rate = 10 + rng.below(61);
    let rounds = 2 + rng.below(3);
    let mut expected: BTreeMap<String, String> = BTreeMap::new(); // encounter -> last note
    let liar = if control.forged_acks { Some(1 + rng.below(n as u64) as usize) } else { None };

    for round in 0..rounds {
        // Offline work: log, amend, edit the shared profile concurrently.
        for (i, d) in devs.iter_mut().enumerate() {
            for k in 0..rng.below(4) {
                let r = rng.below(10);
                if r < 5 || d.mine.is_empty() && r < 7 {
                    let mut input = EncounterInput::new(ZONES[i % 2]);
                    let note = format!("TEST s{seed} {} r{round} n{k}", d.name);
                    input.note = Some(note.clone());
                    if rng.below(3) == 0 {
                        input.person = Some(person.clone());
                    }
                    let e = ok(d.s().log_encounter(input), "log")?;
                    d.mine.push(e.id.clone());
                    expected.insert(e.id, note);
                    stats.encounters += 1;
                } else if r < 7 {
                    let id = d.mine[rng.below(d.mine.len() as u64) as usize].clone();
                    let mut input = ok(d.s().get_encounter(&id), "get own encounter")?.input;
                    let note = format!("TEST s{seed} amended by {} r{round} n{k}", d.name);
                    input.note = Some(note.clone());
                    ok(d.s().amend_encounter(&id, input), "amend")?;
                    expected.insert(id, note);
                } else {
                    // Same profile, same fields, on several devices between syncs.
                    let mut p = ok(d.s().person_for_edit(&person), "person for edit")?.input;
                    if rng.below(2) == 0 {
                        p.code_name = format!("Testy {} r{round} n{k}", d.name);
                    } else {
                        p.note = Some(format!("TEST note by {} r{round} n{k}", d.name));
                    }
                    ok(d.s().edit_person(&person, p), "edit person")?;
                    stats.person_edits += 1;
                }
            }
        }
        // Syncs in a random order through the faulty network, some retried at once.
        let mut order: Vec<usize> = (0..devs.len()).collect();
        rng.shuffle(&mut order);
        for i in order {
            if rng.below(5) == 0 {
                continue; // this one stays offline this round
            }
            for _attempt in 0..1 + rng.below(2) {
                let kill = if rng.below(100) < 20 {
                    Some(KillPlan {
                        at: rng.below(5) as usize,
                        after_delivery: rng.below(2) == 0,
                        store_dir: devs[i].dir.clone(),
                        snapshot: dir.join(format!("crash-{i}")),
                    })
                } else {
                    None
                };
                let mut link = Faulty::new(&net, rng.next_u64(), rate, kill.clone());
                link.lie_about_pushes = liar == Some(i) && round == 0;
                stats.syncs += 1;
                let r = sync(devs[i].s(), &link);
                match &r {
                    Ok(_) => {}
                    Err(e) if expected_failure(e) => stats.failed_syncs += 1,
                    Err(e) => return Err(format!("{}: unexpected sync error {e:?}", devs[i].name)),
                }
                if link.killed() {
                    // The process died at that request: drop the store without any further
                    // work and reopen the disk image it left.
                    let plan = kill.expect("killed with a plan");
                    stats.kills += 1;
                    drop(devs[i].store.take());
                    std::fs::remove_dir_all(&devs[i].dir).map_err(|e| e.to_string())?;
                    std::fs::rename(&plan.snapshot, &devs[i].dir).map_err(|e| e.to_string())?;
                    devs[i].store = Some(open_store(&devs[i].dir, &devs[i].key)?);
                    let d = &mut devs[i];
                    for id in d.mine.clone() {
                        check!(d.s().get_encounter(&id).is_ok(), "{}: encounter {id} lost in the crash", d.name);
                    }
                }
            }
            if rng.below(5) == 0 {
                let k = 1 + rng.below(3) as usize;
                net.flush_delayed(&mut rng, k);
            }
        }
    }
    // Whatever is still in flight arrives late, and old pushes are replayed once more.
    let left = net.in_flight();
    net.flush_delayed(&mut rng, left);
    for _ in 0..2 {
        if let Some(status) = net.replay_old_push(&mut rng) {
            check!(status == 409 || status == 401, "a replayed push was answered {status}");
        }
    }
    stats.faults = net.counts.borrow().clone();

    let t_rounds = std::time::Instant::now();
    // Good network: two clean passes bring everyone up to date.
    for pass in 0..2 {
        for d in devs.iter_mut() {
            let r = ok(sync(d.s(), &hub), &format!("{}: clean sync pass {pass}", d.name))?;
            check!(ok(d.s().outbox_len(), "outbox")? == 0, "{}: outbox not empty after a clean sync: {r:?}", d.name);
        }
    }

    // Convergence and zero loss.
    let reference = ok(devs[0].s().projection_fingerprint(), "fingerprint")?;
    for d in devs.iter_mut() {
        let st = ok(d.s().sync_status(), "status")?;
        check!(st.waiting_for_keys == 0, "{}: chunks still waiting for keys", d.name);
        for (id, note) in &expected {
            let e = d.s().get_encounter(id).map_err(|e| format!("{}: encounter {id} missing: {e:?}", d.name))?;
            check!(e.input.note.as_deref() == Some(note.as_str()), "{}: encounter {id} lost an amendment", d.name);
        }
        let (_, encounters, _, _) = ok(d.s().counts(), "counts")?;
        check!(encounters as usize == expected.len(), "{}: {encounters} encounters, {} logged", d.name, expected.len());
        check!(ok(d.s().projection_fingerprint(), "fingerprint")? == reference, "{}: projections differ from the lead's", d.name);
    }
    if std::env::var("OUTREACH_FAULT_TIMING").is_ok() {
        eprintln!("timing: setup {:?} rounds {:?} final {:?}", t_setup - t0, t_rounds - t_setup, t_rounds.elapsed());
    }
    Ok(stats)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

/// Where schedules keep their files: tmpfs when there is one (fsync-free and fast).
fn scratch(tag: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() && std::fs::metadata(shm).map(|m| !m.permissions().readonly()).unwrap_or(false) {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let d = base.join(format!("outreach-faults-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn seeded_fault_schedules_converge_without_loss() {
    let root = scratch("run");
    let (seeds, label): (Vec<u64>, String) = match env_u64("OUTREACH_FAULT_SEED") {
        Some(s) => (vec![s], format!("seed {s} only")),
        None => {
            let n = env_u64("OUTREACH_FAULT_SCHEDULES").unwrap_or(DEFAULT_SCHEDULES);
            ((0..n).collect(), format!("{n} schedules (seeds 0..{n})"))
        }
    };
    let threads = env_u64("OUTREACH_FAULT_THREADS")
        .map(|t| t as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
        .clamp(1, 16);
    eprintln!("sync_faults: {label} on {threads} threads (OUTREACH_FAULT_SCHEDULES / OUTREACH_FAULT_SEED)");
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let total = Mutex::new(Stats::default());
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(vec![]);
    let done = AtomicU64::new(0);
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                let template = build_template(&root.join(format!("template-{:?}", std::thread::current().id()))).expect("build the team template");
                loop {
                let k = next.fetch_add(1, Ordering::SeqCst) as usize;
                let Some(&seed) = seeds.get(k) else { break };
                match run_schedule(seed, &root, Control::default(), &template) {
                    Ok(s) => total.lock().unwrap().add(&s),
                    Err(msg) => {
                        eprintln!("FAILED schedule seed={seed}: {msg}\n  rerun: OUTREACH_FAULT_SEED={seed} cargo test -p outreach-tests --test sync_faults -- --nocapture");
                        failures.lock().unwrap().push((seed, msg));
                    }
                }
                let d = done.fetch_add(1, Ordering::SeqCst) + 1;
                if d % 1000 == 0 {
                    eprintln!("sync_faults: {d}/{} schedules, {:.0} s", seeds.len(), started.elapsed().as_secs_f64());
                }
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&root);
    let total = total.into_inner().unwrap();
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "sync_faults: {} schedules in {:.1} s; {} encounters, {} profile edits, {} syncs ({} failed as injected), {} clients killed",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        total.encounters,
        total.person_edits,
        total.syncs,
        total.failed_syncs,
        total.kills
    );
    eprintln!("sync_faults: faults injected: {:?}", total.faults);
    if !failures.is_empty() {
        let list: Vec<String> = failures.iter().take(20).map(|(s, m)| format!("seed {s}: {m}")).collect();
        panic!("{} of {} schedules failed (rerun one with OUTREACH_FAULT_SEED=<seed>):\n{}", failures.len(), seeds.len(), list.join("\n"));
    }
    if seeds.len() >= 100 {
        // A run of any size must have exercised every kind of fault.
        for kind in [
            "drop_request",
            "drop_response",
            "duplicate_request",
            "delay_request",
            "late_delivery",
            "truncate_request",
            "truncate_response",
            "delay_response",
            "delay_in_transit",
            "delay_past_window",
            "replayed_push",
            "kill_before_delivery",
            "kill_after_delivery",
        ] {
            assert!(total.faults.get(kind).copied().unwrap_or(0) > 0, "no {kind} was injected: {:?}", total.faults);
        }
    }
}

/// The checks can fail: a link that "acknowledges" one device's pushes without delivering them
/// (a hub losing data) makes that device delete its outbox, and the schedule must report the
/// encounters missing on the other stores.
#[test]
fn the_checks_catch_a_push_that_was_acknowledged_but_lost() {
    let root = scratch("control");
    let template = build_template(&root.join("template")).unwrap();
    let mut caught = 0;
    let mut tried = 0;
    for seed in 0..20u64 {
        tried += 1;
        match run_schedule(seed, &root, Control { forged_acks: true }, &template) {
            Ok(s) if s.faults.get("forged_push_ack").copied().unwrap_or(0) == 0 => tried -= 1, // the liar never pushed
            Ok(_) => {}
            Err(msg) => {
                assert!(msg.contains("missing") || msg.contains("encounters,") || msg.contains("differ") || msg.contains("waiting"), "{msg}");
                caught += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    eprintln!("control: {caught} of {tried} lying schedules caught");
    assert!(tried > 0, "the control never forged an acknowledgement");
    assert_eq!(caught, tried, "every forged acknowledgement must be caught");
}
