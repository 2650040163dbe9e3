//! Store keys.
//!
//! On phones the shell supplies a raw 256-bit key held by the Android Keystore or the iOS
//! Keychain. On desktops (the CLI) the key is derived from a passphrase with Argon2id and a
//! per-store random salt. The core never writes a key to disk: only the salt, the KDF parameters
//! and a key check value (an HMAC under the key, which proves nothing about the key's bits) are
//! kept beside the database.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// A 256-bit store key. Zeroized on drop; `Debug` never prints it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StoreKey([u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    /// Wraps raw key bytes supplied by the platform keystore.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        StoreKey(bytes)
    }

    /// Wraps a key from a slice; it must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("key", "a store key must be exactly 32 bytes"))?;
        Ok(StoreKey(arr))
    }

    /// A fresh random key (for shells creating a store for the first time, and tests).
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        StoreKey(k)
    }

    /// Derives a key from a passphrase with Argon2id.
    pub fn derive(passphrase: &[u8], salt: &[u8], params: &KdfParams) -> Result<Self> {
        if passphrase.is_empty() {
            return Err(Error::invalid("passphrase", "must not be empty"));
        }
        let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
            .map_err(|_| Error::invalid("kdf", "bad Argon2 parameters"))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
        let mut out = [0u8; 32];
        a.hash_password_into(passphrase, salt, &mut out)
            .map_err(|_| Error::invalid("kdf", "Argon2 failed (salt too short?)"))?;
        Ok(StoreKey(out))
    }

    /// The SQLCipher raw-key literal `x'…'` (no PBKDF2 inside SQLCipher: the key is already
    /// strong). Zeroized when dropped.
    pub(crate) fn sqlcipher_literal(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(67));
        s.push_str("x'");
        s.push_str(&Zeroizing::new(hex::encode(self.0)));
        s.push('\'');
        s
    }

    /// A check value that lets the core tell "wrong key" from "damaged file" without trying
    /// to decrypt (and so without touching) the database.
    pub(crate) fn check_value(&self) -> [u8; 32] {
        self.derive_subkey(b"outreach/store-key-check/v1")
    }

    /// A purpose-bound subkey (HMAC-SHA256 of the label under the key).
    pub(crate) fn derive_subkey(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("hmac takes any key");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }
}

/// Argon2id parameters, stored beside the database (they are not secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: above OWASP's Argon2id minimum, about a second on a laptop.
    fn default() -> Self {
        KdfParams { m_kib: 64 * 1024, t: 3, p: 1 }
    }
}

impl KdfParams {
    /// Cheap parameters for tests only (never use for real data).
    pub fn insecure_fast_for_tests() -> Self {
        KdfParams { m_kib: 256, t: 1, p: 1 }
    }
}

/// How to unlock a store.
pub enum Unlock<'a> {
    /// A raw key from the platform keystore.
    Key(StoreKey),
    /// A passphrase (desktop/CLI); derived with the store's saved salt and parameters.
    Passphrase(&'a [u8]),
}

impl std::fmt::Debug for Unlock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unlock::Key(_) => f.write_str("Unlock::Key(..)"),
            Unlock::Passphrase(_) => f.write_str("Unlock::Passphrase(..)"),
        }
    }
}
