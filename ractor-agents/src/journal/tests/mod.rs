//! Journal tests: the contract of `journal/mod.rs`, one test per sentence.

mod compaction;
mod damage;
mod group_commit;
mod properties;

mod reopen;

use std::path::{Path, PathBuf};

use super::format::{self, Control, Frame, HEADER_LEN, Read};
use super::{Journal, JournalError, JournalOptions, Replay, SyncMode, Ticket};

/// Small segments so tests rotate; real fdatasync unless a test says otherwise.
fn options() -> JournalOptions {
    JournalOptions::default().segment_bytes(16 << 10).max_batch_bytes(8 << 10)
}

fn open(dir: &Path, options: JournalOptions) -> (Journal, Vec<Vec<u8>>) {
    match Journal::open(dir, options) {
        Ok((journal, replay)) => (journal, records(&replay)),
        Err(error) => panic!("open failed: {error}"),
    }
}

fn records(replay: &Replay) -> Vec<Vec<u8>> {
    replay.iter().map(<[u8]>::to_vec).collect()
}

fn record(i: usize) -> Vec<u8> {
    format!("record {i:05} {}", "x".repeat(i % 37)).into_bytes()
}

/// Blocks until `ticket` is durable.
fn wait(journal: &Journal, ticket: Ticket) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(journal.wait_durable(ticket)).expect("durable");
}

/// Appends `records`, each waited for before the next: one batch per record.
fn append_one_batch_each(journal: &Journal, records: &[Vec<u8>]) {
    for record in records {
        let ticket = journal.append(record).expect("append");
        wait(journal, ticket);
    }
}

/// The journal's segment files, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "seg"))
        .collect();
    found.sort();
    found
}

fn last_segment(dir: &Path) -> PathBuf {
    segments(dir).pop().expect("a segment")
}

/// Offsets of the batch starts of a segment and the end of its data.
fn batch_layout(path: &Path) -> (Vec<usize>, usize) {
    let bytes = std::fs::read(path).expect("read segment");
    let (mut pos, mut starts) = (HEADER_LEN, Vec::new());
    loop {
        match format::read_frame(&bytes, pos) {
            Read::Frame { frame, next } => {
                if let Frame::Control(Control::BatchStart { .. }) = frame {
                    starts.push(pos);
                }
                pos = next;
            }
            Read::End | Read::Invalid => return (starts, pos),
        }
    }
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[offset] ^= 0x40;
    std::fs::write(path, bytes).expect("write");
}

fn no_sync() -> JournalOptions {
    options().sync(SyncMode::Never)
}

fn expect_err(result: Result<(Journal, Replay), JournalError>) -> JournalError {
    match result {
        Ok(_) => panic!("open succeeded where it should have failed"),
        Err(error) => error,
    }
}
