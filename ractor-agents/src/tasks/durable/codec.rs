//! Events as journal records: one format byte, then the event in bincode (standard config).
//!
//! The format byte lets a later version change the encoding and still read old journals; a
//! record with a newer format byte is refused with a clear error rather than misread.

use bincode::config::{Configuration, standard};

use crate::tasks::Event;

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
    use crate::tasks::{Task, TaskId, Timestamp};

    #[test]
    fn every_event_round_trips_and_a_newer_format_is_refused() {
        let record =
            Task::new("resize", "a.png").priority(3).into_record(TaskId(7), Timestamp(42)).expect("valid task");
        let event = Event::Enqueued(Box::new(record));
        let mut bytes = Vec::new();
        encode(&event, &mut bytes).expect("encode");
        assert_eq!(decode(&bytes), Ok(event));
        bytes[0] = EVENT_FORMAT + 1;
        assert!(decode(&bytes).is_err_and(|e| e.contains("newer")));
        assert!(decode(&[]).is_err());
        assert!(decode(&[EVENT_FORMAT, 0xff, 0xff, 0xff]).is_err());
    }
}
