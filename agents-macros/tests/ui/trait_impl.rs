#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Counter;

#[agent]
impl Default for Counter {
    fn default() -> Self { Counter }
}

fn main() {}
