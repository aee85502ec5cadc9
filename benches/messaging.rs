//! Criterion micro-benchmarks: one-way throughput and ask round trip, ractor-agents beside raw
//! ractor, kameo and a tokio channel + task, all on a tokio multi-thread runtime with 2 workers
//! and a real Prometheus recorder installed. Percentiles and the other scenarios are in
//! `benches/scenarios.rs`; results in `BENCHMARKS.md`.
//!
//! ```text
//! cargo bench -p ractor-agents --bench messaging
//! ```

#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use common::{Peer, install_metrics, runtime};

/// One-way: each iteration is one message; a sample sends `iters` messages from a producer
/// task and ends when the consumer has handled the last one (a final ask).
fn one_way(c: &mut Criterion) {
    install_metrics();
    let rt = runtime();
    let mut group = c.benchmark_group("one_way");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(5));
    for peer in ["ours-tell", "ours-try_tell", "ractor", "kameo", "tokio"] {
        let p = rt.block_on(async { tokio::spawn(Peer::start(peer)).await.expect("start") });
        group.bench_function(BenchmarkId::from_parameter(peer), |b| {
            b.iter_custom(|iters| {
                let p = p.clone();
                rt.block_on(async move { tokio::spawn(async move { p.one_way(iters).await.0 }).await.expect("run") })
            })
        });
    }
    group.finish();
}

/// Ask round trip: each iteration is one sequential ask from one task.
fn ask(c: &mut Criterion) {
    install_metrics();
    let rt = runtime();
    let mut group = c.benchmark_group("ask");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(5));
    let peers = [
        ("ours (deadline)", "ours-tell", false),
        ("ractor call (timeout)", "ractor", false),
        ("ractor call (no timeout)", "ractor", true),
        ("kameo", "kameo", false),
        ("tokio mpsc+oneshot", "tokio", false),
    ];
    for (label, peer, no_timeout) in peers {
        let p = rt.block_on(async { tokio::spawn(Peer::start(peer)).await.expect("start") });
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_custom(|iters| {
                let p = p.clone();
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let start = Instant::now();
                        for _ in 0..iters {
                            let answer = if no_timeout { p.ask_no_timeout().await } else { p.ask().await };
                            answer.expect("ask");
                        }
                        start.elapsed()
                    })
                    .await
                    .expect("run")
                })
            })
        });
    }
    group.finish();
}

/// What building one envelope's meta costs on the sending side (every `tell` and `ask` pays it),
/// and its parts, to explain the one-way and ask figures.
fn envelope_meta(c: &mut Criterion) {
    use ractor_agents::agent::{Meta, TraceContext};
    let mut group = c.benchmark_group("envelope_meta");
    group.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    group.bench_function("Meta::outgoing(None)", |b| b.iter(|| std::hint::black_box(Meta::outgoing(None))));
    group.bench_function("TraceContext::new_root", |b| b.iter(|| std::hint::black_box(TraceContext::new_root())));
    group.bench_function("tokio Instant::now", |b| b.iter(|| std::hint::black_box(tokio::time::Instant::now())));
    group.bench_function("tracing Span::current", |b| b.iter(|| std::hint::black_box(tracing::Span::current())));
    group.finish();
}

criterion_group!(benches, one_way, ask, envelope_meta);
criterion_main!(benches);
