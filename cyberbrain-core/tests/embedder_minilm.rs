//! The real all-MiniLM-L6-v2 embedder (`MiniLmEmbedder`, feature `fastembed`) on the real
//! int8 model through the real ONNX Runtime 1.31.1.
//!
//! The files are fetched by `scripts/models.sh` (run here once per test binary; a no-op when
//! they are there) into `$CYBERBRAIN_MODELS_DIR`, default `<repo>/cyberbrain-data/models`. When
//! it cannot fetch them the tests fail with its message; they never skip.
//!
//! The reference vectors (tests/fixtures/minilm/reference.json) are the fp32 model's, computed
//! by an independent numpy forward pass over the original weights (make_reference.py beside
//! them); they begin with sentence-transformers' published numbers.
//!
//! Failure paths (missing library, a library named as too old, not a library at all, missing
//! model files) must give `Error::Unavailable` naming the path and the fix — never a panic.
//! Loading a library that is not ONNX Runtime needs a process where ONNX Runtime is not yet
//! loaded, so that test re-runs itself in a child process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cyberbrain_core::embedder::{MODEL_DIR_NAME, MODEL_ID, MiniLmEmbedder};
use cyberbrain_core::{Embedder, Error};

const REFERENCE: &str = include_str!("fixtures/minilm/reference.json");
/// Set in the child process of `a_file_that_is_not_onnxruntime_is_an_error_not_a_panic`.
const CHILD: &str = "CYBERBRAIN_EMBEDDER_TEST_CHILD";

// ---------------------------------------------------------------------------------------------
// Helpers.

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the workspace")
        .to_path_buf()
}

/// The models dir, with the files in it (scripts/models.sh, once per process).
fn models_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("CYBERBRAIN_MODELS_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("cyberbrain-data/models"));
        let script = repo_root().join("scripts/models.sh");
        let output = Command::new(&script)
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} {} failed, so the embedder's model files and ONNX Runtime are missing; run it by \
             hand (it needs PyPI) and rerun the tests. Its output:\n{}{}",
            script.display(),
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

fn library() -> PathBuf {
    models_dir().join("onnxruntime/libonnxruntime.so.1.31.1")
}

fn embedder() -> MiniLmEmbedder {
    MiniLmEmbedder::load(models_dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| t.to_string()).collect()
}

async fn embed_one(embedder: &MiniLmEmbedder, text: &str) -> Vec<f32> {
    let mut out = embedder.embed(&[text.to_string()]).await.unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (norm(a) * norm(b))
}

fn assert_unit(v: &[f32]) {
    assert_eq!(v.len(), 384);
    assert!(v.iter().all(|x| x.is_finite()));
    assert!((norm(v) - 1.0).abs() < 1e-4, "norm {}", norm(v));
}

fn unavailable_message(result: cyberbrain_core::Result<MiniLmEmbedder>) -> String {
    match result {
        Err(Error::Unavailable { component, message }) => {
            assert_eq!(component, "embedder");
            message
        }
        other => panic!("expected an Unavailable error, got {other:?}"),
    }
}

/// `n` words of prose about one topic, cycling through its sentences.
fn prose(sentences: &[&str], n: usize) -> String {
    sentences
        .iter()
        .cycle()
        .flat_map(|s| s.split_whitespace())
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

const DATABASE: &[&str] = &[
    "The database server keeps its write-ahead log on a separate disk.",
    "Vacuum reclaims space from dead rows after heavy updates.",
    "Replication lag grows when the replica cannot replay the log fast enough.",
    "Indexes speed up lookups but slow down inserts.",
];
const COOKING: &[&str] = &[
    "Knead the dough until it is smooth and elastic, then let it rise.",
    "Bake the bread in a hot oven until the crust turns golden brown.",
    "Fresh basil and ripe tomatoes make a simple summer salad.",
    "Simmer the soup slowly so the vegetables soften without falling apart.",
];

// ---------------------------------------------------------------------------------------------
// The real model.

#[tokio::test]
async fn the_reference_vectors_are_reproduced() {
    let embedder = embedder();
    assert_eq!(embedder.model_id(), MODEL_ID);
    assert_eq!(MODEL_ID, "sentence-transformers/all-MiniLM-L6-v2");
    assert_eq!(embedder.dimension(), 384);
    assert_eq!(embedder.max_tokens(), 256);

    let reference: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let cases = reference["vectors"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<f32> = case["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(expected.len(), 384);
        let actual = embed_one(&embedder, text).await;
        assert_unit(&actual);
        let similarity = cosine(&actual, &expected);
        assert!(
            similarity >= 0.999,
            "{text:?}: cosine {similarity} with the fp32 reference"
        );
    }
    // The fixture is the published vector (sentence-transformers' own output), to 5 digits.
    let first: Vec<f64> = cases[0]["vector"].as_array().unwrap()[..5]
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    for (got, published) in first
        .iter()
        .zip([0.06766, 0.06350, 0.04871, 0.07931, 0.03745])
    {
        assert!((got - published).abs() < 1e-5, "{first:?}");
    }
}

#[tokio::test]
async fn a_batch_equals_its_items_embedded_one_by_one() {
    let embedder = embedder();
    let long = prose(DATABASE, 700);
    let texts = strings(&[
        "This is an example sentence",
        "",
        "Disk usage on /var reached 97% at 03:00.",
        &long,
        "short",
        "Ünïcödé, emoji 🚀 and CJK 日本語 survive tokenization.",
        "The scheduler fired the nightly backup twice after the DST change.",
    ]);
    let batch = embedder.embed(&texts).await.unwrap();
    assert_eq!(batch.len(), texts.len());
    for (text, in_batch) in texts.iter().zip(&batch) {
        assert_unit(in_batch);
        let alone = embed_one(&embedder, text).await;
        let worst = in_batch
            .iter()
            .zip(&alone)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-5,
            "{:.40}…: a component differs by {worst}",
            text
        );
    }
    // More texts than one ONNX Runtime batch (32), in order.
    let many: Vec<String> = (0..70)
        .map(|i| format!("log line number {i} from host web-{}", i % 7))
        .collect();
    let vectors = embedder.embed(&many).await.unwrap();
    assert_eq!(vectors.len(), 70);
    for i in [0, 31, 32, 69] {
        let alone = embed_one(&embedder, &many[i]).await;
        assert!(
            cosine(&vectors[i], &alone) > 0.99999,
            "item {i} is out of order"
        );
    }
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn vectors_are_unit_length() {
    let embedder = embedder();
    let texts = strings(&[
        "a",
        "The quick brown fox jumps over the lazy dog.",
        "   ",
        "42",
        "!!!",
    ]);
    for v in embedder.embed(&texts).await.unwrap() {
        assert_unit(&v);
    }
}

#[tokio::test]
async fn a_long_text_is_embedded_window_by_window_and_averaged() {
    let embedder = embedder();
    // 200 words about databases, then 1,800 about cooking: the model alone would see only
    // the first 256 word pieces.
    let head = prose(DATABASE, 200);
    let long = format!("{head} {}", prose(COOKING, 1800));
    assert_eq!(long.split_whitespace().count(), 2000);

    let whole = embed_one(&embedder, &long).await;
    let first = embed_one(&embedder, &head).await;
    let cooking = embed_one(&embedder, &prose(COOKING, 200)).await;
    assert_unit(&whole);
    let same_as_head = cosine(&whole, &first);
    assert!(
        same_as_head < 0.95,
        "the long text's vector is its head's (cosine {same_as_head}): text was dropped"
    );
    // The tail dominates the text, so it dominates the vector.
    assert!(
        cosine(&whole, &cooking) > cosine(&whole, &first),
        "cooking {} vs database {}",
        cosine(&whole, &cooking),
        cosine(&whole, &first)
    );

    // One "word" longer than a window (no spaces or punctuation to cut at) is split inside.
    let unbroken = "abcdefghijklmnopqrstuvwxyz".repeat(120);
    assert_unit(&embed_one(&embedder, &unbroken).await);
}

#[tokio::test]
async fn a_query_is_closer_to_a_related_sentence_than_to_an_unrelated_one() {
    let embedder = embedder();
    let texts = strings(&[
        "How do I restart the PostgreSQL database server?",
        "Run systemctl restart postgresql to restart the database service.",
        "Knead the dough until it is smooth, then let it rise for an hour.",
        "The GPU temperature reached 85 degrees during training.",
    ]);
    let v = embedder.embed(&texts).await.unwrap();
    let related = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]);
    let other = cosine(&v[0], &v[3]);
    assert!(
        related > unrelated + 0.3,
        "related {related}, unrelated {unrelated}"
    );
    assert!(related > other, "related {related}, other {other}");
}

#[tokio::test]
async fn the_model_is_loaded_once_and_shared() {
    let a = embedder();
    let started = std::time::Instant::now();
    let b = MiniLmEmbedder::load(models_dir()).unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(a.files(), b.files());
    // Concurrent callers share one session.
    let texts = strings(&["concurrent one", "concurrent two"]);
    let (x, y) = tokio::join!(a.embed(&texts), b.embed(&texts));
    assert_eq!(x.unwrap(), y.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Failure paths: a clear Unavailable error naming the path and the fix, never a panic.

#[test]
fn a_missing_library_is_unavailable() {
    let missing = Path::new("/nonexistent/onnxruntime/libonnxruntime.so.1.31.1");
    let message = unavailable_message(MiniLmEmbedder::load_with_library(models_dir(), missing));
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("scripts/models.sh"), "{message}");
    assert!(message.contains("ORT_DYLIB_PATH"), "{message}");
}

#[test]
fn a_library_named_as_too_old_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("libonnxruntime.so.1.23.0");
    std::os::unix::fs::symlink(library(), &old).unwrap();
    let message = unavailable_message(MiniLmEmbedder::load_with_library(models_dir(), &old));
    assert!(message.contains(&old.display().to_string()), "{message}");
    assert!(
        message.contains("1.23.0") && message.contains("1.24"),
        "{message}"
    );
    assert!(message.contains("scripts/models.sh"), "{message}");

    // An unversioned link to an old library: the version comes from the link's target.
    let target = dir.path().join("libonnxruntime.so.1.22.1");
    std::fs::copy(library(), &target).unwrap();
    let link = dir.path().join("libonnxruntime.so");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let message = unavailable_message(MiniLmEmbedder::load_with_library(models_dir(), &link));
    assert!(message.contains("1.22.1"), "{message}");
}

#[test]
fn missing_model_files_are_unavailable() {
    let empty = tempfile::tempdir().unwrap();
    let message = unavailable_message(MiniLmEmbedder::load_with_library(empty.path(), library()));
    assert!(
        message.contains(
            &empty
                .path()
                .join(MODEL_DIR_NAME)
                .join("model.onnx")
                .display()
                .to_string()
        ),
        "{message}"
    );
    assert!(message.contains("scripts/models.sh"), "{message}");

    // One file missing is named, and only it.
    let partial = tempfile::tempdir().unwrap();
    let model_dir = partial.path().join(MODEL_DIR_NAME);
    std::fs::create_dir(&model_dir).unwrap();
    for name in [
        "model.onnx",
        "tokenizer.json",
        "config.json",
        "special_tokens_map.json",
    ] {
        std::fs::copy(
            models_dir().join(MODEL_DIR_NAME).join(name),
            model_dir.join(name),
        )
        .unwrap();
    }
    let message = unavailable_message(MiniLmEmbedder::load_with_library(partial.path(), library()));
    assert!(
        message.contains("tokenizer_config.json") && !message.contains("model.onnx"),
        "{message}"
    );

    // Complete model files, but the library named is not there.
    std::fs::copy(
        models_dir()
            .join(MODEL_DIR_NAME)
            .join("tokenizer_config.json"),
        model_dir.join("tokenizer_config.json"),
    )
    .unwrap();
    let message = unavailable_message(MiniLmEmbedder::load_with_library(
        partial.path(),
        partial.path().join("libonnxruntime.so.1.31.1"),
    ));
    assert!(message.contains("does not exist"), "{message}");
}

#[test]
fn a_file_that_is_not_onnxruntime_is_an_error_not_a_panic() {
    let models = models_dir();
    if std::env::var_os(CHILD).is_none() {
        // ONNX Runtime loads once per process, and other tests here load the real one: run
        // this test again in a fresh process.
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_file_that_is_not_onnxruntime_is_an_error_not_a_panic",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .env("CYBERBRAIN_MODELS_DIR", models)
            .env("ORT_DYLIB_PATH", library())
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "the child process failed:\n{log}");
        assert!(log.contains("1 passed"), "the child ran no test:\n{log}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Garbage bytes under ONNX Runtime's name: dlopen fails.
    let garbage = dir.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&garbage, b"not a shared library").unwrap();
    let message = unavailable_message(MiniLmEmbedder::load_with_library(models, &garbage));
    assert!(
        message.contains("cannot be loaded") && message.contains("scripts/models.sh"),
        "{message}"
    );

    // A real shared library that is not ONNX Runtime: no OrtGetApiBase.
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.is_file());
    if let Some(libc) = libc {
        let impostor = tempfile::tempdir().unwrap();
        let named = impostor.path().join("libonnxruntime.so.1.31.1");
        std::fs::copy(libc, &named).unwrap();
        let message = unavailable_message(MiniLmEmbedder::load_with_library(models, &named));
        assert!(message.contains("OrtGetApiBase"), "{message}");
    }

    // After the failures, the real library (from ORT_DYLIB_PATH, set by the parent) still loads;
    // the models dir here has the model but no onnxruntime/ directory.
    let only_model = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        models.join(MODEL_DIR_NAME),
        only_model.path().join(MODEL_DIR_NAME),
    )
    .unwrap();
    let embedder = MiniLmEmbedder::load(only_model.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(embedder.files().library, library());
    assert_unit(&embed_one(&embedder, "It works after all.").await_blocking());
}

/// Runs a future to completion on a fresh runtime (the child test is a plain `#[test]`).
trait AwaitBlocking: std::future::Future + Sized {
    fn await_blocking(self) -> Self::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(self)
    }
}

impl<F: std::future::Future> AwaitBlocking for F {}
