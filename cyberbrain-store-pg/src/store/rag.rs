//! `RagStore` (SPEC §2.7, §3.6): uploads and their ingestion leases, documents with their chunks
//! and vectors, and retrieval events. The nearest-neighbour search lives in [`search`].
//!
//! Every change to an upload locks its row first (`FOR UPDATE`), so a claim, a progress report,
//! a completion, a failure and a delete of the same upload take turns and each sees what the
//! previous one committed: an ingestion whose upload was deleted or reclaimed finds out when it
//! tries to write, and writes nothing.

mod search;

use async_trait::async_trait;
use cyberbrain_core::domain::{
    ChunkHit, ChunkSearch, ClaimUpload, Document, DocumentInfo, FailUpload, IngestedDocument,
    LeaseState, NewRetrievalEvent, NewUpload, Page, PageRequest, RetrievalEvent, Timestamp, Upload,
    UploadCreated, UploadProgress, UploadQuery, UploadStatus,
};
use cyberbrain_core::{Error, RagStore, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::{PageSql, PgStore, page_of, page_sql, page_where, wire};
use crate::error::{PgContext, from_sqlx, sqlstate};
use search::{check_vector, vector_literal};

/// Chunks per statement when a document is stored: a large document takes a few round trips
/// (all in one transaction), and no statement carries more than a few MB of parameters.
const CHUNK_BATCH: usize = 500;

/// `uploads.error_message` holds at most this many characters (a CHECK in migration 0001).
const MAX_ERROR_MESSAGE_CHARS: usize = 1000;

/// How often `create_upload` retries when the upload holding its hash is deleted between the
/// insert that collided with it and the read of it.
const CREATE_TRIES: usize = 3;

macro_rules! upload_columns {
    () => {
        "id, filename, mime_type, size_bytes, sha256, stored_path, status, attempts, \
         error_message, lease_owner, lease_until, uploaded_at, processed_at, chunks_done, \
         chunks_total"
    };
}

macro_rules! document_columns {
    () => {
        "id, upload_id, title, source, created_at"
    };
}

fn upload_from_row(row: &PgRow) -> Result<Upload, sqlx::Error> {
    Ok(Upload {
        id: row.try_get("id")?,
        filename: row.try_get("filename")?,
        mime_type: row.try_get("mime_type")?,
        size_bytes: row.try_get("size_bytes")?,
        sha256: row.try_get("sha256")?,
        stored_path: row.try_get("stored_path")?,
        status: wire(row, "status")?,
        attempts: row.try_get("attempts")?,
        error_message: row.try_get("error_message")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: row.try_get("lease_until")?,
        uploaded_at: row.try_get("uploaded_at")?,
        processed_at: row.try_get("processed_at")?,
        chunks_done: row.try_get("chunks_done")?,
        chunks_total: row.try_get("chunks_total")?,
    })
}

fn document_from_row(row: &PgRow) -> Result<Document, sqlx::Error> {
    Ok(Document {
        id: row.try_get("id")?,
        upload_id: row.try_get("upload_id")?,
        title: row.try_get("title")?,
        source: row.try_get("source")?,
        created_at: row.try_get("created_at")?,
    })
}

fn document_info_from_row(row: &PgRow) -> Result<DocumentInfo, sqlx::Error> {
    Ok(DocumentInfo {
        document: document_from_row(row)?,
        chunk_count: row.try_get("chunk_count")?,
    })
}

fn retrieval_from_row(row: &PgRow) -> Result<RetrievalEvent, sqlx::Error> {
    Ok(RetrievalEvent {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        query_hash: row.try_get("query_hash")?,
        top_k: row.try_get("top_k")?,
        results_count: row.try_get("results_count")?,
        created_at: row.try_get("created_at")?,
    })
}

/// One upload row, decoded; an absent row is `NotFound`.
fn one_upload(row: Option<PgRow>, id: i64, what: &str) -> Result<Upload> {
    row.map(|row| upload_from_row(&row))
        .transpose()
        .context(what)?
        .ok_or_else(|| Error::not_found("upload", id))
}

/// The upload, locked until the caller's transaction ends; `NotFound` when there is none.
async fn lock_upload(conn: &mut PgConnection, id: i64, what: &str) -> Result<Upload> {
    let row = sqlx::query(concat!(
        "SELECT ",
        upload_columns!(),
        " FROM uploads WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .context(what)?;
    one_upload(row, id, what)
}

/// Puts an upload back in the queue as if new: attempts, error, lease and progress cleared.
async fn requeue(conn: &mut PgConnection, id: i64, what: &str) -> Result<Upload> {
    let row = sqlx::query(concat!(
        "UPDATE uploads SET status = 'queued', attempts = 0, error_message = NULL, \
           lease_owner = NULL, lease_until = NULL, processed_at = NULL, chunks_done = 0, \
           chunks_total = NULL \
         WHERE id = $1 RETURNING ",
        upload_columns!()
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .context(what)?;
    one_upload(row, id, what)
}

/// `Conflict` unless `owner` holds the lease of `upload` (which is then `processing`); `action`
/// is what the caller meant to do ("complete", "fail").
fn ensure_held(upload: &Upload, owner: &str, action: &str) -> Result<()> {
    if upload.status == UploadStatus::Processing && upload.lease_owner.as_deref() == Some(owner) {
        return Ok(());
    }
    let holder = match (&upload.status, &upload.lease_owner) {
        (UploadStatus::Processing, Some(other)) => format!(", leased to {other:?}"),
        _ => String::new(),
    };
    Err(Error::conflict(format!(
        "upload {} is {}{holder}: {owner:?} does not hold its lease, so it cannot {action} it \
         (the lease expired and another ingester took it, or the upload was finished or \
         retried); stop this ingestion",
        upload.id,
        upload.status.as_str()
    )))
}

/// The rules the table's CHECK constraints hold, as `InvalidInput` naming the field.
fn check_new_upload(new: &NewUpload) -> Result<()> {
    if new.sha256.len() != 64 || !new.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            "sha256",
            format!(
                "must be the file's SHA-256 as 64 hexadecimal digits, got {:?}",
                new.sha256
            ),
        ));
    }
    if new.size_bytes < 0 {
        return Err(Error::invalid(
            "size_bytes",
            format!(
                "must be 0 or more (the file's length), got {}",
                new.size_bytes
            ),
        ));
    }
    Ok(())
}

fn non_negative(field: &str, value: i32) -> Result<()> {
    if value < 0 {
        return Err(Error::invalid(
            field,
            format!("must be 0 or more, got {value}"),
        ));
    }
    Ok(())
}

/// Checks everything about an ingested document the database would refuse, so a bad chunk is
/// `InvalidInput` naming it before anything is written.
fn check_ingested(ingested: &IngestedDocument) -> Result<()> {
    if i32::try_from(ingested.chunks.len()).is_err() {
        return Err(Error::invalid(
            "chunks",
            format!(
                "a document holds at most {} chunks, got {}; split the file",
                i32::MAX,
                ingested.chunks.len()
            ),
        ));
    }
    for (i, chunk) in ingested.chunks.iter().enumerate() {
        non_negative(&format!("chunks[{i}].word_count"), chunk.word_count)?;
        check_vector(&format!("chunks[{i}].vector"), &chunk.vector)?;
    }
    Ok(())
}

/// Stores the chunks of `document_id` and one vector per chunk under `model_id`, in batches of
/// [`CHUNK_BATCH`]: each statement inserts its chunks and, from the ids they got, their vectors
/// (bound as pgvector's text form and cast, which needs no client-side vector type).
async fn insert_chunks(
    conn: &mut PgConnection,
    document_id: i64,
    ingested: &IngestedDocument,
    what: &str,
) -> Result<()> {
    for (batch_no, batch) in ingested.chunks.chunks(CHUNK_BATCH).enumerate() {
        // Fits: the whole count was checked against i32 by `check_ingested`.
        let first_index = i32::try_from(batch_no * CHUNK_BATCH).unwrap_or(i32::MAX);
        let texts: Vec<&str> = batch.iter().map(|c| c.text.as_str()).collect();
        let word_counts: Vec<i32> = batch.iter().map(|c| c.word_count).collect();
        let vectors: Vec<String> = batch.iter().map(|c| vector_literal(&c.vector)).collect();
        sqlx::query(
            "WITH new_chunks AS ( \
               INSERT INTO chunks (document_id, chunk_index, text, word_count) \
               SELECT $1, $2 + (c.n - 1)::int, c.text, c.word_count \
               FROM unnest($3::text[], $4::int[]) WITH ORDINALITY AS c (text, word_count, n) \
               RETURNING id, chunk_index) \
             INSERT INTO embeddings (chunk_id, model_id, vector) \
             SELECT new_chunks.id, $5, v.literal::vector \
             FROM new_chunks \
             JOIN unnest($6::text[]) WITH ORDINALITY AS v (literal, n) \
               ON new_chunks.chunk_index = $2 + (v.n - 1)::int",
        )
        .bind(document_id)
        .bind(first_index)
        .bind(&texts)
        .bind(&word_counts)
        .bind(&ingested.model_id)
        .bind(&vectors)
        .execute(&mut *conn)
        .await
        .context(what)?;
    }
    Ok(())
}

/// Ends a transaction by its body's result: commits on success; on failure rolls back at once,
/// so the row locks it took are gone before the error reaches the caller. (A dropped
/// transaction rolls back only when its connection is next used; until then a claim's
/// `SKIP LOCKED` would pass over the rows it had locked.)
async fn settle<T>(tx: Transaction<'static, Postgres>, result: Result<T>, what: &str) -> Result<T> {
    match result {
        Ok(value) => {
            tx.commit().await.context(what)?;
            Ok(value)
        }
        Err(err) => {
            // The error being returned says more than a failed rollback could; a connection
            // that cannot roll back is closed by the pool.
            let _ = tx.rollback().await;
            Err(err)
        }
    }
}

/// `create_upload`'s body.
async fn create(conn: &mut PgConnection, new: &NewUpload, what: &str) -> Result<UploadCreated> {
    for _ in 0..CREATE_TRIES {
        // The unique hash decides: of two concurrent uploads of the same bytes, one inserts and
        // the other waits for it, then finds its row.
        let inserted = sqlx::query(concat!(
            "INSERT INTO uploads (filename, mime_type, size_bytes, sha256, stored_path, \
               uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT ON CONSTRAINT uploads_sha256_key DO NOTHING RETURNING ",
            upload_columns!()
        ))
        .bind(&new.filename)
        .bind(&new.mime_type)
        .bind(new.size_bytes)
        .bind(&new.sha256)
        .bind(&new.stored_path)
        .bind(new.now)
        .fetch_optional(&mut *conn)
        .await
        .context(what)?;
        if let Some(row) = inserted {
            return Ok(UploadCreated {
                upload: upload_from_row(&row).context(what)?,
                created: true,
            });
        }
        let existing = sqlx::query(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads WHERE sha256 = $1 FOR UPDATE"
        ))
        .bind(&new.sha256)
        .fetch_optional(&mut *conn)
        .await
        .context(what)?;
        // None: deleted since the insert collided with it; the next insert succeeds.
        let Some(row) = existing else { continue };
        let mut upload = upload_from_row(&row).context(what)?;
        if upload.status == UploadStatus::Failed {
            upload = requeue(conn, upload.id, what).await?;
        }
        return Ok(UploadCreated {
            upload,
            created: false,
        });
    }
    Err(Error::unavailable(
        "database",
        format!(
            "{what}: the upload with the same SHA-256 kept being deleted and re-created \
             concurrently; retry"
        ),
    ))
}

/// `retry_upload`'s body.
async fn retry(conn: &mut PgConnection, id: i64, what: &str) -> Result<Upload> {
    let upload = lock_upload(conn, id, what).await?;
    if upload.status != UploadStatus::Failed {
        return Err(Error::conflict(format!(
            "upload {id} is {}, and only a failed upload can be retried",
            upload.status.as_str()
        )));
    }
    requeue(conn, id, what).await
}

/// `claim_upload`'s body: the oldest claimable upload, failing on the way those whose lease
/// expired once too often.
async fn take_next(
    conn: &mut PgConnection,
    claim: &ClaimUpload,
    lease_until: Timestamp,
    what: &str,
) -> Result<Option<Upload>> {
    loop {
        // SKIP LOCKED: concurrent claimers take different uploads instead of queueing on the
        // same row.
        let row = sqlx::query(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads \
             WHERE status = 'queued' OR (status = 'processing' AND lease_until < $1) \
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ))
        .bind(claim.now)
        .fetch_optional(&mut *conn)
        .await
        .context(what)?;
        let Some(row) = row else { return Ok(None) };
        let upload = upload_from_row(&row).context(what)?;
        if upload.status == UploadStatus::Processing && upload.attempts >= claim.max_attempts {
            // Failed within this transaction, so the next scan no longer sees it.
            sqlx::query(
                "UPDATE uploads SET status = 'failed', error_message = $2, lease_owner = NULL, \
                   lease_until = NULL, processed_at = $3 \
                 WHERE id = $1",
            )
            .bind(upload.id)
            .bind(interrupted_message(upload.attempts))
            .bind(claim.now)
            .execute(&mut *conn)
            .await
            .context(what)?;
            continue;
        }
        let row = sqlx::query(concat!(
            "UPDATE uploads SET status = 'processing', lease_owner = $2, lease_until = $3, \
               attempts = attempts + 1, chunks_done = 0, chunks_total = NULL \
             WHERE id = $1 RETURNING ",
            upload_columns!()
        ))
        .bind(upload.id)
        .bind(&claim.owner)
        .bind(lease_until)
        .fetch_one(&mut *conn)
        .await
        .context(what)?;
        return upload_from_row(&row).map(Some).context(what);
    }
}

/// `complete_upload`'s body.
async fn complete(
    conn: &mut PgConnection,
    ingested: &IngestedDocument,
    what: &str,
) -> Result<Document> {
    let id = ingested.upload_id;
    let upload = lock_upload(conn, id, what).await?;
    ensure_held(&upload, &ingested.owner, "complete")?;
    let row = sqlx::query(concat!(
        "INSERT INTO documents (upload_id, title, source, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING ",
        document_columns!()
    ))
    .bind(id)
    .bind(&ingested.title)
    .bind(&ingested.source)
    .bind(ingested.now)
    .fetch_one(&mut *conn)
    .await
    .context(what)?;
    let document = document_from_row(&row).context(what)?;
    insert_chunks(conn, document.id, ingested, what).await?;
    // Fits: checked by `check_ingested`.
    let count = i32::try_from(ingested.chunks.len()).unwrap_or(i32::MAX);
    sqlx::query(
        "UPDATE uploads SET status = 'ready', processed_at = $2, lease_owner = NULL, \
           lease_until = NULL, error_message = NULL, chunks_done = $3, chunks_total = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(ingested.now)
    .bind(count)
    .execute(&mut *conn)
    .await
    .context(what)?;
    Ok(document)
}

/// `fail_upload`'s body.
async fn fail_held(conn: &mut PgConnection, fail: &FailUpload, what: &str) -> Result<Upload> {
    let id = fail.upload_id;
    let upload = lock_upload(conn, id, what).await?;
    ensure_held(&upload, &fail.owner, "fail")?;
    let message: String = fail.message.chars().take(MAX_ERROR_MESSAGE_CHARS).collect();
    let row = sqlx::query(concat!(
        "UPDATE uploads SET status = 'failed', error_message = $2, lease_owner = NULL, \
           lease_until = NULL, processed_at = $3 \
         WHERE id = $1 RETURNING ",
        upload_columns!()
    ))
    .bind(id)
    .bind(message)
    .bind(fail.now)
    .fetch_one(&mut *conn)
    .await
    .context(what)?;
    upload_from_row(&row).context(what)
}

/// What an upload whose lease expired too often is failed with.
fn interrupted_message(attempts: i32) -> String {
    let plural = if attempts == 1 { "" } else { "s" };
    format!("ingestion interrupted after {attempts} attempt{plural} (lease expired)")
}

/// Uploads, optionally of one status (`$1`), newest first.
const LIST_UPLOADS: PageSql = PageSql {
    count: "SELECT COUNT(*) FROM uploads WHERE ($1::text IS NULL OR status = $1)",
    page: concat!(
        "SELECT ",
        upload_columns!(),
        " FROM uploads WHERE ($1::text IS NULL OR status = $1) \
         ORDER BY id DESC LIMIT $2 OFFSET $3"
    ),
};

/// Retrieval events, optionally of one run (`$1`), in id order.
const LIST_RETRIEVALS: PageSql = PageSql {
    count: "SELECT COUNT(*) FROM retrieval_events WHERE ($1::bigint IS NULL OR run_id = $1)",
    page: "SELECT id, run_id, query_hash, top_k, results_count, created_at \
           FROM retrieval_events WHERE ($1::bigint IS NULL OR run_id = $1) \
           ORDER BY id LIMIT $2 OFFSET $3",
};

#[async_trait]
impl RagStore for PgStore {
    async fn create_upload(&self, new: NewUpload) -> Result<UploadCreated> {
        check_new_upload(&new)?;
        let what = format!("storing upload {:?}", new.filename);
        let mut tx = self.begin(&what).await?;
        let result = create(&mut tx, &new, &what).await;
        settle(tx, result, &what).await
    }

    async fn list_uploads(&self, query: UploadQuery) -> Result<Page<Upload>> {
        let status = query.status.map(|s| s.as_str());
        page_where(
            self,
            "listing uploads",
            &LIST_UPLOADS,
            query.page,
            move |q| q.bind(status),
            upload_from_row,
        )
        .await
    }

    async fn get_upload(&self, id: i64) -> Result<Upload> {
        let what = format!("loading upload {id}");
        let row = sqlx::query(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context(&what)?;
        one_upload(row, id, &what)
    }

    async fn delete_upload(&self, id: i64) -> Result<Upload> {
        let what = format!("deleting upload {id}");
        // The foreign keys cascade to the document, its chunks and their vectors; the HNSW
        // index never returns a deleted row (its entries are checked against the table).
        let row = sqlx::query(concat!(
            "DELETE FROM uploads WHERE id = $1 RETURNING ",
            upload_columns!()
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context(&what)?;
        one_upload(row, id, &what)
    }

    async fn retry_upload(&self, id: i64) -> Result<Upload> {
        let what = format!("retrying upload {id}");
        let mut tx = self.begin(&what).await?;
        let result = retry(&mut tx, id, &what).await;
        settle(tx, result, &what).await
    }

    async fn claim_upload(&self, claim: ClaimUpload) -> Result<Option<Upload>> {
        let lease_until = claim.now.checked_add_signed(claim.lease).ok_or_else(|| {
            Error::invalid(
                "lease",
                format!(
                    "{} s from now is past the latest time the store can hold; use a shorter lease",
                    claim.lease.num_seconds()
                ),
            )
        })?;
        let what = format!("claiming an upload for {:?}", claim.owner);
        let mut tx = self.begin(&what).await?;
        let result = take_next(&mut tx, &claim, lease_until, &what).await;
        settle(tx, result, &what).await
    }

    async fn report_upload_progress(&self, progress: UploadProgress) -> Result<LeaseState> {
        non_negative("chunks_done", progress.chunks_done)?;
        non_negative("chunks_total", progress.chunks_total)?;
        let what = format!("reporting progress of upload {}", progress.upload_id);
        // One statement: the row lock makes it wait for a concurrent claim, delete or finish,
        // after which owner and status are checked on the row as it committed.
        let updated = sqlx::query(
            "UPDATE uploads SET chunks_done = $3, chunks_total = $4, lease_until = $5 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'processing' RETURNING id",
        )
        .bind(progress.upload_id)
        .bind(&progress.owner)
        .bind(progress.chunks_done)
        .bind(progress.chunks_total)
        .bind(progress.lease_until)
        .fetch_optional(self.pool())
        .await
        .context(&what)?;
        Ok(if updated.is_some() {
            LeaseState::Held
        } else {
            LeaseState::Lost
        })
    }

    async fn complete_upload(&self, ingested: IngestedDocument) -> Result<Document> {
        check_ingested(&ingested)?;
        let what = format!("storing the document of upload {}", ingested.upload_id);
        let mut tx = self.begin(&what).await?;
        let result = complete(&mut tx, &ingested, &what).await;
        settle(tx, result, &what).await
    }

    async fn fail_upload(&self, fail: FailUpload) -> Result<Upload> {
        let what = format!("failing upload {}", fail.upload_id);
        let mut tx = self.begin(&what).await?;
        let result = fail_held(&mut tx, &fail, &what).await;
        settle(tx, result, &what).await
    }

    async fn list_documents(&self, page: PageRequest) -> Result<Page<DocumentInfo>> {
        page_of(
            self,
            "listing documents",
            &page_sql!(
                "documents",
                concat!(
                    document_columns!(),
                    ", (SELECT COUNT(*) FROM chunks WHERE chunks.document_id = documents.id) \
                     AS chunk_count"
                )
            ),
            page,
            document_info_from_row,
        )
        .await
    }

    async fn search_chunks(&self, search: ChunkSearch) -> Result<Vec<ChunkHit>> {
        search::search(self, search).await
    }

    async fn record_retrieval(&self, event: NewRetrievalEvent) -> Result<RetrievalEvent> {
        if event.query_hash.len() != 64 || !event.query_hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Error::invalid(
                "query_hash",
                "must be the SHA-256 of the trimmed query as 64 hexadecimal digits (the query \
                 text itself is never stored)",
            ));
        }
        if event.top_k < 1 {
            return Err(Error::invalid(
                "top_k",
                format!("must be 1 or more, got {}", event.top_k),
            ));
        }
        non_negative("results_count", event.results_count)?;
        let what = "recording a retrieval";
        let row = sqlx::query(
            "INSERT INTO retrieval_events (run_id, query_hash, top_k, results_count, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, run_id, query_hash, top_k, results_count, created_at",
        )
        .bind(event.run_id)
        .bind(&event.query_hash)
        .bind(event.top_k)
        .bind(event.results_count)
        .bind(event.now)
        .fetch_one(self.pool())
        .await
        .map_err(|err| match (sqlstate(&err).as_deref(), event.run_id) {
            // The only reference a retrieval event holds is its run.
            (Some("23503"), Some(run_id)) => Error::not_found("run", run_id),
            _ => from_sqlx(err, what),
        })?;
        retrieval_from_row(&row).context(what)
    }

    async fn list_retrievals(
        &self,
        run_id: Option<i64>,
        page: PageRequest,
    ) -> Result<Page<RetrievalEvent>> {
        page_where(
            self,
            "listing retrievals",
            &LIST_RETRIEVALS,
            page,
            move |q| q.bind(run_id),
            retrieval_from_row,
        )
        .await
    }
}
