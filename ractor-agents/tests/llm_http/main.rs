//! The OpenAI-compatible HTTP client against a real HTTP server on loopback (`server.rs`, axum):
//! answers, streams, every failure it must classify, and the resilience around it (breaker,
//! retry with Retry-After, fallback to a second provider within a budget).

#![cfg(feature = "llm-http")]
// Test code: a panic on an unexpected `Err` is the failure report.
#![allow(missing_docs, unreachable_pub, clippy::unwrap_used)]

mod chain;
mod client;
mod server;
#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use ractor_agents::llm::{OpenAiConfig, OpenAiProvider};
use support::{eventually, metrics};

/// A client of `server` named `name`, with short timeouts so failures show quickly.
fn client(server: &server::TestServer, name: &str) -> OpenAiProvider {
    let config = OpenAiConfig::new(server.url(), "test-model")
        .unwrap()
        .provider_name(name)
        .api_key("sk-test")
        .timeout(Duration::from_secs(5))
        .stream_idle_timeout(Duration::from_secs(5));
    OpenAiProvider::new(config).unwrap()
}
