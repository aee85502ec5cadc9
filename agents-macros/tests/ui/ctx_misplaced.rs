#![allow(dead_code)]

use ractor_agents::prelude::*;

struct Counter;

#[agent]
impl Counter {
    async fn late(&mut self, n: u64, ctx: &Ctx<Self>) -> u64 { let _ = ctx; n }

    async fn unique(&mut self, ctx: &mut Ctx<Self>) { let _ = ctx; }

    async fn foreign(&mut self, ctx: &Ctx<Other>) { let _ = ctx; }
}

struct Other;

impl Agent for Other {
    type Msg = ();
    async fn handle(&mut self, _: &Ctx<Self>, _: ()) -> Result<(), AgentFailure> { Ok(()) }
}

fn main() {}
