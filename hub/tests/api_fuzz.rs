//! Property tests: arbitrary bytes, and mutations of valid requests, sent to every endpoint
//! never panic the hub, never produce a 5xx, and always come back as a typed error body
//! (or a valid success). Runs on SQLite (decoding and checks are engine-independent).

mod common;

use std::sync::OnceLock;

use common::*;
use outreach_proto::messages::*;
use proptest::prelude::*;

/// Every endpoint, plus paths that are not endpoints.
fn paths_to_try() -> Vec<&'static str> {
    let mut all = paths::ALL.to_vec();
    all.extend(["/v1/", "/", "/v1/push/extra"]);
    all
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    harness: Harness,
    team: Team,
    valid: Vec<(&'static str, Vec<u8>)>,
    _engine: Engine,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (engine, harness, team, valid) = rt.block_on(async {
            let engine = sqlite_engine().await.unwrap();
            let h = Harness::new(engine.store.clone());
            let team = h.create_team().await;
            let doc = new_doc(team.id, &team.lead);
            let push = PushRequest { chunks: vec![fake_chunk(team.id, &team.lead, &doc, 1)], doc_keys: vec![doc.wrapped.clone()] };
            let code = h.invite(&team, Role::Member, 3_600_000).await;
            let valid = vec![
                (paths::PUSH, h.sign(team.id, &team.lead.keys, paths::PUSH, &push).to_json()),
                (paths::PULL, h.sign(team.id, &team.lead.keys, paths::PULL, &PullRequest { cursor: 0, limit: 5 }).to_json()),
                (paths::DEVICES, h.sign(team.id, &team.lead.keys, paths::DEVICES, &DevicesRequest {}).to_json()),
                (paths::ENROL, Harness::enrol_request(&code, &outreach_proto::keys::DeviceKeys::generate(), "TEST fuzz phone")),
            ];
            (engine, h, team, valid)
        });
        Fixture { rt, harness, team, valid, _engine: engine }
    })
}

fn check_reply(reply: &Reply) -> Result<(), TestCaseError> {
    prop_assert!(reply.0 < 500, "server error {} {}", reply.0, String::from_utf8_lossy(&reply.1));
    if reply.0 != 200 {
        let body: ErrorBody = serde_json::from_slice(&reply.1).map_err(|_| TestCaseError::fail("untyped error body"))?;
        prop_assert_eq!(body.error.code.http_status(), reply.0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_to_any_endpoint_get_typed_errors(
        path in proptest::sample::select(paths_to_try()),
        get in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let f = fixture();
        let reply = f.rt.block_on(f.harness.call(if get { "GET" } else { "POST" }, path, body));
        check_reply(&reply)?;
    }

    #[test]
    fn json_shaped_noise_gets_typed_errors(
        path in proptest::sample::select(paths_to_try()),
        body in "\\{(\"[a-z_]{1,10}\":(\"[A-Za-z0-9_-]{0,64}\"|-?[0-9]{1,22}|true|null|\\[\\]|\\{\\}),?){0,6}\\}",
    ) {
        let f = fixture();
        let reply = f.rt.block_on(f.harness.post(path, body.into_bytes()));
        check_reply(&reply)?;
        prop_assert_ne!(reply.0, 200);
    }

    #[test]
    fn mutated_valid_requests_never_panic_or_error_500(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4),
        truncate in proptest::option::of(any::<proptest::sample::Index>()),
    ) {
        let f = fixture();
        let (path, valid) = &f.valid[which];
        let mut body = valid.clone();
        for (at, byte) in &edits {
            let i = at.index(body.len());
            body[i] = *byte;
        }
        if let Some(at) = truncate {
            body.truncate(at.index(body.len()));
        }
        let before = f.rt.block_on(f.harness.fingerprint());
        let reply = f.rt.block_on(f.harness.post(path, body.clone()));
        check_reply(&reply)?;
        if reply.0 != 200 {
            prop_assert_eq!(before, f.rt.block_on(f.harness.fingerprint()), "a refused request changed storage");
        }
        let _ = &f.team;
    }
}
