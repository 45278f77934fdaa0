//! The run pages of the web UI, in process over the real router, engine, executor and SQLite
//! store: launch buttons, the runs list and its filters, a run's page (jobs, tokens, artifacts,
//! the rendered report — with hostile Markdown kept inert), the approvals queue, cancel, and
//! the error pages for bad input.

mod common;

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use common::{TestApp, TestResponse, flash, location, post_form};
use cyberbrain_core::domain::{
    ApprovalStatus, LlmOutcome, NewLlmCall, PageRequest, RunQuery, RunStatus, TaskDefinitionPatch,
    Trigger,
};
use cyberbrain_core::engine::LaunchRequest;

fn run_id_of(location: &str) -> i64 {
    location
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not a run page: {location}"))
}

fn assert_html_page(response: &TestResponse) {
    assert_eq!(
        response.header(CONTENT_TYPE),
        Some("text/html; charset=utf-8"),
        "{}",
        response.text()
    );
    let csp = response
        .header(axum::http::header::CONTENT_SECURITY_POLICY)
        .unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "CSP: {csp}");
    let body = response.text();
    for link in [r#"href="/webui/runs""#, r#"href="/webui/approvals""#] {
        assert!(body.contains(link), "navigation {link} missing");
    }
}

#[tokio::test]
async fn dashboard_buttons_launch_runs_that_the_runs_pages_list() {
    let app = TestApp::new().await;
    let service_map = app
        .cb
        .list_tasks(PageRequest::first(10))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|t| t.task_key == "service_map")
        .unwrap();
    app.cb
        .update_task(
            service_map.id,
            TaskDefinitionPatch::default().with_active(false),
        )
        .await
        .unwrap();

    let dashboard = app.get("/").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert_html_page(&dashboard);
    let body = dashboard.text();
    assert!(
        body.contains(r#"href="/webui/schedules">Open Schedules</a>"#),
        "the build plan's dashboard button: {body}"
    );
    for key in ["log_triage", "gpu_report"] {
        assert!(
            body.contains(&format!(
                r#"<input type="hidden" name="task" value="{key}">"#
            )),
            "a launch button for {key}: {body}"
        );
    }
    assert!(
        !body.contains(r#"name="task" value="service_map""#),
        "inactive tasks get no button"
    );
    assert!(body.contains("Run all active tasks"));
    assert!(body.contains(r#"action="/webui/runs/launch""#));
    assert!(body.contains("No runs yet."));

    let one = post_form(&app, "/webui/runs/launch", &[("task", "gpu_report")]).await;
    assert_eq!(one.status, StatusCode::SEE_OTHER, "{}", one.text());
    let one_id = run_id_of(&location(&one));
    assert_eq!(location(&one), format!("/webui/runs/{one_id}"));
    assert!(
        flash(&one).contains(&format!("Run {one_id} launched")),
        "{}",
        flash(&one)
    );
    let run = app.cb.get_run(one_id).await.unwrap();
    assert_eq!(run.trigger, Trigger::Manual, "a person pressed the button");
    assert_eq!(app.cb.run_jobs(one_id).await.unwrap().len(), 1);

    let all = post_form(&app, "/webui/runs/launch/", &[]).await;
    assert_eq!(all.status, StatusCode::SEE_OTHER, "{}", all.text());
    let all_id = run_id_of(&location(&all));
    let keys: Vec<String> = app
        .cb
        .run_jobs(all_id)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.task_key)
        .collect();
    assert_eq!(keys, ["log_triage", "gpu_report"], "every active task");

    let chosen = post_form(
        &app,
        "/webui/runs/launch",
        &[
            ("task", "log_triage"),
            ("task", "gpu_report"),
            ("directive_id", ""),
        ],
    )
    .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER);

    let list = app.get("/webui/runs").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_html_page(&list);
    for id in [one_id, all_id] {
        assert!(list.text().contains(&format!(r#"href="/webui/runs/{id}""#)));
    }
    assert!(
        list.text().contains("log_triage, gpu_report"),
        "tasks column"
    );
    let filtered = app.get("/webui/runs?status=pending&task=task1").await;
    assert_eq!(filtered.status, StatusCode::OK);
    assert!(
        !filtered
            .text()
            .contains(&format!(r#"href="/webui/runs/{one_id}""#))
    );
    assert!(
        filtered
            .text()
            .contains(&format!(r#"href="/webui/runs/{all_id}""#))
    );
    assert!(
        filtered
            .text()
            .contains(r#"<option value="pending" selected>"#)
    );
    let none = app.get("/webui/runs?status=completed").await;
    assert!(none.text().contains("No runs yet."));

    let dashboard = app.get("/webui/").await.text();
    assert!(
        dashboard.contains(&format!(r#"href="/webui/runs/{one_id}""#)),
        "latest runs"
    );

    let page = app.get(&format!("/webui/runs/{one_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_html_page(&page);
    let text = page.text();
    assert!(text.contains(&format!("Run #{one_id}")));
    assert!(text.contains("<code>gpu_report</code>"), "jobs table");
    assert!(
        text.contains("Cancel run"),
        "a pending run can be cancelled"
    );
    assert!(
        text.contains("data-auto-refresh"),
        "refreshes until it ends"
    );
    assert!(text.contains("The report is written when the run ends."));
}

#[tokio::test]
async fn a_run_page_shows_jobs_tokens_artifacts_and_the_sanitised_report() {
    let app = TestApp::new().await;
    let executor = app.executor();
    let run = app
        .cb
        .launch(LaunchRequest::new().with_tasks(["gpu_report"]))
        .await
        .unwrap();
    app.wait_until_reported(run.id).await;
    executor.shutdown().await.unwrap();
    let job = app.cb.run_jobs(run.id).await.unwrap().remove(0);
    app.cb
        .store()
        .record_llm_call(NewLlmCall {
            run_id: run.id,
            run_job_id: Some(job.id),
            model: "smollm2-135m".into(),
            endpoint_host: "127.0.0.1:8080".into(),
            prompt_tokens: 1234,
            completion_tokens: 56,
            total_tokens: 1290,
            duration_ms: 789,
            outcome: LlmOutcome::Ok,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();

    let page = app.get(&format!("/webui/runs/{}", run.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let text = page.text();
    assert!(
        text.contains(r#"<span class="badge on">completed</span>"#),
        "{text}"
    );
    assert!(
        !text.contains("data-auto-refresh"),
        "an ended run stops refreshing"
    );
    assert!(!text.contains("Cancel run"));
    for expected in ["smollm2-135m", "127.0.0.1:8080", "1234", "1290", "789 ms"] {
        assert!(text.contains(expected), "LLM call {expected} missing");
    }
    let artifacts = app
        .cb
        .list_artifacts(cyberbrain_core::domain::ArtifactQuery {
            run_id: Some(run.id),
            page: PageRequest::first(50),
        })
        .await
        .unwrap()
        .items;
    assert!(artifacts.len() >= 4);
    for artifact in &artifacts {
        assert!(
            text.contains(&format!(
                r#"href="/api/artifacts/{}/download/""#,
                artifact.id
            )),
            "download link for {}",
            artifact.relative_path
        );
        assert!(text.contains(&artifact.relative_path));
    }
    assert!(
        text.contains(&format!("<h1>Cyberbrain run {} — completed</h1>", run.id)),
        "the report is rendered as HTML: {text}"
    );
    assert!(text.contains("no_gpus_available"));

    // A hostile report: the page shows it as text and runs none of it.
    let report = app
        .cb
        .config()
        .paths
        .artifacts_dir()
        .join(format!("run_{}/report.md", run.id));
    std::fs::write(
        &report,
        "# Findings\n\n<script>alert(1)</script>\n\n\
         A container named <img src=x onerror=alert(2)> ran.\n\n\
         [details](javascript:alert(3)) and [docs](https://example.org/)\n\n\
         <iframe src=\"https://evil.example/\"></iframe>\n",
    )
    .unwrap();
    let page = app.get(&format!("/webui/runs/{}", run.id)).await.text();
    let report_html = page
        .split(r#"<article class="card report">"#)
        .nth(1)
        .and_then(|rest| rest.split("</article>").next())
        .unwrap_or_else(|| panic!("no report article: {page}"));
    assert!(report_html.contains("<h1>Findings</h1>"), "{report_html}");
    assert!(
        report_html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "raw HTML is shown as text: {report_html}"
    );
    for forbidden in ["<script", "<img", "<iframe", "javascript:", "onerror=alert"] {
        let live = report_html
            .split('<')
            .skip(1)
            .filter_map(|tag| tag.split('>').next())
            .any(|tag| format!("<{tag}").contains(forbidden) || tag.contains(forbidden));
        assert!(!live, "{forbidden} is live in {report_html}");
    }
    assert!(report_html.contains(r#"href="https://example.org/""#));
    assert!(!page.contains("<script>alert"), "nowhere on the page");
}

#[tokio::test]
async fn the_approvals_page_approves_and_denies() {
    let app = TestApp::new().await;
    let d3 = app
        .cb
        .list_directives(PageRequest::first(50))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|d| d.name == "Change Planning")
        .unwrap();
    let launch = || {
        app.cb.launch(
            LaunchRequest::new()
                .with_tasks(["gpu_report"])
                .with_directive(d3.id),
        )
    };
    let first = launch().await.unwrap();
    let second = launch().await.unwrap();

    let page = app.get("/webui/approvals").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_html_page(&page);
    for run in [&first, &second] {
        assert!(
            page.text()
                .contains(&format!(r#"action="/webui/runs/{}/approve""#, run.id))
        );
        assert!(
            page.text()
                .contains(&format!(r#"action="/webui/runs/{}/deny""#, run.id))
        );
    }
    assert!(page.text().contains("Change Planning (D3)"));
    let dashboard = app.get("/").await.text();
    assert!(dashboard.contains("2 awaiting approval"), "{dashboard}");
    let run_page = app.get(&format!("/webui/runs/{}", first.id)).await.text();
    assert!(run_page.contains(&format!(r#"action="/webui/runs/{}/approve""#, first.id)));

    let approved = post_form(
        &app,
        &format!("/webui/runs/{}/approve", first.id),
        &[("return_to", "approvals")],
    )
    .await;
    assert_eq!(
        approved.status,
        StatusCode::SEE_OTHER,
        "{}",
        approved.text()
    );
    assert_eq!(location(&approved), "/webui/approvals");
    assert!(flash(&approved).contains("approved"));
    let run = app.cb.get_run(first.id).await.unwrap();
    assert_eq!(run.approval_status, ApprovalStatus::Approved);
    assert_eq!(run.approved_by.as_deref(), Some("anonymous"));

    let denied = post_form(&app, &format!("/webui/runs/{}/deny/", second.id), &[]).await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&denied), format!("/webui/runs/{}", second.id));
    let run = app.cb.get_run(second.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.approval_status, ApprovalStatus::Denied);

    assert!(
        app.get("/webui/approvals")
            .await
            .text()
            .contains("No run awaits approval.")
    );
    let again = post_form(&app, &format!("/webui/runs/{}/approve", second.id), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert_html_page(&again);
}

#[tokio::test]
async fn cancel_and_bad_input_get_pages_not_errors() {
    let app = TestApp::new().await;
    let run = app
        .cb
        .launch(LaunchRequest::new().with_tasks(["gpu_report"]))
        .await
        .unwrap();
    let cancelled = post_form(&app, &format!("/webui/runs/{}/cancel", run.id), &[]).await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    assert!(
        flash(&cancelled).contains("cancelled"),
        "{}",
        flash(&cancelled)
    );
    assert_eq!(
        app.cb.get_run(run.id).await.unwrap().status,
        RunStatus::Cancelled
    );
    let again = post_form(&app, &format!("/webui/runs/{}/cancel", run.id), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let before = app
        .cb
        .list_runs(RunQuery::new(PageRequest::first(50)))
        .await
        .unwrap();
    for (pairs, status, expected) in [
        (
            vec![("task", "nope")],
            StatusCode::BAD_REQUEST,
            "task &#34;nope&#34; does not exist",
        ),
        (
            vec![("directive_id", "abc")],
            StatusCode::BAD_REQUEST,
            "is not a directive id",
        ),
        (
            vec![("directive_id", "999")],
            StatusCode::BAD_REQUEST,
            "directive 999 does not exist",
        ),
    ] {
        let response = post_form(&app, "/webui/runs/launch", &pairs).await;
        assert_eq!(response.status, status, "{pairs:?}: {}", response.text());
        assert_html_page(&response);
        assert!(
            response.text().contains(expected),
            "{pairs:?}: {}",
            response.text()
        );
    }
    let not_a_form = app
        .raw(
            axum::http::Method::POST,
            "/webui/runs/launch",
            Some("application/json"),
            "{}",
        )
        .await;
    assert!(not_a_form.status.is_client_error(), "{}", not_a_form.status);
    let after = app
        .cb
        .list_runs(RunQuery::new(PageRequest::first(50)))
        .await
        .unwrap();
    assert_eq!(after.count, before.count, "a refused launch writes nothing");

    for uri in ["/webui/runs/999", "/webui/runs/abc", "/webui/runs/0/"] {
        let response = app.get(uri).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{uri}");
        assert_html_page(&response);
    }
    for action in ["cancel", "approve", "deny"] {
        let response = post_form(&app, &format!("/webui/runs/999/{action}"), &[]).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{action}");
        let response = post_form(&app, &format!("/webui/runs/x/{action}"), &[]).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{action}");
    }
    let bad_filter = app.get("/webui/runs?status=done").await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_filter.text().contains("status"),
        "{}",
        bad_filter.text()
    );
    let bad_task = app.get("/webui/runs?task=nope").await;
    assert_eq!(bad_task.status, StatusCode::BAD_REQUEST);
}
