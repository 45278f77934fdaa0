//! The diagnostic tasks' deterministic parts (SPEC §3.2–3.4): log analysis, the GPU report and the
//! service map. Each is a pure transformation of what a source returned, so it is tested on
//! fixtures; the run engine feeds it real sources and adds the LLM step.

pub mod gpu;
pub mod logs;
pub(crate) mod markdown;
pub mod services;
