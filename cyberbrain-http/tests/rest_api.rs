//! Every REST endpoint of the foundation issue, happy paths first: real router, real engine,
//! real SQLite store.

mod common;

use axum::http::{Method, StatusCode, header};
use common::TestApp;
use serde_json::{Value, json};

fn names(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|item| item["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn api_root_links_every_collection_and_each_link_works() {
    let app = TestApp::new().await;
    for uri in ["/api/", "/api"] {
        let response = app.get(uri).await;
        assert_eq!(response.status, StatusCode::OK, "{uri}");
        let links = response.json();
        for key in [
            "directives",
            "tasks",
            "jobs",
            "containers",
            "health",
            "schema",
            "docs",
            "mcp",
        ] {
            assert!(links[key].is_string(), "{key} missing from {links}");
        }
        // Every link but the MCP endpoint and the launch action answers a GET.
        for (key, link) in links.as_object().unwrap() {
            // POST-only endpoints.
            if ["mcp", "launch", "rag_upload", "rag_search"].contains(&key.as_str()) {
                continue;
            }
            let link = link.as_str().unwrap();
            assert_eq!(
                app.get(link).await.status,
                StatusCode::OK,
                "{key} -> {link}"
            );
        }
        for key in [
            "runs",
            "launch",
            "approvals",
            "artifacts",
            "container_inventory",
            "network_policies",
            "token_stats",
            "cost_report",
            "usage_by_directive",
            "since_last_success",
            "rag_upload",
            "rag_uploads",
            "rag_documents",
            "rag_search",
            "metrics",
            "metrics_json",
        ] {
            assert!(links[key].is_string(), "{key} missing from {links}");
        }
    }
}

#[tokio::test]
async fn health_reports_every_component() {
    let app = TestApp::new().await;
    for uri in ["/api/health", "/api/health/"] {
        let response = app.get(uri).await;
        assert_eq!(response.status, StatusCode::OK);
        let health = response.json();
        assert_eq!(health["status"], "ok");
        assert_eq!(health["database"]["state"], "ok", "{health}");
        assert!(
            health["database"]["detail"]
                .as_str()
                .unwrap()
                .contains("sqlite"),
            "{health}"
        );
        for component in ["llm", "embedder", "engine"] {
            assert!(
                health[component]["state"].is_string(),
                "{component}: {health}"
            );
        }
    }
}

#[tokio::test]
async fn directives_lifecycle_with_and_without_trailing_slash() {
    let app = TestApp::new().await;

    let listed = app.get("/api/directives/").await;
    assert_eq!(listed.status, StatusCode::OK);
    let page = listed.json();
    assert_eq!(page["count"], 5);
    let seeded = names(&page);
    for name in [
        "Read-only Diagnostics",
        "Conservative Recommendations",
        "Change Planning",
        "Admin Override",
        "default",
    ] {
        assert!(
            seeded.contains(&name.to_string()),
            "{name} not in {seeded:?}"
        );
    }
    assert_eq!(
        app.get("/api/directives").await.json(),
        page,
        "same list without the slash"
    );

    let created = app
        .json(
            Method::POST,
            "/api/directives",
            &json!({"name": "Nightly sweep", "directive_type": "D3", "directive_text": "Look."}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let directive = created.json();
    let id = directive["id"].as_i64().unwrap();
    assert_eq!(directive["name"], "Nightly sweep");
    assert_eq!(
        directive["approval_required"], true,
        "D3 requires approval by default"
    );
    assert_eq!(directive["version"], 1);
    assert_eq!(directive["is_builtin"], false);
    assert_eq!(
        created.header(header::LOCATION),
        Some(format!("/api/directives/{id}/").as_str())
    );

    for uri in [
        format!("/api/directives/{id}/"),
        format!("/api/directives/{id}"),
    ] {
        let fetched = app.get(&uri).await;
        assert_eq!(fetched.status, StatusCode::OK, "{uri}");
        assert_eq!(fetched.json(), directive);
    }

    let patched = app
        .json(
            Method::PATCH,
            &format!("/api/directives/{id}"),
            &json!({"directive_text": "Look closer."}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let patched = patched.json();
    assert_eq!(patched["directive_text"], "Look closer.");
    assert_eq!(patched["version"], 2, "text changes bump the version");
    assert_eq!(
        patched["name"], "Nightly sweep",
        "PATCH leaves other fields alone"
    );

    let replaced = app
        .json(
            Method::PUT,
            &format!("/api/directives/{id}/"),
            &json!({"name": "Nightly sweep v2", "directive_type": "D1"}),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text());
    let replaced = replaced.json();
    assert_eq!(replaced["name"], "Nightly sweep v2");
    assert_eq!(replaced["directive_type"], "D1");
    assert_eq!(
        replaced["directive_text"], "",
        "PUT resets absent fields to their defaults"
    );
    assert_eq!(replaced["approval_required"], false, "D1 default");

    let deleted = app.delete(&format!("/api/directives/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_empty());
    let gone = app.get(&format!("/api/directives/{id}/")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        gone.json(),
        json!({"detail": format!("directive {id} not found")})
    );
}

#[tokio::test]
async fn built_in_directives_can_be_edited_but_not_deleted() {
    let app = TestApp::new().await;
    let page = app.get("/api/directives/").await.json();
    let builtin = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Read-only Diagnostics")
        .cloned()
        .unwrap();
    let id = builtin["id"].as_i64().unwrap();
    assert_eq!(builtin["is_builtin"], true);

    let refused = app.delete(&format!("/api/directives/{id}/")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("built-in"),
        "{}",
        refused.text()
    );
    assert_eq!(
        app.get(&format!("/api/directives/{id}/")).await.json(),
        builtin,
        "still there"
    );

    let deactivated = app
        .json(
            Method::PATCH,
            &format!("/api/directives/{id}/"),
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK);
    assert_eq!(deactivated.json()["is_active"], false);
}

#[tokio::test]
async fn tasks_and_jobs_are_the_same_collection() {
    let app = TestApp::new().await;
    let tasks = app.get("/api/tasks/").await;
    assert_eq!(tasks.status, StatusCode::OK);
    let tasks = tasks.json();
    assert_eq!(tasks["count"], 3);
    let keys: Vec<&str> = tasks["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["log_triage", "gpu_report", "service_map"]);
    for uri in ["/api/tasks", "/api/jobs/", "/api/jobs"] {
        let other = app.get(uri).await;
        assert_eq!(other.status, StatusCode::OK, "{uri}");
        let mut other = other.json();
        // Links name the path that was asked for; the rows are identical.
        other["next"] = tasks["next"].clone();
        other["previous"] = tasks["previous"].clone();
        assert_eq!(other, tasks, "{uri}");
    }

    let directive_id = app.get("/api/directives/").await.json()["results"][0]["id"]
        .as_i64()
        .unwrap();
    let created = app
        .json(
            Method::POST,
            "/api/tasks/",
            &json!({"task_key": "disk_usage", "name": "Disk usage", "default_directive_id": directive_id,
                    "config": {"threshold": 90}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let task = created.json();
    let id = task["id"].as_i64().unwrap();
    assert_eq!(task["config"], json!({"threshold": 90}));
    assert_eq!(
        created.header(header::LOCATION),
        Some(format!("/api/tasks/{id}/").as_str())
    );

    for uri in [
        format!("/api/tasks/{id}/"),
        format!("/api/tasks/{id}"),
        format!("/api/jobs/{id}/"),
        format!("/api/jobs/{id}"),
    ] {
        let fetched = app.get(&uri).await;
        assert_eq!(fetched.status, StatusCode::OK, "{uri}");
        assert_eq!(fetched.json(), task, "{uri}");
    }

    let patched = app
        .json(
            Method::PATCH,
            &format!("/api/tasks/{id}/"),
            &json!({"is_active": false, "default_directive_id": null}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let patched = patched.json();
    assert_eq!(patched["is_active"], false);
    assert_eq!(
        patched["default_directive_id"],
        Value::Null,
        "null clears the default"
    );
    assert_eq!(patched["name"], "Disk usage");

    assert_eq!(
        app.delete(&format!("/api/tasks/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/jobs/{id}/")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn container_allowlist_lifecycle() {
    let app = TestApp::new().await;
    let empty = app.get("/api/containers/").await.json();
    assert_eq!(
        empty,
        json!({"count": 0, "next": null, "previous": null, "results": []})
    );

    let created = app
        .json(
            Method::POST,
            "/api/containers",
            &json!({"container_id": "nginx", "name": "Web", "tags": ["edge", "web"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let entry = created.json();
    let id = entry["id"].as_i64().unwrap();
    assert_eq!(entry["enabled"], true);
    assert_eq!(entry["tags"], json!(["edge", "web"]));

    assert_eq!(
        app.get(&format!("/api/containers/{id}")).await.json(),
        entry
    );
    let listed = app.get("/api/containers").await.json();
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["results"][0], entry);

    let disabled = app
        .json(
            Method::PATCH,
            &format!("/api/containers/{id}/"),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    assert_eq!(disabled.json()["enabled"], false);
    assert_eq!(disabled.json()["name"], "Web");

    let duplicate = app
        .json(
            Method::POST,
            "/api/containers/",
            &json!({"container_id": "nginx"}),
        )
        .await;
    assert_eq!(
        duplicate.status,
        StatusCode::CONFLICT,
        "{}",
        duplicate.text()
    );
    assert!(duplicate.json()["detail"].is_string());

    assert_eq!(
        app.delete(&format!("/api/containers/{id}/")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get("/api/containers/").await.json()["count"], 0);
}

#[tokio::test]
async fn pagination_links_walk_the_whole_collection() {
    let app = TestApp::new().await;
    let first = app.get("/api/directives/?page_size=2").await;
    assert_eq!(first.status, StatusCode::OK);
    let first = first.json();
    assert_eq!(first["count"], 5);
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(first["next"], "/api/directives/?page=2&page_size=2");

    let mut seen = names(&first);
    let mut next = first["next"].as_str().map(str::to_string);
    let mut pages = 1;
    while let Some(link) = next {
        let page = app.get(&link).await.json();
        pages += 1;
        seen.extend(names(&page));
        assert!(page["previous"].is_string(), "{page}");
        next = page["next"].as_str().map(str::to_string);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    let all = names(&app.get("/api/directives/?page_size=200").await.json());
    assert_eq!(
        seen, all,
        "pages are disjoint, ordered by id and cover everything"
    );

    let last = app.get("/api/directives?page=3&page_size=2").await.json();
    assert_eq!(last["next"], Value::Null);
    assert_eq!(
        last["previous"], "/api/directives?page=2&page_size=2",
        "path kept as asked"
    );

    let beyond = app.get("/api/directives/?page=10&page_size=2").await;
    assert_eq!(beyond.status, StatusCode::OK);
    let beyond = beyond.json();
    assert_eq!(beyond["results"], json!([]));
    assert_eq!(beyond["count"], 5);
    assert_eq!(beyond["previous"], "/api/directives/?page=3&page_size=2");
}

#[tokio::test]
async fn unknown_ids_are_404_with_the_entity_named() {
    let app = TestApp::new().await;
    for (uri, entity) in [
        ("/api/directives/99/", "directive"),
        ("/api/tasks/99", "task"),
        ("/api/jobs/99/", "task"),
        ("/api/containers/99/", "allowlist"),
    ] {
        let response = app.get(uri).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{uri}");
        let detail = response.json()["detail"].as_str().unwrap().to_string();
        assert!(
            detail.contains(entity) && detail.contains("99"),
            "{uri}: {detail}"
        );
    }
    for (method, uri) in [
        (Method::PATCH, "/api/directives/99/"),
        (Method::PUT, "/api/directives/99/"),
        (Method::PATCH, "/api/tasks/99/"),
        (Method::PATCH, "/api/containers/99/"),
    ] {
        let body = if method == Method::PUT {
            json!({"name": "x", "directive_type": "D1"})
        } else {
            json!({})
        };
        let response = app.json(method.clone(), uri, &body).await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{method} {uri}: {}",
            response.text()
        );
    }
    for uri in [
        "/api/directives/99/",
        "/api/tasks/99/",
        "/api/containers/99/",
    ] {
        assert_eq!(
            app.delete(uri).await.status,
            StatusCode::NOT_FOUND,
            "DELETE {uri}"
        );
    }
}

#[tokio::test]
async fn mcp_is_mounted_and_guards_its_host() {
    let app = TestApp::new().await;
    let request = |host: &str| {
        axum::http::Request::get("/mcp")
            .header(header::HOST, host)
            .header(header::ACCEPT, "application/json")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let catalog = app.send(request("127.0.0.1:9595")).await;
    assert_eq!(catalog.status, StatusCode::OK, "{}", catalog.text());
    let catalog = catalog.json();
    let tools: Vec<&str> = catalog["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for tool in [
        "list_directives",
        "get_directive",
        "list_tasks",
        "get_allowlist",
        "set_allowlist",
    ] {
        assert!(tools.contains(&tool), "{tool} not in {tools:?}");
    }
    let rebinding = app.send(request("attacker.example")).await;
    assert_eq!(rebinding.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn configured_hosts_are_accepted_by_mcp() {
    let app = TestApp::with_config(|config| {
        config.server.allowed_hosts = vec!["cyberbrain.lan".into()];
    })
    .await;
    let response = app
        .send(
            axum::http::Request::get("/mcp")
                .header(header::HOST, "cyberbrain.lan:9595")
                .header(header::ACCEPT, "application/json")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

#[tokio::test]
async fn the_web_ui_shares_the_router() {
    let app = TestApp::new().await;
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header(header::CONTENT_TYPE)
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let missing = app.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn mcp_protocol_requests_pass_through_the_body_limit() {
    use tower::ServiceExt;
    let app = TestApp::new().await;
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "router-test", "version": "0"}}});
    let request = axum::http::Request::post("/mcp")
        .header(header::HOST, "localhost:9595")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(axum::body::Body::from(initialize.to_string()))
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().contains_key("mcp-session-id"),
        "{:?}",
        response.headers()
    );
    // The first event carries the initialize result; read just that much of the stream.
    let mut body = response.into_body().into_data_stream();
    let mut text = String::new();
    let read = async {
        use futures::StreamExt;
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("serverInfo") {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("initialize result");
    assert!(text.contains("\"cyberbrain\""), "{text}");
}

/// A one-shot HTTP server on loopback answering every request with `status` and `body`.
async fn answering(status: &'static str, body: &'static str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 2048];
            let _ = socket.read(&mut buffer).await;
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    port
}

/// With the configured plug-ins attached, health reaches them: an LLM server that lists its
/// models is ok, one that answers 404 or nothing is unavailable, and an engine socket that is
/// not there is unavailable — each named in the detail, and the whole answer still 200.
#[tokio::test]
async fn health_reaches_the_attached_llm_and_container_engine() {
    let listing = answering("200 OK", r#"{"object":"list","data":[]}"#).await;
    let not_llm = answering("404 Not Found", "").await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (port, state, says) in [
        (listing, "ok", "answers GET …/models with 200"),
        (not_llm, "unavailable", "with 404"),
        (closed, "unavailable", "does not answer"),
    ] {
        let app = TestApp::with_config(|config| {
            config.llm.endpoint = format!("http://127.0.0.1:{port}/v1");
            config.containers.docker_host = "unix:///nonexistent/docker.sock".into();
        })
        .await;
        let cb = app
            .cb
            .clone()
            .with_configured_plugins()
            .expect("local endpoint");
        let router = cyberbrain_http::router(cyberbrain_http::AppState::new(cb));
        let response = tower::ServiceExt::oneshot(
            router,
            axum::http::Request::get("/api/health")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let health: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(health["llm"]["state"], state, "port {port}: {health}");
        let detail = health["llm"]["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{detail}");
        assert!(detail.contains(&format!("127.0.0.1:{port}")), "{detail}");
        assert_eq!(health["engine"]["state"], "unavailable", "{health}");
        assert!(
            health["engine"]["detail"]
                .as_str()
                .unwrap()
                .contains("/nonexistent/docker.sock"),
            "{health}"
        );
    }
}
