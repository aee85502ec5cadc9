//! Task payloads and results: bytes, usually JSON, cheap to clone.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::QueueError;

/// The bytes of a task's input or result. Usually JSON ([`Payload::json`], [`Payload::decode`]);
/// any bytes are accepted. Cloning shares the bytes.
///
/// ```
/// use ractor_agents::tasks::Payload;
/// let p = Payload::json(&vec![1, 2, 3])?;
/// assert_eq!(p.decode::<Vec<u32>>()?, vec![1, 2, 3]);
/// assert_eq!(Payload::from("plain text").as_bytes(), b"plain text");
/// # Ok::<(), ractor_agents::tasks::QueueError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Payload(Arc<[u8]>);

impl Payload {
    /// `value` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, QueueError> {
        serde_json::to_vec(value).map(Self::from).map_err(|e| QueueError::Payload(e.to_string()))
    }

    /// The payload read as JSON into `T`.
    pub fn decode<T: de::DeserializeOwned>(&self) -> Result<T, QueueError> {
        serde_json::from_slice(&self.0).map_err(|e| QueueError::Payload(e.to_string()))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) if s.len() <= 128 => write!(f, "Payload({s:?})"),
            _ => write!(f, "Payload({} bytes)", self.0.len()),
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Self(v.into())
    }
}

impl From<&[u8]> for Payload {
    fn from(v: &[u8]) -> Self {
        Self(v.into())
    }
}

impl From<&str> for Payload {
    fn from(s: &str) -> Self {
        Self(s.as_bytes().into())
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Self {
        Self::from(s.into_bytes())
    }
}

impl From<serde_json::Value> for Payload {
    fn from(v: serde_json::Value) -> Self {
        // Serializing a `Value` cannot fail: its map keys are strings.
        Self::from(v.to_string())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("payload bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Payload, E> {
                Ok(Payload::from(v))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
                Ok(Payload::from(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Payload, E> {
                Ok(Payload::from(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                Ok(Payload::from(bytes))
            }
        }
        d.deserialize_byte_buf(BytesVisitor)
    }
}
