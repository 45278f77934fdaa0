//! The knowledge-base tools (SPEC §5): `rag_search`, `rag_list_documents` and
//! `rag_upload_status`. Uploading stays with REST, the web UI and Python: a file's bytes do not
//! belong in a tool call's JSON arguments.
//!
//! G3: the search text goes to the engine, which embeds it and keeps only its SHA-256; nothing
//! here logs or echoes it.

use cyberbrain_core::FieldErrors;
use cyberbrain_core::domain::{PageRequest, UploadQuery, UploadStatus};
use cyberbrain_core::engine::{MAX_TOP_K, SearchRequest};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{CyberbrainMcp, paged, structured};
use crate::error::{ToolError, ToolResult};
use crate::inputs::PageArgs;
use crate::params::Parameters;

#[tool_router(router = rag_tool_router, vis = "pub(crate)")]
impl CyberbrainMcp {
    #[tool(
        description = "Search the private knowledge base (the documents uploaded to this \
                       Cyberbrain) for the passages closest in meaning to query_text. Returns \
                       {query_hash, results: [{chunk_id, chunk_text, chunk_index, document_id, \
                       document_title, document_source, upload_id, score}], total_found}, best \
                       match first (score is the cosine similarity, 1 is identical; ties by \
                       chunk_id). Filters (document_ids, upload_ids, min_score) must all hold. \
                       The query text is never stored: only its SHA-256 (query_hash) is \
                       recorded, linked to run_id when given.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn rag_search(&self, args: Parameters<RagSearchArgs>) -> ToolResult {
        let request = args.into_inner()?.into();
        structured(&self.cb.search(request).await?)
    }

    #[tool(
        description = "List the documents in the knowledge base, ordered by id, one page at a \
                       time: id, upload_id, title, source (the uploaded file name), created_at \
                       and chunk_count (the passages rag_search can return). Returns {count, \
                       page, page_size, next_page, items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn rag_list_documents(&self, args: Parameters<PageArgs>) -> ToolResult {
        let request = args.into_inner()?.page_request()?;
        paged(request, self.cb.list_documents(request).await?)
    }

    #[tool(
        description = "Ingestion status of uploaded files. With upload_id: that upload. \
                       Without: the uploads newest first, optionally only those in one status, \
                       one page at a time ({count, page, page_size, next_page, items}). Each \
                       upload shows filename, mime_type, size_bytes, status (queued, \
                       processing, ready or failed), attempts, progress (chunks_done of \
                       chunks_total), error_message when it failed, uploaded_at and \
                       processed_at. Only ready uploads are searchable.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn rag_upload_status(&self, args: Parameters<UploadStatusArgs>) -> ToolResult {
        match args.into_inner()?.request()? {
            UploadStatusRequest::One(id) => structured(&self.cb.get_upload(id).await?),
            UploadStatusRequest::List(query) => {
                let request = query.page;
                paged(request, self.cb.list_uploads(query).await?)
            }
        }
    }
}

/// A search of the knowledge base; the engine checks every rule and names each bad field.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RagSearchArgs {
    /// What to look for: a question or keywords (required, at most 4000 characters). Never
    /// stored; only its SHA-256 is recorded.
    pub query_text: String,
    /// How many passages to return, 1 to 50 (default 5).
    #[schemars(range(min = 1, max = 50))]
    pub top_k: Option<i64>,
    /// Only passages of these documents (ids from rag_list_documents).
    pub document_ids: Option<Vec<i64>>,
    /// Only passages of the documents of these uploads (ids from rag_upload_status).
    pub upload_ids: Option<Vec<i64>>,
    /// Only passages scoring at least this cosine similarity, -1 to 1.
    #[schemars(range(min = -1.0, max = 1.0))]
    pub min_score: Option<f32>,
    /// The run this retrieval is for (an id from list_runs); the recorded event links to it.
    #[schemars(range(min = 1))]
    pub run_id: Option<i64>,
}

impl From<RagSearchArgs> for SearchRequest {
    fn from(args: RagSearchArgs) -> Self {
        SearchRequest {
            query_text: args.query_text,
            top_k: args.top_k,
            document_ids: args.document_ids.unwrap_or_default(),
            upload_ids: args.upload_ids.unwrap_or_default(),
            min_score: args.min_score,
            run_id: args.run_id,
        }
    }
}

/// One upload by id, or a page of the uploads.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadStatusArgs {
    /// The upload to show (an id from this tool's list). Without it the uploads are listed.
    #[schemars(range(min = 1))]
    pub upload_id: Option<i64>,
    /// Only uploads in this status: "queued", "processing", "ready" or "failed" (lists only).
    pub status: Option<String>,
    /// 1-based page number (default 1; lists only).
    #[schemars(range(min = 1))]
    pub page: Option<u32>,
    /// Uploads per page, 1 to 200 (default 50; lists only).
    #[schemars(range(min = 1, max = 200))]
    pub page_size: Option<u32>,
}

#[derive(Debug)]
enum UploadStatusRequest {
    One(i64),
    List(UploadQuery),
}

impl UploadStatusArgs {
    /// What to look up; every bad argument is named at once.
    fn request(&self) -> Result<UploadStatusRequest, ToolError> {
        let mut errors = FieldErrors::new();
        if let Some(id) = self.upload_id {
            if id < 1 {
                errors.add(
                    "upload_id",
                    format!("{id} is not a valid id: ids are whole numbers from 1"),
                );
            }
            // A filter or page beside an id would be silently ignored: say so instead.
            for (field, given) in [
                ("status", self.status.is_some()),
                ("page", self.page.is_some()),
                ("page_size", self.page_size.is_some()),
            ] {
                if given {
                    errors.add(
                        field,
                        "applies to the list only; leave it out when giving upload_id",
                    );
                }
            }
            errors.into_result()?;
            return Ok(UploadStatusRequest::One(id));
        }
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(value) => match value.parse::<UploadStatus>() {
                Ok(status) => Some(status),
                Err(message) => {
                    errors.add("status", message);
                    None
                }
            },
        };
        let defaults = PageRequest::default();
        let page = PageRequest::new(
            self.page.unwrap_or(defaults.page),
            self.page_size.unwrap_or(defaults.page_size),
        );
        let page = match page {
            Ok(page) => page,
            Err(cyberbrain_core::Error::InvalidInput(fields)) => {
                for (field, messages) in fields.fields() {
                    messages
                        .iter()
                        .for_each(|message| errors.add(field, message));
                }
                defaults
            }
            Err(other) => return Err(other.into()),
        };
        errors.into_result()?;
        Ok(UploadStatusRequest::List(UploadQuery { status, page }))
    }
}

// The `top_k` schema above advertises the engine's limit as a literal (schemars takes no
// paths there): this stops the build when the two part.
const _: () = assert!(MAX_TOP_K == 50);

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: serde_json::Value) -> UploadStatusArgs {
        serde_json::from_value(value).expect("arguments")
    }

    #[test]
    fn no_id_lists_with_the_default_page() {
        match args(serde_json::json!({"status": "failed"})).request() {
            Ok(UploadStatusRequest::List(query)) => {
                assert_eq!(query.status, Some(UploadStatus::Failed));
                assert_eq!(query.page, PageRequest::default());
            }
            other => panic!("expected a list, got {other:?}"),
        }
    }

    #[test]
    fn list_arguments_beside_an_id_are_named() {
        let error = args(serde_json::json!({"upload_id": 3, "page": 2}))
            .request()
            .expect_err("page with upload_id");
        let result = error.into_result();
        let details = &result.structured_content.expect("details")["error"];
        assert!(details["fields"]["page"].is_array(), "{details}");
    }

    #[test]
    fn a_bad_status_and_page_size_are_named_together() {
        let error = args(serde_json::json!({"status": "done", "page_size": 0}))
            .request()
            .expect_err("bad status and page size");
        let result = error.into_result();
        let details = &result.structured_content.expect("details")["error"];
        assert!(details["fields"]["status"].is_array(), "{details}");
        assert!(details["fields"]["page_size"].is_array(), "{details}");
    }
}
