//! The OpenAPI document: pinned by a golden file, served as JSON and YAML, and in step with the
//! router (every documented operation exists).

mod common;

use std::path::PathBuf;

use axum::http::{Method, StatusCode, header};
use common::TestApp;
use serde_json::Value;

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/openapi.json")
}

/// Rewrite with `UPDATE_GOLDEN=1 cargo test -p cyberbrain-http --test openapi` after an
/// intended API change, and review the diff.
#[test]
fn openapi_document_matches_the_golden_file() {
    let document = cyberbrain_http::openapi()
        .to_pretty_json()
        .expect("serializes")
        + "\n";
    let path = golden_path();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &document).expect("write golden file");
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with UPDATE_GOLDEN=1", path.display()));
    assert!(
        golden == document,
        "the OpenAPI document changed; if that is intended, rerun with UPDATE_GOLDEN=1 and \
         review the diff of {}",
        path.display()
    );
}

#[tokio::test]
async fn schema_is_served_as_json_and_yaml() {
    let app = TestApp::new().await;
    for uri in ["/api/schema/", "/api/schema", "/api/schema/?format=json"] {
        let response = app.get(uri).await;
        assert_eq!(response.status, StatusCode::OK, "{uri}");
        assert_eq!(
            response.header(header::CONTENT_TYPE),
            Some("application/json")
        );
        let document = response.json();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(
            document,
            serde_json::to_value(cyberbrain_http::openapi()).unwrap()
        );
    }
    let yaml = app.get("/api/schema/?format=yaml").await;
    assert_eq!(yaml.status, StatusCode::OK);
    assert_eq!(yaml.header(header::CONTENT_TYPE), Some("application/yaml"));
    assert!(
        yaml.text().starts_with("openapi: 3.1.0"),
        "{}",
        &yaml.text()[..80]
    );
    assert!(yaml.text().contains("/api/directives/{id}/:"));

    let bad = app.get("/api/schema/?format=xml").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json(),
        serde_json::json!({"format": ["must be json or yaml; got \"xml\""]})
    );
}

#[test]
fn every_operation_documents_its_errors_and_schemas() {
    let document = serde_json::to_value(cyberbrain_http::openapi()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            assert!(operation["operationId"].is_string(), "{method} {path}");
            assert!(operation["tags"].is_array(), "{method} {path}");
            let responses = operation["responses"].as_object().unwrap();
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
            if path.contains("{id}") {
                assert!(responses.contains_key("404"), "{method} {path} lacks 404");
            }
        }
    }
    let schemas = document["components"]["schemas"].as_object().unwrap();
    for name in [
        "Directive",
        "NewDirective",
        "DirectivePatch",
        "TaskDefinition",
        "NewTaskDefinition",
        "TaskDefinitionPatch",
        "AllowlistEntry",
        "NewAllowlistEntry",
        "AllowlistPatch",
        "ErrorDetail",
        "ValidationErrors",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}

/// Each documented operation is routed: its method on its path (with `{id}` = 1) is neither
/// 404-because-unrouted nor 405.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::new().await;
    let document = serde_json::to_value(cyberbrain_http::openapi()).unwrap();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            if method == Method::DELETE {
                continue; // would delete the row other operations use; covered in rest_api.rs
            }
            let uri = path.replace("{id}", "1");
            let body: Value = if method == Method::PUT {
                serde_json::json!({"name": "Read-only Diagnostics", "directive_type": "D1"})
            } else {
                serde_json::json!({})
            };
            for uri in [uri.clone(), uri.trim_end_matches('/').to_string()] {
                let response = app.json(method.clone(), &uri, &body).await;
                assert_ne!(
                    response.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {uri}"
                );
                if response.status == StatusCode::NOT_FOUND {
                    let detail = response.json()["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    assert!(
                        !detail.contains("no API endpoint"),
                        "{method} {uri}: {detail}"
                    );
                }
            }
        }
    }
}
