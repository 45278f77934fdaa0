//! Token accounting and operational counts, summed by the store from `llm_calls`, `runs` and
//! `run_jobs` (so every process sees the same numbers).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /api/token-stats/`: totals over every recorded LLM call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenStats {
    pub total_tokens: i64,
    pub total_prompt_tokens: i64,
    pub total_completion_tokens: i64,
    pub call_count: i64,
}

/// Token use of one model (the basis of the cost report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelUsage {
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub calls: i64,
}

/// Runs and token use per directive (by the snapshot's name and type, so renamed or deleted
/// directives keep their history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectiveUsage {
    pub directive_name: String,
    pub directive_type: String,
    pub runs: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// Counts behind `/metrics` and `/metrics/json/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreMetrics {
    /// Every run status with its count (zero included).
    pub runs_by_status: BTreeMap<String, i64>,
    /// Every job status with its count (zero included).
    pub jobs_by_status: BTreeMap<String, i64>,
    /// Pending jobs an executor could claim now, limits aside (the executor queue depth).
    pub runnable_jobs: i64,
    pub llm_calls_ok: i64,
    pub llm_calls_error: i64,
    pub llm_prompt_tokens: i64,
    pub llm_completion_tokens: i64,
    /// Sum of `duration_ms` over every call.
    pub llm_duration_ms_sum: i64,
}
