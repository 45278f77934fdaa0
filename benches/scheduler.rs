//! Scheduler throughput and latency (SPEC §3.5): `SCHEDULES` interval schedules all due in the
//! same second; 1 or 4 concurrent scheduler loops (each its own tick, as separate processes
//! would) fire them in batches of 100. Prints, per backend and loop count, the median over `REPS`
//! repetitions of: schedule claims per second (fired slots / time until the last fired), and the
//! due → launch latency p50 and p99 (a run's `created_at` minus the moment the loops woke, which
//! is when the slots came due).
//!
//! ```sh
//! cargo bench --bench scheduler                                  # SQLite
//! CYBERBRAIN_TEST_PG_URL=$(scripts/pg.sh url) cargo bench --bench scheduler   # and Postgres
//! CYBERBRAIN_BENCH_SMOKE=1 cargo bench --bench scheduler         # tiny sizes (CI)
//! ```

use std::time::Instant;

use cyberbrain::domain::{
    MisfirePolicy, NewSchedule, PageRequest, RunQuery, ScheduleType, Task3Scope,
};
use cyberbrain::{Clock, Config, Cyberbrain, SystemClock};
use support::{backends, fresh_store};

mod support;

const BATCH: u32 = 100;
const LOOPS: [usize; 2] = [1, 4];

struct Sizes {
    schedules: usize,
    reps: usize,
}

struct Sample {
    claims_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn measure(backend: &str, loops: usize, sizes: &Sizes) -> Sample {
    let (store, _scratch) = fresh_store(backend).await;
    let mut config = Config::default();
    // Limits out of the way: this measures firing, not deferral.
    config.scheduler.max_global = 1_000_000;
    config.scheduler.max_per_task = 1_000_000;
    let cb = Cyberbrain::new(store, config);
    let due = SystemClock.now();
    for i in 0..sizes.schedules {
        cb.store()
            .create_schedule(NewSchedule {
                name: format!("bench-{i}"),
                task_key: "gpu_report".into(),
                directive_id: None,
                custom_directive_text: None,
                enabled: true,
                schedule_type: ScheduleType::Interval,
                interval_minutes: Some(600),
                cron_expr: None,
                run_at: None,
                timezone: "UTC".into(),
                task3_scope: Task3Scope::Allowlist,
                use_rag: false,
                max_global: None,
                max_per_job: None,
                misfire_policy: MisfirePolicy::RunOnce,
                next_run_at: Some(due),
                now: due,
            })
            .await
            .expect("create schedule");
    }

    // The loops wake the moment the slots are due: latency counts from here.
    let woke = SystemClock.now();
    let started = Instant::now();
    let tickers: Vec<_> = (0..loops)
        .map(|_| {
            let cb = cb.clone();
            tokio::spawn(async move {
                loop {
                    let fired = cb.run_scheduler_tick(BATCH).await.expect("tick");
                    if fired.is_empty() {
                        return;
                    }
                }
            })
        })
        .collect();
    for ticker in tickers {
        ticker.await.expect("ticker");
    }
    let elapsed = started.elapsed().as_secs_f64();

    let mut latencies: Vec<f64> = Vec::with_capacity(sizes.schedules);
    let mut page = PageRequest::first(200);
    loop {
        let runs = cb.list_runs(RunQuery::new(page)).await.expect("runs");
        let more = runs.has_next(page);
        latencies.extend(
            runs.items
                .iter()
                .map(|run| (run.created_at - woke).num_microseconds().unwrap_or(0) as f64 / 1000.0),
        );
        if !more {
            break;
        }
        page = page.with_page(page.page + 1);
    }
    assert_eq!(latencies.len(), sizes.schedules, "every slot fired once");
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Sample {
        claims_per_s: sizes.schedules as f64 / elapsed,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let smoke = std::env::var_os("CYBERBRAIN_BENCH_SMOKE").is_some();
    let sizes = if smoke {
        Sizes {
            schedules: 30,
            reps: 1,
        }
    } else {
        Sizes {
            schedules: 1000,
            reps: 3,
        }
    };
    let backends = backends();
    println!(
        "Scheduler: {} schedules due in the same second, batches of {BATCH}, median of {} repetition(s){}\n",
        sizes.schedules,
        sizes.reps,
        if smoke { " (smoke mode)" } else { "" }
    );
    println!("| backend | scheduler loops | claims/s | due→launch p50 ms | due→launch p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    for backend in backends {
        for loops in LOOPS {
            let mut claims = Vec::new();
            let mut p50 = Vec::new();
            let mut p99 = Vec::new();
            for _ in 0..sizes.reps {
                let sample = measure(backend, loops, &sizes).await;
                claims.push(sample.claims_per_s);
                p50.push(sample.p50_ms);
                p99.push(sample.p99_ms);
            }
            println!(
                "| {backend} | {loops} | {:.0} | {:.1} | {:.1} |",
                median(claims),
                median(p50),
                median(p99)
            );
        }
    }
}
