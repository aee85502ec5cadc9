//! The byte form of a task stored as one value (redb, fjall): a fixed header, then the payload.
//!
//! ```text
//! offset  bytes  field
//! 0       1      format version (1)
//! 1       1      priority
//! 2       4      attempts (u32, little endian): leases handed out so far
//! 6       8      lease token (u64, LE); 0 = never leased
//! 14      8      lease deadline (u64, LE, ms since the Unix epoch); 0 = not leased
//! 22      ..     payload
//! ```

use super::{QueueError, TaskId};

const VERSION: u8 = 1;
const HEADER_BYTES: usize = 22;

/// One task as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskRecord {
    pub(crate) priority: u8,
    pub(crate) attempts: u32,
    pub(crate) lease_token: u64,
    pub(crate) lease_deadline_ms: u64,
    pub(crate) payload: Vec<u8>,
}

impl TaskRecord {
    /// A task just enqueued: never leased.
    #[cfg(test)]
    pub(crate) fn new(priority: u8, payload: Vec<u8>) -> TaskRecord {
        TaskRecord { priority, attempts: 0, lease_token: 0, lease_deadline_ms: 0, payload }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_BYTES + self.payload.len());
        bytes.push(VERSION);
        bytes.push(self.priority);
        bytes.extend_from_slice(&self.attempts.to_le_bytes());
        bytes.extend_from_slice(&self.lease_token.to_le_bytes());
        bytes.extend_from_slice(&self.lease_deadline_ms.to_le_bytes());
        bytes.extend_from_slice(&self.payload);
        bytes
    }

    /// The stored form of a task just enqueued (as `TaskRecord::new(..).encode()`, without
    /// copying the payload twice).
    pub(crate) fn encode_new(priority: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
        bytes.extend_from_slice(&[VERSION, priority]);
        bytes.extend_from_slice(&[0; HEADER_BYTES - 2]);
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Reads a stored record; a short or unknown record is an error, never a panic.
    pub(crate) fn decode(id: TaskId, bytes: &[u8]) -> Result<TaskRecord, QueueError> {
        let corrupt = |reason| QueueError::CorruptRecord { id, reason };
        let header = bytes.get(..HEADER_BYTES).ok_or_else(|| corrupt("shorter than the record header"))?;
        if header[0] != VERSION {
            return Err(corrupt("unknown record format version"));
        }
        let word = |range: std::ops::Range<usize>| header[range].iter().rev().fold(0u64, |n, b| n << 8 | u64::from(*b));
        Ok(TaskRecord {
            priority: header[1],
            attempts: u32::try_from(word(2..6)).map_err(|_| corrupt("attempts out of range"))?,
            lease_token: word(6..14),
            lease_deadline_ms: word(14..22),
            payload: bytes[HEADER_BYTES..].to_vec(),
        })
    }

    /// The record after one more lease.
    pub(crate) fn leased(mut self, token: u64, deadline_ms: u64) -> TaskRecord {
        self.attempts = self.attempts.saturating_add(1);
        self.lease_token = token;
        self.lease_deadline_ms = deadline_ms;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let record = TaskRecord::new(7, b"payload".to_vec()).leased(42, 1_700_000_000_000);
        assert_eq!(TaskRecord::decode(1, &record.encode()).unwrap(), record);
    }

    #[test]
    fn a_new_record_is_encoded_as_a_never_leased_record() {
        assert_eq!(TaskRecord::encode_new(4, b"abc"), TaskRecord::new(4, b"abc".to_vec()).encode());
    }

    #[test]
    fn a_truncated_record_is_an_error() {
        let bytes = TaskRecord::new(1, vec![1, 2, 3]).encode();
        assert!(matches!(TaskRecord::decode(9, &bytes[..10]), Err(QueueError::CorruptRecord { id: 9, .. })));
    }

    #[test]
    fn an_unknown_version_is_an_error() {
        let mut bytes = TaskRecord::new(1, vec![]).encode();
        bytes[0] = 200;
        assert!(matches!(TaskRecord::decode(3, &bytes), Err(QueueError::CorruptRecord { id: 3, .. })));
    }
}
