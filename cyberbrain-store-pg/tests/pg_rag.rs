//! The Postgres store's RAG behaviour beyond the conformance suite, against the real server named
//! by `CYBERBRAIN_TEST_PG_URL`: vectors stored exactly through pgvector's text form, the scores
//! the search computes, and upload claims across several pools (as several processes would).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::TimeZone;
use cyberbrain_core::domain::{
    ChunkSearch, ClaimUpload, IngestedDocument, NewChunk, NewUpload, Timestamp, Upload,
};
use cyberbrain_core::testing::conformance::race_upload_claimers;
use cyberbrain_core::{Error, RagStore, Store};
use cyberbrain_store_pg::PgStore;
use cyberbrain_store_pg::testing::fresh_store;

const DIMENSION: usize = 384;

fn at(offset_s: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_750_000_000 + offset_s, 0)
        .single()
        .expect("valid time")
}

/// A unit vector from a seed (a small xorshift generator: no dependency, same on every run),
/// with full-precision components so a lossy encoding would show.
fn unit_vector(seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut vector: Vec<f32> = (0..DIMENSION)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|x| *x /= norm);
    vector
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

async fn queued(store: &PgStore, n: u64) -> Upload {
    store
        .create_upload(NewUpload {
            filename: format!("file-{n}.txt"),
            mime_type: "text/plain".into(),
            size_bytes: 10,
            sha256: format!("{n:064x}"),
            stored_path: format!("{n:064x}.txt"),
            now: at(n as i64),
        })
        .await
        .unwrap()
        .upload
}

fn claim(owner: &str) -> ClaimUpload {
    ClaimUpload {
        owner: owner.into(),
        now: at(1_000),
        lease: chrono::Duration::seconds(60),
        max_attempts: 3,
    }
}

/// Claims the next upload as `owner` and stores `vectors` as its chunks under `model_id`.
async fn ingest(store: &PgStore, owner: &str, model_id: &str, vectors: &[Vec<f32>]) -> Upload {
    let upload = store.claim_upload(claim(owner)).await.unwrap().unwrap();
    store
        .complete_upload(IngestedDocument {
            upload_id: upload.id,
            owner: owner.into(),
            title: upload.filename.clone(),
            source: upload.stored_path.clone(),
            model_id: model_id.into(),
            chunks: vectors
                .iter()
                .enumerate()
                .map(|(i, vector)| NewChunk {
                    text: format!("chunk {i} of {}", upload.filename),
                    word_count: 4,
                    vector: vector.clone(),
                })
                .collect(),
            now: at(1_001),
        })
        .await
        .unwrap();
    upload
}

/// What is stored is exactly what was given: the text form loses no bit of an `f32`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_are_stored_exactly() {
    let (store, _schema) = fresh_store().await;
    queued(&store, 1).await;
    let vectors: Vec<Vec<f32>> = (0..3).map(unit_vector).collect();
    ingest(&store, "w", "model-a", &vectors).await;
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT e.vector::text FROM embeddings e JOIN chunks c ON c.id = e.chunk_id \
         ORDER BY c.chunk_index",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let stored: Vec<Vec<f32>> = stored
        .iter()
        .map(|text| {
            text.trim_matches(['[', ']'])
                .split(',')
                .map(|x| x.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(stored, vectors);
}

/// Scores are the cosine similarities of the hits' own vectors, computed by pgvector, the order
/// is score then chunk id, and another model's vectors (even the query itself) never show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_scores_are_cosine_similarities() {
    let (store, _schema) = fresh_store().await;
    for n in 1..=3 {
        queued(&store, n).await;
    }
    let vectors: Vec<Vec<f32>> = (0..200).map(unit_vector).collect();
    let first = ingest(&store, "w", "model-a", &vectors[..100]).await;
    ingest(&store, "w", "model-a", &vectors[100..]).await;
    // The query vector itself, stored under another model.
    let query = unit_vector(10_000);
    ingest(&store, "w", "model-b", std::slice::from_ref(&query)).await;

    let hits = store
        .search_chunks(ChunkSearch {
            model_id: "model-a".into(),
            vector: query.clone(),
            top_k: 10,
            document_ids: vec![],
            upload_ids: vec![],
            min_score: None,
        })
        .await
        .unwrap();
    assert_eq!(hits.len(), 10);
    for pair in hits.windows(2) {
        assert!(
            pair[0].score > pair[1].score
                || (pair[0].score == pair[1].score && pair[0].chunk_id < pair[1].chunk_id),
            "{hits:?}"
        );
    }
    for hit in &hits {
        let offset = if hit.upload_id == first.id { 0 } else { 100 };
        let own = &vectors[offset + hit.chunk_index as usize];
        let expected = cosine(own, &query);
        assert!(
            (f64::from(hit.score) - expected).abs() < 1e-5,
            "{hit:?} vs {expected}"
        );
    }

    let own = store
        .search_chunks(ChunkSearch {
            model_id: "model-b".into(),
            vector: query,
            top_k: 5,
            document_ids: vec![],
            upload_ids: vec![],
            min_score: Some(0.99),
        })
        .await
        .unwrap();
    assert_eq!(own.len(), 1, "{own:?}");
    assert!((own[0].score - 1.0).abs() < 1e-5, "{own:?}");
}

/// Claimers in separate pools (separate processes) never receive the same upload, and together
/// they take every queued one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_in_several_pools_never_share_an_upload() {
    let (store, schema) = fresh_store().await;
    let mut all = BTreeSet::new();
    for n in 1..=24 {
        all.insert(queued(&store, n).await.id);
    }
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(
            PgStore::connect(&schema.url_with(&[("pool_size", "2")]))
                .await
                .unwrap(),
        ));
    }
    race_upload_claimers(&stores, 8, at(1_000), &all).await;
}

/// A call refused after locking an upload releases the lock before it returns: a claimer in
/// another pool, asking right after, is not made to skip the upload (`SKIP LOCKED`) as if another
/// ingester were taking it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_leaves_no_lock_behind() {
    let (store, schema) = fresh_store().await;
    let other = PgStore::connect(&schema.url()).await.unwrap();
    // The lock a dropped transaction leaves is released soon after, so only some rounds
    // would catch it: many rounds.
    for n in 1..=50 {
        let upload = queued(&store, n).await;
        let refused = store
            .complete_upload(IngestedDocument {
                upload_id: upload.id,
                owner: "nobody".into(),
                title: "t".into(),
                source: "s".into(),
                model_id: "m".into(),
                chunks: vec![],
                now: at(1_000),
            })
            .await;
        assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
        let retried = store.retry_upload(upload.id).await;
        assert!(matches!(retried, Err(Error::Conflict(_))), "{retried:?}");
        let claimed = other.claim_upload(claim("w")).await.unwrap();
        assert_eq!(claimed.map(|u| u.id), Some(upload.id), "round {n}");
    }
}
