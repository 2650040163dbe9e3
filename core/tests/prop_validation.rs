//! Property tests of validation and normalisation.
//!
//! - Phone normalisation is idempotent, and invariant under inserted spaces, dashes, dots,
//!   slashes and brackets and under the `+44` / `0044` / `0` / `+44 (0)` forms of a GB number.
//! - Plates are invariant under case and spacing; emails and usernames under case and
//!   surrounding space; every normaliser is idempotent.
//! - `keyed_hash` is equal iff (kind, normalised value) is equal.
//! - No string makes a normaliser or a validator panic, and no error repeats the rejected value.
//! - Every length limit: over it is `Error::Invalid` naming the right field; within it is
//!   accepted (lengths count characters, not bytes).
//! - A rejected log or amendment leaves `projection_fingerprint()` and `outbox_len()` unchanged;
//!   an accepted one changes them (so that check can fail).
//!
//! Case counts: `PROPTEST_CASES` (default 256 for the pure properties, 32 for those that use a
//! store). Failures are not persisted to files; proptest prints the minimal failing input.

use std::cell::RefCell;

use outreach_core::normalise::{self, email, fold_name, keyed_hash, name_similarity, phone, plate, username};
use outreach_core::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(default: u32) -> Config {
    Config { cases: cases(default), failure_persistence: None, ..Config::default() }
}

const COUNTRIES: &[&str] = &["GB", "IE", "FR", "DE", "US", "CA", "NG", "TH", "BR", "PL", "RO", "AU", "gb", "XX", ""];

/// Separators a person may type inside a phone number (never inside the `(0)` token).
fn sep() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => Just(""),
        3 => Just(" "),
        1 => Just("-"),
        1 => Just("."),
        1 => Just("/"),
        1 => Just("\u{a0}"),
        1 => Just("  "),
        1 => Just(" - "),
    ]
}

/// A GB national significant number (9 or 10 digits, not starting with 0).
fn gb_nsn() -> impl Strategy<Value = String> {
    "[1-9][0-9]{8,9}"
}

/// Renders a number from atomic pieces with random separators between pieces and random
/// brackets around groups of at least two national digits, e.g. `0044 (7700)-900 123`.
fn render(prefix: &[&str], nsn: &str, seps: &[&str], brackets: &[(usize, usize)]) -> String {
    let digits: Vec<char> = nsn.chars().collect();
    let mut open = vec![false; digits.len()];
    let mut close = vec![false; digits.len()];
    let mut used = vec![false; digits.len()];
    for &(start, len) in brackets {
        let len = len.max(2);
        if start + len <= digits.len() && !used[start..start + len].iter().any(|u| *u) {
            used[start..start + len].iter_mut().for_each(|u| *u = true);
            open[start] = true;
            close[start + len - 1] = true;
        }
    }
    let mut pieces: Vec<String> = prefix.iter().map(|p| p.to_string()).collect();
    for (i, d) in digits.iter().enumerate() {
        let mut p = String::new();
        if open[i] {
            p.push('(');
        }
        p.push(*d);
        if close[i] {
            p.push(')');
        }
        pieces.push(p);
    }
    let mut out = String::new();
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            out.push_str(seps[i % seps.len()]);
        }
        out.push_str(p);
    }
    out
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn gb_phone_forms_and_separators_normalise_alike(
        nsn in gb_nsn(),
        form in 0usize..5,
        seps in prop::collection::vec(sep(), 1..16),
        brackets in prop::collection::vec((0usize..10, 2usize..5), 0..3),
        surround in "[ \t]{0,2}",
        country in prop::sample::select(COUNTRIES),
    ) {
        let want = format!("+44{nsn}");
        // National forms need the default country to be GB; international ones work anywhere.
        let (prefix, country): (&[&str], &str) = match form {
            0 => (&["+", "44"], country),
            1 => (&["0", "0", "44"], country),
            2 => (&["0"], "GB"),
            3 => (&["+", "44", "(0)"], country),
            _ => (&["0"], "gb"),
        };
        let raw = format!("{surround}{}{surround}", render(prefix, &nsn, &seps, &brackets));
        let got = phone(&raw, country);
        prop_assert_eq!(got.as_deref().ok(), Some(want.as_str()), "raw {:?} country {:?}", raw, country);
        // Idempotent.
        prop_assert_eq!(phone(&want, country).unwrap(), want.clone());
    }

    #[test]
    fn phone_normalisation_is_idempotent(raw in "[+]?[0-9 ().\\-/]{0,24}", c1 in prop::sample::select(COUNTRIES), c2 in prop::sample::select(COUNTRIES)) {
        if let Ok(n) = phone(&raw, c1) {
            prop_assert!(n.starts_with('+') && n[1..].chars().all(|c| c.is_ascii_digit()), "{n}");
            prop_assert!((9..=16).contains(&n.len()), "{n}");
            // An E.164 number no longer depends on the default country.
            prop_assert_eq!(phone(&n, c2).ok(), Some(n.clone()));
            prop_assert_eq!(normalise::identifier(IdentifierKind::Phone, &n, c2).ok(), Some(n));
        }
    }

    #[test]
    fn plates_are_invariant_under_case_and_spacing(
        p in "[A-Z0-9]{1,12}",
        flips in prop::collection::vec(any::<bool>(), 12),
        seps in prop::collection::vec(prop_oneof![6 => Just(""), 2 => Just(" "), 1 => Just("-"), 1 => Just("\t"), 1 => Just(" . ")], 13),
    ) {
        let mut raw = String::from(seps[12]);
        for (i, c) in p.chars().enumerate() {
            raw.push(if flips[i] { c.to_ascii_lowercase() } else { c });
            raw.push_str(seps[i]);
        }
        prop_assert_eq!(plate(&raw).ok(), Some(p.clone()), "raw {:?}", raw);
        prop_assert_eq!(plate(&p).ok(), Some(p));
    }

    #[test]
    fn emails_are_invariant_under_case_and_surrounding_space(
        local in "[a-z0-9._%+-]{1,20}",
        domain in "[a-z0-9-]{1,15}\\.[a-z]{2,6}",
        flips in prop::collection::vec(any::<bool>(), 64),
        before in "[ \t\n]{0,3}",
        after in "[ \t\n]{0,3}",
    ) {
        let canonical = format!("{local}@{domain}");
        let cased: String = canonical.chars().zip(flips.iter().cycle()).map(|(c, f)| if *f { c.to_ascii_uppercase() } else { c }).collect();
        let raw = format!("{before}{cased}{after}");
        prop_assert_eq!(email(&raw).ok(), Some(canonical.clone()), "raw {:?}", raw);
        prop_assert_eq!(email(&canonical).ok(), Some(canonical));
    }

    #[test]
    fn usernames_are_invariant_under_case_at_sign_and_surrounding_space(
        name in "[a-z0-9_.]{1,30}",
        at in any::<bool>(),
        flips in prop::collection::vec(any::<bool>(), 30),
        before in "[ \t]{0,2}",
        after in "[ \t]{0,2}",
    ) {
        let cased: String = name.chars().zip(flips.iter()).map(|(c, f)| if *f { c.to_ascii_uppercase() } else { c }).collect();
        let raw = format!("{before}{}{cased}{after}", if at { "@" } else { "" });
        prop_assert_eq!(username(&raw).ok(), Some(name.clone()), "raw {:?}", raw);
    }

    /// Every normaliser is idempotent on whatever it accepts, for any string at all.
    #[test]
    fn normalisers_are_idempotent_on_arbitrary_strings(s in any::<String>(), t in "\\PC{0,40}") {
        for raw in [&s, &t] {
            if let Ok(n) = plate(raw) { prop_assert_eq!(plate(&n).ok(), Some(n)); }
            if let Ok(n) = email(raw) { prop_assert_eq!(email(&n).ok(), Some(n)); }
            if let Ok(n) = username(raw) { prop_assert_eq!(username(&n).ok(), Some(n)); }
            if let Ok(n) = phone(raw, "GB") { prop_assert_eq!(phone(&n, "GB").ok(), Some(n)); }
            let f = fold_name(raw);
            prop_assert_eq!(fold_name(&f), f);
        }
    }

    /// The keyed hash is equal exactly when (kind, normalised value) is equal: small value
    /// alphabets make equal pairs frequent.
    #[test]
    fn keyed_hash_is_equal_iff_kind_and_value_are(
        k1 in prop::sample::select(IdentifierKind::ALL), v1 in "[ab0+@.]{0,3}",
        k2 in prop::sample::select(IdentifierKind::ALL), v2 in "[ab0+@.]{0,3}",
        key in prop::collection::vec(any::<u8>(), 32),
    ) {
        let h1 = keyed_hash(&key, k1, &v1);
        let h2 = keyed_hash(&key, k2, &v2);
        prop_assert_eq!(h1 == h2, (k1, &v1) == (k2, &v2), "{:?} {:?} / {:?} {:?}", k1, v1, k2, v2);
        // And it depends on the key.
        let mut other = key.clone();
        other[0] ^= 1;
        prop_assert_ne!(keyed_hash(&other, k1, &v1), h1);
    }

    /// Through normalisation: two spellings hash alike iff they normalise alike.
    #[test]
    fn keyed_hashes_of_spellings_agree_iff_normal_forms_do(
        kind in prop::sample::select(IdentifierKind::ALL),
        a in "[aA0-9 @+.\\-]{1,14}",
        b in "[aA0-9 @+.\\-]{1,14}",
    ) {
        let key = [7u8; 32];
        if let (Ok(na), Ok(nb)) = (normalise::identifier(kind, &a, "GB"), normalise::identifier(kind, &b, "GB")) {
            prop_assert_eq!(keyed_hash(&key, kind, &na) == keyed_hash(&key, kind, &nb), na == nb);
        }
    }
}

// ---- no panics, no echo -----------------------------------------------------------------------

/// Every validator and normaliser on one arbitrary string; returns the errors.
fn everything_on(s: &str) -> Vec<Error> {
    let zones = vec!["north-beat".to_string()];
    let mut errs = vec![];
    let mut push = |r: Result<()>| {
        if let Err(e) = r {
            errs.push(e)
        }
    };
    for c in COUNTRIES.iter().copied().chain([s]) {
        push(phone(s, c).map(|_| ()));
    }
    push(plate(s).map(|_| ()));
    push(email(s).map(|_| ()));
    push(username(s).map(|_| ()));
    for k in IdentifierKind::ALL {
        push(normalise::identifier(*k, s, "GB").map(|_| ()));
        let _ = keyed_hash(b"k", *k, s);
    }
    let _ = fold_name(s);
    let _ = name_similarity(&fold_name(s), "fakey moonbeam");
    let _ = name_similarity(s, s);
    let _ = normalise::calling_code(s);
    push(s.parse::<Setting>().map(|_| ()));
    push(s.parse::<Service>().map(|_| ()));
    push(s.parse::<IdentifierKind>().map(|_| ()));
    push(s.parse::<AgeBand>().map(|_| ()));
    push(StoreKey::from_slice(s.as_bytes()).map(|_| ()));

    let mut e = EncounterInput::new(s);
    push(e.validate(&zones));
    e.zone = "north-beat".into();
    e.note = Some(s.into());
    e.language = Some(s.into());
    e.workers = vec![s.into()];
    e.person = Some(s.into());
    e.follow_up = Some(FollowUp { due: None, what: s.into(), done: false });
    push(e.validate(&zones));
    let mut p = PersonInput::new(s);
    push(p.validate());
    p.first_language = Some(s.into());
    p.note = Some(s.into());
    push(p.validate());
    push(
        ConcernInput {
            category: ConcernCategory::AdultAtRisk,
            indicators: vec![],
            encounter: Some(s.into()),
            person: Some(s.into()),
            consent: Consent::Given,
            action: s.into(),
            shared_without_consent: false,
            legal_basis: None,
        }
        .validate(),
    );
    push(
        IncidentInput {
            when: chrono::Utc::now(),
            place: s.into(),
            kind: IncidentType::Other,
            injuries: Some(s.into()),
            perpetrator: Some(s.into()),
            police_reported: true,
            crime_reference: Some(s.into()),
            share_police: ShareConsent::None,
            share_national: ShareConsent::None,
            support: Some(s.into()),
            person: Some(s.into()),
            encounter: Some(s.into()),
        }
        .validate(),
    );
    push(
        AlertInput {
            description: s.into(),
            plates: vec![s.into()],
            phones: vec![s.into()],
            emails: vec![s.into()],
            usernames: vec![s.into()],
            area: Some(s.into()),
            risk: Risk::Low,
            from: None,
            review: None,
        }
        .validate(),
    );
    push(ShiftStart { van: s.into(), crew: vec![s.into()], zones: vec![s.into()], at: None }.validate(&zones));
    let mut t = TeamSetup::new(s, &[s]);
    push(t.validate());
    t.default_country = s.into();
    push(t.validate());
    errs
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn no_string_panics_a_normaliser_or_validator(s in any::<String>(), t in "[0-9+()\\- ]{0,30}", u in "\\PC{55,130}") {
        everything_on(&s);
        everything_on(&t);
        everything_on(&u);
        everything_on(&format!("{t}(0){t}"));
        everything_on(&format!("+{s}"));
    }

    /// Errors name the field and the rule, never the value (they may reach logs and the FFI).
    #[test]
    fn errors_never_repeat_the_rejected_value(prefix in "\\PC{0,70}", tag in "[a-z0-9]{10}") {
        let marker = format!("CANARY-{tag}");
        let s = format!("{prefix}{marker}\u{7}");
        for e in everything_on(&s).into_iter().chain(everything_on(&format!("{prefix}{marker}"))) {
            let shown = format!("{e} {e:?}");
            prop_assert!(!shown.contains(&marker), "error repeats the value: {}", shown);
        }
    }
}

// ---- length limits ----------------------------------------------------------------------------

/// Text of exactly `n` characters, mixing 1-, 2-, 3- and 4-byte characters (limits count
/// characters) and never starting with a space (so it is never blank).
fn text_of(n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!['a', 'Z', '7', 'é', 'ß', '漢', '🦀', ' ', '-']), n).prop_map(|mut v| {
        if let Some(c) = v.first_mut() {
            if *c == ' ' {
                *c = 'x';
            }
        }
        v.into_iter().collect()
    })
}

/// A length near the limit (both sides) or anywhere up to twice it.
fn len_around(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![(max.saturating_sub(2).max(1))..=(max + 2), 1..=(2 * max)]
}

type Check = fn(&str) -> Result<()>;

fn zones() -> Vec<String> {
    vec!["north-beat".into()]
}

fn incident() -> IncidentInput {
    IncidentInput {
        when: chrono::Utc::now(),
        place: "north-beat".into(),
        kind: IncidentType::Threats,
        injuries: None,
        perpetrator: None,
        police_reported: true,
        crime_reference: None,
        share_police: ShareConsent::None,
        share_national: ShareConsent::None,
        support: None,
        person: None,
        encounter: None,
    }
}

fn alert() -> AlertInput {
    AlertInput {
        description: "fake".into(),
        plates: vec![],
        phones: vec![],
        emails: vec![],
        usernames: vec![],
        area: None,
        risk: Risk::Low,
        from: None,
        review: None,
    }
}

fn concern(action: &str) -> ConcernInput {
    ConcernInput {
        category: ConcernCategory::AdultAtRisk,
        indicators: vec![],
        encounter: None,
        person: None,
        consent: Consent::Given,
        action: action.into(),
        shared_without_consent: false,
        legal_basis: None,
    }
}

/// (field named in the error, character limit, how to put the text in that field and validate).
const LIMITS: &[(&str, usize, Check)] = &[
    ("encounter.note", MAX_NOTE, |s| EncounterInput { note: Some(s.into()), ..EncounterInput::new("north-beat") }.validate(&zones())),
    ("encounter.language", MAX_SHORT, |s| EncounterInput { language: Some(s.into()), ..EncounterInput::new("north-beat") }.validate(&zones())),
    ("encounter.workers", MAX_SHORT, |s| EncounterInput { workers: vec!["a".into(), s.into()], ..EncounterInput::new("north-beat") }.validate(&zones())),
    ("encounter.follow_up.what", MAX_NOTE, |s| {
        EncounterInput { follow_up: Some(FollowUp { due: None, what: s.into(), done: false }), ..EncounterInput::new("north-beat") }
            .validate(&zones())
    }),
    ("person.code_name", MAX_SHORT, |s| PersonInput::new(s).validate()),
    ("person.first_language", MAX_SHORT, |s| PersonInput { first_language: Some(s.into()), ..PersonInput::new("Fakey") }.validate()),
    ("person.note", MAX_NOTE, |s| PersonInput { note: Some(s.into()), ..PersonInput::new("Fakey") }.validate()),
    ("concern.action", MAX_NOTE, |s| concern(s).validate()),
    ("incident.place", MAX_SHORT, |s| IncidentInput { place: s.into(), ..incident() }.validate()),
    ("incident.injuries", MAX_NOTE, |s| IncidentInput { injuries: Some(s.into()), ..incident() }.validate()),
    ("incident.perpetrator", MAX_NOTE, |s| IncidentInput { perpetrator: Some(s.into()), ..incident() }.validate()),
    ("incident.crime_reference", MAX_SHORT, |s| IncidentInput { crime_reference: Some(s.into()), ..incident() }.validate()),
    ("incident.support", MAX_NOTE, |s| IncidentInput { support: Some(s.into()), ..incident() }.validate()),
    ("alert.description", MAX_NOTE, |s| AlertInput { description: s.into(), ..alert() }.validate()),
    ("alert.area", MAX_SHORT, |s| AlertInput { area: Some(s.into()), ..alert() }.validate()),
    ("alert.plates", 120, |s| AlertInput { plates: vec![s.into()], ..alert() }.validate()),
    ("alert.phones", 120, |s| AlertInput { phones: vec![s.into()], ..alert() }.validate()),
    ("alert.emails", 120, |s| AlertInput { emails: vec![s.into()], ..alert() }.validate()),
    ("alert.usernames", 120, |s| AlertInput { usernames: vec![s.into()], ..alert() }.validate()),
    ("shift.van", MAX_SHORT, |s| ShiftStart { van: s.into(), crew: vec!["a".into()], zones: zones(), at: None }.validate(&zones())),
    ("shift.crew", MAX_SHORT, |s| ShiftStart { van: "v".into(), crew: vec![s.into()], zones: zones(), at: None }.validate(&zones())),
    ("team", MAX_SHORT, |s| TeamSetup::new(s, &["z"]).validate()),
    ("zones", MAX_SHORT, |s| TeamSetup::new("t", &[s]).validate()),
];

#[test]
fn length_limits_name_the_field_and_accept_what_fits() {
    let mut runner = TestRunner::new(config(256));
    let strategy = (0..LIMITS.len()).prop_flat_map(|i| (Just(i), len_around(LIMITS[i].1).prop_flat_map(text_of)));
    runner
        .run(&strategy, |(i, text)| {
            let (field, max, check) = LIMITS[i];
            let n = text.chars().count();
            match check(&text) {
                Ok(()) => prop_assert!(n <= max, "{field}: {n} characters accepted, limit {max}"),
                Err(Error::Invalid { field: f, .. }) => {
                    prop_assert!(n > max, "{field}: {n} characters rejected ({f}), limit {max}");
                    prop_assert_eq!(f, field);
                }
                Err(e) => return Err(TestCaseError::fail(format!("{field}: unexpected error {e}"))),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn count_limits_name_the_field() {
    let z = zones();
    let mut e = EncounterInput::new("north-beat");
    e.services.insert(Service::Condoms, MAX_SERVICE_COUNT);
    e.validate(&z).unwrap();
    for bad in [0, MAX_SERVICE_COUNT + 1, u32::MAX] {
        e.services.insert(Service::Condoms, bad);
        assert!(matches!(e.validate(&z), Err(Error::Invalid { field: "encounter.services", .. })), "{bad}");
    }
    e.services.clear();
    let r = Referral { destination: ReferralDestination::Gp, mode: ReferralMode::Direct, consent: true, status: ReferralStatus::Made };
    e.referrals = vec![r.clone(); MAX_ITEMS];
    e.validate(&z).unwrap();
    e.referrals.push(r);
    assert!(matches!(e.validate(&z), Err(Error::Invalid { field: "encounter.referrals", .. })));
    e.referrals.clear();
    e.workers = vec!["w".into(); MAX_ITEMS];
    e.validate(&z).unwrap();
    e.workers.push("w".into());
    assert!(matches!(e.validate(&z), Err(Error::Invalid { field: "encounter.workers", .. })));
    let mut a = alert();
    a.plates = vec!["AB12CDE".into(); MAX_ITEMS];
    a.validate().unwrap();
    a.plates.push("AB12CDE".into());
    assert!(matches!(a.validate(), Err(Error::Invalid { field: "alert.plates", .. })));
    let mut t = TeamSetup::new("t", &[]);
    assert!(matches!(t.validate(), Err(Error::Invalid { field: "zones", .. })));
    t.zones = (0..MAX_ITEMS).map(|i| format!("z{i}")).collect();
    t.validate().unwrap();
    t.zones.push("one too many".into());
    assert!(matches!(t.validate(), Err(Error::Invalid { field: "zones", .. })));
}

// ---- rejected writes change nothing -------------------------------------------------------------

/// One way to make an otherwise valid encounter invalid, and the field the error must name.
fn spoil() -> impl Strategy<Value = (&'static str, fn(&mut EncounterInput, &str))> {
    let cases: Vec<(&'static str, fn(&mut EncounterInput, &str))> = vec![
        ("encounter.zone", |e, _| e.zone = "nowhere-beat".into()),
        ("encounter.note", |e, t| e.note = Some(t.repeat(MAX_NOTE / t.chars().count().max(1) + 1))),
        ("encounter.note", |e, _| e.note = Some("fake\u{0}note".into())),
        ("encounter.language", |e, _| e.language = Some("two\nlines".into())),
        ("encounter.language", |e, t| e.language = Some(t.repeat(MAX_SHORT + 1))),
        ("encounter.workers", |e, _| e.workers = vec![" ".into()]),
        ("encounter.services", |e, _| {
            e.services.insert(Service::Lube, 0);
        }),
        ("encounter.services", |e, _| {
            e.services.insert(Service::Naloxone, MAX_SERVICE_COUNT + 1);
        }),
        ("encounter.person", |e, _| e.person = Some("not-an-id".into())),
        ("encounter.person", |e, _| e.person = Some("01234567-89ab-7def-8123-456789abcdef".into())),
        ("encounter.at", |e, _| e.at = Some(chrono::Utc::now() + chrono::Duration::days(2))),
        ("encounter.at", |e, _| e.at = Some(chrono::Utc::now() - chrono::Duration::days(366 * 6))),
        ("encounter.follow_up.what", |e, _| e.follow_up = Some(FollowUp { due: None, what: "".into(), done: false })),
    ];
    prop::sample::select(cases)
}

fn valid_encounter() -> impl Strategy<Value = EncounterInput> {
    (
        prop::option::of("[a-zA-Z ]{1,80}"),
        prop::collection::btree_map(prop::sample::select(Service::ALL), 1..=MAX_SERVICE_COUNT, 0..4),
        prop::sample::select(Setting::ALL),
    )
        .prop_map(|(note, services, setting)| EncounterInput {
            note: note.map(|n| format!("x{n}")),
            services,
            setting,
            ..EncounterInput::new("north-beat")
        })
}

#[test]
fn rejected_logs_and_amendments_change_nothing() {
    /// A store with an open shift and one encounter to amend; replaced every 64 cases so that
    /// long runs (PROPTEST_CASES) stay linear.
    struct Fixture {
        _dir: tempfile::TempDir,
        s: Store,
        first: String,
        used: u32,
    }
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::create(
            dir.path(),
            Unlock::Key(StoreKey::generate()),
            TeamSetup::new("Test Team", &["north-beat", "south-beat"]),
            &StoreOptions::default(),
        )
        .unwrap();
        s.set_durability(Durability::CrashSafe).unwrap();
        s.start_shift(ShiftStart { van: "Van 1".into(), crew: vec!["staff-a".into()], zones: vec!["north-beat".into()], at: None })
            .unwrap();
        let first = s.log_encounter(EncounterInput::new("north-beat")).unwrap().id;
        Fixture { _dir: dir, s, first, used: 0 }
    }
    let fx = RefCell::new(fixture());
    let mut runner = TestRunner::new(config(32));
    runner
        .run(&(valid_encounter(), spoil(), "[a-z漢🦀]{1,3}"), |(good, (field, spoil), t)| {
            let mut fx = fx.borrow_mut();
            fx.used += 1;
            if fx.used > 64 {
                *fx = fixture();
            }
            let first = fx.first.clone();
            let s = &mut fx.s;
            let mut bad = good.clone();
            spoil(&mut bad, &t);
            let fp = s.projection_fingerprint().unwrap();
            let outbox = s.outbox_len().unwrap();
            let audit = s.audit_log(1).unwrap();
            match s.log_encounter(bad.clone()) {
                Err(Error::Invalid { field: f, .. }) => prop_assert_eq!(f, field),
                other => return Err(TestCaseError::fail(format!("log of a bad {field}: {other:?}"))),
            }
            match s.amend_encounter(&first, bad) {
                Err(Error::Invalid { field: f, .. }) => prop_assert_eq!(f, field),
                other => return Err(TestCaseError::fail(format!("amend with a bad {field}: {other:?}"))),
            }
            prop_assert_eq!(&s.projection_fingerprint().unwrap(), &fp, "a rejected write changed the projections");
            prop_assert_eq!(s.outbox_len().unwrap(), outbox, "a rejected write queued a change");
            prop_assert_eq!(s.audit_log(1).unwrap(), audit, "a rejected write was audited");
            // The control: the same input unspoilt is accepted and does change both.
            let e = s.log_encounter(good).unwrap();
            prop_assert!(s.outbox_len().unwrap() > outbox);
            prop_assert!(s.projection_fingerprint().unwrap() != fp);
            prop_assert!(s.projection_fingerprint().unwrap().contains(&e.id));
            Ok(())
        })
        .unwrap();
}

/// The same for a person and an alert: a bad identifier is rejected naming its list, and
/// nothing changes.
#[test]
fn rejected_people_and_alerts_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::create(
        dir.path(),
        Unlock::Key(StoreKey::generate()),
        TeamSetup::new("Test Team", &["north-beat"]),
        &StoreOptions::default(),
    )
    .unwrap();
    s.set_durability(Durability::CrashSafe).unwrap();
    let s = RefCell::new(s);
    let mut runner = TestRunner::new(config(32));
    let strategy = (0usize..4, "[a-z]{1,8}", "\\PC{0,12}");
    runner
        .run(&strategy, |(which, word, junk)| {
            let mut s = s.borrow_mut();
            let fp = s.projection_fingerprint().unwrap();
            let outbox = s.outbox_len().unwrap();
            let mut a = alert();
            let (field, r) = match which {
                0 => {
                    a.phones = vec!["07700 900123".into(), format!("call {word}")];
                    ("alert.phones", s.add_alert(a).map(|_| ()))
                }
                1 => {
                    a.emails = vec![format!("{word}{junk}")];
                    if email(&a.emails[0]).is_ok() {
                        return Ok(());
                    }
                    ("alert.emails", s.add_alert(a).map(|_| ()))
                }
                2 => {
                    a.plates = vec![format!("{word}!{junk}")];
                    ("alert.plates", s.add_alert(a).map(|_| ()))
                }
                _ => ("person.code_name", s.add_person(PersonInput::new(format!(" \t{}", " ".repeat(word.len())))).map(|_| ())),
            };
            match r {
                Err(Error::Invalid { field: f, .. }) => prop_assert_eq!(f, field),
                other => return Err(TestCaseError::fail(format!("{field}: {other:?}"))),
            }
            prop_assert_eq!(s.projection_fingerprint().unwrap(), fp);
            prop_assert_eq!(s.outbox_len().unwrap(), outbox);
            Ok(())
        })
        .unwrap();
}

// ---- regressions

/// `0044 (0)7700 900123` is how some people write a UK number with the international prefix;
/// it must normalise like `+44 (0)7700 900123`. It once did not (the `00` prefix was counted
/// when locating the bracketed trunk 0), so an alert stored as `07700 900123` was not found.
#[test]
fn regression_0044_with_bracketed_trunk_zero() {
    assert_eq!(phone("+44 (0)7700 900123", "GB").unwrap(), "+447700900123");
    assert_eq!(phone("0044 (0)7700 900123", "GB").unwrap(), "+447700900123");
}
