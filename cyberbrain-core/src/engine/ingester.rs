//! The ingester (SPEC §3.6): claims queued uploads with a lease, extracts their text, chunks it,
//! embeds the chunks in batches and stores document, chunks and vectors as one unit.
//!
//! Crash safety: the lease is renewed while the work goes on; an ingester that dies stops
//! renewing, and another takes the upload over once the lease ends (after `rag.max_attempts`
//! interrupted attempts it fails instead). An ingester that lost its lease stops and writes
//! nothing: the store refuses its completion.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Cyberbrain;
use super::backoff::Backoff;
use crate::domain::{
    ClaimUpload, FailUpload, IngestedDocument, LeaseState, NewChunk, Upload, UploadProgress,
    clip_error_summary,
};
use crate::guardrails::paths::resolve_artifact_path;
use crate::rag;
use crate::{Error, Result};

/// Chunks embedded per embedder call.
pub const EMBED_BATCH: usize = 32;

/// Ingests uploads in one process; any number may run against one database.
#[derive(Debug, Clone)]
pub struct Ingester {
    cb: Cyberbrain,
    owner: String,
    lease: Duration,
    poll_interval: Duration,
}

impl Ingester {
    /// An ingester with the `rag` configuration's lease and poll interval.
    pub fn new(cb: Cyberbrain) -> Self {
        let rag = &cb.config().rag;
        Self {
            owner: format!("ingester-{}-{}", std::process::id(), short_random()),
            lease: Duration::from_secs(rag.lease_s.max(1)),
            poll_interval: Duration::from_secs(rag.poll_interval_s.max(1)),
            cb,
        }
    }

    /// The lease owner name it claims under (and logs).
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// How long a claim holds without renewal (tests shorten it to see takeovers quickly).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(300));
        self
    }

    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval.max(Duration::from_millis(50));
        self
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims and ingests one upload; `None` when nothing was claimable. The returned upload is
    /// its state afterwards (`ready` or `failed`), or as claimed when the lease was lost.
    pub async fn ingest_next(&self) -> Result<Option<Upload>> {
        let claim = ClaimUpload {
            owner: self.owner.clone(),
            now: self.cb.clock().now(),
            lease: to_chrono(self.lease),
            max_attempts: self.cb.config().rag.max_attempts.max(1) as i32,
        };
        let Some(upload) = self.cb.store().claim_upload(claim).await? else {
            return Ok(None);
        };
        tracing::info!(
            upload_id = upload.id,
            attempt = upload.attempts,
            owner = %self.owner,
            "ingestion started"
        );
        let started = std::time::Instant::now();
        let progress = Arc::new(Progress::default());
        let renewer = self.spawn_renewer(upload.id, Arc::clone(&progress));
        let outcome = self.ingest(&upload, &progress).await;
        renewer.abort();

        let now = self.cb.clock().now();
        let store = self.cb.store();
        let ended = match outcome {
            Ok(ingested) => match store.complete_upload(ingested).await {
                Ok(document) => {
                    tracing::info!(
                        upload_id = upload.id,
                        document_id = document.id,
                        chunks = progress.total.load(Ordering::Relaxed),
                        duration_ms = started.elapsed().as_millis() as u64,
                        "ingestion ended"
                    );
                    store.get_upload(upload.id).await?
                }
                Err(e @ (Error::Conflict(_) | Error::NotFound { .. })) => {
                    tracing::warn!(upload_id = upload.id, error = %e, "ingestion lost its upload; nothing written");
                    return Ok(Some(upload));
                }
                Err(e) => return Err(e),
            },
            Err(Lost) => {
                tracing::warn!(
                    upload_id = upload.id,
                    "ingestion lost its lease; nothing written"
                );
                return Ok(Some(upload));
            }
            Err(Failed(message)) => {
                let message = clip_error_summary(&message);
                tracing::warn!(upload_id = upload.id, error = %message, "ingestion failed");
                match store
                    .fail_upload(FailUpload {
                        upload_id: upload.id,
                        owner: self.owner.clone(),
                        message,
                        now,
                    })
                    .await
                {
                    Ok(failed) => failed,
                    Err(Error::Conflict(_) | Error::NotFound { .. }) => return Ok(Some(upload)),
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(Some(ended))
    }

    /// Extracts, chunks and embeds; what `complete_upload` stores.
    async fn ingest(
        &self,
        upload: &Upload,
        progress: &Progress,
    ) -> std::result::Result<IngestedDocument, Outcome> {
        let embedder = self.cb.require_embedder().map_err(failed)?.clone();
        let path = self.stored_file(upload).map_err(failed)?;
        let (title, chunks) = {
            let filename = upload.filename.clone();
            let options = rag::ChunkOptions {
                words: self.cb.config().rag.chunk_words,
                overlap: self.cb.config().rag.chunk_overlap,
            };
            tokio::task::spawn_blocking(move || rag::prepare(&path, &filename, options))
                .await
                .map_err(|e| Failed(format!("text extraction crashed: {e}")))?
                .map_err(failed)?
        };
        if chunks.is_empty() {
            return Err(Failed(format!("no text found in {}", upload.filename)));
        }
        progress.total.store(chunks.len() as i32, Ordering::Relaxed);

        let mut stored = Vec::with_capacity(chunks.len());
        for batch in chunks.chunks(EMBED_BATCH) {
            if progress.lost.load(Ordering::Relaxed) {
                return Err(Lost);
            }
            let texts: Vec<String> = batch.iter().map(|c| c.text.clone()).collect();
            let vectors = embedder.embed(&texts).await.map_err(failed)?;
            if vectors.len() != batch.len() {
                return Err(Failed(format!(
                    "the embedder returned {} vectors for {} chunks",
                    vectors.len(),
                    batch.len()
                )));
            }
            stored.extend(batch.iter().zip(vectors).map(|(chunk, vector)| NewChunk {
                text: chunk.text.clone(),
                word_count: chunk.word_count as i32,
                vector,
            }));
            progress.done.store(stored.len() as i32, Ordering::Relaxed);
        }
        if progress.lost.load(Ordering::Relaxed) {
            return Err(Lost);
        }
        Ok(IngestedDocument {
            upload_id: upload.id,
            owner: self.owner.clone(),
            title,
            source: upload.filename.clone(),
            model_id: embedder.model_id().to_string(),
            chunks: stored,
            now: self.cb.clock().now(),
        })
    }

    /// The upload's file, resolved under the uploads root (G8: the path comes from the database).
    fn stored_file(&self, upload: &Upload) -> Result<PathBuf> {
        let root = self.cb.config().paths.uploads_dir();
        let path = resolve_artifact_path(&root, &upload.stored_path)?;
        if !path.is_file() {
            return Err(Error::not_found("uploaded file", &upload.stored_path));
        }
        Ok(path)
    }

    /// Renews the lease (and publishes progress) every third of the lease until aborted; marks
    /// the progress lost when the store says the lease is no longer ours.
    fn spawn_renewer(&self, upload_id: i64, progress: Arc<Progress>) -> JoinHandle<()> {
        let cb = self.cb.clone();
        let owner = self.owner.clone();
        let lease = self.lease;
        let every = (lease / 3).min(Duration::from_secs(2));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let renewal = UploadProgress {
                    upload_id,
                    owner: owner.clone(),
                    chunks_done: progress.done.load(Ordering::Relaxed),
                    chunks_total: progress.total.load(Ordering::Relaxed),
                    lease_until: cb.clock().now() + to_chrono(lease),
                };
                match cb.store().report_upload_progress(renewal).await {
                    Ok(LeaseState::Held) => {}
                    Ok(_) => {
                        progress.lost.store(true, Ordering::Relaxed);
                        return;
                    }
                    // A database hiccup: the lease may still hold; try again next time.
                    Err(e) => {
                        tracing::warn!(upload_id, error = %e, "could not renew the ingestion lease")
                    }
                }
            }
        })
    }

    /// Ingests until `shutdown` resolves: everything claimable, then waits for an upload in this
    /// process or the poll interval. Store errors are logged and retried after a growing pause.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(owner = %self.owner, poll_interval_ms = self.poll_interval.as_millis() as u64, "ingester started");
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        tokio::pin!(shutdown);
        loop {
            let wait = loop {
                match self.ingest_next().await {
                    Ok(Some(_)) => backoff.reset(),
                    Ok(None) => break self.poll_interval,
                    Err(e) => {
                        tracing::warn!(owner = %self.owner, error = %e, "ingester could not claim; retrying");
                        break backoff.next_delay();
                    }
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = self.cb.ingest_work_available() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(owner = %self.owner, "ingester stopped");
    }

    /// Runs the loop on a task of its own until [`IngesterHandle::shutdown`].
    pub fn spawn(self) -> IngesterHandle {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.await;
        }));
        IngesterHandle {
            stop: Some(stop),
            task,
        }
    }
}

/// A running ingester (from [`Ingester::spawn`]).
#[derive(Debug)]
pub struct IngesterHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl IngesterHandle {
    /// Stops after the current upload (an upload cut short keeps its lease and is taken over
    /// when it ends).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

#[derive(Debug, Default)]
struct Progress {
    done: AtomicI32,
    total: AtomicI32,
    lost: AtomicBool,
}

/// Why an ingestion did not produce a document.
enum Outcome {
    /// The lease is gone: write nothing.
    Lost,
    /// The upload cannot be ingested (as it is, or until the fix in the message): fail it.
    Failed(String),
}
use Outcome::{Failed, Lost};

fn failed(e: Error) -> Outcome {
    Failed(e.to_string())
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::seconds(60))
}

fn short_random() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{nanos:08x}")
}
