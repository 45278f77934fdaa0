//! Test support (feature `testing`): the store conformance suite every backend runs, and test
//! doubles for the plug-in traits. Doubles exist for paths the real components cannot produce on
//! demand; the happy paths are proven against the real components as well.

pub mod conformance;
pub mod documents;
mod doubles;
pub mod files;
pub mod vectors;

pub use doubles::{
    FakeContainerEngine, HashEmbedder, ManualClock, RecordingNotifier, ScriptedLlm, ScriptedReply,
};
