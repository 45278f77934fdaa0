use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{PageRequest, wire_enum};

/// The dimension of every stored vector: all-MiniLM-L6-v2's, and what both stores keep
/// (Postgres's `vector(384)` column, SQLite's index). Another model needs a migration.
pub const EMBEDDING_DIMENSION: usize = 384;

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
    /// Chunks embedded so far by the current (or last) ingestion.
    pub chunks_done: i32,
    /// Chunks in all, known once the text is extracted and chunked.
    pub chunks_total: Option<i32>,
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

/// A file already stored under `uploads_dir` by its hash, to be queued for ingestion.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUpload {
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// Relative to `uploads_dir`.
    pub stored_path: String,
    pub now: DateTime<Utc>,
}

/// The upload a `create_upload` call left in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadCreated {
    pub upload: Upload,
    /// False when the same bytes were uploaded before (the existing upload is returned).
    pub created: bool,
}

/// Filters for listing uploads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UploadQuery {
    pub status: Option<UploadStatus>,
    pub page: PageRequest,
}

/// Claims the next upload to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimUpload {
    pub owner: String,
    pub now: DateTime<Utc>,
    pub lease: chrono::Duration,
    /// An upload whose lease expired this many times is failed instead of claimed again.
    pub max_attempts: i32,
}

/// Progress of the ingestion holding an upload's lease; also extends the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProgress {
    pub upload_id: i64,
    pub owner: String,
    pub chunks_done: i32,
    pub chunks_total: i32,
    pub lease_until: DateTime<Utc>,
}

/// One chunk of an ingested document with its vector.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    pub text: String,
    pub word_count: i32,
    pub vector: Vec<f32>,
}

/// The result of ingesting an upload, stored as one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestedDocument {
    pub upload_id: i64,
    pub owner: String,
    pub title: String,
    pub source: String,
    /// The embedder's `model_id()`, stored beside every vector.
    pub model_id: String,
    /// In document order: chunk `i` gets `chunk_index = i`.
    pub chunks: Vec<NewChunk>,
    pub now: DateTime<Utc>,
}

/// Ends an ingestion that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct FailUpload {
    pub upload_id: i64,
    pub owner: String,
    /// Cut to 1000 characters by the store.
    pub message: String,
    pub now: DateTime<Utc>,
}

/// A document with its chunk count and the upload it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentInfo {
    #[serde(flatten)]
    pub document: Document,
    pub chunk_count: i64,
}

/// A nearest-neighbour search over the stored vectors of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkSearch {
    pub model_id: String,
    /// L2-normalised, of the store's dimension.
    pub vector: Vec<f32>,
    /// 1–50.
    pub top_k: usize,
    /// Only chunks of these documents (empty: any).
    pub document_ids: Vec<i64>,
    /// Only chunks of these uploads' documents (empty: any).
    pub upload_ids: Vec<i64>,
    /// Only hits scoring at least this (cosine similarity).
    pub min_score: Option<f32>,
}

/// One search result; `score` is the cosine similarity (1 is identical).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChunkHit {
    pub chunk_id: i64,
    pub chunk_index: i32,
    pub chunk_text: String,
    pub document_id: i64,
    pub document_title: String,
    pub document_source: String,
    pub upload_id: i64,
    pub score: f32,
}

/// A search to record (G3: the query's hash, never its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRetrievalEvent {
    pub run_id: Option<i64>,
    pub query_hash: String,
    pub top_k: i32,
    pub results_count: i32,
    pub now: DateTime<Utc>,
}
