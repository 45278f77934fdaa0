//! The knowledge-base pages of the web UI, in process over the real router, engine, SQLite store
//! and text extraction (the deterministic `HashEmbedder` stands in for the model): uploading
//! through the form, the uploads table with its progress, reloading only while ingestion is
//! pending, retry and delete, refusals drawn in the page, and search with escaped results.

mod common;

use axum::body::Body;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{Request, StatusCode};
use common::{TestApp, TestResponse, flash, location, post_form};
use cyberbrain_core::engine::Ingester;

const BOUNDARY: &str = "webui-rag-boundary-x8Qw2";

async fn rag_app() -> TestApp {
    TestApp::with_config(|config| config.rag.max_upload_bytes = 4096)
        .await
        .with_hash_embedder()
}

/// Posts the upload form as a browser does (`multipart/form-data`, field `file`).
async fn upload_form(app: &TestApp, filename: &str, bytes: &[u8]) -> TestResponse {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    app.send(
        Request::post("/webui/rag/upload")
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

async fn ingest_all(app: &TestApp) {
    let ingester = Ingester::new(app.cb.clone());
    while ingester.ingest_next().await.expect("ingest").is_some() {}
}

fn assert_html_page(response: &TestResponse, nav: &str) {
    assert_eq!(
        response.header(CONTENT_TYPE),
        Some("text/html; charset=utf-8"),
        "{}",
        response.text()
    );
    let csp = response.header(CONTENT_SECURITY_POLICY).unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "CSP: {csp}");
    assert!(
        response.text().contains(nav),
        "the navigation entry is highlighted: {nav}"
    );
}

const UPLOADS_NAV: &str = r#"<a href="/webui/rag" aria-current="page">Knowledge</a>"#;
const SEARCH_NAV: &str = r#"<a href="/webui/rag/search" aria-current="page">Search</a>"#;

/// The `<tr>` of one upload in the uploads table.
fn upload_row(page: &str, id: i64) -> String {
    let start = page
        .find(&format!("<tr id=\"upload-{id}\">"))
        .unwrap_or_else(|| panic!("no row for upload {id}: {page}"));
    let end = page[start..].find("</tr>").unwrap() + start;
    page[start..end].to_string()
}

#[tokio::test]
async fn uploads_page_shows_progress_and_reloads_only_while_ingestion_is_pending() {
    let app = rag_app().await;
    let empty = app.get("/webui/rag").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_html_page(&empty, UPLOADS_NAV);
    let text = empty.text();
    assert!(text.contains("No uploads yet."), "{text}");
    assert!(text.contains(r#"enctype="multipart/form-data""#));
    assert!(text.contains(r#"name="file""#));
    assert!(text.contains("4.0 KiB"), "the limit is shown: {text}");
    assert!(!text.contains("data-auto-refresh"), "nothing to wait for");

    let posted = upload_form(
        &app,
        "runbook.md",
        b"# Runbook\n\nRestart the array when parity fails.\n",
    )
    .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.text());
    assert_eq!(location(&posted), "/webui/rag");
    assert!(
        flash(&posted).contains("\"runbook.md\" uploaded"),
        "{}",
        flash(&posted)
    );
    let id = app.cb.list_uploads(Default::default()).await.unwrap().items[0].id;

    let again = upload_form(
        &app,
        "copy.md",
        b"# Runbook\n\nRestart the array when parity fails.\n",
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(
        flash(&again).contains("uploaded before"),
        "{}",
        flash(&again)
    );

    let pending = app.get("/webui/rag/").await;
    let text = pending.text();
    assert!(
        text.contains(r#"data-auto-refresh="2""#),
        "reloads while queued: {text}"
    );
    let row = upload_row(&text, id);
    assert!(
        row.contains("runbook.md") && row.contains(">queued<"),
        "{row}"
    );
    assert!(row.contains("<td class=\"progress\">–</td>"), "{row}");
    assert!(
        !row.contains("Retry"),
        "only failed uploads are retried: {row}"
    );

    ingest_all(&app).await;
    let done = app.get("/webui/rag").await;
    let text = done.text();
    assert!(
        !text.contains("data-auto-refresh"),
        "still once ready: {text}"
    );
    let upload = app.cb.get_upload(id).await.unwrap();
    let total = upload.chunks_total.expect("chunked");
    let row = upload_row(&text, id);
    assert!(row.contains(">ready<"), "{row}");
    assert!(
        row.contains(&format!("<td class=\"progress\">{total}/{total}</td>")),
        "{row}"
    );
    assert!(text.contains("1 ingested."), "{text}");
    assert!(
        text.contains("<td>runbook.md</td>"),
        "the document is listed: {text}"
    );
}

#[tokio::test]
async fn refused_uploads_come_back_with_the_reason_and_its_status() {
    let app = rag_app().await;
    for (filename, bytes, status, needle) in [
        (
            "picture.png",
            &b"\x89PNG\r\n\x1a\n"[..],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not accepted",
        ),
        ("empty.txt", b"", StatusCode::BAD_REQUEST, "empty"),
        (
            "big.txt",
            &[b'a'; 5000],
            StatusCode::PAYLOAD_TOO_LARGE,
            "rag.max_upload_bytes",
        ),
    ] {
        let refused = upload_form(&app, filename, bytes).await;
        assert_eq!(refused.status, status, "{filename}: {}", refused.text());
        assert_html_page(&refused, UPLOADS_NAV);
        let text = refused.text();
        assert!(text.contains("The file was not uploaded."), "{text}");
        assert!(text.contains(needle), "{filename}: {text}");
    }
    let not_multipart = post_form(&app, "/webui/rag/upload", &[("file", "notes.md")]).await;
    assert_eq!(not_multipart.status, StatusCode::BAD_REQUEST);
    assert!(not_multipart.text().contains("multipart/form-data"));
    assert_eq!(
        app.cb.list_uploads(Default::default()).await.unwrap().count,
        0
    );
}

#[tokio::test]
async fn failed_uploads_can_be_retried_and_any_upload_deleted() {
    let app = rag_app().await;
    upload_form(&app, "blank.txt", b"  \n \n").await;
    ingest_all(&app).await;
    let upload = &app.cb.list_uploads(Default::default()).await.unwrap().items[0];
    let id = upload.id;

    let page = app.get("/webui/rag").await.text();
    let row = upload_row(&page, id);
    assert!(row.contains(">failed<"), "{row}");
    assert!(row.contains("no text found"), "the error is shown: {row}");
    assert!(
        row.contains(&format!(r#"action="/webui/rag/uploads/{id}/retry""#)),
        "{row}"
    );

    let retried = post_form(&app, &format!("/webui/rag/uploads/{id}/retry"), &[]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.text());
    assert!(flash(&retried).contains("queued for ingestion again"));
    assert!(
        app.get("/webui/rag")
            .await
            .text()
            .contains("data-auto-refresh")
    );

    // Retrying what is not failed is a conflict page, not a 500.
    let conflict = post_form(&app, &format!("/webui/rag/uploads/{id}/retry"), &[]).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text());

    let deleted = post_form(&app, &format!("/webui/rag/uploads/{id}/delete/"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.text());
    assert!(flash(&deleted).contains("\"blank.txt\" deleted"));
    assert!(
        app.get("/webui/rag")
            .await
            .text()
            .contains("No uploads yet.")
    );

    for uri in [
        "/webui/rag/uploads/999/delete",
        "/webui/rag/uploads/abc/retry",
    ] {
        let missing = post_form(&app, uri, &[]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn search_page_shows_scored_results_with_escaped_text() {
    let app = rag_app().await;
    let form = app.get("/webui/rag/search").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_html_page(&form, SEARCH_NAV);
    assert!(form.text().contains(r#"name="query_text""#));
    assert!(form.text().contains(r#"name="top_k" value="5""#));
    assert!(
        !form.text().contains(r#"id="results""#),
        "no search ran yet"
    );

    upload_form(
        &app,
        "html-notes.txt",
        b"Injected <script>alert(1)</script> markup in the nginx proxy logs",
    )
    .await;
    upload_form(
        &app,
        "backup.txt",
        b"Nightly backups copy the appdata share offsite",
    )
    .await;
    ingest_all(&app).await;

    let found = post_form(
        &app,
        "/webui/rag/search",
        &[("query_text", "nginx proxy logs markup"), ("top_k", "1")],
    )
    .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    assert_html_page(&found, SEARCH_NAV);
    let text = found.text();
    assert!(text.contains(r#"<h2 id="results">"#), "{text}");
    assert_eq!(
        text.matches("<article class=\"card hit\">").count(),
        1,
        "top_k 1: {text}"
    );
    assert!(text.contains("html-notes.txt"), "{text}");
    assert!(text.contains("score "), "{text}");
    assert!(
        text.contains("Injected &#60;script&#62;alert(1)&#60;/script&#62; markup"),
        "{text}"
    );
    assert!(!text.contains("<script>alert(1)"), "chunk text is escaped");
    assert!(
        text.contains("nginx proxy logs markup</textarea>"),
        "the query is kept"
    );

    for (pairs, field_message) in [
        (
            vec![("query_text", "  "), ("top_k", "5")],
            "must not be blank",
        ),
        (
            vec![("query_text", "logs"), ("top_k", "ten")],
            "must be a whole number",
        ),
        (
            vec![("query_text", "logs"), ("top_k", "51")],
            "between 1 and 50",
        ),
    ] {
        let refused = post_form(&app, "/webui/rag/search", &pairs).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{pairs:?}");
        let text = refused.text();
        assert!(text.contains("The search did not run."), "{text}");
        assert!(
            text.contains("class=\"field-error\""),
            "beside the field: {text}"
        );
        assert!(text.contains(field_message), "{pairs:?}: {text}");
    }
}

#[tokio::test]
async fn search_without_a_model_says_how_to_install_it() {
    let app = TestApp::new().await;
    let refused = post_form(&app, "/webui/rag/search", &[("query_text", "disk full")]).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text()
    );
    assert!(
        refused.text().contains("no embedding model is configured"),
        "{}",
        refused.text()
    );
}
