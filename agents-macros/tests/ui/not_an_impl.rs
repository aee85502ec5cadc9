#![allow(dead_code)]

use ractor_agents::prelude::*;

#[agent]
#[derive(Default)]
struct Counter {
    total: u64,
}

fn main() {}
