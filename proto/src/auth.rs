//! Signed request envelopes. Every authenticated request body is a [`SignedRequest`] whose
//! `body` holds the endpoint's JSON payload; the device signs a canonical byte string of every
//! other field, so a request cannot be moved to another endpoint, team or time.

use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::encoding::{decode_json, encode_json, Canon};
use crate::error::{AuthError, DecodeError};
use crate::ids::{DeviceId, TeamId};
use crate::keys::{DeviceKeys, DevicePublicKeys};
use crate::{MAX_CLOCK_SKEW_MS, PROTOCOL_VERSION};

const REQUEST_SIG: &str = "outreach/v1/request-signature";

/// An authenticated request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRequest {
    /// Protocol version.
    pub v: u16,
    /// Team of the requesting device.
    pub team_id: TeamId,
    /// Requesting device.
    pub device_id: DeviceId,
    /// Device clock at signing, milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// 16 random bytes; the hub refuses a nonce it has already seen from this device.
    #[serde(with = "crate::encoding::b64_array")]
    pub nonce: [u8; 16],
    /// Endpoint path the request is meant for, e.g. `/v1/push`.
    pub path: String,
    /// The endpoint's JSON payload.
    #[serde(with = "crate::encoding::b64")]
    pub body: Vec<u8>,
    /// Ed25519 signature over [`SignedRequest::signing_bytes`].
    #[serde(with = "crate::encoding::b64_array")]
    pub sig: [u8; 64],
}

impl std::fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedRequest")
            .field("device_id", &self.device_id)
            .field("path", &self.path)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl SignedRequest {
    /// Sign `payload` for `path` with a fresh random nonce.
    pub fn sign<T: Serialize>(keys: &DeviceKeys, team_id: TeamId, path: &str, ts_ms: i64, payload: &T) -> Self {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        Self::sign_raw(keys, team_id, path, ts_ms, nonce, encode_json(payload))
    }

    /// Sign raw body bytes with a caller-chosen nonce (tests, replays in tests, tools).
    pub fn sign_raw(keys: &DeviceKeys, team_id: TeamId, path: &str, ts_ms: i64, nonce: [u8; 16], body: Vec<u8>) -> Self {
        let mut req = SignedRequest {
            v: PROTOCOL_VERSION,
            team_id,
            device_id: keys.device_id(),
            ts_ms,
            nonce,
            path: path.to_owned(),
            body,
            sig: [0u8; 64],
        };
        req.sig = keys.sign(&req.signing_bytes());
        req
    }

    /// The canonical byte string that is signed: every field but `sig`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new(REQUEST_SIG);
        c.u16(self.v)
            .fixed(&self.team_id.0)
            .fixed(&self.device_id.0)
            .i64(self.ts_ms)
            .fixed(&self.nonce)
            .var(self.path.as_bytes())
            .var(&self.body);
        c.finish()
    }

    /// JSON bytes of the envelope (the HTTP request body).
    pub fn to_json(&self) -> Vec<u8> {
        encode_json(self)
    }

    /// Decode an envelope from an HTTP body. Size and shape are checked; the signature is not
    /// (see [`SignedRequest::check_envelope`] and [`SignedRequest::verify_signature`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_json(bytes)
    }

    /// Stateless checks a verifier runs before looking anything up: version, path, and the
    /// timestamp within ±[`MAX_CLOCK_SKEW_MS`] of `now_ms`.
    pub fn check_envelope(&self, expected_path: &str, now_ms: i64) -> Result<(), AuthError> {
        if self.v != PROTOCOL_VERSION {
            return Err(AuthError::UnsupportedVersion(self.v));
        }
        if self.path != expected_path {
            return Err(AuthError::WrongPath);
        }
        if now_ms.abs_diff(self.ts_ms) > MAX_CLOCK_SKEW_MS.unsigned_abs() {
            return Err(AuthError::StaleTimestamp);
        }
        Ok(())
    }

    /// Check that `device` is the envelope's device and signed it.
    pub fn verify_signature(&self, device: &DevicePublicKeys) -> Result<(), AuthError> {
        if device.device_id() != self.device_id {
            return Err(AuthError::DeviceMismatch);
        }
        device.verify_signature(&self.signing_bytes(), &self.sig).map_err(|_| AuthError::BadSignature)
    }

    /// [`SignedRequest::check_envelope`] then [`SignedRequest::verify_signature`].
    pub fn verify(&self, expected_path: &str, device: &DevicePublicKeys, now_ms: i64) -> Result<(), AuthError> {
        self.check_envelope(expected_path, now_ms)?;
        self.verify_signature(device)
    }

    /// Decode the payload.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        decode_json(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_900_000_000_000;

    #[test]
    fn signed_request_verifies_and_binds_every_field() {
        let keys = DeviceKeys::generate();
        let team = TeamId::random();
        let req = SignedRequest::sign(&keys, team, "/v1/pull", NOW, &serde_json::json!({"cursor": 0}));
        let back = SignedRequest::from_json(&req.to_json()).unwrap();
        assert_eq!(back, req);
        back.verify("/v1/pull", &keys.public(), NOW + 1000).unwrap();

        assert_eq!(req.verify("/v1/push", &keys.public(), NOW), Err(AuthError::WrongPath));
        assert_eq!(req.verify("/v1/pull", &keys.public(), NOW + MAX_CLOCK_SKEW_MS + 1), Err(AuthError::StaleTimestamp));
        assert_eq!(req.verify("/v1/pull", &keys.public(), NOW - MAX_CLOCK_SKEW_MS - 1), Err(AuthError::StaleTimestamp));
        assert_eq!(req.verify("/v1/pull", &DeviceKeys::generate().public(), NOW), Err(AuthError::DeviceMismatch));

        let mutations: [fn(&mut SignedRequest); 5] = [
            |r| r.team_id = TeamId::random(),
            |r| r.ts_ms += 1,
            |r| r.nonce[0] ^= 1,
            |r| r.body.push(b' '),
            |r| r.sig[5] ^= 1,
        ];
        for mutate in mutations {
            let mut bad = req.clone();
            mutate(&mut bad);
            assert_eq!(bad.verify("/v1/pull", &keys.public(), NOW), Err(AuthError::BadSignature));
        }
        let mut old = req.clone();
        old.v = 2;
        assert_eq!(old.verify("/v1/pull", &keys.public(), NOW), Err(AuthError::UnsupportedVersion(2)));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let keys = DeviceKeys::generate();
        let req = SignedRequest::sign(&keys, TeamId::random(), "/v1/pull", i64::MIN, &());
        assert_eq!(req.check_envelope("/v1/pull", i64::MAX), Err(AuthError::StaleTimestamp));
    }

    proptest! {
        #[test]
        fn from_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = SignedRequest::from_json(&bytes);
        }
    }
}
