use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{PageRequest, wire_enum};

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

impl ArtifactKind {
    /// The MIME type served for this kind.
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Markdown => "text/markdown; charset=utf-8",
            Self::Json => "application/json",
            Self::Text | Self::Mermaid => "text/plain; charset=utf-8",
        }
    }
}

/// A written artifact file to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArtifact {
    pub run_id: i64,
    pub run_job_id: Option<i64>,
    pub kind: ArtifactKind,
    pub relative_path: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub mime_type: String,
    pub created_at: DateTime<Utc>,
}

/// Filters for listing artifacts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactQuery {
    pub run_id: Option<i64>,
    pub page: PageRequest,
}
