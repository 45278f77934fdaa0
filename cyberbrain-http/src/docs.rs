//! Interactive API docs at `/api/docs/`: Swagger UI from files embedded in the binary (see
//! `assets/swagger-ui/VENDORED.md`), pointed at `/api/schema/`. Nothing comes from a CDN, and
//! the Content-Security-Policy keeps the page from reaching anything but this server.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// The vendored Swagger UI release; part of the cache validator of its files.
const SWAGGER_UI_VERSION: &str = "5.35.0";

/// One embedded file.
struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
    /// Vendored files change only with the Swagger UI version; our own with the crate version.
    vendored: bool,
}

const INDEX: Asset = Asset {
    name: "index.html",
    bytes: include_bytes!("../assets/swagger-ui/index.html"),
    content_type: "text/html; charset=utf-8",
    vendored: false,
};

const ASSETS: &[Asset] = &[
    INDEX,
    Asset {
        name: "swagger-initializer.js",
        bytes: include_bytes!("../assets/swagger-ui/swagger-initializer.js"),
        content_type: "text/javascript; charset=utf-8",
        vendored: false,
    },
    Asset {
        name: "swagger-ui-bundle.js",
        bytes: include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js"),
        content_type: "text/javascript; charset=utf-8",
        vendored: true,
    },
    Asset {
        name: "swagger-ui.css",
        bytes: include_bytes!("../assets/swagger-ui/swagger-ui.css"),
        content_type: "text/css; charset=utf-8",
        vendored: true,
    },
    Asset {
        name: "LICENSE",
        bytes: include_bytes!("../assets/swagger-ui/LICENSE"),
        content_type: "text/plain; charset=utf-8",
        vendored: true,
    },
    Asset {
        name: "NOTICE",
        bytes: include_bytes!("../assets/swagger-ui/NOTICE"),
        content_type: "text/plain; charset=utf-8",
        vendored: true,
    },
    Asset {
        name: "swagger-ui-bundle.js.LICENSE.txt",
        bytes: include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"),
        content_type: "text/plain; charset=utf-8",
        vendored: true,
    },
];

/// Swagger UI sets inline styles and shows inline SVG/data images; everything else must come
/// from this server.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/docs", get(index))
        .route("/api/docs/", get(index))
        .route("/api/docs/{file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|asset| asset.name == file)
        .map(|asset| serve(asset, &headers))
        .ok_or_else(|| ApiError::not_found(format!("no docs asset named {file:?}")))
}

fn serve(asset: &Asset, request_headers: &HeaderMap) -> Response {
    let etag = if asset.vendored {
        format!("\"swagger-ui-{SWAGGER_UI_VERSION}-{}\"", asset.name)
    } else {
        format!(
            "\"cyberbrain-{}-{}\"",
            env!("CARGO_PKG_VERSION"),
            asset.name
        )
    };
    // Our own files revalidate every time (they are tiny); the vendored bundle may be cached for
    // a day and is revalidated by its version after that.
    let cache_control = if asset.vendored {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = asset.bytes.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        response
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.name == INDEX.name {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}
