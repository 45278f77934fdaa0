//! `RagStore` (SPEC §2.7, §3.6): uploads and their leased ingestion, documents, chunks and
//! their vectors, nearest-chunk search and retrieval events.
//!
//! Vectors live in `embeddings.vector`; the hnsw_rs index beside the database (see
//! [`crate::vector_index`]) is brought up to date after each ingestion commits and before each
//! search, so the database is always the truth and the index only speeds searches up.

mod search;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use cyberbrain_core::domain::{
    ChunkHit, ChunkSearch, ClaimUpload, Document, DocumentInfo, FailUpload, IngestedDocument,
    LeaseState, NewRetrievalEvent, NewUpload, Page, PageRequest, RetrievalEvent, Upload,
    UploadCreated, UploadProgress, UploadQuery, UploadStatus,
};
use cyberbrain_core::store::RagStore;
use cyberbrain_core::{Error, FieldErrors, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Listing, SqliteStore, exists, page_matching};
use crate::codec::{Time, Wire};
use crate::error::SqlContext;
use crate::vector_index::{DIMENSION, encode_vector, record_change, searchable};

const UPLOAD_COLUMNS: &str = "id, filename, mime_type, size_bytes, sha256, stored_path, status, \
     attempts, error_message, lease_owner, lease_until, uploaded_at, processed_at, chunks_done, \
     chunks_total";

const DOCUMENT_COLUMNS: &str = "id, upload_id, title, source, created_at";

const RETRIEVAL_COLUMNS: &str = "id, run_id, query_hash, top_k, results_count, created_at";

/// The longest error message an upload keeps (the schema's CHECK).
const MAX_ERROR_CHARS: usize = 1000;

fn upload_from_row(row: &Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        id: row.get("id")?,
        filename: row.get("filename")?,
        mime_type: row.get("mime_type")?,
        size_bytes: row.get("size_bytes")?,
        sha256: row.get("sha256")?,
        stored_path: row.get("stored_path")?,
        status: row.get::<_, Wire<UploadStatus>>("status")?.0,
        attempts: row.get("attempts")?,
        error_message: row.get("error_message")?,
        lease_owner: row.get("lease_owner")?,
        lease_until: row.get::<_, Option<Time>>("lease_until")?.map(|t| t.0),
        uploaded_at: row.get::<_, Time>("uploaded_at")?.0,
        processed_at: row.get::<_, Option<Time>>("processed_at")?.map(|t| t.0),
        chunks_done: row.get("chunks_done")?,
        chunks_total: row.get("chunks_total")?,
    })
}

fn document_from_row(row: &Row<'_>) -> rusqlite::Result<Document> {
    Ok(Document {
        id: row.get("id")?,
        upload_id: row.get("upload_id")?,
        title: row.get("title")?,
        source: row.get("source")?,
        created_at: row.get::<_, Time>("created_at")?.0,
    })
}

fn document_info_from_row(row: &Row<'_>) -> rusqlite::Result<DocumentInfo> {
    Ok(DocumentInfo {
        document: document_from_row(row)?,
        chunk_count: row.get("chunk_count")?,
    })
}

fn retrieval_from_row(row: &Row<'_>) -> rusqlite::Result<RetrievalEvent> {
    Ok(RetrievalEvent {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        query_hash: row.get("query_hash")?,
        top_k: row.get("top_k")?,
        results_count: row.get("results_count")?,
        created_at: row.get::<_, Time>("created_at")?.0,
    })
}

fn find_upload(conn: &Connection, id: i64) -> Result<Option<Upload>> {
    conn.prepare_cached(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], upload_from_row).optional())
    .context(&format!("loading upload {id}"))
}

fn load_upload(conn: &Connection, id: i64) -> Result<Upload> {
    find_upload(conn, id)?.ok_or_else(|| Error::not_found("upload", id))
}

/// Puts an upload back in the queue as new: attempts, error, lease and progress cleared.
fn requeue(conn: &Connection, id: i64) -> Result<Upload> {
    conn.prepare_cached(&format!(
        "UPDATE uploads SET status = 'queued', attempts = 0, error_message = NULL, \
         lease_owner = NULL, lease_until = NULL, processed_at = NULL, chunks_done = 0, \
         chunks_total = NULL WHERE id = ?1 RETURNING {UPLOAD_COLUMNS}"
    ))
    .and_then(|mut s| s.query_row([id], upload_from_row))
    .context(&format!("re-queuing upload {id}"))
}

/// Whether `owner` holds the lease of this upload's ingestion.
fn held_by(upload: &Upload, owner: &str) -> bool {
    upload.status == UploadStatus::Processing && upload.lease_owner.as_deref() == Some(owner)
}

fn not_held(upload: &Upload, owner: &str, action: &str) -> Error {
    let holder = upload.lease_owner.as_deref().unwrap_or("nobody");
    Error::conflict(format!(
        "upload {} is {} and leased to {holder}, not to {owner:?}: cannot {action}; the \
         ingestion lost its lease and another ingester took the upload over",
        upload.id, upload.status
    ))
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_new_upload(new: &NewUpload) -> Result<()> {
    let mut errors = FieldErrors::new();
    if new.filename.trim().is_empty() {
        errors.add("filename", "must name the uploaded file");
    }
    if new.mime_type.trim().is_empty() {
        errors.add(
            "mime_type",
            "must be the file's media type, e.g. text/plain",
        );
    }
    if new.size_bytes < 0 {
        errors.add(
            "size_bytes",
            format!("must be 0 or more, got {}", new.size_bytes),
        );
    }
    if !is_sha256(&new.sha256) {
        errors.add("sha256", "must be the file's SHA-256 as 64 hex digits");
    }
    if new.stored_path.is_empty() {
        errors.add("stored_path", "must name the file under uploads_dir");
    }
    errors.into_result()
}

fn check_progress(progress: &UploadProgress) -> Result<()> {
    let mut errors = FieldErrors::new();
    if progress.chunks_done < 0 {
        errors.add(
            "chunks_done",
            format!("must be 0 or more, got {}", progress.chunks_done),
        );
    }
    if progress.chunks_total < 0 {
        errors.add(
            "chunks_total",
            format!("must be 0 or more, got {}", progress.chunks_total),
        );
    }
    errors.into_result()
}

fn check_ingested(ingested: &IngestedDocument) -> Result<()> {
    let mut errors = FieldErrors::new();
    if ingested.model_id.trim().is_empty() {
        errors.add(
            "model_id",
            "must name the embedding model the vectors came from",
        );
    }
    if let Some((index, chunk)) = ingested
        .chunks
        .iter()
        .enumerate()
        .find(|(_, c)| c.vector.len() != DIMENSION)
    {
        errors.add(
            "vector",
            format!(
                "chunk {index} has a {}-dimension vector; this store keeps {DIMENSION}-dimension \
                 vectors (all-MiniLM-L6-v2): embed with that model",
                chunk.vector.len()
            ),
        );
    } else if let Some(index) = ingested.chunks.iter().position(|c| !searchable(&c.vector)) {
        errors.add(
            "vector",
            format!("chunk {index} has a vector that is not finite or all zero; re-embed it"),
        );
    }
    if let Some(index) = ingested.chunks.iter().position(|c| c.word_count < 0) {
        errors.add(
            "word_count",
            format!("chunk {index} has a negative word count"),
        );
    }
    errors.into_result()
}

fn check_retrieval(event: &NewRetrievalEvent) -> Result<()> {
    let mut errors = FieldErrors::new();
    if !is_sha256(&event.query_hash) {
        errors.add(
            "query_hash",
            "must be the SHA-256 of the trimmed query as 64 hex digits",
        );
    }
    if event.top_k < 1 {
        errors.add("top_k", format!("must be 1 or more, got {}", event.top_k));
    }
    if event.results_count < 0 {
        errors.add(
            "results_count",
            format!("must be 0 or more, got {}", event.results_count),
        );
    }
    errors.into_result()
}

/// The first `max` characters of `text` (characters, not bytes, so it never splits one).
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// Takes the oldest claimable upload for `claim.owner`; fails expired ones out of attempts.
fn claim_upload(conn: &Connection, claim: &ClaimUpload) -> Result<Option<Upload>> {
    let what = format!("claiming an upload for {:?}", claim.owner);
    let now = Time(claim.now);
    loop {
        let candidate = conn
            .prepare_cached(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads \
                 WHERE status = 'queued' OR (status = 'processing' AND lease_until < ?1) \
                 ORDER BY id LIMIT 1"
            ))
            .and_then(|mut s| s.query_row([now], upload_from_row).optional())
            .context(&what)?;
        let Some(upload) = candidate else {
            return Ok(None);
        };
        if upload.status == UploadStatus::Processing && upload.attempts >= claim.max_attempts {
            let message = format!(
                "ingestion interrupted {} times (lease expired): the ingester stopped or crashed \
                 while processing this file; retry the upload, and check the ingester's logs if \
                 it fails again",
                upload.attempts
            );
            conn.prepare_cached(
                "UPDATE uploads SET status = 'failed', error_message = ?2, lease_owner = NULL, \
                 lease_until = NULL, processed_at = ?3 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![upload.id, cut(&message, MAX_ERROR_CHARS), now]))
            .context(&what)?;
            continue;
        }
        let lease_until = Time(claim.now + claim.lease);
        return conn
            .prepare_cached(&format!(
                "UPDATE uploads SET status = 'processing', lease_owner = ?2, lease_until = ?3, \
                 attempts = attempts + 1, chunks_done = 0, chunks_total = NULL, \
                 error_message = NULL WHERE id = ?1 RETURNING {UPLOAD_COLUMNS}"
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![upload.id, claim.owner, lease_until],
                    upload_from_row,
                )
            })
            .map(Some)
            .context(&what);
    }
}

/// Stores the document, its chunks and their vectors, and marks the upload ready.
fn complete_upload(conn: &Connection, ingested: &IngestedDocument) -> Result<Document> {
    let id = ingested.upload_id;
    let what = format!("storing the document of upload {id}");
    let upload = load_upload(conn, id)?;
    if !held_by(&upload, &ingested.owner) {
        return Err(not_held(&upload, &ingested.owner, "complete it"));
    }
    let document = conn
        .prepare_cached(&format!(
            "INSERT INTO documents (upload_id, title, source, created_at) \
             VALUES (?1, ?2, ?3, ?4) RETURNING {DOCUMENT_COLUMNS}"
        ))
        .and_then(|mut s| {
            s.query_row(
                params![id, ingested.title, ingested.source, Time(ingested.now)],
                document_from_row,
            )
        })
        .context(&what)?;
    let mut insert_chunk = conn
        .prepare_cached(
            "INSERT INTO chunks (document_id, chunk_index, text, word_count) \
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )
        .context(&what)?;
    let mut insert_vector = conn
        .prepare_cached("INSERT INTO embeddings (chunk_id, model_id, vector) VALUES (?1, ?2, ?3)")
        .context(&what)?;
    for (index, chunk) in ingested.chunks.iter().enumerate() {
        let chunk_id: i64 = insert_chunk
            .query_row(
                params![document.id, index as i64, chunk.text, chunk.word_count],
                |r| r.get(0),
            )
            .context(&what)?;
        insert_vector
            .execute(params![
                chunk_id,
                ingested.model_id,
                encode_vector(&chunk.vector)
            ])
            .context(&what)?;
    }
    let count = i64::try_from(ingested.chunks.len()).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "UPDATE uploads SET status = 'ready', processed_at = ?2, lease_owner = NULL, \
         lease_until = NULL, error_message = NULL, chunks_done = ?3, chunks_total = ?3 \
         WHERE id = ?1",
    )
    .and_then(|mut s| s.execute(params![id, Time(ingested.now), count]))
    .context(&what)?;
    record_change(conn, 0)?;
    Ok(document)
}

#[async_trait]
impl RagStore for SqliteStore {
    async fn create_upload(&self, new: NewUpload) -> Result<UploadCreated> {
        check_new_upload(&new)?;
        self.write(move |conn| {
            let sha256 = new.sha256.to_ascii_lowercase();
            let existing = conn
                .prepare_cached(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE sha256 = ?1"
                ))
                .and_then(|mut s| s.query_row([&sha256], upload_from_row).optional())
                .context("looking up an upload by its SHA-256")?;
            if let Some(upload) = existing {
                let upload = if upload.status == UploadStatus::Failed {
                    requeue(conn, upload.id)?
                } else {
                    upload
                };
                return Ok(UploadCreated {
                    upload,
                    created: false,
                });
            }
            let upload = conn
                .prepare_cached(&format!(
                    "INSERT INTO uploads (filename, mime_type, size_bytes, sha256, stored_path, \
                     uploaded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING {UPLOAD_COLUMNS}"
                ))
                .and_then(|mut s| {
                    s.query_row(
                        params![
                            new.filename,
                            new.mime_type,
                            new.size_bytes,
                            sha256,
                            new.stored_path,
                            Time(new.now)
                        ],
                        upload_from_row,
                    )
                })
                .context(&format!("creating upload {:?}", new.filename))?;
            Ok(UploadCreated {
                upload,
                created: true,
            })
        })
        .await
    }

    async fn list_uploads(&self, query: UploadQuery) -> Result<Page<Upload>> {
        self.read(move |conn| {
            let status = query.status.map(Wire);
            page_matching(
                conn,
                Listing {
                    table: "uploads",
                    columns: UPLOAD_COLUMNS,
                    filter: "(?1 IS NULL OR status = ?1)",
                    order: "id DESC",
                },
                &[&status],
                query.page,
                upload_from_row,
            )
        })
        .await
    }

    async fn get_upload(&self, id: i64) -> Result<Upload> {
        self.read(move |conn| load_upload(conn, id)).await
    }

    async fn delete_upload(&self, id: i64) -> Result<Upload> {
        self.write(move |conn| {
            let upload = load_upload(conn, id)?;
            let what = format!("deleting upload {id}");
            let vectors: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM documents d JOIN chunks c ON c.document_id = d.id \
                     JOIN embeddings e ON e.chunk_id = c.id WHERE d.upload_id = ?1",
                )
                .and_then(|mut s| s.query_row([id], |r| r.get(0)))
                .context(&what)?;
            // The document, chunks and vectors go with it (ON DELETE CASCADE); the index drops
            // them at its next update, and searches never return a chunk the database lacks.
            conn.prepare_cached("DELETE FROM uploads WHERE id = ?1")
                .and_then(|mut s| s.execute([id]))
                .context(&what)?;
            if vectors > 0 {
                record_change(conn, vectors)?;
            }
            Ok(upload)
        })
        .await
    }

    async fn retry_upload(&self, id: i64) -> Result<Upload> {
        self.write(move |conn| {
            let upload = load_upload(conn, id)?;
            if upload.status != UploadStatus::Failed {
                return Err(Error::conflict(format!(
                    "upload {id} is {}; only a failed upload can be retried",
                    upload.status
                )));
            }
            requeue(conn, id)
        })
        .await
    }

    async fn claim_upload(&self, claim: ClaimUpload) -> Result<Option<Upload>> {
        self.write(move |conn| claim_upload(conn, &claim)).await
    }

    async fn report_upload_progress(&self, progress: UploadProgress) -> Result<LeaseState> {
        check_progress(&progress)?;
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE uploads SET chunks_done = ?3, chunks_total = ?4, lease_until = ?5 \
                     WHERE id = ?1 AND status = 'processing' AND lease_owner = ?2",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        progress.upload_id,
                        progress.owner,
                        progress.chunks_done,
                        progress.chunks_total,
                        Time(progress.lease_until)
                    ])
                })
                .context(&format!(
                    "reporting the progress of upload {}",
                    progress.upload_id
                ))?;
            Ok(if changed == 1 {
                LeaseState::Held
            } else {
                LeaseState::Lost
            })
        })
        .await
    }

    async fn complete_upload(&self, ingested: IngestedDocument) -> Result<Document> {
        check_ingested(&ingested)?;
        let model_id = ingested.model_id.clone();
        let document = self
            .write(move |conn| complete_upload(conn, &ingested))
            .await?;
        // The vectors are committed; bringing the index up to date now keeps the next search
        // fast. A failure here loses nothing: the next search tries again.
        let indexes = std::sync::Arc::clone(&self.pool.vectors);
        let synced = self
            .read(move |conn| indexes.refresh(conn, &model_id))
            .await;
        if let Err(e) = synced {
            tracing::warn!(error = %e, "cannot update the vector index after an ingestion");
        }
        Ok(document)
    }

    async fn fail_upload(&self, fail: FailUpload) -> Result<Upload> {
        self.write(move |conn| {
            let upload = load_upload(conn, fail.upload_id)?;
            if !held_by(&upload, &fail.owner) {
                return Err(not_held(&upload, &fail.owner, "fail it"));
            }
            conn.prepare_cached(&format!(
                "UPDATE uploads SET status = 'failed', error_message = ?2, lease_owner = NULL, \
                 lease_until = NULL, processed_at = ?3 WHERE id = ?1 RETURNING {UPLOAD_COLUMNS}"
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![
                        fail.upload_id,
                        cut(&fail.message, MAX_ERROR_CHARS),
                        Time(fail.now)
                    ],
                    upload_from_row,
                )
            })
            .context(&format!("failing upload {}", fail.upload_id))
        })
        .await
    }

    async fn list_documents(&self, page: PageRequest) -> Result<Page<DocumentInfo>> {
        self.read(move |conn| {
            page_matching(
                conn,
                Listing {
                    table: "documents d",
                    columns: "d.id AS id, d.upload_id AS upload_id, d.title AS title, \
                              d.source AS source, d.created_at AS created_at, \
                              (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) \
                              AS chunk_count",
                    filter: "1",
                    order: "d.id",
                },
                &[],
                page,
                document_info_from_row,
            )
        })
        .await
    }

    async fn search_chunks(&self, search: ChunkSearch) -> Result<Vec<ChunkHit>> {
        search::check(&search)?;
        let indexes = std::sync::Arc::clone(&self.pool.vectors);
        self.read(move |conn| search::search(conn, &indexes, &search, search::EXACT_FILTER_LIMIT))
            .await
    }

    async fn record_retrieval(&self, event: NewRetrievalEvent) -> Result<RetrievalEvent> {
        check_retrieval(&event)?;
        self.write(move |conn| {
            if let Some(run_id) = event.run_id
                && !exists(conn, "runs", run_id)?
            {
                return Err(Error::not_found("run", run_id));
            }
            conn.prepare_cached(&format!(
                "INSERT INTO retrieval_events (run_id, query_hash, top_k, results_count, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {RETRIEVAL_COLUMNS}"
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![
                        event.run_id,
                        event.query_hash,
                        event.top_k,
                        event.results_count,
                        Time(event.now)
                    ],
                    retrieval_from_row,
                )
            })
            .context("recording a retrieval event")
        })
        .await
    }

    async fn list_retrievals(
        &self,
        run_id: Option<i64>,
        page: PageRequest,
    ) -> Result<Page<RetrievalEvent>> {
        self.read(move |conn| {
            page_matching(
                conn,
                Listing {
                    table: "retrieval_events",
                    columns: RETRIEVAL_COLUMNS,
                    filter: "(?1 IS NULL OR run_id = ?1)",
                    order: "id",
                },
                &[&run_id],
                page,
                retrieval_from_row,
            )
        })
        .await
    }
}
