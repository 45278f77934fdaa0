//! The knowledge base with the real binary and the real all-MiniLM-L6-v2 model (ONNX Runtime):
//! real txt, md, json, pdf and docx files uploaded over REST, ingested by the server's ingester,
//! and searched — on SQLite (hnsw_rs) and Postgres (pgvector), which must rank alike; two
//! `cyberbrain ingester` processes sharing 50 uploads while one is killed; and a search canary
//! that must not reach the database, the index or the log (G3).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cyberbrain::domain::{PageRequest, UploadQuery, UploadStatus};
use cyberbrain::testing::documents;
use cyberbrain::testing::files::{bytes_contain, every_file_under};
use serde_json::{Value, json};

use crate::components;
use crate::http::{Api, client, results};
use crate::server::{Backend, Server};

/// One file per accepted type, each about one subject, so a query about the subject must rank
/// that file first.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "backups.txt",
            b"Backups: the restic backup job runs every night at 02:00 and copies the Postgres \
              dumps to the NAS. Restore with restic restore latest."
                .to_vec(),
        ),
        (
            "gpu-runbook.md",
            b"# GPU runbook\n\nWhen the graphics card overheats above 85 degrees, check the \
              fans and lower the power limit with nvidia-smi -pl."
                .to_vec(),
        ),
        (
            "dns.json",
            serde_json::to_vec(&json!({
                "service": "dns",
                "notes": "The Pi-hole DNS resolver answers on 10.0.0.53; if name resolution fails, restart pihole-FTL."
            }))
            .expect("json"),
        ),
        (
            "certificates.pdf",
            documents::pdf(&[
                "TLS certificates are renewed by certbot every sixty days.",
                "If the certificate expired, run certbot renew and reload nginx.",
            ]),
        ),
        (
            "wifi.docx",
            documents::docx(
                &["Wireless network: the office access points broadcast the SSID homelab."],
                &[&["channel", "36"], &["password rotation", "quarterly"]],
            ),
        ),
    ]
}

/// Queries and the file each must find first.
const QUERIES: [(&str, &str); 5] = [
    ("how do I restore last night's backup", "backups.txt"),
    ("the video card is too hot", "gpu-runbook.md"),
    ("name resolution is broken", "dns.json"),
    ("my https certificate has expired", "certificates.pdf"),
    ("which wifi channel do the access points use", "wifi.docx"),
];

async fn upload(api: &Api<'_>, server: &Server, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let _ = api;
    let response = client()
        .post(server.url("/api/rag/upload"))
        .multipart(form)
        .send()
        .await
        .expect("upload request");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Polls an upload until it is ready or failed.
async fn until_ingested(api: &Api<'_>, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let upload = api
            .get(&format!("/api/rag/uploads/{id}"))
            .await
            .expect(200, "upload detail");
        if matches!(upload["status"].as_str(), Some("ready" | "failed")) {
            return upload;
        }
        assert!(Instant::now() < deadline, "upload {id} still {upload}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Uploads the corpus, waits for ingestion and runs the queries; returns, per query, the
/// ranked `(source, chunk_index)` list.
async fn ingest_and_search(backend: Backend) -> BTreeMap<&'static str, Vec<(String, i64)>> {
    components::models_dir();
    let server = Server::start_on(backend, None).await;
    let api = Api::new(&server);
    for (name, bytes) in corpus() {
        let (status, body) = upload(&api, &server, name, bytes.clone()).await;
        assert_eq!(status, 201, "{name}: {body}");
        let id = body["id"].as_i64().expect("upload id");
        let ingested = until_ingested(&api, id).await;
        assert_eq!(
            ingested["status"],
            "ready",
            "{name}: {ingested}\n{}",
            server.log()
        );
        assert!(
            ingested["chunks_total"].as_i64().unwrap_or(0) >= 1,
            "{ingested}"
        );
        assert_eq!(
            ingested["chunks_done"], ingested["chunks_total"],
            "{ingested}"
        );
        // The same bytes again: the existing upload, 200.
        let (status, again) = upload(&api, &server, name, bytes).await;
        assert_eq!(status, 200, "{name} again: {again}");
        assert_eq!(again["id"], id);
    }
    let documents = api.get("/api/rag/documents").await.expect(200, "documents");
    assert_eq!(results(&documents).len(), 5, "{documents}");

    let mut ranked = BTreeMap::new();
    for (query, expected) in QUERIES {
        let found = api
            .post("/api/rag/search", &json!({"query_text": query, "top_k": 5}))
            .await
            .expect(200, query);
        let hits = found["results"].as_array().expect("results");
        assert_eq!(found["total_found"], hits.len());
        assert_eq!(
            hits[0]["document_source"], expected,
            "{backend:?}: {query:?} must find {expected} first: {found}"
        );
        let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        ranked.insert(
            query,
            hits.iter()
                .map(|h| {
                    (
                        h["document_source"].as_str().unwrap().to_string(),
                        h["chunk_index"].as_i64().unwrap(),
                    )
                })
                .collect(),
        );
    }
    ranked
}

#[tokio::test]
async fn real_documents_are_found_alike_on_sqlite_and_postgres() {
    let sqlite = ingest_and_search(Backend::Sqlite).await;
    let postgres = ingest_and_search(Backend::Postgres).await;
    for (query, _) in QUERIES {
        let (a, b) = (&sqlite[query], &postgres[query]);
        // Both indexes are exact at this size: the same ranking, at least the top three.
        assert_eq!(a[..3], b[..3], "{query:?}: SQLite {a:?} vs Postgres {b:?}");
    }
}

#[tokio::test]
async fn a_search_canary_reaches_no_file_and_no_log() {
    components::models_dir();
    let server = Server::start_on(Backend::Sqlite, None).await;
    let api = Api::new(&server);
    let (status, body) = upload(
        &api,
        &server,
        "notes.md",
        b"# Notes\n\nThe database lives on host db1.".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    until_ingested(&api, body["id"].as_i64().unwrap()).await;

    const CANARY: &str = "quokka-canary-5d2e where does the database live";
    let found = api
        .post("/api/rag/search", &json!({"query_text": CANARY}))
        .await
        .expect(200, "search");
    assert_eq!(found["total_found"], 1, "{found}");
    // The form variant of the same endpoint too.
    let form = client()
        .post(server.url("/api/rag/search"))
        .form(&[("query_text", CANARY), ("top_k", "3")])
        .send()
        .await
        .expect("form search");
    assert_eq!(form.status().as_u16(), 200);

    // Let the store flush its index, then look at every file the server wrote.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut scanned = 0;
    for path in every_file_under(&server.data_dir()) {
        if path.components().any(|c| c.as_os_str() == "uploads") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        scanned += 1;
        assert!(
            !bytes_contain(&bytes, CANARY),
            "G3: the query text is in {}",
            path.display()
        );
    }
    assert!(scanned >= 2, "the database files were scanned");
    assert!(
        !server.log().contains("quokka-canary"),
        "G3: the query text is in the log"
    );
}

const INGESTER_CONFIG: &str = "[rag]\nlease_s = 5\npoll_interval_s = 1\n";

fn ingester_process(work: &Path, database_url: &str, name: &str) -> Child {
    let mut command = Command::new(components::cyberbrain_bin());
    command
        .env_clear()
        .current_dir(work)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", work)
        .env("DATABASE_URL", database_url)
        .env("CYBERBRAIN_DATA_DIR", work.join("data"))
        .env("CYBERBRAIN_MODELS_DIR", components::models_dir())
        .args(["ingester", "--name", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(work.join(format!("{name}.log")))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        );
    command
        .spawn()
        .unwrap_or_else(|e| panic!("could not start cyberbrain ingester: {e}"))
}

#[tokio::test]
async fn two_ingester_processes_share_fifty_uploads_and_survive_a_kill() {
    let schema = cyberbrain_store_pg::testing::TestSchema::create().await;
    let work = tempfile::tempdir().expect("work dir");
    std::fs::write(work.path().join("cyberbrain.toml"), INGESTER_CONFIG).expect("config");
    let mut config = cyberbrain::Config::from_toml(INGESTER_CONFIG).expect("config");
    config.paths.data_dir = work.path().join("data");
    let store = cyberbrain_store_pg::PgStore::connect(&schema.url())
        .await
        .expect("connect");
    cyberbrain::StoreAdmin::migrate(&store)
        .await
        .expect("migrate");
    let cb = cyberbrain::Cyberbrain::new(std::sync::Arc::new(store), config);
    // 50 distinct documents of 2,000 words (1,000 "topicN wordM" pairs): 5 chunks each at
    // 500 words with 50 overlap, so ingestion takes a while.
    for i in 0..50 {
        let text = (0..1000)
            .map(|w| format!("topic{i} word{w}"))
            .collect::<Vec<_>>()
            .join(" ");
        cb.upload_document(&format!("doc{i}.txt"), &mut text.as_bytes())
            .await
            .expect("upload");
    }

    let mut children = vec![
        ingester_process(work.path(), &schema.url(), "ingester-a"),
        ingester_process(work.path(), &schema.url(), "ingester-b"),
    ];
    // Kill one hard once both are busy (a few uploads are ready).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = count(&cb, UploadStatus::Ready).await;
        if ready >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no ingestion progress: {}",
            log(work.path(), "ingester-a")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = children[0].kill();
    let _ = children[0].wait();

    let deadline = Instant::now() + Duration::from_secs(240);
    while count(&cb, UploadStatus::Ready).await < 50 {
        assert!(
            Instant::now() < deadline,
            "{} of 50 ready; statuses: queued {} processing {} failed {}\n{}",
            count(&cb, UploadStatus::Ready).await,
            count(&cb, UploadStatus::Queued).await,
            count(&cb, UploadStatus::Processing).await,
            count(&cb, UploadStatus::Failed).await,
            log(work.path(), "ingester-b")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    // Each upload became exactly one document with all its chunks: nothing twice, nothing stuck.
    let documents = cb
        .list_documents(PageRequest::first(100))
        .await
        .expect("documents");
    assert_eq!(documents.count, 50);
    let mut per_upload = BTreeMap::new();
    for document in &documents.items {
        *per_upload.entry(document.document.upload_id).or_insert(0) += 1;
        assert_eq!(document.chunk_count, 5, "{document:?}");
    }
    assert!(per_upload.values().all(|n| *n == 1), "{per_upload:?}");
    let killed_log = log(work.path(), "ingester-a");
    assert!(
        killed_log.contains("ingestion started"),
        "the killed ingester had taken work: {killed_log}"
    );
}

async fn count(cb: &cyberbrain::Cyberbrain, status: UploadStatus) -> u64 {
    cb.list_uploads(UploadQuery {
        status: Some(status),
        page: PageRequest::first(1),
    })
    .await
    .expect("uploads")
    .count
}

fn log(work: &Path, name: &str) -> String {
    std::fs::read_to_string(work.join(format!("{name}.log"))).unwrap_or_default()
}
