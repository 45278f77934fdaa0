//! Bad input of every class gets the right 4xx with a message naming the field, and never
//! writes: each case compares every collection before and after.

mod common;

use axum::http::{Method, StatusCode, header};
use common::{TestApp, TestResponse};
use serde_json::{Value, json};

/// Sends `body` raw with a JSON content type and asserts the status, and that nothing changed.
async fn refused(
    app: &TestApp,
    method: Method,
    uri: &str,
    body: &str,
    status: StatusCode,
) -> Value {
    let before = app.snapshot().await;
    let response = app
        .raw(
            method.clone(),
            uri,
            Some("application/json"),
            body.to_string(),
        )
        .await;
    assert_eq!(
        response.status,
        status,
        "{method} {uri} {body}: {}",
        response.text()
    );
    assert_eq!(
        app.snapshot().await,
        before,
        "{method} {uri} {body} must not write"
    );
    assert_ne!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    response.json()
}

/// The single message for `field` in a 400 body.
fn message(errors: &Value, field: &str) -> String {
    let messages = errors[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {errors}"));
    assert_eq!(messages.len(), 1, "{errors}");
    messages[0].as_str().unwrap().to_string()
}

async fn first_id(app: &TestApp, collection: &str) -> i64 {
    app.get(&format!("/api/{collection}/")).await.json()["results"][0]["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn each_bad_json_class_is_a_field_error() {
    let app = TestApp::new().await;
    let bad = StatusCode::BAD_REQUEST;
    let uri = "/api/directives/";

    let errors = refused(
        &app,
        Method::POST,
        uri,
        r#"{"name": "x", "directive_type": }"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "body").starts_with("malformed JSON at line 1 column 33: expected value"),
        "{errors}"
    );

    let errors = refused(
        &app,
        Method::POST,
        uri,
        r#"{"name": 5, "directive_type": "D1"}"#,
        bad,
    )
    .await;
    assert_eq!(
        errors,
        json!({"name": ["invalid type: integer `5`, expected a string"]})
    );

    let errors = refused(
        &app,
        Method::POST,
        uri,
        r#"{"name": "x", "directive_type": "D1", "colour": "red"}"#,
        bad,
    )
    .await;
    assert_eq!(errors.as_object().unwrap().len(), 1, "{errors}");
    assert!(
        message(&errors, "colour").starts_with("unknown field"),
        "{errors}"
    );
    assert!(
        message(&errors, "colour").contains("directive_text"),
        "lists the allowed fields"
    );

    let errors = refused(&app, Method::POST, uri, r#"{"directive_type": "D1"}"#, bad).await;
    assert_eq!(errors, json!({"name": ["this field is required"]}));

    let errors = refused(
        &app,
        Method::POST,
        uri,
        r#"{"name": "x", "directive_type": "D9"}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "directive_type").contains("unknown variant `D9`"),
        "{errors}"
    );

    let errors = refused(
        &app,
        Method::POST,
        uri,
        r#"{"name": null, "directive_type": "D1"}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "name").starts_with("invalid type: null"),
        "{errors}"
    );

    let errors = refused(
        &app,
        Method::POST,
        uri,
        r#"{"name": "x", "directive_type": "D1", "task_config": [1]}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "task_config").starts_with("invalid type: sequence"),
        "{errors}"
    );

    let errors = refused(&app, Method::POST, uri, r#"["x", "D1"]"#, bad).await;
    assert_eq!(
        errors,
        json!({"body": ["expected a JSON object, got an array"]})
    );

    let errors = refused(&app, Method::POST, uri, "", bad).await;
    assert_eq!(
        errors,
        json!({"body": ["request body is empty; send a JSON object"]})
    );

    let errors = refused(&app, Method::POST, uri, "\"just a string\"", bad).await;
    assert!(errors["body"].is_array(), "{errors}");

    // Nesting past serde_json's recursion limit is refused, not a stack overflow.
    let deep = format!(
        r#"{{"name": "deep", "directive_type": "D1", "task_config": {{"a": {}{}}}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let errors = refused(&app, Method::POST, uri, &deep, bad).await;
    assert!(
        message(&errors, "body").contains("recursion limit"),
        "{errors}"
    );
}

#[tokio::test]
async fn invalid_utf8_is_malformed_json() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    let mut body = br#"{"name": ""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#"", "directive_type": "D1"}"#);
    let response = app
        .raw(
            Method::POST,
            "/api/directives/",
            Some("application/json"),
            body,
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert!(
        message(&response.json(), "body").starts_with("malformed JSON"),
        "{}",
        response.text()
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn engine_rules_are_field_errors_too() {
    let app = TestApp::new().await;
    let bad = StatusCode::BAD_REQUEST;
    let errors = refused(
        &app,
        Method::POST,
        "/api/directives/",
        r#"{"name": "   ", "directive_type": "D1"}"#,
        bad,
    )
    .await;
    assert_eq!(errors, json!({"name": ["must not be empty"]}));

    let errors = refused(
        &app,
        Method::POST,
        "/api/tasks/",
        r#"{"task_key": "Bad Key", "name": "x"}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "task_key").contains("a-z, 0-9 and _"),
        "{errors}"
    );

    let errors = refused(
        &app,
        Method::POST,
        "/api/tasks/",
        r#"{"task_key": "task1", "name": "x"}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "task_key").contains("reserved"),
        "{errors}"
    );

    let errors = refused(
        &app,
        Method::POST,
        "/api/tasks/",
        r#"{"task_key": "probe", "name": "x", "default_directive_id": 9999}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "default_directive_id").contains("9999"),
        "{errors}"
    );

    let errors = refused(
        &app,
        Method::POST,
        "/api/containers/",
        r#"{"container_id": "../etc/passwd"}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "container_id").contains("not a container id"),
        "{errors}"
    );

    let errors = refused(
        &app,
        Method::POST,
        "/api/containers/",
        r#"{"container_id": "web", "tags": "a"}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "tags").starts_with("invalid type: string"),
        "{errors}"
    );

    let errors = refused(
        &app,
        Method::POST,
        "/api/containers/",
        r#"{"container_id": "web", "tags": ["ok", 7]}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "tags[1]").starts_with("invalid type: integer `7`"),
        "{errors}"
    );
}

#[tokio::test]
async fn bad_patches_and_replacements_change_nothing() {
    let app = TestApp::new().await;
    let bad = StatusCode::BAD_REQUEST;
    let directive = first_id(&app, "directives").await;
    let task = first_id(&app, "tasks").await;
    let uri = format!("/api/directives/{directive}/");

    let errors = refused(&app, Method::PATCH, &uri, r#"{"version": 7}"#, bad).await;
    assert!(
        message(&errors, "version").starts_with("unknown field"),
        "{errors}"
    );
    let errors = refused(&app, Method::PATCH, &uri, r#"{"is_active": "yes"}"#, bad).await;
    assert!(
        message(&errors, "is_active").contains("expected a boolean"),
        "{errors}"
    );
    let errors = refused(&app, Method::PATCH, &uri, r#"{"name": ""}"#, bad).await;
    assert_eq!(errors, json!({"name": ["must not be empty"]}));
    let errors = refused(&app, Method::PUT, &uri, r#"{"name": "only a name"}"#, bad).await;
    assert_eq!(
        errors,
        json!({"directive_type": ["this field is required"]})
    );

    let errors = refused(
        &app,
        Method::PATCH,
        &format!("/api/tasks/{task}/"),
        r#"{"default_directive_id": "one"}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "default_directive_id").starts_with("invalid type"),
        "{errors}"
    );
    let errors = refused(
        &app,
        Method::PATCH,
        &format!("/api/tasks/{task}/"),
        r#"{"task_key": "x"}"#,
        bad,
    )
    .await;
    assert!(
        message(&errors, "task_key").starts_with("unknown field"),
        "{errors}"
    );
}

#[tokio::test]
async fn duplicates_are_409_and_write_nothing() {
    let app = TestApp::new().await;
    let conflict = StatusCode::CONFLICT;
    let body = refused(
        &app,
        Method::POST,
        "/api/directives/",
        r#"{"name": "Read-only Diagnostics", "directive_type": "D1"}"#,
        conflict,
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Read-only Diagnostics"),
        "{body}"
    );

    let created = app
        .json(
            Method::POST,
            "/api/directives/",
            &json!({"name": "Mine", "directive_type": "D2"}),
        )
        .await;
    let id = created.json()["id"].as_i64().unwrap();
    refused(
        &app,
        Method::PATCH,
        &format!("/api/directives/{id}/"),
        r#"{"name": "default"}"#,
        conflict,
    )
    .await;
    refused(
        &app,
        Method::PUT,
        &format!("/api/directives/{id}/"),
        r#"{"name": "Change Planning", "directive_type": "D2"}"#,
        conflict,
    )
    .await;

    refused(
        &app,
        Method::POST,
        "/api/tasks/",
        r#"{"task_key": "log_triage", "name": "x"}"#,
        conflict,
    )
    .await;

    let web = app
        .json(
            Method::POST,
            "/api/containers/",
            &json!({"container_id": "web"}),
        )
        .await;
    assert_eq!(web.status, StatusCode::CREATED);
    let db = app
        .json(
            Method::POST,
            "/api/containers/",
            &json!({"container_id": "db"}),
        )
        .await;
    let db_id = db.json()["id"].as_i64().unwrap();
    refused(
        &app,
        Method::POST,
        "/api/containers/",
        r#"{"container_id": "web"}"#,
        conflict,
    )
    .await;
    refused(
        &app,
        Method::PATCH,
        &format!("/api/containers/{db_id}/"),
        r#"{"container_id": "web"}"#,
        conflict,
    )
    .await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::new().await;
    let body = r#"{"name": "x", "directive_type": "D1"}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let before = app.snapshot().await;
        let response = app
            .raw(Method::POST, "/api/directives/", content_type, body)
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        let detail = response.json()["detail"].as_str().unwrap().to_string();
        assert!(detail.contains("application/json"), "{detail}");
        assert_eq!(app.snapshot().await, before);
    }
    let accepted = app
        .raw(
            Method::POST,
            "/api/directives/",
            Some("application/json; charset=utf-8"),
            body,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text());
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = TestApp::with_config(|config| config.server.max_body_bytes = 1024).await;
    let padding = "x".repeat(2000);
    let body =
        json!({"name": "big", "directive_type": "D1", "directive_text": padding}).to_string();
    let response = refused(
        &app,
        Method::POST,
        "/api/directives/",
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let detail = response["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("request body is larger than 1024 bytes"),
        "{detail}"
    );

    // Without a Content-Length (a streamed body) the limit holds too.
    let before = app.snapshot().await;
    let chunks: Vec<Result<String, std::io::Error>> =
        vec![Ok(body[..600].to_string()), Ok(body[600..].to_string())];
    let stream = axum::body::Body::from_stream(futures::stream::iter(chunks));
    let response = app
        .raw(
            Method::POST,
            "/api/directives/",
            Some("application/json"),
            stream,
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        response.text()
    );
    assert_eq!(app.snapshot().await, before);

    // The MCP endpoint reads its own body; the same limit applies there.
    let rpc = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x".repeat(2000)}});
    let response = app
        .send(
            axum::http::Request::post("/mcp")
                .header(header::HOST, "127.0.0.1")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .body(axum::body::Body::from(rpc.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        response.text()
    );

    let small = json!({"name": "small", "directive_type": "D1"});
    assert_eq!(
        app.json(Method::POST, "/api/directives/", &small)
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn ids_that_are_not_positive_integers_are_404_json() {
    let app = TestApp::new().await;
    for uri in [
        "/api/directives/abc/",
        "/api/directives/0",
        "/api/directives/-1/",
        "/api/tasks/1.5/",
        "/api/jobs/%20/",
        "/api/containers/99999999999999999999999/",
    ] {
        let response = app.get(uri).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(
            response.json()["detail"]
                .as_str()
                .unwrap()
                .contains("positive integers"),
            "{uri}"
        );
    }
    let body = r#"{"name": "renamed"}"#;
    let response = refused(
        &app,
        Method::PATCH,
        "/api/directives/abc/",
        body,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(response["detail"].is_string());
    let before = app.snapshot().await;
    assert_eq!(
        app.delete("/api/directives/abc").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn bad_page_parameters_are_400() {
    let app = TestApp::new().await;
    for collection in ["directives", "tasks", "jobs", "containers"] {
        let response = app.get(&format!("/api/{collection}/?page_size=0")).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            response.json(),
            json!({"page_size": ["must be between 1 and 200"]})
        );
    }
    let response = app.get("/api/directives/?page_size=201&page=0").await;
    assert_eq!(
        response.json(),
        json!({"page": ["must be 1 or more"], "page_size": ["must be between 1 and 200"]})
    );
    let response = app.get("/api/tasks/?page=first").await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(message(&response.json(), "page").contains("\"first\""));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::new().await;
    for uri in [
        "/api/nope",
        "/api/nope/",
        "/api/directives/1/extra/",
        "/api",
    ] {
        let response = app.get(uri).await;
        if uri == "/api" {
            assert_eq!(response.status, StatusCode::OK);
            continue;
        }
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(
            response.json()["detail"].as_str().unwrap().contains(uri),
            "{uri}"
        );
    }
    for (method, uri, allowed) in [
        (Method::DELETE, "/api/directives/", "GET,HEAD,POST"),
        (Method::POST, "/api/jobs/", "GET,HEAD"),
        (Method::PUT, "/api/tasks/1/", "GET,HEAD,PATCH,DELETE"),
        (Method::POST, "/api/health", "GET,HEAD"),
    ] {
        let before = app.snapshot().await;
        let response = app
            .raw(method.clone(), uri, Some("application/json"), "{}")
            .await;
        assert_eq!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}"
        );
        assert!(
            response.json()["detail"]
                .as_str()
                .unwrap()
                .contains(method.as_str())
        );
        let allow = response
            .header(header::ALLOW)
            .unwrap_or_default()
            .replace(' ', "");
        let mut got: Vec<&str> = allow.split(',').collect();
        let mut want: Vec<&str> = allowed.split(',').collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{method} {uri}");
        assert_eq!(app.snapshot().await, before);
    }
}

#[tokio::test]
async fn error_bodies_are_never_cached() {
    let app = TestApp::new().await;
    let response: TestResponse = app.get("/api/directives/99/").await;
    assert_eq!(response.header(header::CACHE_CONTROL), Some("no-store"));
}
