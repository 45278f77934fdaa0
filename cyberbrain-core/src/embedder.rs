//! The embedding plug-in (G7: runs in-process from local files).

use async_trait::async_trait;

use crate::Result;

/// Turns texts into L2-normalised vectors of a fixed dimension.
///
/// Contract: `embed` returns one vector per input, in order, each of length `dimension()`;
/// the result of a batch equals the results of its items embedded one by one.
#[async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;

    fn dimension(&self) -> usize;

    /// Stored beside every vector, so a model change is detectable.
    fn model_id(&self) -> &str;

    /// Word pieces per window; longer texts are embedded window by window and averaged.
    fn max_tokens(&self) -> usize;
}
