//! Typed errors. None of them carries payload contents: a decoder error says *what kind* of
//! problem it met and where, never the offending bytes, so it is safe to log or send back.

use thiserror::Error;

/// Input bytes could not be decoded into a protocol value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is larger than the protocol allows.
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// Largest size allowed.
        max: usize,
    },
    /// The input is not valid JSON or does not have the expected shape.
    #[error("malformed JSON ({category} error at line {line} column {column})")]
    Json {
        /// `syntax`, `data`, `eof` or `io`.
        category: &'static str,
        /// Line of the error (1-based), as reported by the parser.
        line: usize,
        /// Column of the error (1-based), as reported by the parser.
        column: usize,
    },
    /// The object carries a protocol version this build does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// A field has the wrong length.
    #[error("field `{field}` must be {expected} bytes, got {got}")]
    BadLength {
        /// Field name.
        field: &'static str,
        /// Expected length.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// A hex field is not valid lowercase/uppercase hex of the right length.
    #[error("field `{0}` is not valid hex of the expected length")]
    BadHex(&'static str),
    /// A base64url field is not valid unpadded base64url.
    #[error("a field is not valid unpadded base64url")]
    BadBase64,
    /// Binary input ended early.
    #[error("input truncated")]
    Truncated,
    /// Binary input has bytes after the end of the value.
    #[error("unexpected trailing bytes")]
    TrailingBytes,
    /// Binary input does not start with the expected magic bytes.
    #[error("wrong magic bytes")]
    BadMagic,
    /// A field's value is outside what the protocol allows.
    #[error("invalid value for field `{0}`")]
    BadField(&'static str),
}

impl DecodeError {
    /// Map a serde_json error to a [`DecodeError::Json`] without copying any of the input.
    pub(crate) fn from_json(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let category = match e.classify() {
            Category::Io => "io",
            Category::Syntax => "syntax",
            Category::Data => "data",
            Category::Eof => "eof",
        };
        DecodeError::Json { category, line: e.line(), column: e.column() }
    }
}

/// A cryptographic operation failed. Deliberately coarse: it tells no oracle which check failed
/// inside an AEAD.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// A signature did not verify, or the public key was malformed.
    #[error("signature verification failed")]
    BadSignature,
    /// Authenticated decryption failed: wrong key, wrong context or tampered ciphertext.
    #[error("decryption failed")]
    DecryptFailed,
    /// Encryption failed (plaintext too long for the AEAD).
    #[error("encryption failed")]
    EncryptFailed,
    /// An X25519 exchange produced a non-contributory (all-zero) shared secret.
    #[error("key agreement with a weak public key")]
    WeakKey,
    /// The object names a different device, team, document or epoch than the caller expected.
    #[error("object does not match the expected {0}")]
    Mismatch(&'static str),
    /// The object carries a protocol version this build does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// A decrypted or decoded structure was malformed.
    #[error("malformed content: {0}")]
    Malformed(DecodeError),
}

/// A signed request envelope was refused on its own merits (the hub adds its own refusals:
/// unknown or revoked device, replayed nonce).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Envelope version is not [`crate::PROTOCOL_VERSION`].
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// The envelope was signed for another endpoint.
    #[error("request was signed for another path")]
    WrongPath,
    /// The timestamp is more than [`crate::MAX_CLOCK_SKEW_MS`] away from the verifier's clock.
    #[error("request timestamp outside the accepted window")]
    StaleTimestamp,
    /// The signature does not verify against the device's key.
    #[error("request signature verification failed")]
    BadSignature,
    /// The public keys given do not belong to the device id in the envelope.
    #[error("public key does not match the device id")]
    DeviceMismatch,
}
