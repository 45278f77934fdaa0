//! Launch + list requests/s through the HTTP API: `POST /api/runs/launch/` and
//! `GET /api/runs/?page_size=50` sent to the real router **in process** (tower's `oneshot`, no
//! sockets), so what is measured is routing, JSON, validation, the engine and the store — not the
//! kernel's loopback. Prints a table of medians over `reps` repetitions, each on a fresh database.
//!
//! ```sh
//! cargo bench --bench http_api                                         # SQLite
//! CYBERBRAIN_TEST_PG_URL=$(scripts/pg.sh url) cargo bench --bench http_api   # and Postgres
//! CYBERBRAIN_BENCH_SMOKE=1 cargo bench --bench http_api                # tiny sizes (CI)
//! ```
//!
//! No executor runs, so launched runs stay pending: the list pages over a table that grows by
//! the launches of the same measurement. Each request's status is checked (201 / 200), never its
//! time: the numbers are printed, not asserted.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cyberbrain::{Config, Cyberbrain};
use http_body_util::BodyExt;
use support::{backends, fresh_store};
use tokio::task::JoinSet;
use tower::ServiceExt;

mod support;

/// Concurrent in-flight requests measured.
const CONCURRENCY: [usize; 2] = [1, 8];
const LAUNCH_BODY: &str = r#"{"tasks": ["gpu_report"]}"#;
const LIST_URI: &str = "/api/runs/?page_size=50";

struct Sizes {
    requests: usize,
    reps: usize,
}

#[derive(Clone, Copy)]
enum Operation {
    Launch,
    List,
}

impl Operation {
    fn label(self) -> &'static str {
        match self {
            Self::Launch => "POST /api/runs/launch/",
            Self::List => "GET /api/runs/?page_size=50",
        }
    }

    fn request(self) -> Request<Body> {
        match self {
            Self::Launch => Request::post("/api/runs/launch/")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(LAUNCH_BODY)),
            Self::List => Request::get(LIST_URI).body(Body::empty()),
        }
        .expect("a valid request")
    }

    fn expected(self) -> StatusCode {
        match self {
            Self::Launch => StatusCode::CREATED,
            Self::List => StatusCode::OK,
        }
    }
}

/// A fresh database and the router over it, and what keeps them alive.
struct Scratch {
    router: Router,
    _store: support::Scratch,
}

async fn fresh(backend: &str) -> Scratch {
    let (store, scratch) = fresh_store(backend).await;
    let mut config = Config::default();
    config.paths.data_dir = scratch.dir.path().to_path_buf();
    let cb = Cyberbrain::new(store, config);
    let router = cyberbrain_http::router(cyberbrain_http::AppState::new(cb));
    Scratch {
        router,
        _store: scratch,
    }
}

/// Sends one request and reads the whole body, as a client would.
async fn send(router: Router, operation: Operation) {
    let response = router
        .oneshot(operation.request())
        .await
        .expect("the router is infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("read the body")
        .to_bytes();
    assert_eq!(
        status,
        operation.expected(),
        "{}: {}",
        operation.label(),
        String::from_utf8_lossy(&body)
    );
}

/// Seconds to send `requests` requests with `concurrency` in flight, on a fresh database (the
/// list is measured after as many launches, so it pages over a realistic table).
async fn measure(backend: &str, operation: Operation, concurrency: usize, requests: usize) -> f64 {
    let scratch = fresh(backend).await;
    if let Operation::List = operation {
        for _ in 0..requests {
            send(scratch.router.clone(), Operation::Launch).await;
        }
    }
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for worker in 0..concurrency {
        let router = scratch.router.clone();
        // Spread the requests evenly; the first workers take the remainder.
        let share = requests / concurrency + usize::from(worker < requests % concurrency);
        workers.spawn(async move {
            for _ in 0..share {
                send(router.clone(), operation).await;
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.expect("a benchmark worker panicked");
    }
    started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let smoke = std::env::var("CYBERBRAIN_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let sizes = if smoke {
        Sizes {
            requests: 16,
            reps: 1,
        }
    } else {
        Sizes {
            requests: 400,
            reps: 3,
        }
    };
    let backends = backends();

    println!(
        "HTTP API throughput, in-process router (tower oneshot, no sockets): {} requests per \
         measurement, median of {} repetition(s), fresh database each{}",
        sizes.requests,
        sizes.reps,
        if smoke { " (smoke mode)" } else { "" }
    );
    println!();
    println!("| backend | request | in flight | requests | median s | requests/s |");
    println!("|---|---|---:|---:|---:|---:|");
    for backend in &backends {
        for operation in [Operation::Launch, Operation::List] {
            for concurrency in CONCURRENCY {
                let mut times = Vec::with_capacity(sizes.reps);
                for _ in 0..sizes.reps {
                    times.push(measure(backend, operation, concurrency, sizes.requests).await);
                }
                let seconds = median(times);
                println!(
                    "| {backend} | `{}` | {concurrency} | {} | {seconds:.3} | {:.0} |",
                    operation.label(),
                    sizes.requests,
                    sizes.requests as f64 / seconds
                );
            }
        }
    }
}
