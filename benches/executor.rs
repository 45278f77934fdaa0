//! No-op job throughput through the executors (SPEC §3.1): launch `RUNS` one-job runs of a task
//! whose runner does nothing, start 1 or 4 executors, and time until every run completed (each
//! job is claimed, leased, finished and rolled up, and its run's report written). Prints a table
//! of medians over `REPS` repetitions, each on a fresh database.
//!
//! ```sh
//! cargo bench --bench executor                                 # SQLite
//! CYBERBRAIN_TEST_PG_URL=$(scripts/pg.sh url) cargo bench --bench executor   # and Postgres
//! CYBERBRAIN_BENCH_SMOKE=1 cargo bench --bench executor        # tiny sizes (CI)
//! ```
//!
//! The executors run in this process with the default options (4 slots, polling capped at 1 s)
//! and limits raised out of the way (`MAX_RUNNING`), so what is measured is the executor and
//! the store, not the configured concurrency limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cyberbrain::domain::NewTaskDefinition;
use cyberbrain::engine::{Executor, ExecutorOptions, JobContext, LaunchRequest, TaskRunner};
use cyberbrain::{Config, Cyberbrain, Result};
use serde_json::{Value, json};
use support::{backends, fresh_store};

mod support;

const TASK: &str = "bench_noop";
const MAX_RUNNING: u32 = 64;
const EXECUTOR_COUNTS: [usize; 2] = [1, 4];

struct Noop;

#[async_trait]
impl TaskRunner for Noop {
    async fn run(&self, _ctx: &JobContext) -> Result<Value> {
        Ok(json!({}))
    }
}

struct Sizes {
    runs: usize,
    reps: usize,
}

/// Seconds from starting `executors` executors until all `runs` runs completed.
async fn measure(backend: &str, executors: usize, runs: usize) -> f64 {
    let (store, scratch) = fresh_store(backend).await;
    let mut config = Config::default();
    config.paths.artifacts_dir = Some(scratch.dir.path().join("artifacts"));
    let cb = Cyberbrain::new(store, config);
    cb.create_task(NewTaskDefinition::new(TASK, "benchmark no-op"))
        .await
        .expect("create task");
    for _ in 0..runs {
        cb.launch(LaunchRequest::new().with_tasks([TASK]))
            .await
            .expect("launch");
    }

    let started = Instant::now();
    let handles: Vec<_> = (0..executors)
        .map(|_| {
            Executor::new(cb.clone())
                .with_options(ExecutorOptions::default().with_limits(MAX_RUNNING, MAX_RUNNING))
                .with_runner(TASK, Arc::new(Noop))
                .spawn()
        })
        .collect();
    loop {
        let metrics = cb.store().metrics().await.expect("metrics");
        let completed = metrics
            .runs_by_status
            .get("completed")
            .copied()
            .unwrap_or(0);
        if usize::try_from(completed).unwrap_or(0) == runs {
            break;
        }
        let failed = metrics.runs_by_status.get("failed").copied().unwrap_or(0);
        assert_eq!(failed, 0, "no-op runs failed: {metrics:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    for handle in handles {
        handle.shutdown().await.expect("executor shutdown");
    }
    drop(cb);
    drop(scratch);
    elapsed
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let smoke = std::env::var("CYBERBRAIN_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let sizes = if smoke {
        Sizes { runs: 20, reps: 1 }
    } else {
        Sizes { runs: 500, reps: 3 }
    };
    let backends = backends();

    println!(
        "No-op job throughput: {} one-job runs, median of {} repetition(s), fresh database each{}",
        sizes.runs,
        sizes.reps,
        if smoke { " (smoke mode)" } else { "" }
    );
    println!();
    println!("| backend | executors | slots each | runs | median s | jobs/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for backend in &backends {
        for executors in EXECUTOR_COUNTS {
            let mut times = Vec::with_capacity(sizes.reps);
            for _ in 0..sizes.reps {
                times.push(measure(backend, executors, sizes.runs).await);
            }
            let seconds = median(times);
            println!(
                "| {backend} | {executors} | {} | {} | {seconds:.3} | {:.1} |",
                ExecutorOptions::default().slots,
                sizes.runs,
                sizes.runs as f64 / seconds
            );
        }
    }
}
