#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Counter { total: u64 }

#[agent]
impl Counter {
    async fn into_total(self) -> u64 { self.total }
}

fn main() {}
