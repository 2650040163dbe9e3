//! Byte encodings: unpadded base64url for bytes inside JSON, a strict JSON decoder with a size
//! limit, and the length-prefixed canonical form that signatures, AEAD associated data and
//! chunk hashes are computed over.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;

use crate::error::DecodeError;
use crate::MAX_BODY_BYTES;

/// Encode bytes as unpadded base64url.
pub fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode unpadded base64url. Padding or characters outside the URL-safe alphabet are refused.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| DecodeError::BadBase64)
}

/// Decode a JSON body into `T`, refusing bodies over [`MAX_BODY_BYTES`]. Errors never quote the
/// input.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(DecodeError::TooLarge { len: bytes.len(), max: MAX_BODY_BYTES });
    }
    serde_json::from_slice(bytes).map_err(|e| DecodeError::from_json(&e))
}

/// Encode a value as JSON bytes. Serialising the protocol's own types cannot fail (no maps with
/// non-string keys, no custom serialisers that error), so this returns the bytes directly.
pub fn encode_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // serde_json only fails for maps with non-string keys or failing Serialize impls; the
    // protocol types have neither. An empty body would then be refused by the peer's decoder.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Serde adapter: `Vec<u8>` as an unpadded base64url string.
pub mod b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize bytes as unpadded base64url.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::b64_encode(bytes))
    }

    /// Deserialize unpadded base64url into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::b64_decode(&text).map_err(|_| serde::de::Error::custom("invalid base64url"))
    }
}

/// Serde adapter: `[u8; N]` as an unpadded base64url string of exactly N bytes.
pub mod b64_array {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize a fixed-size array as unpadded base64url.
    pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::b64_encode(bytes))
    }

    /// Deserialize unpadded base64url that must decode to exactly N bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes =
            super::b64_decode(&text).map_err(|_| serde::de::Error::custom("invalid base64url"))?;
        <[u8; N]>::try_from(bytes.as_slice())
            .map_err(|_| serde::de::Error::custom("base64url field has the wrong length"))
    }
}

/// Builder for canonical byte strings: a domain-separation label, then fields in a fixed order.
/// Variable-length fields carry a 4-byte big-endian length prefix, fixed-size fields do not,
/// integers are big-endian. Two different field lists can never produce the same bytes.
pub(crate) struct Canon(Vec<u8>);

impl Canon {
    pub(crate) fn new(domain: &str) -> Self {
        let mut c = Canon(Vec::with_capacity(128));
        c.var(domain.as_bytes());
        c
    }
    /// Raw bytes without a prefix (for magic values and fixed-size fields).
    pub(crate) fn fixed(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
    /// Length-prefixed variable bytes.
    pub(crate) fn var(&mut self, bytes: &[u8]) -> &mut Self {
        // Lengths are bounded by MAX_BODY_BYTES well below u32::MAX; saturate rather than wrap.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }
    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Strict reader over canonical bytes: every read checks bounds and returns
/// [`DecodeError::Truncated`] instead of panicking.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::Truncated)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Length-prefixed bytes, refusing lengths over `max`.
    pub(crate) fn var(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(DecodeError::TooLarge { len, max });
        }
        self.take(len)
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_round_trip_is_unpadded_and_url_safe() {
        let bytes = [0xfbu8, 0xff, 0xfe, 0x00];
        let text = b64_encode(&bytes);
        assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
        assert_eq!(b64_decode(&text).unwrap(), bytes);
        assert_eq!(b64_decode("+/8="), Err(DecodeError::BadBase64));
    }

    #[test]
    fn json_errors_do_not_quote_input() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            n: u32,
        }
        let err = decode_json::<T>(br#"{"n":"secret-street-name"}"#).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(matches!(err, DecodeError::Json { category: "data", .. }));
    }

    #[test]
    fn oversized_json_is_refused_before_parsing() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(matches!(decode_json::<u8>(&big), Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn reader_refuses_short_input() {
        let mut r = Reader::new(&[0, 0, 0, 9, 1]);
        assert_eq!(r.var(100), Err(DecodeError::Truncated));
        let mut r = Reader::new(&[0, 0, 1, 0]);
        assert!(matches!(r.var(10), Err(DecodeError::TooLarge { .. })));
    }
}
