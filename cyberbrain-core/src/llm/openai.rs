//! [`OpenAiLlm`]: the [`Llm`] for OpenAI-compatible servers (`POST {endpoint}/chat/completions`),
//! which Ollama, the llama.cpp server, llama-cpp-python and vLLM all speak.
//!
//! Guardrails this module enforces:
//! - **G1, local only.** [`OpenAiLlm::new`] refuses a public endpoint when it is built, and every
//!   request resolves the host again through
//!   [`check_endpoint_at_connect`](crate::guardrails::locality::check_endpoint_at_connect) and
//!   connects only to the addresses that check vetted: the client's DNS resolver *is* that check,
//!   and connections are not pooled, so each request gets a fresh resolution (a DNS answer that
//!   changed to a public address after start-up is refused). Redirects are not followed (a
//!   redirect could name any host), system proxies are ignored (a proxy would receive the prompt),
//!   and the resolver refuses any name other than the endpoint's own host.
//! - **G2, tokens only.** Error messages carry the endpoint's `host:port`, HTTP status codes and
//!   transport reasons, never the prompt, the response body, the URL's user info or the API key;
//!   serde errors (which can quote the body) are never attached as sources. Tracing records the
//!   model, host, duration and token counts only. A response without `usage` counts is an error:
//!   counts are never estimated.
//! - Requests are non-streaming because streamed responses carry no `usage` on these servers.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use url::Url;

use crate::config::{LlmConfig, Secret};
use crate::guardrails::locality;
use crate::llm::{ChatMessage, Completion, CompletionRequest, Llm, TokenUsage};
use crate::{Error, Result};

/// The component name on [`Error::Unavailable`].
const COMPONENT: &str = "llm";

/// The path appended to the configured base URL.
const COMPLETIONS_PATH: &str = "chat/completions";

/// Tuning that is not part of the operator's configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiOptions {
    /// The longest wait for the TCP (and TLS) connection. The overall request is still bounded
    /// by `llm.timeout_s`; this only fails a dead host sooner.
    pub connect_timeout: Duration,
    /// The largest response body read; a bigger one is an error rather than unbounded memory.
    pub max_response_bytes: usize,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 8 << 20,
        }
    }
}

/// An OpenAI-compatible chat-completions client; see the module docs for its guardrails.
///
/// Cloning is cheap (the HTTP client is reference-counted); clones share nothing mutable.
#[derive(Clone)]
pub struct OpenAiLlm {
    client: reqwest::Client,
    /// `{endpoint}/chat/completions`; may hold user info, so it never appears in messages.
    completions_url: Url,
    /// `host[:port]` as written in the endpoint (port only when explicit): accounting rows.
    host: String,
    /// `host:port` with the effective port: error messages.
    authority: String,
    model: String,
    context_tokens: u32,
    timeout: Duration,
    api_key: Secret,
    max_response_bytes: usize,
}

// Hand-written so that neither the URL (which may carry user info) nor the key is ever printed.
impl fmt::Debug for OpenAiLlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiLlm")
            .field("host", &self.host)
            .field("model", &self.model)
            .field("context_tokens", &self.context_tokens)
            .field("timeout", &self.timeout)
            .field("api_key", &self.api_key)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl OpenAiLlm {
    /// Builds the client from `[llm]` with default [`OpenAiOptions`].
    ///
    /// Runs the configuration-time G1 check: a public endpoint is [`Error::Forbidden`] naming the
    /// host and the rule; a malformed one, an empty model or a zero timeout is
    /// [`Error::InvalidInput`] on the offending `llm.*` field.
    pub fn new(config: &LlmConfig) -> Result<Self> {
        Self::with_options(config, OpenAiOptions::default())
    }

    /// [`OpenAiLlm::new`] with explicit tuning.
    pub fn with_options(config: &LlmConfig, options: OpenAiOptions) -> Result<Self> {
        locality::check_endpoint(&config.endpoint, &config.allow_hosts)?;
        let mut errors = crate::FieldErrors::new();
        if config.model.trim().is_empty() {
            errors.add(
                "llm.model",
                "must name the model the server serves (e.g. llama3.2)",
            );
        }
        if config.timeout_s == 0 {
            errors.add(
                "llm.timeout_s",
                "must be 1 second or more (slow models need minutes)",
            );
        }
        if config.context_tokens == 0 {
            errors.add(
                "llm.context_tokens",
                "must be the model's context window in tokens",
            );
        }
        errors.into_result()?;

        // `check_endpoint` parsed it already; this parse cannot fail, but never panics either.
        let endpoint = Url::parse(config.endpoint.trim()).map_err(|_| {
            Error::invalid(
                "llm.endpoint",
                "is not a valid URL; use http://host:port/v1",
            )
        })?;
        let completions_url = completions_url(&endpoint);
        let host = endpoint_host(&endpoint);
        let authority = authority(&endpoint);
        let timeout = Duration::from_secs(config.timeout_s);

        let resolver = VettedResolver {
            endpoint: Arc::from(config.endpoint.trim()),
            allow_hosts: Arc::from(config.allow_hosts.clone()),
            host_name: Arc::from(normalise_name(endpoint.host_str().unwrap_or_default())),
        };
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(resolver))
            // A fresh connection (and so a fresh vetted resolution) per request; LLM calls take
            // seconds, a loopback or LAN connect takes microseconds.
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            // A retried completion would spend tokens twice; retries are the caller's decision.
            .retry(reqwest::retry::never())
            .referer(false)
            .http1_only()
            .connect_timeout(options.connect_timeout.min(timeout))
            .user_agent(concat!("cyberbrain/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Backend {
                message: format!("cannot set up the LLM HTTP client: {}", root_cause(&e)),
                source: None,
            })?;

        Ok(Self {
            client,
            completions_url,
            host,
            authority,
            model: config.model.trim().to_owned(),
            context_tokens: config.context_tokens,
            timeout,
            api_key: config.api_key.clone(),
            max_response_bytes: options.max_response_bytes,
        })
    }

    /// One request/response exchange, without the overall timeout (the caller applies it).
    async fn exchange(&self, request: &CompletionRequest) -> Result<Completion> {
        let body = ChatRequest {
            model: &self.model,
            messages: &request.messages,
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            response_format: request.json_mode.then_some(ResponseFormat {
                kind: "json_object",
            }),
            stream: false,
        };
        let body = serde_json::to_vec(&body).map_err(|_| Error::Backend {
            // Serialising strings and numbers only fails on a non-finite temperature.
            message: "cannot encode the LLM request (is the temperature a finite number?)".into(),
            source: None,
        })?;
        let mut builder = self
            .client
            .post(self.completions_url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        if !self.api_key.is_empty() {
            builder = builder.bearer_auth(self.api_key.expose());
        }
        let mut response = builder.send().await.map_err(|e| self.transport_error(&e))?;

        let status = response.status();
        if !status.is_success() {
            // The body is never read: servers echo the prompt in validation errors.
            return Err(self.status_error(status, response.headers()));
        }
        let bytes = self.read_body(&mut response).await?;
        parse_completion(&bytes, &self.model)
    }

    async fn read_body(&self, response: &mut reqwest::Response) -> Result<Vec<u8>> {
        let too_large = || Error::Backend {
            message: format!(
                "LLM response is larger than {} bytes ({}); lower max_tokens or raise the limit",
                self.max_response_bytes, self.authority
            ),
            source: None,
        };
        if response
            .content_length()
            .is_some_and(|length| length > self.max_response_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn timeout_error(&self) -> Error {
        Error::unavailable(
            COMPONENT,
            format!(
                "LLM request timed out after {}s ({}); raise llm.timeout_s for a slow model or a long prompt",
                self.timeout.as_secs(),
                self.authority
            ),
        )
    }

    /// Maps a transport failure. Only `host:port`, our own vetting errors and the innermost
    /// transport reason (an OS or HTTP-protocol error, which never quotes content) are used;
    /// reqwest's own message is not, because it includes the full URL.
    fn transport_error(&self, error: &reqwest::Error) -> Error {
        if let Some(vetting) = find_in_chain::<Error>(error) {
            return self.reissue(vetting);
        }
        if error.is_timeout() {
            if error.is_connect() {
                return Error::unavailable(
                    COMPONENT,
                    format!(
                        "LLM endpoint unreachable: {}: connecting timed out",
                        self.authority
                    ),
                );
            }
            return self.timeout_error();
        }
        let reason = root_cause(error);
        if error.is_connect() {
            Error::unavailable(
                COMPONENT,
                format!(
                    "LLM endpoint unreachable: {}: {reason}; check that the LLM server is running and llm.endpoint names it",
                    self.authority
                ),
            )
        } else {
            Error::unavailable(
                COMPONENT,
                format!(
                    "LLM endpoint unreachable: {}: the exchange failed: {reason}",
                    self.authority
                ),
            )
        }
    }

    /// Re-issues an error the resolver returned inside reqwest's error chain.
    fn reissue(&self, error: &Error) -> Error {
        match error {
            Error::Forbidden(message) => Error::Forbidden(message.clone()),
            Error::InvalidInput(fields) => Error::InvalidInput(fields.clone()),
            Error::Unavailable { message, .. } => Error::unavailable(
                COMPONENT,
                format!("LLM endpoint unreachable: {}: {message}", self.authority),
            ),
            other => Error::Backend {
                message: other.to_string(),
                source: None,
            },
        }
    }

    fn status_error(
        &self,
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
    ) -> Error {
        let code = status.as_u16();
        if code == 429 {
            let retry = match headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after_seconds(v, chrono::Utc::now()))
            {
                Some(seconds) => format!("; retry after {seconds}s"),
                None => "; retry later".to_owned(),
            };
            return Error::unavailable(
                COMPONENT,
                format!(
                    "LLM endpoint rate-limited (429){retry} ({})",
                    self.authority
                ),
            );
        }
        if status.is_server_error() {
            return Error::unavailable(
                COMPONENT,
                format!("LLM endpoint error: HTTP {code} ({})", self.authority),
            );
        }
        let message = if status.is_client_error() {
            let hint = match code {
                401 | 403 => "; check llm.api_key",
                404 => {
                    "; check that llm.endpoint is the API base URL (usually ending in /v1) and \
                     llm.model names a model the server serves"
                }
                400 | 413 => {
                    "; a prompt longer than the server's context window is the usual cause \
                     (compare llm.context_tokens with the server's setting)"
                }
                _ => "",
            };
            format!(
                "LLM endpoint rejected the request: HTTP {code} ({}){hint}",
                self.authority
            )
        } else {
            format!(
                "LLM endpoint answered HTTP {code} ({}), not a completion; redirects are not \
                 followed (G1): point llm.endpoint at the server itself",
                self.authority
            )
        };
        Error::Backend {
            message,
            source: None,
        }
    }
}

#[async_trait]
impl Llm for OpenAiLlm {
    async fn complete(&self, request: CompletionRequest) -> Result<Completion> {
        if request.messages.is_empty() {
            return Err(Error::invalid(
                "messages",
                "a completion request needs at least one message",
            ));
        }
        let span = tracing::info_span!(
            "llm.complete",
            model = %self.model,
            host = %self.host,
            json_mode = request.json_mode,
            duration_ms = tracing::field::Empty,
            prompt_tokens = tracing::field::Empty,
            completion_tokens = tracing::field::Empty,
            total_tokens = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let recorder = span.clone();
        async move {
            let started = Instant::now();
            let result = match tokio::time::timeout(self.timeout, self.exchange(&request)).await {
                Ok(result) => result,
                Err(_) => Err(self.timeout_error()),
            };
            let span = recorder;
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            span.record("duration_ms", duration_ms);
            match &result {
                Ok(completion) => {
                    span.record("prompt_tokens", completion.usage.prompt_tokens);
                    span.record("completion_tokens", completion.usage.completion_tokens);
                    span.record("total_tokens", completion.usage.total_tokens);
                    span.record("outcome", "ok");
                    tracing::debug!(
                        duration_ms,
                        prompt_tokens = completion.usage.prompt_tokens,
                        completion_tokens = completion.usage.completion_tokens,
                        "LLM call completed"
                    );
                }
                Err(error) => {
                    span.record("outcome", outcome_of(error));
                    // The message is built from host, status and transport reason only (G2).
                    tracing::debug!(duration_ms, error = %error, "LLM call failed");
                }
            }
            result
        }
        .instrument(span)
        .await
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint_host(&self) -> &str {
        &self.host
    }

    fn context_tokens(&self) -> u32 {
        self.context_tokens
    }
}

fn outcome_of(error: &Error) -> &'static str {
    match error {
        Error::Unavailable { .. } => "unavailable",
        Error::Forbidden(_) => "forbidden",
        Error::InvalidInput(_) => "invalid_input",
        _ => "error",
    }
}

/// The request body. `messages` serialise as `{"role": "user", "content": "…"}`.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat>,
    stream: bool,
}

#[derive(Serialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The parts of a chat completion we read; everything else is ignored.
#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<ResponseMessage>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    total_tokens: Option<i64>,
}

fn backend(message: impl Into<String>) -> Error {
    Error::Backend {
        message: message.into(),
        source: None,
    }
}

/// Parses a chat completion. The serde error is dropped on purpose: its message can quote the
/// body (`invalid type: string "…"`), which may hold model output (G2).
fn parse_completion(body: &[u8], configured_model: &str) -> Result<Completion> {
    let response: ChatResponse = serde_json::from_slice(body)
        .map_err(|_| backend("LLM response is not a chat completion"))?;
    let usage = response.usage.ok_or_else(|| {
        backend("LLM response has no usage counts; token counts are never estimated (G2)")
    })?;
    let (Some(prompt_tokens), Some(completion_tokens)) =
        (usage.prompt_tokens, usage.completion_tokens)
    else {
        return Err(backend(
            "LLM response has no usage counts (prompt_tokens and completion_tokens are both \
             required); token counts are never estimated (G2)",
        ));
    };
    // A missing total is the sum of the two reported counts: arithmetic, not an estimate.
    let total_tokens = usage
        .total_tokens
        .unwrap_or(prompt_tokens.saturating_add(completion_tokens));
    if prompt_tokens < 0 || completion_tokens < 0 || total_tokens < 0 {
        return Err(backend("LLM response has negative usage counts"));
    }
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(backend("LLM response has no choices"));
    };
    let Some(text) = choice.message.and_then(|m| m.content) else {
        return Err(backend(
            "LLM response's first choice has no text content (tool calls are not supported)",
        ));
    };
    let model = response
        .model
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| configured_model.to_owned());
    Ok(Completion {
        text,
        usage: TokenUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens,
        },
        model,
    })
}

/// `{endpoint}/chat/completions`, keeping the endpoint's query (some gateways need one). An
/// endpoint that already ends in `/chat/completions` is used as is.
fn completions_url(endpoint: &Url) -> Url {
    let mut url = endpoint.clone();
    url.set_fragment(None);
    let base = url.path().trim_end_matches('/').to_owned();
    if base.ends_with(&format!("/{COMPLETIONS_PATH}")) {
        url.set_path(&base);
    } else {
        url.set_path(&format!("{base}/{COMPLETIONS_PATH}"));
    }
    url
}

/// `host[:port]` for accounting rows: no scheme, user info or path; the port only when the URL
/// names a non-default one.
fn endpoint_host(endpoint: &Url) -> String {
    let host = endpoint.host_str().unwrap_or_default();
    match endpoint.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// `host:port` with the effective port, for messages about connecting.
fn authority(endpoint: &Url) -> String {
    let host = endpoint.host_str().unwrap_or_default();
    match endpoint.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn normalise_name(name: &str) -> String {
    name.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// `Retry-After` as whole seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3).
fn retry_after_seconds(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = date.with_timezone(&chrono::Utc) - now;
    Some(u64::try_from(delta.num_seconds()).unwrap_or(0))
}

/// The first error of type `T` in `error`'s source chain.
fn find_in_chain<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The innermost error's message (e.g. "Connection refused (os error 111)"), capped in length.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    let message = current.to_string();
    if message.chars().count() > 200 {
        let mut short: String = message.chars().take(200).collect();
        short.push('…');
        short
    } else {
        message
    }
}

/// The client's DNS resolver: the connect-time G1 check. Whatever it returns is exactly what the
/// connection may use, so a rebinding DNS answer cannot slip a public address in between the
/// check and the connect. IP-literal endpoints never reach a resolver (there is nothing to
/// resolve; the literal was vetted when the client was built).
#[derive(Clone)]
struct VettedResolver {
    endpoint: Arc<str>,
    allow_hosts: Arc<[String]>,
    /// The endpoint's host, normalised; the only name this resolver answers for.
    host_name: Arc<str>,
}

impl VettedResolver {
    async fn vet(&self, name: &str) -> Result<Vec<SocketAddr>> {
        if normalise_name(name) != *self.host_name {
            return Err(Error::Forbidden(format!(
                "the LLM client refused to connect to \"{name}\": only the configured endpoint \
                 host \"{}\" is contacted (G1)",
                self.host_name
            )));
        }
        locality::check_endpoint_at_connect(&self.endpoint, &self.allow_hosts).await
    }
}

impl reqwest::dns::Resolve for VettedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            match resolver.vet(name.as_str()).await {
                Ok(addresses) => Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs),
                // Boxed as our own error so `transport_error` finds it in reqwest's chain.
                Err(error) => Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::TimeZone;
    use reqwest::dns::Resolve;

    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn completions_url_joins_the_base_path() {
        for (endpoint, expected) in [
            (
                "http://127.0.0.1:11434/v1",
                "http://127.0.0.1:11434/v1/chat/completions",
            ),
            (
                "http://127.0.0.1:11434/v1/",
                "http://127.0.0.1:11434/v1/chat/completions",
            ),
            ("http://llm.lan", "http://llm.lan/chat/completions"),
            ("http://llm.lan/", "http://llm.lan/chat/completions"),
            (
                "https://llm.lan/openai/v1//",
                "https://llm.lan/openai/v1/chat/completions",
            ),
            (
                "http://llm.lan/v1?api-version=2024-06-01#frag",
                "http://llm.lan/v1/chat/completions?api-version=2024-06-01",
            ),
            (
                "http://llm.lan/v1/chat/completions",
                "http://llm.lan/v1/chat/completions",
            ),
            (
                "http://llm.lan/v1/chat/completions/",
                "http://llm.lan/v1/chat/completions",
            ),
            (
                "http://[::1]:8080/v1",
                "http://[::1]:8080/v1/chat/completions",
            ),
        ] {
            assert_eq!(
                completions_url(&url(endpoint)).as_str(),
                expected,
                "{endpoint}"
            );
        }
    }

    #[test]
    fn endpoint_host_is_host_and_explicit_port_only() {
        for (endpoint, host, authority_) in [
            (
                "http://127.0.0.1:11434/v1",
                "127.0.0.1:11434",
                "127.0.0.1:11434",
            ),
            ("http://LLM.Lan/v1", "llm.lan", "llm.lan:80"),
            ("https://llm.lan/v1", "llm.lan", "llm.lan:443"),
            ("https://llm.lan:443/v1", "llm.lan", "llm.lan:443"),
            (
                "http://user:hunter2@10.0.0.5:8000/v1?key=abc",
                "10.0.0.5:8000",
                "10.0.0.5:8000",
            ),
            (
                "http://[fd00::1]:8080/v1",
                "[fd00::1]:8080",
                "[fd00::1]:8080",
            ),
        ] {
            let parsed = url(endpoint);
            assert_eq!(endpoint_host(&parsed), host, "{endpoint}");
            assert_eq!(authority(&parsed), authority_, "{endpoint}");
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = chrono::Utc
            .with_ymd_and_hms(2015, 10, 21, 7, 28, 0)
            .single()
            .expect("date");
        assert_eq!(retry_after_seconds("7", now), Some(7));
        assert_eq!(retry_after_seconds(" 120 ", now), Some(120));
        assert_eq!(
            retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(30)
        );
        // A date in the past means "now".
        assert_eq!(
            retry_after_seconds("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(retry_after_seconds("soon", now), None);
        assert_eq!(retry_after_seconds("-5", now), None);
    }

    #[test]
    fn parse_reads_text_and_reported_usage() {
        let body = br#"{"id":"x","object":"chat.completion","model":"smollm2",
            "choices":[{"index":0,"message":{"role":"assistant","content":"{\"ok\":true}"},
            "finish_reason":"stop"}],
            "usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":19}}"#;
        let completion = parse_completion(body, "configured").expect("completion");
        assert_eq!(completion.text, "{\"ok\":true}");
        assert_eq!(completion.model, "smollm2");
        // Reported as is, even where the total is not the sum.
        assert_eq!(
            completion.usage,
            TokenUsage {
                prompt_tokens: 11,
                completion_tokens: 7,
                total_tokens: 19
            }
        );

        let body = br#"{"choices":[{"message":{"content":"hi"}}],
            "usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        let completion = parse_completion(body, "configured").expect("completion");
        assert_eq!(completion.usage.total_tokens, 5);
        assert_eq!(completion.model, "configured");
    }

    fn backend_message(result: Result<Completion>) -> String {
        match result {
            Err(Error::Backend { message, source }) => {
                assert!(source.is_none(), "no source may carry body text");
                message
            }
            other => panic!("expected Backend, got {other:?}"),
        }
    }

    #[test]
    fn parse_refuses_what_is_not_a_counted_completion() {
        let canary = "CANARY-7f3a";
        let not_completion = [
            format!("<html>{canary}</html>"),
            format!("{{\"error\":{{\"message\":\"{canary}\"}}}}"),
            format!("{{\"choices\":\"{canary}\",\"usage\":{{}}}}"),
            String::new(),
        ];
        for body in &not_completion {
            let message = backend_message(parse_completion(body.as_bytes(), "m"));
            assert_eq!(message, "LLM response is not a chat completion", "{body}");
        }
        for body in [
            format!("{{\"choices\":[{{\"message\":{{\"content\":\"{canary}\"}}}}]}}"),
            format!(
                "{{\"choices\":[{{\"message\":{{\"content\":\"{canary}\"}}}}],\"usage\":null}}"
            ),
            format!(
                "{{\"choices\":[{{\"message\":{{\"content\":\"{canary}\"}}}}],\
                 \"usage\":{{\"prompt_tokens\":5}}}}"
            ),
            format!(
                "{{\"choices\":[{{\"message\":{{\"content\":\"{canary}\"}}}}],\
                 \"usage\":{{\"completion_tokens\":5,\"total_tokens\":5}}}}"
            ),
        ] {
            let message = backend_message(parse_completion(body.as_bytes(), "m"));
            assert!(
                message.starts_with("LLM response has no usage counts"),
                "{message}"
            );
            assert!(message.contains("never estimated (G2)"), "{message}");
        }
        let usage = r#""usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}"#;
        assert_eq!(
            backend_message(parse_completion(
                format!("{{\"choices\":[],{usage}}}").as_bytes(),
                "m"
            )),
            "LLM response has no choices"
        );
        assert!(
            backend_message(parse_completion(
                format!("{{\"choices\":[{{\"message\":{{\"content\":null}}}}],{usage}}}")
                    .as_bytes(),
                "m"
            ))
            .contains("no text content")
        );
        assert_eq!(
            backend_message(parse_completion(
                br#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":-1,"completion_tokens":1}}"#,
                "m"
            )),
            "LLM response has negative usage counts"
        );
    }

    #[test]
    fn request_body_has_the_openai_shape() {
        let messages = vec![
            ChatMessage {
                role: crate::llm::ChatRole::System,
                content: "sys".into(),
            },
            ChatMessage {
                role: crate::llm::ChatRole::User,
                content: "hi".into(),
            },
        ];
        let body = ChatRequest {
            model: "smollm2",
            messages: &messages,
            max_tokens: Some(64),
            temperature: Some(0.0),
            response_format: Some(ResponseFormat {
                kind: "json_object",
            }),
            stream: false,
        };
        assert_eq!(
            serde_json::to_value(&body).expect("json"),
            serde_json::json!({
                "model": "smollm2",
                "messages": [
                    {"role": "system", "content": "sys"},
                    {"role": "user", "content": "hi"}
                ],
                "max_tokens": 64,
                "temperature": 0.0,
                "response_format": {"type": "json_object"},
                "stream": false
            })
        );
        let body = ChatRequest {
            max_tokens: None,
            temperature: None,
            response_format: None,
            ..body
        };
        let value = serde_json::to_value(&body).expect("json");
        assert!(value.get("max_tokens").is_none());
        assert!(value.get("temperature").is_none());
        assert!(value.get("response_format").is_none());
    }

    fn resolver(endpoint: &str, allow_hosts: &[&str]) -> VettedResolver {
        let parsed = url(endpoint);
        VettedResolver {
            endpoint: Arc::from(endpoint),
            allow_hosts: allow_hosts.iter().map(|h| (*h).to_owned()).collect(),
            host_name: Arc::from(normalise_name(parsed.host_str().expect("host"))),
        }
    }

    #[tokio::test]
    async fn resolver_answers_only_for_the_endpoint_host_with_vetted_addresses() {
        let vetted = resolver("http://localhost:11434/v1", &[]);
        let name = reqwest::dns::Name::from_str("LOCALHOST.").expect("name");
        let addresses: Vec<SocketAddr> = vetted.resolve(name).await.expect("resolves").collect();
        assert!(!addresses.is_empty());
        assert!(
            addresses
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 11434),
            "{addresses:?}"
        );

        // A redirect or a bug that asked for another host is refused, whatever it resolves to.
        let name = reqwest::dns::Name::from_str("example.com").expect("name");
        let error = match vetted.resolve(name).await {
            Err(e) => e,
            Ok(_) => panic!("a foreign host was resolved"),
        };
        match error.downcast_ref::<Error>() {
            Some(Error::Forbidden(message)) => {
                assert!(message.contains("\"example.com\""), "{message}");
                assert!(message.contains("(G1)"), "{message}");
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }

        // Unresolvable names are Unavailable, carried as our own error for `transport_error`.
        let vetted = resolver("http://cyberbrain-llm.invalid:1/v1", &[]);
        let name = reqwest::dns::Name::from_str("cyberbrain-llm.invalid").expect("name");
        let error = match vetted.resolve(name).await {
            Err(e) => e,
            Ok(_) => panic!(".invalid resolved"),
        };
        assert!(matches!(
            error.downcast_ref::<Error>(),
            Some(Error::Unavailable { .. })
        ));
    }

    #[test]
    fn root_cause_is_capped() {
        let long = std::io::Error::other("x".repeat(500));
        let message = root_cause(&long);
        assert_eq!(message.chars().count(), 201);
        assert!(message.ends_with('…'));
    }
}
