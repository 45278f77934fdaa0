//! `/api/docs/`: Swagger UI from embedded assets, nothing from a CDN.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestApp;

#[tokio::test]
async fn docs_page_is_served_without_remote_references() {
    let app = TestApp::new().await;
    for uri in ["/api/docs/", "/api/docs"] {
        let page = app.get(uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        assert_eq!(
            page.header(header::CONTENT_TYPE),
            Some("text/html; charset=utf-8")
        );
        let html = page.text();
        assert!(html.contains("<div id=\"swagger-ui\">"), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "remote reference: {html}"
        );
        assert!(html.contains("/api/docs/swagger-ui-bundle.js"));
        let csp = page
            .header(header::CONTENT_SECURITY_POLICY)
            .unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"),
            "{csp}"
        );
    }

    let initializer = app.get("/api/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status, StatusCode::OK);
    let script = initializer.text();
    assert!(script.contains("url: \"/api/schema/\""), "{script}");
    assert!(
        script.contains("validatorUrl: null"),
        "the validator would send the spec away"
    );
    assert!(
        !script.contains("http://") && !script.contains("https://"),
        "{script}"
    );
}

#[tokio::test]
async fn assets_have_content_types_and_cache_validators() {
    let app = TestApp::new().await;
    for (file, content_type, min_len) in [
        (
            "swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
            1_000_000,
        ),
        ("swagger-ui.css", "text/css; charset=utf-8", 100_000),
        (
            "swagger-initializer.js",
            "text/javascript; charset=utf-8",
            100,
        ),
        ("LICENSE", "text/plain; charset=utf-8", 1_000),
    ] {
        let response = app.get(&format!("/api/docs/{file}")).await;
        assert_eq!(response.status, StatusCode::OK, "{file}");
        assert_eq!(
            response.header(header::CONTENT_TYPE),
            Some(content_type),
            "{file}"
        );
        assert!(
            response.body.len() >= min_len,
            "{file}: {} bytes",
            response.body.len()
        );
        assert_eq!(
            response.header(header::X_CONTENT_TYPE_OPTIONS),
            Some("nosniff")
        );
        assert!(response.header(header::CACHE_CONTROL).is_some(), "{file}");
        let etag = response.header(header::ETAG).expect("etag").to_string();

        let revalidated = app
            .send(
                Request::get(format!("/api/docs/{file}"))
                    .header(header::IF_NONE_MATCH, &etag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED, "{file}");
        assert!(revalidated.body.is_empty());
    }
    let bundle = app.get("/api/docs/swagger-ui-bundle.js").await;
    assert!(bundle.text().contains("SwaggerUIBundle"));
    assert_eq!(
        bundle.header(header::CACHE_CONTROL),
        Some("public, max-age=86400")
    );

    let missing = app.get("/api/docs/../../etc/passwd").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let missing = app.get("/api/docs/swagger-ui.js.map").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["detail"].is_string());
}
