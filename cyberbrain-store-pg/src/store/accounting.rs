//! `AccountingStore` (SPEC §2.3, G2): LLM call rows summed onto their job and run, and the
//! operational counts behind the token, cost, usage and metrics endpoints.
//!
//! Sums are `SUM(...)::bigint` (PostgreSQL sums BIGINT as NUMERIC) and names sort with the "C"
//! collation, byte order, as on SQLite, whatever the database's default collation is.

use async_trait::async_trait;
use cyberbrain_core::domain::{
    DirectiveUsage, JobStatus, LlmCall, ModelUsage, NewLlmCall, RunStatus, StoreMetrics, TokenStats,
};
use cyberbrain_core::store::AccountingStore;
use cyberbrain_core::{Error, FieldErrors, Result};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgStore, decode_all, wire};
use crate::error::PgContext;

macro_rules! call_columns {
    () => {
        "id, run_id, run_job_id, model, endpoint_host, prompt_tokens, completion_tokens, \
         total_tokens, duration_ms, outcome, created_at"
    };
}

fn call_from_row(row: &PgRow) -> Result<LlmCall, sqlx::Error> {
    Ok(LlmCall {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        run_job_id: row.try_get("run_job_id")?,
        model: row.try_get("model")?,
        endpoint_host: row.try_get("endpoint_host")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        total_tokens: row.try_get("total_tokens")?,
        duration_ms: row.try_get("duration_ms")?,
        outcome: wire(row, "outcome")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Every negative count, named.
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
                format!("must be 0 or more (got {value}); record the counts the server reported"),
            );
        }
    }
    errors.into_result()
}

#[async_trait]
impl AccountingStore for PgStore {
    async fn record_llm_call(&self, call: NewLlmCall) -> Result<LlmCall> {
        check_counts(&call)?;
        let what = format!("recording an LLM call of run {}", call.run_id);
        let mut tx = self.begin(&what).await?;
        // Run first, then job: the lock order every run and job change follows.
        let run: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET prompt_tokens = prompt_tokens + $2, \
               completion_tokens = completion_tokens + $3, total_tokens = total_tokens + $4 \
             WHERE id = $1 RETURNING id",
        )
        .bind(call.run_id)
        .bind(call.prompt_tokens)
        .bind(call.completion_tokens)
        .bind(call.total_tokens)
        .fetch_optional(&mut *tx)
        .await
        .context(&what)?;
        if run.is_none() {
            return Err(Error::not_found("run", call.run_id));
        }
        if let Some(job_id) = call.run_job_id {
            let owner: Option<i64> = sqlx::query_scalar(
                "UPDATE run_jobs SET prompt_tokens = prompt_tokens + $2, \
                   completion_tokens = completion_tokens + $3, total_tokens = total_tokens + $4 \
                 WHERE id = $1 RETURNING run_id",
            )
            .bind(job_id)
            .bind(call.prompt_tokens)
            .bind(call.completion_tokens)
            .bind(call.total_tokens)
            .fetch_optional(&mut *tx)
            .await
            .context(&what)?;
            match owner {
                None => return Err(Error::not_found("run job", job_id)),
                // Dropping the transaction rolls the run's sums back too.
                Some(owner) if owner != call.run_id => {
                    return Err(Error::invalid(
                        "run_job_id",
                        format!(
                            "job {job_id} belongs to run {owner}, not run {}; record the call \
                             against the job's own run",
                            call.run_id
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let row = sqlx::query(concat!(
            "INSERT INTO llm_calls (run_id, run_job_id, model, endpoint_host, prompt_tokens, \
               completion_tokens, total_tokens, duration_ms, outcome, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
            call_columns!()
        ))
        .bind(call.run_id)
        .bind(call.run_job_id)
        .bind(&call.model)
        .bind(&call.endpoint_host)
        .bind(call.prompt_tokens)
        .bind(call.completion_tokens)
        .bind(call.total_tokens)
        .bind(call.duration_ms)
        .bind(call.outcome.as_str())
        .bind(call.created_at)
        .fetch_one(&mut *tx)
        .await
        .context(&what)?;
        let recorded = call_from_row(&row).context(&what)?;
        tx.commit().await.context(&what)?;
        Ok(recorded)
    }

    async fn list_llm_calls(&self, run_id: i64) -> Result<Vec<LlmCall>> {
        let what = format!("listing the LLM calls of run {run_id}");
        let mut tx = self.snapshot(&what).await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)")
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await
            .context(&what)?;
        if !exists {
            return Err(Error::not_found("run", run_id));
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            call_columns!(),
            " FROM llm_calls WHERE run_id = $1 ORDER BY id"
        ))
        .bind(run_id)
        .fetch_all(&mut *tx)
        .await
        .context(&what)?;
        tx.commit().await.context(&what)?;
        decode_all(&rows, &what, call_from_row)
    }

    async fn token_stats(&self) -> Result<TokenStats> {
        let what = "summing LLM token use";
        let row = sqlx::query(
            "SELECT COALESCE(SUM(total_tokens), 0)::bigint AS total, \
               COALESCE(SUM(prompt_tokens), 0)::bigint AS prompt, \
               COALESCE(SUM(completion_tokens), 0)::bigint AS completion, \
               COUNT(*) AS calls \
             FROM llm_calls",
        )
        .fetch_one(self.pool())
        .await
        .context(what)?;
        (|| {
            Ok(TokenStats {
                total_tokens: row.try_get("total")?,
                total_prompt_tokens: row.try_get("prompt")?,
                total_completion_tokens: row.try_get("completion")?,
                call_count: row.try_get("calls")?,
            })
        })()
        .context(what)
    }

    async fn usage_by_model(&self) -> Result<Vec<ModelUsage>> {
        let what = "summing LLM token use per model";
        let rows = sqlx::query(
            "SELECT model, SUM(prompt_tokens)::bigint AS prompt, \
               SUM(completion_tokens)::bigint AS completion, \
               SUM(total_tokens)::bigint AS total, COUNT(*) AS calls \
             FROM llm_calls GROUP BY model ORDER BY model COLLATE \"C\"",
        )
        .fetch_all(self.pool())
        .await
        .context(what)?;
        decode_all(&rows, what, |row| {
            Ok(ModelUsage {
                model: row.try_get("model")?,
                prompt_tokens: row.try_get("prompt")?,
                completion_tokens: row.try_get("completion")?,
                total_tokens: row.try_get("total")?,
                calls: row.try_get("calls")?,
            })
        })
    }

    async fn usage_by_directive(&self) -> Result<Vec<DirectiveUsage>> {
        let what = "summing runs and token use per directive";
        // By the snapshot's name and type: renamed or deleted directives keep their history.
        let rows = sqlx::query(
            "SELECT name, directive_type, COUNT(*) AS runs, SUM(prompt_tokens)::bigint AS prompt, \
               SUM(completion_tokens)::bigint AS completion, SUM(total_tokens)::bigint AS total \
             FROM (SELECT directive_snapshot ->> 'name' AS name, \
                     directive_snapshot ->> 'directive_type' AS directive_type, \
                     prompt_tokens, completion_tokens, total_tokens FROM runs) AS by_snapshot \
             GROUP BY name, directive_type \
             ORDER BY name COLLATE \"C\", directive_type COLLATE \"C\"",
        )
        .fetch_all(self.pool())
        .await
        .context(what)?;
        decode_all(&rows, what, |row| {
            Ok(DirectiveUsage {
                directive_name: row.try_get("name")?,
                directive_type: row.try_get("directive_type")?,
                runs: row.try_get("runs")?,
                prompt_tokens: row.try_get("prompt")?,
                completion_tokens: row.try_get("completion")?,
                total_tokens: row.try_get("total")?,
            })
        })
    }

    async fn metrics(&self) -> Result<StoreMetrics> {
        let what = "reading store metrics";
        // One snapshot, so the counts agree with each other.
        let mut tx = self.snapshot(what).await?;
        let mut metrics = StoreMetrics {
            runs_by_status: RunStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), 0))
                .collect(),
            jobs_by_status: JobStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), 0))
                .collect(),
            ..StoreMetrics::default()
        };
        let runs: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM runs GROUP BY status")
                .fetch_all(&mut *tx)
                .await
                .context(what)?;
        metrics.runs_by_status.extend(runs);
        let jobs: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM run_jobs GROUP BY status")
                .fetch_all(&mut *tx)
                .await
                .context(what)?;
        metrics.jobs_by_status.extend(jobs);
        // What a claim would consider, limits aside.
        metrics.runnable_jobs = sqlx::query_scalar(
            "SELECT COUNT(*) FROM run_jobs j JOIN runs r ON r.id = j.run_id \
             WHERE j.status = 'pending' AND r.approval_status IN ('none', 'approved') \
               AND r.status IN ('pending', 'running') AND r.cancel_requested_at IS NULL",
        )
        .fetch_one(&mut *tx)
        .await
        .context(what)?;
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE outcome = 'ok') AS ok, \
               COUNT(*) FILTER (WHERE outcome = 'error') AS error, \
               COALESCE(SUM(prompt_tokens), 0)::bigint AS prompt, \
               COALESCE(SUM(completion_tokens), 0)::bigint AS completion, \
               COALESCE(SUM(duration_ms), 0)::bigint AS duration \
             FROM llm_calls",
        )
        .fetch_one(&mut *tx)
        .await
        .context(what)?;
        tx.commit().await.context(what)?;
        (|| -> Result<(), sqlx::Error> {
            metrics.llm_calls_ok = row.try_get("ok")?;
            metrics.llm_calls_error = row.try_get("error")?;
            metrics.llm_prompt_tokens = row.try_get("prompt")?;
            metrics.llm_completion_tokens = row.try_get("completion")?;
            metrics.llm_duration_ms_sum = row.try_get("duration")?;
            Ok(())
        })()
        .context(what)?;
        Ok(metrics)
    }
}
