//! Task `gpu_report` (SPEC §3.3), the deterministic part: run `nvidia-smi` in CSV mode, parse
//! its answer, find hotspots, attribute GPU processes to allowlisted containers, and build the
//! report (`gpu_report.json`, `gpu_report.md`, the counts for `summary.json`).
//!
//! The run engine's sequence:
//!
//! 1. [`query`] with the configured binary (`config.gpu.nvidia_smi`) and a timeout. A missing
//!    binary, a driver failure, a timeout or zero GPUs is [`GpuQuery::Unavailable`] — a reported
//!    condition (`no_gpus_available`), not a job failure.
//! 2. Only when [`GpuQuery::has_processes`]: inspect the *allowlisted* containers through
//!    [`crate::container::AllowlistedEngine`] to get their [`ContainerDetails`] (summary + pid).
//!    Processes are attributed by reading `/proc/<pid>/cgroup` ([`read_cgroup`]); a process
//!    whose container is not among those passed in stays unattributed and nothing about it is
//!    asked of the engine (G5).
//! 3. [`GpuReport::build`] with [`Thresholds::from_config`] of the task's config, then
//!    [`render_markdown`] and [`GpuReport::summary_json`]; the caller redacts (G6) and writes
//!    the artifacts, and adds the optional LLM capacity summary for D2+.
//!
//! [`ContainerDetails`]: crate::container::ContainerDetails

mod cgroup;
mod hotspots;
mod parse;
mod report;
mod smi;

use serde::{Deserialize, Serialize};

pub use cgroup::{
    AttributedProcess, attribute_processes, container_id_from_cgroup, container_ids_from_cgroup,
    read_cgroup,
};
pub use hotspots::{
    DEFAULT_MEM_THRESHOLD_PCT, DEFAULT_UTIL_THRESHOLD_PCT, Hotspot, HotspotKind, Thresholds,
    hotspots,
};
pub use parse::{parse_gpus, parse_processes};
pub use report::{GpuReport, GpuRow, GpuTotals, ReportStatus, render_markdown};
pub use smi::{
    APPS_FIELDS, APPS_QUERY_ARGS, DEFAULT_QUERY_TIMEOUT, GPU_FIELDS, GPU_QUERY_ARGS, GpuQuery,
    query, resolve_binary, resolve_binary_in,
};

/// One GPU as `nvidia-smi --query-gpu` reports it. Fields that the GPU or driver does not
/// report (`[N/A]`, `[Not Supported]`, …) are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    /// `index`: the driver's enumeration order (0-based).
    pub index: u32,
    /// `uuid`: `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, the key processes refer to.
    pub uuid: String,
    /// `name`: the product name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// `memory.total` in MiB.
    pub memory_total_mib: Option<u64>,
    /// `memory.used` in MiB.
    pub memory_used_mib: Option<u64>,
    /// `utilization.gpu` in percent (`[N/A]` e.g. in MIG mode).
    pub utilization_pct: Option<u32>,
    /// `temperature.gpu` in °C.
    pub temperature_c: Option<i32>,
    /// `power.draw` in W (`[N/A]` on many consumer and laptop GPUs).
    pub power_draw_w: Option<f64>,
}

impl Gpu {
    /// `memory.used / memory.total` in percent; `None` when either is unknown or the total is 0.
    pub fn memory_used_pct(&self) -> Option<f64> {
        match (self.memory_used_mib, self.memory_total_mib) {
            (Some(used), Some(total)) if total > 0 => Some(used as f64 * 100.0 / total as f64),
            _ => None,
        }
    }
}

/// One compute process as `nvidia-smi --query-compute-apps` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuProcess {
    /// `gpu_uuid`: the GPU the process runs on (see [`Gpu::uuid`]).
    pub gpu_uuid: String,
    /// `pid`: the host pid (what `nvidia-smi` on the host sees).
    pub pid: u32,
    /// `used_memory` in MiB; `[N/A]` e.g. under WDDM or without access to the process.
    pub used_memory_mib: Option<u64>,
}

/// Rounds to two decimals for the JSON artifact and the Markdown tables, so reports do not
/// carry float noise such as `93.44970703125`.
pub(crate) fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
