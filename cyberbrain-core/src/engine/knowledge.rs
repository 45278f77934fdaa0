//! The knowledge base (SPEC §3.6): uploads streamed to disk and stored by hash, their listing,
//! retry and deletion, documents, and search. Ingestion itself is the [`Ingester`](super::Ingester).
//!
//! G3: a search's text is embedded and forgotten; only its SHA-256 is recorded, and nothing here
//! logs it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::Cyberbrain;
use crate::domain::{
    ChunkHit, ChunkSearch, DocumentInfo, NewRetrievalEvent, NewUpload, Page, PageRequest, Upload,
    UploadCreated, UploadQuery,
};
use crate::guardrails::paths::resolve_artifact_path;
use crate::rag::detect;
use crate::{Embedder, Error, Result};

/// `top_k` when a search does not say.
pub const DEFAULT_TOP_K: usize = 5;
/// The most results one search returns.
pub const MAX_TOP_K: usize = 50;
/// The longest query accepted, in characters (a query is a question, not a document).
pub const MAX_QUERY_CHARS: usize = 4000;
/// The longest file name kept (the base name of what the client sent).
const MAX_FILENAME_CHARS: usize = 255;
/// Uploads are written here first and renamed into place once complete and accepted, so a
/// half-written or refused file is never visible under its hash.
const INCOMING_DIR: &str = ".incoming";

/// A search of the knowledge base (REST `POST /api/rag/search`, MCP `rag_search`, Python).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Required; trimmed. Never stored (G3): only its SHA-256 is.
    pub query_text: String,
    /// 1–50; 5 when absent.
    #[serde(default)]
    pub top_k: Option<i64>,
    /// Only chunks of these documents.
    #[serde(default)]
    pub document_ids: Vec<i64>,
    /// Only chunks of these uploads.
    #[serde(default)]
    pub upload_ids: Vec<i64>,
    /// Only results scoring at least this (cosine similarity, -1 to 1).
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Links the retrieval event to a run.
    #[serde(default)]
    pub run_id: Option<i64>,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// SHA-256 of the trimmed query, the only trace of it that is kept.
    pub query_hash: String,
    /// By score descending, ties by chunk id.
    pub results: Vec<ChunkHit>,
    pub total_found: usize,
}

/// The SHA-256 (hex) of a query after trimming: what retrieval events keep instead of the text.
pub fn query_hash(query_text: &str) -> String {
    hex::encode(Sha256::digest(query_text.trim().as_bytes()))
}

impl Cyberbrain {
    /// The embedder ingestion and search use, or `Unavailable` with the fix.
    pub(crate) fn require_embedder(&self) -> Result<&std::sync::Arc<dyn Embedder>> {
        self.embedder.as_ref().ok_or_else(|| {
            Error::unavailable(
                "embedder",
                format!(
                    "no embedding model is configured; install it with `scripts/models.sh {}` \
                     (all-MiniLM-L6-v2 and ONNX Runtime into the models dir)",
                    self.config.paths.models_dir().display()
                ),
            )
        })
    }

    /// Streams an upload to disk, checks its size and type, and queues it for ingestion; the
    /// same bytes again return the existing upload (`created = false`), re-queued when it had
    /// failed. Refusals: `TooLarge` past `rag.max_upload_bytes`, `UnsupportedType` unless it is
    /// txt, md, json, pdf or docx by extension and content, `InvalidInput` for an empty file or
    /// no usable name. Nothing is left on disk or in the store after a refusal.
    pub async fn upload_document(
        &self,
        filename: &str,
        body: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<UploadCreated> {
        let filename = upload_filename(filename)?;
        // Refuse an unknown extension before reading a byte of a possibly large body.
        detect::check_extension(&filename)?;

        let uploads_dir = self.config.paths.uploads_dir();
        let incoming_dir = uploads_dir.join(INCOMING_DIR);
        tokio::fs::create_dir_all(&incoming_dir)
            .await
            .map_err(|e| uploads_unavailable(&incoming_dir, e))?;
        let incoming = IncomingFile(incoming_dir.join(incoming_name()));
        let received = receive(body, &incoming.0, self.config.rag.max_upload_bytes).await?;
        if received.size == 0 {
            return Err(Error::invalid("file", format!("{filename} is empty")));
        }

        let detected = {
            let path = incoming.0.clone();
            let name = filename.clone();
            tokio::task::spawn_blocking(move || detect::detect(&path, &name))
                .await
                .map_err(|e| {
                    Error::backend(format!("type detection of {filename} failed: {e}"))
                })??
        };

        let stored_path = format!(
            "{}/{}.{}",
            &received.sha256[..2],
            received.sha256,
            detected.extension()
        );
        let target = uploads_dir.join(&stored_path);
        let newly_stored = if tokio::fs::try_exists(&target).await.unwrap_or(false) {
            false
        } else {
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| uploads_unavailable(parent, e))?;
            }
            tokio::fs::rename(&incoming.0, &target)
                .await
                .map_err(|e| uploads_unavailable(&target, e))?;
            true
        };

        let created = self
            .store
            .create_upload(NewUpload {
                filename: filename.clone(),
                mime_type: detected.mime_type().to_string(),
                size_bytes: received.size as i64,
                sha256: received.sha256,
                stored_path,
                now: self.clock.now(),
            })
            .await;
        match created {
            Ok(created) => {
                if created.created || created.upload.status == crate::domain::UploadStatus::Queued {
                    self.signal_ingest_work();
                }
                tracing::info!(
                    upload_id = created.upload.id,
                    created = created.created,
                    size_bytes = created.upload.size_bytes,
                    mime_type = %created.upload.mime_type,
                    "upload accepted"
                );
                Ok(created)
            }
            Err(e) => {
                // No row refers to a file this call stored: take it back (never a partial write).
                if newly_stored {
                    let _ = tokio::fs::remove_file(&target).await;
                }
                Err(e)
            }
        }
    }

    /// Uploads newest first, optionally of one status.
    pub async fn list_uploads(&self, query: UploadQuery) -> Result<Page<Upload>> {
        self.store.list_uploads(query).await
    }

    pub async fn get_upload(&self, id: i64) -> Result<Upload> {
        self.store.get_upload(id).await
    }

    /// Deletes an upload with its document, chunks, vectors and index entries, then its file
    /// (unless another upload row still names the same file, which dedupe makes impossible).
    pub async fn delete_upload(&self, id: i64) -> Result<Upload> {
        let upload = self.store.delete_upload(id).await?;
        let uploads_dir = self.config.paths.uploads_dir();
        // The stored path comes from the database: resolve it under the uploads root (G8) so a
        // tampered row cannot make this delete anything else.
        match resolve_artifact_path(&uploads_dir, &upload.stored_path) {
            Ok(path) => match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(upload_id = id, error = %e, "could not remove the uploaded file")
                }
            },
            Err(e) => {
                tracing::warn!(upload_id = id, error = %e, "refused to remove an uploaded file")
            }
        }
        tracing::info!(upload_id = id, "upload deleted");
        Ok(upload)
    }

    /// Queues a failed upload again.
    pub async fn retry_upload(&self, id: i64) -> Result<Upload> {
        let upload = self.store.retry_upload(id).await?;
        self.signal_ingest_work();
        Ok(upload)
    }

    /// Documents by id with their chunk counts.
    pub async fn list_documents(&self, page: PageRequest) -> Result<Page<DocumentInfo>> {
        self.store.list_documents(page).await
    }

    /// Searches the knowledge base and records one retrieval event (the query's hash only, G3).
    pub async fn search(&self, request: SearchRequest) -> Result<SearchResults> {
        let search = self.validate_search(&request).await?;
        let embedder = self.require_embedder()?;
        let query = request.query_text.trim().to_string();
        let vector = embedder
            .embed(std::slice::from_ref(&query))
            .await?
            .pop()
            .ok_or_else(|| Error::backend("the embedder returned no vector for the query"))?;
        let results = self
            .store
            .search_chunks(ChunkSearch {
                model_id: embedder.model_id().to_string(),
                vector,
                ..search
            })
            .await?;
        let query_hash = query_hash(&query);
        self.store
            .record_retrieval(NewRetrievalEvent {
                run_id: request.run_id,
                query_hash: query_hash.clone(),
                top_k: top_k_of(&request) as i32,
                results_count: results.len() as i32,
                now: self.clock.now(),
            })
            .await?;
        Ok(SearchResults {
            query_hash,
            total_found: results.len(),
            results,
        })
    }

    /// Every field checked at once; the store search without its vector and model.
    async fn validate_search(&self, request: &SearchRequest) -> Result<ChunkSearch> {
        let mut errors = crate::FieldErrors::new();
        let query = request.query_text.trim();
        if query.is_empty() {
            errors.add("query_text", "must not be blank");
        } else if query.chars().count() > MAX_QUERY_CHARS {
            errors.add(
                "query_text",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            );
        }
        if let Some(top_k) = request.top_k
            && !(1..=MAX_TOP_K as i64).contains(&top_k)
        {
            errors.add(
                "top_k",
                format!("must be between 1 and {MAX_TOP_K}, got {top_k}"),
            );
        }
        if let Some(min_score) = request.min_score
            && !(-1.0..=1.0).contains(&min_score)
        {
            errors.add(
                "min_score",
                format!("must be a cosine similarity between -1 and 1, got {min_score}"),
            );
        }
        for (field, ids) in [
            ("document_ids", &request.document_ids),
            ("upload_ids", &request.upload_ids),
        ] {
            if let Some(bad) = ids.iter().find(|id| **id < 1) {
                errors.add(field, format!("ids are positive whole numbers, got {bad}"));
            }
        }
        if let Some(run_id) = request.run_id {
            match self.store.get_run(run_id).await {
                Ok(_) => {}
                Err(Error::NotFound { .. }) => {
                    errors.add("run_id", format!("run {run_id} does not exist"));
                }
                Err(e) => return Err(e),
            }
        }
        errors.into_result()?;
        Ok(ChunkSearch {
            model_id: String::new(),
            vector: Vec::new(),
            top_k: top_k_of(request),
            document_ids: request.document_ids.clone(),
            upload_ids: request.upload_ids.clone(),
            min_score: request.min_score,
        })
    }

    /// Wakes this process's ingesters (an upload or retry made work); they also poll.
    pub(crate) fn signal_ingest_work(&self) {
        self.ingest_available.notify_waiters();
        self.ingest_available.notify_one();
    }

    /// Resolves when an upload or retry in this process queued work.
    pub async fn ingest_work_available(&self) {
        self.ingest_available.notified().await
    }
}

fn top_k_of(request: &SearchRequest) -> usize {
    request
        .top_k
        .map_or(DEFAULT_TOP_K, |k| k.clamp(1, MAX_TOP_K as i64) as usize)
}

/// The base name of what the client sent (never its path), trimmed and bounded.
fn upload_filename(raw: &str) -> Result<String> {
    let base = raw
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>();
    if base.is_empty() || base == "." || base == ".." {
        return Err(Error::invalid(
            "file",
            "needs a file name with an extension (txt, md, json, pdf or docx)",
        ));
    }
    if base.chars().count() > MAX_FILENAME_CHARS {
        return Err(Error::invalid(
            "file",
            format!("the file name must be at most {MAX_FILENAME_CHARS} characters"),
        ));
    }
    Ok(base)
}

struct Received {
    size: u64,
    sha256: String,
}

/// Copies `body` to `path`, hashing as it goes; past `limit` bytes it stops with `TooLarge`.
async fn receive(
    body: &mut (dyn AsyncRead + Unpin + Send),
    path: &Path,
    limit: u64,
) -> Result<Received> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| uploads_unavailable(path, e))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = body
            .read(&mut buffer)
            .await
            .map_err(|e| Error::invalid("file", format!("the upload was interrupted: {e}")))?;
        if read == 0 {
            break;
        }
        size += read as u64;
        if size > limit {
            return Err(Error::TooLarge {
                what: "the upload".into(),
                limit_bytes: limit,
            });
        }
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read])
            .await
            .map_err(|e| uploads_unavailable(path, e))?;
    }
    file.flush()
        .await
        .map_err(|e| uploads_unavailable(path, e))?;
    file.sync_all()
        .await
        .map_err(|e| uploads_unavailable(path, e))?;
    Ok(Received {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// A file under `.incoming/` removed when dropped unless it was renamed away.
struct IncomingFile(PathBuf);

impl Drop for IncomingFile {
    fn drop(&mut self) {
        // After a successful rename the path no longer exists: removal then fails harmlessly.
        let _ = std::fs::remove_file(&self.0);
    }
}

fn incoming_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{nanos}-{}.part",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn uploads_unavailable(path: &Path, e: std::io::Error) -> Error {
    Error::unavailable(
        "uploads",
        format!("cannot write {}: {e}; check uploads_dir", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_hash_is_the_sha256_of_the_trimmed_text() {
        assert_eq!(query_hash("  disk full \n"), query_hash("disk full"));
        assert_eq!(
            query_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_the_base_name_of_an_upload_is_kept() {
        assert_eq!(upload_filename("../../etc/notes.md").unwrap(), "notes.md");
        assert_eq!(upload_filename("C:\\Users\\me\\a.txt").unwrap(), "a.txt");
        assert_eq!(upload_filename(" report\u{0}.pdf ").unwrap(), "report.pdf");
        for bad in ["", "  ", "dir/", "..", "a/.."] {
            assert!(upload_filename(bad).is_err(), "{bad:?}");
        }
        assert!(upload_filename(&"x".repeat(300)).is_err());
    }
}
