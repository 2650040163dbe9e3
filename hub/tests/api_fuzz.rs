//! Property tests: arbitrary bytes, and mutations of valid requests, sent to every endpoint
//! never panic the hub, never produce a 5xx, and always come back as a typed error body
//! (or a valid success). Runs on SQLite (decoding and checks are engine-independent).

mod common;

use std::sync::OnceLock;

use common::*;
use outreach_proto::keys::{DeviceKeys, TeamKey};
use outreach_proto::messages::*;
use outreach_proto::orders::{ShredOrder, ShredReason, WipeOrder};
use outreach_proto::wrap::wrap_team_key;
use proptest::prelude::*;

/// How many valid requests the fixture builds (one per endpoint with a body, shred, shreds,
/// rekey and revoke with a wipe order included, plus a revoked device's request).
const VALID_REQUESTS: usize = 9;

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
            // A member revoked with a wipe order (epoch 1), and one still to revoke.
            let lost = h.enrol(&team, Role::Member, "TEST fuzz lost phone").await;
            let other = h.enrol(&team, Role::Member, "TEST fuzz other phone").await;
            let key1 = TeamKey::generate(1);
            let wrap_for = |key: &TeamKey, devs: &[&Dev]| -> Vec<_> {
                devs.iter().map(|d| wrap_team_key(key, team.id, &d.keys.public(), &team.lead.keys).unwrap()).collect()
            };
            let wipe = WipeOrder::new(&team.lead.keys, team.id, lost.keys.device_id(), 1_900_000_000_000);
            let revoke = RevokeRequest {
                device_id: lost.keys.device_id(),
                epoch: 1,
                team_keys: wrap_for(&key1, &[&team.lead, &other]),
                recipient_kx: vec![],
                wipe: Some(wipe),
            };
            let _: RevokeResponse = ok(h.signed(team.id, &team.lead, paths::REVOKE, &revoke).await);
            // Requests valid in this state (whichever of the epoch-2 rotations lands first
            // makes the other one stale; mutations of either are still checked).
            let key2 = TeamKey::generate(2);
            let order = ShredOrder::new(&team.lead.keys, team.id, vec![doc.id], 2, ShredReason::Erasure, 1_900_000_000_000);
            let shred = ShredRequest { order, team_keys: wrap_for(&key2, &[&team.lead, &other]), recipient_kx: vec![] };
            let revoke_other = RevokeRequest {
                device_id: other.keys.device_id(),
                epoch: 2,
                team_keys: wrap_for(&key2, &[&team.lead]),
                recipient_kx: vec![],
                wipe: Some(WipeOrder::new(&team.lead.keys, team.id, other.keys.device_id(), 1_900_000_000_000)),
            };
            let rekey = RekeyRequest { kx_pub: DeviceKeys::generate().public().kx_pub };
            let code = h.invite(&team, Role::Member, 3_600_000).await;
            let lead = &team.lead.keys;
            let valid = vec![
                (paths::PUSH, h.sign(team.id, lead, paths::PUSH, &push).to_json()),
                (paths::PULL, h.sign(team.id, lead, paths::PULL, &PullRequest { cursor: 0, limit: 5 }).to_json()),
                (paths::DEVICES, h.sign(team.id, lead, paths::DEVICES, &DevicesRequest {}).to_json()),
                (paths::ENROL, Harness::enrol_request(&code, &DeviceKeys::generate(), "TEST fuzz phone")),
                (paths::SHRED, h.sign(team.id, lead, paths::SHRED, &shred).to_json()),
                (paths::SHREDS, h.sign(team.id, lead, paths::SHREDS, &ShredsRequest { since: 0 }).to_json()),
                (paths::REKEY, h.sign(team.id, &other.keys, paths::REKEY, &rekey).to_json()),
                (paths::REVOKE, h.sign(team.id, lead, paths::REVOKE, &revoke_other).to_json()),
                // The revoked device asking: refused, with its wipe order.
                (paths::PULL, h.sign(team.id, &lost.keys, paths::PULL, &PullRequest { cursor: 0, limit: 5 }).to_json()),
            ];
            (engine, h, team, valid)
        });
        assert_eq!(valid.len(), VALID_REQUESTS);
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
        which in 0usize..VALID_REQUESTS,
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
