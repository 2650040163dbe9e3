//! Sync benchmark (a bench binary that prints a table; `cargo bench -p outreach-tests --bench sync`).
//!
//! Every figure stands next to a baseline measured in the same process at the same time:
//!
//! (a) Pushing one new encounter from a device in steady state (shift document and its key
//!     already on the hub): requests and request+response body bytes through a counting
//!     transport, for the push alone and for the whole `sync()` (push, then the pull that
//!     follows). Baseline: the size of the automerge change itself (the plaintext inside the
//!     sealed chunk).
//! (b) The morning merge: 10 device-shifts of 300 encounters and 50 person-profile edits each,
//!     pulled and merged into the lead's store (timed `sync()`). Baseline: the same changes
//!     (decrypted from the hub's log) loaded into plain `automerge::Automerge` documents.
//!
//! The hub is the real router over SQLite, called in-process (no socket). Environment:
//! `BENCH_DEVICES` (default 10), `BENCH_ENCOUNTERS` (300), `BENCH_EDITS` (50), `BENCH_REPS` (3).
//! All data is obviously fake.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use automerge::Automerge;
use outreach_core::sync::{CancelToken, Role};
use outreach_core::*;
use outreach_hub::storage::AuthStamp;
use outreach_proto::auth::SignedRequest;
use outreach_proto::ids::{DeviceId, KeyId, TeamId};
use outreach_proto::keys::{DevicePublicKeys, DocKey};
use outreach_proto::messages::{PullEntry, PushRequest};
use outreach_tests::hubsim::{copy_dir, Counting, InProcHub, HUB_URL, SETUP_CODE};

const ZONES: &[&str] = &["north-beat", "south-beat", "station"];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn no_progress(_: SyncProgress) {}

fn sync(s: &mut Store, t: &dyn Transport) -> SyncReport {
    s.sync(t, &no_progress, &CancelToken::new()).expect("sync")
}

fn encounter(i: usize, person: Option<&str>) -> EncounterInput {
    let mut e = EncounterInput::new(ZONES[i % 2]);
    e.services.insert(Service::Condoms, 10);
    e.services.insert(Service::Lube, 5);
    e.services.insert(Service::HotDrink, 1);
    if i % 3 == 0 {
        e.referrals.push(Referral {
            destination: ReferralDestination::SexualHealth,
            mode: ReferralMode::Signposted,
            consent: true,
            status: ReferralStatus::Offered,
        });
    }
    e.consent.record = true;
    e.person = person.map(String::from);
    e.note = Some(format!("fake bench note number {i}, asked about clinic times"));
    e
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn enrol(lead: &mut Store, hub: &InProcHub, dir: &Path, name: &str, opts: &StoreOptions) -> Store {
    let code = lead.create_invite(hub, Role::Member, 3_600_000).unwrap();
    let s = Store::create_from_invite(dir, Unlock::Key(StoreKey::generate()), &code, name, hub, opts).unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    s
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let hub = InProcHub::sqlite(&root.join("hub.db"));
    let opts = StoreOptions::default();
    let lead_key = StoreKey::generate();
    let lead_dir = root.join("lead");
    let mut lead = Store::create(&lead_dir, Unlock::Key(lead_key.clone()), TeamSetup::new("Bench Team", ZONES), &opts).unwrap();
    lead.set_durability(Durability::CrashSafe).unwrap();
    lead.register_team(&hub, HUB_URL, SETUP_CODE, "BENCH lead phone").unwrap();
    let mut people = vec![];
    for i in 0..10 {
        let mut p = PersonInput::new(&format!("Fakey Bench {i}"));
        p.note = Some("fake profile for the bench".into());
        people.push(lead.add_person(p).unwrap().id);
    }
    sync(&mut lead, &hub);

    // ---- (a) one new encounter -------------------------------------------------------------
    let mut member = enrol(&mut lead, &hub, &root.join("member"), "BENCH van phone", &opts);
    sync(&mut member, &hub);
    member
        .start_shift(ShiftStart { van: "Bench Van".into(), crew: vec!["staff-bench".into()], zones: vec![ZONES[0].into()], at: None })
        .unwrap();
    member.log_encounter(encounter(0, None)).unwrap();
    sync(&mut member, &hub); // the shift document and its key are on the hub now
    let counting = Counting::new(&hub);
    let (mut push_bytes, mut push_reqs, mut sync_bytes, mut sync_reqs, mut change_bytes) = (vec![], vec![], vec![], vec![], vec![]);
    let mut audit_bytes = vec![];
    // Every sync also carries this device's new audit entries: one change of its own audit
    // document (the signed, hash-chained log), pushed beside the encounter's change.
    let audit_doc = outreach_core::audit::doc_id_for(member.device_id());
    for i in 1..=21 {
        member.log_encounter(encounter(i, if i % 2 == 0 { Some(&people[i % 10]) } else { None })).unwrap();
        counting.reset();
        let r = sync(&mut member, &counting);
        assert_eq!(r.pushed_chunks, 2, "the encounter's change and this sync's audit-document change");
        let log = counting.log.borrow();
        let pushes: Vec<_> = log.iter().filter(|(p, _, _)| p == "/v1/push").collect();
        push_reqs.push(pushes.len() as f64);
        push_bytes.push(pushes.iter().map(|(_, a, b)| (a + b) as f64).sum());
        sync_reqs.push(log.len() as f64);
        sync_bytes.push((counting.sent.get() + counting.received.get()) as f64);
        let body = counting.last_body.borrow().get("/v1/push").cloned().unwrap();
        let push: PushRequest = SignedRequest::from_json(&body).unwrap().payload().unwrap();
        // XChaCha20-Poly1305 adds a 16-byte tag: the rest is the automerge change.
        let (audit, record): (Vec<_>, Vec<_>) = push.chunks.iter().partition(|c| c.doc_id.to_hex() == audit_doc);
        assert_eq!((audit.len(), record.len()), (1, 1));
        change_bytes.push(record.iter().map(|c| c.ciphertext.len() - 16).sum::<usize>() as f64);
        audit_bytes.push(audit.iter().map(|c| c.ciphertext.len() - 16).sum::<usize>() as f64);
    }
    let (pb, pr, sb, sr, cb) =
        (median(&mut push_bytes), median(&mut push_reqs), median(&mut sync_bytes), median(&mut sync_reqs), median(&mut change_bytes));
    let ab = median(&mut audit_bytes);

    // ---- (b) the morning merge -------------------------------------------------------------
    let n_dev = env("BENCH_DEVICES", 10);
    let n_enc = env("BENCH_ENCOUNTERS", 300);
    let n_edit = env("BENCH_EDITS", 50);
    let reps = env("BENCH_REPS", 3).max(1);
    // A plaintext (test-only) member that pulls everything: its unwrapped document keys let the
    // bench decrypt the hub's log for the bare-automerge baseline.
    let mirror_dir = root.join("mirror");
    let mut mirror = enrol(&mut lead, &hub, &mirror_dir, "BENCH mirror", &StoreOptions { insecure_plaintext: true, ..Default::default() });
    let mut devices = vec![];
    for d in 0..n_dev {
        let mut s = enrol(&mut lead, &hub, &root.join(format!("dev{d}")), &format!("BENCH van phone {d}"), &opts);
        sync(&mut s, &hub);
        devices.push(s);
    }
    sync(&mut lead, &hub);
    let before = Instant::now();
    for (d, s) in devices.iter_mut().enumerate() {
        s.start_shift(ShiftStart { van: format!("Bench Van {d}"), crew: vec![format!("staff-bench-{d}")], zones: vec![ZONES[d % 3].into()], at: None })
            .unwrap();
        for i in 0..n_enc {
            s.log_encounter(encounter(i, if i % 4 == 0 { Some(&people[(i + d) % 10]) } else { None })).unwrap();
        }
        for j in 0..n_edit {
            let id = &people[(j + d) % 10];
            let mut p = s.person_for_edit(id).unwrap().input;
            p.note = Some(format!("fake note by device {d}, edit {j}"));
            if j % 5 == 0 {
                p.code_name = format!("Fakey Bench {} d{d} e{j}", (j + d) % 10);
            }
            s.edit_person(id, p).unwrap();
        }
        s.end_shift().unwrap();
        sync(s, &hub);
    }
    let produce = before.elapsed();
    let pre_cursor = lead.sync_status().unwrap().cursor;
    // The lead merges the night `reps` times, each from a copy of its store as it was before.
    drop(lead);
    let mut merge_ms = vec![];
    let mut report = SyncReport::default();
    let mut fingerprint = String::new();
    for k in 0..reps {
        let dir = root.join(format!("lead-merge-{k}"));
        copy_dir(&lead_dir, &dir).unwrap();
        let mut l = Store::open(&dir, Unlock::Key(lead_key.clone())).unwrap();
        l.set_durability(Durability::CrashSafe).unwrap();
        let t = Instant::now();
        report = sync(&mut l, &hub);
        merge_ms.push(ms(t.elapsed()));
        let (_, encounters, _, _) = l.counts().unwrap();
        assert!(encounters as usize >= n_dev * n_enc, "the lead holds the night: {encounters}");
        fingerprint = l.projection_fingerprint().unwrap();
    }
    // Everyone converges (checks the merge did the whole job).
    sync(&mut mirror, &hub);
    assert_eq!(mirror.projection_fingerprint().unwrap(), fingerprint, "mirror and lead agree");

    // Baseline: decrypt the hub's log with the mirror's keys, then load the same changes into
    // plain automerge documents (the state before the cursor untimed, the night timed).
    let status = mirror.sync_status().unwrap();
    drop(mirror);
    let keys: HashMap<String, [u8; 32]> = {
        let c = rusqlite::Connection::open(mirror_dir.join("outreach.db")).unwrap();
        let mut st = c.prepare("SELECT key_id, key FROM doc_keys").unwrap();
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))).unwrap();
        rows.map(|r| r.unwrap()).map(|(k, v)| (k, v.try_into().unwrap())).collect()
    };
    let team: TeamId = status.team_id.parse().unwrap();
    let me: DeviceId = status.device_id.parse().unwrap();
    let stamp = || {
        let now = chrono::Utc::now().timestamp_millis();
        AuthStamp { team_id: team, device_id: me, nonce: rand::random(), ts_ms: now, now_ms: now }
    };
    let (_, devs) = hub.rt.block_on(hub.store.devices(stamp())).unwrap();
    let authors: HashMap<DeviceId, DevicePublicKeys> = devs.into_iter().map(|d| (d.device_id, d.keys)).collect();
    let mut items: Vec<(u64, String, Vec<u8>)> = vec![];
    let mut cursor = 0;
    loop {
        let page = hub.rt.block_on(hub.store.pull(stamp(), cursor, 1000)).unwrap();
        for it in &page.items {
            if let PullEntry::Chunk { chunk, .. } = &it.entry {
                let key = DocKey::from_bytes(keys[&KeyId::to_hex(&chunk.key_id)]);
                let plain = outreach_proto::seal::open_chunk(chunk, &key, &authors[&chunk.author]).unwrap();
                items.push((it.seq, chunk.doc_id.to_hex(), plain.to_vec()));
            }
        }
        cursor = page.next_cursor;
        if !page.more {
            break;
        }
    }
    let mut base_docs: HashMap<String, Automerge> = HashMap::new();
    for (_, doc, plain) in items.iter().filter(|i| i.0 <= pre_cursor) {
        base_docs.entry(doc.clone()).or_default().load_incremental(plain).unwrap();
    }
    let night: Vec<&(u64, String, Vec<u8>)> = items.iter().filter(|i| i.0 > pre_cursor).collect();
    let night_bytes: usize = night.iter().map(|i| i.2.len()).sum();
    let mut bare_ms = vec![];
    for _ in 0..reps {
        let mut docs = base_docs.clone();
        let t = Instant::now();
        for (_, doc, plain) in &night {
            docs.entry(doc.clone()).or_default().load_incremental(plain).unwrap();
        }
        bare_ms.push(ms(t.elapsed()));
        assert!(docs.values().all(|d| automerge::ReadDoc::get_missing_deps(d, &[]).is_empty()));
    }
    let (merge, bare) = (median(&mut merge_ms), median(&mut bare_ms));

    println!();
    println!("## Sync (cargo bench -p outreach-tests --bench sync)");
    println!();
    println!("| measure | outreach | baseline (same process) | ratio | goal |");
    println!("|---|---|---|---|---|");
    println!(
        "| push one new encounter: bytes on the wire (push request + response) | {pb:.0} B | automerge change {cb:.0} B | {:.1}× | ≤ 1.5 KB |",
        pb / cb
    );
    println!("| of which the audit-document change pushed in the same request (plaintext bytes) | {ab:.0} B | – | – | – |");
    println!("| push one new encounter: round trips (push only) | {pr:.0} | – | – | ≤ 2 |");
    println!(
        "| whole `sync()` after one new encounter (push + pull): bytes | {sb:.0} B | automerge change {cb:.0} B | {:.1}× | – |",
        sb / cb
    );
    println!("| whole `sync()` after one new encounter: round trips | {sr:.0} | – | – | ≤ 2 |");
    println!(
        "| morning merge: {n_dev} device-shifts × {n_enc} encounters + {n_edit} profile edits, pulled into the lead (median of {reps}) | {merge:.0} ms | bare automerge load of the same {} changes {bare:.0} ms | {:.1}× | ≤ 1 s, ≤ 3× |",
        night.len(),
        merge / bare.max(0.001)
    );
    println!();
    println!(
        "merge: {} pages, {} chunks ({} KB sealed) applied, {} documents re-projected; night's changes {} KB in plaintext; \
         producing the night on the devices took {:.1} s; merge runs {:?} ms, bare runs {:?} ms",
        report.pages,
        report.pulled_chunks,
        report.pulled_bytes / 1024,
        report.docs_updated,
        night_bytes / 1024,
        produce.as_secs_f64(),
        merge_ms.iter().map(|v| v.round() as u64).collect::<Vec<_>>(),
        bare_ms.iter().map(|v| v.round() as u64).collect::<Vec<_>>()
    );
}
