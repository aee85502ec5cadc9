#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Plotter;

#[agent]
impl Plotter {
    async fn plot(&mut self, (x, y): (f64, f64)) -> f64 { x + y }
}

fn main() {}
