//! The LLM plug-in. Implementations must be local (G1) and report real token usage (G2).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

#[cfg(feature = "openai")]
mod openai;
#[cfg(feature = "openai")]
pub use openai::{OpenAiLlm, OpenAiOptions};

/// Role of one chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

/// One chat message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

// Prompt text must never reach a log line through `{:?}` (G2).
impl std::fmt::Debug for ChatMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatMessage")
            .field("role", &self.role)
            .field(
                "content",
                &format_args!("<{} chars>", self.content.chars().count()),
            )
            .finish()
    }
}

/// A completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub messages: Vec<ChatMessage>,
    pub max_tokens: Option<u32>,
    /// Ask the server to constrain output to a JSON object.
    pub json_mode: bool,
    pub temperature: Option<f32>,
}

impl CompletionRequest {
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self {
            messages,
            max_tokens: None,
            json_mode: false,
            temperature: None,
        }
    }

    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    pub fn with_json_mode(mut self, json_mode: bool) -> Self {
        self.json_mode = json_mode;
        self
    }
}

/// Token counts exactly as the server reported them; never estimated (G2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// A completion: the text (used in memory only, never stored) and the server's usage.
#[derive(Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub usage: TokenUsage,
    pub model: String,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field(
                "text",
                &format_args!("<{} chars>", self.text.chars().count()),
            )
            .field("usage", &self.usage)
            .field("model", &self.model)
            .finish()
    }
}

/// A chat-completion model.
///
/// Contract: errors never contain prompt or response text; a response without usage counts is
/// an error, not a zero; an unreachable endpoint is [`Error::Unavailable`](crate::Error).
#[async_trait]
pub trait Llm: Send + Sync + std::fmt::Debug {
    async fn complete(&self, request: CompletionRequest) -> Result<Completion>;

    /// The model name recorded in accounting rows.
    fn model(&self) -> &str;

    /// The endpoint host recorded in accounting rows (no path, no credentials).
    fn endpoint_host(&self) -> &str;

    /// The model's context window in tokens, for prompt budgeting.
    fn context_tokens(&self) -> u32;
}
