#![allow(dead_code)]

use ractor_agents::prelude::*;

#[derive(Default)]
struct Counter { total: u64 }

#[agent]
impl Counter {
    async fn add(&mut self, n: u64) -> u64 { self.total += n; self.total }

    fn helper(&self) -> u64 { self.total * 2 }
}

fn main() {}
