#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Service;

#[agent]
impl Service {
    async fn ping(&self) {}

    #[on_stop]
    async fn stop(&mut self, reason: String) -> bool { reason.is_empty() }
}

fn main() {}
