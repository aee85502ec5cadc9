//! Overhead per call of the composed resilience stack (rate limit → bulkhead → retry →
//! timeout) around a no-op future, against the bare future, in the same run.
//!
//! ```text
//! cargo bench -p ractor-agents-benches --bench policies
//! ```
//!
//! * `bare`: `async { Ok(n) }` awaited directly.
//! * `wrappers`: the same future through the policies' async wrappers.
//! * `tower`: the same as `tower` layers around a `service_fn` (each layer boxes its future).
//! * `rate-limit`, `bulkhead`, `retry`, `timeout`: each wrapper alone around the same future.
//! * `tower-bare`: the `service_fn` alone, called through `ready().await` + `call`.
//!
//! Every call succeeds, the limiter's rate is far above the call rate and the bulkhead never
//! fills, so this is the policies' bookkeeping alone: a GCRA compare-and-swap, a semaphore
//! permit, a timer registration, a budget deposit. All iterations of a sample run in one
//! `block_on` on a current-thread tokio runtime. The mean times per call and their ratios are
//! printed at the end.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::Criterion;
use ractor_agents::resilience::{
    Bulkhead, BulkheadLayer, BulkheadRejected, Elapsed, RateLimitLayer, RateLimiter, Retry, RetryClass, RetryLayer,
    Timeout, TimeoutLayer,
};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    TimedOut(#[from] Elapsed),
    #[error(transparent)]
    Rejected(#[from] BulkheadRejected),
}

fn classify(error: &CallError) -> RetryClass {
    match error {
        CallError::TimedOut(_) => RetryClass::Retryable,
        CallError::Rejected(_) => RetryClass::Permanent,
    }
}

struct Stack {
    limiter: RateLimiter,
    bulkhead: Bulkhead,
    retry: Retry,
    timeout: Timeout,
}

impl Stack {
    fn new() -> Self {
        Self {
            limiter: RateLimiter::new("bench", 1_000_000_000, Duration::from_secs(1), 1_000_000),
            bulkhead: Bulkhead::new("bench", 1024, 1024),
            retry: Retry::new("bench").max_attempts(3).seed(1),
            timeout: Timeout::new("bench", Duration::from_secs(5)),
        }
    }

    async fn call(&self, n: u64) -> Result<u64, CallError> {
        self.limiter
            .run(self.bulkhead.run(self.retry.run_classified(classify, || self.timeout.run(async move { Ok(n) }))))
            .await
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a current-thread runtime")
}

fn per_call(total: Duration, iters: u64) -> f64 {
    total.as_nanos() as f64 / iters.max(1) as f64
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let means: Mutex<BTreeMap<&str, (Duration, u64)>> = Mutex::default();
    let record = |name: &'static str, took: Duration, iters: u64| {
        let mut means = means.lock().expect("not poisoned");
        let entry = means.entry(name).or_default();
        entry.0 += took;
        entry.1 += iters;
    };
    let rt = runtime();
    let mut group = criterion.benchmark_group("policies");

    group.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            let took = rt.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    black_box(async move { Ok::<u64, CallError>(black_box(n)) }.await.ok());
                }
                start.elapsed()
            });
            record("bare", took, iters);
            took
        })
    });

    let stack = Stack::new();
    group.bench_function("wrappers", |b| {
        b.iter_custom(|iters| {
            let took = rt.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    black_box(stack.call(black_box(n)).await.ok());
                }
                start.elapsed()
            });
            record("wrappers", took, iters);
            took
        })
    });

    // Each policy alone, to see where the stack's cost goes.
    let single = Stack::new();
    macro_rules! alone {
        ($name:literal, $n:ident => $call:expr) => {
            group.bench_function($name, |b| {
                b.iter_custom(|iters| {
                    let took = rt.block_on(async {
                        let start = Instant::now();
                        for $n in 0..iters {
                            black_box($call.await.ok());
                        }
                        start.elapsed()
                    });
                    record($name, took, iters);
                    took
                })
            });
        };
    }
    alone!("rate-limit", n => single.limiter.run(async move { Ok::<u64, CallError>(black_box(n)) }));
    alone!("bulkhead", n => single.bulkhead.run(async move { Ok::<u64, CallError>(black_box(n)) }));
    alone!("retry", n => single.retry.run_classified(classify, || async move { Ok::<u64, CallError>(black_box(n)) }));
    alone!("timeout", n => single.timeout.run(async move { Ok::<u64, CallError>(black_box(n)) }));

    let noop = service_fn(|n: u64| async move { Ok::<u64, CallError>(n) });
    group.bench_function("tower-bare", |b| {
        let mut service = noop;
        b.iter_custom(|iters| {
            let took = rt.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    let ready = service.ready().await.expect("a service_fn is always ready");
                    black_box(ready.call(black_box(n)).await.ok());
                }
                start.elapsed()
            });
            record("tower-bare", took, iters);
            took
        })
    });

    group.bench_function("tower", |b| {
        let stack = Stack::new();
        // Built inside the runtime: the rate limit layer's timer needs it.
        let mut service = rt.block_on(async {
            ServiceBuilder::new()
                .layer(RateLimitLayer::new(stack.limiter))
                .layer(BulkheadLayer::new(stack.bulkhead))
                .layer(RetryLayer::new(stack.retry))
                .layer(TimeoutLayer::new(stack.timeout))
                .service(noop)
        });
        b.iter_custom(|iters| {
            let took = rt.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    let ready = service.ready().await.expect("the stack is always ready here");
                    black_box(ready.call(black_box(n)).await.ok());
                }
                start.elapsed()
            });
            record("tower", took, iters);
            took
        })
    });
    group.finish();
    criterion.final_summary();

    let means = means.into_inner().expect("not poisoned");
    let mean = |name: &str| means.get(name).map_or(f64::NAN, |(took, iters)| per_call(*took, *iters));
    println!("mean per call (warm-up included):");
    for name in ["bare", "rate-limit", "bulkhead", "retry", "timeout", "wrappers", "tower-bare", "tower"] {
        println!("  {name:<10} {:>8.1} ns", mean(name));
    }
    println!(
        "wrappers: +{:.1} ns per call ({:.1}x the bare future); tower: +{:.1} ns per call ({:.1}x the bare service)",
        mean("wrappers") - mean("bare"),
        mean("wrappers") / mean("bare"),
        mean("tower") - mean("tower-bare"),
        mean("tower") / mean("tower-bare"),
    );
}
