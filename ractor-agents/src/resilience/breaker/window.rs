//! The sliding windows a closed breaker judges by: lock-free, one word of counters each.
//!
//! Both windows keep three counts (calls, failures, slow calls) that a record updates with
//! atomic read-modify-writes only. Readers see a sum that may lag a concurrent record by that
//! record; the breaker re-judges on the next record, so a lag delays a trip by one call at most.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::config::SlidingWindow;

/// The counts a window holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WindowCounts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// One recorded call: failed or not, slow or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) failed: bool,
    pub(crate) slow: bool,
}

/// A count or time window.
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(kind: SlidingWindow) -> Self {
        match kind {
            SlidingWindow::Count(n) => Self::Count(CountWindow::new(n)),
            SlidingWindow::Time { length, buckets } => Self::Time(TimeWindow::new(length.as_nanos(), buckets)),
        }
    }

    /// Whether recording needs the time the call ended.
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, Self::Time(_))
    }

    /// Adds a call that ended at `now_nanos`, and returns the window's counts after it.
    pub(crate) fn record(&self, sample: Sample, now_nanos: u64) -> WindowCounts {
        match self {
            Self::Count(w) => w.record(sample),
            Self::Time(w) => w.record(sample, now_nanos),
        }
    }

    /// Forgets every call (on a state change). Concurrent records of calls admitted before the
    /// change may land after it; the breaker drops those by generation before they get here,
    /// except one racing the reset itself.
    pub(crate) fn reset(&self) {
        match self {
            Self::Count(w) => w.reset(),
            Self::Time(w) => w.reset(),
        }
    }
}

// Count window: a ring of slots, one byte per call, and the three counts packed into one word
// (21 bits each) so a record moves all of them with one `fetch_add`.
const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const SLOT_EMPTY: u8 = 0;
const SLOT_CALL: u8 = 1;
const SLOT_FAILED: u8 = 2;
const SLOT_SLOW: u8 = 4;

fn slot_code(sample: Sample) -> u8 {
    SLOT_CALL | if sample.failed { SLOT_FAILED } else { 0 } | if sample.slow { SLOT_SLOW } else { 0 }
}

/// The packed counts a slot contributes (calls in bits 0..21, failures 21..42, slow 42..63).
fn slot_weight(code: u8) -> u64 {
    u64::from(code & SLOT_CALL)
        + (u64::from((code & SLOT_FAILED) >> 1) << FIELD_BITS)
        + (u64::from((code & SLOT_SLOW) >> 2) << (2 * FIELD_BITS))
}

pub(crate) struct CountWindow {
    slots: Box<[AtomicU8]>,
    next: AtomicU64,
    packed: AtomicU64,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        Self {
            slots: (0..size).map(|_| AtomicU8::new(SLOT_EMPTY)).collect(),
            next: AtomicU64::new(0),
            packed: AtomicU64::new(0),
        }
    }

    fn record(&self, sample: Sample) -> WindowCounts {
        let len = self.slots.len() as u64;
        let index = self.next.fetch_add(1, Ordering::Relaxed) % len;
        let code = slot_code(sample);
        // The slot index fits: `index < len <= MAX_WINDOW_CALLS`.
        let old = self.slots[index as usize].swap(code, Ordering::AcqRel);
        // Remove what the slot held and add the new call in one step; the packing is linear, so
        // the wrapping difference lands on the right fields once every racing delta is in.
        let delta = slot_weight(code).wrapping_sub(slot_weight(old));
        let packed = self.packed.fetch_add(delta, Ordering::AcqRel).wrapping_add(delta);
        let counts = WindowCounts {
            calls: packed & FIELD_MASK,
            failures: (packed >> FIELD_BITS) & FIELD_MASK,
            slow: (packed >> (2 * FIELD_BITS)) & FIELD_MASK,
        };
        // Two records racing on the same slot (one ring apart) can apply their deltas out of
        // order and make a field briefly "negative" (huge); such a reading is not judged.
        if counts.calls > len || counts.failures > counts.calls || counts.slow > counts.calls {
            return WindowCounts::default();
        }
        counts
    }

    fn reset(&self) {
        for slot in self.slots.iter() {
            slot.store(SLOT_EMPTY, Ordering::Relaxed);
        }
        self.next.store(0, Ordering::Relaxed);
        self.packed.store(0, Ordering::Release);
    }
}

// Time window: one word per slice: a tag naming the slice's period (22 bits, 0 = empty) and the
// three counts (14 bits each). A record that finds an older tag starts the slice afresh with a
// compare-exchange, so no count of an old period survives into a new one. Tags repeat every
// 2^22 - 1 periods: a slice untouched for exactly a multiple of that (145 days with 3 s slices)
// and then read before being written would count again; we accept that.
const TAG_SHIFT: u32 = 42;
const TAG_MODULUS: u64 = (1 << 22) - 1;
const COUNT_BITS: u32 = 14;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

fn tag_of(period: u64) -> u64 {
    period % TAG_MODULUS + 1
}

fn unpack_bucket(word: u64) -> (u64, WindowCounts) {
    (
        word >> TAG_SHIFT,
        WindowCounts {
            calls: word & COUNT_MAX,
            failures: (word >> COUNT_BITS) & COUNT_MAX,
            slow: (word >> (2 * COUNT_BITS)) & COUNT_MAX,
        },
    )
}

fn pack_bucket(tag: u64, c: WindowCounts) -> u64 {
    (tag << TAG_SHIFT) | c.calls | (c.failures << COUNT_BITS) | (c.slow << (2 * COUNT_BITS))
}

pub(crate) struct TimeWindow {
    buckets: Box<[AtomicU64]>,
    /// Nanoseconds per slice.
    bucket_nanos: u64,
}

impl TimeWindow {
    fn new(length_nanos: u128, buckets: u32) -> Self {
        let bucket_nanos = u64::try_from(length_nanos / u128::from(buckets)).unwrap_or(u64::MAX).max(1);
        Self { buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(), bucket_nanos }
    }

    fn record(&self, sample: Sample, now_nanos: u64) -> WindowCounts {
        let period = now_nanos / self.bucket_nanos;
        let len = self.buckets.len() as u64;
        let tag = tag_of(period);
        let bucket = &self.buckets[(period % len) as usize];
        let mut word = bucket.load(Ordering::Acquire);
        loop {
            let (old_tag, mut counts) = unpack_bucket(word);
            if old_tag != tag {
                counts = WindowCounts::default();
            }
            if counts.calls == COUNT_MAX {
                // A slice saturated (16,383 calls): halve it, which keeps its rates, so the
                // window still judges; older slices weigh a little more than they should.
                counts = WindowCounts { calls: counts.calls / 2, failures: counts.failures / 2, slow: counts.slow / 2 };
            }
            counts.calls += 1;
            counts.failures += u64::from(sample.failed);
            counts.slow += u64::from(sample.slow);
            match bucket.compare_exchange_weak(word, pack_bucket(tag, counts), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(current) => word = current,
            }
        }
        self.counts_at(period)
    }

    /// The sum of the slices of the `len` periods ending with `period`.
    fn counts_at(&self, period: u64) -> WindowCounts {
        let len = self.buckets.len() as u64;
        let mut sum = WindowCounts::default();
        for back in 0..len.min(period + 1) {
            let p = period - back;
            let (tag, counts) = unpack_bucket(self.buckets[(p % len) as usize].load(Ordering::Acquire));
            if tag == tag_of(p) {
                sum.calls += counts.calls;
                sum.failures += counts.failures;
                sum.slow += counts.slow;
            }
        }
        sum
    }

    fn reset(&self) {
        for bucket in self.buckets.iter() {
            bucket.store(0, Ordering::Release);
        }
    }
}
