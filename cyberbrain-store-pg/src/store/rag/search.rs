//! Nearest-neighbour search over `embeddings.vector` (pgvector, cosine distance `<=>`), and the
//! vector checks and encoding the writes share.
//!
//! Two ways to find the `top_k` nearest chunks:
//!
//! * walking the HNSW index (`embeddings_vector_hnsw`) in distance order, with the model and the
//!   filters checked on each row it yields. On pgvector ≥ 0.8 the walk goes on until its `LIMIT`
//!   is filled (`hnsw.iterative_scan = relaxed_order`) instead of stopping after `ef_search`
//!   candidates, so filters do not starve it; the relaxed order is put right by the exact sort
//!   of what it found;
//! * an exact scan: every vector that passes the filters, measured, sorted and cut. Used
//!   directly when the filters select few chunks (cheap, and exact by construction), and
//!   whenever the walk cannot vouch for its answer: it fetches twice `top_k` and is trusted
//!   only when it got them all (it did not run out: its tuple budget, or the part of the graph
//!   it can reach, since HNSW can strand a few far nodes) and no tie at the cut runs past them.
//!   So filters never make a search come back short while `top_k` chunks match, and ties at
//!   the cut always go to the lower chunk ids.
//!
//! Scores are computed once, in SQL, as `REAL` (what `ChunkHit::score` holds), and hits are
//! ordered by that score descending, then chunk id. `min_score` is applied to the `top_k` hits
//! found: the chunks scoring at least it are a prefix of the ranking, so the best `top_k` of them
//! are exactly those among the `top_k` best.

use std::fmt::Write as _;

use cyberbrain_core::domain::{ChunkHit, ChunkSearch};
use cyberbrain_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::super::{PgStore, decode_all};
use crate::error::PgContext;

/// The dimension of `embeddings.vector` (`vector(384)` in migration 0001).
pub(crate) const VECTOR_DIMENSION: usize = cyberbrain_core::domain::EMBEDDING_DIMENSION;

/// The largest `top_k` a search may ask for.
const MAX_TOP_K: usize = 50;

/// A filtered search over at most this many chunks measures them all instead of walking the
/// index: a few milliseconds, and exact.
const EXACT_SCAN_MAX: i64 = 10_000;

/// The smallest `hnsw.ef_search` a walk uses, and the most pgvector accepts. pgvector's default
/// (40) gave recall@10 0.92 at 100,000 clustered vectors in benches/rag_search.rs; the SQLite
/// index searches with a beam of at least 64.
const MIN_EF_SEARCH: usize = 100;
const MAX_EF_SEARCH: usize = 1000;

// Every search statement takes `$1` the query vector (text form), `$2` the model, `$3`
// document ids and `$4` upload ids (an empty array is no filter; statements without filters
// leave them unused, typed by the statement), `$5` how many hits. Its CTE `found` yields the
// chosen `(chunk_id, score)` rows, materialised so the planner cannot merge it into the joins.

/// The hits, from the rows `found` chose, best first.
macro_rules! hits_from_found {
    () => {
        "SELECT found.chunk_id, c.chunk_index, c.text AS chunk_text, d.id AS document_id, \
           d.title AS document_title, d.source AS document_source, d.upload_id, found.score \
         FROM found \
         JOIN chunks c ON c.id = found.chunk_id \
         JOIN documents d ON d.id = c.document_id \
         ORDER BY found.score DESC, found.chunk_id"
    };
}

/// The score of `e`'s vector; `REAL`, as `ChunkHit::score`.
macro_rules! score {
    () => {
        "(1 - (e.vector <=> $1::vector))::real AS score"
    };
}

/// The filters on a chunk `c` of document `d`.
macro_rules! filters {
    () => {
        "(cardinality($3::bigint[]) = 0 OR d.id = ANY ($3::bigint[])) \
         AND (cardinality($4::bigint[]) = 0 OR d.upload_id = ANY ($4::bigint[]))"
    };
}

/// Every vector of the model measured and ranked (no index orders by the score expression).
const EXACT: &str = concat!(
    "WITH found AS MATERIALIZED (SELECT e.chunk_id, ",
    score!(),
    " FROM embeddings e WHERE e.model_id = $2 \
       ORDER BY score DESC, e.chunk_id LIMIT $5) ",
    hits_from_found!()
);

/// Every vector that passes the filters, found through the documents' and chunks' indexes,
/// measured and ranked.
const EXACT_FILTERED: &str = concat!(
    "WITH found AS MATERIALIZED (SELECT e.chunk_id, ",
    score!(),
    " FROM documents d \
       JOIN chunks c ON c.document_id = d.id \
       JOIN embeddings e ON e.chunk_id = c.id AND e.model_id = $2 \
       WHERE ",
    filters!(),
    " ORDER BY score DESC, e.chunk_id LIMIT $5) ",
    hits_from_found!()
);

/// The index walk without filters: only the model is checked on the rows it yields.
const NEAREST: &str = concat!(
    "WITH found AS MATERIALIZED (SELECT e.chunk_id, ",
    score!(),
    " FROM embeddings e WHERE e.model_id = $2 \
       ORDER BY e.vector <=> $1::vector LIMIT $5) ",
    hits_from_found!()
);

/// The index walk with filters, checked row by row as the walk yields them.
const NEAREST_FILTERED: &str = concat!(
    "WITH found AS MATERIALIZED (SELECT e.chunk_id, ",
    score!(),
    " FROM embeddings e \
       WHERE e.model_id = $2 AND EXISTS ( \
         SELECT 1 FROM chunks c JOIN documents d ON d.id = c.document_id \
         WHERE c.id = e.chunk_id AND ",
    filters!(),
    ") ORDER BY e.vector <=> $1::vector LIMIT $5) ",
    hits_from_found!()
);

/// How many chunks the filters select, counted up to `$3`.
const COUNT_MATCHING: &str = "SELECT COUNT(*) FROM ( \
       SELECT 1 FROM chunks c JOIN documents d ON d.id = c.document_id \
       WHERE (cardinality($1::bigint[]) = 0 OR d.id = ANY ($1::bigint[])) \
         AND (cardinality($2::bigint[]) = 0 OR d.upload_id = ANY ($2::bigint[])) \
       LIMIT $3) AS matching";

/// For this transaction: the index walk keeps `$1` candidates, and on pgvector ≥ 0.8 keeps
/// walking until the filters let enough through (older versions lack the setting; the exact
/// fallback covers them).
const TUNE_INDEX: &str = "SELECT set_config('hnsw.ef_search', $1, true), \
       CASE WHEN (SELECT (regexp_match(extversion, '^(\\d+)\\.(\\d+)'))[1:2]::int[] >= ARRAY[0, 8] \
                  FROM pg_extension WHERE extname = 'vector') \
            THEN set_config('hnsw.iterative_scan', 'relaxed_order', true) END";

/// `InvalidInput` naming `field` unless `vector` has the store's dimension and only finite
/// numbers (pgvector refuses NaN and infinities).
pub(crate) fn check_vector(field: &str, vector: &[f32]) -> Result<()> {
    if vector.len() != VECTOR_DIMENSION {
        return Err(Error::invalid(
            field,
            format!(
                "has {} dimensions, but this store holds {VECTOR_DIMENSION}-dimensional vectors \
                 (all-MiniLM-L6-v2); embed with a {VECTOR_DIMENSION}-dimensional model",
                vector.len()
            ),
        ));
    }
    if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(
            field,
            format!(
                "element {i} is {}, and a vector holds finite numbers only",
                vector[i]
            ),
        ));
    }
    Ok(())
}

/// pgvector's text form, `[x1,x2,…]`. Rust prints the shortest decimal that reads back as the
/// same `f32`, so the stored vector is exactly the given one.
pub(crate) fn vector_literal(vector: &[f32]) -> String {
    let mut text = String::with_capacity(vector.len() * 12 + 2);
    text.push('[');
    for (i, x) in vector.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{x}");
    }
    text.push(']');
    text
}

fn check_search(search: &ChunkSearch) -> Result<()> {
    if !(1..=MAX_TOP_K).contains(&search.top_k) {
        return Err(Error::invalid(
            "top_k",
            format!("must be between 1 and {MAX_TOP_K}, got {}", search.top_k),
        ));
    }
    check_vector("vector", &search.vector)?;
    if let Some(min) = search.min_score
        && !min.is_finite()
    {
        return Err(Error::invalid(
            "min_score",
            format!("must be a number (a cosine similarity, -1 to 1), got {min}"),
        ));
    }
    Ok(())
}

fn hit_from_row(row: &PgRow) -> Result<ChunkHit, sqlx::Error> {
    Ok(ChunkHit {
        chunk_id: row.try_get("chunk_id")?,
        chunk_index: row.try_get("chunk_index")?,
        chunk_text: row.try_get("chunk_text")?,
        document_id: row.try_get("document_id")?,
        document_title: row.try_get("document_title")?,
        document_source: row.try_get("document_source")?,
        upload_id: row.try_get("upload_id")?,
        score: row.try_get("score")?,
    })
}

/// The best `limit` hits `sql` finds, ranked.
async fn run(
    conn: &mut PgConnection,
    sql: &'static str,
    literal: &str,
    search: &ChunkSearch,
    limit: usize,
    what: &str,
) -> Result<Vec<ChunkHit>> {
    let rows = sqlx::query(sql)
        .bind(literal)
        .bind(&search.model_id)
        .bind(&search.document_ids)
        .bind(&search.upload_ids)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .context(what)?;
    decode_all(&rows, what, hit_from_row)
}

/// The `top_k` best hits by walking the index, or `None` when the walk cannot vouch for them:
/// it ran out before giving twice `top_k` (its tuple budget was spent, or the rest of the graph
/// is out of its reach: HNSW can strand a few far nodes), or a tie at the cut may continue past
/// what it fetched.
async fn walk_index(
    conn: &mut PgConnection,
    literal: &str,
    search: &ChunkSearch,
    filtered: bool,
    what: &str,
) -> Result<Option<Vec<ChunkHit>>> {
    // Twice top_k, so that a tie at the cut is decided by chunk id among every tied hit, not by
    // the order the walk met them.
    let fetch = search.top_k * 2;
    let ef_search = (fetch * 2).clamp(MIN_EF_SEARCH, MAX_EF_SEARCH);
    sqlx::query(TUNE_INDEX)
        .bind(ef_search.to_string())
        .execute(&mut *conn)
        .await
        .context(what)?;
    let walk = if filtered { NEAREST_FILTERED } else { NEAREST };
    let mut found = run(conn, walk, literal, search, fetch, what).await?;
    if found.len() < fetch {
        return Ok(None);
    }
    let cut = found[search.top_k - 1].score;
    if found.last().is_some_and(|last| last.score == cut) {
        return Ok(None);
    }
    found.truncate(search.top_k);
    Ok(Some(found))
}

pub(super) async fn search(store: &PgStore, search: ChunkSearch) -> Result<Vec<ChunkHit>> {
    check_search(&search)?;
    let what = format!("searching the vectors of model {:?}", search.model_id);
    // One snapshot: the index walk and a fallback see the same rows, and the index settings
    // last only as long as it.
    let mut tx = store.snapshot(&what).await?;
    let mut hits = nearest(&mut tx, &search, &what).await?;
    tx.commit().await.context(&what)?;
    if let Some(min) = search.min_score {
        hits.retain(|hit| hit.score >= min);
    }
    Ok(hits)
}

/// The `top_k` nearest hits (before `min_score`), inside the caller's transaction.
async fn nearest(
    conn: &mut PgConnection,
    search: &ChunkSearch,
    what: &str,
) -> Result<Vec<ChunkHit>> {
    let literal = vector_literal(&search.vector);
    let filtered = !search.document_ids.is_empty() || !search.upload_ids.is_empty();
    let few_match = filtered && {
        let matching: i64 = sqlx::query_scalar(COUNT_MATCHING)
            .bind(&search.document_ids)
            .bind(&search.upload_ids)
            .bind(EXACT_SCAN_MAX + 1)
            .fetch_one(&mut *conn)
            .await
            .context(what)?;
        matching <= EXACT_SCAN_MAX
    };
    if !few_match && let Some(hits) = walk_index(conn, &literal, search, filtered, what).await? {
        return Ok(hits);
    }
    let exact = if filtered { EXACT_FILTERED } else { EXACT };
    run(conn, exact, &literal, search, search.top_k, what).await
}

#[cfg(test)]
mod tests {
    use cyberbrain_core::RagStore;
    use cyberbrain_core::testing::conformance::ready_document;
    use cyberbrain_core::testing::vectors::blend;

    use super::*;
    use crate::test_support::fresh_store;

    const MODEL: &str = "m";

    /// Stores upload `n` as one ready document with `vectors`; returns the document id.
    async fn document(store: &PgStore, n: u64, vectors: Vec<Vec<f32>>) -> i64 {
        ready_document(store, n, MODEL, vectors).await.1.id
    }

    fn query(vector: Vec<f32>, top_k: usize, document_ids: Vec<i64>) -> ChunkSearch {
        ChunkSearch {
            model_id: MODEL.into(),
            vector,
            top_k,
            document_ids,
            upload_ids: vec![],
            min_score: None,
        }
    }

    /// When the filtered walk runs over the HNSW index (forced here; a search takes it when
    /// more chunks match than the exact scan is used for) and the chunks that match sit behind
    /// many nearer ones the filter rejects, the search still returns exactly the best of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_filtered_walk_over_the_index_still_fills_top_k_exactly() {
        let (store, _schema) = fresh_store().await;
        let near = (0..60).map(|i| blend(&[(0, 1.0), (1 + i, 0.3)])).collect();
        document(&store, 1, near).await;
        let far = (0..8)
            .map(|i| blend(&[(0, 0.1 + 0.05 * i as f32), (100 + i, 1.0)]))
            .collect();
        let far_document = document(&store, 2, far).await;
        let search = query(blend(&[(0, 1.0)]), 5, vec![far_document]);
        let literal = vector_literal(&search.vector);
        let mut tx = store.snapshot("test").await.unwrap();
        // With sorts priced out the planner walks the HNSW index, which stops after ef_search
        // candidates unless iterative scans are on, and cannot reach every node.
        sqlx::query("SET LOCAL enable_sort = off")
            .execute(&mut *tx)
            .await
            .unwrap();
        let walked = walk_index(&mut tx, &literal, &search, true, "test")
            .await
            .unwrap();
        assert_eq!(
            walked, None,
            "fewer than 2 × top_k match: the walk cannot vouch"
        );
        let found = nearest(&mut tx, &search, "test").await.unwrap();
        let exact = run(&mut tx, EXACT_FILTERED, &literal, &search, 5, "test")
            .await
            .unwrap();
        assert_eq!(found, exact);
        assert_eq!(
            found.iter().map(|h| h.chunk_index).collect::<Vec<_>>(),
            vec![7, 6, 5, 4, 3],
            "the far document's chunks nearest the query"
        );
    }

    /// A tie at the cut that runs past what the walk fetched is left to the exact scan, so the
    /// lowest chunk ids win.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ties_past_the_walk_are_decided_by_chunk_id() {
        let (store, _schema) = fresh_store().await;
        let same = blend(&[(0, 1.0), (1, 1.0)]);
        document(&store, 1, vec![same.clone(); 12]).await;
        let search = query(same.clone(), 3, vec![]);
        let literal = vector_literal(&same);
        let mut tx = store.snapshot("test").await.unwrap();
        let walked = walk_index(&mut tx, &literal, &search, false, "test")
            .await
            .unwrap();
        assert_eq!(walked, None, "six tied hits fetched, more may follow");
        drop(tx);
        let hits = store.search_chunks(search).await.unwrap();
        let ids: Vec<i64> = hits.iter().map(|h| h.chunk_id).collect();
        let lowest: Vec<i64> =
            sqlx::query_scalar("SELECT chunk_id FROM embeddings ORDER BY chunk_id LIMIT 3")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(ids, lowest);
    }

    #[test]
    fn literals_read_back_as_the_same_numbers() {
        let vector = [0.1f32, -1.0, 1e-7, 123_456.79, 0.0];
        let literal = vector_literal(&vector);
        assert!(
            literal.starts_with('[') && literal.ends_with(']'),
            "{literal}"
        );
        let parsed: Vec<f32> = literal[1..literal.len() - 1]
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(parsed, vector);
    }

    #[test]
    fn vectors_of_another_dimension_or_not_finite_are_refused_by_name() {
        let err = check_vector("chunks[2].vector", &[0.5; 3]).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains("chunks[2].vector"), "{err}");
        assert!(err.to_string().contains("384"), "{err}");
        let mut vector = vec![0.0; VECTOR_DIMENSION];
        vector[7] = f32::NAN;
        let err = check_vector("vector", &vector).unwrap_err();
        assert!(err.to_string().contains("element 7"), "{err}");
        assert!(check_vector("vector", &[0.0; VECTOR_DIMENSION]).is_ok());
    }
}
