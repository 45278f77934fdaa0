//! The run endpoints (SPEC §4 runs, artifacts, accounting and ops rows) over the real router,
//! engine, executor and SQLite store: launch → execute → jobs, report, artifacts, download,
//! accounting and metrics; approvals; cancel; and every 400/404/409 a client can provoke, each
//! without a write.

mod common;

use axum::http::{Method, StatusCode, header};
use common::TestApp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The built-in D3 directive; it requires approval.
const CHANGE_PLANNING: &str = "Change Planning";

async fn directive_id(app: &TestApp, name: &str) -> i64 {
    let page = app.get("/api/directives/?page_size=200").await.json();
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .and_then(|d| d["id"].as_i64())
        .unwrap_or_else(|| panic!("no directive {name:?}: {page}"))
}

async fn launch(app: &TestApp, body: Value) -> Value {
    let response = app.json(Method::POST, "/api/runs/launch/", &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let run = response.json();
    assert_eq!(
        response.header(header::LOCATION),
        Some(format!("/api/runs/{}/", run["id"]).as_str())
    );
    run
}

fn ids(page: &Value) -> Vec<i64> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|run| run["id"].as_i64().unwrap())
        .collect()
}

fn message(body: &Value, field: &str) -> String {
    body[field]
        .as_array()
        .unwrap_or_else(|| panic!("no message for {field}: {body}"))
        .iter()
        .map(|m| m.as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test]
async fn a_launched_run_executes_and_everything_about_it_reads_back() {
    let app = TestApp::new().await;
    let executor = app.executor();

    let run = launch(&app, json!({"tasks": ["task2"]})).await;
    let id = run["id"].as_i64().unwrap();
    assert_eq!(run["trigger"], "api", "{run}");
    assert_eq!(run["approval_status"], "none");
    assert_eq!(run["directive_snapshot"]["name"], "default");
    assert_eq!(run["snapshot_sha256"].as_str().unwrap().len(), 64);

    let detail = app.wait_until_reported(id).await;
    assert_eq!(detail["status"], "completed", "{detail}");
    assert_eq!(detail["jobs"].as_array().unwrap().len(), 1, "{detail}");
    assert_eq!(detail["jobs"][0]["task_key"], "gpu_report");
    assert_eq!(detail["jobs"][0]["status"], "completed");
    assert_eq!(
        detail["llm_calls"],
        json!([]),
        "gpu_report under D1 asks no LLM"
    );
    for uri in [format!("/api/runs/{id}"), format!("/api/runs/{id}/")] {
        assert_eq!(app.get(&uri).await.json()["id"], id, "{uri}");
    }

    let jobs = app.get(&format!("/api/runs/{id}/jobs/")).await;
    assert_eq!(jobs.status, StatusCode::OK);
    assert_eq!(jobs.json()["count"], 1);
    assert_eq!(jobs.json()["results"][0]["task_key"], "gpu_report");

    let report = app.get(&format!("/api/runs/{id}/report/")).await.json();
    assert_eq!(report["id"], id);
    assert_eq!(report["status"], "completed");
    let markdown = report["markdown"].as_str().unwrap();
    assert!(markdown.contains(&format!("run {id}")), "{markdown}");
    assert!(markdown.contains("no_gpus_available"), "{markdown}");
    assert!(report["json"].is_object(), "{report}");
    assert!(report["completed_at"].is_string(), "{report}");
    assert_eq!(report["total_tokens"], 0);

    // Artifacts: the run's report files and the task's own, each downloadable as registered.
    let artifacts = app.get(&format!("/api/runs/{id}/artifacts/")).await.json();
    let paths: Vec<&str> = artifacts["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["relative_path"].as_str().unwrap())
        .collect();
    for expected in [
        "report.md",
        "summary.json",
        "gpu_report.md",
        "gpu_report.json",
    ] {
        assert!(
            paths.contains(&format!("run_{id}/{expected}").as_str()),
            "{expected} missing: {paths:?}"
        );
    }
    let all = app.get(&format!("/api/artifacts/?run={id}")).await.json();
    assert_eq!(all["count"], artifacts["count"]);
    for artifact in artifacts["results"].as_array().unwrap() {
        let artifact_id = artifact["id"].as_i64().unwrap();
        assert_eq!(
            app.get(&format!("/api/artifacts/{artifact_id}/"))
                .await
                .json(),
            *artifact
        );
        let download = app
            .get(&format!("/api/artifacts/{artifact_id}/download/"))
            .await;
        assert_eq!(download.status, StatusCode::OK);
        let file = artifact["relative_path"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert_eq!(
            download.header(header::CONTENT_DISPOSITION),
            Some(format!("attachment; filename=\"run_{id}_{file}\"").as_str())
        );
        let content_type = download.header(header::CONTENT_TYPE).unwrap();
        let expected_type = match artifact["kind"].as_str().unwrap() {
            "markdown" => "text/markdown; charset=utf-8",
            "json" => "application/json",
            _ => "text/plain; charset=utf-8",
        };
        assert_eq!(content_type, expected_type, "{artifact}");
        assert_eq!(
            download.header(header::X_CONTENT_TYPE_OPTIONS),
            Some("nosniff")
        );
        assert_eq!(
            hex::encode(Sha256::digest(&download.body)),
            artifact["sha256"].as_str().unwrap(),
            "the bytes are the registered file"
        );
        assert_eq!(
            download.body.len() as i64,
            artifact["size_bytes"].as_i64().unwrap()
        );
    }

    // Filters: status, task by key or alias; and the window of the next log_triage.
    assert!(ids(&app.get("/api/runs/?status=completed").await.json()).contains(&id));
    assert!(ids(&app.get("/api/runs/?status=pending").await.json()).is_empty());
    assert!(ids(&app.get("/api/runs/?task=gpu_report").await.json()).contains(&id));
    assert!(ids(&app.get("/api/runs/?task=task2").await.json()).contains(&id));
    assert!(ids(&app.get("/api/runs/?task=log_triage").await.json()).is_empty());
    assert!(ids(&app.get("/api/runs/?approval=none").await.json()).contains(&id));
    let since = app
        .get("/api/runs/since-last-success/?task=gpu_report")
        .await
        .json();
    assert_eq!(since["count"], 1);
    assert_eq!(since["results"][0]["task_key"], "gpu_report");
    assert_eq!(since["results"][0]["run_id"], id);
    assert!(since["results"][0]["last_success_at"].is_string());
    let every = app.get("/api/runs/since-last-success/").await.json();
    assert_eq!(every["count"], 3, "one row per task: {every}");

    // Accounting: no LLM call, one run under the default directive.
    assert_eq!(
        app.get("/api/token-stats/").await.json(),
        json!({"total_tokens": 0, "total_prompt_tokens": 0, "total_completion_tokens": 0, "call_count": 0})
    );
    let cost = app.get("/api/cost-report/").await.json();
    assert_eq!(cost["total_cost"], 0.0);
    assert!(
        cost["by_model"].is_object() && cost["note"].is_string(),
        "{cost}"
    );
    let usage = app.get("/api/usage-by-directive/").await.json();
    let default = usage["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["directive_name"] == "default")
        .unwrap_or_else(|| panic!("{usage}"));
    assert_eq!(default["runs"], 1);
    let inventory = app.get("/api/container-inventory/").await.json();
    assert_eq!(inventory["count"], 0, "{inventory}");
    let policies = app
        .get(&format!("/api/network-policies/?run={id}"))
        .await
        .json();
    assert_eq!(policies["count"], 0, "{policies}");

    executor.shutdown().await.expect("executor shutdown");
}

#[tokio::test]
async fn approval_holds_a_run_until_approved_and_deny_cancels() {
    let app = TestApp::new().await;
    let d3 = directive_id(&app, CHANGE_PLANNING).await;

    let held = launch(&app, json!({"tasks": ["gpu_report"], "directive_id": d3})).await;
    let held_id = held["id"].as_i64().unwrap();
    assert_eq!(held["approval_status"], "pending", "{held}");
    let denied = launch(&app, json!({"tasks": ["gpu_report"], "directive_id": d3})).await;
    let denied_id = denied["id"].as_i64().unwrap();

    let queue = app.get("/api/approvals/").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert_eq!(ids(&queue.json()), vec![denied_id, held_id], "newest first");
    assert_eq!(
        ids(&app.get("/api/runs/?approval=pending").await.json()),
        vec![denied_id, held_id]
    );

    // The executor runs, but a run awaiting approval is never claimed.
    let executor = app.executor();
    let metrics = app.get("/metrics/json/").await.json();
    assert_eq!(metrics["runnable_jobs"], 0, "{metrics}");

    let deny = app
        .post_empty(&format!("/api/runs/{denied_id}/deny/"))
        .await;
    assert_eq!(deny.status, StatusCode::OK, "{}", deny.text());
    assert_eq!(deny.json()["status"], "cancelled");
    assert_eq!(deny.json()["approval_status"], "denied");
    for action in ["approve", "deny"] {
        let again = app
            .post_empty(&format!("/api/runs/{denied_id}/{action}/"))
            .await;
        assert_eq!(
            again.status,
            StatusCode::CONFLICT,
            "{action}: {}",
            again.text()
        );
        assert!(again.json()["detail"].is_string());
    }

    let approve = app
        .post_empty(&format!("/api/runs/{held_id}/approve"))
        .await;
    assert_eq!(approve.status, StatusCode::OK, "{}", approve.text());
    let approved = approve.json();
    assert_eq!(approved["approval_status"], "approved");
    assert_eq!(approved["approved_by"], "anonymous");
    assert!(approved["approved_at"].is_string());
    assert_eq!(
        approved["approved_snapshot_sha256"], approved["snapshot_sha256"],
        "G4: the approval names the snapshot it approved"
    );
    let again = app
        .post_empty(&format!("/api/runs/{held_id}/approve/"))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let detail = app.wait_until_reported(held_id).await;
    assert_eq!(detail["status"], "completed", "{detail}");
    assert_eq!(app.get("/api/approvals/").await.json()["count"], 0);
    executor.shutdown().await.expect("executor shutdown");
}

#[tokio::test]
async fn cancel_ends_a_pending_run_at_once_and_an_ended_run_is_a_conflict() {
    let app = TestApp::new().await;
    let run = launch(&app, json!({})).await;
    let id = run["id"].as_i64().unwrap();
    let jobs = app.get(&format!("/api/runs/{id}/jobs/")).await.json();
    assert_eq!(jobs["count"], 3, "no tasks named: every active task");

    // A JSON body is ignored: the action takes none.
    let cancelled = app
        .json(
            Method::POST,
            &format!("/api/runs/{id}/cancel/"),
            &json!({"x": 1}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    assert_eq!(cancelled.json()["status"], "cancelled");
    let jobs = app.get(&format!("/api/runs/{id}/jobs/")).await.json();
    for job in jobs["results"].as_array().unwrap() {
        assert_eq!(job["status"], "cancelled", "{job}");
    }
    let report = app.get(&format!("/api/runs/{id}/report/")).await.json();
    assert!(
        report["markdown"].as_str().unwrap().contains("cancelled"),
        "{report}"
    );

    let again = app.post_empty(&format!("/api/runs/{id}/cancel/")).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert!(again.json()["detail"].is_string());
    for action in ["approve", "deny"] {
        let response = app.post_empty(&format!("/api/runs/{id}/{action}/")).await;
        assert_eq!(response.status, StatusCode::CONFLICT, "{action}");
    }
}

#[tokio::test]
async fn bad_launches_are_field_errors_and_write_nothing() {
    let app = TestApp::new().await;
    let d1 = directive_id(&app, "Read-only Diagnostics").await;
    let before = app.snapshot().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"tasks": ["nope"]}),
            "tasks",
            "task \"nope\" does not exist",
        ),
        (
            json!({"tasks": ["log_triage"], "task_ids": [1]}),
            "task_ids",
            "not both",
        ),
        (
            json!({"task_ids": [999]}),
            "task_ids",
            "task 999 does not exist",
        ),
        (
            json!({"directive_id": 999}),
            "directive_id",
            "does not exist",
        ),
        (
            json!({"directive_id": d1, "custom_directive_text": "x"}),
            "custom_directive_text",
            "not both",
        ),
        (
            json!({"custom_directive_text": "  "}),
            "custom_directive_text",
            "blank",
        ),
        (
            json!({"task3_scope": "everything"}),
            "task3_scope",
            "\"everything\"",
        ),
        (
            json!({"task3_scope": "all"}),
            "task3_scope",
            "needs a D4 directive",
        ),
        (json!({"tasks": "log_triage"}), "tasks", "invalid type"),
        (json!({"trigger": "schedule"}), "trigger", "unknown field"),
        (json!({"use_rag": "yes"}), "use_rag", "invalid type"),
    ];
    for (body, field, expected) in cases {
        let response = app.json(Method::POST, "/api/runs/launch/", &body).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            response.text()
        );
        let got = message(&response.json(), field);
        assert!(got.contains(expected), "{body}: {field}: {got}");
    }
    for (content_type, body, status) in [
        (Some("application/json"), "", StatusCode::BAD_REQUEST),
        (Some("application/json"), "[]", StatusCode::BAD_REQUEST),
        (
            Some("application/json"),
            "{\"tasks\": [",
            StatusCode::BAD_REQUEST,
        ),
        (None, "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            Some("application/x-www-form-urlencoded"),
            "tasks=log_triage",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let response = app
            .raw(Method::POST, "/api/runs/launch/", content_type, body)
            .await;
        assert_eq!(response.status, status, "{content_type:?} {body:?}");
        assert!(response.json().is_object());
    }
    let wrong_method = app.get("/api/runs/launch/").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused launch writes nothing"
    );
}

#[tokio::test]
async fn bad_filters_name_the_parameter() {
    let app = TestApp::new().await;
    for (uri, field, expected) in [
        ("/api/runs/?status=done", "status", "\"done\" is not one of"),
        (
            "/api/runs/?approval=maybe",
            "approval",
            "\"maybe\" is not one of",
        ),
        ("/api/runs/?task=nope", "task", "unknown task \"nope\""),
        ("/api/runs/?page_size=0", "page_size", "between 1 and 200"),
        (
            "/api/runs/since-last-success/?task=nope",
            "task",
            "unknown task",
        ),
        ("/api/artifacts/?run=abc", "run", "positive integer"),
        ("/api/artifacts/?run=0", "run", "positive integer"),
        (
            "/api/container-inventory/?run=-1",
            "run",
            "positive integer",
        ),
        ("/api/network-policies/?run=1.5", "run", "positive integer"),
        ("/api/approvals/?page=0", "page", "must be 1 or more"),
        (
            "/api/runs/1/artifacts/?page_size=500",
            "page_size",
            "between 1 and 200",
        ),
    ] {
        let response = app.get(uri).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            response.text()
        );
        let got = message(&response.json(), field);
        assert!(got.contains(expected), "{uri}: {got}");
    }
    // Empty values mean "no filter"; filters survive in the page links.
    assert_eq!(
        app.get("/api/runs/?status=&task=").await.status,
        StatusCode::OK
    );
    for _ in 0..3 {
        launch(&app, json!({"tasks": ["gpu_report"]})).await;
    }
    let page = app
        .get("/api/runs/?status=pending&task=task2&page_size=2")
        .await
        .json();
    assert_eq!(page["count"], 3);
    assert_eq!(
        page["next"],
        "/api/runs/?status=pending&task=task2&page=2&page_size=2"
    );
}

#[tokio::test]
async fn unknown_runs_and_artifacts_are_404_never_500() {
    let app = TestApp::new().await;
    for uri in [
        "/api/runs/999/",
        "/api/runs/999/jobs/",
        "/api/runs/999/report/",
        "/api/runs/999/artifacts/",
        "/api/runs/abc/",
        "/api/runs/0/jobs/",
        "/api/runs/-1/report",
        "/api/artifacts/999/",
        "/api/artifacts/999/download/",
        "/api/artifacts/abc/download/",
        "/api/artifacts/?run=999",
        "/api/container-inventory/?run=999",
        "/api/network-policies/?run=999",
    ] {
        let response = app.get(uri).await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{uri}: {}",
            response.text()
        );
        assert!(response.json()["detail"].is_string(), "{uri}");
    }
    for action in ["cancel", "approve", "deny"] {
        for id in ["999", "abc", "0"] {
            let response = app.post_empty(&format!("/api/runs/{id}/{action}/")).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{action} {id}");
        }
    }
}

#[tokio::test]
async fn artifact_downloads_never_leave_the_artifacts_root() {
    let app = TestApp::new().await;
    let executor = app.executor();
    let run = launch(&app, json!({"tasks": ["gpu_report"]})).await;
    let id = run["id"].as_i64().unwrap();
    app.wait_until_reported(id).await;
    executor.shutdown().await.expect("executor shutdown");
    let artifacts = app.get(&format!("/api/runs/{id}/artifacts/")).await.json();
    let artifact = artifacts["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["relative_path"]
                .as_str()
                .unwrap()
                .ends_with("gpu_report.md")
        })
        .unwrap()
        .clone();
    let artifact_id = artifact["id"].as_i64().unwrap();

    // G8: the registered file is replaced by a symbolic link to a secret outside the root.
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-CONTENT").unwrap();
    let root = app.cb.config().paths.artifacts_dir();
    let file = root.join(artifact["relative_path"].as_str().unwrap());
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&secret, &file).unwrap();
    let download = app
        .get(&format!("/api/artifacts/{artifact_id}/download/"))
        .await;
    assert_eq!(
        download.status,
        StatusCode::FORBIDDEN,
        "{}",
        download.text()
    );
    assert!(
        !download.text().contains("TOP-SECRET"),
        "{}",
        download.text()
    );
    assert!(download.json()["detail"].is_string());

    // A registered file that is gone is 404, not 500.
    std::fs::remove_file(&file).unwrap();
    let gone = app
        .get(&format!("/api/artifacts/{artifact_id}/download/"))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text());

    // Paths in place of ids name nothing.
    for uri in [
        "/api/artifacts/..%2f..%2fetc%2fpasswd/download/",
        "/api/artifacts/..%2F..%2Fetc%2Fpasswd/download",
        "/api/artifacts/%2e%2e/download/",
        "/api/artifacts/1%2f..%2f..%2fetc%2fpasswd/download/",
        "/api/artifacts/1/download/..%2f..%2fetc%2fpasswd",
        "/api/artifacts/1/../../../etc/passwd",
        "/api/runs/1/report/..%2f..%2fetc%2fpasswd",
    ] {
        let response = app.get(uri).await;
        assert!(
            response.status == StatusCode::NOT_FOUND || response.status == StatusCode::BAD_REQUEST,
            "{uri}: {}",
            response.status
        );
        assert!(
            !response.text().contains("root:"),
            "{uri}: {}",
            response.text()
        );
    }
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text_and_match_the_json() {
    let app = TestApp::new().await;
    launch(&app, json!({"tasks": ["gpu_report", "service_map"]})).await;
    launch(&app, json!({"tasks": ["gpu_report"]})).await;

    for uri in ["/metrics", "/metrics/"] {
        let response = app.get(uri).await;
        assert_eq!(response.status, StatusCode::OK, "{uri}");
        assert_eq!(
            response.header(header::CONTENT_TYPE),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = response.text();
        assert_exposition_grammar(&text);

        let lines = text.lines().map(|line| Ok(line.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("parses");
        let value = |metric: &str, label: Option<(&str, &str)>| -> f64 {
            let sample = scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == metric
                        && label.is_none_or(|(name, value)| s.labels.get(name) == Some(value))
                })
                .unwrap_or_else(|| panic!("{metric} {label:?} missing:\n{text}"));
            match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{metric}: {other:?}"),
            }
        };
        assert_eq!(value("cyberbrain_runs", Some(("status", "pending"))), 2.0);
        assert_eq!(value("cyberbrain_runs", Some(("status", "completed"))), 0.0);
        assert_eq!(value("cyberbrain_jobs", Some(("status", "pending"))), 3.0);
        assert_eq!(value("cyberbrain_executor_queue_depth", None), 3.0);
        assert_eq!(value("cyberbrain_llm_prompt_tokens_total", None), 0.0);
        assert_eq!(
            value("cyberbrain_llm_calls_total", Some(("outcome", "ok"))),
            0.0
        );
        assert_eq!(
            value("cyberbrain_llm_call_duration_seconds_count", None),
            0.0
        );
        for family in [
            "cyberbrain_runs",
            "cyberbrain_jobs",
            "cyberbrain_executor_queue_depth",
            "cyberbrain_llm_prompt_tokens_total",
            "cyberbrain_llm_completion_tokens_total",
            "cyberbrain_llm_calls_total",
            "cyberbrain_llm_call_duration_seconds",
        ] {
            assert!(scrape.docs.contains_key(family), "HELP for {family}");
        }
    }

    let json = app.get("/metrics/json/").await;
    assert_eq!(json.status, StatusCode::OK);
    let json = json.json();
    assert_eq!(json["runs_by_status"]["pending"], 2, "{json}");
    assert_eq!(json["jobs_by_status"]["pending"], 3);
    assert_eq!(json["runnable_jobs"], 3);
    assert!(json["max_running_runs"].as_u64().unwrap() >= 1);
}

/// The text format's grammar, line by line: `# HELP name text`, `# TYPE name kind` before any
/// sample of the family, and samples `name{label="value",…} number`.
fn assert_exposition_grammar(text: &str) {
    let sample = regex::Regex::new(
        r#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|NaN|\+Inf|-Inf)$"#,
    )
    .unwrap();
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut helped: Vec<String> = Vec::new();
    assert!(text.ends_with('\n'), "the exposition ends with a line feed");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            helped.push(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                helped.contains(&name.to_string()),
                "HELP before TYPE: {line}"
            );
            assert!(
                !typed.iter().any(|(n, _)| n == name),
                "one TYPE per family: {line}"
            );
            typed.push((name.to_string(), kind.to_string()));
        } else {
            let captures = sample
                .captures(line)
                .unwrap_or_else(|| panic!("not a valid sample line: {line:?}"));
            let name = &captures[1];
            let family = typed.iter().find(|(family, kind)| {
                name == family
                    || (kind == "summary"
                        && (name == format!("{family}_sum") || name == format!("{family}_count")))
            });
            assert!(family.is_some(), "{name} has no TYPE line before it");
        }
    }
}
