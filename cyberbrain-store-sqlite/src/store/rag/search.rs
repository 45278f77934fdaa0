//! Nearest-chunk search: candidates from the hnsw_rs index (or, for a small filtered set, every
//! chunk in it), scored from the stored vectors, so scores are exact and a deleted chunk is never
//! returned.

use std::cmp::Ordering;

use cyberbrain_core::domain::{ChunkHit, ChunkSearch};
use cyberbrain_core::{Error, FieldErrors, Result};
use rusqlite::{Connection, ToSql, params};

use crate::error::SqlContext;
use crate::vector_index::{VectorIndexes, check_query_vector, cosine, decode_vector};

/// A filter matching at most this many chunks is searched exactly, by scoring each of them;
/// larger ones use the index with the filter applied inside the graph search.
pub(super) const EXACT_FILTER_LIMIT: usize = 2_000;

#[cfg(test)]
thread_local! {
    /// Searches on this thread that fell back from the index to scoring every matching chunk.
    pub(super) static EXACT_FALLBACKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The largest `top_k` a search may ask for.
const MAX_TOP_K: usize = 50;

/// The request's rules, as messages naming the field.
pub(super) fn check(search: &ChunkSearch) -> Result<()> {
    let mut errors = FieldErrors::new();
    if search.model_id.trim().is_empty() {
        errors.add(
            "model_id",
            "must name the embedding model of the query vector",
        );
    }
    if !(1..=MAX_TOP_K).contains(&search.top_k) {
        errors.add(
            "top_k",
            format!("must be from 1 to {MAX_TOP_K}, got {}", search.top_k),
        );
    }
    if let Some(min) = search.min_score
        && !min.is_finite()
    {
        errors.add(
            "min_score",
            "must be a number (a cosine similarity, -1 to 1)",
        );
    }
    if let Err(Error::InvalidInput(vector_errors)) = check_query_vector(&search.vector) {
        for (field, messages) in vector_errors.fields() {
            for message in messages {
                errors.add(field, message.clone());
            }
        }
    }
    errors.into_result()
}

/// The `top_k` best chunks for `search` in the snapshot `conn` reads; a filter matching at most
/// `exact_limit` chunks is searched exactly.
pub(super) fn search(
    conn: &Connection,
    indexes: &VectorIndexes,
    search: &ChunkSearch,
    exact_limit: usize,
) -> Result<Vec<ChunkHit>> {
    let any: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM embeddings WHERE model_id = ?1)")
        .and_then(|mut s| s.query_row([&search.model_id], |r| r.get(0)))
        .context("looking for stored vectors")?;
    if !any {
        return Ok(Vec::new());
    }
    let scored = if search.document_ids.is_empty() && search.upload_ids.is_empty() {
        approximate(conn, indexes, search, None)?
    } else {
        let matching = filtered_chunk_ids(conn, search, Some(exact_limit + 1))?;
        if matching.len() <= exact_limit {
            score(conn, search, &matching)?
        } else {
            let mut allowed: Vec<usize> = filtered_chunk_ids(conn, search, None)?
                .into_iter()
                .filter_map(|id| usize::try_from(id).ok())
                .collect();
            allowed.sort_unstable();
            approximate(conn, indexes, search, Some(&allowed))?
        }
    };
    hits(conn, rank(scored, search))
}

/// Asks the index for more and more candidates until `top_k` live ones are found. When a graph
/// search comes back with fewer candidates than asked, it has walked every point it can reach
/// (a filtered search keeps walking until it has `ef` allowed points), so asking again cannot
/// help: then, if the database holds more matching chunks than were found (points the graph
/// cannot reach, or a filter it could not fill), every matching chunk is scored.
fn approximate(
    conn: &Connection,
    indexes: &VectorIndexes,
    search: &ChunkSearch,
    allowed: Option<&[usize]>,
) -> Result<Vec<(i64, f32)>> {
    let mut k = (search.top_k * 2).max(16);
    let mut ef = (k * 2).max(64);
    loop {
        let nearest = indexes.nearest(conn, &search.model_id, &search.vector, (k, ef), allowed)?;
        let scored = score(conn, search, &nearest.chunk_ids)?;
        if scored.len() >= search.top_k {
            return Ok(scored);
        }
        let exhausted = nearest.chunk_ids.len() < k || k >= nearest.points;
        if !exhausted {
            k = k.saturating_mul(4);
            ef = ef.saturating_mul(4);
            continue;
        }
        let matching = match allowed {
            Some(ids) => ids.len(),
            None => count_of_model(conn, &search.model_id)?,
        };
        if matching <= scored.len() {
            return Ok(scored);
        }
        #[cfg(test)]
        EXACT_FALLBACKS.with(|n| n.set(n.get() + 1));
        tracing::debug!(
            model_id = search.model_id,
            found = scored.len(),
            matching,
            "the vector index cannot reach every matching chunk; scoring them all"
        );
        let ids = match allowed {
            Some(ids) => ids
                .iter()
                .filter_map(|id| i64::try_from(*id).ok())
                .collect(),
            None => all_of_model(conn, &search.model_id)?,
        };
        return score(conn, search, &ids);
    }
}

/// The chunk ids with a vector of the model matching the search's document and upload
/// filters, in id order, at most `limit`.
fn filtered_chunk_ids(
    conn: &Connection,
    search: &ChunkSearch,
    limit: Option<usize>,
) -> Result<Vec<i64>> {
    let documents = serde_json::to_string(&search.document_ids).unwrap_or_else(|_| "[]".into());
    let uploads = serde_json::to_string(&search.upload_ids).unwrap_or_else(|_| "[]".into());
    let mut conditions = Vec::new();
    if !search.document_ids.is_empty() {
        conditions.push("d.id IN (SELECT value FROM json_each(?2))");
    }
    if !search.upload_ids.is_empty() {
        conditions.push("d.upload_id IN (SELECT value FROM json_each(?3))");
    }
    let sql = format!(
        "SELECT e.chunk_id FROM documents d \
         JOIN chunks c ON c.document_id = d.id \
         JOIN embeddings e ON e.chunk_id = c.id AND e.model_id = ?1 \
         WHERE {} ORDER BY e.chunk_id LIMIT ?4",
        conditions.join(" AND ")
    );
    let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let args: [&dyn ToSql; 4] = [&search.model_id, &documents, &uploads, &limit];
    conn.prepare_cached(&sql)
        .and_then(|mut s| s.query_map(&args[..], |r| r.get(0))?.collect())
        .context("listing the chunks a search's filters allow")
}

/// The cosine similarity of each chunk's stored vector to the query; chunks without a vector of
/// the model (deleted since the index saw them) are left out.
fn score(conn: &Connection, search: &ChunkSearch, chunk_ids: &[i64]) -> Result<Vec<(i64, f32)>> {
    if chunk_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(chunk_ids).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "SELECT chunk_id, vector FROM embeddings \
         WHERE model_id = ?1 AND chunk_id IN (SELECT value FROM json_each(?2))",
    )
    .and_then(|mut s| {
        s.query_map(params![search.model_id, ids], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
    })
    .context("reading candidate vectors")
    .map(|rows| {
        rows.into_iter()
            .filter_map(|(id, bytes)| Some((id, cosine(&search.vector, &decode_vector(&bytes)?))))
            .collect()
    })
}

/// Best first (score descending, then chunk id), at least `min_score`, at most `top_k`.
fn rank(mut scored: Vec<(i64, f32)>, search: &ChunkSearch) -> Vec<(i64, f32)> {
    scored.retain(|(_, s)| search.min_score.is_none_or(|min| *s >= min));
    scored.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(Ordering::Equal)
            .then(a.0.cmp(&b.0))
    });
    scored.truncate(search.top_k);
    scored
}

/// The hits for ranked chunks, with their text and document, in the given order.
fn hits(conn: &Connection, ranked: Vec<(i64, f32)>) -> Result<Vec<ChunkHit>> {
    let mut statement = conn
        .prepare_cached(
            "SELECT c.chunk_index, c.text, d.id, d.title, d.source, d.upload_id \
             FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ?1",
        )
        .context("reading search hits")?;
    let mut hits = Vec::with_capacity(ranked.len());
    for (chunk_id, score) in ranked {
        let hit = statement
            .query_row([chunk_id], |r| {
                Ok(ChunkHit {
                    chunk_id,
                    chunk_index: r.get(0)?,
                    chunk_text: r.get(1)?,
                    document_id: r.get(2)?,
                    document_title: r.get(3)?,
                    document_source: r.get(4)?,
                    upload_id: r.get(5)?,
                    score,
                })
            })
            .context("reading search hits")?;
        hits.push(hit);
    }
    Ok(hits)
}

fn count_of_model(conn: &Connection, model_id: &str) -> Result<usize> {
    let count: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM embeddings WHERE model_id = ?1")
        .and_then(|mut s| s.query_row([model_id], |r| r.get(0)))
        .context("counting stored vectors")?;
    Ok(usize::try_from(count).unwrap_or(0))
}

fn all_of_model(conn: &Connection, model_id: &str) -> Result<Vec<i64>> {
    conn.prepare_cached("SELECT chunk_id FROM embeddings WHERE model_id = ?1 ORDER BY chunk_id")
        .and_then(|mut s| s.query_map([model_id], |r| r.get(0))?.collect())
        .context("listing stored vectors")
}
