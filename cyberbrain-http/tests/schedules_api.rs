//! The schedule endpoints (SPEC §4 schedules row) over the real router, engine and SQLite store:
//! the build plan's curl examples, run-now into history and the runs list, enable/disable,
//! PATCH semantics, the summaries, and every 400/404/409 a client can provoke, each without a
//! write.

mod common;

use axum::http::{Method, StatusCode, header};
use common::TestApp;
use serde_json::{Value, json};

/// The build plan's "Create a schedule" body, verbatim.
const BUILD_PLAN_BODY: &str = r#"{
    "name": "triage-every-5",
    "job_key": "log_triage",
    "enabled": true,
    "schedule_type": "interval",
    "interval_minutes": 5,
    "timezone": "UTC"
  }"#;

async fn create(app: &TestApp, body: Value) -> Value {
    let response = app.json(Method::POST, "/api/schedules/", &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let schedule = response.json();
    assert_eq!(
        response.header(header::LOCATION),
        Some(format!("/api/schedules/{}/", schedule["id"]).as_str())
    );
    schedule
}

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

async fn schedule_count(app: &TestApp) -> u64 {
    app.get("/api/schedules/").await.json()["count"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn the_build_plan_examples_create_run_now_and_show_history() {
    let app = TestApp::new().await;

    let response = app
        .raw(
            Method::POST,
            "/api/schedules/",
            Some("application/json"),
            BUILD_PLAN_BODY,
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let schedule = response.json();
    let id = schedule["id"].as_i64().unwrap();
    assert_eq!(id, 1, "the build plan's later examples use id 1");
    assert_eq!(schedule["name"], "triage-every-5");
    assert_eq!(schedule["enabled"], true);
    assert_eq!(schedule["schedule_type"], "interval");
    assert_eq!(schedule["interval_minutes"], 5);
    assert_eq!(schedule["timezone"], "UTC");
    assert!(schedule["next_run_at"].is_string(), "{schedule}");
    assert!(schedule["last_run_at"].is_null(), "{schedule}");
    assert_eq!(schedule["task"]["task_key"], "log_triage");
    assert!(schedule["task"]["id"].is_i64(), "{schedule}");
    assert!(schedule["task"]["name"].is_string(), "{schedule}");
    assert_eq!(schedule["job"], schedule["task"]);
    assert_eq!(
        schedule["directive"],
        json!({"default": true, "name": "default"})
    );

    let response = app.post_empty("/api/schedules/1/run-now").await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let fired = response.json();
    let run_id = fired["run_id"].as_i64().unwrap();
    let scheduled_run_id = fired["scheduled_run_id"].as_i64().unwrap();
    assert_eq!(
        response.header(header::LOCATION),
        Some(format!("/api/runs/{run_id}/").as_str())
    );

    let runs = app.get("/api/runs/").await.json();
    let run = runs["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == run_id)
        .unwrap_or_else(|| panic!("run {run_id} not listed: {runs}"));
    assert_eq!(run["trigger"], "schedule", "{run}");

    let history = app.get("/api/schedules/1/history").await.json();
    assert_eq!(history["count"], 1, "{history}");
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{history}");
    assert_eq!(items[0]["id"], scheduled_run_id);
    assert_eq!(items[0]["run_id"], run_id);
    assert_eq!(items[0]["schedule_id"], id);

    let report = app.get(&format!("/api/runs/{run_id}/report/")).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text());
}

#[tokio::test]
async fn run_now_fires_a_disabled_schedule_and_history_pages() {
    let app = TestApp::new().await;
    let schedule = create(
        &app,
        json!({"name": "off", "task_key": "gpu_report", "enabled": false,
               "schedule_type": "cron", "cron_expr": "*/15 * * * *", "timezone": "Europe/Berlin"}),
    )
    .await;
    let id = schedule["id"].as_i64().unwrap();
    assert_eq!(schedule["enabled"], false);
    for _ in 0..3 {
        let response = app
            .post_empty(&format!("/api/schedules/{id}/run-now/"))
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    }
    let page = app
        .get(&format!("/api/schedules/{id}/history/?page=2&page_size=2"))
        .await
        .json();
    assert_eq!(page["count"], 3, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let bad = app
        .get(&format!("/api/schedules/{id}/history?page=0"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    assert!(bad.json()["page"].is_array(), "{}", bad.text());
}

#[tokio::test]
async fn enable_and_disable_toggle_and_reschedule() {
    let app = TestApp::new().await;
    let id = create(
        &app,
        json!({"name": "toggle", "job_key": "task2", "schedule_type": "interval", "interval_minutes": 10}),
    )
    .await["id"]
        .as_i64()
        .unwrap();

    let response = app
        .post_empty(&format!("/api/schedules/{id}/disable"))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let disabled = response.json();
    assert_eq!(disabled["enabled"], false);
    assert!(disabled["next_run_at"].is_null(), "{disabled}");
    assert_eq!(
        app.get(&format!("/api/schedules/{id}/")).await.json()["enabled"],
        false
    );

    let response = app
        .post_empty(&format!("/api/schedules/{id}/enable/"))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let enabled = response.json();
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["next_run_at"].is_string(), "{enabled}");
    assert_eq!(enabled["task"]["task_key"], "gpu_report");
}

#[tokio::test]
async fn patch_put_and_delete() {
    let app = TestApp::new().await;
    let before = create(
        &app,
        json!({"name": "keep-timing", "task_key": "log_triage", "schedule_type": "interval",
               "interval_minutes": 30, "use_rag": false}),
    )
    .await;
    let id = before["id"].as_i64().unwrap();
    let uri = format!("/api/schedules/{id}/");

    let response = app
        .json(
            Method::PATCH,
            &uri,
            &json!({"name": "renamed", "use_rag": true, "max_per_job": 2}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let patched = response.json();
    assert_eq!(patched["name"], "renamed");
    assert_eq!(patched["use_rag"], true);
    assert_eq!(patched["max_per_job"], 2);
    assert_eq!(patched["interval_minutes"], 30);
    assert_eq!(
        patched["next_run_at"], before["next_run_at"],
        "a PATCH without timing fields leaves next_run_at alone"
    );

    let custom = app
        .json(
            Method::PATCH,
            &uri,
            &json!({"custom_directive_text": "Only summarise."}),
        )
        .await
        .json();
    assert_eq!(custom["directive"], json!({"custom": true}), "{custom}");

    let planning = directive_id(&app, "Change Planning").await;
    let response = app
        .json(
            Method::PUT,
            uri.trim_end_matches('/'),
            &json!({"name": "replaced", "task_id": before["task"]["id"], "directive_id": planning,
                    "schedule_type": "cron", "cron_expr": "0 0 6 * * *", "timezone": "Asia/Kolkata"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let replaced = response.json();
    assert_eq!(replaced["name"], "replaced");
    assert_eq!(replaced["schedule_type"], "cron");
    assert_eq!(replaced["timezone"], "Asia/Kolkata");
    assert_eq!(replaced["use_rag"], false, "PUT resets absent fields");
    assert_eq!(replaced["max_per_job"], Value::Null);
    assert!(replaced["custom_directive_text"].is_null(), "{replaced}");
    assert_eq!(replaced["directive"]["id"], planning);
    assert_eq!(replaced["directive"]["name"], "Change Planning");
    assert!(
        replaced["directive"]["directive_type"].is_string(),
        "{replaced}"
    );

    let list = app.get("/api/schedules").await.json();
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["results"][0]["directive"]["id"], planning);

    assert_eq!(app.delete(&uri).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&uri).await.status, StatusCode::NOT_FOUND);
    assert_eq!(schedule_count(&app).await, 0);
}

#[tokio::test]
async fn every_invalid_input_names_its_field_and_saves_nothing() {
    let app = TestApp::new().await;
    let planning = directive_id(&app, "Change Planning").await;
    let base = json!({"name": "bad", "task_key": "log_triage", "schedule_type": "interval",
                      "interval_minutes": 5});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases = [
        (
            with(json!({"schedule_type": "cron", "cron_expr": "every tuesday"})),
            "cron_expr",
        ),
        (with(json!({"timezone": "Mars/Olympus_Mons"})), "timezone"),
        (with(json!({"interval_minutes": 0})), "interval_minutes"),
        (
            with(json!({"directive_id": planning, "custom_directive_text": "x"})),
            "custom_directive_text",
        ),
        (
            with(json!({"directive_id": planning, "custom_directive_text": "x"})),
            "directive_id",
        ),
        (with(json!({"task_key": "no_such_task"})), "task_key"),
        (
            json!({"name": "bad", "job_key": "nope", "schedule_type": "interval", "interval_minutes": 5}),
            "job_key",
        ),
        (
            json!({"name": "bad", "task_id": 99999, "schedule_type": "interval", "interval_minutes": 5}),
            "task_id",
        ),
        (with(json!({"directive_id": 99999})), "directive_id"),
        (
            with(json!({"task_key": "service_map", "task3_scope": "all"})),
            "task3_scope",
        ),
        (with(json!({"schedule_type": "weekly"})), "schedule_type"),
        (with(json!({"misfire_policy": "maybe"})), "misfire_policy"),
        (with(json!({"max_global": 0})), "max_global"),
        (
            json!({"task_key": "log_triage", "schedule_type": "interval", "interval_minutes": 5}),
            "name",
        ),
        (
            json!({"name": "bad", "schedule_type": "interval", "interval_minutes": 5}),
            "task_key",
        ),
        (
            json!({"name": "bad", "task_key": "log_triage", "interval_minutes": 5}),
            "schedule_type",
        ),
    ];
    for (body, field) in cases {
        let response = app.json(Method::POST, "/api/schedules/", &body).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            response.text()
        );
        assert!(
            response.json()[field].is_array(),
            "{body} should name {field}: {}",
            response.text()
        );
    }
    let unknown = app
        .json(
            Method::POST,
            "/api/schedules/",
            &with(json!({"colour": "red"})),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unknown.text()
    );
    assert!(unknown.text().contains("colour"), "{}", unknown.text());
    assert_eq!(schedule_count(&app).await, 0, "nothing was saved");

    // A refused PATCH changes nothing either.
    let saved = create(&app, base.clone()).await;
    let uri = format!("/api/schedules/{}/", saved["id"]);
    let response = app
        .json(
            Method::PATCH,
            &uri,
            &json!({"name": "changed", "cron_expr": "61 * * * *", "schedule_type": "cron"}),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert!(
        response.json()["cron_expr"].is_array(),
        "{}",
        response.text()
    );
    assert_eq!(app.get(&uri).await.json()["name"], "bad");
}

#[tokio::test]
async fn unknown_ids_are_404_and_taken_names_409() {
    let app = TestApp::new().await;
    let body = json!({"name": "dup", "task_key": "log_triage", "schedule_type": "interval",
                      "interval_minutes": 5});
    let first = create(&app, body.clone()).await;

    let response = app.json(Method::POST, "/api/schedules/", &body).await;
    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text());
    assert!(response.json()["detail"].is_string(), "{}", response.text());
    let other = create(&app, json!({"name": "other", "task_key": "gpu_report", "schedule_type": "interval", "interval_minutes": 5})).await;
    let response = app
        .json(
            Method::PATCH,
            &format!("/api/schedules/{}/", other["id"]),
            &json!({"name": "dup"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text());
    assert_eq!(schedule_count(&app).await, 2);
    assert_eq!(first["name"], "dup");

    for (method, uri) in [
        (Method::GET, "/api/schedules/999/"),
        (Method::DELETE, "/api/schedules/999"),
        (Method::POST, "/api/schedules/999/run-now"),
        (Method::POST, "/api/schedules/999/enable"),
        (Method::POST, "/api/schedules/999/disable/"),
        (Method::GET, "/api/schedules/999/history"),
    ] {
        let response = app
            .send(
                axum::http::Request::builder()
                    .method(method.clone())
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{method} {uri}: {}",
            response.text()
        );
        assert!(response.json()["detail"].is_string(), "{}", response.text());
    }
    for method in [Method::PATCH, Method::PUT] {
        let response = app.json(method.clone(), "/api/schedules/999/", &body).await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{method}: {}",
            response.text()
        );
    }
    // Not an id: nothing lives there (the same rule as every other collection).
    let response = app.get("/api/schedules/abc/").await;
    assert_eq!(
        response.status,
        StatusCode::NOT_FOUND,
        "{}",
        response.text()
    );
}

#[tokio::test]
async fn every_path_answers_with_and_without_its_trailing_slash() {
    let app = TestApp::new().await;
    let id = create(
        &app,
        json!({"name": "slashes", "task_key": "gpu_report", "schedule_type": "one_shot",
               "run_at": "2999-01-01T00:00:00Z"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    for uri in [
        "/api/schedules".to_string(),
        "/api/schedules/".to_string(),
        format!("/api/schedules/{id}"),
        format!("/api/schedules/{id}/"),
        format!("/api/schedules/{id}/history"),
        format!("/api/schedules/{id}/history/"),
    ] {
        let response = app.get(&uri).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{uri}: {}",
            response.text()
        );
    }
    for action in ["enable", "enable/", "disable", "disable/"] {
        let response = app
            .post_empty(&format!("/api/schedules/{id}/{action}"))
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{action}: {}",
            response.text()
        );
    }
    for action in ["run-now", "run-now/"] {
        let response = app
            .post_empty(&format!("/api/schedules/{id}/{action}"))
            .await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "{action}: {}",
            response.text()
        );
    }
    let index = app.get("/api/").await.json();
    assert_eq!(index["schedules"], "/api/schedules/");
}
