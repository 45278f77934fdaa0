//! The vector index beside the database: dumped, loaded after a restart, rebuilt when it cannot
//! be trusted, caught up when behind, shared by stores on one file, and the index path of
//! large filters.

use std::path::{Path, PathBuf};

use cyberbrain_core::domain::{ChunkHit, ChunkSearch, Document};
use cyberbrain_core::store::{RagStore, StoreAdmin};
use cyberbrain_core::testing::HashEmbedder;
use cyberbrain_core::testing::conformance::ready_document;
use cyberbrain_core::testing::vectors::blend;

use super::search;
use crate::store::SqliteStore;
use crate::vector_index::Origin;

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

async fn open(path: &Path) -> SqliteStore {
    let store = SqliteStore::connect(&path.display().to_string())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

/// An embedding of a dozen words picked by `seed` from a small vocabulary: vectors with the
/// overlapping structure of real text.
fn text_vector(seed: usize) -> Vec<f32> {
    let mut state = (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let words: Vec<String> = (0..12)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            format!("word{}", (state >> 33) % 80)
        })
        .collect();
    HashEmbedder::default().embed_one(&words.join(" "))
}

/// A vector near axis 0, distinct per `seed`.
fn near_vector(seed: usize) -> Vec<f32> {
    blend(&[(0, 1.0), (3 + seed % 370, 0.2 + (seed % 7) as f32 * 0.05)])
}

/// Stores upload `n` as a ready document with `vectors`.
async fn ingest(store: &SqliteStore, n: u64, vectors: Vec<Vec<f32>>) -> Document {
    ready_document(store, n, MODEL, vectors).await.1
}

fn query(vector: Vec<f32>, top_k: usize) -> ChunkSearch {
    ChunkSearch {
        model_id: MODEL.into(),
        vector,
        top_k,
        document_ids: vec![],
        upload_ids: vec![],
        min_score: None,
    }
}

async fn ids(store: &SqliteStore, search: ChunkSearch) -> Vec<i64> {
    hit_ids(&store.search_chunks(search).await.unwrap())
}

fn hit_ids(hits: &[ChunkHit]) -> Vec<i64> {
    hits.iter().map(|h| h.chunk_id).collect()
}

fn origin(store: &SqliteStore) -> Option<Origin> {
    store.pool.vectors.origin(MODEL)
}

fn index_dir(store: &SqliteStore) -> PathBuf {
    store.pool.vectors.dir().to_path_buf()
}

/// The one metadata file and one dump folder of the model.
fn dump_files(dir: &Path) -> (PathBuf, PathBuf) {
    let mut metas = Vec::new();
    let mut dumps = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            dumps.push(path);
        } else if path.extension().is_some_and(|e| e == "json") {
            metas.push(path);
        }
    }
    assert_eq!(metas.len(), 1, "one metadata file: {metas:?}");
    assert_eq!(
        dumps.len(),
        1,
        "one dump folder (the old one removed): {dumps:?}"
    );
    (metas.remove(0), dumps.remove(0))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_dumped_beside_the_database_and_loaded_after_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let db = temp.path().join("kb.db");
    let store = open(&db).await;
    for n in 0..3 {
        ingest(
            &store,
            n,
            (0..10).map(|i| near_vector(n as usize * 10 + i)).collect(),
        )
        .await;
    }
    let dir = index_dir(&store);
    assert_eq!(dir, temp.path().join("kb.db.hnsw"));
    let (meta, dump) = dump_files(&dir);
    assert!(dump.join("index.hnsw.graph").is_file());
    assert!(dump.join("index.hnsw.data").is_file());
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).unwrap()).unwrap();
    assert_eq!(meta["points"], 30);
    assert_eq!(meta["model_id"], MODEL);
    let before = ids(&store, query(near_vector(4), 10)).await;
    assert_eq!(before.len(), 10);
    drop(store);

    let store = open(&db).await;
    assert_eq!(origin(&store), None, "loaded lazily");
    assert_eq!(ids(&store, query(near_vector(4), 10)).await, before);
    assert_eq!(origin(&store), Some(Origin::Loaded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_missing_dump_is_rebuilt_from_the_stored_vectors() {
    let temp = tempfile::tempdir().unwrap();
    let db = temp.path().join("kb.db");
    let store = open(&db).await;
    ingest(&store, 1, (0..20).map(near_vector).collect()).await;
    let before = ids(&store, query(near_vector(7), 5)).await;
    let dir = index_dir(&store);
    drop(store);

    let (_, dump) = dump_files(&dir);
    std::fs::write(dump.join("index.hnsw.graph"), b"not a graph").unwrap();
    let store = open(&db).await;
    assert_eq!(ids(&store, query(near_vector(7), 5)).await, before);
    assert_eq!(origin(&store), Some(Origin::Built));
    drop(store);

    std::fs::remove_dir_all(&dir).unwrap();
    let store = open(&db).await;
    assert_eq!(ids(&store, query(near_vector(7), 5)).await, before);
    assert_eq!(origin(&store), Some(Origin::Built));
    drop(store);
    let store = open(&db).await;
    assert_eq!(ids(&store, query(near_vector(7), 5)).await, before);
    assert_eq!(
        origin(&store),
        Some(Origin::Loaded),
        "the rebuilt index was dumped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_behind_the_database_is_caught_up_and_another_databases_is_rebuilt() {
    let temp = tempfile::tempdir().unwrap();
    let db = temp.path().join("kb.db");
    let store = open(&db).await;
    ingest(&store, 1, (0..10).map(near_vector).collect()).await;
    let dir = index_dir(&store);
    let saved = temp.path().join("saved");
    copy_dir(&dir, &saved);
    let later = ingest(&store, 2, vec![blend(&[(1, 1.0)])]).await;
    drop(store);

    // The last dump never happened (a crash): the older one is loaded and caught up.
    std::fs::remove_dir_all(&dir).unwrap();
    copy_dir(&saved, &dir);
    let store = open(&db).await;
    let found = store
        .search_chunks(query(blend(&[(1, 1.0)]), 1))
        .await
        .unwrap();
    assert_eq!(found[0].document_id, later.id);
    assert_eq!(origin(&store), Some(Origin::Loaded));
    drop(store);

    // The same files beside another database are not trusted.
    let other_db = temp.path().join("other.db");
    let other = open(&other_db).await;
    ingest(&other, 1, (0..10).map(|i| near_vector(i + 100)).collect()).await;
    drop(other);
    let other_dir = temp.path().join("other.db.hnsw");
    std::fs::remove_dir_all(&other_dir).unwrap();
    copy_dir(&saved, &other_dir);
    let other = open(&other_db).await;
    let found = ids(&other, query(near_vector(100), 10)).await;
    assert_eq!(found.len(), 10);
    assert_eq!(origin(&other), Some(Origin::Built));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_are_filtered_then_rebuilt_away_and_stores_on_one_file_agree() {
    let temp = tempfile::tempdir().unwrap();
    let db = temp.path().join("kb.db");
    let writer = open(&db).await;
    let reader = open(&db).await;
    let mut documents = Vec::new();
    for n in 0..10 {
        documents.push(
            ingest(
                &writer,
                n,
                (0..5).map(|i| near_vector(n as usize * 5 + i)).collect(),
            )
            .await,
        );
    }
    // The other store (another process) sees what the writer stored.
    assert_eq!(ids(&reader, query(near_vector(0), 50)).await.len(), 50);
    assert_eq!(reader.pool.vectors.points(MODEL), Some((50, 0)));

    writer.delete_upload(documents[0].upload_id).await.unwrap();
    let found = reader
        .search_chunks(query(near_vector(0), 50))
        .await
        .unwrap();
    assert_eq!(found.len(), 45);
    assert!(found.iter().all(|h| h.document_id != documents[0].id));
    assert_eq!(
        reader.pool.vectors.points(MODEL),
        Some((50, 5)),
        "dead points kept"
    );

    writer.delete_upload(documents[1].upload_id).await.unwrap();
    writer.delete_upload(documents[2].upload_id).await.unwrap();
    assert_eq!(
        reader
            .search_chunks(query(near_vector(0), 50))
            .await
            .unwrap()
            .len(),
        35
    );
    assert_eq!(
        reader.pool.vectors.points(MODEL),
        Some((35, 0)),
        "rebuilt once a fifth was dead"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_filter_searches_the_index_and_still_fills_top_k() {
    let temp = tempfile::tempdir().unwrap();
    let store = open(&temp.path().join("kb.db")).await;
    let mut near = Vec::new();
    for n in 0..20 {
        near.push(
            ingest(
                &store,
                n,
                (0..10).map(|i| text_vector(n as usize * 10 + i)).collect(),
            )
            .await,
        );
    }
    let far = ingest(
        &store,
        100,
        (0..10)
            .map(|i| blend(&[(1, 1.0), (0, 0.01 * (i + 1) as f32), (2, 0.1 * i as f32)]))
            .collect(),
    )
    .await;
    let near_uploads: Vec<i64> = near.iter().step_by(2).map(|d| d.upload_id).collect();
    let mut far_only = query(text_vector(3), 5);
    far_only.document_ids = vec![far.id];
    let mut half = query(text_vector(3), 20);
    half.upload_ids = near_uploads.clone();
    let indexes = std::sync::Arc::clone(&store.pool.vectors);
    let (far_hits, far_through_index, half_hits, half_through_index, fallbacks) = store
        .read(move |conn| {
            let far_hits = search::search(conn, &indexes, &far_only, 10_000)?;
            let far_through_index = search::search(conn, &indexes, &far_only, 0)?;
            let half_hits = search::search(conn, &indexes, &half, 10_000)?;
            let before = search::EXACT_FALLBACKS.with(|n| n.get());
            let half_through_index = search::search(conn, &indexes, &half, 0)?;
            let fallbacks = search::EXACT_FALLBACKS.with(|n| n.get()) - before;
            Ok((
                far_hits,
                far_through_index,
                half_hits,
                half_through_index,
                fallbacks,
            ))
        })
        .await
        .unwrap();
    // Chunks far from every other point: whatever the graph reaches, the filter is filled.
    assert_eq!(far_hits.len(), 5);
    assert!(far_hits.iter().all(|h| h.document_id == far.id));
    assert_eq!(hit_ids(&far_through_index), hit_ids(&far_hits));
    // Half of the documents allowed: the filtered graph search finds the hits itself.
    assert_eq!(half_hits.len(), 20);
    assert!(
        half_hits
            .iter()
            .all(|h| near_uploads.contains(&h.upload_id))
    );
    assert_eq!(hit_ids(&half_through_index), hit_ids(&half_hits));
    assert_eq!(fallbacks, 0, "no exact fallback");
}
