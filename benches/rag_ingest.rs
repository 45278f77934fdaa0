//! Knowledge-base ingestion end to end (SPEC §3.6): documents uploaded through
//! `Cyberbrain::upload_document` (streamed to the uploads dir, hashed), then ingested by an
//! `Ingester` (extract, chunk at 500 words / 50 overlap, embed with the real all-MiniLM-L6-v2,
//! store document, chunks and vectors, update the index), on SQLite and Postgres. Prints MB/s of
//! uploaded files and chunks/s per format and overall. The documents are generated prose
//! (txt, md, json, and pdf and docx written by `cyberbrain_core::testing::documents`).
//!
//! ```sh
//! scripts/models.sh                                                          # the model files
//! CYBERBRAIN_TEST_PG_URL=$(scripts/pg.sh url) cargo bench --bench rag_ingest --features cyberbrain-core/fastembed
//! CYBERBRAIN_BENCH_SMOKE=1 cargo bench --bench rag_ingest --features cyberbrain-core/fastembed   # tiny (CI)
//! ```

use std::sync::Arc;
use std::time::Instant;

use cyberbrain::domain::UploadStatus;
use cyberbrain::embedder::MiniLmEmbedder;
use cyberbrain::engine::Ingester;
use cyberbrain::{Config, Cyberbrain, Embedder};
use cyberbrain_core::testing::documents;
use cyberbrain_core::testing::vectors::VectorRng;
use support::{backends, fresh_store, models_dir};

mod support;

/// Words of operator notes; most are one word piece, as in real runbooks.
const VOCABULARY: &str = "the server disk error network restart backup job node cluster memory \
    storage log report alert latency timeout queue worker database replica index cache volume \
    container service port route certificate kernel driver update rollback deploy check monitor \
    threshold usage spike drop packet host rack power cooling fan temperature firmware when after \
    before during each every night morning team operator runbook step verify confirm escalate \
    page ticket incident outage recovery failover primary secondary snapshot restore schedule";

/// Prose of `words` words in sentences of 12, deterministic per `seed`.
fn prose(words: usize, seed: u64) -> Vec<String> {
    let vocabulary: Vec<&str> = VOCABULARY.split_whitespace().collect();
    let mut rng = VectorRng::new(seed);
    let picks: Vec<&str> = (0..words)
        .map(|_| {
            let r = (rng.gaussian() + 2.0) / 4.0; // in [0, 1)
            vocabulary[((r * vocabulary.len() as f32) as usize).min(vocabulary.len() - 1)]
        })
        .collect();
    picks
        .chunks(12)
        .map(|sentence| format!("{}.", sentence.join(" ")))
        .collect()
}

/// Paragraphs of ten sentences.
fn paragraphs(sentences: &[String]) -> Vec<String> {
    sentences.chunks(10).map(|p| p.join(" ")).collect()
}

/// A file of `format` holding `words` words of prose.
fn document(format: &str, words: usize, seed: u64) -> (String, Vec<u8>) {
    let paragraphs = paragraphs(&prose(words, seed));
    let refs: Vec<&str> = paragraphs.iter().map(String::as_str).collect();
    let bytes = match format {
        "txt" => paragraphs.join("\n\n").into_bytes(),
        "md" => format!("# Runbook {seed}\n\n{}", paragraphs.join("\n\n## Step\n\n")).into_bytes(),
        "json" => serde_json::to_vec(&serde_json::json!({
            "title": format!("runbook {seed}"),
            "sections": paragraphs,
        }))
        .expect("json"),
        "pdf" => documents::pdf(&refs),
        "docx" => documents::docx(&refs, &[&["host", "role"], &["web-1", "frontend"]]),
        other => unreachable!("format {other}"),
    };
    (format!("runbook-{seed}.{format}"), bytes)
}

struct Row {
    files: usize,
    bytes: usize,
    chunks: i64,
    seconds: f64,
}

/// Uploads `files` and ingests them all; the time covers both.
async fn measure(cb: &Cyberbrain, files: &[(String, Vec<u8>)]) -> Row {
    let ingester = Ingester::new(cb.clone()).with_owner("bench");
    let started = Instant::now();
    for (name, bytes) in files {
        let mut body = bytes.as_slice();
        cb.upload_document(name, &mut body).await.expect("upload");
    }
    let mut chunks = 0;
    while let Some(upload) = ingester.ingest_next().await.expect("ingest") {
        assert_eq!(
            upload.status,
            UploadStatus::Ready,
            "{}: {:?}",
            upload.filename,
            upload.error_message
        );
        chunks += i64::from(upload.chunks_total.unwrap_or(0));
    }
    Row {
        files: files.len(),
        bytes: files.iter().map(|(_, b)| b.len()).sum(),
        chunks,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn print(backend: &str, format: &str, row: &Row) {
    let mb = row.bytes as f64 / 1_000_000.0;
    println!(
        "| {backend} | {format} | {} | {mb:.3} | {} | {:.1} | {:.3} | {:.1} |",
        row.files,
        row.chunks,
        row.seconds,
        mb / row.seconds,
        row.chunks as f64 / row.seconds
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let smoke = std::env::var("CYBERBRAIN_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let embedder: Arc<dyn Embedder> = match MiniLmEmbedder::load(models_dir()) {
        Ok(embedder) => Arc::new(embedder),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    embedder
        .embed(&["warm-up".to_string()])
        .await
        .expect("warm-up");
    let (per_format, words) = if smoke { (1, 600) } else { (4, 4_000) };
    let formats = ["txt", "md", "json", "pdf", "docx"];
    println!(
        "Ingestion end to end: upload + extract + chunk (500/50) + embed (all-MiniLM-L6-v2 int8) + \
         store, {per_format} file(s) of {words} words per format, one ingester{}",
        if smoke { " (smoke mode)" } else { "" }
    );
    println!();
    println!("| backend | format | files | MB | chunks | seconds | MB/s | chunks/s |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for backend in backends() {
        let (store, scratch) = fresh_store(backend).await;
        let mut config = Config::default();
        config.paths.data_dir = scratch.dir.path().to_path_buf();
        let cb = Cyberbrain::new(store, config).with_embedder(Arc::clone(&embedder));
        let mut total = Row {
            files: 0,
            bytes: 0,
            chunks: 0,
            seconds: 0.0,
        };
        for (f, format) in formats.iter().enumerate() {
            let files: Vec<_> = (0..per_format)
                .map(|i| document(format, words, (f * 100 + i + 1) as u64))
                .collect();
            let row = measure(&cb, &files).await;
            print(backend, format, &row);
            total.files += row.files;
            total.bytes += row.bytes;
            total.chunks += row.chunks;
            total.seconds += row.seconds;
        }
        print(backend, "all", &total);
    }
}
