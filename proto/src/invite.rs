//! Invites: how a lead enrols a new device in person.
//!
//! The lead makes a random one-time token and a random invite secret. The hub is given only
//! SHA-256(token) ([`TokenHash`]), an expiry, a role and a *sealed package*: the current team
//! key (with its epoch) and the inviting lead's public keys, sealed under a key derived with
//! HKDF from the invite secret. The hub cannot open the package. The new device receives an
//! [`InviteCode`] (`outreach1:...`, shown as a QR code) holding the hub URL, team id, token and
//! secret; it presents the token to enrol, gets the package back and opens it locally.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::encoding::{b64_decode, b64_encode, Canon, Reader};
use crate::error::{CryptoError, DecodeError};
use crate::ids::{TeamId, TokenHash};
use crate::keys::{DevicePublicKeys, TeamKey};
use crate::messages::Role;
use crate::MAX_HUB_URL_BYTES;

/// Prefix of every invite code.
pub const INVITE_PREFIX: &str = "outreach1:";
const INVITE_CODE_VERSION: u8 = 1;
const PACKAGE_MAGIC: &[u8; 4] = b"OIP1";
const PACKAGE_HKDF_INFO: &str = "outreach/v1/invite-package/hkdf";
const PACKAGE_AAD: &str = "outreach/v1/invite-package/aad";
/// Largest sealed package the hub accepts, in bytes of ciphertext.
pub const MAX_SEALED_PACKAGE_BYTES: usize = 1024;

/// Why an invite code could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum InviteCodeError {
    /// The text does not start with `outreach1:`.
    #[error("not an outreach invite code")]
    BadPrefix,
    /// The text after the prefix is not unpadded base64url.
    #[error("invite code is not valid base64url")]
    BadEncoding,
    /// The decoded code is too short.
    #[error("invite code is truncated")]
    Truncated,
    /// The code was made by a newer version of the app.
    #[error("unsupported invite code version {0}")]
    UnsupportedVersion(u8),
    /// The hub URL is missing, too long, not UTF-8 or not http(s).
    #[error("invite code carries an invalid hub URL")]
    BadUrl,
}

/// What a new device needs to join: where the hub is, which team, the one-time token and the
/// secret that opens the sealed package. `Debug` does not print the token or secret.
#[derive(Clone)]
pub struct InviteCode {
    hub_url: String,
    team_id: TeamId,
    token: Zeroizing<[u8; 32]>,
    secret: Zeroizing<[u8; 32]>,
}

fn check_url(url: &str) -> Result<(), InviteCodeError> {
    let ok_scheme = url.starts_with("https://") || url.starts_with("http://");
    if !ok_scheme || url.len() > MAX_HUB_URL_BYTES || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InviteCodeError::BadUrl);
    }
    Ok(())
}

impl InviteCode {
    /// A fresh invite for `team_id` at `hub_url`, with a random token and secret.
    pub fn new(hub_url: &str, team_id: TeamId) -> Result<Self, InviteCodeError> {
        check_url(hub_url)?;
        let mut token = Zeroizing::new([0u8; 32]);
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(token.as_mut());
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        Ok(InviteCode { hub_url: hub_url.to_owned(), team_id, token, secret })
    }

    /// The hub's base URL.
    pub fn hub_url(&self) -> &str {
        &self.hub_url
    }

    /// The team being joined.
    pub fn team_id(&self) -> TeamId {
        self.team_id
    }

    /// The one-time token (sent to the hub once, in `enrol`).
    pub fn token(&self) -> &[u8; 32] {
        &self.token
    }

    /// SHA-256 of the token: the only form of it the hub stores.
    pub fn token_hash(&self) -> TokenHash {
        TokenHash::of(&self.token)
    }

    /// The text to show as a QR code: `outreach1:` + base64url of
    /// `[version=1][team_id 16][token 32][secret 32][hub_url UTF-8]`.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(Vec::with_capacity(81 + self.hub_url.len()));
        raw.push(INVITE_CODE_VERSION);
        raw.extend_from_slice(&self.team_id.0);
        raw.extend_from_slice(self.token.as_ref());
        raw.extend_from_slice(self.secret.as_ref());
        raw.extend_from_slice(self.hub_url.as_bytes());
        Zeroizing::new(format!("{INVITE_PREFIX}{}", b64_encode(&raw)))
    }

    /// Parse an invite code. Surrounding whitespace is ignored.
    pub fn decode(text: &str) -> Result<Self, InviteCodeError> {
        let body = text.trim().strip_prefix(INVITE_PREFIX).ok_or(InviteCodeError::BadPrefix)?;
        if body.len() > 4 * (81 + MAX_HUB_URL_BYTES) / 3 + 4 {
            return Err(InviteCodeError::BadUrl);
        }
        let raw = Zeroizing::new(b64_decode(body).map_err(|_| InviteCodeError::BadEncoding)?);
        let mut r = Reader::new(&raw);
        let version = r.u8().map_err(|_| InviteCodeError::Truncated)?;
        if version != INVITE_CODE_VERSION {
            return Err(InviteCodeError::UnsupportedVersion(version));
        }
        let team_id = TeamId(r.array().map_err(|_| InviteCodeError::Truncated)?);
        let token = Zeroizing::new(r.array().map_err(|_| InviteCodeError::Truncated)?);
        let secret = Zeroizing::new(r.array().map_err(|_| InviteCodeError::Truncated)?);
        let hub_url = std::str::from_utf8(r.rest()).map_err(|_| InviteCodeError::BadUrl)?.to_owned();
        check_url(&hub_url)?;
        Ok(InviteCode { hub_url, team_id, token, secret })
    }

    fn package_cipher(&self) -> Result<XChaCha20Poly1305, CryptoError> {
        let hk = Hkdf::<Sha256>::new(Some(&self.team_id.0), self.secret.as_ref());
        let mut key = Zeroizing::new([0u8; 32]);
        hk.expand(Canon::new(PACKAGE_HKDF_INFO).finish().as_slice(), key.as_mut())
            .map_err(|_| CryptoError::EncryptFailed)?;
        Ok(XChaCha20Poly1305::new(key.as_ref().into()))
    }

    fn package_aad(&self) -> Vec<u8> {
        let mut c = Canon::new(PACKAGE_AAD);
        c.fixed(&self.team_id.0);
        c.finish()
    }

    /// Seal `package` under the key derived from this invite's secret (lead side).
    pub fn seal_package(&self, package: &InvitePackage) -> Result<SealedInvitePackage, CryptoError> {
        if package.team_id != self.team_id {
            return Err(CryptoError::Mismatch("team_id"));
        }
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let plain = package.to_bytes();
        let ciphertext = self
            .package_cipher()?
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plain, aad: &self.package_aad() })
            .map_err(|_| CryptoError::EncryptFailed)?;
        Ok(SealedInvitePackage { nonce, ciphertext })
    }

    /// Open the package the hub returned at enrolment (new-device side).
    pub fn open_package(&self, sealed: &SealedInvitePackage) -> Result<InvitePackage, CryptoError> {
        let plain = Zeroizing::new(
            self.package_cipher()?
                .decrypt(XNonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: &self.package_aad() })
                .map_err(|_| CryptoError::DecryptFailed)?,
        );
        let package = InvitePackage::from_bytes(&plain).map_err(CryptoError::Malformed)?;
        if package.team_id != self.team_id {
            return Err(CryptoError::Mismatch("team_id"));
        }
        Ok(package)
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviteCode")
            .field("hub_url", &self.hub_url)
            .field("team_id", &self.team_id)
            .field("token", &"<redacted>")
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The plaintext of an invite package: what the new device learns only through the invite
/// secret. `inviter_keys` is the device's trust anchor: the lead whose signatures it will
/// accept on future team keys until it learns of other leads through that lead.
#[derive(Clone, Debug)]
pub struct InvitePackage {
    /// Team being joined.
    pub team_id: TeamId,
    /// Team key of the current epoch.
    pub team_key: TeamKey,
    /// Role the new device will have.
    pub role: Role,
    /// Public keys of the lead who made the invite.
    pub inviter_keys: DevicePublicKeys,
}

impl InvitePackage {
    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(125));
        out.extend_from_slice(PACKAGE_MAGIC);
        out.extend_from_slice(&self.team_id.0);
        out.extend_from_slice(&self.team_key.epoch().to_be_bytes());
        out.extend_from_slice(self.team_key.expose_secret());
        out.push(self.role.code());
        out.extend_from_slice(&self.inviter_keys.sign_pub);
        out.extend_from_slice(&self.inviter_keys.kx_pub);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.take(4)? != PACKAGE_MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let team_id = TeamId(r.array()?);
        let epoch = r.u64()?;
        let key: Zeroizing<[u8; 32]> = Zeroizing::new(r.array()?);
        let role = Role::from_code(r.u8()?).ok_or(DecodeError::BadField("role"))?;
        let inviter_keys = DevicePublicKeys { sign_pub: r.array()?, kx_pub: r.array()? };
        r.finish()?;
        Ok(InvitePackage { team_id, team_key: TeamKey::from_bytes(epoch, *key), role, inviter_keys })
    }
}

/// An invite package sealed under the invite secret; opaque to the hub.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedInvitePackage {
    /// Random 24-byte nonce.
    #[serde(with = "crate::encoding::b64_array")]
    pub nonce: [u8; 24],
    /// Ciphertext (at most [`MAX_SEALED_PACKAGE_BYTES`]).
    #[serde(with = "crate::encoding::b64")]
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedInvitePackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedInvitePackage({} bytes)", self.ciphertext.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::DeviceKeys;
    use proptest::prelude::*;

    fn package(team_id: TeamId, lead: &DeviceKeys) -> InvitePackage {
        InvitePackage { team_id, team_key: TeamKey::generate(3), role: Role::Member, inviter_keys: lead.public() }
    }

    #[test]
    fn code_round_trip_fits_a_qr_code() {
        let code = InviteCode::new("https://hub.example.test:8443", TeamId::random()).unwrap();
        let text = code.encode();
        assert!(text.starts_with(INVITE_PREFIX));
        assert!(text.len() < 200, "{} chars", text.len());
        let back = InviteCode::decode(&text).unwrap();
        assert_eq!(back.hub_url(), code.hub_url());
        assert_eq!(back.team_id(), code.team_id());
        assert_eq!(back.token(), code.token());
        assert_eq!(back.token_hash(), code.token_hash());
    }

    #[test]
    fn code_errors_are_typed() {
        assert_eq!(InviteCode::decode("hello").unwrap_err(), InviteCodeError::BadPrefix);
        assert_eq!(InviteCode::decode("outreach1:***").unwrap_err(), InviteCodeError::BadEncoding);
        assert_eq!(InviteCode::decode("outreach1:AQ").unwrap_err(), InviteCodeError::Truncated);
        let mut raw = vec![9u8];
        raw.extend_from_slice(&[0u8; 80]);
        let text = format!("{INVITE_PREFIX}{}", b64_encode(&raw));
        assert_eq!(InviteCode::decode(&text).unwrap_err(), InviteCodeError::UnsupportedVersion(9));
        raw[0] = 1;
        raw.extend_from_slice(b"ftp://x");
        let text = format!("{INVITE_PREFIX}{}", b64_encode(&raw));
        assert_eq!(InviteCode::decode(&text).unwrap_err(), InviteCodeError::BadUrl);
        assert_eq!(InviteCode::new("hub.example.test", TeamId::random()).unwrap_err(), InviteCodeError::BadUrl);
    }

    #[test]
    fn debug_hides_token_and_secret() {
        let code = InviteCode::new("https://hub.example.test", TeamId::random()).unwrap();
        let text = format!("{code:?}");
        assert!(!text.contains(&hex::encode(code.token())));
        assert!(text.contains("redacted"));
    }

    #[test]
    fn package_opens_only_with_the_invite_secret() {
        let lead = DeviceKeys::generate();
        let team = TeamId::random();
        let code = InviteCode::new("https://hub.example.test", team).unwrap();
        let pkg = package(team, &lead);
        let sealed = code.seal_package(&pkg).unwrap();
        let opened = code.open_package(&sealed).unwrap();
        assert_eq!(opened.team_key.expose_secret(), pkg.team_key.expose_secret());
        assert_eq!(opened.team_key.epoch(), 3);
        assert_eq!(opened.role, Role::Member);
        assert_eq!(opened.inviter_keys, lead.public());

        let other = InviteCode::new("https://hub.example.test", team).unwrap();
        assert_eq!(other.open_package(&sealed).unwrap_err(), CryptoError::DecryptFailed);
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(code.open_package(&tampered).unwrap_err(), CryptoError::DecryptFailed);
    }

    proptest! {
        #[test]
        fn decode_never_panics(text in ".{0,400}") {
            let _ = InviteCode::decode(&text);
            let _ = InviteCode::decode(&format!("{INVITE_PREFIX}{text}"));
        }

        #[test]
        fn decode_never_panics_on_binary(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = InviteCode::decode(&format!("{INVITE_PREFIX}{}", b64_encode(&bytes)));
            let _ = InvitePackage::from_bytes(&bytes);
        }
    }
}
