use std::collections::BTreeSet;

use super::*;
use crate::journal::compaction::CompactionStep;

/// Records are `+key` / `-key`; the state they build is a set of keys.
fn op(i: usize) -> Vec<u8> {
    let key = (i * 7) % 40;
    if i % 3 == 2 { format!("-{key}") } else { format!("+{key}") }.into_bytes()
}

fn state_of<'a>(records: impl IntoIterator<Item = &'a Vec<u8>>) -> BTreeSet<Vec<u8>> {
    let mut state = BTreeSet::new();
    for record in records {
        let (sign, key) = record.split_at(1);
        if sign == b"+" {
            state.insert(key.to_vec());
        } else {
            state.remove(key);
        }
    }
    state
}

fn live_records(state: &BTreeSet<Vec<u8>>) -> Vec<Vec<u8>> {
    state.iter().map(|key| [b"+".as_slice(), key].concat()).collect()
}

/// A journal holding ops 0..900 over several segments, with a cut after op 600.
fn journal_with_cut(dir: &Path) -> (Journal, super::super::Cut, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (journal, _) = open(dir, options());
    let before: Vec<Vec<u8>> = (0..600).map(op).collect();
    let after: Vec<Vec<u8>> = (600..900).map(op).collect();
    for record in &before {
        let _ = journal.append(record).expect("append");
    }
    let cut = journal.cut().expect("cut");
    let live = live_records(&state_of(&before));
    let mut last = None;
    for record in &after {
        last = Some(journal.append(record).expect("append"));
    }
    wait(&journal, last.expect("ticket"));
    (journal, cut, live, [before, after].concat())
}

#[test]
fn compaction_keeps_exactly_the_live_records_then_what_followed_the_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, cut, live, all) = journal_with_cut(dir.path());
    let segments_before = segments(dir.path()).len();
    let report = journal.write_snapshot(cut, &live).expect("snapshot");
    assert_eq!(report.records, live.len() as u64);
    assert!(report.deleted_files > 0 && segments(dir.path()).len() < segments_before);
    drop(journal);
    let (_, replayed) = open(dir.path(), options());
    assert_eq!(replayed[..live.len()], live[..], "the snapshot comes first");
    assert_eq!(replayed[live.len()..], all[600..], "then every record appended after the cut");
    assert_eq!(state_of(&replayed), state_of(&all));
}

#[test]
fn a_crash_at_any_step_of_compaction_recovers_the_same_state() {
    let steps =
        [None, Some(CompactionStep::TempWritten), Some(CompactionStep::Renamed), Some(CompactionStep::PartlyDeleted)];
    for step in steps {
        let dir = tempfile::tempdir().expect("tempdir");
        let (journal, cut, live, all) = journal_with_cut(dir.path());
        if let Some(step) = step {
            journal.compact_until(cut, &live, step).expect("compaction up to the crash");
        }
        // The crash: nothing after `step` runs.
        drop(journal);
        let (journal, replayed) = open(dir.path(), options());
        assert_eq!(state_of(&replayed), state_of(&all), "crash after {step:?}");
        // The recovered journal compacts again and keeps the state.
        let cut = journal.cut().expect("cut");
        let live = live_records(&state_of(&replayed));
        journal.write_snapshot(cut, &live).expect("snapshot");
        drop(journal);
        let (_, replayed) = open(dir.path(), options());
        assert_eq!(replayed, live, "after crash at {step:?} and a full compaction");
        assert_eq!(segments(dir.path()).len(), 1);
    }
}

#[test]
fn a_snapshot_for_an_older_cut_than_the_latest_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(dir.path(), options());
    let _ = journal.append(b"+1").expect("append");
    let older = journal.cut().expect("cut");
    let _ = journal.append(b"+2").expect("append");
    let newer = journal.cut().expect("cut");
    journal.write_snapshot(newer, [b"+1", b"+2"]).expect("snapshot");
    assert!(matches!(journal.write_snapshot(older, [b"+1"]), Err(JournalError::StaleCut { .. })));
}
