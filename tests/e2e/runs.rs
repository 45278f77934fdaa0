//! Runs through the real server on both stores: launched over REST, executed by the server's
//! in-process executor, read back as jobs, report, artifacts and downloads, held for approval,
//! denied, approved and cancelled — plus the build plan's curl examples for runs, verbatim
//! (`curl -s http://<host>:9595/api/runs/ | jq .`, `…/api/runs/<run_id>/report/`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Api, detail, field_errors, results};
use crate::server::{Backend, Server};

crate::on_both_backends!(
    a_launched_run_is_executed_reported_and_downloadable,
    approval_holds_runs_and_cancel_and_deny_end_them,
);

/// `gpu_report` finds no GPUs on any machine with this, and completes (SPEC §3.3).
const NO_GPU_CONFIG: &str = "[gpu]\nnvidia_smi = \"/nonexistent/nvidia-smi\"\n";

/// Polls the report until the run ended and its `report.md` is written.
async fn wait_for_report(api: &Api<'_>, run_id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report = api
            .get(&format!("/api/runs/{run_id}/report/"))
            .await
            .expect(200, "GET /api/runs/{id}/report/");
        if report["markdown"].is_string() {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} has no report after 60 s: {report}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn directive_id(api: &Api<'_>, name: &str) -> i64 {
    let page = api
        .get("/api/directives/?page_size=200")
        .await
        .expect(200, "directives");
    results(&page)
        .iter()
        .find(|d| d["name"] == name)
        .and_then(|d| d["id"].as_i64())
        .unwrap_or_else(|| panic!("no directive {name:?}: {page}"))
}

async fn a_launched_run_is_executed_reported_and_downloadable(backend: Backend) {
    let server = Server::start_on(backend, Some(NO_GPU_CONFIG)).await;
    let api = Api::new(&server);

    let run = api
        .post("/api/runs/launch/", &json!({"tasks": ["gpu_report"]}))
        .await
        .expect(201, "POST /api/runs/launch/");
    let id = run["id"].as_i64().expect("run id");
    assert_eq!(run["trigger"], "api", "{run}");

    // The build plan's examples: the run list, then one run's report.
    let report = wait_for_report(&api, id).await;
    let runs = api.get("/api/runs/").await.expect(200, "GET /api/runs/");
    assert!(
        results(&runs).iter().any(|r| r["id"] == id),
        "the run is listed: {runs}"
    );
    assert_eq!(report["status"], "completed", "{report}");
    let markdown = report["markdown"].as_str().unwrap_or_default();
    assert!(markdown.contains("no_gpus_available"), "{markdown}");
    for key in [
        "id",
        "status",
        "markdown",
        "json",
        "started_at",
        "completed_at",
    ] {
        assert!(report.get(key).is_some(), "report lacks {key}: {report}");
    }

    let detail_body = api
        .get(&format!("/api/runs/{id}/"))
        .await
        .expect(200, "GET /api/runs/{id}/");
    assert_eq!(
        detail_body["jobs"][0]["status"], "completed",
        "{detail_body}"
    );
    assert!(detail_body["llm_calls"].is_array());

    // Every artifact downloads as the file the server wrote, with safe headers.
    let artifacts = api
        .get(&format!("/api/runs/{id}/artifacts/"))
        .await
        .expect(200, "GET /api/runs/{id}/artifacts/");
    let artifacts = results(&artifacts).clone();
    assert!(artifacts.len() >= 4, "{artifacts:?}");
    let client = crate::http::client();
    for artifact in &artifacts {
        let relative = artifact["relative_path"].as_str().expect("path");
        let response = client
            .get(server.url(&format!("/api/artifacts/{}/download/", artifact["id"])))
            .send()
            .await
            .expect("download");
        assert_eq!(response.status().as_u16(), 200, "{relative}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            header("content-disposition").starts_with("attachment; filename=\"run_"),
            "{relative}: {}",
            header("content-disposition")
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        let bytes = response.bytes().await.expect("body");
        let on_disk = std::fs::read(server.data_dir().join("artifacts").join(relative))
            .expect("the artifact file");
        assert_eq!(bytes.as_ref(), on_disk.as_slice(), "{relative}");
    }

    // Ids that are paths name nothing.
    detail(
        &api.get("/api/artifacts/..%2f..%2fetc%2fpasswd/download/")
            .await
            .expect(404, "a path as an artifact id"),
    );

    // Accounting and metrics see the run.
    let stats = api
        .get("/api/token-stats/")
        .await
        .expect(200, "GET /api/token-stats/");
    assert_eq!(stats["call_count"], 0, "{stats}");
    let since = api
        .get("/api/runs/since-last-success/?task=gpu_report")
        .await
        .expect(200, "since-last-success");
    assert_eq!(since["results"][0]["run_id"], id, "{since}");
    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert!(
        metrics
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        metrics.headers()
    );
    let text = metrics.text().await.expect("metrics body");
    assert!(
        text.contains("# TYPE cyberbrain_runs gauge")
            && text.contains("cyberbrain_runs{status=\"completed\"} 1"),
        "{text}"
    );
    let json = api
        .get("/metrics/json/")
        .await
        .expect(200, "GET /metrics/json/");
    assert_eq!(json["runs_by_status"]["completed"], 1, "{json}");
}

async fn approval_holds_runs_and_cancel_and_deny_end_them(backend: Backend) {
    let server = Server::start_on(backend, Some(NO_GPU_CONFIG)).await;
    let api = Api::new(&server);
    let d3 = directive_id(&api, "Change Planning").await;
    let launch_d3 = || async {
        api.post(
            "/api/runs/launch/",
            &json!({"tasks": ["gpu_report"], "directive_id": d3}),
        )
        .await
        .expect(201, "launch under D3")
    };

    let approved = launch_d3().await;
    let denied = launch_d3().await;
    let cancelled = launch_d3().await;
    for run in [&approved, &denied, &cancelled] {
        assert_eq!(run["approval_status"], "pending", "{run}");
    }
    let queue = api.get("/api/approvals/").await.expect(200, "approvals");
    assert_eq!(queue["count"], 3, "{queue}");

    let path = |run: &Value, action: &str| format!("/api/runs/{}/{action}/", run["id"]);
    let no_body = || json!({});
    let cancel = api
        .post(&path(&cancelled, "cancel"), &no_body())
        .await
        .expect(200, "cancel a held run");
    assert_eq!(cancel["status"], "cancelled");
    detail(
        &api.post(&path(&cancelled, "cancel"), &no_body())
            .await
            .expect(409, "cancel an ended run"),
    );
    let deny = api
        .post(&path(&denied, "deny"), &no_body())
        .await
        .expect(200, "deny");
    assert_eq!(
        (deny["status"].clone(), deny["approval_status"].clone()),
        (json!("cancelled"), json!("denied"))
    );
    detail(
        &api.post(&path(&denied, "approve"), &no_body())
            .await
            .expect(409, "approve a denied run"),
    );

    let approve = api
        .post(&path(&approved, "approve"), &no_body())
        .await
        .expect(200, "approve");
    assert_eq!(approve["approved_by"], "anonymous", "{approve}");
    assert_eq!(
        approve["approved_snapshot_sha256"],
        approve["snapshot_sha256"]
    );
    let id = approved["id"].as_i64().expect("id");
    let report = wait_for_report(&api, id).await;
    assert_eq!(report["status"], "completed", "{report}");
    let queue = api.get("/api/approvals/").await.expect(200, "approvals");
    for run in [&approved, &denied] {
        assert!(
            !results(&queue).iter().any(|r| r["id"] == run["id"]),
            "decided runs leave the queue: {queue}"
        );
    }

    // Bad input is a field error or a 404, never a 500.
    field_errors(
        &api.get("/api/runs/?status=finished")
            .await
            .expect(400, "bad status filter"),
        "status",
    );
    field_errors(
        &api.post("/api/runs/launch/", &json!({"tasks": ["no_such_task"]}))
            .await
            .expect(400, "unknown task"),
        "tasks",
    );
    detail(
        &api.get("/api/runs/999999/")
            .await
            .expect(404, "no such run"),
    );
    detail(
        &api.post("/api/runs/999999/approve/", &no_body())
            .await
            .expect(404, "approve no such run"),
    );
}
