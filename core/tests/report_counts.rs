//! The report's figures equal an independent recount of generated data with known counts.
//!
//! Data is seeded and obviously fake (TEST- names, test zones). The expected figures are
//! computed here from what the generator logged, never read back from the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use outreach_core::report::{Cell, Pos, Report, SuppressedTable};
use outreach_core::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ZONES: [&str; 4] = [
    "test-zone-a",
    "test-zone-b",
    "test-zone-c",
    "test-zone-never",
];

struct GenEnc {
    night: NaiveDate,
    zone: String,
    setting: Setting,
    person: Option<String>,
    services: BTreeMap<Service, u32>,
    referrals: Vec<Referral>,
}

struct GenInc {
    night: NaiveDate,
    kind: IncidentType,
    police: ShareConsent,
    national: ShareConsent,
    reported: bool,
    shared_police: bool,
    shared_national: bool,
}

#[derive(Default)]
struct Gen {
    encounters: Vec<GenEnc>,
    concerns: Vec<(NaiveDate, ConcernCategory)>,
    incidents: Vec<GenInc>,
}

fn at(night: NaiveDate, minutes: i64) -> DateTime<Utc> {
    night.and_hms_opt(20, 0, 0).unwrap().and_utc() + Duration::minutes(minutes)
}

fn pick<T: Copy>(rng: &mut StdRng, xs: &[T]) -> T {
    xs[rng.gen_range(0..xs.len())]
}

/// Logs one night (one backdated shift) and records what was logged.
fn night(
    s: &mut Store,
    g: &mut Gen,
    rng: &mut StdRng,
    n: NaiveDate,
    people: &[String],
    forced: &[String],
    random: usize,
) {
    s.start_shift(ShiftStart {
        van: "Test Van".into(),
        crew: vec!["staff-test".into()],
        zones: vec![ZONES[0].into()],
        at: Some(at(n, 0)),
    })
    .unwrap();
    let mut who: Vec<Option<String>> = forced.iter().cloned().map(Some).collect();
    for _ in 0..random {
        who.push(if people.is_empty() || rng.gen_bool(0.35) {
            None
        } else {
            Some(people[rng.gen_range(0..people.len())].clone())
        });
    }
    for (k, person) in who.into_iter().enumerate() {
        let mut e = EncounterInput::new(pick(rng, &ZONES[..3]));
        e.at = Some(at(n, 5 * k as i64 + 1));
        e.setting = pick(
            rng,
            &[
                Setting::Street,
                Setting::Indoor,
                Setting::Online,
                Setting::Street,
            ],
        );
        e.person = person;
        for svc in [
            Service::Condoms,
            Service::Lube,
            Service::NeedlesOut,
            Service::HotDrink,
            Service::Advice,
        ] {
            if rng.gen_bool(0.4) {
                e.services.insert(svc, rng.gen_range(1..30));
            }
        }
        for _ in 0..rng.gen_range(0..3) {
            e.referrals.push(Referral {
                destination: pick(
                    rng,
                    &[
                        ReferralDestination::SexualHealth,
                        ReferralDestination::Housing,
                        ReferralDestination::Isva,
                    ],
                ),
                mode: ReferralMode::Signposted,
                consent: true,
                status: pick(
                    rng,
                    &[
                        ReferralStatus::Offered,
                        ReferralStatus::Made,
                        ReferralStatus::Attended,
                    ],
                ),
            });
        }
        let logged = s.log_encounter(e.clone()).unwrap();
        g.encounters.push(GenEnc {
            night: n,
            zone: logged.input.zone,
            setting: e.setting,
            person: e.person,
            services: e.services,
            referrals: e.referrals,
        });
    }
    for _ in 0..rng.gen_range(0..3) {
        let cat = pick(
            rng,
            &[
                ConcernCategory::AdultAtRisk,
                ConcernCategory::DomesticAbuse,
                ConcernCategory::Exploitation,
            ],
        );
        s.record_concern(ConcernInput {
            category: cat,
            indicators: vec![],
            encounter: None,
            person: None,
            consent: Consent::NotAsked,
            action: "test action".into(),
            shared_without_consent: false,
            legal_basis: None,
        })
        .unwrap();
        g.concerns.push((n, cat));
    }
    for _ in 0..rng.gen_range(0..3) {
        let kind = pick(
            rng,
            &[
                IncidentType::PhysicalAssault,
                IncidentType::Robbery,
                IncidentType::NonPayment,
            ],
        );
        let police = pick(rng, ShareConsent::ALL);
        let national = pick(rng, ShareConsent::ALL);
        let reported = rng.gen_bool(0.3);
        let id = s.record_incident(IncidentInput {
            when: at(n, 60),
            place: ZONES[1].into(),
            kind,
            injuries: None,
            perpetrator: None,
            police_reported: reported,
            crime_reference: None,
            share_police: police,
            share_national: national,
            support: None,
            person: None,
            encounter: None,
        })
        .unwrap()
        .id;
        // Actual shares, logged as disclosures: with consent, or (this store is a lead) without
        // consent on a lawful basis; some incidents stay unshared; a second share with the same
        // recipient must not count twice.
        let mut share = |who: ShareRecipient, consent: ShareConsent| -> bool {
            if !rng.gen_bool(0.5) {
                return false;
            }
            let basis = (consent == ShareConsent::None).then_some(LegalBasis::CrimePrevention);
            s.share_incident(&id, who, basis).unwrap();
            if rng.gen_bool(0.2) {
                s.share_incident(&id, who, basis).unwrap();
            }
            true
        };
        let shared_police = share(ShareRecipient::Police, police);
        let shared_national = share(ShareRecipient::National, national);
        g.incidents.push(GenInc {
            night: n,
            kind,
            police,
            national,
            reported,
            shared_police,
            shared_national,
        });
    }
    s.end_shift().unwrap();
}

/// The expected value of every cell, keyed by (row label, column label).
type Expected = HashMap<(String, String), u64>;

fn bump(e: &mut Expected, r: &str, c: &str, n: u64) {
    *e.entry((r.to_string(), c.to_string())).or_default() += n;
}

/// Compares a table of an unsuppressed report with expected counts: every listed label, every
/// cell, every total.
fn assert_table(t: &SuppressedTable, rows: &[String], cols: &[String], exp: &Expected, what: &str) {
    assert_eq!(t.row_labels, rows, "{what}: rows");
    assert_eq!(t.col_labels, cols, "{what}: columns");
    let mut row_sum = vec![0u64; rows.len()];
    let mut col_sum = vec![0u64; cols.len()];
    for (i, r) in rows.iter().enumerate() {
        for (j, c) in cols.iter().enumerate() {
            let want = exp.get(&(r.clone(), c.clone())).copied().unwrap_or(0);
            assert_eq!(t.cells[i][j], Cell::Value(want), "{what}: cell {r} × {c}");
            row_sum[i] += want;
            col_sum[j] += want;
        }
    }
    if let Some(rt) = &t.row_totals {
        for (i, v) in row_sum.iter().enumerate() {
            assert_eq!(rt[i], Cell::Value(*v), "{what}: row total {}", rows[i]);
        }
    }
    if let Some(ct) = &t.col_totals {
        for (j, v) in col_sum.iter().enumerate() {
            assert_eq!(ct[j], Cell::Value(*v), "{what}: column total {}", cols[j]);
        }
    }
    if let Some(g) = t.grand_total {
        assert_eq!(g, Cell::Value(row_sum.iter().sum()), "{what}: grand total");
    }
}

fn strings<T: Copy>(all: &[T], f: impl Fn(&T) -> &'static str) -> Vec<String> {
    all.iter().map(|x| f(x).to_string()).collect()
}

fn canonical(edges: &HashMap<String, String>, id: &str) -> String {
    let mut cur = id.to_string();
    let mut hops = 0;
    while let Some(n) = edges.get(&cur) {
        cur = n.clone();
        hops += 1;
        assert!(hops < 100);
    }
    cur
}

/// The whole independent recount.
fn check_report(
    r: &Report,
    g: &Gen,
    from: NaiveDate,
    to: NaiveDate,
    edges: &HashMap<String, String>,
) {
    assert!(!r.anonymised);
    let in_range = |n: NaiveDate| n >= from && n <= to;
    let nights: Vec<String> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|d| d.to_string())
        .collect();
    let zones: Vec<String> = ZONES.iter().map(|z| z.to_string()).collect();
    let one = |c: &str| vec![c.to_string()];

    let (mut by_nz, mut by_setting, mut by_ident, mut services, mut referrals) = (
        Expected::new(),
        Expected::new(),
        Expected::new(),
        Expected::new(),
        Expected::new(),
    );
    for e in g.encounters.iter().filter(|e| in_range(e.night)) {
        bump(&mut by_nz, &e.night.to_string(), &e.zone, 1);
        bump(&mut by_setting, e.setting.as_str(), "contacts", 1);
        bump(
            &mut by_ident,
            if e.person.is_some() {
                "with_profile"
            } else {
                "anonymous"
            },
            "contacts",
            1,
        );
        for (svc, n) in &e.services {
            bump(&mut services, svc.as_str(), "items_given", *n as u64);
            bump(&mut services, svc.as_str(), "contacts", 1);
        }
        for rf in &e.referrals {
            bump(
                &mut referrals,
                rf.destination.as_str(),
                rf.status.as_str(),
                1,
            );
        }
    }
    let sec = |id: &str| {
        &r.section(id)
            .unwrap_or_else(|| panic!("section {id}"))
            .table
    };
    assert_table(
        sec("contacts_by_night_zone"),
        &nights,
        &zones,
        &by_nz,
        "contacts by night and zone",
    );
    assert_table(
        sec("contacts_by_setting"),
        &strings(Setting::ALL, Setting::as_str),
        &one("contacts"),
        &by_setting,
        "settings",
    );
    assert_table(
        sec("contacts_by_identification"),
        &["with_profile".into(), "anonymous".into()],
        &one("contacts"),
        &by_ident,
        "identification",
    );
    assert_table(
        sec("services"),
        &strings(Service::ALL, Service::as_str),
        &["items_given".into(), "contacts".into()],
        &services,
        "services",
    );
    assert_table(
        sec("referrals"),
        &strings(ReferralDestination::ALL, ReferralDestination::as_str),
        &strings(ReferralStatus::ALL, ReferralStatus::as_str),
        &referrals,
        "referrals",
    );

    // People: canonical ids from the test's own record of merges.
    let mut first_in: HashMap<String, NaiveDate> = HashMap::new();
    let mut last_before: HashMap<String, NaiveDate> = HashMap::new();
    for e in &g.encounters {
        let Some(p) = &e.person else { continue };
        let c = canonical(edges, p);
        if in_range(e.night) {
            let x = first_in.entry(c).or_insert(e.night);
            *x = (*x).min(e.night);
        } else if e.night < from {
            let x = last_before.entry(c).or_insert(e.night);
            *x = (*x).max(e.night);
        }
    }
    let mut people = Expected::new();
    for (c, first) in &first_in {
        let kind = match last_before.get(c) {
            None => "new",
            Some(prev) if (*first - *prev).num_days() >= 90 => "re_engaged",
            Some(_) => "returning",
        };
        bump(&mut people, kind, "people", 1);
    }
    assert_table(
        sec("people"),
        &["new".into(), "returning".into(), "re_engaged".into()],
        &one("people"),
        &people,
        "people",
    );
    assert_eq!(
        sec("people").col_totals.as_ref().unwrap()[0],
        Cell::Value(first_in.len() as u64),
        "unique people"
    );

    let mut concerns = Expected::new();
    for (n, c) in g.concerns.iter().filter(|(n, _)| in_range(*n)) {
        let _ = n;
        bump(&mut concerns, c.as_str(), "awaiting_review", 1);
    }
    assert_table(
        sec("concerns"),
        &strings(ConcernCategory::ALL, ConcernCategory::as_str),
        &["reviewed".into(), "awaiting_review".into()],
        &concerns,
        "concerns",
    );

    let (mut ip, mut inn, mut ir) = (Expected::new(), Expected::new(), Expected::new());
    let (mut sp, mut sn) = (Expected::new(), Expected::new());
    for i in g.incidents.iter().filter(|i| in_range(i.night)) {
        bump(
            &mut sp,
            i.kind.as_str(),
            if i.shared_police {
                "shared_with_police"
            } else {
                "not_shared"
            },
            1,
        );
        bump(
            &mut sn,
            i.kind.as_str(),
            if i.shared_national {
                "shared_with_national_scheme"
            } else {
                "not_shared"
            },
            1,
        );
        bump(&mut ip, i.kind.as_str(), i.police.as_str(), 1);
        bump(&mut inn, i.kind.as_str(), i.national.as_str(), 1);
        bump(
            &mut ir,
            i.kind.as_str(),
            if i.reported {
                "reported_to_police"
            } else {
                "not_reported"
            },
            1,
        );
    }
    let types = strings(IncidentType::ALL, IncidentType::as_str);
    let consents = strings(ShareConsent::ALL, ShareConsent::as_str);
    assert_table(
        sec("incidents_police_consent"),
        &types,
        &consents,
        &ip,
        "incidents × police consent",
    );
    assert_table(
        sec("incidents_national_consent"),
        &types,
        &consents,
        &inn,
        "incidents × national consent",
    );
    assert_table(
        sec("incidents_police_reported"),
        &types,
        &["reported_to_police".into(), "not_reported".into()],
        &ir,
        "incidents reported",
    );
    assert_table(
        sec("incidents_shared_police"),
        &types,
        &["shared_with_police".into(), "not_shared".into()],
        &sp,
        "incidents shared with the police",
    );
    assert_table(
        sec("incidents_shared_national"),
        &types,
        &["shared_with_national_scheme".into(), "not_shared".into()],
        &sn,
        "incidents shared with the national scheme",
    );
}

/// The anonymised report publishes exactly the true values it does not hide, hides only
/// non-zero values, and never publishes 1..=4.
fn check_anonymised(anon: &Report, raw: &Report) {
    assert!(anon.anonymised);
    assert_eq!(anon.sections.len(), raw.sections.len());
    for (a, r) in anon.sections.iter().zip(&raw.sections) {
        assert_eq!(a.id, r.id);
        for i in 0..=r.table.rows() {
            for j in 0..=r.table.cols() {
                let p = Pos::new(i, j);
                let (Some(ac), Some(Cell::Value(v))) = (a.table.get(p), r.table.get(p)) else {
                    continue;
                };
                match ac {
                    Cell::Value(x) => {
                        assert_eq!(x, v, "{} {p:?}", a.id);
                        assert!(x == 0 || x >= 5, "{} publishes {x}", a.id);
                    }
                    Cell::Suppressed => assert!(v > 0, "{} hides a zero", a.id),
                }
            }
        }
    }
}

#[test]
fn report_equals_an_independent_recount_including_merges() {
    let dir = tempfile::tempdir().unwrap();
    let key = StoreKey::generate();
    let mut s = Store::create(
        dir.path(),
        Unlock::Key(key),
        TeamSetup::new("Test Team", &ZONES),
        &StoreOptions::default(),
    )
    .unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    s.set_user("test-lead").unwrap();
    let mut rng = StdRng::seed_from_u64(0x7e57);
    let people: Vec<String> = (0..24)
        .map(|i| {
            s.add_person(PersonInput::new(format!("TEST-Person-{i:02}")))
                .unwrap()
                .id
        })
        .collect();
    let today = Utc::now().date_naive();
    let from = today - Duration::days(150);
    let to = from + Duration::days(13);
    let mut g = Gen::default();

    // History before the range: 0..6 last seen 120 days before (re-engaged when back),
    // 6..12 seen 20 days before (returning), 12..14 seen 120 and 30 days before (returning),
    // 14 seen exactly 90 days before its first night in range (re-engaged), 15 seen 89 days
    // before (returning).
    night(
        &mut s,
        &mut g,
        &mut rng,
        from - Duration::days(120),
        &people,
        &[&people[0..6], &people[12..14]].concat(),
        2,
    );
    night(
        &mut s,
        &mut g,
        &mut rng,
        from - Duration::days(90),
        &people,
        &people[14..15],
        0,
    );
    night(
        &mut s,
        &mut g,
        &mut rng,
        from - Duration::days(89),
        &people,
        &people[15..16],
        0,
    );
    night(
        &mut s,
        &mut g,
        &mut rng,
        from - Duration::days(30),
        &people,
        &people[12..14],
        1,
    );
    night(
        &mut s,
        &mut g,
        &mut rng,
        from - Duration::days(20),
        &people,
        &people[6..12],
        1,
    );
    // The range: one night with no shift at all (a zero row), the rest random. People 14..20
    // are seen on the first night for sure.
    for d in 0..14 {
        let n = from + Duration::days(d);
        if d == 5 {
            continue;
        }
        let forced: &[String] = if d == 0 { &people[14..20] } else { &[] };
        let k = rng.gen_range(2..10);
        night(&mut s, &mut g, &mut rng, n, &people[..22], forced, k);
    }
    // After the range (must not count).
    night(
        &mut s,
        &mut g,
        &mut rng,
        to + Duration::days(3),
        &people,
        &people[20..24],
        2,
    );

    // The generated night has both shared and unshared incidents for each recipient.
    for f in [|i: &GenInc| i.shared_police, |i: &GenInc| i.shared_national] {
        assert!(g.incidents.iter().any(f) && !g.incidents.iter().all(f));
    }
    let opts = ReportOptions::default();
    let mut edges: HashMap<String, String> = HashMap::new();
    let r0 = s.report_unsuppressed(from, to, &opts).unwrap();
    check_report(&r0, &g, from, to, &edges);
    check_anonymised(&s.report(from, to, &opts).unwrap(), &r0);
    // Known cases, stated directly.
    let people_t = &r0.section("people").unwrap().table;
    assert!(
        people_t.cells[2][0].value().unwrap() >= 1,
        "re-engaged people exist"
    );
    assert!(s
        .audit_log(5)
        .unwrap()
        .iter()
        .any(|e| e.action == "report.view_unsuppressed" && e.actor == "test-lead"));
    let night5 = r0.section("contacts_by_night_zone").unwrap();
    assert_eq!(
        night5.table.row_totals.as_ref().unwrap()[5],
        Cell::Value(0),
        "the night without a shift is listed with 0"
    );
    assert!(
        night5.table.cells.iter().all(|r| r[3] == Cell::Value(0)),
        "a zone never visited is listed with 0"
    );
    assert_eq!(
        r0.section("alerts")
            .unwrap()
            .table
            .col_totals
            .as_ref()
            .unwrap()[0],
        Cell::Value(0)
    );

    // Merges: a chain 16 -> 17 -> 18, and 0 (re-engaged) into 20, whose history then counts.
    s.merge_people(&people[16], &people[17]).unwrap();
    s.merge_people(&people[17], &people[18]).unwrap();
    s.merge_people(&people[20], &people[0]).unwrap();
    edges.insert(people[16].clone(), people[17].clone());
    edges.insert(people[17].clone(), people[18].clone());
    edges.insert(people[20].clone(), people[0].clone());
    let r1 = s.report_unsuppressed(from, to, &opts).unwrap();
    check_report(&r1, &g, from, to, &edges);
    check_anonymised(&s.report(from, to, &opts).unwrap(), &r1);
    let unique = |r: &Report| {
        r.section("people")
            .unwrap()
            .table
            .col_totals
            .as_ref()
            .unwrap()[0]
            .value()
            .unwrap()
    };
    assert!(unique(&r1) < unique(&r0), "merges reduce unique people");
    // Rebuilt projections give the same report (the merge lives in the documents).
    s.rebuild_projections().unwrap();
    let r1b = s.report_unsuppressed(from, to, &opts).unwrap();
    assert_eq!(r1.sections, r1b.sections);

    // Unmerging restores the counts.
    s.unmerge_person(&people[17]).unwrap();
    edges.remove(&people[17]);
    check_report(
        &s.report_unsuppressed(from, to, &opts).unwrap(),
        &g,
        from,
        to,
        &edges,
    );
    s.unmerge_person(&people[16]).unwrap();
    s.unmerge_person(&people[20]).unwrap();
    edges.clear();
    let r2 = s.report_unsuppressed(from, to, &opts).unwrap();
    assert_eq!(
        r0.sections, r2.sections,
        "all merges undone: the report is as before"
    );

    // Alerts are counted by the night they were issued.
    let alert = |risk| AlertInput {
        description: "TEST alert, fake".into(),
        plates: vec![],
        phones: vec![],
        emails: vec![],
        usernames: vec![],
        area: None,
        risk,
        from: None,
        review: None,
    };
    s.add_alert(alert(Risk::High)).unwrap();
    s.add_alert(alert(Risk::High)).unwrap();
    s.add_alert(alert(Risk::Low)).unwrap();
    let ra = s
        .report_unsuppressed(today - Duration::days(2), today + Duration::days(1), &opts)
        .unwrap();
    let at = &ra.section("alerts").unwrap().table;
    assert_eq!(at.row_labels, vec!["low", "medium", "high"]);
    assert_eq!(
        at.cells.iter().map(|r| r[0]).collect::<Vec<_>>(),
        vec![Cell::Value(1), Cell::Value(0), Cell::Value(2)]
    );
    let anon = s
        .report(today - Duration::days(2), today + Duration::days(1), &opts)
        .unwrap();
    assert!(anon
        .section("alerts")
        .unwrap()
        .table
        .cells
        .iter()
        .all(|r| r[0] == Cell::Value(0) || r[0].is_suppressed()));

    // Bad ranges are refused with the field named.
    assert!(matches!(
        s.report(to, from, &opts),
        Err(Error::Invalid {
            field: "report.to",
            ..
        })
    ));
    let weak = ReportOptions {
        threshold: 3,
        ..opts.clone()
    };
    assert!(matches!(
        s.report(from, to, &weak),
        Err(Error::Invalid {
            field: "report.threshold",
            ..
        })
    ));
}

#[test]
fn re_engagement_boundary_and_anonymous_contacts() {
    // Exact, hand-made case: A first seen in range (new), B 20 days before (returning),
    // C 90 days before (re-engaged), D 89 days before (returning), plus 3 anonymous contacts.
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::create(
        dir.path(),
        Unlock::Key(StoreKey::generate()),
        TeamSetup::new("Test Team", &ZONES),
        &StoreOptions::default(),
    )
    .unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let ids: Vec<String> = ["TEST-A", "TEST-B", "TEST-C", "TEST-D"]
        .iter()
        .map(|n| s.add_person(PersonInput::new(*n)).unwrap().id)
        .collect();
    let from = Utc::now().date_naive() - Duration::days(200);
    let mut g = Gen::default();
    night(
        &mut s,
        &mut g,
        &mut rng,
        from - Duration::days(90),
        &[],
        &ids[2..3],
        0,
    );
    night(
        &mut s,
        &mut g,
        &mut rng,
        from - Duration::days(89),
        &[],
        &ids[3..4],
        0,
    );
    night(
        &mut s,
        &mut g,
        &mut rng,
        from - Duration::days(20),
        &[],
        &ids[1..2],
        0,
    );
    night(&mut s, &mut g, &mut rng, from, &[], &ids, 3);
    let r = s
        .report_unsuppressed(from, from, &ReportOptions::default())
        .unwrap();
    let p = &r.section("people").unwrap().table;
    assert_eq!(
        p.cells.iter().map(|r| r[0]).collect::<Vec<_>>(),
        vec![Cell::Value(1), Cell::Value(2), Cell::Value(1)]
    );
    let ident = &r.section("contacts_by_identification").unwrap().table;
    assert_eq!(ident.cells[1][0], Cell::Value(3));
    check_report(&r, &g, from, from, &HashMap::new());
    // Anonymised: every people cell is under 5, so all are hidden, and so is their total.
    let a = s.report(from, from, &ReportOptions::default()).unwrap();
    let p = &a.section("people").unwrap().table;
    assert!(p.cells.iter().all(|r| r[0].is_suppressed()));
    assert!(p.col_totals.as_ref().unwrap()[0].is_suppressed());
}

#[test]
fn renderings_show_the_banner_marks_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::create(
        dir.path(),
        Unlock::Key(StoreKey::generate()),
        TeamSetup::new("Test <Team> & Co", &ZONES),
        &StoreOptions::default(),
    )
    .unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let from = Utc::now().date_naive() - Duration::days(40);
    let mut g = Gen::default();
    for d in 0..7 {
        night(
            &mut s,
            &mut g,
            &mut rng,
            from + Duration::days(d),
            &[],
            &[],
            if d == 2 { 2 } else { 12 },
        );
    }
    let to = from + Duration::days(6);
    let r = s.report(from, to, &ReportOptions::default()).unwrap();
    let any_hidden = r.sections.iter().any(|sec| sec.table.any_suppressed());
    assert!(any_hidden, "this data has small cells");

    let html = r.to_html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Anonymised: cells under 5 suppressed"));
    assert!(
        html.contains("Test &lt;Team&gt; &amp; Co"),
        "labels are escaped"
    );
    assert!(!html.contains("<Team>"));
    assert!(html.contains("@media print"));
    assert!(html.contains("Legend"));
    assert!(html.contains("<td class=\"n sup\" title=\"suppressed\">*</td>"));
    for banned in ["<script", "src=", "url(", "@import", "href=\"http", "<link"] {
        assert!(
            !html.contains(banned),
            "self-contained page must not contain {banned}"
        );
    }
    // Real marks: every <rect> has a positive width, and there are many of them.
    let widths: Vec<f64> = html
        .match_indices("<rect ")
        .map(|(i, _)| {
            let rest = &html[i..];
            let w = rest.find("width=\"").unwrap() + 7;
            rest[w..w + rest[w..].find('"').unwrap()]
                .parse::<f64>()
                .unwrap()
        })
        .collect();
    assert!(
        widths.len() >= 7,
        "one bar per non-zero night at least, got {}",
        widths.len()
    );
    assert!(widths.iter().all(|w| *w > 0.0));

    let csv = r.to_csv();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("section,row,column,value"));
    let sections: BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    for sec in &r.sections {
        assert!(sections.contains(sec.id), "{} in CSV", sec.id);
    }
    assert!(csv.contains("report,anonymised,,yes"));
    assert!(
        csv.lines()
            .any(|l| !l.starts_with("report,") && l.ends_with(",*")),
        "hidden cells are marked"
    );
    for l in csv.lines().skip(1) {
        let v = l.rsplit(',').next().unwrap();
        if let Ok(n) = v.parse::<u64>() {
            assert!(
                n == 0 || n >= 5 || l.starts_with("report,"),
                "small value published in CSV: {l}"
            );
        }
    }

    use outreach_core::report::ReportFormat;
    assert_eq!(r.render("html".parse::<ReportFormat>().unwrap()), html);
    assert_eq!(r.render(ReportFormat::Csv), csv);
    assert!(matches!(
        "pdf".parse::<ReportFormat>(),
        Err(Error::Invalid {
            field: "report.format",
            ..
        })
    ));
    let text = r.to_table_text();
    assert!(text.contains("Anonymised: cells under 5 suppressed (*)"));
    assert!(text.contains("== Contacts per night and zone =="));

    // The lead's unsuppressed view says so everywhere, and is audited.
    let raw = s
        .report_unsuppressed(from, to, &ReportOptions::default())
        .unwrap();
    assert!(raw.to_html().contains("UNSUPPRESSED"));
    assert!(raw.to_table_text().contains("UNSUPPRESSED"));
    assert!(raw.to_csv().contains("report,anonymised,,no"));
    assert!(!raw
        .to_csv()
        .lines()
        .any(|l| l.ends_with(",*") && !l.starts_with("report,")));
    let log = s.audit_log(10).unwrap();
    assert!(log.iter().any(|e| e.action == "report.view_unsuppressed"));
    let _ = (g.encounters.len(), dir);
}

#[test]
fn record_exports_are_csv_per_entity_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::create(
        dir.path(),
        Unlock::Key(StoreKey::generate()),
        TeamSetup::new("Test Team", &ZONES),
        &StoreOptions::default(),
    )
    .unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let ids: Vec<String> = ["TEST-Export-A", "=TEST-Formula"]
        .iter()
        .map(|n| s.add_person(PersonInput::new(*n)).unwrap().id)
        .collect();
    s.merge_people(&ids[1], &ids[0]).unwrap();
    let from = Utc::now().date_naive() - Duration::days(10);
    let mut g = Gen::default();
    night(&mut s, &mut g, &mut rng, from, &ids, &ids, 4);
    night(
        &mut s,
        &mut g,
        &mut rng,
        from + Duration::days(3),
        &ids,
        &[],
        2,
    );
    use outreach_core::report::ExportEntity;
    let enc = s
        .export_csv(ExportEntity::Encounters, Some((from, from)))
        .unwrap();
    assert!(enc.starts_with("id,night,at,shift,device,zone,"));
    assert_eq!(
        enc.lines().count(),
        1 + g.encounters.iter().filter(|e| e.night == from).count()
    );
    let all = s.export_csv(ExportEntity::Encounters, None).unwrap();
    assert_eq!(all.lines().count(), 1 + g.encounters.len());
    let svc = s.export_csv(ExportEntity::Services, None).unwrap();
    assert_eq!(
        svc.lines().count(),
        1 + g.encounters.iter().map(|e| e.services.len()).sum::<usize>()
    );
    let refs = s.export_csv(ExportEntity::Referrals, None).unwrap();
    assert_eq!(
        refs.lines().count(),
        1 + g
            .encounters
            .iter()
            .map(|e| e.referrals.len())
            .sum::<usize>()
    );
    let people = s.export_csv(ExportEntity::People, None).unwrap();
    assert_eq!(people.lines().count(), 3);
    assert!(
        people.contains(",'=TEST-Formula,"),
        "formula-looking fields are defused: {people}"
    );
    assert!(
        people
            .lines()
            .any(|l| l.starts_with(&ids[1]) && l.contains(&format!(",{},{},", ids[0], ids[0]))),
        "merge edge and canonical id"
    );
    for e in ExportEntity::ALL {
        let csv = s.export_csv(*e, None).unwrap();
        assert!(
            csv.lines().next().unwrap().starts_with("id,") || csv.starts_with("encounter,"),
            "{e:?}"
        );
        assert_eq!(e.as_str().parse::<ExportEntity>().unwrap(), *e);
    }
    assert!("nonsense".parse::<ExportEntity>().is_err());
    let log = s.audit_log(50).unwrap();
    assert!(log
        .iter()
        .any(|a| a.action == "export" && a.entity == "encounters" && a.entity_id.is_some()));
    assert!(log
        .iter()
        .any(|a| a.action == "export" && a.entity == "alerts"));
}
