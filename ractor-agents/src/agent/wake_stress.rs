//! Stress test of the wake-up protocol: a sender races the drain that is about to go idle.
//!
//! The sender waits until its previous message was handled and sends the next one at once,
//! which lands right in the window where the drain has found the queue empty but not yet
//! cleared `scheduled`. With the protocol as written (swap, then re-check) every message is
//! handled. With the re-check removed and a plain store (the classic lost-wakeup bug, switched
//! on through `broken_wake_protocol`), a message is stranded: the test proves it can tell.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Agent, AgentFailure, Ctx, spawn};

struct Counting(Arc<AtomicU64>);

impl Agent for Counting {
    type Msg = ();
    async fn handle(&mut self, _ctx: &Ctx<Self>, _msg: ()) -> Result<(), AgentFailure> {
        self.0.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// Sends `rounds` messages one at a time, each right after the previous one was handled.
/// Returns the round at which a message was stranded (not handled within `patience`).
fn first_stranded_round(broken: bool, rounds: u64, patience: Duration) -> Option<u64> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let handled = Arc::new(AtomicU64::new(0));
    let agent = rt.block_on(spawn("stress", Counting(handled.clone()))).expect("spawn");
    agent.mailbox.broken_wake_protocol.store(broken, Ordering::Relaxed);
    let sender = std::thread::spawn(move || {
        for round in 0..rounds {
            agent.try_tell(()).expect("mailbox has room: one message at a time");
            let started = Instant::now();
            while handled.load(Ordering::Acquire) <= round {
                if started.elapsed() > patience {
                    return Some(round);
                }
                std::hint::spin_loop();
            }
        }
        None
    });
    let stranded = sender.join().expect("sender thread");
    rt.shutdown_timeout(Duration::from_secs(1));
    stranded
}

#[test]
fn the_wake_protocol_never_strands_a_message() {
    assert_eq!(first_stranded_round(false, 20_000, Duration::from_secs(5)), None);
}

#[test]
fn the_stress_test_detects_a_drain_that_does_not_recheck_after_clearing_the_flag() {
    let stranded = first_stranded_round(true, 200_000, Duration::from_millis(200));
    assert!(stranded.is_some(), "the broken protocol went unnoticed: the stress test is too weak");
}
