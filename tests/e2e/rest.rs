//! REST API of the real server (SPEC §4): links, health, directives, tasks/jobs, the container
//! allowlist, pagination, and every kind of bad input answered with the right 4xx and no write.

use reqwest::Method;
use serde_json::{Value, json};

use crate::http::{Api, assert_field_map, detail, field, field_errors, results};
use crate::server::{Backend, Server};

crate::on_both_backends!(
    api_root_links_and_health,
    directives_are_seeded_paginated_and_editable,
    tasks_and_jobs_are_one_list,
    container_allowlist_crud,
    bad_input_gets_a_field_level_4xx_and_writes_nothing,
    a_body_over_the_default_limit_gets_413,
);

const BUILTIN_DIRECTIVES: [&str; 5] = [
    "Read-only Diagnostics",
    "Conservative Recommendations",
    "Change Planning",
    "Admin Override",
    "default",
];
const SEEDED_TASKS: [&str; 3] = ["log_triage", "gpu_report", "service_map"];

async fn api_root_links_and_health(backend: Backend) {
    let server = Server::start_on(backend, None).await;
    let api = Api::new(&server);

    let root = api.get("/api/").await;
    assert!(
        root.content_type.starts_with("application/json"),
        "GET /api/ content type: {}",
        root.content_type
    );
    let root = root.expect(200, "GET /api/");
    assert!(
        root.is_object(),
        "GET /api/ must be a JSON object of links: {root}"
    );
    let links = root.to_string();
    for path in [
        "/api/directives/",
        "/api/tasks/",
        "/api/containers/",
        "/api/health",
    ] {
        assert!(links.contains(path), "GET /api/ must link {path}: {root}");
    }
    assert_eq!(
        api.get("/api").await.expect(200, "GET /api"),
        root,
        "trailing slash is optional"
    );

    // 200 while the database works; an LLM, embedder or container engine that is not there only
    // shows up as that component's state.
    let health = api.get("/api/health").await.expect(200, "GET /api/health");
    assert_eq!(
        health["database"]["state"], "ok",
        "a fresh SQLite database is healthy: {health}"
    );
    for component in ["llm", "embedder", "engine"] {
        assert!(
            health[component]["state"].is_string() && health[component]["detail"].is_string(),
            "/api/health must report {component} with a state and a detail: {health}"
        );
    }
    assert_eq!(
        api.get("/api/health/").await.status.as_u16(),
        200,
        "trailing slash is optional"
    );
}

async fn directives_are_seeded_paginated_and_editable(backend: Backend) {
    let server = Server::start_on(backend, None).await;
    let api = Api::new(&server);

    let page = api
        .get("/api/directives/")
        .await
        .expect(200, "GET /api/directives/");
    assert_eq!(page["count"], 5, "five directives are seeded: {page}");
    let seeded = results(&page);
    let mut names = field(seeded, "name");
    names.sort_unstable();
    let mut expected = BUILTIN_DIRECTIVES.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected);
    let read_only = seeded
        .iter()
        .find(|d| d["name"] == "Read-only Diagnostics")
        .expect("seeded");
    assert_eq!(read_only["directive_type"], "D1");
    assert_eq!(read_only["is_builtin"], true);
    assert_eq!(read_only["approval_required"], false);
    let change_planning = seeded
        .iter()
        .find(|d| d["name"] == "Change Planning")
        .expect("seeded");
    assert_eq!(change_planning["directive_type"], "D3");
    assert_eq!(
        change_planning["approval_required"], true,
        "D3 requires approval by default"
    );
    let default = seeded
        .iter()
        .find(|d| d["name"] == "default")
        .expect("seeded");
    assert_eq!(default["directive_type"], "D1");
    assert_eq!(
        api.get("/api/directives")
            .await
            .expect(200, "GET /api/directives"),
        page,
        "trailing slash is optional"
    );

    // Pagination: three pages of two cover every directive once, with next/previous links.
    let first = api
        .get("/api/directives/?page_size=2")
        .await
        .expect(200, "page 1");
    assert_eq!(
        (first["count"].clone(), results(&first).len()),
        (json!(5), 2),
        "{first}"
    );
    assert!(
        first["next"].is_string() && first["previous"].is_null(),
        "{first}"
    );
    let last = api
        .get("/api/directives/?page=3&page_size=2")
        .await
        .expect(200, "page 3");
    assert_eq!(results(&last).len(), 1, "{last}");
    assert!(
        last["next"].is_null() && last["previous"].is_string(),
        "{last}"
    );
    let middle = api
        .get("/api/directives/?page=2&page_size=2")
        .await
        .expect(200, "page 2");
    let mut paged: Vec<Value> = [&first, &middle, &last]
        .iter()
        .flat_map(|p| results(p).clone())
        .collect();
    paged.sort_by_key(|d| d["id"].as_i64());
    let mut all = seeded.clone();
    all.sort_by_key(|d| d["id"].as_i64());
    assert_eq!(paged, all, "pages must partition the collection");

    // Create: D3 gets approval_required by default, version 1, not built in.
    let created = api
        .post(
            "/api/directives/",
            &json!({"name": "E2E Planning", "directive_type": "D3", "directive_text": "Plan, do not apply."}),
        )
        .await
        .expect(201, "POST /api/directives/");
    let id = created["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("a created directive has an id: {created}"));
    assert_eq!(created["name"], "E2E Planning");
    assert_eq!(created["approval_required"], true);
    assert_eq!(created["is_builtin"], false);
    assert_eq!(created["is_active"], true);
    assert_eq!(created["version"], 1);
    let path = format!("/api/directives/{id}/");
    assert_eq!(api.get(&path).await.expect(200, "GET created"), created);

    // PATCH: text bumps the version, description alone does not.
    let patched = api
        .patch(&path, &json!({"directive_text": "Plan carefully."}))
        .await
        .expect(200, "PATCH text");
    assert_eq!(
        (
            patched["directive_text"].clone(),
            patched["version"].clone()
        ),
        (json!("Plan carefully."), json!(2))
    );
    let described = api
        .patch(&path, &json!({"description": "for the e2e test"}))
        .await
        .expect(200, "PATCH description");
    assert_eq!(
        (
            described["description"].clone(),
            described["version"].clone()
        ),
        (json!("for the e2e test"), json!(2))
    );

    // PUT replaces every field.
    let replaced = api
        .put(
            &path,
            &json!({
                "name": "E2E Recommendations",
                "directive_type": "D2",
                "description": "",
                "directive_text": "Recommend only.",
                "task_config": {"max_lines": 500},
                "is_active": false,
                "approval_required": false
            }),
        )
        .await
        .expect(200, "PUT");
    assert_eq!(replaced["name"], "E2E Recommendations");
    assert_eq!(replaced["directive_type"], "D2");
    assert_eq!(replaced["task_config"], json!({"max_lines": 500}));
    assert_eq!(replaced["is_active"], false);
    assert_eq!(replaced["version"], 3);
    assert_eq!(api.get(&path).await.expect(200, "GET replaced"), replaced);
    let count = api.get("/api/directives/").await.expect(200, "list")["count"].clone();
    assert_eq!(count, 6);

    // DELETE, then it is gone; built-ins cannot be deleted.
    assert_eq!(
        api.delete(&path).await.status.as_u16(),
        204,
        "DELETE {path}"
    );
    detail(&api.get(&path).await.expect(404, "GET deleted"));
    let builtin = format!("/api/directives/{}/", read_only["id"]);
    detail(
        &api.delete(&builtin)
            .await
            .expect(409, "DELETE a built-in directive"),
    );
    assert_eq!(
        api.get(&builtin).await.expect(200, "built-in still there"),
        *read_only
    );
    assert_eq!(
        api.get("/api/directives/").await.expect(200, "list")["count"],
        5
    );
}

async fn tasks_and_jobs_are_one_list(backend: Backend) {
    let server = Server::start_on(backend, None).await;
    let api = Api::new(&server);

    let tasks = api.get("/api/tasks/").await.expect(200, "GET /api/tasks/");
    assert_eq!(tasks["count"], 3, "{tasks}");
    let mut keys = field(results(&tasks), "task_key");
    keys.sort_unstable();
    let mut expected = SEEDED_TASKS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(
        api.get("/api/jobs/").await.expect(200, "GET /api/jobs/"),
        tasks,
        "/api/jobs/ is the same list"
    );
    assert_eq!(
        api.get("/api/jobs").await.expect(200, "GET /api/jobs"),
        tasks
    );

    let log_triage = results(&tasks)
        .iter()
        .find(|t| t["task_key"] == "log_triage")
        .expect("seeded")
        .clone();
    let log_triage_path = format!("/api/tasks/{}/", log_triage["id"]);
    assert_eq!(
        api.get(&log_triage_path).await.expect(200, "GET a task"),
        log_triage
    );

    let created = api
        .post(
            "/api/tasks/",
            &json!({"task_key": "e2e_probe", "name": "E2E probe", "description": "made by a test"}),
        )
        .await
        .expect(201, "POST /api/tasks/");
    assert_eq!(
        (created["task_key"].clone(), created["is_active"].clone()),
        (json!("e2e_probe"), json!(true))
    );
    let path = format!("/api/tasks/{}/", created["id"]);
    let deactivated = api
        .patch(&path, &json!({"is_active": false}))
        .await
        .expect(200, "PATCH task");
    assert_eq!(deactivated["is_active"], false);
    assert_eq!(api.get("/api/jobs/").await.expect(200, "jobs")["count"], 4);

    detail(
        &api.post(
            "/api/tasks/",
            &json!({"task_key": "log_triage", "name": "again"}),
        )
        .await
        .expect(409, "duplicate task_key"),
    );
    field_errors(
        &api.post("/api/tasks/", &json!({"task_key": "x_probe", "name": 7}))
            .await
            .expect(400, "name: number"),
        "name",
    );

    assert_eq!(api.delete(&path).await.status.as_u16(), 204, "DELETE task");
    detail(&api.get(&path).await.expect(404, "GET deleted task"));
    assert_eq!(
        api.get("/api/tasks/").await.expect(200, "tasks")["count"],
        3
    );
}

async fn container_allowlist_crud(backend: Backend) {
    let server = Server::start_on(backend, None).await;
    let api = Api::new(&server);

    let empty = api
        .get("/api/containers/")
        .await
        .expect(200, "GET /api/containers/");
    assert_eq!(
        (empty["count"].clone(), results(&empty).len()),
        (json!(0), 0),
        "{empty}"
    );

    let created = api
        .post(
            "/api/containers/",
            &json!({"container_id": "web-1", "name": "web", "tags": ["frontend", "prod"]}),
        )
        .await
        .expect(201, "POST /api/containers/");
    assert_eq!(created["container_id"], "web-1");
    assert_eq!(created["enabled"], true, "entries are enabled by default");
    assert_eq!(created["tags"], json!(["frontend", "prod"]));
    let path = format!("/api/containers/{}/", created["id"]);
    assert_eq!(api.get(&path).await.expect(200, "GET entry"), created);

    let disabled = api
        .patch(&path, &json!({"enabled": false, "description": "paused"}))
        .await
        .expect(200, "PATCH");
    assert_eq!(
        (disabled["enabled"].clone(), disabled["description"].clone()),
        (json!(false), json!("paused"))
    );
    assert_eq!(
        disabled["tags"], created["tags"],
        "PATCH leaves other fields alone"
    );

    detail(
        &api.post("/api/containers/", &json!({"container_id": "web-1"}))
            .await
            .expect(409, "duplicate container_id"),
    );
    field_errors(
        &api.post(
            "/api/containers/",
            &json!({"container_id": "db-1", "tags": "not-a-list"}),
        )
        .await
        .expect(400, "tags: string"),
        "tags",
    );

    let listed = api.get("/api/containers/").await.expect(200, "list");
    assert_eq!(
        results(&listed),
        &vec![disabled.clone()],
        "exactly the one entry, as patched"
    );
    assert_eq!(api.delete(&path).await.status.as_u16(), 204, "DELETE entry");
    detail(&api.get(&path).await.expect(404, "GET deleted entry"));
    assert_eq!(
        api.get("/api/containers/").await.expect(200, "list")["count"],
        0
    );
}

async fn bad_input_gets_a_field_level_4xx_and_writes_nothing(backend: Backend) {
    // A small body limit, set in the cyberbrain.toml the server finds in its working directory.
    let server = Server::start_on(backend, Some("[server]\nmax_body_bytes = 2048\n")).await;
    let api = Api::new(&server);
    let before = api
        .get("/api/directives/?page_size=200")
        .await
        .expect(200, "list before");
    let builtin = results(&before)
        .iter()
        .find(|d| d["name"] == "Read-only Diagnostics")
        .expect("seeded")
        .clone();
    let builtin_path = format!("/api/directives/{}/", builtin["id"]);

    // Malformed JSON → 400 with a field map.
    let malformed = api
        .raw(
            Method::POST,
            "/api/directives/",
            r#"{"name": "E2E broken", "directive_type": "#,
            Some("application/json"),
        )
        .await
        .expect(400, "malformed JSON");
    assert_field_map(&malformed);

    // Unknown field → 400 naming it.
    let unknown = api
        .post(
            "/api/directives/",
            &json!({"name": "E2E unknown", "directive_type": "D1", "colour": "red"}),
        )
        .await
        .expect(400, "unknown field");
    assert_field_map(&unknown);
    assert!(
        unknown.to_string().contains("colour"),
        "the error must name the unknown field: {unknown}"
    );

    // Wrong types, bad enum values, missing and empty required fields → 400 naming the field.
    let cases = [
        (json!({"name": 42, "directive_type": "D1"}), "name"),
        (
            json!({"name": "E2E bad type", "directive_type": "D9"}),
            "directive_type",
        ),
        (
            json!({"name": "E2E bad config", "directive_type": "D1", "task_config": [1, 2]}),
            "task_config",
        ),
        (
            json!({"name": "E2E bad flag", "directive_type": "D1", "is_active": "yes"}),
            "is_active",
        ),
        (json!({"directive_type": "D1"}), "name"),
        (json!({"name": "", "directive_type": "D1"}), "name"),
    ];
    for (body, field) in cases {
        let reply = api
            .post("/api/directives/", &body)
            .await
            .expect(400, &format!("POST {body}"));
        field_errors(&reply, field);
    }

    // Duplicate name → 409.
    detail(
        &api.post(
            "/api/directives/",
            &json!({"name": "Read-only Diagnostics", "directive_type": "D1"}),
        )
        .await
        .expect(409, "duplicate name"),
    );
    detail(
        &api.patch(&builtin_path, &json!({"name": "default"}))
            .await
            .expect(409, "rename onto an existing name"),
    );

    // Oversized body → 413 naming the limit this server was configured with.
    let oversized =
        json!({"name": "E2E huge", "directive_type": "D1", "directive_text": "x".repeat(3000)});
    let reply = api
        .raw(
            Method::POST,
            "/api/directives/",
            oversized.to_string(),
            Some("application/json"),
        )
        .await;
    assert!(
        detail(&reply.expect(413, "oversized body")).contains("2048"),
        "the 413 names the limit"
    );

    // A body that is not JSON → 415.
    let reply = api
        .raw(
            Method::POST,
            "/api/directives/",
            r#"{"name": "E2E text", "directive_type": "D1"}"#,
            Some("text/plain"),
        )
        .await;
    assert_eq!(
        reply.status.as_u16(),
        415,
        "text/plain body: {}",
        reply.body
    );

    // PATCH with a wrong type leaves the row alone.
    field_errors(
        &api.patch(&builtin_path, &json!({"is_active": "no"}))
            .await
            .expect(400, "PATCH wrong type"),
        "is_active",
    );
    field_errors(
        &api.patch(&builtin_path, &json!({"directive_type": "D0"}))
            .await
            .expect(400, "PATCH bad enum"),
        "directive_type",
    );

    // Unknown ids → 404 with a detail; an id that is not a number is a 4xx too, never a 500.
    detail(
        &api.get("/api/directives/999999/")
            .await
            .expect(404, "GET unknown id"),
    );
    detail(
        &api.patch("/api/directives/999999/", &json!({"description": "x"}))
            .await
            .expect(404, "PATCH unknown id"),
    );
    detail(
        &api.delete("/api/directives/999999/")
            .await
            .expect(404, "DELETE unknown id"),
    );
    detail(
        &api.get("/api/containers/999999/")
            .await
            .expect(404, "GET unknown container"),
    );
    detail(
        &api.get("/api/tasks/999999/")
            .await
            .expect(404, "GET unknown task"),
    );
    let not_a_number = api.get("/api/directives/abc/").await;
    assert!(
        matches!(not_a_number.status.as_u16(), 400 | 404),
        "a non-numeric id is a client error: {} {}",
        not_a_number.status,
        not_a_number.body
    );
    for (query, field) in [
        ("page=abc", "page"),
        ("page=0", "page"),
        ("page_size=201", "page_size"),
    ] {
        let reply = api.get(&format!("/api/directives/?{query}")).await;
        field_errors(&reply.expect(400, &format!("?{query}")), field);
    }

    // Nothing was written.
    let after = api
        .get("/api/directives/?page_size=200")
        .await
        .expect(200, "list after");
    assert_eq!(after, before, "bad input must not change any directive");
    assert_eq!(
        api.get("/api/containers/").await.expect(200, "containers")["count"],
        0
    );
}

async fn a_body_over_the_default_limit_gets_413(backend: Backend) {
    let server = Server::start_on(backend, None).await;
    let api = Api::new(&server);
    let huge =
        json!({"name": "E2E huge", "directive_type": "D1", "directive_text": "x".repeat(2 << 20)});
    let reply = api
        .raw(
            Method::POST,
            "/api/directives/",
            huge.to_string(),
            Some("application/json"),
        )
        .await;
    assert!(
        detail(&reply.expect(413, "2 MiB body")).contains("1048576"),
        "the 413 names the 1 MiB default"
    );
    assert_eq!(
        api.get("/api/directives/").await.expect(200, "list")["count"],
        5,
        "nothing was written"
    );
}
