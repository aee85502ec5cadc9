#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Service;

#[agent]
impl Service {
    #[on_start]
    async fn open(&mut self) -> Result<(), AgentFailure> { Ok(()) }

    #[on_start]
    async fn connect(&mut self) -> Result<(), AgentFailure> { Ok(()) }
}

fn main() {}
