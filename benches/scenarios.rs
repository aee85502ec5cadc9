//! Whole-scenario benchmarks: one-way throughput, ask percentiles, spawn time and memory,
//! restart latency and message loss across restarts, each printed beside its peers (raw
//! ractor, kameo, a tokio channel) with the ratio. See `BENCHMARKS.md` for results.
//!
//! ```text
//! cargo bench -p ractor-agents --bench scenarios -- [all|throughput|ask|spawn|restart|loss]
//!     [--runs 3] [--messages 1000000] [--asks 200000] [--agents 100000] [--restarts 10000]
//!     [--loss-restarts 1000] [--loss-per-restart 5000] [--tracing <filter>] [--only <peer>]
//! ```
//!
//! Every figure is the median of `--runs` runs (default 3); each run builds a fresh tokio
//! multi-thread runtime with 2 workers, and the spawn/memory runs each use a fresh process.
//! A real Prometheus recorder is installed before any agent is created.

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ractor_agents::prelude::*;

use common::*;

struct Options {
    scenario: String,
    runs: usize,
    messages: u64,
    asks: u64,
    agents: usize,
    restarts: u64,
    loss_restarts: u64,
    loss_per_restart: u64,
    rest: Vec<String>,
    tracing: Option<String>,
}

/// `--only <text>`: run only the peers whose name contains `text`, and print no summary
/// (for profiling one peer).
static ONLY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn selected(name: &str) -> bool {
    ONLY.get().is_none_or(|only| name.contains(only.as_str()))
}

fn profiling() -> bool {
    ONLY.get().is_some()
}

fn parse_args() -> Options {
    let mut o = Options {
        scenario: "all".into(),
        runs: 3,
        messages: 1_000_000,
        asks: 200_000,
        agents: 100_000,
        restarts: 10_000,
        loss_restarts: 1_000,
        loss_per_restart: 5_000,
        rest: Vec::new(),
        tracing: None,
    };
    let Some(mut args) = common::Args::from_env() else {
        // `cargo test --all-targets` runs this binary with no arguments (`cargo bench` passes
        // `--bench`): a smoke test with tiny sizes, so the harness is checked but stays fast.
        return Options {
            runs: 1,
            messages: 20_000,
            asks: 2_000,
            agents: 200,
            restarts: 50,
            loss_restarts: 20,
            loss_per_restart: 500,
            ..o
        };
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => o.runs = args.number("--runs").max(1) as usize,
            "--messages" => o.messages = args.number("--messages"),
            "--asks" => o.asks = args.number("--asks"),
            "--agents" => o.agents = args.number("--agents") as usize,
            "--restarts" => o.restarts = args.number("--restarts"),
            "--loss-restarts" => o.loss_restarts = args.number("--loss-restarts"),
            "--loss-per-restart" => o.loss_per_restart = args.number("--loss-per-restart").max(2),
            "--tracing" => {
                // Install a real tracing subscriber (fmt to a sink) at this level, as a service
                // would; at `info` the per-message `agent.handle` span is enabled.
                let level = args.value("--tracing");
                tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new(&level))
                    .with_writer(std::io::sink)
                    .init();
                o.tracing = Some(level);
            }
            "--only" => {
                let _ = ONLY.set(args.value("--only"));
            }
            s if s.starts_with("--") => panic!("unknown option {s}"),
            s if o.rest.is_empty() && o.scenario == "all" && s != "all" => {
                o.scenario = s.to_owned();
                o.rest.push(s.to_owned());
            }
            s => o.rest.push(s.to_owned()),
        }
    }
    o
}

fn main() {
    let o = parse_args();
    if o.scenario == "spawn-child" {
        // Internal: one spawn/memory measurement in this (fresh) process.
        let variant = o.rest.get(1).expect("spawn-child <variant>");
        spawn_child(variant, o.agents);
        return;
    }
    println!(
        "ractor-agents scenarios: tokio multi-thread runtime, {WORKERS} workers; medians of {} runs; \
         Prometheus recorder installed; tracing subscriber: {}",
        o.runs,
        o.tracing.as_deref().map_or("none".to_owned(), |l| format!("fmt to a sink, filter `{l}`"))
    );
    println!("load average at start: {}", loadavg());
    let all = o.scenario == "all";
    if all || o.scenario == "throughput" {
        throughput(&o);
    }
    if all || o.scenario == "ask" {
        ask(&o);
    }
    if all || o.scenario == "spawn" {
        spawn(&o);
    }
    if all || o.scenario == "restart" {
        restart(&o);
    }
    if all || o.scenario == "loss" {
        loss(&o);
    }
    println!("load average at end: {}", loadavg());
}

/// `/proc/loadavg`, printed so a run disturbed by other work on the machine shows it.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// Runs `f` on a fresh runtime, inside a spawned task (so it runs on a worker thread).
fn on_fresh_runtime<T: Send + 'static, F: std::future::Future<Output = T> + Send + 'static>(f: F) -> T {
    let rt = runtime();
    let out = rt.block_on(async move { tokio::spawn(f).await.expect("benchmark task") });
    rt.shutdown_timeout(Duration::from_secs(1));
    out
}

fn fmt_list(values: &[f64], unit: &str, scale: f64) -> String {
    values.iter().map(|v| format!("{:.2}{unit}", v / scale)).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------------------------

fn throughput(o: &Options) {
    install_metrics();
    let peers = ["ours-tell", "ours-tell-64k", "ours-try_tell", "ractor", "kameo", "tokio"];
    let mut rates: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let n = o.messages;
    for run in 0..o.runs {
        for peer in peers.into_iter().filter(|p| selected(p)) {
            let (elapsed, count) = on_fresh_runtime(async move {
                let p = Peer::start(peer).await;
                p.one_way(n / 10).await; // warm-up
                let (elapsed, count) = p.one_way(n).await;
                (elapsed, count)
            });
            assert_eq!(count, n + n / 10, "{peer}: every message handled");
            let rate = n as f64 / elapsed.as_secs_f64();
            println!("  run {}: {peer:<14} {:>7.2} M msg/s", run + 1, rate / 1e6);
            rates.entry(peer).or_default().push(rate);
        }
    }
    if profiling() {
        return;
    }
    let handled = handled_metric("Counter").unwrap_or(0.0);
    let mut m = |p: &str| median(rates.get_mut(p).expect("peer"));
    let (tell, tell_large, try_tell) = (m("ours-tell"), m("ours-tell-64k"), m("ours-try_tell"));
    let (ractor, kameo, tokio) = (m("ractor"), m("kameo"), m("tokio"));
    println!("\n== one-way throughput: {n} messages, producer task → one consumer, until the last is handled ==");
    println!(
        "   (size_of: Envelope<CounterMsg> {} B, Meta {} B; ractor boxes each message, kameo too)",
        std::mem::size_of::<ractor_agents::agent::Envelope<CounterMsg>>(),
        std::mem::size_of::<ractor_agents::agent::Meta>()
    );
    println!(
        "   (prometheus counter ractor_agents_agent_messages_handled_total{{agent_type=\"Counter\"}} = {handled})"
    );
    for (name, v) in [("ractor cast", ractor), ("kameo tell", kameo), ("tokio mpsc", tokio)] {
        println!("   peer  {name:<38} {:>7.2} M/s   [{}]", v / 1e6, fmt_list(&rates_of(&rates, name), "", 1e6));
    }
    println!(
        "tell throughput (tell().await, cap {}): ours {:.2} M/s | ractor cast {:.2} M/s | ratio {:.2}x (target ≥ 2.5x) | kameo tell {:.2} M/s ({:.2}x) | tokio mpsc {:.2} M/s ({:.2}x)",
        ractor_agents::agent::DEFAULT_MAILBOX_CAPACITY,
        tell / 1e6,
        ractor / 1e6,
        tell / ractor,
        kameo / 1e6,
        tell / kameo,
        tokio / 1e6,
        tell / tokio
    );
    println!(
        "tell throughput (tell().await, cap {LARGE_MAILBOX}): ours {:.2} M/s | ractor cast {:.2} M/s | ratio {:.2}x",
        tell_large / 1e6,
        ractor / 1e6,
        tell_large / ractor
    );
    println!(
        "try_tell throughput (cap {LARGE_MAILBOX}): ours {:.2} M/s | ractor cast {:.2} M/s | ratio {:.2}x (target ≥ 2.5x)",
        try_tell / 1e6,
        ractor / 1e6,
        try_tell / ractor
    );
}

fn rates_of(rates: &BTreeMap<&str, Vec<f64>>, label: &str) -> Vec<f64> {
    let key = match label {
        "ractor cast" => "ractor",
        "kameo tell" => "kameo",
        _ => "tokio",
    };
    rates.get(key).cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

fn ask(o: &Options) {
    install_metrics();
    // (label, peer, use ractor's call without timeout)
    let peers = [
        ("ours ask (deadline 5 s)", "ours-tell", false),
        ("ractor call (timeout 5 s)", "ractor", false),
        ("ractor call (no timeout)", "ractor", true),
        ("kameo ask", "kameo", false),
        ("tokio mpsc + oneshot", "tokio", false),
    ];
    let mut p50s: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut p99s: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let n = o.asks;
    for run in 0..o.runs {
        for (label, peer, no_timeout) in peers.into_iter().filter(|p| selected(p.0)) {
            let hist = on_fresh_runtime(async move {
                let p = Peer::start(peer).await;
                for _ in 0..n / 10 {
                    p.ask().await.expect("warm-up ask");
                }
                let mut hist = histogram();
                for _ in 0..n {
                    let t = Instant::now();
                    let answer = if no_timeout { p.ask_no_timeout().await } else { p.ask().await };
                    let took = t.elapsed();
                    answer.expect("ask");
                    hist.record(ns(took)).expect("record");
                }
                hist
            });
            let (p50, p99) = (hist.value_at_quantile(0.5) as f64, hist.value_at_quantile(0.99) as f64);
            println!(
                "  run {}: {label:<28} p50 {:>6.2} µs  p99 {:>6.2} µs  p99.9 {:>7.2} µs  mean {:>6.2} µs",
                run + 1,
                p50 / 1e3,
                p99 / 1e3,
                hist.value_at_quantile(0.999) as f64 / 1e3,
                hist.mean() / 1e3
            );
            p50s.entry(label).or_default().push(p50);
            p99s.entry(label).or_default().push(p99);
        }
    }
    if profiling() {
        return;
    }
    let get = |m: &mut BTreeMap<&str, Vec<f64>>, l: &str| median(m.get_mut(l).expect("label")) / 1e3;
    let ours = (get(&mut p50s, peers[0].0), get(&mut p99s, peers[0].0));
    println!("\n== ask round trip: {n} sequential asks from one task, each timed ==");
    for (label, ..) in &peers[1..] {
        println!("   peer  {label:<28} p50 {:>6.2} µs  p99 {:>6.2} µs", get(&mut p50s, label), get(&mut p99s, label));
    }
    let with_timeout = (get(&mut p50s, peers[1].0), get(&mut p99s, peers[1].0));
    let without = (get(&mut p50s, peers[2].0), get(&mut p99s, peers[2].0));
    let kameo = (get(&mut p50s, peers[3].0), get(&mut p99s, peers[3].0));
    println!(
        "ask p50: ours {:.2} µs | ractor call+timeout {:.2} µs | ratio {:.2}x (target ≤ 1.25x) | ractor call {:.2} µs ({:.2}x) | kameo ask {:.2} µs ({:.2}x)",
        ours.0,
        with_timeout.0,
        ours.0 / with_timeout.0,
        without.0,
        ours.0 / without.0,
        kameo.0,
        ours.0 / kameo.0
    );
    println!(
        "ask p99: ours {:.2} µs | ractor call+timeout {:.2} µs | ratio {:.2}x (target ≤ 1.25x) | ractor call {:.2} µs ({:.2}x) | kameo ask {:.2} µs ({:.2}x)",
        ours.1,
        with_timeout.1,
        ours.1 / with_timeout.1,
        without.1,
        ours.1 / without.1,
        kameo.1,
        ours.1 / kameo.1
    );
}

// ---------------------------------------------------------------------------------------------

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

const SPAWN_VARIANTS: [(&str, &str); 6] = [
    ("ractor", "bare ractor actor (Actor::spawn)"),
    ("ractor-linked", "bare ractor actor linked to a parent"),
    ("kameo", "bare kameo actor (spawn + wait_for_startup)"),
    ("ours-spawn", "ours, unsupervised ractor_agents::spawn"),
    ("ours-dynamic", "ours, DynamicSupervisor::start_agent"),
    ("ours-static", "ours, one Supervisor with N ChildSpecs"),
];

/// Spawns `n` actors of `variant` in this process and prints one `RESULT` line.
fn spawn_child(variant: &str, n: usize) {
    install_metrics();
    let variant = variant.to_owned();
    let rt = runtime();
    let (secs, before, after) = rt.block_on(async move {
        tokio::spawn(async move {
            // Warm up everything lazy (registries, metrics handles, the tracing callsites) with a
            // first actor of the same kind, then measure the next `n`.
            let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::with_capacity(n + 8);
            match variant.as_str() {
                "ractor" | "ractor-linked" => {
                    let (parent, _) = ractor::Actor::spawn(None, RactorCounter, ()).await.expect("spawn");
                    let (a, _) = ractor::Actor::spawn(None, RactorCounter, ()).await.expect("spawn");
                    keep.push(Box::new(a));
                    let before = rss_kb();
                    let t = Instant::now();
                    for _ in 0..n {
                        let (a, _) = if variant == "ractor" {
                            ractor::Actor::spawn(None, RactorCounter, ()).await.expect("spawn")
                        } else {
                            ractor::Actor::spawn_linked(None, RactorCounter, (), parent.get_cell())
                                .await
                                .expect("spawn")
                        };
                        keep.push(Box::new(a));
                    }
                    let secs = t.elapsed().as_secs_f64();
                    (secs, before, rss_kb(), keep, None)
                }
                "kameo" => {
                    use kameo::actor::Spawn;
                    let a = KameoCounter::spawn(());
                    a.wait_for_startup().await;
                    keep.push(Box::new(a));
                    let before = rss_kb();
                    let t = Instant::now();
                    for _ in 0..n {
                        let a = KameoCounter::spawn(());
                        a.wait_for_startup().await;
                        keep.push(Box::new(a));
                    }
                    let secs = t.elapsed().as_secs_f64();
                    (secs, before, rss_kb(), keep, None)
                }
                "ours-spawn" => {
                    keep.push(Box::new(ractor_agents::spawn("warm", Counter::default()).await.expect("spawn")));
                    let before = rss_kb();
                    let t = Instant::now();
                    for i in 0..n {
                        let a = ractor_agents::spawn(format!("a{i}"), Counter::default()).await.expect("spawn");
                        keep.push(Box::new(a));
                    }
                    let secs = t.elapsed().as_secs_f64();
                    (secs, before, rss_kb(), keep, None)
                }
                "ours-dynamic" => {
                    let sup = DynamicSupervisor::new("dyn").start().await.expect("start");
                    let warm: AgentRef<Counter> = sup.start_agent("warm", Counter::default).await.expect("start_agent");
                    keep.push(Box::new(warm));
                    let before = rss_kb();
                    let t = Instant::now();
                    for i in 0..n {
                        let a: AgentRef<Counter> =
                            sup.start_agent(format!("a{i}"), Counter::default).await.expect("start_agent");
                        keep.push(Box::new(a));
                    }
                    let secs = t.elapsed().as_secs_f64();
                    (secs, before, rss_kb(), keep, Some(sup))
                }
                "ours-static" => {
                    let warm = Supervisor::new("warm", Strategy::OneForOne)
                        .child(ChildSpec::agent("warm", Counter::default))
                        .start()
                        .await
                        .expect("start");
                    keep.push(Box::new(warm));
                    let before = rss_kb();
                    let t = Instant::now();
                    let mut spec = Supervisor::new("static", Strategy::OneForOne);
                    for i in 0..n {
                        spec = spec.child(ChildSpec::agent(format!("a{i}"), Counter::default));
                    }
                    let sup = spec.start().await.expect("start");
                    let secs = t.elapsed().as_secs_f64();
                    for i in 0..n {
                        let a: AgentRef<Counter> = sup.agent(&format!("a{i}")).expect("child");
                        keep.push(Box::new(a));
                    }
                    (secs, before, rss_kb(), keep, Some(sup))
                }
                other => panic!("unknown spawn variant {other}"),
            }
        })
        .await
        .map(|(secs, before, after, keep, sup)| {
            // Keep everything alive until RSS was read.
            drop(keep);
            drop(sup);
            (secs, before, after)
        })
        .expect("spawn task")
    });
    println!("RESULT {secs} {before} {after}");
    // Exit without tearing 100,000 actors down one by one.
    std::process::exit(0);
}

fn spawn(o: &Options) {
    let exe = std::env::current_exe().expect("current exe");
    let n = o.agents;
    let mut secs: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut bytes: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in 0..o.runs {
        for (variant, label) in SPAWN_VARIANTS.into_iter().filter(|v| selected(v.0)) {
            let out = Command::new(&exe)
                .args(["spawn-child", variant, "--agents", &n.to_string()])
                .output()
                .expect("run spawn-child");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
                println!("  run {}: {variant}: failed: {}", run + 1, String::from_utf8_lossy(&out.stderr));
                continue;
            };
            let f: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
            let (s, before, after) = (f[0], f[1], f[2]);
            let per = (after - before) * 1024.0 / n as f64;
            println!(
                "  run {}: {label:<46} {:>6.2} s  {:>6.2} µs/agent  RSS {:>7.0} → {:>7.0} KiB  {:>7.0} B/agent",
                run + 1,
                s,
                s * 1e6 / n as f64,
                before,
                after,
                per
            );
            secs.entry(variant).or_default().push(s);
            bytes.entry(variant).or_default().push(per);
        }
    }
    if profiling() {
        return;
    }
    println!("\n== spawn {n} agents (sequentially, from one task; each process spawns one kind) ==");
    let med = |m: &mut BTreeMap<&str, Vec<f64>>, v: &str| m.get_mut(v).map(|x| median(x)).unwrap_or(f64::NAN);
    let base_t = med(&mut secs, "ractor");
    let base_b = med(&mut bytes, "ractor");
    for (variant, label) in SPAWN_VARIANTS {
        let (t, b) = (med(&mut secs, variant), med(&mut bytes, variant));
        println!(
            "spawn {variant:<13} {label:<46}: {:>6.2} s ({:>5.2} µs/agent, {:.2}x ractor) | {:>6.0} B/agent | overhead over bare ractor {:+6.0} B/agent{}",
            t,
            t * 1e6 / n as f64,
            t / base_t,
            b,
            b - base_b,
            if variant.starts_with("ours") {
                if b - base_b <= 1024.0 { " (target ≤ 1024 B: meets)" } else { " (target ≤ 1024 B: MISSES)" }
            } else {
                ""
            }
        );
    }
}

// ---------------------------------------------------------------------------------------------

/// Result of a restart run: per-restart latency, asks that failed, incarnations started.
struct RestartRun {
    hist: Histogram<u64>,
    failed: u64,
    incarnations: u64,
}

async fn restart_ours(n: u64) -> RestartRun {
    let shared = Arc::new(Shared::default());
    let (root, agent) = start_ours_fragile(shared.clone()).await;
    let mut hist = histogram();
    let mut failed = 0;
    let mut last = agent.call(FragileMsg::Ping).deadline(ASK_DEADLINE).await.expect("first ping");
    for i in 0..n + n / 10 {
        let t = Instant::now();
        agent.tell(FragileMsg::Poison).await.expect("tell poison");
        loop {
            match agent.call(FragileMsg::Ping).deadline(ASK_DEADLINE).await {
                Ok(inc) if inc > last => {
                    last = inc;
                    break;
                }
                _ => {
                    if i >= n / 10 {
                        failed += 1;
                    }
                }
            }
        }
        if i >= n / 10 {
            hist.record(ns(t.elapsed())).expect("record");
        }
    }
    root.stop().await;
    RestartRun { hist, failed, incarnations: shared.incarnations.load(Ordering::Relaxed) }
}

async fn restart_ractor(n: u64) -> RestartRun {
    let shared = Arc::new(Shared::default());
    let (sup, mut slot) = start_ractor_fragile(shared.clone()).await;
    let mut hist = histogram();
    let mut failed = 0;
    let mut last = 1;
    for i in 0..n + n / 10 {
        let t = Instant::now();
        let (_, child) = resolve(&slot);
        child.cast(RactorFragileMsg::Poison).expect("cast poison");
        let (mut generation, mut child) = resolve(&slot);
        loop {
            match child.call(RactorFragileMsg::Ping, Some(ASK_DEADLINE)).await {
                Ok(ractor::rpc::CallResult::Success(inc)) if inc > last => {
                    last = inc;
                    break;
                }
                _ => {
                    // The caller's only way to reach the new incarnation: wait for the
                    // supervisor to publish it, then call again.
                    if i >= n / 10 {
                        failed += 1;
                    }
                    (generation, child) = re_resolve(&mut slot, generation).await;
                }
            }
        }
        if i >= n / 10 {
            hist.record(ns(t.elapsed())).expect("record");
        }
    }
    sup.stop(None);
    RestartRun { hist, failed, incarnations: shared.incarnations.load(Ordering::Relaxed) }
}

async fn restart_kameo(n: u64) -> RestartRun {
    let shared = Arc::new(Shared::default());
    let (sup, child) = start_kameo_fragile(shared.clone()).await;
    let mut hist = histogram();
    let mut failed = 0;
    let mut last = child.ask(KPing).await.expect("first ping");
    for i in 0..n + n / 10 {
        let t = Instant::now();
        child.tell(KPoison).await.expect("tell poison");
        loop {
            match child.ask(KPing).await {
                Ok(inc) if inc > last => {
                    last = inc;
                    break;
                }
                _ => {
                    if i >= n / 10 {
                        failed += 1;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
        if i >= n / 10 {
            hist.record(ns(t.elapsed())).expect("record");
        }
    }
    sup.kill();
    RestartRun { hist, failed, incarnations: shared.incarnations.load(Ordering::Relaxed) }
}

fn restart(o: &Options) {
    install_metrics();
    silence_panics();
    let n = o.restarts;
    let peers = ["ours", "ractor hand-written sup", "kameo supervise"];
    let mut p50s: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut p99s: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut fails: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in 0..o.runs {
        for peer in peers.into_iter().filter(|p| selected(p)) {
            let r = match peer {
                "ours" => on_fresh_runtime(restart_ours(n)),
                "ractor hand-written sup" => on_fresh_runtime(restart_ractor(n)),
                _ => on_fresh_runtime(restart_kameo(n)),
            };
            let (p50, p99) = (r.hist.value_at_quantile(0.5) as f64, r.hist.value_at_quantile(0.99) as f64);
            println!(
                "  run {}: {peer:<24} p50 {:>7.2} µs  p99 {:>7.2} µs  max {:>8.2} µs  failed asks {:>6} ({:.2}/restart)  incarnations {}",
                run + 1,
                p50 / 1e3,
                p99 / 1e3,
                r.hist.max() as f64 / 1e3,
                r.failed,
                r.failed as f64 / n as f64,
                r.incarnations
            );
            p50s.entry(peer).or_default().push(p50 / 1e3);
            p99s.entry(peer).or_default().push(p99 / 1e3);
            fails.entry(peer).or_default().push(r.failed as f64);
        }
    }
    if profiling() {
        return;
    }
    let m = |map: &mut BTreeMap<&str, Vec<f64>>, p: &str| median(map.get_mut(p).expect("peer"));
    println!("\n== restart latency: poison → panic → restart → ask answered through the same handle; {n} restarts ==");
    let mut rows = Vec::new();
    for peer in peers {
        rows.push((peer, m(&mut p50s, peer), m(&mut p99s, peer), m(&mut fails, peer)));
    }
    for (peer, p50, p99, f) in &rows[1..] {
        println!("   peer  {peer:<24} p50 {p50:>7.2} µs  p99 {p99:>7.2} µs  failed asks {f:.0}");
    }
    let (ours, ractor, kameo) = (&rows[0], &rows[1], &rows[2]);
    println!(
        "restart p50: ours {:.2} µs | ractor hand-written {:.2} µs | ratio {:.2}x | kameo {:.2} µs ({:.2}x)",
        ours.1,
        ractor.1,
        ours.1 / ractor.1,
        kameo.1,
        ours.1 / kameo.1
    );
    println!(
        "restart p99: ours {:.2} µs (target < 50 µs: {}) | ractor hand-written {:.2} µs | ratio {:.2}x | kameo {:.2} µs ({:.2}x)",
        ours.2,
        if ours.2 < 50.0 { "meets" } else { "MISSES" },
        ractor.2,
        ours.2 / ractor.2,
        kameo.2,
        ours.2 / kameo.2
    );
    println!(
        "failed asks: ours {:.0} (target 0: {}) | ractor hand-written {:.0} | kameo {:.0}",
        ours.3,
        if ours.3 == 0.0 { "meets" } else { "MISSES" },
        ractor.3,
        kameo.3
    );
}

// ---------------------------------------------------------------------------------------------

/// Result of a loss run.
struct LossRun {
    accepted: u64,
    handled: u64,
    restarts: u64,
    failed_asks: u64,
    secs: f64,
}

impl LossRun {
    /// The counters at the end of a run.
    fn read(shared: &Shared, accepted: &AtomicU64, failed_asks: u64, secs: f64) -> Self {
        Self {
            accepted: accepted.load(Ordering::Relaxed),
            handled: shared.handled.load(Ordering::Relaxed),
            restarts: shared.incarnations.load(Ordering::Relaxed) - 1,
            failed_asks,
            secs,
        }
    }
}

/// Waits until the producer has had `mark` messages accepted.
async fn wait_accepted(accepted: &AtomicU64, mark: u64) {
    while accepted.load(Ordering::Relaxed) < mark {
        tokio::task::yield_now().await;
    }
}

async fn loss_ours(restarts: u64, per: u64) -> LossRun {
    let shared = Arc::new(Shared::default());
    let (root, agent) = start_ours_fragile(shared.clone()).await;
    let accepted = Arc::new(AtomicU64::new(0));
    let total = restarts * per;
    let t = Instant::now();
    let producer = {
        let (agent, accepted) = (agent.clone(), accepted.clone());
        tokio::spawn(async move {
            while accepted.load(Ordering::Relaxed) < total {
                if agent.tell(FragileMsg::Work).await.is_ok() {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mut failed_asks = 0;
    let mut last = 1;
    for i in 1..=restarts {
        // Poisons land in the middle of each `per` messages of the flood.
        wait_accepted(&accepted, i * per - per / 2).await;
        agent.tell(FragileMsg::Poison).await.expect("tell poison");
        loop {
            match agent.call(FragileMsg::Ping).deadline(ASK_DEADLINE).await {
                Ok(inc) if inc > last => {
                    last = inc;
                    break;
                }
                _ => failed_asks += 1,
            }
        }
    }
    producer.await.expect("producer");
    // FIFO: once this is answered, everything accepted before it was handled or lost.
    agent.call(FragileMsg::Ping).deadline(ASK_DEADLINE).await.expect("final ping");
    let secs = t.elapsed().as_secs_f64();
    root.stop().await;
    LossRun::read(&shared, &accepted, failed_asks, secs)
}

async fn loss_ractor(restarts: u64, per: u64) -> LossRun {
    let shared = Arc::new(Shared::default());
    let (sup, mut slot) = start_ractor_fragile(shared.clone()).await;
    let accepted = Arc::new(AtomicU64::new(0));
    let total = restarts * per;
    let t = Instant::now();
    let producer = {
        let (mut slot, shared, accepted) = (slot.clone(), shared.clone(), accepted.clone());
        tokio::spawn(async move {
            // ractor's mailbox is unbounded; to compare like with like the producer keeps at most
            // `PEER_CAPACITY` messages outstanding per incarnation (what our bounded mailbox does).
            let (mut generation, mut child) = resolve(&slot);
            let mut sent = 0u64;
            let mut base = shared.handled.load(Ordering::Relaxed);
            while accepted.load(Ordering::Relaxed) < total {
                if slot.has_changed().unwrap_or(false) {
                    (generation, child) = resolve(&slot);
                    slot.mark_unchanged();
                    (sent, base) = (0, shared.handled.load(Ordering::Relaxed));
                }
                if sent - (shared.handled.load(Ordering::Relaxed) - base) >= PEER_CAPACITY as u64 {
                    tokio::task::yield_now().await;
                    continue;
                }
                if child.cast(RactorFragileMsg::Work).is_ok() {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    sent += 1;
                } else {
                    (generation, child) = re_resolve(&mut slot, generation).await;
                    slot.mark_unchanged();
                    (sent, base) = (0, shared.handled.load(Ordering::Relaxed));
                }
            }
        })
    };
    let mut failed_asks = 0;
    let mut last = 1;
    for i in 1..=restarts {
        // Poisons land in the middle of each `per` messages of the flood.
        wait_accepted(&accepted, i * per - per / 2).await;
        let (_, child) = resolve(&slot);
        child.cast(RactorFragileMsg::Poison).expect("cast poison");
        let (mut generation, mut child) = resolve(&slot);
        loop {
            match child.call(RactorFragileMsg::Ping, Some(ASK_DEADLINE)).await {
                Ok(ractor::rpc::CallResult::Success(inc)) if inc > last => {
                    last = inc;
                    break;
                }
                _ => {
                    failed_asks += 1;
                    (generation, child) = re_resolve(&mut slot, generation).await;
                }
            }
        }
    }
    producer.await.expect("producer");
    let (_, child) = resolve(&slot);
    let _ = child.call(RactorFragileMsg::Ping, Some(ASK_DEADLINE)).await;
    let secs = t.elapsed().as_secs_f64();
    sup.stop(None);
    LossRun::read(&shared, &accepted, failed_asks, secs)
}

async fn loss_kameo(restarts: u64, per: u64) -> LossRun {
    let shared = Arc::new(Shared::default());
    let (sup, child) = start_kameo_fragile(shared.clone()).await;
    let accepted = Arc::new(AtomicU64::new(0));
    let total = restarts * per;
    let t = Instant::now();
    let producer = {
        let (child, accepted) = (child.clone(), accepted.clone());
        tokio::spawn(async move {
            while accepted.load(Ordering::Relaxed) < total {
                if child.tell(KWork).await.is_ok() {
                    accepted.fetch_add(1, Ordering::Relaxed);
                } else {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut failed_asks = 0;
    let mut last = 1;
    for i in 1..=restarts {
        // Poisons land in the middle of each `per` messages of the flood.
        wait_accepted(&accepted, i * per - per / 2).await;
        child.tell(KPoison).await.expect("tell poison");
        loop {
            match child.ask(KPing).await {
                Ok(inc) if inc > last => {
                    last = inc;
                    break;
                }
                _ => {
                    failed_asks += 1;
                    tokio::task::yield_now().await;
                }
            }
        }
    }
    producer.await.expect("producer");
    let _ = child.ask(KPing).await;
    let secs = t.elapsed().as_secs_f64();
    sup.kill();
    LossRun::read(&shared, &accepted, failed_asks, secs)
}

fn loss(o: &Options) {
    install_metrics();
    silence_panics();
    let n = o.loss_restarts;
    let per = o.loss_per_restart;
    let peers = ["ours", "ractor hand-written sup", "kameo supervise"];
    let mut pct: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut lost_abs: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut fails: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in 0..o.runs {
        for peer in peers.into_iter().filter(|p| selected(p)) {
            let r = match peer {
                "ours" => on_fresh_runtime(loss_ours(n, per)),
                "ractor hand-written sup" => on_fresh_runtime(loss_ractor(n, per)),
                _ => on_fresh_runtime(loss_kameo(n, per)),
            };
            let lost = r.accepted.saturating_sub(r.handled);
            let p = lost as f64 * 100.0 / r.accepted.max(1) as f64;
            println!(
                "  run {}: {peer:<24} accepted {:>9}  handled {:>9}  lost {:>7} ({:>6.3} %)  restarts {:>5}  failed asks {:>6}  {:.2} s",
                run + 1,
                r.accepted,
                r.handled,
                lost,
                p,
                r.restarts,
                r.failed_asks,
                r.secs
            );
            pct.entry(peer).or_default().push(p);
            lost_abs.entry(peer).or_default().push(lost as f64);
            fails.entry(peer).or_default().push(r.failed_asks as f64);
        }
    }
    if profiling() {
        return;
    }
    let m = |map: &mut BTreeMap<&str, Vec<f64>>, p: &str| median(map.get_mut(p).expect("peer"));
    let rows: Vec<_> = peers.iter().map(|p| (*p, m(&mut pct, p), m(&mut lost_abs, p), m(&mut fails, p))).collect();
    println!(
        "\n== message loss: a producer floods {} tells (≤ {PEER_CAPACITY} outstanding) while the agent is poisoned {n} times \
         (one poison per {per} messages, then wait for the restart); poison messages are not counted ==",
        n * per
    );
    println!(
        "loss: ours {:.0} lost ({:.3} %, target 0: {}) | ractor hand-written {:.0} lost ({:.2} %, {:.0} per restart) | kameo {:.0} lost ({:.3} %)",
        rows[0].2,
        rows[0].1,
        if rows[0].2 == 0.0 { "meets" } else { "MISSES" },
        rows[1].2,
        rows[1].1,
        rows[1].2 / n as f64,
        rows[2].2,
        rows[2].1
    );
    println!(
        "failed asks during the flood: ours {:.0} | ractor hand-written {:.0} | kameo {:.0}",
        rows[0].3, rows[1].3, rows[2].3
    );
}
