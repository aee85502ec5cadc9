//! The floor: a chat client written by hand on reqwest and serde_json, doing only what a call
//! needs — serialize the request, post it, check the status, deserialize the fields it reads — with
//! no timeout, no error classification and no retry. Its stream parser splits events on blank
//! lines (`\n\n`, as OpenAI sends them) and reads their `data:` lines, nothing more.

use std::time::Instant;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};

use super::{Answer, PeerError, StreamTiming, Streamed};

/// reqwest + serde_json by hand.
#[derive(Debug, Clone)]
pub struct RawClient {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    authorization: HeaderValue,
    model: String,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: [Message<'a>; 1],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Content,
}

#[derive(Deserialize)]
struct Content {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    delta: Content,
}

#[derive(Deserialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

impl RawClient {
    /// A client for `{base_url}/chat/completions`, with its own connection pool.
    pub fn new(base_url: &str, model: &str, api_key: &str) -> Result<Self, PeerError> {
        let endpoint = reqwest::Url::parse(&format!("{}/chat/completions", base_url.trim_end_matches('/')))
            .map_err(|_| PeerError::Incomplete("the base URL does not parse"))?;
        let authorization = HeaderValue::from_str(&format!("Bearer {api_key}"))
            .map_err(|_| PeerError::Incomplete("the API key cannot be a header"))?;
        Ok(Self { client: reqwest::Client::new(), endpoint, authorization, model: model.to_owned() })
    }

    async fn post(&self, prompt: &str, stream: bool) -> Result<reqwest::Response, PeerError> {
        let request = Request {
            model: &self.model,
            messages: [Message { role: "user", content: prompt }],
            stream,
            stream_options: stream.then_some(StreamOptions { include_usage: true }),
        };
        let response = self
            .client
            .post(self.endpoint.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&request)?)
            .send()
            .await?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            return Err(PeerError::Status { status, body: response.text().await.unwrap_or_default() });
        }
        Ok(response)
    }

    /// A whole completion.
    pub async fn complete(&self, prompt: &str) -> Result<Answer, PeerError> {
        let body = self.post(prompt, false).await?.bytes().await?;
        let completion: Completion = serde_json::from_slice(&body)?;
        let content = completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or(PeerError::Incomplete("no choice with content"))?;
        let usage = completion.usage.ok_or(PeerError::Incomplete("no usage"))?;
        Ok(Answer { content, input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens })
    }

    /// A streamed completion, read to `data: [DONE]`.
    pub async fn stream(&self, prompt: &str) -> Result<Streamed, PeerError> {
        let started = Instant::now();
        let mut response = self.post(prompt, true).await?;
        let mut timing = StreamTiming::new(started);
        let mut usage = None;
        let mut buffer: Vec<u8> = Vec::new();
        let mut done = false;
        while !done && let Some(bytes) = response.chunk().await? {
            buffer.extend_from_slice(&bytes);
            let mut consumed = 0;
            while let Some(end) = find_blank_line(&buffer[consumed..]) {
                let event = &buffer[consumed..consumed + end];
                consumed += end + 2;
                for line in event.split(|b| *b == b'\n') {
                    let Some(data) = line.strip_prefix(b"data:") else { continue };
                    let data = data.strip_prefix(b" ").unwrap_or(data);
                    if data == b"[DONE]" {
                        done = true;
                        break;
                    }
                    let chunk: Chunk = serde_json::from_slice(data)?;
                    for choice in &chunk.choices {
                        if let Some(text) = &choice.delta.content {
                            timing.text(text);
                        }
                    }
                    if chunk.usage.is_some() {
                        usage = chunk.usage;
                    }
                }
                if done {
                    break;
                }
            }
            buffer.drain(..consumed);
        }
        if !done {
            return Err(PeerError::Incomplete("the stream ended before [DONE]"));
        }
        let usage = usage.ok_or(PeerError::Incomplete("the stream carried no usage"))?;
        Ok(timing.finish(usage.prompt_tokens, usage.completion_tokens))
    }
}

/// Where the first `\n\n` starts in `bytes`.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\n\n")
}
