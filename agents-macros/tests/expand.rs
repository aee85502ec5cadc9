//! Behaviour of the code `#[agent]` generates, driven through real agents.

use ractor_agents::prelude::*;
use std::time::Duration;

#[derive(Default)]
pub struct Counter {
    total: u64,
}

#[agent]
impl Counter {
    /// Adds n.
    async fn add(&mut self, n: u64) -> u64 {
        self.total += n;
        self.total
    }

    async fn get(&self) -> u64 {
        self.total
    }

    async fn echo(&mut self, ctx: &Ctx<Self>, text: String) -> Result<String, String> {
        if text.is_empty() { Err("empty".into()) } else { Ok(format!("{}:{text}", ctx.name())) }
    }
}

#[tokio::test]
async fn ask_tell() {
    let c: CounterRef = ractor_agents::spawn("c", Counter::default()).await.unwrap().into();
    assert_eq!(c.add(2).await.unwrap(), 2);
    c.add(3).tell().await.unwrap();
    assert_eq!(c.get().deadline(Duration::from_secs(1)).await.unwrap(), 5);
    assert_eq!(c.echo("hi".into()).await.unwrap(), Ok("c:hi".to_string()));
}
