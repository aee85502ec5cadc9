#![allow(dead_code)]

use ractor_agents::prelude::*;

#[derive(Debug)]
struct NotDisplay;

struct Checker;

#[agent]
impl Checker {
    async fn check(&mut self, n: u64) -> Result<u64, NotDisplay> {
        if n > 10 { Err(NotDisplay) } else { Ok(n) }
    }
}

fn main() {}
