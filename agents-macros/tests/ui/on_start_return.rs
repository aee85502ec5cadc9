#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Service;

#[agent]
impl Service {
    async fn ping(&self) {}

    #[on_start]
    async fn start(&mut self) -> Result<(), String> { Ok(()) }
}

fn main() {}
