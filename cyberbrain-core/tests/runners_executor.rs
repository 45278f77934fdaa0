//! Every built-in runner through the real [`Executor`]: a default launch (all active tasks)
//! runs `log_triage`, `gpu_report` and `service_map` to completion, and the run report nests
//! each task's report. The runners' own behaviour is tested in `runners_*.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Harness, container, fixtures_dir, id};
use cyberbrain_core::domain::{JobStatus, RunStatus};
use cyberbrain_core::engine::{Executor, LaunchRequest};
use cyberbrain_core::testing::{FakeContainerEngine, ScriptedLlm, ScriptedReply};
use serde_json::json;

#[tokio::test]
async fn a_default_launch_runs_every_builtin_task_through_the_executor() {
    let llm = Arc::new(ScriptedLlm::new([ScriptedReply::text(
        json!({"findings": [{"severity": "error", "title": "Upstream timeouts",
                             "explanation": "nginx cannot reach the app.", "recommendation": "Restart it."}]})
        .to_string(),
        150,
        25,
    )]));
    let engine = Arc::new(FakeContainerEngine::new());
    engine.add_container(
        container(
            &id('a'),
            "web",
            &[("com.docker.compose.service", "web")],
            &["net"],
            &[],
        ),
        vec![],
    );
    let harness = Harness::new(|config| {
        let link = config.paths.data_dir.join("nvidia-smi.h100-idle");
        std::os::unix::fs::symlink(fixtures_dir().join("gpu/nvidia-smi"), &link)
            .expect("symlink the fixture nvidia-smi");
        config.gpu.nvidia_smi = link.display().to_string();
    })
    .await
    .with_llm(llm.clone())
    .with_engine(engine);
    harness.allow("web").await;
    harness.copy_log_fixture("nginx_error.log");

    let executor = Executor::new(harness.cb.clone()).spawn();
    let run = harness
        .cb
        .launch(LaunchRequest::new())
        .await
        .expect("launch");
    let run = harness
        .cb
        .wait_for_run(run.id, Duration::from_secs(60))
        .await
        .expect("the run ends");
    executor.shutdown().await.expect("executor shutdown");

    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error_summary);
    let jobs = harness
        .cb
        .store()
        .list_run_jobs(run.id)
        .await
        .expect("jobs");
    let keys: Vec<&str> = jobs.iter().map(|j| j.task_key.as_str()).collect();
    assert_eq!(keys, ["log_triage", "gpu_report", "service_map"]);
    assert!(
        jobs.iter().all(|j| j.status == JobStatus::Completed),
        "{jobs:#?}"
    );
    assert_eq!(jobs[0].result["findings_count"], 1);
    assert_eq!(jobs[1].result["status"], "ok");
    assert_eq!(jobs[2].result["containers"], 1);
    assert_eq!(llm.calls(), 1);
    assert_eq!(run.total_tokens, 175);

    let report = std::fs::read_to_string(
        harness
            .artifacts_dir
            .join(format!("run_{}/report.md", run.id)),
    )
    .expect("run report");
    for section in ["### Log triage", "### GPU report", "### Service map"] {
        assert!(report.contains(section), "{section} missing:\n{report}");
    }
    let names: Vec<String> = harness
        .artifacts_of(run.id)
        .await
        .into_iter()
        .map(|a| a.relative_path)
        .collect();
    for file in [
        "log_triage.md",
        "log_triage.json",
        "gpu_report.md",
        "gpu_report.json",
        "services.json",
        "services.mmd",
        "service_map.md",
        "report.md",
        "summary.json",
    ] {
        let path = format!("run_{}/{file}", run.id);
        assert!(names.contains(&path), "{path} not registered: {names:?}");
    }
}
