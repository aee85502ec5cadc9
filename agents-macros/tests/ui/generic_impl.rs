#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Holder<T> { value: T }

#[agent]
impl<T: Clone + Send + Sync + 'static> Holder<T> {
    async fn get(&self) -> T { self.value.clone() }
}

fn main() {}
