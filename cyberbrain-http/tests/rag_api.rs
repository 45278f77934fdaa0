//! The knowledge-base REST API (`/api/rag/…`, SPEC §3.6, §4), in process over the real router,
//! engine, SQLite store and text extraction; the deterministic `HashEmbedder` stands in for the
//! MiniLM model (the real-model end-to-end tests live in the workspace's e2e suite).
//!
//! Uploads stream multipart bodies; ingestion is driven with `Ingester::ingest_next` so every
//! step is observable. Every refusal is checked for its status, the field or detail it names,
//! and that nothing was written. The `cyberbrain ingester` command is run as a process over the
//! same database.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{TestApp, TestResponse};
use cyberbrain_core::Config;
use cyberbrain_core::domain::UploadStatus;
use cyberbrain_core::engine::{Ingester, query_hash};
use cyberbrain_core::testing::files::every_file_under;
use serde_json::{Value, json};

const BOUNDARY: &str = "cyberbrain-test-boundary-7MA4YWxkTrZu0gW";

const NOTES_MD: &str = "# Disk pressure runbook\n\nWhen the array disk fills up, the docker \
    image grows and containers stop writing logs. Prune old images first.\n";
const BACKUP_TXT: &str = "Nightly backups run at two in the morning and copy the appdata share \
    to the offsite bucket.\n";
const SERVICES_JSON: &str = r#"{"service": "plex", "port": 32400, "gpu": "transcoding"}"#;

/// An app whose engine embeds with the deterministic `HashEmbedder`.
async fn rag_app(adjust: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::with_config(adjust).await.with_hash_embedder()
}

/// A `multipart/form-data` body with one file part (and any text parts before it).
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(filename) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_multipart(app: &TestApp, uri: &str, body: Vec<u8>) -> TestResponse {
    app.send(
        Request::post(uri)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

async fn upload(app: &TestApp, filename: &str, bytes: &[u8]) -> TestResponse {
    post_multipart(
        app,
        "/api/rag/upload",
        multipart(&[("file", Some(filename), bytes)]),
    )
    .await
}

/// Ingests every queued upload in this process, as an ingester would.
async fn ingest_all(app: &TestApp) -> Vec<Value> {
    let ingester = Ingester::new(app.cb.clone()).with_owner("test-ingester");
    let mut ingested = Vec::new();
    while let Some(upload) = ingester.ingest_next().await.expect("ingest") {
        ingested.push(serde_json::to_value(upload).unwrap());
    }
    ingested
}

async fn search(app: &TestApp, body: Value) -> TestResponse {
    app.json(Method::POST, "/api/rag/search", &body).await
}

async fn search_form(app: &TestApp, pairs: &[(&str, &str)]) -> TestResponse {
    common::post_form(app, "/api/rag/search", pairs).await
}

/// The one field a 400 names, with its messages joined.
fn only_field(response: &TestResponse) -> (String, String) {
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    let body = response.json();
    let fields = body.as_object().expect("a field map");
    assert_eq!(fields.len(), 1, "{body}");
    let (field, messages) = fields.iter().next().unwrap();
    let messages: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    (field.clone(), messages.join(" | "))
}

async fn upload_count(app: &TestApp) -> u64 {
    app.get("/api/rag/uploads").await.json()["count"]
        .as_u64()
        .unwrap()
}

/// Files under the uploads directory (the `.incoming` staging area must be empty).
fn stored_files(app: &TestApp) -> Vec<String> {
    let mut files: Vec<String> = every_file_under(&app.cb.config().paths.uploads_dir())
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn uploads_are_stored_once_ingested_and_searchable() {
    let app = rag_app(|_| {}).await;

    let mut ids = Vec::new();
    for (filename, bytes, mime) in [
        ("notes.md", NOTES_MD, "text/markdown"),
        ("backup.txt", BACKUP_TXT, "text/plain"),
        ("services.json", SERVICES_JSON, "application/json"),
    ] {
        let created = upload(&app, filename, bytes.as_bytes()).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        let body = created.json();
        let id = body["id"].as_i64().unwrap();
        assert_eq!(
            created.header(header::LOCATION),
            Some(format!("/api/rag/uploads/{id}").as_str())
        );
        assert_eq!(body["filename"], filename);
        assert_eq!(body["mime_type"], mime);
        assert_eq!(body["status"], "queued");
        assert_eq!(body["size_bytes"], bytes.len());
        assert_eq!(body["chunks_done"], 0);
        assert_eq!(body["chunks_total"], Value::Null);
        ids.push(id);

        // The same bytes again, under any name and with or without the slash: the same upload.
        let again = post_multipart(
            &app,
            "/api/rag/upload/",
            multipart(&[(
                "file",
                Some(&format!("copy of {filename}")),
                bytes.as_bytes(),
            )]),
        )
        .await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text());
        assert_eq!(again.json()["id"], id);
        assert_eq!(again.json()["filename"], filename);
    }
    assert_eq!(upload_count(&app).await, 3);
    let files = stored_files(&app);
    assert_eq!(files.len(), 3, "stored once each, by hash: {files:?}");

    // Newest first; the status filter.
    let list = app.get("/api/rag/uploads?status=queued").await.json();
    assert_eq!(list["count"], 3);
    let listed: Vec<i64> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [ids[2], ids[1], ids[0]]);
    assert_eq!(
        app.get("/api/rag/uploads/?status=ready").await.json()["count"],
        0
    );

    let ingested = ingest_all(&app).await;
    assert_eq!(ingested.len(), 3);
    for id in &ids {
        let upload = app.get(&format!("/api/rag/uploads/{id}")).await;
        assert_eq!(upload.status, StatusCode::OK);
        let upload = upload.json();
        assert_eq!(upload["status"], "ready", "{upload}");
        let total = upload["chunks_total"]
            .as_i64()
            .expect("known once ingested");
        assert!(total >= 1, "{upload}");
        assert_eq!(upload["chunks_done"], total, "{upload}");
        assert_eq!(upload["error_message"], Value::Null);
    }
    assert_eq!(
        app.get("/api/rag/uploads?status=ready").await.json()["count"],
        3
    );

    let documents = app.get("/api/rag/documents").await;
    assert_eq!(documents.status, StatusCode::OK);
    let documents = documents.json();
    assert_eq!(documents["count"], 3);
    assert_eq!(documents["next"], Value::Null);
    for document in documents["results"].as_array().unwrap() {
        assert!(ids.contains(&document["upload_id"].as_i64().unwrap()));
        assert!(document["chunk_count"].as_i64().unwrap() >= 1, "{document}");
        assert!(document["title"].is_string() && document["source"].is_string());
    }
    let page = app.get("/api/rag/documents?page_size=2").await.json();
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    assert_eq!(page["next"], "/api/rag/documents?page=2&page_size=2");

    // JSON search: the runbook is the best match for its own words.
    let query = "  docker image disk fills up prune images ";
    let found = search(&app, json!({"query_text": query, "top_k": 3})).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    let found = found.json();
    assert_eq!(found["query_hash"], query_hash(query));
    let results = found["results"].as_array().unwrap();
    assert_eq!(found["total_found"], results.len());
    assert!(!results.is_empty() && results.len() <= 3, "{found}");
    assert_eq!(results[0]["document_source"], "notes.md", "{found}");
    assert_eq!(results[0]["upload_id"], ids[0]);
    assert!(
        results[0]["chunk_text"]
            .as_str()
            .unwrap()
            .contains("Prune old images")
    );
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // Form search with an upload filter, as comma-separated and repeated fields.
    let filtered = search_form(
        &app,
        &[
            ("query_text", "docker image disk"),
            ("top_k", "5"),
            ("upload_ids", &format!("{},{}", ids[1], ids[2])),
        ],
    )
    .await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.text());
    let sources: Vec<String> = filtered.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["document_source"].as_str().unwrap().to_string())
        .collect();
    assert!(!sources.is_empty());
    assert!(!sources.contains(&"notes.md".to_string()), "{sources:?}");
    let repeated = search_form(
        &app,
        &[
            ("query_text", "backups"),
            ("upload_ids", &ids[1].to_string()),
            ("upload_ids", ""),
        ],
    )
    .await;
    assert_eq!(repeated.status, StatusCode::OK, "{}", repeated.text());
    for hit in repeated.json()["results"].as_array().unwrap() {
        assert_eq!(hit["upload_id"], ids[1]);
    }

    // Deleting an upload takes its document and chunks with it, and its file.
    let deleted = app.delete(&format!("/api/rag/uploads/{}/", ids[0])).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    assert!(deleted.body.is_empty());
    assert_eq!(
        app.get(&format!("/api/rag/uploads/{}", ids[0]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/api/rag/documents").await.json()["count"], 2);
    assert_eq!(stored_files(&app).len(), 2);
    let after = search(&app, json!({"query_text": query, "top_k": 50}))
        .await
        .json();
    assert!(
        after["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["document_source"] != "notes.md"),
        "{after}"
    );
}

/// Damaged files that pass the upload's type check fail at ingestion with a message naming the
/// file and the problem; files whose type cannot be recognised are refused at upload. Neither is
/// ever a 5xx, and the uploads list stays readable.
#[tokio::test]
async fn damaged_documents_fail_with_a_message_or_are_refused_never_a_500() {
    let app = rag_app(|_| {}).await;
    let docx = cyberbrain_core::testing::documents::docx(&["The restore runbook."], &[]);
    let pdf = cyberbrain_core::testing::documents::pdf(&["The restore runbook."]);
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        (
            "corrupt.pdf",
            b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage \x00\x01".to_vec(),
        ),
        ("cut.pdf", pdf[..pdf.len() / 2].to_vec()),
        ("cut.docx", docx[..docx.len() / 2].to_vec()),
        ("broken.json", br#"{"service": "plex", "port": "#.to_vec()),
    ];
    let mut accepted = Vec::new();
    for (name, bytes) in &damaged {
        let response = upload(&app, name, bytes).await;
        assert!(
            response.status.is_client_error() || response.status == StatusCode::CREATED,
            "{name}: {} {}",
            response.status,
            response.text()
        );
        if response.status == StatusCode::CREATED {
            accepted.push((*name, response.json()["id"].as_i64().unwrap()));
        } else {
            let detail = response.json()["detail"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(!detail.is_empty(), "{name}: a refusal says why");
        }
    }
    assert!(
        !accepted.is_empty(),
        "some damaged files pass the type check"
    );
    ingest_all(&app).await;
    for (name, id) in accepted {
        let upload = app.get(&format!("/api/rag/uploads/{id}")).await;
        assert_eq!(upload.status, StatusCode::OK);
        let upload = upload.json();
        assert_eq!(upload["status"], "failed", "{name}: {upload}");
        let message = upload["error_message"].as_str().unwrap();
        assert!(message.contains(name), "{name}: {message}");
        assert!(message.chars().count() <= 1000, "{name}: {message}");
    }
    let documents = app.get("/api/rag/documents").await;
    assert_eq!(documents.status, StatusCode::OK);
    assert_eq!(documents.json()["count"], 0, "nothing half-ingested");
}

#[tokio::test]
async fn a_failed_upload_can_be_retried_and_a_ready_one_cannot() {
    let app = rag_app(|_| {}).await;
    // Whitespace only: accepted as text, but there is nothing to ingest.
    let blank = upload(&app, "blank.txt", b"   \n\n  \t \n").await;
    assert_eq!(blank.status, StatusCode::CREATED, "{}", blank.text());
    let blank_id = blank.json()["id"].as_i64().unwrap();
    let ready = upload(&app, "backup.txt", BACKUP_TXT.as_bytes()).await;
    let ready_id = ready.json()["id"].as_i64().unwrap();
    ingest_all(&app).await;

    let failed = app
        .get(&format!("/api/rag/uploads/{blank_id}"))
        .await
        .json();
    assert_eq!(failed["status"], "failed", "{failed}");
    let message = failed["error_message"].as_str().unwrap();
    assert!(message.contains("blank.txt"), "{message}");
    assert_eq!(
        app.get("/api/rag/uploads?status=failed").await.json()["count"],
        1
    );

    let retried = app
        .post_empty(&format!("/api/rag/uploads/{blank_id}/retry"))
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text());
    assert_eq!(retried.json()["id"], blank_id);
    assert_eq!(retried.json()["status"], "queued");

    let again = app
        .post_empty(&format!("/api/rag/uploads/{ready_id}/retry/"))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert!(again.json()["detail"].is_string());
    let unchanged = app
        .get(&format!("/api/rag/uploads/{ready_id}"))
        .await
        .json();
    assert_eq!(unchanged["status"], "ready");
}

#[tokio::test]
async fn refused_uploads_name_the_problem_and_store_nothing() {
    let app = rag_app(|config| config.rag.max_upload_bytes = 1024).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    let empty = upload(&app, "empty.txt", b"").await;
    let (field, message) = only_field(&empty);
    assert_eq!(field, "file");
    assert!(message.contains("empty"), "{message}");

    for (name, bytes) in [
        ("picture.pdf", &png[..]),
        ("picture.png", &png[..]),
        ("tool.exe", b"MZ just some bytes"),
        ("no-extension", b"plain text"),
    ] {
        let refused = upload(&app, name, bytes).await;
        assert_eq!(
            refused.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{name}: {}",
            refused.text()
        );
        assert!(refused.json()["detail"].is_string(), "{name}");
    }

    // Over rag.max_upload_bytes: the file alone, and a body far past the route's limit.
    for body in [
        multipart(&[("file", Some("big.txt"), &[b'a'; 4096])]),
        multipart(&[("file", Some("huge.txt"), &vec![b'a'; 17 << 20])]),
    ] {
        let refused = post_multipart(&app, "/api/rag/upload", body).await;
        assert_eq!(
            refused.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            refused.text()
        );
        let detail = refused.json()["detail"].as_str().unwrap().to_string();
        assert!(
            detail.contains("1024 bytes") && detail.contains("rag.max_upload_bytes"),
            "{detail}"
        );
    }
    // Just under the limit is fine.
    let fits = upload(&app, "fits.txt", &[b'a'; 1024]).await;
    assert_eq!(fits.status, StatusCode::CREATED, "{}", fits.text());
    let fits_id = fits.json()["id"].as_i64().unwrap();

    // No `file` field, and bodies that are not multipart at all.
    let other_field = post_multipart(
        &app,
        "/api/rag/upload",
        multipart(&[("document", Some("notes.md"), NOTES_MD.as_bytes())]),
    )
    .await;
    assert_eq!(only_field(&other_field).0, "file");
    let text_only = post_multipart(
        &app,
        "/api/rag/upload",
        multipart(&[("note", None, b"hello")]),
    )
    .await;
    assert_eq!(only_field(&text_only).0, "file");
    let json_body = app
        .json(
            Method::POST,
            "/api/rag/upload",
            &json!({"file": "notes.md"}),
        )
        .await;
    let (field, message) = only_field(&json_body);
    assert_eq!(field, "file");
    assert!(message.contains("multipart/form-data"), "{message}");
    let no_type = app
        .raw(Method::POST, "/api/rag/upload", None, "just text")
        .await;
    assert_eq!(only_field(&no_type).0, "file");
    let truncated = app
        .raw(
            Method::POST,
            "/api/rag/upload",
            Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"cut.txt\"\r\n\r\nthe body ends before its boundary"
            ),
        )
        .await;
    assert_eq!(only_field(&truncated).0, "file");

    // A file part without a file name.
    let nameless = post_multipart(
        &app,
        "/api/rag/upload",
        multipart(&[("file", None, b"some words")]),
    )
    .await;
    assert_eq!(only_field(&nameless).0, "file");

    let list = app.get("/api/rag/uploads").await.json();
    assert_eq!(list["count"], 1, "only the upload that fits: {list}");
    assert_eq!(list["results"][0]["id"], fits_id);
    assert_eq!(stored_files(&app).len(), 1, "{:?}", stored_files(&app));
}

#[tokio::test]
async fn bad_searches_are_refused_field_by_field() {
    let app = rag_app(|_| {}).await;
    for (body, field, needle) in [
        (
            json!({"query_text": "disk", "top_k": "ten"}),
            "top_k",
            "invalid type",
        ),
        (
            json!({"query_text": "disk", "top_k": 0}),
            "top_k",
            "between 1 and 50",
        ),
        (
            json!({"query_text": "disk", "top_k": 51}),
            "top_k",
            "between 1 and 50",
        ),
        (
            json!({"query_text": "disk", "top_k": 2.5}),
            "top_k",
            "invalid type",
        ),
        (json!({"query_text": "   "}), "query_text", "blank"),
        (json!({"top_k": 3}), "query_text", "required"),
        (
            json!({"query_text": "disk", "min_score": 2}),
            "min_score",
            "between -1 and 1",
        ),
        (
            json!({"query_text": "disk", "document_ids": [0]}),
            "document_ids",
            "positive",
        ),
        (
            json!({"query_text": "disk", "run_id": 999}),
            "run_id",
            "does not exist",
        ),
        (
            json!({"query_text": "disk", "colour": "red"}),
            "colour",
            "unknown field",
        ),
    ] {
        let refused = search(&app, body.clone()).await;
        let (got, message) = only_field(&refused);
        assert_eq!(got, field, "{body}: {message}");
        assert!(message.contains(needle), "{body}: {message}");
    }
    for (pairs, field, needle) in [
        (
            vec![("query_text", "disk"), ("top_k", "ten")],
            "top_k",
            "\"ten\"",
        ),
        (
            vec![("query_text", "disk"), ("top_k", "0")],
            "top_k",
            "between 1 and 50",
        ),
        (
            vec![("query_text", "disk"), ("top_k", "51")],
            "top_k",
            "between 1 and 50",
        ),
        (vec![("query_text", " ")], "query_text", "blank"),
        (vec![("top_k", "3")], "query_text", "required"),
        (
            vec![("query_text", "disk"), ("upload_ids", "1,two")],
            "upload_ids",
            "\"two\"",
        ),
        (
            vec![("query_text", "disk"), ("min_score", "high")],
            "min_score",
            "\"high\"",
        ),
    ] {
        let refused = search_form(&app, &pairs).await;
        let (got, message) = only_field(&refused);
        assert_eq!(got, field, "{pairs:?}: {message}");
        assert!(message.contains(needle), "{pairs:?}: {message}");
    }
    let text = app
        .raw(Method::POST, "/api/rag/search", Some("text/plain"), "disk")
        .await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let malformed = app
        .raw(
            Method::POST,
            "/api/rag/search",
            Some("application/json"),
            "{\"query_text\": ",
        )
        .await;
    assert_eq!(only_field(&malformed).0, "body");

    // A valid search over an empty knowledge base finds nothing, and says so.
    let empty = search(&app, json!({"query_text": "disk"})).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text());
    assert_eq!(empty.json()["results"], json!([]));
    assert_eq!(empty.json()["total_found"], 0);
}

#[tokio::test]
async fn unknown_uploads_and_bad_filters_are_not_500s() {
    let app = rag_app(|_| {}).await;
    for (method, uri) in [
        (Method::GET, "/api/rag/uploads/999"),
        (Method::DELETE, "/api/rag/uploads/999"),
        (Method::POST, "/api/rag/uploads/999/retry"),
        (Method::GET, "/api/rag/uploads/abc"),
        (Method::POST, "/api/rag/uploads/0/retry"),
    ] {
        let response = app
            .send(
                Request::builder()
                    .method(method.clone())
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert!(response.json()["detail"].is_string(), "{method} {uri}");
    }
    let bad_status = app.get("/api/rag/uploads?status=done").await;
    let (field, message) = only_field(&bad_status);
    assert_eq!(field, "status");
    assert!(message.contains("queued"), "{message}");
    assert_eq!(
        only_field(&app.get("/api/rag/documents?page_size=0").await).0,
        "page_size"
    );
    let wrong_method = app.get("/api/rag/upload").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn without_an_embedding_model_search_is_unavailable_and_says_how_to_fix_it() {
    let app = TestApp::new().await;
    let response = search(&app, json!({"query_text": "disk"})).await;
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.text()
    );
    let detail = response.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("embedding model"), "{detail}");
    // Bad input is still named first.
    assert_eq!(
        only_field(&search(&app, json!({"query_text": ""})).await).0,
        "query_text"
    );
    // Uploads are accepted without a model; they wait for one.
    let created = upload(&app, "notes.md", NOTES_MD.as_bytes()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
}

/// A child process killed (and reaped) when the test ends, however it ends.
struct Worker(std::process::Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `cyberbrain` binary with a clean environment over `data`.
fn cyberbrain_command(data: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cyberbrain"));
    command
        .env_clear()
        .current_dir(data.parent().unwrap())
        .env("RUST_LOG", "info")
        .env("CYBERBRAIN_DATA_DIR", data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

#[tokio::test]
async fn the_ingester_command_claims_uploads_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (args, needle) in [
        (
            &["ingester", "--poll-interval", "0"][..],
            "between 1 and 60",
        ),
        (&["ingester", "--poll-interval", "61"], "between 1 and 60"),
        (&["ingester", "--name", "  "], "--name"),
    ] {
        let output = cyberbrain_command(&data)
            .stderr(std::process::Stdio::piped())
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }

    // An upload queued by another process (this one) over the same database and uploads dir.
    let mut config = Config::default();
    config.paths.data_dir = data.clone();
    let store = cyberbrain_store_sqlite::SqliteStore::connect(&config.database_url())
        .await
        .unwrap();
    cyberbrain_core::store::StoreAdmin::migrate(&store)
        .await
        .unwrap();
    let cb = cyberbrain_core::Cyberbrain::new(Arc::new(store), config);
    let created = cb
        .upload_document("notes.md", &mut NOTES_MD.as_bytes())
        .await
        .unwrap();
    let id = created.upload.id;

    let child = cyberbrain_command(&data)
        .args(["ingester", "--name", "cli-ingester", "--poll-interval", "1"])
        .spawn()
        .unwrap();
    let mut worker = Worker(child);
    // No embedding model is installed here: the ingester claims the upload and fails it with
    // the fix, which proves it runs with the configured (real) embedder.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let upload = loop {
        let upload = cb.get_upload(id).await.unwrap();
        if upload.status == UploadStatus::Failed {
            break upload;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ingester never took upload {id}: {upload:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(upload.attempts, 1);
    let message = upload.error_message.unwrap_or_default();
    assert!(message.contains("scripts/models.sh"), "{message}");

    let sent = std::process::Command::new("kill")
        .args(["-TERM", &worker.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = worker.0.wait().unwrap();
    assert!(status.success(), "graceful stop on SIGTERM: {status}");
}
