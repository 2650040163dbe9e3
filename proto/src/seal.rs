//! Sealing of document chunks: XChaCha20-Poly1305 under the document's data key, then an
//! Ed25519 signature by the author device.
//!
//! The hub verifies the signature (it knows every enrolled device's public key) without being
//! able to decrypt. A reader verifies the signature, then decrypts.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::encoding::{Canon, Reader};
use crate::error::{CryptoError, DecodeError};
use crate::ids::{ChunkHash, DeviceId, DocId, KeyId, TeamId};
use crate::keys::{DeviceKeys, DevicePublicKeys, DocKey};
use crate::{MAX_BODY_BYTES, PROTOCOL_VERSION};

/// Magic prefix of a chunk's canonical bytes.
const CHUNK_MAGIC: &[u8; 4] = b"OCK1";
const AAD_DOMAIN: &str = "outreach/v1/chunk-aad";
const SIG_DOMAIN: &str = "outreach/v1/chunk-signature";

/// One sealed automerge change chunk, as pushed to and pulled from the hub.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedChunk {
    /// Protocol version the chunk was sealed under.
    pub v: u16,
    /// Team the chunk belongs to (bound into the signature).
    pub team_id: TeamId,
    /// Document the chunk belongs to.
    pub doc_id: DocId,
    /// Which data key of the document sealed it.
    pub key_id: KeyId,
    /// Device that wrote and signed it.
    pub author: DeviceId,
    /// Random 24-byte XChaCha20 nonce.
    #[serde(with = "crate::encoding::b64_array")]
    pub nonce: [u8; 24],
    /// AEAD ciphertext (plaintext length + 16-byte tag).
    #[serde(with = "crate::encoding::b64")]
    pub ciphertext: Vec<u8>,
    /// Ed25519 signature of the author over [`SealedChunk::signed_bytes`].
    #[serde(with = "crate::encoding::b64_array")]
    pub sig: [u8; 64],
}

impl std::fmt::Debug for SealedChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedChunk")
            .field("doc_id", &self.doc_id)
            .field("key_id", &self.key_id)
            .field("author", &self.author)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

fn aad(v: u16, team_id: &TeamId, doc_id: &DocId, key_id: &KeyId) -> Vec<u8> {
    let mut c = Canon::new(AAD_DOMAIN);
    c.u16(v).fixed(&team_id.0).fixed(&doc_id.0).fixed(&key_id.0);
    c.finish()
}

impl SealedChunk {
    /// The canonical byte string the author signs: version, team, document, key id, author,
    /// nonce and ciphertext.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new(SIG_DOMAIN);
        c.u16(self.v)
            .fixed(&self.team_id.0)
            .fixed(&self.doc_id.0)
            .fixed(&self.key_id.0)
            .fixed(&self.author.0)
            .fixed(&self.nonce)
            .var(&self.ciphertext);
        c.finish()
    }

    /// Canonical sealed bytes: `"OCK1"`, then the fields in declaration order (ciphertext
    /// length-prefixed). [`ChunkHash`] is SHA-256 of these bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 2 + 16 * 4 + 24 + 4 + self.ciphertext.len() + 64);
        out.extend_from_slice(CHUNK_MAGIC);
        out.extend_from_slice(&self.v.to_be_bytes());
        out.extend_from_slice(&self.team_id.0);
        out.extend_from_slice(&self.doc_id.0);
        out.extend_from_slice(&self.key_id.0);
        out.extend_from_slice(&self.author.0);
        out.extend_from_slice(&self.nonce);
        let len = u32::try_from(self.ciphertext.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.ciphertext);
        out.extend_from_slice(&self.sig);
        out
    }

    /// Decode canonical sealed bytes. Refuses other versions, truncation, trailing bytes and
    /// ciphertexts over [`MAX_BODY_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.take(4)? != CHUNK_MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let v = r.u16()?;
        if v != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        let chunk = SealedChunk {
            v,
            team_id: TeamId(r.array()?),
            doc_id: DocId(r.array()?),
            key_id: KeyId(r.array()?),
            author: DeviceId(r.array()?),
            nonce: r.array()?,
            ciphertext: r.var(MAX_BODY_BYTES)?.to_vec(),
            sig: r.array()?,
        };
        r.finish()?;
        Ok(chunk)
    }

    /// Content hash (SHA-256 of [`SealedChunk::to_bytes`]).
    pub fn hash(&self) -> ChunkHash {
        ChunkHash::of(&self.to_bytes())
    }

    /// Check the chunk's version and that `author_keys` belong to `self.author` and signed it.
    /// This is what the hub runs on every pushed chunk; it needs no decryption key.
    pub fn verify_signature(&self, author_keys: &DevicePublicKeys) -> Result<(), CryptoError> {
        if self.v != PROTOCOL_VERSION {
            return Err(CryptoError::UnsupportedVersion(self.v));
        }
        if author_keys.device_id() != self.author {
            return Err(CryptoError::Mismatch("author"));
        }
        author_keys.verify_signature(&self.signed_bytes(), &self.sig)
    }
}

/// Seal `plaintext` (one automerge change chunk) for document `doc_id` under its data key
/// `doc_key` (identified by `key_id`), signed by `signer`.
///
/// The associated data binds version, team, document and key id, so a chunk cannot be
/// replayed into another document or decrypted under another key id.
pub fn seal_chunk(
    doc_key: &DocKey,
    team_id: TeamId,
    doc_id: DocId,
    key_id: KeyId,
    plaintext: &[u8],
    signer: &DeviceKeys,
) -> Result<SealedChunk, CryptoError> {
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(doc_key.expose_secret().into());
    let ad = aad(PROTOCOL_VERSION, &team_id, &doc_id, &key_id);
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &ad })
        .map_err(|_| CryptoError::EncryptFailed)?;
    let mut chunk = SealedChunk {
        v: PROTOCOL_VERSION,
        team_id,
        doc_id,
        key_id,
        author: signer.device_id(),
        nonce,
        ciphertext,
        sig: [0u8; 64],
    };
    chunk.sig = signer.sign(&chunk.signed_bytes());
    Ok(chunk)
}

/// Verify `chunk`'s signature against its author's public keys, then decrypt it with
/// `doc_key`. The caller looks up `author_keys` by `chunk.author` in its device list and picks
/// `doc_key` by `chunk.key_id`. The plaintext zeroizes on drop.
pub fn open_chunk(
    chunk: &SealedChunk,
    doc_key: &DocKey,
    author_keys: &DevicePublicKeys,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    chunk.verify_signature(author_keys)?;
    let cipher = XChaCha20Poly1305::new(doc_key.expose_secret().into());
    let ad = aad(chunk.v, &chunk.team_id, &chunk.doc_id, &chunk.key_id);
    cipher
        .decrypt(XNonce::from_slice(&chunk.nonce), Payload { msg: &chunk.ciphertext, aad: &ad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::DecryptFailed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Fixture {
        author: DeviceKeys,
        key: DocKey,
        team: TeamId,
        doc: DocId,
        key_id: KeyId,
    }

    fn fixture() -> Fixture {
        Fixture {
            author: DeviceKeys::generate(),
            key: DocKey::generate(),
            team: TeamId::random(),
            doc: DocId::random(),
            key_id: KeyId::random(),
        }
    }

    fn seal(f: &Fixture, plaintext: &[u8]) -> SealedChunk {
        seal_chunk(&f.key, f.team, f.doc, f.key_id, plaintext, &f.author).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips() {
        let f = fixture();
        let chunk = seal(&f, b"FAKE encounter: Testy McTestface, zone TEST-1");
        let opened = open_chunk(&chunk, &f.key, &f.author.public()).unwrap();
        assert_eq!(&opened[..], b"FAKE encounter: Testy McTestface, zone TEST-1");
        // The ciphertext does not contain the plaintext.
        assert!(!chunk.ciphertext.windows(4).any(|w| w == b"FAKE"));
    }

    #[test]
    fn canonical_bytes_round_trip_and_hash_is_stable() {
        let f = fixture();
        let chunk = seal(&f, b"fake change");
        let bytes = chunk.to_bytes();
        let back = SealedChunk::from_bytes(&bytes).unwrap();
        assert_eq!(back, chunk);
        assert_eq!(back.hash(), chunk.hash());
        let json = serde_json::to_vec(&chunk).unwrap();
        let from_json: SealedChunk = crate::encoding::decode_json(&json).unwrap();
        assert_eq!(from_json.hash(), chunk.hash());
    }

    #[test]
    fn wrong_key_wrong_author_and_wrong_context_fail() {
        let f = fixture();
        let chunk = seal(&f, b"fake change");
        assert_eq!(
            open_chunk(&chunk, &DocKey::generate(), &f.author.public()).unwrap_err(),
            CryptoError::DecryptFailed
        );
        let stranger = DeviceKeys::generate();
        assert_eq!(
            open_chunk(&chunk, &f.key, &stranger.public()).unwrap_err(),
            CryptoError::Mismatch("author")
        );
        // Re-signed by the author but moved to another document: the AEAD context differs.
        let mut moved = chunk.clone();
        moved.doc_id = DocId::random();
        moved.sig = f.author.sign(&moved.signed_bytes());
        assert_eq!(open_chunk(&moved, &f.key, &f.author.public()).unwrap_err(), CryptoError::DecryptFailed);
    }

    #[test]
    fn a_chunk_claiming_another_author_is_refused() {
        let f = fixture();
        let impostor = DeviceKeys::generate();
        let mut chunk = seal(&f, b"fake change");
        // An impostor signs a chunk but names the real author.
        chunk.sig = impostor.sign(&chunk.signed_bytes());
        assert_eq!(chunk.verify_signature(&f.author.public()), Err(CryptoError::BadSignature));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn flipping_any_byte_breaks_the_chunk(
            plaintext in proptest::collection::vec(any::<u8>(), 0..256),
            pos in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let f = fixture();
            let chunk = seal(&f, &plaintext);
            let mut bytes = chunk.to_bytes();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            // Either the bytes no longer decode, or the decoded chunk fails to open.
            if let Ok(tampered) = SealedChunk::from_bytes(&bytes) {
                prop_assert!(open_chunk(&tampered, &f.key, &f.author.public()).is_err());
                prop_assert!(tampered.verify_signature(&f.author.public()).is_err());
            }
        }

        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SealedChunk::from_bytes(&bytes);
        }

        #[test]
        fn from_bytes_never_panics_on_plausible_prefix(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = b"OCK1\x00\x01".to_vec();
            bytes.extend_from_slice(&tail);
            let _ = SealedChunk::from_bytes(&bytes);
        }

        #[test]
        fn json_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = crate::encoding::decode_json::<SealedChunk>(&bytes);
        }
    }
}
