//! The notification plug-in: delivers counts-only payloads to targets.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{NotificationTarget, Timestamp};

/// What a notification says about a run: counts, statuses and times only — never LLM text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationPayload {
    pub run_id: i64,
    pub status: String,
    pub directive_name: String,
    pub directive_type: String,
    pub jobs_total: u32,
    pub jobs_completed: u32,
    pub jobs_failed: u32,
    pub total_tokens: i64,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub error_summary: Option<String>,
    pub run_url: String,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again, no sooner than `retry_after_s` when the target said so (HTTP 429).
    Retry {
        reason: String,
        retry_after_s: Option<u64>,
    },
    /// Never going to work (bad address, 4xx other than 429).
    Permanent {
        reason: String,
    },
}

/// Delivers one payload to one target.
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    async fn send(
        &self,
        target: &NotificationTarget,
        payload: &NotificationPayload,
    ) -> DeliveryOutcome;
}
