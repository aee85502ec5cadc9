//! Property: whatever a crash does to the unsynced tail, reopening recovers a prefix of what
//! was written that holds every record whose `wait_durable` returned.

use proptest::prelude::*;

use super::*;

/// What the crash did to the bytes after the last acknowledged record (the only bytes a crash
/// can damage: earlier batches were synced before later ones were written).
#[derive(Debug, Clone)]
enum Damage {
    /// Nothing written from this point on reached the disk.
    TornAt(f64),
    /// One bit flipped.
    BitFlip(f64, u8),
    /// A run of bytes that never reached the disk (later pages of the same write did).
    Hole(f64, usize),
    /// Garbage after the end of the data.
    Garbage(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0..=1.0f64).prop_map(Damage::TornAt),
        (0.0..=1.0f64, 0..8u8).prop_map(|(at, bit)| Damage::BitFlip(at, bit)),
        (0.0..=1.0f64, 1..600usize).prop_map(|(at, len)| Damage::Hole(at, len)),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Damage::Garbage),
    ]
}

fn apply(segment: &Path, lower: usize, end: usize, damage: &Damage) {
    let mut bytes = std::fs::read(segment).expect("read");
    let at = |frac: f64| lower + ((end - lower) as f64 * frac) as usize;
    match damage {
        Damage::TornAt(frac) => {
            let at = at(*frac);
            if bytes.len() > end {
                bytes[at..].fill(0);
            } else {
                bytes.truncate(at);
            }
        }
        Damage::BitFlip(frac, bit) => {
            let at = at(*frac);
            if at >= bytes.len() {
                bytes.resize(at + 1, 0);
            }
            bytes[at] ^= 1 << bit;
        }
        Damage::Hole(frac, len) => {
            let at = at(*frac);
            let stop = (at + len).min(end);
            bytes[at..stop].fill(0);
        }
        Damage::Garbage(garbage) => {
            if bytes.len() < end + garbage.len() {
                bytes.resize(end + garbage.len(), 0);
            }
            bytes[end..end + garbage.len()].copy_from_slice(garbage);
        }
    }
    std::fs::write(segment, bytes).expect("write");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_damaged_tail_always_recovers_a_prefix_holding_every_acknowledged_record(
        written in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..80),
        acknowledged_fraction in 0.0..=1.0f64,
        preallocate in any::<bool>(),
        damage in damage(),
    ) {
        let acknowledged = (written.len() as f64 * acknowledged_fraction) as usize;
        let dir = tempfile::tempdir().expect("tempdir");
        let options = || no_sync().segment_bytes(4096).preallocate(preallocate);
        let acknowledged_end = {
            let (journal, _) = open(dir.path(), options());
            let mut last = None;
            for record in &written[..acknowledged] {
                last = Some(journal.append(record).expect("append"));
            }
            if let Some(ticket) = last {
                wait(&journal, ticket);
            }
            let segment = last_segment(dir.path());
            let (_, end) = batch_layout(&segment);
            for record in &written[acknowledged..] {
                let _ = journal.append(record).expect("append");
            }
            (segment, end)
        };
        let segment = last_segment(dir.path());
        let (starts, end) = batch_layout(&segment);
        let mut lower = starts.last().copied().unwrap_or(format::HEADER_LEN);
        if segment == acknowledged_end.0 {
            lower = lower.max(acknowledged_end.1);
        }
        apply(&segment, lower, end, &damage);

        let (journal, replayed) = match Journal::open(dir.path(), options()) {
            Ok((journal, replay)) => (journal, records(&replay)),
            Err(error) => return Err(TestCaseError::fail(format!("open failed after {damage:?}: {error}"))),
        };
        prop_assert!(replayed.len() >= acknowledged, "lost acknowledged records: {} < {}", replayed.len(), acknowledged);
        prop_assert!(replayed.len() <= written.len());
        prop_assert_eq!(&replayed[..], &written[..replayed.len()]);

        // The recovered journal is whole again: it goes on, and a reopen finds no damage.
        append_one_batch_each(&journal, &[b"after".to_vec()]);
        drop(journal);
        let (_, replay) = Journal::open(dir.path(), options()).expect("reopen");
        prop_assert_eq!(replay.truncated_bytes(), 0);
        prop_assert_eq!(replay.len(), replayed.len() + 1);
    }
}
