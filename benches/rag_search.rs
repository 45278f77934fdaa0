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
use cyberbrain::domain::{ChunkSearch, ClaimUpload, IngestedDocument, NewChunk, NewUpload};
use cyberbrain::store_sqlite::SqliteStore;
use cyberbrain::{Store, StoreAdmin};

const DIMENSION: usize = 384;
const CHUNKS_PER_DOCUMENT: usize = 100;
const TOP_K: usize = 10;
const MODEL: &str = "bench-model";

/// A small deterministic generator (xorshift64*), so every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Roughly normal, from the sum of uniforms.
    fn gaussian(&mut self) -> f32 {
        (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum::<f32>()
            - 2.0
    }
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// `n` vectors: one cluster centre per document, chunks spread around it.
fn dataset(n: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(n);
    let mut centre = Vec::new();
    for i in 0..n {
        if i % CHUNKS_PER_DOCUMENT == 0 {
            centre = normalise((0..DIMENSION).map(|_| rng.gaussian()).collect());
        }
        let point: Vec<f32> = centre.iter().map(|c| c + 0.08 * rng.gaussian()).collect();
        out.push(normalise(point));
    }
    out
}

fn exact_top(data: &[Vec<f32>], query: &[f32]) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(TOP_K).map(|(_, i)| i).collect()
}

async fn fresh(
    backend: &str,
    dir: &tempfile::TempDir,
) -> (
    Arc<dyn Store>,
    Option<cyberbrain_store_pg::testing::TestSchema>,
) {
    if backend == "sqlite" {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = SqliteStore::connect(&url).await.expect("open SQLite");
        store.migrate().await.expect("migrate");
        return (Arc::new(store), None);
    }
    let schema = cyberbrain_store_pg::testing::TestSchema::create().await;
    let store = cyberbrain_store_pg::PgStore::connect(&schema.url())
        .await
        .expect("connect to Postgres");
    store.migrate().await.expect("migrate");
    (Arc::new(store), Some(schema))
}

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
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
    let data = dataset(n, &mut rng);
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _schema) = fresh(backend, &dir).await;
    let started = Instant::now();
    load(&store, &data).await;
    let load_s = started.elapsed().as_secs_f64();

    let query_vectors: Vec<Vec<f32>> = (0..queries)
        .map(|q| {
            let base = &data[(q * 7919) % n];
            normalise(base.iter().map(|x| x + 0.05 * rng.gaussian()).collect())
        })
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
    for query in &query_vectors {
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
        let exact = exact_top(&data, query);
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
    let mut backends = vec!["sqlite"];
    if std::env::var_os("CYBERBRAIN_TEST_PG_URL").is_some() {
        backends.push("postgres");
    }
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
