#![allow(dead_code)]

use ractor_agents::prelude::*;

// `&self` handlers borrow the agent across an await in `handle`'s `Send` future: the agent
// must be `Sync`, and a `Cell` is not.
struct Unshared {
    hits: std::cell::Cell<u64>,
}

#[agent]
impl Unshared {
    async fn hits(&self) -> u64 { self.hits.get() }
}

fn main() {}
