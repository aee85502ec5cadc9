//! The `async-openai` crate (0.43, features `rustls` + `chat-completion`) as a peer, used as its
//! README shows: a `Client` with an `OpenAIConfig` pointing at the server, requests built with the
//! `*Args` builders.

use std::time::Instant;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};
use futures::StreamExt;

use super::{Answer, PeerError, StreamTiming, Streamed};

/// An `async_openai::Client` for one model.
#[derive(Debug, Clone)]
pub struct AsyncOpenAiClient {
    client: Client<OpenAIConfig>,
    model: String,
}

impl AsyncOpenAiClient {
    /// A client for the server at `base_url` (`http://host:port/v1`).
    pub fn new(base_url: &str, model: &str, api_key: &str) -> Self {
        let config = OpenAIConfig::new().with_api_base(base_url).with_api_key(api_key);
        Self { client: Client::with_config(config), model: model.to_owned() }
    }

    fn request(&self, prompt: &str, stream: bool) -> Result<CreateChatCompletionRequest, PeerError> {
        let message = ChatCompletionRequestUserMessageArgs::default().content(prompt).build()?;
        let mut args = CreateChatCompletionRequestArgs::default();
        args.model(&self.model).messages([message.into()]);
        if stream {
            args.stream_options(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None });
        }
        Ok(args.build()?)
    }

    /// A whole completion (`client.chat().create(..)`).
    pub async fn complete(&self, prompt: &str) -> Result<Answer, PeerError> {
        let response = self.client.chat().create(self.request(prompt, false)?).await?;
        let content = response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or(PeerError::Incomplete("no choice with content"))?;
        let usage = response.usage.ok_or(PeerError::Incomplete("no usage"))?;
        Ok(Answer { content, input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens })
    }

    /// A streamed completion (`client.chat().create_stream(..)`), read to its end.
    pub async fn stream(&self, prompt: &str) -> Result<Streamed, PeerError> {
        let started = Instant::now();
        let mut stream = self.client.chat().create_stream(self.request(prompt, true)?).await?;
        let mut timing = StreamTiming::new(started);
        let mut usage = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            for choice in &chunk.choices {
                if let Some(text) = &choice.delta.content {
                    timing.text(text);
                }
            }
            if chunk.usage.is_some() {
                usage = chunk.usage;
            }
        }
        let usage = usage.ok_or(PeerError::Incomplete("the stream carried no usage"))?;
        Ok(timing.finish(usage.prompt_tokens, usage.completion_tokens))
    }
}
