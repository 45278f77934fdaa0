//! `AccountingStore` (SPEC §2.3, G2): LLM call rows summed onto jobs and runs, and the counts
//! behind token stats, the cost report and `/metrics`. Everything is summed from the tables, so
//! every process reports the same numbers.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cyberbrain_core::domain::{
    DirectiveUsage, JobStatus, LlmCall, LlmOutcome, ModelUsage, NewLlmCall, RunStatus,
    StoreMetrics, TokenStats,
};
use cyberbrain_core::store::AccountingStore;
use cyberbrain_core::{Error, FieldErrors, Result};
use rusqlite::{Connection, Row, params};

use super::runs::find_job;
use super::{SqliteStore, exists};
use crate::codec::{Time, Wire};
use crate::error::SqlContext;

const CALL_COLUMNS: &str = "id, run_id, run_job_id, model, endpoint_host, prompt_tokens, \
     completion_tokens, total_tokens, duration_ms, outcome, created_at";

fn call_from_row(row: &Row<'_>) -> rusqlite::Result<LlmCall> {
    Ok(LlmCall {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        run_job_id: row.get("run_job_id")?,
        model: row.get("model")?,
        endpoint_host: row.get("endpoint_host")?,
        prompt_tokens: row.get("prompt_tokens")?,
        completion_tokens: row.get("completion_tokens")?,
        total_tokens: row.get("total_tokens")?,
        duration_ms: row.get("duration_ms")?,
        outcome: row.get::<_, Wire<LlmOutcome>>("outcome")?.0,
        created_at: row.get::<_, Time>("created_at")?.0,
    })
}

/// Counts are recorded exactly as the server reported them, so they can only be wrong by being
/// negative.
fn check_counts(call: &NewLlmCall) -> Result<()> {
    let mut errors = FieldErrors::new();
    for (field, value) in [
        ("prompt_tokens", call.prompt_tokens),
        ("completion_tokens", call.completion_tokens),
        ("total_tokens", call.total_tokens),
        ("duration_ms", call.duration_ms),
    ] {
        if value < 0 {
            errors.add(
                field,
                format!(
                    "must be 0 or more, got {value}; record the counts the LLM server reported"
                ),
            );
        }
    }
    errors.into_result()
}

/// Every value of a status enum with its count from `table` (zero for the ones with no rows).
fn counts_by_status(
    conn: &Connection,
    table: &str,
    statuses: impl Iterator<Item = &'static str>,
) -> Result<BTreeMap<String, i64>> {
    let mut counts: BTreeMap<String, i64> = statuses.map(|s| (s.to_string(), 0)).collect();
    let what = format!("counting {table} by status");
    let rows = conn
        .prepare_cached(&format!(
            "SELECT status, COUNT(*) FROM {table} GROUP BY status"
        ))
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .context(&what)?;
    for (status, count) in rows {
        counts.insert(status, count);
    }
    Ok(counts)
}

#[async_trait]
impl AccountingStore for SqliteStore {
    async fn record_llm_call(&self, call: NewLlmCall) -> Result<LlmCall> {
        check_counts(&call)?;
        self.write(move |conn| {
            if !exists(conn, "runs", call.run_id)? {
                return Err(Error::not_found("run", call.run_id));
            }
            if let Some(job_id) = call.run_job_id {
                let job =
                    find_job(conn, job_id)?.ok_or_else(|| Error::not_found("run job", job_id))?;
                if job.run_id != call.run_id {
                    return Err(Error::invalid(
                        "run_job_id",
                        format!(
                            "job {job_id} belongs to run {}, not run {}; record the call under \
                             the job's own run",
                            job.run_id, call.run_id
                        ),
                    ));
                }
            }
            let what = format!("recording an LLM call of run {}", call.run_id);
            let recorded = conn
                .prepare_cached(&format!(
                    "INSERT INTO llm_calls (run_id, run_job_id, model, endpoint_host, \
                     prompt_tokens, completion_tokens, total_tokens, duration_ms, outcome, \
                     created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                     RETURNING {CALL_COLUMNS}"
                ))
                .and_then(|mut s| {
                    s.query_row(
                        params![
                            call.run_id,
                            call.run_job_id,
                            call.model,
                            call.endpoint_host,
                            call.prompt_tokens,
                            call.completion_tokens,
                            call.total_tokens,
                            call.duration_ms,
                            Wire(call.outcome),
                            Time(call.created_at),
                        ],
                        call_from_row,
                    )
                })
                .context(&what)?;
            conn.prepare_cached(
                "UPDATE runs SET prompt_tokens = prompt_tokens + ?2, \
                 completion_tokens = completion_tokens + ?3, total_tokens = total_tokens + ?4 \
                 WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    call.run_id,
                    call.prompt_tokens,
                    call.completion_tokens,
                    call.total_tokens
                ])
            })
            .context(&what)?;
            if let Some(job_id) = call.run_job_id {
                conn.prepare_cached(
                    "UPDATE run_jobs SET prompt_tokens = prompt_tokens + ?2, \
                     completion_tokens = completion_tokens + ?3, \
                     total_tokens = total_tokens + ?4 WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        job_id,
                        call.prompt_tokens,
                        call.completion_tokens,
                        call.total_tokens
                    ])
                })
                .context(&what)?;
            }
            Ok(recorded)
        })
        .await
    }

    async fn list_llm_calls(&self, run_id: i64) -> Result<Vec<LlmCall>> {
        self.read(move |conn| {
            if !exists(conn, "runs", run_id)? {
                return Err(Error::not_found("run", run_id));
            }
            conn.prepare_cached(&format!(
                "SELECT {CALL_COLUMNS} FROM llm_calls WHERE run_id = ?1 ORDER BY id"
            ))
            .and_then(|mut s| s.query_map([run_id], call_from_row)?.collect())
            .context(&format!("listing the LLM calls of run {run_id}"))
        })
        .await
    }

    async fn token_stats(&self) -> Result<TokenStats> {
        self.read(|conn| {
            conn.query_row(
                "SELECT COALESCE(SUM(total_tokens), 0), COALESCE(SUM(prompt_tokens), 0), \
                 COALESCE(SUM(completion_tokens), 0), COUNT(*) FROM llm_calls",
                [],
                |r| {
                    Ok(TokenStats {
                        total_tokens: r.get(0)?,
                        total_prompt_tokens: r.get(1)?,
                        total_completion_tokens: r.get(2)?,
                        call_count: r.get(3)?,
                    })
                },
            )
            .context("summing LLM calls")
        })
        .await
    }

    async fn usage_by_model(&self) -> Result<Vec<ModelUsage>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT model, SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), \
                 COUNT(*) FROM llm_calls GROUP BY model ORDER BY model",
            )
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(ModelUsage {
                        model: r.get(0)?,
                        prompt_tokens: r.get(1)?,
                        completion_tokens: r.get(2)?,
                        total_tokens: r.get(3)?,
                        calls: r.get(4)?,
                    })
                })?
                .collect()
            })
            .context("summing LLM calls by model")
        })
        .await
    }

    async fn usage_by_directive(&self) -> Result<Vec<DirectiveUsage>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT json_extract(directive_snapshot, '$.name') AS name, \
                 json_extract(directive_snapshot, '$.directive_type') AS type, COUNT(*), \
                 SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens) \
                 FROM runs GROUP BY name, type ORDER BY name, type",
            )
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(DirectiveUsage {
                        directive_name: r.get(0)?,
                        directive_type: r.get(1)?,
                        runs: r.get(2)?,
                        prompt_tokens: r.get(3)?,
                        completion_tokens: r.get(4)?,
                        total_tokens: r.get(5)?,
                    })
                })?
                .collect()
            })
            .context("summing runs by directive")
        })
        .await
    }

    async fn metrics(&self) -> Result<StoreMetrics> {
        self.read(|conn| {
            let runs_by_status =
                counts_by_status(conn, "runs", RunStatus::ALL.iter().map(|s| s.as_str()))?;
            let jobs_by_status =
                counts_by_status(conn, "run_jobs", JobStatus::ALL.iter().map(|s| s.as_str()))?;
            let runnable_jobs = conn
                .query_row(
                    concat!(
                        "SELECT COUNT(*) FROM run_jobs j JOIN runs r ON r.id = j.run_id \
                         WHERE j.status = 'pending' AND ",
                        runnable_run!()
                    ),
                    [],
                    |r| r.get(0),
                )
                .context("counting runnable jobs")?;
            let mut metrics = conn
                .query_row(
                    "SELECT COUNT(*) FILTER (WHERE outcome = 'ok'), \
                     COUNT(*) FILTER (WHERE outcome = 'error'), \
                     COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), \
                     COALESCE(SUM(duration_ms), 0) FROM llm_calls",
                    [],
                    |r| {
                        Ok(StoreMetrics {
                            llm_calls_ok: r.get(0)?,
                            llm_calls_error: r.get(1)?,
                            llm_prompt_tokens: r.get(2)?,
                            llm_completion_tokens: r.get(3)?,
                            llm_duration_ms_sum: r.get(4)?,
                            ..StoreMetrics::default()
                        })
                    },
                )
                .context("summing LLM calls")?;
            metrics.runs_by_status = runs_by_status;
            metrics.jobs_by_status = jobs_by_status;
            metrics.runnable_jobs = runnable_jobs;
            Ok(metrics)
        })
        .await
    }
}
