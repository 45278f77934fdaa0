//! The `log_triage` runner (SPEC §3.2) over the real SQLite store and artifacts root.
//!
//! - End to end against a **real** local LLM server (`scripts/llm.sh up`, then
//!   `CYBERBRAIN_TEST_LLM_ENDPOINT=<the LLM_ENDPOINT it prints>`); never skipped.
//! - Every LLM failure path against a scripted OpenAI-compatible server (`common::http`): the job
//!   fails with a clear message and only calls the server answered with usage are recorded.
//! - Windows, budgets, sources and conditions with the core test doubles (`ScriptedLlm`,
//!   `FakeContainerEngine`), and the privacy canary (G2/G3/G6) on the database files.
//!
//! Run: `cargo test -p cyberbrain-core --features testing,openai,docker --test runners_log_triage`

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;
use common::http::{self, Reply, ScriptedServer};
use common::{Harness, JobOutcome, container, id, log_line, occurrences};
use cyberbrain_core::Result;
use cyberbrain_core::config::LlmConfig;
use cyberbrain_core::container::ContainerEngine;
use cyberbrain_core::domain::{JobStatus, LlmOutcome, PageRequest, RunStatus};
use cyberbrain_core::engine::{Ingester, LaunchRequest};
use cyberbrain_core::llm::{Completion, CompletionRequest, Llm, OpenAiLlm};
use cyberbrain_core::tasks::logs::{PromptBudget, estimate_messages};
use cyberbrain_core::testing::{FakeContainerEngine, HashEmbedder, ScriptedLlm, ScriptedReply};
use serde_json::{Value, json};

const TASK: &str = "log_triage";

fn launch() -> LaunchRequest {
    LaunchRequest::new()
}

/// A findings answer as the model would give it.
fn answer(title: &str, explanation: &str) -> String {
    http::findings("error", title, explanation)
}

/// An LLM client for the scripted server at `endpoint`.
fn scripted_client(endpoint: &str, timeout_s: u64) -> Arc<dyn Llm> {
    Arc::new(
        OpenAiLlm::new(&LlmConfig {
            endpoint: endpoint.to_owned(),
            model: "scripted-model".into(),
            context_tokens: 2048,
            timeout_s,
            ..LlmConfig::default()
        })
        .expect("a loopback endpoint passes G1"),
    )
}

/// A harness with two log fixtures (errors, a traceback, warnings) and the given LLM.
async fn with_logs(llm: Arc<dyn Llm>) -> Harness {
    let harness = Harness::new(|_| {}).await.with_llm(llm);
    harness.copy_log_fixture("nginx_error.log");
    harness.copy_log_fixture("python_app.log");
    harness
}

/// The checks every failed LLM step shares: failed job and run, the message in the job's and
/// the run's error summaries, no artifact of the job, and the run's report written anyway.
fn assert_failed_cleanly(outcome: &JobOutcome, harness: &Harness, expected: &str) -> String {
    let error = outcome.error();
    assert!(error.contains(expected), "{expected:?} not in: {error}");
    assert_eq!(outcome.job.status, JobStatus::Failed);
    assert_eq!(outcome.run.status, RunStatus::Failed);
    let summary = outcome.job.error_summary.clone().unwrap_or_default();
    assert!(summary.contains(expected), "job error summary: {summary}");
    let run_summary = outcome.run.error_summary.clone().unwrap_or_default();
    assert!(
        run_summary.contains(expected),
        "run error summary: {run_summary}"
    );
    assert!(
        outcome.artifacts.is_empty(),
        "a failed triage writes no task report: {:?}",
        outcome.artifacts
    );
    let report = std::fs::read_to_string(
        harness
            .artifacts_dir
            .join(format!("run_{}/report.md", outcome.run.id)),
    )
    .expect("the run report is written for a failed run too");
    assert!(report.contains("log_triage — failed"), "{report}");
    outcome.assert_totals_match_calls();
    error
}

// ---------------------------------------------------------------------------------------------
// The real LLM server.

#[tokio::test]
async fn real_llm_end_to_end_records_the_servers_usage_and_writes_the_report() {
    let endpoint = http::real_llm_endpoint();
    let llm = OpenAiLlm::new(&LlmConfig {
        endpoint: endpoint.clone(),
        model: "smollm2".into(),
        context_tokens: 2048,
        timeout_s: 300,
        ..LlmConfig::default()
    })
    .expect("a loopback endpoint passes G1");
    let host = llm.endpoint_host().to_owned();
    let harness = with_logs(Arc::new(llm)).await;
    // A few templates keep the 135M model's answer short.
    harness
        .configure_task(TASK, json!({"top_templates": 4}))
        .await;

    let outcome = harness.run_task(TASK, launch()).await;

    // Whatever the small model answered, every call it answered is a row with the server's
    // own counts, and the job's and run's totals are their sums.
    assert!(!outcome.calls.is_empty(), "the model was asked");
    for call in &outcome.calls {
        assert!(call.prompt_tokens > 0, "{call:?}");
        assert!(call.completion_tokens > 0, "{call:?}");
        assert_eq!(
            call.total_tokens,
            call.prompt_tokens + call.completion_tokens,
            "llama.cpp reports total = prompt + completion: {call:?}"
        );
        // The reserved answer room is the request's max_tokens (2048 / 4).
        assert!(call.completion_tokens <= 512, "{call:?}");
        assert_eq!(call.endpoint_host, host);
        assert_eq!(call.outcome, LlmOutcome::Ok);
        assert!(!call.model.is_empty());
    }
    outcome.assert_totals_match_calls();
    assert!(outcome.run.total_tokens > 0);

    match &outcome.result {
        Ok(result) => {
            // One call per prompt: the model answered findings JSON each time.
            assert_eq!(result["prompts"], json!(outcome.calls.len()), "{result}");
            assert_eq!(outcome.job.status, JobStatus::Completed);
            assert_eq!(outcome.job.result, *result);
            let markdown = outcome.artifact_text(&harness, "log_triage.md");
            assert!(markdown.starts_with("# Log triage"), "{markdown}");
            assert!(markdown.contains("## Findings"), "{markdown}");
            assert!(markdown.contains("file:python_app.log"), "{markdown}");
            let report = outcome.artifact_json(&harness, "log_triage.json");
            assert_eq!(
                report["findings"].as_array().map(Vec::len),
                result["findings_count"].as_u64().map(|n| n as usize)
            );
            eprintln!(
                "real LLM: {} findings from {} calls, {} tokens",
                result["findings_count"],
                outcome.calls.len(),
                outcome.run.total_tokens
            );
        }
        Err(error) => {
            // The 135M model may ignore the format: then the job fails after exactly one retry,
            // both answered calls recorded, and the message says why without quoting the answer.
            let message = error.to_string();
            assert!(
                message.contains("invalid findings JSON 2 times"),
                "an unexpected failure against the real server: {message}"
            );
            assert_eq!(outcome.calls.len(), 2, "one answer and one retry");
            assert_failed_cleanly(&outcome, &harness, "invalid findings JSON");
            eprintln!("real LLM: the model answered invalid JSON twice: {message}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scripted server: every failure path.

#[tokio::test]
async fn an_unreachable_llm_fails_the_job_without_a_token_row() {
    let harness = with_logs(scripted_client(&http::refused_endpoint(), 5)).await;
    let outcome = harness.run_task(TASK, launch()).await;
    let error = assert_failed_cleanly(&outcome, &harness, "LLM endpoint unreachable");
    assert!(outcome.calls.is_empty(), "{:?}", outcome.calls);
    assert_eq!(outcome.run.total_tokens, 0);
    eprintln!("unreachable: {error}");
}

#[tokio::test]
async fn no_configured_llm_is_unreachable_too() {
    let harness = Harness::new(|_| {}).await;
    harness.copy_log_fixture("nginx_error.log");
    let outcome = harness.run_task(TASK, launch()).await;
    assert_failed_cleanly(&outcome, &harness, "LLM endpoint unreachable");
    assert!(outcome.calls.is_empty());
}

#[tokio::test]
async fn rate_limiting_server_errors_and_missing_usage_fail_without_a_token_row() {
    let cases = [
        (
            http::http(
                "429 Too Many Requests",
                &[("retry-after", "7")],
                "slow down",
            ),
            "429",
        ),
        (
            http::http("500 Internal Server Error", &[], "boom"),
            "HTTP 500",
        ),
        (
            http::completion(&answer("Disk full", "The disk is full."), None),
            "usage",
        ),
    ];
    for (reply, expected) in cases {
        let server = ScriptedServer::start(vec![reply]).await;
        let harness = with_logs(scripted_client(&server.endpoint(), 5)).await;
        let outcome = harness.run_task(TASK, launch()).await;
        let error = assert_failed_cleanly(&outcome, &harness, expected);
        assert!(outcome.calls.is_empty(), "{expected}: {:?}", outcome.calls);
        assert_eq!(outcome.run.total_tokens, 0, "{expected}");
        assert_eq!(
            server.bodies().len(),
            1,
            "{expected}: no retry of a failed call"
        );
        eprintln!("{expected}: {error}");
    }
}

#[tokio::test]
async fn a_timeout_fails_the_job_without_a_token_row() {
    let server = ScriptedServer::start(vec![Reply::Silence]).await;
    let harness = with_logs(scripted_client(&server.endpoint(), 1)).await;
    let outcome = harness.run_task(TASK, launch()).await;
    assert_failed_cleanly(&outcome, &harness, "timed out");
    assert!(outcome.calls.is_empty());
}

#[tokio::test]
async fn invalid_json_twice_fails_after_one_retry_with_both_calls_recorded() {
    const ANSWER_CANARY: &str = "answercanaryqpzxw";
    let garbage = format!("I think the logs show {ANSWER_CANARY} problems, no JSON here");
    let server = ScriptedServer::start(vec![
        http::completion(&garbage, Some((300, 11))),
        http::completion("{\"findings\": [{\"title\": 42", Some((300, 13))),
    ])
    .await;
    let harness = with_logs(scripted_client(&server.endpoint(), 5)).await;
    let outcome = harness.run_task(TASK, launch()).await;

    let error = assert_failed_cleanly(&outcome, &harness, "invalid findings JSON 2 times");
    assert!(error.contains("retried once"), "{error}");
    assert!(
        !error.contains(ANSWER_CANARY),
        "the answer is never quoted: {error}"
    );
    assert_eq!(server.bodies().len(), 2, "one answer and one retry");
    // The server reported usage for both answers: both are recorded, exactly as reported.
    let rows: Vec<(i64, i64, i64)> = outcome
        .calls
        .iter()
        .map(|c| (c.prompt_tokens, c.completion_tokens, c.total_tokens))
        .collect();
    assert_eq!(rows, [(300, 11, 311), (300, 13, 313)]);
    assert_eq!(outcome.run.total_tokens, 624);
    assert!(outcome.calls.iter().all(|c| c.model == "scripted-model"));
}

#[tokio::test]
async fn an_invalid_answer_is_retried_once_and_the_retry_can_succeed() {
    let server = ScriptedServer::start(vec![
        http::completion("not JSON", Some((200, 3))),
        http::completion(
            &answer("Upstream timeouts", "nginx cannot reach the upstream."),
            Some((200, 40)),
        ),
    ])
    .await;
    let harness = with_logs(scripted_client(&server.endpoint(), 5)).await;
    let outcome = harness.run_task(TASK, launch()).await;
    let result = outcome.value();
    assert_eq!(result["findings_count"], 1);
    assert_eq!(
        result["findings"],
        json!([{"severity": "error", "title": "Upstream timeouts"}])
    );
    assert_eq!(outcome.calls.len(), 2);
    outcome.assert_totals_match_calls();
    assert_eq!(outcome.job.total_tokens, 443);

    // What the model was sent: JSON mode, the reserved answer room, a retry at another
    // temperature, the same prompt both times.
    let bodies: Vec<Value> = server
        .bodies()
        .iter()
        .map(|b| http::request_json(b))
        .collect();
    for body in &bodies {
        assert_eq!(
            body["response_format"],
            json!({"type": "json_object"}),
            "{body}"
        );
        assert_eq!(body["max_tokens"], 512, "{body}");
    }
    assert_ne!(bodies[0]["temperature"], bodies[1]["temperature"]);
    assert_eq!(bodies[0]["messages"], bodies[1]["messages"]);
    let prompt = bodies[0]["messages"].to_string();
    assert!(
        prompt.contains("Log templates, most severe first"),
        "{prompt}"
    );
    assert!(prompt.contains("file:python_app.log"), "{prompt}");
}

// ---------------------------------------------------------------------------------------------
// Reports, windows, budgets and sources (test doubles).

/// Wraps [`ScriptedLlm`] and keeps every request, so tests see what reached the prompt.
#[derive(Debug)]
struct RecordingLlm {
    inner: ScriptedLlm,
    requests: Mutex<Vec<CompletionRequest>>,
}

impl RecordingLlm {
    fn new(replies: impl IntoIterator<Item = ScriptedReply>) -> Arc<Self> {
        Arc::new(Self {
            inner: ScriptedLlm::new(replies),
            requests: Mutex::new(Vec::new()),
        })
    }

    fn with_context(context: u32, replies: impl IntoIterator<Item = ScriptedReply>) -> Arc<Self> {
        Arc::new(Self {
            inner: ScriptedLlm::new(replies).with_context_tokens(context),
            requests: Mutex::new(Vec::new()),
        })
    }

    fn requests(&self) -> Vec<CompletionRequest> {
        self.requests.lock().expect("lock").clone()
    }

    fn prompts(&self) -> String {
        self.requests()
            .iter()
            .flat_map(|r| r.messages.iter().map(|m| m.content.clone()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[async_trait]
impl Llm for RecordingLlm {
    async fn complete(&self, request: CompletionRequest) -> Result<Completion> {
        self.requests.lock().expect("lock").push(request.clone());
        self.inner.complete(request).await
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    fn endpoint_host(&self) -> &str {
        self.inner.endpoint_host()
    }

    fn context_tokens(&self) -> u32 {
        self.inner.context_tokens()
    }
}

fn replies(n: usize) -> Vec<ScriptedReply> {
    (0..n)
        .map(|i| {
            ScriptedReply::text(
                answer(&format!("Finding {i}"), "Something happened."),
                100,
                20,
            )
        })
        .collect()
}

#[tokio::test]
async fn the_report_the_result_and_the_artifacts() {
    let llm = RecordingLlm::new([ScriptedReply::text(
        json!({"findings": [
            {"severity": "critical", "title": "Worker jobs crash", "explanation": "ValueError in handler.",
             "recommendation": "Validate payloads.", "template_ids": ["not-a-template"]},
            {"severity": "warning", "title": "Upstream timeouts", "explanation": "nginx", "recommendation": ""},
        ]})
        .to_string(),
        500,
        60,
    )]);
    let harness = with_logs(llm.clone()).await;
    harness.write_log(
        "sub/dir/app.txt",
        "2024-05-01T12:00:00Z ERROR disk /dev/sda1 full\n",
    );
    harness.write_log("ignored.md", "ERROR not a log by the default globs\n");
    let outcome = harness.run_task(TASK, launch()).await;
    let result = outcome.value().clone();

    // The job result: counts and the findings' severities and titles, nothing else (G2).
    assert_eq!(result["files"], 3, "{result}");
    assert_eq!(result["sources"], 3, "{result}");
    assert_eq!(result["findings_count"], 2);
    assert_eq!(
        result["findings"],
        json!([
            {"severity": "critical", "title": "Worker jobs crash"},
            {"severity": "warning", "title": "Upstream timeouts"},
        ])
    );
    assert_eq!(result["prompts"], 1);
    assert_eq!(result["window"], "tail");
    assert_eq!(result["container_logs"], "not_configured");
    assert_eq!(
        (
            result["rag_used"].clone(),
            result["rag_chunks_retrieved"].clone()
        ),
        (json!(false), json!(0))
    );
    let text = result.to_string();
    for forbidden in [
        "ValueError in handler",
        "Validate payloads",
        "/dev/sda1",
        "Processing job",
    ] {
        assert!(
            !text.contains(forbidden),
            "{forbidden} in the job result: {text}"
        );
    }
    assert_eq!(outcome.job.result, result);

    // One call with the reported usage.
    outcome.assert_one_call((500, 60));
    let request = &llm.requests()[0];
    assert!(request.json_mode);
    assert_eq!(request.max_tokens, Some(512));

    // The artifacts, registered with size and hash, and the report's sections.
    let names: Vec<&str> = outcome
        .artifacts
        .iter()
        .map(|a| a.relative_path.rsplit('/').next().unwrap_or_default())
        .collect();
    assert_eq!(names, ["log_triage.md", "log_triage.json"]);
    let markdown = outcome.artifact_text(&harness, "log_triage.md");
    for expected in [
        "# Log triage",
        "## Findings",
        "Worker jobs crash",
        "**Recommendation:** Validate payloads.",
        "## Top templates",
        "## Sources",
        "file:sub/dir/app.txt",
        "## Reading",
        "- **Log files:** 3 matched",
        "no container engine is configured",
    ] {
        assert!(
            markdown.contains(expected),
            "{expected:?} missing:\n{markdown}"
        );
    }
    assert!(!markdown.contains("ignored.md"));
    let report = outcome.artifact_json(&harness, "log_triage.json");
    assert_eq!(
        report["findings"][0]["explanation"],
        "ValueError in handler."
    );
    // An invented template id is dropped.
    assert_eq!(report["findings"][0]["template_ids"], json!([]));
    assert_eq!(report["reading"]["files"], 3);
    assert_eq!(
        report["rag"],
        json!({
            "requested": false,
            "used": false,
            "chunks_retrieved": 0,
            "chunks_used": 0,
            "documents": [],
            "query_hash": null,
            "skipped": null
        })
    );

    // The run report nests the task report; the summary keeps the job result.
    let run_report = std::fs::read_to_string(
        harness
            .artifacts_dir
            .join(format!("run_{}/report.md", outcome.run.id)),
    )
    .expect("run report");
    assert!(run_report.contains("### Log triage"), "{run_report}");
    assert_eq!(outcome.run.status, RunStatus::Completed);
}

#[tokio::test]
async fn secrets_and_addresses_are_redacted_in_the_artifacts() {
    let llm = RecordingLlm::new([ScriptedReply::text(
        answer(
            "Login failures from 10.20.30.40",
            "user bob@example.com failed",
        ),
        10,
        5,
    )]);
    let harness = Harness::new(|_| {}).await.with_llm(llm.clone());
    harness.write_log(
        "auth.log",
        "2024-05-01T12:00:00Z ERROR login failed password=hunter2secretvalue from 192.168.7.9\n",
    );
    let outcome = harness.run_task(TASK, launch()).await;
    outcome.value();
    let prompts = llm.prompts();
    assert!(
        !prompts.contains("hunter2secretvalue"),
        "templates are redacted: {prompts}"
    );
    for name in ["log_triage.md", "log_triage.json"] {
        let text = outcome.artifact_text(&harness, name);
        for secret in [
            "hunter2secretvalue",
            "192.168.7.9",
            "10.20.30.40",
            "bob@example.com",
        ] {
            assert!(!text.contains(secret), "{secret} in {name}:\n{text}");
        }
    }
}

#[tokio::test]
async fn the_window_starts_at_the_last_success_and_reports_are_never_read_back() {
    // The artifacts root inside the logs directory: its files match the globs and must never be
    // read (a report must not feed the next triage).
    let llm = RecordingLlm::new(replies(4));
    let harness = Harness::new(|config| {
        let logs = config.paths.logs_dir.clone().expect("logs dir");
        config.paths.artifacts_dir = Some(logs.join("artifacts"));
    })
    .await
    .with_llm(llm.clone());
    // Every file matches: only the exclusion keeps the reports out.
    harness
        .configure_task(TASK, json!({"globs": ["**/*"]}))
        .await;
    let t0 = harness.now();
    let stamp = |offset: i64| (t0 + Duration::seconds(offset)).to_rfc3339();
    harness.write_log(
        "app.log",
        format!(
            "{} ERROR old failure one\n{} ERROR old failure two\n",
            stamp(-120),
            stamp(-60)
        ),
    );
    let first = harness.run_task(TASK, launch()).await;
    assert_eq!(first.value()["lines"], 2);
    assert_eq!(first.value()["window"], "tail");
    assert_eq!(first.value()["files"], 1, "the artifacts root is not read");
    assert!(
        harness
            .logs_dir
            .join(format!("artifacts/run_{}/log_triage.md", first.run.id))
            .exists()
    );

    // New lines after the first run ended; the second run sees only them.
    harness.clock.advance(Duration::seconds(60));
    let mut log = std::fs::read_to_string(harness.logs_dir.join("app.log")).expect("log");
    log.push_str(&format!("{} ERROR new failure\n", stamp(30)));
    harness.write_log("app.log", log);
    let second = harness.run_task(TASK, launch()).await;
    let result = second.value();
    assert_eq!(result["window"], "since_last_success", "{result}");
    assert_eq!(result["lines"], 1, "{result}");
    assert_eq!(result["files"], 1, "{result}");
    let markdown = second.artifact_text(&harness, "log_triage.md");
    assert!(
        markdown.contains("(the end of this task's last successful run)"),
        "{markdown}"
    );
    assert!(
        markdown.contains("2 older lines were not analysed"),
        "{markdown}"
    );
    let prompts = llm.prompts();
    assert!(prompts.contains("new failure"), "{prompts}");

    // The next run's window is again only what is new: nothing, so the model is not asked.
    harness.clock.advance(Duration::seconds(60));
    let third = harness.run_task(TASK, launch()).await;
    assert_eq!(third.value()["lines"], 0);
    assert!(third.calls.is_empty(), "no events, no LLM call");
}

#[tokio::test]
async fn the_tail_is_configurable_and_binary_lines_are_not_fatal() {
    let llm = RecordingLlm::new(replies(2));
    let harness = Harness::new(|_| {}).await.with_llm(llm.clone());
    harness.configure_task(TASK, json!({"tail_lines": 3})).await;
    let lines: String = (0..10).map(|i| format!("WARN step {i} slow\n")).collect();
    harness.write_log("steps.log", lines);
    harness.copy_log_fixture("binary_garbage.log");
    let outcome = harness.run_task(TASK, launch()).await;
    let result = outcome.value();
    // 3 of steps.log + at most 3 of the binary file.
    assert!(
        result["lines"]
            .as_u64()
            .is_some_and(|n| (4..=6).contains(&n)),
        "{result}"
    );
    assert_eq!(result["files"], 2);
}

#[tokio::test]
async fn many_templates_go_out_in_several_prompts_each_within_the_budget() {
    let context = 1536;
    let llm = RecordingLlm::with_context(context, replies(40));
    let harness = Harness::new(|_| {}).await.with_llm(llm.clone());
    harness
        .configure_task(TASK, json!({"top_templates": 60}))
        .await;
    let lines: String = (0..60)
        .map(|i| {
            let word: String =
                std::iter::repeat_n(char::from(b'a' + (i % 26) as u8), 3 + i / 26).collect();
            format!("ERROR subsystem {word} failed while handling the request queue of {word}\n")
        })
        .collect();
    harness.write_log("many.log", lines);
    let outcome = harness.run_task(TASK, launch()).await;
    let result = outcome.value();
    let prompts = result["prompts"].as_u64().expect("prompts");
    assert!(
        prompts > 1,
        "60 templates need several prompts in a {context}-token context: {result}"
    );
    assert_eq!(outcome.calls.len() as u64, prompts, "one call per prompt");
    assert_eq!(
        result["templates_sent"], 60,
        "every selected template is sent: {result}"
    );
    let budget = PromptBudget::for_context(context);
    for request in llm.requests() {
        assert!(
            estimate_messages(&request.messages) <= budget.prompt_tokens(),
            "a prompt exceeds the budget"
        );
        assert_eq!(request.max_tokens, Some(budget.reserved_for_answer));
    }
    // Findings of every batch are merged.
    assert_eq!(result["findings_count"].as_u64(), Some(prompts));
    outcome.assert_totals_match_calls();
}

#[tokio::test]
async fn use_rag_without_an_embedder_reports_why_and_still_triages() {
    let harness = with_logs(RecordingLlm::new(replies(2))).await;
    let outcome = harness.run_task(TASK, launch().with_use_rag(true)).await;
    assert_eq!(outcome.job.status, JobStatus::Completed);
    let result = outcome.value();
    assert_eq!(result["use_rag"], true);
    assert_eq!(result["rag_used"], false);
    assert_eq!(result["rag_chunks_retrieved"], 0);
    let markdown = outcome.artifact_text(&harness, "log_triage.md");
    assert!(
        markdown.contains("requested (`use_rag`), no notes used")
            && markdown.contains("scripts/models.sh"),
        "{markdown}"
    );
    let report = outcome.artifact_json(&harness, "log_triage.json");
    assert_eq!(report["rag"]["requested"], true);
    assert_eq!(report["rag"]["used"], false);
    assert!(
        report["rag"]["skipped"]
            .as_str()
            .is_some_and(|why| why.contains("embedder")),
        "{report}"
    );
}

#[tokio::test]
async fn use_rag_puts_the_nearest_knowledge_into_the_prompt_and_links_the_retrieval() {
    let llm = RecordingLlm::new(replies(4));
    let harness = with_logs(llm.clone())
        .await
        .with_embedder(Arc::new(HashEmbedder::default()));
    // A runbook sharing words with the fixture logs' templates, and an unrelated note.
    const RUNBOOK: &str = "Runbook: when upstream timed out while reading response header from                            upstream appears, restart the app workers and check the database pool.";
    for (name, text) in [
        ("runbook.md", RUNBOOK),
        (
            "recipes.txt",
            "Pancakes need flour, milk and eggs; whisk well.",
        ),
    ] {
        harness
            .cb
            .upload_document(name, &mut text.as_bytes())
            .await
            .expect("upload");
    }
    let ingester = Ingester::new(harness.cb.clone());
    while ingester.ingest_next().await.expect("ingest").is_some() {}

    let outcome = harness.run_task(TASK, launch().with_use_rag(true)).await;
    assert_eq!(
        outcome.job.status,
        JobStatus::Completed,
        "{:?}",
        outcome.job
    );
    let result = outcome.value();
    assert_eq!(result["rag_used"], true, "{result}");
    assert_eq!(result["rag_chunks_retrieved"], 2, "{result}");
    assert!(
        llm.prompts().contains("restart the app workers"),
        "the runbook reached the prompt"
    );
    let documents = harness
        .cb
        .list_documents(PageRequest::first(10))
        .await
        .expect("documents");
    let runbook = documents
        .items
        .iter()
        .find(|d| d.document.source == "runbook.md")
        .expect("the runbook's document");
    let report = outcome.artifact_json(&harness, "log_triage.json");
    assert_eq!(
        report["rag"]["documents"][0], runbook.document.title,
        "the nearest document first: {report}"
    );
    let markdown = outcome.artifact_text(&harness, "log_triage.md");
    assert!(
        markdown.contains("retrieved notes went into the prompt"),
        "{markdown}"
    );
    assert!(
        !markdown.contains("restart the app workers"),
        "chunk text stays out of reports"
    );

    // One retrieval event, linked to the run, holding the query's hash only (G3).
    let events = harness
        .cb
        .store()
        .list_retrievals(Some(outcome.run.id), PageRequest::first(10))
        .await
        .expect("retrievals");
    assert_eq!(events.count, 1);
    assert_eq!(events.items[0].top_k, 5);
    assert_eq!(events.items[0].results_count, 2);
    assert_eq!(
        report["rag"]["query_hash"], events.items[0].query_hash,
        "{report}"
    );
}

#[tokio::test]
async fn nothing_to_analyse_completes_without_asking_the_model() {
    // No LLM at all: it is not needed when there are no events.
    let harness = Harness::new(|_| {}).await;
    harness.write_log("empty.log", "");
    let outcome = harness.run_task(TASK, launch()).await;
    let result = outcome.value();
    assert_eq!(result["events"], 0);
    assert_eq!(result["prompts"], 0);
    assert!(outcome.calls.is_empty());
    let markdown = outcome.artifact_text(&harness, "log_triage.md");
    assert!(markdown.contains("the model was not asked"), "{markdown}");
}

#[tokio::test]
async fn a_missing_logs_directory_is_a_condition_and_bad_globs_fail() {
    let harness = Harness::new(|config| {
        config.paths.logs_dir = Some(config.paths.data_dir.join("no-such-dir"));
    })
    .await;
    let outcome = harness.run_task(TASK, launch()).await;
    assert_eq!(outcome.value()["files"], 0);
    assert_eq!(outcome.value()["source_notes"], 1);
    let markdown = outcome.artifact_text(&harness, "log_triage.md");
    assert!(
        markdown.contains("CYBER_BRAIN_LOGS"),
        "the condition names the fix: {markdown}"
    );

    let harness = Harness::new(|_| {}).await;
    harness
        .configure_task(TASK, json!({"globs": ["../etc/*.log"]}))
        .await;
    let outcome = harness.run_task(TASK, launch()).await;
    let error = outcome.error();
    assert!(
        error.contains("globs") && error.contains("cannot leave logs_dir"),
        "{error}"
    );
    harness
        .configure_task(TASK, json!({"globs": ["**/*.log"], "tail_lines": 0}))
        .await;
    let error = harness.run_task(TASK, launch()).await.error();
    assert!(error.contains("config.tail_lines"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Container sources through the allowlist (G5), with the fake engine.

const WEB: char = 'a';
const SECRET: char = 'c';

fn fake_engine(harness: &Harness) -> Arc<FakeContainerEngine> {
    let engine = FakeContainerEngine::new();
    let at = harness.now() - Duration::seconds(30);
    engine.add_container(
        container(&id(WEB), "web", &[], &["appnet"], &[]),
        vec![
            log_line(at, "ERROR upstream connect failed"),
            log_line(at + Duration::seconds(1), "ERROR upstream connect failed"),
        ],
    );
    engine.add_container(
        container(&id(SECRET), "secret", &[], &["appnet"], &[]),
        vec![log_line(at, "ERROR secretcontainercanary leaked")],
    );
    Arc::new(engine)
}

#[tokio::test]
async fn only_allowlisted_container_logs_are_read() {
    let llm = RecordingLlm::new(replies(1));
    let harness = Harness::new(|_| {}).await.with_llm(llm.clone());
    let engine = fake_engine(&harness);
    let harness = harness.with_engine(engine.clone());
    harness.allow("web").await;
    let outcome = harness.run_task(TASK, launch()).await;
    let result = outcome.value();
    assert_eq!(result["container_logs"], "read");
    assert_eq!(result["sources"], 1, "{result}");
    assert_eq!(result["lines"], 2, "{result}");
    assert_eq!(
        engine.contacted(),
        [id(WEB)],
        "only the allowlisted container was read (G5)"
    );
    let markdown = outcome.artifact_text(&harness, "log_triage.md");
    assert!(markdown.contains("container:web"), "{markdown}");
    assert!(
        markdown.contains("1 allowlisted container read"),
        "{markdown}"
    );
    assert!(!markdown.contains("secretcontainercanary"));
    assert!(!llm.prompts().contains("secretcontainercanary"));
}

#[tokio::test]
async fn an_unreachable_engine_is_a_condition_and_files_are_still_read() {
    let llm = RecordingLlm::new(replies(1));
    let harness = Harness::new(|_| {}).await.with_llm(llm);
    let engine = fake_engine(&harness);
    engine.set_unavailable(Some("connection refused at unix:///run/docker.sock".into()));
    let harness = harness.with_engine(engine.clone());
    harness.allow("web").await;
    harness.copy_log_fixture("nginx_error.log");
    let outcome = harness.run_task(TASK, launch()).await;
    let result = outcome.value();
    assert_eq!(result["container_logs"], "container_engine_unavailable");
    assert_eq!(result["files"], 1);
    assert!(result["events"].as_u64().is_some_and(|n| n > 0));
    assert!(engine.contacted().is_empty());
    let markdown = outcome.artifact_text(&harness, "log_triage.md");
    assert!(
        markdown.contains("`container_engine_unavailable`"),
        "{markdown}"
    );
    assert!(markdown.contains("connection refused"), "{markdown}");
}

/// Lists like the fake engine, then removes one container, as if it stopped and was removed
/// between the listing and the read.
#[derive(Debug)]
struct VanishingEngine {
    inner: Arc<FakeContainerEngine>,
    victim: String,
}

#[async_trait]
impl ContainerEngine for VanishingEngine {
    async fn list_containers(&self) -> Result<Vec<cyberbrain_core::container::ContainerSummary>> {
        let listed = self.inner.list_containers().await?;
        self.inner.remove_container(&self.victim);
        Ok(listed)
    }

    async fn list_networks(&self) -> Result<Vec<cyberbrain_core::container::NetworkSummary>> {
        self.inner.list_networks().await
    }

    async fn inspect_container(
        &self,
        id: &str,
    ) -> Result<cyberbrain_core::container::ContainerDetails> {
        self.inner.inspect_container(id).await
    }

    async fn logs(
        &self,
        id: &str,
        since: Option<cyberbrain_core::domain::Timestamp>,
        tail: u32,
    ) -> Result<Vec<cyberbrain_core::container::LogLine>> {
        self.inner.logs(id, since, tail).await
    }
}

#[tokio::test]
async fn a_container_that_vanishes_mid_run_is_an_empty_source() {
    let llm = RecordingLlm::new(replies(1));
    let harness = Harness::new(|_| {}).await.with_llm(llm);
    let inner = fake_engine(&harness);
    let engine = Arc::new(VanishingEngine {
        inner: inner.clone(),
        victim: id(WEB),
    });
    let harness = harness.with_engine(engine);
    harness.allow("web").await;
    harness.copy_log_fixture("nginx_error.log");
    let outcome = harness.run_task(TASK, launch()).await;
    let result = outcome.value();
    assert_eq!(outcome.job.status, JobStatus::Completed);
    assert_eq!(result["container_logs"], "read");
    assert_eq!(
        result["sources"], 2,
        "the vanished container is an empty source: {result}"
    );
    let report = outcome.artifact_json(&harness, "log_triage.json");
    let web = report["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["label"] == "container:web")
        .unwrap_or_else(|| panic!("container:web listed: {report}"));
    assert_eq!(web["lines"], 0);
}

// ---------------------------------------------------------------------------------------------
// The canary (G2, G3, G6): strings in log lines, in the prompt and in the answer never reach
// the database files.

#[tokio::test]
async fn canaries_in_logs_prompts_and_answers_never_reach_the_database() {
    const LOG_CANARY: &str = "zqxlogcanaryvwk";
    const SECRET_CANARY: &str = "zqxsecretcanaryvwk";
    const ANSWER_CANARY: &str = "zqxanswercanaryvwk";
    const TITLE: &str = "Payment service cannot reach its database";
    let llm = RecordingLlm::new([ScriptedReply::text(
        json!({"findings": [{
            "severity": "critical",
            "title": TITLE,
            "explanation": format!("The log says {ANSWER_CANARY} repeatedly."),
            "recommendation": format!("Check {ANSWER_CANARY} settings."),
            "template_ids": [],
        }]})
        .to_string(),
        777,
        55,
    )]);
    let harness = Harness::new(|_| {}).await.with_llm(llm.clone());
    let engine = fake_engine(&harness);
    let harness = harness.with_engine(engine);
    harness.allow("web").await;
    harness.write_log(
        "payments.log",
        format!(
            "2024-05-01T12:00:00Z ERROR payment {LOG_CANARY} failed: db unreachable\n\
             2024-05-01T12:00:01Z ERROR payment {LOG_CANARY} failed: db unreachable\n\
             2024-05-01T12:00:02Z ERROR auth token={SECRET_CANARY} rejected\n"
        ),
    );
    let outcome = harness.run_task(TASK, launch().with_use_rag(true)).await;
    assert_eq!(outcome.value()["findings"][0]["title"], TITLE);

    // The canaries really travelled: the log canary into the prompt, the answer canary into
    // the report artifact; the secret was masked before the prompt.
    let prompts = llm.prompts();
    assert!(
        prompts.contains(LOG_CANARY),
        "the log canary reached the prompt"
    );
    assert!(
        !prompts.contains(SECRET_CANARY),
        "secrets are masked in templates"
    );
    let markdown = outcome.artifact_text(&harness, "log_triage.md");
    assert!(
        markdown.contains(ANSWER_CANARY),
        "the answer reached the report"
    );
    assert!(!markdown.contains(SECRET_CANARY), "G6 in the report");

    // The database files hold the title (what the result may carry) but none of the canaries.
    let files = harness.database_bytes();
    assert!(
        !occurrences(&files, TITLE).is_empty(),
        "the scan sees stored text (the finding's title)"
    );
    for canary in [
        LOG_CANARY,
        SECRET_CANARY,
        ANSWER_CANARY,
        "secretcontainercanary",
    ] {
        let found = occurrences(&files, canary);
        assert!(found.is_empty(), "{canary} reached the database: {found:?}");
    }
    assert_eq!(outcome.calls.len(), 1);
    assert_eq!(outcome.calls[0].total_tokens, 832);
}
