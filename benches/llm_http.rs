//! The LLM HTTP client's overhead, whole scenarios over loopback HTTP: `ractor_agents::llm::OpenAiProvider`
//! beside the resilience stack around it, a hand-written reqwest + serde_json client (the floor) and
//! the `async-openai` crate, all calling the same OpenAI-compatible server in the same run. See
//! `BENCHMARKS.md` ("LLM HTTP client").
//!
//! ```text
//! cargo bench -p ractor-agents-benches --features llm-http --bench llm_http -- [--runs 3] [--calls 20000] [--concurrent 100000]
//!     [--callers 64] [--streams 5000] [--chunks 200] [--only <peer>]
//! ```
//!
//! The server (`ractor_agents_benches::llm_peers::server`) answers every request at once with a
//! fixed 60-word completion, or a stream of `--chunks` one-word chunks, and the usage of the
//! prompt; it runs on its own thread with its own single-threaded runtime. Each peer runs on a
//! fresh tokio multi-thread runtime with 2 workers (Prometheus recorder installed, so the stack's
//! metrics are live), in three scenarios, each after a warm-up of a tenth of its count:
//!
//! * sequential: one caller, `--calls` completions one after the other, each timed;
//! * concurrent: `--callers` tasks share `--concurrent` completions; calls per second;
//! * streaming: one caller, `--streams` streams read to their end; time to the first chunk of text
//!   and to the end of the stream (all chunks and the usage in hand).
//!
//! Run `r` starts with peer `r mod 4` (ours, the stack, raw, async-openai, round the circle), so
//! no peer is always the first one after the process starts.
//!
//! Every answer is checked against the server's text and usage; the server's request count is
//! checked against the calls made (no retry, no cache). Each scenario stops after 60 s at most (a
//! slower peer does fewer calls; the count is printed).

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ractor_agents_benches::llm_peers::server::{BenchServer, ServerSpec};
use ractor_agents_benches::llm_peers::{Peer, PeerKind};

use common::{WORKERS, install_metrics, median, runtime};

/// The longest any one scenario of one peer may run.
const SCENARIO_LIMIT: Duration = Duration::from_secs(60);
/// The prompt every call sends (9 words: the server reports 9 prompt tokens).
const PROMPT: &str = "Explain in one paragraph why actors restart their failed children";

struct Options {
    runs: usize,
    calls: u64,
    concurrent: u64,
    callers: u64,
    streams: u64,
    chunks: usize,
    only: Option<String>,
}

fn parse_args() -> Options {
    let mut o =
        Options { runs: 3, calls: 20_000, concurrent: 100_000, callers: 64, streams: 5_000, chunks: 200, only: None };
    let Some(mut args) = common::Args::from_env() else {
        // `cargo test --all-targets` runs this binary with no arguments: a smoke test.
        return Options { runs: 1, calls: 200, concurrent: 1_000, callers: 64, streams: 50, chunks: 200, only: None };
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => o.runs = args.number("--runs").max(1) as usize,
            "--calls" => o.calls = args.number("--calls").max(1),
            "--concurrent" => o.concurrent = args.number("--concurrent").max(1),
            "--callers" => o.callers = args.number("--callers").max(1),
            "--streams" => o.streams = args.number("--streams").max(1),
            "--chunks" => o.chunks = args.number("--chunks").max(1) as usize,
            "--only" => o.only = Some(args.value("--only")),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// What one peer measured in one run.
#[derive(Debug, Clone, Copy)]
struct Figures {
    /// Sequential completion latency, µs.
    seq_p50: f64,
    seq_p99: f64,
    seq_calls: u64,
    /// Concurrent completions per second.
    conc_rate: f64,
    conc_calls: u64,
    conc_warm: u64,
    /// Streams: time to first chunk and to the end, µs.
    first_p50: f64,
    first_p99: f64,
    end_p50: f64,
    end_p99: f64,
    streams: u64,
}

/// Reads one figure.
type Getter = fn(&Figures) -> f64;

/// What every answer must be.
#[derive(Clone)]
struct Expected {
    completion: Arc<str>,
    completion_tokens: u32,
    stream: Arc<str>,
    stream_tokens: u32,
    chunks: usize,
    prompt_tokens: u32,
}

async fn complete_checked(peer: &Peer, expected: &Expected) {
    let answer = peer.complete(PROMPT).await.unwrap_or_else(|e| panic!("a completion failed: {e}"));
    assert!(
        *answer.content == *expected.completion
            && answer.input_tokens == expected.prompt_tokens
            && answer.output_tokens == expected.completion_tokens,
        "wrong answer: {answer:?}"
    );
}

fn micros(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1_000.0
}

fn histogram() -> Histogram<u64> {
    // 1 ns to 100 s (beyond the scenario limit), 3 significant figures.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
}

async fn sequential(peer: &Peer, expected: &Expected, calls: u64) -> (Histogram<u64>, u64) {
    for _ in 0..(calls / 10).max(1) {
        complete_checked(peer, expected).await;
    }
    let mut h = histogram();
    let deadline = Instant::now() + SCENARIO_LIMIT;
    let mut done = 0;
    while done < calls && Instant::now() < deadline {
        let started = Instant::now();
        complete_checked(peer, expected).await;
        record(&mut h, started.elapsed());
        done += 1;
    }
    (h, done)
}

/// Calls per second, calls measured, and warm-up calls.
async fn concurrent(peer: Arc<Peer>, expected: &Expected, calls: u64, callers: u64) -> (f64, u64, u64) {
    let round = |calls: u64| {
        let tickets = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + SCENARIO_LIMIT;
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let (peer, tickets, expected) = (peer.clone(), tickets.clone(), expected.clone());
                tokio::spawn(async move {
                    let mut mine = 0u64;
                    while tickets.fetch_add(1, Ordering::Relaxed) < calls && Instant::now() < deadline {
                        complete_checked(&peer, &expected).await;
                        mine += 1;
                    }
                    mine
                })
            })
            .collect();
        async move {
            let mut done = 0;
            for task in tasks {
                done += task.await.expect("a caller task");
            }
            done
        }
    };
    let warm = round((calls / 10).max(callers)).await;
    let started = Instant::now();
    let done = round(calls).await;
    (done as f64 / started.elapsed().as_secs_f64(), done, warm)
}

async fn streaming(peer: &Peer, expected: &Expected, streams: u64) -> (Histogram<u64>, Histogram<u64>, u64) {
    let one = || async {
        let streamed = peer.stream(PROMPT).await.unwrap_or_else(|e| panic!("a stream failed: {e}"));
        assert!(
            *streamed.text == *expected.stream
                && (1..=expected.chunks).contains(&streamed.chunks)
                && streamed.input_tokens == expected.prompt_tokens
                && streamed.output_tokens == expected.stream_tokens,
            "wrong stream: {} chunks, usage {}/{}",
            streamed.chunks,
            streamed.input_tokens,
            streamed.output_tokens
        );
        streamed
    };
    for _ in 0..(streams / 10).max(1) {
        one().await;
    }
    let (mut first, mut end) = (histogram(), histogram());
    let deadline = Instant::now() + SCENARIO_LIMIT;
    let mut done = 0;
    while done < streams && Instant::now() < deadline {
        let streamed = one().await;
        record(&mut first, streamed.first_chunk);
        record(&mut end, streamed.end);
        done += 1;
    }
    (first, end, done)
}

/// Runs the three scenarios for `kind` on a fresh runtime.
fn measure(kind: PeerKind, server: &BenchServer, expected: &Expected, o: &Options) -> Figures {
    let rt = runtime();
    let before = server.served();
    let (url, expected, (calls, concurrent_calls, callers, streams)) =
        (server.url().to_owned(), expected.clone(), (o.calls, o.concurrent, o.callers, o.streams));
    let figures = rt.block_on(async move {
        tokio::spawn(async move {
            let peer = Arc::new(Peer::build(kind, &url).unwrap_or_else(|e| panic!("{}: {e}", kind.name())));
            let (seq, seq_calls) = sequential(&peer, &expected, calls).await;
            let (conc_rate, conc_calls, conc_warm) =
                concurrent(peer.clone(), &expected, concurrent_calls, callers).await;
            let (first, end, streams) = streaming(&peer, &expected, streams).await;
            Figures {
                seq_p50: micros(&seq, 0.5),
                seq_p99: micros(&seq, 0.99),
                seq_calls,
                conc_rate,
                conc_calls,
                conc_warm,
                first_p50: micros(&first, 0.5),
                first_p99: micros(&first, 0.99),
                end_p50: micros(&end, 0.5),
                end_p99: micros(&end, 0.99),
                streams,
            }
        })
        .await
        .expect("the benchmark task")
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    // Warm-ups included: every call reached the server exactly once.
    let warm = |n: u64| (n / 10).max(1);
    let made =
        warm(o.calls) + figures.seq_calls + figures.conc_warm + figures.conc_calls + warm(o.streams) + figures.streams;
    assert_eq!(server.served() - before, made, "{}: requests the server answered != calls made", kind.name());
    figures
}

fn main() {
    let o = parse_args();
    install_metrics();
    let spec = ServerSpec { stream_chunks: o.chunks, ..ServerSpec::default() };
    let server = BenchServer::start(spec).expect("the benchmark server starts");
    let expected = Expected {
        completion: server.completion_text().into(),
        completion_tokens: server.completion_tokens(),
        stream: server.stream_text().into(),
        stream_tokens: server.stream_tokens(),
        chunks: spec.stream_chunks,
        prompt_tokens: BenchServer::prompt_tokens([PROMPT]),
    };
    println!(
        "LLM HTTP clients over loopback: server on its own thread (current-thread runtime), each client on a fresh \
         {WORKERS}-worker runtime; {} sequential completions, {} concurrent over {} callers, {} streams of {} chunks; \
         medians of {} runs",
        o.calls, o.concurrent, o.callers, o.streams, o.chunks, o.runs
    );
    println!("load average at start: {}", loadavg());
    let peers: Vec<PeerKind> =
        PeerKind::ALL.into_iter().filter(|p| o.only.as_deref().is_none_or(|only| p.name() == only)).collect();
    let mut all: BTreeMap<PeerKind, Vec<Figures>> = BTreeMap::new();
    for run in 0..o.runs {
        // Each run starts with the next peer, so no peer is always the first (coldest) one.
        let order = peers.iter().cycle().skip(run % peers.len()).take(peers.len());
        for &kind in order {
            let f = measure(kind, &server, &expected, &o);
            println!(
                "  run {}: {:<13} seq p50 {:>7.1} µs p99 {:>7.1} ({} calls) | {:>3} callers {:>8.0} calls/s ({}) | \
                 stream first p50 {:>7.1} p99 {:>7.1} end p50 {:>7.1} p99 {:>7.1} µs ({} streams)",
                run + 1,
                kind.name(),
                f.seq_p50,
                f.seq_p99,
                f.seq_calls,
                o.callers,
                f.conc_rate,
                f.conc_calls,
                f.first_p50,
                f.first_p99,
                f.end_p50,
                f.end_p99,
                f.streams
            );
            all.entry(kind).or_default().push(f);
        }
    }
    println!("load average at end: {}", loadavg());
    let med = |kind: PeerKind, get: Getter| -> Option<f64> {
        let mut values: Vec<f64> = all.get(&kind)?.iter().map(get).collect();
        Some(median(&mut values))
    };
    let metrics: [(&str, Getter); 7] = [
        ("sequential p50 µs", |f| f.seq_p50),
        ("sequential p99 µs", |f| f.seq_p99),
        ("concurrent calls/s", |f| f.conc_rate),
        ("stream first chunk p50 µs", |f| f.first_p50),
        ("stream first chunk p99 µs", |f| f.first_p99),
        ("stream end p50 µs", |f| f.end_p50),
        ("stream end p99 µs", |f| f.end_p99),
    ];
    println!(
        "\n== medians of {} runs; in brackets, this ÷ ours (latency: > 1 is slower than ours; calls/s: > 1 is faster) ==",
        o.runs
    );
    print!("{:<27}", "");
    for kind in &peers {
        print!("{:>24}", kind.name());
    }
    println!();
    for (label, get) in metrics {
        print!("{label:<27}");
        let ours = med(PeerKind::Ours, get);
        for &kind in &peers {
            let value = med(kind, get).unwrap_or(f64::NAN);
            match ours {
                Some(ours) if kind != PeerKind::Ours => print!("{:>15.1} ({:>5.2}x)", value, value / ours),
                _ => print!("{value:>24.1}"),
            }
        }
        println!();
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_owned()).unwrap_or_default()
}
