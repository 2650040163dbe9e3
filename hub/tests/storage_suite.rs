//! The hub's behaviour suite, written once and run against every storage engine: SQLite
//! always, PostgreSQL when OUTREACH_TEST_PG_URL is set (each test in its own schema).

mod common;

use common::*;
use outreach_proto::auth::SignedRequest;
use outreach_proto::ids::{DocId, TeamId};
use outreach_proto::orders::{ShredOrder, ShredReason, WipeOrder};
use outreach_proto::keys::{DeviceKeys, TeamKey};
use outreach_proto::messages::*;
use outreach_proto::seal::open_chunk;
use outreach_proto::wrap::{unwrap_doc_key, unwrap_team_key, wrap_team_key, WrappedTeamKey};
use outreach_proto::{MAX_BODY_BYTES, MAX_CLOCK_SKEW_MS, PROTOCOL_VERSION};

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let engine = super::sqlite_engine().await.expect("sqlite engine");
                    super::$name(super::Harness::new(engine.store.clone())).await;
                    engine.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(engine) = super::pg_engine().await else { return };
                    super::$name(super::Harness::new(engine.store.clone())).await;
                    engine.cleanup().await;
                }
            )*
        }
    };
}

suite!(
    push_pull_round_trip_with_paging_and_resume,
    enrolled_device_reads_what_the_lead_wrote,
    repush_is_idempotent_and_stores_nothing_new,
    conflicting_doc_key_is_refused,
    revoked_device_push_and_pull_are_refused,
    tampered_chunk_is_refused,
    chunk_signed_by_unknown_device_is_refused,
    request_from_unknown_device_is_refused,
    replayed_request_is_refused,
    oversized_body_is_refused,
    malformed_bodies_are_refused,
    bad_signature_and_stale_timestamp_are_refused,
    expired_invite_is_refused,
    reused_invite_is_refused,
    members_cannot_invite_or_revoke,
    revocation_wraps_new_key_for_remaining_devices_only,
    revocation_with_wrong_key_set_is_refused,
    revocation_drops_pending_invites,
    create_team_checks_setup_code_and_uniqueness,
    pull_pages_are_bounded_in_bytes,
    nonces_are_pruned_only_after_the_window,
    concurrent_pushes_are_never_skipped_by_a_concurrent_puller,
    shred_deletes_exactly_the_named_documents,
    pushes_for_shredded_documents_are_discarded,
    shreds_list_orders_with_the_requesters_own_wrapping,
    shred_refusals_leave_storage_unchanged,
    rekey_replaces_the_agreement_key,
    rotation_for_a_replaced_agreement_key_is_a_conflict,
    wipe_order_reaches_only_the_revoked_device,
    invalid_wipe_orders_are_refused,
    expired_invite_packages_are_dropped,
    pushes_racing_a_shred_leave_nothing_of_the_document,
    shreds_replies_are_bounded_and_resume,
    shreds_replies_of_large_orders_fit_the_body_limit,
);

async fn push_pull_round_trip_with_paging_and_resume(h: Harness) {
    let team = h.create_team().await;
    let member = h.enrol(&team, Role::Member, "TEST van phone A").await;
    let doc = new_doc(team.id, &member);
    let chunks: Vec<_> = (0..23).map(|n| fake_chunk(team.id, &member, &doc, n)).collect();
    let first: PushResponse = ok(h.push(team.id, &member, chunks[..10].to_vec(), vec![doc.wrapped.clone()]).await);
    assert!(first.chunks.iter().all(|c| c.status == PushStatus::Stored));
    assert_eq!(first.doc_keys[0].status, PushStatus::Stored);
    let second: PushResponse = ok(h.push(team.id, &member, chunks[10..].to_vec(), vec![]).await);
    assert_eq!(second.chunks.len(), 13);
    for (pushed, chunk) in first.chunks.iter().chain(&second.chunks).zip(&chunks) {
        assert_eq!(pushed.hash, chunk.hash());
    }

    // The lead pages through in sevens.
    let items = h.pull_all(team.id, &team.lead, 0, 7).await;
    let seqs: Vec<u64> = items.iter().map(|i| i.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequence strictly increases: {seqs:?}");
    let mut doc_key = None;
    let mut opened = Vec::new();
    for item in &items {
        match &item.entry {
            PullEntry::TeamKey { key } => assert_eq!(key.device_id, team.lead.keys.device_id()),
            PullEntry::DocKey { key } => doc_key = Some(unwrap_doc_key(&team.lead.team_key, team.id, key).unwrap()),
            PullEntry::Chunk { hash, chunk } => {
                assert_eq!(*hash, chunk.hash());
                let key = doc_key.as_ref().expect("doc key precedes its chunks");
                opened.push(open_chunk(chunk, key, &member.keys.public()).unwrap().to_vec());
            }
            PullEntry::Revocation { .. } => panic!("no revocation happened"),
            PullEntry::Shred { .. } => panic!("no shred happened"),
        }
    }
    let expected: Vec<Vec<u8>> = (0..23)
        .map(|n| format!("FAKE change {n}: encounter with Testy McTestface in zone TEST-ZONE").into_bytes())
        .collect();
    assert_eq!(opened, expected);

    // Resume from the middle: exactly the rest comes back.
    let mid = items[9].seq;
    let rest = h.pull_all(team.id, &team.lead, mid, 5).await;
    assert_eq!(rest, items[10..].to_vec());
    // At the end: nothing more, cursor unchanged.
    let end: PullResponse = ok(h.pull(team.id, &team.lead, items.last().unwrap().seq, 50).await);
    assert!(end.items.is_empty() && !end.more);
    assert_eq!(end.next_cursor, items.last().unwrap().seq);
}

async fn enrolled_device_reads_what_the_lead_wrote(h: Harness) {
    let team = h.create_team().await;
    let doc = new_doc(team.id, &team.lead);
    let chunk = fake_chunk(team.id, &team.lead, &doc, 1);
    let _: PushResponse = ok(h.push(team.id, &team.lead, vec![chunk], vec![doc.wrapped.clone()]).await);
    let member = h.enrol(&team, Role::Member, "TEST van phone B").await;
    // The member only sees its own team-key wrappings (none yet: it got the key by invite).
    let items = h.pull_all(team.id, &member, 0, 100).await;
    assert!(!items.iter().any(|i| matches!(i.entry, PullEntry::TeamKey { .. })));
    let PullEntry::DocKey { key } = &items[0].entry else { panic!("expected doc key first") };
    let dk = unwrap_doc_key(&member.team_key, team.id, key).unwrap();
    let PullEntry::Chunk { chunk, .. } = &items[1].entry else { panic!("expected chunk") };
    let text = open_chunk(chunk, &dk, &team.lead.keys.public()).unwrap();
    assert!(text.starts_with(b"FAKE change 1"));
    let devices: DevicesResponse = ok(h.signed(team.id, &member, paths::DEVICES, &DevicesRequest {}).await);
    assert_eq!(devices.epoch, 0);
    assert_eq!(devices.devices.len(), 2);
    assert!(devices.devices.iter().any(|d| d.device_id == member.keys.device_id() && d.role == Role::Member && d.name == member.name));
}

async fn repush_is_idempotent_and_stores_nothing_new(h: Harness) {
    let team = h.create_team().await;
    let doc = new_doc(team.id, &team.lead);
    let chunk = fake_chunk(team.id, &team.lead, &doc, 1);
    let first: PushResponse = ok(h.push(team.id, &team.lead, vec![chunk.clone()], vec![doc.wrapped.clone()]).await);
    let items_before = h.fingerprint().await.into_iter().find(|t| t.table == "items").unwrap();
    let again: PushResponse = ok(h.push(team.id, &team.lead, vec![chunk.clone(), chunk.clone()], vec![doc.wrapped.clone()]).await);
    assert!(again.chunks.iter().all(|c| c.status == PushStatus::Duplicate && c.seq == first.chunks[0].seq));
    assert_eq!(again.doc_keys[0].status, PushStatus::Duplicate);
    assert_eq!(again.doc_keys[0].seq, first.doc_keys[0].seq);
    let items_after = h.fingerprint().await.into_iter().find(|t| t.table == "items").unwrap();
    assert_eq!(items_before, items_after, "a duplicate push stored something");
    // And the puller sees the chunk once.
    let items = h.pull_all(team.id, &team.lead, 0, 100).await;
    assert_eq!(items.iter().filter(|i| matches!(i.entry, PullEntry::Chunk { .. })).count(), 1);
}

async fn conflicting_doc_key_is_refused(h: Harness) {
    let team = h.create_team().await;
    let doc = new_doc(team.id, &team.lead);
    let _: PushResponse = ok(h.push(team.id, &team.lead, vec![], vec![doc.wrapped.clone()]).await);
    let mut other = doc.wrapped.clone();
    other.ciphertext[0] ^= 1;
    let chunk = fake_chunk(team.id, &team.lead, &doc, 2);
    // The whole batch is refused: the valid chunk beside the conflicting key is not stored.
    h.unchanged(async { refused(h.push(team.id, &team.lead, vec![chunk.clone()], vec![other.clone()]).await, ErrorCode::Conflict) }).await;
    let mut future = doc.wrapped.clone();
    future.epoch = 5;
    h.unchanged(async { refused(h.push(team.id, &team.lead, vec![], vec![future.clone()]).await, ErrorCode::EpochMismatch) }).await;
    let mut short = doc.wrapped.clone();
    short.ciphertext.pop();
    h.unchanged(async { refused(h.push(team.id, &team.lead, vec![], vec![short.clone()]).await, ErrorCode::BadRequest) }).await;
}

async fn revoke(h: &Harness, team: &Team, target: &Dev, remaining: &[&Dev]) -> (TeamKey, Reply) {
    revoke_at(h, team, target, remaining, team.lead.team_key.epoch() + 1).await
}

async fn revoke_at(h: &Harness, team: &Team, target: &Dev, remaining: &[&Dev], epoch: u64) -> (TeamKey, Reply) {
    let new_key = TeamKey::generate(epoch);
    let team_keys: Vec<WrappedTeamKey> = remaining
        .iter()
        .map(|d| wrap_team_key(&new_key, team.id, &d.keys.public(), &team.lead.keys).unwrap())
        .collect();
    let req = RevokeRequest { device_id: target.keys.device_id(), epoch: new_key.epoch(), team_keys, recipient_kx: vec![], wipe: None };
    let reply = h.signed(team.id, &team.lead, paths::REVOKE, &req).await;
    (new_key, reply)
}

async fn revoked_device_push_and_pull_are_refused(h: Harness) {
    let team = h.create_team().await;
    let lost = h.enrol(&team, Role::Member, "TEST lost phone").await;
    let doc = new_doc(team.id, &lost);
    let (_, reply) = revoke(&h, &team, &lost, &[&team.lead]).await;
    let _: RevokeResponse = ok(reply);
    let chunk = fake_chunk(team.id, &lost, &doc, 1);
    h.unchanged(async { refused(h.push(team.id, &lost, vec![chunk.clone()], vec![doc.wrapped.clone()]).await, ErrorCode::Revoked) }).await;
    h.unchanged(async { refused(h.pull(team.id, &lost, 0, 10).await, ErrorCode::Revoked) }).await;
    h.unchanged(async { refused(h.signed(team.id, &lost, paths::DEVICES, &DevicesRequest {}).await, ErrorCode::Revoked) }).await;
}

async fn tampered_chunk_is_refused(h: Harness) {
    let team = h.create_team().await;
    let doc = new_doc(team.id, &team.lead);
    let good = fake_chunk(team.id, &team.lead, &doc, 1);
    for i in [0, good.ciphertext.len() / 2, good.ciphertext.len() - 1] {
        let mut bad = good.clone();
        bad.ciphertext[i] ^= 0x40;
        h.unchanged(async { refused(h.push(team.id, &team.lead, vec![good.clone(), bad.clone()], vec![]).await, ErrorCode::BadChunkSignature) }).await;
    }
    let mut moved = good.clone();
    moved.doc_id = outreach_proto::ids::DocId::random();
    h.unchanged(async { refused(h.push(team.id, &team.lead, vec![moved.clone()], vec![]).await, ErrorCode::BadChunkSignature) }).await;
}

async fn chunk_signed_by_unknown_device_is_refused(h: Harness) {
    let team = h.create_team().await;
    let stranger = Dev { keys: DeviceKeys::generate(), name: "TEST stranger".into(), team_key: team.lead.team_key.clone() };
    let doc = new_doc(team.id, &team.lead);
    // Authored and signed by a device the hub does not know, pushed by the lead.
    let foreign = fake_chunk(team.id, &stranger, &doc, 1);
    h.unchanged(async { refused(h.push(team.id, &team.lead, vec![foreign.clone()], vec![]).await, ErrorCode::ChunkAuthorMismatch) }).await;
    // Claims the lead as author but is signed by the stranger.
    let mut forged = foreign.clone();
    forged.author = team.lead.keys.device_id();
    h.unchanged(async { refused(h.push(team.id, &team.lead, vec![forged.clone()], vec![]).await, ErrorCode::BadChunkSignature) }).await;
    // Claims another team.
    let mut elsewhere = fake_chunk(team.id, &team.lead, &doc, 2);
    elsewhere.team_id = TeamId::random();
    h.unchanged(async { refused(h.push(team.id, &team.lead, vec![elsewhere.clone()], vec![]).await, ErrorCode::ChunkAuthorMismatch) }).await;
}

async fn request_from_unknown_device_is_refused(h: Harness) {
    let team = h.create_team().await;
    let stranger = Dev { keys: DeviceKeys::generate(), name: "TEST stranger".into(), team_key: TeamKey::generate(0) };
    let doc = new_doc(team.id, &stranger);
    let chunk = fake_chunk(team.id, &stranger, &doc, 1);
    h.unchanged(async { refused(h.push(team.id, &stranger, vec![chunk.clone()], vec![]).await, ErrorCode::UnknownDevice) }).await;
    h.unchanged(async { refused(h.pull(team.id, &stranger, 0, 10).await, ErrorCode::UnknownDevice) }).await;
    // A real device of another (unknown) team id.
    h.unchanged(async { refused(h.pull(TeamId::random(), &team.lead, 0, 10).await, ErrorCode::UnknownDevice) }).await;
}

async fn replayed_request_is_refused(h: Harness) {
    let team = h.create_team().await;
    let doc = new_doc(team.id, &team.lead);
    let payload = PushRequest { chunks: vec![fake_chunk(team.id, &team.lead, &doc, 1)], doc_keys: vec![doc.wrapped.clone()] };
    let req = h.sign(team.id, &team.lead.keys, paths::PUSH, &payload).to_json();
    let _: PushResponse = ok(h.post(paths::PUSH, req.clone()).await);
    h.unchanged(async { refused(h.post(paths::PUSH, req.clone()).await, ErrorCode::Replay) }).await;
    let pull = h.sign(team.id, &team.lead.keys, paths::PULL, &PullRequest { cursor: 0, limit: 10 }).to_json();
    let _: PullResponse = ok(h.post(paths::PULL, pull.clone()).await);
    h.unchanged(async { refused(h.post(paths::PULL, pull.clone()).await, ErrorCode::Replay) }).await;
}

async fn oversized_body_is_refused(h: Harness) {
    let team = h.create_team().await;
    let doc = new_doc(team.id, &team.lead);
    // A genuinely signed push whose envelope exceeds the limit.
    let big = outreach_proto::seal::seal_chunk(&doc.key, team.id, doc.id, doc.key_id, &vec![b'x'; MAX_BODY_BYTES], &team.lead.keys).unwrap();
    let body = h.sign(team.id, &team.lead.keys, paths::PUSH, &PushRequest { chunks: vec![big], doc_keys: vec![] }).to_json();
    assert!(body.len() > MAX_BODY_BYTES);
    h.unchanged(async { refused(h.post(paths::PUSH, body.clone()).await, ErrorCode::TooLarge) }).await;
    h.unchanged(async { refused(h.post(paths::ENROL, vec![b' '; MAX_BODY_BYTES + 1]).await, ErrorCode::TooLarge) }).await;
}

async fn malformed_bodies_are_refused(h: Harness) {
    let team = h.create_team().await;
    for path in [
        paths::PUSH, paths::PULL, paths::DEVICES, paths::REVOKE, paths::SHRED, paths::SHREDS, paths::REKEY, paths::CREATE_INVITE,
        paths::ENROL, paths::CREATE_TEAM,
    ] {
        for body in [&b""[..], b"{", b"null", b"[1,2]", b"{\"v\":1}", b"\xff\xfe"] {
            h.unchanged(async { refused(h.post(path, body.to_vec()).await, ErrorCode::Malformed) }).await;
        }
    }
    // A valid envelope around a payload of the wrong shape.
    let req = SignedRequest::sign_raw(&team.lead.keys, team.id, paths::PULL, h.clock.now_ms(), [7; 16], b"{\"cursor\":\"x\"}".to_vec());
    h.unchanged(async { refused(h.post(paths::PULL, req.to_json()).await, ErrorCode::Malformed) }).await;
    // The error message does not echo the payload.
    let reply = h.post(paths::PUSH, b"{\"chunks\":\"FAKE-STREET-NAME\"}".to_vec()).await;
    assert!(!String::from_utf8_lossy(&reply.1).contains("FAKE-STREET-NAME"));
    // Unknown endpoint and wrong method are typed too.
    refused(h.post("/v1/nope", vec![]).await, ErrorCode::NoSuchEndpoint);
    refused(h.call("GET", paths::PUSH, vec![]).await, ErrorCode::MethodNotAllowed);
}

async fn bad_signature_and_stale_timestamp_are_refused(h: Harness) {
    let team = h.create_team().await;
    let payload = PullRequest { cursor: 0, limit: 10 };
    let mut req = h.sign(team.id, &team.lead.keys, paths::PULL, &payload);
    req.sig[3] ^= 1;
    h.unchanged(async { refused(h.post(paths::PULL, req.to_json()).await, ErrorCode::BadSignature) }).await;
    let old = SignedRequest::sign(&team.lead.keys, team.id, paths::PULL, h.clock.now_ms() - MAX_CLOCK_SKEW_MS - 5_000, &payload);
    h.unchanged(async { refused(h.post(paths::PULL, old.to_json()).await, ErrorCode::StaleTimestamp) }).await;
    let future = SignedRequest::sign(&team.lead.keys, team.id, paths::PULL, h.clock.now_ms() + MAX_CLOCK_SKEW_MS + 5_000, &payload);
    h.unchanged(async { refused(h.post(paths::PULL, future.to_json()).await, ErrorCode::StaleTimestamp) }).await;
    // Signed for pull, sent to devices.
    let elsewhere = h.sign(team.id, &team.lead.keys, paths::PULL, &payload);
    h.unchanged(async { refused(h.post(paths::DEVICES, elsewhere.to_json()).await, ErrorCode::BadRequest) }).await;
    let mut v2 = h.sign(team.id, &team.lead.keys, paths::PULL, &payload);
    v2.v = 2;
    h.unchanged(async { refused(h.post(paths::PULL, v2.to_json()).await, ErrorCode::UnsupportedVersion) }).await;
}

async fn expired_invite_is_refused(h: Harness) {
    let team = h.create_team().await;
    let code = h.invite(&team, Role::Member, 60_000).await;
    h.clock.advance(61_000);
    let keys = DeviceKeys::generate();
    h.unchanged(async { refused(h.post(paths::ENROL, Harness::enrol_request(&code, &keys, "TEST late phone")).await, ErrorCode::InviteExpired) }).await;
}

async fn reused_invite_is_refused(h: Harness) {
    let team = h.create_team().await;
    let code = h.invite(&team, Role::Member, 60_000).await;
    let first = DeviceKeys::generate();
    let _: EnrolResponse = ok(h.post(paths::ENROL, Harness::enrol_request(&code, &first, "TEST phone 1")).await);
    let second = DeviceKeys::generate();
    h.unchanged(async { refused(h.post(paths::ENROL, Harness::enrol_request(&code, &second, "TEST phone 2")).await, ErrorCode::InviteUsed) }).await;
    // The same device again is refused the same way (the token is gone).
    h.unchanged(async { refused(h.post(paths::ENROL, Harness::enrol_request(&code, &first, "TEST phone 1")).await, ErrorCode::InviteUsed) }).await;
    // An unknown token, and a valid token presented for another team.
    let unknown = outreach_proto::invite::InviteCode::new(HUB_URL, team.id).unwrap();
    h.unchanged(async { refused(h.post(paths::ENROL, Harness::enrol_request(&unknown, &second, "TEST phone 2")).await, ErrorCode::InviteUnknown) }).await;
    // A forged proof of possession.
    let fresh = h.invite(&team, Role::Member, 60_000).await;
    let mut req: EnrolRequest = serde_json::from_slice(&Harness::enrol_request(&fresh, &second, "TEST phone 2")).unwrap();
    req.device.name = "TEST renamed".into();
    h.unchanged(async { refused(h.post(paths::ENROL, serde_json::to_vec(&req).unwrap()).await, ErrorCode::BadSignature) }).await;
}

async fn members_cannot_invite_or_revoke(h: Harness) {
    let team = h.create_team().await;
    let member = h.enrol(&team, Role::Member, "TEST van phone").await;
    let code = outreach_proto::invite::InviteCode::new(HUB_URL, team.id).unwrap();
    let req = CreateInviteRequest {
        token_hash: code.token_hash(),
        expires_ms: h.clock.now_ms() + 60_000,
        role: Role::Lead,
        package: outreach_proto::invite::SealedInvitePackage { nonce: [0; 24], ciphertext: vec![1; 64] },
    };
    h.unchanged(async { refused(h.signed(team.id, &member, paths::CREATE_INVITE, &req).await, ErrorCode::Forbidden) }).await;
    let new_key = TeamKey::generate(1);
    let revoke = RevokeRequest {
        device_id: team.lead.keys.device_id(),
        epoch: 1,
        team_keys: vec![wrap_team_key(&new_key, team.id, &member.keys.public(), &member.keys).unwrap()],
        recipient_kx: vec![],
        wipe: None,
    };
    h.unchanged(async { refused(h.signed(team.id, &member, paths::REVOKE, &revoke).await, ErrorCode::Forbidden) }).await;
    // A lead's invite with an expiry in the past or too far ahead.
    let mut past = req.clone();
    past.expires_ms = h.clock.now_ms() - 1;
    h.unchanged(async { refused(h.signed(team.id, &team.lead, paths::CREATE_INVITE, &past).await, ErrorCode::BadRequest) }).await;
    let mut far = req.clone();
    far.expires_ms = h.clock.now_ms() + MAX_INVITE_LIFETIME_MS + 60_000;
    h.unchanged(async { refused(h.signed(team.id, &team.lead, paths::CREATE_INVITE, &far).await, ErrorCode::BadRequest) }).await;
}

async fn revocation_wraps_new_key_for_remaining_devices_only(h: Harness) {
    let team = h.create_team().await;
    let stays = h.enrol(&team, Role::Member, "TEST stays").await;
    let lost = h.enrol(&team, Role::Member, "TEST lost").await;
    let before = h.fingerprint().await.into_iter().find(|t| t.table == "items").unwrap().rows;
    let (new_key, reply) = revoke(&h, &team, &lost, &[&team.lead, &stays]).await;
    let resp: RevokeResponse = ok(reply);
    assert_eq!(resp.epoch, 1);
    let after = h.fingerprint().await.into_iter().find(|t| t.table == "items").unwrap().rows;
    assert_eq!(after, before + 3, "two wrappings and one revocation item");

    for dev in [&team.lead, &stays] {
        let items = h.pull_all(team.id, dev, 0, 100).await;
        let epoch1: Vec<_> = items
            .iter()
            .filter_map(|i| match &i.entry {
                PullEntry::TeamKey { key } if key.epoch == 1 => Some(key),
                _ => None,
            })
            .collect();
        assert_eq!(epoch1.len(), 1);
        assert_eq!(epoch1[0].device_id, dev.keys.device_id());
        let opened = unwrap_team_key(epoch1[0], team.id, &dev.keys, &team.lead.keys.public()).unwrap();
        assert_eq!(opened.expose_secret(), new_key.expose_secret());
        let revocation = items.iter().find_map(|i| match &i.entry {
            PullEntry::Revocation { device_id, epoch } => Some((*device_id, *epoch)),
            _ => None,
        });
        assert_eq!(revocation, Some((lost.keys.device_id(), 1)));
        assert_eq!(items.last().unwrap().seq, resp.seq);
    }
    refused(h.pull(team.id, &lost, 0, 100).await, ErrorCode::Revoked);
    let devices: DevicesResponse = ok(h.signed(team.id, &stays, paths::DEVICES, &DevicesRequest {}).await);
    assert_eq!(devices.epoch, 1);
    let lost_row = devices.devices.iter().find(|d| d.device_id == lost.keys.device_id()).unwrap();
    assert!(lost_row.revoked_ms.is_some());
    assert!(devices.devices.iter().filter(|d| d.device_id != lost.keys.device_id()).all(|d| d.revoked_ms.is_none()));
}

async fn revocation_with_wrong_key_set_is_refused(h: Harness) {
    let team = h.create_team().await;
    let stays = h.enrol(&team, Role::Member, "TEST stays").await;
    let lost = h.enrol(&team, Role::Member, "TEST lost").await;
    // Missing the remaining member.
    h.unchanged(async { refused(revoke(&h, &team, &lost, &[&team.lead]).await.1, ErrorCode::BadWrappedKey) }).await;
    // Including the device being revoked.
    h.unchanged(async { refused(revoke(&h, &team, &lost, &[&team.lead, &stays, &lost]).await.1, ErrorCode::BadWrappedKey) }).await;
    // A wrapping signed by someone else.
    let new_key = TeamKey::generate(1);
    let mut keys: Vec<WrappedTeamKey> =
        [&team.lead, &stays].iter().map(|d| wrap_team_key(&new_key, team.id, &d.keys.public(), &team.lead.keys).unwrap()).collect();
    keys[1] = wrap_team_key(&new_key, team.id, &stays.keys.public(), &stays.keys).unwrap();
    let req = RevokeRequest { device_id: lost.keys.device_id(), epoch: 1, team_keys: keys, recipient_kx: vec![], wipe: None };
    h.unchanged(async { refused(h.signed(team.id, &team.lead, paths::REVOKE, &req).await, ErrorCode::BadWrappedKey) }).await;
    // Skipping an epoch.
    let skip = TeamKey::generate(2);
    let keys = [&team.lead, &stays].iter().map(|d| wrap_team_key(&skip, team.id, &d.keys.public(), &team.lead.keys).unwrap()).collect();
    let req = RevokeRequest { device_id: lost.keys.device_id(), epoch: 2, team_keys: keys, recipient_kx: vec![], wipe: None };
    h.unchanged(async { refused(h.signed(team.id, &team.lead, paths::REVOKE, &req).await, ErrorCode::EpochMismatch) }).await;
    // Revoking itself, or an unknown device.
    h.unchanged(async { refused(revoke(&h, &team, &team.lead, &[&stays, &lost]).await.1, ErrorCode::BadRequest) }).await;
    let ghost = Dev { keys: DeviceKeys::generate(), name: "TEST ghost".into(), team_key: TeamKey::generate(0) };
    h.unchanged(async { refused(revoke(&h, &team, &ghost, &[&team.lead, &stays, &lost]).await.1, ErrorCode::NotFound) }).await;
}

async fn revocation_drops_pending_invites(h: Harness) {
    let team = h.create_team().await;
    let lost = h.enrol(&team, Role::Member, "TEST lost").await;
    let pending = h.invite(&team, Role::Member, 3_600_000).await;
    let _: RevokeResponse = ok(revoke(&h, &team, &lost, &[&team.lead]).await.1);
    let keys = DeviceKeys::generate();
    refused(h.post(paths::ENROL, Harness::enrol_request(&pending, &keys, "TEST new phone")).await, ErrorCode::InviteUnknown);
}

async fn create_team_checks_setup_code_and_uniqueness(h: Harness) {
    let keys = DeviceKeys::generate();
    let id = TeamId::random();
    let tk = TeamKey::generate(0);
    let request = |code: &str, id: TeamId| CreateTeamRequest {
        v: PROTOCOL_VERSION,
        setup_code: code.into(),
        team_id: id,
        lead: DeviceRegistration::new(&keys, id, "TEST lead"),
        team_key: wrap_team_key(&tk, id, &keys.public(), &keys).unwrap(),
    };
    h.unchanged(async { refused(h.post(paths::CREATE_TEAM, serde_json::to_vec(&request("wrong", id)).unwrap()).await, ErrorCode::BadSetupCode) }).await;
    let _: CreateTeamResponse = ok(h.post(paths::CREATE_TEAM, serde_json::to_vec(&request(SETUP_CODE, id)).unwrap()).await);
    h.unchanged(async { refused(h.post(paths::CREATE_TEAM, serde_json::to_vec(&request(SETUP_CODE, id)).unwrap()).await, ErrorCode::TeamExists) }).await;
    // A team key wrapped for someone else.
    let other = TeamId::random();
    let mut req = request(SETUP_CODE, other);
    req.team_key = wrap_team_key(&tk, other, &DeviceKeys::generate().public(), &keys).unwrap();
    h.unchanged(async { refused(h.post(paths::CREATE_TEAM, serde_json::to_vec(&req).unwrap()).await, ErrorCode::BadWrappedKey) }).await;
}

async fn pull_pages_are_bounded_in_bytes(h: Harness) {
    let team = h.create_team().await;
    let doc = new_doc(team.id, &team.lead);
    for n in 0..3u8 {
        let big = outreach_proto::seal::seal_chunk(&doc.key, team.id, doc.id, doc.key_id, &vec![n; 900 * 1024], &team.lead.keys).unwrap();
        let _: PushResponse = ok(h.push(team.id, &team.lead, vec![big], vec![]).await);
    }
    let first = h.pull(team.id, &team.lead, 0, 100).await;
    assert!(first.1.len() <= MAX_BODY_BYTES, "page of {} bytes", first.1.len());
    let page: PullResponse = ok(first);
    assert!(page.more, "the byte budget must split the page");
    assert!(page.items.len() < 4);
    let all = h.pull_all(team.id, &team.lead, 0, 100).await;
    assert_eq!(all.iter().filter(|i| matches!(i.entry, PullEntry::Chunk { .. })).count(), 3);
}

async fn nonces_are_pruned_only_after_the_window(h: Harness) {
    let team = h.create_team().await;
    let req = h.sign(team.id, &team.lead.keys, paths::PULL, &PullRequest { cursor: 0, limit: 1 }).to_json();
    let _: PullResponse = ok(h.post(paths::PULL, req.clone()).await);
    // Pruning at the current time keeps the nonce: the replay is still caught as a replay.
    h.store.prune_nonces(outreach_hub::storage::nonce_cutoff(h.clock.now_ms())).await.unwrap();
    refused(h.post(paths::PULL, req.clone()).await, ErrorCode::Replay);
    // Once the window has passed, the nonce may go, and the old request is stale anyway.
    h.clock.advance(MAX_CLOCK_SKEW_MS + 120_000);
    let pruned = h.store.prune_nonces(outreach_hub::storage::nonce_cutoff(h.clock.now_ms())).await.unwrap();
    assert!(pruned >= 1);
    refused(h.post(paths::PULL, req).await, ErrorCode::StaleTimestamp);
}

async fn concurrent_pushes_are_never_skipped_by_a_concurrent_puller(h: Harness) {
    use std::collections::HashSet;
    use std::sync::Arc;
    let h = Arc::new(h);
    let team = h.create_team().await;
    let mut devices = Vec::new();
    for i in 0..4 {
        devices.push(h.enrol(&team, Role::Member, &format!("TEST phone {i}")).await);
    }
    let mut expected = HashSet::new();
    let mut pushers = Vec::new();
    for dev in devices {
        let doc = new_doc(team.id, &dev);
        let chunks: Vec<_> = (0..15).map(|n| fake_chunk(team.id, &dev, &doc, n)).collect();
        expected.extend(chunks.iter().map(|c| c.hash()));
        let (h, team_id) = (h.clone(), team.id);
        pushers.push(tokio::spawn(async move {
            let _: PushResponse = ok(h.push(team_id, &dev, vec![], vec![doc.wrapped.clone()]).await);
            for chunk in chunks {
                let _: PushResponse = ok(h.push(team_id, &dev, vec![chunk], vec![]).await);
            }
        }));
    }
    // The lead pulls while the pushes run, only ever moving its cursor forward. If a later
    // sequence number became visible before an earlier one, the earlier item would be skipped.
    let mut seen = HashSet::new();
    let mut cursor = 0;
    loop {
        let done = pushers.iter().all(|p| p.is_finished());
        let page: PullResponse = ok(h.pull(team.id, &team.lead, cursor, 7).await);
        for item in &page.items {
            assert!(item.seq > cursor);
            if let PullEntry::Chunk { hash, .. } = &item.entry {
                assert!(seen.insert(*hash), "chunk delivered twice");
            }
        }
        cursor = page.next_cursor;
        if done && !page.more {
            break;
        }
    }
    for p in pushers {
        p.await.unwrap();
    }
    assert_eq!(seen, expected, "a concurrent puller missed pushed chunks");
}

/// A lead's shred of `docs`, with the new team key wrapped for `remaining`.
fn shred_request(team: &Team, lead: &Dev, docs: Vec<DocId>, epoch: u64, remaining: &[&Dev]) -> (TeamKey, ShredRequest) {
    let new_key = TeamKey::generate(epoch);
    let team_keys = remaining.iter().map(|d| wrap_team_key(&new_key, team.id, &d.keys.public(), &lead.keys).unwrap()).collect();
    let order = ShredOrder::new(&lead.keys, team.id, docs, epoch, ShredReason::Erasure, 1_900_000_000_000);
    (new_key, ShredRequest { order, team_keys, recipient_kx: vec![] })
}

fn doc_of(entry: &PullEntry) -> Option<DocId> {
    match entry {
        PullEntry::Chunk { chunk, .. } => Some(chunk.doc_id),
        PullEntry::DocKey { key } => Some(key.doc_id),
        _ => None,
    }
}

fn table(fp: &[outreach_hub::storage::TableFingerprint], name: &str) -> outreach_hub::storage::TableFingerprint {
    fp.iter().find(|t| t.table == name).unwrap_or_else(|| panic!("no table {name}")).clone()
}

async fn shred_deletes_exactly_the_named_documents(h: Harness) {
    let team = h.create_team().await;
    let member = h.enrol(&team, Role::Member, "TEST van phone A").await;
    let (a, b, c) = (new_doc(team.id, &member), new_doc(team.id, &member), new_doc(team.id, &team.lead));
    for (dev, doc, n) in [(&member, &a, 3), (&member, &b, 2), (&team.lead, &c, 4)] {
        let chunks = (0..n).map(|i| fake_chunk(team.id, dev, doc, i)).collect();
        let _: PushResponse = ok(h.push(team.id, dev, chunks, vec![doc.wrapped.clone()]).await);
    }
    let before = h.pull_all(team.id, &team.lead, 0, 100).await;
    let (new_key, req) = shred_request(&team, &team.lead, vec![a.id, b.id], 1, &[&team.lead, &member]);
    let resp: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &req).await);
    assert_eq!((resp.epoch, resp.chunks_deleted, resp.keys_deleted), (1, 5, 2));

    // Everything but A's and B's items is still there, unchanged and in order; then the new
    // team key and the shred order.
    let after = h.pull_all(team.id, &team.lead, 0, 100).await;
    let kept: Vec<PullItem> = before.iter().filter(|i| !matches!(doc_of(&i.entry), Some(d) if d == a.id || d == b.id)).cloned().collect();
    assert_eq!(kept.len(), before.len() - 7);
    assert_eq!(after[..kept.len()], kept[..]);
    let tail = &after[kept.len()..];
    assert_eq!(tail.len(), 2, "{tail:?}");
    let PullEntry::TeamKey { key } = &tail[0].entry else { panic!("expected the new team key, got {:?}", tail[0]) };
    assert_eq!(unwrap_team_key(key, team.id, &team.lead.keys, &team.lead.keys.public()).unwrap().expose_secret(), new_key.expose_secret());
    assert_eq!(tail[1].seq, resp.seq);
    assert_eq!(tail[1].entry, PullEntry::Shred { order: req.order.clone() });
    // C's chunks still open.
    assert!(after.iter().any(|i| matches!(&i.entry, PullEntry::Chunk { chunk, .. } if chunk.doc_id == c.id)));
    // The member sees the same order (and its own wrapping, not the lead's).
    let member_items = h.pull_all(team.id, &member, 0, 100).await;
    assert!(member_items.iter().any(|i| i.entry == PullEntry::Shred { order: req.order.clone() }));
    assert!(!member_items.iter().any(|i| matches!(doc_of(&i.entry), Some(d) if d == a.id || d == b.id)));
    let devices: DevicesResponse = ok(h.signed(team.id, &member, paths::DEVICES, &DevicesRequest {}).await);
    assert_eq!(devices.epoch, 1);

    // The same order again (its answer was lost): the first outcome, nothing deleted or added.
    let fp = h.fingerprint().await;
    let again: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &req).await);
    assert_eq!((again.epoch, again.seq, again.chunks_deleted, again.keys_deleted), (1, resp.seq, 0, 0));
    let fp2 = h.fingerprint().await;
    for name in ["teams", "items", "shredded_docs", "invites", "devices"] {
        assert_eq!(table(&fp, name), table(&fp2, name), "a retried shred changed {name}");
    }
}

async fn pushes_for_shredded_documents_are_discarded(h: Harness) {
    let team = h.create_team().await;
    let member = h.enrol(&team, Role::Member, "TEST van phone A").await;
    let (gone, kept) = (new_doc(team.id, &member), new_doc(team.id, &member));
    let _: PushResponse = ok(h.push(team.id, &member, vec![fake_chunk(team.id, &member, &gone, 0)], vec![gone.wrapped.clone()]).await);
    let (new_key, req) = shred_request(&team, &team.lead, vec![gone.id], 1, &[&team.lead, &member]);
    let shred: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &req).await);

    // A phone that had not synced yet pushes more of the shredded document (its old chunk,
    // a new one, its key, and a key re-wrapped under the new epoch) beside a live document.
    let late = fake_chunk(team.id, &member, &gone, 1);
    let old = fake_chunk(team.id, &member, &gone, 0);
    let live = fake_chunk(team.id, &member, &kept, 0);
    let rewrapped = outreach_proto::wrap::wrap_doc_key(&new_key, team.id, gone.id, gone.key_id, &gone.key).unwrap();
    let items_before = table(&h.fingerprint().await, "items");
    let resp: PushResponse = ok(h
        .push(team.id, &member, vec![late.clone(), old.clone(), live.clone()], vec![gone.wrapped.clone(), rewrapped, kept.wrapped.clone()])
        .await);
    let statuses: Vec<(PushStatus, u64)> = resp.chunks.iter().map(|c| (c.status, c.seq)).collect();
    assert_eq!(statuses[..2], [(PushStatus::Discarded, shred.seq), (PushStatus::Discarded, shred.seq)]);
    assert_eq!(statuses[2].0, PushStatus::Stored);
    let key_statuses: Vec<PushStatus> = resp.doc_keys.iter().map(|k| k.status).collect();
    assert_eq!(key_statuses, [PushStatus::Discarded, PushStatus::Discarded, PushStatus::Stored]);
    assert!(resp.doc_keys[..2].iter().all(|k| k.seq == shred.seq));
    let items_after = table(&h.fingerprint().await, "items");
    assert_eq!(items_after.rows, items_before.rows + 2, "only the live chunk and key were stored");
    let items = h.pull_all(team.id, &team.lead, 0, 100).await;
    assert!(!items.iter().any(|i| doc_of(&i.entry) == Some(gone.id)));
    assert_eq!(items.iter().filter(|i| doc_of(&i.entry) == Some(kept.id)).count(), 2);
}

async fn shreds_list_orders_with_the_requesters_own_wrapping(h: Harness) {
    let team = h.create_team().await;
    let member = h.enrol(&team, Role::Member, "TEST van phone A").await;
    let empty: ShredsResponse = ok(h.signed(team.id, &member, paths::SHREDS, &ShredsRequest { since: 0 }).await);
    assert!(empty.shreds.is_empty());
    let docs: Vec<Doc> = (0..3).map(|_| new_doc(team.id, &member)).collect();
    for d in &docs {
        let _: PushResponse = ok(h.push(team.id, &member, vec![fake_chunk(team.id, &member, d, 0)], vec![d.wrapped.clone()]).await);
    }
    let (key1, first) = shred_request(&team, &team.lead, vec![docs[0].id], 1, &[&team.lead, &member]);
    let r1: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &first).await);
    // A device enrolled after the first shred: no wrapping of epoch 1 was made for it.
    let mut late = h.enrol(&team, Role::Member, "TEST van phone B").await;
    late.team_key = key1.clone();
    let (key2, second) = shred_request(&team, &team.lead, vec![docs[1].id, docs[2].id], 2, &[&team.lead, &member, &late]);
    let r2: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &second).await);
    assert!(r2.seq > r1.seq);

    for (dev, keys) in [(&member, [Some(&key1), Some(&key2)]), (&late, [None, Some(&key2)])] {
        let list: ShredsResponse = ok(h.signed(team.id, dev, paths::SHREDS, &ShredsRequest { since: 0 }).await);
        assert_eq!(list.shreds.len(), 2);
        for ((notice, (order, seq)), expected) in list.shreds.iter().zip([(&first.order, r1.seq), (&second.order, r2.seq)]).zip(keys) {
            assert_eq!((&notice.order, notice.seq), (order, seq));
            match (&notice.team_key, expected) {
                (None, None) => {}
                (Some(wrapped), Some(key)) => {
                    assert_eq!((wrapped.device_id, wrapped.epoch), (dev.keys.device_id(), order.epoch));
                    let opened = unwrap_team_key(wrapped, team.id, &dev.keys, &team.lead.keys.public()).unwrap();
                    assert_eq!(opened.expose_secret(), key.expose_secret());
                }
                (got, want) => panic!("wrapping {got:?}, expected one: {}", want.is_some()),
            }
        }
    }
    // Only orders after `since`.
    let after_first: ShredsResponse = ok(h.signed(team.id, &member, paths::SHREDS, &ShredsRequest { since: r1.seq }).await);
    assert_eq!(after_first.shreds.iter().map(|n| n.seq).collect::<Vec<_>>(), [r2.seq]);
    let none: ShredsResponse = ok(h.signed(team.id, &member, paths::SHREDS, &ShredsRequest { since: r2.seq }).await);
    assert!(none.shreds.is_empty());
}

async fn shred_refusals_leave_storage_unchanged(h: Harness) {
    let team = h.create_team().await;
    let member = h.enrol(&team, Role::Member, "TEST van phone A").await;
    let lead2 = h.enrol(&team, Role::Lead, "TEST second lead phone").await;
    let lost = h.enrol(&team, Role::Member, "TEST lost phone").await;
    let (_, r) = revoke(&h, &team, &lost, &[&team.lead, &member, &lead2]).await;
    let _: RevokeResponse = ok(r);
    let doc = new_doc(team.id, &member);
    let _: PushResponse = ok(h.push(team.id, &member, vec![fake_chunk(team.id, &member, &doc, 0)], vec![]).await);
    let all = [&team.lead, &member, &lead2];
    let send = |dev: &'static str, req: ShredRequest| {
        let who = if dev == "member" { &member } else if dev == "lead2" { &lead2 } else { &team.lead };
        let h = &h;
        let team_id = team.id;
        async move { h.signed(team_id, who, paths::SHRED, &req).await }
    };
    // A member, even with a self-signed order.
    let (_, req) = shred_request(&team, &member, vec![doc.id], 2, &all);
    h.unchanged(async { refused(send("member", req).await, ErrorCode::Forbidden) }).await;
    // A lead relaying another lead's order, or an order for another team, or altered.
    let (_, req) = shred_request(&team, &team.lead, vec![doc.id], 2, &all);
    let mut relayed = req.clone();
    relayed.team_keys = all.iter().map(|d| wrap_team_key(&TeamKey::generate(2), team.id, &d.keys.public(), &lead2.keys).unwrap()).collect();
    h.unchanged(async { refused(send("lead2", relayed).await, ErrorCode::BadRequest) }).await;
    let mut elsewhere = req.clone();
    elsewhere.order = ShredOrder::new(&team.lead.keys, TeamId::random(), vec![doc.id], 2, ShredReason::Retention, 5);
    h.unchanged(async { refused(send("lead", elsewhere).await, ErrorCode::BadRequest) }).await;
    let mut altered = req.clone();
    altered.order.doc_ids.push(DocId::random());
    h.unchanged(async { refused(send("lead", altered).await, ErrorCode::BadRequest) }).await;
    let (_, empty) = shred_request(&team, &team.lead, vec![], 2, &all);
    h.unchanged(async { refused(send("lead", empty).await, ErrorCode::BadRequest) }).await;
    // Wrong epochs: the current one, one too far.
    let (_, stale) = shred_request(&team, &team.lead, vec![doc.id], 1, &all);
    h.unchanged(async { refused(send("lead", stale).await, ErrorCode::EpochMismatch) }).await;
    let (_, skip) = shred_request(&team, &team.lead, vec![doc.id], 3, &all);
    h.unchanged(async { refused(send("lead", skip).await, ErrorCode::EpochMismatch) }).await;
    // Team keys: one missing, one for the revoked device, one signed by another device.
    let (_, missing) = shred_request(&team, &team.lead, vec![doc.id], 2, &[&team.lead, &member]);
    h.unchanged(async { refused(send("lead", missing).await, ErrorCode::BadWrappedKey) }).await;
    let (_, with_lost) = shred_request(&team, &team.lead, vec![doc.id], 2, &[&team.lead, &member, &lead2, &lost]);
    h.unchanged(async { refused(send("lead", with_lost).await, ErrorCode::BadWrappedKey) }).await;
    let mut forged = req.clone();
    forged.team_keys[1] = wrap_team_key(&TeamKey::generate(2), team.id, &member.keys.public(), &member.keys).unwrap();
    h.unchanged(async { refused(send("lead", forged).await, ErrorCode::BadWrappedKey) }).await;
    // Keys of another epoch than the order's.
    let mut mixed = req.clone();
    mixed.team_keys = all.iter().map(|d| wrap_team_key(&TeamKey::generate(3), team.id, &d.keys.public(), &team.lead.keys).unwrap()).collect();
    h.unchanged(async { refused(send("lead", mixed).await, ErrorCode::BadWrappedKey) }).await;
    // Recipient keys that are not the registered ones.
    let mut stale_kx = req.clone();
    stale_kx.recipient_kx = vec![RecipientKx { device_id: member.keys.device_id(), kx_pub: DeviceKeys::generate().public().kx_pub }];
    h.unchanged(async { refused(send("lead", stale_kx).await, ErrorCode::Conflict) }).await;
    // The revoked device, and a replay of a refused request.
    let (_, by_lost) = shred_request(&team, &lost, vec![doc.id], 2, &all);
    h.unchanged(async { refused(h.signed(team.id, &lost, paths::SHRED, &by_lost).await, ErrorCode::Revoked) }).await;
    // Finally the valid one goes through, and its replay (same nonce) is refused.
    let mut good = req.clone();
    good.recipient_kx = all.iter().map(|d| RecipientKx { device_id: d.keys.device_id(), kx_pub: d.keys.public().kx_pub }).collect();
    let signed = h.sign(team.id, &team.lead.keys, paths::SHRED, &good).to_json();
    let resp: ShredResponse = ok(h.post(paths::SHRED, signed.clone()).await);
    assert_eq!((resp.epoch, resp.chunks_deleted, resp.keys_deleted), (2, 1, 0));
    h.unchanged(async { refused(h.post(paths::SHRED, signed.clone()).await, ErrorCode::Replay) }).await;
}

async fn rekey_replaces_the_agreement_key(h: Harness) {
    let team = h.create_team().await;
    let member = h.enrol(&team, Role::Member, "TEST van phone A").await;
    let fresh = DeviceKeys::generate();
    let rekeyed = Dev {
        keys: DeviceKeys::from_secrets(&member.keys.signing_secret(), &fresh.agreement_secret()),
        name: member.name.clone(),
        team_key: member.team_key.clone(),
    };
    let new_kx = rekeyed.keys.public().kx_pub;
    let resp: RekeyResponse = ok(h.signed(team.id, &member, paths::REKEY, &RekeyRequest { kx_pub: new_kx }).await);
    assert_eq!(resp.kx_pub, new_kx);
    let devices: DevicesResponse = ok(h.signed(team.id, &team.lead, paths::DEVICES, &DevicesRequest {}).await);
    let row = devices.devices.iter().find(|d| d.device_id == member.keys.device_id()).unwrap();
    assert_eq!(row.keys.kx_pub, new_kx);
    assert_eq!(row.keys.sign_pub, member.keys.public().sign_pub, "the identity stays");
    // Same key again: accepted, nothing changes but the nonce.
    let _: RekeyResponse = ok(h.signed(team.id, &rekeyed, paths::REKEY, &RekeyRequest { kx_pub: new_kx }).await);
    // A wrapping for the new key opens with the new secret only.
    let (new_key, req) = shred_request(&team, &team.lead, vec![DocId::random()], 1, &[&team.lead, &rekeyed]);
    let _: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &req).await);
    let list: ShredsResponse = ok(h.signed(team.id, &rekeyed, paths::SHREDS, &ShredsRequest { since: 0 }).await);
    let wrapped = list.shreds[0].team_key.as_ref().unwrap();
    let opened = unwrap_team_key(wrapped, team.id, &rekeyed.keys, &team.lead.keys.public()).unwrap();
    assert_eq!(opened.expose_secret(), new_key.expose_secret());
    assert!(unwrap_team_key(wrapped, team.id, &member.keys, &team.lead.keys.public()).is_err());
    // Unusable keys: all-zero, and the small-order point u = 1.
    let mut one = [0u8; 32];
    one[0] = 1;
    for bad in [[0u8; 32], one] {
        h.unchanged(async { refused(h.signed(team.id, &rekeyed, paths::REKEY, &RekeyRequest { kx_pub: bad }).await, ErrorCode::BadRequest) }).await;
    }
    // A revoked device cannot re-key.
    let lost = h.enrol(&team, Role::Member, "TEST lost phone").await;
    let (_, r) = revoke_at(&h, &team, &lost, &[&team.lead, &rekeyed], 2).await;
    let _: RevokeResponse = ok(r);
    let kx = DeviceKeys::generate().public().kx_pub;
    h.unchanged(async { refused(h.signed(team.id, &lost, paths::REKEY, &RekeyRequest { kx_pub: kx }).await, ErrorCode::Revoked) }).await;
}

async fn rotation_for_a_replaced_agreement_key_is_a_conflict(h: Harness) {
    let team = h.create_team().await;
    let member = h.enrol(&team, Role::Member, "TEST van phone A").await;
    let lost = h.enrol(&team, Role::Member, "TEST lost phone").await;
    // The lead reads the directory, then the member re-keys before the revocation arrives.
    let seen = RecipientKx { device_id: member.keys.device_id(), kx_pub: member.keys.public().kx_pub };
    let _: RekeyResponse = ok(h.signed(team.id, &member, paths::REKEY, &RekeyRequest { kx_pub: DeviceKeys::generate().public().kx_pub }).await);
    let new_key = TeamKey::generate(1);
    let team_keys = [&team.lead, &member].iter().map(|d| wrap_team_key(&new_key, team.id, &d.keys.public(), &team.lead.keys).unwrap()).collect();
    let req = RevokeRequest { device_id: lost.keys.device_id(), epoch: 1, team_keys, recipient_kx: vec![seen], wipe: None };
    h.unchanged(async { refused(h.signed(team.id, &team.lead, paths::REVOKE, &req).await, ErrorCode::Conflict) }).await;
    // Naming the device being revoked is a conflict too (it gets no key).
    let mut naming_lost = req.clone();
    naming_lost.recipient_kx = vec![RecipientKx { device_id: lost.keys.device_id(), kx_pub: lost.keys.public().kx_pub }];
    h.unchanged(async { refused(h.signed(team.id, &team.lead, paths::REVOKE, &naming_lost).await, ErrorCode::Conflict) }).await;
}

async fn wipe_order_reaches_only_the_revoked_device(h: Harness) {
    let team = h.create_team().await;
    let stays = h.enrol(&team, Role::Member, "TEST stays").await;
    let lost = h.enrol(&team, Role::Member, "TEST lost phone").await;
    let plain_lost = h.enrol(&team, Role::Member, "TEST other lost phone").await;
    let wipe = WipeOrder::new(&team.lead.keys, team.id, lost.keys.device_id(), 1_900_000_000_000);
    let new_key = TeamKey::generate(1);
    let remaining = [&team.lead, &stays, &plain_lost];
    let team_keys = remaining.iter().map(|d| wrap_team_key(&new_key, team.id, &d.keys.public(), &team.lead.keys).unwrap()).collect();
    let req = RevokeRequest { device_id: lost.keys.device_id(), epoch: 1, team_keys, recipient_kx: vec![], wipe: Some(wipe.clone()) };
    let _: RevokeResponse = ok(h.signed(team.id, &team.lead, paths::REVOKE, &req).await);
    let mut stays = stays;
    stays.team_key = new_key;
    let (_, r) = revoke_at(&h, &team, &plain_lost, &[&team.lead, &stays], 2).await;
    let _: RevokeResponse = ok(r);

    let error = |reply: Reply| -> ErrorDetail {
        let body: ErrorBody = serde_json::from_slice(&reply.1).expect("error body");
        assert_eq!(reply.0, body.error.code.http_status());
        body.error
    };
    // The revoked device's own signed requests, to any endpoint: refused, with the order,
    // and nothing stored.
    let doc = new_doc(team.id, &lost);
    for path in [paths::PULL, paths::PUSH, paths::DEVICES, paths::SHREDS, paths::REKEY] {
        let reply = match path {
            p if p == paths::PULL => h.pull(team.id, &lost, 0, 10).await,
            p if p == paths::PUSH => h.push(team.id, &lost, vec![fake_chunk(team.id, &lost, &doc, 0)], vec![]).await,
            p if p == paths::DEVICES => h.signed(team.id, &lost, p, &DevicesRequest {}).await,
            p if p == paths::SHREDS => h.signed(team.id, &lost, p, &ShredsRequest { since: 0 }).await,
            p => h.signed(team.id, &lost, p, &RekeyRequest { kx_pub: DeviceKeys::generate().public().kx_pub }).await,
        };
        let before = h.fingerprint().await;
        let e = error(reply);
        assert_eq!(before, h.fingerprint().await);
        assert_eq!(e.code, ErrorCode::Revoked);
        let got = e.wipe.unwrap_or_else(|| panic!("no wipe order on {path}"));
        assert_eq!(got, wipe);
        got.verify(&team.id, &team.lead.keys.public()).unwrap();
    }
    // Someone else naming the lost device (signature by other keys): the plain refusal.
    let impostor = SignedRequest::sign(&stays.keys, team.id, paths::PULL, h.clock.now_ms(), &PullRequest { cursor: 0, limit: 1 });
    let mut impostor = impostor;
    impostor.device_id = lost.keys.device_id();
    let e = error(h.post(paths::PULL, impostor.to_json()).await);
    assert_eq!((e.code, e.wipe), (ErrorCode::Revoked, None));
    // The lost device's request with a stale timestamp: refused as stale, without the order.
    let old = SignedRequest::sign(&lost.keys, team.id, paths::PULL, h.clock.now_ms() - MAX_CLOCK_SKEW_MS - 5_000, &PullRequest { cursor: 0, limit: 1 });
    let e = error(h.post(paths::PULL, old.to_json()).await);
    assert_eq!((e.code, e.wipe), (ErrorCode::StaleTimestamp, None));
    // A device revoked without an order: plain refusal.
    let e = error(h.pull(team.id, &plain_lost, 0, 10).await);
    assert_eq!((e.code, e.wipe), (ErrorCode::Revoked, None));
    // Active devices never see it, in successes or refusals.
    let reply = h.pull(team.id, &stays, 0, 100).await;
    assert!(!String::from_utf8_lossy(&reply.1).contains("wipe"));
    let _: PullResponse = ok(reply);
    let e = error(h.signed(team.id, &stays, paths::REVOKE, &req).await);
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert!(e.wipe.is_none());
}

async fn invalid_wipe_orders_are_refused(h: Harness) {
    let team = h.create_team().await;
    let stays = h.enrol(&team, Role::Member, "TEST stays").await;
    let lost = h.enrol(&team, Role::Member, "TEST lost phone").await;
    let new_key = TeamKey::generate(1);
    let team_keys: Vec<WrappedTeamKey> =
        [&team.lead, &stays].iter().map(|d| wrap_team_key(&new_key, team.id, &d.keys.public(), &team.lead.keys).unwrap()).collect();
    let with = |wipe: WipeOrder| RevokeRequest {
        device_id: lost.keys.device_id(),
        epoch: 1,
        team_keys: team_keys.clone(),
        recipient_kx: vec![],
        wipe: Some(wipe),
    };
    let now = 1_900_000_000_000;
    for wipe in [
        WipeOrder::new(&team.lead.keys, team.id, stays.keys.device_id(), now), // names another device
        WipeOrder::new(&stays.keys, team.id, lost.keys.device_id(), now),      // signed by a member
        WipeOrder::new(&team.lead.keys, TeamId::random(), lost.keys.device_id(), now), // another team
    ] {
        h.unchanged(async { refused(h.signed(team.id, &team.lead, paths::REVOKE, &with(wipe.clone())).await, ErrorCode::BadRequest) }).await;
    }
    let mut altered = WipeOrder::new(&team.lead.keys, team.id, lost.keys.device_id(), now);
    altered.issued_ms += 1;
    h.unchanged(async { refused(h.signed(team.id, &team.lead, paths::REVOKE, &with(altered.clone())).await, ErrorCode::BadRequest) }).await;
}

async fn expired_invite_packages_are_dropped(h: Harness) {
    let team = h.create_team().await;
    let code = h.invite(&team, Role::Member, 60_000).await;
    let _later = h.invite(&team, Role::Member, 3_600_000).await;
    assert_eq!(h.store.prune_invites(h.clock.now_ms()).await.unwrap(), 0, "nothing has expired yet");
    h.clock.advance(61_000);
    let before = table(&h.fingerprint().await, "invites");
    assert_eq!(h.store.prune_invites(h.clock.now_ms()).await.unwrap(), 1, "exactly the expired package goes");
    let after = table(&h.fingerprint().await, "invites");
    assert_eq!(after.rows, before.rows, "the row stays (token hash and expiry)");
    assert_ne!(after.digest, before.digest);
    assert_eq!(h.store.prune_invites(h.clock.now_ms()).await.unwrap(), 0);
    // The token is still answered as expired, not unknown.
    let keys = DeviceKeys::generate();
    h.unchanged(async { refused(h.post(paths::ENROL, Harness::enrol_request(&code, &keys, "TEST late phone")).await, ErrorCode::InviteExpired) }).await;
}

async fn pushes_racing_a_shred_leave_nothing_of_the_document(h: Harness) {
    use std::sync::Arc;
    let h = Arc::new(h);
    let team = h.create_team().await;
    let mut pushers = Vec::new();
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(Arc::new(h.enrol(&team, Role::Member, &format!("TEST phone {i}")).await));
    }
    // Each member writes into the same document (sharing its data key, as devices do).
    let doc = Arc::new(new_doc(team.id, &members[0]));
    for dev in &members {
        let (h, dev, doc, team_id) = (h.clone(), dev.clone(), doc.clone(), team.id);
        pushers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..12 {
                let r: PushResponse = ok(h.push(team_id, &dev, vec![fake_chunk(team_id, &dev, &doc, n)], vec![doc.wrapped.clone()]).await);
                statuses.push((r.chunks[0].status, r.chunks[0].seq));
            }
            statuses
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let all: Vec<&Dev> = std::iter::once(&team.lead).chain(members.iter().map(|m| m.as_ref())).collect();
    let (_, req) = shred_request(&team, &team.lead, vec![doc.id], 1, &all);
    let shred: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &req).await);
    let mut stored_before = 0;
    for p in pushers {
        for (status, seq) in p.await.unwrap() {
            match status {
                PushStatus::Stored => {
                    assert!(seq < shred.seq, "stored after the shred");
                    stored_before += 1;
                }
                PushStatus::Discarded => assert_eq!(seq, shred.seq),
                PushStatus::Duplicate => panic!("no chunk was pushed twice"),
            }
        }
    }
    assert_eq!(shred.chunks_deleted, stored_before, "the shred deleted exactly what had been stored before it");
    let items = h.pull_all(team.id, &team.lead, 0, 200).await;
    assert!(!items.iter().any(|i| doc_of(&i.entry) == Some(doc.id)), "a chunk of the shredded document survived");
}

async fn shreds_replies_are_bounded_and_resume(h: Harness) {
    let team = h.create_team().await;
    let max = outreach_hub::storage::MAX_SHREDS_PER_REPLY;
    let mut seqs = Vec::new();
    for epoch in 1..=(max as u64 + 1) {
        let (_, req) = shred_request(&team, &team.lead, vec![DocId::random()], epoch, &[&team.lead]);
        let r: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &req).await);
        seqs.push(r.seq);
    }
    let first: ShredsResponse = ok(h.signed(team.id, &team.lead, paths::SHREDS, &ShredsRequest { since: 0 }).await);
    assert_eq!(first.shreds.iter().map(|n| n.seq).collect::<Vec<_>>(), seqs[..max]);
    // Not empty: ask again from its last seq, until a reply is empty.
    let second: ShredsResponse = ok(h.signed(team.id, &team.lead, paths::SHREDS, &ShredsRequest { since: seqs[max - 1] }).await);
    assert_eq!(second.shreds.iter().map(|n| n.seq).collect::<Vec<_>>(), seqs[max..]);
    let last: ShredsResponse = ok(h.signed(team.id, &team.lead, paths::SHREDS, &ShredsRequest { since: seqs[max] }).await);
    assert!(last.shreds.is_empty());
}

async fn shreds_replies_of_large_orders_fit_the_body_limit(h: Harness) {
    let team = h.create_team().await;
    let max = outreach_proto::orders::MAX_SHRED_DOCS;
    let mut seqs = Vec::new();
    for epoch in 1..=7u64 {
        let docs: Vec<DocId> = (0..max).map(|_| DocId::random()).collect();
        let (_, req) = shred_request(&team, &team.lead, docs, epoch, &[&team.lead]);
        let r: ShredResponse = ok(h.signed(team.id, &team.lead, paths::SHRED, &req).await);
        seqs.push(r.seq);
    }
    let mut since = 0;
    let mut listed = Vec::new();
    let mut replies = 0;
    loop {
        let reply = h.signed(team.id, &team.lead, paths::SHREDS, &ShredsRequest { since }).await;
        assert!(reply.1.len() <= MAX_BODY_BYTES, "a shreds reply of {} bytes", reply.1.len());
        let page: ShredsResponse = ok(reply);
        let Some(last) = page.shreds.last() else { break };
        since = last.seq;
        listed.extend(page.shreds.iter().map(|n| n.seq));
        replies += 1;
    }
    assert_eq!(listed, seqs);
    assert!(replies >= 2, "seven orders of 10,000 documents cannot fit one reply");
}
