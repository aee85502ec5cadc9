//! One debugging metrics recorder per test binary, and counter totals read from it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// The binary's recorder, installed on first use (call it before building what records).
pub fn recorder() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("first recorder in this test binary");
        snapshotter
    })
}

/// Every counter's total since the recorder was installed (snapshots drain counters, so every
/// snapshot is folded into a running total).
fn totals() -> std::sync::MutexGuard<'static, HashMap<metrics::Key, u64>> {
    static TOTALS: OnceLock<Mutex<HashMap<metrics::Key, u64>>> = OnceLock::new();
    let mut totals = TOTALS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    for (key, _, _, value) in recorder().snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            *totals.entry(key.key().clone()).or_default() += n;
        }
    }
    totals
}

/// The total of counter `name` over the series carrying all of `labels`.
pub fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    totals()
        .iter()
        .filter(|(key, _)| {
            key.name() == name && labels.iter().all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, n)| *n)
        .sum()
}

/// Totals of counter `name` over the series whose label `owner.0` is `owner.1`, keyed by the
/// value of label `by`.
pub fn counters_by(name: &str, owner: (&str, &str), by: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for (key, n) in totals().iter() {
        let label = |k: &str| key.labels().find(|l| l.key() == k).map(|l| l.value().to_owned());
        if key.name() != name || label(owner.0).as_deref() != Some(owner.1) {
            continue;
        }
        if let Some(value) = label(by) {
            *out.entry(value).or_default() += *n;
        }
    }
    out
}
