//! The privacy canary (G2, G3, G6) on the real binary: unique strings planted in the log lines
//! that go into the prompt and in the LLM's answer must never reach the database files or the
//! process log after a full `log_triage` run; a secret in a log line must be masked in the
//! report artifacts.
//!
//! The LLM is a scripted OpenAI-compatible server on loopback (the real server cannot be made
//! to answer with a chosen string); the run goes through the real server, executor, store and
//! artifact writer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cyberbrain::testing::files::{bytes_contain, every_file_under};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::http::Api;
use crate::server::{Backend, Server};

// Letters only: template mining masks numbers and hex runs, and the canary must reach the prompt.
const LOG_CANARY: &str = "CanaryLogQuokkaZebra";
const SECRET_CANARY: &str = "CanarySecretOtterLynx";
const RESPONSE_CANARY: &str = "CanaryRespWombatHeron";

/// Usage the scripted server reports, so the test can check the accounting rows exactly.
const PROMPT_TOKENS: i64 = 321;
const COMPLETION_TOKENS: i64 = 45;

/// A one-route OpenAI-compatible server answering every chat completion with a finding whose
/// explanation carries the response canary. Keeps every request body it received.
struct ScriptedLlm {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl ScriptedLlm {
    async fn start() -> ScriptedLlm {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let Some(body) = read_request_body(&mut stream).await else {
                        return;
                    };
                    seen.lock().expect("lock").push(body);
                    let answer = json!({"findings": [{
                        "severity": "error",
                        "title": "Database connection failures",
                        "explanation": format!("The pool is exhausted {RESPONSE_CANARY}"),
                        "recommendation": "Raise the pool size",
                        "template_ids": [],
                    }]});
                    let reply = json!({
                        "id": "cmpl-1",
                        "object": "chat.completion",
                        "model": "scripted-model",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": answer.to_string()}}],
                        "usage": {"prompt_tokens": PROMPT_TOKENS,
                                  "completion_tokens": COMPLETION_TOKENS,
                                  "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
                    })
                    .to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                        reply.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        ScriptedLlm { port, requests }
    }
}

/// Reads one HTTP/1.1 request and returns its body (by `content-length`).
async fn read_request_body(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&buffer);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into());
            }
        }
    }
}

#[tokio::test]
async fn canaries_never_reach_the_database_or_the_process_log() {
    let llm = ScriptedLlm::start().await;
    let logs = tempfile::tempdir().expect("logs dir");
    let mut lines = String::new();
    for i in 0..40 {
        lines.push_str(&format!(
            "2026-11-24T10:00:{:02}Z ERROR db: connection to pool failed for tenant {LOG_CANARY} password={SECRET_CANARY} attempt {i}\n",
            i % 60
        ));
        lines.push_str(&format!(
            "2026-11-24T10:01:{:02}Z INFO http: GET /health 200 {i}ms\n",
            i % 60
        ));
    }
    std::fs::write(logs.path().join("app.log"), lines).expect("write the log");
    let config = format!(
        "[paths]\nlogs_dir = {:?}\n\n[llm]\nendpoint = \"http://127.0.0.1:{}/v1\"\nmodel = \"scripted-model\"\ncontext_tokens = 4096\n",
        logs.path().display().to_string(),
        llm.port
    );
    let server = Server::start_on(Backend::Sqlite, Some(&config)).await;
    let api = Api::new(&server);

    let run = api
        .post("/api/runs/launch/", &json!({"tasks": ["log_triage"]}))
        .await
        .expect(201, "launch log_triage");
    let run_id = run["id"].as_i64().expect("run id");
    let detail = wait_until_ended(&api, run_id).await;
    assert_eq!(detail["status"], "completed", "run detail: {detail}");

    // The planted log line went into the prompt: the canary is meaningful.
    // Chat completions only: `/api/health` probes the endpoint with a bodiless `GET /models`.
    let requests: Vec<String> = llm
        .requests
        .lock()
        .expect("lock")
        .iter()
        .filter(|body| body.contains("\"messages\""))
        .cloned()
        .collect();
    assert!(!requests.is_empty(), "the LLM was never asked");
    assert!(
        requests.iter().any(|body| body.contains(LOG_CANARY)),
        "the log canary never reached the prompt, so this test would prove nothing"
    );

    // Tokens are the server's own counts, one row per call.
    let calls = detail["llm_calls"].as_array().expect("llm_calls");
    assert_eq!(calls.len(), requests.len());
    for call in calls {
        assert_eq!(call["prompt_tokens"], PROMPT_TOKENS);
        assert_eq!(call["completion_tokens"], COMPLETION_TOKENS);
    }
    assert_eq!(
        detail["total_tokens"].as_i64(),
        Some((PROMPT_TOKENS + COMPLETION_TOKENS) * requests.len() as i64)
    );

    // The report (an artifact) may carry the findings, redacted: the secret is masked.
    let report = api
        .get(&format!("/api/runs/{run_id}/report/"))
        .await
        .expect(200, "report");
    let markdown = report["markdown"].as_str().expect("report markdown");
    assert!(
        markdown.contains("Database connection failures"),
        "{markdown}"
    );
    let artifacts_dir = server.data_dir().join("artifacts");
    for file in every_file_under(&artifacts_dir) {
        let bytes = std::fs::read(&file).expect("read artifact");
        assert!(
            !bytes_contain(&bytes, SECRET_CANARY),
            "G6: the secret from a log line is in the artifact {}",
            file.display()
        );
    }

    // G2: no prompt text (the log canary) and no response text in the database files…
    let database_files: Vec<_> = every_file_under(&server.data_dir())
        .into_iter()
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cyberbrain.db"))
        })
        .collect();
    assert!(!database_files.is_empty(), "no database file found");
    for file in &database_files {
        let bytes = std::fs::read(file).expect("read database file");
        for canary in [LOG_CANARY, SECRET_CANARY, RESPONSE_CANARY] {
            assert!(
                !bytes_contain(&bytes, canary),
                "G2: {canary} is in {}",
                file.display()
            );
        }
    }
    // …nor in the process log.
    let log = server.log();
    for canary in [LOG_CANARY, SECRET_CANARY, RESPONSE_CANARY] {
        assert!(
            !log.contains(canary),
            "G2/G6: {canary} is in the process log"
        );
    }
}

async fn wait_until_ended(api: &Api<'_>, run_id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let detail = api
            .get(&format!("/api/runs/{run_id}/"))
            .await
            .expect(200, "run detail");
        let status = detail["status"].as_str().unwrap_or_default().to_string();
        if matches!(status.as_str(), "completed" | "failed" | "cancelled") {
            return detail;
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} still {status} after 60 s: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
