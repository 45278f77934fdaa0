//! The `gpu_report` runner (SPEC §3.3) against the fixture `nvidia-smi`
//! (`tests/fixtures/gpu/nvidia-smi`, answering in the real CSV format; the scenario is chosen by
//! the name of a symlink to it), the missing-binary case, hotspot thresholds from the task
//! configuration, the allowlist (G5) for process mapping, and the D2+ capacity summary.
//!
//! Process → container mapping against real containers is in `runners_podman.rs`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{Harness, container, fixtures_dir, id};
use cyberbrain_core::Config;
use cyberbrain_core::domain::{JobStatus, RunStatus};
use cyberbrain_core::engine::LaunchRequest;
use cyberbrain_core::testing::{FakeContainerEngine, ScriptedLlm, ScriptedReply};
use serde_json::json;

const TASK: &str = "gpu_report";

/// Points `nvidia_smi` at a symlink `nvidia-smi.<scenario>` to the fixture script.
fn fixture_smi(config: &mut Config, scenario: &str) {
    let link: PathBuf = config.paths.data_dir.join(format!("nvidia-smi.{scenario}"));
    std::os::unix::fs::symlink(fixtures_dir().join("gpu/nvidia-smi"), &link)
        .expect("symlink the fixture nvidia-smi");
    config.gpu.nvidia_smi = link.display().to_string();
}

async fn smi_harness(scenario: &str) -> Harness {
    let scenario = scenario.to_owned();
    Harness::new(move |config| fixture_smi(config, &scenario)).await
}

async fn d2(harness: &Harness) -> LaunchRequest {
    LaunchRequest::new().with_directive(harness.directive_id("Conservative Recommendations").await)
}

#[tokio::test]
async fn a_busy_machine_gives_gpus_hotspots_and_processes() {
    let llm = Arc::new(ScriptedLlm::new([]));
    let harness = smi_harness("a100x8-busy").await.with_llm(llm.clone());
    let outcome = harness.run_task(TASK, LaunchRequest::new()).await;
    let result = outcome.value();
    assert_eq!(
        *result,
        json!({
            "status": "ok",
            "gpu_count": 8,
            "process_count": 10,
            "attributed_process_count": 0,
            // Utilisation above 80 %: GPUs 0, 1, 3, 6 (GPU 2 is at exactly 80); memory above
            // 90 %: GPUs 0, 1, 4 (GPU 5 is at exactly 90).
            "hotspot_count": 7,
            "utilization_hotspot_count": 4,
            "memory_hotspot_count": 3,
            // Processes but no container engine: the mapping could not be tried.
            "warning_count": 1,
            "capacity_summary": "not_requested",
            "findings": [],
        })
    );
    assert_eq!(outcome.job.status, JobStatus::Completed);
    assert_eq!(llm.calls(), 0, "D1 asks no LLM");
    assert!(outcome.calls.is_empty());

    let report = outcome.artifact_json(&harness, "gpu_report.json");
    assert_eq!(report["status"], "ok");
    assert_eq!(report["gpus"].as_array().map(Vec::len), Some(8));
    assert_eq!(report["gpus"][0]["name"], "NVIDIA A100-SXM4-80GB");
    assert_eq!(report["gpus"][0]["memory_used_mib"], 78211);
    assert_eq!(report["processes"].as_array().map(Vec::len), Some(10));
    assert_eq!(report["capacity_summary"]["status"], "not_requested");
    let markdown = outcome.artifact_text(&harness, "gpu_report.md");
    for expected in [
        "# GPU report",
        "**Status:** `ok` — 8 GPUs, 10 compute processes (0 in allowlisted containers), 7 hotspots.",
        "- GPU 0: utilisation 97 % (above 80 %)",
        "- GPU 4: memory 97.5 % (above 90 %)",
        "no container engine is configured",
    ] {
        assert!(
            markdown.contains(expected),
            "{expected:?} missing:\n{markdown}"
        );
    }
    assert!(!markdown.contains("Capacity summary"), "{markdown}");
    assert_eq!(outcome.run.status, RunStatus::Completed);
}

#[tokio::test]
async fn only_allowlisted_containers_are_inspected_for_process_mapping() {
    let engine = Arc::new(FakeContainerEngine::new());
    engine.add_container(container(&id('a'), "trainer", &[], &["gpu"], &[]), vec![]);
    engine.add_container(container(&id('b'), "miner", &[], &["gpu"], &[]), vec![]);
    let harness = smi_harness("a100x8-busy").await.with_engine(engine.clone());
    harness.allow("trainer").await;
    let outcome = harness.run_task(TASK, LaunchRequest::new()).await;
    assert_eq!(outcome.value()["warning_count"], 0);
    assert_eq!(
        engine.contacted(),
        [id('a')],
        "only the allowlisted container is inspected (G5)"
    );
    let markdown = outcome.artifact_text(&harness, "gpu_report.md");
    assert!(!markdown.contains("miner"), "{markdown}");
}

#[tokio::test]
async fn an_idle_gpu_without_processes_asks_no_engine() {
    let engine = Arc::new(FakeContainerEngine::new());
    engine.add_container(container(&id('a'), "trainer", &[], &[], &[]), vec![]);
    let harness = smi_harness("h100-idle").await.with_engine(engine.clone());
    harness.allow("trainer").await;
    let outcome = harness.run_task(TASK, LaunchRequest::new()).await;
    let result = outcome.value();
    assert_eq!(result["gpu_count"], 1);
    assert_eq!(result["process_count"], 0);
    assert_eq!(result["hotspot_count"], 0);
    assert!(engine.contacted().is_empty());
}

#[tokio::test]
async fn no_binary_or_no_gpus_is_reported_and_the_job_completes() {
    let missing = |config: &mut Config| {
        config.gpu.nvidia_smi = config
            .paths
            .data_dir
            .join("no-such-dir/nvidia-smi")
            .display()
            .to_string();
    };
    let cases: Vec<(Harness, &str)> = vec![
        (
            Harness::new(missing).await,
            "nvidia-smi not found: no file at",
        ),
        (
            Harness::new(|config| {
                config.gpu.nvidia_smi = "nvidia-smi-not-on-any-path".into();
            })
            .await,
            "no executable nvidia-smi-not-on-any-path on PATH",
        ),
        (
            smi_harness("driver-failure").await,
            "couldn't communicate with the NVIDIA driver",
        ),
        (smi_harness("no-devices").await, "No devices were found"),
        (smi_harness("empty").await, "no GPUs reported"),
    ];
    for (harness, reason) in cases {
        let outcome = harness.run_task(TASK, LaunchRequest::new()).await;
        let result = outcome.value();
        assert_eq!(result["status"], "no_gpus_available", "{reason}: {result}");
        assert_eq!(result["gpu_count"], 0);
        assert_eq!(outcome.job.status, JobStatus::Completed, "{reason}");
        let report = outcome.artifact_json(&harness, "gpu_report.json");
        let stated = report["reason"].as_str().unwrap_or_default();
        assert!(stated.contains(reason), "{reason:?} not in {stated:?}");
        let markdown = outcome.artifact_text(&harness, "gpu_report.md");
        assert!(markdown.contains("`no_gpus_available`"), "{markdown}");
        assert!(markdown.contains("the job completed"), "{markdown}");
        // The reason is for the report: the database keeps the counts only.
        assert!(!result.to_string().contains(reason), "{result}");
    }
}

#[tokio::test]
async fn thresholds_come_from_the_task_configuration() {
    let harness = smi_harness("a100x8-busy").await;
    harness
        .configure_task(
            TASK,
            json!({"util_threshold_pct": 95, "mem_threshold_pct": 95}),
        )
        .await;
    let outcome = harness.run_task(TASK, LaunchRequest::new()).await;
    let result = outcome.value();
    assert_eq!(result["utilization_hotspot_count"], 2, "{result}");
    assert_eq!(result["memory_hotspot_count"], 3, "{result}");
    let markdown = outcome.artifact_text(&harness, "gpu_report.md");
    assert!(
        markdown.contains("utilisation above 95 %, memory above 95 %"),
        "{markdown}"
    );

    harness
        .configure_task(TASK, json!({"util_threshold_pct": 120}))
        .await;
    let outcome = harness.run_task(TASK, LaunchRequest::new()).await;
    let error = outcome.error();
    assert!(
        error.contains("config.util_threshold_pct") && error.contains("from 0 to 100"),
        "{error}"
    );
    assert_eq!(outcome.job.status, JobStatus::Failed);
}

#[tokio::test]
async fn d2_adds_an_llm_capacity_summary() {
    let llm = Arc::new(ScriptedLlm::new([ScriptedReply::text(
        json!({"findings": [{
            "severity": "warning",
            "title": "Four GPUs are saturated",
            "explanation": "GPUs 0, 1, 3 and 6 run above 80 % while GPU 7 idles.",
            "recommendation": "Schedule new jobs on GPU 7.",
        }]})
        .to_string(),
        420,
        64,
    )]));
    let harness = smi_harness("a100x8-busy").await.with_llm(llm.clone());
    let request = d2(&harness).await;
    let outcome = harness.run_task(TASK, request).await;
    let result = outcome.value();
    assert_eq!(result["capacity_summary"], "ok");
    assert_eq!(
        result["findings"],
        json!([{"severity": "warning", "title": "Four GPUs are saturated"}])
    );
    assert_eq!(llm.calls(), 1);
    outcome.assert_one_call((420, 64));
    let markdown = outcome.artifact_text(&harness, "gpu_report.md");
    assert!(markdown.contains("## Capacity summary"), "{markdown}");
    assert!(
        markdown.contains("**Recommendation:** Schedule new jobs on GPU 7."),
        "{markdown}"
    );
    let report = outcome.artifact_json(&harness, "gpu_report.json");
    assert_eq!(report["capacity_summary"]["status"], "ok");
    assert_eq!(
        report["capacity_summary"]["findings"][0]["explanation"],
        "GPUs 0, 1, 3 and 6 run above 80 % while GPU 7 idles."
    );
    // The explanation is for the report, not the database.
    assert!(!outcome.job.result.to_string().contains("GPU 7 idles"));
}

#[tokio::test]
async fn a_failed_capacity_summary_is_reported_and_the_job_completes() {
    let cases = [
        (
            vec![ScriptedReply::Unavailable(
                "LLM endpoint unreachable: 127.0.0.1:1: connection refused".into(),
            )],
            "LLM endpoint unreachable",
            0,
        ),
        (vec![ScriptedReply::MissingUsage], "no usage", 0),
        (
            vec![
                ScriptedReply::text("not json", 50, 3),
                ScriptedReply::text("{\"findings\": 7}", 50, 4),
            ],
            "invalid JSON 2 times",
            2,
        ),
    ];
    for (replies, reason, rows) in cases {
        let harness = smi_harness("a100x8-busy")
            .await
            .with_llm(Arc::new(ScriptedLlm::new(replies)));
        let request = d2(&harness).await;
        let outcome = harness.run_task(TASK, request).await;
        let result = outcome.value();
        assert_eq!(outcome.job.status, JobStatus::Completed, "{reason}");
        assert_eq!(result["capacity_summary"], "failed", "{reason}");
        assert_eq!(result["gpu_count"], 8, "the GPU data is complete: {reason}");
        assert_eq!(
            outcome.calls.len(),
            rows,
            "{reason}: only answered calls are rows"
        );
        outcome.assert_totals_match_calls();
        let markdown = outcome.artifact_text(&harness, "gpu_report.md");
        assert!(
            markdown.contains("The LLM step failed"),
            "{reason}: {markdown}"
        );
        assert!(markdown.contains(reason), "{reason}: {markdown}");
        assert!(!markdown.contains("not json"), "the answer is never quoted");
    }
}

#[tokio::test]
async fn the_capacity_summary_is_skipped_without_gpus_or_llm() {
    let llm = Arc::new(ScriptedLlm::new([]));
    let harness = smi_harness("no-devices").await.with_llm(llm.clone());
    let request = d2(&harness).await;
    let outcome = harness.run_task(TASK, request).await;
    assert_eq!(outcome.value()["capacity_summary"], "skipped");
    assert_eq!(llm.calls(), 0);

    let harness = smi_harness("h100-idle").await;
    let request = d2(&harness).await;
    let outcome = harness.run_task(TASK, request).await;
    assert_eq!(outcome.value()["capacity_summary"], "skipped");
    let markdown = outcome.artifact_text(&harness, "gpu_report.md");
    assert!(markdown.contains("no LLM is configured"), "{markdown}");
}
