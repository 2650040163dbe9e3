//! Person merges (edges, never rewrites), chains, cycles, unmerge, and duplicate suggestions.
//! All names are obviously fake test names.

use outreach_core::*;
use std::path::Path;

fn new_store(dir: &Path) -> (Store, StoreKey) {
    let key = StoreKey::generate();
    let s = Store::create(
        dir,
        Unlock::Key(key.clone()),
        TeamSetup::new("Test Team", &["test-zone-a", "test-zone-b", "test-zone-c"]),
        &StoreOptions::default(),
    )
    .unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    (s, key)
}

fn person(s: &mut Store, name: &str, age: AgeBand) -> String {
    let mut p = PersonInput::new(name);
    p.age_band = age;
    s.add_person(p).unwrap().id
}

fn seen_in(s: &mut Store, person: &str, zone: &str) {
    let mut e = EncounterInput::new(zone);
    e.person = Some(person.to_string());
    s.log_encounter(e).unwrap();
}

#[test]
fn merge_is_an_audited_edge_and_unmerge_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, key) = new_store(dir.path());
    s.set_user("test-lead").unwrap();
    let a = person(&mut s, "TEST Moonbeam", AgeBand::A25);
    let b = person(&mut s, "TEST Moonbeem", AgeBand::A25);
    let outbox = s.outbox_len().unwrap();
    assert_eq!(s.merge_people(&a, &b).unwrap(), b);
    assert_eq!(
        s.outbox_len().unwrap(),
        outbox + 1,
        "a merge is one synced change"
    );
    assert_eq!(s.canonical_person(&a).unwrap(), b);
    assert_eq!(s.canonical_person(&b).unwrap(), b);
    // The profile itself is untouched apart from the edge.
    let pa = s.view_person(&a).unwrap();
    assert_eq!(pa.merged_into.as_deref(), Some(b.as_str()));
    assert_eq!(pa.input.code_name, "TEST Moonbeam");
    let log = s.audit_log(20).unwrap();
    assert!(log.iter().any(|e| e.action == "person.merge"
        && e.entity_id.as_deref() == Some(a.as_str())
        && e.actor == "test-lead"));
    assert!(log
        .iter()
        .any(|e| e.action == "person.merge_target" && e.entity_id.as_deref() == Some(b.as_str())));
    // Projections rebuilt from the documents alone agree.
    let fp = s.projection_fingerprint().unwrap();
    s.rebuild_projections().unwrap();
    assert_eq!(fp, s.projection_fingerprint().unwrap());
    // Editing the merged profile keeps the edge.
    let mut edit = pa.input.clone();
    edit.note = Some("test note".into());
    assert_eq!(
        s.edit_person(&a, edit).unwrap().merged_into.as_deref(),
        Some(b.as_str())
    );
    // Survives reopening.
    drop(s);
    let mut s = Store::open(dir.path(), Unlock::Key(key)).unwrap();
    assert_eq!(s.canonical_person(&a).unwrap(), b);
    s.unmerge_person(&a).unwrap();
    assert_eq!(s.canonical_person(&a).unwrap(), a);
    assert_eq!(s.view_person(&a).unwrap().merged_into, None);
    assert!(s
        .audit_log(5)
        .unwrap()
        .iter()
        .any(|e| e.action == "person.unmerge"));
    let fp = s.projection_fingerprint().unwrap();
    s.rebuild_projections().unwrap();
    assert_eq!(fp, s.projection_fingerprint().unwrap());
}

#[test]
fn chains_resolve_and_cycles_and_self_merges_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = new_store(dir.path());
    let a = person(&mut s, "TEST Alpha", AgeBand::Unknown);
    let b = person(&mut s, "TEST Bravo", AgeBand::Unknown);
    let c = person(&mut s, "TEST Charlie", AgeBand::Unknown);
    let d = person(&mut s, "TEST Delta", AgeBand::Unknown);
    s.merge_people(&a, &b).unwrap();
    assert_eq!(s.merge_people(&b, &c).unwrap(), c);
    assert_eq!(
        s.canonical_person(&a).unwrap(),
        c,
        "A -> B -> C resolves to C"
    );

    let before = (s.projection_fingerprint().unwrap(), s.outbox_len().unwrap());
    assert!(matches!(s.merge_people(&a, &a), Err(MergeError::SelfMerge)));
    match s.merge_people(&c, &a) {
        Err(MergeError::Cycle { path }) => assert_eq!(path, vec![a.clone(), b.clone(), c.clone()]),
        other => panic!("expected a cycle error, got {other:?}"),
    }
    assert!(matches!(
        s.merge_people(&c, &b),
        Err(MergeError::Cycle { .. })
    ));
    match s.merge_people(&a, &d) {
        Err(MergeError::AlreadyMerged { id, into }) => {
            assert_eq!((id, into), (a.clone(), b.clone()))
        }
        other => panic!("expected already merged, got {other:?}"),
    }
    assert!(matches!(
        s.unmerge_person(&d),
        Err(MergeError::NotMerged(_))
    ));
    assert!(matches!(
        s.merge_people(&d, "01234567-89ab-7def-8123-456789abcdef"),
        Err(MergeError::Store(Error::NotFound { .. }))
    ));
    assert!(matches!(
        s.merge_people("not-an-id", &d),
        Err(MergeError::Store(Error::Invalid { .. }))
    ));
    assert_eq!(
        before,
        (s.projection_fingerprint().unwrap(), s.outbox_len().unwrap()),
        "refusals write nothing"
    );
    // The typed error converts into the crate error for callers that use `?` on Error.
    let e: Error = MergeError::SelfMerge.into();
    assert!(matches!(e, Error::Invalid { .. }));

    // Unmerging the middle of a chain splits it.
    s.unmerge_person(&b).unwrap();
    assert_eq!(s.canonical_person(&a).unwrap(), b);
    assert_eq!(s.canonical_person(&c).unwrap(), c);
    // Merging into a merged profile follows its chain.
    s.merge_people(&d, &a).unwrap();
    assert_eq!(s.canonical_person(&d).unwrap(), b);
    assert!(s.merge_cycles().unwrap().is_empty());
}

#[test]
fn cycles_made_by_two_offline_devices_resolve_the_same_everywhere() {
    // Two devices can each merge one way while offline; after sync the edges form a cycle.
    // Every member resolves to the smallest id, whatever the starting point.
    let ids = ["p-3".to_string(), "p-1".to_string(), "p-2".to_string()];
    let m = MergeMap::from_edges([
        (ids[0].clone(), ids[1].clone()),
        (ids[1].clone(), ids[2].clone()),
        (ids[2].clone(), ids[0].clone()),
        ("p-9".to_string(), ids[0].clone()),
    ]);
    for id in ids.iter().chain(std::iter::once(&"p-9".to_string())) {
        assert_eq!(m.canonical(id), "p-1");
    }
    assert_eq!(m.canonical("p-unknown"), "p-unknown");
}

#[test]
fn duplicate_suggestions_are_scored_and_skip_merged_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = new_store(dir.path());
    s.start_shift(ShiftStart {
        van: "Test Van".into(),
        crew: vec!["staff-test".into()],
        zones: vec!["test-zone-a".into()],
        at: None,
    })
    .unwrap();
    let a = person(&mut s, "Fakey Moonbeam", AgeBand::A25);
    let b = person(&mut s, "fakey moonbem", AgeBand::A25);
    let c = person(&mut s, "Fakey Moonbeam", AgeBand::A45); // same name, different known age band
    let d = person(&mut s, "Fakey Moonbeam", AgeBand::Unknown); // age unknown: allowed, lower score
    let e = person(&mut s, "Testy Quokka", AgeBand::A25); // different name
    seen_in(&mut s, &a, "test-zone-a");
    seen_in(&mut s, &b, "test-zone-a");
    seen_in(&mut s, &d, "test-zone-c");
    seen_in(&mut s, &e, "test-zone-a");

    let sugg = s.duplicate_suggestions(10).unwrap();
    let pair = |x: &str, y: &str| {
        sugg.iter()
            .position(|g| (g.a == x && g.b == y) || (g.a == y && g.b == x))
    };
    let ab = pair(&a, &b).expect("similar names, same band, same zone");
    assert_eq!(ab, 0, "best suggestion first: {sugg:#?}");
    assert_eq!(sugg[0].shared_zones, vec!["test-zone-a".to_string()]);
    assert!(sugg[0].score > 0.9);
    assert!(
        pair(&a, &c).is_none(),
        "different known age bands are not suggested"
    );
    assert!(
        pair(&a, &e).is_none() && pair(&b, &e).is_none(),
        "dissimilar names are not suggested"
    );
    let ad = pair(&a, &d).expect("unknown age band is compatible");
    assert!(sugg[ad].score < sugg[ab].score);
    assert!(sugg.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(s.duplicate_suggestions(1).unwrap().len(), 1);

    // After merging a into b, the pair is gone, and b speaks for a (zones included).
    s.merge_people(&a, &b).unwrap();
    let sugg = s.duplicate_suggestions(10).unwrap();
    assert!(
        sugg.iter().all(|g| g.a != a && g.b != a),
        "merged profiles are represented by their canonical one"
    );
    assert!(!sugg
        .iter()
        .any(|g| (g.a == b && g.b == a) || (g.a == a && g.b == b)));
    assert!(sugg
        .iter()
        .any(|g| (g.a == b && g.b == d) || (g.a == d && g.b == b)));
}
