#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Worker;

#[agent]
impl Worker {
    async fn do_it(&mut self) {}

    #[allow(non_snake_case)]
    async fn doIt(&mut self) {}
}

fn main() {}
