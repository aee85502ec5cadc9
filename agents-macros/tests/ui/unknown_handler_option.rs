#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Store;

#[agent]
impl Store {
    #[handler(fatal, retries = 3)]
    async fn put(&mut self, value: String) -> Result<(), String> { let _ = value; Ok(()) }
}

fn main() {}
