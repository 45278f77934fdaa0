//! The knowledge-base tools in-process (SPEC §5): rag_search, rag_list_documents and
//! rag_upload_status over a real SQLite store, with documents uploaded and ingested through the
//! engine. The hash embedder double stands in for the model (the real model's searches are the
//! end-to-end suite's); it maps each word to a bucket, so passages sharing a query's words rank
//! first. Refusals are tool errors naming the field.

mod common;

use std::sync::Arc;

use common::{Session, engine};
use cyberbrain_core::Cyberbrain;
use cyberbrain_core::domain::PageRequest;
use cyberbrain_core::engine::{Ingester, query_hash};
use cyberbrain_core::testing::HashEmbedder;
use cyberbrain_mcp::{McpOptions, streamable_http_service};
use serde_json::{Value, json};

const DISK: &str = "Disk full on node7: the kernel reports write errors on the root volume \
                    and journald stopped logging.";
const PROXY: &str = "The reverse proxy answers bad gateway whenever the upstream pool is empty \
                     after a deploy.";

/// A session over an engine with the hash embedder and two ingested documents.
async fn knowledge_base() -> (tempfile::TempDir, Cyberbrain, Session, [i64; 2]) {
    let (dir, cb) = engine().await;
    let cb = cb.with_embedder(Arc::new(HashEmbedder::default()));
    let disk = upload(&cb, "disk.txt", DISK).await;
    let proxy = upload(&cb, "proxy.md", PROXY).await;
    assert_eq!(ingest_all(&cb).await, 2);
    let session = Session::open(streamable_http_service(cb.clone(), McpOptions::default())).await;
    (dir, cb, session, [disk, proxy])
}

/// Uploads `text` as `name` from memory; returns the upload id.
async fn upload(cb: &Cyberbrain, name: &str, text: &str) -> i64 {
    let mut body = text.as_bytes();
    let created = cb
        .upload_document(name, &mut body)
        .await
        .unwrap_or_else(|e| panic!("upload {name}: {e}"));
    assert!(created.created);
    created.upload.id
}

/// Runs an ingester until nothing is queued; how many uploads it processed.
async fn ingest_all(cb: &Cyberbrain) -> usize {
    let ingester = Ingester::new(cb.clone()).with_owner("mcp-tests");
    let mut processed = 0;
    while let Some(upload) = ingester.ingest_next().await.expect("ingest") {
        assert_eq!(upload.status.as_str(), "ready", "{upload:?}");
        processed += 1;
    }
    processed
}

fn ids(items: &Value, key: &str) -> Vec<i64> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {items}"))
        .iter()
        .map(|item| {
            item[key]
                .as_i64()
                .unwrap_or_else(|| panic!("no {key}: {item}"))
        })
        .collect()
}

#[tokio::test]
async fn the_rag_tools_are_listed_with_their_schemas() {
    let (_dir, cb) = engine().await;
    let mut session = Session::open(streamable_http_service(cb, McpOptions::default())).await;
    let reply = session.request("tools/list", json!({})).await;
    let tools = reply["result"]["tools"].as_array().expect("tools");
    let tool = |name: &str| {
        tools
            .iter()
            .find(|tool| tool["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed"))
            .clone()
    };

    let search = tool("rag_search");
    let schema = &search["inputSchema"];
    assert_eq!(schema["required"], json!(["query_text"]));
    assert_eq!(schema["additionalProperties"], false);
    let properties = schema["properties"].as_object().expect("properties");
    let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "document_ids",
            "min_score",
            "query_text",
            "run_id",
            "top_k",
            "upload_ids"
        ]
    );
    assert_eq!(properties["top_k"]["maximum"], 50);
    assert_eq!(properties["top_k"]["minimum"], 1);

    let documents = tool("rag_list_documents");
    assert_eq!(documents["annotations"]["readOnlyHint"], true);
    assert!(documents["inputSchema"]["properties"]["page_size"].is_object());

    let status = tool("rag_upload_status");
    assert!(status["inputSchema"]["required"].is_null(), "{status}");
    assert!(status["inputSchema"]["properties"]["upload_id"].is_object());
    assert!(status["inputSchema"]["properties"]["status"].is_object());
}

#[tokio::test]
async fn search_ranks_the_matching_passage_first_and_records_only_the_hash() {
    let (_dir, cb, mut session, [disk, proxy]) = knowledge_base().await;
    let query = "  disk full write errors  ";

    let found = session
        .call_ok("rag_search", json!({"query_text": query}))
        .await;
    assert_eq!(found["query_hash"], query_hash(query));
    assert_eq!(found["query_hash"], query_hash("disk full write errors"));
    let results = found["results"].as_array().expect("results");
    assert_eq!(found["total_found"], results.len());
    assert_eq!(results.len(), 2, "both documents have one passage: {found}");
    let best = &results[0];
    assert_eq!(best["upload_id"], disk);
    assert_eq!(best["chunk_text"], DISK);
    assert_eq!(best["chunk_index"], 0);
    assert!(
        best["document_title"]
            .as_str()
            .is_some_and(|title| !title.is_empty()),
        "{best}"
    );
    assert_eq!(best["document_source"], "disk.txt");
    assert!(
        best["chunk_id"].is_i64() && best["document_id"].is_i64(),
        "{best}"
    );
    let scores: Vec<f64> = results
        .iter()
        .map(|hit| hit["score"].as_f64().expect("score"))
        .collect();
    assert!(scores[0] > scores[1], "ranked by score: {scores:?}");
    assert!(scores[0] <= 1.0 + 1e-6, "cosine similarity: {scores:?}");

    // top_k, the filters and min_score narrow the results.
    let one = session
        .call_ok("rag_search", json!({"query_text": query, "top_k": 1}))
        .await;
    assert_eq!(ids(&one["results"], "upload_id"), [disk]);
    let only_proxy = session
        .call_ok(
            "rag_search",
            json!({"query_text": query, "upload_ids": [proxy]}),
        )
        .await;
    assert_eq!(ids(&only_proxy["results"], "upload_id"), [proxy]);
    let proxy_document = only_proxy["results"][0]["document_id"].clone();
    let by_document = session
        .call_ok(
            "rag_search",
            json!({"query_text": query, "document_ids": [proxy_document]}),
        )
        .await;
    assert_eq!(ids(&by_document["results"], "upload_id"), [proxy]);
    let strict = session
        .call_ok(
            "rag_search",
            json!({"query_text": query, "min_score": (scores[0] + scores[1]) / 2.0}),
        )
        .await;
    assert_eq!(ids(&strict["results"], "upload_id"), [disk]);

    // G3: every search left one retrieval event holding the hash, never the text.
    let events = cb
        .store()
        .list_retrievals(None, PageRequest::default())
        .await
        .expect("retrieval events");
    assert_eq!(events.count, 5);
    assert!(
        events
            .items
            .iter()
            .all(|event| event.query_hash == query_hash(query) && event.run_id.is_none())
    );
    assert_eq!(events.items[1].top_k, 1);
    assert_eq!(events.items[1].results_count, 1);
}

#[tokio::test]
async fn a_search_for_a_run_is_linked_to_it() {
    let (_dir, cb, mut session, _) = knowledge_base().await;
    let run = session
        .call_ok("launch_run", json!({"tasks": ["log_triage"]}))
        .await;
    let run_id = run["id"].as_i64().expect("run id");
    session
        .call_ok(
            "rag_search",
            json!({"query_text": "bad gateway", "run_id": run_id}),
        )
        .await;
    let events = cb
        .store()
        .list_retrievals(Some(run_id), PageRequest::default())
        .await
        .expect("retrieval events");
    assert_eq!(events.count, 1);
    assert_eq!(events.items[0].query_hash, query_hash("bad gateway"));
}

#[tokio::test]
async fn bad_search_input_is_a_tool_error_naming_the_field() {
    let (_dir, _cb, mut session, _) = knowledge_base().await;
    let cases = [
        (json!({"query_text": "   "}), "query_text"),
        (json!({}), "query_text"),
        (json!({"query_text": "disk", "top_k": 0}), "top_k"),
        (json!({"query_text": "disk", "top_k": 51}), "top_k"),
        (json!({"query_text": "disk", "top_k": "five"}), "top_k"),
        (json!({"query_text": "disk", "min_score": 2.0}), "min_score"),
        (
            json!({"query_text": "disk", "document_ids": [0]}),
            "document_ids",
        ),
        (json!({"query_text": "disk", "run_id": 999}), "run_id"),
        (json!({"query_text": "disk", "colour": "red"}), "colour"),
    ];
    for (arguments, field) in cases {
        let (message, error) = session.call_err("rag_search", arguments.clone()).await;
        assert_eq!(error["kind"], "invalid_input", "{arguments}: {error}");
        assert!(
            error["fields"][field].is_array(),
            "{arguments} should name {field}: {error}"
        );
        assert!(message.starts_with(field), "{arguments}: {message}");
    }
}

#[tokio::test]
async fn search_without_an_embedding_model_says_how_to_install_it() {
    let (_dir, cb) = engine().await;
    let mut session = Session::open(streamable_http_service(cb, McpOptions::default())).await;
    let (message, error) = session
        .call_err("rag_search", json!({"query_text": "disk full"}))
        .await;
    assert_eq!(error["kind"], "unavailable", "{error}");
    assert!(message.contains("scripts/models.sh"), "{message}");
}

#[tokio::test]
async fn documents_are_listed_a_page_at_a_time() {
    let (_dir, _cb, mut session, [disk, proxy]) = knowledge_base().await;
    let all = session.call_ok("rag_list_documents", json!({})).await;
    assert_eq!(all["count"], 2);
    assert_eq!(all["page"], 1);
    assert_eq!(all["next_page"], Value::Null);
    assert_eq!(ids(&all["items"], "upload_id"), [disk, proxy]);
    assert!(all["items"][1]["title"].is_string(), "{all}");
    assert_eq!(all["items"][1]["source"], "proxy.md");
    assert_eq!(all["items"][1]["chunk_count"], 1);

    let first = session
        .call_ok("rag_list_documents", json!({"page_size": 1}))
        .await;
    assert_eq!(first["next_page"], 2);
    assert_eq!(ids(&first["items"], "upload_id"), [disk]);
    let second = session
        .call_ok("rag_list_documents", json!({"page": 2, "page_size": 1}))
        .await;
    assert_eq!(second["next_page"], Value::Null);
    assert_eq!(ids(&second["items"], "upload_id"), [proxy]);

    let (_, error) = session
        .call_err("rag_list_documents", json!({"page_size": 500}))
        .await;
    assert!(error["fields"]["page_size"].is_array(), "{error}");
}

#[tokio::test]
async fn upload_status_shows_one_upload_or_the_recent_ones() {
    let (_dir, cb, mut session, [disk, proxy]) = knowledge_base().await;
    let queued = upload(&cb, "later.json", r#"{"note": "not ingested yet"}"#).await;

    let ready = session
        .call_ok("rag_upload_status", json!({"upload_id": disk}))
        .await;
    assert_eq!(ready["id"], disk);
    assert_eq!(ready["filename"], "disk.txt");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["chunks_done"], 1);
    assert_eq!(ready["chunks_total"], 1);
    assert!(ready["processed_at"].is_string(), "{ready}");

    let waiting = session
        .call_ok("rag_upload_status", json!({"upload_id": queued}))
        .await;
    assert_eq!(waiting["status"], "queued");
    assert_eq!(waiting["chunks_done"], 0);
    assert_eq!(waiting["chunks_total"], Value::Null);

    let recent = session.call_ok("rag_upload_status", json!({})).await;
    assert_eq!(recent["count"], 3);
    assert_eq!(
        ids(&recent["items"], "id"),
        [queued, proxy, disk],
        "newest first"
    );
    let only_queued = session
        .call_ok("rag_upload_status", json!({"status": "queued"}))
        .await;
    assert_eq!(ids(&only_queued["items"], "id"), [queued]);
    let paged = session
        .call_ok("rag_upload_status", json!({"page": 2, "page_size": 2}))
        .await;
    assert_eq!(ids(&paged["items"], "id"), [disk]);
    assert_eq!(paged["next_page"], Value::Null);

    let (message, error) = session
        .call_err("rag_upload_status", json!({"upload_id": 999}))
        .await;
    assert_eq!(error["kind"], "not_found", "{error}");
    assert!(message.contains("999"), "{message}");
    let (_, error) = session
        .call_err("rag_upload_status", json!({"status": "done"}))
        .await;
    assert!(error["fields"]["status"].is_array(), "{error}");
    let (_, error) = session
        .call_err(
            "rag_upload_status",
            json!({"upload_id": disk, "status": "ready"}),
        )
        .await;
    assert!(error["fields"]["status"].is_array(), "{error}");
    let (_, error) = session
        .call_err("rag_upload_status", json!({"upload_id": 0}))
        .await;
    assert!(error["fields"]["upload_id"].is_array(), "{error}");
}
