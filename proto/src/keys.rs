//! Device identities and symmetric keys. Every secret here zeroizes its memory on drop, and
//! `Debug` never prints key material.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::ids::DeviceId;

/// Whether `kx_pub` is an X25519 public key a team key can safely be wrapped for: an exchange
/// with it must be contributory, which refuses the all-zero key and every other small-order
/// point (a wrapping for such a key would be sealed under a key anyone can compute).
pub fn is_usable_kx_public(kx_pub: &[u8; 32]) -> bool {
    StaticSecret::random_from_rng(rand::rngs::OsRng).diffie_hellman(&XPublicKey::from(*kx_pub)).was_contributory()
}

/// A device's secret identity: an Ed25519 signing key and an X25519 key-agreement key.
///
/// Generated once on the device and kept in its encrypted store; only the public half
/// ([`DevicePublicKeys`]) ever leaves the device.
pub struct DeviceKeys {
    signing: SigningKey,
    agreement: StaticSecret,
}

impl DeviceKeys {
    /// Fresh keys from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        DeviceKeys {
            signing: SigningKey::generate(&mut rng),
            agreement: StaticSecret::random_from_rng(rng),
        }
    }

    /// Rebuild from the two 32-byte secrets previously exported with
    /// [`DeviceKeys::signing_secret`] and [`DeviceKeys::agreement_secret`].
    pub fn from_secrets(signing: &[u8; 32], agreement: &[u8; 32]) -> Self {
        DeviceKeys { signing: SigningKey::from_bytes(signing), agreement: StaticSecret::from(*agreement) }
    }

    /// The Ed25519 secret, for storage in the device's encrypted store.
    pub fn signing_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The X25519 secret, for storage in the device's encrypted store.
    pub fn agreement_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.agreement.to_bytes())
    }

    /// The public keys to register with the hub.
    pub fn public(&self) -> DevicePublicKeys {
        DevicePublicKeys {
            sign_pub: self.signing.verifying_key().to_bytes(),
            kx_pub: XPublicKey::from(&self.agreement).to_bytes(),
        }
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        DeviceId::from_signing_public(&self.signing.verifying_key().to_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    pub(crate) fn agreement(&self) -> &StaticSecret {
        &self.agreement
    }
}

impl fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKeys")
            .field("device_id", &self.device_id())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

/// A device's public keys, as registered with the hub and listed by `devices`.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePublicKeys {
    /// Ed25519 public key (verifies chunk, wrapping and request signatures).
    #[serde(with = "crate::encoding::b64_array")]
    pub sign_pub: [u8; 32],
    /// X25519 public key (team keys are wrapped to it).
    #[serde(with = "crate::encoding::b64_array")]
    pub kx_pub: [u8; 32],
}

impl DevicePublicKeys {
    /// Id of the device owning these keys.
    pub fn device_id(&self) -> DeviceId {
        DeviceId::from_signing_public(&self.sign_pub)
    }

    /// Verify that `sig` is this key's Ed25519 signature over `message` (strict verification:
    /// malleable signatures and small-order keys are refused).
    pub fn verify_signature(&self, message: &[u8], sig: &[u8; 64]) -> Result<(), CryptoError> {
        let key = VerifyingKey::from_bytes(&self.sign_pub).map_err(|_| CryptoError::BadSignature)?;
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        key.verify_strict(message, &sig).map_err(|_| CryptoError::BadSignature)
    }
}

impl fmt::Debug for DevicePublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevicePublicKeys({})", self.device_id())
    }
}

fn random_key() -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    key
}

/// The team key of one epoch. Document data keys are wrapped under it; it is itself wrapped
/// for each device's X25519 key. A revocation starts a new epoch with a fresh team key.
#[derive(Clone)]
pub struct TeamKey {
    epoch: u64,
    key: Zeroizing<[u8; 32]>,
}

impl TeamKey {
    /// A fresh random team key for `epoch`.
    pub fn generate(epoch: u64) -> Self {
        TeamKey { epoch, key: random_key() }
    }

    /// Rebuild from stored bytes.
    pub fn from_bytes(epoch: u64, key: [u8; 32]) -> Self {
        TeamKey { epoch, key: Zeroizing::new(key) }
    }

    /// The epoch this key belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The secret bytes (for the device's encrypted store only).
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.key
    }
}

impl fmt::Debug for TeamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TeamKey(epoch {}, <redacted>)", self.epoch)
    }
}

/// A 32-byte data key of one document. Chunks of the document are sealed under it.
#[derive(Clone)]
pub struct DocKey {
    key: Zeroizing<[u8; 32]>,
}

impl DocKey {
    /// A fresh random data key.
    pub fn generate() -> Self {
        DocKey { key: random_key() }
    }

    /// Rebuild from stored bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        DocKey { key: Zeroizing::new(key) }
    }

    /// The secret bytes (for the device's encrypted store only).
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.key
    }
}

impl fmt::Debug for DocKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_agreement_keys_are_not_usable() {
        assert!(is_usable_kx_public(&DeviceKeys::generate().public().kx_pub));
        assert!(!is_usable_kx_public(&[0u8; 32]));
        let mut one = [0u8; 32];
        one[0] = 1; // the point of order 4 (u = 1)
        assert!(!is_usable_kx_public(&one));
        // u = p - 1 (order 2 on the twist side) and u = p (non-canonical zero).
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        assert!(!is_usable_kx_public(&p_minus_1));
        let mut p = p_minus_1;
        p[0] = 0xed;
        assert!(!is_usable_kx_public(&p));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let keys = DeviceKeys::generate();
        let secret_hex = hex::encode(*keys.signing_secret());
        let agreement_hex = hex::encode(*keys.agreement_secret());
        let text = format!("{keys:?}");
        assert!(!text.contains(&secret_hex) && !text.contains(&agreement_hex), "{text}");
        assert!(text.contains("redacted"));

        let team = TeamKey::from_bytes(3, [0xab; 32]);
        assert!(!format!("{team:?}").contains("ab"));
        let doc = DocKey::from_bytes([0xcd; 32]);
        assert!(!format!("{doc:?}").contains("cd"));
    }

    #[test]
    fn keys_survive_export_and_import() {
        let keys = DeviceKeys::generate();
        let again = DeviceKeys::from_secrets(&keys.signing_secret(), &keys.agreement_secret());
        assert_eq!(keys.public(), again.public());
        assert_eq!(keys.device_id(), keys.public().device_id());
    }

    #[test]
    fn signatures_verify_only_for_the_signed_message() {
        let keys = DeviceKeys::generate();
        let sig = keys.sign(b"message");
        assert!(keys.public().verify_signature(b"message", &sig).is_ok());
        assert_eq!(keys.public().verify_signature(b"messagf", &sig), Err(CryptoError::BadSignature));
        let other = DeviceKeys::generate();
        assert_eq!(other.public().verify_signature(b"message", &sig), Err(CryptoError::BadSignature));
    }
}
