//! Report files (SPEC §2.5): written under `run_<id>/` in the artifacts root, redacted (G6),
//! path-checked (G8), registered with size and SHA-256; read back only through the same check.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Cyberbrain;
use crate::domain::{Artifact, ArtifactKind, ArtifactQuery, NewArtifact, Page};
use crate::guardrails::paths::resolve_artifact_path;
use crate::guardrails::redaction::redact_if;
use crate::{Error, Result};

/// Writes one run's artifact files. Every write is redacted when redacted mode is on (G6),
/// resolved inside the artifacts root (G8), written atomically (a reader never sees half a
/// file) and registered in the store.
#[derive(Clone, Debug)]
pub struct ArtifactWriter {
    cb: Cyberbrain,
    run_id: i64,
    run_job_id: Option<i64>,
}

impl ArtifactWriter {
    /// A writer for `run_<run_id>/…`; files it writes belong to `run_job_id` when given.
    pub fn new(cb: Cyberbrain, run_id: i64, run_job_id: Option<i64>) -> Self {
        Self {
            cb,
            run_id,
            run_job_id,
        }
    }

    /// The path of `name` relative to the artifacts root: `run_<id>/<name>`.
    pub fn relative_path(&self, name: &str) -> String {
        format!("run_{}/{name}", self.run_id)
    }

    /// Redacts `content` (when redacted mode is on), writes it as `run_<id>/<name>` and
    /// registers it. Writing the same name again replaces the file and its registration.
    pub async fn write(&self, name: &str, kind: ArtifactKind, content: &str) -> Result<Artifact> {
        let text = redact_if(self.cb.config.privacy.redacted_mode, content).into_owned();
        let relative = self.relative_path(name);
        let root = self.cb.config.paths.artifacts_dir();
        let bytes = text.into_bytes();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let size_bytes = i64::try_from(bytes.len())
            .map_err(|_| Error::invalid(name.to_string(), "artifact too large"))?;
        let path = relative.clone();
        tokio::task::spawn_blocking(move || write_file(&root, &path, &bytes))
            .await
            .map_err(|e| Error::backend(format!("artifact writer task failed: {e}")))??;
        self.cb
            .store
            .put_artifact(NewArtifact {
                run_id: self.run_id,
                run_job_id: self.run_job_id,
                kind,
                relative_path: relative,
                size_bytes,
                sha256,
                mime_type: kind.mime_type().to_string(),
                created_at: self.cb.clock.now(),
            })
            .await
    }

    /// Serialises `value` as pretty JSON and writes it like [`ArtifactWriter::write`].
    pub async fn write_json(&self, name: &str, value: &serde_json::Value) -> Result<Artifact> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::backend(format!("serialising {name}: {e}")))?;
        self.write(name, ArtifactKind::Json, &text).await
    }
}

/// Creates the artifacts root when missing, checks the path (G8) and writes through a
/// temporary file renamed into place.
fn write_file(root: &Path, relative: &str, bytes: &[u8]) -> Result<()> {
    let io_error = |what: &str, path: &Path, e: std::io::Error| {
        Error::unavailable(
            "artifacts",
            format!("cannot {what} {}: {e}", path.display()),
        )
    };
    std::fs::create_dir_all(root).map_err(|e| io_error("create the artifacts root", root, e))?;
    let target = resolve_artifact_path(root, relative)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
    }
    let temporary = temporary_sibling(&target);
    std::fs::write(&temporary, bytes).map_err(|e| io_error("write", &temporary, e))?;
    std::fs::rename(&temporary, &target).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        io_error("write", &target, e)
    })
}

fn temporary_sibling(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    target.with_file_name(name)
}

/// An artifact's registration and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactContent {
    pub artifact: Artifact,
    pub bytes: Vec<u8>,
}

impl Cyberbrain {
    /// A page of artifacts, optionally of one run (unknown run: `NotFound`).
    pub async fn list_artifacts(&self, query: ArtifactQuery) -> Result<Page<Artifact>> {
        if let Some(run_id) = query.run_id {
            self.store.get_run(run_id).await?;
        }
        self.store.list_artifacts(query).await
    }

    pub async fn get_artifact(&self, id: i64) -> Result<Artifact> {
        self.store.get_artifact(id).await
    }

    /// Reads an artifact's file through the G8 check (a registered path that now escapes the
    /// root, e.g. through a planted symbolic link, is `Forbidden`; a missing file `NotFound`).
    pub async fn read_artifact(&self, id: i64) -> Result<ArtifactContent> {
        let artifact = self.store.get_artifact(id).await?;
        let bytes = self.read_artifact_file(&artifact.relative_path).await?;
        Ok(ArtifactContent { artifact, bytes })
    }

    /// Reads `relative` under the artifacts root through the G8 check.
    pub(crate) async fn read_artifact_file(&self, relative: &str) -> Result<Vec<u8>> {
        let root = self.config.paths.artifacts_dir();
        let relative = relative.to_string();
        tokio::task::spawn_blocking(move || {
            let path = resolve_artifact_path(&root, &relative)?;
            std::fs::read(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::not_found("artifact file", relative),
                _ => {
                    Error::unavailable("artifacts", format!("cannot read {}: {e}", path.display()))
                }
            })
        })
        .await
        .map_err(|e| Error::backend(format!("artifact reader task failed: {e}")))?
    }
}
