//! Every client of the LLM HTTP comparison gets the server's real answer — its text, chunk by
//! chunk for streams, and the usage of the prompt actually sent — so the benchmark compares
//! clients that do the whole job. The server itself refuses what OpenAI refuses (wrong key,
//! unknown model), so a client that sent a malformed request would fail here.
// Test helpers outside `#[test]` functions unwrap too: a failure here is a failed test.
#![allow(clippy::unwrap_used)]

use ractor_agents_benches::llm_peers::server::{BenchServer, ServerSpec};
use ractor_agents_benches::llm_peers::{Peer, PeerError, PeerKind};

fn server(spec: ServerSpec) -> BenchServer {
    BenchServer::start(spec).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_peer_gets_the_servers_completion_and_the_usage_of_its_prompt() {
    let server = server(ServerSpec { answer_words: 37, stream_chunks: 5 });
    let prompts = ["Hi", "What does a supervisor do when its child panics twice in a row?"];
    for kind in PeerKind::ALL {
        let peer = Peer::build(kind, server.url()).unwrap();
        for prompt in prompts {
            let answer = peer.complete(prompt).await.unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
            assert_eq!(answer.content, server.completion_text(), "{}", kind.name());
            assert_eq!(answer.content.split(' ').count(), 37);
            assert_eq!(answer.input_tokens, prompt.split_whitespace().count() as u32, "{}: {prompt}", kind.name());
            assert_eq!(answer.output_tokens, 37, "{}", kind.name());
        }
    }
    // Two prompts per peer, each one request: nothing cached, nothing retried.
    assert_eq!(server.served(), 2 * PeerKind::ALL.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_peer_reads_every_chunk_of_a_stream_and_its_usage() {
    // The whole text in at most one chunk per event: `OpenAiProvider` hands the text of events
    // that arrive together to its caller as one chunk.
    let server = server(ServerSpec { answer_words: 3, stream_chunks: 200 });
    let prompt = "Count slowly to two hundred please";
    for kind in PeerKind::ALL {
        let peer = Peer::build(kind, server.url()).unwrap();
        let streamed = peer.stream(prompt).await.unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        assert!((1..=200).contains(&streamed.chunks), "{}: {} chunks", kind.name(), streamed.chunks);
        assert_eq!(streamed.text, server.stream_text(), "{}", kind.name());
        assert_eq!(streamed.text.split(' ').count(), 200, "{}", kind.name());
        assert_eq!(streamed.input_tokens, 6, "{}", kind.name());
        assert_eq!(streamed.output_tokens, 200, "{}", kind.name());
        assert!(streamed.first_chunk <= streamed.end, "{}", kind.name());
    }
    assert_eq!(server.served(), PeerKind::ALL.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_a_wrong_key_and_an_unknown_model() {
    use ractor_agents_benches::llm_peers::raw::RawClient;
    let server = server(ServerSpec::default());
    let wrong_key = RawClient::new(server.url(), "bench-model", "sk-wrong").unwrap();
    assert!(matches!(wrong_key.complete("hi").await, Err(PeerError::Status { status: 401, .. })));
    let wrong_model = RawClient::new(server.url(), "gpt-9", "sk-bench").unwrap();
    match wrong_model.stream("hi").await {
        Err(PeerError::Status { status: 404, body }) => assert!(body.contains("gpt-9"), "{body}"),
        other => panic!("expected 404, got {other:?}"),
    }
    assert_eq!(server.served(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_answers_from_its_first_link_and_the_fallback_is_never_reached() {
    let server = server(ServerSpec { answer_words: 4, stream_chunks: 3 });
    let Peer::Stack(stack) = Peer::build(PeerKind::Stack, server.url()).unwrap() else { panic!("not the stack") };
    use ractor_agents::llm::{ChatRequest, LlmProvider};
    let answer = stack.complete(ChatRequest::user("hello there")).await.unwrap();
    assert_eq!(answer.provider, "bench", "the OpenAI-compatible link answered, not the simulated backup");
    assert_eq!(answer.content, server.completion_text());
    assert_eq!(server.served(), 1);
}
