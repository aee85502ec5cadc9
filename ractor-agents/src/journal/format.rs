//! The on-disk format: file headers and record frames.
//!
//! ```text
//! file    = header (32 bytes) frame*  [zeros…]      zeros = preallocated, not yet written
//! header  = magic "RAJOURNL" | version u16 | kind u16 | id u64 | base_lsn u64 | crc32(bytes 0..28) u32
//! frame   = len u32 | crc32(len ‖ payload) u32 | payload (len & 0x7fff_ffff bytes)
//! ```
//!
//! All integers are little-endian. The top bit of `len` marks a *control* frame written by the
//! journal itself (a batch start, a snapshot end); other frames carry the owner's opaque
//! records. An all-zero frame header is end-of-data: a real frame never has one, because the
//! CRC of any length (even 0) with its payload is not 0 for a zero length.
//!
//! Every write of the writer thread is one *batch*: a `BatchStart` control frame (its first
//! LSN, record count and byte length) followed by its records, then one fdatasync. The writer
//! writes batch k+1 only after batch k's fdatasync returned, so after a crash at most the last
//! batch can be torn. That is what tells a torn tail (nothing valid after the damage begins a
//! later batch) from corruption in the middle of acknowledged data (a valid `BatchStart` after
//! it).

use std::path::Path;

use super::error::JournalError;

/// First bytes of every journal file.
pub(crate) const MAGIC: [u8; 8] = *b"RAJOURNL";
/// The format version this code writes and the newest it reads.
pub(crate) const FORMAT_VERSION: u16 = 1;
/// Bytes of a file header.
pub(crate) const HEADER_LEN: usize = 32;
/// Bytes of a frame header (length + CRC).
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// Largest record payload, in bytes (1 GiB): the length field has 31 bits, and a record is
/// held in memory whole.
pub(crate) const MAX_RECORD_LEN: usize = 1 << 30;

const CONTROL_FLAG: u32 = 1 << 31;
const CONTROL_BATCH_START: u8 = 1;
const CONTROL_SNAPSHOT_END: u8 = 2;
/// Payload bytes of a `BatchStart`: kind u8, first_lsn u64, records u32, bytes u32.
const BATCH_START_LEN: usize = 1 + 8 + 4 + 4;
/// Payload bytes of a `SnapshotEnd`: kind u8, records u64, bytes u64.
const SNAPSHOT_END_LEN: usize = 1 + 8 + 8;
/// Bytes a `BatchStart` frame takes on disk.
pub(crate) const BATCH_START_FRAME_LEN: usize = FRAME_HEADER_LEN + BATCH_START_LEN;

/// What a journal file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A segment of the log: batches of records.
    Segment,
    /// A snapshot: the owner's live records as of a cut, then a `SnapshotEnd`.
    Snapshot,
}

impl FileKind {
    fn code(self) -> u16 {
        match self {
            Self::Segment => 1,
            Self::Snapshot => 2,
        }
    }
}

/// A decoded file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileHeader {
    pub(crate) kind: FileKind,
    /// The segment's number, or for a snapshot the number of the first segment after its cut.
    pub(crate) id: u64,
    /// LSN of the first record in the segment, or for a snapshot the LSN of its cut.
    pub(crate) base_lsn: u64,
}

impl FileHeader {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[10..12].copy_from_slice(&self.kind.code().to_le_bytes());
        out[12..20].copy_from_slice(&self.id.to_le_bytes());
        out[20..28].copy_from_slice(&self.base_lsn.to_le_bytes());
        let crc = crc32fast::hash(&out[0..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes the header at the start of `bytes`, the content of the file at `path`.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Self, JournalError> {
        if bytes.len() < MAGIC.len() || bytes[0..8] != MAGIC {
            return Err(JournalError::NotAJournal { path: path.to_path_buf() });
        }
        let corrupt = || JournalError::CorruptHeader { path: path.to_path_buf() };
        if bytes.len() < HEADER_LEN {
            return Err(corrupt());
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        let stored_crc = u32::from_le_bytes([bytes[28], bytes[29], bytes[30], bytes[31]]);
        if crc32fast::hash(&bytes[0..28]) != stored_crc {
            return Err(corrupt());
        }
        if version > FORMAT_VERSION {
            return Err(JournalError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let kind = match u16::from_le_bytes([bytes[10], bytes[11]]) {
            1 => FileKind::Segment,
            2 => FileKind::Snapshot,
            _ => return Err(corrupt()),
        };
        Ok(Self { kind, id: read_u64(bytes, 12), base_lsn: read_u64(bytes, 20) })
    }
}

/// A frame the journal writes for itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    /// Starts a batch of `records` records taking `bytes` bytes (frames included), the first
    /// of which has LSN `first_lsn`.
    BatchStart { first_lsn: u64, records: u32, bytes: u32 },
    /// Ends a snapshot of `records` records taking `bytes` bytes (frames included).
    SnapshotEnd { records: u64, bytes: u64 },
}

/// One decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// An owner's record.
    Record(&'a [u8]),
    /// A journal control frame.
    Control(Control),
}

/// What lies at a position of a file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read<'a> {
    /// A valid frame; the next one starts at `next`.
    Frame { frame: Frame<'a>, next: usize },
    /// End of data: the end of the file or an all-zero frame header (preallocated space).
    End,
    /// Bytes that are not a valid frame (torn, truncated or corrupt).
    Invalid,
}

/// Appends a record frame for `payload` to `buf`. The caller checked `payload.len()` against
/// [`MAX_RECORD_LEN`].
pub(crate) fn put_record(buf: &mut Vec<u8>, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_RECORD_LEN);
    put_frame(buf, payload.len() as u32, payload);
}

/// Appends a control frame to `buf`.
pub(crate) fn put_control(buf: &mut Vec<u8>, control: Control) {
    let mut payload = [0u8; SNAPSHOT_END_LEN];
    let len = match control {
        Control::BatchStart { first_lsn, records, bytes } => {
            payload[0] = CONTROL_BATCH_START;
            payload[1..9].copy_from_slice(&first_lsn.to_le_bytes());
            payload[9..13].copy_from_slice(&records.to_le_bytes());
            payload[13..17].copy_from_slice(&bytes.to_le_bytes());
            BATCH_START_LEN
        }
        Control::SnapshotEnd { records, bytes } => {
            payload[0] = CONTROL_SNAPSHOT_END;
            payload[1..9].copy_from_slice(&records.to_le_bytes());
            payload[9..17].copy_from_slice(&bytes.to_le_bytes());
            SNAPSHOT_END_LEN
        }
    };
    put_frame(buf, CONTROL_FLAG | len as u32, &payload[..len]);
}

fn put_frame(buf: &mut Vec<u8>, len_field: u32, payload: &[u8]) {
    let len_bytes = len_field.to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len_bytes);
    crc.update(payload);
    buf.reserve(FRAME_HEADER_LEN + payload.len());
    buf.extend_from_slice(&len_bytes);
    buf.extend_from_slice(&crc.finalize().to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Reads the frame at `pos` of `bytes`.
pub(crate) fn read_frame(bytes: &[u8], pos: usize) -> Read<'_> {
    let rest = bytes.get(pos..).unwrap_or_default();
    if rest.len() < FRAME_HEADER_LEN {
        return if rest.iter().all(|&b| b == 0) { Read::End } else { Read::Invalid };
    }
    let len_field = read_u32(rest, 0);
    let stored_crc = read_u32(rest, 4);
    if len_field == 0 && stored_crc == 0 {
        return Read::End;
    }
    let len = (len_field & !CONTROL_FLAG) as usize;
    let Some(payload) = rest.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return Read::Invalid;
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&rest[0..4]);
    crc.update(payload);
    if crc.finalize() != stored_crc {
        return Read::Invalid;
    }
    let next = pos + FRAME_HEADER_LEN + len;
    if len_field & CONTROL_FLAG == 0 {
        return Read::Frame { frame: Frame::Record(payload), next };
    }
    match decode_control(payload) {
        Some(control) => Read::Frame { frame: Frame::Control(control), next },
        None => Read::Invalid,
    }
}

fn decode_control(payload: &[u8]) -> Option<Control> {
    match (payload.first()?, payload.len()) {
        (&CONTROL_BATCH_START, BATCH_START_LEN) => Some(Control::BatchStart {
            first_lsn: read_u64(payload, 1),
            records: read_u32(payload, 9),
            bytes: read_u32(payload, 13),
        }),
        (&CONTROL_SNAPSHOT_END, SNAPSHOT_END_LEN) => {
            Some(Control::SnapshotEnd { records: read_u64(payload, 1), bytes: read_u64(payload, 9) })
        }
        _ => None,
    }
}

/// The first offset after `from` where a valid `BatchStart` frame begins, if any.
///
/// Run only on the damaged part of a file, to tell a torn tail from corruption followed by
/// acknowledged batches. Cheap on zeros and on most garbage: a candidate must have the control
/// bit and exactly the batch-start length before its CRC is computed.
pub(crate) fn find_batch_start(bytes: &[u8], from: usize) -> Option<usize> {
    let wanted = (CONTROL_FLAG | BATCH_START_LEN as u32).to_le_bytes();
    let last = bytes.len().checked_sub(BATCH_START_FRAME_LEN)?;
    (from..=last).find(|&pos| {
        bytes[pos..pos + 4] == wanted
            && matches!(read_frame(bytes, pos), Read::Frame { frame: Frame::Control(Control::BatchStart { .. }), .. })
    })
}

/// Offset one past the last non-zero byte of `bytes[from..]`, or `from` if they are all zero.
pub(crate) fn end_of_nonzero(bytes: &[u8], from: usize) -> usize {
    bytes.get(from..).and_then(|rest| rest.iter().rposition(|&b| b != 0)).map_or(from, |last| from + last + 1)
}

/// Number of frames and their bytes in `bytes`, a run of whole record frames built by
/// [`put_record`]; stops early, at the frame boundary, once `max_bytes` would be exceeded (but
/// always takes at least one frame).
pub(crate) fn count_frames(bytes: &[u8], max_bytes: usize) -> (u32, usize) {
    let (mut records, mut pos) = (0u32, 0usize);
    while pos + FRAME_HEADER_LEN <= bytes.len() {
        let len = (read_u32(bytes, pos) & !CONTROL_FLAG) as usize;
        let next = pos + FRAME_HEADER_LEN + len;
        if records > 0 && next > max_bytes {
            break;
        }
        records += 1;
        pos = next;
    }
    (records, pos)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_frame_reads_back_and_zeros_are_end_of_data() {
        let mut buf = Vec::new();
        put_record(&mut buf, b"");
        put_record(&mut buf, b"hello");
        buf.extend_from_slice(&[0u8; 40]);
        let Read::Frame { frame: Frame::Record(empty), next } = read_frame(&buf, 0) else { panic!("no frame") };
        assert!(empty.is_empty());
        let Read::Frame { frame: Frame::Record(hello), next } = read_frame(&buf, next) else { panic!("no frame") };
        assert_eq!(hello, b"hello");
        assert_eq!(read_frame(&buf, next), Read::End);
        assert_eq!(read_frame(&buf, buf.len()), Read::End);
    }

    #[test]
    fn a_flipped_bit_anywhere_in_a_frame_makes_it_invalid() {
        let mut frame = Vec::new();
        put_record(&mut frame, b"payload bytes");
        for byte in 0..frame.len() {
            for bit in 0..8 {
                let mut damaged = frame.clone();
                damaged[byte] ^= 1 << bit;
                assert!(
                    !matches!(read_frame(&damaged, 0), Read::Frame { frame: Frame::Record(b"payload bytes"), .. }),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn control_frames_round_trip_and_batch_starts_are_found_in_garbage() {
        let mut buf = vec![0xA5u8; 13];
        let start = buf.len();
        let control = Control::BatchStart { first_lsn: 7, records: 2, bytes: 99 };
        put_control(&mut buf, control);
        buf.extend_from_slice(&[0x5Au8; 9]);
        assert_eq!(find_batch_start(&buf, 0), Some(start));
        assert_eq!(find_batch_start(&buf, start + 1), None);
        let Read::Frame { frame, .. } = read_frame(&buf, start) else { panic!("no frame") };
        assert_eq!(frame, Frame::Control(control));
    }

    #[test]
    fn a_header_without_magic_is_not_a_journal_and_a_newer_version_is_refused() {
        let path = Path::new("x.seg");
        assert!(matches!(FileHeader::decode(b"SQLite format 3\0", path), Err(JournalError::NotAJournal { .. })));
        let header = FileHeader { kind: FileKind::Segment, id: 3, base_lsn: 9 };
        assert_eq!(FileHeader::decode(&header.encode(), path).ok(), Some(header));
        let mut newer = header.encode();
        newer[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let crc = crc32fast::hash(&newer[0..28]);
        newer[28..32].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            FileHeader::decode(&newer, path),
            Err(JournalError::UnsupportedVersion { found, .. }) if found == FORMAT_VERSION + 1
        ));
    }

    #[test]
    fn counting_frames_stops_at_the_byte_budget_but_takes_at_least_one() {
        let mut buf = Vec::new();
        for _ in 0..4 {
            put_record(&mut buf, &[1u8; 10]);
        }
        assert_eq!(count_frames(&buf, usize::MAX), (4, 72));
        assert_eq!(count_frames(&buf, 40), (2, 36));
        assert_eq!(count_frames(&buf, 1), (1, 18));
    }
}
