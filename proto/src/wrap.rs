//! Key wrapping.
//!
//! - A document's data keys are wrapped under the team key of an epoch ([`WrappedDocKey`]).
//!   A document gets a new data key per epoch, so it may have several; chunks name theirs by
//!   [`KeyId`]. Destroying every wrapped copy of a document's data keys (and the local
//!   unwrapped copies) crypto-shreds the document even where its ciphertext survives.
//! - A team key is wrapped for each device's X25519 public key with a sealed box: ephemeral
//!   X25519, HKDF-SHA256, XChaCha20-Poly1305 ([`WrappedTeamKey`]). The wrapping device signs
//!   the result, so a recipient (and the hub) can tell which enrolled device issued it: the hub
//!   cannot slip a team key of its own choosing to a device.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{EphemeralSecret, PublicKey as XPublicKey};
use zeroize::Zeroizing;

use crate::encoding::Canon;
use crate::error::CryptoError;
use crate::ids::{DeviceId, DocId, KeyId, TeamId};
use crate::keys::{DeviceKeys, DevicePublicKeys, DocKey, TeamKey};

const DOC_KEY_AAD: &str = "outreach/v1/doc-key-wrap";
const TEAM_KEY_HKDF_INFO: &str = "outreach/v1/team-key-wrap/hkdf";
const TEAM_KEY_AAD: &str = "outreach/v1/team-key-wrap/aad";
const TEAM_KEY_SIG: &str = "outreach/v1/team-key-wrap/signature";

/// Length of a wrapped 32-byte key: key + 16-byte Poly1305 tag.
pub const WRAPPED_KEY_LEN: usize = 32 + 16;

fn random_nonce() -> [u8; 24] {
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

/// A document data key wrapped under the team key of `epoch`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedDocKey {
    /// Id of the data key (chunk headers name it).
    pub key_id: KeyId,
    /// Document the key belongs to.
    pub doc_id: DocId,
    /// Team epoch whose key wraps it.
    pub epoch: u64,
    /// Random 24-byte nonce.
    #[serde(with = "crate::encoding::b64_array")]
    pub nonce: [u8; 24],
    /// Wrapped key: [`WRAPPED_KEY_LEN`] bytes.
    #[serde(with = "crate::encoding::b64")]
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for WrappedDocKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedDocKey")
            .field("key_id", &self.key_id)
            .field("doc_id", &self.doc_id)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

fn doc_key_aad(team_id: &TeamId, doc_id: &DocId, key_id: &KeyId, epoch: u64) -> Vec<u8> {
    let mut c = Canon::new(DOC_KEY_AAD);
    c.fixed(&team_id.0).fixed(&doc_id.0).fixed(&key_id.0).u64(epoch);
    c.finish()
}

/// Wrap `doc_key` (id `key_id`, document `doc_id`) under `team_key`.
pub fn wrap_doc_key(
    team_key: &TeamKey,
    team_id: TeamId,
    doc_id: DocId,
    key_id: KeyId,
    doc_key: &DocKey,
) -> Result<WrappedDocKey, CryptoError> {
    let nonce = random_nonce();
    let cipher = XChaCha20Poly1305::new(team_key.expose_secret().into());
    let aad = doc_key_aad(&team_id, &doc_id, &key_id, team_key.epoch());
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: doc_key.expose_secret(), aad: &aad })
        .map_err(|_| CryptoError::EncryptFailed)?;
    Ok(WrappedDocKey { key_id, doc_id, epoch: team_key.epoch(), nonce, ciphertext })
}

/// Create a fresh data key for `doc_id` in `team_key`'s epoch and wrap it. Returns the key, its
/// id and the wrapping to push.
pub fn new_doc_key(
    team_key: &TeamKey,
    team_id: TeamId,
    doc_id: DocId,
) -> Result<(DocKey, KeyId, WrappedDocKey), CryptoError> {
    let key = DocKey::generate();
    let key_id = KeyId::random();
    let wrapped = wrap_doc_key(team_key, team_id, doc_id, key_id, &key)?;
    Ok((key, key_id, wrapped))
}

/// Unwrap a document data key with the team key of its epoch.
pub fn unwrap_doc_key(
    team_key: &TeamKey,
    team_id: TeamId,
    wrapped: &WrappedDocKey,
) -> Result<DocKey, CryptoError> {
    if wrapped.epoch != team_key.epoch() {
        return Err(CryptoError::Mismatch("epoch"));
    }
    let cipher = XChaCha20Poly1305::new(team_key.expose_secret().into());
    let aad = doc_key_aad(&team_id, &wrapped.doc_id, &wrapped.key_id, wrapped.epoch);
    let plain = Zeroizing::new(
        cipher
            .decrypt(XNonce::from_slice(&wrapped.nonce), Payload { msg: &wrapped.ciphertext, aad: &aad })
            .map_err(|_| CryptoError::DecryptFailed)?,
    );
    let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| CryptoError::DecryptFailed)?;
    Ok(DocKey::from_bytes(key))
}

/// A team key of one epoch, sealed for one device's X25519 key and signed by the device that
/// wrapped it (the team's creator, or the lead who revoked a device).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedTeamKey {
    /// Epoch of the wrapped team key.
    pub epoch: u64,
    /// Recipient device.
    pub device_id: DeviceId,
    /// Ephemeral X25519 public key of the sealed box.
    #[serde(with = "crate::encoding::b64_array")]
    pub ephemeral_pub: [u8; 32],
    /// Random 24-byte nonce.
    #[serde(with = "crate::encoding::b64_array")]
    pub nonce: [u8; 24],
    /// Sealed team key: [`WRAPPED_KEY_LEN`] bytes.
    #[serde(with = "crate::encoding::b64")]
    pub ciphertext: Vec<u8>,
    /// Device that produced this wrapping.
    pub wrapped_by: DeviceId,
    /// Ed25519 signature of `wrapped_by` over [`WrappedTeamKey::signed_bytes`].
    #[serde(with = "crate::encoding::b64_array")]
    pub sig: [u8; 64],
}

impl std::fmt::Debug for WrappedTeamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedTeamKey")
            .field("epoch", &self.epoch)
            .field("device_id", &self.device_id)
            .field("wrapped_by", &self.wrapped_by)
            .finish_non_exhaustive()
    }
}

fn team_key_aad(team_id: &TeamId, epoch: u64, recipient: &DeviceId, eph: &[u8; 32]) -> Vec<u8> {
    let mut c = Canon::new(TEAM_KEY_AAD);
    c.fixed(&team_id.0).u64(epoch).fixed(&recipient.0).fixed(eph);
    c.finish()
}

fn team_key_kek(
    shared: &[u8; 32],
    eph: &[u8; 32],
    recipient_kx: &[u8; 32],
    team_id: &TeamId,
    epoch: u64,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph);
    salt[32..].copy_from_slice(recipient_kx);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut info = Canon::new(TEAM_KEY_HKDF_INFO);
    info.fixed(&team_id.0).u64(epoch);
    let mut kek = Zeroizing::new([0u8; 32]);
    hk.expand(&info.finish(), kek.as_mut()).map_err(|_| CryptoError::EncryptFailed)?;
    Ok(kek)
}

impl WrappedTeamKey {
    /// The canonical bytes the wrapping device signs (every field but `sig`, plus the team).
    pub fn signed_bytes(&self, team_id: &TeamId) -> Vec<u8> {
        let mut c = Canon::new(TEAM_KEY_SIG);
        c.fixed(&team_id.0)
            .u64(self.epoch)
            .fixed(&self.device_id.0)
            .fixed(&self.ephemeral_pub)
            .fixed(&self.nonce)
            .var(&self.ciphertext)
            .fixed(&self.wrapped_by.0);
        c.finish()
    }

    /// Check that `wrapper` is `wrapped_by` and signed this wrapping for `team_id`. The hub
    /// runs this before storing a wrapping.
    pub fn verify_signature(&self, team_id: &TeamId, wrapper: &DevicePublicKeys) -> Result<(), CryptoError> {
        if wrapper.device_id() != self.wrapped_by {
            return Err(CryptoError::Mismatch("wrapped_by"));
        }
        wrapper.verify_signature(&self.signed_bytes(team_id), &self.sig)
    }
}

/// Seal `team_key` for `recipient`'s X25519 key, signed by `wrapper`.
pub fn wrap_team_key(
    team_key: &TeamKey,
    team_id: TeamId,
    recipient: &DevicePublicKeys,
    wrapper: &DeviceKeys,
) -> Result<WrappedTeamKey, CryptoError> {
    let eph_secret = EphemeralSecret::random_from_rng(rand::rngs::OsRng);
    let eph_pub = XPublicKey::from(&eph_secret).to_bytes();
    let shared = eph_secret.diffie_hellman(&XPublicKey::from(recipient.kx_pub));
    if !shared.was_contributory() {
        return Err(CryptoError::WeakKey);
    }
    let epoch = team_key.epoch();
    let kek = team_key_kek(shared.as_bytes(), &eph_pub, &recipient.kx_pub, &team_id, epoch)?;
    let device_id = recipient.device_id();
    let nonce = random_nonce();
    let aad = team_key_aad(&team_id, epoch, &device_id, &eph_pub);
    let ciphertext = XChaCha20Poly1305::new(kek.as_ref().into())
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: team_key.expose_secret(), aad: &aad })
        .map_err(|_| CryptoError::EncryptFailed)?;
    let mut wrapped = WrappedTeamKey {
        epoch,
        device_id,
        ephemeral_pub: eph_pub,
        nonce,
        ciphertext,
        wrapped_by: wrapper.device_id(),
        sig: [0u8; 64],
    };
    wrapped.sig = wrapper.sign(&wrapped.signed_bytes(&team_id));
    Ok(wrapped)
}

/// Verify `wrapped`'s signature against `wrapper` (looked up by `wrapped.wrapped_by` among the
/// team's leads the device trusts), then open it with the recipient's own keys.
pub fn unwrap_team_key(
    wrapped: &WrappedTeamKey,
    team_id: TeamId,
    recipient: &DeviceKeys,
    wrapper: &DevicePublicKeys,
) -> Result<TeamKey, CryptoError> {
    if wrapped.device_id != recipient.device_id() {
        return Err(CryptoError::Mismatch("device_id"));
    }
    wrapped.verify_signature(&team_id, wrapper)?;
    let shared = recipient.agreement().diffie_hellman(&XPublicKey::from(wrapped.ephemeral_pub));
    if !shared.was_contributory() {
        return Err(CryptoError::WeakKey);
    }
    let kx_pub = XPublicKey::from(recipient.agreement()).to_bytes();
    let kek = team_key_kek(shared.as_bytes(), &wrapped.ephemeral_pub, &kx_pub, &team_id, wrapped.epoch)?;
    let aad = team_key_aad(&team_id, wrapped.epoch, &wrapped.device_id, &wrapped.ephemeral_pub);
    let plain = Zeroizing::new(
        XChaCha20Poly1305::new(kek.as_ref().into())
            .decrypt(XNonce::from_slice(&wrapped.nonce), Payload { msg: &wrapped.ciphertext, aad: &aad })
            .map_err(|_| CryptoError::DecryptFailed)?,
    );
    let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| CryptoError::DecryptFailed)?;
    Ok(TeamKey::from_bytes(wrapped.epoch, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn doc_key_round_trip_and_wrong_team_key() {
        let team = TeamId::random();
        let tk = TeamKey::generate(1);
        let (key, key_id, wrapped) = new_doc_key(&tk, team, DocId::random()).unwrap();
        assert_eq!(wrapped.key_id, key_id);
        assert_eq!(wrapped.ciphertext.len(), WRAPPED_KEY_LEN);
        let back = unwrap_doc_key(&tk, team, &wrapped).unwrap();
        assert_eq!(back.expose_secret(), key.expose_secret());
        assert_eq!(unwrap_doc_key(&TeamKey::generate(1), team, &wrapped).unwrap_err(), CryptoError::DecryptFailed);
        assert_eq!(unwrap_doc_key(&TeamKey::generate(2), team, &wrapped).unwrap_err(), CryptoError::Mismatch("epoch"));
        assert_eq!(unwrap_doc_key(&tk, TeamId::random(), &wrapped).unwrap_err(), CryptoError::DecryptFailed);
        let mut moved = wrapped.clone();
        moved.doc_id = DocId::random();
        assert_eq!(unwrap_doc_key(&tk, team, &moved).unwrap_err(), CryptoError::DecryptFailed);
    }

    #[test]
    fn team_key_round_trip_only_for_the_recipient() {
        let team = TeamId::random();
        let lead = DeviceKeys::generate();
        let member = DeviceKeys::generate();
        let tk = TeamKey::generate(4);
        let wrapped = wrap_team_key(&tk, team, &member.public(), &lead).unwrap();
        assert_eq!(wrapped.device_id, member.device_id());
        assert!(wrapped.verify_signature(&team, &lead.public()).is_ok());
        let back = unwrap_team_key(&wrapped, team, &member, &lead.public()).unwrap();
        assert_eq!(back.epoch(), 4);
        assert_eq!(back.expose_secret(), tk.expose_secret());

        // Not the recipient.
        assert_eq!(
            unwrap_team_key(&wrapped, team, &lead, &lead.public()).unwrap_err(),
            CryptoError::Mismatch("device_id")
        );
        // Claimed by another wrapper.
        let stranger = DeviceKeys::generate();
        assert_eq!(
            unwrap_team_key(&wrapped, team, &member, &stranger.public()).unwrap_err(),
            CryptoError::Mismatch("wrapped_by")
        );
        // Another team.
        assert_eq!(
            unwrap_team_key(&wrapped, TeamId::random(), &member, &lead.public()).unwrap_err(),
            CryptoError::BadSignature
        );
    }

    #[test]
    fn a_forged_wrapping_signed_by_an_outsider_is_refused() {
        // Someone who knows only public keys (e.g. the hub) seals a key of their choosing.
        let team = TeamId::random();
        let lead = DeviceKeys::generate();
        let member = DeviceKeys::generate();
        let outsider = DeviceKeys::generate();
        let mut forged = wrap_team_key(&TeamKey::generate(2), team, &member.public(), &outsider).unwrap();
        forged.wrapped_by = lead.device_id();
        assert_eq!(
            unwrap_team_key(&forged, team, &member, &lead.public()).unwrap_err(),
            CryptoError::BadSignature
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn tampering_any_team_key_byte_fails(pos in any::<proptest::sample::Index>(), bit in 0u8..8, field in 0usize..3) {
            let team = TeamId::random();
            let lead = DeviceKeys::generate();
            let member = DeviceKeys::generate();
            let mut wrapped = wrap_team_key(&TeamKey::generate(1), team, &member.public(), &lead).unwrap();
            match field {
                0 => { let i = pos.index(32); wrapped.ephemeral_pub[i] ^= 1 << bit; }
                1 => { let i = pos.index(24); wrapped.nonce[i] ^= 1 << bit; }
                _ => { let i = pos.index(wrapped.ciphertext.len()); wrapped.ciphertext[i] ^= 1 << bit; }
            }
            prop_assert!(unwrap_team_key(&wrapped, team, &member, &lead.public()).is_err());
        }

        #[test]
        fn tampering_any_doc_key_byte_fails(pos in any::<proptest::sample::Index>(), bit in 0u8..8) {
            let team = TeamId::random();
            let tk = TeamKey::generate(1);
            let (_, _, mut wrapped) = new_doc_key(&tk, team, DocId::random()).unwrap();
            let i = pos.index(24 + wrapped.ciphertext.len());
            if i < 24 { wrapped.nonce[i] ^= 1 << bit } else { wrapped.ciphertext[i - 24] ^= 1 << bit }
            prop_assert!(unwrap_doc_key(&tk, team, &wrapped).is_err());
        }

        #[test]
        fn wrapped_key_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = crate::encoding::decode_json::<WrappedDocKey>(&bytes);
            let _ = crate::encoding::decode_json::<WrappedTeamKey>(&bytes);
        }
    }
}
