//! The degradation controller: hysteresis, worst-signal-wins, features, watch/metrics/health,
//! and reduced-functionality mode driven by a circuit breaker. Time is a `ManualClock`; no test
//! sleeps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_util::debugging::DebugValue;
use ractor_agents::resilience::breaker::{CircuitBreaker, CircuitState};
use ractor_agents::resilience::clock::ManualClock;
use ractor_agents::resilience::degradation::{
    Degradation, DegradationBuilder, DegradationError, Level, Levels, NumberKind, SignalValue, Threshold,
};

mod support;

use support::metrics::recorder;

const ESCALATE: Duration = Duration::from_secs(5);
const RECOVER: Duration = Duration::from_secs(30);

/// A level a test sets by hand, read by a custom signal.
#[derive(Clone, Default)]
struct Demand(Arc<AtomicUsize>);

impl Demand {
    fn set(&self, level: Level) {
        self.0.store(level.index(), Ordering::SeqCst);
    }
    fn reader(&self) -> impl Fn() -> Level + Send + Sync + 'static {
        let cell = self.0.clone();
        move || Level::at(cell.load(Ordering::SeqCst))
    }
}

/// A number a test sets by hand (f64 bits), read by a numeric signal.
#[derive(Clone, Default)]
struct Reading(Arc<AtomicU64>);

impl Reading {
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::SeqCst);
    }
    fn reader(&self) -> impl Fn() -> f64 + Send + Sync + 'static {
        let cell = self.0.clone();
        move || f64::from_bits(cell.load(Ordering::SeqCst))
    }
}

fn controller(name: &str, clock: &ManualClock) -> DegradationBuilder {
    Degradation::builder(name).escalate_after(ESCALATE).recover_after(RECOVER).clock(clock.clone())
}

/// Evaluates now (so the current demand is seen from this instant), then advances `by` in 1 s
/// evaluations; returns the level after each of those.
fn run_for(degradation: &Degradation, clock: &ManualClock, by: Duration) -> Vec<Level> {
    degradation.evaluate();
    let mut seen = Vec::new();
    for _ in 0..by.as_secs() {
        clock.advance(Duration::from_secs(1));
        seen.push(degradation.evaluate());
    }
    seen
}

#[test]
fn a_worse_demand_escalates_only_after_it_held_for_escalate_after() {
    let clock = ManualClock::new();
    let demand = Demand::default();
    let d = controller("escalate-hold", &clock).custom_signal("load", demand.reader()).build().unwrap();
    assert_eq!(d.hold_times().escalate_after, ESCALATE);
    demand.set(Level::DEGRADED);
    assert!(run_for(&d, &clock, ESCALATE - Duration::from_secs(1)).iter().all(|l| *l == Level::NORMAL));
    assert_eq!(run_for(&d, &clock, Duration::from_secs(1)), [Level::DEGRADED]);
}

#[test]
fn a_signal_oscillating_faster_than_the_hold_times_never_moves_the_level() {
    let clock = ManualClock::new();
    let demand = Demand::default();
    let d = controller("oscillating", &clock).custom_signal("flappy", demand.reader()).build().unwrap();
    // Unhealthy 4 s, healthy 1 s, for two minutes: never 5 s in a row.
    for _ in 0..24 {
        demand.set(Level::MINIMAL);
        assert!(run_for(&d, &clock, Duration::from_secs(4)).iter().all(|l| *l == Level::NORMAL));
        demand.set(Level::NORMAL);
        assert!(run_for(&d, &clock, Duration::from_secs(1)).iter().all(|l| *l == Level::NORMAL));
    }
    // Once degraded, a better demand that keeps coming back worse never recovers it either.
    demand.set(Level::DEGRADED);
    run_for(&d, &clock, ESCALATE);
    assert_eq!(d.level(), Level::DEGRADED);
    for _ in 0..10 {
        demand.set(Level::NORMAL);
        assert!(run_for(&d, &clock, Duration::from_secs(20)).iter().all(|l| *l == Level::DEGRADED));
        demand.set(Level::DEGRADED);
        assert!(run_for(&d, &clock, Duration::from_secs(1)).iter().all(|l| *l == Level::DEGRADED));
    }
}

#[test]
fn recovery_goes_down_one_level_per_recover_after() {
    let clock = ManualClock::new();
    let demand = Demand::default();
    let d = controller("one-step", &clock).custom_signal("load", demand.reader()).build().unwrap();
    demand.set(Level::MINIMAL);
    run_for(&d, &clock, ESCALATE);
    assert_eq!(d.level(), Level::MINIMAL);

    demand.set(Level::NORMAL);
    let seen = run_for(&d, &clock, RECOVER * 2);
    let first_step = seen.iter().position(|l| *l == Level::DEGRADED).unwrap();
    assert_eq!(first_step, 29, "the first step comes after 30 s of healthy readings");
    assert!(seen[..first_step].iter().all(|l| *l == Level::MINIMAL));
    assert!(seen[first_step..59].iter().all(|l| *l == Level::DEGRADED), "no second step before another 30 s");
    assert_eq!(seen[59], Level::NORMAL);
}

#[test]
fn escalation_goes_to_the_level_demanded_throughout_the_hold_not_to_a_brief_peak() {
    let clock = ManualClock::new();
    let demand = Demand::default();
    let d = controller("peak", &clock).custom_signal("load", demand.reader()).build().unwrap();
    demand.set(Level::DEGRADED);
    run_for(&d, &clock, Duration::from_secs(3));
    demand.set(Level::MINIMAL);
    assert_eq!(run_for(&d, &clock, Duration::from_secs(2)).last(), Some(&Level::DEGRADED));
    // The wait for minimal restarts at the step to degraded: 5 s more above degraded.
    assert!(run_for(&d, &clock, Duration::from_secs(4)).iter().all(|l| *l == Level::DEGRADED));
    assert_eq!(run_for(&d, &clock, Duration::from_secs(1)), [Level::MINIMAL]);
}

#[test]
fn the_worst_signal_wins() {
    let clock = ManualClock::new();
    let (calm, angry) = (Demand::default(), Demand::default());
    let d = controller("worst", &clock)
        .escalate_after(Duration::ZERO)
        .custom_signal("calm", calm.reader())
        .custom_signal("angry", angry.reader())
        .build()
        .unwrap();
    calm.set(Level::DEGRADED);
    angry.set(Level::MINIMAL);
    assert_eq!(d.evaluate(), Level::MINIMAL);
    assert_eq!(d.health().demanded, Level::MINIMAL);
}

#[test]
fn a_numeric_threshold_enters_at_its_enter_value_and_leaves_only_below_its_exit_value() {
    let clock = ManualClock::new();
    let depth = Reading::default();
    let d = controller("queue", &clock)
        .escalate_after(Duration::ZERO)
        .recover_after(Duration::ZERO)
        .queue_depth_signal(
            "inbox",
            depth.reader(),
            [Threshold::at(1000.0, Level::DEGRADED).exit_below(600.0), Threshold::at(5000.0, Level::MINIMAL)],
        )
        .build()
        .unwrap();
    for (value, expected) in [
        (999.0, Level::NORMAL),
        (1000.0, Level::DEGRADED),
        (700.0, Level::DEGRADED), // inside the band: still degraded
        (5000.0, Level::MINIMAL),
        (4999.0, Level::DEGRADED),
        (600.0, Level::DEGRADED), // exit is "below 600"
        (599.0, Level::NORMAL),
        (900.0, Level::NORMAL), // inside the band from below: still normal
    ] {
        depth.set(value);
        assert_eq!(d.evaluate(), expected, "queue depth {value}");
    }
}

#[test]
fn features_are_on_up_to_the_level_they_were_registered_with() {
    let clock = ManualClock::new();
    let demand = Demand::default();
    let d = controller("features", &clock)
        .escalate_after(Duration::ZERO)
        .recover_after(Duration::ZERO)
        .custom_signal("load", demand.reader())
        .feature("embeddings", Level::NORMAL)
        .feature("summaries", Level::DEGRADED)
        .feature("answers", Level::MINIMAL)
        .build()
        .unwrap();
    let on = |d: &Degradation| ["embeddings", "summaries", "answers"].map(|f| d.is_enabled(f));
    assert_eq!(on(&d), [true, true, true]);
    demand.set(Level::DEGRADED);
    d.evaluate();
    assert_eq!(on(&d), [false, true, true]);
    demand.set(Level::MINIMAL);
    d.evaluate();
    assert_eq!(on(&d), [false, false, true]);
    assert!(!d.is_enabled("embedings"), "an unregistered (misspelt) feature is off");
}

#[test]
fn user_defined_levels_are_used_by_name_and_order() {
    let clock = ManualClock::new();
    let demand = Demand::default();
    let levels = Levels::new(["full", "no-llm", "read-only", "maintenance"]).unwrap();
    let read_only = levels.named("read-only").unwrap();
    let d = controller("custom-levels", &clock)
        .levels(levels)
        .escalate_after(Duration::ZERO)
        .custom_signal("ops", demand.reader())
        .feature("writes", Level::at(1))
        .build()
        .unwrap();
    demand.set(read_only);
    assert_eq!(d.evaluate(), read_only);
    assert_eq!(d.level_name(), "read-only");
    assert!(!d.is_enabled("writes"));
    demand.set(Level::at(9)); // more than the controller has: clamped to the worst
    assert_eq!(d.evaluate(), Level::at(3));
}

#[test]
fn an_invalid_configuration_is_refused_with_what_to_fix() {
    let clock = ManualClock::new();
    assert_eq!(Levels::new(Vec::<String>::new()), Err(DegradationError::NoLevels));
    assert_eq!(Levels::new(["a", "b", "a"]), Err(DegradationError::DuplicateLevel("a".into())));
    let unknown = controller("bad-feature", &clock).feature("x", Level::at(3)).build().unwrap_err();
    assert_eq!(unknown, DegradationError::UnknownLevel { index: 3, levels: 3 });
    let inverted = controller("bad-band", &clock)
        .error_rate_signal("errors", || 0.0, [Threshold::at(0.2, Level::DEGRADED).exit_below(0.5)])
        .build()
        .unwrap_err();
    assert!(matches!(inverted, DegradationError::ExitAboveEnter { .. }));
    assert!(inverted.to_string().contains("set exit <= enter"));
    let twice = controller("twice", &clock).custom_signal("s", || Level::NORMAL).custom_signal("s", || Level::NORMAL);
    assert_eq!(twice.build().unwrap_err(), DegradationError::DuplicateSignal("s".into()));
    let no_runtime = controller("no-runtime", &clock).evaluate_every(Duration::from_secs(1)).build().unwrap_err();
    assert_eq!(no_runtime, DegradationError::NoRuntime);
}

#[tokio::test(flavor = "current_thread")]
async fn level_changes_are_sent_to_watchers_in_order() {
    let clock = ManualClock::new();
    let demand = Demand::default();
    let d = controller("watched", &clock).custom_signal("load", demand.reader()).build().unwrap();
    let mut changes = d.subscribe();
    assert_eq!(*changes.borrow_and_update(), Level::NORMAL);
    demand.set(Level::DEGRADED);
    run_for(&d, &clock, ESCALATE);
    assert!(changes.has_changed().unwrap());
    assert_eq!(*changes.borrow_and_update(), Level::DEGRADED);
    run_for(&d, &clock, Duration::from_secs(60));
    assert!(!changes.has_changed().unwrap(), "no change while the demand holds");
    demand.set(Level::NORMAL);
    run_for(&d, &clock, RECOVER);
    assert_eq!(*changes.borrow_and_update(), Level::NORMAL);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_interval_task_evaluates_by_itself_and_ends_when_the_controller_is_dropped() {
    let clock = ManualClock::new();
    let demand = Demand::default();
    let reads = Arc::new(AtomicUsize::new(0));
    let counted = {
        let (reads, demand) = (reads.clone(), demand.reader());
        move || {
            reads.fetch_add(1, Ordering::SeqCst);
            demand()
        }
    };
    let d = controller("ticking", &clock)
        .escalate_after(Duration::ZERO)
        .custom_signal("load", counted)
        .evaluate_every(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut changes = d.subscribe();
    demand.set(Level::MINIMAL);
    // Paused tokio time auto-advances while the test waits, so this waits for the task's tick.
    tokio::time::timeout(Duration::from_secs(60), changes.changed()).await.unwrap().unwrap();
    assert_eq!(d.level(), Level::MINIMAL);

    drop(d);
    assert!(changes.changed().await.is_err(), "the sender went away with the controller");
    let after_drop = reads.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await; // paused clock: no real waiting
    assert_eq!(reads.load(Ordering::SeqCst), after_drop, "no evaluation after the controller was dropped");
}

/// The level gauge and the transition counters of `controller`.
fn metrics_of(controller: &str) -> (Option<f64>, HashMap<String, u64>) {
    let (mut gauge, mut transitions) = (None, HashMap::new());
    for (key, _, _, value) in recorder().snapshot().into_vec() {
        let key = key.key();
        let label = |k: &str| key.labels().find(|l| l.key() == k).map(|l| l.value().to_owned());
        if label("controller").as_deref() != Some(controller) {
            continue;
        }
        match value {
            DebugValue::Gauge(v) if key.name() == "ractor_agents_degradation_level" => gauge = Some(v.into_inner()),
            DebugValue::Counter(n) if key.name() == "ractor_agents_degradation_transitions_total" => {
                transitions.insert(label("direction").expect("transitions carry a direction"), n);
            }
            _ => {}
        }
    }
    (gauge, transitions)
}

#[test]
fn the_level_is_a_gauge_and_transitions_are_counted_by_direction() {
    recorder();
    let clock = ManualClock::new();
    let demand = Demand::default();
    let d = controller("metered", &clock)
        .escalate_after(Duration::ZERO)
        .recover_after(Duration::ZERO)
        .custom_signal("load", demand.reader())
        .build()
        .unwrap();
    demand.set(Level::MINIMAL);
    d.evaluate();
    // A snapshot drains the debugging recorder's counters, so each read sees the new counts.
    let (gauge, transitions) = metrics_of("metered");
    assert_eq!(gauge, Some(2.0));
    assert_eq!(transitions.get("escalate"), Some(&1));
    demand.set(Level::NORMAL);
    d.evaluate();
    d.evaluate();
    let (gauge, transitions) = metrics_of("metered");
    assert_eq!(gauge, Some(0.0));
    assert_eq!(transitions.get("recover"), Some(&2));
}

#[test]
fn health_shows_the_level_and_each_signals_demand_and_value() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("db").clock(clock.clone()).build().unwrap();
    let errors = Reading::default();
    let d = controller("healthy", &clock)
        .escalate_after(Duration::ZERO)
        .breaker_signal("db-breaker", &breaker, Level::MINIMAL)
        .error_rate_signal("errors", errors.reader(), [Threshold::at(0.25, Level::DEGRADED)])
        .build()
        .unwrap();
    breaker.isolate();
    errors.set(0.5);
    d.evaluate();
    let health = d.health();
    assert_eq!((health.level, health.level_name.as_str()), (Level::MINIMAL, "minimal"));
    assert_eq!(health.signals.len(), 2);
    assert_eq!(health.signals[0].demands, Level::MINIMAL);
    assert_eq!(health.signals[0].value, SignalValue::Breaker { state: CircuitState::Isolated });
    assert_eq!(health.signals[1].demands, Level::DEGRADED);
    assert_eq!(health.signals[1].value, SignalValue::Number { kind: NumberKind::ErrorRate, value: 0.5 });
    let json = serde_json::to_value(&health).unwrap();
    assert_eq!(json["level_name"], "minimal");
    assert_eq!(json["signals"][0]["value"]["state"], "isolated");
    assert_eq!(json["signals"][1]["value"]["measures"], "error_rate");
}

/// Reduced-functionality mode's capability policy: strict at normal, relaxed while degraded.
#[derive(Debug, PartialEq)]
enum CapabilityMatch {
    Strict,
    Relaxed { fallback: &'static str },
}

impl CapabilityMatch {
    fn for_level(degradation: &Degradation) -> Self {
        if degradation.level() >= Level::DEGRADED { Self::Relaxed { fallback: "general" } } else { Self::Strict }
    }

    /// The agents (by name) that may take a task wanting `capability`.
    fn candidates<'a>(&self, agents: &[(&'a str, &[&str])], capability: &str) -> Vec<&'a str> {
        let accepts = |c: &&str| *c == capability || matches!(self, Self::Relaxed { fallback } if c == fallback);
        agents.iter().filter(|(_, caps)| caps.iter().any(accepts)).map(|(name, _)| *name).collect()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn reduced_mode_is_entered_when_a_breaker_opens_and_left_after_it_closes() {
    use ractor_agents::resilience::breaker::{BreakDuration, SlidingWindow};
    let clock = ManualClock::new();
    let llm = CircuitBreaker::builder("llm")
        .window(SlidingWindow::Count(4))
        .minimum_calls(4)
        .break_duration(BreakDuration::Fixed(Duration::from_secs(10)))
        .half_open(1, 1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let d = controller("reduced", &clock)
        .breaker_signal("llm-breaker", &llm, Level::DEGRADED)
        .feature("llm-summaries", Level::NORMAL)
        .feature("keyword-search", Level::DEGRADED)
        .build()
        .unwrap();
    let agents: [(&str, &[&str]); 2] = [("summarizer", &["summarize"]), ("generalist", &["general"])];
    assert_eq!(CapabilityMatch::for_level(&d).candidates(&agents, "summarize"), ["summarizer"]);

    for _ in 0..4 {
        let _ = llm.call(|| async { Err::<(), _>("503") }).await;
    }
    assert_eq!(llm.state(), CircuitState::Open);
    let seen = run_for(&d, &clock, ESCALATE);
    assert_eq!(seen.last(), Some(&Level::DEGRADED));
    assert!(!d.is_enabled("llm-summaries") && d.is_enabled("keyword-search"));
    assert_eq!(
        CapabilityMatch::for_level(&d).candidates(&agents, "summarize"),
        ["summarizer", "generalist"],
        "relaxed matching also accepts the fallback capability"
    );

    // The break ends; one probe succeeds and closes the breaker. The mode stays until the
    // healthy reading has held for recover_after.
    run_for(&d, &clock, Duration::from_secs(5));
    assert_eq!(llm.call(|| async { Ok::<_, &str>(()) }).await.ok(), Some(()));
    assert_eq!(llm.state(), CircuitState::Closed);
    assert!(run_for(&d, &clock, RECOVER - Duration::from_secs(1)).iter().all(|l| *l == Level::DEGRADED));
    assert_eq!(run_for(&d, &clock, Duration::from_secs(1)), [Level::NORMAL]);
    assert!(d.is_enabled("llm-summaries"));
    assert_eq!(CapabilityMatch::for_level(&d), CapabilityMatch::Strict);
}

#[test]
fn a_signal_may_read_its_own_controllers_health_without_deadlocking() {
    let clock = ManualClock::new();
    let slot: Arc<OnceLock<Degradation>> = Arc::new(OnceLock::new());
    let seen_from_inside: Arc<AtomicUsize> = Arc::new(AtomicUsize::new(usize::MAX));
    let (reader, seen) = (slot.clone(), seen_from_inside.clone());
    let degradation = controller("introspective", &clock)
        .custom_signal("self-aware", move || {
            // A signal that looks at the controller's last verdict (a health endpoint would).
            if let Some(d) = reader.get() {
                seen.store(d.health().level.index(), Ordering::SeqCst);
            }
            Level::DEGRADED
        })
        .build()
        .unwrap();
    assert!(slot.set(degradation.clone()).is_ok());
    run_for(&degradation, &clock, ESCALATE);
    assert_eq!(degradation.level(), Level::DEGRADED);
    assert_eq!(seen_from_inside.load(Ordering::SeqCst), Level::NORMAL.index(), "the level before the last step");
}
