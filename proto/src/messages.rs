//! Request and response bodies of every endpoint, error codes, and endpoint paths.
//!
//! Unauthenticated endpoints (`create_team`, `enrol`) take their request type as the HTTP body.
//! Authenticated endpoints take a [`crate::auth::SignedRequest`] whose `body` is the JSON of
//! their request type. Every endpoint answers with its response type on success (HTTP 200) or
//! an [`ErrorBody`] with the status of its [`ErrorCode`].

use serde::{Deserialize, Serialize};

use crate::encoding::Canon;
use crate::error::CryptoError;
use crate::ids::{ChunkHash, DeviceId, KeyId, TeamId, TokenHash};
use crate::invite::SealedInvitePackage;
use crate::keys::{DeviceKeys, DevicePublicKeys};
use crate::seal::SealedChunk;
use crate::orders::{ShredOrder, WipeOrder};
use crate::wrap::{WrappedDocKey, WrappedTeamKey};

/// Endpoint paths. All are `POST` except [`paths::HEALTH`].
pub mod paths {
    /// Bootstrap a team (unauthenticated, needs the hub's setup code).
    pub const CREATE_TEAM: &str = "/v1/create_team";
    /// Register a one-time invite (lead only).
    pub const CREATE_INVITE: &str = "/v1/create_invite";
    /// Enrol a new device with a one-time token (unauthenticated).
    pub const ENROL: &str = "/v1/enrol";
    /// Upload sealed chunks and wrapped document keys.
    pub const PUSH: &str = "/v1/push";
    /// Page through everything after a cursor.
    pub const PULL: &str = "/v1/pull";
    /// List the team's devices.
    pub const DEVICES: &str = "/v1/devices";
    /// Revoke a device and rotate the team key (lead only).
    pub const REVOKE: &str = "/v1/revoke";
    /// Crypto-shred documents and rotate the team key (lead only).
    pub const SHRED: &str = "/v1/shred";
    /// Every shred order after a sequence number (asked first on every sync).
    pub const SHREDS: &str = "/v1/shreds";
    /// Replace the requesting device's X25519 agreement public key.
    pub const REKEY: &str = "/v1/rekey";
    /// Liveness check (`GET`, no body, no authentication).
    pub const HEALTH: &str = "/v1/health";
    /// Every endpoint path.
    pub const ALL: &[&str] = &[CREATE_TEAM, CREATE_INVITE, ENROL, PUSH, PULL, DEVICES, REVOKE, SHRED, SHREDS, REKEY, HEALTH];
}

/// A device's role in its team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Outreach staff: logs contacts, syncs.
    Member,
    /// Team lead: also invites and revokes devices.
    Lead,
}

impl Role {
    /// Stable one-byte code (used in binary encodings and storage).
    pub fn code(self) -> u8 {
        match self {
            Role::Member => 0,
            Role::Lead => 1,
        }
    }

    /// Inverse of [`Role::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Role::Member),
            1 => Some(Role::Lead),
            _ => None,
        }
    }
}

/// Typed error codes. The hub answers every refusal with one of these; the message never
/// echoes payload contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Body is not valid JSON of the expected shape (400).
    Malformed,
    /// Well-formed but semantically invalid request (400).
    BadRequest,
    /// Protocol version not spoken by the hub (400).
    UnsupportedVersion,
    /// Body over the size limit (413).
    TooLarge,
    /// Too many requests from this device, or unauthenticated requests overall (429).
    RateLimited,
    /// The device (or its team) is not known to the hub (401).
    UnknownDevice,
    /// The device has been revoked (403).
    Revoked,
    /// The request signature does not verify (401).
    BadSignature,
    /// The request timestamp is outside ±10 minutes of the hub clock (401).
    StaleTimestamp,
    /// The request nonce was already used by this device (409).
    Replay,
    /// The device's role does not allow this (403).
    Forbidden,
    /// Wrong hub setup code for `create_team` (403).
    BadSetupCode,
    /// A team with this id already exists (409).
    TeamExists,
    /// No invite with this token (404).
    InviteUnknown,
    /// The invite has expired (410).
    InviteExpired,
    /// The invite was already used (410).
    InviteUsed,
    /// A pushed chunk's signature does not verify against its author (422).
    BadChunkSignature,
    /// A pushed chunk names another author or team than the requesting device (422).
    ChunkAuthorMismatch,
    /// A wrapped team key does not verify, or names an unknown recipient (422).
    BadWrappedKey,
    /// A wrapped document key with this id and epoch exists with different contents (409).
    Conflict,
    /// The epoch in the request does not follow the team's current epoch (409).
    EpochMismatch,
    /// The device to revoke does not exist in the team (404).
    NotFound,
    /// Unknown endpoint (404).
    NoSuchEndpoint,
    /// Wrong HTTP method (405).
    MethodNotAllowed,
    /// Storage or other internal failure (500). Safe to retry.
    Internal,
}

impl ErrorCode {
    /// HTTP status that carries this code.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            Malformed | BadRequest | UnsupportedVersion => 400,
            UnknownDevice | BadSignature | StaleTimestamp => 401,
            Revoked | Forbidden | BadSetupCode => 403,
            InviteUnknown | NotFound | NoSuchEndpoint => 404,
            MethodNotAllowed => 405,
            Replay | TeamExists | Conflict | EpochMismatch => 409,
            InviteExpired | InviteUsed => 410,
            TooLarge => 413,
            BadChunkSignature | ChunkAuthorMismatch | BadWrappedKey => 422,
            RateLimited => 429,
            Internal => 500,
        }
    }

    /// Whether the client may retry the same request later unchanged (with a fresh nonce).
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::RateLimited | ErrorCode::Internal)
    }
}

/// Error response body: `{"error":{"code":"revoked","message":"..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and human-readable message of an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Short explanation for logs and operators; never contains payload contents.
    pub message: String,
    /// With [`ErrorCode::Revoked`]: the lead's order to wipe the requesting device, if one
    /// was given with its revocation. The device verifies it before obeying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe: Option<WipeOrder>,
}

impl ErrorBody {
    /// Build an error body.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { error: ErrorDetail { code, message: message.into(), wipe: None } }
    }
}

const REGISTRATION_SIG: &str = "outreach/v1/device-registration";

/// A device's public keys and display name, signed by the device itself to prove it holds the
/// secret keys (so nobody can register someone else's public key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRegistration {
    /// Public keys.
    pub keys: DevicePublicKeys,
    /// Display name (at most [`crate::MAX_DEVICE_NAME_BYTES`]); a device label, never a
    /// person's name.
    pub name: String,
    /// Ed25519 signature over the team id, keys and name.
    #[serde(with = "crate::encoding::b64_array")]
    pub proof: [u8; 64],
}

impl DeviceRegistration {
    fn signed_bytes(team_id: &TeamId, keys: &DevicePublicKeys, name: &str) -> Vec<u8> {
        let mut c = Canon::new(REGISTRATION_SIG);
        c.fixed(&team_id.0).fixed(&keys.sign_pub).fixed(&keys.kx_pub).var(name.as_bytes());
        c.finish()
    }

    /// Register `keys` under `name` for `team_id`.
    pub fn new(keys: &DeviceKeys, team_id: TeamId, name: &str) -> Self {
        let public = keys.public();
        let proof = keys.sign(&Self::signed_bytes(&team_id, &public, name));
        DeviceRegistration { keys: public, name: name.to_owned(), proof }
    }

    /// Check the proof of possession for `team_id`.
    pub fn verify(&self, team_id: &TeamId) -> Result<(), CryptoError> {
        self.keys.verify_signature(&Self::signed_bytes(team_id, &self.keys, &self.name), &self.proof)
    }

    /// Id of the registering device.
    pub fn device_id(&self) -> DeviceId {
        self.keys.device_id()
    }
}

/// `POST /v1/create_team` (unauthenticated): bootstrap a team with its first lead.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateTeamRequest {
    /// Protocol version.
    pub v: u16,
    /// Setup code the hub operator handed out.
    pub setup_code: String,
    /// New team id (random, chosen by the lead).
    pub team_id: TeamId,
    /// The lead device.
    pub lead: DeviceRegistration,
    /// The epoch-0 team key wrapped for the lead itself, signed by the lead.
    pub team_key: WrappedTeamKey,
}

/// Reply to `create_team`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTeamResponse {
    /// Team created.
    pub team_id: TeamId,
    /// The lead's device id.
    pub device_id: DeviceId,
    /// Current epoch (0).
    pub epoch: u64,
}

/// `POST /v1/create_invite` (signed, lead only).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateInviteRequest {
    /// SHA-256 of the one-time token.
    pub token_hash: TokenHash,
    /// Expiry, ms since the Unix epoch; must be in the future and at most 7 days ahead.
    pub expires_ms: i64,
    /// Role the enrolled device gets.
    pub role: Role,
    /// Team key and inviter keys sealed under the invite secret.
    pub package: SealedInvitePackage,
}

/// Longest an invite may stay valid.
pub const MAX_INVITE_LIFETIME_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Reply to `create_invite`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateInviteResponse {
    /// Expiry as stored.
    pub expires_ms: i64,
}

/// `POST /v1/enrol` (unauthenticated except by the one-time token).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// Protocol version.
    pub v: u16,
    /// Team named in the invite code.
    pub team_id: TeamId,
    /// The raw one-time token from the invite code.
    #[serde(with = "crate::encoding::b64_array")]
    pub token: [u8; 32],
    /// The new device.
    pub device: DeviceRegistration,
}

/// Reply to `enrol`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// Team joined.
    pub team_id: TeamId,
    /// The new device's id.
    pub device_id: DeviceId,
    /// Role granted.
    pub role: Role,
    /// Team's current epoch at enrolment.
    pub epoch: u64,
    /// All devices of the team, the new one included.
    pub devices: Vec<DeviceInfo>,
    /// Sealed package to open with the invite secret.
    pub package: SealedInvitePackage,
}

/// `POST /v1/push` (signed): sealed chunks and wrapped document keys. The whole batch is
/// accepted or refused together.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PushRequest {
    /// Chunks authored by the requesting device.
    #[serde(default)]
    pub chunks: Vec<SealedChunk>,
    /// Document keys wrapped under a team key.
    #[serde(default)]
    pub doc_keys: Vec<WrappedDocKey>,
}

/// Whether a pushed item was new.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Stored now.
    Stored,
    /// Already held (same content hash, or same key id and epoch with identical contents).
    Duplicate,
    /// Dropped: its document was crypto-shredded. The client deletes its copy.
    Discarded,
}

/// Outcome of one pushed chunk, in request order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedChunk {
    /// Content hash.
    pub hash: ChunkHash,
    /// New or duplicate.
    pub status: PushStatus,
    /// Position in the team sequence (of the first copy, for duplicates).
    pub seq: u64,
}

/// Outcome of one pushed document key, in request order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedDocKey {
    /// Key id.
    pub key_id: KeyId,
    /// Epoch.
    pub epoch: u64,
    /// New or duplicate.
    pub status: PushStatus,
    /// Position in the team sequence.
    pub seq: u64,
}

/// Reply to `push`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// One entry per pushed chunk.
    pub chunks: Vec<PushedChunk>,
    /// One entry per pushed document key.
    pub doc_keys: Vec<PushedDocKey>,
}

/// `POST /v1/pull` (signed): items with sequence numbers greater than `cursor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Last sequence number the device has applied (0 to start).
    pub cursor: u64,
    /// Most items wanted (capped at [`crate::MAX_PULL_LIMIT`]; 0 means the cap).
    pub limit: u32,
}

/// One entry of the team sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullItem {
    /// Position in the team's sequence (strictly increasing, gaps possible).
    pub seq: u64,
    /// When the hub received it, ms since the Unix epoch.
    pub received_ms: i64,
    /// What it is.
    pub entry: PullEntry,
}

/// The kinds of item in the team sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PullEntry {
    /// A sealed chunk.
    Chunk {
        /// Its content hash.
        hash: ChunkHash,
        /// The chunk.
        chunk: SealedChunk,
    },
    /// A wrapped document key.
    DocKey {
        /// The wrapping.
        key: WrappedDocKey,
    },
    /// A team key wrapped for the requesting device (others' wrappings are not returned).
    TeamKey {
        /// The wrapping.
        key: WrappedTeamKey,
    },
    /// A device was revoked and the team moved to `epoch`.
    Revocation {
        /// Revoked device.
        device_id: DeviceId,
        /// New epoch.
        epoch: u64,
    },
    /// Documents were crypto-shredded and the team moved to `order.epoch` (the same orders
    /// are also listed by `shreds`, which clients ask first).
    Shred {
        /// The lead's signed order.
        order: ShredOrder,
    },
}

/// Reply to `pull`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    /// Items in sequence order.
    pub items: Vec<PullItem>,
    /// Cursor to send next time (the last item's seq, or the request cursor if none).
    pub next_cursor: u64,
    /// Whether more items follow `next_cursor`.
    pub more: bool,
}

/// `POST /v1/devices` (signed): list the team's devices. The payload is an empty object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesRequest {}

/// One device as the hub knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Device id.
    pub device_id: DeviceId,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Public keys.
    pub keys: DevicePublicKeys,
    /// Enrolment time, ms since the Unix epoch.
    pub enrolled_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_ms: Option<i64>,
}

/// Reply to `devices`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesResponse {
    /// Team's current epoch.
    pub epoch: u64,
    /// All devices, revoked ones included.
    pub devices: Vec<DeviceInfo>,
}

/// `POST /v1/revoke` (signed, lead only): revoke `device_id` and move to `epoch` (current + 1),
/// with the new team key wrapped for every remaining (non-revoked) device, the requester
/// included, and for no other device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevokeRequest {
    /// Device to revoke.
    pub device_id: DeviceId,
    /// New epoch.
    pub epoch: u64,
    /// New team key for each remaining device, signed by the requester.
    pub team_keys: Vec<WrappedTeamKey>,
    /// The agreement key each wrapping was made for; the hub refuses the rotation
    /// ([`ErrorCode::Conflict`]) if a device has re-keyed since (refresh the directory and retry).
    #[serde(default)]
    pub recipient_kx: Vec<RecipientKx>,
    /// Optional order that the revoked device wipe itself at its next contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe: Option<WipeOrder>,
}

/// The agreement public key a team-key wrapping was made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientKx {
    /// Recipient device.
    pub device_id: DeviceId,
    /// Its X25519 public key as the lead saw it in the directory.
    #[serde(with = "crate::encoding::b64_array")]
    pub kx_pub: [u8; 32],
}

/// `POST /v1/shred` (signed, lead only; the requester must be `order.issued_by`): delete the
/// ciphertext and wrapped keys of `order.doc_ids`, refuse them from now on, and move the team
/// to `order.epoch` (current + 1) with the new team key wrapped for every non-revoked device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShredRequest {
    /// The signed order.
    pub order: ShredOrder,
    /// New team key for each remaining device, signed by the requester.
    pub team_keys: Vec<WrappedTeamKey>,
    /// The agreement key each wrapping was made for (as in [`RevokeRequest::recipient_kx`]).
    #[serde(default)]
    pub recipient_kx: Vec<RecipientKx>,
}

/// Reply to `shred`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShredResponse {
    /// New epoch.
    pub epoch: u64,
    /// Sequence number of the shred item.
    pub seq: u64,
    /// Chunks deleted from the hub.
    pub chunks_deleted: u64,
    /// Wrapped document keys deleted from the hub.
    pub keys_deleted: u64,
}

/// `POST /v1/shreds` (signed): every shred order with a sequence number greater than `since`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShredsRequest {
    /// Sequence number after which to list (the device's pull cursor; 0 for all).
    pub since: u64,
}

/// One shred order in the team's sequence, with the requester's wrapping of its new team key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShredNotice {
    /// Position in the team sequence.
    pub seq: u64,
    /// When the hub received it, ms since the Unix epoch.
    pub received_ms: i64,
    /// The lead's signed order.
    pub order: ShredOrder,
    /// The team key of `order.epoch` wrapped for the requesting device (none if it was not a
    /// member then).
    pub team_key: Option<WrappedTeamKey>,
}

/// Reply to `shreds`, in sequence order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShredsResponse {
    /// The orders.
    pub shreds: Vec<ShredNotice>,
}

/// `POST /v1/rekey` (signed): replace the requesting device's agreement public key (devices
/// re-key after a shred so that no old team-key wrapping can be opened any more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekeyRequest {
    /// New X25519 public key.
    #[serde(with = "crate::encoding::b64_array")]
    pub kx_pub: [u8; 32],
}

/// Reply to `rekey`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekeyResponse {
    /// The key now registered.
    #[serde(with = "crate::encoding::b64_array")]
    pub kx_pub: [u8; 32],
}

/// Reply to `revoke`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeResponse {
    /// New epoch.
    pub epoch: u64,
    /// Sequence number of the revocation item.
    pub seq: u64,
}

/// Reply to `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Protocol version the hub speaks.
    pub v: u16,
    /// Always `"ok"`.
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::decode_json;
    use crate::ids::DocId;
    use crate::keys::TeamKey;
    use crate::seal::seal_chunk;
    use crate::wrap::{new_doc_key, wrap_team_key};
    use proptest::prelude::*;

    #[test]
    fn error_body_has_the_documented_shape() {
        let body = ErrorBody::new(ErrorCode::Revoked, "device revoked");
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(json, r#"{"error":{"code":"revoked","message":"device revoked"}}"#);
        assert_eq!(ErrorCode::Revoked.http_status(), 403);
        assert_eq!(ErrorCode::TooLarge.http_status(), 413);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
    }

    #[test]
    fn registration_proof_binds_team_and_name() {
        let keys = DeviceKeys::generate();
        let team = TeamId::random();
        let reg = DeviceRegistration::new(&keys, team, "Van 1 phone A");
        reg.verify(&team).unwrap();
        assert!(reg.verify(&TeamId::random()).is_err());
        let mut renamed = reg.clone();
        renamed.name = "Van 1 phone B".into();
        assert!(renamed.verify(&team).is_err());
    }

    #[test]
    fn pull_response_round_trips() {
        let keys = DeviceKeys::generate();
        let team = TeamId::random();
        let tk = TeamKey::generate(0);
        let doc = DocId::random();
        let (dk, key_id, wrapped) = new_doc_key(&tk, team, doc).unwrap();
        let chunk = seal_chunk(&dk, team, doc, key_id, b"fake", &keys).unwrap();
        let resp = PullResponse {
            items: vec![
                PullItem { seq: 1, received_ms: 5, entry: PullEntry::DocKey { key: wrapped } },
                PullItem { seq: 2, received_ms: 6, entry: PullEntry::Chunk { hash: chunk.hash(), chunk } },
                PullItem {
                    seq: 3,
                    received_ms: 7,
                    entry: PullEntry::TeamKey { key: wrap_team_key(&tk, team, &keys.public(), &keys).unwrap() },
                },
                PullItem { seq: 4, received_ms: 8, entry: PullEntry::Revocation { device_id: keys.device_id(), epoch: 1 } },
            ],
            next_cursor: 4,
            more: false,
        };
        let json = serde_json::to_vec(&resp).unwrap();
        assert_eq!(decode_json::<PullResponse>(&json).unwrap(), resp);
    }

    #[test]
    fn shred_entries_and_wipe_bearing_errors_round_trip() {
        use crate::orders::{ShredOrder, ShredReason, WipeOrder};
        let lead = DeviceKeys::generate();
        let team = TeamId::random();
        let order = ShredOrder::new(&lead, team, vec![DocId::random()], 3, ShredReason::Erasure, 9);
        let item = PullItem { seq: 7, received_ms: 8, entry: PullEntry::Shred { order } };
        let json = serde_json::to_vec(&item).unwrap();
        assert!(String::from_utf8_lossy(&json).contains(r#""kind":"shred""#));
        assert_eq!(decode_json::<PullItem>(&json).unwrap(), item);
        let mut body = ErrorBody::new(ErrorCode::Revoked, "device revoked");
        body.error.wipe = Some(WipeOrder::new(&lead, team, DeviceKeys::generate().device_id(), 9));
        let json = serde_json::to_vec(&body).unwrap();
        assert_eq!(decode_json::<ErrorBody>(&json).unwrap(), body);
        // A discarded push status has a stable name.
        assert_eq!(serde_json::to_string(&PushStatus::Discarded).unwrap(), r#""discarded""#);
    }

    proptest! {
        #[test]
        fn every_message_decoder_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_json::<CreateTeamRequest>(&bytes);
            let _ = decode_json::<CreateInviteRequest>(&bytes);
            let _ = decode_json::<EnrolRequest>(&bytes);
            let _ = decode_json::<EnrolResponse>(&bytes);
            let _ = decode_json::<PushRequest>(&bytes);
            let _ = decode_json::<PushResponse>(&bytes);
            let _ = decode_json::<PullRequest>(&bytes);
            let _ = decode_json::<PullResponse>(&bytes);
            let _ = decode_json::<DevicesResponse>(&bytes);
            let _ = decode_json::<RevokeRequest>(&bytes);
            let _ = decode_json::<ErrorBody>(&bytes);
            let _ = decode_json::<ShredRequest>(&bytes);
            let _ = decode_json::<ShredResponse>(&bytes);
            let _ = decode_json::<ShredsRequest>(&bytes);
            let _ = decode_json::<ShredsResponse>(&bytes);
            let _ = decode_json::<RekeyRequest>(&bytes);
            let _ = decode_json::<RekeyResponse>(&bytes);
        }

        #[test]
        fn decoders_survive_arbitrary_json_strings(s in "\\{\"[a-z_]{1,12}\":(\"[A-Za-z0-9_-]{0,90}\"|[0-9]{1,25}|null|\\[\\]|\\{\\})\\}") {
            let bytes = s.as_bytes();
            let _ = decode_json::<PushRequest>(bytes);
            let _ = decode_json::<PullRequest>(bytes);
            let _ = decode_json::<EnrolRequest>(bytes);
            let _ = decode_json::<RevokeRequest>(bytes);
            let _ = decode_json::<ShredRequest>(bytes);
            let _ = decode_json::<ShredsRequest>(bytes);
            let _ = decode_json::<RekeyRequest>(bytes);
        }
    }
}
