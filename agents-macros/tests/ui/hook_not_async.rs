#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Service;

#[agent]
impl Service {
    async fn ping(&self) {}

    #[on_start]
    fn start(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> { let _ = ctx; Ok(()) }
}

fn main() {}
