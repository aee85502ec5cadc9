#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Greeter;

#[agent]
impl Greeter {
    async fn greet(&mut self, name: &str) -> String { format!("hello, {name}") }
}

fn main() {}
