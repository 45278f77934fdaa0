use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::container::{
    ContainerDetails, ContainerEngine, ContainerSummary, LogLine, NetworkSummary,
};
use crate::domain::{NotificationTarget, Timestamp};
use crate::llm::{Completion, CompletionRequest, Llm, TokenUsage};
use crate::notifier::{DeliveryOutcome, NotificationPayload, Notifier};
use crate::{Clock, Embedder, Error, Result};

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves time forward (or backward, to test clock skew).
    pub fn advance(&self, by: chrono::Duration) {
        *self.now.lock().expect("clock lock") += by;
    }

    pub fn set(&self, to: Timestamp) {
        *self.now.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().expect("clock lock")
    }
}

/// One scripted answer of [`ScriptedLlm`].
#[derive(Debug, Clone)]
pub enum ScriptedReply {
    /// A completion with these token counts.
    Text {
        text: String,
        prompt_tokens: i64,
        completion_tokens: i64,
    },
    /// A failure, returned as given.
    Unavailable(String),
    /// A response without usage counts (G2: must be an error, never invented counts).
    MissingUsage,
}

impl ScriptedReply {
    pub fn text(text: impl Into<String>, prompt_tokens: i64, completion_tokens: i64) -> Self {
        Self::Text {
            text: text.into(),
            prompt_tokens,
            completion_tokens,
        }
    }
}

/// An LLM that answers from a script, in order, and records how many prompts it saw (never
/// their text).
#[derive(Debug)]
pub struct ScriptedLlm {
    replies: Mutex<VecDeque<ScriptedReply>>,
    calls: Mutex<usize>,
    model: String,
    context_tokens: u32,
}

impl ScriptedLlm {
    pub fn new(replies: impl IntoIterator<Item = ScriptedReply>) -> Self {
        Self {
            replies: Mutex::new(replies.into_iter().collect()),
            calls: Mutex::new(0),
            model: "scripted".into(),
            context_tokens: 2048,
        }
    }

    pub fn with_context_tokens(mut self, context_tokens: u32) -> Self {
        self.context_tokens = context_tokens;
        self
    }

    pub fn calls(&self) -> usize {
        *self.calls.lock().expect("llm lock")
    }
}

#[async_trait]
impl Llm for ScriptedLlm {
    async fn complete(&self, _request: CompletionRequest) -> Result<Completion> {
        *self.calls.lock().expect("llm lock") += 1;
        let reply = self.replies.lock().expect("llm lock").pop_front();
        match reply {
            Some(ScriptedReply::Text {
                text,
                prompt_tokens,
                completion_tokens,
            }) => Ok(Completion {
                text,
                usage: TokenUsage {
                    prompt_tokens,
                    completion_tokens,
                    total_tokens: prompt_tokens + completion_tokens,
                },
                model: self.model.clone(),
            }),
            Some(ScriptedReply::Unavailable(message)) => Err(Error::unavailable("llm", message)),
            Some(ScriptedReply::MissingUsage) => {
                Err(Error::backend("LLM response has no usage counts"))
            }
            None => Err(Error::backend("scripted LLM has no reply left")),
        }
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint_host(&self) -> &str {
        "scripted.invalid"
    }

    fn context_tokens(&self) -> u32 {
        self.context_tokens
    }
}

/// A deterministic embedder: texts hashed into unit vectors. Equal texts give equal vectors and
/// texts sharing words are closer than unrelated ones (one hashed bucket per word).
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dimension: usize,
}

impl HashEmbedder {
    pub fn new(dimension: usize) -> Self {
        assert!(dimension > 0, "an embedding needs at least one dimension");
        Self { dimension }
    }

    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimension];
        for word in text.split_whitespace() {
            let digest = Sha256::digest(word.to_lowercase().as_bytes());
            let bucket = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) as usize
                % self.dimension;
            let sign = if digest[8] & 1 == 0 { 1.0 } else { -1.0 };
            vector[bucket] += sign;
        }
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|v| *v /= norm);
        } else {
            vector[0] = 1.0;
        }
        vector
    }
}

impl Default for HashEmbedder {
    fn default() -> Self {
        Self::new(crate::domain::EMBEDDING_DIMENSION)
    }
}

#[async_trait]
impl Embedder for HashEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn model_id(&self) -> &str {
        "hash-embedder"
    }

    fn max_tokens(&self) -> usize {
        256
    }
}

/// A notifier that records what it was asked to send and answers from a script per target.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    sent: Mutex<Vec<(i64, NotificationPayload)>>,
    outcomes: Mutex<BTreeMap<i64, VecDeque<DeliveryOutcome>>>,
}

impl RecordingNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Outcomes for `target_id`, in order; once used up, deliveries succeed.
    pub fn script(&self, target_id: i64, outcomes: impl IntoIterator<Item = DeliveryOutcome>) {
        self.outcomes
            .lock()
            .expect("notifier lock")
            .entry(target_id)
            .or_default()
            .extend(outcomes);
    }

    /// Every `(target id, payload)` attempted, in order.
    pub fn sent(&self) -> Vec<(i64, NotificationPayload)> {
        self.sent.lock().expect("notifier lock").clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn send(
        &self,
        target: &NotificationTarget,
        payload: &NotificationPayload,
    ) -> DeliveryOutcome {
        self.sent
            .lock()
            .expect("notifier lock")
            .push((target.id, payload.clone()));
        self.outcomes
            .lock()
            .expect("notifier lock")
            .get_mut(&target.id)
            .and_then(VecDeque::pop_front)
            .unwrap_or(DeliveryOutcome::Delivered)
    }
}

/// An in-memory container engine that records which containers were contacted, so tests can
/// prove the allowlist check happens before the engine is touched (G5).
#[derive(Debug, Default)]
pub struct FakeContainerEngine {
    containers: Mutex<Vec<ContainerSummary>>,
    networks: Mutex<Vec<NetworkSummary>>,
    logs: Mutex<BTreeMap<String, Vec<LogLine>>>,
    contacted: Mutex<Vec<String>>,
    unavailable: Mutex<Option<String>>,
}

impl FakeContainerEngine {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_container(&self, container: ContainerSummary, logs: Vec<LogLine>) {
        self.logs
            .lock()
            .expect("engine lock")
            .insert(container.id.clone(), logs);
        self.containers.lock().expect("engine lock").push(container);
    }

    pub fn add_network(&self, network: NetworkSummary) {
        self.networks.lock().expect("engine lock").push(network);
    }

    /// Removes a container, as if it vanished mid-run.
    pub fn remove_container(&self, id: &str) {
        self.containers
            .lock()
            .expect("engine lock")
            .retain(|c| c.id != id);
        self.logs.lock().expect("engine lock").remove(id);
    }

    /// Makes every call fail as an unreachable engine would.
    pub fn set_unavailable(&self, reason: Option<String>) {
        *self.unavailable.lock().expect("engine lock") = reason;
    }

    /// Container ids passed to `inspect_container` or `logs`, in order.
    pub fn contacted(&self) -> Vec<String> {
        self.contacted.lock().expect("engine lock").clone()
    }

    fn check_available(&self) -> Result<()> {
        match &*self.unavailable.lock().expect("engine lock") {
            Some(reason) => Err(Error::unavailable("container engine", reason.clone())),
            None => Ok(()),
        }
    }

    fn find(&self, id: &str) -> Option<ContainerSummary> {
        self.containers
            .lock()
            .expect("engine lock")
            .iter()
            .find(|c| c.id == id || c.name == id.trim_start_matches('/'))
            .cloned()
    }
}

#[async_trait]
impl ContainerEngine for FakeContainerEngine {
    async fn list_containers(&self) -> Result<Vec<ContainerSummary>> {
        self.check_available()?;
        Ok(self.containers.lock().expect("engine lock").clone())
    }

    async fn list_networks(&self) -> Result<Vec<NetworkSummary>> {
        self.check_available()?;
        Ok(self.networks.lock().expect("engine lock").clone())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        self.check_available()?;
        self.contacted
            .lock()
            .expect("engine lock")
            .push(id.to_string());
        let summary = self
            .find(id)
            .ok_or_else(|| Error::not_found("container", id))?;
        Ok(ContainerDetails { summary, pid: None })
    }

    async fn logs(&self, id: &str, since: Option<Timestamp>, tail: u32) -> Result<Vec<LogLine>> {
        self.check_available()?;
        self.contacted
            .lock()
            .expect("engine lock")
            .push(id.to_string());
        let Some(container) = self.find(id) else {
            return Ok(Vec::new());
        };
        let all = self
            .logs
            .lock()
            .expect("engine lock")
            .get(&container.id)
            .cloned();
        let mut lines: Vec<LogLine> = all
            .unwrap_or_default()
            .into_iter()
            .filter(|l| match (since, l.timestamp) {
                (Some(since), Some(at)) => at > since,
                _ => true,
            })
            .collect();
        if since.is_none() && lines.len() > tail as usize {
            lines.drain(..lines.len() - tail as usize);
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scripted_llm_answers_in_order() {
        let llm = ScriptedLlm::new([
            ScriptedReply::text("{}", 10, 2),
            ScriptedReply::Unavailable("connection refused".into()),
        ]);
        let first = llm.complete(CompletionRequest::new(vec![])).await.unwrap();
        assert_eq!(first.usage.total_tokens, 12);
        assert!(
            llm.complete(CompletionRequest::new(vec![]))
                .await
                .unwrap_err()
                .is_retryable()
        );
        assert!(llm.complete(CompletionRequest::new(vec![])).await.is_err());
        assert_eq!(llm.calls(), 3);
    }

    #[tokio::test]
    async fn hash_embedder_is_normalised_and_batch_equals_singles() {
        let embedder = HashEmbedder::new(64);
        let texts = vec![
            "disk full on /var".to_string(),
            "gpu hot".to_string(),
            String::new(),
        ];
        let batch = embedder.embed(&texts).await.unwrap();
        for (text, vector) in texts.iter().zip(&batch) {
            assert_eq!(vector, &embedder.embed_one(text));
            let norm: f32 = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = chrono::Utc::now();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(chrono::Duration::seconds(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
    }
}
