#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Counter;

#[agent(visibility = pub)]
impl Counter {
    async fn get(&self) -> u64 { 0 }
}

struct Other;

#[agent(vis = crate)]
impl Other {
    async fn get(&self) -> u64 { 0 }
}

fn main() {}
