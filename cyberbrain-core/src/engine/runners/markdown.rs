//! The few Markdown pieces the runners add to the task reports (conditions, notes, the GPU
//! capacity summary), under the names the runners use. Same rules as the task modules'
//! renderers, so the same implementation: [`crate::tasks::markdown`].

pub(super) use crate::tasks::markdown::{inline as prose, inline_code as code};
