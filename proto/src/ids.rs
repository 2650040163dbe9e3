//! Identifiers. All are fixed-size byte strings written as lowercase hex on the wire; the hub
//! treats them as opaque.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::DecodeError;

macro_rules! hex_id {
    ($(#[$meta:meta])* $name:ident, $len:expr, $field:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Build from a byte slice of exactly [`Self::LEN`] bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
                <[u8; $len]>::try_from(bytes).map($name).map_err(|_| DecodeError::BadLength {
                    field: $field,
                    expected: $len,
                    got: bytes.len(),
                })
            }

            /// Lowercase hex form.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = DecodeError;
            fn from_str(s: &str) -> Result<Self, DecodeError> {
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).map_err(|_| DecodeError::BadHex($field))?;
                Ok($name(out))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(|_| {
                    serde::de::Error::custom(concat!("invalid hex for ", $field))
                })
            }
        }
    };
}

macro_rules! random_id {
    ($name:ident) => {
        impl $name {
            /// A fresh random identifier from the operating system's CSPRNG.
            pub fn random() -> Self {
                let mut bytes = [0u8; Self::LEN];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                $name(bytes)
            }
        }
    };
}

hex_id!(
    /// A team: 16 random bytes chosen by the lead who creates it.
    TeamId, 16, "team_id"
);
random_id!(TeamId);

hex_id!(
    /// A CRDT document (device-shift, person profile, alert, settings): 16 random bytes.
    DocId, 16, "doc_id"
);
random_id!(DocId);

hex_id!(
    /// One data key of one document (a document gets a new data key per team epoch): 16 random
    /// bytes. Chunk headers carry it so a reader knows which key opens the chunk.
    KeyId, 16, "key_id"
);
random_id!(KeyId);

hex_id!(
    /// A device: the first 16 bytes of SHA-256 of its Ed25519 public signing key.
    DeviceId, 16, "device_id"
);

impl DeviceId {
    /// Derive the id of the device whose Ed25519 public key is `sign_pub`.
    pub fn from_signing_public(sign_pub: &[u8; 32]) -> Self {
        let digest = Sha256::digest(sign_pub);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        DeviceId(id)
    }
}

hex_id!(
    /// SHA-256 of a sealed chunk's canonical bytes ([`crate::seal::SealedChunk::to_bytes`]).
    /// Pushes are idempotent by this hash.
    ChunkHash, 32, "hash"
);

impl ChunkHash {
    /// Hash canonical sealed bytes.
    pub fn of(canonical: &[u8]) -> Self {
        ChunkHash(Sha256::digest(canonical).into())
    }
}

hex_id!(
    /// SHA-256 of a one-time invite token. The hub stores only this, never the token.
    TokenHash, 32, "token_hash"
);

impl TokenHash {
    /// Hash a raw invite token.
    pub fn of(token: &[u8; 32]) -> Self {
        TokenHash(Sha256::digest(token).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_typed_errors() {
        let id = DocId::random();
        let text = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<DocId>(&text).unwrap(), id);
        assert_eq!("zz".parse::<DocId>(), Err(DecodeError::BadHex("doc_id")));
        assert_eq!("00".parse::<DocId>(), Err(DecodeError::BadHex("doc_id")));
        assert!(matches!(DocId::from_slice(&[1, 2]), Err(DecodeError::BadLength { .. })));
    }

    #[test]
    fn device_id_is_truncated_sha256_of_signing_key() {
        let id = DeviceId::from_signing_public(&[7u8; 32]);
        let full = Sha256::digest([7u8; 32]);
        assert_eq!(&id.0[..], &full[..16]);
        assert_eq!(id.to_hex().len(), 32);
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(TeamId::random(), TeamId::random());
    }
}
