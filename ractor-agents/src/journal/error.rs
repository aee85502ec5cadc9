//! What can go wrong with a journal, and what to do about it.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// A journal operation that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JournalError {
    /// The operating system refused a file operation.
    #[error("journal: could not {action} `{path}`: {source}")]
    Io {
        /// What the journal was doing ("open", "read", "write", "fsync", …).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The journal path exists and is not a directory.
    #[error(
        "journal: `{path}` is not a directory; a journal is a directory of its own files, give it a directory path"
    )]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// Another `Journal` (in this or another process) has the directory open.
    #[error("journal: `{path}` is already open in another journal (this or another process); close that one first")]
    Locked {
        /// The journal directory.
        path: PathBuf,
    },
    /// A file in the journal directory is not one a journal writes.
    #[error(
        "journal: `{path}` does not belong to a journal (a journal directory holds only its segments, snapshots and LOCK); \
         move it elsewhere, or give the journal a directory of its own"
    )]
    ForeignFile {
        /// The file.
        path: PathBuf,
    },
    /// A file named like a journal file does not start with the journal's magic bytes.
    #[error(
        "journal: `{path}` is not a journal file (it lacks the journal's magic bytes); it was not written by this \
         journal: move it out of the journal directory"
    )]
    NotAJournal {
        /// The file.
        path: PathBuf,
    },
    /// A journal file was written by a newer format version than this build reads.
    #[error(
        "journal: `{path}` has format version {found}, this build reads up to {supported}; open it with a newer \
         ractor-agents"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// A journal file's header fails its checksum or does not match the file's name.
    #[error(
        "journal: the header of `{path}` is corrupt or does not match its file name; restore the journal from a backup"
    )]
    CorruptHeader {
        /// The file.
        path: PathBuf,
    },
    /// Damaged bytes lie *before* acknowledged records (not a torn tail), so dropping them
    /// would lose acknowledged data.
    #[error(
        "journal: segment `{segment}` is corrupt at byte {offset}, and acknowledged records follow the damage, so it \
         is not a torn tail the journal may drop; restore the journal directory from a backup, or open it with the \
         `repair` option to truncate the journal at byte {offset} (the records after it are lost)"
    )]
    Corrupt {
        /// The damaged segment.
        segment: PathBuf,
        /// Byte offset of the first damaged frame.
        offset: u64,
    },
    /// A snapshot is damaged. Snapshots are written whole and fsync'ed before they are renamed
    /// into place, so this is damage after the fact.
    #[error("journal: snapshot `{path}` is corrupt at byte {offset}; restore the journal directory from a backup")]
    CorruptSnapshot {
        /// The snapshot file.
        path: PathBuf,
        /// Byte offset of the first damaged frame.
        offset: u64,
    },
    /// Files are missing between the snapshot and the last segment, or their record numbers do
    /// not follow each other (files deleted or copied in by hand).
    #[error("journal: {detail} in `{path}`; restore the journal directory from a backup")]
    Inconsistent {
        /// The directory or file concerned.
        path: PathBuf,
        /// What does not fit.
        detail: String,
    },
    /// A record larger than the format allows.
    #[error("journal: a record of {len} bytes exceeds the limit of {max} bytes; split it")]
    RecordTooLarge {
        /// The record's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A snapshot was asked for a cut older than the latest snapshot.
    #[error(
        "journal: a snapshot for a cut at record {cut_lsn} is older than the latest snapshot (record {latest_lsn})"
    )]
    StaleCut {
        /// The cut's record number.
        cut_lsn: u64,
        /// The latest snapshot's record number.
        latest_lsn: u64,
    },
    /// The writer thread failed to write or sync; nothing appended since is durable and the
    /// journal accepts no more records (after a failed fsync the page cache cannot be trusted).
    #[error(
        "journal: the writer failed ({source}); the journal takes no more records: reopen it to recover what is durable"
    )]
    Failed {
        /// The write or sync error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The journal was closed.
    #[error("journal: closed")]
    Closed,
}

impl JournalError {
    /// An [`JournalError::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }
}
