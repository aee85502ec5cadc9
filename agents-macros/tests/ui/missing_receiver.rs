#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Counter { total: u64 }

#[agent]
impl Counter {
    async fn new(total: u64) -> Self { Counter { total } }

    async fn get(&self) -> u64 { self.total }
}

fn main() {}
