//! The outbox's records in the journal, and rebuilding the queue from them.
//!
//! Three records: `Queued(message)` when a message is deferred (or redriven), `Delivered(id)`
//! once the bus took it (or a dead letter was discarded), `DeadLettered(id, reason)` when the
//! bus refused it for good. On open, records are applied in log order: the queue is what was
//! queued and neither delivered nor dead-lettered since, oldest first; the dead letters are what
//! was dead-lettered and neither redriven nor discarded since. A snapshot holds the queue's
//! `Queued` records, then each dead letter's `Queued` + `DeadLettered`.

use std::collections::{HashMap, VecDeque};

use bincode::config::standard;
use serde::{Deserialize, Serialize};

use super::message::{DeadLetter, MessageId, OutboxMessage};

/// The format byte this build writes and the newest it reads.
const RECORD_FORMAT: u8 = 1;

#[derive(Serialize, Deserialize)]
pub(super) enum Record {
    Queued(OutboxMessage),
    Delivered(MessageId),
    // Appended last: logs written before dead letters existed decode unchanged.
    DeadLettered(MessageId, String),
}

/// What a log holds once replayed.
#[derive(Debug, Default)]
pub(super) struct Rebuilt {
    /// Messages waiting for the bus, oldest first.
    pub(super) queue: VecDeque<OutboxMessage>,
    /// Messages the bus refused, in the order they were refused.
    pub(super) dead: Vec<DeadLetter>,
    /// `Delivered` records in the log.
    pub(super) delivered_records: u64,
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

/// Applies the log's records in order.
pub(super) fn rebuild<'a>(records: impl Iterator<Item = &'a [u8]>) -> Result<Rebuilt, String> {
    // Waiting messages keyed by id, with the sequence number of their (latest) `Queued`.
    let mut waiting: HashMap<MessageId, (usize, OutboxMessage)> = HashMap::new();
    let mut dead: HashMap<MessageId, (usize, DeadLetter)> = HashMap::new();
    let mut delivered_records = 0;
    for (index, bytes) in records.enumerate() {
        match decode(bytes).map_err(|reason| format!("record {index}: {reason}"))? {
            Record::Queued(message) => {
                dead.remove(&message.id);
                waiting.insert(message.id, (index, message));
            }
            Record::Delivered(id) => {
                delivered_records += 1;
                waiting.remove(&id);
                dead.remove(&id);
            }
            Record::DeadLettered(id, reason) => {
                if let Some((_, message)) = waiting.remove(&id) {
                    dead.insert(id, (index, DeadLetter { message, reason }));
                }
            }
        }
    }
    let mut queue: Vec<_> = waiting.into_values().collect();
    queue.sort_unstable_by_key(|(index, _)| *index);
    let mut dead: Vec<_> = dead.into_values().collect();
    dead.sort_unstable_by_key(|(index, _)| *index);
    Ok(Rebuilt {
        queue: queue.into_iter().map(|(_, m)| m).collect(),
        dead: dead.into_iter().map(|(_, d)| d).collect(),
        delivered_records,
    })
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
        let rebuilt = rebuild(records.iter().map(Vec::as_slice)).expect("readable log");
        assert_eq!(rebuilt.queue.iter().map(|m| m.id).collect::<Vec<_>>(), [MessageId(2), MessageId(3)]);
        assert_eq!(rebuilt.delivered_records, 1);
        assert!(rebuilt.dead.is_empty());
    }

    #[test]
    fn dead_letters_leave_the_queue_until_redriven_or_discarded() {
        let records = [
            encoded(&Record::Queued(message(1))),
            encoded(&Record::Queued(message(2))),
            encoded(&Record::Queued(message(3))),
            encoded(&Record::DeadLettered(MessageId(1), "too large".into())),
            encoded(&Record::DeadLettered(MessageId(2), "no such topic".into())),
            // 2 is redriven: queued again, behind 3.
            encoded(&Record::Queued(message(2))),
            encoded(&Record::Queued(message(4))),
            encoded(&Record::Queued(message(5))),
            encoded(&Record::DeadLettered(MessageId(5), "schema".into())),
            // 5 is discarded.
            encoded(&Record::Delivered(MessageId(5))),
        ];
        let rebuilt = rebuild(records.iter().map(Vec::as_slice)).expect("readable log");
        let queue: Vec<_> = rebuilt.queue.iter().map(|m| m.id).collect();
        assert_eq!(queue, [MessageId(3), MessageId(2), MessageId(4)]);
        assert_eq!(rebuilt.dead.len(), 1);
        assert_eq!((rebuilt.dead[0].message.id, rebuilt.dead[0].reason.as_str()), (MessageId(1), "too large"));
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
