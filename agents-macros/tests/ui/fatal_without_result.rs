#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Store { items: Vec<String> }

#[agent]
impl Store {
    #[handler(fatal)]
    async fn put(&mut self, item: String) -> usize { self.items.push(item); self.items.len() }
}

fn main() {}
