//! `/api/artifacts/`: the report files runs wrote under the artifacts root (SPEC §2.5). Every
//! download goes through the engine's G8 check: a registered path that now escapes the root (a
//! planted symbolic link, say) is refused with 403, never served.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cyberbrain_core::FieldErrors;
use cyberbrain_core::domain::{Artifact, ArtifactQuery};
use cyberbrain_core::engine::ArtifactContent;
use serde::Deserialize;
use utoipa::IntoParams;

use super::pagination::{PageQuery, Paginated, Pagination};
use super::path::ResourceId;
use super::query::QueryParams;
use crate::error::{ApiError, ErrorDetail, ValidationErrors};
use crate::state::AppState;

/// The run filter of the artifact, inventory and network-policy lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// Only rows of this run (an id).
    pub run: Option<i64>,
}

impl RunFilter {
    /// Reads `?run=`; a value that is not an id is a 400 naming `run`.
    pub(crate) fn read(params: &QueryParams) -> Result<Option<i64>, ApiError> {
        let mut errors = FieldErrors::new();
        let run = params.id(&mut errors, "run");
        errors.into_result()?;
        Ok(run)
    }
}

/// List artifacts, ordered by id.
#[utoipa::path(
    get,
    path = "/api/artifacts/",
    tag = "artifacts",
    operation_id = "list_artifacts",
    params(PageQuery, RunFilter),
    responses(
        (status = 200, description = "A page of artifacts", body = Paginated<Artifact>),
        (status = 400, description = "Bad page parameters or run filter", body = ValidationErrors),
        (status = 404, description = "The run filter names no run", body = ErrorDetail),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    pagination: Pagination,
    params: QueryParams,
) -> Result<Json<Paginated<Artifact>>, ApiError> {
    let query = ArtifactQuery {
        run_id: RunFilter::read(&params)?,
        page: pagination.request(),
    };
    let page = state.cb.list_artifacts(query).await?;
    Ok(Json(pagination.respond(page)))
}

/// One artifact's registration: path, kind, size and SHA-256.
#[utoipa::path(
    get,
    path = "/api/artifacts/{id}/",
    tag = "artifacts",
    operation_id = "get_artifact",
    params(("id" = i64, Path, description = "Artifact id")),
    responses(
        (status = 200, description = "The artifact", body = Artifact),
        (status = 404, description = "No such artifact", body = ErrorDetail),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<Artifact>, ApiError> {
    Ok(Json(state.cb.get_artifact(id).await?))
}

/// The artifact's file, as an attachment.
#[utoipa::path(
    get,
    path = "/api/artifacts/{id}/download/",
    tag = "artifacts",
    operation_id = "download_artifact",
    params(("id" = i64, Path, description = "Artifact id")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/markdown"),
            (Object = "application/json"),
            (String = "text/plain"),
        )),
        (status = 403, description = "The file escapes the artifacts root (G8)", body = ErrorDetail),
        (status = 404, description = "No such artifact, or its file is gone", body = ErrorDetail),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Response, ApiError> {
    let ArtifactContent { artifact, bytes } = state.cb.read_artifact(id).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    // The type follows the kind, not the stored text, so a header is always well-formed.
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(artifact.kind.mime_type()),
    );
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        download_name(&artifact)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Opened in a tab anyway, a report may not run scripts or load anything.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `run_<id>_<file name>` with every character outside `[A-Za-z0-9._-]` replaced by `_`: no
/// quote, separator or control character can reach the header, and the name says which run
/// the file came from.
pub(crate) fn download_name(artifact: &Artifact) -> String {
    let file = artifact
        .relative_path
        .rsplit(['/', '\\'])
        .find(|part| !part.is_empty())
        .unwrap_or("artifact");
    let safe: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    let safe = if safe.is_empty() { "artifact" } else { safe };
    format!("run_{}_{safe}", artifact.run_id)
}

#[cfg(test)]
mod tests {
    use cyberbrain_core::domain::ArtifactKind;

    use super::*;

    fn artifact(relative_path: &str) -> Artifact {
        Artifact {
            id: 1,
            run_id: 7,
            run_job_id: None,
            kind: ArtifactKind::Markdown,
            relative_path: relative_path.into(),
            size_bytes: 0,
            sha256: String::new(),
            mime_type: String::new(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn download_names_are_safe_for_the_header() {
        for (path, name) in [
            ("run_7/report.md", "run_7_report.md"),
            ("run_7/log_triage.json", "run_7_log_triage.json"),
            (
                "run_7/a \"quoted\";\r\nname.md",
                "run_7_a__quoted____name.md",
            ),
            ("run_7/..", "run_7_artifact"),
            ("run_7/ünï.md", "run_7__n_.md"),
            ("", "run_7_artifact"),
            ("run_7/sub\\..\\x.txt", "run_7_x.txt"),
        ] {
            assert_eq!(download_name(&artifact(path)), name, "{path:?}");
        }
    }
}
