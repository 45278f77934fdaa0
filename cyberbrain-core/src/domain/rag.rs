use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::wire_enum;

wire_enum! {
    /// Ingestion state of an upload.
    UploadStatus {
        Queued = "queued",
        Processing = "processing",
        Ready = "ready",
        Failed = "failed",
    }
}

/// A file given to the knowledge base, stored by hash under `uploads_dir` (Phase 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Upload {
    pub id: i64,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub stored_path: String,
    pub status: UploadStatus,
    pub attempts: i32,
    /// At most 1000 characters.
    pub error_message: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub uploaded_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

/// The text extracted from one upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Document {
    pub id: i64,
    pub upload_id: i64,
    pub title: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// A window of a document's words; `(document_id, chunk_index)` is unique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Chunk {
    pub id: i64,
    pub document_id: i64,
    pub chunk_index: i32,
    pub text: String,
    pub word_count: i32,
}

/// A chunk's vector from one embedding model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    pub chunk_id: i64,
    pub model_id: String,
    pub vector: Vec<f32>,
}

/// One search, recorded without its text (G3): only the SHA-256 of the trimmed query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetrievalEvent {
    pub id: i64,
    pub run_id: Option<i64>,
    pub query_hash: String,
    pub top_k: i32,
    pub results_count: i32,
    pub created_at: DateTime<Utc>,
}
