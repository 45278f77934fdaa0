//! The `gpu_report` result: `gpu_report.json` ([`GpuReport`] serialised), `gpu_report.md`
//! ([`render_markdown`]) and the counts for the run's `summary.json`
//! ([`GpuReport::summary_json`]).
//!
//! Text that comes from outside (GPU and container names, the reason, warnings) is rendered as
//! Markdown code spans, never as Markdown syntax: nothing in it can open a link, a tag or a
//! table cell, and the caller's G6 redaction afterwards still sees every e-mail address, path
//! or token whole (backslash escapes would split them, e.g. `john\_doe@…`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    AttributedProcess, Gpu, GpuQuery, Hotspot, HotspotKind, Thresholds, attribute_processes,
    hotspots, round2,
};
use crate::container::ContainerDetails;

/// The report's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// GPUs were queried.
    Ok,
    /// No `nvidia-smi`, a driver failure, a timeout or no GPUs; `reason` says which. The job
    /// still completes.
    NoGpusAvailable,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NoGpusAvailable => "no_gpus_available",
        }
    }
}

/// A GPU in the report: its query fields plus what the report derives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuRow {
    #[serde(flatten)]
    pub gpu: Gpu,
    /// Memory used in percent, two decimals.
    pub memory_used_pct: Option<f64>,
    /// Compute processes on this GPU.
    pub process_count: usize,
}

/// Sums over all GPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuTotals {
    pub gpu_count: usize,
    /// Summed over the GPUs that report both total and used memory, so that
    /// `memory_used_pct` is their ratio.
    pub memory_total_mib: u64,
    pub memory_used_mib: u64,
    pub memory_used_pct: Option<f64>,
    /// Mean over the GPUs that report utilisation.
    pub mean_utilization_pct: Option<f64>,
    /// Summed over the GPUs that report power draw; `None` when none does.
    pub power_draw_w: Option<f64>,
    pub process_count: usize,
    /// Processes attributed to an allowlisted container.
    pub attributed_process_count: usize,
    pub hotspot_count: usize,
}

/// Everything `gpu_report` found (`gpu_report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuReport {
    pub status: ReportStatus,
    /// Why no GPUs are available; `None` when `status` is `ok`.
    pub reason: Option<String>,
    pub thresholds: Thresholds,
    /// By index.
    pub gpus: Vec<GpuRow>,
    /// By GPU index, then pid; `container_name` set for allowlisted containers only.
    pub processes: Vec<AttributedProcess>,
    /// By GPU index, utilisation before memory.
    pub hotspots: Vec<Hotspot>,
    pub totals: GpuTotals,
    /// What the query warned about (e.g. a failed process query).
    pub warnings: Vec<String>,
}

impl GpuReport {
    /// The report for a query: attributes processes to `containers` (the allowlisted ones
    /// only, G5) by their cgroups (`read_cgroup`: pass [`super::read_cgroup`]) and finds the
    /// hotspots.
    pub fn build(
        query: GpuQuery,
        containers: &[ContainerDetails],
        thresholds: Thresholds,
        read_cgroup: impl FnMut(u32) -> Option<String>,
    ) -> Self {
        match query {
            GpuQuery::Unavailable { reason } => Self::unavailable(reason, thresholds),
            GpuQuery::Available {
                gpus,
                processes,
                warnings,
            } => {
                let processes = attribute_processes(&gpus, &processes, containers, read_cgroup);
                Self::from_parts(gpus, processes, thresholds, warnings)
            }
        }
    }

    /// The `no_gpus_available` report.
    pub fn unavailable(reason: impl Into<String>, thresholds: Thresholds) -> Self {
        Self {
            status: ReportStatus::NoGpusAvailable,
            reason: Some(reason.into()),
            thresholds,
            gpus: Vec::new(),
            processes: Vec::new(),
            hotspots: Vec::new(),
            totals: totals(&[], &[], 0),
            warnings: Vec::new(),
        }
    }

    /// The `ok` report from parsed GPUs and attributed processes. With no GPUs at all it is
    /// the `no_gpus_available` report (a caller cannot build an `ok` report of nothing).
    pub fn from_parts(
        mut gpus: Vec<Gpu>,
        processes: Vec<AttributedProcess>,
        thresholds: Thresholds,
        warnings: Vec<String>,
    ) -> Self {
        if gpus.is_empty() {
            return Self {
                warnings,
                ..Self::unavailable("no GPUs reported", thresholds)
            };
        }
        gpus.sort_by(|a, b| a.index.cmp(&b.index).then_with(|| a.uuid.cmp(&b.uuid)));
        let found = hotspots(&gpus, thresholds);
        let rows: Vec<GpuRow> = gpus
            .into_iter()
            .map(|gpu| GpuRow {
                memory_used_pct: gpu.memory_used_pct().map(round2),
                process_count: processes.iter().filter(|p| p.gpu_uuid == gpu.uuid).count(),
                gpu,
            })
            .collect();
        Self {
            status: ReportStatus::Ok,
            reason: None,
            thresholds,
            totals: totals(&rows, &processes, found.len()),
            gpus: rows,
            processes,
            hotspots: found,
            warnings,
        }
    }

    /// The counts for the run's `summary.json` (no names, ids or reasons).
    pub fn summary_json(&self) -> Value {
        let count = |kind: HotspotKind| self.hotspots.iter().filter(|h| h.kind == kind).count();
        json!({
            "status": self.status.as_str(),
            "gpu_count": self.totals.gpu_count,
            "process_count": self.totals.process_count,
            "attributed_process_count": self.totals.attributed_process_count,
            "hotspot_count": self.totals.hotspot_count,
            "utilization_hotspot_count": count(HotspotKind::Utilization),
            "memory_hotspot_count": count(HotspotKind::Memory),
            "warning_count": self.warnings.len(),
        })
    }
}

fn totals(rows: &[GpuRow], processes: &[AttributedProcess], hotspot_count: usize) -> GpuTotals {
    let (mut total, mut used) = (0u64, 0u64);
    for row in rows {
        if let (Some(t), Some(u)) = (row.gpu.memory_total_mib, row.gpu.memory_used_mib) {
            total = total.saturating_add(t);
            used = used.saturating_add(u);
        }
    }
    let utilizations: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.gpu.utilization_pct.map(f64::from))
        .collect();
    let powers: Vec<f64> = rows.iter().filter_map(|r| r.gpu.power_draw_w).collect();
    GpuTotals {
        gpu_count: rows.len(),
        memory_total_mib: total,
        memory_used_mib: used,
        memory_used_pct: (total > 0).then(|| round2(used as f64 * 100.0 / total as f64)),
        mean_utilization_pct: (!utilizations.is_empty())
            .then(|| round2(utilizations.iter().sum::<f64>() / utilizations.len() as f64)),
        power_draw_w: (!powers.is_empty()).then(|| round2(powers.iter().sum())),
        process_count: processes.len(),
        attributed_process_count: processes
            .iter()
            .filter(|p| p.container_id.is_some())
            .count(),
        hotspot_count,
    }
}

/// `gpu_report.md`.
pub fn render_markdown(report: &GpuReport) -> String {
    let mut md = String::from("# GPU report\n\n");
    if report.status == ReportStatus::NoGpusAvailable {
        md.push_str(&format!(
            "**Status:** `{}` — {}\n\nNo GPU data was collected; the job completed.\n",
            report.status.as_str(),
            code(report.reason.as_deref().unwrap_or("no reason given"))
        ));
        push_warnings(&mut md, &report.warnings);
        return md;
    }

    let t = &report.totals;
    md.push_str(&format!(
        "**Status:** `ok` — {} {}, {} compute {} ({} in allowlisted containers), {} {}.\n\n",
        t.gpu_count,
        plural(t.gpu_count, "GPU", "GPUs"),
        t.process_count,
        plural(t.process_count, "process", "processes"),
        t.attributed_process_count,
        t.hotspot_count,
        plural(t.hotspot_count, "hotspot", "hotspots"),
    ));
    md.push_str(&format!(
        "Hotspot thresholds: utilisation above {} %, memory above {} %.\n\n",
        round2(report.thresholds.util_threshold_pct),
        round2(report.thresholds.mem_threshold_pct)
    ));

    md.push_str("## GPUs\n\n");
    md.push_str("| GPU | Name | Memory used | Utilisation | Temperature | Power | Processes |\n");
    md.push_str("|---:|---|---:|---:|---:|---:|---:|\n");
    for row in &report.gpus {
        let g = &row.gpu;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            g.index,
            cell(&g.name),
            memory(g.memory_used_mib, g.memory_total_mib, row.memory_used_pct),
            unit(g.utilization_pct, " %"),
            unit(g.temperature_c, " °C"),
            unit(g.power_draw_w, " W"),
            row.process_count,
        ));
    }
    md.push_str(&format!(
        "| **all** | | {} | {} | | {} | {} |\n\n",
        memory(
            Some(t.memory_used_mib),
            Some(t.memory_total_mib),
            t.memory_used_pct
        ),
        unit(t.mean_utilization_pct, " % (mean)"),
        unit(t.power_draw_w, " W"),
        t.process_count,
    ));

    md.push_str("## Hotspots\n\n");
    if report.hotspots.is_empty() {
        md.push_str("None.\n\n");
    } else {
        for h in &report.hotspots {
            let what = match h.kind {
                HotspotKind::Utilization => "utilisation",
                HotspotKind::Memory => "memory",
            };
            md.push_str(&format!(
                "- GPU {}: {what} {} % (above {} %)\n",
                h.gpu_index,
                round2(h.value_pct),
                round2(h.threshold_pct)
            ));
        }
        md.push('\n');
    }

    md.push_str("## Compute processes\n\n");
    if report.processes.is_empty() {
        md.push_str("None.\n");
    } else {
        md.push_str("| GPU | PID | Memory | Container |\n|---:|---:|---:|---|\n");
        for p in &report.processes {
            let gpu = match p.gpu_index {
                Some(index) => index.to_string(),
                None => cell(&p.gpu_uuid),
            };
            let container = match &p.container_name {
                Some(name) => cell(name),
                None => "— (not an allowlisted container)".to_string(),
            };
            md.push_str(&format!(
                "| {gpu} | {} | {} | {container} |\n",
                p.pid,
                unit(p.used_memory_mib, " MiB"),
            ));
        }
    }
    push_warnings(&mut md, &report.warnings);
    md
}

fn push_warnings(md: &mut String, warnings: &[String]) {
    if warnings.is_empty() {
        return;
    }
    md.push_str("\n## Warnings\n\n");
    for warning in warnings {
        md.push_str(&format!("- {}\n", code(warning)));
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// A value with its unit, or `n/a`.
fn unit<T: std::fmt::Display>(value: Option<T>, suffix: &str) -> String {
    match value {
        Some(value) => format!("{value}{suffix}"),
        None => "n/a".to_string(),
    }
}

fn memory(used: Option<u64>, total: Option<u64>, pct: Option<f64>) -> String {
    let amounts = match (used, total) {
        (Some(used), Some(total)) => format!("{used} / {total} MiB"),
        (Some(used), None) => format!("{used} MiB / n/a"),
        (None, Some(total)) => format!("n/a / {total} MiB"),
        (None, None) => return "n/a".to_string(),
    };
    match pct {
        Some(pct) => format!("{amounts} ({pct} %)"),
        None => amounts,
    }
}

/// Outside text as a code span inside a table cell: `|` must still be escaped there (GFM
/// splits cells before it parses code spans).
fn cell(text: &str) -> String {
    code(text).replace('|', "\\|")
}

/// Outside text as a Markdown code span: control characters (line breaks included) become
/// spaces, and the fence is one backtick longer than the longest run of backticks inside.
fn code(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return "—".to_string();
    }
    crate::tasks::markdown::code_span(text)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::container::ContainerSummary;
    use crate::guardrails::redaction::redact;
    use crate::tasks::gpu::{GpuProcess, parse_gpus, parse_processes};

    const TRAINER: &str = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    const OTHER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn busy_query() -> GpuQuery {
        GpuQuery::Available {
            gpus: parse_gpus(include_str!(
                "../../../tests/fixtures/gpu/a100x8-busy.gpus.csv"
            ))
            .unwrap(),
            processes: parse_processes(include_str!(
                "../../../tests/fixtures/gpu/a100x8-busy.apps.csv"
            ))
            .unwrap(),
            warnings: vec![],
        }
    }

    fn trainer() -> ContainerDetails {
        ContainerDetails {
            summary: ContainerSummary {
                id: TRAINER.into(),
                name: "llm-trainer".into(),
                image: "nvcr.io/nvidia/pytorch:24.08-py3".into(),
                state: "running".into(),
                labels: BTreeMap::new(),
                networks: vec!["ml".into()],
                ports: vec![],
            },
            pid: Some(48211),
        }
    }

    /// The busy fixture's pids: 48213–48216 run in the allowlisted trainer (podman), 51002 in
    /// another container, the rest on the host.
    fn cgroups(pid: u32) -> Option<String> {
        match pid {
            48213..=48216 => Some(format!(
                "0::/machine.slice/libpod-{TRAINER}.scope/container\n"
            )),
            51002 => Some(format!("0::/system.slice/docker-{OTHER}.scope\n")),
            _ => Some("0::/user.slice/user-1000.slice/session-4.scope\n".into()),
        }
    }

    #[test]
    fn busy_report_has_hotspots_totals_and_attribution() {
        let report = GpuReport::build(busy_query(), &[trainer()], Thresholds::default(), cgroups);
        assert_eq!(report.status, ReportStatus::Ok);
        assert_eq!(report.reason, None);
        assert_eq!(report.gpus.len(), 8);
        let hot: Vec<(u32, HotspotKind)> = report
            .hotspots
            .iter()
            .map(|h| (h.gpu_index, h.kind))
            .collect();
        // GPU 2 sits exactly at 80 % utilisation and GPU 5 at exactly 90 % memory: neither is
        // a hotspot for that value.
        assert_eq!(
            hot,
            vec![
                (0, HotspotKind::Utilization),
                (0, HotspotKind::Memory),
                (1, HotspotKind::Utilization),
                (1, HotspotKind::Memory),
                (3, HotspotKind::Utilization),
                (4, HotspotKind::Memory),
                (6, HotspotKind::Utilization),
            ]
        );
        assert_eq!(report.totals.gpu_count, 8);
        assert_eq!(report.totals.process_count, 10);
        assert_eq!(report.totals.attributed_process_count, 4);
        assert_eq!(report.totals.hotspot_count, 7);
        assert_eq!(report.totals.memory_total_mib, 8 * 81920);
        let attributed: Vec<u32> = report
            .processes
            .iter()
            .filter(|p| p.container_name.as_deref() == Some("llm-trainer"))
            .map(|p| p.pid)
            .collect();
        assert_eq!(attributed, [48213, 48214, 48215, 48216]);
        let other = report.processes.iter().find(|p| p.pid == 51002).unwrap();
        assert_eq!(other.container_id, None, "not allowlisted: unattributed");
        assert_eq!(
            report.gpus.iter().map(|r| r.process_count).sum::<usize>(),
            10
        );

        let summary = report.summary_json();
        assert_eq!(
            summary,
            json!({
                "status": "ok",
                "gpu_count": 8,
                "process_count": 10,
                "attributed_process_count": 4,
                "hotspot_count": 7,
                "utilization_hotspot_count": 4,
                "memory_hotspot_count": 3,
                "warning_count": 0,
            })
        );

        // The JSON artifact round-trips and flattens the GPU fields into each row.
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["status"], "ok");
        assert_eq!(value["gpus"][0]["name"], "NVIDIA A100-SXM4-80GB");
        assert!(value["gpus"][0]["memory_used_pct"].is_f64());
        assert_eq!(value["hotspots"][0]["kind"], "utilization");
        assert_eq!(value["processes"][0]["gpu_index"], 0);
        let back: GpuReport = serde_json::from_value(value).unwrap();
        assert_eq!(back, report);

        let md = render_markdown(&report);
        assert!(md.starts_with("# GPU report\n"));
        assert!(md.contains(
            "**Status:** `ok` — 8 GPUs, 10 compute processes (4 in allowlisted containers), 7 \
             hotspots."
        ));
        assert!(
            md.contains("- GPU 0: utilisation 97 % (above 80 %)"),
            "{md}"
        );
        assert!(md.contains("| `llm-trainer` |"), "{md}");
        assert!(md.contains("— (not an allowlisted container)"));
        assert!(!md.contains(OTHER), "nothing about other containers");
    }

    #[test]
    fn nothing_is_attributed_without_allowlisted_containers() {
        let report = GpuReport::build(busy_query(), &[], Thresholds::default(), |_| {
            panic!("no cgroup read without containers")
        });
        assert_eq!(report.totals.attributed_process_count, 0);
        assert!(report.processes.iter().all(|p| p.container_name.is_none()));
    }

    #[test]
    fn unavailable_report() {
        let report = GpuReport::build(
            GpuQuery::Unavailable {
                reason: "nvidia-smi not found: no executable nvidia-smi on PATH".into(),
            },
            &[trainer()],
            Thresholds::default(),
            |_| panic!("no cgroup read without GPUs"),
        );
        assert_eq!(report.status, ReportStatus::NoGpusAvailable);
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["status"], "no_gpus_available");
        assert_eq!(
            value["reason"],
            "nvidia-smi not found: no executable nvidia-smi on PATH"
        );
        assert_eq!(value["totals"]["gpu_count"], 0);
        assert_eq!(value["totals"]["memory_used_pct"], Value::Null);
        assert_eq!(report.summary_json()["status"], "no_gpus_available");
        assert_eq!(report.summary_json()["gpu_count"], 0);
        let md = render_markdown(&report);
        assert_eq!(
            md,
            "# GPU report\n\n**Status:** `no_gpus_available` — `nvidia-smi not found: no \
             executable nvidia-smi on PATH`\n\nNo GPU data was collected; the job completed.\n"
        );
        // No GPUs from a caller's parts is the same condition.
        let empty = GpuReport::from_parts(vec![], vec![], Thresholds::default(), vec![]);
        assert_eq!(empty.status, ReportStatus::NoGpusAvailable);
        assert_eq!(empty.reason.as_deref(), Some("no GPUs reported"));
    }

    #[test]
    fn idle_and_na_reports_render() {
        let idle = GpuReport::build(
            GpuQuery::Available {
                gpus: parse_gpus(include_str!(
                    "../../../tests/fixtures/gpu/h100-idle.gpus.csv"
                ))
                .unwrap(),
                processes: vec![],
                warnings: vec![],
            },
            &[],
            Thresholds::default(),
            |_| None,
        );
        let md = render_markdown(&idle);
        assert!(
            md.contains("1 GPU, 0 compute processes (0 in allowlisted containers), 0 hotspots")
        );
        assert!(
            md.contains(
                "| 0 | `NVIDIA H100 80GB HBM3` | 0 / 81559 MiB (0 %) | 0 % | 31 °C | 69.84 W | 0 |"
            ),
            "{md}"
        );
        assert!(md.contains("## Hotspots\n\nNone."));
        assert!(md.contains("## Compute processes\n\nNone."));
        assert!(!md.contains("## Warnings"));

        let mixed = GpuReport::build(
            GpuQuery::Available {
                gpus: parse_gpus(include_str!(
                    "../../../tests/fixtures/gpu/mixed-na.gpus.csv"
                ))
                .unwrap(),
                processes: parse_processes(include_str!(
                    "../../../tests/fixtures/gpu/mixed-na.apps.csv"
                ))
                .unwrap(),
                warnings: vec!["WARNING: infoROM is corrupted at gpu 0000:01:00.0".into()],
            },
            &[],
            Thresholds::default(),
            |_| None,
        );
        let md = render_markdown(&mixed);
        assert!(md.contains("| n/a |"), "{md}");
        assert!(md.contains("## Warnings\n\n- `WARNING: infoROM is corrupted"));
        // Power is summed over the GPUs that report it.
        assert_eq!(mixed.totals.power_draw_w, Some(round2(41.27 + 38.5)));
        assert_eq!(
            mixed.totals.mean_utilization_pct,
            Some(round2((3.0 + 0.0) / 2.0))
        );
        assert_eq!(mixed.summary_json()["warning_count"], 1);
    }

    #[test]
    fn totals_skip_unknown_values() {
        let gpu = |index, used, total, util, power| Gpu {
            index,
            uuid: format!("GPU-{index}"),
            name: "T".into(),
            memory_total_mib: total,
            memory_used_mib: used,
            utilization_pct: util,
            temperature_c: None,
            power_draw_w: power,
        };
        let report = GpuReport::from_parts(
            vec![
                gpu(1, Some(50), Some(100), Some(10), None),
                gpu(0, None, Some(1000), None, None),
                gpu(2, Some(25), Some(100), Some(20), None),
            ],
            vec![],
            Thresholds::default(),
            vec![],
        );
        assert_eq!(
            report.gpus.iter().map(|r| r.gpu.index).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let t = &report.totals;
        assert_eq!((t.memory_used_mib, t.memory_total_mib), (75, 200));
        assert_eq!(t.memory_used_pct, Some(37.5));
        assert_eq!(t.mean_utilization_pct, Some(15.0));
        assert_eq!(t.power_draw_w, None);
        let md = render_markdown(&report);
        assert!(
            md.contains("| 0 | `T` | n/a / 1000 MiB | n/a | n/a | n/a | 0 |"),
            "{md}"
        );
    }

    #[test]
    fn outside_text_cannot_break_the_markdown() {
        let hostile = Gpu {
            index: 0,
            uuid: "GPU-x".into(),
            name: "Evil | <script>alert(1)</script> `tick` [link](http://x)\n# heading".into(),
            memory_total_mib: Some(10),
            memory_used_mib: Some(1),
            utilization_pct: Some(1),
            temperature_c: Some(1),
            power_draw_w: Some(1.0),
        };
        let process = AttributedProcess {
            gpu_uuid: "GPU-x".into(),
            gpu_index: Some(0),
            pid: 7,
            used_memory_mib: None,
            container_id: Some(TRAINER.into()),
            container_name: Some("a|b".into()),
        };
        let report = GpuReport::from_parts(
            vec![hostile],
            vec![process],
            Thresholds::default(),
            vec!["``already fenced``\r\nsecond line".into()],
        );
        let md = render_markdown(&report);
        let gpu_line = md.lines().find(|l| l.starts_with("| 0 |")).unwrap();
        assert_eq!(
            gpu_line,
            "| 0 | ``Evil \\| <script>alert(1)</script> `tick` [link](http://x) # heading`` | \
             1 / 10 MiB (10 %) | 1 % | 1 °C | 1 W | 1 |"
        );
        // Every line of a table row stays one line: no injected headings.
        assert!(!md.lines().any(|l| l.starts_with("# heading")));
        assert!(md.contains("| `a\\|b` |"), "{md}");
        assert!(
            md.contains("- ``` ``already fenced``  second line ```"),
            "{md}"
        );
        assert_eq!(code(""), "—");
        assert_eq!(code("`"), "`` ` ``");
    }

    #[test]
    fn rendered_text_stays_redactable() {
        let report = GpuReport::unavailable(
            "cannot run /home/john_doe/bin/nvidia-smi: ask john_doe@example.com",
            Thresholds::default(),
        );
        let md = render_markdown(&report);
        let redacted = redact(&md);
        assert!(!redacted.contains("john_doe"), "{redacted}");
        assert!(redacted.contains("<email>"), "{redacted}");
    }

    #[test]
    fn process_on_an_unlisted_gpu_shows_its_uuid() {
        let report = GpuReport::build(
            GpuQuery::Available {
                gpus: parse_gpus("0, GPU-a, T4, 100, 1, 1, 30, 20\n").unwrap(),
                processes: vec![GpuProcess {
                    gpu_uuid: "GPU-gone".into(),
                    pid: 9,
                    used_memory_mib: Some(5),
                }],
                warnings: vec![],
            },
            &[],
            Thresholds::default(),
            |_| None,
        );
        assert!(render_markdown(&report).contains("| `GPU-gone` | 9 | 5 MiB |"));
    }
}
