use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::wire_enum;

wire_enum! {
    /// What an artifact file holds.
    ArtifactKind {
        Markdown = "markdown",
        Json = "json",
        Text = "text",
        Mermaid = "mermaid",
    }
}

/// A report file under the artifacts root (`run_<id>/…`), registered with size and hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Artifact {
    pub id: i64,
    pub run_id: i64,
    pub run_job_id: Option<i64>,
    pub kind: ArtifactKind,
    /// Relative to the artifacts root; resolved with the G8 path check before any read.
    pub relative_path: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub mime_type: String,
    pub created_at: DateTime<Utc>,
}
