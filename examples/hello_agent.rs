//! The smallest agent: a struct, async handlers, a typed handle.
//!
//! Run: `cargo run --example hello_agent`

use std::time::Duration;

use ractor_agents::prelude::*;

/// Greets people and remembers how many it has greeted.
#[derive(Default)]
struct Greeter {
    greeted: u64,
}

#[agent]
impl Greeter {
    /// Answers with a greeting.
    async fn greet(&mut self, name: String) -> String {
        self.greeted += 1;
        format!("Hello, {name}! You are visitor #{}.", self.greeted)
    }

    /// Refuses empty names: the error goes back to the asker, the agent keeps running.
    async fn strict_greet(&mut self, name: String) -> Result<String, String> {
        if name.trim().is_empty() {
            return Err("a name cannot be empty".into());
        }
        Ok(self.greet(name).await)
    }

    /// How many people were greeted.
    async fn count(&self) -> u64 {
        self.greeted
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let greeter: GreeterRef = ractor_agents::spawn("greeter", Greeter::default()).await?.into();

    // ask: request/reply with a deadline.
    let hello = greeter.greet("Ada".into()).deadline(Duration::from_secs(1)).await?;
    println!("{hello}");

    // tell: fire and forget (waits for room if the mailbox is full).
    greeter.greet("Grace".into()).tell().await?;

    // A handler's error is an answer, not a crash.
    match greeter.strict_greet(" ".into()).await? {
        Ok(text) => println!("{text}"),
        Err(why) => println!("refused: {why}"),
    }

    println!("greeted so far: {}", greeter.count().await?);
    greeter.stop().await;
    Ok(())
}
