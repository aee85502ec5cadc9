use super::*;

#[test]
fn a_new_directory_opens_as_an_empty_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_journal, replayed) = open(&dir.path().join("fresh"), options());
    assert!(replayed.is_empty());
}

#[test]
fn appended_records_survive_a_reopen_in_order_across_segments() {
    for preallocate in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let written: Vec<Vec<u8>> = (0..1500).map(record).collect();
        {
            let (journal, _) = open(dir.path(), options().preallocate(preallocate));
            let tickets: Vec<Ticket> = written.iter().map(|r| journal.append(r).expect("append")).collect();
            wait(&journal, *tickets.last().expect("tickets"));
            assert!(tickets.iter().all(|t| journal.is_durable(*t)));
        }
        assert!(segments(dir.path()).len() > 2, "the test should span several segments");
        let (journal, replayed) = open(dir.path(), options().preallocate(preallocate));
        assert_eq!(replayed, written, "preallocate = {preallocate}");
        // Appends after a reopen continue the same log.
        append_one_batch_each(&journal, &[b"after reopen".to_vec()]);
        drop(journal);
        let (_, replayed) = open(dir.path(), options().preallocate(preallocate));
        assert_eq!(replayed.len(), written.len() + 1);
        assert_eq!(replayed.last().map(Vec::as_slice), Some(&b"after reopen"[..]));
    }
}

#[test]
fn a_zero_filled_preallocated_tail_is_end_of_data_not_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written: Vec<Vec<u8>> = (0..5).map(record).collect();
    {
        let (journal, _) = open(dir.path(), options().preallocate(true));
        append_one_batch_each(&journal, &written);
    }
    let segment = last_segment(dir.path());
    let (_, data_end) = batch_layout(&segment);
    let file_len = std::fs::metadata(&segment).expect("metadata").len();
    assert_eq!(file_len, 16 << 10, "the segment is preallocated to its full size");
    assert!((data_end as u64) < file_len, "zeros follow the data");
    let (_journal, replay) = Journal::open(dir.path(), options()).expect("open");
    assert_eq!(replay.truncated_bytes(), 0, "zeros are not a torn tail");
    assert_eq!(records(&replay), written);
}

#[test]
fn a_directory_is_open_in_one_journal_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, _) = open(dir.path(), options());
    assert!(matches!(expect_err(Journal::open(dir.path(), options())), JournalError::Locked { .. }));
    drop(first);
    let _second = open(dir.path(), options());
}

#[test]
fn appends_after_close_fail_and_everything_before_it_is_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(dir.path(), options());
    let tickets: Vec<Ticket> = (0..50).map(|i| journal.append(&record(i)).expect("append")).collect();
    journal.close().expect("close");
    assert!(tickets.iter().all(|t| journal.is_durable(*t)), "close writes out and syncs everything appended");
    assert!(matches!(journal.append(b"late"), Err(JournalError::Closed)));
}

#[test]
fn a_record_over_the_size_limit_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(dir.path(), no_sync());
    let huge = vec![0u8; format::MAX_RECORD_LEN + 1];
    assert!(matches!(journal.append(&huge), Err(JournalError::RecordTooLarge { .. })));
}

#[test]
fn a_failed_write_fails_its_waiters_and_later_appends_and_a_reopen_keeps_what_was_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let durable: Vec<Vec<u8>> = (0..10).map(record).collect();
    {
        let (journal, _) = open(dir.path(), options());
        append_one_batch_each(&journal, &durable);
        *journal.shared.fail_next_write.lock().expect("lock") = Some(std::io::ErrorKind::StorageFull);
        let doomed = journal.append(b"never durable").expect("append");
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let error = runtime.block_on(journal.wait_durable(doomed)).expect_err("the write failed");
        assert!(matches!(error, JournalError::Failed { .. }), "{error:?}");
        assert!(error.to_string().contains("reopen"), "the error says what to do: {error}");
        assert!(matches!(journal.append(b"later"), Err(JournalError::Failed { .. })));
        assert!(matches!(journal.cut(), Err(JournalError::Failed { .. })));
        assert!(journal.close().is_err(), "close reports the failure");
    }
    let (_, replayed) = open(dir.path(), options());
    assert_eq!(replayed, durable);
}
