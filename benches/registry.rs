//! The agent registry against a `RwLock<HashMap>` registry doing the same work, with 10,000
//! agents, two threads at once: one measured, the other hammering the registry meanwhile.
//!
//! ```text
//! cargo bench -p ractor-agents-benches --bench registry            # criterion: lookups, updates
//! cargo bench -p ractor-agents-benches --bench registry -- --scenario [--runs 3] [--lookups 1000000]
//! ```
//!
//! * criterion `lookup/<layout>/<peer>`: `best(capability)` on this thread while another thread
//!   sets random loads as fast as it can; `update/<layout>/<peer>`: `set_load` here while
//!   another thread looks up as fast as it can; `lookup-alone` / `update-alone`: the same with
//!   no other thread. At the end the mean time per operation of each pair and their ratio are
//!   printed (warm-up included).
//! * `--scenario`: find-by-capability latency percentiles (hdrhistogram, each lookup timed
//!   with `Instant`, ~20 ns of clock included) while another thread updates loads; the median
//!   of `--runs` runs (each at most 10 s: a slow peer records fewer lookups, the count is
//!   printed), with the updater's rate, and the ratio of the peer's p99 to ours.
//!
//! Layouts: `spread` (10,000 agents over 100 capabilities, lookups of a random one) and
//! `one` (all 10,000 in one capability). Max concurrency 4, loads random in 0..=4, so some
//! agents are `Busy`.

mod registry_peer;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use hdrhistogram::Histogram;
use ractor_agents::registry::{AgentRegistry, Capabilities, Registration};

use registry_peer::RwLockRegistry;

const AGENTS: usize = 10_000;
const MAX_CONCURRENCY: u32 = 4;
const LAYOUTS: [&str; 2] = ["spread", "one"];
const PEERS: [&str; 2] = ["ours", "rwlock"];

/// What both registries do here.
trait Subject: Send + Sync + 'static {
    fn best(&self, capability: &str) -> bool;
    fn set_load(&self, id: &str, load: u32);
}

impl Subject for AgentRegistry {
    fn best(&self, capability: &str) -> bool {
        black_box(AgentRegistry::best(self, capability)).is_some()
    }
    fn set_load(&self, id: &str, load: u32) {
        let _ = AgentRegistry::set_load(self, id, load);
    }
}

impl Subject for RwLockRegistry {
    fn best(&self, capability: &str) -> bool {
        black_box(RwLockRegistry::best(self, capability)).is_some()
    }
    fn set_load(&self, id: &str, load: u32) {
        RwLockRegistry::set_load(self, id, load);
    }
}

/// Ids and capability names, built once so the measured loops allocate nothing.
struct Workload {
    ids: Vec<String>,
    capabilities: Vec<String>,
}

impl Workload {
    fn new(layout: &str) -> Self {
        let groups = if layout == "spread" { 100 } else { 1 };
        Self {
            ids: (0..AGENTS).map(|n| format!("agent-{n}")).collect(),
            capabilities: (0..groups).map(|n| format!("cap-{n}")).collect(),
        }
    }

    fn capability_of(&self, agent: usize) -> &str {
        &self.capabilities[agent % self.capabilities.len()]
    }

    fn build(&self, peer: &str) -> Arc<dyn Subject> {
        if peer == "ours" {
            let registry = AgentRegistry::new();
            for (n, id) in self.ids.iter().enumerate() {
                let caps = Capabilities::new().tag(self.capability_of(n));
                let registration = Registration::new(id.as_str(), "Worker").capabilities(caps);
                registry.register(registration.max_concurrency(MAX_CONCURRENCY)).expect("fresh id");
            }
            Arc::new(registry)
        } else {
            let registry = RwLockRegistry::default();
            for (n, id) in self.ids.iter().enumerate() {
                registry.register(id, "Worker", &[self.capability_of(n)], MAX_CONCURRENCY);
            }
            Arc::new(registry)
        }
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn random_load(state: &mut u64) -> u32 {
    (xorshift(state) % u64::from(MAX_CONCURRENCY + 1)) as u32
}

fn random_index(state: &mut u64, n: usize) -> usize {
    (xorshift(state) % n as u64) as usize
}

/// A thread repeating `op` until `finish`, which answers how many times it ran.
struct Background {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<u64>,
}

impl Background {
    /// Returns once the thread has run `op` at least once, so a measurement never starts
    /// before its background load does.
    fn start(mut op: impl FnMut(&mut u64) + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicBool::new(false));
        let (flag, started) = (stop.clone(), running.clone());
        let handle = thread::spawn(move || {
            let (mut rng, mut ops) = (0x9E37_79B9_7F4A_7C15u64, 0u64);
            while !flag.load(Ordering::Relaxed) {
                op(&mut rng);
                ops += 1;
                if ops == 1 {
                    started.store(true, Ordering::Release);
                }
            }
            ops
        });
        while !running.load(Ordering::Acquire) {
            thread::yield_now();
        }
        Self { stop, handle }
    }

    fn updates(subject: Arc<dyn Subject>, workload: Arc<Workload>) -> Self {
        Self::start(move |rng| {
            let agent = random_index(rng, workload.ids.len());
            subject.set_load(&workload.ids[agent], random_load(rng));
        })
    }

    fn lookups(subject: Arc<dyn Subject>, workload: Arc<Workload>) -> Self {
        Self::start(move |rng| {
            let capability = random_index(rng, workload.capabilities.len());
            subject.best(&workload.capabilities[capability]);
        })
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("background thread")
    }
}

/// Mean ns per operation of every criterion benchmark, over all its iterations.
static MEANS: Mutex<BTreeMap<String, (Duration, u64)>> = Mutex::new(BTreeMap::new());

fn record(name: &str, elapsed: Duration, iters: u64) {
    let mut means = MEANS.lock().expect("not poisoned");
    let entry = means.entry(name.to_owned()).or_default();
    entry.0 += elapsed;
    entry.1 += iters;
}

fn criterion_benches(c: &mut Criterion) {
    let modes = [
        ("lookup", true, true),
        ("update", false, true),
        ("lookup-alone", true, false),
        ("update-alone", false, false),
    ];
    for (what, measured_lookups, busy) in modes {
        let mut group = c.benchmark_group(what);
        group.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
        for layout in LAYOUTS {
            let workload = Arc::new(Workload::new(layout));
            for peer in PEERS {
                let subject = workload.build(peer);
                let other = match (busy, measured_lookups) {
                    (false, _) => None,
                    (true, true) => Some(Background::updates(subject.clone(), workload.clone())),
                    (true, false) => Some(Background::lookups(subject.clone(), workload.clone())),
                };
                let name = format!("{what}/{layout}/{peer}");
                group.bench_function(BenchmarkId::new(layout, peer), |b| {
                    b.iter_custom(|iters| {
                        let mut rng = 0x2545_F491_4F6C_DD1Du64;
                        let start = Instant::now();
                        for _ in 0..iters {
                            if measured_lookups {
                                let capability = random_index(&mut rng, workload.capabilities.len());
                                subject.best(&workload.capabilities[capability]);
                            } else {
                                let agent = random_index(&mut rng, workload.ids.len());
                                subject.set_load(&workload.ids[agent], random_load(&mut rng));
                            }
                        }
                        let elapsed = start.elapsed();
                        record(&name, elapsed, iters);
                        elapsed
                    })
                });
                other.map(Background::finish);
            }
        }
        group.finish();
    }
}

fn print_ratios() {
    let means = MEANS.lock().expect("not poisoned");
    let mean = |name: &str| means.get(name).map(|(t, n)| t.as_nanos() as f64 / (*n).max(1) as f64);
    println!("\nmean ns per operation (all iterations); `-alone`: no other thread, else the other");
    println!("thread updates (under `lookup`) or looks up (under `update`) as fast as it can:");
    println!("{:<24} {:>12} {:>12} {:>14}", "benchmark", "ours", "rwlock", "rwlock / ours");
    for what in ["lookup", "update", "lookup-alone", "update-alone"] {
        for layout in LAYOUTS {
            let (ours, peer) = (mean(&format!("{what}/{layout}/ours")), mean(&format!("{what}/{layout}/rwlock")));
            if let (Some(ours), Some(peer)) = (ours, peer) {
                println!("{:<24} {ours:>12.1} {peer:>12.1} {:>13.2}x", format!("{what}/{layout}"), peer / ours);
            }
        }
    }
}

struct ScenarioOptions {
    runs: usize,
    lookups: u64,
}

fn scenario_options(args: &[String]) -> ScenarioOptions {
    let mut options = ScenarioOptions { runs: 3, lookups: 1_000_000 };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value =
            || args.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| panic!("{arg} needs a number"));
        match arg.as_str() {
            "--runs" => options.runs = value() as usize,
            "--lookups" => options.lookups = value(),
            _ => {}
        }
    }
    options
}

/// How long one run may take at most; a slow peer records fewer lookups (printed).
const RUN_LIMIT: Duration = Duration::from_secs(10);

/// One run: percentiles of `lookups` timed lookups (fewer if [`RUN_LIMIT`] passes first)
/// while another thread updates loads; also the updater's rate.
fn scenario_run(subject: Arc<dyn Subject>, workload: Arc<Workload>, lookups: u64) -> (Histogram<u64>, f64) {
    let updater = Background::updates(subject.clone(), workload.clone());
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let lookup = |rng: &mut u64| {
        let capability = &workload.capabilities[random_index(rng, workload.capabilities.len())];
        let t = Instant::now();
        subject.best(capability);
        t.elapsed().as_nanos() as u64
    };
    let started = Instant::now();
    // Warm-up: a tenth of the lookups, or one second for a slow peer.
    for _ in 0..lookups / 10 {
        if started.elapsed() > Duration::from_secs(1) {
            break;
        }
        lookup(&mut rng);
    }
    let measured = Instant::now();
    for n in 0..lookups {
        if n % 256 == 0 && measured.elapsed() > RUN_LIMIT {
            break;
        }
        histogram.record(lookup(&mut rng).max(1)).expect("in bounds");
    }
    let seconds = started.elapsed().as_secs_f64();
    let updates = updater.finish();
    (histogram, updates as f64 / seconds)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn scenario(args: &[String]) {
    let options = scenario_options(args);
    println!("find-by-capability latency with {AGENTS} agents while another thread updates loads");
    println!(
        "(median of {} runs; {} timed lookups per run after a tenth more as warm-up)\n",
        options.runs, options.lookups
    );
    println!(
        "{:<8} {:<7} {:>9} {:>9} {:>10} {:>10} {:>14} {:>9}",
        "layout", "peer", "p50 ns", "p99 ns", "p99.9 ns", "max ns", "updates/s", "lookups"
    );
    for layout in LAYOUTS {
        let workload = Arc::new(Workload::new(layout));
        let mut p99 = BTreeMap::new();
        for peer in PEERS {
            let mut rows: Vec<[f64; 6]> = Vec::new();
            for _ in 0..options.runs {
                let subject = workload.build(peer);
                let (h, rate) = scenario_run(subject, workload.clone(), options.lookups);
                rows.push([
                    h.value_at_quantile(0.5) as f64,
                    h.value_at_quantile(0.99) as f64,
                    h.value_at_quantile(0.999) as f64,
                    h.max() as f64,
                    rate,
                    h.len() as f64,
                ]);
            }
            let col = |i: usize| median(rows.iter().map(|r| r[i]).collect());
            println!(
                "{layout:<8} {peer:<7} {:>9.0} {:>9.0} {:>10.0} {:>10.0} {:>14.0} {:>9.0}",
                col(0),
                col(1),
                col(2),
                col(3),
                col(4),
                col(5)
            );
            let runs: Vec<_> = rows.iter().map(|r| format!("{:.0}", r[1])).collect();
            println!("{:<17}p99 per run: {}", "", runs.join(", "));
            p99.insert(peer, col(1));
        }
        println!("{layout:<8} p99 ratio rwlock / ours: {:.1}x\n", p99["rwlock"] / p99["ours"]);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--scenario") {
        scenario(&args);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
    print_ratios();
}
