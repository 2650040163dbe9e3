//! Storage: one trait, two engines ([`sqlite::SqliteStorage`], [`postgres::PgStorage`]).
//!
//! The hub stores only opaque team/document ids, chunk hashes, sizes, times, device ids,
//! public keys, names, roles and revocation times, wrapped keys, invite token hashes with
//! expiry and (until used or expired) sealed packages, request nonces (for replay
//! protection), ciphertext, the leads' signed shred orders with the ids of the documents they
//! shredded (tombstones), and signed wipe orders for revoked devices.
//!
//! Every authenticated operation runs in one transaction that first re-checks the device
//! (it may have been revoked since the signature was checked) and records the request nonce;
//! any refusal rolls the whole transaction back, so a refused request changes nothing.
//! The decisions themselves (who may do what, what a valid revocation is) live in this module
//! and are shared by both engines; the engines only read and write rows.

pub mod postgres;
pub mod sqlite;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use outreach_proto::ids::{ChunkHash, DeviceId, DocId, TeamId, TokenHash};
use outreach_proto::invite::SealedInvitePackage;
use outreach_proto::messages::{
    DeviceInfo, ErrorCode, PullEntry, PullItem, PullResponse, PushResponse, RecipientKx, Role, ShredNotice,
    ShredResponse,
};
use outreach_proto::orders::{ShredOrder, WipeOrder};
use outreach_proto::seal::SealedChunk;
use outreach_proto::wrap::{WrappedDocKey, WrappedTeamKey};
use outreach_proto::MAX_CLOCK_SKEW_MS;

use crate::error::HubError;

/// A storage refusal (typed, safe to send to the client) or a backend failure (logged only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The operation was refused; nothing was changed.
    #[error("refused ({code:?}): {message}")]
    Refused {
        /// Code for the client.
        code: ErrorCode,
        /// Fixed explanation.
        message: &'static str,
    },
    /// The database failed. The text is for the operator's log.
    #[error("backend: {0}")]
    Backend(String),
}

impl StoreError {
    pub(crate) fn refused(code: ErrorCode, message: &'static str) -> Self {
        StoreError::Refused { code, message }
    }
}

/// The authenticated part of a request, as handed to storage after its signature verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthStamp {
    /// Team of the device.
    pub team_id: TeamId,
    /// Requesting device.
    pub device_id: DeviceId,
    /// Request nonce; storing it twice is a replay.
    pub nonce: [u8; 16],
    /// Request timestamp (device clock).
    pub ts_ms: i64,
    /// Hub clock when the request arrived.
    pub now_ms: i64,
}

/// A chunk ready to store: verified, hashed and encoded by the caller.
#[derive(Debug, Clone)]
pub struct ChunkRecord {
    /// Content hash (SHA-256 of `bytes`).
    pub hash: ChunkHash,
    /// Document.
    pub doc_id: DocId,
    /// Canonical sealed bytes.
    pub bytes: Vec<u8>,
}

impl ChunkRecord {
    /// Encode and hash a chunk.
    pub fn new(chunk: &SealedChunk) -> Self {
        let bytes = chunk.to_bytes();
        ChunkRecord { hash: ChunkHash::of(&bytes), doc_id: chunk.doc_id, bytes }
    }
}

/// A new team with its first lead.
#[derive(Debug, Clone)]
pub struct NewTeam {
    /// Team id.
    pub team_id: TeamId,
    /// The lead device (role must be [`Role::Lead`]).
    pub lead: DeviceInfo,
    /// Epoch-0 team key for the lead.
    pub team_key: WrappedTeamKey,
    /// Hub clock.
    pub now_ms: i64,
}

/// A device presenting an invite token. Its role comes from the invite.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Device id (derived from `keys`).
    pub device_id: DeviceId,
    /// Display label.
    pub name: String,
    /// Public keys.
    pub keys: outreach_proto::keys::DevicePublicKeys,
    /// Hub clock at enrolment.
    pub enrolled_ms: i64,
}

/// A new one-time invite.
#[derive(Debug, Clone)]
pub struct NewInvite {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// Expiry.
    pub expires_ms: i64,
    /// Role granted.
    pub role: Role,
    /// Sealed package.
    pub package: SealedInvitePackage,
}

/// What a successful enrolment returns.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// Role granted.
    pub role: Role,
    /// Team's current epoch.
    pub epoch: u64,
    /// All devices of the team.
    pub devices: Vec<DeviceInfo>,
    /// The invite's sealed package.
    pub package: SealedInvitePackage,
}

/// Row count and content digest of one table (see [`Storage::fingerprint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFingerprint {
    /// Table name.
    pub table: &'static str,
    /// Rows.
    pub rows: u64,
    /// SHA-256 (hex) over every row's values in key order.
    pub digest: String,
}

/// Kinds of item in the team sequence, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub(crate) enum ItemKind {
    Chunk = 1,
    DocKey = 2,
    TeamKey = 3,
    Revocation = 4,
    /// A lead's shred order; `body` is its JSON, `hash` the SHA-256 of that JSON (for
    /// idempotent retries), `epoch` the epoch it starts, `device_id` the issuing lead.
    Shred = 5,
}

/// The columns of one new item of the team sequence. Which columns each kind fills is
/// decided here, once, for both engines.
pub(crate) struct NewItem<'a> {
    pub kind: ItemKind,
    pub doc_id: Option<&'a [u8]>,
    pub hash: Option<&'a [u8]>,
    pub key_id: Option<&'a [u8]>,
    pub epoch: Option<i64>,
    /// Author (chunk), pusher (doc key), recipient (team key) or revoked device.
    pub device_id: Option<&'a [u8]>,
    pub body: Option<&'a [u8]>,
}

impl<'a> NewItem<'a> {
    pub(crate) fn chunk(chunk: &'a ChunkRecord, author: &'a DeviceId) -> Self {
        NewItem {
            kind: ItemKind::Chunk,
            doc_id: Some(&chunk.doc_id.0),
            hash: Some(&chunk.hash.0),
            key_id: None,
            epoch: None,
            device_id: Some(&author.0),
            body: Some(&chunk.bytes),
        }
    }

    /// `body` is [`json_column`] of `key`; `epoch` from [`doc_key_epoch`].
    pub(crate) fn doc_key(key: &'a WrappedDocKey, epoch: i64, pusher: &'a DeviceId, body: &'a [u8]) -> Self {
        NewItem {
            kind: ItemKind::DocKey,
            doc_id: Some(&key.doc_id.0),
            hash: None,
            key_id: Some(&key.key_id.0),
            epoch: Some(epoch),
            device_id: Some(&pusher.0),
            body: Some(body),
        }
    }

    /// `body` is [`json_column`] of `key`.
    pub(crate) fn team_key(key: &'a WrappedTeamKey, epoch: i64, body: &'a [u8]) -> Self {
        NewItem {
            kind: ItemKind::TeamKey,
            doc_id: None,
            hash: None,
            key_id: None,
            epoch: Some(epoch),
            device_id: Some(&key.device_id.0),
            body: Some(body),
        }
    }

    pub(crate) fn revocation(target: &'a DeviceId, epoch: i64) -> Self {
        NewItem {
            kind: ItemKind::Revocation,
            doc_id: None,
            hash: None,
            key_id: None,
            epoch: Some(epoch),
            device_id: Some(&target.0),
            body: None,
        }
    }

    /// `body` is [`json_column`] of `order`; `digest` is [`order_digest`] of `body`.
    pub(crate) fn shred(order: &'a ShredOrder, epoch: i64, body: &'a [u8], digest: &'a [u8]) -> Self {
        NewItem {
            kind: ItemKind::Shred,
            doc_id: None,
            hash: Some(digest),
            key_id: None,
            epoch: Some(epoch),
            device_id: Some(&order.issued_by.0),
            body: Some(body),
        }
    }

    /// Stored size: the body's length.
    pub(crate) fn size(&self) -> i64 {
        self.body.map_or(0, |b| b.len() as i64)
    }
}

/// Epoch of a pushed document key as stored; keys may not claim a future epoch.
pub(crate) fn doc_key_epoch(key: &WrappedDocKey, current_epoch: u64) -> Result<i64, StoreError> {
    if key.epoch > current_epoch {
        return Err(StoreError::refused(ErrorCode::EpochMismatch, "document key wrapped under a future epoch"));
    }
    to_i64(key.epoch)
}

/// Decide what to do with a pushed document key, given the `(seq, body)` already stored under
/// its `(key_id, epoch)`: `Ok(Some(seq))` is a duplicate, `Ok(None)` is new, and different
/// contents are a conflict.
pub(crate) fn doc_key_outcome(existing: Option<(i64, Option<Vec<u8>>)>, body: &[u8]) -> Result<Option<i64>, StoreError> {
    match existing {
        None => Ok(None),
        Some((seq, stored)) if stored.as_deref() == Some(body) => Ok(Some(seq)),
        Some(_) => Err(StoreError::refused(ErrorCode::Conflict, "a different document key exists with this id and epoch")),
    }
}

/// One stored item of the team sequence, as read back from either engine.
pub(crate) struct ItemRow {
    pub seq: i64,
    pub kind: i64,
    pub received_ms: i64,
    pub hash: Option<Vec<u8>>,
    pub device_id: Option<Vec<u8>>,
    pub epoch: Option<i64>,
    pub body: Option<Vec<u8>>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} does not decode"))
}

pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(what))
}

pub(crate) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::refused(ErrorCode::BadRequest, "number out of range"))
}

impl ItemRow {
    pub(crate) fn into_pull_item(self) -> Result<PullItem, StoreError> {
        let body = || self.body.as_deref().ok_or_else(|| corrupt("item body"));
        let entry = match self.kind {
            k if k == ItemKind::Chunk as i64 => {
                let chunk = SealedChunk::from_bytes(body()?).map_err(|_| corrupt("chunk"))?;
                let hash = ChunkHash::from_slice(self.hash.as_deref().unwrap_or_default())
                    .map_err(|_| corrupt("chunk hash"))?;
                PullEntry::Chunk { hash, chunk }
            }
            k if k == ItemKind::DocKey as i64 => PullEntry::DocKey {
                key: serde_json::from_slice(body()?).map_err(|_| corrupt("document key"))?,
            },
            k if k == ItemKind::TeamKey as i64 => PullEntry::TeamKey {
                key: serde_json::from_slice(body()?).map_err(|_| corrupt("team key"))?,
            },
            k if k == ItemKind::Revocation as i64 => PullEntry::Revocation {
                device_id: DeviceId::from_slice(self.device_id.as_deref().unwrap_or_default())
                    .map_err(|_| corrupt("revoked device id"))?,
                epoch: to_u64(self.epoch.unwrap_or(-1), "epoch")?,
            },
            k if k == ItemKind::Shred as i64 => PullEntry::Shred { order: decode_order(body()?)? },
            _ => return Err(corrupt("item kind")),
        };
        Ok(PullItem { seq: to_u64(self.seq, "seq")?, received_ms: self.received_ms, entry })
    }
}

/// Turn rows fetched with `LIMIT limit + 1` into a page, stopping early once `max_bytes` of
/// item bodies would be exceeded (always returning at least one item).
pub(crate) fn build_page(rows: Vec<ItemRow>, cursor: u64, limit: usize, max_bytes: usize) -> Result<PullResponse, StoreError> {
    let mut items = Vec::new();
    let mut bytes = 0usize;
    let total = rows.len();
    for row in rows.into_iter().take(limit) {
        let size = row.body.as_ref().map_or(0, Vec::len) + 256;
        if !items.is_empty() && bytes + size > max_bytes {
            break;
        }
        bytes += size;
        items.push(row.into_pull_item()?);
    }
    let more = total > items.len();
    let next_cursor = items.last().map_or(cursor, |i| i.seq);
    Ok(PullResponse { items, next_cursor, more })
}

/// Budget of item bytes in one pull page: leaves room under the body limit for JSON and
/// base64 overhead (base64 grows bytes by 4/3).
pub const PULL_PAGE_BYTES: usize = outreach_proto::MAX_BODY_BYTES / 2;

/// SHA-256 of a stored shred order's JSON: finds a retried order.
pub(crate) fn order_digest(body: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(body).to_vec()
}

fn decode_order(body: &[u8]) -> Result<ShredOrder, StoreError> {
    serde_json::from_slice(body).map_err(|_| corrupt("shred order"))
}

/// A stored shred item with the requester's wrapping of its epoch's team key, as read back
/// for `shreds`.
pub(crate) struct ShredRow {
    pub seq: i64,
    pub received_ms: i64,
    pub body: Vec<u8>,
    pub team_key: Option<Vec<u8>>,
}

/// Most shred orders one `shreds` reply lists (see [`shred_page`]).
pub const MAX_SHREDS_PER_REPLY: usize = 100;

/// Turn shred rows (in sequence order, fetched with `LIMIT MAX_SHREDS_PER_REPLY`) into
/// notices, stopping early once [`PULL_PAGE_BYTES`] of order bodies would be exceeded (always
/// at least one). A reply cut short is followed by another call from its last `seq`.
pub(crate) fn shred_page(rows: Vec<ShredRow>) -> Result<Vec<ShredNotice>, StoreError> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for row in rows.into_iter().take(MAX_SHREDS_PER_REPLY) {
        let size = row.body.len() + row.team_key.as_ref().map_or(0, Vec::len) + 256;
        if !out.is_empty() && bytes + size > PULL_PAGE_BYTES {
            break;
        }
        bytes += size;
        let team_key = row
            .team_key
            .map(|b| serde_json::from_slice(&b).map_err(|_| corrupt("team key")))
            .transpose()?;
        out.push(ShredNotice {
            seq: to_u64(row.seq, "seq")?,
            received_ms: row.received_ms,
            order: decode_order(&row.body)?,
            team_key,
        });
    }
    Ok(out)
}

/// The answer to a retried shred order that is already stored (under `seq`): success, with
/// nothing deleted this time.
pub(crate) fn shred_retry_response(order: &ShredOrder, seq: i64) -> Result<ShredResponse, StoreError> {
    Ok(ShredResponse { epoch: order.epoch, seq: to_u64(seq, "seq")?, chunks_deleted: 0, keys_deleted: 0 })
}

/// Decode a stored wipe order.
pub(crate) fn wipe_from_column(body: Option<Vec<u8>>) -> Result<Option<WipeOrder>, StoreError> {
    body.map(|b| serde_json::from_slice(&b).map_err(|_| corrupt("wipe order"))).transpose()
}

/// Checks a device row found for an authenticated request.
pub(crate) fn check_active(device: Option<DeviceInfo>) -> Result<DeviceInfo, StoreError> {
    match device {
        None => Err(StoreError::refused(ErrorCode::UnknownDevice, "unknown device")),
        Some(d) if d.revoked_ms.is_some() => Err(StoreError::refused(ErrorCode::Revoked, "device revoked")),
        Some(d) => Ok(d),
    }
}

pub(crate) fn check_lead(device: &DeviceInfo) -> Result<(), StoreError> {
    if device.role == Role::Lead {
        Ok(())
    } else {
        Err(StoreError::refused(ErrorCode::Forbidden, "only a lead may do this"))
    }
}

/// Build a [`DeviceInfo`] from stored columns (shared by both engines).
#[allow(clippy::too_many_arguments)]
pub(crate) fn device_from_columns(
    device_id: &[u8],
    sign_pub: &[u8],
    kx_pub: &[u8],
    name: String,
    role: i64,
    enrolled_ms: i64,
    revoked_ms: Option<i64>,
) -> Result<DeviceInfo, StoreError> {
    let role = u8::try_from(role).ok().and_then(Role::from_code).ok_or_else(|| corrupt("role"))?;
    Ok(DeviceInfo {
        device_id: DeviceId::from_slice(device_id).map_err(|_| corrupt("device id"))?,
        name,
        role,
        keys: outreach_proto::keys::DevicePublicKeys {
            sign_pub: sign_pub.try_into().map_err(|_| corrupt("public key"))?,
            kx_pub: kx_pub.try_into().map_err(|_| corrupt("public key"))?,
        },
        enrolled_ms,
        revoked_ms,
    })
}

/// Decode a stored sealed invite package.
pub(crate) fn package_from_column(bytes: Option<Vec<u8>>) -> Result<Option<SealedInvitePackage>, StoreError> {
    bytes.map(|b| serde_json::from_slice(&b).map_err(|_| corrupt("invite package"))).transpose()
}

/// Encode a value the hub itself produced as JSON for a storage column.
pub(crate) fn json_column<T: serde::Serialize>(value: &T) -> Vec<u8> {
    outreach_proto::encoding::encode_json(value)
}

/// State of an invite row when a token is presented.
pub(crate) struct InviteRow {
    pub team_id: Vec<u8>,
    pub role: i64,
    pub expires_ms: i64,
    pub used: bool,
    pub package: Option<SealedInvitePackage>,
}

/// Decide whether an invite may be consumed now.
pub(crate) fn check_invite(row: Option<InviteRow>, team_id: &TeamId, now_ms: i64) -> Result<(Role, SealedInvitePackage), StoreError> {
    let row = row.ok_or_else(|| StoreError::refused(ErrorCode::InviteUnknown, "no such invite"))?;
    if row.team_id != team_id.0 {
        return Err(StoreError::refused(ErrorCode::InviteUnknown, "no such invite"));
    }
    if row.used {
        return Err(StoreError::refused(ErrorCode::InviteUsed, "invite already used"));
    }
    if row.expires_ms <= now_ms {
        return Err(StoreError::refused(ErrorCode::InviteExpired, "invite expired"));
    }
    let role = u8::try_from(row.role).ok().and_then(Role::from_code).ok_or_else(|| corrupt("role"))?;
    let package = row.package.ok_or_else(|| corrupt("invite package"))?;
    Ok((role, package))
}

/// A move of the team to a new key epoch, as carried by `revoke` and `shred`.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The new epoch (must be the current epoch plus one).
    pub new_epoch: u64,
    /// The new team key wrapped for every remaining device, signed by the requester (the
    /// signatures are checked by the caller before storage is asked).
    pub keys: Vec<WrappedTeamKey>,
    /// The agreement key each wrapping was made for (may be empty: then not checked).
    pub recipient_kx: Vec<RecipientKx>,
}

/// Validate a revocation against the team's devices, inside the revoking transaction.
///
/// The requester must be an active lead, the target an active device of the team other than
/// the requester, and the rotation valid for the devices that remain (see [`check_rotation`]).
pub(crate) fn check_revocation(
    devices: &[DeviceInfo],
    requester: &DeviceInfo,
    target: DeviceId,
    current_epoch: u64,
    rotation: &Rotation,
) -> Result<(), StoreError> {
    check_lead(requester)?;
    if target == requester.device_id {
        return Err(StoreError::refused(ErrorCode::BadRequest, "a device cannot revoke itself"));
    }
    let target_row = devices
        .iter()
        .find(|d| d.device_id == target)
        .ok_or_else(|| StoreError::refused(ErrorCode::NotFound, "no such device in this team"))?;
    if target_row.revoked_ms.is_some() {
        return Err(StoreError::refused(ErrorCode::Revoked, "device already revoked"));
    }
    check_rotation(devices, requester, Some(target), current_epoch, rotation)
}

/// Validate a shred against the team's devices, inside the shredding transaction: the
/// requester must be an active lead and the order's issuer (its signature was checked by the
/// caller), and the rotation to `order.epoch` valid for every active device.
pub(crate) fn check_shred(
    devices: &[DeviceInfo],
    requester: &DeviceInfo,
    order: &ShredOrder,
    current_epoch: u64,
    rotation: &Rotation,
) -> Result<(), StoreError> {
    check_lead(requester)?;
    if order.issued_by != requester.device_id {
        return Err(StoreError::refused(ErrorCode::BadRequest, "a shred order must be sent by the lead who signed it"));
    }
    if rotation.new_epoch != order.epoch {
        return Err(StoreError::refused(ErrorCode::BadRequest, "team keys must be for the order's epoch"));
    }
    check_rotation(devices, requester, None, current_epoch, rotation)
}

/// Validate a rotation: `new_epoch` must be `current_epoch + 1`, and `keys` must hold exactly
/// one wrapping of epoch `new_epoch` for every active device except `excluded`, each made by
/// the requester. With `recipient_kx` given, each entry must name an active device and equal
/// its registered agreement key (else the lead wrapped for a key the device has replaced:
/// [`ErrorCode::Conflict`], refresh the directory and retry).
pub(crate) fn check_rotation(
    devices: &[DeviceInfo],
    requester: &DeviceInfo,
    excluded: Option<DeviceId>,
    current_epoch: u64,
    rotation: &Rotation,
) -> Result<(), StoreError> {
    let new_epoch = rotation.new_epoch;
    if Some(new_epoch) != current_epoch.checked_add(1) {
        return Err(StoreError::refused(ErrorCode::EpochMismatch, "epoch must be the current epoch plus one"));
    }
    let remaining: HashSet<DeviceId> = devices
        .iter()
        .filter(|d| d.revoked_ms.is_none() && Some(d.device_id) != excluded)
        .map(|d| d.device_id)
        .collect();
    let mut covered = HashSet::new();
    for key in &rotation.keys {
        if key.epoch != new_epoch || key.wrapped_by != requester.device_id {
            return Err(StoreError::refused(ErrorCode::BadWrappedKey, "wrapped team key has the wrong epoch or wrapper"));
        }
        if !remaining.contains(&key.device_id) || !covered.insert(key.device_id) {
            return Err(StoreError::refused(
                ErrorCode::BadWrappedKey,
                "wrapped team keys must cover each remaining device exactly once",
            ));
        }
    }
    if covered.len() != remaining.len() {
        return Err(StoreError::refused(
            ErrorCode::BadWrappedKey,
            "wrapped team keys must cover each remaining device exactly once",
        ));
    }
    for rk in &rotation.recipient_kx {
        let current = devices.iter().find(|d| d.device_id == rk.device_id && remaining.contains(&d.device_id));
        if current.is_none_or(|d| d.keys.kx_pub != rk.kx_pub) {
            return Err(StoreError::refused(
                ErrorCode::Conflict,
                "a team key was wrapped for an agreement key the device no longer has; refresh the device list and retry",
            ));
        }
    }
    Ok(())
}

/// Nonces older than this (by request timestamp) can be forgotten: a replay of such a request
/// is refused as stale anyway.
pub fn nonce_cutoff(now_ms: i64) -> i64 {
    now_ms.saturating_sub(MAX_CLOCK_SKEW_MS).saturating_sub(60_000)
}

/// The storage interface the hub's handlers use. Both engines implement it and pass the same
/// test suite (`hub/tests/storage_suite.rs`).
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Name of the engine (`sqlite` or `postgres`), for logs and the bench.
    fn engine(&self) -> &'static str;

    /// Create a team with its lead and the lead's epoch-0 team key (sequence item 1).
    /// Refuses [`ErrorCode::TeamExists`].
    async fn create_team(&self, team: NewTeam) -> Result<(), StoreError>;

    /// Look up a device (revoked or not). Used before verifying a request signature.
    async fn device(&self, team_id: TeamId, device_id: DeviceId) -> Result<Option<DeviceInfo>, StoreError>;

    /// Register an invite (requester must be an active lead).
    async fn create_invite(&self, auth: AuthStamp, invite: NewInvite) -> Result<(), StoreError>;

    /// Consume an invite and register `device` atomically. Refuses unknown, used or expired
    /// invites, and a device id already in the team.
    async fn enrol(&self, team_id: TeamId, token_hash: TokenHash, device: NewDevice) -> Result<Enrolled, StoreError>;

    /// Store chunks (authored by the requester, verified by the caller) and wrapped document
    /// keys; all or nothing. Duplicates (same hash; same key id and epoch with identical
    /// content) store nothing new.
    async fn push(&self, auth: AuthStamp, chunks: Vec<ChunkRecord>, doc_keys: Vec<WrappedDocKey>) -> Result<PushResponse, StoreError>;

    /// Items after `cursor`: everything but team keys addressed to other devices.
    async fn pull(&self, auth: AuthStamp, cursor: u64, limit: u32) -> Result<PullResponse, StoreError>;

    /// The team's current epoch and all its devices.
    async fn devices(&self, auth: AuthStamp) -> Result<(u64, Vec<DeviceInfo>), StoreError>;

    /// Revoke `target`, move to `rotation.new_epoch`, append the rotation's keys and a
    /// revocation item, keep `wipe` (checked by the caller: signed by the requester for
    /// `target`) for delivery to `target`, and drop the team's unused invites (their packages
    /// hold the old team key). Returns the revocation's sequence number.
    async fn revoke(&self, auth: AuthStamp, target: DeviceId, rotation: Rotation, wipe: Option<WipeOrder>) -> Result<u64, StoreError>;

    /// Carry out a shred order (its signature checked by the caller) in one transaction:
    /// delete every chunk and wrapped document key of `order.doc_ids`, record the ids as
    /// tombstones (later pushes for them are discarded), move to `order.epoch` with the
    /// rotation's keys, append a shred item, and drop unused invites. The same order sent
    /// again answers its first outcome's epoch and seq with nothing deleted.
    async fn shred(&self, auth: AuthStamp, order: ShredOrder, rotation: Rotation) -> Result<ShredResponse, StoreError>;

    /// Shred orders with a sequence number after `since`, each with the requester's wrapping
    /// of the team key of its epoch (see [`shred_page`] for the size bound).
    async fn shreds(&self, auth: AuthStamp, since: u64) -> Result<Vec<ShredNotice>, StoreError>;

    /// Replace the requester's X25519 agreement public key (checked by the caller).
    async fn rekey(&self, auth: AuthStamp, kx_pub: [u8; 32]) -> Result<(), StoreError>;

    /// The wipe order stored with `device_id`'s revocation, if any. Read only: handed to the
    /// revoked device (after its request signature verified) in its `revoked` refusal.
    async fn wipe_order(&self, team_id: TeamId, device_id: DeviceId) -> Result<Option<WipeOrder>, StoreError>;

    /// Delete the sealed packages of invites that expired at or before `now_ms` (used ones
    /// lose theirs at enrolment). The rows stay, so the token is still answered `expired`.
    async fn prune_invites(&self, now_ms: i64) -> Result<u64, StoreError>;

    /// Forget nonces of requests timestamped before `cutoff_ms` (see [`nonce_cutoff`]).
    async fn prune_nonces(&self, cutoff_ms: i64) -> Result<u64, StoreError>;

    /// Row count and digest of every table, in a fixed order: changes whenever any stored row
    /// changes. For tests ("a refused request changed nothing") and operational checks.
    async fn fingerprint(&self) -> Result<Vec<TableFingerprint>, StoreError>;
}

/// Open the engine named by a database URL: `sqlite:PATH` (created on first start) or
/// `postgres://...` / `postgresql://...`.
pub async fn open_storage(db: &str) -> Result<Arc<dyn Storage>, HubError> {
    if let Some(path) = db.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(HubError::BadDbUrl);
        }
        let store = sqlite::SqliteStorage::open(std::path::Path::new(path)).await?;
        Ok(Arc::new(store))
    } else if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        let store = postgres::PgStorage::connect(db, None).await?;
        Ok(Arc::new(store))
    } else {
        Err(HubError::BadDbUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outreach_proto::keys::DeviceKeys;

    fn device(role: Role, revoked: bool) -> (DeviceKeys, DeviceInfo) {
        let keys = DeviceKeys::generate();
        let info = DeviceInfo {
            device_id: keys.device_id(),
            name: "Test phone".into(),
            role,
            keys: keys.public(),
            enrolled_ms: 1,
            revoked_ms: revoked.then_some(2),
        };
        (keys, info)
    }

    fn wrapping(lead: &DeviceKeys, to: &DeviceInfo, epoch: u64, team: TeamId) -> WrappedTeamKey {
        let tk = outreach_proto::keys::TeamKey::generate(epoch);
        outreach_proto::wrap::wrap_team_key(&tk, team, &to.keys, lead).unwrap()
    }

    #[test]
    fn revocation_needs_exactly_the_remaining_devices() {
        let team = TeamId::random();
        let (lead_keys, lead) = device(Role::Lead, false);
        let (_, member) = device(Role::Member, false);
        let (_, lost) = device(Role::Member, false);
        let (_, gone) = device(Role::Member, true);
        let devices = vec![lead.clone(), member.clone(), lost.clone(), gone.clone()];
        let good = vec![wrapping(&lead_keys, &lead, 1, team), wrapping(&lead_keys, &member, 1, team)];
        let rot = |epoch: u64, keys: &[WrappedTeamKey]| Rotation { new_epoch: epoch, keys: keys.to_vec(), recipient_kx: vec![] };
        let check_revocation = |devices: &[DeviceInfo], lead: &DeviceInfo, target: DeviceId, current: u64, epoch: u64, keys: &[WrappedTeamKey]| {
            check_revocation(devices, lead, target, current, &rot(epoch, keys))
        };
        check_revocation(&devices, &lead, lost.device_id, 0, 1, &good).unwrap();

        let code = |r: Result<(), StoreError>| match r {
            Err(StoreError::Refused { code, .. }) => code,
            other => panic!("expected refusal, got {other:?}"),
        };
        // Missing the lead's own key.
        assert_eq!(code(check_revocation(&devices, &lead, lost.device_id, 0, 1, &good[1..])), ErrorCode::BadWrappedKey);
        // A key for the device being revoked.
        let mut with_lost = good.clone();
        with_lost.push(wrapping(&lead_keys, &lost, 1, team));
        assert_eq!(code(check_revocation(&devices, &lead, lost.device_id, 0, 1, &with_lost)), ErrorCode::BadWrappedKey);
        // A key for an already revoked device.
        let mut with_gone = good.clone();
        with_gone.push(wrapping(&lead_keys, &gone, 1, team));
        assert_eq!(code(check_revocation(&devices, &lead, lost.device_id, 0, 1, &with_gone)), ErrorCode::BadWrappedKey);
        // Duplicate key.
        let mut dup = good.clone();
        dup.push(good[1].clone());
        assert_eq!(code(check_revocation(&devices, &lead, lost.device_id, 0, 1, &dup)), ErrorCode::BadWrappedKey);
        // Wrong epoch.
        assert_eq!(code(check_revocation(&devices, &lead, lost.device_id, 0, 2, &good)), ErrorCode::EpochMismatch);
        // Not a lead; self; unknown; already revoked.
        assert_eq!(code(check_revocation(&devices, &member, lost.device_id, 0, 1, &good)), ErrorCode::Forbidden);
        assert_eq!(code(check_revocation(&devices, &lead, lead.device_id, 0, 1, &good)), ErrorCode::BadRequest);
        assert_eq!(code(check_revocation(&devices, &lead, DeviceId([9; 16]), 0, 1, &good)), ErrorCode::NotFound);
        assert_eq!(code(check_revocation(&devices, &lead, gone.device_id, 0, 1, &good)), ErrorCode::Revoked);
    }

    #[test]
    fn rotation_checks_the_agreement_keys_it_was_made_for() {
        let team = TeamId::random();
        let (lead_keys, lead) = device(Role::Lead, false);
        let (_, member) = device(Role::Member, false);
        let (_, gone) = device(Role::Member, true);
        let devices = vec![lead.clone(), member.clone(), gone.clone()];
        let keys = vec![wrapping(&lead_keys, &lead, 1, team), wrapping(&lead_keys, &member, 1, team)];
        let kx = |d: &DeviceInfo, kx_pub: [u8; 32]| RecipientKx { device_id: d.device_id, kx_pub };
        let rotation = |recipient_kx: Vec<RecipientKx>| Rotation { new_epoch: 1, keys: keys.clone(), recipient_kx };
        check_rotation(&devices, &lead, None, 0, &rotation(vec![])).unwrap();
        check_rotation(&devices, &lead, None, 0, &rotation(vec![kx(&lead, lead.keys.kx_pub), kx(&member, member.keys.kx_pub)])).unwrap();
        let code = |r: Result<(), StoreError>| match r {
            Err(StoreError::Refused { code, .. }) => code,
            other => panic!("expected refusal, got {other:?}"),
        };
        // The member re-keyed since the lead read the directory.
        assert_eq!(code(check_rotation(&devices, &lead, None, 0, &rotation(vec![kx(&member, [7; 32])]))), ErrorCode::Conflict);
        // A revoked or unknown device named.
        assert_eq!(code(check_rotation(&devices, &lead, None, 0, &rotation(vec![kx(&gone, gone.keys.kx_pub)]))), ErrorCode::Conflict);
        // A shred order must come from its issuer and carry keys of its epoch.
        let order = ShredOrder::new(&lead_keys, team, vec![outreach_proto::ids::DocId::random()], 1, outreach_proto::orders::ShredReason::Erasure, 5);
        check_shred(&devices, &lead, &order, 0, &rotation(vec![])).unwrap();
        assert_eq!(code(check_shred(&devices, &member, &order, 0, &rotation(vec![]))), ErrorCode::Forbidden);
        let mut member_lead = member.clone();
        member_lead.role = Role::Lead;
        assert_eq!(code(check_shred(&devices, &member_lead, &order, 0, &rotation(vec![]))), ErrorCode::BadRequest);
        assert_eq!(code(check_shred(&devices, &lead, &order, 1, &rotation(vec![]))), ErrorCode::EpochMismatch);
    }

    #[test]
    fn nonce_cutoff_is_older_than_the_accepted_window() {
        assert!(nonce_cutoff(1_000_000_000) < 1_000_000_000 - MAX_CLOCK_SKEW_MS);
        assert_eq!(nonce_cutoff(i64::MIN), i64::MIN);
    }
}
