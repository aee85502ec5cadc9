//! Circuit breaker admit + record, uncontended, against the `failsafe` crate (1.3) in the same run.
//!
//! ```text
//! cargo bench -p ractor-agents-benches --bench breaker
//! ```
//!
//! Every call succeeds, so each circuit stays closed: this is the path every call of a healthy
//! dependency takes. One thread, no metrics recorder installed except for `ours/count+prom` (failsafe has no
//! metrics; with a recorder each call adds one counter increment). Peers:
//!
//! * `ours/count`: count window of 100 calls, slow calls off: `try_acquire` + `record(Success)`,
//!   no clock read.
//! * `ours/time`: the default settings (time window 30 s in 10 slices): one TSC clock read per
//!   record.
//! * `ours/time+slow`: the default plus slow-call detection: two clock reads per call.
//! * `ours/call`: `CircuitBreaker::call` around a ready future (polled once), count window.
//! * `ours/count+prom`: `ours/count` with a Prometheus recorder installed (built last: the
//!   recorder is global), so the call counter is live.
//! * `ready-future`: no breaker: the async block polled once with `now_or_never`, the part of
//!   `ours/call` that is not the breaker.
//! * `failsafe`: `failsafe::Config::new().build()` (its default: success rate over a time
//!   window, or consecutive failures) with `call(|| Ok(()))`.
//!
//! At the end the mean ns per call of each (all iterations) and each ratio to failsafe are printed.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::Criterion;
use failsafe::CircuitBreaker as _;
use futures::FutureExt;
use ractor_agents::resilience::breaker::{CircuitBreaker, Outcome, SlidingWindow};

/// Mean ns per call of every benchmark, over all its iterations.
static MEANS: Mutex<BTreeMap<&'static str, (Duration, u64)>> = Mutex::new(BTreeMap::new());

fn timed(name: &'static str, iters: u64, mut call: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        call();
    }
    let elapsed = start.elapsed();
    let mut means = MEANS.lock().expect("not poisoned");
    let entry = means.entry(name).or_default();
    entry.0 += elapsed;
    entry.1 += iters;
    elapsed
}

fn ours(window: Option<SlidingWindow>, slow: bool) -> CircuitBreaker {
    let mut builder = CircuitBreaker::builder("bench");
    if let Some(window) = window {
        builder = builder.window(window);
    }
    if slow {
        builder = builder.slow_calls(Duration::from_secs(60), 1.0);
    }
    builder.build().expect("valid settings")
}

fn admit_and_record(breaker: &CircuitBreaker) {
    match breaker.try_acquire() {
        Ok(permit) => permit.record(black_box(Outcome::Success)),
        Err(rejected) => panic!("a healthy circuit rejected a call: {rejected}"),
    }
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("admit_record");
    group.sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));

    let count = ours(Some(SlidingWindow::Count(100)), false);
    group.bench_function("ours/count", |b| b.iter_custom(|n| timed("ours/count", n, || admit_and_record(&count))));
    let time = ours(None, false);
    group.bench_function("ours/time", |b| b.iter_custom(|n| timed("ours/time", n, || admit_and_record(&time))));
    let slow = ours(None, true);
    group.bench_function("ours/time+slow", |b| {
        b.iter_custom(|n| timed("ours/time+slow", n, || admit_and_record(&slow)))
    });
    let wrapped = ours(Some(SlidingWindow::Count(100)), false);
    group.bench_function("ours/call", |b| {
        b.iter_custom(|n| {
            timed("ours/call", n, || {
                let answer = wrapped.call(|| async { Ok::<_, ()>(black_box(1u32)) }).now_or_never();
                assert!(matches!(answer, Some(Ok(1))), "a ready future through a closed circuit");
            })
        })
    });
    // What `ours/call` pays for the async block and `now_or_never` alone, without a breaker.
    group.bench_function("ready-future", |b| {
        b.iter_custom(|n| {
            timed("ready-future", n, || {
                let answer = async { Ok::<_, ()>(black_box(1u32)) }.now_or_never();
                assert!(matches!(answer, Some(Ok(1))), "a ready future");
            })
        })
    });
    let peer = failsafe::Config::new().build();
    group.bench_function("failsafe", |b| {
        b.iter_custom(|n| {
            timed("failsafe", n, || {
                let answer = peer.call(|| Ok::<_, ()>(black_box(1u32)));
                assert!(answer.is_ok(), "a healthy failsafe circuit rejected a call");
            })
        })
    });
    // Last, because the recorder is global and a breaker resolves its handles when built: the
    // breakers above keep their no-op handles.
    let _handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the first recorder of this process");
    let metered = ours(Some(SlidingWindow::Count(100)), false);
    group.bench_function("ours/count+prom", |b| {
        b.iter_custom(|n| timed("ours/count+prom", n, || admit_and_record(&metered)))
    });
    group.finish();
}

fn print_ratios() {
    let means = MEANS.lock().expect("not poisoned");
    let mean = |name: &str| means.get(name).map(|(t, n)| t.as_nanos() as f64 / (*n).max(1) as f64);
    let Some(failsafe) = mean("failsafe") else { return };
    println!("\nadmit + record, mean ns per call (all iterations), and failsafe's time / ours:");
    println!("{:<16} {:>10} {:>18}", "peer", "ns/call", "failsafe / this");
    for (name, _) in means.iter() {
        if let Some(ns) = mean(name) {
            println!("{name:<16} {ns:>10.1} {:>17.1}x", failsafe / ns);
        }
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    print_ratios();
}
