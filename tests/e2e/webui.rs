//! The web UI in headless Chromium (Debian's, driven by playwright-core from tests/e2e/webui.mjs).

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::components::{artifacts_dir, chromium, e2e_script, json_report, node, run_script};
use crate::http::Api;
use crate::server::Server;

const PAGES: [&str; 4] = ["/", "/webui/directives", "/webui/tasks", "/webui/allowlist"];
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
        for target in ["/webui/directives", "/webui/tasks", "/webui/allowlist"] {
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
