//! An in-process server over a fresh SQLite store in a temp directory, driven with
//! `tower::ServiceExt::oneshot` — the real router, store and engine, no sockets.

#![allow(dead_code)] // each test file uses a different part of this

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use cyberbrain_core::domain::{PageRequest, RunQuery};
use cyberbrain_core::engine::{Executor, ExecutorHandle, ExecutorOptions};
use cyberbrain_core::store::StoreAdmin;
use cyberbrain_core::{Config, Cyberbrain};
use cyberbrain_http::AppState;
use cyberbrain_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub cb: Cyberbrain,
    pub dir: tempfile::TempDir,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// A fresh, migrated store; `adjust` may change the configuration first.
    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.paths.data_dir = dir.path().to_path_buf();
        // Deterministic on any machine: gpu_report finds no GPUs and still completes.
        config.gpu.nvidia_smi = "/nonexistent/nvidia-smi".into();
        adjust(&mut config);
        let url = format!("sqlite://{}", dir.path().join("cyberbrain.db").display());
        let store = SqliteStore::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let cb = Cyberbrain::new(Arc::new(store), config);
        let router = cyberbrain_http::router(AppState::new(cb.clone()));
        Self { router, cb, dir }
    }

    /// The same app with the deterministic `HashEmbedder` standing in for the MiniLM model.
    pub fn with_hash_embedder(self) -> Self {
        let cb = self
            .cb
            .with_embedder(Arc::new(cyberbrain_core::testing::HashEmbedder::default()));
        let router = cyberbrain_http::router(AppState::new(cb.clone()));
        Self { router, cb, ..self }
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible router");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn delete(&self, uri: &str) -> TestResponse {
        self.send(Request::delete(uri).body(Body::empty()).unwrap())
            .await
    }

    /// A JSON request with `Content-Type: application/json`.
    pub async fn json(&self, method: Method, uri: &str, body: &Value) -> TestResponse {
        self.raw(method, uri, Some("application/json"), body.to_string())
            .await
    }

    /// Any body with any (or no) content type, byte for byte.
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        self.send(request.body(body.into()).unwrap()).await
    }

    /// A `POST` without a body (the run actions take none).
    pub async fn post_empty(&self, uri: &str) -> TestResponse {
        self.send(Request::post(uri).body(Body::empty()).unwrap())
            .await
    }

    /// Every row of every collection this API writes, to prove a refused request wrote nothing.
    pub async fn snapshot(&self) -> Value {
        let all = PageRequest::first(200);
        serde_json::json!({
            "directives": self.cb.list_directives(all).await.expect("list").items,
            "tasks": self.cb.list_tasks(all).await.expect("list").items,
            "containers": self.cb.list_allowlist(all).await.expect("list").items,
            "runs": self.cb.list_runs(RunQuery::new(all)).await.expect("list").items,
        })
    }

    /// An executor over this app's engine, running until the handle is shut down or dropped.
    pub fn executor(&self) -> ExecutorHandle {
        Executor::new(self.cb.clone())
            .with_options(ExecutorOptions::default().with_poll_interval(Duration::from_millis(50)))
            .spawn()
    }

    /// Polls `GET /api/runs/{id}/` until the run ended and its report file is written (the
    /// executor writes it right after the run's status turns terminal); returns the detail.
    pub async fn wait_until_reported(&self, run_id: i64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let detail = self.get(&format!("/api/runs/{run_id}/")).await.json();
            let status = detail["status"].as_str().unwrap_or_default().to_string();
            if matches!(status.as_str(), "completed" | "failed" | "cancelled") {
                let report = self
                    .get(&format!("/api/runs/{run_id}/report/"))
                    .await
                    .json();
                if report["markdown"].is_string() {
                    return detail;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run_id} is still {status} (or unreported) after 30 s: {detail}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Posts an HTML form (`application/x-www-form-urlencoded`) as a browser would.
pub async fn post_form(app: &TestApp, uri: &str, pairs: &[(&str, &str)]) -> TestResponse {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    app.send(
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// The redirect target of a form post.
pub fn location(response: &TestResponse) -> String {
    response
        .header(header::LOCATION)
        .unwrap_or_else(|| panic!("no Location: {} {}", response.status, response.text()))
        .to_string()
}

/// The flash notice a redirect carries in its cookie.
pub fn flash(response: &TestResponse) -> String {
    let cookie = response.header(header::SET_COOKIE).unwrap_or_default();
    let value = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value)
        .unwrap_or_default();
    url::form_urlencoded::parse(format!("m={value}").as_bytes())
        .next()
        .map(|(_, message)| message.into_owned())
        .unwrap_or_default()
}
