//! `cyberbrain run`: launch a run from the command line through the same engine path as
//! `POST /api/runs/launch/` (trigger `manual`), and with `--wait` execute it in this process
//! and print its report.
//!
//! Progress goes to stderr and the report to stdout, so `cyberbrain run --wait > report.md`
//! keeps just the report. Exit status with `--wait`: 0 completed, 1 failed or cancelled (or the
//! launch was refused), 3 the run awaits approval, 4 it did not end within `--timeout`.

use std::process::ExitCode;
use std::time::Duration;

use cyberbrain_core::domain::{ApprovalStatus, Run, RunStatus, Trigger};
use cyberbrain_core::engine::{Executor, LaunchRequest};
use cyberbrain_core::{Config, Cyberbrain, Error};

use super::signal::shutdown_signal;
use super::{CliError, open};

/// Exit status when the run waits for an approver.
const EXIT_AWAITS_APPROVAL: u8 = 3;
/// Exit status when `--timeout` passed before the run ended.
const EXIT_TIMED_OUT: u8 = 4;

/// How long `--wait` waits unless told otherwise.
const DEFAULT_TIMEOUT_S: u64 = 600;

/// Arguments of `cyberbrain run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// A task key or alias (task1, task2, task3); repeat for several. Without any, every active
    /// task runs.
    #[arg(long = "task", value_name = "KEY")]
    pub tasks: Vec<String>,
    /// The id of the directive to run under (default: the directive named `default`).
    #[arg(long, value_name = "ID")]
    pub directive: Option<i64>,
    /// Execute the run in this process, wait until it ends and print its report (report.md).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up waiting after this many seconds (default 600). The run itself goes
    /// on in any executor (`cyberbrain serve` or `cyberbrain scheduler`).
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub timeout: Option<u64>,
}

impl RunArgs {
    fn launch_request(&self) -> LaunchRequest {
        let mut request = LaunchRequest::new().with_trigger(Trigger::Manual);
        if !self.tasks.is_empty() {
            request = request.with_tasks(self.tasks.iter().map(|task| task.trim()));
        }
        if let Some(directive) = self.directive {
            request = request.with_directive(directive);
        }
        request
    }
}

pub(crate) async fn run(config: Config, args: RunArgs) -> Result<ExitCode, CliError> {
    if args.timeout == Some(0) {
        return Err(CliError::usage(
            "--timeout must be 1 second or more; leave it out to wait up to 600 s",
        ));
    }
    let cb = open::with_plugins(config).await?;
    let run = cb
        .launch(args.launch_request())
        .await
        .map_err(|e| match e {
            Error::InvalidInput(fields) => CliError::usage(format!(
                "the run was not launched: {fields}\nsee the task keys with GET /api/tasks/ and \
                 the directive ids with GET /api/directives/"
            )),
            other => CliError::failed(format!("the run was not launched: {other}")),
        })?;
    let jobs = cb.run_jobs(run.id).await.unwrap_or_default();
    let tasks: Vec<&str> = jobs.iter().map(|job| job.task_key.as_str()).collect();
    eprintln!(
        "run {} launched: {} under directive \"{}\" ({})",
        run.id,
        tasks.join(", "),
        run.directive_snapshot.name,
        run.directive_snapshot.directive_type
    );

    if run.approval_status == ApprovalStatus::Pending {
        eprintln!("{}", awaiting_approval(&run));
        return Ok(if args.wait {
            ExitCode::from(EXIT_AWAITS_APPROVAL)
        } else {
            ExitCode::SUCCESS
        });
    }
    if !args.wait {
        println!("{}", run.id);
        eprintln!(
            "an executor (`cyberbrain serve` or `cyberbrain scheduler`) runs it; follow it at \
             /api/runs/{}/ or rerun with --wait to execute it here",
            run.id
        );
        return Ok(ExitCode::SUCCESS);
    }
    let timeout = Duration::from_secs(args.timeout.unwrap_or(DEFAULT_TIMEOUT_S));
    wait_and_report(&cb, run.id, timeout).await
}

/// Runs an executor here until the run ends (or the timeout or a signal), then prints the
/// report.
async fn wait_and_report(
    cb: &Cyberbrain,
    run_id: i64,
    timeout: Duration,
) -> Result<ExitCode, CliError> {
    // This executor claims any runnable job on the database, like every executor: a run is
    // executed by whichever executor claims its jobs first.
    let executor = Executor::new(cb.clone()).spawn();
    let waited = tokio::select! {
        waited = cb.wait_for_run(run_id, timeout) => Some(waited),
        () = shutdown_signal() => None,
    };
    if let Err(e) = executor.shutdown().await {
        tracing::error!(error = %e, "the executor stopped with an error");
    }
    let run = match waited {
        None => {
            return Err(CliError::failed(format!(
                "interrupted; run {run_id} goes on in any executor (`cyberbrain serve` or \
                 `cyberbrain scheduler`); cancel it with POST /api/runs/{run_id}/cancel/"
            )));
        }
        Some(Err(Error::Unavailable { message, .. })) => {
            eprintln!(
                "{message}\nthe run goes on in any executor; cancel it with POST \
                 /api/runs/{run_id}/cancel/"
            );
            return Ok(ExitCode::from(EXIT_TIMED_OUT));
        }
        Some(Err(e)) => return Err(CliError::failed(format!("waiting for run {run_id}: {e}"))),
        Some(Ok(run)) => run,
    };
    if run.approval_status == ApprovalStatus::Pending {
        eprintln!("{}", awaiting_approval(&run));
        return Ok(ExitCode::from(EXIT_AWAITS_APPROVAL));
    }
    let report = cb
        .run_report(run_id)
        .await
        .map_err(|e| CliError::failed(format!("run {run_id} ended but its report: {e}")))?;
    match report.markdown {
        Some(markdown) => print!("{markdown}"),
        None => println!(
            "{}",
            serde_json::to_string_pretty(&report.json).unwrap_or_default()
        ),
    }
    eprintln!(
        "run {run_id} {} ({} tokens: {} prompt, {} completion)",
        run.status.as_str(),
        run.total_tokens,
        run.prompt_tokens,
        run.completion_tokens
    );
    match run.status {
        RunStatus::Completed => Ok(ExitCode::SUCCESS),
        _ => {
            if let Some(error) = &run.error_summary {
                eprintln!("error: {error}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn awaiting_approval(run: &Run) -> String {
    format!(
        "run {id} awaits approval: directive \"{name}\" ({kind}) requires it, and it will not \
         execute until approved. Approve it on the web UI's Approvals page (/webui/approvals) or \
         with POST /api/runs/{id}/approve/ (deny: POST /api/runs/{id}/deny/)",
        id = run.id,
        name = run.directive_snapshot.name,
        kind = run.directive_snapshot.directive_type,
    )
}
