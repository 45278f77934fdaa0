//! Shared by the integration tests. `harness` (feature `testing`, re-exported here) is the
//! runner tests' `Harness`: a `Cyberbrain` over a fresh SQLite store in a temp dir (logs and
//! artifacts directories beside it), whose `run` drives a launched run's jobs the way an
//! executor does — claim with a lease, `JobContext::load`, the built-in runner, `finish_job`
//! with the result or the error, and the run report when the run ended — so each test sees
//! exactly what the store, the artifacts root and the database file hold afterwards.
//!
//! `http` holds the scripted OpenAI-compatible server for LLM failure paths; `podman` (feature
//! `docker`) the fixtures for the real Docker-API engine.

// Each test binary compiles this module separately and uses only part of it.
#![allow(dead_code)]

// Gated by the features their test binaries require: the harness needs the `testing` doubles,
// the podman fixtures the `docker` engine.
#[cfg(feature = "testing")]
mod harness;
pub mod http;
#[cfg(feature = "docker")]
pub mod podman;

// The LLM client and Docker engine tests use only `http` and `podman`.
#[cfg(feature = "testing")]
#[allow(unused_imports)]
pub use harness::*;
