//! Knowledge-base pages: uploads (a file form, the uploads with their ingestion progress, retry
//! and delete buttons, and the documents) and search — through the same engine calls, and the
//! same streaming upload, as the REST API.
//!
//! The uploads page reloads itself (the layout script's `data-auto-refresh`) only while an
//! upload is queued or processing, so a finished page stays still. Searches are posted, never
//! put in the address, so the query text does not land in history or access logs (G3).

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use cyberbrain_core::domain::{
    DocumentInfo, MAX_PAGE_SIZE, PageRequest, Upload, UploadCreated, UploadQuery, UploadStatus,
};
use cyberbrain_core::engine::{DEFAULT_TOP_K, MAX_TOP_K, SearchRequest};
use cyberbrain_core::{Cyberbrain, Error, FieldErrors};

use super::form::{Fields, FormErrors, LIST_PAGE_SIZE, Pager, page_request};
use super::page::{
    Back, Flash, Layout, engine_error, not_found, parse_id, redirect_with_notice, render, screen,
};
use crate::api::rag::{receive_upload, search_request_from_form};
use crate::state::AppState;

type FormBody = Result<axum::Form<Vec<(String, String)>>, FormRejection>;

const UPLOADS: &str = "/webui/rag";
const BACK: Back = Back {
    nav: "rag",
    href: UPLOADS,
    label: "Knowledge base",
};
const SEARCH_BACK: Back = Back {
    nav: "rag-search",
    href: "/webui/rag/search",
    label: "Search",
};
/// The fields the search form draws beside their inputs.
const SEARCH_SHOWN: &[&str] = &["query_text", "top_k"];
/// Seconds between reloads of the uploads page while something is being ingested.
const REFRESH_SECONDS: u32 = 2;

#[derive(Debug, Template)]
#[template(path = "rag/uploads.html")]
pub(crate) struct UploadsPage {
    layout: Layout,
    uploads: Vec<UploadRow>,
    pager: Pager,
    /// Why the last upload was refused (drawn above the form).
    refusal: Vec<String>,
    max_upload: String,
    /// Reload every this many seconds (an upload is queued or processing), or never.
    refresh: Option<u32>,
    documents: Vec<DocumentRow>,
    documents_total: u64,
}

#[derive(Debug, Template)]
#[template(path = "rag/search.html")]
pub(crate) struct SearchPage {
    layout: Layout,
    query_text: String,
    top_k: String,
    max_top_k: usize,
    errors: FormErrors,
    /// `None` before a search ran.
    results: Option<Vec<HitRow>>,
    documents_total: u64,
}

screen!(UploadsPage, SearchPage);

#[derive(Debug, Clone)]
pub(crate) struct UploadRow {
    id: i64,
    filename: String,
    mime_type: String,
    size: String,
    status: &'static str,
    status_class: &'static str,
    /// `done/total` once the text is chunked, `–` before.
    progress: String,
    attempts: i32,
    error: String,
    uploaded: String,
    can_retry: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct DocumentRow {
    id: i64,
    upload_id: i64,
    title: String,
    source: String,
    chunk_count: i64,
    created: String,
}

#[derive(Debug, Clone)]
pub(crate) struct HitRow {
    score: String,
    document_title: String,
    document_source: String,
    chunk_index: i32,
    chunk_text: String,
}

fn status_class(status: UploadStatus) -> &'static str {
    match status {
        UploadStatus::Ready => "on",
        UploadStatus::Failed => "bad",
        UploadStatus::Processing => "warn",
        UploadStatus::Queued => "off",
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Bytes in the largest unit that keeps a whole number in front (`12.5 MiB`).
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `done/total` once the total is known.
fn progress(upload: &Upload) -> String {
    match upload.chunks_total {
        Some(total) => format!("{}/{total}", upload.chunks_done),
        None => "–".to_string(),
    }
}

fn upload_row(upload: &Upload) -> UploadRow {
    UploadRow {
        id: upload.id,
        filename: upload.filename.clone(),
        mime_type: upload.mime_type.clone(),
        size: size(u64::try_from(upload.size_bytes).unwrap_or_default()),
        status: upload.status.as_str(),
        status_class: status_class(upload.status),
        progress: progress(upload),
        attempts: upload.attempts,
        error: upload.error_message.clone().unwrap_or_default(),
        uploaded: time(upload.uploaded_at),
        can_retry: upload.status == UploadStatus::Failed,
    }
}

fn document_row(info: &DocumentInfo) -> DocumentRow {
    DocumentRow {
        id: info.document.id,
        upload_id: info.document.upload_id,
        title: info.document.title.clone(),
        source: info.document.source.clone(),
        chunk_count: info.chunk_count,
        created: time(info.document.created_at),
    }
}

/// Whether any upload (on any page) waits for or is in ingestion.
async fn ingestion_pending(cb: &Cyberbrain) -> cyberbrain_core::Result<bool> {
    for status in [UploadStatus::Queued, UploadStatus::Processing] {
        let page = cb
            .list_uploads(UploadQuery {
                status: Some(status),
                page: PageRequest::first(1),
            })
            .await?;
        if page.count > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The uploads page as it stands, with `refusal` drawn above the form.
async fn uploads_page(
    cb: &Cyberbrain,
    request: PageRequest,
    flash: Flash,
    refusal: Vec<String>,
) -> cyberbrain_core::Result<UploadsPage> {
    let page = cb
        .list_uploads(UploadQuery {
            status: None,
            page: request,
        })
        .await?;
    let documents = cb.list_documents(PageRequest::first(MAX_PAGE_SIZE)).await?;
    let refresh = ingestion_pending(cb).await?.then_some(REFRESH_SECONDS);
    Ok(UploadsPage {
        layout: Layout::new("Knowledge base", "rag", flash),
        uploads: page.items.iter().map(upload_row).collect(),
        pager: Pager::new(request, &page),
        refusal,
        max_upload: size(cb.config().rag.max_upload_bytes),
        refresh,
        documents: documents.items.iter().map(document_row).collect(),
        documents_total: documents.count,
    })
}

/// `GET /webui/rag?page=`
pub(crate) async fn uploads(
    State(state): State<AppState>,
    flash: Flash,
    RawQuery(query): RawQuery,
) -> Response {
    let request = page_request(query.as_deref(), LIST_PAGE_SIZE);
    match uploads_page(&state.cb, request, flash, Vec::new()).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(error) => engine_error(error, Back::DASHBOARD),
    }
}

/// `POST /webui/rag/upload` (multipart, field `file`): 303 back to the list with a notice, or
/// the list again with the reason and the status the API would answer (400, 413, 415).
pub(crate) async fn upload(State(state): State<AppState>, request: Request) -> Response {
    let cb = &state.cb;
    match receive_upload(cb, request).await {
        Ok(UploadCreated { upload, created }) => {
            let notice = if created {
                format!(
                    "\"{}\" uploaded (upload {}); it is queued for ingestion.",
                    upload.filename, upload.id
                )
            } else {
                format!(
                    "These bytes were uploaded before as \"{}\" (upload {}, {}).",
                    upload.filename,
                    upload.id,
                    upload.status.as_str()
                )
            };
            redirect_with_notice(UPLOADS, &notice)
        }
        Err(error) => {
            let (status, messages) = match error {
                Error::TooLarge { .. } => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    vec![format!(
                        "{error}. Upload a smaller file, or raise rag.max_upload_bytes \
                         (RAG_MAX_UPLOAD_BYTES)."
                    )],
                ),
                Error::UnsupportedType(message) => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    vec![format!("This file type is not accepted: {message}")],
                ),
                Error::InvalidInput(fields) => (StatusCode::BAD_REQUEST, messages_of(&fields)),
                other => return engine_error(other, BACK),
            };
            let request = PageRequest::first(LIST_PAGE_SIZE);
            match uploads_page(cb, request, Flash::none(), messages).await {
                Ok(page) => render(status, &page),
                Err(error) => engine_error(error, BACK),
            }
        }
    }
}

fn messages_of(fields: &FieldErrors) -> Vec<String> {
    fields
        .fields()
        .flat_map(|(_, messages)| messages.iter().cloned())
        .collect()
}

/// `POST /webui/rag/uploads/{id}/retry`
pub(crate) async fn retry(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let Some(id) = parse_id(&raw_id) else {
        return not_found("upload", &raw_id, BACK);
    };
    match state.cb.retry_upload(id).await {
        Ok(upload) => redirect_with_notice(
            UPLOADS,
            &format!("\"{}\" is queued for ingestion again.", upload.filename),
        ),
        Err(error) => engine_error(error, BACK),
    }
}

/// `POST /webui/rag/uploads/{id}/delete`
pub(crate) async fn delete(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let Some(id) = parse_id(&raw_id) else {
        return not_found("upload", &raw_id, BACK);
    };
    match state.cb.delete_upload(id).await {
        Ok(upload) => redirect_with_notice(
            UPLOADS,
            &format!(
                "\"{}\" deleted with its document and chunks.",
                upload.filename
            ),
        ),
        Err(error) => engine_error(error, BACK),
    }
}

async fn documents_total(cb: &Cyberbrain) -> cyberbrain_core::Result<u64> {
    Ok(cb.list_documents(PageRequest::first(1)).await?.count)
}

/// `GET /webui/rag/search`: the empty form.
pub(crate) async fn search_form(State(state): State<AppState>, flash: Flash) -> Response {
    let documents_total = match documents_total(&state.cb).await {
        Ok(total) => total,
        Err(error) => return engine_error(error, SEARCH_BACK),
    };
    let page = SearchPage {
        layout: Layout::new("Search", "rag-search", flash),
        query_text: String::new(),
        top_k: DEFAULT_TOP_K.to_string(),
        max_top_k: MAX_TOP_K,
        errors: FormErrors::none(SEARCH_SHOWN),
        results: None,
        documents_total,
    };
    render(StatusCode::OK, &page)
}

/// `POST /webui/rag/search`: the results under the form (a search changes nothing but the
/// retrieval log, so there is no redirect), or the form with its messages.
pub(crate) async fn search(State(state): State<AppState>, body: FormBody) -> Response {
    let fields = match Fields::from_body(body, SEARCH_BACK) {
        Ok(fields) => fields,
        Err(unreadable) => return axum::response::IntoResponse::into_response(unreadable),
    };
    let cb = &state.cb;
    let documents_total = match documents_total(cb).await {
        Ok(total) => total,
        Err(error) => return engine_error(error, SEARCH_BACK),
    };
    let query_text = fields.text("query_text");
    let top_k = fields.text("top_k");
    let pairs = [
        ("query_text".to_string(), query_text.clone()),
        ("top_k".to_string(), top_k.clone()),
    ];
    let outcome = match search_request_from_form(&pairs, &[]) {
        Ok(request) => run_search(cb, request).await,
        Err(errors) => Err(Error::InvalidInput(errors)),
    };
    let (status, errors, results) = match outcome {
        Ok(hits) => (StatusCode::OK, FormErrors::none(SEARCH_SHOWN), Some(hits)),
        Err(Error::InvalidInput(errors)) => (
            StatusCode::BAD_REQUEST,
            FormErrors::fields(errors, SEARCH_SHOWN),
            None,
        ),
        Err(Error::Unavailable { component, message }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            FormErrors::general(
                format!("The {component} is unavailable: {message}"),
                SEARCH_SHOWN,
            ),
            None,
        ),
        Err(other) => return engine_error(other, SEARCH_BACK),
    };
    let page = SearchPage {
        layout: Layout::new("Search", "rag-search", Flash::none()),
        query_text,
        top_k,
        max_top_k: MAX_TOP_K,
        errors,
        results,
        documents_total,
    };
    render(status, &page)
}

async fn run_search(
    cb: &Cyberbrain,
    request: SearchRequest,
) -> cyberbrain_core::Result<Vec<HitRow>> {
    let found = cb.search(request).await?;
    Ok(found
        .results
        .into_iter()
        .map(|hit| HitRow {
            score: format!("{:.3}", hit.score),
            document_title: hit.document_title,
            document_source: hit.document_source,
            chunk_index: hit.chunk_index,
            chunk_text: hit.chunk_text,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_the_largest_whole_unit() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(50 * 1024 * 1024), "50.0 MiB");
    }
}
