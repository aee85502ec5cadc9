#![allow(dead_code)]

use ractor_agents::prelude::*;

struct NotAList;

#[agent(capabilities = "summarize")]
impl NotAList {
    async fn get(&self) -> u64 { 0 }
}

struct NotAString;

#[agent(tools = [web_search])]
impl NotAString {
    async fn get(&self) -> u64 { 0 }
}

struct Twice;

#[agent(intents = ["translate"], intents = ["answer"])]
impl Twice {
    async fn get(&self) -> u64 { 0 }
}

struct Repeated;

#[agent(capabilities = ["summarize", "summarize"])]
impl Repeated {
    async fn get(&self) -> u64 { 0 }
}

struct Empty;

#[agent(capabilities = [""])]
impl Empty {
    async fn get(&self) -> u64 { 0 }
}

fn main() {}
