//! HTTP endpoints. Every handler reads the body under the size limit, decodes it with the
//! protocol's typed decoders, checks what can be checked without storage (signatures, shapes,
//! roles' cryptographic material), then makes one storage call that either applies the whole
//! request or changes nothing.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use outreach_proto::auth::SignedRequest;
use outreach_proto::encoding::decode_json;
use outreach_proto::ids::{DeviceId, TeamId, TokenHash};
use outreach_proto::invite::MAX_SEALED_PACKAGE_BYTES;
use outreach_proto::messages::{
    paths, CreateInviteRequest, CreateInviteResponse, CreateTeamRequest, CreateTeamResponse, DeviceInfo,
    DeviceRegistration, DevicesRequest, DevicesResponse, EnrolRequest, EnrolResponse, ErrorCode, HealthResponse,
    PullRequest, PushRequest, RekeyRequest, RekeyResponse, RevokeRequest, RevokeResponse, Role, ShredRequest,
    ShredsRequest, ShredsResponse, MAX_INVITE_LIFETIME_MS,
};
use outreach_proto::keys::is_usable_kx_public;
use outreach_proto::wrap::{WrappedTeamKey, WRAPPED_KEY_LEN};
use outreach_proto::{AuthError, DecodeError, MAX_BODY_BYTES, MAX_DEVICE_NAME_BYTES, PROTOCOL_VERSION};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::error::ApiError;
use crate::ratelimit::{RateLimit, RateLimiter};
use crate::storage::{check_active, check_lead, AuthStamp, ChunkRecord, NewDevice, NewInvite, NewTeam, Rotation, Storage};

/// Most chunks plus document keys in one push.
pub const MAX_PUSH_ITEMS: usize = 1000;

/// Shared state of the handlers.
pub struct HubState {
    store: Arc<dyn Storage>,
    clock: Clock,
    setup_code: String,
    device_limiter: RateLimiter<(TeamId, DeviceId)>,
    open_limiter: RateLimiter<()>,
}

impl HubState {
    /// State over `store`. `setup_code` authorises `create_team`; `device_rate` bounds each
    /// device's authenticated requests; `open_rate` bounds all unauthenticated requests
    /// (`create_team`, `enrol`) together.
    pub fn new(store: Arc<dyn Storage>, clock: Clock, setup_code: String, device_rate: RateLimit, open_rate: RateLimit) -> Arc<Self> {
        Arc::new(HubState {
            store,
            clock,
            setup_code,
            device_limiter: RateLimiter::new(device_rate),
            open_limiter: RateLimiter::new(open_rate),
        })
    }

    /// The storage engine.
    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    /// The hub clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

/// The hub's routes over `state`.
pub fn router(state: Arc<HubState>) -> Router {
    Router::new()
        .route(paths::HEALTH, get(health))
        .route(paths::CREATE_TEAM, post(create_team))
        .route(paths::CREATE_INVITE, post(create_invite))
        .route(paths::ENROL, post(enrol))
        .route(paths::PUSH, post(push))
        .route(paths::PULL, post(pull))
        .route(paths::DEVICES, post(devices))
        .route(paths::REVOKE, post(revoke))
        .route(paths::SHRED, post(shred))
        .route(paths::SHREDS, post(shreds))
        .route(paths::REKEY, post(rekey))
        .fallback(|| async { ApiError::new(ErrorCode::NoSuchEndpoint, "no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed") })
        .layer(middleware::from_fn(log_requests))
        .with_state(state)
}


/// One log line per request: method, endpoint (only known paths are named), status, error
/// code and duration. Never bodies, ids or keys.
async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = paths::ALL.iter().find(|p| **p == req.uri().path()).copied().unwrap_or("<other>");
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    match response.extensions().get::<ErrorCode>() {
        Some(code) => tracing::info!(%method, path, status, ?code, ms, "refused"),
        None => tracing::debug!(%method, path, status, ms, "ok"),
    }
    response
}

fn reply<T: Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => {
            let code = e.code;
            let mut response = e.into_response();
            response.extensions_mut().insert(code);
            response
        }
    }
}

fn too_large() -> ApiError {
    ApiError::owned(ErrorCode::TooLarge, format!("request body exceeds {MAX_BODY_BYTES} bytes"))
}

/// Read the whole body, refusing more than [`MAX_BODY_BYTES`] (by `Content-Length` up front,
/// or while reading).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(ApiError::new(ErrorCode::Malformed, "could not read request body")),
    }
}

fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::TooLarge { .. } => too_large(),
        DecodeError::UnsupportedVersion(_) => ApiError::new(ErrorCode::UnsupportedVersion, "unsupported protocol version"),
        // DecodeError's text names a field or a position, never input contents.
        other => ApiError::owned(ErrorCode::Malformed, other.to_string()),
    }
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::UnsupportedVersion(_) => ApiError::new(ErrorCode::UnsupportedVersion, "unsupported protocol version"),
        AuthError::WrongPath => ApiError::new(ErrorCode::BadRequest, "request was signed for another endpoint"),
        AuthError::StaleTimestamp => ApiError::new(ErrorCode::StaleTimestamp, "request timestamp outside ±10 minutes of hub time"),
        AuthError::BadSignature | AuthError::DeviceMismatch => ApiError::new(ErrorCode::BadSignature, "request signature does not verify"),
    }
}

fn check_version(v: u16) -> Result<(), ApiError> {
    if v == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::UnsupportedVersion, "unsupported protocol version"))
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > MAX_DEVICE_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(ApiError::new(ErrorCode::BadRequest, "device name must be 1-64 bytes without control characters"));
    }
    Ok(())
}

fn check_registration(reg: &DeviceRegistration, team_id: &TeamId) -> Result<(), ApiError> {
    check_name(&reg.name)?;
    reg.verify(team_id).map_err(|_| ApiError::new(ErrorCode::BadSignature, "device registration proof does not verify"))
}

/// Constant-time comparison of two setup codes (through their digests, so lengths leak
/// nothing either).
fn setup_code_matches(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn open_rate_limit(state: &HubState) -> Result<(), ApiError> {
    if state.open_limiter.allow(&(), Instant::now()) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::RateLimited, "too many unauthenticated requests; retry later"))
    }
}

struct Authed<T> {
    stamp: AuthStamp,
    device: DeviceInfo,
    payload: T,
}

/// Decode and verify a [`SignedRequest`] for `path`: version, path, timestamp window, known
/// and unrevoked device, signature, per-device rate, then the payload. The nonce is recorded
/// (and replays refused) inside the storage transaction that carries out the request.
async fn authenticate<T: DeserializeOwned>(state: &HubState, path: &'static str, bytes: &[u8]) -> Result<Authed<T>, ApiError> {
    let req = SignedRequest::from_json(bytes).map_err(decode_error)?;
    let now_ms = state.clock.now_ms();
    req.check_envelope(path, now_ms).map_err(auth_error)?;
    let device = match state.store.device(req.team_id, req.device_id).await? {
        Some(d) if d.revoked_ms.is_some() => return Err(revoked(state, &req, &d).await),
        other => check_active(other)?,
    };
    req.verify_signature(&device.keys).map_err(auth_error)?;
    if !state.device_limiter.allow(&(req.team_id, req.device_id), Instant::now()) {
        return Err(ApiError::new(ErrorCode::RateLimited, "too many requests from this device; retry later"));
    }
    let payload = req.payload::<T>().map_err(decode_error)?;
    let stamp = AuthStamp { team_id: req.team_id, device_id: req.device_id, nonce: req.nonce, ts_ms: req.ts_ms, now_ms };
    Ok(Authed { stamp, device, payload })
}

/// The refusal for a revoked device. Only when the request really comes from that device (its
/// signature verifies with the revoked device's key) does it carry the wipe order stored with
/// the revocation; anyone else naming the device gets the plain refusal.
async fn revoked(state: &HubState, req: &SignedRequest, device: &DeviceInfo) -> ApiError {
    let plain = ApiError::new(ErrorCode::Revoked, "device revoked");
    if req.verify_signature(&device.keys).is_err() {
        return plain;
    }
    match state.store.wipe_order(req.team_id, req.device_id).await {
        Ok(Some(order)) if order.device_id == req.device_id && order.team_id == req.team_id => ApiError::revoked_with_wipe(order),
        Ok(_) => plain,
        // Not a plain `revoked`: the device would stop asking and never get its order.
        Err(e) => e.into(),
    }
}

/// Check the shape and signature of every team-key wrapping of a rotation (made and signed by
/// the requesting lead); storage then checks the set of recipients.
fn check_wrappings(team_id: &TeamId, lead: &DeviceInfo, keys: &[WrappedTeamKey]) -> Result<(), ApiError> {
    for key in keys {
        if key.ciphertext.len() != WRAPPED_KEY_LEN {
            return Err(ApiError::new(ErrorCode::BadWrappedKey, "wrapped team key has the wrong length"));
        }
        key.verify_signature(team_id, &lead.keys)
            .map_err(|_| ApiError::new(ErrorCode::BadWrappedKey, "wrapped team key signature does not verify"))?;
    }
    Ok(())
}

async fn health() -> Response {
    reply::<HealthResponse>(Ok(HealthResponse { v: PROTOCOL_VERSION, status: "ok".into() }))
}

async fn create_team(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            open_rate_limit(&state)?;
            let req: CreateTeamRequest = decode_json(&read_body(&headers, body).await?).map_err(decode_error)?;
            check_version(req.v)?;
            if !setup_code_matches(&req.setup_code, &state.setup_code) {
                return Err(ApiError::new(ErrorCode::BadSetupCode, "wrong setup code"));
            }
            check_registration(&req.lead, &req.team_id)?;
            let lead_id = req.lead.device_id();
            let key = &req.team_key;
            if key.epoch != 0 || key.device_id != lead_id || key.ciphertext.len() != WRAPPED_KEY_LEN {
                return Err(ApiError::new(ErrorCode::BadWrappedKey, "team key must be epoch 0 and wrapped for the lead"));
            }
            key.verify_signature(&req.team_id, &req.lead.keys)
                .map_err(|_| ApiError::new(ErrorCode::BadWrappedKey, "team key wrapping signature does not verify"))?;
            let now_ms = state.clock.now_ms();
            let lead = DeviceInfo {
                device_id: lead_id,
                name: req.lead.name.clone(),
                role: Role::Lead,
                keys: req.lead.keys,
                enrolled_ms: now_ms,
                revoked_ms: None,
            };
            state.store.create_team(NewTeam { team_id: req.team_id, lead, team_key: req.team_key, now_ms }).await?;
            Ok(CreateTeamResponse { team_id: req.team_id, device_id: lead_id, epoch: 0 })
        }
        .await,
    )
}

async fn create_invite(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            let bytes = read_body(&headers, body).await?;
            let Authed { stamp, payload: req, .. } = authenticate::<CreateInviteRequest>(&state, paths::CREATE_INVITE, &bytes).await?;
            if req.expires_ms <= stamp.now_ms || req.expires_ms > stamp.now_ms.saturating_add(MAX_INVITE_LIFETIME_MS) {
                return Err(ApiError::new(ErrorCode::BadRequest, "invite expiry must be in the future and at most 7 days ahead"));
            }
            if req.package.ciphertext.is_empty() || req.package.ciphertext.len() > MAX_SEALED_PACKAGE_BYTES {
                return Err(ApiError::new(ErrorCode::BadRequest, "sealed package has an invalid size"));
            }
            let invite = NewInvite { token_hash: req.token_hash, expires_ms: req.expires_ms, role: req.role, package: req.package };
            state.store.create_invite(stamp, invite).await?;
            Ok(CreateInviteResponse { expires_ms: req.expires_ms })
        }
        .await,
    )
}

async fn enrol(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            open_rate_limit(&state)?;
            let req: EnrolRequest = decode_json(&read_body(&headers, body).await?).map_err(decode_error)?;
            check_version(req.v)?;
            check_registration(&req.device, &req.team_id)?;
            let device = NewDevice {
                device_id: req.device.device_id(),
                name: req.device.name.clone(),
                keys: req.device.keys,
                enrolled_ms: state.clock.now_ms(),
            };
            let device_id = device.device_id;
            let enrolled = state.store.enrol(req.team_id, TokenHash::of(&req.token), device).await?;
            Ok(EnrolResponse {
                team_id: req.team_id,
                device_id,
                role: enrolled.role,
                epoch: enrolled.epoch,
                devices: enrolled.devices,
                package: enrolled.package,
            })
        }
        .await,
    )
}

async fn push(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            let bytes = read_body(&headers, body).await?;
            let Authed { stamp, device, payload: req } = authenticate::<PushRequest>(&state, paths::PUSH, &bytes).await?;
            drop(bytes);
            if req.chunks.len() + req.doc_keys.len() > MAX_PUSH_ITEMS {
                return Err(ApiError::owned(ErrorCode::BadRequest, format!("at most {MAX_PUSH_ITEMS} items per push")));
            }
            let mut records = Vec::with_capacity(req.chunks.len());
            for chunk in &req.chunks {
                if chunk.team_id != stamp.team_id || chunk.author != stamp.device_id {
                    return Err(ApiError::new(ErrorCode::ChunkAuthorMismatch, "chunks must be authored by the pushing device for its team"));
                }
                chunk
                    .verify_signature(&device.keys)
                    .map_err(|_| ApiError::new(ErrorCode::BadChunkSignature, "chunk signature does not verify"))?;
                records.push(ChunkRecord::new(chunk));
            }
            if req.doc_keys.iter().any(|k| k.ciphertext.len() != WRAPPED_KEY_LEN) {
                return Err(ApiError::new(ErrorCode::BadRequest, "wrapped document key has the wrong length"));
            }
            Ok(state.store.push(stamp, records, req.doc_keys).await?)
        }
        .await,
    )
}

async fn pull(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            let bytes = read_body(&headers, body).await?;
            let Authed { stamp, payload: req, .. } = authenticate::<PullRequest>(&state, paths::PULL, &bytes).await?;
            Ok(state.store.pull(stamp, req.cursor, req.limit).await?)
        }
        .await,
    )
}

async fn devices(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            let bytes = read_body(&headers, body).await?;
            let Authed { stamp, .. } = authenticate::<DevicesRequest>(&state, paths::DEVICES, &bytes).await?;
            let (epoch, devices) = state.store.devices(stamp).await?;
            Ok(DevicesResponse { epoch, devices })
        }
        .await,
    )
}

async fn revoke(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            let bytes = read_body(&headers, body).await?;
            let Authed { stamp, device, payload: req } = authenticate::<RevokeRequest>(&state, paths::REVOKE, &bytes).await?;
            // Refuse non-leads before spending time on signatures (storage re-checks).
            check_lead(&device)?;
            if let Some(wipe) = &req.wipe {
                if wipe.device_id != req.device_id || wipe.verify(&stamp.team_id, &device.keys).is_err() {
                    return Err(ApiError::new(
                        ErrorCode::BadRequest,
                        "wipe order must be signed by the requesting lead for this team and name the revoked device",
                    ));
                }
            }
            check_wrappings(&stamp.team_id, &device, &req.team_keys)?;
            let rotation = Rotation { new_epoch: req.epoch, keys: req.team_keys, recipient_kx: req.recipient_kx };
            let seq = state.store.revoke(stamp, req.device_id, rotation, req.wipe).await?;
            Ok(RevokeResponse { epoch: req.epoch, seq })
        }
        .await,
    )
}

async fn shred(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            let bytes = read_body(&headers, body).await?;
            let Authed { stamp, device, payload: req } = authenticate::<ShredRequest>(&state, paths::SHRED, &bytes).await?;
            drop(bytes);
            check_lead(&device)?;
            req.order.verify(&stamp.team_id, &device.keys).map_err(|_| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    "shred order must be signed by the requesting lead for this team and name 1 to 10000 distinct documents",
                )
            })?;
            check_wrappings(&stamp.team_id, &device, &req.team_keys)?;
            let rotation = Rotation { new_epoch: req.order.epoch, keys: req.team_keys, recipient_kx: req.recipient_kx };
            Ok(state.store.shred(stamp, req.order, rotation).await?)
        }
        .await,
    )
}

async fn shreds(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            let bytes = read_body(&headers, body).await?;
            let Authed { stamp, payload: req, .. } = authenticate::<ShredsRequest>(&state, paths::SHREDS, &bytes).await?;
            Ok(ShredsResponse { shreds: state.store.shreds(stamp, req.since).await? })
        }
        .await,
    )
}

async fn rekey(State(state): State<Arc<HubState>>, headers: HeaderMap, body: Body) -> Response {
    reply(
        async {
            let bytes = read_body(&headers, body).await?;
            let Authed { stamp, payload: req, .. } = authenticate::<RekeyRequest>(&state, paths::REKEY, &bytes).await?;
            if !is_usable_kx_public(&req.kx_pub) {
                return Err(ApiError::new(ErrorCode::BadRequest, "agreement key is all-zero or of small order"));
            }
            state.store.rekey(stamp, req.kx_pub).await?;
            Ok(RekeyResponse { kx_pub: req.kx_pub })
        }
        .await,
    )
}
