use super::*;
use crate::journal::format::{BATCH_START_FRAME_LEN, FRAME_HEADER_LEN};

/// A closed journal of 20 records, one batch each, in a single segment.
fn twenty_batches(dir: &Path, preallocate: bool) -> Vec<Vec<u8>> {
    let written: Vec<Vec<u8>> = (0..20).map(record).collect();
    let (journal, _) = open(dir, options().preallocate(preallocate));
    append_one_batch_each(&journal, &written);
    drop(journal);
    assert_eq!(segments(dir).len(), 1);
    written
}

/// Offset of record `i`'s frame in a `twenty_batches` segment.
fn record_frame(starts: &[usize], i: usize) -> usize {
    starts[i] + BATCH_START_FRAME_LEN
}

#[test]
fn a_torn_tail_is_truncated_to_the_last_good_record_with_the_prefix_intact() {
    for preallocate in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = twenty_batches(dir.path(), preallocate);
        let segment = last_segment(dir.path());
        let (starts, end) = batch_layout(&segment);
        let torn_at = record_frame(&starts, 19) + FRAME_HEADER_LEN + 3;
        if preallocate {
            // A torn write into preallocated space: zeros from the tear on.
            let mut bytes = std::fs::read(&segment).expect("read");
            bytes[torn_at..].fill(0);
            std::fs::write(&segment, bytes).expect("write");
        } else {
            std::fs::File::options().write(true).open(&segment).and_then(|f| f.set_len(torn_at as u64)).expect("cut");
        }
        let (journal, replay) = Journal::open(dir.path(), options().preallocate(preallocate)).expect("open");
        assert_eq!(records(&replay), written[..19], "preallocate = {preallocate}");
        assert_eq!(replay.truncated_bytes(), (torn_at - record_frame(&starts, 19)) as u64);
        assert!(end > torn_at);
        // The journal goes on from the last good record, and a reopen sees no damage.
        append_one_batch_each(&journal, &[b"next".to_vec()]);
        drop(journal);
        let (_, replay) = Journal::open(dir.path(), options().preallocate(preallocate)).expect("reopen");
        assert_eq!(replay.truncated_bytes(), 0);
        assert_eq!(replay.len(), 20);
    }
}

#[test]
fn a_flipped_byte_in_the_last_record_drops_only_that_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = twenty_batches(dir.path(), true);
    let segment = last_segment(dir.path());
    let (starts, _) = batch_layout(&segment);
    flip_byte(&segment, record_frame(&starts, 19) + FRAME_HEADER_LEN + 1);
    let (_journal, replay) = Journal::open(dir.path(), options()).expect("open");
    assert_eq!(records(&replay), written[..19]);
    assert!(replay.truncated_bytes() > 0);
}

#[test]
fn damage_followed_by_acknowledged_batches_is_corrupt_not_a_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    twenty_batches(dir.path(), true);
    let segment = last_segment(dir.path());
    let (starts, _) = batch_layout(&segment);
    let damaged_frame = record_frame(&starts, 5);
    flip_byte(&segment, damaged_frame + FRAME_HEADER_LEN + 2);
    let error = expect_err(Journal::open(dir.path(), options()));
    match &error {
        JournalError::Corrupt { segment: path, offset } => {
            assert_eq!((path, *offset), (&segment, damaged_frame as u64));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(error.to_string().contains("repair"), "the error says how to recover: {error}");
    // Refusing changed nothing: the same error again.
    assert!(matches!(expect_err(Journal::open(dir.path(), options())), JournalError::Corrupt { .. }));
}

#[test]
fn the_repair_option_truncates_at_mid_log_corruption_and_the_journal_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = twenty_batches(dir.path(), true);
    let segment = last_segment(dir.path());
    let (starts, _) = batch_layout(&segment);
    flip_byte(&segment, record_frame(&starts, 5) + FRAME_HEADER_LEN);
    let (journal, replayed) = open(dir.path(), options().repair(true));
    assert_eq!(replayed, written[..5]);
    append_one_batch_each(&journal, &[b"after repair".to_vec()]);
    drop(journal);
    let (_, replayed) = open(dir.path(), options());
    assert_eq!(replayed.len(), 6);
}

#[test]
fn damage_in_a_segment_that_is_not_the_last_is_corrupt_even_at_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written: Vec<Vec<u8>> = (0..1500).map(record).collect();
    {
        let (journal, _) = open(dir.path(), options());
        let tickets: Vec<Ticket> = written.iter().map(|r| journal.append(r).expect("append")).collect();
        wait(&journal, *tickets.last().expect("tickets"));
    }
    let first = segments(dir.path()).remove(0);
    let (_, end) = batch_layout(&first);
    flip_byte(&first, end - 2);
    assert!(matches!(expect_err(Journal::open(dir.path(), options())), JournalError::Corrupt { .. }));
    // Repair keeps what precedes the damage and drops every later segment.
    let (_, replayed) = open(dir.path(), options().repair(true));
    assert!(!replayed.is_empty() && replayed.len() < written.len());
    assert_eq!(replayed, written[..replayed.len()]);
    assert_eq!(segments(dir.path()).len(), 1);
}

#[test]
fn a_garbage_file_named_like_a_segment_is_not_a_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("00000000000000000001.seg");
    std::fs::write(&path, b"{\"this is\": \"json, not a journal\"}").expect("write");
    match expect_err(Journal::open(dir.path(), options())) {
        JournalError::NotAJournal { path: reported } => assert_eq!(reported, path),
        other => panic!("expected NotAJournal, got {other:?}"),
    }
}

#[test]
fn a_foreign_file_in_the_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path(), options()));
    std::fs::write(dir.path().join("notes.txt"), b"hello").expect("write");
    let error = expect_err(Journal::open(dir.path(), options()));
    assert!(matches!(&error, JournalError::ForeignFile { path } if path.ends_with("notes.txt")), "{error:?}");
}

#[test]
fn a_regular_file_given_as_the_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("queue.db");
    std::fs::write(&file, b"SQLite format 3\0").expect("write");
    assert!(matches!(expect_err(Journal::open(&file, options())), JournalError::NotADirectory { .. }));
}

#[test]
fn a_segment_of_a_newer_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    twenty_batches(dir.path(), false);
    let segment = last_segment(dir.path());
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes[8..10].copy_from_slice(&(format::FORMAT_VERSION + 1).to_le_bytes());
    let crc = crc32fast::hash(&bytes[0..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&segment, bytes).expect("write");
    let error = expect_err(Journal::open(dir.path(), options()));
    assert!(matches!(error, JournalError::UnsupportedVersion { .. }), "{error:?}");
}

#[test]
fn a_missing_segment_is_reported_not_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (journal, _) = open(dir.path(), options());
        let tickets: Vec<Ticket> = (0..1500).map(|i| journal.append(&record(i)).expect("append")).collect();
        wait(&journal, *tickets.last().expect("tickets"));
    }
    let all = segments(dir.path());
    assert!(all.len() >= 3);
    std::fs::remove_file(&all[1]).expect("remove");
    let error = expect_err(Journal::open(dir.path(), options()));
    assert!(matches!(error, JournalError::Inconsistent { .. }), "{error:?}");
}
