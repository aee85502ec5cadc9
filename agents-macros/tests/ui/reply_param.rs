#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Mailer;

#[agent]
impl Mailer {
    async fn send(&mut self, to: String, reply: String) -> bool { !to.is_empty() && !reply.is_empty() }
}

fn main() {}
