//! The web UI, in process over the real router and a real SQLite store in a temp dir: every page
//! renders inside the layout, forms create/update/toggle/delete through the engine, rejected
//! forms come back with 400 and nothing written, user data is always HTML-escaped, unknown ids
//! are 404 pages.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, Request, StatusCode};
use cyberbrain_core::domain::{
    AllowlistEntry, Directive, DirectiveType, NewDirective, PageRequest, TaskDefinition,
};
use cyberbrain_core::store::StoreAdmin;
use cyberbrain_core::{Config, Cyberbrain};
use cyberbrain_http::AppState;
use cyberbrain_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use tower::ServiceExt;

const BUILTIN_DIRECTIVES: [&str; 5] = [
    "Read-only Diagnostics",
    "Conservative Recommendations",
    "Change Planning",
    "Admin Override",
    "default",
];

struct TestApp {
    router: Router,
    cb: Cyberbrain,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `name=value` part of the flash cookie this reply sets, if any.
    fn flash_cookie(&self) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("cyberbrain_flash=") && !v.contains("Max-Age=0"))
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
    }

    fn clears_flash(&self) -> bool {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.starts_with("cyberbrain_flash=;") && v.contains("Max-Age=0"))
    }

    fn assert_layout(&self) {
        let content_type = self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        assert_eq!(
            content_type,
            Some("text/html; charset=utf-8"),
            "{}",
            self.body
        );
        for link in [
            r#"href="/webui/""#,
            r#"href="/webui/directives""#,
            r#"href="/webui/tasks""#,
            r#"href="/webui/allowlist""#,
            r#"href="/api/docs/""#,
            r#"href="/webui/static/app.css""#,
        ] {
            assert!(
                self.body.contains(link),
                "navigation link {link} missing:\n{}",
                self.body
            );
        }
        assert!(self.body.contains("Cyberbrain"), "product name missing");
        assert!(
            self.body
                .contains(&format!("Cyberbrain {}", env!("CARGO_PKG_VERSION"))),
            "footer version missing"
        );
    }
}

impl TestApp {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cyberbrain.db");
        let store = SqliteStore::connect(path.to_str().expect("utf-8 temp path"))
            .await
            .expect("open the SQLite store");
        store.migrate().await.expect("migrate");
        let cb = Cyberbrain::new(Arc::new(store), Config::default());
        let router = cyberbrain_http::router(AppState::new(cb.clone()));
        Self {
            router,
            cb,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read body")
            .to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn get_with_cookie(&self, uri: &str, cookie: &str) -> Reply {
        self.send(
            Request::get(uri)
                .header(COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post_form(&self, uri: &str, pairs: &[(&str, &str)]) -> Reply {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::post(uri)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    async fn directives(&self) -> Vec<Directive> {
        self.cb
            .list_directives(PageRequest::first(200))
            .await
            .unwrap()
            .items
    }

    async fn directive_named(&self, name: &str) -> Directive {
        self.directives()
            .await
            .into_iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no directive named {name:?}"))
    }

    async fn tasks(&self) -> Vec<TaskDefinition> {
        self.cb
            .list_tasks(PageRequest::first(200))
            .await
            .unwrap()
            .items
    }

    async fn allowlist(&self) -> Vec<AllowlistEntry> {
        self.cb
            .list_allowlist(PageRequest::first(200))
            .await
            .unwrap()
            .items
    }
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The fields of a valid directive form, with `overrides` replacing or adding fields.
fn directive_form<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("name", "Nightly check"),
        ("directive_type", "D2"),
        ("description", "Runs every night"),
        ("directive_text", "Look at the logs.\r\nReport anomalies."),
        ("task_config", r#"{"max_lines": 500}"#),
        ("is_active", "on"),
    ];
    for (key, value) in overrides {
        fields.retain(|(k, _)| k != key);
        fields.push((key, value));
    }
    fields
}

#[tokio::test]
async fn every_page_renders_in_the_layout() {
    let app = TestApp::new().await;
    let directive = app.directive_named("Read-only Diagnostics").await;
    let task = app.tasks().await.into_iter().next().expect("seeded tasks");
    app.cb
        .create_allowlist_entry(cyberbrain_core::domain::NewAllowlistEntry::new("web-1"))
        .await
        .unwrap();
    let entry = app.allowlist().await.remove(0);

    let pages = [
        "/".to_string(),
        "/webui".to_string(),
        "/webui/".to_string(),
        "/webui/directives".to_string(),
        "/webui/directives/".to_string(),
        "/webui/directives/new".to_string(),
        format!("/webui/directives/{}", directive.id),
        format!("/webui/directives/{}/", directive.id),
        "/webui/tasks".to_string(),
        format!("/webui/tasks/{}", task.id),
        format!("/webui/tasks/{}/", task.id),
        "/webui/allowlist".to_string(),
        format!("/webui/allowlist/{}", entry.id),
        format!("/webui/allowlist/{}/", entry.id),
    ];
    for uri in &pages {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
        reply.assert_layout();
        let csp = reply
            .headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok());
        assert!(
            csp.is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{uri}: no CSP"
        );
    }

    let list = app.get("/webui/directives").await;
    for name in BUILTIN_DIRECTIVES {
        assert!(
            list.body.contains(name),
            "built-in directive {name} not listed"
        );
    }
    assert_eq!(
        list.body.matches("badge builtin").count(),
        5,
        "every built-in is badged"
    );

    let dashboard = app.get("/").await;
    assert!(
        dashboard.body.contains("5 / 5"),
        "directive counts: {}",
        dashboard.body
    );
    assert!(dashboard.body.contains("1 / 1"), "allowlist counts");
    assert!(dashboard.body.contains("Database"), "health table");
    assert!(
        dashboard.body.contains("sqlite"),
        "database detail names the backend"
    );

    let tasks = app.get("/webui/tasks").await;
    for key in ["log_triage", "gpu_report", "service_map"] {
        assert!(tasks.body.contains(key), "task {key} not listed");
    }

    let task_page = app.get(&format!("/webui/tasks/{}", task.id)).await;
    for name in BUILTIN_DIRECTIVES {
        assert!(
            task_page.body.contains(name),
            "default directive choice {name} missing"
        );
    }

    let css = app.get("/webui/static/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(
        css.headers.get(CONTENT_TYPE).unwrap(),
        "text/css; charset=utf-8"
    );
    assert!(css.body.contains(".site-header"));
    let js = app.get("/webui/static/app.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.contains("data-confirm") || js.body.contains("dataset.confirm"));
}

#[tokio::test]
async fn creating_a_directive_redirects_and_lists_it() {
    let app = TestApp::new().await;
    let reply = app
        .post_form("/webui/directives", &directive_form(&[]))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/webui/directives");
    let cookie = reply
        .flash_cookie()
        .expect("a flash message is left for the next page");

    let created = app.directive_named("Nightly check").await;
    assert_eq!(created.directive_type, DirectiveType::D2);
    assert_eq!(created.description, "Runs every night");
    assert_eq!(
        created.directive_text, "Look at the logs.\nReport anomalies.",
        "CRLF normalised"
    );
    assert_eq!(created.task_config["max_lines"], 500);
    assert!(created.is_active);
    assert!(!created.approval_required);
    assert!(!created.is_builtin);

    let list = app.get_with_cookie(reply.location(), &cookie).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains(r#"<div class="flash" role="status">"#),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("Nightly check&#34; created."),
        "{}",
        list.body
    );
    assert!(list.clears_flash(), "a shown flash message is cleared");
    assert!(
        list.body
            .contains(&format!(r#"href="/webui/directives/{}""#, created.id))
    );
    assert!(
        list.body
            .contains(&format!("/webui/directives/{}/delete", created.id)),
        "custom directives can be deleted"
    );
    let again = app.get("/webui/directives").await;
    assert!(
        !again.body.contains(r#"class="flash""#),
        "no flash without the cookie"
    );

    // A D3 directive created with the approval box ticked keeps it.
    let reply = app
        .post_form(
            "/webui/directives",
            &directive_form(&[
                ("name", "Planner"),
                ("directive_type", "D3"),
                ("approval_required", "on"),
                ("task_config", ""),
            ]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let planner = app.directive_named("Planner").await;
    assert!(planner.approval_required);
    assert!(
        planner.task_config.is_empty(),
        "an empty task config box means no overrides"
    );
}

#[tokio::test]
async fn user_data_is_escaped_everywhere() {
    let app = TestApp::new().await;
    let evil = "<script>alert(1)</script>";
    let reply = app
        .post_form(
            "/webui/directives",
            &directive_form(&[
                ("name", evil),
                ("description", "\"><img src=x onerror=alert(2)>"),
                ("directive_text", "</textarea><script>alert(3)</script>"),
            ]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let cookie = reply.flash_cookie().unwrap();
    let directive = app.directive_named(evil).await;

    // askama writes numeric entities (`&#60;` for `<`, `&#62;` for `>`, `&#34;` for `"`).
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62;";
    let list = app.get_with_cookie("/webui/directives", &cookie).await;
    assert!(list.body.contains(escaped), "list: {}", list.body);
    assert!(
        list.body.matches(escaped).count() >= 2,
        "name in the table and in the flash"
    );

    let edit = app
        .get(&format!("/webui/directives/{}", directive.id))
        .await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.body.contains(&format!(r#"value="{escaped}""#)),
        "edit: {}",
        edit.body
    );
    assert!(
        edit.body
            .contains("&#60;/textarea&#62;&#60;script&#62;alert(3)")
    );
    assert!(
        edit.body
            .contains("&#34;&#62;&#60;img src=x onerror=alert(2)&#62;")
    );

    for page in [&list, &edit] {
        assert!(
            !page.body.contains("<script>alert"),
            "raw script tag in {}",
            page.body
        );
        assert!(!page.body.contains("<img src=x"), "raw img tag");
    }

    // Allowlist labels and tags too.
    let reply = app
        .post_form(
            "/webui/allowlist",
            &[
                ("container_id", "web-1"),
                ("name", "<b>web</b>"),
                ("tags", "<i>x</i>"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let list = app.get("/webui/allowlist").await;
    assert!(list.body.contains("&#60;b&#62;web&#60;/b&#62;"));
    assert!(list.body.contains("&#60;i&#62;x&#60;/i&#62;"));
    assert!(!list.body.contains("<b>web</b>") && !list.body.contains("<i>x</i>"));
}

#[tokio::test]
async fn rejected_directive_forms_keep_the_input_and_write_nothing() {
    let app = TestApp::new().await;
    let before = app.directives().await;

    // Empty name and broken JSON: both messages at once, the typed text kept.
    let reply = app
        .post_form(
            "/webui/directives",
            &directive_form(&[
                ("name", "   "),
                ("description", "keep this description"),
                ("task_config", "{\"max_lines\": "),
            ]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    reply.assert_layout();
    assert!(reply.body.contains("must not be empty"), "{}", reply.body);
    assert!(reply.body.contains("is not valid JSON"), "{}", reply.body);
    assert!(
        reply.body.contains("keep this description"),
        "input preserved"
    );
    assert!(
        reply.body.contains("{&#34;max_lines&#34;: "),
        "broken JSON preserved, escaped"
    );
    assert!(
        reply.body.contains(r#"class="field-error""#),
        "messages sit beside the fields"
    );
    assert!(reply.flash_cookie().is_none());

    // JSON that is not an object, and an unknown type.
    let reply = app
        .post_form(
            "/webui/directives",
            &directive_form(&[("task_config", "[1, 2]"), ("directive_type", "D9")]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body.contains("must be a JSON object"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("is not one of"), "{}", reply.body);

    // A rule only the engine knows (length) comes back the same way.
    let long_name = "x".repeat(201);
    let reply = app
        .post_form(
            "/webui/directives",
            &directive_form(&[("name", long_name.as_str())]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body.contains("must be at most 200 characters"),
        "{}",
        reply.body
    );

    // A taken name is a conflict shown on the form.
    let reply = app
        .post_form(
            "/webui/directives",
            &directive_form(&[("name", "Change Planning")]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(reply.body.contains(r#"class="alert""#));
    assert!(
        reply.body.contains("Runs every night"),
        "input preserved on conflict"
    );

    // A body that is not a form is a 4xx page, not an extractor's plain text.
    let reply = app
        .send(
            Request::post("/webui/directives")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"name": "x"}"#))
                .unwrap(),
        )
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    reply.assert_layout();

    assert_eq!(app.directives().await, before, "nothing was written");

    // Updates: broken JSON leaves the stored directive untouched.
    let target = app.directive_named("Change Planning").await;
    let reply = app
        .post_form(
            &format!("/webui/directives/{}", target.id),
            &directive_form(&[("name", "Renamed"), ("task_config", "nope")]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("is not valid JSON"));
    assert!(
        reply.body.contains(r#"value="Renamed""#),
        "typed name preserved"
    );
    assert_eq!(app.directive_named("Change Planning").await, target);
}

#[tokio::test]
async fn editing_a_directive_saves_every_field() {
    let app = TestApp::new().await;
    let target = app.directive_named("Conservative Recommendations").await;
    let uri = format!("/webui/directives/{}", target.id);

    // Saving the form unchanged keeps the version (browser line endings do not count).
    let edit = app.get(&uri).await;
    assert!(
        edit.body.contains(r#"<option value="D2" selected>"#),
        "{}",
        edit.body
    );
    let unchanged_text = target.directive_text.replace('\n', "\r\n");
    let config = serde_json::to_string_pretty(&target.task_config).unwrap();
    let mut unchanged = vec![
        ("name", target.name.as_str()),
        ("directive_type", "D2"),
        ("description", target.description.as_str()),
        ("directive_text", unchanged_text.as_str()),
        ("task_config", config.as_str()),
    ];
    if target.is_active {
        unchanged.push(("is_active", "on"));
    }
    if target.approval_required {
        unchanged.push(("approval_required", "on"));
    }
    let reply = app.post_form(&uri, &unchanged).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(
        app.directive_named(&target.name).await.version,
        target.version
    );

    let reply = app
        .post_form(
            &uri,
            &[
                ("name", "Careful Recommendations"),
                ("directive_type", "D3"),
                ("description", "edited"),
                ("directive_text", "New text"),
                ("task_config", r#"{"depth": 2}"#),
                ("approval_required", "on"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/webui/directives");
    let saved = app.cb.get_directive(target.id).await.unwrap();
    assert_eq!(saved.name, "Careful Recommendations");
    assert_eq!(saved.directive_type, DirectiveType::D3);
    assert_eq!(saved.description, "edited");
    assert_eq!(saved.directive_text, "New text");
    assert_eq!(saved.task_config["depth"], 2);
    assert!(saved.approval_required);
    assert!(!saved.is_active, "an unticked box deactivates");
    assert_eq!(saved.version, target.version + 1);
}

#[tokio::test]
async fn toggling_and_deleting_directives() {
    let app = TestApp::new().await;
    let builtin = app.directive_named("Admin Override").await;
    assert!(builtin.is_active);

    let reply = app
        .post_form(&format!("/webui/directives/{}/toggle", builtin.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(!app.cb.get_directive(builtin.id).await.unwrap().is_active);
    let list = app
        .get_with_cookie("/webui/directives", &reply.flash_cookie().unwrap())
        .await;
    assert!(list.body.contains("deactivated"), "{}", list.body);
    assert!(list.body.contains("badge off"), "inactive badge shown");

    let reply = app
        .post_form(&format!("/webui/directives/{}/toggle", builtin.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(app.cb.get_directive(builtin.id).await.unwrap().is_active);

    // Built-ins offer no delete button, and a forced delete is a 409 page with the reason.
    let list = app.get("/webui/directives").await;
    assert!(
        !list
            .body
            .contains(&format!("/webui/directives/{}/delete", builtin.id))
    );
    let edit = app.get(&format!("/webui/directives/{}", builtin.id)).await;
    assert!(
        !edit
            .body
            .contains(&format!("/webui/directives/{}/delete", builtin.id))
    );
    let reply = app
        .post_form(&format!("/webui/directives/{}/delete", builtin.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    reply.assert_layout();
    assert!(reply.body.contains(r#"class="alert""#));
    assert!(
        app.cb.get_directive(builtin.id).await.is_ok(),
        "built-in kept"
    );

    let custom = app
        .cb
        .create_directive(NewDirective::new("Temporary", DirectiveType::D1))
        .await
        .unwrap();
    let reply = app
        .post_form(&format!("/webui/directives/{}/delete", custom.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(app.cb.get_directive(custom.id).await.is_err(), "deleted");
    let list = app
        .get_with_cookie("/webui/directives", &reply.flash_cookie().unwrap())
        .await;
    assert!(
        list.body.contains("Temporary&#34; deleted."),
        "{}",
        list.body
    );
}

#[tokio::test]
async fn editing_and_toggling_tasks() {
    let app = TestApp::new().await;
    let task = app
        .tasks()
        .await
        .into_iter()
        .find(|t| t.task_key == "gpu_report")
        .unwrap();
    let planning = app.directive_named("Change Planning").await;
    let uri = format!("/webui/tasks/{}", task.id);
    let planning_id = planning.id.to_string();

    let reply = app
        .post_form(
            &uri,
            &[
                ("name", "GPU report (nightly)"),
                ("description", "GPU memory and temperatures"),
                ("default_directive_id", planning_id.as_str()),
                ("is_active", "on"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let saved = app.cb.get_task(task.id).await.unwrap();
    assert_eq!(saved.name, "GPU report (nightly)");
    assert_eq!(saved.default_directive_id, Some(planning.id));
    assert!(saved.is_active);
    let list = app.get("/webui/tasks").await;
    assert!(list.body.contains("GPU report (nightly)"));
    assert!(
        list.body.contains("Change Planning"),
        "default directive name shown"
    );
    let edit = app.get(&uri).await;
    assert!(
        edit.body
            .contains(&format!(r#"<option value="{}" selected>"#, planning.id))
    );

    // An unknown directive and an empty name: 400, messages, nothing written.
    let reply = app
        .post_form(
            &uri,
            &[
                ("name", ""),
                ("default_directive_id", "abc"),
                ("is_active", "on"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.body.contains("must not be empty"));
    assert!(reply.body.contains("is not a directive id"));
    let reply = app
        .post_form(
            &uri,
            &[
                ("name", "Other"),
                ("default_directive_id", "99999"),
                ("is_active", "on"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.body.contains("directive 99999 does not exist"),
        "{}",
        reply.body
    );
    assert_eq!(app.cb.get_task(task.id).await.unwrap(), saved);

    // Clearing the default directive.
    let reply = app
        .post_form(
            &uri,
            &[
                ("name", "GPU report"),
                ("default_directive_id", ""),
                ("is_active", "on"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.cb.get_task(task.id).await.unwrap().default_directive_id,
        None
    );

    let reply = app
        .post_form(&format!("/webui/tasks/{}/toggle", task.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(!app.cb.get_task(task.id).await.unwrap().is_active);
    let reply = app
        .post_form(&format!("/webui/tasks/{}/toggle", task.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(app.cb.get_task(task.id).await.unwrap().is_active);
}

#[tokio::test]
async fn allowlist_add_edit_toggle_delete() {
    let app = TestApp::new().await;
    let reply = app
        .post_form(
            "/webui/allowlist",
            &[
                ("container_id", "/web-1"),
                ("name", "Web"),
                ("description", "front end"),
                ("tags", "gpu, db, gpu"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/webui/allowlist");
    let entries = app.allowlist().await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.container_id, "web-1");
    assert_eq!(entry.tags, ["gpu", "db"]);
    assert!(entry.enabled);
    let list = app
        .get_with_cookie("/webui/allowlist", &reply.flash_cookie().unwrap())
        .await;
    assert!(list.body.contains("<code>web-1</code>"));
    assert!(list.body.contains(r#"<span class="badge">gpu</span>"#));
    assert!(list.body.contains("added to the allowlist"));

    // Invalid and duplicate container ids: the list page again, with the message and input.
    let reply = app
        .post_form(
            "/webui/allowlist",
            &[("container_id", "bad id!"), ("name", "typed label")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    reply.assert_layout();
    assert!(
        reply.body.contains("is not a container id or name"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r#"value="typed label""#));
    let reply = app
        .post_form("/webui/allowlist", &[("container_id", "")])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("must not be empty"));
    let reply = app
        .post_form("/webui/allowlist", &[("container_id", "web-1")])
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(app.allowlist().await.len(), 1, "nothing written");

    let uri = format!("/webui/allowlist/{}", entry.id);
    let reply = app
        .post_form(
            &uri,
            &[
                ("container_id", "web-2"),
                ("name", "Web 2"),
                ("tags", ""),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let saved = app.cb.get_allowlist_entry(entry.id).await.unwrap();
    assert_eq!(
        (saved.container_id.as_str(), saved.name.as_str()),
        ("web-2", "Web 2")
    );
    assert!(saved.tags.is_empty());
    let reply = app.post_form(&uri, &[("container_id", "no/slashes")]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.cb.get_allowlist_entry(entry.id).await.unwrap(), saved);

    let reply = app.post_form(&format!("{uri}/toggle"), &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(!app.cb.get_allowlist_entry(entry.id).await.unwrap().enabled);
    let list = app.get("/webui/allowlist").await;
    assert!(list.body.contains("badge off"));
    let reply = app.post_form(&format!("{uri}/toggle"), &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(app.cb.get_allowlist_entry(entry.id).await.unwrap().enabled);

    let reply = app.post_form(&format!("{uri}/delete"), &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(app.allowlist().await.is_empty());
    let list = app
        .get_with_cookie("/webui/allowlist", &reply.flash_cookie().unwrap())
        .await;
    assert!(list.body.contains("removed from the allowlist"));
    assert!(list.body.contains("No containers are allowlisted yet."));
}

#[tokio::test]
async fn unknown_ids_are_404_pages() {
    let app = TestApp::new().await;
    for uri in [
        "/webui/directives/99999",
        "/webui/directives/abc",
        "/webui/directives/0",
        "/webui/tasks/99999",
        "/webui/tasks/-1",
        "/webui/allowlist/99999",
    ] {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        reply.assert_layout();
        assert!(reply.body.contains("Not found"), "{uri}: {}", reply.body);
    }
    for uri in [
        "/webui/directives/99999",
        "/webui/directives/99999/toggle",
        "/webui/directives/99999/delete",
        "/webui/tasks/99999",
        "/webui/tasks/99999/toggle",
        "/webui/allowlist/99999",
        "/webui/allowlist/99999/toggle",
        "/webui/allowlist/abc/delete",
    ] {
        let reply = app
            .post_form(uri, &[("name", "x"), ("container_id", "x")])
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "POST {uri}");
        reply.assert_layout();
    }
}
