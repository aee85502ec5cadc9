//! A streamed completion: server-sent events read by a task that hands chunks to the caller.

use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;

use super::{transport, wire};
use crate::llm::types::{ChatChunk, FinishReason, Usage};
use crate::llm::{ChunkReceiver, LlmError};

/// Chunks buffered between the network and a slow reader; past this, reading the connection
/// waits for the reader.
const BUFFER: usize = 32;

/// Starts the task reading `response`'s events; returns the caller's end.
/// `answered_by` is the provider's name and the model asked for (replaced by the model the
/// server names in its chunks, if it does).
pub(super) fn spawn(
    response: reqwest::Response,
    idle: Duration,
    prompt_tokens: u32,
    answered_by: (String, String),
) -> ChunkReceiver {
    let (tx, rx) = mpsc::channel(BUFFER);
    let events = response.bytes_stream().eventsource();
    let (provider, model) = answered_by;
    let progress = Progress { finish: None, usage: None, prompt_tokens, text_chars: 0, provider, model };
    tokio::spawn(pump(events, tx, idle, progress));
    rx
}

/// What the stream has said so far beyond its text.
struct Progress {
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    prompt_tokens: u32,
    text_chars: usize,
    provider: String,
    model: String,
}

impl Progress {
    /// The chunk that ends the stream: no text, the finish reason and the usage (the server's,
    /// or an estimate when it sent none).
    fn last_chunk(&self) -> ChatChunk {
        // `estimate_tokens`' rule (a token per four characters) on the text seen.
        let estimated = Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: u32::try_from(self.text_chars.div_ceil(4)).unwrap_or(u32::MAX),
        };
        ChatChunk {
            delta: String::new(),
            finish_reason: Some(self.finish.unwrap_or(FinishReason::Stop)),
            usage: Some(self.usage.unwrap_or(estimated)),
            provider: Some(self.provider.clone()),
            model: Some(self.model.clone()),
        }
    }
}

/// What one event means for the caller.
enum Step {
    /// Text to pass on (perhaps none), and the stream goes on.
    Text(Option<String>),
    /// The stream is over: this is the last item.
    End(Result<ChatChunk, LlmError>),
}

/// How long a finished stream's task waits for the rest of the body, to keep the connection.
const DRAIN: Duration = Duration::from_secs(1);

/// The most events merged into one chunk when they arrive together.
const MERGE: usize = 64;

/// Reads events until the answer ends, fails, or the caller drops its receiver (then returning
/// drops the response body, which closes the connection).
///
/// Text of events that are already here when one arrives (a read of the socket often holds
/// several) goes out as one chunk: fewer hand-offs to the caller, the same text. The idle limit
/// is one timer for the whole stream, moved only when it fires early.
async fn pump<S>(mut events: S, tx: mpsc::Sender<Result<ChatChunk, LlmError>>, idle: Duration, mut progress: Progress)
where
    S: Stream<Item = Result<eventsource_stream::Event, EventStreamError<reqwest::Error>>> + Unpin,
{
    let closed = tx.closed();
    tokio::pin!(closed);
    let silence = tokio::time::sleep(idle);
    tokio::pin!(silence);
    let mut last_event = tokio::time::Instant::now();
    loop {
        let first = tokio::select! {
            biased;
            () = &mut closed => return,
            next = events.next() => step(next, &mut progress),
            () = &mut silence => {
                let quiet_until = last_event + idle;
                if tokio::time::Instant::now() < quiet_until {
                    silence.as_mut().reset(quiet_until);
                    continue;
                }
                Step::End(Err(LlmError::Timeout))
            }
        };
        last_event = tokio::time::Instant::now();
        let (mut text, mut end, mut next) = (None::<String>, None, Some(first));
        let mut merged = 0;
        while let Some(current) = next.take() {
            match current {
                Step::Text(None) => {}
                Step::Text(Some(delta)) => match &mut text {
                    Some(text) => text.push_str(&delta),
                    None => text = Some(delta),
                },
                Step::End(last) => {
                    end = Some(last);
                    break;
                }
            }
            merged += 1;
            if merged < MERGE {
                next = events.next().now_or_never().map(|item| step(item, &mut progress));
            }
        }
        if let Some(text) = text
            && tx.send(Ok(ChatChunk::text(text))).await.is_err()
        {
            return;
        }
        if let Some(last) = end {
            let finished = last.is_ok();
            // Nothing to do if the caller has gone.
            let _ = tx.send(last).await;
            if finished {
                // Read what follows `[DONE]` (the body's end, usually already here) so the
                // connection goes back to the pool for the next call instead of being closed.
                let _ = tokio::time::timeout(DRAIN, async { while events.next().await.is_some() {} }).await;
            }
            return;
        }
    }
}

/// What the next item of the event stream (`None`: its end) means.
fn step(
    next: Option<Result<eventsource_stream::Event, EventStreamError<reqwest::Error>>>,
    progress: &mut Progress,
) -> Step {
    match next {
        // A server that closes after the finish reason without `[DONE]` still finished.
        None if progress.finish.is_some() => Step::End(Ok(progress.last_chunk())),
        None => Step::End(Err(LlmError::Interrupted { detail: "the stream ended before the answer finished".into() })),
        Some(Err(EventStreamError::Transport(e))) => Step::End(Err(match transport(e) {
            LlmError::Unavailable { detail } => LlmError::Interrupted { detail },
            other => other,
        })),
        Some(Err(e @ (EventStreamError::Utf8(_) | EventStreamError::Parser(_)))) => {
            Step::End(Err(LlmError::Malformed { detail: format!("not a server-sent event stream: {e}") }))
        }
        Some(Ok(event)) => read_event(&event.data, progress),
    }
}

/// Reads one event's data: a chunk of the completion, `[DONE]`, or something else.
fn read_event(data: &str, progress: &mut Progress) -> Step {
    let data = data.trim();
    if data == "[DONE]" {
        return Step::End(Ok(progress.last_chunk()));
    }
    if data.is_empty() {
        // A keep-alive or an event without data.
        return Step::Text(None);
    }
    let chunk: wire::Completion = match serde_json::from_str(data) {
        Ok(chunk) => chunk,
        Err(e) => {
            return Step::End(Err(LlmError::Malformed {
                detail: format!("a stream chunk is not JSON ({e}): `{}`", wire::cut(data, 80)),
            }));
        }
    };
    if let Some(error) = &chunk.error {
        let detail = wire::message_of(error).unwrap_or_else(|| error.to_string());
        return Step::End(Err(LlmError::Interrupted { detail: format!("the provider reported: {detail}") }));
    }
    if let Some(usage) = chunk.usage {
        progress.usage = Some(usage.into());
    }
    if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
        progress.model = model;
    }
    let mut text = None;
    if let Some(choice) = chunk.choices.into_iter().next() {
        if let Some(reason) = choice.finish_reason.as_deref() {
            progress.finish = Some(wire::finish_reason(reason));
        }
        let delta = choice.delta.or(choice.message).and_then(|m| m.content).filter(|t| !t.is_empty());
        if let Some(delta) = &delta {
            progress.text_chars += delta.chars().count();
        }
        text = delta;
    }
    Step::Text(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::estimate_tokens;

    fn progress() -> Progress {
        Progress {
            finish: None,
            usage: None,
            prompt_tokens: 3,
            text_chars: 0,
            provider: "p".into(),
            model: "asked".into(),
        }
    }

    #[test]
    fn chunks_pass_their_text_and_remember_finish_and_usage() {
        let mut p = progress();
        let Step::Text(Some(text)) = read_event(r#"{"choices":[{"delta":{"content":"Hel"}}]}"#, &mut p) else {
            panic!("text expected")
        };
        assert_eq!(text, "Hel");
        assert!(matches!(
            read_event(r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#, &mut p),
            Step::Text(None)
        ));
        read_event(r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}"#, &mut p);
        let Step::End(Ok(last)) = read_event("[DONE]", &mut p) else { panic!("end expected") };
        assert_eq!((last.provider.as_deref(), last.model.as_deref()), (Some("p"), Some("asked")));
        assert_eq!(last.finish_reason, Some(FinishReason::Length));
        assert_eq!(last.usage, Some(Usage { input_tokens: 7, output_tokens: 2 }));
    }

    #[test]
    fn usage_is_estimated_when_the_server_sends_none() {
        let mut p = progress();
        read_event(r#"{"model":"m-2026","choices":[{"delta":{"content":"12345678"},"finish_reason":"stop"}]}"#, &mut p);
        let Step::End(Ok(last)) = read_event("[DONE]", &mut p) else { panic!("end expected") };
        assert_eq!(last.usage, Some(Usage { input_tokens: 3, output_tokens: estimate_tokens("12345678") }));
        assert_eq!(last.model.as_deref(), Some("m-2026"), "the model the server named");
    }

    #[test]
    fn bad_chunks_and_reported_errors_end_the_stream_with_typed_errors() {
        assert!(matches!(read_event("{not json", &mut progress()), Step::End(Err(LlmError::Malformed { .. }))));
        assert!(matches!(
            read_event(r#"{"error":{"message":"overloaded"}}"#, &mut progress()),
            Step::End(Err(LlmError::Interrupted { detail })) if detail.contains("overloaded")
        ));
        assert!(matches!(read_event("   ", &mut progress()), Step::Text(None)));
    }

    /// The events of a streamed answer of `words`, as one string of SSE frames (`\r\n` line
    /// ends when `crlf`, as some servers send).
    fn sse(words: &[String], crlf: bool) -> String {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut out = String::new();
        let mut event = |data: String| {
            out.push_str("data: ");
            out.push_str(&data);
            out.push_str(nl);
            out.push_str(nl);
        };
        for word in words {
            event(serde_json::json!({"choices": [{"delta": {"content": word}}]}).to_string());
        }
        event(serde_json::json!({"choices": [{"delta": {}, "finish_reason": "stop"}]}).to_string());
        event("[DONE]".to_owned());
        out
    }

    /// Runs the pump over `bytes` cut at `cuts` (byte offsets, anywhere: inside a frame, a JSON
    /// string, a multi-byte character); returns what the caller receives.
    fn pumped(bytes: Vec<u8>, cuts: &[usize]) -> Vec<Result<ChatChunk, LlmError>> {
        let mut pieces = Vec::new();
        let mut last = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        for cut in cuts {
            pieces.push(bytes[last..cut].to_vec());
            last = cut;
        }
        pieces.push(bytes[last..].to_vec());
        let body = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, reqwest::Error>));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        runtime.block_on(async {
            let (tx, mut rx) = mpsc::channel(BUFFER);
            let progress = Progress {
                finish: None,
                usage: None,
                prompt_tokens: 1,
                text_chars: 0,
                provider: "p".into(),
                model: "m".into(),
            };
            tokio::spawn(pump(body.eventsource(), tx, Duration::from_secs(5), progress));
            let mut items = Vec::new();
            while let Some(item) = rx.recv().await {
                items.push(item);
            }
            items
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]

        /// However the network splits the bytes, the text arrives whole and in order, then one
        /// last chunk.
        #[test]
        fn any_split_of_a_stream_gives_back_the_whole_answer(
            words in proptest::collection::vec("[a-zé😀 \\\"\n]{0,6}", 0..12),
            cuts in proptest::collection::vec(0usize..10_000, 0..20),
            crlf in proptest::bool::ANY,
        ) {
            let items = pumped(sse(&words, crlf).into_bytes(), &cuts);
            let (last, text) = items.split_last().expect("at least the last chunk");
            let text: String = text.iter().map(|i| i.as_ref().expect("text chunks").delta.clone()).collect();
            proptest::prop_assert_eq!(text, words.concat());
            let last = last.as_ref().expect("a finished answer");
            proptest::prop_assert_eq!(last.finish_reason, Some(FinishReason::Stop));
        }

        /// Whatever bytes arrive, the caller gets typed items and the stream ends: no panic, no hang.
        #[test]
        fn arbitrary_bytes_end_in_a_typed_error_or_an_answer(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            cuts in proptest::collection::vec(0usize..1_000, 0..8),
        ) {
            let items = pumped(bytes, &cuts);
            let (last, rest) = items.split_last().expect("the stream ends with an item");
            proptest::prop_assert!(rest.iter().all(Result::is_ok), "only the last item may be an error");
            proptest::prop_assert!(last.is_err() || last.as_ref().is_ok_and(ChatChunk::is_last));
        }
    }
}
