//! The embedding plug-in (G7: runs in-process from local files). With the `fastembed` feature,
//! [`MiniLmEmbedder`] is the real one: all-MiniLM-L6-v2 through ONNX Runtime.

use async_trait::async_trait;

use crate::Result;

#[cfg(feature = "fastembed")]
mod minilm;
#[cfg(feature = "fastembed")]
mod windows;

#[cfg(feature = "fastembed")]
pub use minilm::{
    MIN_ONNXRUNTIME, MINILM_DIMENSION, MINILM_MAX_TOKENS, MODEL_DIR_NAME, MODEL_FILES, MODEL_ID,
    MiniLmEmbedder, MiniLmFiles, ONNXRUNTIME_DIR_NAME,
};

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
