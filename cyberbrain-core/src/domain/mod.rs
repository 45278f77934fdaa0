//! The whole domain model of SPEC §2 (all phases), shared by every store and host.
//!
//! Ids are 64-bit integers and times are UTC. Each area lives in its own module; the types that
//! create or change rows (`New*`, `*Patch`) sit beside the row type they produce.

mod accounting;
mod allowlist;
mod artifact;
mod auth;
mod directive;
mod notification;
mod page;
mod rag;
mod rollup;
mod run;
mod schedule;
mod task;

pub use accounting::{DirectiveUsage, ModelUsage, StoreMetrics, TokenStats};
pub use allowlist::{
    AllowlistEntry, AllowlistPatch, InventoryQuery, InventorySnapshot, NewAllowlistEntry,
    NewInventorySnapshot,
};
pub use artifact::{Artifact, ArtifactKind, ArtifactQuery, NewArtifact};
pub use auth::{ApiToken, Role};
pub use directive::{
    DEFAULT_DIRECTIVE_NAME, Directive, DirectivePatch, DirectiveSnapshot, DirectiveType,
    NewDirective,
};
pub use notification::{
    NetworkPolicyRecommendation, NewNetworkPolicy, Notification, NotificationStatus,
    NotificationTarget, TargetKind,
};
pub use page::{MAX_PAGE_SIZE, Page, PageRequest};
pub use rag::{
    Chunk, ChunkHit, ChunkSearch, ClaimUpload, Document, DocumentInfo, EMBEDDING_DIMENSION,
    Embedding, FailUpload, IngestedDocument, NewChunk, NewRetrievalEvent, NewUpload,
    RetrievalEvent, Upload, UploadCreated, UploadProgress, UploadQuery, UploadStatus,
};
pub use rollup::{JobOutcome, MAX_ERROR_SUMMARY_CHARS, clip_error_summary, expired_lease, roll_up};
pub use run::{
    ApprovalStatus, ClaimJobs, FinishJob, JobFinished, JobStatus, LeaseState, LlmCall, LlmOutcome,
    NewLlmCall, NewRun, ReapLeases, RenewLease, Run, RunJob, RunQuery, RunStatus, Task3Scope,
    Trigger,
};
pub use schedule::{
    FireDecision, Fired, MisfirePolicy, NewSchedule, RunningCounts, Schedule, ScheduleType,
    ScheduledRun, ScheduledRunStatus, slot_already_fired,
};
pub use task::{NewTaskDefinition, TaskDefinition, TaskDefinitionPatch, TaskKey};

/// UTC timestamp used for every time in the model.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Declares a string-valued enum with its wire names, `as_str`, `FromStr` (whose error lists the
/// allowed values) and serde in one place, so the database, JSON and forms all agree.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            // utoipa does not see a `serde(rename)` whose value comes from a macro argument;
            // `schema(rename)` gives the OpenAPI document the wire names too.
            $($(#[$vmeta])* #[serde(rename = $wire)]
              #[cfg_attr(feature = "openapi", schema(rename = $wire))] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire (database and JSON) name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }

            /// The allowed wire names joined for error messages: `"a", "b"`.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| format!("\"{}\"", v.as_str())).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(value: &str) -> Result<Self, String> {
                match value {
                    $($wire => Ok(Self::$variant),)+
                    other => Err(format!("\"{other}\" is not one of {}", Self::allowed())),
                }
            }
        }
    };
}
pub(crate) use wire_enum;

/// Distinguishes "absent" (leave alone) from `null` (clear) in a JSON patch.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
