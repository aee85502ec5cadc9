//! One debugging metrics recorder per test binary, and what it recorded, read without tests
//! draining each other's values.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

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

/// A recorded value, owned (the recorder's `DebugValue` cannot be cloned).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

impl From<DebugValue> for Value {
    fn from(value: DebugValue) -> Self {
        match value {
            DebugValue::Counter(n) => Self::Counter(n),
            DebugValue::Gauge(g) => Self::Gauge(g.into_inner()),
            DebugValue::Histogram(h) => Self::Histogram(h.into_iter().map(|x| x.into_inner()).collect()),
        }
    }
}

/// One series: its name, its labels, and its value so far.
pub type Recorded = (String, Vec<(String, String)>, Value);

/// Every series recorded since the recorder was installed. A snapshot drains the recorder
/// (counters, gauges and histograms alike) and tests run concurrently, so every snapshot is
/// folded into one running record: counters and gauges are summed (right for gauges that are
/// only ever increased, such as costs), histograms keep every sample.
fn folded() -> MutexGuard<'static, Vec<Recorded>> {
    static ALL: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());
    let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
    for (key, _, _, value) in recorder().snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<(String, String)> = key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
        let name = key.name().to_owned();
        let value = Value::from(value);
        match all.iter_mut().find(|(n, l, _)| *n == name && *l == labels) {
            None => all.push((name, labels, value)),
            Some((_, _, total)) => match (total, value) {
                (Value::Counter(t), Value::Counter(v)) => *t += v,
                (Value::Gauge(t), Value::Gauge(v)) => *t += v,
                (Value::Histogram(t), Value::Histogram(v)) => t.extend(v),
                (total, value) => *total = value,
            },
        }
    }
    all
}

fn has_labels(series: &[(String, String)], labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(k, v)| series.iter().any(|(sk, sv)| sk == k && sv == v))
}

/// The value of the first series of `name` carrying all of `labels`.
pub fn metric(name: &str, labels: &[(&str, &str)]) -> Option<Value> {
    folded().iter().find(|(n, l, _)| n == name && has_labels(l, labels)).map(|(_, _, v)| v.clone())
}

/// The total of counter `name` over the series carrying all of `labels`.
pub fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    folded()
        .iter()
        .filter(|(n, l, _)| n == name && has_labels(l, labels))
        .map(|(_, _, v)| if let Value::Counter(n) = v { *n } else { 0 })
        .sum()
}

/// Totals of counter `name` over the series whose label `owner.0` is `owner.1`, keyed by the
/// value of label `by`.
pub fn counters_by(name: &str, owner: (&str, &str), by: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for (n, labels, value) in folded().iter() {
        let label = |k: &str| labels.iter().find(|(lk, _)| lk == k).map(|(_, v)| v.clone());
        let (Value::Counter(count), true) = (value, n == name && label(owner.0).as_deref() == Some(owner.1)) else {
            continue;
        };
        if let Some(value) = label(by) {
            *out.entry(value).or_default() += *count;
        }
    }
    out
}
