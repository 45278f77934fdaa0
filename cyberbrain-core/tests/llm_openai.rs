//! The OpenAI-compatible LLM client (`OpenAiLlm`, feature `openai`).
//!
//! - Against a **real** llama-cpp-python server (`scripts/llm.sh up`, then
//!   `CYBERBRAIN_TEST_LLM_ENDPOINT=http://127.0.0.1:PORT/v1`): JSON-mode completion with the
//!   server's own usage counts. Without the variable that test fails; it never skips.
//! - Against a scripted HTTP/1.1 server (a tokio listener answering canned bytes) for every
//!   failure class: 429, 5xx, 4xx, missing usage, bodies that are not completions, timeouts,
//!   refused connections, redirects. Every error is checked for the prompt, a canary planted in
//!   the response body and the API key (G2).
//! - G1 at construction.

mod common;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::{Reply, ScriptedServer, http, json_reply, real_llm_endpoint, refused_addr};
use cyberbrain_core::Error;
use cyberbrain_core::config::{LlmConfig, Secret};
use cyberbrain_core::llm::{
    ChatMessage, ChatRole, CompletionRequest, Llm, OpenAiLlm, OpenAiOptions,
};

const PROMPT_CANARY: &str = "PROMPT-CANARY-5b1e0d";
const BODY_CANARY: &str = "BODY-CANARY-90c2aa";
const API_KEY: &str = "sk-KEY-CANARY-44d7f1";

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A completion whose text carries the body canary, with the given `usage` (or none).
fn completion_body(usage: Option<serde_json::Value>) -> serde_json::Value {
    let mut body = serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "scripted-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("{{\"finding\": \"{BODY_CANARY}\"}}")},
            "finish_reason": "stop"
        }]
    });
    if let Some(usage) = usage {
        body["usage"] = usage;
    }
    body
}

fn config(endpoint: &str) -> LlmConfig {
    LlmConfig {
        endpoint: endpoint.to_owned(),
        model: "scripted-model".into(),
        context_tokens: 2048,
        timeout_s: 5,
        allow_hosts: Vec::new(),
        api_key: Secret::new(API_KEY),
        ..LlmConfig::default()
    }
}

fn request() -> CompletionRequest {
    CompletionRequest::new(vec![
        ChatMessage {
            role: ChatRole::System,
            content: "You triage logs and answer in JSON.".into(),
        },
        ChatMessage {
            role: ChatRole::User,
            content: format!("log line: disk full on /var ({PROMPT_CANARY})"),
        },
    ])
    .with_max_tokens(64)
    .with_json_mode(true)
}

/// Neither the message nor the Debug form of `error` carries the prompt, the body or the key.
fn assert_clean(error: &Error) {
    for text in [error.to_string(), format!("{error:?}")] {
        for canary in [PROMPT_CANARY, BODY_CANARY, API_KEY] {
            assert!(!text.contains(canary), "{canary} leaked into: {text}");
        }
    }
}

async fn complete_against(reply: Reply) -> (Error, ScriptedServer) {
    let server = ScriptedServer::answering(reply).await;
    let llm = OpenAiLlm::new(&config(&server.endpoint())).expect("client");
    let error = llm
        .complete(request())
        .await
        .expect_err("the scripted reply is a failure");
    assert_clean(&error);
    (error, server)
}

fn unavailable(error: Error) -> String {
    match error {
        Error::Unavailable { component, message } => {
            assert_eq!(component, "llm");
            message
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

fn backend(error: Error) -> String {
    match error {
        Error::Backend { message, source } => {
            assert!(source.is_none(), "no source may carry response text");
            message
        }
        other => panic!("expected Backend, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// A real server.

#[tokio::test]
async fn real_server_json_completion_reports_the_servers_usage() {
    let endpoint = real_llm_endpoint();
    let llm = OpenAiLlm::new(&LlmConfig {
        endpoint: endpoint.clone(),
        model: "smollm2".into(),
        context_tokens: 2048,
        timeout_s: 120,
        ..LlmConfig::default()
    })
    .expect("a loopback endpoint passes G1");
    assert_eq!(llm.model(), "smollm2");
    assert_eq!(llm.context_tokens(), 2048);
    let host = llm.endpoint_host();
    assert!(
        endpoint.contains(host) && !host.contains('/'),
        "endpoint_host {host} of {endpoint}"
    );

    let max_tokens = 48;
    let ask = |question: &str| {
        let mut request = CompletionRequest::new(vec![
            ChatMessage {
                role: ChatRole::System,
                content: "You answer with one JSON object and nothing else.".into(),
            },
            ChatMessage {
                role: ChatRole::User,
                content: question.to_owned(),
            },
        ])
        .with_max_tokens(max_tokens)
        .with_json_mode(true);
        request.temperature = Some(0.0);
        request
    };

    let started = Instant::now();
    let completion = llm
        .complete(ask(
            "Return a JSON object with the key \"status\" set to \"ok\".",
        ))
        .await
        .expect("the real server completes");
    let elapsed = started.elapsed();
    let usage = completion.usage;
    assert!(usage.prompt_tokens > 0, "{usage:?}");
    assert!(usage.completion_tokens > 0, "{usage:?}");
    assert!(
        usage.completion_tokens <= i64::from(max_tokens),
        "{usage:?}"
    );
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens,
        "llama.cpp reports total = prompt + completion: {usage:?}"
    );
    assert!(!completion.text.trim().is_empty());
    assert!(
        completion.text.trim_start().starts_with('{'),
        "json_mode constrains the output to a JSON object: {:?}",
        completion.text
    );
    if usage.completion_tokens < i64::from(max_tokens) {
        // It stopped on its own, so the grammar-constrained output is complete JSON.
        let value: serde_json::Value =
            serde_json::from_str(&completion.text).expect("complete JSON-mode output parses");
        assert!(value.is_object(), "{value}");
    }
    eprintln!(
        "real LLM: prompt {} + completion {} tokens in {:.2}s ({:.1} completion tokens/s), model {:?}",
        usage.prompt_tokens,
        usage.completion_tokens,
        elapsed.as_secs_f64(),
        usage.completion_tokens as f64 / elapsed.as_secs_f64(),
        completion.model
    );

    // The counts come from the server's tokenizer: a longer prompt costs more prompt tokens, the
    // same prompt the same number.
    let longer = llm
        .complete(ask(
            "Return a JSON object with the key \"status\" set to \"ok\" and the key \"detail\" \
             describing, in a few words, why a disk that is ninety-nine percent full matters.",
        ))
        .await
        .expect("the real server completes");
    assert!(
        longer.usage.prompt_tokens > usage.prompt_tokens,
        "{:?} vs {usage:?}",
        longer.usage
    );
    let again = llm
        .complete(ask(
            "Return a JSON object with the key \"status\" set to \"ok\".",
        ))
        .await
        .expect("the real server completes");
    assert_eq!(again.usage.prompt_tokens, usage.prompt_tokens);
}

// ---------------------------------------------------------------------------------------------
// The request and a successful scripted exchange.

#[tokio::test]
async fn sends_an_openai_request_and_returns_usage_exactly_as_reported() {
    let usage =
        serde_json::json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 19});
    let server = ScriptedServer::answering(json_reply(&completion_body(Some(usage)))).await;
    // A host name, so the connection goes through the vetting resolver.
    let endpoint = format!("http://localhost:{}/v1/", server.addr.port());
    let llm = OpenAiLlm::new(&config(&endpoint)).expect("client");
    assert_eq!(
        llm.endpoint_host(),
        format!("localhost:{}", server.addr.port())
    );
    assert_eq!(llm.model(), "scripted-model");

    let mut req = request();
    req.temperature = Some(0.2);
    let completion = llm.complete(req).await.expect("completion");
    assert_eq!(
        completion.text,
        format!("{{\"finding\": \"{BODY_CANARY}\"}}")
    );
    assert_eq!(completion.model, "scripted-model");
    // Reported as is: 11 + 7 != 19, and nothing is recomputed or estimated.
    assert_eq!(
        (
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
            completion.usage.total_tokens
        ),
        (11, 7, 19)
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert!(
        sent.head
            .starts_with("POST /v1/chat/completions HTTP/1.1\r\n"),
        "{}",
        sent.head
    );
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(
        sent.header("content-type").as_deref(),
        Some("application/json")
    );
    let body = sent.json();
    assert_eq!(body["model"], "scripted-model");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["stream"], false);
    assert_eq!(
        body["response_format"],
        serde_json::json!({"type": "json_object"})
    );
    assert!((body["temperature"].as_f64().expect("temperature") - 0.2).abs() < 1e-6);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["role"], "user");
    assert!(
        body["messages"][1]["content"]
            .as_str()
            .expect("content")
            .contains(PROMPT_CANARY)
    );
}

#[tokio::test]
async fn no_api_key_means_no_authorization_header_and_plain_mode_has_no_response_format() {
    let usage = serde_json::json!({"prompt_tokens": 3, "completion_tokens": 2});
    let server = ScriptedServer::answering(json_reply(&completion_body(Some(usage)))).await;
    let llm = OpenAiLlm::new(&LlmConfig {
        api_key: Secret::default(),
        ..config(&server.endpoint())
    })
    .expect("client");
    let completion = llm
        .complete(request().with_json_mode(false))
        .await
        .expect("completion");
    // A missing total is the sum of the two reported counts.
    assert_eq!(completion.usage.total_tokens, 5);
    let sent = &server.requests()[0];
    assert_eq!(sent.header("authorization"), None);
    assert!(sent.json().get("response_format").is_none());
}

// ---------------------------------------------------------------------------------------------
// Failure classes.

#[tokio::test]
async fn rate_limited_429_is_unavailable_with_retry_after() {
    let (error, _server) = complete_against(http(
        "429 Too Many Requests",
        &[("retry-after", "7"), ("content-type", "application/json")],
        &format!("{{\"error\":{{\"message\":\"slow down {BODY_CANARY}\"}}}}"),
    ))
    .await;
    let message = unavailable(error);
    assert!(
        message.starts_with("LLM endpoint rate-limited (429); retry after 7s"),
        "{message}"
    );

    let (error, _server) = complete_against(http("429 Too Many Requests", &[], "")).await;
    let message = unavailable(error);
    assert!(
        message.starts_with("LLM endpoint rate-limited (429); retry later"),
        "{message}"
    );
}

#[tokio::test]
async fn server_errors_are_unavailable_with_the_status_only() {
    for status in ["500 Internal Server Error", "503 Service Unavailable"] {
        let (error, server) = complete_against(http(
            status,
            &[("content-type", "text/plain")],
            &format!("Traceback: prompt was {PROMPT_CANARY}; {BODY_CANARY}"),
        ))
        .await;
        let message = unavailable(error);
        let code = &status[..3];
        assert_eq!(
            message,
            format!("LLM endpoint error: HTTP {code} ({})", server.addr)
        );
    }
}

#[tokio::test]
async fn client_errors_are_backend_errors_that_never_echo_the_body() {
    // Servers echo the offending input in validation errors; none of it may come back.
    let (error, server) = complete_against(http(
        "400 Bad Request",
        &[("content-type", "application/json")],
        &format!(
            "{{\"error\":{{\"message\":\"Requested tokens exceed context window in: {PROMPT_CANARY} {BODY_CANARY}\"}}}}"
        ),
    ))
    .await;
    let message = backend(error);
    assert!(
        message.starts_with(&format!(
            "LLM endpoint rejected the request: HTTP 400 ({})",
            server.addr
        )),
        "{message}"
    );

    let (error, _server) = complete_against(http("401 Unauthorized", &[], BODY_CANARY)).await;
    let message = backend(error);
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(message.contains("llm.api_key"), "{message}");

    let (error, _server) = complete_against(http("404 Not Found", &[], BODY_CANARY)).await;
    let message = backend(error);
    assert!(message.contains("HTTP 404"), "{message}");
    assert!(message.contains("llm.endpoint"), "{message}");
}

#[tokio::test]
async fn missing_usage_is_an_error_never_an_estimate() {
    let (error, _server) = complete_against(json_reply(&completion_body(None))).await;
    assert_eq!(
        backend(error),
        "LLM response has no usage counts; token counts are never estimated (G2)"
    );

    let (error, _server) = complete_against(json_reply(&completion_body(Some(
        serde_json::json!({"prompt_tokens": 12, "total_tokens": 12}),
    ))))
    .await;
    let message = backend(error);
    assert!(
        message.starts_with("LLM response has no usage counts"),
        "{message}"
    );
}

#[tokio::test]
async fn bodies_that_are_not_completions_are_backend_errors() {
    for body in [
        format!("<html><body>{BODY_CANARY}</body></html>"),
        format!("{{\"choices\": [{{\"message\": {{\"content\": \"{BODY_CANARY}"),
        format!("{{\"error\": {{\"message\": \"{BODY_CANARY}\"}}}}"),
        format!("{{\"choices\": \"{BODY_CANARY}\", \"usage\": {{}}}}"),
    ] {
        let (error, _server) = complete_against(http(
            "200 OK",
            &[("content-type", "application/json")],
            &body,
        ))
        .await;
        assert_eq!(
            backend(error),
            "LLM response is not a chat completion",
            "{body}"
        );
    }

    let mut empty = completion_body(Some(
        serde_json::json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
    ));
    empty["choices"] = serde_json::json!([]);
    let (error, _server) = complete_against(json_reply(&empty)).await;
    assert_eq!(backend(error), "LLM response has no choices");
}

#[tokio::test]
async fn a_response_that_never_comes_times_out_after_the_configured_seconds() {
    for reply in [Reply::Silence, Reply::StallBody] {
        let server = ScriptedServer::answering(reply).await;
        let llm = OpenAiLlm::new(&LlmConfig {
            timeout_s: 1,
            ..config(&server.endpoint())
        })
        .expect("client");
        let started = Instant::now();
        let error = llm.complete(request()).await.expect_err("times out");
        let elapsed = started.elapsed();
        assert_clean(&error);
        let message = unavailable(error);
        assert!(
            message.starts_with("LLM request timed out after 1s"),
            "{message}"
        );
        assert!(message.contains("llm.timeout_s"), "{message}");
        assert!(
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
            "took {elapsed:?}"
        );
        assert_eq!(server.requests().len(), 1, "the request was sent once");
    }
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    // Bind, note the port, close: nothing listens there now.
    let addr = refused_addr();
    let llm = OpenAiLlm::new(&config(&format!("http://{addr}/v1"))).expect("client");
    let error = llm.complete(request()).await.expect_err("refused");
    assert_clean(&error);
    let message = unavailable(error);
    assert!(
        message.starts_with(&format!("LLM endpoint unreachable: {addr}: ")),
        "{message}"
    );
    assert!(
        message.to_ascii_lowercase().contains("refused"),
        "{message}"
    );
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_unreachable() {
    // `.invalid` never resolves (RFC 6761); construction accepts it (the LLM may start later),
    // the connect-time check inside the client's resolver refuses it.
    let llm = OpenAiLlm::new(&config("http://cyberbrain-llm.invalid:8080/v1")).expect("client");
    let error = llm.complete(request()).await.expect_err("unresolvable");
    assert_clean(&error);
    let message = unavailable(error);
    assert!(
        message.starts_with(
            "LLM endpoint unreachable: cyberbrain-llm.invalid:8080: cannot resolve LLM endpoint host"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = ScriptedServer::answering(json_reply(&completion_body(Some(
        serde_json::json!({"prompt_tokens": 1, "completion_tokens": 1}),
    ))))
    .await;
    let location = format!(
        "http://localhost:{}/v1/chat/completions",
        elsewhere.addr.port()
    );
    let (error, _server) = complete_against(http(
        "307 Temporary Redirect",
        &[("location", &location)],
        "",
    ))
    .await;
    let message = backend(error);
    assert!(message.contains("HTTP 307"), "{message}");
    assert!(
        message.contains("redirects are not followed (G1)"),
        "{message}"
    );
    assert_eq!(elsewhere.connections(), 0);
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let mut body = completion_body(Some(
        serde_json::json!({"prompt_tokens": 1, "completion_tokens": 1}),
    ));
    body["padding"] = serde_json::Value::String("x".repeat(4096));
    let server = ScriptedServer::answering(json_reply(&body)).await;
    let llm = OpenAiLlm::with_options(
        &config(&server.endpoint()),
        OpenAiOptions {
            max_response_bytes: 1024,
            ..OpenAiOptions::default()
        },
    )
    .expect("client");
    let error = llm.complete(request()).await.expect_err("too large");
    assert_clean(&error);
    let message = backend(error);
    assert!(
        message.starts_with("LLM response is larger than 1024 bytes"),
        "{message}"
    );
}

#[tokio::test]
async fn an_empty_request_is_invalid_input() {
    let llm = OpenAiLlm::new(&config("http://127.0.0.1:9/v1")).expect("client");
    let error = llm
        .complete(CompletionRequest::new(Vec::new()))
        .await
        .expect_err("no messages");
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// G2 in logs and Debug output.

/// A tracing subscriber that writes every span field and event into one string.
#[derive(Default)]
struct Capture {
    text: Arc<Mutex<String>>,
    next_id: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut text = self.text.lock().expect("lock");
        let _ = write!(text, "\nspan {}:", span.metadata().name());
        span.record(&mut Fields(&mut text));
        tracing::span::Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut text = self.text.lock().expect("lock");
        text.push_str("\nrecord:");
        values.record(&mut Fields(&mut text));
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.text.lock().expect("lock");
        let _ = write!(text, "\nevent {}:", event.metadata().target());
        event.record(&mut Fields(&mut text));
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn logs_carry_counts_and_host_but_no_prompt_response_or_key() {
    let capture = Capture::default();
    let text = capture.text.clone();
    let _guard = tracing::subscriber::set_default(capture);

    let usage =
        serde_json::json!({"prompt_tokens": 31, "completion_tokens": 17, "total_tokens": 48});
    let ok = ScriptedServer::answering(json_reply(&completion_body(Some(usage)))).await;
    let llm = OpenAiLlm::new(&config(&ok.endpoint())).expect("client");
    llm.complete(request()).await.expect("completion");

    let failing = ScriptedServer::answering(json_reply(&completion_body(None))).await;
    let llm = OpenAiLlm::new(&config(&failing.endpoint())).expect("client");
    llm.complete(request()).await.expect_err("no usage");

    let logged = text.lock().expect("lock").clone();
    for canary in [PROMPT_CANARY, BODY_CANARY, API_KEY] {
        assert!(
            !logged.contains(canary),
            "{canary} leaked into the log:{logged}"
        );
    }
    assert!(logged.contains("span llm.complete"), "{logged}");
    assert!(logged.contains("model=scripted-model"), "{logged}");
    assert!(logged.contains(&format!("host={}", ok.addr)), "{logged}");
    assert!(logged.contains("prompt_tokens=31"), "{logged}");
    assert!(logged.contains("completion_tokens=17"), "{logged}");
    assert!(logged.contains("duration_ms="), "{logged}");
    assert!(logged.contains("outcome=\"ok\""), "{logged}");
    assert!(logged.contains("outcome=\"error\""), "{logged}");
}

#[test]
fn debug_output_hides_the_api_key_and_url_credentials() {
    let llm = OpenAiLlm::new(&config("http://admin:hunter2@127.0.0.1:8080/v1")).expect("client");
    let debug = format!("{llm:?}");
    assert!(!debug.contains(API_KEY), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("127.0.0.1:8080"), "{debug}");
    assert_eq!(llm.endpoint_host(), "127.0.0.1:8080");
}

// ---------------------------------------------------------------------------------------------
// G1 at construction, and configuration errors.

#[test]
fn a_public_endpoint_is_refused_at_construction() {
    for endpoint in [
        "http://8.8.8.8/v1",
        "https://1.1.1.1:443/v1",
        "http://[2001:4860:4860::8888]/v1",
    ] {
        match OpenAiLlm::new(&config(endpoint)) {
            Err(Error::Forbidden(message)) => {
                assert!(message.contains("(G1)"), "{message}");
                assert!(message.contains("llm.allow_hosts"), "{message}");
            }
            other => panic!("{endpoint}: expected Forbidden, got {other:?}"),
        }
    }
    match OpenAiLlm::new(&config("http://8.8.8.8/v1")) {
        Err(Error::Forbidden(message)) => assert!(message.contains("\"8.8.8.8\""), "{message}"),
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[test]
fn local_and_allow_listed_endpoints_are_accepted() {
    for endpoint in [
        "http://127.0.0.1:11434/v1",
        "http://localhost:11434/v1",
        "http://10.1.2.3:8000/v1",
        "http://192.168.1.20/v1",
        "http://[fd00::5]:8080/v1",
    ] {
        OpenAiLlm::new(&config(endpoint))
            .unwrap_or_else(|e| panic!("{endpoint} should be accepted: {e}"));
    }
    // A host name the operator listed is accepted without resolving it.
    let llm = OpenAiLlm::new(&LlmConfig {
        allow_hosts: vec!["llm.example.com".into()],
        ..config("https://LLM.example.com:8443/v1")
    })
    .expect("allow-listed host name");
    assert_eq!(llm.endpoint_host(), "llm.example.com:8443");
    // So is a listed public address (a Tailscale node, say), and only that one.
    let allow = vec!["8.8.4.4".to_owned()];
    assert!(
        OpenAiLlm::new(&LlmConfig {
            allow_hosts: allow.clone(),
            ..config("http://8.8.4.4/v1")
        })
        .is_ok()
    );
    assert!(matches!(
        OpenAiLlm::new(&LlmConfig {
            allow_hosts: allow,
            ..config("http://8.8.8.8/v1")
        }),
        Err(Error::Forbidden(_))
    ));
}

#[test]
fn bad_configuration_is_invalid_input_naming_the_field() {
    let fields = |config: LlmConfig| match OpenAiLlm::new(&config) {
        Err(Error::InvalidInput(errors)) => errors
            .fields()
            .map(|(field, _)| field.to_owned())
            .collect::<Vec<_>>(),
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert_eq!(fields(config("ftp://127.0.0.1/v1")), ["llm.endpoint"]);
    assert_eq!(fields(config("127.0.0.1:11434")), ["llm.endpoint"]);
    assert_eq!(
        fields(LlmConfig {
            model: " ".into(),
            timeout_s: 0,
            context_tokens: 0,
            ..config("http://127.0.0.1:11434/v1")
        }),
        ["llm.context_tokens", "llm.model", "llm.timeout_s"]
    );
}
