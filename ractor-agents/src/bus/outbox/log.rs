//! The outbox's records in the journal, and rebuilding the queue from them.
//!
//! Two records: `Queued(message)` when a message is deferred, `Delivered(id)` once the bus took
//! it. On open, the queue is every `Queued` without a later `Delivered`, in log order. A
//! snapshot holds only the `Queued` records still undelivered at its cut.

use std::collections::{HashSet, VecDeque};

use bincode::config::standard;
use serde::{Deserialize, Serialize};

use super::message::{MessageId, OutboxMessage};

/// The format byte this build writes and the newest it reads.
const RECORD_FORMAT: u8 = 1;

#[derive(Serialize, Deserialize)]
pub(super) enum Record {
    Queued(OutboxMessage),
    Delivered(MessageId),
}

pub(super) fn encode(record: &Record) -> Result<Vec<u8>, String> {
    let mut out = vec![RECORD_FORMAT];
    bincode::serde::encode_into_std_write(record, &mut out, standard()).map_err(|e| e.to_string())?;
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<Record, String> {
    let Some((&format, body)) = bytes.split_first() else { return Err("empty record".into()) };
    if format != RECORD_FORMAT {
        return Err(format!("record format {format}, this build reads format {RECORD_FORMAT}"));
    }
    let (record, read) = bincode::serde::decode_from_slice(body, standard()).map_err(|e| e.to_string())?;
    if read != body.len() {
        return Err(format!("{} trailing bytes after the record", body.len() - read));
    }
    Ok(record)
}

/// The undelivered messages, oldest first, and how many `Delivered` records the log holds.
pub(super) fn rebuild<'a>(records: impl Iterator<Item = &'a [u8]>) -> Result<(VecDeque<OutboxMessage>, u64), String> {
    let mut queued = Vec::new();
    let mut delivered = HashSet::new();
    for (index, bytes) in records.enumerate() {
        match decode(bytes).map_err(|reason| format!("record {index}: {reason}"))? {
            Record::Queued(message) => queued.push(message),
            Record::Delivered(id) => {
                delivered.insert(id);
            }
        }
    }
    let delivered_records = delivered.len() as u64;
    let pending = queued.into_iter().filter(|m| !delivered.contains(&m.id)).collect();
    Ok((pending, delivered_records))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u128) -> OutboxMessage {
        OutboxMessage::new("t", vec![1, 2, 3]).with_id(MessageId(id))
    }

    fn encoded(record: &Record) -> Vec<u8> {
        encode(record).expect("encodable")
    }

    #[test]
    fn rebuild_keeps_undelivered_messages_in_log_order() {
        let records = [
            encoded(&Record::Queued(message(1))),
            encoded(&Record::Queued(message(2))),
            encoded(&Record::Delivered(MessageId(1))),
            encoded(&Record::Queued(message(3))),
        ];
        let (pending, delivered) = rebuild(records.iter().map(Vec::as_slice)).expect("readable log");
        assert_eq!(pending.iter().map(|m| m.id).collect::<Vec<_>>(), [MessageId(2), MessageId(3)]);
        assert_eq!(delivered, 1);
    }

    #[test]
    fn a_record_of_a_newer_format_is_refused_not_misread() {
        let mut record = encoded(&Record::Queued(message(1)));
        record[0] = RECORD_FORMAT + 1;
        let error = rebuild([record.as_slice()].into_iter()).expect_err("refused");
        assert!(error.contains("record 0: record format 2"), "{error}");
    }

    #[test]
    fn a_truncated_or_empty_record_is_an_error_not_a_panic() {
        let record = encoded(&Record::Queued(message(1)));
        assert!(rebuild([&record[..record.len() - 2]].into_iter()).is_err());
        assert!(rebuild([&[][..]].into_iter()).is_err());
    }
}
