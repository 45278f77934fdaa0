//! Conformance checks of [`RagStore`](crate::store::RagStore): one async check per contract
//! bullet, run by every backend through [`conformance_suite!`](crate::conformance_suite).
//!
//! Vectors have 384 dimensions (the stores' dimension) and are made by hand from unit vectors,
//! so every expected score and order is known exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{
    IdOrder, assert_paged_by_id, assert_paged_in_id_order, at, create_run, expect_conflict,
    expect_not_found, rows_to_add, total,
};
use crate::domain::{
    ApprovalStatus, ChunkHit, ChunkSearch, ClaimUpload, Document, FailUpload, IngestedDocument,
    LeaseState, NewChunk, NewRetrievalEvent, NewUpload, PageRequest, Timestamp, Upload,
    UploadProgress, UploadQuery, UploadStatus,
};
use crate::testing::vectors::{DIMENSION as DIM, VectorRng, axis, blend, exact_top};
use crate::{Error, Store};

/// The model most checks store vectors under.
const MODEL: &str = "conformance-model";

// ---------------------------------------------------------------------------------------------
// Helpers

/// A SHA-256-shaped hex string, distinct per `n`.
fn sha(n: u64) -> String {
    format!("{n:064x}")
}

fn new_upload(n: u64, at_s: i64) -> NewUpload {
    NewUpload {
        filename: format!("notes-{n}.txt"),
        mime_type: "text/plain".into(),
        size_bytes: 100 + n as i64,
        sha256: sha(n),
        stored_path: format!("{}/{}", &sha(n)[..2], sha(n)),
        now: at(at_s),
    }
}

async fn upload(store: &dyn Store, n: u64) -> Upload {
    let created = store.create_upload(new_upload(n, n as i64)).await.unwrap();
    assert!(created.created, "upload {n} is new");
    created.upload
}

/// A claim by `owner` at `at(now_s)`: five-minute lease, three attempts.
fn claim(owner: &str, now_s: i64) -> ClaimUpload {
    ClaimUpload {
        owner: owner.into(),
        now: at(now_s),
        lease: chrono::Duration::minutes(5),
        max_attempts: 3,
    }
}

/// Claims the next upload, which must exist.
async fn claim_next(store: &dyn Store, owner: &str, now_s: i64) -> Upload {
    store
        .claim_upload(claim(owner, now_s))
        .await
        .unwrap()
        .expect("an upload to claim")
}

/// `owner`'s progress report on `upload_id`: `done` of `total` chunks, lease until `until_s`.
fn progress(
    upload_id: i64,
    owner: &str,
    (done, total): (i32, i32),
    until_s: i64,
) -> UploadProgress {
    UploadProgress {
        upload_id,
        owner: owner.into(),
        chunks_done: done,
        chunks_total: total,
        lease_until: at(until_s),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    (dot / (na * nb)) as f32
}

fn chunk(text: &str, vector: Vec<f32>) -> NewChunk {
    NewChunk {
        text: text.into(),
        word_count: text.split_whitespace().count() as i32,
        vector,
    }
}

fn ingested(upload: &Upload, owner: &str, model: &str, chunks: Vec<NewChunk>) -> IngestedDocument {
    IngestedDocument {
        upload_id: upload.id,
        owner: owner.into(),
        title: format!("Title of {}", upload.filename),
        source: upload.filename.clone(),
        model_id: model.into(),
        chunks,
        now: at(1_000 + upload.id),
    }
}

/// Creates upload `n`, claims it and completes it with `vectors` under `model` (chunk `i`'s
/// text is "upload {n} chunk {i} text"), as one ready document. Every earlier upload in the
/// store must be finished, so the claim takes this one. Stores' own tests use it too.
pub async fn ready_document(
    store: &dyn Store,
    n: u64,
    model: &str,
    vectors: Vec<Vec<f32>>,
) -> (Upload, Document) {
    let created = upload(store, n).await;
    let claimed = claim_next(store, "ingester", n as i64).await;
    assert_eq!(claimed.id, created.id, "the only queued upload is claimed");
    let chunks = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| chunk(&format!("upload {n} chunk {i} text"), v))
        .collect();
    let document = store
        .complete_upload(ingested(&claimed, "ingester", model, chunks))
        .await
        .unwrap();
    (store.get_upload(created.id).await.unwrap(), document)
}

fn search(model: &str, vector: Vec<f32>, top_k: usize) -> ChunkSearch {
    ChunkSearch {
        model_id: model.into(),
        vector,
        top_k,
        document_ids: vec![],
        upload_ids: vec![],
        min_score: None,
    }
}

async fn hits(store: &Arc<dyn Store>, query: ChunkSearch) -> Vec<ChunkHit> {
    store.search_chunks(query).await.unwrap()
}

/// `(document id, chunk index)` of each hit, in order.
fn positions(hits: &[ChunkHit]) -> Vec<(i64, i32)> {
    hits.iter()
        .map(|h| (h.document_id, h.chunk_index))
        .collect()
}

/// Asserts the hits are sorted by score descending, then chunk id.
#[track_caller]
fn assert_ranked(hits: &[ChunkHit]) {
    for pair in hits.windows(2) {
        assert!(
            pair[0].score > pair[1].score
                || (pair[0].score == pair[1].score && pair[0].chunk_id < pair[1].chunk_id),
            "hits sorted by score then chunk id: {:?}",
            hits.iter()
                .map(|h| (h.chunk_id, h.score))
                .collect::<Vec<_>>()
        );
    }
}

#[track_caller]
fn assert_close(actual: f32, expected: f32, context: &str) {
    assert!(
        (actual - expected).abs() < 1e-4,
        "{context}: score {actual}, expected {expected}"
    );
}

#[track_caller]
fn expect_invalid_input<T: std::fmt::Debug>(result: crate::Result<T>, context: &str) {
    match result {
        Err(Error::InvalidInput(_)) => {}
        other => panic!("{context}: expected InvalidInput, got {other:?}"),
    }
}

async fn document_count(store: &Arc<dyn Store>) -> u64 {
    store
        .list_documents(PageRequest::first(1))
        .await
        .unwrap()
        .count
}

// ---------------------------------------------------------------------------------------------
// Uploads

/// - `create_upload` inserts a `queued` upload with `attempts = 0`, `chunks_done = 0`, no total
///   and `created = true`; `get_upload` returns it.
pub async fn rag_upload_create_then_get(store: Arc<dyn Store>) {
    let new = new_upload(1, 5);
    let created = store.create_upload(new.clone()).await.unwrap();
    assert!(created.created);
    let upload = created.upload;
    assert_eq!(upload.filename, new.filename);
    assert_eq!(upload.mime_type, new.mime_type);
    assert_eq!(upload.size_bytes, new.size_bytes);
    assert_eq!(upload.sha256, new.sha256);
    assert_eq!(upload.stored_path, new.stored_path);
    assert_eq!(upload.status, UploadStatus::Queued);
    assert_eq!(upload.attempts, 0);
    assert_eq!(upload.chunks_done, 0);
    assert_eq!(upload.chunks_total, None);
    assert_eq!(upload.error_message, None);
    assert_eq!(upload.lease_owner, None);
    assert_eq!(upload.lease_until, None);
    assert_eq!(upload.uploaded_at, at(5));
    assert_eq!(upload.processed_at, None);
    assert_eq!(store.get_upload(upload.id).await.unwrap(), upload);
}

/// - The same `sha256` again returns the existing upload with `created = false` and writes
///   nothing; a `failed` one is re-queued (attempts, error, lease and progress cleared).
pub async fn rag_upload_same_sha_returns_existing_and_requeues_failed(store: Arc<dyn Store>) {
    let first = upload(&*store, 1).await;
    let mut again = new_upload(1, 50);
    again.filename = "renamed.txt".into();
    let repeated = store.create_upload(again.clone()).await.unwrap();
    assert!(!repeated.created, "same bytes: not created");
    assert_eq!(repeated.upload, first, "the existing upload, unchanged");
    let listed = store.list_uploads(UploadQuery::default()).await.unwrap();
    assert_eq!(listed.count, 1, "nothing written");

    // A processing upload is returned as it is.
    let claimed = claim_next(&*store, "w", 10).await;
    let repeated = store.create_upload(again.clone()).await.unwrap();
    assert!(!repeated.created);
    assert_eq!(repeated.upload, claimed);

    // A failed one is queued again.
    store
        .fail_upload(FailUpload {
            upload_id: first.id,
            owner: "w".into(),
            message: "broken".into(),
            now: at(20),
        })
        .await
        .unwrap();
    let repeated = store.create_upload(again).await.unwrap();
    assert!(!repeated.created);
    let requeued = repeated.upload;
    assert_eq!(requeued.id, first.id);
    assert_eq!(requeued.status, UploadStatus::Queued);
    assert_eq!(requeued.attempts, 0);
    assert_eq!(requeued.error_message, None);
    assert_eq!(requeued.lease_owner, None);
    assert_eq!(requeued.lease_until, None);
    assert_eq!(requeued.chunks_done, 0);
    assert_eq!(requeued.chunks_total, None);
    assert_eq!(
        requeued.filename, first.filename,
        "the original name is kept"
    );
    assert_eq!(store.get_upload(first.id).await.unwrap(), requeued);
}

/// - `list_uploads` pages newest first with the total count, optionally of one status.
pub async fn rag_upload_list_newest_first_with_status_filter(store: Arc<dyn Store>) {
    let list = |page| {
        let store = store.clone();
        async move {
            store
                .list_uploads(UploadQuery { status: None, page })
                .await
                .map(|p| p.map(|u| u.id))
        }
    };
    let added = rows_to_add(total(&list).await);
    let mut ids = Vec::new();
    for n in 0..added as u64 {
        ids.push(upload(&*store, n + 1).await.id);
    }
    assert_paged_by_id("uploads", list, IdOrder::Descending).await;

    // The oldest is processing, the next failed, the rest queued.
    let processing = claim_next(&*store, "w", 10).await;
    assert_eq!(processing.id, ids[0]);
    let failing = claim_next(&*store, "w", 11).await;
    store
        .fail_upload(FailUpload {
            upload_id: failing.id,
            owner: "w".into(),
            message: "bad".into(),
            now: at(12),
        })
        .await
        .unwrap();
    for (status, expected) in [
        (UploadStatus::Processing, vec![ids[0]]),
        (UploadStatus::Failed, vec![ids[1]]),
        (
            UploadStatus::Queued,
            ids[2..].iter().rev().copied().collect(),
        ),
        (UploadStatus::Ready, vec![]),
    ] {
        let page = store
            .list_uploads(UploadQuery {
                status: Some(status),
                page: PageRequest::first(200),
            })
            .await
            .unwrap();
        assert_eq!(page.count, expected.len() as u64, "{status:?} count");
        assert!(page.items.iter().all(|u| u.status == status), "{status:?}");
        assert_eq!(
            page.items.iter().map(|u| u.id).collect::<Vec<_>>(),
            expected,
            "{status:?}, newest first"
        );
    }
    let queued_page = store
        .list_uploads(UploadQuery {
            status: Some(UploadStatus::Queued),
            page: PageRequest::new(2, 2).unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(queued_page.count, (ids.len() - 2) as u64);
    assert_eq!(
        queued_page.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        ids[2..]
            .iter()
            .rev()
            .skip(2)
            .take(2)
            .copied()
            .collect::<Vec<_>>(),
        "a filtered page"
    );
}

/// - An unknown upload id is `NotFound` for get, delete, retry, complete and fail.
pub async fn rag_upload_unknown_id_is_not_found(store: Arc<dyn Store>) {
    expect_not_found(store.get_upload(999_999).await, "get");
    expect_not_found(store.delete_upload(999_999).await, "delete");
    expect_not_found(store.retry_upload(999_999).await, "retry");
    let ghost = Upload {
        id: 999_999,
        ..upload(&*store, 1).await
    };
    expect_not_found(
        store
            .complete_upload(ingested(&ghost, "w", MODEL, vec![chunk("x", axis(0))]))
            .await,
        "complete",
    );
    expect_not_found(
        store
            .fail_upload(FailUpload {
                upload_id: 999_999,
                owner: "w".into(),
                message: "m".into(),
                now: at(1),
            })
            .await,
        "fail",
    );
}

/// - `retry_upload` puts a `failed` upload back to `queued` with attempts, error, lease and
///   progress cleared; any other status is `Conflict`.
pub async fn rag_upload_retry_requeues_only_failed(store: Arc<dyn Store>) {
    let queued = upload(&*store, 1).await;
    expect_conflict(store.retry_upload(queued.id).await, "retry queued");
    let claimed = claim_next(&*store, "w", 10).await;
    expect_conflict(store.retry_upload(claimed.id).await, "retry processing");
    store
        .report_upload_progress(progress(claimed.id, "w", (2, 5), 400))
        .await
        .unwrap();
    store
        .fail_upload(FailUpload {
            upload_id: claimed.id,
            owner: "w".into(),
            message: "extraction failed".into(),
            now: at(20),
        })
        .await
        .unwrap();
    let retried = store.retry_upload(claimed.id).await.unwrap();
    assert_eq!(retried.status, UploadStatus::Queued);
    assert_eq!(retried.attempts, 0);
    assert_eq!(retried.error_message, None);
    assert_eq!(retried.lease_owner, None);
    assert_eq!(retried.lease_until, None);
    assert_eq!(retried.chunks_done, 0);
    assert_eq!(retried.chunks_total, None);
    assert_eq!(store.get_upload(claimed.id).await.unwrap(), retried);
    assert_eq!(claim_next(&*store, "w2", 30).await.id, claimed.id);

    store
        .fail_upload(FailUpload {
            upload_id: claimed.id,
            owner: "w2".into(),
            message: "again".into(),
            now: at(31),
        })
        .await
        .unwrap();
    let (done, _) = ready_document(&*store, 2, MODEL, vec![axis(0)]).await;
    expect_conflict(store.retry_upload(done.id).await, "retry ready");
}

// ---------------------------------------------------------------------------------------------
// Claims

/// - The oldest `queued` upload is claimed first: `processing`, leased to the owner until
///   `now + lease`, `attempts + 1`, progress reset.
pub async fn rag_claim_takes_oldest_queued_first(store: Arc<dyn Store>) {
    let first = upload(&*store, 1).await;
    let second = upload(&*store, 2).await;
    let claimed = claim_next(&*store, "ingester-a", 10).await;
    assert_eq!(claimed.id, first.id, "oldest first");
    assert_eq!(claimed.status, UploadStatus::Processing);
    assert_eq!(claimed.lease_owner.as_deref(), Some("ingester-a"));
    assert_eq!(
        claimed.lease_until,
        Some(at(10) + chrono::Duration::minutes(5))
    );
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.chunks_done, 0);
    assert_eq!(claimed.chunks_total, None);
    assert_eq!(store.get_upload(first.id).await.unwrap(), claimed);
    assert_eq!(claim_next(&*store, "ingester-b", 11).await.id, second.id);
}

/// - A `processing` upload whose lease ended before `now` is claimed again (`attempts + 1`,
///   progress reset), and only then; its old owner has lost it.
pub async fn rag_claim_reclaims_expired_lease(store: Arc<dyn Store>) {
    let created = upload(&*store, 1).await;
    let first = claim_next(&*store, "old", 10).await;
    store
        .report_upload_progress(progress(first.id, "old", (3, 9), 100))
        .await
        .unwrap();
    assert_eq!(
        store.claim_upload(claim("new", 100)).await.unwrap(),
        None,
        "a lease ending exactly now is not expired"
    );
    let again = claim_next(&*store, "new", 101).await;
    assert_eq!(again.id, created.id);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.lease_owner.as_deref(), Some("new"));
    assert_eq!(
        again.lease_until,
        Some(at(101) + chrono::Duration::minutes(5))
    );
    assert_eq!(again.chunks_done, 0, "progress reset");
    assert_eq!(again.chunks_total, None, "progress reset");
    assert_eq!(
        store
            .report_upload_progress(progress(created.id, "old", (4, 9), 500))
            .await
            .unwrap(),
        LeaseState::Lost
    );
}

/// - An expired upload that already had `max_attempts` attempts is failed instead ("…(lease
///   expired)"), and the next candidate is claimed.
pub async fn rag_claim_fails_expired_at_max_attempts(store: Arc<dyn Store>) {
    let stuck = upload(&*store, 1).await;
    let mut limited = claim("w1", 10);
    limited.max_attempts = 2;
    assert_eq!(
        store
            .claim_upload(limited.clone())
            .await
            .unwrap()
            .unwrap()
            .attempts,
        1
    );
    limited.now = at(1_000);
    assert_eq!(
        store
            .claim_upload(limited.clone())
            .await
            .unwrap()
            .unwrap()
            .attempts,
        2
    );
    let next = upload(&*store, 2).await;

    limited.now = at(2_000);
    let claimed = store.claim_upload(limited.clone()).await.unwrap().unwrap();
    assert_eq!(claimed.id, next.id, "the next candidate is claimed");
    let failed = store.get_upload(stuck.id).await.unwrap();
    assert_eq!(failed.status, UploadStatus::Failed);
    let message = failed.error_message.expect("an error message");
    assert!(message.contains("lease expired"), "{message}");
    assert!(message.chars().count() <= 1000);
    assert_eq!(failed.lease_owner, None);
    assert_eq!(failed.lease_until, None);
    assert_eq!(failed.attempts, 2);
    assert_eq!(failed.processed_at, Some(at(2_000)));
}

/// - `None` when nothing is claimable: no uploads, only leased ones, only finished ones.
pub async fn rag_claim_returns_none_when_nothing_claimable(store: Arc<dyn Store>) {
    assert_eq!(store.claim_upload(claim("w", 0)).await.unwrap(), None);
    ready_document(&*store, 1, MODEL, vec![axis(0)]).await;
    upload(&*store, 2).await;
    claim_next(&*store, "w", 10).await;
    assert_eq!(
        store.claim_upload(claim("w", 20)).await.unwrap(),
        None,
        "one ready, one leased"
    );
}

/// Races `claimers` tasks over `stores` (one store, or several pools or processes' worth on one
/// database), each claiming uploads until none is left. Asserts that no upload was claimed twice
/// and exactly `expected` were claimed; returns each upload's claimer.
pub async fn race_upload_claimers(
    stores: &[Arc<dyn Store>],
    claimers: usize,
    now: Timestamp,
    expected: &BTreeSet<i64>,
) -> BTreeMap<i64, String> {
    assert!(!stores.is_empty(), "the race needs at least one store");
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..claimers {
        let store = stores[worker % stores.len()].clone();
        let owner = format!("store-{}-ingester-{worker}", worker % stores.len());
        tasks.spawn(async move {
            let mut mine = Vec::new();
            while let Some(upload) = store
                .claim_upload(ClaimUpload {
                    owner: owner.clone(),
                    now,
                    lease: chrono::Duration::minutes(5),
                    max_attempts: 3,
                })
                .await
                .expect("claim")
            {
                assert_eq!(upload.lease_owner.as_deref(), Some(owner.as_str()));
                mine.push((upload.id, owner.clone()));
            }
            mine
        });
    }
    let mut claimed = Vec::new();
    while let Some(result) = tasks.join_next().await {
        claimed.extend(result.expect("claimer task"));
    }
    let unique: BTreeSet<i64> = claimed.iter().map(|(id, _)| *id).collect();
    assert_eq!(unique.len(), claimed.len(), "no upload was claimed twice");
    assert_eq!(
        &unique, expected,
        "exactly the expected uploads were claimed"
    );
    claimed.into_iter().collect()
}

/// - Concurrent claimers never receive the same upload: 16 claimers over 40 uploads claim each
///   exactly once.
pub async fn rag_claim_concurrent_claimers_take_each_upload_once(store: Arc<dyn Store>) {
    let mut all = BTreeSet::new();
    for n in 0..40 {
        all.insert(upload(&*store, n + 1).await.id);
    }
    let owners = race_upload_claimers(std::slice::from_ref(&store), 16, at(100), &all).await;
    for id in all {
        let upload = store.get_upload(id).await.unwrap();
        assert_eq!(upload.attempts, 1, "upload {id} claimed once");
        assert_eq!(
            upload.lease_owner.as_ref(),
            owners.get(&id),
            "upload {id} owner"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Progress, completion and failure

/// - While `owner` holds the lease: progress stored, lease extended, `Held`. Otherwise (another
///   owner, expired and reclaimed, finished, deleted) `Lost` and nothing written.
pub async fn rag_progress_held_only_while_owner(store: Arc<dyn Store>) {
    let created = upload(&*store, 1).await;
    claim_next(&*store, "w", 10).await;
    assert_eq!(
        store
            .report_upload_progress(progress(created.id, "w", (3, 8), 400))
            .await
            .unwrap(),
        LeaseState::Held
    );
    let held = store.get_upload(created.id).await.unwrap();
    assert_eq!((held.chunks_done, held.chunks_total), (3, Some(8)));
    assert_eq!(held.lease_until, Some(at(400)));

    assert_eq!(
        store
            .report_upload_progress(progress(created.id, "intruder", (5, 8), 900))
            .await
            .unwrap(),
        LeaseState::Lost
    );
    assert_eq!(
        store.get_upload(created.id).await.unwrap(),
        held,
        "nothing written"
    );

    // Expired and reclaimed.
    claim_next(&*store, "w2", 401).await;
    assert_eq!(
        store
            .report_upload_progress(progress(created.id, "w", (6, 8), 900))
            .await
            .unwrap(),
        LeaseState::Lost
    );
    let reclaimed = store.get_upload(created.id).await.unwrap();
    assert_eq!(reclaimed.chunks_done, 0);
    assert_eq!(reclaimed.lease_owner.as_deref(), Some("w2"));

    // Finished.
    store
        .complete_upload(ingested(&reclaimed, "w2", MODEL, vec![chunk("x", axis(0))]))
        .await
        .unwrap();
    assert_eq!(
        store
            .report_upload_progress(progress(created.id, "w2", (1, 8), 900))
            .await
            .unwrap(),
        LeaseState::Lost
    );
    assert_eq!(store.get_upload(created.id).await.unwrap().chunks_done, 1);

    // Deleted.
    let other = upload(&*store, 2).await;
    claim_next(&*store, "w3", 20).await;
    store.delete_upload(other.id).await.unwrap();
    assert_eq!(
        store
            .report_upload_progress(progress(other.id, "w3", (1, 2), 900))
            .await
            .unwrap(),
        LeaseState::Lost
    );
}

/// - `complete_upload` stores the document, its chunks (`chunk_index` 0, 1, …) and one vector
///   per chunk under `model_id`; the upload becomes `ready` with `processed_at`, lease cleared,
///   `chunks_done = chunks_total = chunks.len()`.
pub async fn rag_complete_stores_document_chunks_and_vectors(store: Arc<dyn Store>) {
    let created = upload(&*store, 1).await;
    let claimed = claim_next(&*store, "w", 10).await;
    let vectors = [axis(0), axis(1), axis(2)];
    let chunks = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| chunk(&format!("chunk number {i} ünïcödé"), v.clone()))
        .collect();
    let mut work = ingested(&claimed, "w", MODEL, chunks);
    work.title = "Runbook".into();
    work.source = "runbook.md".into();
    work.now = at(60);
    let document = store.complete_upload(work).await.unwrap();
    assert_eq!(document.upload_id, created.id);
    assert_eq!(document.title, "Runbook");
    assert_eq!(document.source, "runbook.md");
    assert_eq!(document.created_at, at(60));

    let done = store.get_upload(created.id).await.unwrap();
    assert_eq!(done.status, UploadStatus::Ready);
    assert_eq!(done.processed_at, Some(at(60)));
    assert_eq!(done.lease_owner, None);
    assert_eq!(done.lease_until, None);
    assert_eq!(done.error_message, None);
    assert_eq!((done.chunks_done, done.chunks_total), (3, Some(3)));
    assert_eq!(done.attempts, 1);

    let documents = store.list_documents(PageRequest::first(50)).await.unwrap();
    assert_eq!(documents.count, 1);
    assert_eq!(documents.items[0].document, document);
    assert_eq!(documents.items[0].chunk_count, 3);

    for (i, vector) in vectors.iter().enumerate() {
        let found = hits(&store, search(MODEL, vector.clone(), 1)).await;
        assert_eq!(found.len(), 1);
        let hit = &found[0];
        assert_eq!(hit.chunk_index, i as i32, "chunk {i} has its vector");
        assert_eq!(hit.chunk_text, format!("chunk number {i} ünïcödé"));
        assert_eq!(hit.document_id, document.id);
        assert_eq!(hit.document_title, "Runbook");
        assert_eq!(hit.document_source, "runbook.md");
        assert_eq!(hit.upload_id, created.id);
        assert_close(hit.score, 1.0, "the chunk's own vector");
    }
}

/// - Completing an upload not held by `owner` (another owner, or not `processing`) is
///   `Conflict` and writes nothing.
pub async fn rag_complete_without_the_lease_is_conflict_and_writes_nothing(store: Arc<dyn Store>) {
    let queued = upload(&*store, 1).await;
    expect_conflict(
        store
            .complete_upload(ingested(&queued, "w", MODEL, vec![chunk("a", axis(0))]))
            .await,
        "complete a queued upload",
    );
    let claimed = claim_next(&*store, "w", 10).await;
    expect_conflict(
        store
            .complete_upload(ingested(
                &claimed,
                "other",
                MODEL,
                vec![chunk("a", axis(0))],
            ))
            .await,
        "complete another owner's upload",
    );
    assert_eq!(document_count(&store).await, 0, "no document written");
    assert_eq!(store.get_upload(claimed.id).await.unwrap(), claimed);
    assert!(hits(&store, search(MODEL, axis(0), 5)).await.is_empty());

    store
        .complete_upload(ingested(&claimed, "w", MODEL, vec![chunk("a", axis(0))]))
        .await
        .unwrap();
    expect_conflict(
        store
            .complete_upload(ingested(&claimed, "w", MODEL, vec![chunk("b", axis(1))]))
            .await,
        "complete a ready upload again",
    );
    assert_eq!(document_count(&store).await, 1);
}

/// - An upload deleted while its ingestion holds the lease fails to complete with `NotFound`.
pub async fn rag_complete_after_delete_is_not_found(store: Arc<dyn Store>) {
    upload(&*store, 1).await;
    let claimed = claim_next(&*store, "w", 10).await;
    let deleted = store.delete_upload(claimed.id).await.unwrap();
    assert_eq!(deleted, claimed, "delete returns what it deleted");
    expect_not_found(
        store
            .complete_upload(ingested(&claimed, "w", MODEL, vec![chunk("a", axis(0))]))
            .await,
        "complete a deleted upload",
    );
    assert_eq!(document_count(&store).await, 0);
    assert!(hits(&store, search(MODEL, axis(0), 5)).await.is_empty());
}

/// - A vector of the wrong dimension is `InvalidInput`, and nothing is written.
pub async fn rag_complete_wrong_dimension_is_invalid_and_writes_nothing(store: Arc<dyn Store>) {
    upload(&*store, 1).await;
    let claimed = claim_next(&*store, "w", 10).await;
    let short = vec![0.5f32; DIM - 1];
    expect_invalid_input(
        store
            .complete_upload(ingested(
                &claimed,
                "w",
                MODEL,
                vec![chunk("fine", axis(0)), chunk("short", short)],
            ))
            .await,
        "a 383-dimension vector",
    );
    assert_eq!(document_count(&store).await, 0);
    assert_eq!(store.get_upload(claimed.id).await.unwrap(), claimed);
    assert!(hits(&store, search(MODEL, axis(0), 5)).await.is_empty());
}

/// - `fail_upload` while holding the lease: `failed`, message cut to 1000 characters, lease
///   cleared, `processed_at = now`. Without the lease `Conflict`.
pub async fn rag_fail_cuts_message_and_needs_the_lease(store: Arc<dyn Store>) {
    let queued = upload(&*store, 1).await;
    let fail = |owner: &str, message: String| FailUpload {
        upload_id: queued.id,
        owner: owner.into(),
        message,
        now: at(70),
    };
    expect_conflict(
        store.fail_upload(fail("w", "x".into())).await,
        "fail a queued upload",
    );
    claim_next(&*store, "w", 10).await;
    expect_conflict(
        store.fail_upload(fail("other", "x".into())).await,
        "fail another owner's upload",
    );
    assert_eq!(
        store.get_upload(queued.id).await.unwrap().status,
        UploadStatus::Processing
    );
    let long = "é".repeat(1500);
    let failed = store.fail_upload(fail("w", long)).await.unwrap();
    assert_eq!(failed.status, UploadStatus::Failed);
    assert_eq!(failed.error_message, Some("é".repeat(1000)));
    assert_eq!(failed.lease_owner, None);
    assert_eq!(failed.lease_until, None);
    assert_eq!(failed.processed_at, Some(at(70)));
    assert_eq!(store.get_upload(queued.id).await.unwrap(), failed);
    expect_conflict(
        store.fail_upload(fail("w", "again".into())).await,
        "fail a failed upload",
    );
}

/// - `list_documents` pages documents by id with their chunk counts and the total count.
pub async fn rag_documents_list_with_chunk_counts(store: Arc<dyn Store>) {
    let list = |page| {
        let store = store.clone();
        async move {
            store
                .list_documents(page)
                .await
                .map(|p| p.map(|d| d.document.id))
        }
    };
    let added = rows_to_add(total(&list).await);
    let mut counts = BTreeMap::new();
    for n in 0..added {
        let vectors = (0..n % 4).map(axis).collect();
        let (_, document) = ready_document(&*store, n as u64 + 1, MODEL, vectors).await;
        counts.insert(document.id, (n % 4) as i64);
    }
    assert_paged_in_id_order("documents", list).await;
    let page = store.list_documents(PageRequest::first(200)).await.unwrap();
    for info in page.items {
        assert_eq!(
            Some(&info.chunk_count),
            counts.get(&info.document.id),
            "document {}",
            info.document.id
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Search

/// - Hits are sorted by cosine score descending, then chunk id; `top_k` cuts the list.
pub async fn rag_search_orders_by_score_then_chunk_id(store: Arc<dyn Store>) {
    let query = axis(0);
    let vectors = vec![
        axis(1),                      // 0
        blend(&[(0, 1.0), (1, 1.0)]), // 0.707
        axis(0),                      // 1
        blend(&[(0, 1.0), (1, 1.0)]), // 0.707, a later chunk
        blend(&[(0, -1.0)]),          // -1
        blend(&[(0, 1.0), (2, 0.5)]), // 0.894
    ];
    let (_, document) = ready_document(&*store, 1, MODEL, vectors.clone()).await;
    let found = hits(&store, search(MODEL, query.clone(), 10)).await;
    assert_eq!(
        positions(&found),
        [2, 5, 1, 3, 0, 4].map(|i| (document.id, i)).to_vec()
    );
    assert_ranked(&found);
    for hit in &found {
        let expected = cosine(&query, &vectors[hit.chunk_index as usize]);
        assert_close(hit.score, expected, "cosine similarity");
    }
    assert_eq!(
        found[2].score, found[3].score,
        "identical vectors score alike"
    );
    assert!(found[2].chunk_id < found[3].chunk_id, "ties by chunk id");

    let top = hits(&store, search(MODEL, query, 3)).await;
    assert_eq!(top, found[..3].to_vec(), "top_k cuts the same list");
}

/// - `min_score` keeps only hits scoring at least it.
pub async fn rag_search_min_score_drops_weak_hits(store: Arc<dyn Store>) {
    let vectors = vec![
        axis(0),
        blend(&[(0, 1.0), (1, 1.0)]),
        axis(1),
        blend(&[(0, -1.0), (1, 0.2)]),
    ];
    let (_, document) = ready_document(&*store, 1, MODEL, vectors).await;
    let mut query = search(MODEL, axis(0), 10);
    query.min_score = Some(0.5);
    let found = hits(&store, query.clone()).await;
    assert_eq!(positions(&found), vec![(document.id, 0), (document.id, 1)]);
    assert!(found.iter().all(|h| h.score >= 0.5));
    query.min_score = Some(-0.5);
    assert_eq!(hits(&store, query.clone()).await.len(), 3);
    query.min_score = Some(1.5);
    assert!(hits(&store, query).await.is_empty());
}

/// - Document and upload filters (all must hold) never make a search return fewer than `top_k`
///   hits when that many match, even when the matching chunks are far from the query and
///   hundreds of others are near it.
pub async fn rag_search_filters_fill_top_k_among_many_nearer_chunks(store: Arc<dyn Store>) {
    // 20 documents × 10 chunks close to axis 0.
    let mut near_documents = Vec::new();
    for n in 0..20u64 {
        let vectors = (0..10)
            .map(|i| blend(&[(0, 1.0), (3 + (n as usize * 10 + i) % 370, 0.2)]))
            .collect();
        near_documents.push(ready_document(&*store, n + 1, MODEL, vectors).await);
    }
    // One document whose 10 chunks are nearly orthogonal to axis 0.
    let far_vectors: Vec<Vec<f32>> = (0..10)
        .map(|i| blend(&[(1, 1.0), (0, 0.01 * (i + 1) as f32), (2, 0.1 * i as f32)]))
        .collect();
    let (far_upload, far_document) = ready_document(&*store, 100, MODEL, far_vectors.clone()).await;
    let query = axis(0);

    let unfiltered = hits(&store, search(MODEL, query.clone(), 5)).await;
    assert_eq!(unfiltered.len(), 5);
    assert!(unfiltered.iter().all(|h| h.document_id != far_document.id));

    let mut expected: Vec<(usize, f32)> = far_vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i, cosine(&query, v)))
        .collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    let expected: Vec<(i64, i32)> = expected[..5]
        .iter()
        .map(|(i, _)| (far_document.id, *i as i32))
        .collect();

    let mut by_document = search(MODEL, query.clone(), 5);
    by_document.document_ids = vec![far_document.id];
    let found = hits(&store, by_document.clone()).await;
    assert_eq!(positions(&found), expected, "filtered by document");
    assert_ranked(&found);

    let mut by_upload = search(MODEL, query.clone(), 5);
    by_upload.upload_ids = vec![far_upload.id];
    assert_eq!(
        positions(&hits(&store, by_upload).await),
        expected,
        "filtered by upload"
    );

    let mut both = by_document.clone();
    both.upload_ids = vec![far_upload.id];
    assert_eq!(
        positions(&hits(&store, both.clone()).await),
        expected,
        "both filters"
    );
    both.upload_ids = vec![near_documents[0].0.id];
    assert!(
        hits(&store, both).await.is_empty(),
        "filters must all hold: that document is not of that upload"
    );

    let mut all_far = by_document.clone();
    all_far.top_k = 50;
    let found = hits(&store, all_far).await;
    assert_eq!(
        found.len(),
        10,
        "every matching chunk when fewer than top_k match"
    );
    assert!(found.iter().all(|h| h.document_id == far_document.id));

    let mut mixed = search(MODEL, query, 12);
    mixed.document_ids = vec![far_document.id, near_documents[3].1.id];
    let found = hits(&store, mixed).await;
    assert_eq!(found.len(), 12);
    assert!(
        found[..10]
            .iter()
            .all(|h| h.document_id == near_documents[3].1.id),
        "the near document's chunks first"
    );
    assert!(found[10..].iter().all(|h| h.document_id == far_document.id));
    assert_ranked(&found);
}

/// - A search only considers vectors of its `model_id`; a model without vectors is an empty
///   list, not an error.
pub async fn rag_search_is_isolated_by_model(store: Arc<dyn Store>) {
    let (_, a) = ready_document(&*store, 1, "model-a", vec![axis(0), axis(1)]).await;
    let (_, b) = ready_document(&*store, 2, "model-b", vec![axis(0)]).await;
    let found = hits(&store, search("model-a", axis(0), 10)).await;
    assert_eq!(positions(&found), vec![(a.id, 0), (a.id, 1)]);
    let found = hits(&store, search("model-b", axis(0), 10)).await;
    assert_eq!(positions(&found), vec![(b.id, 0)]);
    assert!(
        hits(&store, search("model-c", axis(0), 10))
            .await
            .is_empty()
    );
}

/// - A store without vectors answers every search with an empty list.
pub async fn rag_search_empty_store_is_empty(store: Arc<dyn Store>) {
    assert!(hits(&store, search(MODEL, axis(0), 5)).await.is_empty());
    let mut filtered = search(MODEL, axis(0), 5);
    filtered.document_ids = vec![1, 2];
    filtered.upload_ids = vec![3];
    assert!(hits(&store, filtered).await.is_empty());
    upload(&*store, 1).await;
    assert!(hits(&store, search(MODEL, axis(0), 5)).await.is_empty());
}

/// - Deleting an upload removes its document, chunks and vectors: later searches never return
///   them and still fill `top_k` from what is left.
pub async fn rag_search_never_returns_deleted_chunks(store: Arc<dyn Store>) {
    let (near, near_document) = ready_document(
        &*store,
        1,
        MODEL,
        (0..3).map(|i| blend(&[(0, 1.0), (5 + i, 0.1)])).collect(),
    )
    .await;
    let (_, far_document) = ready_document(
        &*store,
        2,
        MODEL,
        (0..4).map(|i| blend(&[(0, 1.0), (20 + i, 1.0)])).collect(),
    )
    .await;
    let before = hits(&store, search(MODEL, axis(0), 3)).await;
    assert!(before.iter().all(|h| h.document_id == near_document.id));

    let deleted = store.delete_upload(near.id).await.unwrap();
    assert_eq!(deleted.id, near.id);
    expect_not_found(store.get_upload(near.id).await, "deleted upload");
    let documents = store.list_documents(PageRequest::first(50)).await.unwrap();
    assert_eq!(
        documents
            .items
            .iter()
            .map(|d| d.document.id)
            .collect::<Vec<_>>(),
        vec![far_document.id]
    );
    let after = hits(&store, search(MODEL, axis(0), 3)).await;
    assert_eq!(after.len(), 3, "top_k still filled");
    assert!(after.iter().all(|h| h.document_id == far_document.id));
    let mut filtered = search(MODEL, axis(0), 3);
    filtered.document_ids = vec![near_document.id];
    assert!(hits(&store, filtered).await.is_empty());
    let mut filtered = search(MODEL, axis(0), 3);
    filtered.upload_ids = vec![near.id];
    assert!(hits(&store, filtered).await.is_empty());
}

/// - Unfiltered search through the vector index finds the true nearest chunks: recall@10
///   against exact search is at least 0.9 on clustered vectors (documents of related chunks,
///   stored one upload at a time as the ingester does). An index that returns plausible but
///   wrong neighbours fails here, not only in the benchmark.
pub async fn rag_search_index_recall_against_exact_search(store: Arc<dyn Store>) {
    const DOCUMENTS: u64 = 30;
    const CHUNKS: usize = 100;
    const QUERIES: usize = 40;
    const TOP_K: usize = 10;
    let mut rng = VectorRng::new(7);
    let data = rng.clustered(DOCUMENTS as usize * CHUNKS, CHUNKS, 0.08);
    let mut document_ids = Vec::new();
    for (n, vectors) in (1..=DOCUMENTS).zip(data.chunks(CHUNKS)) {
        document_ids.push(
            ready_document(&*store, n, MODEL, vectors.to_vec())
                .await
                .1
                .id,
        );
    }
    let mut recall = 0.0;
    for q in 0..QUERIES {
        let query = rng.near(&data[(q * 7919) % data.len()], 0.05);
        let found: BTreeSet<usize> = hits(&store, search(MODEL, query.clone(), TOP_K))
            .await
            .iter()
            .map(|h| {
                let document = document_ids
                    .iter()
                    .position(|id| *id == h.document_id)
                    .expect("a hit of a stored document");
                document * CHUNKS + usize::try_from(h.chunk_index).expect("chunk index")
            })
            .collect();
        let exact = exact_top(&data, &query, TOP_K);
        recall += exact.iter().filter(|i| found.contains(i)).count() as f64 / TOP_K as f64;
    }
    let recall = recall / QUERIES as f64;
    assert!(
        recall >= 0.9,
        "recall@{TOP_K} against exact search is {recall:.3} over {QUERIES} queries"
    );
}

// ---------------------------------------------------------------------------------------------
// Retrieval events

/// - `record_retrieval` inserts an event (an unknown `run_id` is `NotFound`); `list_retrievals`
///   lists events by id, of one run when given, with the total count.
pub async fn rag_retrievals_record_and_list_by_run(store: Arc<dyn Store>) {
    let run = create_run(&store, &["log_triage"], ApprovalStatus::None, 0).await;
    let other = create_run(&store, &["log_triage"], ApprovalStatus::None, 1).await;
    let event = |run_id: Option<i64>, n: i32| NewRetrievalEvent {
        run_id,
        query_hash: sha(n as u64),
        top_k: 3,
        results_count: n,
        now: at(i64::from(n)),
    };
    expect_not_found(
        store.record_retrieval(event(Some(999_999), 0)).await,
        "unknown run",
    );
    let mut ours = Vec::new();
    for (n, run_id) in [
        (1, Some(run.id)),
        (2, None),
        (3, Some(other.id)),
        (4, Some(run.id)),
    ] {
        let recorded = store.record_retrieval(event(run_id, n)).await.unwrap();
        assert_eq!(recorded.run_id, run_id);
        assert_eq!(recorded.query_hash, sha(n as u64));
        assert_eq!(recorded.top_k, 3);
        assert_eq!(recorded.results_count, n);
        assert_eq!(recorded.created_at, at(i64::from(n)));
        if run_id == Some(run.id) {
            ours.push(recorded);
        }
    }
    let page = store
        .list_retrievals(Some(run.id), PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(page.count, 2);
    assert_eq!(page.items, ours);
    let all = store
        .list_retrievals(None, PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(all.count, 4);
    assert!(all.items.windows(2).all(|w| w[0].id < w[1].id));
    let second = store
        .list_retrievals(None, PageRequest::new(2, 3).unwrap())
        .await
        .unwrap();
    assert_eq!(second.count, 4);
    assert_eq!(second.items, all.items[3..].to_vec());
}
