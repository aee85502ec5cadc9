//! A supervision tree: strategies, restarts through stable handles, and escalation.
//!
//! Run: `cargo run --example supervision_tree`

use std::time::Duration;

use ractor_agents::prelude::*;
use ractor_agents::supervisor::SupervisorExit;

/// Holds a number; crashes when told to.
#[derive(Default)]
struct Cell {
    value: i64,
}

#[agent]
impl Cell {
    /// Adds to the value and answers the new one.
    async fn add(&mut self, n: i64) -> i64 {
        self.value += n;
        self.value
    }

    /// Which incarnation of this agent answers (1 = never restarted).
    async fn incarnation(&self, ctx: &Ctx<Self>) -> u64 {
        ctx.incarnation()
    }

    /// Panics: the supervisor restarts the agent (with a fresh state).
    async fn crash(&mut self) {
        panic!("told to crash");
    }

    #[on_start]
    async fn started(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> {
        println!("  [{}] started (incarnation {})", ctx.name(), ctx.incarnation());
        Ok(())
    }

    #[on_stop]
    async fn stopped(&mut self, ctx: &Ctx<Self>) {
        println!("  [{}] stopped", ctx.name());
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Agents here crash on purpose; print one line per panic instead of a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message =
            payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        eprintln!("  [panic] {}", message.unwrap_or("(non-string panic payload)"));
    }));
    let deadline = Duration::from_secs(2);
    println!("starting: root (one-for-one) → [config, pipeline (rest-for-one) → [fetch, parse, store]]");
    let root = Supervisor::new("root", Strategy::OneForOne)
        .intensity(3, Duration::from_secs(5))
        .child(ChildSpec::agent("config", Cell::default))
        .child(ChildSpec::supervisor(
            Supervisor::new("pipeline", Strategy::RestForOne)
                .intensity(2, Duration::from_secs(5))
                .backoff(Backoff::exponential(Duration::from_millis(50), Duration::from_secs(1)))
                .child(ChildSpec::agent("fetch", Cell::default))
                .child(ChildSpec::agent("parse", Cell::default))
                .child(ChildSpec::agent("store", Cell::default).restart(Restart::Transient)),
        ))
        .start()
        .await?;

    let parse: CellRef = root.get("pipeline/parse")?;
    let store: CellRef = root.get("pipeline/store")?;
    parse.add(41).deadline(deadline).await?;

    println!("\nparse crashes → rest-for-one restarts parse and store (after a 50 ms backoff), not fetch:");
    parse.crash().tell().await?;
    // The same handles reach the new incarnations; this ask waits out the backoff.
    println!("  parse now answers as incarnation {}", parse.incarnation().deadline(deadline).await?);
    println!("  store now answers as incarnation {}", store.incarnation().deadline(deadline).await?);
    println!("  parse's value was reset by the restart: {}", parse.add(1).deadline(deadline).await?);

    println!("\nparse crashes twice more → pipeline exceeds 2 restarts in 5 s, escalates; root restarts it:");
    for _ in 0..2 {
        parse.crash().tell().await?;
        parse.incarnation().deadline(deadline).await.ok();
    }
    // While a subtree escalates, its mailboxes are closed and asks fail with `Unavailable`;
    // once the root has restarted it, the same handle works again.
    let mut answer = parse.incarnation().deadline(deadline).await;
    for _ in 0..50 {
        if answer.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = parse.incarnation().deadline(deadline).await;
    }
    println!("  parse answers again, as incarnation {}", answer?);

    println!("\nstopping the tree (reverse start order):");
    root.stop().await;
    assert_eq!(root.wait().await, SupervisorExit::Stopped);
    println!("done");
    Ok(())
}
