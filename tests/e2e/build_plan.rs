//! The build plan's "Running & Validation" curl examples for Phase 2, verbatim (host replaced),
//! against the real server and a `cyberbrain scheduler` process sharing its database.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::scheduler::scheduler_process;
use crate::server::{Backend, Server};

/// Runs one documented command line with `<UNRAID_HOST>` replaced; returns its stdout.
fn run_documented(command_line: &str, server: &Server) -> String {
    let host = server.addr.to_string().replace(":9595", "");
    let line = command_line.replace("<UNRAID_HOST>:9595", &server.addr.to_string());
    let line = line.replace("<UNRAID_HOST>", &host);
    let output = Command::new("bash")
        .args(["-o", "pipefail", "-c", &line])
        .output()
        .expect("run bash (curl and jq are installed by scripts/test)");
    assert!(
        output.status.success(),
        "{line}\nexited with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

#[tokio::test]
async fn the_build_plans_phase_2_commands_work_verbatim() {
    let server = Server::start_on(Backend::Sqlite, None).await;
    let data_dir = server.data_dir();
    let work_dir = data_dir
        .parent()
        .expect("the data dir has a parent")
        .to_path_buf();
    let database_url = format!("sqlite://{}", data_dir.join("cyberbrain.db").display());
    let mut scheduler = scheduler_process(&work_dir, &database_url, "build-plan");

    let created = json(
        &run_documented(
            r#"curl -X POST http://<UNRAID_HOST>:9595/api/schedules/ \
  -H "Content-Type: application/json" \
  -d '{
    "name": "triage-every-5",
    "job_key": "log_triage",
    "enabled": true,
    "schedule_type": "interval",
    "interval_minutes": 5,
    "timezone": "UTC"
  }'"#,
            &server,
        ),
        "create",
    );
    assert_eq!(created["id"], 1, "{created}");
    assert_eq!(created["task"]["task_key"], "log_triage");
    assert!(created["next_run_at"].is_string(), "{created}");

    let now = json(
        &run_documented(
            "curl -X POST http://<UNRAID_HOST>:9595/api/schedules/1/run-now",
            &server,
        ),
        "run-now",
    );
    let run_id = now["run_id"].as_i64().expect("run_id");

    // The run ends (executed by the server or the scheduler process, whichever claims it).
    let deadline = Instant::now() + Duration::from_secs(60);
    let history = loop {
        let history = json(
            &run_documented(
                "curl -s http://<UNRAID_HOST>:9595/api/schedules/1/history | jq .",
                &server,
            ),
            "history",
        );
        let status = history["items"][0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == "finished" || status == "failed" {
            break history;
        }
        assert!(
            Instant::now() < deadline,
            "the run-now run never ended: {history}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(history["count"], 1, "{history}");
    assert_eq!(history["items"][0]["run_id"], run_id);
    assert_eq!(history["items"][0]["status"], "finished", "{history}");

    let runs = json(
        &run_documented(
            "curl -s http://<UNRAID_HOST>:9595/api/runs/ | jq .",
            &server,
        ),
        "runs",
    );
    assert!(
        runs["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|run| run["id"] == run_id && run["trigger"] == "schedule"),
        "{runs}"
    );
    let report = json(
        &run_documented(
            &format!("curl -s http://<UNRAID_HOST>:9595/api/runs/{run_id}/report/ | jq ."),
            &server,
        ),
        "report",
    );
    assert_eq!(report["status"], "completed", "{report}");
    assert!(
        report["markdown"]
            .as_str()
            .is_some_and(|m| m.contains("log_triage")),
        "{report}"
    );

    let _ = scheduler.kill();
    let _ = scheduler.wait();
}
