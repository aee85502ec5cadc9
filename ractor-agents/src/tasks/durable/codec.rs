//! Events as journal records: one format byte, then the event in bincode (standard config).
//!
//! The format byte lets a later version change the encoding and still read old journals; a
//! record with a newer format byte is refused with a clear error rather than misread.

use bincode::config::{Configuration, standard};

use crate::tasks::{Event, TaskRecord};

/// The format byte this build writes and the newest it reads.
const EVENT_FORMAT: u8 = 1;

fn config() -> Configuration {
    standard()
}

/// Encodes `event` into `out` (cleared first).
pub(super) fn encode(event: &Event, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    out.push(EVENT_FORMAT);
    bincode::serde::encode_into_std_write(event, out, config()).map(drop).map_err(|e| e.to_string())
}

/// Encodes `Event::Enqueued(record)` into `out` (cleared first) from a borrowed record: the
/// same bytes as [`encode`] gives for that event (bincode writes an enum variant as its index,
/// a varint, then the content; `Enqueued` is variant 0 and a `Box` is written as its content).
pub(super) fn encode_enqueued(record: &TaskRecord, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    out.push(EVENT_FORMAT);
    out.push(ENQUEUED_VARIANT);
    bincode::serde::encode_into_std_write(record, out, config()).map(drop).map_err(|e| e.to_string())
}

/// `Event::Enqueued`'s variant index, as bincode's varint (one byte below 251).
const ENQUEUED_VARIANT: u8 = 0;

/// Decodes a record written by [`encode`].
pub(super) fn decode(record: &[u8]) -> Result<Event, String> {
    let Some((&format, body)) = record.split_first() else {
        return Err("an empty record".into());
    };
    if format != EVENT_FORMAT {
        return Err(format!(
            "event format {format}, this build reads format {EVENT_FORMAT} (written by a newer ractor-agents?)"
        ));
    }
    let (event, read) = bincode::serde::decode_from_slice(body, config()).map_err(|e| e.to_string())?;
    if read != body.len() {
        return Err(format!("{} bytes left over after the event", body.len() - read));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::{LeaseInfo, LeaseToken, Payload, Task, TaskId, TaskStatus, Timestamp};

    fn full_record() -> TaskRecord {
        let mut record = Task::new("resize", "a.png")
            .priority(3)
            .idempotency_key("key-1")
            .into_record(TaskId(7), Timestamp(42))
            .expect("valid task");
        record.status = TaskStatus::Succeeded;
        record.attempts = 2;
        record.result = Some(Payload::from("done"));
        record.lease = Some(LeaseInfo {
            token: LeaseToken(300),
            worker: Some("pool/3".into()),
            expires_at: Timestamp(99),
            leased_at: Timestamp(50),
        });
        record
    }

    #[test]
    fn every_event_round_trips_and_a_newer_format_is_refused() {
        let event = Event::Enqueued(Box::new(full_record()));
        let mut bytes = Vec::new();
        encode(&event, &mut bytes).expect("encode");
        assert_eq!(decode(&bytes), Ok(event));
        bytes[0] = EVENT_FORMAT + 1;
        assert!(decode(&bytes).is_err_and(|e| e.contains("newer")));
        assert!(decode(&[]).is_err());
        assert!(decode(&[EVENT_FORMAT, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn a_borrowed_record_encodes_exactly_as_its_enqueued_event() {
        for record in [full_record(), Task::new("a", "").into_record(TaskId(1), Timestamp(0)).expect("valid")] {
            let (mut owned, mut borrowed) = (Vec::new(), Vec::new());
            encode_enqueued(&record, &mut borrowed).expect("encode");
            encode(&Event::Enqueued(Box::new(record)), &mut owned).expect("encode");
            assert_eq!(borrowed, owned);
        }
    }
}
