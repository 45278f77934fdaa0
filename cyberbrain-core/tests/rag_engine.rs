//! The knowledge base through the engine over the real SQLite store, with the hash embedder
//! double (the real model's tests are `embedder_minilm` and the end-to-end suite): uploads and
//! their refusals, dedupe and retry, ingestion, takeover after a crash, a lost lease, deletion,
//! search validation and the retrieval events (G3).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use cyberbrain_core::domain::{ClaimUpload, PageRequest, UploadQuery, UploadStatus};
use cyberbrain_core::engine::{Ingester, SearchRequest, query_hash};
use cyberbrain_core::testing::files::every_file_under;
use cyberbrain_core::testing::{HashEmbedder, ManualClock};
use cyberbrain_core::{Config, Cyberbrain, Embedder, Error, Result, StoreAdmin};
use cyberbrain_store_sqlite::SqliteStore;
use tempfile::TempDir;
use tokio::sync::Semaphore;

struct Fixture {
    cb: Cyberbrain,
    clock: Arc<ManualClock>,
    dir: TempDir,
}

impl Fixture {
    fn uploads_dir(&self) -> PathBuf {
        self.cb.config().paths.uploads_dir()
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("cyberbrain.db")
    }
}

async fn fixture_with(configure: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.paths.data_dir = dir.path().to_path_buf();
    configure(&mut config);
    let store = SqliteStore::connect(dir.path().join("cyberbrain.db").to_str().unwrap())
        .await
        .expect("SQLite");
    store.migrate().await.expect("migrate");
    let clock = Arc::new(ManualClock::new(Utc::now().trunc_subsecs(0)));
    let cb = Cyberbrain::new(Arc::new(store), config)
        .with_clock(clock.clone())
        .with_embedder(Arc::new(HashEmbedder::default()));
    Fixture { cb, clock, dir }
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn upload(
    cb: &Cyberbrain,
    name: &str,
    bytes: &[u8],
) -> Result<cyberbrain_core::domain::UploadCreated> {
    let mut reader = bytes;
    cb.upload_document(name, &mut reader).await
}

fn words(n: usize, word: &str) -> String {
    (0..n)
        .map(|i| format!("{word}{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn an_upload_is_stored_by_hash_ingested_and_found() {
    let f = fixture().await;
    let text = format!(
        "The backup job runs nightly on host vault. {}",
        words(1100, "filler")
    );
    let created = upload(&f.cb, "../../notes/backups.md", text.as_bytes())
        .await
        .expect("upload");
    assert!(created.created);
    let queued = created.upload;
    assert_eq!(queued.status, UploadStatus::Queued);
    assert_eq!(queued.filename, "backups.md", "only the base name is kept");
    assert_eq!(queued.mime_type, "text/markdown");
    assert_eq!(queued.size_bytes, text.len() as i64);
    assert_eq!(queued.sha256, hex_sha256(text.as_bytes()));
    let stored = f.uploads_dir().join(&queued.stored_path);
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        text.as_bytes(),
        "stored by hash"
    );
    assert!(queued.stored_path.contains(&queued.sha256));

    let ingester = Ingester::new(f.cb.clone());
    let ready = ingester.ingest_next().await.unwrap().expect("claimed");
    assert_eq!(ready.status, UploadStatus::Ready, "{ready:?}");
    // 1,108 words in 500-word chunks overlapping by 50: 3 chunks.
    assert_eq!(ready.chunks_total, Some(3));
    assert_eq!(ready.chunks_done, 3);
    assert_eq!(ready.attempts, 1);
    assert!(ready.processed_at.is_some() && ready.lease_owner.is_none());
    assert!(
        ingester.ingest_next().await.unwrap().is_none(),
        "nothing left"
    );

    let documents = f.cb.list_documents(PageRequest::first(10)).await.unwrap();
    assert_eq!(documents.count, 1);
    assert_eq!(documents.items[0].chunk_count, 3);
    assert_eq!(documents.items[0].document.upload_id, queued.id);

    let found =
        f.cb.search(SearchRequest {
            query_text: "  The backup job runs nightly on host vault.  ".into(),
            top_k: Some(2),
            ..SearchRequest::default()
        })
        .await
        .expect("search");
    assert_eq!(found.total_found, 2);
    assert_eq!(
        found.results[0].chunk_index, 0,
        "the first chunk holds the sentence"
    );
    assert!(found.results[0].score >= found.results[1].score);
    assert_eq!(found.results[0].document_source, "backups.md");
    assert_eq!(
        found.query_hash,
        query_hash("The backup job runs nightly on host vault.")
    );
}

#[tokio::test]
async fn the_same_bytes_again_return_the_existing_upload() {
    let f = fixture().await;
    let first = upload(&f.cb, "a.txt", b"same bytes").await.unwrap();
    let again = upload(&f.cb, "b.txt", b"same bytes").await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(again.upload.id, first.upload.id);
    assert_eq!(again.upload.filename, "a.txt", "the first upload is kept");
    let listed = f.cb.list_uploads(UploadQuery::default()).await.unwrap();
    assert_eq!(listed.count, 1);
    let files = every_file_under(&f.uploads_dir());
    assert_eq!(files.len(), 1, "one stored file: {files:?}");
}

#[tokio::test]
async fn refused_uploads_leave_nothing_behind() {
    let f = fixture_with(|config| config.rag.max_upload_bytes = 1000).await;
    let png = [&b"\x89PNG\r\n\x1a\n"[..], &[0u8; 64]].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("big.txt", vec![b'a'; 1001], "too_large"),
        ("empty.txt", Vec::new(), "invalid"),
        ("image.pdf", png.clone(), "unsupported"),
        ("tool.exe", b"MZ".to_vec(), "unsupported"),
        ("noext", b"hello".to_vec(), "unsupported"),
        ("bad.json", b"{not json".to_vec(), "unsupported"),
    ];
    for (name, bytes, expected) in cases {
        let error = upload(&f.cb, name, &bytes).await.expect_err(name);
        let kind = match &error {
            Error::TooLarge { limit_bytes, .. } => {
                assert_eq!(*limit_bytes, 1000);
                "too_large"
            }
            Error::InvalidInput(fields) => {
                assert!(fields.to_string().contains("file"), "{name}: {error}");
                "invalid"
            }
            Error::UnsupportedType(message) => {
                assert!(!message.is_empty());
                "unsupported"
            }
            other => panic!("{name}: unexpected {other:?}"),
        };
        assert_eq!(kind, expected, "{name}: {error}");
    }
    assert_eq!(
        f.cb.list_uploads(UploadQuery::default())
            .await
            .unwrap()
            .count,
        0
    );
    let left = every_file_under(&f.uploads_dir());
    assert!(left.is_empty(), "nothing stays on disk: {left:?}");
    // Exactly at the limit is accepted.
    assert!(
        upload(&f.cb, "fits.txt", &[b'a'; 1000])
            .await
            .unwrap()
            .created
    );
}

#[tokio::test]
async fn a_failed_upload_keeps_its_message_and_can_be_retried() {
    let f = fixture().await;
    // A PDF header followed by garbage: accepted by type, unreadable by the extractor.
    let corrupt = b"%PDF-1.7\n this is not really a pdf \x00\x01\x02".to_vec();
    let created = upload(&f.cb, "broken.pdf", &corrupt).await.unwrap();
    let ingester = Ingester::new(f.cb.clone());
    let failed = ingester.ingest_next().await.unwrap().expect("claimed");
    assert_eq!(failed.status, UploadStatus::Failed);
    let message = failed.error_message.clone().expect("a message");
    assert!(
        message.contains("broken.pdf") || message.to_lowercase().contains("pdf"),
        "{message}"
    );
    assert!(message.chars().count() <= 1000);
    assert_eq!(
        f.cb.list_documents(PageRequest::first(5))
            .await
            .unwrap()
            .count,
        0
    );

    // Retrying a ready or queued upload is a conflict; a failed one is queued again, and so is
    // one whose bytes are uploaded again.
    let requeued = f.cb.retry_upload(created.upload.id).await.unwrap();
    assert_eq!(requeued.status, UploadStatus::Queued);
    assert!(requeued.error_message.is_none());
    assert!(matches!(
        f.cb.retry_upload(created.upload.id).await,
        Err(Error::Conflict(_))
    ));
    ingester.ingest_next().await.unwrap();
    let again = upload(&f.cb, "broken.pdf", &corrupt).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.upload.id, created.upload.id);
    assert_eq!(again.upload.status, UploadStatus::Queued);
    assert!(matches!(
        f.cb.retry_upload(987).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn deleting_an_upload_removes_its_file_and_its_chunks_from_search() {
    let f = fixture().await;
    let keep = upload(&f.cb, "keep.txt", b"alpha beta gamma delta")
        .await
        .unwrap();
    let drop = upload(&f.cb, "drop.txt", b"alpha beta gamma epsilon")
        .await
        .unwrap();
    let ingester = Ingester::new(f.cb.clone());
    while ingester.ingest_next().await.unwrap().is_some() {}
    let search = || SearchRequest {
        query_text: "alpha beta gamma".into(),
        top_k: Some(10),
        ..SearchRequest::default()
    };
    assert_eq!(f.cb.search(search()).await.unwrap().total_found, 2);

    let deleted = f.cb.delete_upload(drop.upload.id).await.unwrap();
    assert_eq!(deleted.id, drop.upload.id);
    assert!(!f.uploads_dir().join(&drop.upload.stored_path).exists());
    assert!(f.uploads_dir().join(&keep.upload.stored_path).exists());
    let found = f.cb.search(search()).await.unwrap();
    assert_eq!(found.total_found, 1);
    assert_eq!(found.results[0].document_source, "keep.txt");
    assert!(matches!(
        f.cb.get_upload(drop.upload.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        f.cb.delete_upload(drop.upload.id).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn an_upload_of_a_crashed_ingester_is_taken_over_when_its_lease_ends() {
    let f = fixture().await;
    let created = upload(&f.cb, "a.txt", b"crash safe ingestion")
        .await
        .unwrap();
    let claimed =
        f.cb.store()
            .claim_upload(ClaimUpload {
                owner: "crashed".into(),
                now: cyberbrain_core::Clock::now(&*f.clock),
                lease: chrono::Duration::seconds(60),
                max_attempts: 3,
            })
            .await
            .unwrap()
            .expect("claimed");
    assert_eq!(claimed.id, created.upload.id);
    let ingester = Ingester::new(f.cb.clone()).with_owner("survivor");
    assert!(
        ingester.ingest_next().await.unwrap().is_none(),
        "the lease still holds"
    );
    f.clock.advance(chrono::Duration::seconds(61));
    let ready = ingester.ingest_next().await.unwrap().expect("taken over");
    assert_eq!(ready.status, UploadStatus::Ready);
    assert_eq!(ready.attempts, 2);
}

/// An embedder that waits for a permit before each batch, so a test can act mid-ingestion.
#[derive(Debug)]
struct GatedEmbedder {
    inner: HashEmbedder,
    gate: Semaphore,
}

#[async_trait]
impl Embedder for GatedEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.gate.acquire().await.expect("gate").forget();
        self.inner.embed(texts).await
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn max_tokens(&self) -> usize {
        self.inner.max_tokens()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingester_that_lost_its_lease_writes_nothing() {
    let f = fixture().await;
    let gated = Arc::new(GatedEmbedder {
        inner: HashEmbedder::default(),
        gate: Semaphore::new(0),
    });
    let slow_cb = f.cb.clone().with_embedder(gated.clone());
    upload(&f.cb, "a.txt", words(40, "w").as_bytes())
        .await
        .unwrap();

    let slow = Ingester::new(slow_cb)
        .with_owner("slow")
        .with_lease(Duration::from_secs(60));
    let slow_task = tokio::spawn(async move { slow.ingest_next().await });
    // The slow ingester has claimed and waits in the embedder; its lease then ends and a second
    // ingester takes the upload over and completes it.
    let fast = Ingester::new(f.cb.clone()).with_owner("fast");
    for _ in 0..100 {
        if f.cb
            .list_uploads(UploadQuery::default())
            .await
            .unwrap()
            .items[0]
            .status
            == UploadStatus::Processing
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.clock.advance(chrono::Duration::seconds(61));
    let done = fast.ingest_next().await.unwrap().expect("taken over");
    assert_eq!(done.status, UploadStatus::Ready);

    gated.gate.add_permits(10);
    let slow_outcome = slow_task.await.unwrap().unwrap().expect("it had claimed");
    assert_eq!(
        slow_outcome.lease_owner.as_deref(),
        Some("slow"),
        "returned as claimed"
    );
    let documents = f.cb.list_documents(PageRequest::first(10)).await.unwrap();
    assert_eq!(
        documents.count, 1,
        "one document, from the ingester holding the lease"
    );
    let upload = f.cb.get_upload(done.id).await.unwrap();
    assert_eq!(upload.status, UploadStatus::Ready);
}

#[tokio::test]
async fn searches_are_validated_and_recorded_by_hash_only() {
    let f = fixture().await;
    upload(&f.cb, "a.txt", b"the database lives on host db1")
        .await
        .unwrap();
    Ingester::new(f.cb.clone()).ingest_next().await.unwrap();

    let invalid = [
        (
            SearchRequest {
                query_text: "   ".into(),
                ..Default::default()
            },
            "query_text",
        ),
        (
            SearchRequest {
                query_text: "x".into(),
                top_k: Some(0),
                ..Default::default()
            },
            "top_k",
        ),
        (
            SearchRequest {
                query_text: "x".into(),
                top_k: Some(51),
                ..Default::default()
            },
            "top_k",
        ),
        (
            SearchRequest {
                query_text: "x".into(),
                min_score: Some(1.5),
                ..Default::default()
            },
            "min_score",
        ),
        (
            SearchRequest {
                query_text: "x".into(),
                document_ids: vec![0],
                ..Default::default()
            },
            "document_ids",
        ),
        (
            SearchRequest {
                query_text: "x".into(),
                run_id: Some(4242),
                ..Default::default()
            },
            "run_id",
        ),
        (
            SearchRequest {
                query_text: "x".repeat(5000),
                ..Default::default()
            },
            "query_text",
        ),
    ];
    for (request, field) in invalid {
        match f.cb.search(request).await {
            Err(Error::InvalidInput(fields)) => {
                assert!(
                    fields.fields().any(|(name, _)| name == field),
                    "{field}: {fields}"
                )
            }
            other => panic!("{field}: expected a field error, got {other:?}"),
        }
    }
    let events =
        f.cb.store()
            .list_retrievals(None, PageRequest::first(10))
            .await
            .unwrap();
    assert_eq!(events.count, 0, "refused searches record nothing");

    const CANARY: &str = "zebra-canary-7a1f where is the database";
    let found =
        f.cb.search(SearchRequest {
            query_text: CANARY.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.total_found, 1);
    let events =
        f.cb.store()
            .list_retrievals(None, PageRequest::first(10))
            .await
            .unwrap();
    assert_eq!(events.count, 1);
    assert_eq!(events.items[0].query_hash, query_hash(CANARY));
    assert_eq!(events.items[0].top_k, 5);
    assert_eq!(events.items[0].results_count, 1);
    assert_eq!(events.items[0].run_id, None);
    // G3: the text is in no file of the database (nor the index beside it).
    drop(found);
    for path in every_file_under(f.dir.path()) {
        if path.starts_with(f.uploads_dir()) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "the query text is in {}",
            path.display()
        );
    }
    assert!(f.db_path().exists());
}

#[tokio::test]
async fn without_an_embedder_search_and_ingestion_name_the_fix() {
    let f = fixture().await;
    let bare = Cyberbrain::new(f.cb.store().clone(), f.cb.config().clone());
    let error = bare
        .search(SearchRequest {
            query_text: "anything".into(),
            ..Default::default()
        })
        .await
        .expect_err("no embedder");
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    assert!(error.to_string().contains("scripts/models.sh"), "{error}");

    upload(&bare, "a.txt", b"some text").await.unwrap();
    let failed = Ingester::new(bare)
        .ingest_next()
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!(failed.status, UploadStatus::Failed);
    assert!(failed.error_message.unwrap().contains("scripts/models.sh"));
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
