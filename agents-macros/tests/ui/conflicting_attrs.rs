#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Service;

#[agent]
impl Service {
    #[handler]
    #[on_stop]
    async fn close(&mut self) {}
}

fn main() {}
