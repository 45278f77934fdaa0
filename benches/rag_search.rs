//! Knowledge-base search (SPEC §3.6): recall@10 against exact search, and queries per second,
//! for the SQLite store's hnsw_rs index and Postgres' pgvector HNSW, at 10,000 and 100,000
//! vectors. The vectors are synthetic 384-d unit vectors in clusters (documents of related
//! chunks), stored through the real `RagStore::complete_upload`; queries are perturbed copies of
//! stored vectors, so each has true neighbours to find. Exact search is a brute-force dot product
//! in this process.
//!
//! ```sh
//! cargo bench --bench rag_search                                            # SQLite
//! CYBERBRAIN_TEST_PG_URL=$(scripts/pg.sh url) cargo bench --bench rag_search  # and Postgres
//! CYBERBRAIN_BENCH_SMOKE=1 cargo bench --bench rag_search                     # tiny sizes (CI)
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use cyberbrain::Store;
use cyberbrain::domain::{ChunkSearch, ClaimUpload, IngestedDocument, NewChunk, NewUpload};
use cyberbrain_core::testing::vectors::{VectorRng, exact_top};
use support::{backends, fresh_store};

mod support;

const CHUNKS_PER_DOCUMENT: usize = 100;
const TOP_K: usize = 10;
const MODEL: &str = "bench-model";

/// Stores `data` as documents of `CHUNKS_PER_DOCUMENT` chunks; chunk `i`'s text is `c{i}`.
async fn load(store: &Arc<dyn Store>, data: &[Vec<f32>]) {
    for (document, vectors) in data.chunks(CHUNKS_PER_DOCUMENT).enumerate() {
        let now = Utc::now();
        let sha = format!("{document:064x}");
        store
            .create_upload(NewUpload {
                filename: format!("doc{document}.txt"),
                mime_type: "text/plain".into(),
                size_bytes: 1,
                sha256: sha.clone(),
                stored_path: format!("{}/{sha}.txt", &sha[..2]),
                now,
            })
            .await
            .expect("upload");
        let claimed = store
            .claim_upload(ClaimUpload {
                owner: "bench".into(),
                now,
                lease: chrono::Duration::minutes(10),
                max_attempts: 3,
            })
            .await
            .expect("claim")
            .expect("claimable");
        let first = document * CHUNKS_PER_DOCUMENT;
        store
            .complete_upload(IngestedDocument {
                upload_id: claimed.id,
                owner: "bench".into(),
                title: format!("doc{document}"),
                source: format!("doc{document}.txt"),
                model_id: MODEL.into(),
                chunks: vectors
                    .iter()
                    .enumerate()
                    .map(|(j, v)| NewChunk {
                        text: format!("c{}", first + j),
                        word_count: 1,
                        vector: v.clone(),
                    })
                    .collect(),
                now,
            })
            .await
            .expect("complete");
    }
}

fn search(vector: Vec<f32>) -> ChunkSearch {
    ChunkSearch {
        model_id: MODEL.into(),
        vector,
        top_k: TOP_K,
        document_ids: Vec::new(),
        upload_ids: Vec::new(),
        min_score: None,
    }
}

struct Row {
    backend: &'static str,
    vectors: usize,
    load_s: f64,
    first_search_ms: f64,
    recall: f64,
    qps: f64,
    p50_ms: f64,
}

async fn measure(backend: &'static str, n: usize, queries: usize) -> Row {
    let mut rng = VectorRng::new(0x9E37_79B9_7F4A_7C15 ^ n as u64);
    let data = rng.clustered(n, CHUNKS_PER_DOCUMENT, 0.08);
    let (store, _scratch) = fresh_store(backend).await;
    let started = Instant::now();
    load(&store, &data).await;
    let load_s = started.elapsed().as_secs_f64();

    let query_vectors: Vec<Vec<f32>> = (0..queries)
        .map(|q| rng.near(&data[(q * 7919) % n], 0.05))
        .collect();
    // Exact answers first, so the timed loop times the store alone.
    let exact: Vec<Vec<usize>> = query_vectors
        .iter()
        .map(|query| exact_top(&data, query, TOP_K))
        .collect();
    // The first search may load or build the index (hnsw_rs after a restart).
    let started = Instant::now();
    store
        .search_chunks(search(query_vectors[0].clone()))
        .await
        .expect("search");
    let first_search_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut latencies = Vec::with_capacity(queries);
    let mut recall_sum = 0.0;
    let all = Instant::now();
    for (query, exact) in query_vectors.iter().zip(&exact) {
        let started = Instant::now();
        let hits = store
            .search_chunks(search(query.clone()))
            .await
            .expect("search");
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let found: HashSet<usize> = hits
            .iter()
            .filter_map(|h| h.chunk_text.strip_prefix('c')?.parse().ok())
            .collect();
        recall_sum += exact.iter().filter(|i| found.contains(i)).count() as f64 / TOP_K as f64;
    }
    let qps = queries as f64 / all.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Row {
        backend,
        vectors: n,
        load_s,
        first_search_ms,
        recall: recall_sum / queries as f64,
        qps,
        p50_ms: latencies[latencies.len() / 2],
    }
}

fn main() {
    let smoke = std::env::var_os("CYBERBRAIN_BENCH_SMOKE").is_some();
    let (sizes, queries): (&[usize], usize) = if smoke {
        (&[1_000], 20)
    } else {
        (&[10_000, 100_000], 200)
    };
    let backends = backends();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "| backend | vectors | load (s) | first search (ms) | recall@10 | queries/s | p50 (ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for &n in sizes {
        for backend in &backends {
            let row = runtime.block_on(measure(backend, n, queries));
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.3} | {:.0} | {:.2} |",
                row.backend,
                row.vectors,
                row.load_s,
                row.first_search_ms,
                row.recall,
                row.qps,
                row.p50_ms
            );
        }
    }
}
