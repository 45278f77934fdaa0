//! A small JSON-over-HTTP client for the REST checks.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::server::Server;

/// A client that never goes through a proxy (the server is on loopback).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build the HTTP client")
}

/// One response: status, content type and the body parsed as JSON (`Value::Null` when it is
/// empty, `Value::String` with the raw text when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    /// Asserts the status, naming the request and showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16, request: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{request}: unexpected status; body: {}",
            self.body
        );
        self.body
    }
}

pub struct Api<'a> {
    server: &'a Server,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    pub fn new(server: &'a Server) -> Self {
        Self {
            server,
            client: client(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None, None).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.request(
            Method::POST,
            path,
            Some(body.to_string()),
            Some("application/json"),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.request(
            Method::PATCH,
            path,
            Some(body.to_string()),
            Some("application/json"),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.request(
            Method::PUT,
            path,
            Some(body.to_string()),
            Some("application/json"),
        )
        .await
    }

    /// A request with a raw body and content type, for malformed and oversized input.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: impl Into<String>,
        content_type: Option<&str>,
    ) -> Reply {
        self.request(method, path, Some(body.into()), content_type)
            .await
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        content_type: Option<&str>,
    ) -> Reply {
        let what = format!("{method} {path}");
        let mut request = self.client.request(method, self.server.url(path));
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body failed: {e}"));
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            content_type,
            body,
        }
    }
}

/// The `results` of a paginated collection, after checking the envelope.
#[track_caller]
pub fn results(page: &Value) -> &Vec<Value> {
    for key in ["count", "next", "previous", "results"] {
        assert!(
            page.get(key).is_some(),
            "a collection must carry {key:?}: {page}"
        );
    }
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results must be an array: {page}"))
}

/// The values of one string field across a collection's results.
pub fn field<'v>(items: &'v [Value], name: &str) -> Vec<&'v str> {
    items
        .iter()
        .filter_map(|item| item[name].as_str())
        .collect()
}

/// Asserts a validation error body: a JSON object mapping field names to non-empty lists of
/// messages, containing `expected_field`. Returns the messages for that field.
#[track_caller]
pub fn field_errors<'v>(body: &'v Value, expected_field: &str) -> Vec<&'v str> {
    assert_field_map(body);
    let messages = body.get(expected_field).unwrap_or_else(|| {
        panic!("the validation error must name field {expected_field:?}: {body}")
    });
    messages
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Asserts the shape of a validation error body, `{"field": ["message", …], …}`.
#[track_caller]
pub fn assert_field_map(body: &Value) {
    let map = body
        .as_object()
        .unwrap_or_else(|| panic!("a validation error must be a JSON object: {body}"));
    assert!(
        !map.is_empty(),
        "a validation error must name at least one field: {body}"
    );
    for (field, messages) in map {
        let messages = messages
            .as_array()
            .unwrap_or_else(|| panic!("field {field:?} must map to a list of messages: {body}"));
        assert!(
            !messages.is_empty()
                && messages
                    .iter()
                    .all(|m| m.as_str().is_some_and(|m| !m.trim().is_empty())),
            "field {field:?} must carry non-empty message strings: {body}"
        );
    }
}

/// Asserts a non-validation error body: `{"detail": "…"}` with a message.
#[track_caller]
pub fn detail(body: &Value) -> &str {
    body["detail"]
        .as_str()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| panic!(r#"an error body must be {{"detail": "…"}}: {body}"#))
}
