#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Store { items: Vec<String> }

#[agent]
impl Store {
    async fn put<T: ToString>(&mut self, item: T) { self.items.push(item.to_string()); }
}

fn main() {}
