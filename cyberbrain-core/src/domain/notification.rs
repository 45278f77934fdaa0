use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire_enum;

wire_enum! {
    /// Where a notification target delivers.
    TargetKind {
        Discord = "discord",
        Email = "email",
        Webhook = "webhook",
    }
}

wire_enum! {
    /// Outbox state of one notification.
    NotificationStatus {
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
        Dead = "dead",
    }
}

/// A place run notifications go (Phase 4). Secrets in `config` are never returned in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationTarget {
    pub id: i64,
    pub name: String,
    pub kind: TargetKind,
    pub enabled: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One outbox row; `(run_id, target_id)` is unique. Payloads are counts-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    pub run_id: i64,
    pub target_id: i64,
    pub status: NotificationStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub error_summary: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A recommended Kubernetes NetworkPolicy for one observed service edge (D2+).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkPolicyRecommendation {
    pub id: i64,
    pub run_id: i64,
    pub source_service: String,
    pub target_service: String,
    pub port: i32,
    pub protocol: String,
    pub recommendation: String,
    pub policy_yaml: String,
    pub created_at: DateTime<Utc>,
}

/// A network-policy recommendation to record for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNetworkPolicy {
    pub run_id: i64,
    pub source_service: String,
    pub target_service: String,
    pub port: i32,
    pub protocol: String,
    pub recommendation: String,
    pub policy_yaml: String,
    pub created_at: DateTime<Utc>,
}
