//! The web UI in headless Chromium (Debian's, driven by playwright-core from tests/e2e/webui.mjs).

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::components::{artifacts_dir, chromium, e2e_script, json_report, node, run_script};
use crate::http::Api;
use crate::server::{Backend, Server};

const PAGES: [&str; 6] = [
    "/",
    "/webui/runs",
    "/webui/approvals",
    "/webui/directives",
    "/webui/tasks",
    "/webui/allowlist",
];
/// The allowlist entry the browser adds through the form and then disables.
const BROWSER_CONTAINER: &str = "e2e-browser-container";
/// A directive name that is only shown correctly if the page escapes it.
const MARKUP_NAME: &str = r#"E2E <em>escaped</em> & "quoted""#;

#[tokio::test]
async fn pages_render_the_built_ins_with_navigation_in_chromium() {
    let server = Server::start().await;
    let api = Api::new(&server);
    api.post(
        "/api/directives/",
        &json!({"name": MARKUP_NAME, "directive_type": "D2"}),
    )
    .await
    .expect(201, "create a directive whose name is markup");
    api.post(
        "/api/containers/",
        &json!({"container_id": "e2e-web-container", "name": "shown in the UI"}),
    )
    .await
    .expect(201, "create an allowlist entry");

    let temp = tempfile::tempdir().expect("temp dir");
    let screenshots = artifacts_dir(temp.path());
    let mut command = Command::new(node());
    command
        .arg(e2e_script("webui.mjs"))
        .arg(server.base_url())
        .arg(&screenshots)
        .args(PAGES)
        .env("CYBERBRAIN_CHROMIUM", chromium())
        .env("CYBERBRAIN_E2E_ADD_CONTAINER", BROWSER_CONTAINER);
    let output = run_script(
        command,
        "the Chromium web UI check (tests/e2e/webui.mjs)",
        Duration::from_secs(180),
    );
    let report = json_report(&output, "webui.mjs");
    let pages = report["pages"]
        .as_array()
        .unwrap_or_else(|| panic!("no pages in the report: {report}"));
    assert_eq!(pages.len(), PAGES.len(), "{report}");

    for page in pages {
        let path = page["path"].as_str().unwrap_or_default();
        assert_eq!(page["status"], 200, "{path}: {page}");
        assert!(
            page["contentType"]
                .as_str()
                .unwrap_or_default()
                .starts_with("text/html"),
            "{path}: {page}"
        );
        assert!(
            !page["title"].as_str().unwrap_or_default().is_empty(),
            "{path} needs a <title>"
        );
        assert_eq!(page["pageErrors"], json!([]), "{path} threw in the browser");
        assert_eq!(
            page["foreignRequests"],
            json!([]),
            "{path} must load only embedded assets (no CDN)"
        );
        let nav = strings(&page["navLinks"]);
        for target in [
            "/webui/runs",
            "/webui/approvals",
            "/webui/directives",
            "/webui/tasks",
            "/webui/allowlist",
        ] {
            assert!(
                nav.iter().any(|href| href.trim_end_matches('/') == target),
                "{path}: the shared navigation must link {target}; found {nav:?}"
            );
        }
        let screenshot = page["screenshot"].as_str().unwrap_or_default();
        let size = std::fs::metadata(screenshot).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 1000,
            "{path}: screenshot {screenshot} is missing or empty"
        );
    }

    let text = |path: &str| {
        pages
            .iter()
            .find(|p| p["path"] == path)
            .and_then(|p| p["text"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let directives = text("/webui/directives");
    for name in [
        "Read-only Diagnostics",
        "Conservative Recommendations",
        "Change Planning",
        "Admin Override",
        "default",
    ] {
        assert!(
            directives.contains(name),
            "/webui/directives must show {name:?}:\n{directives}"
        );
    }
    assert!(
        directives.contains(MARKUP_NAME),
        "/webui/directives must show {MARKUP_NAME:?} as text (HTML-escaped):\n{directives}"
    );
    let tasks = text("/webui/tasks");
    for key in ["log_triage", "gpu_report", "service_map"] {
        assert!(
            tasks.contains(key),
            "/webui/tasks must show {key}:\n{tasks}"
        );
    }
    let allowlist = text("/webui/allowlist");
    assert!(
        allowlist.contains("e2e-web-container"),
        "/webui/allowlist must show the entry:\n{allowlist}"
    );

    // The form round trip, seen through REST: added with its label and tags, then disabled.
    let form = &report["allowlistForm"];
    for step in ["addStatus", "toggleStatus"] {
        let status = form[step].as_u64().unwrap_or(0);
        assert!(
            (200..400).contains(&status),
            "allowlist form {step}: {form}"
        );
    }
    assert!(
        form["afterAdd"]
            .as_str()
            .unwrap_or_default()
            .contains(BROWSER_CONTAINER),
        "{form}"
    );
    let page = api
        .get("/api/containers/?page_size=200")
        .await
        .expect(200, "GET /api/containers/");
    let entry = crate::http::results(&page)
        .iter()
        .find(|e| e["container_id"] == BROWSER_CONTAINER)
        .unwrap_or_else(|| panic!("the entry added in the browser is not in the API: {page}"));
    assert_eq!(entry["name"], "added in Chromium");
    assert_eq!(entry["tags"], json!(["browser", "e2e"]));
    assert_eq!(
        entry["enabled"], false,
        "the Disable button must disable the entry: {entry}"
    );
    eprintln!("web UI screenshots: {}", screenshots.display());
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A report that would run script if the page rendered it unsanitised.
const HOSTILE_REPORT: &str = "# Findings\n\n<script>alert('xss-script')</script>\n\n\
     A container named <img src=x onerror=\"alert('xss-img')\"> restarted.\n\n\
     [open](javascript:alert('xss-link')) and [docs](https://example.org/)\n\n\
     <a href=\"javascript:alert('xss-raw')\" onclick=\"alert('xss-click')\">raw</a>\n\n\
     <iframe src=\"javascript:alert('xss-frame')\"></iframe>\n";

/// The run pages in Chromium: a dashboard button launches a run that the server's executor
/// completes and whose page shows the rendered report and download links; a report full of
/// XSS payloads runs none of them; a run held for approval is approved from the Approvals page.
#[tokio::test]
async fn runs_are_launched_read_and_approved_in_chromium() {
    let server = Server::start_on(
        Backend::Sqlite,
        Some("[gpu]\nnvidia_smi = \"/nonexistent/nvidia-smi\"\n"),
    )
    .await;
    let api = Api::new(&server);

    // A finished run whose report is replaced by hostile Markdown.
    let hostile = api
        .post("/api/runs/launch/", &json!({"tasks": ["gpu_report"]}))
        .await
        .expect(201, "launch the run to poison");
    let hostile_id = hostile["id"].as_i64().expect("id");
    wait_for_report(&api, hostile_id).await;
    std::fs::write(
        server
            .data_dir()
            .join(format!("artifacts/run_{hostile_id}/report.md")),
        HOSTILE_REPORT,
    )
    .expect("plant the hostile report");

    // A run held for approval (the built-in D3 directive requires it).
    let directives = api
        .get("/api/directives/?page_size=200")
        .await
        .expect(200, "directives");
    let d3 = crate::http::results(&directives)
        .iter()
        .find(|d| d["name"] == "Change Planning")
        .and_then(|d| d["id"].as_i64())
        .expect("the built-in D3 directive");
    let held = api
        .post(
            "/api/runs/launch/",
            &json!({"tasks": ["gpu_report"], "directive_id": d3}),
        )
        .await
        .expect(201, "launch under D3");
    let held_id = held["id"].as_i64().expect("id");

    let temp = tempfile::tempdir().expect("temp dir");
    let screenshots = artifacts_dir(temp.path());
    let mut command = Command::new(node());
    command
        .arg(e2e_script("webui.mjs"))
        .arg(server.base_url())
        .arg(&screenshots)
        .arg("/webui/runs")
        .env("CYBERBRAIN_CHROMIUM", chromium())
        .env("CYBERBRAIN_E2E_LAUNCH_TASK", "gpu_report")
        .env("CYBERBRAIN_E2E_HOSTILE_RUN", hostile_id.to_string())
        .env("CYBERBRAIN_E2E_APPROVE_RUN", held_id.to_string());
    let output = run_script(
        command,
        "the Chromium run pages check (tests/e2e/webui.mjs)",
        Duration::from_secs(240),
    );
    let report = json_report(&output, "webui.mjs");

    let launch = &report["launch"];
    assert_eq!(launch["launchStatus"], 303, "{launch}");
    assert!(
        launch["runUrl"]
            .as_str()
            .unwrap_or_default()
            .contains("/webui/runs/"),
        "the button leads to the run's page: {launch}"
    );
    assert!(
        launch["flash"]
            .as_str()
            .unwrap_or_default()
            .contains("launched"),
        "{launch}"
    );
    assert_eq!(launch["reported"], true, "the executor ran it: {launch}");
    assert_eq!(launch["autoRefresh"], false, "an ended run stops reloading");
    let headings = strings(&launch["reportHeadings"]);
    assert!(
        headings.iter().any(|h| h.starts_with("Cyberbrain run")),
        "the report is rendered as HTML: {launch}"
    );
    assert!(
        launch["reportTables"].as_u64().unwrap_or(0) >= 1,
        "Markdown tables render: {launch}"
    );
    assert!(
        launch["text"]
            .as_str()
            .unwrap_or_default()
            .contains("no_gpus_available"),
        "{launch}"
    );
    assert!(
        strings(&launch["downloads"]).len() >= 4,
        "download links for the artifacts: {launch}"
    );
    assert_eq!(launch["download"]["status"], 200, "{launch}");
    assert!(
        launch["download"]["disposition"]
            .as_str()
            .unwrap_or_default()
            .starts_with("attachment"),
        "{launch}"
    );
    let launched_id: i64 = launch["runId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("run id in the URL");
    let run = api
        .get(&format!("/api/runs/{launched_id}/"))
        .await
        .expect(200, "the launched run");
    assert_eq!(run["trigger"], "manual", "{run}");
    assert_eq!(run["status"], "completed", "{run}");

    let hostile = &report["hostile"];
    assert_eq!(hostile["status"], 200, "{hostile}");
    assert_eq!(hostile["found"], true, "{hostile}");
    assert_eq!(
        hostile["dialogs"],
        json!([]),
        "no payload may run: {hostile}"
    );
    assert_eq!(hostile["errors"], json!([]), "{hostile}");
    for count in ["scripts", "images", "frames", "handlers"] {
        assert_eq!(hostile[count], 0, "{count}: {hostile}");
    }
    assert_eq!(hostile["scriptLinks"], json!([]), "{hostile}");
    assert!(
        hostile["text"]
            .as_str()
            .unwrap_or_default()
            .contains("<script>alert('xss-script')</script>"),
        "raw HTML is shown as text: {hostile}"
    );

    let approve = &report["approve"];
    assert!(
        approve["listed"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("#{held_id}")),
        "{approve}"
    );
    assert_eq!(approve["approveStatus"], 303, "{approve}");
    assert!(
        approve["after"]
            .as_str()
            .unwrap_or_default()
            .contains("approved"),
        "{approve}"
    );
    let approved = api
        .get(&format!("/api/runs/{held_id}/"))
        .await
        .expect(200, "the approved run");
    assert_eq!(approved["approval_status"], "approved", "{approved}");
    assert_eq!(approved["approved_by"], "anonymous");
    wait_for_report(&api, held_id).await;
    eprintln!("web UI run screenshots: {}", screenshots.display());
}

async fn wait_for_report(api: &Api<'_>, run_id: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let report = api
            .get(&format!("/api/runs/{run_id}/report/"))
            .await
            .expect(200, "report");
        if report["markdown"].is_string() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run {run_id} has no report after 60 s: {report}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
