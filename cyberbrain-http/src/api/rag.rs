//! `/api/rag/…`: the knowledge base (SPEC §2.7, §3.6, §4) — uploads streamed into the engine,
//! their listing, retry and deletion, the documents ingested from them, and search.
//!
//! Uploads are `multipart/form-data` with the file in the field `file`. The field's bytes are fed
//! to the engine as they arrive (never buffered whole); the engine hashes and writes them to disk
//! and refuses the file past `rag.max_upload_bytes` (413). The route's body limit is that plus
//! room for the multipart framing, instead of the JSON endpoints' `server.max_body_bytes`; like
//! them, it reads and drops up to 16 MiB past the limit before answering 413, so a client still
//! sending reads the answer instead of a connection reset.
//!
//! G3: a search's text is never logged here; the engine keeps only its hash.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, Multipart, MultipartError};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cyberbrain_core::domain::{DocumentInfo, Upload, UploadCreated, UploadQuery, UploadStatus};
use cyberbrain_core::engine::{SearchRequest, SearchResults};
use cyberbrain_core::{Cyberbrain, Error, FieldErrors};
use futures::TryStreamExt;
use serde::Deserialize;
use tokio_util::io::StreamReader;
use url::form_urlencoded;
use utoipa::{IntoParams, ToSchema};

use super::created;
use super::json::{ApiJson, BodyLimit, read_body_draining_excess, too_large};
use super::pagination::{PageQuery, Paginated, Pagination};
use super::path::ResourceId;
use super::query::QueryParams;
use crate::error::{ApiError, ErrorDetail, ValidationErrors};
use crate::state::AppState;

/// The multipart field that carries the file.
pub const FILE_FIELD: &str = "file";

/// Room for the multipart framing around the file (boundaries, part headers, a few small
/// fields): the route accepts `rag.max_upload_bytes` plus this.
pub const MULTIPART_OVERHEAD_BYTES: u64 = 64 * 1024;

/// The multipart body of `POST /api/rag/upload`, as documented.
#[derive(Debug, ToSchema)]
pub struct UploadForm {
    /// The file: txt, md, json, pdf or docx (by extension and content), at most
    /// `rag.max_upload_bytes` (default 50 MiB). Its name must carry the extension.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// Filters of `GET /api/rag/uploads`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadFilters {
    /// Only uploads in this ingestion state.
    pub status: Option<UploadStatus>,
}

/// Streams the `file` field of a multipart request into [`Cyberbrain::upload_document`]; shared
/// by the REST API and the web UI. Refusals are engine errors: `InvalidInput` naming `file` for
/// a body that is not multipart or has no `file` field, `TooLarge` past the limit, and whatever
/// the engine refuses (`UnsupportedType`, an empty file).
pub(crate) async fn receive_upload(
    cb: &Cyberbrain,
    request: Request,
) -> Result<UploadCreated, Error> {
    let max_upload = cb.config().rag.max_upload_bytes;
    let accepted = max_upload.saturating_add(MULTIPART_OVERHEAD_BYTES);
    let read_at_most = accepted.saturating_add(super::json::DRAIN_AFTER_LIMIT as u64);
    let too_large = || Error::TooLarge {
        what: "the upload".into(),
        limit_bytes: max_upload,
    };
    // The engine refuses file bytes past `max_upload`; this bounds everything else (framing,
    // other fields) and the bytes read only to be dropped after a refusal.
    let request = request.map(|body| {
        Body::new(http_body_util::Limited::new(
            body,
            usize::try_from(read_at_most).unwrap_or(usize::MAX),
        ))
    });
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| not_multipart())?;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => {
                return Err(Error::invalid(
                    FILE_FIELD,
                    "this field is required: send the file as the multipart field `file`",
                ));
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(unreadable(&e)),
        };
        // Other fields are skipped (the parser reads past them); only `file` is ingested.
        if field.name() != Some(FILE_FIELD) {
            continue;
        }
        return upload_field(cb, field, too_large).await;
    }
}

async fn upload_field(
    cb: &Cyberbrain,
    field: Field<'_>,
    too_large: impl Fn() -> Error,
) -> Result<UploadCreated, Error> {
    let filename = field.file_name().unwrap_or_default().to_string();
    // The engine sees a body cut off by the route's cap as an interrupted read (400); remember
    // that it was the cap, so the client hears 413.
    let over_limit = AtomicBool::new(false);
    let mut reader = StreamReader::new(field.map_err(|e: MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            over_limit.store(true, Ordering::Relaxed);
        }
        std::io::Error::other(e.body_text())
    }));
    let uploaded = cb.upload_document(&filename, &mut reader).await;
    if over_limit.load(Ordering::Relaxed) {
        return Err(too_large());
    }
    if let Err(Error::TooLarge { .. }) = &uploaded {
        // The engine stopped reading at the limit; read (and drop) what the client is still
        // sending, up to the route's cap, so it gets to read the answer.
        let mut field = reader.into_inner().into_inner();
        while let Ok(Some(_)) = field.chunk().await {}
    }
    uploaded
}

fn not_multipart() -> Error {
    Error::invalid(
        FILE_FIELD,
        "expected a multipart/form-data body with the file in the field `file` \
         (curl -F file=@notes.md …)",
    )
}

fn unreadable(error: &MultipartError) -> Error {
    Error::invalid(
        FILE_FIELD,
        format!(
            "the multipart body could not be read ({}); send the file as the multipart field `file`",
            error.body_text()
        ),
    )
}

/// An engine error as the API answers it; a refusal for size names the setting that decides it.
fn upload_error(error: Error) -> ApiError {
    match error {
        Error::TooLarge { .. } => ApiError::detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{error}; send a smaller file, or raise rag.max_upload_bytes (RAG_MAX_UPLOAD_BYTES)"
            ),
        ),
        other => other.into(),
    }
}

/// Upload a file to the knowledge base. It is stored by its SHA-256 and queued for ingestion;
/// the same bytes again answer 200 with the existing upload (a failed one is queued again).
#[utoipa::path(
    post,
    path = "/api/rag/upload",
    tag = "rag",
    operation_id = "rag_upload",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored and queued for ingestion", body = Upload),
        (status = 200, description = "The same bytes were uploaded before: the existing upload", body = Upload),
        (status = 400, description = "Not multipart, no `file` field, an empty file or no file name; nothing was saved", body = ValidationErrors),
        (status = 413, description = "Larger than rag.max_upload_bytes", body = ErrorDetail),
        (status = 415, description = "Not txt, md, json, pdf or docx (by extension and content)", body = ErrorDetail),
        (status = 503, description = "The uploads directory cannot be written", body = ErrorDetail),
    )
)]
pub async fn upload(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let UploadCreated {
        upload,
        created: new,
    } = receive_upload(&state.cb, request)
        .await
        .map_err(upload_error)?;
    if new {
        Ok(created(format!("/api/rag/uploads/{}", upload.id), upload))
    } else {
        Ok(Json(upload).into_response())
    }
}

/// List uploads, newest first, with their ingestion progress (`chunks_done` of `chunks_total`).
#[utoipa::path(
    get,
    path = "/api/rag/uploads",
    tag = "rag",
    operation_id = "rag_list_uploads",
    params(PageQuery, UploadFilters),
    responses(
        (status = 200, description = "A page of uploads", body = Paginated<Upload>),
        (status = 400, description = "Bad page parameters or status", body = ValidationErrors),
    )
)]
pub async fn list_uploads(
    State(state): State<AppState>,
    pagination: Pagination,
    params: QueryParams,
) -> Result<Json<Paginated<Upload>>, ApiError> {
    let mut errors = FieldErrors::new();
    let status = params.parsed::<UploadStatus>(&mut errors, "status");
    errors.into_result()?;
    let page = state
        .cb
        .list_uploads(UploadQuery {
            status,
            page: pagination.request(),
        })
        .await?;
    Ok(Json(pagination.respond(page)))
}

/// One upload with its ingestion progress and, when it failed, the reason.
#[utoipa::path(
    get,
    path = "/api/rag/uploads/{id}",
    tag = "rag",
    operation_id = "rag_get_upload",
    params(("id" = i64, Path, description = "Upload id")),
    responses(
        (status = 200, description = "The upload", body = Upload),
        (status = 404, description = "No such upload", body = ErrorDetail),
    )
)]
pub async fn get_upload(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<Upload>, ApiError> {
    Ok(Json(state.cb.get_upload(id).await?))
}

/// Delete an upload with its document, chunks, vectors and index entries, and its file.
#[utoipa::path(
    delete,
    path = "/api/rag/uploads/{id}",
    tag = "rag",
    operation_id = "rag_delete_upload",
    params(("id" = i64, Path, description = "Upload id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such upload", body = ErrorDetail),
        (status = 409, description = "Being ingested right now; try again when it ends", body = ErrorDetail),
    )
)]
pub async fn delete_upload(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    state.cb.delete_upload(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue a failed upload for ingestion again.
#[utoipa::path(
    post,
    path = "/api/rag/uploads/{id}/retry",
    tag = "rag",
    operation_id = "rag_retry_upload",
    params(("id" = i64, Path, description = "Upload id")),
    responses(
        (status = 200, description = "Queued again", body = Upload),
        (status = 404, description = "No such upload", body = ErrorDetail),
        (status = 409, description = "Only a failed upload can be retried", body = ErrorDetail),
    )
)]
pub async fn retry_upload(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<Upload>, ApiError> {
    Ok(Json(state.cb.retry_upload(id).await?))
}

/// List the documents ingested from uploads, by id, with their chunk counts.
#[utoipa::path(
    get,
    path = "/api/rag/documents",
    tag = "rag",
    operation_id = "rag_list_documents",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of documents", body = Paginated<DocumentInfo>),
        (status = 400, description = "Bad page parameters", body = ValidationErrors),
    )
)]
pub async fn list_documents(
    State(state): State<AppState>,
    pagination: Pagination,
) -> Result<Json<Paginated<DocumentInfo>>, ApiError> {
    let page = state.cb.list_documents(pagination.request()).await?;
    Ok(Json(pagination.respond(page)))
}

/// Search the knowledge base: the `top_k` (1–50, default 5) chunks nearest to `query_text`, by
/// cosine score descending. JSON, or an HTML form (`document_ids` and `upload_ids` as repeated
/// or comma-separated fields). The query itself is never stored, only its SHA-256.
#[utoipa::path(
    post,
    path = "/api/rag/search",
    tag = "rag",
    operation_id = "rag_search",
    request_body(content(
        (SearchRequest = "application/json"),
        (SearchRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The nearest chunks", body = SearchResults),
        (status = 400, description = "Invalid input (blank query, top_k outside 1–50, …)", body = ValidationErrors),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Neither JSON nor a form", body = ErrorDetail),
        (status = 503, description = "No embedding model is installed", body = ErrorDetail),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<SearchResults>, ApiError> {
    let search = if is_form(request.headers()) {
        let limit = request.extensions().get::<BodyLimit>().copied();
        let max = limit.map_or(usize::MAX, |BodyLimit(bytes)| bytes);
        let Some(bytes) = read_body_draining_excess(request.into_body(), max).await? else {
            return Err(too_large(limit));
        };
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes)
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        search_request_from_form(&pairs, &[]).map_err(ApiError::fields)?
    } else {
        let ApiJson(search) = ApiJson::<SearchRequest>::from_request(request, &()).await?;
        search
    };
    Ok(Json(state.cb.search(search).await?))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The search fields a form may send.
const SEARCH_FIELDS: &[&str] = &[
    "query_text",
    "top_k",
    "document_ids",
    "upload_ids",
    "min_score",
    "run_id",
];

/// Reads a search from form fields: numbers as text (an unreadable one is refused naming its
/// field), ids repeated or comma-separated, empty values absent. Fields not in the search are
/// refused unless listed in `ignored` (a page's own buttons). The engine checks the ranges.
pub(crate) fn search_request_from_form(
    pairs: &[(String, String)],
    ignored: &[&str],
) -> Result<SearchRequest, FieldErrors> {
    let mut errors = FieldErrors::new();
    let last = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    };
    for (key, _) in pairs {
        if !SEARCH_FIELDS.contains(&key.as_str()) && !ignored.contains(&key.as_str()) {
            errors.add(
                key.clone(),
                format!(
                    "unknown field; expected one of {}",
                    SEARCH_FIELDS.join(", ")
                ),
            );
        }
    }
    let query_text = pairs
        .iter()
        .rev()
        .find(|(key, _)| key == "query_text")
        .map(|(_, value)| value.clone());
    if query_text.is_none() {
        errors.add("query_text", "this field is required");
    }
    let top_k = last("top_k").and_then(|value| {
        number::<i64>(
            &mut errors,
            "top_k",
            value,
            "a whole number between 1 and 50",
        )
    });
    let min_score_expected = "a number between -1 and 1";
    let min_score = match last("min_score") {
        // `NaN` and `inf` parse as floats but are no score.
        Some(value) => match value.parse::<f32>() {
            Ok(score) if score.is_finite() => Some(score),
            _ => {
                errors.add(
                    "min_score",
                    format!("must be {min_score_expected}; got {value:?}"),
                );
                None
            }
        },
        None => None,
    };
    let run_id = last("run_id").and_then(|value| {
        number::<i64>(
            &mut errors,
            "run_id",
            value,
            "a run id (a positive integer)",
        )
    });
    let document_ids = ids(&mut errors, pairs, "document_ids");
    let upload_ids = ids(&mut errors, pairs, "upload_ids");
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(SearchRequest {
        query_text: query_text.unwrap_or_default(),
        top_k,
        document_ids,
        upload_ids,
        min_score,
        run_id,
    })
}

fn number<T: std::str::FromStr>(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    expected: &str,
) -> Option<T> {
    match value.parse::<T>() {
        Ok(number) => Some(number),
        Err(_) => {
            errors.add(field, format!("must be {expected}; got {value:?}"));
            None
        }
    }
}

/// Every id sent under `name`, repeated or comma-separated.
fn ids(errors: &mut FieldErrors, pairs: &[(String, String)], name: &str) -> Vec<i64> {
    pairs
        .iter()
        .filter(|(key, _)| key == name)
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .filter_map(|value| number::<i64>(errors, name, value, "a list of ids (positive integers)"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_form_search_reads_numbers_and_id_lists() {
        let search = search_request_from_form(
            &pairs(&[
                ("query_text", " disk full "),
                ("top_k", "7"),
                ("document_ids", "1, 2"),
                ("document_ids", "3"),
                ("upload_ids", ""),
                ("min_score", "0.25"),
                ("run_id", ""),
                ("go", "Search"),
            ]),
            &["go"],
        )
        .unwrap();
        assert_eq!(
            search,
            SearchRequest {
                query_text: " disk full ".into(),
                top_k: Some(7),
                document_ids: vec![1, 2, 3],
                upload_ids: vec![],
                min_score: Some(0.25),
                run_id: None,
            }
        );
    }

    #[test]
    fn unreadable_form_fields_are_named() {
        let errors = search_request_from_form(
            &pairs(&[
                ("top_k", "ten"),
                ("document_ids", "1,x"),
                ("min_score", "NaN"),
                ("colour", "red"),
            ]),
            &[],
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.fields().map(|(field, _)| field).collect();
        assert_eq!(
            fields,
            ["colour", "document_ids", "min_score", "query_text", "top_k"]
        );
        assert!(errors.0["top_k"][0].contains("\"ten\""), "{errors:?}");
    }
}
