//! Embedding throughput (SPEC §3.6): chunks per second through `MiniLmEmbedder` (fastembed +
//! ONNX Runtime, int8 all-MiniLM-L6-v2), for short sentences and for inputs of exactly 256 word
//! pieces (254 words that are one piece each, plus [CLS] and [SEP]), at several texts per
//! `embed` call (the embedder runs ONNX Runtime on at most 32 texts at a time). Each row is the
//! median of `REPS` timed passes after one warm-up call. benches/embedder_onnxruntime.py times
//! the same texts through onnxruntime's own Python API on the same model.onnx and tokenizer.
//!
//! ```sh
//! scripts/models.sh                                                          # the model files
//! cargo bench --bench embedder --features cyberbrain-core/fastembed
//! CYBERBRAIN_BENCH_SMOKE=1 cargo bench --bench embedder --features cyberbrain-core/fastembed   # tiny (CI)
//! ```
//!
//! The models dir is `$CYBERBRAIN_MODELS_DIR`, default ./cyberbrain-data/models (where
//! scripts/models.sh puts the files).

use std::time::Instant;

use cyberbrain::Embedder;
use cyberbrain::embedder::MiniLmEmbedder;
use support::models_dir;

mod support;

/// One word piece each in the model's vocabulary (benches/embedder_onnxruntime.py checks).
const WORDS: &str = "the server log shows a disk error on the main node after a restart so we \
     check the network and the storage then run the backup job again while the team reads each \
     report about memory use and time spent in every task of the night";
const LONG_WORDS: usize = 254;
const REPS: usize = 3;

/// `count` short sentences (14–15 word pieces each with [CLS] and [SEP]; the Python script counts).
fn short_texts(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("host web-{i} reported a disk error on the main node"))
        .collect()
}

/// `count` texts of exactly 254 word pieces, each starting at a different word.
fn long_texts(count: usize) -> Vec<String> {
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    (0..count)
        .map(|i| {
            (0..LONG_WORDS)
                .map(|j| words[(i + j) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Chunks per second embedding `texts` in calls of `per_call` texts.
async fn measure(embedder: &MiniLmEmbedder, texts: &[String], per_call: usize) -> f64 {
    embedder
        .embed(&texts[..per_call.min(texts.len())])
        .await
        .expect("warm-up");
    let mut rates = Vec::with_capacity(REPS);
    for _ in 0..REPS {
        let started = Instant::now();
        for call in texts.chunks(per_call) {
            let vectors = embedder.embed(call).await.expect("embed");
            assert_eq!(vectors.len(), call.len());
        }
        rates.push(texts.len() as f64 / started.elapsed().as_secs_f64());
    }
    median(rates)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let smoke = std::env::var("CYBERBRAIN_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let embedder = match MiniLmEmbedder::load(models_dir()) {
        Ok(embedder) => embedder,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let (short_count, long_count, per_call): (usize, usize, &[usize]) = if smoke {
        (16, 4, &[1, 4])
    } else {
        (512, 128, &[1, 8, 32, 128])
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Embedding throughput: all-MiniLM-L6-v2 int8 ONNX via fastembed + ONNX Runtime ({}), \
         {threads} CPU thread(s), median of {REPS} passes{}",
        embedder.files().library.display(),
        if smoke { " (smoke mode)" } else { "" }
    );
    println!();
    println!("| input | word pieces | texts | texts per call | chunks/s |");
    println!("|---|---:|---:|---:|---:|");
    let inputs = [
        ("short sentence", "14–15", short_texts(short_count)),
        ("256-token", "256", long_texts(long_count)),
    ];
    for (name, pieces, texts) in &inputs {
        for &n in per_call {
            let rate = measure(&embedder, texts, n).await;
            println!("| {name} | {pieces} | {} | {n} | {rate:.1} |", texts.len());
        }
    }
}
